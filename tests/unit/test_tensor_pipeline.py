"""Imaging and signal models through the whole toolchain and the runtime, on tiny random-weight modules (seconds).

Real parts throughout: torch export, ORT static INT8, the ORT-format converter, real .hfm files, real ONNX Runtime
sessions, PNG / DICOM / WFDB files written or shipped by their own libraries.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from typer.testing import CliRunner  # noqa: E402

import hfm_runtime  # noqa: E402
from hfm_compress.cli import app  # noqa: E402
from hfm_compress.errors import CompressError  # noqa: E402
from hfm_compress.export import ExportConfig  # noqa: E402
from hfm_compress.quantize.static import StaticInt8Config  # noqa: E402
from hfm_compress.synth import ecg  # noqa: E402
from hfm_compress.sources.arrays import TensorData, load_set  # noqa: E402
from hfm_compress.ort_format import OrtFormatConfig  # noqa: E402
from hfm_compress.run import compress_model as compress_tensor_model  # noqa: E402
from hfm_compress.recipes.tensor import INT8_OPS  # noqa: E402
from hfm_compress.sources import load_tensor_teacher  # noqa: E402
from hfm_compress.sources.modules import save_module_folder  # noqa: E402
from hfm_runtime.errors import InputError  # noqa: E402
from hfm_runtime.profiles import load_profile  # noqa: E402

RECIPE = [ExportConfig(), StaticInt8Config(op_types=INT8_OPS)]


def _build(tmp_path: Path, reference: str, data: str, profile: str, recipe=RECIPE, name: str = "model.hfm") -> Path:
    teacher = load_tensor_teacher(reference)
    sets = {role: load_set(data, role, teacher.task, teacher.preprocessing) for role in ("calibration", "evaluation")}
    out = tmp_path / name
    compress_tensor_model(teacher, recipe, load_profile(profile), out, TensorData(sets["calibration"], sets["evaluation"]))
    return out


@pytest.fixture(scope="module")
def signal_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    recipe = RECIPE + [OrtFormatConfig()]
    return _build(tmp_path_factory.mktemp("signal"), "tiny_tensor:tiny_signal_cnn", "synth:ecg?n=2", "wearable", recipe)


@pytest.fixture(scope="module")
def image_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build(tmp_path_factory.mktemp("image"), "tiny_tensor:tiny_image_cnn", "synth:ultrasound?n=3", "ultrasound-host")


def test_signal_artifact_records_task_int8_ort_and_evaluation(signal_artifact: Path) -> None:
    model = hfm_runtime.load(signal_artifact, profile="wearable")
    manifest = model.manifest
    assert manifest["task"] == "signal-classification"
    assert manifest["model"]["precision"] == "int8"
    assert manifest["model"]["ort_file"] == "model.ort" and model.model_format == "ort"
    assert [s["type"] for s in manifest["recipe"]] == ["export", "static-int8", "ort-format"]
    operators = model.artifact.member(manifest["model"]["required_operators"]).decode()
    assert "Conv" in operators or "QLinearConv" in operators
    evaluation = manifest["evaluation"]
    assert evaluation["fidelity"]["count"] == 12 and 0.0 <= evaluation["fidelity"]["agreement"] <= 1.0
    assert set(evaluation["fidelity"]["sensitivity"]) == set(ecg.ECG_CLASSES)
    assert evaluation["latency_batch1"]["threads"] == 1 and evaluation["size"]["artifact_mb"] > 0


def test_ort_format_and_onnx_give_the_same_probabilities(signal_artifact: Path) -> None:
    window = ecg.simulate_window("atrial_fibrillation", 5, fs=100, seconds=4.0)
    from_ort = hfm_runtime.load(signal_artifact, "wearable", model_format="ort").run(window)
    from_onnx = hfm_runtime.load(signal_artifact, "wearable", model_format="onnx").run(window)
    assert from_ort.shape == (1, 6)
    np.testing.assert_allclose(from_ort, from_onnx, atol=1e-5)
    np.testing.assert_allclose(from_ort.sum(1), 1.0, atol=1e-5)


def test_stream_matches_whole_record_windows(signal_artifact: Path) -> None:
    model = hfm_runtime.load(signal_artifact, "wearable")
    record = ecg.simulate_record([("normal_sinus", 12.0), ("atrial_fibrillation", 12.0)], seed=3, fs=250)
    items = model.inputs.items([record], fs=250.0)  # the record is at 250 Hz, the model at 100 Hz
    whole = model.run_items(items)
    stream = model.stream(input_fs=250.0)
    results = []
    for start in range(0, len(record), 777):  # odd chunk size: windows straddle chunks
        results += stream.push(record[start:start + 777])
    results += stream.flush()
    assert [r.quality for r in results] == ["ok"] * len(whole)
    np.testing.assert_allclose(np.stack([r.probabilities for r in results]), whole, atol=1e-4)


def test_stream_flags_flat_lead_and_nan_instead_of_answering(signal_artifact: Path) -> None:
    model = hfm_runtime.load(signal_artifact, "wearable")
    stream = model.stream()
    good = ecg.simulate_window("normal_sinus", 1, fs=100, seconds=4.0)
    broken = good.copy()
    broken[50:60] = np.nan
    results = stream.push(np.concatenate([good, np.zeros(1600, np.float32), broken])) + stream.flush()  # filter tails reach 3.3 s
    qualities = [r.quality for r in results]
    assert "flat_line" in qualities and "non_finite" in qualities
    assert all(r.probabilities is None for r in results if not r.ok)
    with pytest.raises(InputError, match="NaN or infinite"):
        model.run(broken)
    with pytest.raises(InputError, match="flat line"):
        model.run(np.zeros(400, np.float32))
    with pytest.raises(InputError, match="at least one window"):
        model.run(good[:100])


def test_wfdb_record_runs_through_run_and_cli(signal_artifact: Path, tmp_path: Path) -> None:
    wfdb = pytest.importorskip("wfdb")
    record = ecg.simulate_record([("sinus_bradycardia", 8.0)], seed=2, fs=360)  # another rate: the runtime resamples
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wfdb.wrsamp("rec", fs=360, units=["mV"], sig_name=["II"], p_signal=record[:, None].astype(np.float64),
                    fmt=["16"], write_dir=str(tmp_path))
    model = hfm_runtime.load(signal_artifact, "wearable")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        probabilities = model.run(str(tmp_path / "rec"))
    assert probabilities.shape == (2, 6)
    result = CliRunner().invoke(app, ["run", str(signal_artifact), str(tmp_path / "rec"), "--profile", "wearable", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)["results"]
    assert len(rows) == 2 and rows[1]["input"].endswith("window 1 (4 s)")


def test_image_artifact_runs_png_dicom_and_arrays(image_artifact: Path, tmp_path: Path) -> None:
    pil = pytest.importorskip("PIL.Image")
    pydicom_data = pytest.importorskip("pydicom.data")
    model = hfm_runtime.load(image_artifact, "ultrasound-host")
    assert model.manifest["task"] == "image-classification"
    frame = (np.random.default_rng(0).random((48, 40)) * 255).astype(np.uint8)
    pil.fromarray(frame).save(tmp_path / "frame.png")
    from_png = model.run(str(tmp_path / "frame.png"))
    np.testing.assert_allclose(from_png, model.run(frame), atol=1e-6)
    cine = pydicom_data.get_testdata_file("SC_rgb_rle_2frame.dcm", download=False)  # RLE colour, 2 frames
    assert model.run(cine).shape == (2, 3)  # one output per frame
    # pydicom's ultrasound cine was downsampled without updating its region: cropping to it is refused, clearly.
    with pytest.raises(InputError, match="lies outside"):
        model.run(pydicom_data.get_testdata_file("examples_ybr_color.dcm", download=False))
    assert model.run([pydicom_data.get_testdata_file("CT_small.dcm", download=False), frame]).shape == (2, 3)


def test_segmentation_artifact_outputs_masks_and_dice(tmp_path: Path) -> None:
    out = _build(tmp_path, "tiny_tensor:tiny_segmenter", "synth:ultrasound?n=3", "ultrasound-host")
    model = hfm_runtime.load(out, "ultrasound-host")
    fidelity = model.manifest["evaluation"]["fidelity"]
    assert {"dice_vs_teacher", "dice_vs_truth", "teacher_dice_vs_truth"} <= set(fidelity)
    assert 0.0 <= fidelity["dice_vs_teacher"] <= 1.0
    probabilities = model.run(np.zeros((64, 64), np.float32))
    assert probabilities.shape == (1, 2, 32, 32)
    np.testing.assert_allclose(probabilities.sum(1), 1.0, atol=1e-5)


def test_module_folder_round_trip_and_cli_errors(tmp_path: Path) -> None:
    teacher = load_tensor_teacher("tiny_tensor:tiny_signal_cnn")
    folder = save_module_folder(tmp_path / "teacher", teacher.model, factory="tiny_tensor:tiny_signal_cnn", kwargs={},
                                task=teacher.task, labels=teacher.labels, preprocessing=teacher.preprocessing)
    again = load_tensor_teacher(str(folder))
    assert again.labels == teacher.labels and again.preprocessing == teacher.preprocessing
    runner = CliRunner()
    result = runner.invoke(app, ["compress", str(folder), "--profile", "wearable", "--out", str(tmp_path / "x.hfm")])
    assert result.exit_code != 0 and "--calib and --eval" in result.output
    result = runner.invoke(app, ["compress", str(folder), "--profile", "wearable", "--out", str(tmp_path / "x.hfm"),
                                 "--calib", "synth:nothing", "--eval", "synth:ecg"])
    assert result.exit_code != 0 and "unknown generator 'nothing'" in result.output
    assert not (tmp_path / "x.hfm").exists()
    with pytest.raises(CompressError, match="needs images"):
        load_set("synth:ecg", "calibration", "image-classification", {"type": "image", "height": 8, "width": 8})
