"""Clinical safety of each result: an out-of-distribution flag, a low-confidence flag, calibrated probabilities.

The toolchain fits these at compress time (`hfm_compress.safety`) and stores them in the artifact: thresholds and
how they were chosen in `manifest["safety"]`, the detector's arrays in the `safety.npz` member (hash-covered like
every member). The runtime only scores, with numpy:

- features of one result = a summary of the model's output (class log-probabilities; per-class mean probabilities
  of a mask; the embedding itself) + statistics of the model's input (word pieces the tokenizer does not know;
  grey-level, clipping and texture of a frame; spectrum, shape and periodicity of a signal window);
- `out_of_distribution`: the Mahalanobis distance of those features to the fit data (in the leading principal
  components, plus the residual), above a threshold chosen on held-out in-distribution data at a stated false-flag
  rate;
- `low_confidence` (classifiers and segmenters): the calibrated top probability (mean over pixels for a mask) below a
  threshold chosen the same way;
- calibrated probabilities: softmax(log p / T) with the temperature T fitted after compression (equal to
  softmax(logits / T)).
"""

from __future__ import annotations

import dataclasses
import io
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from hfm_runtime.errors import ArtifactError

SAFETY_MEMBER = "safety.npz"
OUT_OF_DISTRIBUTION = "out_of_distribution"
LOW_CONFIDENCE = "low_confidence"
SAFETY_FLAGS = (OUT_OF_DISTRIBUTION, LOW_CONFIDENCE)
SIGNAL_QUALITY_FLAGS = ("flat_line", "non_finite", "too_short")
RESULT_FLAGS = SAFETY_FLAGS + SIGNAL_QUALITY_FLAGS
LOG_FLOOR = 1e-6  # probabilities below this carry no more information for the features than this
DETECTOR_ARRAYS = ("mean", "scale", "components", "variances", "residual_variance")

TEXT_STATISTICS = ("unknown_piece_fraction", "pieces_per_word", "non_letter_fraction")
IMAGE_STATISTICS = ("mean", "std", "dark_fraction", "bright_fraction", "gradient_x", "gradient_y", "colour_spread")
SIGNAL_BANDS_HZ = ((0.0, 1.0), (1.0, 5.0), (5.0, 15.0), (15.0, 40.0))
SIGNAL_STATISTICS = ("log_kurtosis", "skewness", "zero_crossings_per_s", "log_band_0_1hz", "log_band_1_5hz",
                     "log_band_5_15hz", "log_band_15_40hz", "log_sharpness", "periodicity", "period_s")
LOG_FLOOR_SHARE = 1e-4  # band shares and sharpness are heavy-tailed near 0: their logs are closer to Gaussian
PERIOD_RANGE_S = (0.25, 5.0)  # heartbeats from 12 to 240 per minute


# ---- features -------------------------------------------------------------------------------------------------

def output_summary(task: str, outputs: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """(n, k) summary of raw (uncalibrated) outputs and the column names."""
    outputs = np.asarray(outputs, dtype=np.float64)
    if task == "embedding":
        return outputs, [f"embedding_{i}" for i in range(outputs.shape[1])]
    if task == "segmentation":
        per_class = outputs.mean(axis=(2, 3))
        confidence = outputs.max(axis=1).mean(axis=(1, 2))[:, None]
        foreground = (outputs.argmax(axis=1) > 0).mean(axis=(1, 2))[:, None]
        names = [f"mean_probability_{i}" for i in range(per_class.shape[1])] + ["mean_top_probability",
                                                                               "foreground_fraction"]
        return np.concatenate([per_class, confidence, foreground], axis=1), names
    log_probs = np.log(np.clip(outputs, LOG_FLOOR, None))
    return log_probs, [f"log_probability_{i}" for i in range(outputs.shape[1])]


def text_statistics(tokenizer: Any, texts: Sequence[str], unknown_id: int | None) -> np.ndarray:
    """Per text: share of word pieces that are the unknown token, word pieces per word, share of non-letters."""
    rows = []
    for text in texts:
        ids = tokenizer.encode(text, add_special_tokens=False).ids
        words = max(1, len(text.split()))
        pieces = max(1, len(ids))
        unknown = sum(1 for i in ids if i == unknown_id) if unknown_id is not None else 0
        letters = sum(1 for ch in text if ch.isalpha() or ch.isspace())
        rows.append([unknown / pieces, len(ids) / words, 1.0 - letters / max(1, len(text))])
    return np.asarray(rows, dtype=np.float64)


def image_statistics(frames: np.ndarray) -> np.ndarray:
    """Per preprocessed frame (C, H, W): grey level and spread, shares of clipped-dark and clipped-bright pixels,
    texture (mean absolute gradient along each axis relative to the spread) and colour spread between channels."""
    frames = np.asarray(frames, dtype=np.float64)
    grey = frames.mean(axis=1)
    flat = grey.reshape(len(grey), -1)
    low, high = flat.min(axis=1, keepdims=True), flat.max(axis=1, keepdims=True)
    spread = flat.std(axis=1)
    span = np.maximum(high - low, 1e-9)
    dark = np.mean(flat <= low + 0.02 * span, axis=1)
    bright = np.mean(flat >= high - 0.02 * span, axis=1)
    scale = np.maximum(spread, 1e-6)
    gradient_x = np.abs(np.diff(grey, axis=2)).mean(axis=(1, 2)) / scale
    gradient_y = np.abs(np.diff(grey, axis=1)).mean(axis=(1, 2)) / scale
    colour = (np.abs(frames - frames.mean(axis=1, keepdims=True)).mean(axis=(1, 2, 3))
              if frames.shape[1] > 1 else np.zeros(len(frames)))
    return np.stack([flat.mean(axis=1), spread, dark, bright, gradient_x, gradient_y, colour], axis=1)


def signal_statistics(windows: np.ndarray, fs: float) -> np.ndarray:
    """Per preprocessed window (C, samples): shape (kurtosis, skewness), zero crossings per second, the share of
    power in four bands, sharpness (mean absolute second derivative of the normalised window, per (10 ms)^2: QRS
    complexes are sharp, a time-stretched or breathing trace is not) and periodicity (the largest autocorrelation
    at a lag in PERIOD_RANGE_S) with that lag. Kurtosis, band shares and sharpness enter as logs."""
    x = np.asarray(windows, dtype=np.float64).mean(axis=1)
    x = x - x.mean(axis=1, keepdims=True)
    std = np.maximum(x.std(axis=1, keepdims=True), 1e-9)
    z = x / std
    kurtosis = np.mean(z ** 4, axis=1)
    skewness = np.mean(z ** 3, axis=1)
    seconds = x.shape[1] / fs
    crossings = np.sum(np.diff(np.signbit(x), axis=1), axis=1) / seconds
    power = np.abs(np.fft.rfft(x, axis=1)) ** 2
    freqs = np.fft.rfftfreq(x.shape[1], 1.0 / fs)
    total = np.maximum(power.sum(axis=1), 1e-12)
    bands = [power[:, (freqs >= lo) & (freqs < hi)].sum(axis=1) / total for lo, hi in SIGNAL_BANDS_HZ]
    sharpness = np.abs(np.diff(z, n=2, axis=1)).mean(axis=1) * (fs / 100.0) ** 2
    spectrum = np.fft.rfft(z, n=2 * x.shape[1], axis=1)
    autocorrelation = np.fft.irfft(np.abs(spectrum) ** 2, axis=1)[:, :x.shape[1]] / x.shape[1]
    first, last = int(PERIOD_RANGE_S[0] * fs), min(int(PERIOD_RANGE_S[1] * fs), x.shape[1] - 1)
    if last <= first:
        periodicity, period = np.zeros(len(x)), np.zeros(len(x))
    else:
        lags = autocorrelation[:, first:last + 1]
        periodicity = lags.max(axis=1)
        period = (lags.argmax(axis=1) + first) / fs
    logs = [np.log(np.maximum(v, LOG_FLOOR_SHARE)) for v in (kurtosis, *bands, sharpness)]
    return np.stack([logs[0], skewness, crossings, *logs[1:], periodicity, period], axis=1)


def statistic_names(kind: str) -> tuple[str, ...]:
    return {"text": TEXT_STATISTICS, "image": IMAGE_STATISTICS, "signal": SIGNAL_STATISTICS}[kind]


# ---- the detector ---------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class OodDetector:
    """Class-conditional Mahalanobis distance with a shared covariance (Lee et al., 2018), in standardised feature
    space: the distance to the nearest class mean, as the squared distance along the leading principal components of
    the within-class covariance (each divided by its variance) plus the squared residual outside them divided by the
    mean residual variance. Models without classes (embeddings) have one mean."""

    mean: np.ndarray  # (classes, d): one row per class the fit data was assigned to; (1, d) without classes
    scale: np.ndarray  # (d,) feature standard deviations of the fit data (floored)
    components: np.ndarray  # (d, k) orthonormal
    variances: np.ndarray  # (k,) shrunk eigenvalues
    residual_variance: float

    @property
    def width(self) -> int:
        return int(self.mean.shape[1])

    def score(self, features: np.ndarray) -> np.ndarray:
        x = np.asarray(features, dtype=np.float64)
        best = np.full(len(x), np.inf)
        for centre in self.mean:
            z = (x - centre) / self.scale
            projected = z @ self.components
            inside = np.sum(projected ** 2 / self.variances, axis=1)
            residual = np.sum(z ** 2, axis=1) - np.sum(projected ** 2, axis=1)
            best = np.minimum(best, inside + np.maximum(residual, 0.0) / self.residual_variance)
        return best

    def to_npz(self) -> bytes:
        buffer = io.BytesIO()
        np.savez(buffer, mean=self.mean.astype(np.float32), scale=self.scale.astype(np.float32),
                 components=self.components.astype(np.float32), variances=self.variances.astype(np.float32),
                 residual_variance=np.float32(self.residual_variance))
        return buffer.getvalue()

    @classmethod
    def from_npz(cls, data: bytes, where: str) -> "OodDetector":
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as archive:
                arrays = {name: np.asarray(archive[name], dtype=np.float64) for name in DETECTOR_ARRAYS}
        except (KeyError, ValueError, OSError) as exc:
            raise ArtifactError(f"{where}: {SAFETY_MEMBER} is not a detector ({exc}); expected arrays "
                                f"{', '.join(DETECTOR_ARRAYS)}") from None
        if arrays["mean"].ndim == 1:
            arrays["mean"] = arrays["mean"][None, :]
        d = arrays["mean"].shape[1] if arrays["mean"].ndim == 2 and len(arrays["mean"]) else -1
        shapes_ok = (d > 0 and arrays["scale"].shape == (d,) and arrays["components"].ndim == 2
                     and arrays["components"].shape[0] == d
                     and arrays["variances"].shape == (arrays["components"].shape[1],)
                     and arrays["residual_variance"].shape == ())
        if not shapes_ok or not all(np.all(np.isfinite(a)) for a in arrays.values()):
            raise ArtifactError(f"{where}: {SAFETY_MEMBER} has inconsistent or non-finite arrays; expected mean (classes, d), "
                                "scale (d,), components (d, k), variances (k,), residual_variance ()")
        if np.any(arrays["scale"] <= 0) or np.any(arrays["variances"] <= 0) or arrays["residual_variance"] <= 0:
            raise ArtifactError(f"{where}: {SAFETY_MEMBER} has a zero or negative variance")
        return cls(arrays["mean"], arrays["scale"], arrays["components"], arrays["variances"],
                   float(arrays["residual_variance"]))


# ---- calibration and confidence --------------------------------------------------------------------------------

def calibrate(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(log p / T) over the class axis (1): the same as softmax(logits / T)."""
    if temperature == 1.0:
        return np.asarray(probabilities, dtype=np.float32)
    logits = np.log(np.clip(np.asarray(probabilities, dtype=np.float64), 1e-30, None)) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    return (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)


def confidence(task: str, probabilities: np.ndarray) -> np.ndarray:
    """The top class probability; for a mask, its mean over pixels."""
    top = np.asarray(probabilities).max(axis=1)
    return top.reshape(len(top), -1).mean(axis=1).astype(np.float64)


# ---- what an artifact carries -----------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Assessment:
    """Per result: the calibrated outputs, the flags raised and the scores behind them."""

    outputs: np.ndarray
    flags: list[tuple[str, ...]]
    scores: list[dict[str, float]]


@dataclasses.dataclass(frozen=True)
class SafetySpec:
    """`manifest["safety"]` and its detector, ready to assess results."""

    task: str
    statistics: str  # "text", "image" or "signal": which input statistics the features hold
    detector: OodDetector | None
    ood_threshold: float | None
    confidence_threshold: float | None
    temperature: float

    @classmethod
    def from_manifest(cls, manifest: Mapping[str, Any], member: Callable[[str], bytes], where: str) -> "SafetySpec | None":
        entry = manifest.get("safety")
        if entry is None:
            return None
        task = str(manifest.get("task"))
        statistics = str(manifest.get("preprocessing", {}).get("type"))
        ood = entry.get("out_of_distribution")
        detector, ood_threshold = None, None
        if ood is not None:
            detector = OodDetector.from_npz(member(entry.get("member", SAFETY_MEMBER)), where)
            ood_threshold = float(ood["threshold"])
        low = entry.get("low_confidence")
        temperature = float(entry.get("temperature", {}).get("value", 1.0))
        return cls(task, statistics, detector, ood_threshold,
                   float(low["threshold"]) if low is not None else None, temperature)

    def assess(self, inputs: Any, items: Sequence[Any], outputs: np.ndarray) -> Assessment:
        """Flags and calibrated outputs for `items` (what the input adapter made) and their raw `outputs`."""
        classified = self.task != "embedding"
        calibrated = calibrate(outputs, self.temperature) if classified else outputs
        n = len(outputs)
        scores: list[dict[str, float]] = [{} for _ in range(n)]
        flags: list[list[str]] = [[] for _ in range(n)]
        if self.detector is not None and self.ood_threshold is not None:
            values = features(self.task, self.statistics, inputs, items, outputs)
            if values.shape[1] != self.detector.width:
                raise ArtifactError(f"{SAFETY_MEMBER} was fitted on {self.detector.width} features, but this "
                                    f"artifact's outputs and inputs give {values.shape[1]}: the detector belongs to "
                                    "another model")
            distances = self.detector.score(values)
            for row, distance in enumerate(distances):
                scores[row]["ood_distance"] = round(float(distance), 4)
                if not np.isfinite(distance) or distance > self.ood_threshold:
                    flags[row].append(OUT_OF_DISTRIBUTION)
        if classified and self.confidence_threshold is not None:
            for row, value in enumerate(confidence(self.task, calibrated)):
                scores[row]["confidence"] = round(float(value), 4)
                if value < self.confidence_threshold:
                    flags[row].append(LOW_CONFIDENCE)
        return Assessment(calibrated, [tuple(f) for f in flags], scores)


def features(task: str, statistics: str, inputs: Any, items: Sequence[Any], outputs: np.ndarray) -> np.ndarray:
    """The detector's features: output summary beside the input statistics (see the module docstring).

    `inputs` is the runtime's input adapter (`hfm_runtime.inputs`): its tokenizer for texts, its spec's rate for
    signals."""
    summary, _ = output_summary(task, outputs)
    if statistics == "text":
        preprocessor = inputs.preprocessor
        tokenizer = preprocessor.tokenizer
        stats = text_statistics(tokenizer, items, tokenizer.token_to_id(preprocessor.unknown_token))
    elif statistics == "image":
        stats = image_statistics(np.stack(items))
    else:
        stats = signal_statistics(np.stack(items), float(inputs.spec.fs))
    return np.concatenate([summary, stats], axis=1)


def feature_names(task: str, statistics: str, outputs: np.ndarray) -> list[str]:
    return output_summary(task, outputs[:1])[1] + list(statistic_names(statistics))
