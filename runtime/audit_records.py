"""The audit log's records and files, shared by the writer (`hfm_runtime.audit`) and the verifier
(`hfm_runtime.audit_verify`): the canonical JSON that is hashed and written, the record hash, building and parsing
a record, the `<log>.head` anchor and the rotated `<log>.N` files, and what an inference record says about its
input and output (`describe_input`, `summarize_output`). Format, guarantees and limits: docs/audit-log.md.

Standard library and numpy only, like the rest of the runtime.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from hfm_runtime.errors import HfmError
from hfm_runtime.fingerprint import array_fingerprint

ZERO_HASH = "0" * 64
RESERVED = ("seq", "time", "prev", "hash")
# Strings are texts for these tasks; for image and signal tasks a string names a file (hfm_runtime.inputs).
TEXT_TASKS = ("embedding", "classification")


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


def parse_record(line: bytes) -> dict[str, Any] | None:
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


def build_record(fields: Mapping[str, Any], seq: int, prev: str) -> tuple[dict[str, Any], bytes]:
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


def rotated_files(path: Path) -> dict[int, Path]:
    """Rotated files `<log>.N` that exist, by N."""
    pattern = re.compile(re.escape(path.name) + r"\.([0-9]+)")
    if not path.parent.is_dir():
        return {}
    return {int(m.group(1)): p for p in path.parent.iterdir() if (m := pattern.fullmatch(p.name))}


def head_path(path: Path) -> Path:
    return path.with_name(path.name + ".head")


def read_head(path: Path) -> dict[str, Any] | None:
    """The head sidecar, None when absent; an unreadable head is an error (it is the anchor)."""
    head_file = head_path(path)
    try:
        head = json.loads(head_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise AuditError(f"{head_file.name}: unreadable ({exc}); expected JSON with seq, hash and file") from None
    if not isinstance(head, dict) or not isinstance(head.get("seq"), int) or not isinstance(head.get("hash"), str):
        raise AuditError(f"{head_file.name}: not an audit head; expected JSON with int seq, str hash and file")
    return head


def head_problems(head: Mapping[str, Any] | None, head_name: str, log_name: str, last: Mapping[str, Any] | None,
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
