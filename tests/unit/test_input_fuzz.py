"""Property-based tests: whatever a caller or a file gives the runtime's input readers, the answer is a result or an
InputError, never another exception (a TypeError from tokenizers, a ValueError from numpy, a decoder's own error).

Each test is bounded (max_examples, no deadline) so that the file runs in well under a minute; the examples are
derandomized, so a failure reproduces.
"""

from __future__ import annotations

import io
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from hfm_runtime.errors import InputError
from hfm_runtime.preprocess.image import ImageSpec, preprocess_frame, read_image
from hfm_runtime.preprocess.signal import SignalSpec, read_signal, windows
from hfm_runtime.preprocess.text import TextPreprocessor
from tiny_artifacts import tiny_tokenizer_json

BOUNDED = settings(max_examples=150, deadline=None, derandomize=True,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
ANY_CHARACTER = st.characters(exclude_categories=())  # surrogates included: Python strings may hold them
TEXT_INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")


# ---- text -----------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def text_preprocessor() -> TextPreprocessor:
    return TextPreprocessor(tiny_tokenizer_json(), {"max_length": 16, "max_chars": 200}, TEXT_INPUT_NAMES)


@BOUNDED
@given(texts=st.one_of(st.text(ANY_CHARACTER, max_size=300),
                       st.lists(st.text(ANY_CHARACTER, max_size=60), max_size=5),
                       st.lists(st.one_of(st.text(max_size=10), st.integers(), st.none(), st.binary(max_size=5)),
                                max_size=3),
                       st.binary(max_size=10), st.integers()))
@example(texts="chest pain \udcff radiating")
@example(texts=["   ", "fever"])
@example(texts="\x00\ufeff\u200b")
def test_text_gives_token_ids_or_an_input_error(text_preprocessor: TextPreprocessor, texts) -> None:
    try:
        valid = text_preprocessor.validate(texts)
    except InputError as exc:
        assert "\n" not in str(exc)
        return
    feeds = text_preprocessor.encode(valid)
    assert set(feeds) == set(TEXT_INPUT_NAMES)
    assert feeds["input_ids"].shape[0] == len(valid) and feeds["input_ids"].shape[1] <= 16
    assert all(text_preprocessor.token_count(text) <= 16 for text in valid)


# ---- images ---------------------------------------------------------------------------------------------------------

def _png() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.arange(12 * 10, dtype=np.uint8).reshape(12, 10)).save(buffer, format="PNG")
    return buffer.getvalue()


def _jpeg() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(buffer, format="JPEG")
    return buffer.getvalue()


def _dicom() -> bytes:
    from pydicom.data import get_testdata_file

    return Path(get_testdata_file("MR_small.dcm")).read_bytes()


pytest.importorskip("pydicom")
pytest.importorskip("PIL")
SEEDS = {".png": _png(), ".jpg": _jpeg(), ".dcm": _dicom()}
SIGNATURES = [b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", bytes(128) + b"DICM"]


@st.composite
def damaged(draw, seed: bytes) -> bytes:
    """A real file with some bytes changed, cut short, or both: the decoders see plausible headers."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(0, 6))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(data[: draw(st.one_of(st.just(len(data)), st.integers(1, len(data))))])


image_files = st.one_of(
    st.tuples(st.sampled_from(sorted(SEEDS)), st.binary(max_size=400)),
    st.tuples(st.sampled_from(sorted(SEEDS)), st.builds(bytes.__add__, st.sampled_from(SIGNATURES),
                                                        st.binary(max_size=400))),
    *[st.tuples(st.just(suffix), damaged(seed)) for suffix, seed in SEEDS.items()],
)


@BOUNDED
@given(file=image_files, limit=st.one_of(st.none(), st.integers(1, 4096)), raw=st.booleans())
def test_image_files_give_frames_or_an_input_error(file: tuple[str, bytes], limit: int | None, raw: bool) -> None:
    suffix, content = file
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"input{suffix}"
        path.write_bytes(content)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # pydicom warns about the damage it reads through
                frames = read_image(path, value_scale="raw" if raw else "source_range", max_decoded_bytes=limit,
                                    limit_source="the test's limit")
                batch = [preprocess_frame(frame, ImageSpec(8, 8, channels=3), index)
                         for index, frame in enumerate(frames)]
        except InputError as exc:
            assert "\n" not in str(exc)
            return
    assert frames and all(f.dtype == np.float32 and f.ndim in (2, 3) for f in frames)
    if limit is not None:
        assert all(f.size * 4 <= limit for f in frames)
    assert all(b.shape == (3, 8, 8) and np.isfinite(b).all() for b in batch)


# ---- signals --------------------------------------------------------------------------------------------------------

SPEC = SignalSpec(fs=100, window_seconds=1.0, bandpass=(0.5, 40.0))
csv_lines = st.lists(st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.lists(st.floats(-1e3, 1e3).map(lambda v: f"{v:.3f}"), min_size=1, max_size=3).map(",".join),
    st.text(st.characters(exclude_categories=("Cs",)), max_size=12),
    st.sampled_from(["time,ecg", "# comment", "", "a;b", "1\t2", "nan", "1e400", '"1.5"']),
), max_size=150).map("\n".join)


@BOUNDED
@given(content=st.one_of(csv_lines.map(str.encode), st.binary(max_size=300)),
       channel=st.one_of(st.none(), st.integers(-2, 3), st.sampled_from(["ecg", "1", "b", ""])))
@example(content=b"\xff\xfe\x00garbage", channel=None)
def test_csv_records_give_samples_or_an_input_error(content: bytes, channel) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "record.csv"
        path.write_bytes(content)
        _read_and_cut(path, channel)


npy_arrays = hnp.arrays(
    dtype=st.sampled_from([np.float32, np.float64, np.int16, np.uint8, np.bool_, np.complex64, "U3"]),
    shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=300),
)


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def _npy_claiming(shape: tuple, data: bytes) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": "<f8", "fortran_order": False, "shape": shape})
    return buffer.getvalue() + data


@BOUNDED
@given(content=st.one_of(npy_arrays.map(_npy), npy_arrays.map(_npy).flatmap(damaged),
                         st.builds(bytes.__add__, st.just(b"\x93NUMPY\x01\x00"), st.binary(max_size=200)),
                         st.binary(max_size=200)),
       channel=st.one_of(st.none(), st.integers(-1, 3)))
@example(content=_npy(np.zeros(10))[:-8] + b"\x00" * 4, channel=None)  # truncated data
@example(content=_npy_claiming((10**12,), data=bytes(80)), channel=None)  # a header claiming 8 TB
@example(content=_npy_claiming((2**40, 2**40), data=bytes(80)), channel=1)
def test_npy_records_give_samples_or_an_input_error(content: bytes, channel) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "record.npy"
        path.write_bytes(content)
        _read_and_cut(path, channel)


def _read_and_cut(path: Path, channel) -> None:
    try:
        samples, fs = read_signal(path, channel=channel)
    except InputError as exc:
        assert "\n" not in str(exc)
        return
    assert fs is None and samples.dtype == np.float32 and samples.ndim == 1
    _cut(samples, 100.0)


def _cut(samples, fs) -> None:
    try:
        cut = windows(samples, fs, SPEC)
    except InputError as exc:
        assert "\n" not in str(exc)
        return
    assert cut.dtype == np.float32 and cut.ndim == 2 and cut.shape[1] == SPEC.window_samples
    assert np.isfinite(cut).all()


signal_values = st.floats(allow_nan=True, allow_infinity=True, width=64)


@BOUNDED
@given(samples=st.one_of(hnp.arrays(np.float64, st.integers(0, 400), elements=signal_values),
                         hnp.arrays(np.float64, st.integers(0, 400), elements=st.floats(-1e6, 1e6)),
                         hnp.arrays(np.float32, st.integers(90, 1200), elements=st.floats(-5, 5, width=32)),
                         hnp.arrays(np.float64, st.tuples(st.integers(0, 300), st.integers(1, 3)),
                                    elements=st.floats(-10, 10))),
       fs=st.one_of(st.none(), st.sampled_from([100, 250, 360.0, 1e5, 1e5 + 1, 1e300, 80.0, 79.9, 99.999, 0, -1,
                                                float("nan"), float("inf")]),
                    st.floats(allow_nan=True, allow_infinity=True), st.integers(-10, 10**9)))
@example(samples=np.full(200, 1e300), fs=100)
@example(samples=np.r_[np.zeros(100), np.full(100, 1e308)], fs=100)
@example(samples=np.full(300, 5e-324), fs=100)
def test_windows_of_any_samples_and_rate_are_windows_or_an_input_error(samples: np.ndarray, fs) -> None:
    _cut(samples, fs)
