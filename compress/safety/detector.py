"""Fitting what the runtime scores (`hfm_runtime.safety`): the out-of-distribution detector, thresholds at a stated
false-flag rate, and the temperature that calibrates class probabilities."""

from __future__ import annotations

import numpy as np

from hfm_compress.errors import CompressError
from hfm_runtime.safety import OodDetector, calibrate

MAX_COMPONENTS = 48  # embeddings: keep the leading components; the residual term covers the rest
SCALE_FLOOR = 1e-6
MIN_GROUP = 3  # fit inputs a class needs for a mean of its own
# T is searched in [0.25, 10]: on a held-out set the model gets all right, the likelihood keeps rising as T -> 0 and
# would make every answer certain (low_confidence could then never fire); the bounds keep temperature a correction.
TEMPERATURE_GRID = np.exp(np.linspace(np.log(0.25), np.log(10.0), 161))


def fit_detector(features: np.ndarray, groups: np.ndarray | None = None,
                 max_components: int = MAX_COMPONENTS) -> OodDetector:
    """Standardise; one mean per group (the class each fit input was assigned to) with at least MIN_GROUP members,
    the rest pooled; then eigen-decompose the within-group covariance with Ledoit-Wolf shrinkage towards the identity
    (a few hundred fit rows against up to 400 features), keeping at most `max_components` and a third of the rows."""
    x = np.asarray(features, dtype=np.float64)
    n, d = x.shape
    if n < 8:
        raise CompressError(f"the out-of-distribution detector needs at least 8 fit inputs; got {n}")
    scale = np.maximum(x.std(axis=0), SCALE_FLOOR)
    z_all = x / scale
    labels = np.zeros(n, dtype=np.int64) if groups is None else np.asarray(groups)
    kept = [g for g in np.unique(labels) if np.sum(labels == g) >= MIN_GROUP]
    labels = np.where(np.isin(labels, kept), labels, -1)  # small groups share one pooled mean
    means, centred = [], np.empty_like(z_all)
    for group in np.unique(labels):
        members = labels == group
        centre = z_all[members].mean(axis=0)
        centred[members] = z_all[members] - centre
        means.append(centre * scale)
    covariance = centred.T @ centred / n
    shrinkage = ledoit_wolf_shrinkage(centred, covariance)
    target = np.trace(covariance) / d
    shrunk = (1 - shrinkage) * covariance + shrinkage * target * np.eye(d)
    values, vectors = np.linalg.eigh(shrunk)
    order = np.argsort(values)[::-1]
    values, vectors = values[order], vectors[:, order]
    keep = max(1, min(max_components, d, n // 3))
    residual = float(values[keep:].mean()) if keep < d else float(values[-1])
    floor = max(1e-9, 1e-6 * float(values[0]))
    return OodDetector(np.stack(means), scale, vectors[:, :keep], np.maximum(values[:keep], floor),
                       max(residual, floor))


def ledoit_wolf_shrinkage(z: np.ndarray, covariance: np.ndarray) -> float:
    """The Ledoit-Wolf (2004) shrinkage intensity towards a scaled identity for centred rows `z`."""
    n, d = z.shape
    target = np.trace(covariance) / d
    distance = np.sum((covariance - target * np.eye(d)) ** 2)
    if distance <= 0:
        return 1.0
    spread = sum(np.sum((np.outer(row, row) - covariance) ** 2) for row in z) / n ** 2
    return float(min(1.0, spread / distance))


def upper_threshold(scores: np.ndarray, rate: float) -> float:
    """Flag above this: the (1 - rate) quantile of held-out in-distribution scores (higher quantile on ties)."""
    return float(np.quantile(np.asarray(scores, dtype=np.float64), 1.0 - rate, method="higher"))


def lower_threshold(scores: np.ndarray, rate: float) -> float:
    """Flag below this: the `rate` quantile of held-out in-distribution scores."""
    return float(np.quantile(np.asarray(scores, dtype=np.float64), rate, method="lower"))


def fit_temperature(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """The T minimising the negative log-likelihood of softmax(log p / T) on held-out labels (grid, then refined)."""
    def nll(t: float) -> float:
        p = calibrate(probabilities, t).astype(np.float64)
        chosen = np.take_along_axis(p, np.expand_dims(labels, 1), axis=1)  # (n, 1) or (n, 1, H, W) for masks
        return float(-np.mean(np.log(np.clip(chosen, 1e-12, None))))

    losses = [nll(t) for t in TEMPERATURE_GRID]
    best = int(np.argmin(losses))
    low = TEMPERATURE_GRID[max(0, best - 1)]
    high = TEMPERATURE_GRID[min(len(TEMPERATURE_GRID) - 1, best + 1)]
    for _ in range(30):  # golden-section search inside the bracketing grid cells
        a, b = low + 0.382 * (high - low), low + 0.618 * (high - low)
        if nll(a) < nll(b):
            high = b
        else:
            low = a
    return float(round((low + high) / 2, 4))


def expected_calibration_error(probabilities: np.ndarray, labels: np.ndarray, bins: int = 10) -> dict[str, object]:
    """ECE over equal-width confidence bins, with the reliability diagram's points (per-pixel for masks)."""
    p = np.asarray(probabilities, dtype=np.float64)
    if p.ndim > 2:  # masks: every pixel is a prediction
        p = np.moveaxis(p, 1, -1).reshape(-1, p.shape[1])
        labels = np.asarray(labels).reshape(-1)
    confidence, predicted = p.max(axis=1), p.argmax(axis=1)
    correct = predicted == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    ece, conf_rows, acc_rows, counts = 0.0, [], [], []
    for b in range(bins):
        members = index == b
        count = int(members.sum())
        counts.append(count)
        if count == 0:
            conf_rows.append(None)
            acc_rows.append(None)
            continue
        mean_conf, accuracy = float(confidence[members].mean()), float(correct[members].mean())
        conf_rows.append(round(mean_conf, 4))
        acc_rows.append(round(accuracy, 4))
        ece += count / len(confidence) * abs(mean_conf - accuracy)
    return {"ece": round(ece, 4), "reliability": {"confidence": conf_rows, "accuracy": acc_rows, "count": counts}}


def auroc(in_distribution: np.ndarray, out_of_distribution: np.ndarray) -> float:
    """Area under the ROC curve of telling OOD (positive, higher score) from in-distribution: the Mann-Whitney U
    statistic with ties counted half."""
    ind = np.asarray(in_distribution, dtype=np.float64)
    ood = np.asarray(out_of_distribution, dtype=np.float64)
    ind = np.where(np.isfinite(ind), ind, np.inf)
    ood = np.where(np.isfinite(ood), ood, np.inf)
    combined = np.concatenate([ind, ood])
    order = combined.argsort(kind="mergesort")
    ranks = np.empty(len(combined))
    sorted_values = combined[order]
    start = 0
    while start < len(sorted_values):  # average ranks over ties
        stop = start
        while stop + 1 < len(sorted_values) and sorted_values[stop + 1] == sorted_values[start]:
            stop += 1
        ranks[order[start:stop + 1]] = (start + stop) / 2 + 1
        start = stop + 1
    u = ranks[len(ind):].sum() - len(ood) * (len(ood) + 1) / 2
    return float(round(u / (len(ind) * len(ood)), 4))
