"""Fidelity per subgroup of the evaluation data, and the worst subgroup (numpy only).

An overall agreement of 0.98 can hide a subgroup at 0.80 (fast heart rates, deep scans, psychiatric notes). The
evaluation set's subgroups (`TensorSet.subgroups`, or `text_topics.text_subgroups` for texts) map each attribute to
one value per item; every value with at least `min_count` items is scored with the modality's own metric function
on just its items, and the subgroup with the lowest key fidelity score is named.

`subgroup_fidelity` returns:

    {
      "by_attribute": {attribute: {value: {<the metric function's metrics>..., "count": n}}},
      "worst": {"attribute": a, "value": v, "metric": m, "score": s, "teacher_metric": tm, "teacher_score": t,
                "count": n} or None when no subgroup was scored,
      "worst_sensitivity_drop": {"attribute": a, "value": v, "drop": d, "count": n} or None (classification with
                labels only: the subgroup whose largest per-class sensitivity drop is largest),
      "skipped": {attribute: {value: count}},  # values with fewer than min_count items: not scored
      "min_count": min_count,
    }

The key metric `m` is the first of `KEY_METRICS` the metric function reports: `agreement` (imaging and signal
classification: argmax agreement with the teacher), `class_agreement` (text classification), `dice_vs_teacher`
(segmentation), `cosine_mean` (text embeddings); all are higher-is-better, and ties keep the first subgroup met
(attributes in the given order, values in sorted order). `teacher_score` is the teacher's own score on that
subgroup against ground truth (`teacher_metric`: `teacher_accuracy` or `teacher_dice_vs_truth`), None without labels
or masks: it tells whether the subgroup is hard for the teacher too. Scores are taken as the metric functions round
them (4 digits); per-subgroup confusion matrices are left out (the overall ones are in the fidelity report, and per
subgroup the per-class sensitivities say the same in less space).
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import numpy as np

from hfm_compress.evaluate.metrics import classification_fidelity, neighbour_agreement, nearest_in_top_k, row_cosines

MIN_COUNT = 5  # fewer items than this make a subgroup's score noise, not evidence
KEY_METRICS = ("agreement", "class_agreement", "dice_vs_teacher", "cosine_mean")
TEACHER_METRICS = {"agreement": "teacher_accuracy", "class_agreement": "teacher_accuracy",
                   "dice_vs_teacher": "teacher_dice_vs_truth"}
NEIGHBOURS = 5  # top-5 neighbour agreement within a subgroup needs more than this many items
DIGITS = 4
_LEFT_OUT = ("confusion",)

MetricFn = Callable[..., Mapping[str, Any]]


def subgroup_fidelity(metric_fn: MetricFn, subgroups: Mapping[str, np.ndarray], teacher_outputs: np.ndarray,
                      candidate_outputs: np.ndarray, min_count: int = MIN_COUNT,
                      **extra_arrays: np.ndarray | None) -> dict[str, Any]:
    """Score each subgroup with `metric_fn(teacher[members], candidate[members], **{name: array[members]})`.

    `subgroups`: attribute -> (n,) values (strings or numbers, compared as strings). `extra_arrays` are per-item
    arrays the metric function takes by keyword (e.g. labels=..., masks=...); None is passed on as None. Raises
    ValueError when an array does not have one entry per item.
    """
    teacher_outputs, candidate_outputs = np.asarray(teacher_outputs), np.asarray(candidate_outputs)
    count = len(teacher_outputs)
    _check_length("candidate outputs", candidate_outputs, count)
    for name, values in {**subgroups, **{k: v for k, v in extra_arrays.items() if v is not None}}.items():
        _check_length(name, values, count)
    by_attribute: dict[str, dict[str, Any]] = {}
    skipped: dict[str, dict[str, int]] = {}
    worst: dict[str, Any] | None = None
    worst_drop: dict[str, Any] | None = None
    for attribute, raw_values in subgroups.items():
        values = np.asarray(raw_values).astype(str)
        for value in sorted(set(values.tolist())):
            members = np.flatnonzero(values == value)
            if len(members) < min_count:
                skipped.setdefault(str(attribute), {})[value] = int(len(members))
                continue
            extras = {name: None if array is None else np.asarray(array)[members]
                      for name, array in extra_arrays.items()}
            metrics = metric_fn(teacher_outputs[members], candidate_outputs[members], **extras)
            metrics = {**{k: v for k, v in metrics.items() if k not in _LEFT_OUT}, "count": int(len(members))}
            by_attribute.setdefault(str(attribute), {})[value] = metrics
            key = next((name for name in KEY_METRICS if metrics.get(name) is not None), None)
            if key is not None and (worst is None or metrics[key] < worst["score"]):
                teacher_key = TEACHER_METRICS.get(key)
                worst = {"attribute": str(attribute), "value": value, "metric": key, "score": metrics[key],
                         "teacher_metric": teacher_key if metrics.get(teacher_key) is not None else None,
                         "teacher_score": metrics.get(teacher_key) if teacher_key else None,
                         "count": int(len(members))}
            drop = metrics.get("max_sensitivity_drop")
            if drop is not None and (worst_drop is None or drop > worst_drop["drop"]):
                worst_drop = {"attribute": str(attribute), "value": value, "drop": drop, "count": int(len(members))}
    return {"by_attribute": by_attribute, "worst": worst, "worst_sensitivity_drop": worst_drop, "skipped": skipped,
            "min_count": int(min_count)}


def lengths_match(subgroups: Mapping[str, np.ndarray], count: int) -> str | None:
    """None when every subgroup array has `count` entries, else why not (for the report instead of the scores)."""
    wrong = {name: len(values) for name, values in subgroups.items() if len(values) != count}
    if not wrong:
        return None
    listed = ", ".join(f"{name}: {n}" for name, n in sorted(wrong.items()))
    return (f"subgroup values per attribute ({listed}) do not match the {count} evaluated model inputs (a record "
            "cut into several windows has one subgroup value, not one per window)")


def embedding_subgroup_metrics(reference: np.ndarray, candidate: np.ndarray) -> dict[str, Any]:
    """`metrics.embedding_fidelity` on a subgroup, rounded: cosines always, neighbour agreement (neighbours searched
    within the subgroup) only when the subgroup has more than `NEIGHBOURS` items."""
    cosines = row_cosines(reference, candidate)
    result: dict[str, Any] = {"cosine_mean": _round(cosines.mean()), "cosine_min": _round(cosines.min())}
    if len(reference) > NEIGHBOURS:
        result.update({
            "top1_neighbour_agreement": _round(neighbour_agreement(reference, candidate, 1)),
            "top5_neighbour_agreement": _round(neighbour_agreement(reference, candidate, NEIGHBOURS)),
            "teacher_nearest_in_top5": _round(nearest_in_top_k(reference, candidate, NEIGHBOURS)),
        })
    return result


def text_classification_subgroup_metrics(reference: np.ndarray, candidate: np.ndarray,
                                         labels: np.ndarray | None = None) -> dict[str, Any]:
    """`metrics.classification_fidelity` on a subgroup, rounded."""
    return {name: _round(value) for name, value in classification_fidelity(reference, candidate, labels).items()}


def _round(value: Any) -> float:
    return round(float(value), DIGITS)


def _check_length(name: str, values: Any, count: int) -> None:
    if len(values) != count:
        raise ValueError(f"{name} has {len(values)} entries; expected {count} (one per evaluated item)")
