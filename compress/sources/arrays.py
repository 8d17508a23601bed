"""Data for imaging and signal models: train, calibration and evaluation sets as arrays, preprocessed exactly as the
runtime preprocesses them on the device.

A DATA argument is an `.npz` file or a built-in generator:
- `FILE.npz` with `inputs` (raw frames (n, H, W) / (n, H, W, 3) in [0, 1], or raw windows (n, samples) /
  (n, channels, samples) in the signal's units at the model's sampling rate) and optionally `labels` (n,) class
  indices, for segmentation `masks` (n, H, W) class indices at the model's input size, and any number of
  `subgroup_<attribute>` (n,) arrays of strings or whole numbers (e.g. `subgroup_site`, `subgroup_age_band`): the
  evaluation reports fidelity per value of each attribute;
- `synth:ultrasound` (B-mode phantoms, `synth/ultrasound.py`) or `synth:ecg` (simulated ECG, `synth/ecg.py`),
  optionally `synth:ecg?n=200&seed=7` (n per class). Train, calibration and evaluation sets use disjoint seeds. Their
  subgroups are bins of the parameters each item was drawn with (see each generator's docstring).
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
SUBGROUP_PREFIX = "subgroup_"  # .npz arrays named subgroup_<attribute> carry subgroup labels
# Default sizes (per class) and seeds of the built-in sets; different seeds make disjoint sets.
SYNTH_DEFAULTS = {
    "train": {"n": 400, "seed": 1000},
    "calibration": {"n": 32, "seed": 2000},
    "evaluation": {"n": 100, "seed": 3000},
}


@dataclasses.dataclass
class TensorSet:
    """Model inputs (preprocessed, float32, (n, channels, ...)) with optional labels, masks and subgroups."""

    inputs: np.ndarray
    raw: np.ndarray  # what the device gets before preprocessing: golden pairs and the runtime check use it
    labels: np.ndarray | None
    masks: np.ndarray | None
    source: str
    # attribute -> (n,) array of str, one value per raw item (e.g. {"noise": ["low", "high", ...]}). Not part of the
    # fingerprint: they describe the data, they do not change what the model is scored on.
    subgroups: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)

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
        raw, labels, masks, subgroups = _synthesize(data, role, task, preprocessing)
    else:
        raw, labels, masks, subgroups = _read_npz(Path(data))
    inputs = preprocess_raw(raw, task, preprocessing, data)
    if labels is not None and len(labels) != len(raw):
        raise CompressError(f"{data}: {len(labels)} labels for {len(raw)} inputs; expected one label per input")
    if masks is not None:
        expected = tuple(inputs.shape[-2:])
        if len(masks) != len(raw) or tuple(masks.shape[1:]) != expected:
            raise CompressError(f"{data}: masks have shape {masks.shape}; expected ({len(raw)}, {expected[0]}, "
                                f"{expected[1]}) (one mask per input at the model's input size)")
    return TensorSet(inputs=inputs, raw=raw, labels=labels, masks=masks, source=data, subgroups=subgroups)


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


def _read_npz(path: Path) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None, dict[str, np.ndarray]]:
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
            masks.astype(np.int64) if masks is not None else None, _npz_subgroups(path, arrays))


def _npz_subgroups(path: Path, arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """`subgroup_<attribute>` arrays as (n,) arrays of str, checked: one value per input, strings or whole numbers."""
    count = len(arrays["inputs"]) if np.ndim(arrays["inputs"]) else 0
    subgroups: dict[str, np.ndarray] = {}
    for name in sorted(arrays):
        if not name.startswith(SUBGROUP_PREFIX):
            continue
        attribute, values = name[len(SUBGROUP_PREFIX):], arrays[name]
        expected = (f"expected ({count},) (one subgroup value per input, as strings or whole numbers, in an array "
                    f"named {SUBGROUP_PREFIX}<attribute>)")
        if not attribute:
            raise CompressError(f"DATA {path}: array {name!r} names no attribute; {expected}")
        if values.ndim != 1 or len(values) != count:
            raise CompressError(f"DATA {path}: array {name!r} has shape {values.shape}; {expected}")
        if values.dtype.kind == "S":
            try:
                subgroups[attribute] = np.array([v.decode("utf-8") for v in values.tolist()], dtype=str)
            except UnicodeDecodeError:
                raise CompressError(f"DATA {path}: array {name!r} holds bytes that are not UTF-8 text; {expected}") \
                    from None
        elif values.dtype.kind in "Uiub":
            subgroups[attribute] = values.astype(str)
        else:
            raise CompressError(f"DATA {path}: array {name!r} has dtype {values.dtype}; {expected}")
    return subgroups


def _synthesize(data: str, role: str, task: str, preprocessing: Mapping[str, Any]
                ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None, dict[str, np.ndarray]]:
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

        images, labels, masks, subgroups = ultrasound.make_dataset_with_subgroups(
            n, seed, size=int(preprocessing["height"]))
        return images[:, 0], labels, (masks.astype(np.int64) if task == "segmentation" else None), subgroups
    if kind == "ecg":
        if task in IMAGE_TASKS:
            raise CompressError(f"DATA {data} makes ECG windows; task {task} needs images (synth:ultrasound)")
        from hfm_compress.synth import ecg

        windows, labels, subgroups = ecg.make_dataset_with_subgroups(
            n, seed, fs=int(round(float(preprocessing["fs"]))), seconds=float(preprocessing["window_seconds"]))
        return windows, labels, None, subgroups
    raise CompressError(f"DATA {data}: unknown generator {kind!r}; expected synth:ultrasound or synth:ecg")
