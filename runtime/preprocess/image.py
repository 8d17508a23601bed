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

Memory: `max_decoded_bytes` bounds one decoded frame (as float32), checked from the file's header before any pixel
is decoded (Pillow's lazy `open` for PNG/JPEG, pydicom's `stop_before_pixels` for DICOM); `frame_limit(profile)`
derives it from a device profile's memory budget. `iter_frames` decodes a cine one frame at a time, and the resize
works one axis at a time, gathering its taps in bounded blocks, so preprocessing holds a few copies of one frame.
"""

from __future__ import annotations

import dataclasses
import importlib
import warnings
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
PILLOW_16BIT_MODES = ("I;16", "I;16B", "I;16L", "I")  # 16-bit grey PNG
PILLOW_GREY_MODES = PILLOW_16BIT_MODES + ("L", "1", "LA")  # read as one plane; any other mode as RGB
MB = 2**20  # as runtime.memory and the profiles' memory_mb
# A frame's share of the profile's memory budget: while one frame is preprocessed it is held decoded, as float32 and
# channel-converted or resized next to it (about three copies), and the model's session needs the rest.
FRAME_SHARE_OF_MEMORY = 0.25
RESIZE_GATHER_BYTES = 16 * MB  # the resize gathers input taps in blocks of at most this (or one output row)


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
    _check_choice("read_image value_scale", value_scale, VALUE_SCALES)
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


def preprocess(frames: Sequence[np.ndarray], spec: ImageSpec) -> np.ndarray:
    """Frames (H, W), (H, W, 1) or (H, W, 3) -> one float32 batch in `spec.layout`, resized and normalised.

    Under `value_scale="source_range"`, uint8 frames are divided by 255 and uint16 by 65535, and float frames are
    taken as already in [0, 1] (what `read_image` returns); under "raw" values are used as given.
    """
    if not isinstance(frames, (list, tuple)) or not frames:
        raise InputError(f"frames is {'an empty list' if isinstance(frames, (list, tuple)) else type(frames).__name__}"
                         "; expected a non-empty list of image arrays")
    return np.stack([preprocess_frame(frame, spec, index) for index, frame in enumerate(frames)])


def preprocess_frame(frame: Any, spec: ImageSpec, index: int = 0) -> np.ndarray:
    """One frame of `preprocess`: (C, H, W) for NCHW, (H, W, C) for NHWC; `index` names the frame in errors.

    Channels are converted on the side that is smaller: RGB is reduced to grey before resizing, grey is resized
    as one plane and then repeated, so a large grey frame is never tripled at full size.
    """
    planes = _as_planes(_as_float(frame, index, spec.value_scale))
    if planes.shape[0] > spec.channels:
        planes = _luma(planes)
    out = np.empty((spec.channels, spec.height, spec.width), dtype=np.float32)
    out[...] = _fit_size(planes, index, spec)  # one plane broadcasts into every channel
    mean = np.asarray(spec.mean, dtype=np.float32).reshape(-1, 1, 1)
    std = np.asarray(spec.std, dtype=np.float32).reshape(-1, 1, 1)
    out = (out - mean) / std
    if not np.isfinite(out).all():
        raise InputError(f"frame {index} holds NaN or infinite values; expected finite pixel values")
    return np.ascontiguousarray(out.transpose(1, 2, 0)) if spec.layout == "NHWC" else out


def resize_bilinear(planes: np.ndarray, height: int, width: int, antialias: bool = True) -> np.ndarray:
    """Resize (C, H, W) float planes to (C, height, width); see the module docstring for the exact convention.

    Separable: one axis, then the other, each output pixel a weighted sum of a few input taps along it (2 without
    antialiasing), so a 640x480 frame costs a few milliseconds rather than a dense matrix product. Rows go first;
    columns go first when the rows-first intermediate would be both the larger and over RESIZE_GATHER_BYTES (a
    very wide frame), and each pass gathers its taps in bounded blocks.
    """
    planes = np.asarray(planes, dtype=np.float32)
    channels, size_h, size_w = planes.shape
    rows_first, columns_first = height * size_w, size_h * width  # values per plane between the two passes
    if rows_first <= columns_first or channels * rows_first * 4 <= RESIZE_GATHER_BYTES:
        return _resize_axis(_resize_axis(planes, 1, height, antialias), 2, width, antialias)
    return _resize_axis(_resize_axis(planes, 2, width, antialias), 1, height, antialias)


def _resize_axis(planes: np.ndarray, axis: int, size_out: int, antialias: bool) -> np.ndarray:
    """One pass of the separable resize along `axis` (1: rows, 2: columns) of (C, H, W).

    The taps of a block of output rows (columns) are gathered and summed together; blocks keep that gather under
    RESIZE_GATHER_BYTES, where gathering every output's taps at once would hold (output pixels x taps) values,
    about twice the input for a large downscale (a 13000-row frame to 224 rows has 117 taps per row).
    """
    if planes.shape[axis] == size_out:
        return planes
    index, weight = _resize_taps(planes.shape[axis], size_out, antialias)
    out_shape = list(planes.shape)
    out_shape[axis] = size_out
    out = np.empty(out_shape, dtype=np.float32)
    per_output = index.shape[1] * planes.size // planes.shape[axis] * 4  # bytes gathered for one output row
    block = max(1, RESIZE_GATHER_BYTES // per_output)
    for a in range(0, size_out, block):
        rows = slice(a, min(a + block, size_out))
        if axis == 1:
            out[:, rows, :] = np.einsum("chtw,ht->chw", planes[:, index[rows], :], weight[rows])
        else:
            out[:, :, rows] = np.einsum("chwt,wt->chw", planes[:, :, index[rows]], weight[rows])
    return out


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
        return frame.astype(np.float32, copy=False)
    if frame.dtype == np.uint8:
        return frame.astype(np.float32) / 255.0
    if frame.dtype == np.uint16:
        return frame.astype(np.float32) / 65535.0
    if frame.dtype.kind == "f":
        return frame.astype(np.float32, copy=False)
    raise InputError(f"frame {index} has dtype {frame.dtype}; expected uint8, uint16 or float values in [0, 1]")


def _as_planes(frame: np.ndarray) -> np.ndarray:
    """(H, W[, C]) -> (C, H, W), a view."""
    return frame[None] if frame.ndim == 2 else frame.transpose(2, 0, 1)


def _luma(planes: np.ndarray) -> np.ndarray:
    """(3, H, W) RGB -> (1, H, W) grey."""
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
