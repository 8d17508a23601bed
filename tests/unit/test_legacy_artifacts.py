"""Artifacts that are already out there keep working: v1 files written by the runtime before the trust layer
(tests/fixtures/legacy-v1-*.hfm, made by commit ca2ce4e's own pack_artifact: no signature.json, golden outputs
recorded as one padded batch)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import hfm_runtime
from hfm_compress.cli import app
from hfm_runtime.signing import SignatureError, generate_keypair

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
LEGACY = sorted(FIXTURES.glob("legacy-v1-*.hfm"))


@pytest.mark.parametrize("path", LEGACY, ids=[p.stem for p in LEGACY])
def test_legacy_artifact_loads_where_the_policy_allows(path: Path, tmp_path: Path) -> None:
    model = hfm_runtime.load(path)
    assert model.artifact.trust.status == "legacy"
    assert "checks" not in model.manifest["golden"]  # recorded before the batch check: self-tested as recorded
    assert model.run(["patient reports chest pain"]).shape == (1, 8)
    shown = CliRunner().invoke(app, ["inspect", str(path)])
    assert shown.exit_code == 0 and "legacy" in shown.output
    _, public, _ = generate_keypair(tmp_path / "maker")
    with pytest.raises(SignatureError, match="not signed"):
        hfm_runtime.load(path, trusted_keys=[str(public)], require_signature=True)


def test_legacy_dynamic_int8_now_runs_batch_invariant() -> None:
    model = hfm_runtime.load(FIXTURES / "legacy-v1-dynamic-int8.hfm")
    assert model.graph.batch_dependent
    text, long_note = "fever and cough since yesterday", " ".join(["severe acute chest pain"] * 4)
    np.testing.assert_array_equal(model.run([text])[0], model.run([long_note, text])[1])
