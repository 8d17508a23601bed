"""Input adapters: turn what a caller passes to `Model.run` into model items, batches of feeds, and outputs.

One adapter per preprocessing type in the manifest:
- text: strings -> token ids (real length, padded per batch);
- image: image files (PNG/JPEG/DICOM; a cine DICOM gives one input per frame) or frames as arrays -> (n, C, H, W);
- signal: record files (WFDB, CSV, NPY) or arrays at the model's sampling rate -> one input per window.
Items of a batch are sorted by length for text only; images and windows all have the model's shape.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from hfm_runtime.errors import ArtifactError, InputError
from hfm_runtime.postprocess import mean_pool_l2, softmax
from hfm_runtime.preprocess import image as image_pre
from hfm_runtime.preprocess import signal as signal_pre
from hfm_runtime.preprocess.text import TextPreprocessor

TEXT_TASKS = ("embedding", "classification")
IMAGE_TASKS = ("image-classification", "segmentation")
SIGNAL_TASKS = ("signal-classification",)
TASKS = TEXT_TASKS + IMAGE_TASKS + SIGNAL_TASKS
PATH_TYPES = (str, Path)


class TextInputs:
    """Strings; the manifest's tokenizer.json member tokenizes them."""

    sort_by_length = True

    def __init__(self, manifest: Mapping[str, Any], members: Any, input_names: Sequence[str]) -> None:
        spec = manifest.get("preprocessing", {})
        tokenizer_json = members(spec.get("tokenizer", "tokenizer.json")).decode("utf-8")
        self.preprocessor = TextPreprocessor(tokenizer_json, spec, input_names)
        self.postprocessing = manifest.get("postprocessing", {}).get("type")

    def items(self, inputs: Any) -> list[str]:
        return self.preprocessor.validate(inputs)

    def feeds(self, items: Sequence[str]) -> dict[str, np.ndarray]:
        return self.preprocessor.encode(items)

    def outputs(self, output: np.ndarray, feeds: Mapping[str, np.ndarray]) -> np.ndarray:
        if self.postprocessing == "mean-pool-l2":
            return mean_pool_l2(output, feeds["attention_mask"])
        if self.postprocessing == "softmax":
            return softmax(output)
        return output


class TensorInputs:
    """Shared by images and signals: items are preprocessed float32 arrays of the model's input shape."""

    sort_by_length = False

    def __init__(self, manifest: Mapping[str, Any], input_names: Sequence[str]) -> None:
        if len(input_names) != 1:
            raise ArtifactError(f"a {manifest.get('task')} model takes one input; the manifest names {list(input_names)}")
        self.input_name = input_names[0]
        self.postprocessing = manifest.get("postprocessing", {}).get("type")

    def feeds(self, items: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
        return {self.input_name: np.ascontiguousarray(np.stack(items), dtype=np.float32)}

    def outputs(self, output: np.ndarray, feeds: Mapping[str, np.ndarray]) -> np.ndarray:
        """Class probabilities: softmax over axis 1, the class axis of (n, classes) and (n, classes, H, W)."""
        if self.postprocessing == "softmax":
            return softmax(output, axis=1)
        return output


class ImageInputs(TensorInputs):
    """Image files or frame arrays. `max_decoded_bytes` (None: no limit of ours) bounds one decoded frame of a file,
    checked from its header before decoding, and `limit_source` names where it comes from in the refusal;
    `image_pre.frame_limit(profile)` gives both from a device profile's memory budget."""

    def __init__(self, manifest: Mapping[str, Any], input_names: Sequence[str], *,
                 max_decoded_bytes: int | None = None, limit_source: str | None = None) -> None:
        super().__init__(manifest, input_names)
        self.spec = image_pre.ImageSpec.from_dict(manifest.get("preprocessing", {}))
        image_pre.DecodeLimit.of(max_decoded_bytes, limit_source)  # refuse a bad limit now, not at the first file
        self.max_decoded_bytes = max_decoded_bytes
        self.limit_source = limit_source

    def items(self, inputs: Any) -> list[np.ndarray]:
        """A file path or a frame array, or a list of them; each DICOM cine frame is an input of its own.

        Frames are preprocessed as they are decoded, so one full-size frame is held at a time, not a whole cine.
        """
        inputs = _as_list(inputs, "an image file, a frame array")
        items: list[np.ndarray] = []
        for index, item in enumerate(inputs):
            if isinstance(item, PATH_TYPES):
                frames = image_pre.iter_frames(item, crop_to_region=self.spec.crop_to_region,
                                               value_scale=self.spec.value_scale,
                                               max_decoded_bytes=self.max_decoded_bytes, limit_source=self.limit_source)
            elif isinstance(item, np.ndarray):
                frames = iter([item])
            else:
                raise InputError(f"input {index} is a {type(item).__name__}; expected an image file path or a "
                                 "frame array (H, W) or (H, W, 3)")
            for frame in frames:
                items.append(image_pre.preprocess_frame(frame, self.spec, len(items)))
        return items


class SignalInputs(TensorInputs):
    def __init__(self, manifest: Mapping[str, Any], input_names: Sequence[str]) -> None:
        super().__init__(manifest, input_names)
        self.spec = signal_pre.SignalSpec.from_dict(manifest.get("preprocessing", {}))

    def items(self, inputs: Any, fs: float | None = None) -> list[np.ndarray]:
        """Record files or arrays, each cut into windows.

        `fs` is the rate of the inputs that carry none: arrays and CSV/NPY records (default: the model's rate), and
        WFDB records whose header gives no rate (no default: refused without `fs`, where wfdb would silently assume
        250 Hz). A WFDB header's own rate wins over `fs`, so one `fs` (the CLI's --fs) can serve CSV files given
        together with WFDB records of other rates.
        """
        inputs = _as_list(inputs, "a record file, a signal array")
        windows: list[np.ndarray] = []
        for index, item in enumerate(inputs):
            if isinstance(item, PATH_TYPES):
                samples, record_fs = signal_pre.read_signal(item)
                header = signal_pre.wfdb_header(item)
                if record_fs is None and fs is None and header is not None:
                    raise InputError(f"{header} gives no sampling rate (wfdb would assume 250 Hz); expected fs= (the "
                                     "CLI's --fs) with the record's rate in Hz")
                rate = record_fs if record_fs is not None else fs if fs is not None else self.spec.fs
            elif isinstance(item, np.ndarray):
                samples, rate = item, fs if fs is not None else self.spec.fs
            else:
                raise InputError(f"input {index} is a {type(item).__name__}; expected a record file path or a signal "
                                 "array (samples,) or (samples, channels)")
            windows += list(self.model_layout(signal_pre.windows(samples, rate, self.spec)))
        return windows

    def model_layout(self, windows: np.ndarray) -> np.ndarray:
        """(n, samples) -> (n, 1, samples): models take (batch, channels, samples)."""
        return windows[:, None, :] if windows.ndim == 2 else windows


def adapter_for(manifest: Mapping[str, Any], members: Any, input_names: Sequence[str], where: str, *,
                max_decoded_bytes: int | None = None, limit_source: str | None = None) -> Any:
    """The adapter for the manifest's task; `max_decoded_bytes`/`limit_source` go to `ImageInputs` (images only)."""
    task = manifest.get("task")
    kind = manifest.get("preprocessing", {}).get("type")
    expected = "text" if task in TEXT_TASKS else "image" if task in IMAGE_TASKS else "signal"
    if kind != expected:
        raise ArtifactError(f"{where}: task {task} needs preprocessing type {expected!r}; the manifest says {kind!r}")
    if kind == "text":
        return TextInputs(manifest, members, input_names)
    if kind == "image":
        return ImageInputs(manifest, input_names, max_decoded_bytes=max_decoded_bytes, limit_source=limit_source)
    return SignalInputs(manifest, input_names)


def _as_list(inputs: Any, expected: str) -> list[Any]:
    """One path or array, or a non-empty list of them, as a list."""
    if isinstance(inputs, PATH_TYPES) or isinstance(inputs, np.ndarray):
        return [inputs]
    if not isinstance(inputs, (list, tuple)) or not inputs:
        described = "an empty list" if isinstance(inputs, (list, tuple)) else f"a {type(inputs).__name__}"
        raise InputError(f"inputs is {described}; expected {expected}, or a non-empty list of them")
    return list(inputs)
