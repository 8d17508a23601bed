"""Data for imaging and signal models: train, calibration and evaluation sets as arrays, preprocessed exactly as the
runtime preprocesses them on the device.

A DATA argument is an `.npz` file or a built-in generator:
- `FILE.npz` with `inputs` (raw frames (n, H, W) / (n, H, W, 3) in [0, 1], or raw windows (n, samples) /
  (n, channels, samples) in the signal's units at the model's sampling rate) and optionally `labels` (n,) class
  indices and, for segmentation, `masks` (n, H, W) class indices at the model's input size;
- `synth:ultrasound` (B-mode phantoms, `synth/ultrasound.py`) or `synth:ecg` (simulated ECG, `synth/ecg.py`),
  optionally `synth:ecg?n=200&seed=7` (n per class). Train, calibration and evaluation sets use disjoint seeds.
"""

from __future__ import annotations

import dataclasses
import urllib.parse
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from hfm_compress.errors import CompressError
from hfm_runtime.inputs import IMAGE_TASKS
from hfm_runtime.fingerprint import array_fingerprint

SYNTH_PREFIX = "synth:"
# Default sizes (per class) and seeds of the built-in sets; different seeds make disjoint sets.
SYNTH_DEFAULTS = {
    "train": {"n": 400, "seed": 1000},
    "calibration": {"n": 32, "seed": 2000},
    "evaluation": {"n": 100, "seed": 3000},
}


@dataclasses.dataclass
class TensorSet:
    """Model inputs (preprocessed, float32, (n, channels, ...)) with optional labels and masks."""

    inputs: np.ndarray
    raw: np.ndarray  # what the device gets before preprocessing: golden pairs and the runtime check use it
    labels: np.ndarray | None
    masks: np.ndarray | None
    source: str

    def __len__(self) -> int:
        return len(self.inputs)

    def fingerprint(self) -> dict[str, Any]:
        """Count, sha256 and scheme of the raw data and labels (dtype and shape included), and the source."""
        arrays = [self.raw] if self.labels is None else [self.raw, self.labels]
        return {**array_fingerprint(len(self), *arrays), "source": self.source}


@dataclasses.dataclass
class TensorData:
    calibration: TensorSet
    evaluation: TensorSet
    train: TensorSet | None = None  # needed by the torch steps (distillation, pruning recovery)


def load_set(data: str, role: str, task: str, preprocessing: Mapping[str, Any]) -> TensorSet:
    """Read or generate one set for `role` ("train", "calibration", "evaluation") and preprocess it."""
    if data.startswith(SYNTH_PREFIX):
        raw, labels, masks = _synthesize(data, role, task, preprocessing)
    else:
        raw, labels, masks = _read_npz(Path(data))
    inputs = preprocess_raw(raw, task, preprocessing, data)
    if labels is not None and len(labels) != len(raw):
        raise CompressError(f"{data}: {len(labels)} labels for {len(raw)} inputs; expected one label per input")
    if masks is not None:
        expected = tuple(inputs.shape[-2:])
        if len(masks) != len(raw) or tuple(masks.shape[1:]) != expected:
            raise CompressError(f"{data}: masks have shape {masks.shape}; expected ({len(raw)}, {expected[0]}, "
                                f"{expected[1]}) (one mask per input at the model's input size)")
    return TensorSet(inputs=inputs, raw=raw, labels=labels, masks=masks, source=data)


def preprocess_raw(raw: np.ndarray, task: str, preprocessing: Mapping[str, Any], where: str = "data") -> np.ndarray:
    """Raw frames or windows -> model inputs, with the runtime's own preprocessing code."""
    from hfm_runtime.errors import HfmError
    from hfm_runtime.preprocess import image, signal

    try:
        if task in IMAGE_TASKS:
            return image.preprocess(list(raw), image.ImageSpec.from_dict(preprocessing))
        spec = signal.SignalSpec.from_dict(preprocessing)
        rows = [signal.windows(window.T if window.ndim == 2 else window, spec.fs, spec) for window in raw]
        batch = np.concatenate(rows).astype(np.float32)
        return batch[:, None, :] if batch.ndim == 2 else batch
    except HfmError as exc:
        raise CompressError(f"{where}: cannot preprocess the inputs as the model's spec says: {exc}") from None


def _read_npz(path: Path) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    if path.suffix != ".npz":
        raise CompressError(f"DATA {path}: expected an .npz file (inputs, labels, masks) or synth:ultrasound / synth:ecg")
    if not path.is_file():
        raise CompressError(f"DATA {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except Exception as exc:  # zipfile.BadZipFile, ValueError on object arrays
        raise CompressError(f"DATA {path} is not a readable .npz file ({exc})") from None
    if "inputs" not in arrays:
        raise CompressError(f"DATA {path} has arrays {sorted(arrays)}; expected 'inputs' (and optionally 'labels', 'masks')")
    labels = arrays.get("labels")
    masks = arrays.get("masks")
    return (arrays["inputs"], labels.astype(np.int64) if labels is not None else None,
            masks.astype(np.int64) if masks is not None else None)


def _synthesize(data: str, role: str, task: str,
                preprocessing: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    parsed = urllib.parse.urlsplit(data[len(SYNTH_PREFIX):])
    kind = parsed.path
    options = {key: values[-1] for key, values in urllib.parse.parse_qs(parsed.query).items()}
    unknown = sorted(set(options) - {"n", "seed"})
    if unknown:
        raise CompressError(f"DATA {data}: unknown option(s) {', '.join(unknown)}; expected n and seed")
    try:
        n = int(options.get("n", SYNTH_DEFAULTS[role]["n"]))
        seed = int(options.get("seed", SYNTH_DEFAULTS[role]["seed"]))
    except ValueError:
        raise CompressError(f"DATA {data}: n and seed must be whole numbers") from None
    if kind == "ultrasound":
        if task not in IMAGE_TASKS:
            raise CompressError(f"DATA {data} makes images; task {task} needs signal windows (synth:ecg)")
        from hfm_compress.synth import ultrasound

        images, labels, masks = ultrasound.make_dataset(n, seed, size=int(preprocessing["height"]))
        return images[:, 0], labels, (masks.astype(np.int64) if task == "segmentation" else None)
    if kind == "ecg":
        if task in IMAGE_TASKS:
            raise CompressError(f"DATA {data} makes ECG windows; task {task} needs images (synth:ultrasound)")
        from hfm_compress.synth import ecg

        windows, labels = ecg.make_dataset(n, seed, fs=int(round(float(preprocessing["fs"]))),
                                           seconds=float(preprocessing["window_seconds"]))
        return windows, labels, None
    raise CompressError(f"DATA {data}: unknown generator {kind!r}; expected synth:ultrasound or synth:ecg")
