"""Image preprocessing for imaging artifacts, in numpy: read PNG/JPEG/DICOM frames, then resize, normalise and lay out.

The artifact's manifest records an `ImageSpec` (`{"type": "image", ...}` under "preprocessing"); the runtime applies
it as `preprocess(read_image(path, crop_to_region=spec.crop_to_region, value_scale=spec.value_scale), spec)`, so a
device feeds the model exactly what the toolchain evaluated.

pydicom and Pillow are the optional extra `[imaging]`: they are imported inside the readers, never at import time,
so a text-only install neither needs nor loads them. torch is never used here.

Conventions (the ones torchvision and PIL use, so a teacher's Python preprocessing and the device agree):
- Values: with `value_scale="source_range"` frames are float32 in [0, 1], divided by the largest value the source's
  bit depth holds (255 for 8-bit PNG/JPEG/DICOM, 65535 for 16-bit PNG, 2**BitsStored - 1 for DICOM, mapped through
  RescaleSlope/Intercept). `"raw"` keeps DICOM modality values (e.g. Hounsfield units) and PNG/JPEG integers.
- Resize: bilinear with half-pixel centres (`align_corners=False`): output pixel i samples input coordinate
  (i + 0.5) * in / out - 0.5. `antialias=False` equals `torch.nn.functional.interpolate(mode="bilinear",
  align_corners=False, antialias=False)`; `antialias=True` widens the triangle filter by the downscale factor, which
  equals `antialias=True` there, torchvision's default and PIL's `Image.resize(BILINEAR)` on float images.
- Grey from RGB uses ITU-R 601-2 luma (0.299 R + 0.587 G + 0.114 B), as PIL's `convert("L")`; RGB from grey repeats it.
"""

from __future__ import annotations

import dataclasses
import importlib
from pathlib import Path
from typing import Any, ClassVar, Iterator, Mapping, Sequence

import numpy as np

from hfm_runtime.errors import ArtifactError, InputError

LAYOUTS = ("NCHW", "NHWC")
RESIZES = ("bilinear", "none")
VALUE_SCALES = ("source_range", "raw")
PILLOW_FORMATS = ("PNG", "JPEG")
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
INSTALL_HINT = "pip install hfm-compress[imaging]"
# Ultrasound RegionSpatialFormat 1 is a 2D tissue image; others are M-mode, spectral Doppler, waveforms.
US_REGION_2D = 1


@dataclasses.dataclass(frozen=True)
class ImageSpec:
    """How an imaging model wants its input, as recorded in the artifact manifest.

    `mean` and `std` hold one value per channel, or one value for all channels. `resize="none"` makes a frame of
    another size an error instead of resampling it (for models whose pixels have a physical size).
    """

    height: int
    width: int
    channels: int = 3
    layout: str = "NCHW"
    mean: tuple[float, ...] = (0.0,)
    std: tuple[float, ...] = (1.0,)
    resize: str = "bilinear"
    antialias: bool = True
    value_scale: str = "source_range"
    crop_to_region: bool = True

    TYPE: ClassVar[str] = "image"
    VERSION: ClassVar[int] = 1

    def __post_init__(self) -> None:
        for name in ("height", "width"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise InputError(f"image spec {name} = {value!r}; expected a whole number >= 1")
        if self.channels not in (1, 3) or isinstance(self.channels, bool):
            raise InputError(f"image spec channels = {self.channels!r}; expected 1 (grey) or 3 (RGB)")
        _check_choice("image spec layout", self.layout, LAYOUTS)
        _check_choice("image spec resize", self.resize, RESIZES)
        _check_choice("image spec value_scale", self.value_scale, VALUE_SCALES)
        for name in ("antialias", "crop_to_region"):
            if not isinstance(getattr(self, name), bool):
                raise InputError(f"image spec {name} = {getattr(self, name)!r}; expected true or false")
        for name in ("mean", "std"):
            object.__setattr__(self, name, _per_channel(name, getattr(self, name), self.channels))
        if min(self.std) <= 0:
            raise InputError(f"image spec std = {self.std}; expected numbers > 0")

    def to_dict(self) -> dict[str, Any]:
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return {"type": self.TYPE, "version": self.VERSION, **fields, "mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ImageSpec":
        """Rebuild from `to_dict()` as read from a manifest; anything unexpected is an ArtifactError that names it."""
        if not isinstance(data, Mapping) or data.get("type") != cls.TYPE:
            found = data.get("type") if isinstance(data, Mapping) else type(data).__name__
            raise ArtifactError(f"preprocessing spec has type {found!r}; expected type {cls.TYPE!r}")
        if data.get("version", cls.VERSION) != cls.VERSION:
            raise ArtifactError(f"image preprocessing spec has version {data.get('version')!r}; this runtime reads "
                                f"version {cls.VERSION}")
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k not in ("type", "version")}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ArtifactError(f"image preprocessing spec has unknown fields {unknown}; expected {sorted(known)}")
        try:
            return cls(**values)
        except (InputError, TypeError) as exc:
            raise ArtifactError(f"image preprocessing spec in the manifest is invalid: {exc}") from None


def read_image(path: str | Path, *, crop_to_region: bool = True, value_scale: str = "source_range") -> list[np.ndarray]:
    """Decode a PNG, JPEG or DICOM file into frames: (H, W) grey or (H, W, 3) RGB float32, one per frame.

    A DICOM cine gives one frame per image in it. The format is told by the file's signature, not its name.
    With `crop_to_region`, an ultrasound DICOM is cropped to its first 2D region (SequenceOfUltrasoundRegions), so
    the frame holds the scan and not the scanner's text and graphics around it.
    """
    _check_choice("read_image value_scale", value_scale, VALUE_SCALES)
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such image file; expected a PNG, JPEG or DICOM file")
    with path.open("rb") as handle:
        head = handle.read(132)
    if head[128:132] == b"DICM":
        return _read_dicom(path, crop_to_region, value_scale)
    if head.startswith(b"\x89PNG\r\n\x1a\n") or head.startswith(b"\xff\xd8\xff"):
        return [_read_pillow(path, value_scale)]
    raise InputError(f"{path}: not a PNG, JPEG or DICOM file (no PNG or JPEG signature and no 'DICM' at byte 128); "
                     "expected an image file")


def preprocess(frames: Sequence[np.ndarray], spec: ImageSpec) -> np.ndarray:
    """Frames (H, W), (H, W, 1) or (H, W, 3) -> one float32 batch in `spec.layout`, resized and normalised.

    Under `value_scale="source_range"`, uint8 frames are divided by 255 and uint16 by 65535, and float frames are
    taken as already in [0, 1] (what `read_image` returns); under "raw" values are used as given.
    """
    if not isinstance(frames, (list, tuple)) or not frames:
        raise InputError(f"frames is {'an empty list' if isinstance(frames, (list, tuple)) else type(frames).__name__}"
                         "; expected a non-empty list of image arrays")
    batch = np.empty((len(frames), spec.channels, spec.height, spec.width), dtype=np.float32)
    for index, frame in enumerate(frames):
        planes = _as_channels(_as_float(frame, index, spec.value_scale), spec.channels)
        batch[index] = _fit_size(planes, index, spec)
    mean = np.asarray(spec.mean, dtype=np.float32).reshape(-1, 1, 1)
    std = np.asarray(spec.std, dtype=np.float32).reshape(-1, 1, 1)
    batch = (batch - mean) / std
    if not np.isfinite(batch).all():
        bad = int(np.flatnonzero(~np.isfinite(batch).reshape(len(frames), -1).all(axis=1))[0])
        raise InputError(f"frame {bad} holds NaN or infinite values; expected finite pixel values")
    return np.ascontiguousarray(batch.transpose(0, 2, 3, 1)) if spec.layout == "NHWC" else batch


def resize_bilinear(planes: np.ndarray, height: int, width: int, antialias: bool = True) -> np.ndarray:
    """Resize (C, H, W) float planes to (C, height, width); see the module docstring for the exact convention.

    Separable: each output pixel is a weighted sum of a few input taps along each axis (2 without antialiasing),
    so a 640x480 frame costs a few milliseconds rather than a dense matrix product.
    """
    planes = np.asarray(planes, dtype=np.float32)
    row_index, row_weight = _resize_taps(planes.shape[1], height, antialias)
    col_index, col_weight = _resize_taps(planes.shape[2], width, antialias)
    rows = np.einsum("chtw,ht->chw", planes[:, row_index, :], row_weight)
    return np.einsum("chwt,wt->chw", rows[:, :, col_index], col_weight).astype(np.float32)


def _resize_taps(size_in: int, size_out: int, antialias: bool) -> tuple[np.ndarray, np.ndarray]:
    """Input indices and weights, each (size_out, taps), of one axis; weights of a row sum to 1."""
    out = np.arange(size_out)
    if not antialias:
        # torch's kernel, in float32 as it computes: source = scale * (i + 0.5) - 0.5, clamped to the first pixel.
        scale = np.float32(size_in) / np.float32(size_out)
        source = np.maximum(scale * (out.astype(np.float32) + np.float32(0.5)) - np.float32(0.5), np.float32(0))
        low = np.minimum(source.astype(np.int64), size_in - 1)
        frac = np.clip(source - low.astype(np.float32), np.float32(0), np.float32(1))
        index = np.stack([low, np.minimum(low + 1, size_in - 1)], axis=1)
        return index, np.stack([np.float32(1) - frac, frac], axis=1)
    # PIL's and torch's antialiased bilinear: a triangle of half-width max(scale, 1) around each output centre.
    scale = size_in / size_out
    support = max(scale, 1.0)
    centre = (out + 0.5) * scale
    first = np.maximum((centre - support + 0.5).astype(np.int64), 0)
    last = np.minimum((centre + support + 0.5).astype(np.int64), size_in)
    index = first[:, None] + np.arange(int((last - first).max()))[None, :]
    tent = np.clip(1.0 - np.abs((index - centre[:, None] + 0.5) / support), 0.0, None)
    tent[index >= last[:, None]] = 0.0
    tent /= tent.sum(axis=1, keepdims=True)
    return np.minimum(index, size_in - 1), tent.astype(np.float32)


def _as_float(frame: Any, index: int, value_scale: str) -> np.ndarray:
    if not isinstance(frame, np.ndarray):
        raise InputError(f"frame {index} is a {type(frame).__name__}; expected a numpy array (H, W) or (H, W, C)")
    if frame.ndim not in (2, 3) or (frame.ndim == 3 and frame.shape[2] not in (1, 3)) or 0 in frame.shape:
        raise InputError(f"frame {index} has shape {frame.shape}; expected (H, W), (H, W, 1) or (H, W, 3)")
    if value_scale == "raw" and (frame.dtype.kind in "fiu"):
        return frame.astype(np.float32)
    if frame.dtype == np.uint8:
        return frame.astype(np.float32) / 255.0
    if frame.dtype == np.uint16:
        return frame.astype(np.float32) / 65535.0
    if frame.dtype.kind == "f":
        return frame.astype(np.float32)
    raise InputError(f"frame {index} has dtype {frame.dtype}; expected uint8, uint16 or float values in [0, 1]")


def _as_channels(frame: np.ndarray, channels: int) -> np.ndarray:
    """(H, W[, C]) -> (channels, H, W): repeat grey into RGB, or take RGB's luma as grey."""
    planes = frame[None] if frame.ndim == 2 else frame.transpose(2, 0, 1)
    if planes.shape[0] == channels:
        return planes
    if channels == 3:
        return np.repeat(planes, 3, axis=0)
    return np.tensordot(LUMA, planes, axes=1)[None]


def _fit_size(planes: np.ndarray, index: int, spec: ImageSpec) -> np.ndarray:
    height, width = planes.shape[1:]
    if (height, width) == (spec.height, spec.width):
        return planes
    if spec.resize == "none":
        raise InputError(f"frame {index} is {height}x{width} (HxW); this model needs {spec.height}x{spec.width} "
                         "and its preprocessing does not resize")
    return resize_bilinear(planes, spec.height, spec.width, spec.antialias)


def _per_channel(name: str, value: Any, channels: int) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in np.atleast_1d(np.asarray(value, dtype=np.float64)))
    except (TypeError, ValueError):
        values = ()
    if len(values) not in (1, channels) or not all(np.isfinite(values)):
        raise InputError(f"image spec {name} = {value!r}; expected 1 or {channels} finite numbers")
    return values


def _check_choice(name: str, value: Any, choices: Sequence[str]) -> None:
    if value not in choices:
        raise InputError(f"{name} = {value!r}; expected one of {', '.join(choices)}")


def _optional(module: str, package: str, path: Path, what: str) -> Any:
    """Import an `[imaging]` dependency when a file needs it, with the install command if it is missing."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise InputError(f"{path}: reading {what} needs {package}, which is not installed; {INSTALL_HINT}") from None


# ---- PNG / JPEG ----------------------------------------------------------------------------------------------------

def _read_pillow(path: Path, value_scale: str) -> np.ndarray:
    image_module = _optional("PIL.Image", "Pillow", path, "PNG/JPEG")
    try:
        with image_module.open(path) as image:
            if image.format not in PILLOW_FORMATS:
                raise InputError(f"{path}: is a {image.format} image; expected PNG, JPEG or DICOM")
            image.load()
            array, top = _pillow_array(image)
    except InputError:
        raise
    except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError ... for damaged files
        raise InputError(f"{path}: cannot be decoded as PNG/JPEG ({_one_line(exc)}); expected a valid PNG or JPEG "
                         "file") from None
    return array if value_scale == "raw" else array / np.float32(top)


def _pillow_array(image: Any) -> tuple[np.ndarray, int]:
    """(H, W) or (H, W, 3) float32 and the largest value the mode holds; alpha and palettes are flattened."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):  # 16-bit grey PNG
        return np.asarray(image, dtype=np.float32), 65535
    if image.mode in ("L", "1", "LA"):
        return np.asarray(image.convert("L"), dtype=np.float32), 255
    return np.asarray(image.convert("RGB"), dtype=np.float32), 255


# ---- DICOM ---------------------------------------------------------------------------------------------------------

def _read_dicom(path: Path, crop_to_region: bool, value_scale: str) -> list[np.ndarray]:
    pydicom = _optional("pydicom", "pydicom", path, "DICOM")
    pixels = _optional("pydicom.pixels", "pydicom >= 3", path, "DICOM pixel data")
    ds = _open_dicom(pydicom, path, value_scale)
    _check_decoder(ds, path, pixels)
    region = _us_region(ds, path) if crop_to_region else None
    try:
        frames = list(_dicom_frames(ds, pixels, value_scale))
    except InputError:
        raise
    except Exception as exc:  # each decoder plugin raises its own errors for damaged or unreadable data
        syntax = ds.file_meta.TransferSyntaxUID
        raise InputError(f"{path}: pixel data ({syntax.name}) cannot be decoded ({_one_line(exc)}); "
                         f"expected a complete image readable by pydicom{_decoder_hint(pixels, syntax)}") from None
    return frames if region is None else [frame[region] for frame in frames]


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


def _uid_name(uid: Any) -> str:
    if uid is None:
        return "unknown"
    name = getattr(uid, "name", "")
    return f"{name} ({uid})" if name and name != str(uid) else str(uid)


def _one_line(exc: BaseException, limit: int = 300) -> str:
    """A library's (often multi-line) message folded onto one line, so the CLI still prints one line."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."
