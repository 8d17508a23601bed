"""What built an artifact: the libraries that made and checked it, the Python and machine, the source commit.

Versions come from package metadata, never from importing the package, so recording them costs nothing and never
loads torch into the runtime. ONNX Runtime is the one library asked directly: its device, providers and build flags
exist only at run time, and the packer has it loaded anyway (it records the golden outputs with it). Nothing here
may fail a build: what cannot be read is recorded as None.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

DISTRIBUTION = "hfm-compress"  # the toolchain and the runtime ship as one distribution
# Every library that builds or checks an artifact; optimum is optional.
LIBRARIES = ("onnxruntime", "onnx", "torch", "transformers", "tokenizers", "numpy", "optimum")
GIT_TIMEOUT_S = 5.0  # a slow or hung git must not hold up a build
_PACKAGE_INIT = Path(__file__).resolve().parent / "__init__.py"


def build_provenance(extra_root: Path | None = None) -> dict[str, Any]:
    """The manifest's `provenance` entry (layout in docs/artifact-format.md).

    `source` is the git state of the checkout this package runs from (None when it is installed, not checked out).
    `extra_root`: another folder whose git state is worth recording too (say, the user's recipe or model module),
    recorded as `extra_source`.
    """
    provenance: dict[str, Any] = {
        "toolchain": {"name": DISTRIBUTION, "version": package_version(DISTRIBUTION)},
        "libraries": {name: package_version(name) for name in LIBRARIES},
        "onnxruntime_build": onnxruntime_build(),
        "python": {"version": platform.python_version(), "implementation": platform.python_implementation()},
        "platform": {"platform": platform.platform(), "machine": platform.machine(),
                     "processor": platform.processor() or None},
        "source": git_state(_PACKAGE_INIT.parent, must_track=_PACKAGE_INIT),
    }
    if extra_root is not None:
        provenance["extra_source"] = {"root": str(extra_root), **(git_state(Path(extra_root)) or {})}
    return provenance


def package_version(name: str) -> str | None:
    """The installed distribution's version, or None when it is not installed."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def onnxruntime_build() -> dict[str, Any] | None:
    """ONNX Runtime's device, providers and build info (`get_build_info` only exists in some releases)."""
    try:
        import onnxruntime
    except ImportError:
        return None
    get_build_info = getattr(onnxruntime, "get_build_info", None)
    return {
        "device": onnxruntime.get_device(),
        "providers": list(onnxruntime.get_available_providers()),
        "build_info": get_build_info() if callable(get_build_info) else None,
    }


def git_state(folder: Path, must_track: Path | None = None) -> dict[str, Any] | None:
    """{commit, dirty} of the git checkout holding `folder`; None when it is none, git is missing or too slow.

    `must_track`: a file that checkout must track. An installed package can sit inside an unrelated checkout (a
    virtual environment in a project folder); its commit would then describe other code.
    """
    commit = _git(folder, "rev-parse", "HEAD")
    if commit is None:
        return None
    if must_track is not None and _git(folder, "ls-files", "--error-unmatch", str(must_track)) is None:
        return None
    status = _git(folder, "status", "--porcelain")
    return {"commit": commit, "dirty": None if status is None else bool(status)}


def _git(folder: Path, *args: str) -> str | None:
    """git's stripped stdout, or None on any failure."""
    # No optional locks: `git status` must not take the index lock from someone working in the same checkout.
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0", "GIT_TERMINAL_PROMPT": "0"}
    try:
        result = subprocess.run(["git", *args], cwd=folder, capture_output=True, text=True, timeout=GIT_TIMEOUT_S,
                                env=env, stdin=subprocess.DEVNULL, check=False)
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


__all__ = ["build_provenance", "git_state", "onnxruntime_build", "package_version"]
