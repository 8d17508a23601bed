"""Rewriting artifacts as an attacker or a careless user would: edit the manifest, swap members, forge zips."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any, Callable, Mapping

from hfm_runtime.artifact import sha256_bytes

MANIFEST = "manifest.json"
SIGNATURE = "signature.json"


def members_of(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def write_members(path: Path, members: Mapping[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def edit_manifest(src: Path, dst: Path, edit: Callable[[dict[str, Any]], Any], *, raw: bytes | None = None,
                  reseal: bool = False) -> Path:
    """Copy `src` with its manifest edited by `edit` (or replaced by `raw` bytes); `reseal` also rewrites the seal's
    digest, as an attacker who knows the format would."""
    members = members_of(src)
    if raw is None:
        manifest = json.loads(members[MANIFEST])
        edit(manifest)
        raw = json.dumps(manifest, indent=2).encode()
    members[MANIFEST] = raw
    if reseal:
        seal = json.loads(members[SIGNATURE])
        seal["manifest_sha256"] = sha256_bytes(raw)
        members[SIGNATURE] = json.dumps(seal).encode()
    return write_members(dst, members)


def replace_member(src: Path, dst: Path, name: str, data: bytes, *, rehash: bool = True, reseal: bool = False) -> Path:
    """Swap one member; `rehash` updates the manifest's member hash too (the table's second case)."""
    members = members_of(src)
    members[name] = data
    if rehash:
        manifest = json.loads(members[MANIFEST])
        manifest["members"][name] = sha256_bytes(data)
        members[MANIFEST] = json.dumps(manifest, indent=2).encode()
    if reseal:
        seal = json.loads(members[SIGNATURE])
        seal["manifest_sha256"] = sha256_bytes(members[MANIFEST])
        members[SIGNATURE] = json.dumps(seal).encode()
    return write_members(dst, members)


def legacy_copy(src: Path, dst: Path) -> Path:
    """The artifact as the format's first writers made it: no signature.json."""
    members = members_of(src)
    members.pop(SIGNATURE)
    return write_members(dst, members)
