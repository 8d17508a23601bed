"""The `.hfm` artifact: one zip archive holding `manifest.json`, the ONNX model, preprocessing files and
`signature.json` (the seal over the manifest's bytes, and signatures if any: runtime/signing.py).

Reading is bounded (runtime/bounded_zip.py), validates the manifest against its JSON Schema, checks the seal and
signatures under a trust policy, then the sha256 of every member, before anything runs. Writing is atomic (a temp
file in the target folder, fsync, then rename), so a failed write never leaves a half-written artifact.
The format is documented in docs/artifact-format.md, the threat model in docs/trust.md.
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
from typing import Any, Mapping, Sequence

from hfm_runtime.bounded_zip import ReadLimits, BoundedZip
from hfm_runtime.errors import ArtifactError
from hfm_runtime.graph_facts import GraphFacts, graph_facts
from hfm_runtime.manifest_schema import check_format_version, parse_manifest_json, validate_manifest
from hfm_runtime.signing import (
    MAX_SIGNATURE_BYTES,
    SIGNATURE_MEMBER,
    TrustPolicy,
    TrustResult,
    check_trust,
    manifest_digest,
    signature_document,
)

FORMAT = "hfm"
FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"


@dataclasses.dataclass(frozen=True)
class Artifact:
    """A verified artifact: the manifest (sealed or signed where the artifact carries it) and every member's hash.

    Members are not held in memory: `member(name)` reads one again and checks its hash at that moment, so a file
    changed after verification is still caught, and the model's bytes can be dropped once the session is open.
    """

    path: Path
    manifest: Mapping[str, Any]
    size_bytes: int
    trust: TrustResult
    graph: GraphFacts
    limits: ReadLimits = ReadLimits()
    kept: dict[str, bytes] = dataclasses.field(default_factory=dict, repr=False, compare=False)

    def member(self, name: str) -> bytes:
        """A member's bytes, hash-checked now (or kept from the verification pass, once, when asked for)."""
        if name in self.kept:
            return self.kept.pop(name)
        with BoundedZip(self.path, self.limits) as archive:
            return self._checked(archive, name)

    @property
    def members(self) -> dict[str, bytes]:
        """Every member's bytes, read and hash-checked now in one pass over the archive (for tools that rewrite an
        artifact; the runtime reads only what it needs with `member`)."""
        with BoundedZip(self.path, self.limits) as archive:
            return {name: self._checked(archive, name) for name in self.manifest["members"]}

    def _checked(self, archive: BoundedZip, name: str) -> bytes:
        expected = self.manifest["members"].get(name)
        if expected is None:
            raise ArtifactError(f"{self.path}: the manifest refers to {name!r}, which the artifact does not list")
        if name not in archive.names:
            raise ArtifactError(f"{self.path}: member {name} is listed in the manifest but missing from the archive")
        actual, data = archive.sha256(name, keep=True)
        _check_hash(self.path, name, actual, expected)
        return data  # type: ignore[return-value]

    @property
    def digest(self) -> str:
        """sha256 of manifest.json: names this exact artifact (every member hash is inside it)."""
        return self.trust.manifest_sha256


class MemoryArtifact:
    """An artifact still being packed: members in memory, nothing verified (the packer made them)."""

    def __init__(self, path: Path, manifest: Mapping[str, Any], members: Mapping[str, bytes],
                 graph: GraphFacts) -> None:
        self.path = path
        self.manifest = manifest
        self.members = dict(members)
        self.digest = ""
        self.trust = TrustResult(status="unpacked")
        self.graph = graph

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


def read_artifact(path: str | Path, policy: TrustPolicy | None = None, keep_model: bool = False,
                  limits: ReadLimits | None = None) -> Artifact:
    """Open and verify an artifact; raise ArtifactError (SignatureError for trust) saying exactly what is wrong.

    The one verification that `inspect`, `verify` and `load` share: bounded zip reading, the manifest's schema, the
    seal or signatures under `policy`, every member's sha256 (streamed), then the graph itself: its weight
    precision must be the one the manifest claims. `keep_model` keeps the model's bytes for the caller that opens a
    session right away (`load`), so they are read once, not twice.
    """
    path = Path(path)
    policy = policy or TrustPolicy()
    limits = limits or ReadLimits()
    if not path.is_file():
        raise ArtifactError(f"{path}: no such artifact file")
    size = path.stat().st_size
    with BoundedZip(path, limits) as archive:
        names = archive.names
        if MANIFEST_NAME not in names:
            raise ArtifactError(f"{path}: not an .hfm artifact ({MANIFEST_NAME} is missing)")
        manifest_bytes = archive.read(MANIFEST_NAME, max_bytes=limits.max_manifest_bytes)
        manifest = parse_manifest_json(str(path), manifest_bytes)
        if manifest.get("format") != FORMAT:
            raise ArtifactError(f"{path}: {MANIFEST_NAME} does not declare format {FORMAT!r}")
        check_format_version(str(path), manifest)
        signature = archive.read(SIGNATURE_MEMBER, MAX_SIGNATURE_BYTES) if SIGNATURE_MEMBER in names else None
        trust = check_trust(str(path), manifest_bytes, signature, policy)  # first: an edit is named as an edit
        validate_manifest(str(path), manifest)
        listed = manifest["members"]
        unlisted = sorted(names - set(listed) - {MANIFEST_NAME, SIGNATURE_MEMBER})
        if unlisted:
            raise ArtifactError(f"{path}: member(s) {', '.join(unlisted)} are not listed in the manifest")
        model_file = manifest["model"]["file"]
        if model_file not in listed:
            raise ArtifactError(f"{path}: manifest.json field model.file names {model_file!r}, which is not a member")
        model_bytes = b""
        for name, expected in listed.items():
            if name not in names:
                raise ArtifactError(f"{path}: member {name} is listed in the manifest but missing from the archive")
            actual, data = archive.sha256(name, keep=name == model_file)
            _check_hash(path, name, actual, expected)
            model_bytes = data if data is not None else model_bytes
    graph = checked_graph_facts(path, manifest, model_bytes)
    kept = {model_file: model_bytes} if keep_model else {}
    del model_bytes
    return Artifact(path=path, manifest=manifest, size_bytes=size, trust=trust, graph=graph, limits=limits,
                    kept=kept)


def checked_graph_facts(path: Path | str, manifest: Mapping[str, Any], model_bytes: bytes) -> GraphFacts:
    """Facts from the graph; the manifest's precision must agree with them (a budget never trusts a claim)."""
    facts = graph_facts(model_bytes, str(path))
    claimed = manifest["model"].get("precision")
    if claimed != facts.precision:
        raise ArtifactError(f"{path}: manifest says precision {claimed!r}, but the graph's weights are "
                            f"{facts.precision}")
    return facts


def _check_hash(path: Path, name: str, actual: str, expected: str) -> None:
    if actual != expected:
        raise ArtifactError(
            f"{path}: member {name} has sha256 {actual[:12]}..., manifest says {expected[:12]}... (tampered or corrupt)"
        )


def write_artifact(path: str | Path, manifest: Mapping[str, Any], members: Mapping[str, bytes],
                   signing_keys: Sequence[Any] = ()) -> Path:
    """Write atomically: hashes of `members` go into the manifest, the seal (and a signature per key) into
    signature.json, then temp file + fsync + rename."""
    if MANIFEST_NAME in members or SIGNATURE_MEMBER in members:
        raise ValueError(f"{MANIFEST_NAME} and {SIGNATURE_MEMBER} are written from `manifest`, not passed as members")
    full = dict(manifest)
    full["format"] = FORMAT
    full["format_version"] = FORMAT_VERSION
    full["members"] = {name: sha256_bytes(data) for name, data in members.items()}
    manifest_bytes = json.dumps(full, indent=2, sort_keys=False).encode("utf-8")
    return write_zip(Path(path), manifest_bytes, members, signature_document(manifest_bytes, signing_keys))


def sign_artifact(path: str | Path, signing_key: Any, out: str | Path | None = None) -> Path:
    """Add a signature by `signing_key` (an Ed25519 private key) to a verified artifact; the manifest's bytes and
    earlier signatures are kept, so the result verifies under every key that signed it before."""
    from hfm_runtime.signing import parse_signature_document

    artifact = read_artifact(path)
    with BoundedZip(artifact.path, artifact.limits) as archive:
        manifest_bytes = archive.read(MANIFEST_NAME, max_bytes=artifact.limits.max_manifest_bytes)
        old = archive.read(SIGNATURE_MEMBER, MAX_SIGNATURE_BYTES) if SIGNATURE_MEMBER in archive.names else None
        members = {name: artifact._checked(archive, name) for name in artifact.manifest["members"]}
    if manifest_digest(manifest_bytes) != artifact.digest:
        raise ArtifactError(f"{path} changed while it was being signed; sign it again")
    earlier = parse_signature_document(str(path), old)["signatures"] if old is not None else []
    document = signature_document(manifest_bytes, [signing_key], keep=earlier)
    return write_zip(Path(out) if out is not None else artifact.path, manifest_bytes, members, document)


def write_zip(path: Path, manifest_bytes: bytes, members: Mapping[str, bytes], signature: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as raw:
            with zipfile.ZipFile(raw, "w", compression=zipfile.ZIP_DEFLATED) as archive:
                archive.writestr(MANIFEST_NAME, manifest_bytes)
                for name, data in members.items():
                    archive.writestr(name, data)
                archive.writestr(SIGNATURE_MEMBER, signature)
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


def manifest_of(path: str | Path, policy: TrustPolicy | None = None) -> dict[str, Any]:
    """The verified manifest of an artifact."""
    return dict(read_artifact(path, policy).manifest)


def npz_bytes(arrays: Mapping[str, Any]) -> bytes:
    import numpy as np

    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def npz_load(data: bytes) -> dict[str, Any]:
    import numpy as np

    with np.load(io.BytesIO(data), allow_pickle=False) as loaded:
        return {key: loaded[key] for key in loaded.files}
