"""Fit and evaluate what an artifact carries for clinical safety: the out-of-distribution detector and its threshold,
the low-confidence threshold, and the temperature; then measure them on data never used for fitting.

Three in-distribution sets, disjoint: the detector is fitted on half of the calibration set, thresholds and the
temperature are chosen on the other half (held out from fitting and, for distilled students, from training), and
everything is reported on the evaluation set. The OOD sets are generated (`synth/ood.py`) and used only for the
report. The teacher gets the same detector, fitted the same way on its own outputs, so the report compares like with
like.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Sequence

import numpy as np

from hfm_compress.safety.detector import (auroc, expected_calibration_error, fit_detector, fit_temperature,
                                          lower_threshold, upper_threshold)
from hfm_runtime import safety as runtime_safety

DEFAULT_FALSE_FLAG_RATE = 0.01
CALIBRATION_BINS = 10


@dataclasses.dataclass
class SafetySets:
    """In-distribution and OOD inputs as the runtime's items, each with the teacher's outputs (probabilities or
    embeddings) beside them. Labels (class indices, or masks) where the data has them."""

    fit: Sequence[Any]
    fit_teacher: np.ndarray
    threshold: Sequence[Any]
    threshold_teacher: np.ndarray
    evaluation: Sequence[Any]
    evaluation_teacher: np.ndarray
    threshold_labels: np.ndarray | None
    evaluation_labels: np.ndarray | None
    ood: Mapping[str, Sequence[Any]]
    ood_teacher: Mapping[str, np.ndarray]
    ood_refused: Mapping[str, int]  # OOD inputs the runtime's own input checks refuse (flagged before any score)
    described: Mapping[str, Any]  # what each role is: fingerprints and sources


@dataclasses.dataclass
class SafetyFit:
    manifest: dict[str, Any]  # manifest["safety"]
    member: bytes  # safety.npz
    ood: dict[str, Any]  # evaluation["ood"]
    calibration: dict[str, Any] | None  # evaluation["calibration"]


class _Scorer:
    """One contender's (teacher's or artifact's) detector and thresholds, fitted on its own outputs."""

    def __init__(self, model: Any, sets: SafetySets, outputs: Mapping[str, np.ndarray], rate: float,
                 temperature: float) -> None:
        self.model, self.task = model, model.task
        self.statistics = model.manifest["preprocessing"]["type"]
        groups = outputs["fit"].argmax(axis=1) if self.task not in ("embedding", "segmentation") else None
        self.detector = fit_detector(self._features(sets.fit, outputs["fit"]), groups)
        self.ood_threshold = upper_threshold(self.distances(sets.threshold, outputs["threshold"]), rate)
        self.temperature = temperature
        self.classified = self.task != "embedding"
        self.confidence_threshold = (lower_threshold(self.confidence(outputs["threshold"]), rate)
                                     if self.classified else None)

    def _features(self, items: Sequence[Any], outputs: np.ndarray) -> np.ndarray:
        return runtime_safety.features(self.task, self.statistics, self.model.inputs, items, outputs)

    def distances(self, items: Sequence[Any], outputs: np.ndarray) -> np.ndarray:
        if not len(items):
            return np.empty(0)
        return self.detector.score(self._features(items, outputs))

    def confidence(self, outputs: np.ndarray) -> np.ndarray:
        return runtime_safety.confidence(self.task, runtime_safety.calibrate(outputs, self.temperature))


def fit_safety(model: Any, sets: SafetySets, rate: float = DEFAULT_FALSE_FLAG_RATE) -> SafetyFit:
    """`model`: the packed draft loaded with `hfm_runtime.load` (its raw outputs are what the device computes)."""
    artifact = {role: model.run_items(list(items)) if len(items) else np.empty((0,))
                for role, items in (("fit", sets.fit), ("threshold", sets.threshold), ("evaluation", sets.evaluation))}
    artifact_ood = {name: model.run_items(list(items)) for name, items in sets.ood.items() if len(items)}
    teacher = {"fit": sets.fit_teacher, "threshold": sets.threshold_teacher, "evaluation": sets.evaluation_teacher}
    classified = model.task != "embedding"
    temperature, calibration = 1.0, None
    if classified and sets.threshold_labels is not None:
        temperature, calibration = _calibrate(artifact, teacher, sets)
    scorers = {"teacher": _Scorer(model, sets, teacher, rate, 1.0),
               "artifact": _Scorer(model, sets, artifact, rate, temperature)}
    ood = _evaluate_ood(scorers, sets, {"teacher": teacher, "artifact": artifact},
                        {"teacher": sets.ood_teacher, "artifact": artifact_ood}, rate)
    deployed = scorers["artifact"]
    names = runtime_safety.feature_names(model.task, deployed.statistics, artifact["fit"])
    section: dict[str, Any] = {
        "member": runtime_safety.SAFETY_MEMBER,
        "out_of_distribution": {
            "score": "mahalanobis", "means": int(deployed.detector.mean.shape[0]), "threshold": round(deployed.ood_threshold, 6), "false_flag_rate": rate,
            "features": _feature_summary(names), "components": int(deployed.detector.components.shape[1]),
            "fitted_on": sets.described["fit"], "threshold_from": sets.described["threshold"]},
    }
    if classified:
        section["low_confidence"] = {
            "score": "max_probability" if model.task != "segmentation" else "mean_pixel_max_probability",
            "threshold": round(float(deployed.confidence_threshold), 6), "false_flag_rate": rate,
            "threshold_from": sets.described["threshold"]}
    if temperature != 1.0:
        section["temperature"] = {"value": temperature, "fitted_on": sets.described["threshold"],
                                  "method": "negative log-likelihood of held-out labels"}
    return SafetyFit(section, deployed.detector.to_npz(), ood, calibration)


def _calibrate(artifact: Mapping[str, np.ndarray], teacher: Mapping[str, np.ndarray],
               sets: SafetySets) -> tuple[float, dict[str, Any]]:
    """Fit T on the threshold half; keep it only where it lowers ECE there ("where it helps"); report on the
    evaluation set: teacher, artifact before and after."""
    fitted = fit_temperature(artifact["threshold"], sets.threshold_labels)
    before = expected_calibration_error(artifact["threshold"], sets.threshold_labels, CALIBRATION_BINS)["ece"]
    after = expected_calibration_error(runtime_safety.calibrate(artifact["threshold"], fitted),
                                       sets.threshold_labels, CALIBRATION_BINS)["ece"]
    temperature = fitted if after < before else 1.0
    report: dict[str, Any] = {"bins": CALIBRATION_BINS, "temperature": temperature, "fitted_temperature": fitted,
                              "applied": temperature != 1.0, "fitted_on": sets.described["threshold"],
                              "evaluated_on": sets.described["evaluation"]}
    labels = sets.evaluation_labels
    if labels is not None:
        report["teacher"] = expected_calibration_error(teacher["evaluation"], labels, CALIBRATION_BINS)
        report["artifact_before"] = expected_calibration_error(artifact["evaluation"], labels, CALIBRATION_BINS)
        report["artifact_after"] = expected_calibration_error(
            runtime_safety.calibrate(artifact["evaluation"], temperature), labels, CALIBRATION_BINS)
    return temperature, report


def _evaluate_ood(scorers: Mapping[str, _Scorer], sets: SafetySets, outputs: Mapping[str, Mapping[str, np.ndarray]],
                  ood_outputs: Mapping[str, Mapping[str, np.ndarray]], rate: float) -> dict[str, Any]:
    in_distribution: dict[str, Any] = {**sets.described["evaluation"], "count": len(sets.evaluation)}
    reference: dict[str, np.ndarray] = {}
    for who, scorer in scorers.items():
        distances = scorer.distances(sets.evaluation, outputs[who]["evaluation"])
        reference[who] = distances
        in_distribution[f"{who}_false_flag_rate"] = _rate(distances > scorer.ood_threshold)
        in_distribution[f"{who}_low_confidence_rate"] = (
            _rate(scorer.confidence(outputs[who]["evaluation"]) < scorer.confidence_threshold)
            if scorer.classified else None)
    table: dict[str, Any] = {}
    for name, items in sets.ood.items():
        refused = int(sets.ood_refused.get(name, 0))
        row: dict[str, Any] = {"count": len(items) + refused, "refused_by_input_checks": refused}
        for who, scorer in scorers.items():
            distances = scorer.distances(items, ood_outputs[who][name]) if len(items) else np.empty(0)
            distances = np.concatenate([distances, np.full(refused, np.inf)])  # a refused input is flagged
            row[f"{who}_auroc"] = auroc(reference[who], distances)
            row[f"{who}_flag_rate"] = _rate(distances > scorer.ood_threshold)
        table[name] = row
    aurocs = {who: [row[f"{who}_auroc"] for row in table.values()] for who in scorers}
    return {"false_flag_rate_target": rate, "score": "mahalanobis", "in_distribution": in_distribution,
            "sets": table, "sets_source": sets.described.get("ood", "generated"),
            "mean_auroc": {who: round(float(np.mean(v)), 4) if v else None for who, v in aurocs.items()}}


def _rate(flags: np.ndarray) -> float:
    return round(float(np.mean(flags)), 4) if len(flags) else 0.0


def _feature_summary(names: Sequence[str]) -> list[str]:
    """Feature names, with the embedding's coordinates named as one entry."""
    embedding = [n for n in names if n.startswith("embedding_")]
    rest = [n for n in names if not n.startswith("embedding_")]
    return ([f"embedding[{len(embedding)}]"] if embedding else []) + rest
