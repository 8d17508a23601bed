"""The card's evaluation sections, from `manifest["evaluation"]` and `manifest["safety"]`: fidelity to the teacher
(overall, per class, per subgroup, confusion matrices), gates, out-of-distribution detection and calibration.

The teacher's number stands beside the artifact's wherever the manifest has both, so a reader sees what the
compression changed and not only where the artifact ends up.
"""

from __future__ import annotations

import re
from typing import Any, Mapping, Sequence

from hfm_compress.card.blocks import (
    Block,
    Bullets,
    Cell,
    Mark,
    Paragraph,
    Plot,
    Section,
    compact,
    fingerprint,
    is_number,
    mapping,
    sequence,
    not_measured,
    number,
    percent,
    table,
)

# What each fidelity key of the toolchain measures (compress/evaluate/metrics.py); other keys show as written.
METRIC_NAMES = {
    "agreement": "top-1 agreement with the teacher",
    "class_agreement": "top-1 agreement with the teacher",
    "accuracy": "accuracy against the labels",
    "agreement_where_teacher_correct": "agreement where the teacher is right",
    "disagreements_artifact_correct": "disagreements where the artifact is right",
    "max_sensitivity_drop": "largest drop in per-class sensitivity",
    "probability_max_abs_diff": "largest probability difference from the teacher",
    "cosine_mean": "cosine similarity to the teacher's embedding, mean",
    "cosine_min": "cosine similarity to the teacher's embedding, lowest",
    "top1_neighbour_agreement": "nearest neighbour the same as the teacher's",
    "top5_neighbour_agreement": "overlap of the 5 nearest neighbours with the teacher's",
    "teacher_nearest_in_top5": "teacher's nearest neighbour among the artifact's 5",
    "dice_vs_teacher": "Dice overlap with the teacher's masks, mean",
    "dice_vs_teacher_min": "Dice overlap with the teacher's masks, lowest",
    "iou_vs_teacher": "IoU with the teacher's masks",
    "pixel_agreement": "pixels labelled as the teacher labels them",
    "dice_vs_truth": "Dice overlap with the true masks",
    "iou_vs_truth": "IoU with the true masks",
    "sensitivity": "sensitivity, the share of each true class found",
}
# Metrics that compare the artifact with the teacher: the teacher is their reference, it has no value of its own.
VS_TEACHER = {"agreement", "class_agreement", "agreement_where_teacher_correct", "disagreements_artifact_correct",
              "max_sensitivity_drop", "probability_max_abs_diff", "cosine_mean", "cosine_min",
              "top1_neighbour_agreement", "top5_neighbour_agreement", "teacher_nearest_in_top5", "dice_vs_teacher",
              "dice_vs_teacher_min", "iou_vs_teacher", "pixel_agreement", "dice_vs_truth_min"}
# Keys of `fidelity` that are not per-class tables, though they are objects.
STRUCTURED = {"support", "confusion", "subgroups"}
MAX_CLASSES_DRAWN = 30  # a confusion matrix or bar chart wider than this is unreadable as an image
MAX_CLASSES_TABULATED = 12


def metric_name(key: str) -> str:
    name = METRIC_NAMES.get(key)
    return f"{name} ({key})" if name else key


def fidelity_section(manifest: Mapping[str, Any]) -> Section:
    evaluation = mapping(manifest.get("evaluation"))
    fidelity = mapping(evaluation.get("fidelity"))
    if not fidelity:
        return Section("Fidelity", "fidelity", (not_measured("the manifest has no evaluation.fidelity"),))
    labels = sequence(mapping(manifest.get("postprocessing")).get("labels"))
    precision = mapping(manifest.get("model")).get("precision") or "compressed"
    blocks: list[Block] = [Paragraph(_data_sentence(evaluation, fidelity))]
    blocks.append(table(["metric", "artifact", "teacher"], _overall_rows(fidelity), "Overall"))
    for key, values in _per_class(fidelity):
        blocks.extend(_per_class_blocks(key, values, mapping(fidelity.get(f"teacher_{key}")), labels,
                                        mapping(fidelity.get("support"))))
    blocks.extend(_confusion_blocks(mapping(fidelity.get("confusion")), precision))
    blocks.extend(_subgroup_blocks(mapping(fidelity.get("subgroups"))))
    return Section("Fidelity", "fidelity", tuple(blocks))


def evaluation_data(evaluation: Mapping[str, Any]) -> Mapping[str, Any]:
    """The held-out data's fingerprint: `data` for images and signals, `texts` for text."""
    return mapping(evaluation.get("data")) or mapping(evaluation.get("texts"))


def _data_sentence(evaluation: Mapping[str, Any], fidelity: Mapping[str, Any]) -> str:
    data = evaluation_data(evaluation)
    count = fidelity.get("count", data.get("count"))
    where = f" from {data.get('source') or 'unnamed data'}" if data else ""
    if data.get("sha256"):
        where += f" (sha256 {str(data['sha256'])[:12]})"
    inputs = f"{count:,} held-out inputs" if isinstance(count, int) else "held-out inputs"
    return f"Teacher and artifact were run on the same {inputs}{where}."


def _overall_rows(fidelity: Mapping[str, Any]) -> list[tuple[Cell, ...]]:
    rows: list[tuple[Cell, ...]] = []
    for key, value in fidelity.items():
        if isinstance(value, (Mapping, list)) or key == "count":
            continue
        if key.startswith("teacher_") and key[len("teacher_"):] in fidelity:
            continue  # shown beside its artifact value
        if key.startswith("teacher_") and key not in VS_TEACHER:  # the teacher's alone: the artifact's is missing
            rows.append((metric_name(key[len("teacher_"):]), "-", number(value)))
            continue
        teacher = "reference" if key in VS_TEACHER else number(fidelity.get(f"teacher_{key}"))
        rows.append((metric_name(key), number(value), teacher))
    return rows


def _per_class(fidelity: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    """Per-class tables (`sensitivity`: {class: value}); `teacher_X` goes beside X, `X_drop` is recomputed."""
    found = []
    for key, value in fidelity.items():
        if key in STRUCTURED or not isinstance(value, Mapping) or key.endswith("_drop"):
            continue
        if key.startswith("teacher_") and key[len("teacher_"):] in fidelity:
            continue
        if value and all(is_number(item) or item is None for item in value.values()):
            found.append((key, value))
    return found


def _ordered(labels: Sequence[str], keys: Sequence[str]) -> list[str]:
    """The model's label order where it knows the class, then the rest as the manifest lists them."""
    return [label for label in labels if label in keys] + [key for key in keys if key not in labels]


def _per_class_blocks(key: str, artifact: Mapping[str, Any], teacher: Mapping[str, Any],
                      labels: Sequence[str], support: Mapping[str, Any]) -> list[Block]:
    classes = _ordered(labels, list(artifact) + [name for name in teacher if name not in artifact])
    rows = []
    for name in classes:
        mine, theirs = artifact.get(name), teacher.get(name)
        change = f"{mine - theirs:+.4f}" if is_number(mine) and is_number(theirs) else "-"
        examples = support.get(name)
        rows.append((name, str(examples) if examples is not None else "-", number(theirs), number(mine), change))
    title = f"Per class: {metric_name(key)}"
    blocks: list[Block] = [table(["class", "examples", "teacher", "artifact", "change"], rows, title)]
    if len(classes) <= MAX_CLASSES_DRAWN:
        series = [{"name": "teacher", "values": [teacher.get(n) for n in classes]}] if teacher else []
        series.append({"name": "artifact", "values": [artifact.get(n) for n in classes]})
        blocks.append(Plot(f"per_class_{_file_stem(key)}", "bars",
                           {"groups": [{"title": "", "categories": classes, "series": series}],
                            "xlabel": key, "xlim": [0.0, 1.0] if _within_unit(artifact, teacher) else None},
                           f"Bar chart of per-class {key}, teacher beside artifact",
                           f"Per-class {key}: teacher (grey) and artifact (blue)."))
    return blocks


def _confusion_blocks(confusion: Mapping[str, Any], precision: str) -> list[Block]:
    labels = confusion.get("labels")
    if not confusion:
        return []
    if not (isinstance(labels, list) and labels and _square(confusion.get("teacher"), len(labels))
            and _square(confusion.get("artifact"), len(labels))):
        return [Paragraph("The confusion matrices in the manifest are malformed (expected `labels` and two square "
                          "matrices of counts, one row per label); not shown.")]
    names = [str(label) for label in labels]
    teacher, artifact = confusion["teacher"], confusion["artifact"]
    blocks: list[Block] = []
    if len(names) <= MAX_CLASSES_DRAWN:
        blocks.append(Plot("confusion", "confusion",
                           {"labels": names, "teacher": teacher, "artifact": artifact,
                            "titles": ["Teacher", f"Artifact ({precision})"]},
                           "Confusion matrices of the teacher and the artifact, side by side",
                           "Confusion matrices, rows the true class and columns the predicted one; colour is the "
                           "share of the true class, numbers are counts."))
    if len(names) <= MAX_CLASSES_TABULATED:
        rows = [(f"{name}", *(f"{artifact[i][j]} ({teacher[i][j]})" for j in range(len(names))))
                for i, name in enumerate(names)]
        blocks.append(table(["true class / predicted", *names], rows,
                            "Confusion matrix: artifact count (teacher count)"))
    return blocks


def _square(matrix: Any, size: int) -> bool:
    return (isinstance(matrix, list) and len(matrix) == size
            and all(isinstance(row, list) and len(row) == size and all(is_number(v) for v in row) for row in matrix))


def _subgroup_blocks(subgroups: Mapping[str, Any]) -> list[Block]:
    by_attribute = mapping(subgroups.get("by_attribute"))
    if not subgroups:
        return []
    blocks: list[Block] = []
    worst = mapping(subgroups.get("worst"))
    if worst:
        teacher = worst.get("teacher_score")
        teacher_metric = str(worst.get("teacher_metric") or worst.get("metric") or "score").removeprefix("teacher_")
        beside = (f" (the teacher's {teacher_metric} there: {number(teacher)})" if is_number(teacher)
                  else " (the teacher's score there is not measured)")
        blocks.append(Paragraph(f"Worst subgroup: {worst.get('attribute')} = {worst.get('value')}, "
                                f"{worst.get('metric')} {number(worst.get('score'))}{beside}."))
    drop = mapping(subgroups.get("worst_sensitivity_drop"))
    if drop:
        blocks.append(Paragraph(f"Largest per-class sensitivity drop in a subgroup: {drop.get('attribute')} = "
                                f"{drop.get('value')}, {number(drop.get('drop'))} below the teacher."))
    groups = []
    for attribute, values in by_attribute.items():
        values = {str(value): mapping(entry) for value, entry in mapping(values).items()}
        metrics, teacher_only = _subgroup_metrics(values)
        rows = []
        for value, entry in values.items():
            cells = [number(entry.get(m)) + (f" ({number(entry.get('teacher_' + m))})" if f"teacher_{m}" in entry
                                             else "") for m in metrics]
            rows.append((value, number(entry.get("count")), *cells, *(number(entry.get(m)) for m in teacher_only)))
        blocks.append(table(["value", "inputs", *metrics, *teacher_only], rows,
                            f"By {attribute}: the artifact's scores (the teacher's in brackets where measured)"))
        primary = _primary(metrics, worst.get("metric"))
        if primary and len(values) <= MAX_CLASSES_DRAWN:
            groups.append(_subgroup_bars(str(attribute), values, primary))
    skipped = mapping(subgroups.get("skipped"))
    if skipped:
        fewer = (f" (fewer than {subgroups['min_count']} inputs; value=inputs)"
                 if isinstance(subgroups.get("min_count"), int) else "")
        blocks.append(Paragraph(f"Subgroups not scored{fewer}:"))
        blocks.append(Bullets(tuple(f"{key}: {compact(value)}" for key, value in skipped.items())))
    if groups:
        scores = [v for group in groups for entry in group["series"] for v in entry["values"] if is_number(v)]
        unit = [0.0, 1.0] if all(0.0 <= v <= 1.0 for v in scores) else None
        blocks.append(Plot("subgroups", "bars", {"groups": groups, "xlabel": "score", "xlim": unit},
                           "Bar charts of the fidelity score per subgroup",
                           "Per subgroup: the artifact (blue) and, where measured, the teacher (grey)."))
    if not blocks:
        blocks.append(not_measured("the manifest's subgroup evaluation is empty"))
    return blocks


def _subgroup_metrics(values: Mapping[str, Mapping[str, Any]]) -> tuple[list[str], list[str]]:
    """(the artifact's numeric metrics, the teacher's that have no artifact counterpart: `teacher_accuracy` beside
    `agreement`), in the order the manifest lists them."""
    names: list[str] = []
    for entry in values.values():
        names += [key for key, value in entry.items() if key != "count" and is_number(value) and key not in names]
    metrics = [key for key in names if not key.startswith("teacher_")]
    return metrics, [key for key in names if key.startswith("teacher_") and key[len("teacher_"):] not in metrics]


def _primary(metrics: Sequence[str], preferred: Any) -> str | None:
    return preferred if preferred in metrics else (metrics[0] if metrics else None)


def _subgroup_bars(attribute: str, values: Mapping[str, Mapping[str, Any]], metric: str) -> dict[str, Any]:
    series = []
    if any(f"teacher_{metric}" in entry for entry in values.values()):
        series.append({"name": "teacher", "values": [entry.get(f"teacher_{metric}") for entry in values.values()]})
    series.append({"name": "artifact", "values": [entry.get(metric) for entry in values.values()]})
    return {"title": f"{attribute}: {metric}", "categories": list(values), "series": series}


def gates_section(manifest: Mapping[str, Any]) -> Section:
    gates = mapping(mapping(manifest.get("evaluation")).get("gates"))
    if not gates:
        return Section("Gates", "gates", (not_measured("no fidelity gates were set for this artifact"),))
    rules = [mapping(rule) for rule in sequence(gates.get("rules"))]
    failed = [rule for rule in rules if rule.get("passed") is False]
    if gates.get("passed") is True:
        verdict = f"All {len(rules)} gate rule(s) passed." if rules else "The gates passed."
    elif gates.get("passed") is False:
        verdict = f"The gates FAILED: {len(failed)} of {len(rules)} rule(s) not met."
    else:
        verdict = "The gates' overall result is not recorded."
    blocks: list[Block] = [Paragraph(verdict)]
    if rules:
        blocks.append(table(["gate", "class", "scope", "limit", "artifact", "teacher", "result"],
                            [_rule_row(rule) for rule in rules]))
    sources = mapping(gates.get("source"))
    if sources:
        blocks.append(Paragraph(f"Where each gate's limit came from: {compact(sources)}."))
    attempts = sequence(gates.get("attempts"))
    if attempts:
        blocks.append(Paragraph(f"The toolchain made {len(attempts)} attempt(s) to meet the gates:"))
        blocks.append(Bullets(tuple(compact(attempt) for attempt in attempts)))
    return Section("Gates", "gates", tuple(blocks))


def _rule_row(rule: Mapping[str, Any]) -> tuple[Cell, ...]:
    sign = {"max": "≤", "min": "≥"}.get(str(rule.get("kind")), str(rule.get("kind") or ""))
    passed = rule.get("passed")
    result = Mark("PASS", "pass") if passed is True else Mark("FAIL", "fail") if passed is False else Mark(
        f"N/A ({rule['note']})" if rule.get("note") else "N/A", "na")
    cls = str(rule.get("class") or "all") + (f" (worst: {rule['worst_class']})" if rule.get("worst_class") else "")
    scope = str(rule.get("scope") or "overall") + (f" ({rule['count']} inputs)" if isinstance(rule.get("count"), int)
                                                   else "")
    limit = f"{sign} {number(rule.get('limit'))}".strip() if rule.get("limit") is not None else "off"
    return (str(rule.get("gate", "-")), cls, scope, limit, number(rule.get("value")), number(rule.get("teacher")),
            result)


def ood_section(manifest: Mapping[str, Any]) -> Section:
    safety = mapping(manifest.get("safety"))
    ood = mapping(mapping(manifest.get("evaluation")).get("ood"))
    detector, low = mapping(safety.get("out_of_distribution")), mapping(safety.get("low_confidence"))
    if not (ood or detector or low):
        return Section("Out-of-distribution detection", "ood",
                       (not_measured("the artifact has no out-of-distribution detector (manifest.safety) and no "
                                     "evaluation.ood"),))
    blocks: list[Block] = []
    if detector:
        blocks.append(Paragraph(_flag_sentence("out of distribution", detector)))
    if low:
        blocks.append(Paragraph(_flag_sentence("low confidence", low)))
    if is_number(ood.get("false_flag_rate_target")):
        blocks.append(Paragraph(f"Target false-flag rate on in-distribution inputs: "
                                f"{percent(ood['false_flag_rate_target'])}."))
    inside = mapping(ood.get("in_distribution"))
    if inside:
        rows = [("flagged out of distribution", percent(inside.get("teacher_false_flag_rate")),
                 percent(inside.get("artifact_false_flag_rate")))]
        if any(inside.get(f"{model}_low_confidence_rate") is not None for model in ("teacher", "artifact")):
            rows.append(("flagged low confidence", percent(inside.get("teacher_low_confidence_rate")),
                         percent(inside.get("artifact_low_confidence_rate"))))
        data = {key: inside[key] for key in ("source", "count", "sha256") if key in inside}
        blocks.append(table(["in-distribution inputs", "teacher", "artifact"], rows,
                            f"False flags on in-distribution data ({fingerprint(data)})"))
    sets = {str(name): mapping(entry) for name, entry in mapping(ood.get("sets")).items()}
    if sets:
        rows = [(name, number(entry.get("count")), number(entry.get("teacher_auroc"), 3),
                 number(entry.get("artifact_auroc"), 3), percent(entry.get("teacher_flag_rate")),
                 percent(entry.get("artifact_flag_rate"))) for name, entry in sets.items()]
        blocks.append(table(["set", "inputs", "AUROC teacher", "AUROC artifact", "flagged teacher",
                             "flagged artifact"], rows, "Out-of-distribution sets: how well the score separates "
                                                        "each set from in-distribution data (AUROC), and how many "
                                                        "of its inputs are flagged"))
        if len(sets) <= MAX_CLASSES_DRAWN:
            groups = [{"title": "", "categories": list(sets), "series": [
                {"name": "teacher", "values": [entry.get("teacher_auroc") for entry in sets.values()]},
                {"name": "artifact", "values": [entry.get("artifact_auroc") for entry in sets.values()]}]}]
            blocks.append(Plot("ood_auroc", "bars", {"groups": groups, "xlabel": "AUROC", "xlim": [0.0, 1.0]},
                               "Bar chart of out-of-distribution AUROC per set, teacher beside artifact",
                               "AUROC per out-of-distribution set: teacher (grey) and artifact (blue); 0.5 is "
                               "chance, 1.0 perfect separation."))
    elif not ood:
        blocks.append(not_measured("no evaluation.ood: the detector's flag rates on shifted data"))
    return Section("Out-of-distribution detection", "ood", tuple(blocks))


SCORE_NAMES = {  # the scores of runtime/safety.py
    "mahalanobis": "class-conditional Mahalanobis distance (squared, standardised features)",
    "max_probability": "calibrated top class probability",
    "mean_pixel_max_probability": "calibrated top class probability averaged over the pixels",
}


def _flag_sentence(what: str, entry: Mapping[str, Any]) -> str:
    score = str(entry.get("score") or "score")
    side = "below" if score.endswith("probability") else "above"
    described = SCORE_NAMES.get(score, score)
    sentence = f"Inputs are flagged {what} when their {described} is {side} {number(entry.get('threshold'))}"
    if is_number(entry.get("false_flag_rate")):
        sentence += f", a threshold set for {percent(entry['false_flag_rate'])} false flags"
    if entry.get("threshold_from"):
        sentence += f" on {fingerprint(entry['threshold_from'])}"
    sentence += "."
    if entry.get("fitted_on"):
        sentence += f" Fitted on {fingerprint(entry['fitted_on'])}."
    features = entry.get("features")
    if isinstance(features, list) and features:
        sentence += f" Features: {compact(features)}."
    return sentence


def calibration_section(manifest: Mapping[str, Any]) -> Section:
    calibration = mapping(mapping(manifest.get("evaluation")).get("calibration"))
    stored = mapping(mapping(manifest.get("safety")).get("temperature"))
    temperature = calibration.get("temperature", stored.get("value"))
    if not calibration:
        lines: tuple[Block, ...] = (not_measured("the manifest has no evaluation.calibration (expected calibration "
                                                 "error, reliability)"),)
        if is_number(temperature):
            lines += (Paragraph(f"The artifact divides its logits by a temperature T = {number(temperature, 3)}."),)
        return Section("Calibration", "calibration", lines)
    models = [("teacher", "teacher"), ("artifact_before", "artifact, before temperature scaling"),
              ("artifact_after", f"artifact, after temperature scaling (T = {number(temperature, 3)})")]
    present = [(key, name, mapping(calibration.get(key))) for key, name in models if calibration.get(key)]
    blocks: list[Block] = [Paragraph(_calibration_sentence(calibration, temperature))]
    blocks.append(table(["model", "expected calibration error"], [(name, number(entry.get("ece"))) for _, name, entry
                                                                  in present]))
    series = [_reliability(name, mapping(entry.get("reliability"))) for key, name, entry in present]
    series = [entry for entry in series if entry["confidence"]]
    if series:
        blocks.append(Plot("reliability", "reliability", {"series": series},
                           "Reliability diagram: accuracy against confidence for teacher and artifact",
                           "Reliability diagram: each point is a confidence bin; on the diagonal, a model is as "
                           "often right as it is confident."))
    return Section("Calibration", "calibration", tuple(blocks))


def _calibration_sentence(calibration: Mapping[str, Any], temperature: Any) -> str:
    parts = []
    if is_number(temperature):
        fitted = calibration.get("fitted_on")
        parts.append(f"Temperature T = {number(temperature, 3)}" + (f", fitted on {fingerprint(fitted)}" if fitted
                                                                    else ""))
    if calibration.get("evaluated_on"):
        parts.append(f"evaluated on {fingerprint(calibration['evaluated_on'])}")
    if isinstance(calibration.get("bins"), int):
        parts.append(f"{calibration['bins']} confidence bins")
    return ("; ".join(parts) + ".") if parts else "Calibration of the predicted probabilities."


def _reliability(name: str, reliability: Mapping[str, Any]) -> dict[str, Any]:
    """One line of the diagram, with empty bins (no count, or no confidence) left out."""
    confidence, accuracy = sequence(reliability.get("confidence")), sequence(reliability.get("accuracy"))
    count = sequence(reliability.get("count")) or [None] * len(confidence)
    points = [(c, a) for c, a, n in zip(confidence, accuracy, count)
              if is_number(c) and is_number(a) and (n is None or (is_number(n) and n > 0))]
    return {"name": name, "confidence": [c for c, _ in points], "accuracy": [a for _, a in points]}


def _within_unit(*dicts: Mapping[str, Any]) -> bool:
    return all(0.0 <= value <= 1.0 for d in dicts for value in d.values() if is_number(value))


def _file_stem(key: str) -> str:
    return re.sub(r"[^a-z0-9_]+", "_", key.lower()).strip("_")[:40] or "metric"
