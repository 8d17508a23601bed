"""Opt-in, tamper-evident audit log of inferences (EU AI Act art. 12 style record keeping).

Why: device software and servers that run a medical model must be able to show afterwards which artifact
produced which output, when, and that nobody edited the record since. Each record is one JSON line that carries
the hash of the record before it, so editing, deleting or reordering a line breaks the chain; a small sidecar
`<log>.head` remembers the last seq and hash, so deleting lines at the end is caught too. Format, guarantees and
limits: docs/audit-log.md.

Privacy: raw inputs may be patient data and are never written unless `include_raw_inputs=True` (then texts only);
a record holds the sha256 of each input instead. File names are never written either: they can name a patient.

One writer per log: an `AuditLog` is thread-safe and takes an exclusive `flock` on `<log>.lock` (POSIX), so a
second writer, in this process or another, is refused instead of forking the chain. Standard library and numpy
only, like the rest of the runtime.

The writer lives here; the record format and shared file helpers are in `hfm_runtime.audit_records`, the verifier
in `hfm_runtime.audit_verify`. Import everything from this module: it re-exports the public names.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import numpy as np

from hfm_runtime.audit_records import (
    RESERVED,
    TEXT_TASKS,
    ZERO_HASH,
    AuditError,
    build_record,
    canonical_json,
    describe_input,
    head_path,
    head_problems,
    parse_record,
    read_head,
    record_hash,
    rotated_files,
    summarize_output,
)
from hfm_runtime.audit_verify import AuditReport, verify_log
from hfm_runtime.results import json_scores

try:  # POSIX only; elsewhere the one-writer rule is documented, not enforced.
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "AuditError", "AuditLog", "AuditReport", "RESERVED", "TEXT_TASKS", "ZERO_HASH", "canonical_json",
    "describe_input", "record_hash", "summarize_output", "verify_log",
]

_CHUNK = 1 << 16


# ---------------------------------------------------------------- files


def _fsync_dir(directory: Path) -> None:
    """Make a create/rename durable; not possible (nor needed) everywhere."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - Windows
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def _line_start(fh: Any, end: int) -> int:
    """Offset just after the last newline in bytes [0, end) of an open binary file, or 0."""
    pos = end
    while pos > 0:
        step = min(_CHUNK, pos)
        fh.seek(pos - step)
        found = fh.read(step).rfind(b"\n")
        if found >= 0:
            return pos - step + found + 1
        pos -= step
    return 0


def _lines_backwards(path: Path) -> Iterator[dict[str, Any] | None]:
    """Complete lines of a file, last first, parsed (None when not a record); a trailing partial line is skipped."""
    if not path.exists():
        return
    with open(path, "rb") as fh:
        end = fh.seek(0, os.SEEK_END)
        end = _line_start(fh, end)  # drop a partial last line, if any
        while end > 0:
            start = _line_start(fh, end - 1)
            fh.seek(start)
            yield parse_record(fh.read(end - 1 - start))
            end = start


# ---------------------------------------------------------------- writer


class AuditLog:
    """Append-only, hash-chained JSON-lines log with size rotation. See the module docstring and docs/audit-log.md.

    Opening recovers from a crash (a partial or non-JSON last line is cut away: `recovered_partial_line`) and
    checks the log's end against `<log>.head`; when records at the end were deleted it raises `AuditError`
    rather than continue a chain that hides the deletion. `repair=True` continues anyway and writes an
    `audit-repair` record that says what was found, so the repair itself stays on the record. Opening checks
    only the end of the log; `verify_log` checks every line.
    """

    def __init__(self, path: str | os.PathLike[str], max_bytes: int = 10_000_000, backups: int = 5,
                 include_raw_inputs: bool = False, repair: bool = False) -> None:
        if not isinstance(max_bytes, int) or max_bytes < 1:
            raise AuditError(f"max_bytes: {max_bytes!r}; expected a positive number of bytes per log file")
        if not isinstance(backups, int) or backups < 0:
            raise AuditError(f"backups: {backups!r}; expected 0 or more rotated files to keep")
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.backups = backups
        self.include_raw_inputs = include_raw_inputs
        self.recovered_partial_line = False
        self.repairs: list[str] = []
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._lock_fd = self._take_lock()
        try:
            self._open(repair)
        except BaseException:
            self.close()
            raise

    # -- public

    @property
    def last_seq(self) -> int:
        """seq of the last record written, -1 before the first."""
        return self._seq

    @property
    def last_hash(self) -> str:
        return self._hash

    def append(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        """Write one record (fields plus seq, time, prev, hash), durably, and return it as written."""
        return self._append_many([fields])[0]

    def record_inference(self, *, artifact_digest: str, signer: str | None, profile: str, task: str,
                         inputs: Sequence[Any], outputs: np.ndarray, labels: list[str] | None = None,
                         quality: Sequence[str] | None = None, latency_ms: float,
                         flags: Sequence[Sequence[str]] | None = None, withheld: Sequence[bool] | None = None,
                         scores: Sequence[Mapping[str, float]] | None = None) -> list[dict[str, Any]]:
        """One record per output row of a `Model.predict` call, written with one write and one fsync.

        Rows and inputs pair up one to one; a single input may give several rows (a cine DICOM gives one per
        frame), and then every row names that input. `latency_ms` is the whole call's. `flags`, `withheld` and
        `scores` (one per row, when given) say what the device did with each result; `outputs` are the results as
        computed, so a withheld result is on the record too. Records without `flags` were not assessed (written
        by `Model.run_raw`, or by a runtime before result flags).
        """
        rows = np.asarray(outputs)
        if rows.ndim == 0:
            raise AuditError("record_inference: outputs is a scalar; expected one row per input")
        n = rows.shape[0]
        if len(inputs) not in (n, 1) or (n == 0 and len(inputs) != 0):
            raise AuditError(f"record_inference: {len(inputs)} inputs but outputs has {n} rows; expected one row "
                             "per input (or several rows from one input)")
        for name, given in (("quality flags", quality), ("flags", flags), ("withheld", withheld), ("scores", scores)):
            if given is not None and len(given) != n:
                raise AuditError(f"record_inference: {len(given)} {name} for {n} output rows; expected one per row")
        described = [describe_input(item, task, self.include_raw_inputs) for item in inputs]
        common = {"artifact": artifact_digest, "signer": signer, "profile": profile, "task": task,
                  "latency_ms": round(float(latency_ms), 3), "batch_size": n}
        records = []
        for index in range(n):
            one = dict(common, batch_index=index, output=summarize_output(rows[index], task, labels))
            one.update(described[index if len(described) == n else 0])
            if quality is not None:
                one["quality"] = str(quality[index])
            if flags is not None:
                one["flags"] = [str(flag) for flag in flags[index]]
            if withheld is not None:
                one["withheld"] = bool(withheld[index])
            if scores is not None:
                one["scores"] = json_scores(scores[index])
            records.append(one)
        return self._append_many(records)

    def close(self) -> None:
        """Release the file and the writer lock; safe to call twice."""
        for name in ("_fd", "_lock_fd"):
            fd = getattr(self, name, None)
            if fd is not None:
                os.close(fd)
                setattr(self, name, None)

    def __enter__(self) -> "AuditLog":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- opening

    def _take_lock(self) -> int | None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if fcntl is None:  # pragma: no cover
            return None
        fd = os.open(self.path.with_name(self.path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o640)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise AuditError(f"{self.path}: already open for writing (in this or another process); "
                             "expected one AuditLog per log file") from None
        return fd

    def _open(self, repair: bool) -> None:
        keep, dropped = self._recoverable_end()
        last = self._last_record(keep)
        try:
            problems = head_problems(read_head(self.path), head_path(self.path).name, self.path.name, last,
                                     self._find)
        except AuditError as exc:  # an unreadable head
            problems = [str(exc)]
        if problems and not repair:
            raise AuditError(f"{problems[0]} (run `hfm-compress audit verify {self.path}`; pass repair=True to "
                             "continue the log anyway, with a repair record)")
        if dropped:
            with open(self.path, "r+b") as fh:
                fh.truncate(keep)
                os.fsync(fh.fileno())
            self.recovered_partial_line = True
        self._seq = last["seq"] if last else -1
        self._hash = last["hash"] if last else ZERO_HASH
        self._open_active()
        if problems:
            self.repairs = problems
            self.append({"event": "audit-repair", "problems": problems})

    def _recoverable_end(self) -> tuple[int, bool]:
        """How many bytes of the active file to keep: all but a partial or non-JSON last line."""
        if not self.path.exists():
            return 0, False
        with open(self.path, "rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            keep = _line_start(fh, size)
            if keep > 0:
                start = _line_start(fh, keep - 1)
                fh.seek(start)
                if parse_record(fh.read(keep - 1 - start)) is None:
                    keep = start
        return keep, keep != size

    def _last_record(self, keep: int) -> dict[str, Any] | None:
        """The record the chain continues from: the active file's last (within `keep`), else the newest rotated."""
        if keep > 0:
            with open(self.path, "rb") as fh:
                start = _line_start(fh, keep - 1)
                fh.seek(start)
                record = parse_record(fh.read(keep - 1 - start))
            if record is None:
                raise AuditError(f"{self.path}: the last two lines are not audit records, so the chain cannot be "
                                 "continued; expected at most one damaged line (move the log aside)")
            return record
        newest = self.path.with_name(self.path.name + ".1")
        for record in _lines_backwards(newest):
            if record is None:
                raise AuditError(f"{newest}: its last line is not an audit record, so the chain cannot be "
                                 "continued; expected an intact rotated file (move the log aside)")
            return record
        return None

    def _find(self, seq: int) -> dict[str, Any] | None:
        """The record with this seq near the end of the log (active file, then `.1`); only needed after a crash."""
        for candidate in (self.path, self.path.with_name(self.path.name + ".1")):
            for record in _lines_backwards(candidate):
                if record is not None and record["seq"] == seq:
                    return record
        return None

    def _open_active(self) -> None:
        created = not self.path.exists()
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        self._size = os.fstat(self._fd).st_size
        if created:
            _fsync_dir(self.path.parent)

    # -- writing

    def _append_many(self, many: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Build every record first (a bad field writes nothing), then write them, then move the head."""
        with self._lock:
            if self._fd is None:
                raise AuditError(f"{self.path}: the audit log is closed")
            seq, digest, built = self._seq, self._hash, []
            for fields in many:
                record, line = build_record(fields, seq + 1, digest)
                built.append((record, line))
                seq, digest = record["seq"], record["hash"]
            if not built:
                return []
            try:
                self._write_lines([line for _, line in built])
                self._seq, self._hash = seq, digest
                self._write_head()
            except OSError as exc:
                self.close()
                raise AuditError(f"{self.path}: write failed ({exc.strerror or exc}); the log was closed: open it "
                                 "again to continue from what reached the disk") from None
            return [record for record, _ in built]

    def _write_lines(self, lines: Sequence[bytes]) -> None:
        """Rotate before a line that would take the file past max_bytes (a file holds at least one line)."""
        pending = bytearray()
        for line in lines:
            size = self._size + len(pending)
            if size > 0 and size + len(line) > self.max_bytes:
                self._write(bytes(pending))
                pending.clear()
                self._rotate()
            pending += line
        self._write(bytes(pending))

    def _write(self, data: bytes) -> None:
        """One write call for all lines (a crash cuts at most the last), then fsync."""
        if not data:
            return
        assert self._fd is not None
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view):]
        os.fsync(self._fd)
        self._size += len(data)

    def _rotate(self) -> None:
        """<log> -> <log>.1 -> ... -> <log>.<backups>, the oldest (and any beyond `backups`) dropped."""
        assert self._fd is not None
        os.close(self._fd)
        self._fd = None
        for number, old in rotated_files(self.path).items():
            if number >= self.backups:
                old.unlink()
        for number in range(self.backups - 1, 0, -1):
            old = self.path.with_name(f"{self.path.name}.{number}")
            if old.exists():
                os.replace(old, self.path.with_name(f"{self.path.name}.{number + 1}"))
        if self.backups:
            os.replace(self.path, self.path.with_name(self.path.name + ".1"))
        else:
            self.path.unlink()
        _fsync_dir(self.path.parent)
        self._open_active()

    def _write_head(self) -> None:
        """Atomic replace; losing it in a crash leaves the head one call behind, which opening accepts."""
        head = head_path(self.path)
        tmp = head.with_name(head.name + ".tmp")
        data = json.dumps({"seq": self._seq, "hash": self._hash, "file": self.path.name}).encode("utf-8")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, head)
