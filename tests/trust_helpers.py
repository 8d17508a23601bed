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
        reseal_members(members)
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
        reseal_members(members)
    return write_members(dst, members)


def reseal_members(members: dict[str, bytes]) -> None:
    """Rewrite the seal's digest for the manifest now in `members`, as an attacker who knows the format would."""
    seal = json.loads(members[SIGNATURE])
    seal["manifest_sha256"] = sha256_bytes(members[MANIFEST])
    members[SIGNATURE] = json.dumps(seal).encode()


def set_encrypted_flag(data: bytes, name: bytes) -> bytes:
    """Set bit 0 (encrypted) of a member's general-purpose flags in its local and central headers (zipfile's writer
    clears it, so forge it in the bytes)."""
    patched = bytearray(data)
    for signature, flags_at, length_at, name_at in ((b"PK\x03\x04", 6, 26, 30), (b"PK\x01\x02", 8, 28, 46)):
        position = patched.find(signature)
        while position >= 0:
            length = int.from_bytes(patched[position + length_at : position + length_at + 2], "little")
            if bytes(patched[position + name_at : position + name_at + length]) == name:
                patched[position + flags_at] |= 0x1
            position = patched.find(signature, position + 4)
    return bytes(patched)


def write_bomb(base: Path, dst: Path, member: str, size: int, level: int = 1) -> Path:
    """`base` plus a member of `size` zero bytes (listed in the manifest unless it is the manifest itself), streamed
    into the zip, never held in memory here."""
    members = members_of(base)
    if member != MANIFEST:
        manifest = json.loads(members[MANIFEST])
        manifest["members"][member] = "0" * 64
        members[MANIFEST] = json.dumps(manifest).encode()
    with zipfile.ZipFile(dst, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=level) as archive:
        for name, data in members.items():
            if name != member:
                archive.writestr(name, data)
        with archive.open(member, "w", force_zip64=True) as stream:
            block = bytes(1 << 24)
            for _ in range(size // len(block)):
                stream.write(block)
    return dst


def legacy_copy(src: Path, dst: Path) -> Path:
    """The artifact as the format's first writers made it: no signature.json."""
    members = members_of(src)
    members.pop(SIGNATURE)
    return write_members(dst, members)
