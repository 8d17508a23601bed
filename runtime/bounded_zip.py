"""Reading an artifact's zip without trusting it: sizes are checked from the central directory before anything is
inflated, hashes are computed in streamed chunks, and every zip-library failure becomes an ArtifactError.

A zip bomb (1 MB that inflates to 1 GiB) is refused from its declared sizes; a member that lies about its size is
cut off by zipfile at the declared size and then fails its CRC, so memory never exceeds one chunk plus what the
caller chose to keep.
"""

from __future__ import annotations

import dataclasses
import hashlib
import zipfile
import zlib
from pathlib import Path
from typing import IO, Callable, Iterable

from hfm_runtime.errors import ArtifactError

MiB = 1 << 20
GiB = 1 << 30
CHUNK = 1 * MiB
ALLOWED_COMPRESSION = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflate"}


@dataclasses.dataclass(frozen=True)
class ReadLimits:
    """What a reader accepts before inflating. Defaults fit every artifact the toolchain makes with wide margins:
    ONNX protobufs cannot exceed 2 GiB, weights deflate ~1.1x, JSON and tokenizers 3-10x."""

    max_manifest_bytes: int = 8 * MiB
    max_member_bytes: int = 2 * GiB
    max_total_bytes: int = 4 * GiB
    max_ratio: float = 200.0
    ratio_exempt_bytes: int = 1 * MiB  # tiny members may deflate well (a zero-filled npz) without risk
    max_members: int = 65  # the schema's 63 listed members + manifest.json + signature.json


class BoundedZip:
    """A zip archive opened for verification; use as a context manager."""

    def __init__(self, path: Path, limits: ReadLimits) -> None:
        self.path = path
        self.limits = limits
        try:
            self.archive = zipfile.ZipFile(path)
        except zipfile.BadZipFile:
            raise ArtifactError(_not_a_zip(path)) from None
        except (OSError, ValueError, EOFError, NotImplementedError) as exc:
            raise ArtifactError(f"{path}: the archive cannot be read ({exc})") from None
        try:
            self.infos = self._checked_infos()
        except BaseException:
            self.archive.close()
            raise

    def __enter__(self) -> "BoundedZip":
        return self

    def __exit__(self, *exc: object) -> None:
        self.archive.close()

    @property
    def names(self) -> set[str]:
        return set(self.infos)

    def _checked_infos(self) -> dict[str, zipfile.ZipInfo]:
        infos: dict[str, zipfile.ZipInfo] = {}
        entries = self.archive.infolist()
        if len(entries) > self.limits.max_members:
            raise ArtifactError(f"{self.path}: the archive has {len(entries)} members; an artifact has at most "
                                f"{self.limits.max_members}")
        total = 0
        for info in entries:
            name = info.filename
            if name in infos:  # readers disagree on which copy wins: refuse rather than pick one
                raise ArtifactError(f"{self.path}: member {name} appears twice in the archive")
            if info.flag_bits & 0x1:
                raise ArtifactError(f"{self.path}: member {name} is encrypted; artifacts are never encrypted")
            if info.compress_type not in ALLOWED_COMPRESSION:
                raise ArtifactError(f"{self.path}: member {name} uses zip compression method {info.compress_type}; "
                                    f"expected {' or '.join(ALLOWED_COMPRESSION.values())}")
            if info.file_size > self.limits.max_member_bytes:
                raise ArtifactError(f"{self.path}: member {name} declares {info.file_size:,} bytes inflated; the "
                                    f"limit is {self.limits.max_member_bytes:,}")
            ratio = info.file_size / max(info.compress_size, 1)
            if info.file_size > self.limits.ratio_exempt_bytes and ratio > self.limits.max_ratio:
                raise ArtifactError(f"{self.path}: member {name} inflates {ratio:,.0f}x ({info.compress_size:,} -> "
                                    f"{info.file_size:,} bytes); more than {self.limits.max_ratio:g}x is a zip bomb")
            total += info.file_size
            infos[name] = info
        if total > self.limits.max_total_bytes:
            raise ArtifactError(f"{self.path}: members declare {total:,} bytes inflated in all; the limit is "
                                f"{self.limits.max_total_bytes:,}")
        return infos

    def read(self, name: str, max_bytes: int | None = None) -> bytes:
        """The whole member (for members the caller needs in memory), bounded by its declared size."""
        limit = self.limits.max_member_bytes if max_bytes is None else max_bytes
        if self.infos[name].file_size > limit:
            raise ArtifactError(f"{self.path}: member {name} is {self.infos[name].file_size:,} bytes; at most "
                                f"{limit:,} expected")
        parts: list[bytes] = []
        self._stream(name, parts.append)
        return b"".join(parts)

    def sha256(self, name: str, keep: bool = False) -> tuple[str, bytes | None]:
        """Streamed sha256 of a member; with `keep`, also its bytes (one pass, no second read)."""
        digest = hashlib.sha256()
        parts: list[bytes] = []

        def take(chunk: bytes) -> None:
            digest.update(chunk)
            if keep:
                parts.append(chunk)

        self._stream(name, take)
        return digest.hexdigest(), (b"".join(parts) if keep else None)

    def _stream(self, name: str, sink: Callable[[bytes], object]) -> None:
        try:
            with self.archive.open(self.infos[name]) as stream:
                for chunk in _chunks(stream):
                    sink(chunk)
        except MemoryError:
            raise ArtifactError(f"{self.path}: member {name} does not fit in memory") from None
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, RuntimeError,
                NotImplementedError) as exc:
            raise ArtifactError(f"{self.path}: member {name} is unreadable, the archive is truncated or corrupt "
                                f"({exc})") from None


def _chunks(stream: IO[bytes]) -> Iterable[bytes]:
    while True:
        chunk = stream.read(CHUNK)
        if not chunk:
            return
        yield chunk


ZIP_MAGIC = b"PK\x03\x04"


def _not_a_zip(path: Path) -> str:
    try:
        with open(path, "rb") as handle:
            head = handle.read(4)
    except OSError as exc:
        return f"{path}: cannot be read ({exc.strerror or exc})"
    if head == ZIP_MAGIC:
        return f"{path}: the archive is truncated or corrupt (zip directory unreadable)"
    return f"{path}: not an .hfm artifact (expected a zip archive with manifest.json)"
