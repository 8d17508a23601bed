"""Subgroup labels of the evaluation data (generators, .npz files, texts), per-subgroup fidelity with the worst
subgroup named, and confusion matrices: on hand-made arrays whose answers are known, and on the generators' own
drawn parameters."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hfm_compress.errors import CompressError
from hfm_compress.evaluate.metrics import classification_metrics, confusion_matrix, segmentation_metrics
from hfm_compress.evaluate.subgroups import (
    embedding_subgroup_metrics,
    lengths_match,
    subgroup_fidelity,
    text_classification_subgroup_metrics,
)
from hfm_compress.evaluate.text_topics import LENGTHS, OTHER, TOPICS, text_length, text_subgroups, text_topic
from hfm_compress.sources.arrays import TensorSet, load_set
from hfm_compress.synth import ecg, ultrasound

ECG_SPEC = {"type": "signal", "fs": 100.0, "window_seconds": 4.0, "bandpass": [0.5, 30.0], "normalisation": "zscore"}
NAMES = ["a", "b", "c"]


def one_hot(predicted: list[int], classes: int = 3) -> np.ndarray:
    return np.eye(classes)[predicted]


# ---- generators: subgroups from the drawn parameters, samples unchanged ----

def test_ecg_subgroups_leave_the_windows_unchanged_and_follow_the_window_order() -> None:
    windows, labels = ecg.make_dataset(2, seed=11, seconds=2.0)
    again, again_labels, subgroups = ecg.make_dataset_with_subgroups(2, seed=11, seconds=2.0)
    assert np.array_equal(windows, again) and np.array_equal(labels, again_labels)
    assert set(subgroups) == set(ecg.SUBGROUP_ATTRIBUTES)
    assert all(values.shape == (12,) and values.dtype.kind == "U" for values in subgroups.values())
    bigger = ecg.dataset_subgroups(3, seed=11, seconds=2.0)
    assert all(np.array_equal(bigger[a][:12], subgroups[a]) for a in subgroups)  # same prefix property as the data
    for index, label in enumerate(labels):
        expected = ecg.window_subgroups(ecg.ECG_CLASSES[label], _window_seed(11, index), seconds=2.0)
        assert {a: subgroups[a][index] for a in subgroups} == expected


def _window_seed(seed: int, index: int) -> int:
    classes = len(ecg.ECG_CLASSES)
    return int(np.random.SeedSequence([seed, index % classes, index // classes]).generate_state(1)[0])


def test_ecg_heart_rate_bins_follow_the_class_definitions_and_noise_class_is_high_noise() -> None:
    subgroups = ecg.dataset_subgroups(20, seed=3000)
    rhythm = np.array(ecg.ECG_CLASSES * 20)
    assert set(subgroups["heart_rate"][rhythm == "sinus_bradycardia"]) == {"<60 bpm"}
    assert set(subgroups["heart_rate"][rhythm == "sinus_tachycardia"]) == {">100 bpm"}
    assert set(subgroups["heart_rate"][rhythm == "normal_sinus"]) == {"60-100 bpm"}
    assert set(subgroups["noise"][rhythm == "noise"]) == {"high"}  # heavy wander always
    for attribute, names in (("noise", {"low", "medium", "high"}), ("amplitude", {"low", "normal", "high"})):
        assert set(subgroups[attribute][rhythm != "noise"]) == names  # every bin is reached


def _detrended(x: np.ndarray, fs: int) -> np.ndarray:
    n = int(0.3 * fs)

    def average(y: np.ndarray) -> np.ndarray:
        return np.convolve(np.pad(y, (n // 2, n - 1 - n // 2), mode="edge"), np.ones(n) / n, "valid")

    return x - average(average(x))


def test_ecg_parameters_are_the_ones_the_window_was_drawn_with() -> None:
    """R height and beat rate measured on the rendered windows match the recomputed parameters of that seed."""
    fs = ecg.DEFAULT_FS
    for seed in range(8):
        for rhythm in ("normal_sinus", "sinus_bradycardia", "sinus_tachycardia"):
            y = _detrended(ecg.simulate_window(rhythm, seed), fs)
            params = ecg.window_parameters(rhythm, seed)
            block = 2 * fs
            r_height = np.median([y[i:i + block].max() for i in range(0, len(y) - block + 1, block)])
            assert 0.75 < r_height / params["r_amplitude_mv"] < 1.1, (rhythm, seed)
            peaks: list[int] = []
            for candidate in np.argsort(-y):
                if y[candidate] < 0.5 * r_height:
                    break
                if all(abs(candidate - p) > 0.25 * fs for p in peaks):
                    peaks.append(int(candidate))
            peaks.sort()
            rate = 60.0 * (len(peaks) - 1) / ((peaks[-1] - peaks[0]) / fs)
            assert abs(rate / params["heart_rate_bpm"] - 1) < 0.12, (rhythm, seed, rate)


def test_ecg_bins_use_the_documented_limits() -> None:
    assert ecg._bin(59.9, ecg.HEART_RATE_BINS) == "<60 bpm" and ecg._bin(60.0, ecg.HEART_RATE_BINS) == "60-100 bpm"
    assert ecg._bin(100.0, ecg.HEART_RATE_BINS) == ">100 bpm"
    assert ecg._bin(0.5, ecg.AMPLITUDE_BINS) == "low" and ecg._bin(2.0, ecg.AMPLITUDE_BINS) == "high"


def test_ecg_subgroup_arguments_are_checked() -> None:
    with pytest.raises(CompressError, match="n_per_class = 0"):
        ecg.dataset_subgroups(0, 1)
    with pytest.raises(CompressError, match="unknown"):
        ecg.window_subgroups("flutter", 1)


def test_ultrasound_subgroups_leave_the_frames_unchanged_and_bin_the_drawn_parameters() -> None:
    images, labels, masks = ultrasound.make_dataset(3, seed=5, size=32)
    again, again_labels, again_masks, subgroups = ultrasound.make_dataset_with_subgroups(3, seed=5, size=32)
    assert np.array_equal(images, again) and np.array_equal(labels, again_labels)
    assert np.array_equal(masks, again_masks)
    assert set(subgroups) == set(ultrasound.SUBGROUP_ATTRIBUTES)
    for index, label in enumerate(labels):
        seed = int(np.random.SeedSequence([5, int(label), index // 3]).generate_state(1)[0])
        meta = ultrasound.generate(ultrasound.US_CLASSES[label], seed, 32).meta
        row = {a: subgroups[a][index] for a in subgroups}
        assert row == ultrasound.phantom_subgroups(meta)
        assert (row["lesion_size"] == "none") == (ultrasound.US_CLASSES[label] == "no_lesion")
        depth = meta["depth_cm"]
        assert row["depth"] == ("<10 cm" if depth < 10 else "10-12 cm" if depth < 12 else ">12 cm")
        assert row["gain"] == ("low" if meta["gain_db"] < -1 else "normal" if meta["gain_db"] < 1 else "high")
        if meta["lesion"] is not None:
            diameter = 2 * np.sqrt(np.prod(meta["lesion"]["axes_cm"]))
            assert row["lesion_size"] == ("small" if diameter < 2 else "medium" if diameter < 3 else "large")
    assert np.array_equal(ultrasound.dataset_subgroups(3, seed=5, size=32)["speckle"], subgroups["speckle"])


# ---- data sets: synth sets carry subgroups, .npz files may; fingerprints unchanged ----

def test_synth_sets_carry_subgroups_outside_the_fingerprint() -> None:
    data = load_set("synth:ecg?n=2", "evaluation", "signal-classification", ECG_SPEC)
    assert set(data.subgroups) == set(ecg.SUBGROUP_ATTRIBUTES)
    assert all(len(values) == len(data) == 12 for values in data.subgroups.values())
    plain = TensorSet(inputs=data.inputs, raw=data.raw, labels=data.labels, masks=None, source=data.source)
    assert plain.subgroups == {} and plain.fingerprint() == data.fingerprint()


def _npz(tmp_path: Path, **arrays: np.ndarray) -> str:
    windows, labels = ecg.make_dataset(1, seed=4, fs=100, seconds=4.0)
    path = tmp_path / "data.npz"
    np.savez(path, inputs=windows, labels=labels, **arrays)
    return str(path)


def test_npz_subgroup_arrays_are_read_as_strings(tmp_path: Path) -> None:
    path = _npz(tmp_path, subgroup_site=np.array(["north", "south"] * 3), subgroup_age_band=np.arange(6) // 3,
                subgroup_device=np.array([b"x1", b"x2", b"x1", b"x2", b"x1", b"x2"]), other=np.zeros(2))
    data = load_set(path, "evaluation", "signal-classification", ECG_SPEC)
    assert sorted(data.subgroups) == ["age_band", "device", "site"]
    assert data.subgroups["age_band"].tolist() == ["0", "0", "0", "1", "1", "1"]
    assert data.subgroups["device"].tolist()[:2] == ["x1", "x2"] and data.subgroups["site"][1] == "south"
    assert load_set(_npz(tmp_path), "evaluation", "signal-classification", ECG_SPEC).subgroups == {}


@pytest.mark.parametrize(("arrays", "message"), [
    ({"subgroup_site": np.array(["a", "b"])}, r"array 'subgroup_site' has shape \(2,\); expected \(6,\)"),
    ({"subgroup_site": np.zeros((6, 2), dtype=int)}, r"array 'subgroup_site' has shape \(6, 2\); expected \(6,\)"),
    ({"subgroup_site": np.linspace(0, 1, 6)}, "array 'subgroup_site' has dtype float64; expected"),
    ({"subgroup_": np.arange(6)}, "array 'subgroup_' names no attribute"),
])
def test_bad_npz_subgroups_name_the_file_the_array_and_the_length(tmp_path: Path, arrays: dict, message: str) -> None:
    path = _npz(tmp_path, **arrays)
    with pytest.raises(CompressError, match=message) as error:
        load_set(path, "evaluation", "signal-classification", ECG_SPEC)
    assert path in str(error.value) and "one subgroup value per input" in str(error.value)


# ---- per-subgroup fidelity ----

def test_classification_subgroups_name_the_worst_and_skip_small_groups() -> None:
    labels = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2])
    teacher = one_hot(labels.tolist())  # the teacher is always right
    artifact_calls = labels.copy()
    artifact_calls[[6, 7]] = [1, 0]  # two misses, both in site "south"
    groups = {"site": np.array(["north"] * 6 + ["south"] * 6),
              "rare": np.array(["common"] * 9 + ["rare"] * 3)}
    result = subgroup_fidelity(lambda t, c, labels: classification_metrics(t, c, labels, NAMES), groups,
                               teacher, one_hot(artifact_calls.tolist()), labels=labels)
    north, south = result["by_attribute"]["site"]["north"], result["by_attribute"]["site"]["south"]
    assert north["agreement"] == 1.0 and north["count"] == 6
    assert south["agreement"] == pytest.approx(4 / 6, abs=1e-4) and south["count"] == 6
    assert south["sensitivity"] == {"a": 0.5, "b": 0.5, "c": 1.0} and south["max_sensitivity_drop"] == 0.5
    assert "confusion" not in south  # overall only
    assert result["worst"] == {"attribute": "site", "value": "south", "metric": "agreement",
                               "score": south["agreement"], "teacher_metric": "teacher_accuracy",
                               "teacher_score": 1.0, "count": 6}
    assert result["worst_sensitivity_drop"] == {"attribute": "site", "value": "south", "drop": 0.5, "count": 6}
    assert result["skipped"] == {"rare": {"rare": 3}} and result["min_count"] == 5
    assert list(result["by_attribute"]["rare"]) == ["common"]


def test_without_labels_the_worst_has_no_teacher_score_and_everything_small_is_skipped() -> None:
    teacher = one_hot([0, 1, 2, 0, 1, 2])
    groups = {"g": np.array(["x", "x", "x", "y", "y", "y"])}
    metric = lambda t, c, labels: classification_metrics(t, c, labels, NAMES)  # noqa: E731
    result = subgroup_fidelity(metric, groups, teacher, teacher, min_count=3, labels=None)
    assert result["worst"]["teacher_score"] is None and result["worst"]["teacher_metric"] is None
    assert result["worst"]["value"] == "x" and result["worst"]["score"] == 1.0  # ties keep the first value
    assert result["worst_sensitivity_drop"] is None
    nothing = subgroup_fidelity(metric, groups, teacher, teacher, labels=None)
    assert nothing["by_attribute"] == {} and nothing["worst"] is None
    assert nothing["skipped"] == {"g": {"x": 3, "y": 3}}


def test_segmentation_subgroups_use_dice_vs_teacher() -> None:
    full, empty = np.ones((4, 4), int), np.zeros((4, 4), int)
    teacher_masks = np.stack([full] * 10)
    candidate_masks = np.stack([full] * 5 + [empty] * 5)
    probs = lambda masks: np.stack([1 - masks, masks], axis=1).astype(float)  # noqa: E731
    groups = {"depth": np.array(["<10 cm"] * 5 + [">12 cm"] * 5)}
    result = subgroup_fidelity(lambda t, c, masks: segmentation_metrics(t, c, masks, ["bg", "lesion"]), groups,
                               probs(teacher_masks), probs(candidate_masks), masks=teacher_masks)
    assert result["by_attribute"]["depth"]["<10 cm"]["dice_vs_teacher"] == 1.0
    assert result["worst"]["value"] == ">12 cm" and result["worst"]["metric"] == "dice_vs_teacher"
    assert result["worst"]["score"] == 0.0 and result["worst"]["teacher_score"] == 1.0


def test_embedding_subgroups_skip_neighbour_metrics_in_groups_of_five_or_fewer() -> None:
    rng = np.random.default_rng(0)
    teacher = rng.standard_normal((13, 8))
    candidate = teacher.copy()
    candidate[8:] = rng.standard_normal((5, 8))  # group "b" is scrambled
    groups = {"topic": np.array(["a"] * 8 + ["b"] * 5)}
    result = subgroup_fidelity(embedding_subgroup_metrics, groups, teacher, candidate)
    a, b = result["by_attribute"]["topic"]["a"], result["by_attribute"]["topic"]["b"]
    assert a["cosine_mean"] == 1.0 and a["top5_neighbour_agreement"] == 1.0 and a["count"] == 8
    assert set(b) == {"cosine_mean", "cosine_min", "count"} and b["cosine_mean"] < 0.9
    assert result["worst"]["value"] == "b" and result["worst"]["metric"] == "cosine_mean"
    assert b["cosine_mean"] == round(b["cosine_mean"], 4)


def test_text_classification_subgroups_are_rounded() -> None:
    metrics = text_classification_subgroup_metrics(np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]]),
                                                   np.array([[0.8, 0.2], [0.3, 0.7], [0.4, 0.6]]))
    assert metrics["class_agreement"] == 0.6667 and metrics["probability_max_abs_diff"] == 0.2


def test_lengths_are_checked() -> None:
    with pytest.raises(ValueError, match="g has 2 entries; expected 3"):
        subgroup_fidelity(embedding_subgroup_metrics, {"g": np.array(["x", "y"])}, np.ones((3, 2)), np.ones((3, 2)))
    assert lengths_match({"g": np.array(["x"] * 3)}, 3) is None
    assert "do not match the 4 evaluated model inputs" in lengths_match({"g": np.array(["x"] * 3)}, 4)


# ---- confusion matrices ----

def test_confusion_matrices_have_true_classes_as_rows() -> None:
    labels = np.array([0, 1, 2, 2, 1, 0])
    teacher = one_hot([0, 1, 1, 2, 1, 2])
    artifact = one_hot([0, 1, 2, 2, 0, 2])
    confusion = classification_metrics(teacher, artifact, labels, NAMES)["confusion"]
    assert confusion["labels"] == NAMES
    assert confusion["teacher"] == [[1, 0, 1], [0, 2, 0], [0, 1, 1]]
    assert confusion["artifact"] == [[1, 0, 1], [1, 1, 0], [0, 0, 2]]
    assert "confusion" not in classification_metrics(teacher, artifact, None, NAMES)
    assert confusion_matrix(np.array([0, 1]), np.array([5, 1]), 2) == [[0, 0], [0, 1]]  # unknown labels not counted


# ---- text topics ----

@pytest.mark.parametrize(("text", "topic"), [
    ("Patient reports crushing chest pain radiating to the left arm.", "cardiovascular"),
    ("Fever, productive cough and right lower lobe crackles for three days.", "respiratory"),
    ("Metformin 500 mg by mouth twice daily with meals.", "medication"),
    ("She is 34 weeks pregnant and has noticed the baby moving less since this morning.", "maternal_child"),
    ("PHQ-9 score 18 indicating moderately severe depression.", "neuro_mental"),
    ("Syphilis serology positive; single dose of benzathine penicillin given.", "infection"),
    ("Vomiting with no bowel movement or flatus for two days after prior abdominal surgery.", "digestive"),
    ("Creatinine 2.9 mg/dL, up from 1.1 two days ago.", OTHER),  # a lab value in mg/dL is not a dose
    ("Kidney biopsy consistent with membranous nephropathy.", OTHER),
])
def test_text_topic_rule(text: str, topic: str) -> None:
    assert text_topic(text) == topic


def test_text_length_bands_and_subgroups_of_the_bundled_evaluation_set() -> None:
    assert text_length(" ".join(["word"] * 10)) == LENGTHS[0] == "short (<=10 words)"
    assert text_length(" ".join(["word"] * 11)) == LENGTHS[1] and text_length(" ".join(["w"] * 26)) == LENGTHS[2]
    from hfm_compress.data import load_texts

    subgroups = text_subgroups(load_texts("eval"))
    assert set(subgroups["topic"]) == {*TOPICS, OTHER} and set(subgroups["length"]) == set(LENGTHS)
    counts = {topic: int(np.sum(subgroups["topic"] == topic)) for topic in (*TOPICS, OTHER)}
    assert min(counts.values()) >= 5, counts  # every topic can be scored on the bundled set


# ---- wiring: the manifest carries evaluation.fidelity.subgroups ----

def test_signal_artifact_manifest_reports_fidelity_per_subgroup(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    import hfm_runtime
    from hfm_compress.export import ExportConfig
    from hfm_compress.quantize.static import StaticInt8Config
    from hfm_compress.recipes.tensor import INT8_OPS
    from hfm_compress.run import compress_model
    from hfm_compress.sources import load_tensor_teacher
    from hfm_compress.sources.arrays import TensorData
    from hfm_runtime.profiles import load_profile

    teacher = load_tensor_teacher("tiny_tensor:tiny_signal_cnn")
    sets = [load_set("synth:ecg?n=5", role, teacher.task, teacher.preprocessing) for role in ("calibration",
                                                                                           "evaluation")]
    out = tmp_path / "signal.hfm"
    compress_model(teacher, [ExportConfig(), StaticInt8Config(op_types=INT8_OPS)], load_profile("wearable"), out,
                   TensorData(*sets))
    fidelity = hfm_runtime.load(out, profile="wearable").manifest["evaluation"]["fidelity"]
    assert fidelity["confusion"]["labels"] == list(ecg.ECG_CLASSES)
    assert sum(map(sum, fidelity["confusion"]["artifact"])) == fidelity["count"] == 30
    report = fidelity["subgroups"]
    assert set(report) == {"by_attribute", "worst", "worst_sensitivity_drop", "skipped", "min_count"}
    assert set(report["by_attribute"]) | set(report["skipped"]) == set(ecg.SUBGROUP_ATTRIBUTES)
    scored = [(a, v, m) for a, values in report["by_attribute"].items() for v, m in values.items()]
    assert all(m["count"] >= 5 and 0.0 <= m["agreement"] <= 1.0 and "sensitivity" in m for _, _, m in scored)
    worst = report["worst"]
    assert worst["metric"] == "agreement" and worst["score"] == min(m["agreement"] for _, _, m in scored)
    assert report["by_attribute"][worst["attribute"]][worst["value"]]["agreement"] == worst["score"]


def test_text_artifact_manifest_reports_fidelity_per_topic_and_length(tiny_bert_folder: Path, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    import hfm_compress
    import hfm_runtime

    out = tmp_path / "fp32.hfm"
    hfm_compress.compress(str(tiny_bert_folder), "clinic-cpu", "fp32", out=out, task="embedding")
    report = hfm_runtime.load(out, profile="clinic-cpu").manifest["evaluation"]["fidelity"]["subgroups"]
    assert set(report["by_attribute"]) == {"topic", "length"}
    assert set(report["by_attribute"]["topic"]) | set(report["skipped"].get("topic", {})) <= {*TOPICS, OTHER}
    scored = [m for values in report["by_attribute"].values() for m in values.values()]
    assert all(m["cosine_mean"] > 0.9999 and m["count"] >= 5 for m in scored)
    assert report["worst"]["metric"] == "cosine_mean" and report["worst"]["teacher_score"] is None
