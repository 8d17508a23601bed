"""Verifying an audit log written by `hfm_runtime.audit.AuditLog`: every line of every file, the hash chain across
rotated files, and the end against `<log>.head` (and an optional anchor kept elsewhere). Format, guarantees and
limits: docs/audit-log.md. Import it from `hfm_runtime.audit`, which re-exports `verify_log` and `AuditReport`.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from hfm_runtime.audit_records import (
    ZERO_HASH,
    AuditError,
    canonical_json,
    head_path,
    head_problems,
    parse_record,
    read_head,
    record_hash,
    rotated_files,
)


@dataclass
class AuditReport:
    """The outcome of `verify_log`: `problems` name the file, the line and what is wrong; empty when intact."""

    ok: bool
    records: int
    files: list[str]
    first_seq: int | None
    last_seq: int | None
    problems: list[str] = field(default_factory=list)
    head: dict[str, Any] | None = None

    @property
    def starts_at_seq(self) -> int | None:
        """Where the surviving chain starts: above 0 when the oldest rotated files were dropped, as expected."""
        return self.first_seq

    def to_dict(self) -> dict[str, Any]:
        return dict(asdict(self), starts_at_seq=self.starts_at_seq)


@dataclass
class _Entry:
    where: str
    record: dict[str, Any]


def verify_log(path: str | os.PathLike[str], anchor: Mapping[str, Any] | None = None) -> AuditReport:
    """Check every line of `<log>.N` ... `<log>.1`, `<log>` (oldest first) and the end against `<log>.head`.

    `anchor` is an optional copy of a head kept elsewhere (e.g. shipped off the device): its seq must be in the
    log with its hash, which catches a rewrite by someone who could also rewrite the head on the device.
    Raises AuditError only when there is no log at all; everything else is reported in `problems`.
    """
    path = Path(path)
    rotated = rotated_files(path)
    if not rotated and not path.exists():
        raise AuditError(f"{path}: no audit log here; expected the file an AuditLog writes (or its rotated {path.name}.1)")
    problems: list[str] = []
    if rotated and max(rotated) != len(rotated):
        missing = [f"{path.name}.{n}" for n in range(1, max(rotated)) if n not in rotated]
        problems.append(f"{', '.join(missing)}: missing; rotated files must run from .1 to .{max(rotated)} "
                        "without gaps")
    files = [rotated[n] for n in sorted(rotated, reverse=True)] + ([path] if path.exists() else [])
    entries: list[_Entry] = []
    for file in files:
        entries += _read_entries(file, problems)
    problems += _chain_problems(entries)
    by_seq = {e.record["seq"]: e.record for e in entries}
    last = entries[-1].record if entries else None
    head = None
    try:
        head = read_head(path)
        problems += head_problems(head, head_path(path).name, path.name, last, by_seq.get)
    except AuditError as exc:
        problems.append(str(exc))
    if anchor is not None:
        problems += head_problems(anchor, "the anchor", path.name, last, by_seq.get)
    return AuditReport(ok=not problems, records=len(entries), files=[f.name for f in files],
                       first_seq=entries[0].record["seq"] if entries else None,
                       last_seq=last["seq"] if last else None, problems=problems, head=head)


def _read_entries(file: Path, problems: list[str]) -> list[_Entry]:
    """The records of one file in line order; lines that are not intact records go to `problems`."""
    data = file.read_bytes()
    lines = data.split(b"\n")
    partial = lines.pop()  # b"" when the file ends with a newline
    entries = []
    for number, line in enumerate(lines, start=1):
        where = f"{file.name} line {number}"
        record = parse_record(line)
        if record is None:
            problems.append(f"{where}: not an audit record (not JSON, or no seq/prev/hash): damaged or edited")
            continue
        if record["hash"] != record_hash(record):
            problems.append(f"{where}: record edited (hash does not match its content)")
        elif canonical_json(record) != line:
            problems.append(f"{where}: not in canonical form (reformatted, or a key repeated): edited")
        entries.append(_Entry(where, record))
    if partial:
        problems.append(f"{file.name} line {len(lines) + 1}: partial line (no newline at the end): cut off by a "
                        "crash or truncated")
    return entries


def _chain_problems(entries: Sequence[_Entry]) -> list[str]:
    """Seq must rise by one and `prev` must be the hash of the record before; the first record present may start
    above 0 (older files rotated away), but seq 0 must start from 64 zeros."""
    problems: list[str] = []
    where_is = {}
    for entry in entries:
        where_is.setdefault(entry.record["seq"], entry.where)
    last: _Entry | None = None
    for entry in entries:
        seq, prev = entry.record["seq"], entry.record["prev"]
        if last is None:
            if seq == 0 and prev != ZERO_HASH:
                problems.append(f"{entry.where}: the first record (seq 0) has prev {prev[:12]}..., expected 64 zeros")
            last = entry
            continue
        before = last.record["seq"]
        if seq <= before:
            problems.append(f"{entry.where}: seq {seq} follows seq {before}: records reordered or repeated")
            continue
        if seq == before + 1:
            if prev != last.record["hash"]:
                problems.append(f"{entry.where}: prev does not match the hash of {last.where} (seq {before}): "
                                "a record was rewritten or inserted")
        else:
            gap = range(before + 1, seq)
            moved = [s for s in gap if s in where_is]
            if moved:
                problems.append(f"{entry.where}: seq {seq} follows seq {before}: records reordered "
                                f"(seq {moved[0]} is at {where_is[moved[0]]})")
            if len(gap) > len(moved):
                problems.append(f"{entry.where}: seq {seq} follows seq {before}: "
                                f"{len(gap) - len(moved)} record(s) deleted")
        last = entry
    return problems
