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
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import threading
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np

from hfm_runtime.errors import HfmError
from hfm_runtime.fingerprint import array_fingerprint

try:  # POSIX only; elsewhere the one-writer rule is documented, not enforced.
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

ZERO_HASH = "0" * 64
RESERVED = ("seq", "time", "prev", "hash")
# Strings are texts for these tasks; for image and signal tasks a string names a file (hfm_runtime.inputs).
TEXT_TASKS = ("embedding", "classification")
_CHUNK = 1 << 16


class AuditError(HfmError):
    """The audit log cannot be opened or written safely (tampered, truncated, locked), or a record is invalid."""


# ---------------------------------------------------------------- records


def canonical_json(record: Mapping[str, Any]) -> bytes:
    """The one serialisation that is hashed and written: sorted keys, no spaces, UTF-8, strict JSON (no NaN)."""
    try:
        text = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False,
                          default=_to_json)
        return text.encode("utf-8")
    except (TypeError, ValueError, UnicodeEncodeError) as exc:
        raise AuditError(f"audit record: cannot be written as strict JSON ({exc}); expected str, int, finite float, "
                         "bool, None, lists and mappings with str keys") from None


def record_hash(record: Mapping[str, Any]) -> str:
    """sha256 of the record's canonical JSON without its `hash` key."""
    return hashlib.sha256(canonical_json({k: v for k, v in record.items() if k != "hash"})).hexdigest()


def _to_json(value: Any) -> Any:
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _parse_record(line: bytes) -> dict[str, Any] | None:
    """The record on a line, or None when it is not one (not UTF-8, not JSON, or no int seq / str prev, hash)."""
    try:
        record = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(record, dict) or not isinstance(record.get("seq"), int):
        return None
    if not isinstance(record.get("prev"), str) or not isinstance(record.get("hash"), str):
        return None
    return record


def _build_record(fields: Mapping[str, Any], seq: int, prev: str) -> tuple[dict[str, Any], bytes]:
    """The record as a reader will parse it back (so it hashes the same), and its line."""
    clash = [key for key in RESERVED if key in fields]
    if clash:
        raise AuditError(f"audit record: field(s) {', '.join(clash)} are set by the log; use other names")
    record = json.loads(canonical_json({"seq": seq, "time": _utc_now(), "prev": prev, **fields}))
    record["hash"] = record_hash(record)
    return record, canonical_json(record) + b"\n"


def _utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


# ---------------------------------------------------------------- files


def _rotated(path: Path) -> dict[int, Path]:
    """Rotated files `<log>.N` that exist, by N."""
    pattern = re.compile(re.escape(path.name) + r"\.([0-9]+)")
    if not path.parent.is_dir():
        return {}
    return {int(m.group(1)): p for p in path.parent.iterdir() if (m := pattern.fullmatch(p.name))}


def _head_path(path: Path) -> Path:
    return path.with_name(path.name + ".head")


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
            yield _parse_record(fh.read(end - 1 - start))
            end = start


def _read_head(path: Path) -> dict[str, Any] | None:
    """The head sidecar, None when absent; an unreadable head is an error (it is the anchor)."""
    head_path = _head_path(path)
    try:
        head = json.loads(head_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise AuditError(f"{head_path.name}: unreadable ({exc}); expected JSON with seq, hash and file") from None
    if not isinstance(head, dict) or not isinstance(head.get("seq"), int) or not isinstance(head.get("hash"), str):
        raise AuditError(f"{head_path.name}: not an audit head; expected JSON with int seq, str hash and file")
    return head


def _head_problems(head: Mapping[str, Any] | None, head_name: str, log_name: str, last: Mapping[str, Any] | None,
                   find: Callable[[int], Mapping[str, Any] | None]) -> list[str]:
    """What is wrong between the log's last record and an anchor (the head sidecar, or a copy kept elsewhere).

    The log may be ahead of the head (a crash between writing lines and updating the head); then the record at
    the head's seq must still carry the head's hash. Behind the head means records at the end were deleted.
    """
    if head is None:
        if last is None:
            return []
        return [f"{head_name}: missing, so deletion of trailing records cannot be ruled out"]
    problems = []
    if head.get("file") not in (None, log_name):
        problems.append(f"{head_name}: belongs to {head.get('file')!r}, not {log_name!r}")
    seq, digest = head["seq"], head["hash"]
    if last is None:
        return problems + [f"{log_name}: no records but {head_name} says seq {seq}: the log was deleted or emptied"]
    if last["seq"] < seq:
        says = "the head" if head_name.endswith(".head") else head_name
        return problems + [f"{log_name}: ends at seq {last['seq']} but {says} says {seq}: trailing records deleted"]
    anchored = last if last["seq"] == seq else find(seq)
    if anchored is None:
        problems.append(f"{log_name}: has no record with seq {seq}, which {head_name} names")
    elif anchored.get("hash") != digest:
        problems.append(f"{log_name}: the record with seq {seq} does not carry the hash {head_name} holds: "
                        "records rewritten")
    return problems


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
                         quality: Sequence[str] | None = None, latency_ms: float) -> list[dict[str, Any]]:
        """One record per output row of a `Model.run` call, written with one write and one fsync.

        Rows and inputs pair up one to one; a single input may give several rows (a cine DICOM gives one per
        frame), and then every row names that input. `latency_ms` is the whole call's.
        """
        rows = np.asarray(outputs)
        if rows.ndim == 0:
            raise AuditError("record_inference: outputs is a scalar; expected one row per input")
        n = rows.shape[0]
        if len(inputs) not in (n, 1) or (n == 0 and len(inputs) != 0):
            raise AuditError(f"record_inference: {len(inputs)} inputs but outputs has {n} rows; expected one row "
                             "per input (or several rows from one input)")
        if quality is not None and len(quality) != n:
            raise AuditError(f"record_inference: {len(quality)} quality flags for {n} output rows; expected one per row")
        described = [describe_input(item, task, self.include_raw_inputs) for item in inputs]
        common = {"artifact": artifact_digest, "signer": signer, "profile": profile, "task": task,
                  "latency_ms": round(float(latency_ms), 3), "batch_size": n}
        records = []
        for index in range(n):
            one = dict(common, batch_index=index, output=summarize_output(rows[index], task, labels))
            one.update(described[index if len(described) == n else 0])
            if quality is not None:
                one["quality"] = str(quality[index])
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
            problems = _head_problems(_read_head(self.path), _head_path(self.path).name, self.path.name, last,
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
                if _parse_record(fh.read(keep - 1 - start)) is None:
                    keep = start
        return keep, keep != size

    def _last_record(self, keep: int) -> dict[str, Any] | None:
        """The record the chain continues from: the active file's last (within `keep`), else the newest rotated."""
        if keep > 0:
            with open(self.path, "rb") as fh:
                start = _line_start(fh, keep - 1)
                fh.seek(start)
                record = _parse_record(fh.read(keep - 1 - start))
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
                record, line = _build_record(fields, seq + 1, digest)
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
        for number, old in _rotated(self.path).items():
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
        head = _head_path(self.path)
        tmp = head.with_name(head.name + ".tmp")
        data = json.dumps({"seq": self._seq, "hash": self._hash, "file": self.path.name}).encode("utf-8")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, head)


# ---------------------------------------------------------------- what an inference record says


def describe_input(item: Any, task: str, include_raw: bool = False) -> dict[str, Any]:
    """`input_sha256` and `input_kind` of one input, never the input itself unless `include_raw` (texts only).

    - text (a str, for text tasks; or a str that is not an existing file): sha256 of its UTF-8 bytes;
    - file (a Path, or a str naming an existing file for image/signal tasks): sha256 of the file's bytes;
    - array: the sha256 of `hfm_runtime.fingerprint.array_fingerprint` (a length-prefixed `dtype|shape` header,
      then the C-order bytes), so equal bytes of another shape or dtype hash differently;
    - bytes: sha256 of the bytes.
    """
    if isinstance(item, str) and (task in TEXT_TASKS or not os.path.isfile(item)):
        described: dict[str, Any] = {"input_kind": "text",
                                     "input_sha256": hashlib.sha256(item.encode("utf-8")).hexdigest()}
        if include_raw:
            described["input"] = item
        return described
    if isinstance(item, (str, os.PathLike)):
        return {"input_kind": "file", "input_sha256": _file_sha256(Path(item))}
    if isinstance(item, (bytes, bytearray, memoryview)):
        return {"input_kind": "bytes", "input_sha256": hashlib.sha256(bytes(item)).hexdigest()}
    if isinstance(item, np.ndarray) or isinstance(item, (list, tuple)):
        try:
            array = np.asarray(item)
        except ValueError as exc:
            raise AuditError(f"record_inference: an input array is ragged ({exc}); expected a rectangular array") from None
        return {"input_kind": "array", "input_sha256": array_fingerprint(1, array)["sha256"]}
    raise AuditError(f"record_inference: cannot fingerprint an input of type {type(item).__name__}; expected a "
                     "text, a file path, bytes or an array")


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    except OSError as exc:
        raise AuditError(f"record_inference: input file cannot be read ({exc.strerror}); expected an existing "
                         "file, as passed to Model.run") from None
    return digest.hexdigest()


def summarize_output(row: np.ndarray, task: str, labels: Sequence[str] | None) -> dict[str, Any]:
    """Classification rows: the argmax `label`, `class_index` and `probability`. Other rows (embeddings,
    segmentation maps): `vector_sha256` of the float32 bytes and `shape`, enough to prove which output was given
    without storing it."""
    row = np.asarray(row)
    if task.endswith("classification") and row.ndim == 1 and row.size:
        index = int(np.argmax(row))
        probability = float(row[index])
        label = labels[index] if labels is not None and index < len(labels) else str(index)
        return {"label": label, "class_index": index,
                "probability": probability if math.isfinite(probability) else None}
    vector = np.ascontiguousarray(row, dtype=np.float32)
    return {"vector_sha256": hashlib.sha256(vector.tobytes()).hexdigest(), "shape": list(vector.shape)}


# ---------------------------------------------------------------- verification


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
    rotated = _rotated(path)
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
        head = _read_head(path)
        problems += _head_problems(head, _head_path(path).name, path.name, last, by_seq.get)
    except AuditError as exc:
        problems.append(str(exc))
    if anchor is not None:
        problems += _head_problems(anchor, "the anchor", path.name, last, by_seq.get)
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
        record = _parse_record(line)
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
