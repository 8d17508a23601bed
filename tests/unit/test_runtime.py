"""The runtime end to end on tiny onnx.helper artifacts: load, verify, budgets, preprocessing, batching, self-test."""

import dataclasses
import zipfile
from pathlib import Path

import numpy as np
import pytest

import hfm_runtime
from hfm_runtime.artifact import npz_bytes, npz_load, read_artifact, write_artifact
from hfm_runtime.errors import BudgetError, InputError, SelfTestError
from hfm_runtime.session import SessionSettings
from tiny_artifacts import GOLDEN_TEXTS, make_text_artifact, tiny_tokenizer_json


def test_embeddings_are_unit_length_and_batching_does_not_change_them(tiny_artifact: Path) -> None:
    model = hfm_runtime.load(tiny_artifact, profile="clinic-cpu")
    texts = ["patient reports chest pain", "fever", "severe abdominal pain with nausea and vomiting since yesterday"]
    together = model.run(texts)
    one_by_one = np.stack([model.run([t])[0] for t in texts])
    assert together.shape == (3, 8)
    np.testing.assert_allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(together, one_by_one, atol=1e-5)
    np.testing.assert_allclose(model.run(texts, batch_size=1), together, atol=1e-5)


def test_text_uses_real_length_and_truncates_at_the_model_limit(tiny_artifact: Path) -> None:
    model = hfm_runtime.load(tiny_artifact)
    short = model.inputs.preprocessor.encode(["fever"])
    assert short["input_ids"].shape == (1, 3)  # [CLS] fever [SEP], not padded to 16
    long = model.inputs.preprocessor.encode(["cough " * 100])
    assert long["input_ids"].shape == (1, 16)
    assert model.run(["cough " * 100]).shape == (1, 8)


def test_classifier_returns_probabilities_and_labels(tiny_classifier: Path) -> None:
    model = hfm_runtime.load(tiny_classifier)
    probs = model.run(["chest pain", "mild cough"])
    assert probs.shape == (2, 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert model.labels == ["routine", "urgent", "emergency"]


def test_session_follows_the_profile(tiny_artifact: Path) -> None:
    wearable_like = hfm_runtime.load(tiny_artifact, profile="clinic-cpu")
    assert wearable_like.settings.graph_optimization_level == "all"
    assert wearable_like.settings.intra_op_threads <= 4
    options = wearable_like.settings.session_options()
    assert options.intra_op_num_threads == wearable_like.settings.intra_op_threads
    assert options.enable_cpu_mem_arena is True


def test_manifest_records_members_golden_and_profile(tiny_artifact: Path) -> None:
    manifest = hfm_runtime.load(tiny_artifact).manifest
    assert manifest["format"] == "hfm" and manifest["format_version"] == 1
    assert set(manifest["members"]) == {"model.onnx", "tokenizer.json", "golden.npz"}
    assert manifest["golden"]["texts"] == list(GOLDEN_TEXTS)
    assert manifest["golden"]["atol"] >= manifest["golden"]["reference_drift"]
    assert manifest["profile"]["name"] == "clinic-cpu"


@pytest.mark.parametrize(("bad", "message"), [(None, "got NoneType"), (42, "got int"), ([b"x"], "input 0 is a bytes")])
def test_inputs_of_the_wrong_type_are_refused(tiny_artifact: Path, bad: object, message: str) -> None:
    with pytest.raises(InputError, match=message):
        hfm_runtime.load(tiny_artifact).run(bad)


def test_empty_list_error(tiny_artifact: Path) -> None:
    with pytest.raises(InputError, match="empty list; expected at least one text"):
        hfm_runtime.load(tiny_artifact).run([])


def test_non_string_input_error(tiny_artifact: Path) -> None:
    with pytest.raises(InputError, match=r"input 1 is a int; expected a text \(str\)"):
        hfm_runtime.load(tiny_artifact).run(["fine", 7])


def test_one_megabyte_text_error(tiny_artifact: Path) -> None:
    with pytest.raises(InputError, match=r"input 0 has 1,048,576 characters; this artifact accepts at most 10,000"):
        hfm_runtime.load(tiny_artifact).run(["x" * (1 << 20)])


def test_artifact_over_the_size_budget_is_refused(tmp_path: Path) -> None:
    path = make_text_artifact(tmp_path / "tiny.hfm", profile="clinic-cpu")
    padding = np.random.default_rng(0).bytes(400_000)  # incompressible, listed and hashed like any member
    big = _with_extra_member(path, tmp_path / "big.hfm", "padding.bin", padding)
    size_mb = big.stat().st_size / 1e6
    with pytest.raises(BudgetError, match=rf"is {size_mb:.2f} MB; profile wearable allows at most 0.25 MB"):
        hfm_runtime.load(big, profile="wearable")


def test_precision_not_allowed_by_the_profile(tmp_path: Path) -> None:
    path = make_text_artifact(tmp_path / "tiny.hfm", profile="clinic-cpu")
    with pytest.raises(BudgetError, match="graph precision fp32; profile allows int8"):
        hfm_runtime.load(path, profile="wearable")


def test_self_test_catches_outputs_that_drift(tiny_artifact: Path, tmp_path: Path) -> None:
    artifact = read_artifact(tiny_artifact)
    manifest = {k: v for k, v in artifact.manifest.items() if k not in ("format", "format_version", "members")}
    golden = npz_load(artifact.members["golden.npz"])["outputs"]
    drifted = golden + 10 * manifest["golden"]["atol"]
    members = dict(artifact.members, **{"golden.npz": npz_bytes({"outputs": drifted})})
    path = write_artifact(tmp_path / "drifted.hfm", manifest, members)
    with pytest.raises(SelfTestError, match=r"self-test failed: outputs of the golden inputs run together drift .* \(tolerance"):
        hfm_runtime.load(path)
    assert hfm_runtime.load(path, self_test=False).run(["fever"]).shape == (1, 8)


def test_self_test_passes_under_other_legitimate_settings(tiny_artifact: Path) -> None:
    model = hfm_runtime.load(tiny_artifact, profile="clinic-cpu")
    single = dataclasses.replace(model.settings, intra_op_threads=1, graph_optimization_level="basic")
    other = hfm_runtime.Model(model.artifact, model.profile, single)
    from hfm_runtime import golden

    assert golden.self_test(other) <= model.manifest["golden"]["atol"]


def test_tokenizer_json_round_trips_through_the_artifact(tiny_artifact: Path) -> None:
    assert read_artifact(tiny_artifact).members["tokenizer.json"].decode() == tiny_tokenizer_json()


def _with_extra_member(src: Path, dst: Path, name: str, data: bytes) -> Path:
    artifact = read_artifact(src)
    manifest = {k: v for k, v in artifact.manifest.items() if k not in ("format", "format_version", "members")}
    return write_artifact(dst, manifest, dict(artifact.members, **{name: data}))


def test_unlisted_zip_member_is_refused(tiny_artifact: Path) -> None:
    with zipfile.ZipFile(tiny_artifact, "a") as archive:
        archive.writestr("extra.onnx", b"sneaky")
    with pytest.raises(hfm_runtime.ArtifactError, match="extra.onnx are not listed in the manifest"):
        hfm_runtime.load(tiny_artifact)


def test_settings_cap_threads_to_this_machine() -> None:
    profile = hfm_runtime.load_profile("clinic-cpu")
    settings = SessionSettings.from_profile(profile)
    from hfm_runtime.session import available_cores

    assert settings.intra_op_threads == min(4, available_cores())


def test_written_artifact_gets_the_usual_file_mode_and_no_temp_file(tmp_path: Path) -> None:
    import os

    path = write_artifact(tmp_path / "a.hfm", {"name": "x"}, {"model.onnx": b"\x00"})
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600
    assert [p.name for p in tmp_path.iterdir()] == ["a.hfm"]
