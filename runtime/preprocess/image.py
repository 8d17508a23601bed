"""Image preprocessing for imaging artifacts, in numpy: read PNG/JPEG/DICOM frames, then resize, normalise and lay out.

The artifact's manifest records an `ImageSpec` (`{"type": "image", ...}` under "preprocessing"); the runtime applies
it as `preprocess(read_image(path, crop_to_region=spec.crop_to_region, value_scale=spec.value_scale), spec)`, so a
device feeds the model exactly what the toolchain evaluated.

This module only re-exports, so `hfm_runtime.preprocess.image` keeps every name it has always had. The code lives in:
- `image_spec`: `ImageSpec` and its validation, the choices it allows (LAYOUTS, RESIZES, VALUE_SCALES), MB.
- `image_io`: reading PNG/JPEG/DICOM files (`read_image`, `iter_frames`), the header checks and decode limit
  (`DecodeLimit`, `frame_limit`, FRAME_SHARE_OF_MEMORY), DICOM ultrasound-region cropping; pydicom and Pillow are
  imported there, inside the readers only. Its docstring gives the value-scale convention.
- `image_dsp`: `preprocess`, `preprocess_frame` and the resize kernels (`resize_bilinear`, `resize_taps`); its
  docstring gives the resize and luma conventions.

Constants are re-exported as values: to change one (RESIZE_GATHER_BYTES in a test, say), set it on the module that
owns it, since setting it here changes nothing there.
"""

from __future__ import annotations

from hfm_runtime.preprocess.image_dsp import (LUMA, RESIZE_GATHER_BYTES, preprocess, preprocess_frame, resize_bilinear,
                                              resize_taps)
from hfm_runtime.preprocess.image_io import (FRAME_SHARE_OF_MEMORY, INSTALL_HINT, PILLOW_16BIT_MODES, PILLOW_FORMATS,
                                             PILLOW_GREY_MODES, US_REGION_2D, DecodeLimit, frame_limit, iter_frames,
                                             read_image)
from hfm_runtime.preprocess.image_spec import LAYOUTS, MB, RESIZES, VALUE_SCALES, ImageSpec

_resize_taps = resize_taps  # its name before the split; tests/unit/test_input_limits.py still reaches it here

__all__ = [
    "FRAME_SHARE_OF_MEMORY",
    "INSTALL_HINT",
    "LAYOUTS",
    "LUMA",
    "MB",
    "PILLOW_16BIT_MODES",
    "PILLOW_FORMATS",
    "PILLOW_GREY_MODES",
    "RESIZES",
    "RESIZE_GATHER_BYTES",
    "US_REGION_2D",
    "VALUE_SCALES",
    "DecodeLimit",
    "ImageSpec",
    "frame_limit",
    "iter_frames",
    "preprocess",
    "preprocess_frame",
    "read_image",
    "resize_bilinear",
    "resize_taps",
]
