"""The result of `compress` as the CLI prints it: one table of teacher vs artifact (size, latency, fidelity), the
gates it passed and its worst subgroup, why the `auto` recipe chose its steps, and what each step did. The fidelity
columns are the modality's own. A refused artifact prints the gates that failed (`print_gate_failure`)."""

from __future__ import annotations

import dataclasses
from typing import Any

from rich.text import Text

from hfm_compress.cli.output import show, table, verdict


@dataclasses.dataclass
class Columns:
    unit: str  # what the held-out items are: texts, frames, windows
    count: int
    size_format: str  # MB digits and ratio format
    ratio_format: str
    headers: list[str]
    teacher_cells: list[str]  # fidelity cells of the teacher rows (reference values)
    onnx_cells: list[str]
    artifact_cells: list[str]
    artifact_label: str
    speed: str  # extra text after the artifact's latency ratio


def print_result(result: Any) -> None:
    evaluation, manifest = result.evaluation, result.manifest
    size, latency = evaluation["size"], evaluation["latency_batch1"]
    cols = _text_columns(result) if "texts" in evaluation else _tensor_columns(result)
    mb = lambda value: f"{value:{cols.size_format}} MB"  # noqa: E731
    rows = []
    if latency.get("teacher_torch_fp32_ms") is not None:
        rows.append(("teacher, PyTorch fp32", mb(size["teacher_fp32_mb"]), f"{latency['teacher_torch_fp32_ms']:.2f} ms",
                     *cols.teacher_cells))
    if latency.get("teacher_onnx_fp32_ms") is not None:
        rows.append(("teacher, ONNX Runtime fp32", mb(size["teacher_fp32_mb"]),
                     f"{latency['teacher_onnx_fp32_ms']:.2f} ms", *cols.onnx_cells))
    rows.append((cols.artifact_label, f"{mb(size['artifact_mb'])} ({size['ratio']:{cols.ratio_format}})",
                 f"{latency['artifact_ms']:.2f} ms ({latency['ratio_vs_onnx_fp32'] or 0:.2f}x ORT fp32{cols.speed})",
                 *cols.artifact_cells))
    show(table(f"{result.path}: teacher vs artifact on {cols.count} held-out {cols.unit} "
               f"(batch 1, {latency['threads']} threads, this machine)",
               ["model", "size", "latency p50", *cols.headers], rows))
    if evaluation.get("gates"):
        print_gates(evaluation["gates"])
    _print_worst_subgroup(evaluation["fidelity"].get("subgroups"))
    _print_safety(evaluation.get("ood"), evaluation.get("calibration"))
    reasons = manifest.get("recipe_reasons") or []
    if reasons:
        show(table(f"Why these steps (recipe {manifest['recipe_name']})", ["choice and the budget behind it"],
                   [(reason,) for reason in reasons]))
    show(table("Recipe steps", ["step", "time", "what it did"],
               [(r.step, f"{r.seconds:.1f} s", _summary(r.details)) for r in result.reports]))


GATE_COLUMNS = ["gate", "class", "scope", "limit", "value", "teacher", "result"]


def print_gate_failure(report: Any) -> None:
    """The rows that failed (every candidate `auto` tried, when it tried more than one): no artifact was written."""
    show(table("Gates failed: no artifact written", GATE_COLUMNS, [gate_row(row) for row in report.failed]))
    _print_attempts(report.attempts)


def print_gates(gates: dict[str, Any]) -> None:
    """Every gate on the whole and on its worst subgroup; why a gate did not apply goes in the caption."""
    unchecked = [f"{row['gate']} N/A: {row['note'].removeprefix('not applicable: ')}" for row in gates["rules"]
                 if row["passed"] is None and row["limit"] is not None and row.get("note")]
    show(table(f"Gates: {'all passed' if gates['passed'] else 'FAILED'}", GATE_COLUMNS,
               [gate_row(row) for row in gates["rules"]], caption="; ".join(unchecked) or None))
    _print_attempts(gates.get("attempts") or [])


def gate_row(row: dict[str, Any]) -> tuple[Any, ...]:
    """One gate on one scope: `sensitivity_drop  atrial_fibrillation  overall  <=0.005  1.0000  1.0000  FAIL`."""
    cls = row["class"] or (f"worst: {row['worst_class']}" if row.get("worst_class") else "")
    scope = row["scope"] + (f" (n={row['count']})" if row.get("count") is not None else "")
    limit = "off" if row["limit"] is None else f"{'<=' if row['kind'] == 'max' else '>='}{row['limit']:g}"
    if row["passed"] is None:
        result: Any = "off" if row["limit"] is None else "N/A"
    else:
        result = verdict(row["passed"])
    return row["gate"], cls, scope, limit, _num(row["value"]), _num(row["teacher"]), result


def _print_attempts(attempts: list[dict[str, Any]]) -> None:
    if attempts:
        show(table("Candidates refused by the gates (auto tries the next-larger one)", ["candidate", "failed"],
                   [(a["candidate"], "; ".join(a["failed"])) for a in attempts]))


def _print_worst_subgroup(subgroups: dict[str, Any] | None) -> None:
    """Fidelity per subgroup (the key measure of the modality beside the teacher's accuracy where labels exist),
    the worst subgroup marked, and the one with the largest sensitivity drop."""
    if not subgroups:
        return
    if subgroups.get("unavailable"):
        show(Text(f"Subgroups: not scored ({subgroups['unavailable']})"))
        return
    worst = subgroups.get("worst") or {}
    metric = worst.get("metric")
    rows = []
    for attribute, groups in (subgroups.get("by_attribute") or {}).items():
        for value, metrics in groups.items():
            marker = " (worst)" if (attribute, value) == (worst.get("attribute"), worst.get("value")) else ""
            teacher = metrics.get(worst.get("teacher_metric") or "")
            rows.append((f"{attribute}={value}{marker}", metrics.get("count"), _num(metrics.get(metric)),
                         _num(metrics.get("max_sensitivity_drop")), _num(teacher)))
    skipped = sum(len(values) for values in (subgroups.get("skipped") or {}).values())
    notes = []
    drop = subgroups.get("worst_sensitivity_drop")
    if drop:
        notes.append(f"largest sensitivity drop: {drop['attribute']}={drop['value']} ({drop['drop']:+.4f})")
    if skipped:
        notes.append(f"{skipped} subgroup(s) with fewer than {subgroups.get('min_count')} items not scored")
    if rows:
        teacher_header = (worst.get("teacher_metric") or "teacher").replace("_", " ")
        show(table(f"Fidelity per subgroup ({metric})", ["subgroup", "items", metric or "score",
                                                         "max sensitivity drop", teacher_header],
                   rows, "; ".join(notes) or None))


def _print_safety(ood: dict[str, Any] | None, calibration: dict[str, Any] | None) -> None:
    """The flags the artifact carries, measured on held-out and generated OOD inputs, and its calibration."""
    if not ood:
        return
    if "sets" not in ood:
        show(Text(f"Safety flags: none fitted ({ood.get('skipped', 'not measured')})"))
        return
    ind = ood["in_distribution"]
    rows = [(name, row["count"], f"{row['teacher_auroc']:.3f}", f"{row['artifact_auroc']:.3f}",
             f"{row['teacher_flag_rate']:.0%}", f"{row['artifact_flag_rate']:.0%}") for name, row in ood["sets"].items()]
    rows.append((f"in distribution: {ind['source']}", ind["count"], "", "", f"{ind['teacher_false_flag_rate']:.1%}",
                 f"{ind['artifact_false_flag_rate']:.1%}"))
    caption = None
    if calibration and "artifact_after" in calibration:
        caption = (f"calibration: ECE teacher {calibration['teacher']['ece']:.3f}, artifact "
                   f"{calibration['artifact_before']['ece']:.3f} before, {calibration['artifact_after']['ece']:.3f} "
                   f"after temperature {calibration['temperature']:g}"
                   + ("" if calibration["applied"] else f" (fitted {calibration['fitted_temperature']:g} did not help)"))
    show(table(f"Out-of-distribution flag (threshold at {ood['false_flag_rate_target']:.0%} false flags)",
               ["inputs", "n", "AUROC teacher", "AUROC artifact", "flagged teacher", "flagged artifact"], rows,
               caption))


def _text_columns(result: Any) -> Columns:
    evaluation, fidelity = result.evaluation, result.evaluation["fidelity"]
    if "cosine_mean" in fidelity:
        headers = ["cosine mean / min", "top-1 / top-5 NN overlap", "teacher NN in top 5"]
        cells = [f"{fidelity['cosine_mean']:.4f} / {fidelity['cosine_min']:.4f}",
                 f"{fidelity['top1_neighbour_agreement']:.3f} / {fidelity['top5_neighbour_agreement']:.3f}",
                 f"{fidelity['teacher_nearest_in_top5']:.3f}"]
    else:
        headers = ["class agreement", "max prob. diff", "accuracy (teacher)"]
        accuracy = (f"{fidelity['accuracy']:.3f} ({fidelity['teacher_accuracy']:.3f})" if "accuracy" in fidelity
                    else "-")
        cells = [f"{fidelity['class_agreement']:.3f}", f"{fidelity['probability_max_abs_diff']:.4f}", accuracy]
    return Columns("texts", evaluation["texts"]["count"], ".1f", ".0%", headers, ["reference", "", ""], ["", "", ""],
                   cells, f"artifact ({result.manifest['model']['precision']})", "")


def _tensor_columns(result: Any) -> Columns:
    evaluation, manifest = result.evaluation, result.manifest
    fidelity, latency = evaluation["fidelity"], evaluation["latency_batch1"]
    unit = "frames" if manifest["task"] in ("image-classification", "segmentation") else "windows"
    if manifest["task"] == "segmentation":
        headers = ["Dice vs teacher (min)", "Dice vs truth"]
        teacher_cells = ["reference", _num(fidelity.get("teacher_dice_vs_truth"))]
        cells = [f"{fidelity['dice_vs_teacher']:.4f} ({fidelity['dice_vs_teacher_min']:.3f})",
                 _num(fidelity.get("dice_vs_truth"))]
    else:
        headers = ["agreement", "accuracy", "max sensitivity drop"]
        teacher_cells = ["reference", _num(fidelity.get("teacher_accuracy")), ""]
        cells = [f"{fidelity['agreement']:.4f}", _num(fidelity.get("accuracy")),
                 _num(fidelity.get("max_sensitivity_drop"))]
    return Columns(unit, evaluation["data"]["count"], ".3f", ".1%", headers, teacher_cells, teacher_cells, cells,
                   f"artifact ({manifest['model']['precision']}, {latency['model_format']})",
                   f", {latency['per_second']:g} {unit}/s")


def _num(value: Any) -> str:
    return "-" if value is None else f"{value:.4f}"


def _summary(details: dict[str, Any], limit: int = 6) -> str:
    parts = [f"{k}={v}" for k, v in details.items() if not isinstance(v, (dict, list))][:limit]
    return ", ".join(parts)
