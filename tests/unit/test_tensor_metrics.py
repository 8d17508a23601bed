"""Fidelity metrics of imaging and signal artifacts, on hand-made predictions whose answers are known."""

import numpy as np
import pytest

from hfm_compress.evaluate.metrics import classification_metrics, dice_scores, segmentation_metrics

NAMES = ["none", "cyst", "solid"]


def one_hot(predicted: list[int], classes: int = 3) -> np.ndarray:
    return np.eye(classes)[predicted]


def test_classification_metrics_split_disagreements_by_who_is_right() -> None:
    labels = np.array([0, 1, 2, 2, 1, 0])
    teacher = one_hot([0, 1, 1, 2, 1, 2])  # wrong on frames 2 and 5
    artifact = one_hot([0, 1, 2, 2, 0, 2])  # fixes frame 2, breaks frame 4, shares the error on frame 5
    metrics = classification_metrics(teacher, artifact, labels, NAMES)
    assert metrics["agreement"] == pytest.approx(4 / 6, abs=1e-4)
    assert metrics["teacher_accuracy"] == pytest.approx(4 / 6, abs=1e-4)
    assert metrics["accuracy"] == pytest.approx(4 / 6, abs=1e-4)
    assert metrics["agreement_where_teacher_correct"] == 0.75  # 3 of the teacher's 4 right frames
    assert metrics["disagreements_artifact_correct"] == 1
    assert metrics["sensitivity"] == {"none": 0.5, "cyst": 0.5, "solid": 1.0}
    assert metrics["sensitivity_drop"]["solid"] == -0.5 and metrics["max_sensitivity_drop"] == 0.5


def test_dice_counts_empty_masks_as_agreement_and_segmentation_uses_foreground_classes() -> None:
    empty, full = np.zeros((1, 4, 4), int), np.ones((1, 4, 4), int)
    half = np.zeros((1, 4, 4), int)
    half[0, :2] = 1
    assert dice_scores(empty, empty, [1]).tolist() == [1.0]
    assert dice_scores(half, full, [1]) == pytest.approx([2 * 8 / (8 + 16)])
    probs = lambda mask: np.stack([1 - mask, mask], axis=1).astype(float)  # noqa: E731
    metrics = segmentation_metrics(probs(full), probs(half), full, ["background", "lesion"])
    assert metrics["dice_vs_teacher"] == pytest.approx(0.6667, abs=1e-4) and metrics["teacher_dice_vs_truth"] == 1.0
    assert metrics["pixel_agreement"] == 0.5
