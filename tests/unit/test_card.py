"""`hfm-compress card` (issue 18, part 5): a Markdown and a self-contained HTML model card from the manifest alone.

Artifacts are tiny onnx.helper classifiers; their manifests are those a compress run writes
(tests/fixtures/manifests/signal-int8.json), then the same with every section issue 18 adds.
"""

from __future__ import annotations

import base64
import copy
import io
import json
import os
import re
import shutil
import sys
from pathlib import Path
from typing import Any, Callable

import pytest
import typer
from typer.testing import CliRunner

from hfm_compress.card import HTML_NAME, MARKDOWN_NAME, CardWriteError, write_card
from hfm_compress.card import files as card_files
from hfm_compress.card.content import build_card
from hfm_compress.card.html import render as render_html
from hfm_compress.card.limitations import known_limitations
from hfm_compress.card.markdown import render as render_markdown
from hfm_compress.card.markdown import text as md_text
from hfm_compress.cli.card_cmd import card
from hfm_runtime.artifact import npz_bytes, read_artifact, sign_artifact, write_artifact
from hfm_runtime.pack import pack_artifact
from hfm_runtime.profiles import load_profile
from hfm_runtime.signing import generate_keypair, load_private_key
from tiny_artifacts import GOLDEN_TEXTS, text_manifest, tiny_encoder, tiny_tokenizer_json
from trust_helpers import edit_manifest

FIXTURES = Path(__file__).parents[1] / "fixtures"
EVIL = '<script>alert("x")</script> | noise'
LABELS = ["normal_sinus", "atrial_fibrillation", "sinus_bradycardia", "sinus_tachycardia", "pvc", EVIL]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
ALL_FIGURES = {"confusion", "per_class_sensitivity", "subgroups", "ood_auroc", "reliability"}


def cli() -> typer.Typer:
    app = typer.Typer()
    app.command("card")(card)

    @app.callback()
    def root() -> None:  # keeps `card` a named subcommand, as in the real app
        pass

    return app


def invoke(*args: Any) -> Any:
    return CliRunner().invoke(cli(), ["card", *(str(a) for a in args)])


def rewrite(src: Path, dst: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    """`src` with its manifest edited and rewritten as the toolchain writes one (hashes, seal); a `safety` section
    gets the member it names (the card reads the manifest only, so any bytes do)."""
    verified = read_artifact(src)
    manifest = {k: copy.deepcopy(v) for k, v in verified.manifest.items()
                if k not in ("format", "format_version", "members")}
    edit(manifest)
    members = dict(verified.members)
    if "safety" in manifest:
        members[manifest["safety"]["member"]] = npz_bytes({"mean": [0.0]})
    return write_artifact(dst, manifest, members)


def compressed(manifest: dict[str, Any]) -> None:
    """The fields a compress run of the tiny ECG model wrote before issue 18 (fidelity, steps, provenance...)."""
    recorded = json.loads((FIXTURES / "manifests" / "signal-int8.json").read_text())
    for key in ("evaluation", "steps", "recipe", "recipe_name", "recipe_reasons", "calibration", "source",
                "provenance"):
        manifest[key] = recorded[key]
    manifest["recipe_reasons"] = ["int8: the wearable profile allows int8 and binds on size"]


def with_safety(manifest: dict[str, Any]) -> None:
    """Every section issue 18 adds, with the structures its other parts write; one label is hostile HTML."""
    compressed(manifest)
    manifest["postprocessing"]["labels"] = LABELS
    evaluation = manifest["evaluation"]
    fidelity = evaluation["fidelity"]
    fidelity["sensitivity"] = dict(zip(LABELS, [0.9, 0.8, 1.0, 0.95, 0.7, 0.6]))
    fidelity["teacher_sensitivity"] = dict(zip(LABELS, [0.92, 0.85, 1.0, 0.95, 0.75, 0.6]))
    fidelity["sensitivity_drop"] = {label: 0.0 for label in LABELS}
    identity = [[10 if i == j else 0 for j in range(6)] for i in range(6)]
    artifact = copy.deepcopy(identity)
    artifact[1][0], artifact[1][1] = 3, 7
    fidelity["confusion"] = {"labels": LABELS, "teacher": identity, "artifact": artifact}
    fidelity["subgroups"] = {
        "by_attribute": {
            "heart_rate": {"<60 bpm": {"agreement": 0.81, "teacher_accuracy": 0.7, "count": 21},
                           "60-100 bpm": {"agreement": 0.97, "teacher_accuracy": 0.9, "count": 30},
                           EVIL: {"agreement": 0.93, "count": 9}},
            "noise_level": {"low": {"agreement": 0.99, "count": 40}, "high": {"agreement": 0.88, "count": 12}},
        },
        "worst": {"attribute": "heart_rate", "value": "<60 bpm", "metric": "agreement", "score": 0.81,
                  "teacher_metric": "teacher_accuracy", "teacher_score": 0.7, "count": 21},
        "skipped": {"noise_level": {"extreme": 2}},
        "min_count": 5,
    }
    evaluation["gates"] = {
        "passed": False,
        "rules": [
            {"gate": "sensitivity_drop", "class": None, "limit": 0.01, "kind": "max", "scope": "overall",
             "value": 0.05, "teacher": None, "passed": False, "worst_class": "pvc"},
            {"gate": "sensitivity_drop", "class": "atrial_fibrillation", "limit": 0.1, "kind": "max",
             "scope": "heart_rate=<60 bpm", "value": 0.05, "teacher": 0.85, "passed": True, "count": 21},
            {"gate": "dice_drop", "class": None, "limit": 0.02, "kind": "max", "scope": "overall", "value": None,
             "teacher": None, "passed": None, "note": "not applicable: not a segmentation model"},
        ],
        "attempts": [{"recipe": "int8", "passed": False}],
        "source": {"sensitivity_drop": "default"},
    }
    evaluation["ood"] = {
        "false_flag_rate_target": 0.01,
        "in_distribution": {"source": "synth:ecg?n=8", "count": 48, "teacher_false_flag_rate": 0.0104,
                            "artifact_false_flag_rate": 0.0208, "teacher_low_confidence_rate": 0.01,
                            "artifact_low_confidence_rate": None},
        "sets": {"flatline": {"count": 24, "teacher_auroc": 0.99, "artifact_auroc": 0.97, "teacher_flag_rate": 0.95,
                              "artifact_flag_rate": 0.9},
                 "mains_hum": {"count": 24, "teacher_auroc": 0.8, "artifact_auroc": 0.75, "teacher_flag_rate": 0.4,
                               "artifact_flag_rate": 0.35}},
    }
    reliability = {"confidence": [0.15, 0.55, None, 0.95], "accuracy": [0.1, 0.5, None, 0.9], "count": [4, 10, 0, 30]}
    evaluation["calibration"] = {
        "bins": 10, "temperature": 1.37, "fitted_on": {"source": "synth:ecg?n=8", "count": 48},
        "evaluated_on": {"source": "synth:ecg?n=8", "count": 48},
        "teacher": {"ece": 0.031, "reliability": reliability},
        "artifact_before": {"ece": 0.062, "reliability": reliability},
        "artifact_after": {"ece": 0.024, "reliability": reliability},
    }
    manifest["safety"] = {
        "out_of_distribution": {"score": "mahalanobis", "threshold": 41.5, "false_flag_rate": 0.01,
                                "features": ["pooled"], "fitted_on": {"source": "synth:ecg?n=8", "count": 48},
                                "threshold_from": {"source": "synth:ecg?n=8", "count": 48}},
        "low_confidence": {"score": "max_probability", "threshold": 0.42, "false_flag_rate": 0.01,
                           "threshold_from": {"source": "synth:ecg?n=8", "count": 48}},
        "temperature": {"value": 1.37},
        "member": "safety.npz",
    }


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("card-artifacts")
    bare = pack_artifact(folder / "bare.hfm", model_bytes=tiny_encoder(num_labels=6).SerializeToString(),
                         manifest=text_manifest("classification", LABELS[:5] + ["noise"]),
                         members={"tokenizer.json": tiny_tokenizer_json().encode()}, golden_inputs=GOLDEN_TEXTS,
                         profile="wearable")
    return {"bare": bare, "compressed": rewrite(bare, folder / "compressed.hfm", compressed),
            "rich": rewrite(bare, folder / "rich.hfm", with_safety)}


@pytest.fixture(scope="module")
def rich_card(artifacts: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("rich-card") / "card"
    write_card(artifacts["rich"], out)
    return out


def read(out: Path) -> tuple[str, str]:
    return (out / MARKDOWN_NAME).read_text(encoding="utf-8"), (out / HTML_NAME).read_text(encoding="utf-8")


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def assert_png(data: bytes) -> None:
    from matplotlib.image import imread

    assert data.startswith(PNG_MAGIC)
    pixels = imread(io.BytesIO(data), format="png")
    assert pixels.ndim == 3 and pixels.shape[0] > 100 and pixels.shape[1] > 100


SECTIONS = ["Overview", "Source and steps", "Fidelity", "Gates", "Out-of-distribution detection", "Calibration",
            "Size and latency", "Provenance", "Known limitations"]


def test_a_bare_artifact_gets_every_section_saying_what_was_not_measured(artifacts: dict[str, Path],
                                                                          tmp_path: Path) -> None:
    out = tmp_path / "card"
    result = invoke(artifacts["bare"], "--out", out)
    assert result.exit_code == 0, result.output
    markdown, html = read(out)
    assert [line[3:] for line in markdown.splitlines() if line.startswith("## ")] == SECTIONS
    for section in ("Fidelity", "Gates", "Out-of-distribution detection", "Calibration"):
        body = markdown.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
        assert "Not measured" in body, section
    description = load_profile("wearable").description  # the profile it was packed for, so the same file
    assert f"Intended use: Classifies clinical text on the wearable device profile: {description}" in markdown
    assert not (out / "figures").exists() and "<img" not in html
    assert "No fidelity evaluation is recorded" in markdown


def test_a_compressed_artifact_shows_steps_fidelity_beside_the_teacher_and_simulated_data(
        artifacts: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "card"
    written = write_card(artifacts["compressed"], out)
    markdown, _ = read(out)
    assert "| accuracy against the labels (accuracy) | 0.1667 | 0.1667 |" in markdown
    assert "static-int8" in markdown and "method=minmax" in markdown
    assert "int8: the wearable profile allows int8 and binds on size" in markdown
    assert "are simulated (synth:ecg?n=2)" in markdown  # calibration and evaluation data, one line
    assert "| sha256 | `1f81933ecd40c0644501e0d632c4fe398e02838d528bc87d5875abc002347727` |" in markdown
    assert [p.name for p in written.figures] == ["per_class_sensitivity.png"]
    assert_png(written.figures[0].read_bytes())


def test_the_rich_card_reports_gates_ood_calibration_subgroups_and_confusion(rich_card: Path) -> None:
    markdown, html = read(rich_card)
    assert {p.stem for p in (rich_card / "figures").iterdir()} == ALL_FIGURES
    for path in (rich_card / "figures").iterdir():
        assert_png(path.read_bytes())
        assert f"](figures/{path.name})" in markdown
    assert "The gates FAILED: 1 of 3 rule(s) not met." in markdown
    assert "| sensitivity_drop | all (worst: pvc) | overall | ≤ 0.0100 | 0.0500 | - | **FAIL** |" in markdown
    assert "N/A (not applicable: not a segmentation model)" in markdown
    assert "Worst subgroup: heart_rate = &lt;60 bpm, agreement 0.8100 (the teacher's accuracy there: 0.7000)." \
        in markdown
    assert "| &lt;60 bpm | 21 | 0.8100 | 0.7000 |" in markdown  # teacher_accuracy: a column of its own
    assert "| mains_hum | 24 | 0.800 | 0.750 | 40.0% | 35.0% |" in markdown
    assert "Temperature T = 1.370" in markdown
    assert "| artifact, after temperature scaling (T = 1.370) | 0.0240 |" in markdown
    assert "Mahalanobis distance (squared, standardised features) is above 41.5000" in markdown and "calibrated top class probability is below 0.4200" in markdown
    assert "| atrial_fibrillation | 3 (0) | 7 (10) | 0 (0) |" in markdown  # rows true, columns predicted
    assert "The artifact FAILED its fidelity gates" in markdown
    assert "generated set(s) only (flatline, mains_hum)" in markdown
    assert 'class="fail">FAIL</span>' in html and html.count("<img ") == len(ALL_FIGURES)


def test_the_html_is_self_contained(rich_card: Path) -> None:
    _, html = read(rich_card)
    assert "http" not in html and "<script" not in html.lower() and "<link" not in html and "url(" not in html
    sources = re.findall(r'src="([^"]*)"', html)
    assert len(sources) == len(ALL_FIGURES) and all(s.startswith("data:image/png;base64,") for s in sources)
    assert set(re.findall(r'href="([^"]*)"', html)) <= {f"#{a}" for a in
                                                         ("overview", "source", "fidelity", "gates", "ood",
                                                          "calibration", "size", "provenance", "limitations")}
    embedded = sorted(base64.b64decode(s.split(",", 1)[1]) for s in sources)
    assert embedded == sorted(p.read_bytes() for p in (rich_card / "figures").iterdir())


def test_manifest_text_is_escaped_in_both(rich_card: Path) -> None:
    markdown, html = read(rich_card)
    assert "<script" not in markdown and "<script" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; | noise" in html
    assert "&lt;script&gt;alert(\"x\")&lt;/script&gt; \\| noise" in markdown
    assert md_text("a|b <c> *d* _e_ snake_case [x](y)") == \
        "a\\|b &lt;c&gt; \\*d\\* \\_e\\_ snake_case \\[x\\](y)"


def test_table_rows_keep_their_column_count(rich_card: Path) -> None:
    markdown, _ = read(rich_card)
    for table in re.findall(r"(?:^\|.*\|\n)+", markdown, flags=re.MULTILINE):
        counts = {len(re.findall(r"(?<!\\)\|", row)) for row in table.splitlines()}
        assert len(counts) == 1, table


def test_missing_parents_are_created_and_a_file_is_refused(artifacts: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "a" / "b" / "card"
    result = invoke(artifacts["bare"], "--out", out, "--json")
    assert result.exit_code == 0, result.output
    paths = json.loads(result.stdout)
    assert Path(paths["markdown"]).is_file() and Path(paths["html"]).is_file() and paths["figures"] == []
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("keep me")
    for target in (blocker, blocker / "card"):
        refused = invoke(artifacts["bare"], "--out", target)
        assert refused.exit_code == 2, refused.output
        assert refused.stderr.startswith("error: ") and len(refused.stderr.strip().splitlines()) == 1
    assert blocker.read_text() == "keep me"


def test_a_failed_write_leaves_the_folder_as_it_was(artifacts: dict[str, Path], tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "card"
    write_card(artifacts["bare"], out)
    before = snapshot(out)
    calls = {"n": 0}
    real_fsync = os.fsync

    def failing_fsync(fd: int) -> None:
        calls["n"] += 1
        if calls["n"] == 3:  # two files complete on disk, the third fails
            raise OSError(28, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(card_files.os, "fsync", failing_fsync)
    with pytest.raises(CardWriteError, match="No space left on device"):
        write_card(artifacts["compressed"], out)  # a figure, the Markdown, then the HTML fails
    assert snapshot(out) == before  # no temp file, no new figure, the old card whole
    calls["n"] = 0
    fresh = tmp_path / "new" / "card"
    with pytest.raises(CardWriteError):
        write_card(artifacts["compressed"], fresh)
    assert not (tmp_path / "new").exists()  # the folders this write made are gone again


def test_a_later_card_removes_figures_it_no_longer_has(artifacts: dict[str, Path], rich_card: Path,
                                                       tmp_path: Path) -> None:
    out = tmp_path / "card"
    shutil.copytree(rich_card, out)
    (out / "figures" / "mine.png").write_bytes(b"not ours")
    write_card(artifacts["compressed"], out)
    assert sorted(p.name for p in (out / "figures").iterdir()) == ["mine.png", "per_class_sensitivity.png"]


def test_missing_matplotlib_names_the_extra_and_writes_nothing(artifacts: dict[str, Path], tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    out = tmp_path / "card"
    result = invoke(artifacts["rich"], "--out", out)
    assert result.exit_code == 2, result.output
    assert result.stderr.strip().endswith("pip install 'hfm-compress[card]'")
    assert len(result.stderr.strip().splitlines()) == 1 and not out.exists()


def test_an_artifact_that_fails_verification_is_a_one_line_error(artifacts: dict[str, Path],
                                                                  tmp_path: Path) -> None:
    junk = tmp_path / "junk.hfm"
    junk.write_bytes(b"\x00" * 100)
    tampered = edit_manifest(artifacts["compressed"], tmp_path / "tampered.hfm",
                             lambda m: m["evaluation"]["fidelity"].update(accuracy=0.99))
    for bad, message in ((junk, "not an .hfm artifact"), (tampered, "manifest"),
                         (tmp_path / "absent.hfm", "no such artifact file")):
        out = tmp_path / f"card-{bad.stem}"
        result = invoke(bad, "--out", out)
        assert result.exit_code == 2, result.output
        assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
        assert "Traceback" not in result.output and not out.exists()


def test_the_signer_is_named_when_its_key_is_given(artifacts: dict[str, Path], tmp_path: Path) -> None:
    private, public, key = generate_keypair(tmp_path / "release")
    signed = sign_artifact(artifacts["bare"], load_private_key(private), out=tmp_path / "signed.hfm")
    trusted = invoke(signed, "--out", tmp_path / "trusted", "--key", public)
    assert trusted.exit_code == 0, trusted.output
    markdown, _ = read(tmp_path / "trusted")
    assert f"signed by {key} (trusted key)" in markdown and "is not signed" not in markdown
    write_card(signed, tmp_path / "untrusted")
    assert "not told to trust" in read(tmp_path / "untrusted")[0]


def test_the_card_imports_no_torch(artifacts: dict[str, Path], tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The manifest alone: with torch, transformers and onnx made unimportable, the card is still written."""
    heavy = ("torch", "transformers", "onnx")
    loaded = {name for name in sys.modules if name.split(".")[0] in heavy}
    for name in heavy:
        monkeypatch.setitem(sys.modules, name, None)  # `import torch` now raises ModuleNotFoundError
    result = invoke(artifacts["rich"], "--out", tmp_path / "card")
    assert result.exit_code == 0, result.output
    assert {name for name in sys.modules if name.split(".")[0] in heavy and sys.modules[name] is not None} <= loaded


def test_card_is_a_command_of_the_cli() -> None:
    from hfm_compress.cli import app

    assert "card" in typer.main.get_command(app).commands  # type: ignore[attr-defined]


def test_text_evaluated_on_the_bundled_corpus_says_so() -> None:
    manifest = {"task": "classification", "postprocessing": {"type": "softmax", "labels": ["routine", "urgent"]},
                "calibration": {"source": "bundled clinical calibration split", "count": 430},
                "evaluation": {"fidelity": {"class_agreement": 0.99, "probability_max_abs_diff": 0.01},
                               "texts": {"source": "bundled clinical evaluation split", "count": 302}}}
    lines = known_limitations(manifest, {"status": "sealed"})
    assert ("The quantization calibration data and evaluation data are the bundled fictional clinical text "
            "(bundled clinical calibration split; bundled clinical evaluation split)") in " ".join(lines)
    assert "carried no labels" in " ".join(lines)
    assert any("Calibration is not measured" in line for line in lines)


ODD_VALUES = [None, "text", 3, [1, "x"], {"a": None}, float("nan")]


@pytest.mark.parametrize("field", ["evaluation", "evaluation.fidelity", "evaluation.fidelity.confusion",
                                   "evaluation.fidelity.subgroups", "evaluation.fidelity.subgroups.by_attribute",
                                   "evaluation.gates", "evaluation.gates.rules", "evaluation.ood",
                                   "evaluation.ood.sets", "evaluation.calibration",
                                   "evaluation.calibration.teacher", "safety", "safety.out_of_distribution",
                                   "steps", "recipe", "provenance", "evaluation.latency_batch1"])
def test_odd_values_in_any_field_still_give_a_card(field: str) -> None:
    """Fields other parts of the toolchain write may be missing or of another shape: the card still renders."""
    base: dict[str, Any] = {"name": "m", "task": "signal-classification", "model": {"precision": "int8"},
                            "postprocessing": {"type": "softmax", "labels": LABELS},
                            "preprocessing": {"type": "signal", "fs": 100, "window_seconds": 4}}
    with_safety(base)
    for value in ODD_VALUES:
        manifest = copy.deepcopy(base)
        *parents, last = field.split(".")
        node = manifest
        for key in parents:
            node = node[key]
        node[last] = value
        document = build_card(manifest, {"status": "sealed"}, "odd.hfm", 1000)
        assert "## Known limitations" in render_markdown(document)
        assert "<script" not in render_html(document, {plot.name: PNG_MAGIC for plot in document.plots})
