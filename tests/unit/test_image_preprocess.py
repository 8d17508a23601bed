"""Runtime image preprocessing: DICOM/PNG/JPEG reading on real files, clear errors, and numpy resize vs a reference.

The DICOM files are pydicom's own test data (real CT, MR and ultrasound exports). All the ones used here decode
with pydicom and Pillow alone; files that need extra decoders are used only to check the error that names them.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hfm_runtime.errors import ArtifactError, InputError
from hfm_runtime.preprocess.image import ImageSpec, preprocess, read_image, resize_bilinear

pydicom = pytest.importorskip("pydicom")  # the [imaging] extra; installed in the dev environment
from PIL import Image  # noqa: E402
from pydicom.data import get_testdata_file  # noqa: E402
from pydicom.pixels import get_decoder  # noqa: E402
from pydicom.uid import JPEGLSLossless  # noqa: E402


def dicom(name: str) -> str:
    path = get_testdata_file(name)
    assert path is not None, f"pydicom test file {name} is missing"
    return str(path)


def _rewrite(name: str, tmp_path: Path, **changes) -> Path:
    """A copy of a pydicom test file with some elements changed (a value of None deletes the element)."""
    ds = pydicom.dcmread(dicom(name))
    for keyword, value in changes.items():
        if value is None:
            delattr(ds, keyword)
        else:
            setattr(ds, keyword, value)
    out = tmp_path / f"changed-{name}"
    ds.save_as(out, enforce_file_format=True)
    return out


# ---- import hygiene and the spec ------------------------------------------------------------------------------------

def test_module_imports_no_torch_pillow_or_pydicom() -> None:
    script = ("import sys, hfm_runtime.preprocess.image; "
              "print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'PIL', 'pydicom'))))")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


def test_spec_round_trips_through_json() -> None:
    spec = ImageSpec(224, 192, channels=3, mean=[0.485, 0.456, 0.406], std=(0.229, 0.224, 0.225), antialias=False)
    data = json.loads(json.dumps(spec.to_dict()))
    assert data["type"] == "image" and data["layout"] == "NCHW" and data["resize"] == "bilinear"
    assert ImageSpec.from_dict(data) == spec
    assert ImageSpec(128, 128, channels=1).mean == (0.0,)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"channels": 2}, "channels = 2; expected 1 .grey. or 3 .RGB."),
        ({"height": 0}, "height = 0; expected a whole number >= 1"),
        ({"mean": (0.5, 0.5)}, r"mean = \(0.5, 0.5\); expected 1 or 3 finite numbers"),
        ({"mean": "imagenet"}, r"mean = 'imagenet'; expected 1 or 3 finite numbers"),
        ({"std": (0.0,)}, r"std = \(0.0,\); expected numbers > 0"),
        ({"antialias": "yes"}, r"antialias = 'yes'; expected true or false"),
        ({"layout": "CHW"}, "layout = 'CHW'; expected one of NCHW, NHWC"),
        ({"resize": "bicubic"}, "resize = 'bicubic'; expected one of bilinear, none"),
    ],
)
def test_bad_spec_values_are_named(kwargs: dict, message: str) -> None:
    with pytest.raises(InputError, match=message):
        ImageSpec(**{"height": 64, "width": 64, **kwargs})


def test_bad_manifest_spec_is_an_artifact_error() -> None:
    good = ImageSpec(64, 64).to_dict()
    with pytest.raises(ArtifactError, match=r"unknown fields \['interpolation'\]"):
        ImageSpec.from_dict({**good, "interpolation": "nearest"})
    with pytest.raises(ArtifactError, match="preprocessing spec has type 'text'; expected type 'image'"):
        ImageSpec.from_dict({**good, "type": "text"})
    with pytest.raises(ArtifactError, match="invalid: image spec channels = 4"):
        ImageSpec.from_dict({**good, "channels": 4})


# ---- DICOM on pydicom's real test files -----------------------------------------------------------------------------

@pytest.mark.parametrize("name, shape", [("CT_small.dcm", (128, 128)), ("MR_small.dcm", (64, 64))])
def test_single_frame_grey_dicom(name: str, shape: tuple) -> None:
    ds = pydicom.dcmread(dicom(name))
    (frame,) = read_image(dicom(name))
    assert frame.shape == shape and frame.dtype == np.float32
    assert 0.0 <= frame.min() < frame.max() <= 1.0
    (raw,) = read_image(dicom(name), value_scale="raw")
    slope, intercept = float(ds.get("RescaleSlope", 1)), float(ds.get("RescaleIntercept", 0))
    np.testing.assert_allclose(raw, ds.pixel_array * slope + intercept)
    # source_range divides by what the bit depth holds: signed 16-bit here, through the rescale.
    low = -(2 ** (ds.BitsStored - 1)) * slope + intercept
    np.testing.assert_allclose(frame, (raw - low) / ((2**ds.BitsStored - 1) * slope), rtol=1e-6)


def test_monochrome1_is_inverted(tmp_path: Path) -> None:
    (normal,) = read_image(dicom("MR_small.dcm"))
    (inverted,) = read_image(_rewrite("MR_small.dcm", tmp_path, PhotometricInterpretation="MONOCHROME1"))
    np.testing.assert_allclose(inverted, 1.0 - normal, atol=1e-6)


@pytest.mark.parametrize(
    "name, frames, shape",
    [
        ("examples_ybr_color.dcm", 30, (240, 320, 3)),  # ultrasound cine, JPEG baseline YBR_FULL_422
        ("SC_rgb_rle_2frame.dcm", 2, (100, 100, 3)),  # RLE lossless RGB
        ("rtdose.dcm", 15, (10, 10)),  # 32-bit grey
    ],
)
def test_multi_frame_dicom_gives_one_input_per_frame(name: str, frames: int, shape: tuple) -> None:
    result = read_image(dicom(name), crop_to_region=False)
    assert len(result) == frames
    assert all(f.shape == shape and f.dtype == np.float32 for f in result)
    assert not np.array_equal(result[0], result[-1]) or name == "SC_rgb_rle_2frame.dcm"


def test_colour_ultrasound_cine_is_rgb() -> None:
    frames = read_image(dicom("examples_ybr_color.dcm"), crop_to_region=False)
    expected = pydicom.dcmread(dicom("examples_ybr_color.dcm")).pixel_array[7] / 255.0  # pydicom converts to RGB
    np.testing.assert_allclose(frames[7], expected, atol=1e-6)
    channels = frames[7].reshape(-1, 3)
    assert np.abs(channels[:, 0] - channels[:, 2]).max() > 0.1  # real colour (Doppler), not grey in three planes
    batch = preprocess(frames[:4], ImageSpec(128, 128, channels=3))
    assert batch.shape == (4, 3, 128, 128)


@pytest.mark.parametrize("name", ["SC_ybr_full_422_uncompressed.dcm", "SC_rgb_jpeg_dcmtk.dcm", "SC_rgb_gdcm_KY.dcm"])
def test_ycbcr_and_jpeg2000_colour_match_the_lossless_rgb(name: str) -> None:
    """The same picture stored as YBR_FULL_422, JPEG (YBR) and JPEG 2000 reads back as the RGB of the RLE copy."""
    (reference,) = read_image(dicom("SC_rgb_rle.dcm"))
    (frame,) = read_image(dicom(name))
    assert frame.shape == (100, 100, 3)
    assert np.abs(frame - reference).mean() < 0.005


def test_palette_colour_ultrasound_is_rgb() -> None:
    (frame,) = read_image(dicom("examples_palette.dcm"), crop_to_region=False)
    assert frame.shape == (350, 800, 3) and 0.0 <= frame.min() and frame.max() <= 1.0


def test_ultrasound_region_crop(tmp_path: Path) -> None:
    from pydicom.dataset import Dataset

    region = Dataset()
    region.RegionSpatialFormat = 1
    region.RegionLocationMinX0, region.RegionLocationMinY0 = 10, 20
    region.RegionLocationMaxX1, region.RegionLocationMaxY1 = 109, 219
    doppler = Dataset()  # a spectral region listed first: the 2D tissue region is the one to crop to
    doppler.RegionSpatialFormat = 4
    doppler.RegionLocationMinX0, doppler.RegionLocationMinY0 = 0, 0
    doppler.RegionLocationMaxX1, doppler.RegionLocationMaxY1 = 5, 5
    path = _rewrite("examples_rgb_color.dcm", tmp_path,
                    SequenceOfUltrasoundRegions=pydicom.Sequence([doppler, region]))
    (full,) = read_image(dicom("examples_rgb_color.dcm"))
    (cropped,) = read_image(path)
    assert cropped.shape == (200, 100, 3)
    np.testing.assert_array_equal(cropped, full[20:220, 10:110])
    (uncropped,) = read_image(path, crop_to_region=False)
    assert uncropped.shape == full.shape


def test_region_outside_the_frame_is_refused() -> None:
    """pydicom's cine carries the region of the 640x480 original on a 320x240 copy: cropping would be wrong."""
    with pytest.raises(InputError, match=r"region \(84, 31\)-\(595, 414\) lies outside the 320x240 \(WxH\) frame"):
        read_image(dicom("examples_ybr_color.dcm"))


def test_dicom_without_pixel_data(tmp_path: Path) -> None:
    path = _rewrite("MR_small.dcm", tmp_path, PixelData=None)
    with pytest.raises(InputError, match=r"changed-MR_small.dcm: DICOM file has no pixel data \(modality MR, "
                                         r"SOP class MR Image Storage .*\); expected an image"):
        read_image(path)


def test_transfer_syntax_without_an_installed_decoder() -> None:
    path = dicom("MR_small_jpeg_ls_lossless.dcm")
    if get_decoder(JPEGLSLossless).is_available:  # an environment with pylibjpeg/gdcm/pyjpegls reads it
        assert read_image(path)[0].shape == (64, 64)
        return
    with pytest.raises(InputError, match=r"transfer syntax JPEG-LS Lossless Image Compression \(1.2.840.10008.1.2.4.80"
                                         r"\) needs a decoder that is not installed; install one of: .*pylibjpeg"):
        read_image(path)


def test_unknown_transfer_syntax(tmp_path: Path) -> None:
    ds = pydicom.dcmread(dicom("MR_small.dcm"))
    ds.file_meta.TransferSyntaxUID = "1.2.826.0.1.3680043.99.1"
    path = tmp_path / "private-syntax.dcm"
    ds.save_as(path)
    with pytest.raises(InputError, match=r"transfer syntax 1.2.826.0.1.3680043.99.1 is not supported"):
        read_image(path)


def test_truncated_pixel_data() -> None:
    with pytest.raises(InputError, match=r"MR_truncated.dcm: pixel data \(Explicit VR Little Endian\) cannot be "
                                         r"decoded \(The number of bytes of pixel data is less than expected"):
        read_image(dicom("MR_truncated.dcm"))


def test_missing_imaging_extra_names_the_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pydicom", None)  # import pydicom now fails as if not installed
    with pytest.raises(InputError, match=r"reading DICOM needs pydicom, which is not installed; "
                                         r"pip install hfm-compress\[imaging\]"):
        read_image(dicom("MR_small.dcm"))


# ---- PNG / JPEG and bad files --------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["L", "RGB", "I;16", "RGBA"])
def test_png_round_trip(mode: str, tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    if mode == "I;16":
        pixels, top = rng.integers(0, 65536, (40, 30), dtype=np.uint16), 65535
    else:
        pixels, top = rng.integers(0, 256, {"L": (40, 30), "RGB": (40, 30, 3), "RGBA": (40, 30, 4)}[mode],
                                   dtype=np.uint8), 255
    path = tmp_path / "frame.png"
    image = Image.fromarray(pixels)  # Pillow picks L, RGB, RGBA or I;16 from the array
    assert image.mode == mode
    image.save(path)
    (frame,) = read_image(path)
    expected = pixels[..., :3] if mode == "RGBA" else pixels  # alpha is dropped
    np.testing.assert_allclose(frame, expected / top, atol=1e-7)
    assert frame.dtype == np.float32


def test_jpeg_round_trip(tmp_path: Path) -> None:
    gradient = np.linspace(0, 255, 64 * 48 * 3).reshape(48, 64, 3).astype(np.uint8)
    path = tmp_path / "frame.jpeg"
    Image.fromarray(gradient).save(path, quality=95)
    (frame,) = read_image(path)
    assert frame.shape == (48, 64, 3)
    assert np.abs(frame - gradient / 255.0).mean() < 0.01  # lossy, but close


@pytest.mark.parametrize(
    "content, message",
    [
        (b"patient: chest pain\n" * 20, r"not a PNG, JPEG or DICOM file .*; expected an image file"),
        (b"GIF89a" + bytes(200), r"not a PNG, JPEG or DICOM file"),
        (b"\x89PNG\r\n\x1a\n" + bytes(40), r"cannot be decoded as PNG/JPEG .*; expected a valid PNG or JPEG file"),
    ],
)
def test_non_image_files(content: bytes, message: str, tmp_path: Path) -> None:
    path = tmp_path / "input.png"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        read_image(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"missing.dcm: no such image file"):
        read_image(tmp_path / "missing.dcm")


# ---- preprocess -----------------------------------------------------------------------------------------------------

def test_channels_normalisation_and_layout() -> None:
    rng = np.random.default_rng(2)
    grey = rng.random((32, 32), dtype=np.float32)
    rgb = rng.random((32, 32, 3), dtype=np.float32)
    spec = ImageSpec(32, 32, channels=3, mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.5))
    batch = preprocess([grey, rgb], spec)
    assert batch.shape == (2, 3, 32, 32) and batch.dtype == np.float32
    np.testing.assert_allclose(batch[0, 1], (grey - 0.4) / 0.25, rtol=1e-6)  # grey repeated into every channel
    np.testing.assert_allclose(batch[1, 2], (rgb[..., 2] - 0.3) / 0.5, rtol=1e-6)
    nhwc = preprocess([grey, rgb], ImageSpec(32, 32, layout="NHWC", mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.5)))
    np.testing.assert_array_equal(nhwc, batch.transpose(0, 2, 3, 1))


def test_rgb_to_grey_matches_pillow() -> None:
    rgb = np.random.default_rng(3).integers(0, 256, (20, 24, 3), dtype=np.uint8)
    (grey,) = preprocess([rgb], ImageSpec(20, 24, channels=1))[:, 0]
    pillow = np.asarray(Image.fromarray(rgb).convert("L"), dtype=np.float32) / 255.0
    assert np.abs(grey - pillow).max() <= 0.5 / 255 + 1e-6  # Pillow rounds to uint8


def test_integer_frames_are_scaled_by_their_range() -> None:
    spec = ImageSpec(2, 2, channels=1)
    batch = preprocess([np.full((2, 2), 255, np.uint8), np.full((2, 2), 65535, np.uint16)], spec)
    np.testing.assert_allclose(batch, 1.0)
    raw = preprocess([np.full((2, 2), 40, np.int16)], ImageSpec(2, 2, channels=1, value_scale="raw"))
    np.testing.assert_allclose(raw, 40.0)


def test_wrong_size_without_resizing_is_refused() -> None:
    spec = ImageSpec(128, 128, channels=1, resize="none")
    assert preprocess([np.zeros((128, 128), np.float32)], spec).shape == (1, 1, 128, 128)
    with pytest.raises(InputError, match=r"frame 1 is 240x320 \(HxW\); this model needs 128x128 and its "
                                         r"preprocessing does not resize"):
        preprocess([np.zeros((128, 128), np.float32), np.zeros((240, 320), np.float32)], spec)


@pytest.mark.parametrize(
    "frames, message",
    [
        ([], "frames is an empty list; expected a non-empty list of image arrays"),
        (np.zeros((2, 8, 8)), "frames is ndarray; expected a non-empty list of image arrays"),
        (["scan.png"], r"frame 0 is a str; expected a numpy array"),
        ([np.zeros((8, 8, 4))], r"frame 0 has shape \(8, 8, 4\); expected \(H, W\), \(H, W, 1\) or \(H, W, 3\)"),
        ([np.zeros((8, 8), np.int32)], "frame 0 has dtype int32; expected uint8, uint16 or float values in"),
        ([np.zeros((8, 8)), np.full((8, 8), np.nan)], "frame 1 holds NaN or infinite values"),
    ],
)
def test_bad_frames_are_named(frames, message: str) -> None:
    with pytest.raises(InputError, match=message):
        preprocess(frames, ImageSpec(8, 8, channels=1))


# ---- resize against the references --------------------------------------------------------------------------------

def _torch_resize(planes: np.ndarray, height: int, width: int, antialias: bool) -> np.ndarray:
    torch = pytest.importorskip("torch")
    tensor = torch.from_numpy(np.ascontiguousarray(planes, dtype=np.float32))[None]
    resized = torch.nn.functional.interpolate(tensor, size=(height, width), mode="bilinear", align_corners=False,
                                              antialias=antialias)
    return resized[0].numpy()


def _test_images() -> list[np.ndarray]:
    """(C, H, W) planes: a CT slice, a colour ultrasound frame, a phantom, and noise of awkward sizes."""
    ct = read_image(dicom("CT_small.dcm"), value_scale="raw")[0]
    ultrasound = read_image(dicom("examples_rgb_color.dcm"))[0].transpose(2, 0, 1)
    from hfm_compress.synth.ultrasound import generate

    phantom = generate("cyst", 0).image
    noise = np.random.default_rng(4).random((2, 37, 53), dtype=np.float32)
    return [((ct - ct.mean()) / ct.std())[None], ultrasound, phantom[None], noise]


@pytest.mark.parametrize("antialias", [False, True])
@pytest.mark.parametrize("size", [(224, 224), (96, 80), (17, 130)])
def test_resize_matches_torch_interpolate(size: tuple, antialias: bool) -> None:
    for planes in _test_images():
        expected = _torch_resize(planes, *size, antialias=antialias)
        actual = resize_bilinear(planes, *size, antialias=antialias)
        assert actual.shape == expected.shape
        assert np.abs(actual - expected).max() < 1e-4, (planes.shape, size)


def test_antialiased_resize_matches_pillow() -> None:
    frame = read_image(dicom("MR_small.dcm"))[0]
    for height, width in [(32, 48), (100, 90)]:
        pillow = np.asarray(Image.fromarray(frame, mode="F").resize((width, height), Image.Resampling.BILINEAR))
        assert np.abs(resize_bilinear(frame[None], height, width)[0] - pillow).max() < 1e-5


def test_dicom_to_batch_matches_a_torch_pipeline() -> None:
    """read_image + preprocess == the usual torch preprocessing (resize, then normalise) on a real ultrasound file."""
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    spec = ImageSpec(128, 128, channels=3, mean=mean, std=std, antialias=False)
    batch = preprocess(read_image(dicom("examples_rgb_color.dcm")), spec)
    rgb = pydicom.dcmread(dicom("examples_rgb_color.dcm")).pixel_array.transpose(2, 0, 1) / 255.0
    resized = _torch_resize(rgb, 128, 128, antialias=False)
    expected = (resized - np.reshape(mean, (3, 1, 1))) / np.reshape(std, (3, 1, 1))
    assert np.abs(batch[0] - expected).max() < 1e-4
