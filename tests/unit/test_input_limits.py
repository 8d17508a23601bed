"""Inputs the runtime must refuse with one clear line, and memory bounds on reading them.

Text that is empty or not encodable, images too large for the device's memory budget (refused from the header,
before decoding), WFDB headers without a sampling rate, and files whose headers claim more than they hold.
"""

from __future__ import annotations

import io
import struct
import subprocess
import sys
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from hfm_compress.cli import app
from hfm_runtime.errors import InputError
from hfm_runtime.inputs import ImageInputs, SignalInputs, adapter_for
from hfm_runtime.memory import peak_rss_mb, reset_peak
from hfm_runtime.preprocess import image as image_pre
from hfm_runtime.preprocess.image import ImageSpec, frame_limit, read_image, resize_bilinear
from hfm_runtime.preprocess.signal import SignalSpec, SignalStream, read_signal, windows
from hfm_runtime.preprocess.text import TextPreprocessor
from hfm_runtime.profiles import load_profile
from tiny_artifacts import tiny_tokenizer_json

pydicom = pytest.importorskip("pydicom")
Image = pytest.importorskip("PIL.Image")
from pydicom.data import get_testdata_file  # noqa: E402

MB = 2**20


# ---- text -----------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def texts() -> TextPreprocessor:
    return TextPreprocessor(tiny_tokenizer_json(), {"max_length": 16}, ["input_ids", "attention_mask"])


def test_lone_surrogate_names_the_input_and_the_position(texts: TextPreprocessor) -> None:
    with pytest.raises(InputError, match=r"^input 1 has a lone surrogate '\\udcff' at character 6, which is not text "
                                         r".*; expected valid Unicode text$"):
        texts.validate(["fever", "chest \udcff pain"])
    with pytest.raises(TypeError):  # what the tokenizer itself does with it: why validate must catch it first
        texts.tokenizer.encode_batch(["chest \udcff pain"])


def test_empty_and_whitespace_texts_are_refused(texts: TextPreprocessor) -> None:
    with pytest.raises(InputError, match=r"^input 3 is empty; expected text$"):
        texts.validate(["a", "b", "c", ""])
    with pytest.raises(InputError, match=r"^input 0 is only whitespace; expected text$"):
        texts.validate(" \t\n\u3000")
    assert texts.validate(["fever \u00e9 \U0001f637"]) == ["fever \u00e9 \U0001f637"]  # non-ASCII text is fine


def _cli(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_cli_refuses_a_surrogate_argument_with_exit_2(tiny_artifact: Path) -> None:
    result = _cli("run", tiny_artifact, "chest pain \udcff\udcfe")
    assert result.exit_code == 2, result.output
    assert "error: input 0 has a lone surrogate '\\udcff' at character 11" in result.output
    assert "Traceback" not in result.output


def test_cli_with_invalid_utf8_bytes_in_argv(tiny_artifact: Path) -> None:
    """The real case: a shell passes bytes that are not UTF-8, Python decodes them with surrogateescape."""
    script = "import sys; from hfm_compress.cli import app; sys.argv[0] = 'hfm-compress'; app()"
    result = subprocess.run([sys.executable, "-c", script, "run", str(tiny_artifact), b"fi\xe8vre"],
                            capture_output=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert result.stderr.decode("utf-8", "replace").strip().splitlines()[-1].startswith(
        "error: input 0 has a lone surrogate '\\udce8' at character 2")


@pytest.mark.parametrize("text", ["x" * 300, "nul\x00byte", "/no/such/dir/../" + "y" * 250])
def test_cli_texts_that_cannot_be_paths_are_texts(tiny_artifact: Path, text: str) -> None:
    """Path(text).is_file() raises for a 300-character word (ENAMETOOLONG); such a text is a text, not a crash."""
    result = _cli("run", tiny_artifact, text, "--json")
    assert result.exit_code == 0, result.output


def test_cli_file_of_texts_that_is_not_utf8(tiny_artifact: Path, tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_bytes(b"fi\xe8vre\n")
    result = _cli("run", tiny_artifact, notes)
    assert result.exit_code == 2
    assert "error: cannot read inputs from" in result.output and "expected a UTF-8 text file" in result.output


# ---- images: the decoded-size limit ---------------------------------------------------------------------------------

def _blank_png(path: Path, width: int, height: int) -> Path:
    """A grey PNG of zeros written row block by row block: 13000 x 13000 is ~160 KB on disk, 169 MB decoded."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    compressor = zlib.compressobj(9)
    rows = bytes((width + 1) * 100)  # filter byte 0, then the row's pixels
    idat = b"".join(compressor.compress(rows) for _ in range(height // 100))
    idat += compressor.compress(bytes((width + 1) * (height % 100))) + compressor.flush()
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
                     + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


@pytest.fixture(scope="module")
def huge_png(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = _blank_png(tmp_path_factory.mktemp("bomb") / "scan.png", 13000, 13000)
    assert 100_000 < path.stat().st_size < 200_000
    return path


def test_frame_limit_comes_from_the_profile() -> None:
    limit, source = frame_limit(load_profile("clinic-cpu"))
    assert limit == 128 * MB
    assert source == "the profile's memory budget (profile clinic-cpu memory_mb 512)"


def test_huge_png_is_refused_from_its_header(huge_png: Path) -> None:
    limit, source = frame_limit(load_profile("clinic-cpu"))
    with pytest.raises(InputError) as caught:
        read_image(huge_png, max_decoded_bytes=limit, limit_source=source)
    assert str(caught.value) == (
        f"{huge_png} is 13000 x 13000 pixels (645 MB decoded as float32); the profile's memory budget (profile "
        "clinic-cpu memory_mb 512) allows one frame of at most 128 MB; expected a smaller image")


def test_huge_png_refusal_costs_no_memory(huge_png: Path) -> None:
    limit, source = frame_limit(load_profile("clinic-cpu"))
    read_image(_blank_png(huge_png.parent / "small.png", 8, 8), max_decoded_bytes=limit)  # Pillow imported, warm
    if not reset_peak():
        pytest.skip("this kernel does not let a process reset its peak RSS (/proc/self/clear_refs)")
    before = peak_rss_mb()
    for _ in range(3):
        with pytest.raises(InputError, match="allows one frame of at most 128 MB"):
            read_image(huge_png, max_decoded_bytes=limit, limit_source=source)
    assert peak_rss_mb() - before < 100  # decoding would take 169 MB as uint8 and 645 MB as float32


def test_without_a_limit_pillows_bomb_guard_is_an_input_error(huge_png: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # and the guard's warning does not leak
        with pytest.raises(InputError, match=r"scan.png: Image size \(169000000 pixels\) exceeds limit of 89478485 "
                                             r"pixels.*\(Pillow's decompression-bomb guard, PIL.Image.MAX_IMAGE_PIXELS "
                                             r"= 89,478,485\); expected a smaller image"):
            read_image(huge_png)


def test_pillows_bomb_error_is_an_input_error_even_under_a_large_limit(tmp_path: Path) -> None:
    path = _blank_png(tmp_path / "wide.png", 200_000, 1000)  # 200 M pixels: above twice Pillow's limit
    with pytest.raises(InputError, match=r"wide.png: Image size \(200000000 pixels\) exceeds limit of 178956970 "
                                         r"pixels.*decompression-bomb guard"):
        read_image(path, max_decoded_bytes=10**12)


@pytest.mark.parametrize("mode, channels", [("L", 1), ("RGB", 3), ("I;16", 1), ("RGBA", 3)])
def test_limit_counts_the_frame_as_read(mode: str, channels: int, tmp_path: Path) -> None:
    shape = (30, 40) if channels == 1 else (30, 40, {"RGB": 3, "RGBA": 4}[mode])
    path = tmp_path / "frame.png"
    Image.fromarray(np.zeros(shape, np.uint16 if mode == "I;16" else np.uint8)).save(path)
    exact = 30 * 40 * channels * 4
    assert read_image(path, max_decoded_bytes=exact)[0].size * 4 == exact
    colour = ", RGB" if channels == 3 else ""
    with pytest.raises(InputError, match=rf"frame.png is 40 x 30 pixels{colour} \({exact / MB:.3g} MB decoded as "
                                         rf"float32\); max_decoded_bytes = {exact - 1:,} allows one frame"):
        read_image(path, max_decoded_bytes=exact - 1)


def test_jpeg_limit(tmp_path: Path) -> None:
    path = tmp_path / "photo.jpg"
    Image.fromarray(np.zeros((16, 24, 3), np.uint8)).save(path)
    with pytest.raises(InputError, match=r"photo.jpg is 24 x 16 pixels, RGB"):
        read_image(path, max_decoded_bytes=16 * 24 * 3 * 4 - 1)


def _dicom_with(tmp_path: Path, name: str, **changes) -> Path:
    ds = pydicom.dcmread(get_testdata_file(name))
    for keyword, value in changes.items():
        setattr(ds, keyword, value)
    out = tmp_path / f"changed-{name}"
    ds.save_as(out, enforce_file_format=True)
    return out


def test_dicom_is_refused_from_its_header_before_the_pixels_are_read(tmp_path: Path) -> None:
    path = _dicom_with(tmp_path, "MR_small.dcm", Rows=60000, Columns=60000)  # pixel data no longer matches
    with pytest.raises(InputError, match="cannot be decoded"):  # without a limit the decoder finds the mismatch
        read_image(path)
    with pytest.raises(InputError, match=r"changed-MR_small.dcm is 60000 x 60000 pixels \(13,733 MB decoded as "
                                         r"float32\); the test's budget allows one frame of at most 64 MB"):
        read_image(path, max_decoded_bytes=64 * MB, limit_source="the test's budget")


def test_dicom_cine_limit_is_per_frame(monkeypatch: pytest.MonkeyPatch) -> None:
    cine = get_testdata_file("examples_ybr_color.dcm")  # 30 frames of 320 x 240 RGB
    frame_bytes = 240 * 320 * 3 * 4
    assert len(read_image(cine, crop_to_region=False, max_decoded_bytes=frame_bytes)) == 30

    def no_decoding(*args, **kwargs):
        raise AssertionError("pixel data decoded before the header was checked")

    monkeypatch.setattr("pydicom.pixels.iter_pixels", no_decoding)
    with pytest.raises(InputError, match=r"examples_ybr_color.dcm has 30 frames of 320 x 240 pixels, RGB \(0.879 MB "
                                         r"each decoded as float32\); max_decoded_bytes = 921,599 allows one frame"):
        read_image(cine, crop_to_region=False, max_decoded_bytes=frame_bytes - 1)


def test_bad_limit_values_are_refused() -> None:
    manifest = {"task": "image-classification", "preprocessing": ImageSpec(8, 8).to_dict()}
    for bad in (0, -5, 1.5, True, "128 MB"):
        with pytest.raises(InputError, match="expected a whole number of bytes >= 1, or None"):
            ImageInputs(manifest, ["pixel_values"], max_decoded_bytes=bad)


def test_image_inputs_carry_the_limit_and_stream_cine_frames(huge_png: Path, tmp_path: Path) -> None:
    manifest = {"task": "image-classification", "preprocessing": ImageSpec(16, 16, crop_to_region=False).to_dict()}
    limit, source = frame_limit(load_profile("clinic-cpu"))
    adapter = adapter_for(manifest, None, ["pixel_values"], "model.hfm", max_decoded_bytes=limit, limit_source=source)
    assert isinstance(adapter, ImageInputs)
    with pytest.raises(InputError, match=r"scan.png is 13000 x 13000 pixels .* allows one frame of at most 128 MB"):
        adapter.items([np.zeros((8, 8), np.float32), huge_png])
    cine = get_testdata_file("examples_ybr_color.dcm")
    items = adapter.items([cine, np.zeros((20, 20, 3), np.uint8)])
    assert len(items) == 31 and all(item.shape == (3, 16, 16) for item in items)
    expected = image_pre.preprocess(read_image(cine, crop_to_region=False), ImageSpec(16, 16, crop_to_region=False))
    np.testing.assert_array_equal(np.stack(items[:30]), expected)
    bad = np.zeros((20, 20), np.float32)
    bad[3, 3] = np.nan
    with pytest.raises(InputError, match="^frame 31 holds NaN"):  # counted across inputs, as the outputs are
        adapter.items([cine, np.zeros((8, 8), np.float32), bad])


# ---- images: the resize's working set -------------------------------------------------------------------------------

def _dense_resize(planes: np.ndarray, height: int, width: int, antialias: bool) -> np.ndarray:
    """Reference: the same taps as dense (out x in) matrices, one matrix product per axis."""
    def dense(size_in: int, size_out: int) -> np.ndarray:
        index, weight = image_pre._resize_taps(size_in, size_out, antialias)
        matrix = np.zeros((size_out, size_in))
        np.add.at(matrix, (np.repeat(np.arange(size_out), index.shape[1]), index.ravel()), weight.ravel())
        return matrix

    rows = dense(planes.shape[1], height)
    columns = dense(planes.shape[2], width)
    return np.einsum("hi,cij,wj->chw", rows, planes.astype(np.float64), columns)


@pytest.mark.parametrize("gather_bytes", [None, 4096])  # 4096: many small blocks, and the columns-first order
@pytest.mark.parametrize("antialias", [True, False])
def test_resize_equals_the_dense_reference(gather_bytes: int | None, antialias: bool,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    if gather_bytes:
        monkeypatch.setattr("hfm_runtime.preprocess.image_dsp.RESIZE_GATHER_BYTES", gather_bytes)
    rng = np.random.default_rng(5)
    for shape, size in [((3, 300, 200), (37, 53)), ((1, 20, 500), (224, 224)), ((2, 9, 3000), (64, 48)),
                        ((1, 7, 11), (7, 30))]:
        planes = rng.standard_normal(shape).astype(np.float32)
        actual = resize_bilinear(planes, *size, antialias=antialias)
        assert actual.dtype == np.float32 and actual.shape == (shape[0], *size)
        assert np.abs(actual - _dense_resize(planes, *size, antialias)).max() < 1e-5


def test_large_downscale_works_in_bounded_memory() -> None:
    """6000 x 6000 -> 224 x 224 with antialiasing: 55 taps per output row. Gathering them all at once held 224 x 55 x
    6000 values (296 MB); by blocks the working set is the gather budget plus two small intermediates."""
    frame = np.random.default_rng(6).random((1, 6000, 6000), dtype=np.float32)  # 144 MB
    if not reset_peak():
        pytest.skip("this kernel does not let a process reset its peak RSS (/proc/self/clear_refs)")
    before = peak_rss_mb()
    resized = resize_bilinear(frame, 224, 224)
    assert peak_rss_mb() - before < 60
    assert abs(float(resized.mean()) - float(frame.mean())) < 1e-3


def test_grey_frame_for_an_rgb_model_is_not_tripled_at_full_size() -> None:
    frame = np.random.default_rng(7).random((4000, 4000), dtype=np.float32)  # 64 MB; as RGB planes 192 MB
    spec = ImageSpec(224, 224, channels=3, mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.5))
    if not reset_peak():
        pytest.skip("this kernel does not let a process reset its peak RSS (/proc/self/clear_refs)")
    before = peak_rss_mb()
    batch = image_pre.preprocess([frame], spec)
    assert peak_rss_mb() - before < 60
    grey = resize_bilinear(frame[None], 224, 224)[0]
    np.testing.assert_allclose(batch[0], (grey[None] - np.reshape(spec.mean, (3, 1, 1))) / np.reshape(spec.std,
                                                                                                       (3, 1, 1)),
                               rtol=1e-5, atol=1e-5)


# ---- signals: WFDB headers without a rate ---------------------------------------------------------------------------

SIGNAL_SPEC = SignalSpec(fs=100, window_seconds=2.0, bandpass=(0.5, 40.0))
SIGNAL_MANIFEST = {"task": "signal-classification", "preprocessing": SIGNAL_SPEC.to_dict()}


def _record(tmp_path: Path, rate_field: str | None, fs: int = 360) -> Path:
    """A WFDB record written by wfdb, then its header's rate field replaced (None: removed, as wfdb allows)."""
    wfdb = pytest.importorskip("wfdb")
    tmp_path.mkdir(parents=True, exist_ok=True)
    t = np.arange(6 * fs) / fs
    signal = (np.sin(2 * np.pi * 1.2 * t) + 0.3 * np.sin(2 * np.pi * 7 * t))[:, None]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wfdb.wrsamp("record", fs=fs, units=["mV"], sig_name=["II"], p_signal=signal, fmt=["16"], adc_gain=[1000.0],
                    baseline=[0], write_dir=str(tmp_path))
    header = tmp_path / "record.hea"
    lines = header.read_text().splitlines()
    name, n_sig, _, *rest = lines[0].split()
    lines[0] = " ".join([name, n_sig] + ([] if rate_field is None else [rate_field, *rest]))
    header.write_text("\n".join(lines) + "\n")
    return header


def test_header_without_a_rate_gives_fs_none(tmp_path: Path) -> None:
    samples, fs = read_signal(_record(tmp_path, None))
    assert fs is None and samples.shape == (6 * 360,)
    wfdb = pytest.importorskip("wfdb")
    assert wfdb.rdheader(str(tmp_path / "record")).fs == 250  # what wfdb alone would have used


def test_signal_inputs_refuse_a_record_without_a_rate_unless_fs_is_given(tmp_path: Path) -> None:
    header = _record(tmp_path / "no-rate", None)
    inputs = SignalInputs(SIGNAL_MANIFEST, ["signal"])
    with pytest.raises(InputError) as caught:
        inputs.items(str(tmp_path / "no-rate" / "record"))
    assert str(caught.value) == (f"{header} gives no sampling rate (wfdb would assume 250 Hz); expected fs= (the "
                                 "CLI's --fs) with the record's rate in Hz")
    with_rate = inputs.items(header, fs=360.0)
    assert len(with_rate) == 3 and with_rate[0].shape == (1, 200)
    np.testing.assert_allclose(np.stack(with_rate), np.stack(inputs.items(_record(tmp_path / "rate", "360"))),
                               atol=1e-6)


@pytest.mark.parametrize("field", ["0", "-360", "abc", "nan", "1e3", "0.0/1"])
def test_header_rates_that_are_not_positive_numbers_are_refused(tmp_path: Path, field: str) -> None:
    header = _record(tmp_path, field)
    with pytest.raises(InputError, match=rf"WFDB header .*record.hea gives sampling rate '{field}'; expected a "
                                         r"positive number of Hz \(the third field of its first line\)"):
        read_signal(header)


@pytest.mark.parametrize("field, rate", [("360", 360.0), ("360/1", 360.0), ("360/1(0)", 360.0), ("128.5", 128.5)])
def test_header_rate_forms(tmp_path: Path, field: str, rate: float) -> None:
    assert read_signal(_record(tmp_path, field))[1] == rate


def test_header_rate_wins_over_the_callers_fs(tmp_path: Path) -> None:
    """One fs (the CLI's --fs) serves rate-less inputs given together with WFDB records that carry their own."""
    header = _record(tmp_path, "360")
    inputs = SignalInputs(SIGNAL_MANIFEST, ["signal"])
    np.testing.assert_array_equal(np.stack(inputs.items(header, fs=500.0)), np.stack(inputs.items(header)))


# ---- signals: values and files that claim too much ------------------------------------------------------------------

def test_npy_header_claiming_more_than_the_file_holds(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": "<f8", "fortran_order": False, "shape": (10**12,)})
    path = tmp_path / "liar.npy"
    path.write_bytes(buffer.getvalue() + bytes(80))
    with pytest.raises(InputError, match=r"liar.npy is cut short: its header describes \(1000000000000,\) float64 "
                                         r"values \(8,000,000,000,000 bytes\) and it holds 80 bytes"):
        read_signal(path)


def test_npy_reads_only_the_channel_asked_for(tmp_path: Path) -> None:
    data = np.random.default_rng(8).standard_normal((5000, 3))
    np.save(tmp_path / "three.npy", data)
    samples, fs = read_signal(tmp_path / "three.npy", channel=2)
    assert fs is None and samples.dtype == np.float32
    np.testing.assert_allclose(samples, data[:, 2].astype(np.float32))


def test_csv_that_is_not_utf8_or_has_no_samples(tmp_path: Path) -> None:
    (tmp_path / "latin.csv").write_bytes(b"\xe9cg\n0.1\n")
    with pytest.raises(InputError, match=r"latin.csv is not UTF-8 text \(byte 0: invalid continuation byte\)"):
        read_signal(tmp_path / "latin.csv")
    (tmp_path / "header.csv").write_text("ecg\n")
    with pytest.raises(InputError, match="header.csv has a header row but no samples"):
        read_signal(tmp_path / "header.csv")
    (tmp_path / "big.csv").write_text("0.1\n1e39\n")
    with pytest.raises(InputError, match=r"big.csv has 1 values beyond the float32 range \(first at sample 1: "
                                         r"1e\+39\)"):
        read_signal(tmp_path / "big.csv")


def test_samples_too_large_to_filter(tmp_path: Path) -> None:
    x = np.sin(np.arange(400) / 5.0)
    x[150] = 1e300
    with pytest.raises(InputError, match=r"signal has 1 samples larger in magnitude than 1e\+30 \(first at sample "
                                         r"150: 1e\+300\), which overflow the filters"):
        windows(x, 100, SIGNAL_SPEC)
    stream = SignalStream(SIGNAL_SPEC, 100)
    results = stream.push(x) + stream.flush()
    assert "non_finite" in [r.quality for r in results]
    assert all(np.isfinite(r.data).all() for r in results if r.ok)
