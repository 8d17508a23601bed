"""Image preprocessing proper, in numpy: frames -> resized, normalised float32 in the model's layout.

`preprocess(frames, spec)` takes what `image_io.read_image` returns (or arrays a caller holds) and applies an
`ImageSpec`, so a device feeds the model exactly what the toolchain evaluated. torch is never used here.

Conventions (the ones torchvision and PIL use, so a teacher's Python preprocessing and the device agree):
- Resize: bilinear with half-pixel centres (`align_corners=False`): output pixel i samples input coordinate
  (i + 0.5) * in / out - 0.5. `antialias=False` equals `torch.nn.functional.interpolate(mode="bilinear",
  align_corners=False, antialias=False)`; `antialias=True` widens the triangle filter by the downscale factor, which
  equals `antialias=True` there, torchvision's default and PIL's `Image.resize(BILINEAR)` on float images.
- Grey from RGB uses ITU-R 601-2 luma (0.299 R + 0.587 G + 0.114 B), as PIL's `convert("L")`; RGB from grey repeats it.

Memory: the resize works one axis at a time, gathering its taps in bounded blocks (RESIZE_GATHER_BYTES), so
preprocessing holds a few copies of one frame.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from hfm_runtime.errors import InputError
from hfm_runtime.preprocess.image_spec import MB, ImageSpec

LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
RESIZE_GATHER_BYTES = 16 * MB  # the resize gathers input taps in blocks of at most this (or one output row)


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
    index, weight = resize_taps(planes.shape[axis], size_out, antialias)
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


def resize_taps(size_in: int, size_out: int, antialias: bool) -> tuple[np.ndarray, np.ndarray]:
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
