"""1-D CNN factory, kd, channel pruning and the ORT format, on tiny models and random windows (seconds)."""

from __future__ import annotations

import copy
import os
import signal
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from hfm_compress.prune.channels import ChannelPruneConfig, channel_importance, kept_count, top_channels  # noqa: E402
from hfm_compress.prune.channels import run_step as prune_step  # noqa: E402
from hfm_compress.configs import config_from_dict  # noqa: E402
from hfm_compress.distill.loop import DistillInterrupted  # noqa: E402
from hfm_compress.errors import CompressError, ConfigError  # noqa: E402
from hfm_compress.ort_format import convert_to_ort  # noqa: E402
from hfm_compress.models.ecg_cnn import (  # noqa: E402
    FACTORY,
    STUDENT_KWARGS,
    TEACHER_KWARGS,
    conv_net_2d,
    ecg_cnn,
    ecg_preprocessing,
)
from hfm_compress.sources.arrays import TensorData, TensorSet  # noqa: E402
from hfm_compress.distill.kd import TensorDistillConfig, kd_loss, resolve_student_kwargs  # noqa: E402
from hfm_compress.distill.kd import run_step as kd_step  # noqa: E402
from hfm_compress.sources.modules import TensorTeacher  # noqa: E402
from hfm_compress.configs import StepContext, parameter_count  # noqa: E402

SAMPLES = 100
TINY_KWARGS = {"widths": [8, 16, 16], "kernel": 5, "classes": 3}
SPEC = {"type": "signal", "fs": 50.0, "window_seconds": 2.0, "hop_seconds": 2.0, "channels": 1, "bandpass": None,
        "filter_taps": None, "normalisation": "zscore", "min_std": 0.01}


@pytest.fixture(autouse=True)
def one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def tiny_teacher(seed: int = 0) -> TensorTeacher:
    """A random-weight ECG CNN whose BatchNorm statistics are set from data, so its activations are realistic."""
    torch.manual_seed(seed)
    model = ecg_cnn(**TINY_KWARGS)
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(windows(32, seed=seed + 100))
    return TensorTeacher(name="tiny", task="signal-classification", model=model.eval(), labels=["a", "b", "c"],
                         preprocessing=SPEC, sha256="0" * 64, model_type="ConvNet", factory=FACTORY,
                         factory_kwargs=dict(TINY_KWARGS))


def windows(n: int, seed: int) -> "torch.Tensor":
    generator = np.random.default_rng(seed)
    t = np.arange(SAMPLES) / 50.0
    rate = generator.uniform(0.5, 4.0, size=(n, 1, 1))
    x = np.sin(2 * np.pi * rate * t) + 0.3 * generator.standard_normal((n, 1, SAMPLES))
    return torch.from_numpy(x.astype(np.float32))


def tensor_set(model: "torch.nn.Module", n: int, seed: int) -> TensorSet:
    """Inputs labelled by the teacher itself, so a student can fit them."""
    x = windows(n, seed)
    with torch.no_grad():
        labels = model(x).argmax(1).numpy()
    return TensorSet(inputs=x.numpy(), raw=x.numpy()[:, 0], labels=labels, masks=None, source=f"test:{seed}")


def tiny_data(teacher: TensorTeacher) -> TensorData:
    return TensorData(calibration=tensor_set(teacher.model, 32, 1), evaluation=tensor_set(teacher.model, 48, 2),
                      train=tensor_set(teacher.model, 96, 3))


def context(folder: Path, resume: bool = False, on_progress=None) -> StepContext:
    return StepContext(checkpoint_dir=folder, resume=resume, progress=on_progress or (lambda label, done, total: None))


def conv_weight_shapes(model: "torch.nn.Module", path: Path) -> list[tuple[int, ...]]:
    """Shapes of the Conv weights in the exported ONNX graph (eval-mode export folds BatchNorm into them)."""
    torch.onnx.export(model.eval(), torch.zeros(1, 1, SAMPLES), str(path), input_names=["input"],
                      output_names=["logits"], dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                      dynamo=False)
    graph = onnx.load(str(path)).graph
    initializers = {i.name: tuple(i.dims) for i in graph.initializer}
    return [initializers[node.input[1]] for node in graph.node if node.op_type == "Conv"]


# ---- factory -------------------------------------------------------------------------------------------------------

def test_factory_shapes_and_presets():
    model = ecg_cnn(**TINY_KWARGS).eval()
    assert model(torch.zeros(2, 1, SAMPLES)).shape == (2, 3)
    assert model.widths == [8, 16, 16]
    image_model = conv_net_2d([4, 8], classes=5).eval()
    assert image_model(torch.zeros(2, 1, 16, 16)).shape == (2, 5)
    teacher, student = ecg_cnn(**TEACHER_KWARGS), ecg_cnn(**STUDENT_KWARGS)
    assert parameter_count(teacher) >= 650_000  # >= 2.6 MB fp32
    assert 20_000 <= parameter_count(student) <= 100_000  # well under 256 KB at INT8
    assert parameter_count(teacher) * 4 >= 8 * parameter_count(student) * 1.2  # 8x smaller with room for overhead
    assert ecg_preprocessing()["fs"] == 250 and ecg_preprocessing()["bandpass"] == [0.5, 40.0]
    with pytest.raises(ConfigError, match="widths"):
        ecg_cnn(widths=[])
    with pytest.raises(ConfigError, match="odd"):
        ecg_cnn(widths=[4], kernel=4)


# ---- kd -----------------------------------------------------------------------------------------------------------

def test_kd_loss_per_pixel_equals_per_example():
    logits, target = torch.randn(2, 3, 4, 5), torch.randn(2, 3, 4, 5)
    masks = torch.randint(0, 3, (2, 4, 5))
    flat = lambda t: t.permute(0, 2, 3, 1).reshape(-1, 3)  # noqa: E731
    per_pixel = kd_loss(logits, target, masks, 2.0, 0.7)
    per_example = kd_loss(flat(logits), flat(target), masks.reshape(-1), 2.0, 0.7)
    assert torch.allclose(per_pixel, per_example, atol=1e-6)


def test_kd_trains_student_and_resume_continues_the_same_run(tmp_path):
    teacher = tiny_teacher()
    data = tiny_data(teacher)
    config = TensorDistillConfig(student_kwargs='{"widths": [4, 8, 8]}', epochs=4, batch_size=16, lr=1e-2)
    student, report = kd_step(config, teacher, teacher, data, context(tmp_path / "a"))
    details = report.details
    assert student.model.widths == [4, 8, 8] and student.factory_kwargs["widths"] == [4, 8, 8]
    assert details["student_parameters"] < details["teacher_parameters"]
    assert details["loss_last"] < details["loss_first"]
    assert 0.0 <= details["evaluation_agreement"] <= 1.0 and details["resumed_from_step"] is None

    def ctrl_c(label: str, done: int, total: int) -> None:
        if done == 7:
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(DistillInterrupted, match="kd interrupted at step 7 of 24") as caught:
        kd_step(config, teacher, teacher, data, context(tmp_path / "b", on_progress=ctrl_c))
    assert caught.value.checkpoint is not None and caught.value.checkpoint.is_file()
    resumed, again = kd_step(config, teacher, teacher, data, context(tmp_path / "b", resume=True))
    assert again.details["resumed_from_step"] == 7
    for (name, a), b in zip(student.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), name
    with pytest.raises(CompressError, match="different config"):
        kd_step(config.replace(lr=5e-3), teacher, teacher, data, context(tmp_path / "b", resume=True))


def test_kd_config_errors_and_presets():
    assert resolve_student_kwargs("", FACTORY) == STUDENT_KWARGS
    assert resolve_student_kwargs("ecg-student", FACTORY) == STUDENT_KWARGS
    with pytest.raises(ConfigError, match="not a preset"):
        resolve_student_kwargs("tiny", FACTORY)
    with pytest.raises(ConfigError, match="not valid JSON"):
        TensorDistillConfig(student_kwargs="{widths: 3}")
    with pytest.raises(ConfigError, match="alpha"):
        TensorDistillConfig(alpha=2.0)
    config = TensorDistillConfig(student_kwargs='{"widths": [4]}', epochs=3)
    assert config_from_dict(config.to_dict()) == config


# ---- channel pruning ----------------------------------------------------------------------------------------------

def test_kept_counts_round_to_multiples():
    assert kept_count(16, 0.5, 4) == 8
    assert kept_count(18, 0.3, 4) == 4  # 5.4 rounds to 4
    assert kept_count(8, 0.1, 4) == 4  # at least round_to
    assert kept_count(3, 0.5, 4) == 3  # narrower than round_to: untouched
    assert list(top_channels(np.array([0.1, 0.9, 0.5, 0.9]), 2)) == [1, 3]


def test_prune_channels_shrinks_conv_weights_and_matches_zeroed_channels(tmp_path):
    teacher = tiny_teacher()
    data = tiny_data(teacher)
    config = ChannelPruneConfig(keep_ratio=0.5, round_to=4, recover_epochs=0)
    pruned, report = prune_step(config, teacher, teacher, data, context(tmp_path))
    assert report.details["widths_after"] == [4, 8, 8] and report.details["removed_per_block"] == [4, 8, 8]
    assert report.details["parameters_after"] < report.details["parameters_before"] / 3
    assert conv_weight_shapes(teacher.model, tmp_path / "t.onnx") == [(8, 1, 5), (16, 8, 5), (16, 16, 5)]
    assert conv_weight_shapes(pruned.model, tmp_path / "p.onnx") == [(4, 1, 5), (8, 4, 5), (8, 8, 5)]

    # Silencing the removed channels in the teacher (BatchNorm scale and shift 0, so ReLU gives 0) must give exactly
    # the pruned model's outputs: the kept slices were copied to the right places.
    silenced = copy.deepcopy(teacher.model)
    importance = channel_importance(teacher.model, data.calibration)
    for block, scores, width in zip(silenced.blocks, importance, report.details["widths_after"]):
        removed = np.setdiff1d(np.arange(len(scores)), top_channels(scores, width))
        block[1].weight.data[removed] = 0
        block[1].bias.data[removed] = 0
    x = torch.from_numpy(data.evaluation.inputs)
    with torch.no_grad():
        assert torch.allclose(silenced(x), pruned.model(x), atol=1e-5)


def test_prune_channels_recovers_and_works_on_2d_blocks(tmp_path):
    teacher = tiny_teacher()
    data = tiny_data(teacher)
    config = ChannelPruneConfig(keep_ratio=0.5, recover_epochs=3, lr=3e-3, batch_size=16)
    pruned, report = prune_step(config, teacher, teacher, data, context(tmp_path))
    assert report.details["recover_loss_by_epoch"][-1] < report.details["recover_loss_by_epoch"][0]
    assert report.details["evaluation_agreement"] >= 0.6

    torch.manual_seed(0)
    image_model = conv_net_2d([8, 8], classes=2).eval()
    images = torch.randn(16, 1, 12, 12)
    image_set = TensorSet(inputs=images.numpy(), raw=images.numpy()[:, 0], labels=None, masks=None, source="test")
    image_teacher = TensorTeacher(name="img", task="image-classification", model=image_model, labels=["a", "b"],
                                  preprocessing={}, sha256="1" * 64, model_type="ConvNet",
                                  factory="hfm_compress.signal_models:conv_net_2d",
                                  factory_kwargs={"widths": [8, 8], "classes": 2})
    pruned_2d, report_2d = prune_step(ChannelPruneConfig(keep_ratio=0.5, recover_epochs=0), image_teacher,
                                      image_teacher, TensorData(image_set, image_set, image_set), context(tmp_path))
    assert report_2d.details["widths_after"] == [4, 4]
    assert pruned_2d.model(images).shape == (16, 2)


def test_prune_channels_refuses_models_without_blocks(tmp_path):
    teacher = tiny_teacher()
    other = TensorTeacher(name="mlp", task="signal-classification", model=torch.nn.Linear(SAMPLES, 3), labels=["a"] * 3,
                          preprocessing=SPEC, sha256="2" * 64, model_type="Linear", factory="torch.nn:Linear",
                          factory_kwargs={"widths": [1]})
    with pytest.raises(CompressError, match="no `blocks`"):
        prune_step(ChannelPruneConfig(), other, other, tiny_data(teacher), context(tmp_path))
    with pytest.raises(ConfigError, match="keep_ratio"):
        ChannelPruneConfig(keep_ratio=0.0)


# ---- ORT format ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("target", ["arm", "amd64"])
def test_ort_format_round_trip_of_an_int8_cnn(tmp_path, target):
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    teacher = tiny_teacher()
    fp32 = tmp_path / "model.onnx"
    conv_weight_shapes(teacher.model, fp32)
    calibration = windows(16, seed=5).numpy()

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.rows = iter([{"input": calibration[i:i + 4]} for i in range(0, 16, 4)])

        def get_next(self):
            return next(self.rows, None)

    int8 = tmp_path / "model.int8.onnx"
    quantize_static(str(fp32), str(int8), Reader(), quant_format=QuantFormat.QDQ, activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8)
    model_bytes, operators = convert_to_ort(int8, tmp_path / "work", target)
    assert model_bytes[4:8] == b"ORTM"  # the ORT format's flatbuffer file identifier
    assert "QLinearConv" in operators or "QuantizeLinear" in operators
    assert str(tmp_path) not in operators

    x = windows(8, seed=6).numpy()
    reference = ort.InferenceSession(str(int8), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    assert np.allclose(session.run(None, {"input": x})[0], reference, atol=1e-4)
    ort_path = tmp_path / "model.ort"
    ort_path.write_bytes(model_bytes)
    assert np.allclose(ort.InferenceSession(str(ort_path), providers=["CPUExecutionProvider"]).run(
        None, {"input": x})[0], reference, atol=1e-4)


def test_ort_format_errors(tmp_path):
    with pytest.raises(CompressError, match="does not exist"):
        convert_to_ort(tmp_path / "missing.onnx", tmp_path / "work")
    with pytest.raises(CompressError, match="expected one of arm, amd64"):
        convert_to_ort(tmp_path / "missing.onnx", tmp_path / "work", "x86")
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    with pytest.raises(CompressError, match="converter failed"):
        convert_to_ort(broken, tmp_path / "work")


def test_auto_steps_distil_only_when_the_teacher_does_not_fit():
    from hfm_compress.recipes.tensor import ecg_auto_steps as auto_steps
    from hfm_runtime.profiles import load_profile

    wearable = load_profile("wearable")
    big = TensorTeacher(name="big", task="signal-classification", model=ecg_cnn(**TEACHER_KWARGS), labels=["a"] * 6,
                        preprocessing=SPEC, sha256="3" * 64, model_type="ConvNet", factory=FACTORY,
                        factory_kwargs=dict(TEACHER_KWARGS))
    steps, reasons = auto_steps(wearable, big)
    assert [s.TYPE for s in steps] == ["kd"] and steps[0].student_kwargs == "ecg-student"
    assert "250 KB budget of profile wearable" in reasons[0]
    steps, reasons = auto_steps(wearable, tiny_teacher())
    assert steps == [] and "no distillation" in reasons[0]
