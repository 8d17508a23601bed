"""The runtime never imports torch, transformers or the toolchain, even after load() and run()."""

import subprocess
import sys
from pathlib import Path

from tiny_artifacts import make_text_artifact

HEAVY = ("torch", "transformers", "hfm_compress", "onnx")


def test_runtime_load_and_run_import_nothing_heavy(tmp_path: Path) -> None:
    artifact = make_text_artifact(tmp_path / "tiny.hfm")
    script = f"""
import sys, hfm_runtime
model = hfm_runtime.load({str(artifact)!r}, profile="clinic-cpu")
model.run(["patient reports chest pain"])
loaded = sorted(m for m in sys.modules if m.split(".")[0] in {HEAVY!r})
print(",".join(loaded))
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


def test_cli_help_does_not_import_torch() -> None:
    script = "import sys; from hfm_compress.cli import app; from typer.testing import CliRunner; " \
             "r = CliRunner().invoke(app, ['--help']); assert r.exit_code == 0, r.output; " \
             "print(','.join(m for m in sys.modules if m.split('.')[0] in ('torch', 'transformers')))"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""
