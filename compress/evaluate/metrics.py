"""Fidelity metrics of a compressed model against its teacher (numpy only).

Text: embedding cosine and neighbour agreement, class agreement. Imaging and signal: agreement with the teacher,
accuracy, per-class sensitivity and confusion matrices against labels, and Dice / IoU of segmentation masks (against
the teacher's masks and against ground truth). Per-subgroup fidelity is in `subgroups.py`."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np


def row_cosines(reference: np.ndarray, candidate: np.ndarray) -> np.ndarray:
    ref = reference / np.clip(np.linalg.norm(reference, axis=1, keepdims=True), 1e-12, None)
    cand = candidate / np.clip(np.linalg.norm(candidate, axis=1, keepdims=True), 1e-12, None)
    return np.sum(ref * cand, axis=1)


def neighbour_agreement(reference: np.ndarray, candidate: np.ndarray, k: int) -> float:
    """Mean overlap of each text's k nearest neighbours (excluding itself) under the two embeddings (strict)."""
    if len(reference) <= k:
        raise ValueError(f"need more than k={k} texts for neighbour agreement, got {len(reference)}")

    ref, cand = _ranked_neighbours(reference, k), _ranked_neighbours(candidate, k)
    overlaps = [len(set(r) & set(c)) / k for r, c in zip(ref, cand)]
    return float(np.mean(overlaps))


def nearest_in_top_k(reference: np.ndarray, candidate: np.ndarray, k: int) -> float:
    """Fraction of texts whose nearest neighbour under the teacher is among the candidate's k nearest.

    The retrieval view of "top-k agreement" (does search still find the teacher's best match in the first k hits),
    less sensitive than `neighbour_agreement` to swaps among near-duplicate neighbours.
    """
    if len(reference) <= k:
        raise ValueError(f"need more than k={k} texts for neighbour agreement, got {len(reference)}")
    teacher_nearest = _ranked_neighbours(reference, 1)[:, 0]
    candidate_top = _ranked_neighbours(candidate, k)
    return float(np.mean([t in row for t, row in zip(teacher_nearest, candidate_top)]))


def _ranked_neighbours(vectors: np.ndarray, k: int) -> np.ndarray:
    unit = vectors / np.clip(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12, None)
    similarity = unit @ unit.T
    np.fill_diagonal(similarity, -np.inf)
    return np.argsort(-similarity, axis=1, kind="stable")[:, :k]


def embedding_fidelity(reference: np.ndarray, candidate: np.ndarray) -> dict[str, float]:
    cosines = row_cosines(reference, candidate)
    return {
        "cosine_mean": float(cosines.mean()),
        "cosine_min": float(cosines.min()),
        "top1_neighbour_agreement": neighbour_agreement(reference, candidate, 1),
        "top5_neighbour_agreement": neighbour_agreement(reference, candidate, 5),
        "teacher_nearest_in_top5": nearest_in_top_k(reference, candidate, 5),
    }


def classification_fidelity(reference: np.ndarray, candidate: np.ndarray, labels: np.ndarray | None = None) -> dict[str, float]:
    """Class agreement with the teacher, probability drift, and accuracy where gold labels exist."""
    ref_class, cand_class = reference.argmax(axis=1), candidate.argmax(axis=1)
    result = {
        "class_agreement": float(np.mean(ref_class == cand_class)),
        "probability_max_abs_diff": float(np.max(np.abs(reference - candidate))),
    }
    if labels is not None:
        result["accuracy"] = float(np.mean(cand_class == labels))
        result["teacher_accuracy"] = float(np.mean(ref_class == labels))
    return result


def sensitivity_per_class(predicted: np.ndarray, labels: np.ndarray, names: Sequence[str]) -> dict[str, float | None]:
    """Recall of each class (None for a class with no example): how many of its examples were called it."""
    result: dict[str, float | None] = {}
    for index, name in enumerate(names):
        members = labels == index
        result[name] = round(float(np.mean(predicted[members] == index)), 4) if members.any() else None
    return result


def classification_metrics(teacher_probs: np.ndarray, candidate_probs: np.ndarray, labels: np.ndarray | None,
                           names: Sequence[str]) -> dict[str, Any]:
    teacher_pred, candidate_pred = teacher_probs.argmax(1), candidate_probs.argmax(1)
    metrics: dict[str, Any] = {"agreement": round(float(np.mean(teacher_pred == candidate_pred)), 4),
                               "count": int(len(teacher_pred))}
    if labels is not None:
        teacher_sens = sensitivity_per_class(teacher_pred, labels, names)
        candidate_sens = sensitivity_per_class(candidate_pred, labels, names)
        drops = {name: round(teacher_sens[name] - candidate_sens[name], 4)
                 for name in names if teacher_sens[name] is not None}
        teacher_right, candidate_right = teacher_pred == labels, candidate_pred == labels
        metrics.update({
            "teacher_accuracy": round(float(np.mean(teacher_right)), 4),
            "accuracy": round(float(np.mean(candidate_right)), 4),
            # Where the teacher is right, does the artifact follow it? Disagreements elsewhere fix a teacher error.
            "agreement_where_teacher_correct": _mean_or_none(candidate_right[teacher_right]),
            "disagreements_artifact_correct": int(np.sum(candidate_right & ~teacher_right)),
            "support": {name: int(np.sum(labels == index)) for index, name in enumerate(names)},
            "teacher_sensitivity": teacher_sens,
            "sensitivity": candidate_sens,
            "sensitivity_drop": drops,
            "max_sensitivity_drop": max(drops.values()) if drops else None,
            "confusion": {"labels": list(names), "teacher": confusion_matrix(teacher_pred, labels, len(names)),
                          "artifact": confusion_matrix(candidate_pred, labels, len(names))},
        })
    return metrics


def confusion_matrix(predicted: np.ndarray, labels: np.ndarray, classes: int) -> list[list[int]]:
    """counts[true][predicted] over `classes` classes (rows: the true class, columns: the class called); items whose
    label or prediction is outside 0..classes-1 are not counted."""
    predicted, labels = np.asarray(predicted, dtype=np.int64), np.asarray(labels, dtype=np.int64)
    valid = (labels >= 0) & (labels < classes) & (predicted >= 0) & (predicted < classes)
    counts = np.bincount(labels[valid] * classes + predicted[valid], minlength=classes * classes)
    return counts.reshape(classes, classes).tolist()


def _mean_or_none(values: np.ndarray) -> float | None:
    return round(float(np.mean(values)), 4) if values.size else None


def dice_scores(predicted: np.ndarray, target: np.ndarray, foreground: Sequence[int]) -> np.ndarray:
    """Per-image Dice over the foreground classes taken together; an image where both masks are empty scores 1."""
    pred = np.isin(predicted, foreground).reshape(len(predicted), -1)
    true = np.isin(target, foreground).reshape(len(target), -1)
    overlap = (pred & true).sum(1)
    total = pred.sum(1) + true.sum(1)
    return np.where(total == 0, 1.0, 2.0 * overlap / np.maximum(total, 1))


def iou_scores(predicted: np.ndarray, target: np.ndarray, foreground: Sequence[int]) -> np.ndarray:
    pred = np.isin(predicted, foreground).reshape(len(predicted), -1)
    true = np.isin(target, foreground).reshape(len(target), -1)
    union = (pred | true).sum(1)
    return np.where(union == 0, 1.0, (pred & true).sum(1) / np.maximum(union, 1))


def segmentation_metrics(teacher_probs: np.ndarray, candidate_probs: np.ndarray, masks: np.ndarray | None,
                         names: Sequence[str]) -> dict[str, Any]:
    """Masks are the argmax over classes; class 0 is background, every other class is foreground."""
    foreground = list(range(1, len(names)))
    teacher_masks, candidate_masks = teacher_probs.argmax(1), candidate_probs.argmax(1)
    vs_teacher = dice_scores(candidate_masks, teacher_masks, foreground)
    metrics: dict[str, Any] = {
        "dice_vs_teacher": round(float(vs_teacher.mean()), 4),
        "dice_vs_teacher_min": round(float(vs_teacher.min()), 4),
        "iou_vs_teacher": round(float(iou_scores(candidate_masks, teacher_masks, foreground).mean()), 4),
        "pixel_agreement": round(float(np.mean(candidate_masks == teacher_masks)), 5),
        "count": int(len(teacher_masks)),
    }
    if masks is not None:
        metrics.update({
            "teacher_dice_vs_truth": round(float(dice_scores(teacher_masks, masks, foreground).mean()), 4),
            "dice_vs_truth": round(float(dice_scores(candidate_masks, masks, foreground).mean()), 4),
            "teacher_iou_vs_truth": round(float(iou_scores(teacher_masks, masks, foreground).mean()), 4),
            "iou_vs_truth": round(float(iou_scores(candidate_masks, masks, foreground).mean()), 4),
        })
    return metrics
