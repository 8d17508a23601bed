"""The `.hfm` artifact: one zip archive holding `manifest.json`, the ONNX model and preprocessing files.

Reading verifies the format version and the sha256 of every member before anything runs; writing is atomic
(a temp file in the target folder, fsync, then rename), so a failed write never leaves a half-written artifact.
The manifest schema is documented in docs/artifact-format.md.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Mapping

from hfm_runtime.errors import ArtifactError

FORMAT = "hfm"
FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
ZIP_MAGIC = b"PK\x03\x04"


@dataclasses.dataclass(frozen=True)
class Artifact:
    """A verified artifact held in memory: every member's bytes matched the manifest's sha256."""

    path: Path
    manifest: Mapping[str, Any]
    members: Mapping[str, bytes]
    size_bytes: int

    def member(self, name: str) -> bytes:
        if name not in self.members:
            raise ArtifactError(f"{self.path}: the manifest refers to {name!r}, which the artifact does not hold")
        return self.members[name]


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_artifact(path: str | Path) -> Artifact:
    """Open and verify an artifact; raise ArtifactError saying exactly what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"{path}: no such artifact file")
    size = path.stat().st_size
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        with open(path, "rb") as handle:
            head = handle.read(4)
        if head == ZIP_MAGIC:
            raise ArtifactError(f"{path}: the archive is truncated or corrupt (zip directory unreadable)") from None
        raise ArtifactError(f"{path}: not an .hfm artifact (expected a zip archive with {MANIFEST_NAME})") from None
    with archive:
        names = set(archive.namelist())
        if MANIFEST_NAME not in names:
            raise ArtifactError(f"{path}: not an .hfm artifact ({MANIFEST_NAME} is missing)")
        manifest = _parse_manifest(path, _read_member(archive, path, MANIFEST_NAME))
        listed = manifest["members"]
        unlisted = sorted(names - set(listed) - {MANIFEST_NAME})
        if unlisted:
            raise ArtifactError(f"{path}: member(s) {', '.join(unlisted)} are not listed in the manifest")
        members: dict[str, bytes] = {}
        for name, expected in listed.items():
            if name not in names:
                raise ArtifactError(f"{path}: member {name} is listed in the manifest but missing from the archive")
            data = _read_member(archive, path, name)
            actual = sha256_bytes(data)
            if actual != expected:
                raise ArtifactError(
                    f"{path}: member {name} has sha256 {actual[:12]}..., manifest says {expected[:12]}... (tampered or corrupt)"
                )
            members[name] = data
    return Artifact(path=path, manifest=manifest, members=members, size_bytes=size)


def _read_member(archive: zipfile.ZipFile, path: Path, name: str) -> bytes:
    try:
        return archive.read(name)
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
        raise ArtifactError(f"{path}: member {name} is unreadable, the archive is truncated or corrupt ({exc})") from None


def _parse_manifest(path: Path, raw: bytes) -> dict[str, Any]:
    try:
        manifest = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{path}: {MANIFEST_NAME} is not valid JSON ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ArtifactError(f"{path}: {MANIFEST_NAME} does not declare format {FORMAT!r}")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise ArtifactError(
            f"{path}: artifact format version {version!r} is not supported; this runtime reads version {FORMAT_VERSION}"
        )
    members = manifest.get("members")
    if not isinstance(members, dict) or not all(isinstance(v, str) for v in members.values()):
        raise ArtifactError(f"{path}: {MANIFEST_NAME} has no valid 'members' table of name -> sha256")
    return manifest


def write_artifact(path: str | Path, manifest: Mapping[str, Any], members: Mapping[str, bytes]) -> Path:
    """Write atomically: hashes of `members` go into the manifest, then temp file + fsync + rename."""
    path = Path(path)
    if MANIFEST_NAME in members:
        raise ValueError(f"{MANIFEST_NAME} is written from `manifest`, not passed as a member")
    full = dict(manifest)
    full["format"] = FORMAT
    full["format_version"] = FORMAT_VERSION
    full["members"] = {name: sha256_bytes(data) for name, data in members.items()}
    manifest_bytes = json.dumps(full, indent=2, sort_keys=False).encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as raw:
            with zipfile.ZipFile(raw, "w", compression=zipfile.ZIP_DEFLATED) as archive:
                archive.writestr(MANIFEST_NAME, manifest_bytes)
                for name, data in members.items():
                    archive.writestr(name, data)
            raw.flush()
            os.fsync(raw.fileno())
        os.chmod(temp_name, default_file_mode())  # mkstemp makes 0600; an artifact is shared like any file
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    return path


def default_file_mode() -> int:
    """0666 minus the process umask: the mode `open()` would have given the file."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def manifest_of(path: str | Path) -> dict[str, Any]:
    """The verified manifest of an artifact (used by `inspect`)."""
    return dict(read_artifact(path).manifest)


def npz_bytes(arrays: Mapping[str, Any]) -> bytes:
    import numpy as np

    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def npz_load(data: bytes) -> dict[str, Any]:
    import numpy as np

    with np.load(io.BytesIO(data), allow_pickle=False) as loaded:
        return {key: loaded[key] for key in loaded.files}
