"""The result of `compress` as the CLI prints it: one table of teacher vs artifact (size, latency, fidelity), why
the `auto` recipe chose its steps, and what each step did. The fidelity columns are the modality's own."""

from __future__ import annotations

import dataclasses
from typing import Any

from hfm_compress.cli.output import show, table


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
    reasons = manifest.get("recipe_reasons") or []
    if reasons:
        show(table(f"Why these steps (recipe {manifest['recipe_name']})", ["choice and the budget behind it"],
                   [(reason,) for reason in reasons]))
    show(table("Recipe steps", ["step", "time", "what it did"],
               [(r.step, f"{r.seconds:.1f} s", _summary(r.details)) for r in result.reports]))


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
