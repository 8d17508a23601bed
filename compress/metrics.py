"""Fidelity metrics of a compressed model against its teacher (numpy only)."""

from __future__ import annotations

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
