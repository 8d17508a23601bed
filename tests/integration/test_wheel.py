"""Build the wheel, install it without extras into a fresh venv, and load + run a tiny artifact there."""

import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from tiny_artifacts import make_text_artifact

ROOT = Path(__file__).parents[2]


def _dir_size_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink()) / 1e6


@pytest.mark.timeout(600)
def test_runtime_only_wheel_installs_and_runs(tmp_path: Path) -> None:
    wheel_dir = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheel_dir), str(ROOT)],
        check=True, capture_output=True, text=True,
    )
    (wheel,) = wheel_dir.glob("hfm_compress-*.whl")
    env_dir = tmp_path / "runtime-env"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", str(wheel)], check=True, capture_output=True, text=True)

    artifact = make_text_artifact(tmp_path / "tiny.hfm")
    script = f"""
import json, sys, importlib.metadata as md
import hfm_runtime
model = hfm_runtime.load({str(artifact)!r}, profile="clinic-cpu")
out = model.run(["patient reports chest pain", "fever"])
print(json.dumps({{"shape": list(out.shape), "profiles": hfm_runtime.available_profiles(),
                   "torch": any(d.metadata["Name"].lower() == "torch" for d in md.distributions())}}))
"""
    result = subprocess.run([str(python), "-c", script], check=True, capture_output=True, text=True,
                            cwd=tmp_path, env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    report = json.loads(result.stdout)
    assert report == {"shape": [2, 8], "profiles": ["clinic-cpu", "ultrasound-host", "wearable"], "torch": False}

    cli = subprocess.run([str(env_dir / "bin" / "hfm-compress"), "inspect", str(artifact), "--json"],
                         check=True, capture_output=True, text=True)
    assert json.loads(cli.stdout)["task"] == "embedding"

    site = next((env_dir / "lib").glob("python3*/site-packages"))
    print(f"\nruntime-only environment: {_dir_size_mb(site):.1f} MB installed in {site}")
