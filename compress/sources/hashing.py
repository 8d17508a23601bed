"""One digest over several files, read in 1 MB blocks: the `sha256` a manifest records for a teacher's weights."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Iterable


def files_sha256(paths: Iterable[Path], *, with_names: bool = False) -> str:
    """sha256 over the files' bytes in the given order; `with_names` also hashes each file name before its bytes (so
    renaming a shard changes the digest)."""
    digest = hashlib.sha256()
    for path in paths:
        if with_names:
            digest.update(path.name.encode())
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()
