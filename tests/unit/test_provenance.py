"""Every artifact records what built it: library versions, Python, platform and the source commit."""

import importlib.metadata
import json
import platform
import subprocess
import sys
import zipfile
from pathlib import Path

from hfm_runtime.provenance import build_provenance, git_state


def _manifest(artifact: Path) -> dict:
    with zipfile.ZipFile(artifact) as archive:
        return json.loads(archive.read("manifest.json"))


def test_packed_manifest_records_provenance(tiny_artifact: Path) -> None:
    provenance = _manifest(tiny_artifact)["provenance"]
    for name in ("onnxruntime", "numpy", "tokenizers", "onnx"):
        assert provenance["libraries"][name] == importlib.metadata.version(name)
    assert set(provenance["libraries"]) >= {"torch", "transformers", "optimum"}
    assert provenance["toolchain"] == {"name": "hfm-compress", "version": importlib.metadata.version("hfm-compress")}
    assert provenance["python"] == {"version": platform.python_version(),
                                    "implementation": platform.python_implementation()}
    assert provenance["platform"]["platform"] == platform.platform()
    assert provenance["platform"]["machine"] == platform.machine()
    build = provenance["onnxruntime_build"]
    assert build["device"] and "CPUExecutionProvider" in build["providers"]


def test_source_commit_is_recorded_from_a_checkout() -> None:
    source = build_provenance()["source"]
    checkout = Path(__file__).resolve().parents[2]
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=checkout, capture_output=True, text=True)
    if head.returncode != 0:  # an unpacked source tree: nothing to record
        assert source is None
        return
    assert source["commit"] == head.stdout.strip() and isinstance(source["dirty"], bool)


def test_no_git_checkout_records_none(tmp_path: Path) -> None:
    assert git_state(tmp_path) is None
    extra = build_provenance(extra_root=tmp_path)["extra_source"]
    assert extra == {"root": str(tmp_path)}


def test_provenance_never_imports_torch() -> None:
    script = ("import sys, json; from hfm_runtime.provenance import build_provenance; json.dumps(build_provenance()); "
              "print(','.join(m for m in sys.modules if m.split('.')[0] in ('torch', 'transformers', 'onnx', "
              "'hfm_compress')))")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""
