"""Fingerprints of data sets: enough to tell two sets apart, never the data.

The manifest records one for the calibration, evaluation, corpus and training sets, and distillation uses them as a
checkpoint's identity, so two different sets must never share a digest. Every piece is length-prefixed before it is
hashed: plain concatenation would make `["a\\nb"]` and `["a", "b"]` (or a (2, 3) and a (3, 2) array of the same
values) hash alike. The scheme is recorded next to the digest, so a later scheme is never mistaken for this one.
"""

from __future__ import annotations

import hashlib
from typing import Any, Sequence

import numpy as np

TEXT_SCHEME = "len-prefixed-utf8-v1"
ARRAY_SCHEME = "ndarray-v1"
_LENGTH_BYTES = 8  # big-endian byte length before every piece


def text_fingerprint(texts: Sequence[str]) -> dict[str, Any]:
    """{count, sha256, scheme} of a list of texts: sha256 over each text's UTF-8 bytes, each after its length."""
    digest = hashlib.sha256()
    for text in texts:
        _update(digest, text.encode("utf-8"))
    return {"count": len(texts), "sha256": digest.hexdigest(), "scheme": TEXT_SCHEME}


def array_fingerprint(count: int, *arrays: np.ndarray) -> dict[str, Any]:
    """{count, sha256, scheme} of arrays taken together (e.g. inputs and labels): for each one its
    length-prefixed `dtype|shape` header, then its C-order bytes. `count` is the number of items the set holds."""
    digest = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array)
        _update(digest, f"{array.dtype}|{array.shape}".encode("utf-8"))
        digest.update(array.tobytes())  # the header fixes its length
    return {"count": int(count), "sha256": digest.hexdigest(), "scheme": ARRAY_SCHEME}


def _update(digest: Any, piece: bytes) -> None:
    digest.update(len(piece).to_bytes(_LENGTH_BYTES, "big"))
    digest.update(piece)
