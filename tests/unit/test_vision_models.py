"""Hugging Face vision folders as tensor teachers, ViT head pruning and shallower students, on tiny random models.

Every model is a real transformers model with random weights, saved with save_pretrained next to a
preprocessor_config.json; nothing is downloaded. Each test takes a second or two on a CPU.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
onnx = pytest.importorskip("onnx")

from hfm_compress.configs import config_from_dict  # noqa: E402
from hfm_compress.errors import ConfigError, SourceError  # noqa: E402
from hfm_compress.export import ExportConfig  # noqa: E402
from hfm_compress.models.imaging_students import CLS_STUDENT_KWARGS, cls_cnn, seg_cnn  # noqa: E402
from hfm_compress.synth.ultrasound import US_CLASSES  # noqa: E402
from hfm_compress.sources.arrays import TensorData, load_set  # noqa: E402
from hfm_compress.distill.kd import TensorDistillConfig  # noqa: E402
from hfm_compress.distill.kd import run_step as distill_cnn  # noqa: E402
from hfm_compress.modality.tensor import export_tensor_model  # noqa: E402
from hfm_compress.recipes.tensor import plan_tensor_recipe  # noqa: E402
from hfm_compress.sources import load_tensor_teacher  # noqa: E402
from hfm_compress.sources.modules import TensorTeacher  # noqa: E402
from hfm_compress.configs import StepContext  # noqa: E402
from hfm_compress.sources.vision import load_hf_vision_teacher  # noqa: E402
from hfm_runtime.profiles import load_profile  # noqa: E402
from hfm_compress.distill.vit import VitDistillConfig  # noqa: E402
from hfm_compress.distill.vit import run_step as distill_vit  # noqa: E402
from hfm_compress.prune.vit import HeadPruneConfig, head_counts, vit_of  # noqa: E402
from hfm_compress.prune.vit import run_step as prune_heads  # noqa: E402

SIZE = 32
GREY = {"size": {"height": SIZE, "width": SIZE}, "image_mean": [0.3], "image_std": [0.3]}


def _save(folder: Path, model: torch.nn.Module, processor: dict) -> Path:
    model.save_pretrained(folder)
    (folder / "preprocessor_config.json").write_text(json.dumps(processor))
    return folder


def _labels(names: tuple[str, ...]) -> dict:
    return {"num_labels": len(names), "id2label": dict(enumerate(names)), "label2id": {n: i for i, n in enumerate(names)}}


def save_tiny_vit(folder: Path) -> Path:
    torch.manual_seed(0)
    config = transformers.ViTConfig(image_size=SIZE, patch_size=8, num_channels=1, hidden_size=32,
                                    num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                                    **_labels(US_CLASSES))
    return _save(folder, transformers.ViTForImageClassification(config), GREY)


def save_tiny_resnet(folder: Path) -> Path:
    torch.manual_seed(0)
    config = transformers.ResNetConfig(num_channels=3, embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1],
                                       layer_type="basic", **_labels(("normal", "abnormal")))
    processor = {"size": {"shortest_edge": SIZE}, "image_mean": [0.485, 0.456, 0.406],
                 "image_std": [0.229, 0.224, 0.225], "resample": 3}
    return _save(folder, transformers.ResNetForImageClassification(config), processor)


def save_tiny_segformer(folder: Path) -> Path:
    torch.manual_seed(0)
    config = transformers.SegformerConfig(num_channels=1, depths=[2, 1, 1, 1], hidden_sizes=[8, 16, 16, 16],
                                          num_attention_heads=[1, 1, 1, 1], decoder_hidden_size=16,
                                          **_labels(("background", "lesion")))
    return _save(folder, transformers.SegformerForSemanticSegmentation(config), GREY)


@pytest.fixture(scope="module")
def vit_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_vit(tmp_path_factory.mktemp("vit"))


@pytest.fixture(scope="module")
def segformer_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_segformer(tmp_path_factory.mktemp("segformer"))


def phantom_data(teacher: TensorTeacher) -> TensorData:
    def role(name: str, n: int, seed: int):  # noqa: ANN202
        return load_set(f"synth:ultrasound?n={n}&seed={seed}", name, teacher.task, teacher.preprocessing)

    return TensorData(calibration=role("calibration", 4, 2), evaluation=role("evaluation", 3, 3),
                      train=role("train", 6, 1))


def context(tmp_path: Path) -> StepContext:
    return StepContext(checkpoint_dir=tmp_path, resume=False, progress=lambda label, done, total: None)


def initializer_shapes(path: Path) -> list[tuple[int, ...]]:
    return [tuple(t.dims) for t in onnx.load(str(path)).graph.initializer]


# ---- loading ------------------------------------------------------------------------------------------------------

def test_vit_folder_is_an_image_classifier(vit_folder: Path) -> None:
    teacher = load_tensor_teacher(str(vit_folder))
    assert teacher.task == "image-classification" and teacher.labels == list(US_CLASSES)
    assert teacher.model_type == "ViTForImageClassification" and len(teacher.sha256) == 64
    assert teacher.input_shape == (1, SIZE, SIZE)
    assert teacher.preprocessing["mean"] == [0.3] and teacher.preprocessing["resize"] == "bilinear"
    with torch.no_grad():
        assert tuple(teacher.model(torch.zeros(2, 1, SIZE, SIZE)).shape) == (2, 3)


def test_hf_folder_names_its_default_data_in_config(vit_folder: Path, tmp_path: Path) -> None:
    assert load_tensor_teacher(str(vit_folder)).default_data is None
    folder = save_tiny_vit(tmp_path / "trained")
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "hfm_default_data": "synth:ultrasound"}))
    assert load_tensor_teacher(str(folder)).default_data == "synth:ultrasound"


def test_resnet_folder_reads_shortest_edge_and_rgb(tmp_path: Path) -> None:
    teacher = load_hf_vision_teacher(save_tiny_resnet(tmp_path), None)
    assert teacher.task == "image-classification" and teacher.labels == ["normal", "abnormal"]
    assert teacher.input_shape == (3, SIZE, SIZE) and len(teacher.preprocessing["std"]) == 3
    with torch.no_grad():
        assert tuple(teacher.model(torch.zeros(2, 3, SIZE, SIZE)).shape) == (2, 2)


def test_segformer_logits_come_back_at_the_input_size(segformer_folder: Path) -> None:
    teacher = load_tensor_teacher(str(segformer_folder), "segmentation")
    assert teacher.task == "segmentation" and teacher.labels == ["background", "lesion"]
    with torch.no_grad():
        assert tuple(teacher.model(torch.zeros(2, 1, SIZE, SIZE)).shape) == (2, 2, SIZE, SIZE)


def test_task_mismatch_and_missing_preprocessor_are_clear(vit_folder: Path, tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="architecture ViTForImageClassification is for image-classification"):
        load_hf_vision_teacher(vit_folder, "segmentation")
    folder = save_tiny_vit(tmp_path / "bare")
    (folder / "preprocessor_config.json").unlink()
    with pytest.raises(SourceError, match="no preprocessor_config.json"):
        load_hf_vision_teacher(folder, None)
    (folder / "preprocessor_config.json").write_text(json.dumps({**GREY, "image_mean": [0.5, 0.5]}))
    with pytest.raises(SourceError, match="preprocessing spec is invalid"):
        load_hf_vision_teacher(folder, None)


# ---- pruning and students -----------------------------------------------------------------------------------------

def test_prune_heads_shrinks_the_onnx_matrices(vit_folder: Path, tmp_path: Path) -> None:
    teacher = load_tensor_teacher(str(vit_folder))
    data = phantom_data(teacher)
    config = HeadPruneConfig(heads_keep=2, ffn_keep=0.5, recover_epochs=1, batch_size=8)
    student, report = prune_heads(config, teacher, teacher, data, context(tmp_path))
    assert head_counts(vit_of(student.model)) == [2, 2] and head_counts(vit_of(teacher.model)) == [4, 4]
    assert report.details["after"]["ffn_per_layer"] == [32, 32] and len(report.details["recover_loss_by_epoch"]) == 1
    export_tensor_model(teacher, ExportConfig(), tmp_path / "teacher.onnx", data.calibration.inputs)
    export_tensor_model(student, ExportConfig(), tmp_path / "student.onnx", data.calibration.inputs)
    before, after = initializer_shapes(tmp_path / "teacher.onnx"), initializer_shapes(tmp_path / "student.onnx")
    # Linear weights export transposed: Q/K/V (hidden, heads * 8), attention output (heads * 8, hidden), FFN 64 -> 32.
    assert before.count((32, 32)) == 8 and before.count((32, 64)) == 2
    assert after.count((32, 16)) == 6 and after.count((16, 32)) == 2 and (32, 64) not in after
    assert sum(np.prod(s) for s in after) < 0.7 * sum(np.prod(s) for s in before)


def test_distill_vit_student_keeps_a_subset_of_layers(vit_folder: Path, tmp_path: Path) -> None:
    teacher = load_tensor_teacher(str(vit_folder))
    data = phantom_data(teacher)
    student, report = distill_vit(VitDistillConfig(layers=(1,), epochs=1, batch_size=8), teacher, teacher, data,
                                  context(tmp_path))
    hf = vit_of(student.model)
    assert hf.config.num_hidden_layers == 1 and len(vit_of(teacher.model).vit.encoder.layer) == 2
    assert report.details["after"]["layers"] == 1 and "evaluation_agreement" in report.details
    export_tensor_model(student, ExportConfig(), tmp_path / "student.onnx", data.calibration.inputs)


def test_distill_vit_makes_a_shallower_segformer(segformer_folder: Path, tmp_path: Path) -> None:
    teacher = load_tensor_teacher(str(segformer_folder))
    data = phantom_data(teacher)
    config = VitDistillConfig(segformer_depths=(1, 1, 1, 1), epochs=1, batch_size=8)
    student, report = distill_vit(config, teacher, teacher, data, context(tmp_path))
    assert report.details["after"]["depths"] == [1, 1, 1, 1] and report.details["parameter_ratio"] < 1
    with torch.no_grad():
        assert tuple(student.model(torch.zeros(1, 1, SIZE, SIZE)).shape) == (1, 2, SIZE, SIZE)
    export_tensor_model(student, ExportConfig(), tmp_path / "student.onnx", data.calibration.inputs)


def test_vision_step_configs_round_trip_and_reject_bad_values() -> None:
    for config in (HeadPruneConfig(heads_keep=3, layers=(0, 2)), VitDistillConfig(segformer_depths=(1, 1, 2, 1))):
        assert config_from_dict(json.loads(json.dumps(config.to_dict()))) == config
    with pytest.raises(ConfigError, match="prune-heads.heads_keep"):
        HeadPruneConfig(heads_keep=0)
    with pytest.raises(ConfigError, match="distill-vit.segformer_depths"):
        VitDistillConfig(segformer_depths=(0, 1))


# ---- CNN students for the ultrasound host -------------------------------------------------------------------------

def ultrasound_host_kd(teacher: TensorTeacher) -> TensorDistillConfig:
    recipe = plan_tensor_recipe(None, load_profile("ultrasound-host"), teacher)
    assert [step.TYPE for step in recipe.steps] == ["kd", "export", "static-int8"]
    assert "hundreds of small operators" in recipe.reasons[0]
    return recipe.steps[0]


def test_auto_on_ultrasound_host_distills_a_vit_into_a_cnn_classifier(vit_folder: Path, tmp_path: Path) -> None:
    teacher = load_tensor_teacher(str(vit_folder))
    kd = ultrasound_host_kd(teacher)
    assert kd.student_factory == "hfm_compress.imaging_students:cls_cnn"
    assert json.loads(kd.student_kwargs) == {**CLS_STUDENT_KWARGS, "classes": 3, "in_channels": 1}
    student, report = distill_cnn(dataclasses.replace(kd, epochs=1, batch_size=8), teacher, teacher,
                                  phantom_data(teacher), context(tmp_path))
    assert report.details["student_parameters"] == sum(p.numel() for p in student.model.parameters())
    with torch.no_grad():
        assert tuple(student.model(torch.zeros(2, 1, SIZE, SIZE)).shape) == (2, 3)


def test_segformer_cnn_student_has_the_teacher_output_and_far_fewer_onnx_nodes(segformer_folder: Path,
                                                                               tmp_path: Path) -> None:
    teacher = load_tensor_teacher(str(segformer_folder))
    kd = ultrasound_host_kd(teacher)
    assert kd.student_factory == "hfm_compress.imaging_students:seg_cnn"
    data = phantom_data(teacher)
    student, report = distill_cnn(dataclasses.replace(kd, epochs=2, batch_size=8), teacher, teacher, data,
                                  context(tmp_path))
    assert len(report.details["loss_by_epoch"]) == 2 and 0.0 <= report.details["evaluation_agreement"] <= 1.0
    with torch.no_grad():
        assert tuple(student.model(torch.zeros(1, 1, SIZE, SIZE)).shape) == (1, 2, SIZE, SIZE)
    export_tensor_model(teacher, ExportConfig(), tmp_path / "teacher.onnx", data.calibration.inputs)
    export_tensor_model(student, ExportConfig(), tmp_path / "student.onnx", data.calibration.inputs)
    teacher_nodes = len(onnx.load(str(tmp_path / "teacher.onnx")).graph.node)
    student_nodes = len(onnx.load(str(tmp_path / "student.onnx")).graph.node)
    assert student_nodes * 3 < teacher_nodes  # the reason the recipe picks it: per-operator cost, not weights


def test_no_cnn_student_when_the_size_is_not_a_multiple_of_16_or_the_profile_is_size_bound(vit_folder: Path) -> None:
    teacher = load_tensor_teacher(str(vit_folder))
    odd = dataclasses.replace(teacher, preprocessing={**teacher.preprocessing, "height": 40, "width": 40})
    recipe = plan_tensor_recipe(None, load_profile("ultrasound-host"), odd)
    assert recipe.steps[0].TYPE == "export" and "divisible by 16" in recipe.reasons[0]
    recipe = plan_tensor_recipe(None, load_profile("wearable"), teacher)
    assert "kd" not in [step.TYPE for step in recipe.steps] and "size-bound" in recipe.reasons[0]


def test_imaging_students_reject_bad_arguments() -> None:
    with pytest.raises(ConfigError, match="expected 4 stages"):
        seg_cnn(widths=[8, 16])
    with pytest.raises(ConfigError, match="classes = 1"):
        cls_cnn(classes=1)
    with pytest.raises(ConfigError, match="widths"):
        cls_cnn(widths=[8, 0])


@pytest.mark.parametrize("folder_fixture", ["vit_folder", "segformer_folder"])
def test_auto_artifact_for_ultrasound_host_is_an_int8_cnn_student(folder_fixture: str, tmp_path: Path,
                                                                   request: pytest.FixtureRequest) -> None:
    import hfm_runtime
    from hfm_compress.run import compress_model as compress_tensor_model

    teacher = load_tensor_teacher(str(request.getfixturevalue(folder_fixture)))
    profile = load_profile("ultrasound-host")
    recipe = plan_tensor_recipe(None, profile, teacher)
    steps = [dataclasses.replace(recipe.steps[0], epochs=1, batch_size=8), *recipe.steps[1:]]
    out = tmp_path / "auto.hfm"
    compress_tensor_model(teacher, steps, profile, out, phantom_data(teacher), recipe_name=recipe.name,
                          recipe_reasons=recipe.reasons)
    model = hfm_runtime.load(out, "ultrasound-host")
    assert model.manifest["model"]["precision"] == "int8"
    assert [step["type"] for step in model.manifest["recipe"]] == ["kd", "export", "static-int8"]
    ops = {node.op_type for node in onnx.load_from_string(model.artifact.member("model.onnx")).graph.node}
    assert "Conv" in ops and "LayerNormalization" not in ops and "Softmax" not in ops  # a CNN, not the transformer
    frames = np.random.default_rng(0).random((2, SIZE, SIZE), dtype=np.float32)
    expected = (2, 3) if teacher.task == "image-classification" else (2, 2, SIZE, SIZE)
    assert np.asarray(model.run(list(frames))).shape == expected
