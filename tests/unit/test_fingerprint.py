"""Data fingerprints are unambiguous: item boundaries, dtypes and shapes all change the digest."""

import hashlib

import numpy as np

from hfm_compress.sources.arrays import TensorSet
from hfm_runtime.fingerprint import ARRAY_SCHEME, TEXT_SCHEME, array_fingerprint, text_fingerprint


def test_text_boundaries_change_the_digest() -> None:
    assert text_fingerprint(["a\nb"])["sha256"] != text_fingerprint(["a", "b"])["sha256"]
    assert text_fingerprint(["ab"])["sha256"] != text_fingerprint(["a", "b"])["sha256"]
    assert text_fingerprint([""])["sha256"] != text_fingerprint([])["sha256"]


def test_same_texts_same_fingerprint() -> None:
    texts = ["chest pain", "fièvre et toux", ""]
    assert text_fingerprint(texts) == text_fingerprint(list(texts))
    assert text_fingerprint(texts)["count"] == 3 and text_fingerprint(texts)["scheme"] == TEXT_SCHEME


def test_text_scheme_is_length_prefixed_utf8() -> None:
    """Pins the scheme: a digest recorded today must be reproducible from this description alone."""
    expected = hashlib.sha256()
    for text in ("é", "ab"):
        data = text.encode("utf-8")
        expected.update(len(data).to_bytes(8, "big") + data)
    assert text_fingerprint(["é", "ab"])["sha256"] == expected.hexdigest()


def test_array_shape_and_dtype_change_the_digest() -> None:
    values = np.arange(6, dtype=np.float32)
    wide, tall = array_fingerprint(2, values.reshape(2, 3)), array_fingerprint(3, values.reshape(3, 2))
    assert wide["sha256"] != tall["sha256"]
    as_ints = values.view(np.int32).reshape(2, 3)  # the same bytes, another dtype
    assert wide["sha256"] != array_fingerprint(2, as_ints)["sha256"]
    assert wide == array_fingerprint(2, values.reshape(2, 3).copy()) and wide["scheme"] == ARRAY_SCHEME


def test_array_fingerprint_ignores_memory_layout() -> None:
    values = np.arange(12, dtype=np.float32).reshape(3, 4)
    assert array_fingerprint(4, values.T)["sha256"] == array_fingerprint(4, np.ascontiguousarray(values.T))["sha256"]


def test_tensor_set_fingerprint_includes_labels_and_shape() -> None:
    raw = np.arange(12, dtype=np.float32).reshape(2, 6)

    def fingerprint(raw: np.ndarray, labels: np.ndarray | None) -> dict:
        return TensorSet(inputs=raw, raw=raw, labels=labels, masks=None, source="test").fingerprint()

    plain = fingerprint(raw, None)
    assert plain["scheme"] == ARRAY_SCHEME and plain["source"] == "test" and plain["count"] == 2
    assert plain["sha256"] != fingerprint(raw, np.array([0, 1]))["sha256"]
    assert fingerprint(raw, np.array([0, 1]))["sha256"] != fingerprint(raw, np.array([1, 0]))["sha256"]
    assert plain["sha256"] != fingerprint(raw.reshape(3, 4), None)["sha256"]
