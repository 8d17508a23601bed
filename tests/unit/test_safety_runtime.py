"""The runtime half of clinical safety: flags on every result, the profile's withhold policy, calibration, and the
artifacts that carry them.

Real parts throughout: tiny onnx.helper models packed into real .hfm files, the detector fitted with the toolchain's
own `hfm_compress.safety.detector` (numpy only) on features the runtime computes from the model's raw outputs, real
ONNX Runtime sessions, the real CLI.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pytest
from test_audit_stream import FS, SECONDS, tiny_signal_artifact
from tiny_artifacts import WORDS, make_text_artifact
from trust_helpers import edit_manifest, replace_member
from typer.testing import CliRunner

import hfm_runtime
from hfm_compress.cli import app
from hfm_compress.safety.detector import fit_detector, fit_temperature, lower_threshold, upper_threshold
from hfm_runtime import safety
from hfm_runtime.artifact import read_artifact, write_artifact
from hfm_runtime.audit import AuditLog, verify_log
from hfm_runtime.errors import ArtifactError, InputError, ProfileError
from hfm_runtime.model import StreamResult
from hfm_runtime.profiles import load_profile

PROFILES = Path(__file__).parents[2] / "device_profiles"
OOD_TEXTS = ["zxqv blorf qwertyuiop 12345 ### $$$", "SELECT * FROM patients WHERE id = 7; DROP TABLE x;",
             "Lorem ipsum dolor sit amet, consectetur adipiscing elit", "0x7f3a 0xdeadbeef 0b1011 == 42 !!"]
WINDOW = int(FS * SECONDS)


# ---- building artifacts that carry a safety section --------------------------------------------------------------

def clinical_texts(count: int, seed: int) -> list[str]:
    """In-distribution texts: 3 to 8 words of the tiny tokenizer's clinical vocabulary."""
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=int(rng.integers(3, 9)))) for _ in range(count)]


def heartbeats(count: int, seed: int) -> list[np.ndarray]:
    """In-distribution windows: a beat train (narrow pulses at 55-100 bpm) with a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(WINDOW) / FS
    windows = []
    for _ in range(count):
        period, phase = 60 / rng.uniform(55, 100), rng.uniform(0, 1)
        distance = (t + phase * period) % period
        pulse = np.exp(-0.5 * (np.minimum(distance, period - distance) / 0.02) ** 2)
        windows.append((pulse + 0.05 * rng.normal(size=WINDOW)).astype(np.float32))
    return windows


def white_noise(count: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(size=WINDOW).astype(np.float32) for _ in range(count)]


def add_safety(src: Path, dst: Path, fit: Sequence[Any], held_out: Sequence[Any], *, rate: float = 0.01,
               confidence_rate: float | None = None, temperature: bool = False) -> Path:
    """`src` with a safety section fitted as the toolchain does: the detector on `fit`, thresholds (and the
    temperature) on `held_out`, all from the artifact's own raw outputs."""
    model = hfm_runtime.load(src, profile="clinic-cpu", self_test=False)
    statistics = model.manifest["preprocessing"]["type"]

    def features(inputs: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
        items, raw = model.inputs.items(list(inputs)), model.run_raw(list(inputs))
        return safety.features(model.task, statistics, model.inputs, items, raw), raw

    fit_features, fit_raw = features(fit)
    detector = fit_detector(fit_features)
    held_features, held_raw = features(held_out)
    entry: dict[str, Any] = {"member": safety.SAFETY_MEMBER, "out_of_distribution": {
        "score": "mahalanobis", "threshold": upper_threshold(detector.score(held_features), rate),
        "false_flag_rate": rate, "features": safety.feature_names(model.task, statistics, fit_raw),
        "fitted_on": {"count": len(fit)}, "threshold_from": {"count": len(held_out)}}}
    value = 1.0
    if temperature:  # labels that agree with the model's top class 70% of the time
        rng = np.random.default_rng(5)
        labels = np.where(rng.random(len(held_raw)) < 0.7, held_raw.argmax(axis=1),
                          rng.integers(0, held_raw.shape[1], len(held_raw)))
        value = fit_temperature(held_raw, labels)
        entry["temperature"] = {"value": value, "fitted_on": {"count": len(held_out)}}
    if confidence_rate is not None:
        confidence = safety.confidence(model.task, safety.calibrate(held_raw, value))
        entry["low_confidence"] = {"score": "max_probability", "false_flag_rate": confidence_rate,
                                   "threshold": lower_threshold(confidence, confidence_rate),
                                   "threshold_from": {"count": len(held_out)}}
    return repack(src, dst, entry, detector.to_npz())


def repack(src: Path, dst: Path, entry: dict[str, Any], npz: bytes) -> Path:
    """Write `src` again with `entry` as its manifest's safety section and `npz` as its safety member."""
    artifact = read_artifact(src)
    manifest = {k: v for k, v in artifact.manifest.items() if k not in ("format", "format_version", "members")}
    return write_artifact(dst, {**manifest, "safety": entry}, {**artifact.members, safety.SAFETY_MEMBER: npz})


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("safety")


@pytest.fixture(scope="module")
def classifier(folder: Path) -> Path:
    plain = make_text_artifact(folder / "plain-cls.hfm", task="classification")
    return add_safety(plain, folder / "cls.hfm", clinical_texts(240, 1), clinical_texts(200, 2),
                      confidence_rate=0.2, temperature=True)


@pytest.fixture(scope="module")
def embedder(folder: Path) -> Path:
    plain = make_text_artifact(folder / "plain-emb.hfm")
    return add_safety(plain, folder / "emb.hfm", clinical_texts(240, 3), clinical_texts(200, 4))


@pytest.fixture(scope="module")
def ecg(folder: Path) -> Path:
    plain = tiny_signal_artifact(folder / "plain-ecg.hfm")
    return add_safety(plain, folder / "ecg.hfm", heartbeats(160, 1), heartbeats(160, 2))


def withholding_profile(folder: Path, flags: str = '["out_of_distribution"]',
                        why: str = 'why = "the test device withholds"') -> Path:
    path = folder / "withholding.toml"
    text = (PROFILES / "clinic-cpu.toml").read_text().replace('name = "clinic-cpu"', 'name = "test-device"')
    text = text[: text.index("[safety]")] + f"[safety]\nwithhold = {flags}\n{why}\n"
    path.write_text(text)
    return path


# ---- flags --------------------------------------------------------------------------------------------------------

def test_in_distribution_texts_are_mostly_unflagged_and_nonsense_is_flagged(classifier: Path) -> None:
    model = hfm_runtime.load(classifier, profile="clinic-cpu")
    assert model.safety_checks == ("out_of_distribution", "low_confidence")
    ordinary = model.predict(clinical_texts(100, 9))
    ood_rate = np.mean(["out_of_distribution" in f for f in ordinary.flags])
    assert ood_rate <= 0.1
    strange = model.predict(OOD_TEXTS)
    assert all("out_of_distribution" in f for f in strange.flags)
    assert all(s["ood_distance"] > model.safety.ood_threshold for s in strange.scores)
    assert all("ood_distance" in s and "confidence" in s for s in ordinary.scores)


def test_low_confidence_flags_follow_the_threshold(classifier: Path) -> None:
    model = hfm_runtime.load(classifier, profile="clinic-cpu")
    results = model.predict(clinical_texts(100, 10))
    low = np.array(["low_confidence" in f for f in results.flags])
    confidence = np.array([s["confidence"] for s in results.scores])
    assert 0 < low.sum() < len(low)  # threshold at a 20% false-flag rate: some, not all
    np.testing.assert_array_equal(low, confidence < model.safety.confidence_threshold)
    assert not results.withheld.any()  # clinic-cpu returns every result with its flags
    assert np.isfinite(results.outputs).all()


def test_embeddings_and_signals_are_flagged_out_of_distribution(embedder: Path, ecg: Path) -> None:
    text_model = hfm_runtime.load(embedder, profile="clinic-cpu")
    assert text_model.safety_checks == ("out_of_distribution",)
    assert np.mean(["out_of_distribution" in f for f in text_model.predict(clinical_texts(80, 11)).flags]) <= 0.1
    assert all("out_of_distribution" in f for f in text_model.predict(OOD_TEXTS).flags)
    signal_model = hfm_runtime.load(ecg, profile="clinic-cpu")
    assert np.mean(["out_of_distribution" in f for f in signal_model.predict(heartbeats(60, 12)).flags]) <= 0.1
    assert all("out_of_distribution" in f for f in signal_model.predict(white_noise(10, 13)).flags)


def test_artifacts_without_safety_behave_as_before(tiny_classifier: Path) -> None:
    model = hfm_runtime.load(tiny_classifier, profile="clinic-cpu", withhold=["out_of_distribution"])
    assert model.safety is None and model.safety_checks == ()
    results = model.predict(["fever", "zxqv blorf 12345"])
    assert results.flags == [(), ()] and results.flagged == 0 and not results.withheld.any()
    np.testing.assert_array_equal(model.run(["fever"]), model.run_raw(["fever"]))


# ---- the policy ---------------------------------------------------------------------------------------------------

def test_withheld_results_are_nan_in_run_and_none_in_predict(classifier: Path) -> None:
    texts = clinical_texts(20, 14) + OOD_TEXTS
    model = hfm_runtime.load(classifier, profile="clinic-cpu", withhold=["out_of_distribution"])
    assert model.policy.source == "load() arguments"
    results = model.predict(texts)
    ood = np.array(["out_of_distribution" in f for f in results.flags])
    np.testing.assert_array_equal(results.withheld, ood)
    assert ood[-len(OOD_TEXTS):].all()
    outputs = model.run(texts)
    assert np.isnan(outputs[ood]).all() and np.isfinite(outputs[~ood]).all()
    for result in results:
        assert (result.output is None) == result.withheld
        assert result.withheld == ("out_of_distribution" in result.flags)
    assert results.flagged >= len(OOD_TEXTS)


def test_returned_results_keep_their_output_and_flags(classifier: Path) -> None:
    model = hfm_runtime.load(classifier, profile="clinic-cpu", withhold=[])
    results = model.predict(OOD_TEXTS)
    assert not results.withheld.any() and np.isfinite(results.outputs).all()
    assert all(r.output is not None and "out_of_distribution" in r.flags for r in results)


def test_the_profile_safety_table_sets_the_policy(classifier: Path, tmp_path: Path) -> None:
    profile = withholding_profile(tmp_path)
    model = hfm_runtime.load(classifier, profile=profile)
    assert model.policy.withhold == ("out_of_distribution",) and model.policy.source == "profile test-device"
    assert model.predict(OOD_TEXTS).withheld.all()
    overridden = hfm_runtime.load(classifier, profile=profile, withhold=[])
    assert not overridden.predict(OOD_TEXTS).withheld.any()


def test_withholding_low_confidence(classifier: Path) -> None:
    model = hfm_runtime.load(classifier, profile="clinic-cpu", withhold=("low_confidence",))
    results = model.predict(clinical_texts(60, 15))
    low = np.array(["low_confidence" in f for f in results.flags])
    assert low.any()
    np.testing.assert_array_equal(results.withheld, low)


@pytest.mark.parametrize("withhold", [["ood"], "region", ["out_of_distribution", "flat_line"]])
def test_load_refuses_a_withhold_that_names_no_safety_flag(classifier: Path, withhold: Any) -> None:
    with pytest.raises(InputError, match="is not a safety flag; expected a list of out_of_distribution, low_conf"):
        hfm_runtime.load(classifier, profile="clinic-cpu", withhold=withhold)


# ---- calibration and the golden self-test -------------------------------------------------------------------------

def test_temperature_calibrates_probabilities_but_keeps_the_class(classifier: Path) -> None:
    model = hfm_runtime.load(classifier, profile="clinic-cpu")
    temperature = model.safety.temperature
    assert abs(temperature - 1) > 0.05
    texts = clinical_texts(30, 16)
    raw, calibrated = model.run_raw(texts), model.run(texts)
    assert np.abs(raw - calibrated).max() > 1e-3
    np.testing.assert_array_equal(raw.argmax(axis=1), calibrated.argmax(axis=1))
    np.testing.assert_allclose(calibrated.sum(axis=1), 1.0, atol=1e-5)
    change = calibrated.max(axis=1) - raw.max(axis=1)  # T < 1 sharpens, T > 1 softens
    assert (change >= -1e-6).all() if temperature < 1 else (change <= 1e-6).all()
    np.testing.assert_allclose(calibrated, safety.calibrate(raw, temperature), atol=1e-6)


def test_golden_self_test_compares_raw_outputs_together_and_alone(classifier: Path, ecg: Path) -> None:
    from hfm_runtime import golden

    for path in (classifier, ecg):
        model = hfm_runtime.load(path, profile="clinic-cpu", self_test=False, withhold=["out_of_distribution"])
        assert model.manifest["golden"]["checks"] == ["together", "alone"]
        assert golden.self_test(model) <= model.manifest["golden"]["atol"]


def test_legacy_fixtures_still_self_test() -> None:
    fixtures = Path(__file__).parents[1] / "fixtures"
    for path in sorted(fixtures.glob("legacy-*.hfm")):
        model = hfm_runtime.load(path, profile="clinic-cpu")
        assert model.safety is None and model.predict(["chest pain"]).flags == [()]


# ---- the API shapes -----------------------------------------------------------------------------------------------

def test_predictions_index_iterate_and_serialise(classifier: Path) -> None:
    model = hfm_runtime.load(classifier, profile="clinic-cpu", withhold=["out_of_distribution"])
    results = model.predict(["patient reports chest pain", OOD_TEXTS[0]])
    assert len(results) == 2 and [r.index for r in results] == [0, 1]
    assert results[-1].index == 1 and results[1].withheld and results[1].output is None
    with pytest.raises(IndexError):
        results[2]
    dicts = results.to_dicts(model.labels)
    json.dumps(dicts, allow_nan=False)  # strict JSON: withheld outputs are null, not NaN
    assert dicts[1]["output"] is None and dicts[1]["label"] is None and dicts[1]["withheld"] is True
    assert dicts[1]["flags"][0] == "out_of_distribution" and dicts[1]["scores"]["ood_distance"] > 0
    assert dicts[0]["label"] in model.labels or dicts[0]["withheld"]


def test_stream_results_carry_quality_and_safety_flags(ecg: Path) -> None:
    model = hfm_runtime.load(ecg, profile="clinic-cpu", withhold=["out_of_distribution"])
    stream = model.stream()
    beats = np.concatenate(heartbeats(3, 20))
    results = stream.push(beats) + stream.push(np.concatenate(white_noise(2, 21)))
    results += stream.push(np.zeros(WINDOW)) + stream.flush()
    noise = [r for r in results if r.start_seconds >= 3 * SECONDS and r.start_seconds < 5 * SECONDS]
    assert noise and all(r.ok and r.withheld and r.probabilities is None for r in noise)
    assert all("out_of_distribution" in r.flags for r in noise)
    flat = [r for r in results if not r.ok]
    assert flat and all(r.flags == (r.quality,) and not r.withheld and r.probabilities is None for r in flat)
    answered = [r for r in results if r.probabilities is not None]
    assert answered and all(r.ok and not r.withheld and "ood_distance" in r.scores for r in answered)
    assert StreamResult(0, 0.0, "ok", None).flags == ()  # the four positional fields still construct one


# ---- audit --------------------------------------------------------------------------------------------------------

def test_audit_records_flags_scores_and_withheld(classifier: Path, tmp_path: Path) -> None:
    log_path = tmp_path / "audit.jsonl"
    with AuditLog(log_path) as log:
        model = hfm_runtime.load(classifier, profile="clinic-cpu", audit=log, withhold=["out_of_distribution"])
        results = model.predict(["fever and cough", OOD_TEXTS[1]])
        model.run_raw(["fever"])  # the raw path: audited, not assessed
    records = [json.loads(line) for line in log_path.read_text().splitlines()]
    assessed, raw = records[:2], records[2]
    assert [r["flags"] for r in assessed] == [list(f) for f in results.flags]
    assert [r["withheld"] for r in assessed] == results.withheld.tolist()
    assert assessed[1]["withheld"] and assessed[1]["output"]["label"] in model.labels  # what was computed
    assert assessed[1]["scores"]["ood_distance"] == results.scores[1]["ood_distance"]
    assert "flags" not in raw and "withheld" not in raw
    assert verify_log(log_path).ok


def test_audit_records_of_a_stream(ecg: Path, tmp_path: Path) -> None:
    log_path = tmp_path / "audit.jsonl"
    with AuditLog(log_path) as log:
        stream = hfm_runtime.load(ecg, profile="clinic-cpu", audit=log).stream()
        results = stream.push(np.concatenate(heartbeats(2, 22) + white_noise(1, 23))) + stream.push(np.zeros(WINDOW))
        results += stream.flush()
    records = [json.loads(line) for line in log_path.read_text().splitlines()]
    assert len(records) == len(results)
    assert sorted(tuple(r["flags"]) for r in records) == sorted(r.flags for r in results)
    assert verify_log(log_path).ok


# ---- what an artifact may carry ------------------------------------------------------------------------------------

def test_a_tampered_safety_member_is_refused(classifier: Path, tmp_path: Path) -> None:
    original = read_artifact(classifier).member(safety.SAFETY_MEMBER)
    forged = bytearray(original)
    forged[-40] ^= 0xFF
    with pytest.raises(ArtifactError, match="member safety.npz has sha256"):
        hfm_runtime.load(replace_member(classifier, tmp_path / "a.hfm", "safety.npz", bytes(forged), rehash=False))
    with pytest.raises(ArtifactError, match="manifest"):  # rehashed, not resealed: the seal catches the edit
        hfm_runtime.load(replace_member(classifier, tmp_path / "b.hfm", "safety.npz", bytes(forged)))
    with pytest.raises(ArtifactError, match="safety.npz is not a detector"):  # an attacker who knows the format
        hfm_runtime.load(replace_member(classifier, tmp_path / "c.hfm", "safety.npz", b"not an npz", reseal=True))


def test_a_detector_of_another_model_is_refused(classifier: Path, tmp_path: Path) -> None:
    other = fit_detector(np.random.default_rng(0).normal(size=(40, 5)))
    entry = read_artifact(classifier).manifest["safety"]
    model = hfm_runtime.load(repack(classifier, tmp_path / "other.hfm", entry, other.to_npz()), profile="clinic-cpu")
    with pytest.raises(ArtifactError, match="fitted on 5 features, but this artifact's outputs and inputs give 6"):
        model.predict(["fever"])


@pytest.mark.parametrize(("edit", "message"), [
    (lambda s: s.update(member="missing.npz"), "field safety.member names 'missing.npz', which is not one of"),
    (lambda s: s["temperature"].update(value=0), "field safety.temperature.value: 0 is less than or equal"),
    (lambda s: s["out_of_distribution"].update(false_flag_rate=0.7), "safety.out_of_distribution.false_flag_rate"),
    (lambda s: s["low_confidence"].update(threshold="0.5"), "field safety.low_confidence.threshold: '0.5' is not"),
    (lambda s: s["out_of_distribution"].pop("threshold"), "'threshold' is a required property"),
])
def test_the_schema_types_the_safety_section(classifier: Path, tmp_path: Path, edit: Any, message: str) -> None:
    edited = edit_manifest(classifier, tmp_path / "edited.hfm", lambda m: edit(m["safety"]), reseal=True)
    with pytest.raises(ArtifactError, match=message):
        read_artifact(edited)


def test_the_published_schema_is_the_runtime_copy() -> None:
    root = Path(__file__).parents[2]
    runtime_copy = (root / "runtime" / "schemas" / "manifest.schema.json").read_bytes()
    assert (root / "docs" / "manifest.schema.json").read_bytes() == runtime_copy
    assert "safety" in json.loads(runtime_copy)["properties"]


# ---- profiles -----------------------------------------------------------------------------------------------------

def test_packaged_profiles_say_what_they_withhold_and_why() -> None:
    assert load_profile("wearable").withhold == ("out_of_distribution",)
    assert load_profile("clinic-cpu").withhold == () and load_profile("ultrasound-host").withhold == ()
    for name in ("wearable", "clinic-cpu", "ultrasound-host"):
        profile = load_profile(name)
        assert profile.rationale["safety.withhold"]
        assert profile.to_dict()["withhold"] == list(profile.withhold) and profile.to_dict()["gates"] == {}


@pytest.mark.parametrize(("flags", "why", "message"), [
    ('["ood"]', 'why = "x"', r"safety.withhold = \['ood'\] is invalid: ood is not a safety flag; expected flags from"),
    ('"out_of_distribution"', 'why = "x"', "safety.withhold = 'out_of_distribution' is invalid; expected a list"),
    ('["out_of_distribution"]', "", "needs a non-empty safety.why"),
    ('["out_of_distribution"]', 'why = "  "', "needs a non-empty safety.why"),
    ('["low_confidence"]', "why = 3", "safety.why = 3 is invalid; expected a string"),
    ('[]', 'reason = "x"', "safety has unknown keys reason; expected withhold, why"),
])
def test_profile_safety_errors_name_the_field(tmp_path: Path, flags: str, why: str, message: str) -> None:
    with pytest.raises(ProfileError, match=message):
        load_profile(withholding_profile(tmp_path, flags, why))


def test_profile_gates_pass_through_with_their_types_checked(tmp_path: Path) -> None:
    path = withholding_profile(tmp_path, "[]", "")
    path.write_text(path.read_text() + '\n[gates]\nagreement = 0.97\nsensitivity_drop = "off"\nmax_flags = 3\n')
    profile = load_profile(path)
    assert profile.gates == {"agreement": 0.97, "sensitivity_drop": "off", "max_flags": 3}
    assert profile.to_dict()["gates"] == profile.gates
    json.dumps(profile.to_dict())
    for bad, shown in (("true", "True"), ('"on"', "'on'"), ("nan", "nan"), ("[1]", r"\[1\]")):
        path.write_text(path.read_text().split("[gates]")[0] + f"[gates]\nagreement = {bad}\n")
        with pytest.raises(ProfileError, match=f"gates.agreement = {shown} is invalid; expected a finite number or"):
            load_profile(path)


# ---- the CLI and the lean runtime ---------------------------------------------------------------------------------

def test_cli_run_shows_flags_and_withheld_results(classifier: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    listed = runner.invoke(app, ["run", str(classifier), "patient reports chest pain", OOD_TEXTS[0], "--json"])
    assert listed.exit_code == 0, listed.output
    payload = json.loads(listed.stdout)
    assert "out_of_distribution" in payload["results"][1]["flags"] and not payload["results"][1]["withheld"]
    assert payload["results"][1]["scores"]["ood_distance"] > 0 and payload["outputs"][1] is not None
    assert payload["policy"] == {"withhold": [], "source": "profile clinic-cpu",
                                 "checks": ["out_of_distribution", "low_confidence"]}
    profile = withholding_profile(tmp_path)
    texts = ["patient reports chest pain", OOD_TEXTS[0]]
    shown = runner.invoke(app, ["run", str(classifier), *texts, "-p", str(profile)])
    assert shown.exit_code == 0, shown.output
    flat = " ".join(shown.stdout.split())
    assert "withheld (out_of_distribution" in flat and "flags" in flat
    flagged = hfm_runtime.load(classifier, profile=profile).predict(texts).flagged
    assert f"{flagged} of 2 results flagged (1 withheld under profile test-device)" in flat
    alone = runner.invoke(app, ["run", str(classifier), OOD_TEXTS[0], "-p", str(profile), "--json"])
    withheld = json.loads(alone.stdout)
    assert withheld["outputs"] == [None] and withheld["results"][0]["withheld"] and withheld["withheld"] == 1


def test_cli_run_says_when_the_artifact_carries_no_checks(tiny_classifier: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["run", str(tiny_classifier), "fever", "-p", str(withholding_profile(tmp_path))])
    assert result.exit_code == 0, result.output
    flat = " ".join(result.stdout.split())
    assert "0 of 1 results flagged (0 withheld under profile test-device)" in flat
    assert "note: this artifact carries no safety checks" in flat


def test_cli_run_on_signal_records_has_flags(ecg: Path, tmp_path: Path) -> None:
    record = tmp_path / "noise.npy"
    np.save(record, np.concatenate(heartbeats(1, 30) + white_noise(1, 31)))
    result = CliRunner().invoke(app, ["run", str(ecg), str(record), "--json", "-p", str(withholding_profile(tmp_path))])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["results"]
    assert len(rows) == 2 and rows[1]["withheld"] and rows[1]["class"] is None and rows[1]["probabilities"] is None
    assert "out_of_distribution" in rows[1]["flags"] and rows[0]["class"] is not None


def test_loading_and_predicting_with_safety_imports_nothing_heavy(classifier: Path) -> None:
    script = f"""
import sys, hfm_runtime
model = hfm_runtime.load({str(classifier)!r}, profile="clinic-cpu", withhold=["out_of_distribution"])
model.predict(["patient reports chest pain", "zxqv blorf"])
print(",".join(sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "transformers", "hfm_compress", "onnx"))))
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""
