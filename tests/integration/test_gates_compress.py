"""Clinical gates with real compression: a recipe that really loses atrial fibrillation is refused through the CLI
(table, exit code, nothing written), the same teacher at INT8 passes and records its gates in the manifest, and
`auto` falls back to the teacher at INT8 when its distilled student fails a gate.

The teacher is a small ECG CNN (`hfm_compress.models.ecg_cnn`) trained for about a second on simulated windows, so
it calls every rhythm right; cutting 90% of its channels without recovery leaves a model that calls one rhythm for
everything, which takes atrial fibrillation's sensitivity from 1 to 0.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from typer.testing import CliRunner  # noqa: E402

import hfm_compress  # noqa: E402
from hfm_compress.cli import app  # noqa: E402
from hfm_compress.gates import GateError  # noqa: E402
from hfm_runtime.artifact import read_artifact  # noqa: E402
from hfm_runtime.profiles import load_profile  # noqa: E402

ECG = "synth:ecg?n=4"  # 24 windows, 4 per rhythm
SPEC = {"type": "signal", "fs": 100.0, "window_seconds": 4.0, "bandpass": [0.5, 30.0], "normalisation": "zscore"}
WIDTHS = [16, 32, 32, 32]
PRUNE_RECIPE = """
[[steps]]
type = "prune-channels"
keep_ratio = 0.1
recover_epochs = 0

[[steps]]
type = "export"

[[steps]]
type = "static-int8"
op_types = ["Conv", "MatMul", "Gemm"]
"""


@pytest.fixture(scope="module")
def ecg_teacher(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A module folder: ecg_cnn with WIDTHS, trained on 96 simulated windows until it calls every rhythm right."""
    import torch

    from hfm_compress.models.ecg_cnn import ecg_cnn
    from hfm_compress.sources.arrays import load_set
    from hfm_compress.sources.modules import save_module_folder
    from hfm_compress.synth.ecg import ECG_CLASSES

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a model this small trains fastest on one thread, and other jobs share the cores
    torch.manual_seed(1)
    train = load_set("synth:ecg?n=16", "train", "signal-classification", dict(SPEC))
    model = ecg_cnn(widths=WIDTHS, kernel=7)
    optimizer = torch.optim.Adam(model.parameters(), 3e-3)
    inputs, labels = torch.from_numpy(train.inputs), torch.from_numpy(train.labels).long()
    for _ in range(40):
        order = torch.randperm(len(inputs))
        for start in range(0, len(inputs), 16):
            batch = order[start:start + 16]
            loss = torch.nn.functional.cross_entropy(model(inputs[batch]), labels[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    torch.set_num_threads(threads)
    held_out = load_set(ECG, "evaluation", "signal-classification", dict(SPEC))
    with torch.no_grad():
        called = model.eval()(torch.from_numpy(held_out.inputs)).argmax(1).numpy()
    assert np.mean(called[held_out.labels == 1] == 1) == 1.0, "the teacher must catch every AF window"
    return save_module_folder(tmp_path_factory.mktemp("ecg-teacher") / "teacher", model,
                              factory="hfm_compress.models.ecg_cnn:ecg_cnn", kwargs={"widths": WIDTHS, "kernel": 7},
                              task="signal-classification", labels=list(ECG_CLASSES), preprocessing=SPEC,
                              extra={"critical_classes": ["atrial_fibrillation"]})


def _compress_args(teacher: Path, out: Path, recipe: str) -> list[str]:
    return ["compress", str(teacher), "--profile", "wearable", "--out", str(out), "--recipe", recipe,
            "--calib", ECG, "--eval", ECG, "--train", ECG]


def test_a_recipe_that_loses_af_is_refused_with_the_table_and_no_artifact(ecg_teacher: Path, tmp_path: Path) -> None:
    recipe = tmp_path / "prune-no-recovery.toml"
    recipe.write_text(PRUNE_RECIPE)
    out = tmp_path / "refused.hfm"
    result = CliRunner().invoke(app, _compress_args(ecg_teacher, out, str(recipe)))
    assert result.exit_code == 2, result.output
    assert "Gates failed: no artifact written" in result.stdout
    af_rows = [line for line in result.stdout.splitlines() if "atrial_fibrillation" in line]
    assert af_rows and any("FAIL" in line and "<=0.005" in line and "1.0000" in line for line in af_rows), \
        result.stdout  # the critical class's own gate (from the module spec), teacher sensitivity 1
    assert "error:" in result.stderr and "sensitivity_drop[atrial_fibrillation] 1.0000 > 0.005 (overall)" in \
        result.stderr
    assert not out.exists()


def test_a_refused_artifact_leaves_an_existing_file_untouched(ecg_teacher: Path, tmp_path: Path) -> None:
    out = tmp_path / "kept.hfm"
    out.write_bytes(b"the artifact from yesterday")
    recipe = tmp_path / "prune-loose-gate.toml"  # the recipe file loosens the AF gate; still not enough
    recipe.write_text('[gates]\n"sensitivity_drop[atrial_fibrillation]" = 0.5\n' + PRUNE_RECIPE)
    with pytest.raises(GateError) as caught:
        hfm_compress.compress(str(ecg_teacher), "wearable", str(recipe), out=out, calib=ECG, eval=ECG, train=ECG,
                              gates={"neighbour_overlap": "off"})
    report = caught.value.report.to_dict()
    assert out.read_bytes() == b"the artifact from yesterday"
    assert report["passed"] is False and "attempts" not in report  # not auto: no other candidate tried
    assert report["source"]["sensitivity_drop[atrial_fibrillation]"] == "recipe"
    assert report["source"]["neighbour_overlap"] == "option" and report["source"]["dice_drop"] == "default"
    failed = {(row["gate"], row["class"], row["scope"]): row for row in report["rules"] if row["passed"] is False}
    assert failed[("sensitivity_drop", "atrial_fibrillation", "overall")]["limit"] == 0.5
    assert failed[("sensitivity_drop", "atrial_fibrillation", "overall")]["value"] == 1.0


def test_int8_passes_and_records_its_gates_in_the_manifest(ecg_teacher: Path, tmp_path: Path) -> None:
    out = tmp_path / "int8.hfm"
    result = CliRunner().invoke(app, _compress_args(ecg_teacher, out, "int8") + ["--gate", "agreement=0.9"])
    assert result.exit_code == 0, result.output
    assert "Gates: all passed" in result.stdout
    gates = read_artifact(out).manifest["evaluation"]["gates"]
    assert gates["passed"] is True
    assert gates["source"] == {"sensitivity_drop": "default", "sensitivity_drop[atrial_fibrillation]": "default",
                               "dice_drop": "default", "neighbour_overlap": "default", "agreement": "option"}
    overall = {(row["gate"], row["class"]): row for row in gates["rules"] if row["scope"] == "overall"}
    assert overall[("sensitivity_drop", "atrial_fibrillation")]["limit"] == 0.005
    assert overall[("sensitivity_drop", "atrial_fibrillation")]["passed"] is True
    assert overall[("dice_drop", None)]["passed"] is None  # not a segmentation model: listed, not passed
    assert overall[("agreement", None)]["limit"] == 0.9


def test_auto_falls_back_to_the_teacher_at_int8_when_its_student_fails(
        ecg_teacher: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Auto's kd student (one that hardly trains, put in its place here) fails the gates; the ~19 KB teacher fits
    the 1.5 MB size budget at INT8, so auto tries it, and says so."""
    from hfm_compress.distill.kd import TensorDistillConfig
    from hfm_compress.recipes import tensor
    from hfm_compress.sources import load_tensor_teacher

    profile = dataclasses.replace(load_profile("wearable"), artifact_size_mb=1.5)
    teacher = load_tensor_teacher(str(ecg_teacher))
    assert tensor.auto_tensor_recipe(profile, teacher).fallbacks == ()  # no kd: nothing smaller to fall back from
    untrained = TensorDistillConfig(student_kwargs='{"widths": [4, 4]}', epochs=1, lr=1e-8)
    monkeypatch.setattr(tensor, "ecg_auto_steps", lambda p, t: ([untrained], ["kd into a 2-block student (test)"]))
    plan = tensor.auto_tensor_recipe(profile, teacher)
    assert [s.TYPE for s in plan.steps] == ["kd", "export", "static-int8"]
    assert [[s.TYPE for s in f.steps] for f in plan.fallbacks] == [["export", "static-int8"]]
    result = hfm_compress.compress(str(ecg_teacher), profile, "auto", out=tmp_path / "auto.hfm", calib=ECG, eval=ECG,
                                   train=ECG)
    gates = result.evaluation["gates"]
    assert gates["passed"] is True and [s["type"] for s in result.manifest["recipe"]][0] == "export"
    (attempt,) = gates["attempts"]
    assert attempt["passed"] is False and attempt["candidate"].startswith("auto with distillation (kd")
    assert any("failed on auto with distillation" in r and "trying auto without distillation" in r
               for r in result.manifest["recipe_reasons"])
