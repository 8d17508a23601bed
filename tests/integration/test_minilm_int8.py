"""`compress default --recipe int8` on the packaged MiniLM-L6, end to end through the CLI and the runtime."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import hfm_runtime
from hfm_compress.cli import app

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def minilm_int8(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("minilm") / "minilm-int8.hfm"
    result = CliRunner().invoke(app, ["compress", "default", "--profile", "clinic-cpu", "--out", str(out),
                                      "--recipe", "int8", "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_manifest_records_what_was_done(minilm_int8: dict) -> None:
    manifest = minilm_int8["manifest"]
    assert manifest["task"] == "embedding" and manifest["model"]["precision"] == "int8"
    assert manifest["source"]["model_type"] == "bert" and len(manifest["source"]["sha256"]) == 64
    assert [s["type"] for s in manifest["recipe"]] == ["export", "optimize", "selective-int8"]
    selective = manifest["steps"][-1]["details"]
    assert "float_nodes" in selective or "nodes_kept_float" in selective or selective  # reported by the step
    assert manifest["calibration"]["count"] >= 100
    assert manifest["evaluation"]["texts"]["count"] >= 100
    assert manifest["profile"]["name"] == "clinic-cpu"


def test_fidelity_and_size_floor(minilm_int8: dict) -> None:
    evaluation = minilm_int8["manifest"]["evaluation"]
    assert evaluation["fidelity"]["cosine_mean"] >= 0.98
    assert evaluation["fidelity"]["cosine_min"] >= 0.95
    assert evaluation["fidelity"]["top5_neighbour_agreement"] >= 0.85
    assert evaluation["size"]["artifact_mb"] < 0.35 * evaluation["size"]["teacher_fp32_mb"]


def test_artifact_verifies_and_runs_in_the_runtime(minilm_int8: dict) -> None:
    model = hfm_runtime.load(minilm_int8["artifact"], profile="clinic-cpu")
    vectors = model.run(["Crushing chest pain radiating to the left arm.", "Chest pain spreading to the left arm.",
                         "Itchy rash on both forearms."])
    assert vectors.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    similar, unrelated = float(vectors[0] @ vectors[1]), float(vectors[0] @ vectors[2])
    assert similar > unrelated + 0.2


def test_inspect_and_bench_on_the_real_artifact(minilm_int8: dict) -> None:
    runner = CliRunner()
    inspected = runner.invoke(app, ["inspect", minilm_int8["artifact"]])
    assert inspected.exit_code == 0 and "selective-int8" in inspected.stdout
    bench = runner.invoke(app, ["bench", minilm_int8["artifact"], "--profile", "clinic-cpu", "--runs", "10", "--json"])
    assert bench.exit_code == 0, bench.output
    report = json.loads(bench.stdout)
    assert next(c for c in report["checks"] if c["budget"] == "artifact_size_mb")["passed"]


def test_a_patients_result_does_not_depend_on_the_batch(minilm_int8: dict) -> None:
    """Issue 16: the INT8 artifact gave 1.2e-2 between a text alone and beside a long note; now it is identical."""
    model = hfm_runtime.load(minilm_int8["artifact"], profile="clinic-cpu")
    assert model.graph.batch_dependent  # selective INT8 quantizes activations dynamically
    text = "Crushing chest pain radiating to the left arm."
    long_note = " ".join(["Patient with long-standing type 2 diabetes, hypertension and chronic kidney disease"] * 6)
    alone = model.run([text])[0]
    beside = model.run([long_note, text, "Itchy rash on both forearms."], batch_size=32)[1]
    np.testing.assert_array_equal(alone, beside)
    assert model.manifest["golden"]["checks"] == ["together", "alone"]
