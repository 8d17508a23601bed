"""`compress default --profile clinic-cpu --recipe auto`: distil the packaged MiniLM-L6 into a 3-layer student, then
export, INT8 and a 4-bit word table, end to end through the CLI and the runtime (issue 4's goals).

About 12 minutes on a 2-core machine where the CPU trains in bf16, longer in fp32: `make test-slow` runs it,
`make test` (`-m "not slow"`) does not. The thresholds sit below what benchmarks/RESULTS.md measured (0.9720 mean
cosine in bf16, 0.9655 with fp32 training; 11.3 MB) so that either precision passes; no wall-clock time is asserted.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

import hfm_runtime
from hfm_compress.cli import app

pytestmark = [pytest.mark.slow, pytest.mark.integration, pytest.mark.timeout(3600)]


@pytest.fixture(scope="module")
def auto_build(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("auto") / "minilm-auto.hfm"
    result = CliRunner().invoke(app, ["compress", "default", "--profile", "clinic-cpu", "--out", str(out),
                                      "--recipe", "auto", "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_auto_chose_a_distilled_int8_student_and_says_why(auto_build: dict) -> None:
    manifest = auto_build["manifest"]
    assert manifest["recipe_name"] == "auto"
    assert [step["type"] for step in manifest["recipe"]] == ["distill", "export", "optimize", "selective-int8",
                                                              "int4-weight-only"]
    assert manifest["recipe_reasons"], "auto must store one reason per choice"
    distill = manifest["steps"][0]
    assert distill["step"] == "distill"
    assert distill["details"]["student"]["layers"] == 3  # latency binds on clinic-cpu: half the depth
    assert distill["details"]["teacher_outputs"] in ("computed once", "per step")
    assert manifest["corpus"]["count"] > 10_000  # the bundled clinical corpus, fingerprinted, never stored


def test_auto_evaluation_meets_the_clinic_goals(auto_build: dict) -> None:
    evaluation = auto_build["manifest"]["evaluation"]
    fidelity, size = evaluation["fidelity"], evaluation["size"]
    assert evaluation["texts"]["count"] >= 100  # held out: evaluation texts also in the corpus are left out
    assert fidelity["cosine_mean"] >= 0.95
    assert fidelity["cosine_min"] >= 0.85
    assert fidelity["teacher_nearest_in_top5"] >= 0.95
    assert size["artifact_mb"] <= 13.0  # 11.3 MB measured; clinic-cpu's budget is 128 MB
    assert size["artifact_mb"] < 0.15 * size["teacher_fp32_mb"]


def test_auto_artifact_runs_in_the_runtime(auto_build: dict) -> None:
    model = hfm_runtime.load(auto_build["artifact"], profile="clinic-cpu")
    vectors = model.run(["Crushing chest pain radiating to the left arm.", "Chest pain spreading to the left arm.",
                         "Itchy rash on both forearms."])
    assert vectors.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert float(vectors[0] @ vectors[1]) > float(vectors[0] @ vectors[2]) + 0.2


def test_inspect_reads_cleanly_at_80_columns(auto_build: dict) -> None:
    result = CliRunner().invoke(app, ["inspect", auto_build["artifact"]], env={"COLUMNS": "80"}, terminal_width=80)
    assert result.exit_code == 0, result.output
    assert "distill -> export -> optimize -> selective-int8 -> int4-weight-only" in result.stdout
    assert "hfm-compress" in result.stdout and "{'" not in result.stdout  # the toolchain, not a Python dict
    assert all(len(line.rstrip()) <= 80 for line in result.stdout.splitlines()), result.stdout
