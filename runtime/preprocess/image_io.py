"""Reading imaging inputs: PNG, JPEG and DICOM files decoded into float32 frames, with their size checked first.

`read_image(path, crop_to_region=spec.crop_to_region, value_scale=spec.value_scale)` gives the frames that
`image_dsp.preprocess` takes; `iter_frames` gives them one at a time.

pydicom and Pillow are the optional extra `[imaging]`: they are imported inside the readers, never at import time,
so a text-only install neither needs nor loads them. torch is never used here.

Values: with `value_scale="source_range"` frames are float32 in [0, 1], divided by the largest value the source's
bit depth holds (255 for 8-bit PNG/JPEG/DICOM, 65535 for 16-bit PNG, 2**BitsStored - 1 for DICOM, mapped through
RescaleSlope/Intercept). `"raw"` keeps DICOM modality values (e.g. Hounsfield units) and PNG/JPEG integers.

Memory: `max_decoded_bytes` bounds one decoded frame (as float32), checked from the file's header before any pixel
is decoded (Pillow's lazy `open` for PNG/JPEG, pydicom's `stop_before_pixels` for DICOM); `frame_limit(profile)`
derives it from a device profile's memory budget. `iter_frames` decodes a cine one frame at a time.
"""

from __future__ import annotations

import dataclasses
import importlib
import warnings
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from hfm_runtime.errors import InputError
from hfm_runtime.preprocess.image_spec import MB, VALUE_SCALES, check_choice

PILLOW_FORMATS = ("PNG", "JPEG")
INSTALL_HINT = "pip install hfm-compress[imaging]"
# Ultrasound RegionSpatialFormat 1 is a 2D tissue image; others are M-mode, spectral Doppler, waveforms.
US_REGION_2D = 1
PILLOW_16BIT_MODES = ("I;16", "I;16B", "I;16L", "I")  # 16-bit grey PNG
PILLOW_GREY_MODES = PILLOW_16BIT_MODES + ("L", "1", "LA")  # read as one plane; any other mode as RGB
# A frame's share of the profile's memory budget: while one frame is preprocessed it is held decoded, as float32 and
# channel-converted or resized next to it (about three copies), and the model's session needs the rest.
FRAME_SHARE_OF_MEMORY = 0.25


@dataclasses.dataclass(frozen=True)
class DecodeLimit:
    """The most bytes one decoded frame (as float32) may take, and where that number comes from, for the message."""

    max_bytes: int
    source: str

    @classmethod
    def of(cls, max_bytes: int | None, source: str | None) -> "DecodeLimit | None":
        if max_bytes is None:
            return None
        if not isinstance(max_bytes, (int, np.integer)) or isinstance(max_bytes, bool) or max_bytes < 1:
            raise InputError(f"max_decoded_bytes = {max_bytes!r}; expected a whole number of bytes >= 1, or None")
        return cls(int(max_bytes), source or f"max_decoded_bytes = {int(max_bytes):,}")

    def check(self, path: Path, width: int, height: int, channels: int, frames: int = 1, value_bytes: int = 4) -> None:
        """Refuse a frame whose decoded size exceeds the limit, from the sizes its header gives."""
        size = width * height * channels * value_bytes
        if size <= self.max_bytes:
            return
        colour = ", RGB" if channels == 3 else f", {channels} channels" if channels != 1 else ""
        what = f"is {width} x {height} pixels{colour}" if frames == 1 else \
            f"has {frames} frames of {width} x {height} pixels{colour}"
        each = "" if frames == 1 else " each"
        raise InputError(f"{path} {what} ({_mb(size)} MB{each} decoded as float{8 * value_bytes}); {self.source} "
                         f"allows one frame of at most {_mb(self.max_bytes)} MB; expected a smaller image")


def frame_limit(profile: Any) -> tuple[int, str]:
    """`max_decoded_bytes` and `limit_source` for `read_image`/`iter_frames`/`ImageInputs` from a device profile
    (anything with `name` and `memory_mb`): a quarter of its memory budget per frame (FRAME_SHARE_OF_MEMORY)."""
    limit = int(profile.memory_mb * MB * FRAME_SHARE_OF_MEMORY)
    return limit, f"the profile's memory budget (profile {profile.name} memory_mb {profile.memory_mb:g})"


def read_image(path: str | Path, *, crop_to_region: bool = True, value_scale: str = "source_range",
               max_decoded_bytes: int | None = None, limit_source: str | None = None) -> list[np.ndarray]:
    """Decode a PNG, JPEG or DICOM file into frames: (H, W) grey or (H, W, 3) RGB float32, one per frame.

    A DICOM cine gives one frame per image in it. The format is told by the file's signature, not its name.
    With `crop_to_region`, an ultrasound DICOM is cropped to its first 2D region (SequenceOfUltrasoundRegions), so
    the frame holds the scan and not the scanner's text and graphics around it.

    `max_decoded_bytes`: the most one frame may take decoded as float32 (height x width x channels x 4); a larger
    one is refused from the file's header, before decoding. `limit_source` says where the number comes from (e.g.
    "the profile's memory budget (profile clinic-cpu memory_mb 512)"), for the message. The limit is per frame:
    this list holds every frame of a cine, so use `iter_frames` to hold one at a time. Without a limit, Pillow's own
    decompression-bomb guard (PIL.Image.MAX_IMAGE_PIXELS) still refuses huge PNG/JPEG files.
    """
    return list(iter_frames(path, crop_to_region=crop_to_region, value_scale=value_scale,
                            max_decoded_bytes=max_decoded_bytes, limit_source=limit_source))


def iter_frames(path: str | Path, *, crop_to_region: bool = True, value_scale: str = "source_range",
                max_decoded_bytes: int | None = None, limit_source: str | None = None) -> Iterator[np.ndarray]:
    """`read_image`, one frame at a time: a cine's frames are decoded as they are taken, so one is held at once."""
    check_choice("read_image value_scale", value_scale, VALUE_SCALES)
    limit = DecodeLimit.of(max_decoded_bytes, limit_source)
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such image file; expected a PNG, JPEG or DICOM file")
    with path.open("rb") as handle:
        head = handle.read(132)
    if head[128:132] == b"DICM":
        yield from _read_dicom(path, crop_to_region, value_scale, limit)
    elif head.startswith(b"\x89PNG\r\n\x1a\n") or head.startswith(b"\xff\xd8\xff"):
        yield _read_pillow(path, value_scale, limit)
    else:
        raise InputError(f"{path}: not a PNG, JPEG or DICOM file (no PNG or JPEG signature and no 'DICM' at byte 128); "
                         "expected an image file")


def _optional(module: str, package: str, path: Path, what: str) -> Any:
    """Import an `[imaging]` dependency when a file needs it, with the install command if it is missing."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise InputError(f"{path}: reading {what} needs {package}, which is not installed; {INSTALL_HINT}") from None


# ---- PNG / JPEG ----------------------------------------------------------------------------------------------------

def _read_pillow(path: Path, value_scale: str, limit: DecodeLimit | None) -> np.ndarray:
    image_module = _optional("PIL.Image", "Pillow", path, "PNG/JPEG")
    bombs = (image_module.DecompressionBombError, image_module.DecompressionBombWarning)
    try:
        with warnings.catch_warnings():
            # Pillow warns above MAX_IMAGE_PIXELS (and raises above twice that). Without the caller's limit its
            # warning is the only guard, so it refuses the file; with one, the caller's limit decides.
            warnings.simplefilter("ignore" if limit else "error", image_module.DecompressionBombWarning)
            with image_module.open(path) as image:  # lazy: reads the header, decodes nothing yet
                if image.format not in PILLOW_FORMATS:
                    raise InputError(f"{path}: is a {image.format} image; expected PNG, JPEG or DICOM")
                if limit is not None:
                    limit.check(path, *image.size, channels=1 if image.mode in PILLOW_GREY_MODES else 3)
                image.load()
                array, top = _pillow_array(image)
    except InputError:
        raise
    except bombs as exc:
        raise InputError(f"{path}: {_one_line(exc)} (Pillow's decompression-bomb guard, PIL.Image.MAX_IMAGE_PIXELS = "
                         f"{image_module.MAX_IMAGE_PIXELS:,}); expected a smaller image") from None
    except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError ... for damaged files
        raise InputError(f"{path}: cannot be decoded as PNG/JPEG ({_one_line(exc)}); expected a valid PNG or JPEG "
                         "file") from None
    return array if value_scale == "raw" else array / np.float32(top)


def _pillow_array(image: Any) -> tuple[np.ndarray, int]:
    """(H, W) or (H, W, 3) float32 and the largest value the mode holds; alpha and palettes are flattened."""
    if image.mode in PILLOW_16BIT_MODES:
        return np.asarray(image, dtype=np.float32), 65535
    if image.mode in ("L", "1", "LA"):
        return np.asarray(image.convert("L"), dtype=np.float32), 255
    return np.asarray(image.convert("RGB"), dtype=np.float32), 255


# ---- DICOM ---------------------------------------------------------------------------------------------------------

def _read_dicom(path: Path, crop_to_region: bool, value_scale: str, limit: DecodeLimit | None) -> Iterator[np.ndarray]:
    pydicom = _optional("pydicom", "pydicom", path, "DICOM")
    pixels = _optional("pydicom.pixels", "pydicom >= 3", path, "DICOM pixel data")
    if limit is not None:
        _check_dicom_size(pydicom, path, limit)
    try:
        ds = _open_dicom(pydicom, path, value_scale)
        _check_decoder(ds, path, pixels)
        region = _us_region(ds, path) if crop_to_region else None
    except InputError:
        raise
    except Exception as exc:  # elements are parsed when first read: a damaged one fails here
        raise InputError(f"{path}: cannot be read as DICOM ({_one_line(exc)}); expected a valid DICOM file") from None
    try:
        for frame in _dicom_frames(ds, pixels, value_scale):
            yield frame if region is None else frame[region]
    except InputError:
        raise
    except Exception as exc:  # each decoder plugin raises its own errors for damaged or unreadable data
        syntax = ds.file_meta.TransferSyntaxUID
        raise InputError(f"{path}: pixel data ({syntax.name}) cannot be decoded ({_one_line(exc)}); "
                         f"expected a complete image readable by pydicom{_decoder_hint(pixels, syntax)}") from None


def _check_dicom_size(pydicom: Any, path: Path, limit: DecodeLimit) -> None:
    """Refuse a frame over the limit from the header alone (Rows, Columns, SamplesPerPixel, BitsAllocated,
    NumberOfFrames), read without the pixel data. A header that cannot be read is left to the full read to report."""
    try:
        header = pydicom.dcmread(path, stop_before_pixels=True)
        rows, columns = int(header.Rows), int(header.Columns)
        samples = int(header.get("SamplesPerPixel") or 1)
        bits = int(header.get("BitsAllocated") or 8)
        frames = int(header.get("NumberOfFrames") or 1)
        palette = str(header.get("PhotometricInterpretation", "")).upper() == "PALETTE COLOR"
    except Exception:  # noqa: BLE001 - missing or damaged elements: _open_dicom and the decoder say what is wrong
        return
    channels = 3 if palette else max(samples, 1)
    limit.check(path, max(columns, 0), max(rows, 0), channels, frames=max(frames, 1), value_bytes=max(4, bits // 8))


def _open_dicom(pydicom: Any, path: Path, value_scale: str) -> Any:
    try:
        ds = pydicom.dcmread(path)
    except Exception as exc:  # InvalidDicomError, EOFError, ValueError ...
        raise InputError(f"{path}: cannot be read as DICOM ({_one_line(exc)}); expected a valid DICOM file") from None
    if not any(tag in ds for tag in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
        raise InputError(f"{path}: DICOM file has no pixel data (modality {ds.get('Modality', '?')}, "
                         f"SOP class {_uid_name(ds.get('SOPClassUID'))}); expected an image")
    if value_scale == "source_range" and "PixelData" not in ds:
        raise InputError(f"{path}: float pixel data has no bit depth to scale by; expected value_scale='raw' for it")
    return ds


def _dicom_frames(ds: Any, pixels: Any, value_scale: str) -> Iterator[np.ndarray]:
    """Decode frame by frame: YCbCr -> RGB (pydicom's as_rgb), palette -> RGB, modality LUT, MONOCHROME1, scale."""
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).upper()
    low, high = _value_range(ds, pixels, photometric)
    for frame in pixels.iter_pixels(ds, as_rgb=True):
        if photometric == "PALETTE COLOR":
            frame = pixels.apply_color_lut(frame, ds)
        elif frame.ndim == 2:
            frame = pixels.apply_modality_lut(frame, ds)  # RescaleSlope/Intercept or a Modality LUT
        frame = np.asarray(frame, dtype=np.float32)
        if photometric == "MONOCHROME1":  # 0 is white: invert so that bright means more signal, as in MONOCHROME2
            frame = np.float32(low + high) - frame
        if value_scale == "source_range":
            frame = (frame - np.float32(low)) / np.float32(high - low)
        yield frame


def _check_decoder(ds: Any, path: Path, pixels: Any) -> None:
    """Refuse a transfer syntax that no installed decoder reads, naming it and what to install."""
    syntax = ds.file_meta.get("TransferSyntaxUID")
    if syntax is None:
        raise InputError(f"{path}: DICOM file meta has no Transfer Syntax UID (0002,0010); expected a conformant "
                         "DICOM Part 10 file")
    try:
        decoder = pixels.get_decoder(syntax)
    except NotImplementedError:
        raise InputError(f"{path}: transfer syntax {_uid_name(syntax)} is not supported; expected an uncompressed, "
                         "RLE, JPEG, JPEG-LS or JPEG 2000 DICOM") from None
    if not decoder.is_available:
        raise InputError(f"{path}: transfer syntax {_uid_name(syntax)} needs a decoder that is not installed; "
                         f"install one of: {'; '.join(decoder.missing_dependencies)}")


def _decoder_hint(pixels: Any, syntax: Any) -> str:
    if not syntax.is_compressed:
        return ""
    missing = pixels.get_decoder(syntax).missing_dependencies
    return f", or install another decoder: {'; '.join(missing)}" if missing else ""


def _value_range(ds: Any, pixels: Any, photometric: str) -> tuple[float, float]:
    """The smallest and largest value the frame can hold after the modality (or palette) lookup."""
    if photometric == "PALETTE COLOR":
        bits = int(ds.RedPaletteColorLookupTableDescriptor[2])
        return 0.0, float(2**bits - 1)
    bits = int(ds.get("BitsStored", ds.get("BitsAllocated", 8)))
    signed = int(ds.get("PixelRepresentation", 0)) == 1
    stored = np.array([-(2 ** (bits - 1)), 2 ** (bits - 1) - 1] if signed else [0, 2**bits - 1], dtype=np.float64)
    if photometric.startswith("MONOCHROME"):
        stored = np.asarray(pixels.apply_modality_lut(stored, ds), dtype=np.float64)
    low, high = float(stored.min()), float(stored.max())
    return (low, high) if high > low else (low, low + 1.0)


def _us_region(ds: Any, path: Path) -> tuple[slice, slice] | None:
    """Rows and columns of the first 2D ultrasound region (or the first region), or None without regions.

    DICOM's RegionLocationMaxX1/MaxY1 are inclusive; a writer that stores one past the last pixel is accepted.
    """
    regions = list(ds.get("SequenceOfUltrasoundRegions", []) or [])
    if not regions:
        return None
    region = next((r for r in regions if r.get("RegionSpatialFormat") == US_REGION_2D), regions[0])
    try:
        x0, y0 = int(region.RegionLocationMinX0), int(region.RegionLocationMinY0)
        x1, y1 = int(region.RegionLocationMaxX1), int(region.RegionLocationMaxY1)
    except AttributeError:
        raise InputError(f"{path}: ultrasound region lacks RegionLocationMinX0/MinY0/MaxX1/MaxY1; expected all four "
                         "(or read with crop_to_region=False)") from None
    rows, columns = int(ds.Rows), int(ds.Columns)
    if not (0 <= x0 <= x1 <= columns and 0 <= y0 <= y1 <= rows):
        raise InputError(f"{path}: ultrasound region ({x0}, {y0})-({x1}, {y1}) lies outside the {columns}x{rows} "
                         "(WxH) frame; expected a region inside the frame (or read with crop_to_region=False)")
    return slice(y0, min(y1 + 1, rows)), slice(x0, min(x1 + 1, columns))


def _mb(size: int) -> str:
    return f"{size / MB:,.0f}" if size >= 10 * MB else f"{size / MB:.3g}"


def _uid_name(uid: Any) -> str:
    if uid is None:
        return "unknown"
    name = getattr(uid, "name", "")
    return f"{name} ({uid})" if name and name != str(uid) else str(uid)


def _one_line(exc: BaseException, limit: int = 300) -> str:
    """A library's (often multi-line) message folded onto one line, so the CLI still prints one line."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."
