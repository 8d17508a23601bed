"""`hfm-compress compress SOURCE --profile NAME --out PATH.hfm`: build and verify an artifact."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from hfm_compress.cli.errors import EXIT_INTERRUPTED, reports_errors
from hfm_compress.cli.output import print_json, show, table
from hfm_compress.cli.progress import progress_bar


@reports_errors
def compress(
    source: Annotated[str, typer.Argument(help="'default' (packaged MiniLM-L6), a local Hugging Face folder, or an .onnx file.")],
    profile: Annotated[str, typer.Option("--profile", "-p", help="Device profile name or .toml path.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the .hfm artifact.")],
    recipe: Annotated[Optional[str], typer.Option(
        help="Named recipe (fp32, int8 = the default, auto = chosen from the profile's budgets) or a .toml/.json recipe file.")] = None,
    task: Annotated[Optional[str], typer.Option(
        help="Text: embedding (default) or classification. Imaging/signal: image-classification, segmentation, "
             "signal-classification (default: the model's own).")] = None,
    calib: Annotated[Optional[str], typer.Option(
        help="Calibration data: texts one per line (default: bundled clinical set); imaging/signal: an .npz file or "
             "synth:ultrasound / synth:ecg.")] = None,
    eval_texts: Annotated[Optional[str], typer.Option("--eval", help="Held-out evaluation data, as --calib.")] = None,
    train: Annotated[Optional[str], typer.Option(
        help="Imaging/signal: training data for distillation and pruning recovery (.npz or synth:...).")] = None,
    input_spec: Annotated[Optional[Path], typer.Option(
        help="SOURCE package.module:factory: JSON with task, labels and preprocessing, if the module has no hfm_spec.")] = None,
    allow_download: Annotated[bool, typer.Option(help="Allow a Hugging Face Hub id as SOURCE (needs a network).")] = False,
    corpus: Annotated[Optional[Path], typer.Option(
        help="In-domain texts, one per line, for the distill and vocab steps (default: bundled clinical corpus).")] = None,
    resume: Annotated[bool, typer.Option(
        help="Continue an interrupted distillation from its checkpoints beside --out (model.distill-checkpoints/ for model.hfm).")] = False,
    sign: Annotated[Optional[Path], typer.Option(
        "--sign", help="Sign the artifact with this private key (hfm-compress keygen); devices verify it.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Distil/prune/quantize SOURCE into a verified artifact for a device profile; print teacher vs artifact."""
    import hfm_compress
    from hfm_compress.distill.bert import DistillInterrupted

    try:
        with progress_bar(not as_json) as progress:
            result = hfm_compress.compress(source, profile, recipe, out=out, task=task, calib=calib, eval=eval_texts,
                                           train=train, corpus=corpus, input_spec=input_spec,
                                           allow_download=allow_download, resume=resume, progress=progress, sign=sign)
    except DistillInterrupted as exc:
        typer.echo(f"interrupted: {exc} (the same command with --resume continues)", err=True)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    signature = result.signature
    if as_json:
        print_json({"artifact": str(result.path), "manifest": result.manifest, "signature": signature})
        return
    print_result(result)
    if signature is not None:
        show(f"signed: manifest sha256 {signature['manifest_sha256']}, key id {', '.join(signature['untrusted_signers'])}")


def run_compress(source: str, profile_name: str, out: Path, recipe: str | None, task: str, calib: Path | None,
                 eval_texts: Path | None, allow_download: bool = False, show_progress: bool = True,
                 corpus: Path | None = None, resume: bool = False) -> Any:
    """Positional form of `hfm_compress.compress` for a text SOURCE, with a progress bar (kept for scripts)."""
    import hfm_compress

    with progress_bar(show_progress) as progress:
        return hfm_compress.compress(source, profile_name, recipe, out=out, task=task, calib=calib, eval=eval_texts,
                                     corpus=corpus, allow_download=allow_download, resume=resume, progress=progress)


def print_result(result: Any) -> None:
    if "texts" not in result.evaluation:
        return print_tensor_result(result)
    evaluation = result.evaluation
    size, latency, fidelity = evaluation["size"], evaluation["latency_batch1"], evaluation["fidelity"]
    rows = []
    if latency.get("teacher_torch_fp32_ms") is not None:
        rows.append(("teacher, PyTorch fp32", f"{size['teacher_fp32_mb']:.1f} MB", f"{latency['teacher_torch_fp32_ms']:.2f} ms",
                     "reference", "", ""))
    if latency.get("teacher_onnx_fp32_ms") is not None:
        rows.append(("teacher, ONNX Runtime fp32", f"{size['teacher_fp32_mb']:.1f} MB",
                     f"{latency['teacher_onnx_fp32_ms']:.2f} ms", "", "", ""))
    rows.append((f"artifact ({result.manifest['model']['precision']})", f"{size['artifact_mb']:.1f} MB ({size['ratio']:.0%})",
                 f"{latency['artifact_ms']:.2f} ms ({latency['ratio_vs_onnx_fp32'] or 0:.2f}x ORT fp32)",
                 *_fidelity_cells(fidelity)))
    show(table(f"{result.path}: teacher vs artifact on {evaluation['texts']['count']} held-out texts "
               f"(batch 1, {latency['threads']} threads, this machine)",
               ["model", "size", "latency p50", *_fidelity_headers(fidelity)], rows))
    reasons = result.manifest.get("recipe_reasons") or []
    if reasons:
        show(table(f"Why these steps (recipe {result.manifest['recipe_name']})", ["choice and the budget behind it"],
                   [(reason,) for reason in reasons]))
    steps = [(r.step, f"{r.seconds:.1f} s", _summary(r.details)) for r in result.reports]
    show(table("Recipe steps", ["step", "time", "what it did"], steps))


def print_tensor_result(result: Any) -> None:
    evaluation, manifest = result.evaluation, result.manifest
    size, latency, fidelity = evaluation["size"], evaluation["latency_batch1"], evaluation["fidelity"]
    unit = "frames" if manifest["task"] in ("image-classification", "segmentation") else "windows"
    if manifest["task"] == "segmentation":
        headers = ["Dice vs teacher (min)", "Dice vs truth"]
        teacher_cells = ["reference", _num(fidelity.get("teacher_dice_vs_truth"))]
        cells = [f"{fidelity['dice_vs_teacher']:.4f} ({fidelity['dice_vs_teacher_min']:.3f})",
                 _num(fidelity.get("dice_vs_truth"))]
    else:
        headers = ["agreement", "accuracy", "max sensitivity drop"]
        teacher_cells = ["reference", _num(fidelity.get("teacher_accuracy")), ""]
        cells = [f"{fidelity['agreement']:.4f}", _num(fidelity.get("accuracy")), _num(fidelity.get("max_sensitivity_drop"))]
    rows = [("teacher, PyTorch fp32", f"{size['teacher_fp32_mb']:.3f} MB", f"{latency['teacher_torch_fp32_ms']:.2f} ms", *teacher_cells)]
    if latency.get("teacher_onnx_fp32_ms") is not None:
        rows.append(("teacher, ONNX Runtime fp32", f"{size['teacher_fp32_mb']:.3f} MB",
                     f"{latency['teacher_onnx_fp32_ms']:.2f} ms", *teacher_cells))
    rows.append((f"artifact ({manifest['model']['precision']}, {latency['model_format']})",
                 f"{size['artifact_mb']:.3f} MB ({size['ratio']:.1%})",
                 f"{latency['artifact_ms']:.2f} ms ({latency['ratio_vs_onnx_fp32'] or 0:.2f}x ORT fp32, "
                 f"{latency['per_second']:g} {unit}/s)", *cells))
    show(table(f"{result.path}: teacher vs artifact on {evaluation['data']['count']} held-out {unit} "
               f"(batch 1, {latency['threads']} threads, this machine)", ["model", "size", "latency p50", *headers], rows))
    reasons = manifest.get("recipe_reasons") or []
    if reasons:
        show(table(f"Why these steps (recipe {manifest['recipe_name']})", ["choice and the budget behind it"],
                   [(reason,) for reason in reasons]))
    show(table("Recipe steps", ["step", "time", "what it did"],
               [(r.step, f"{r.seconds:.1f} s", _summary(r.details)) for r in result.reports]))


def _num(value: Any) -> str:
    return "-" if value is None else f"{value:.4f}"


def _fidelity_headers(fidelity: dict[str, float]) -> list[str]:
    if "cosine_mean" in fidelity:
        return ["cosine mean / min", "top-1 / top-5 NN overlap", "teacher NN in top 5"]
    return ["class agreement", "max prob. diff", "accuracy (teacher)"]


def _fidelity_cells(fidelity: dict[str, float]) -> list[str]:
    if "cosine_mean" in fidelity:
        return [f"{fidelity['cosine_mean']:.4f} / {fidelity['cosine_min']:.4f}",
                f"{fidelity['top1_neighbour_agreement']:.3f} / {fidelity['top5_neighbour_agreement']:.3f}",
                f"{fidelity['teacher_nearest_in_top5']:.3f}"]
    accuracy = (f"{fidelity['accuracy']:.3f} ({fidelity['teacher_accuracy']:.3f})" if "accuracy" in fidelity else "-")
    return [f"{fidelity['class_agreement']:.3f}", f"{fidelity['probability_max_abs_diff']:.4f}", accuracy]


def _summary(details: dict[str, Any], limit: int = 6) -> str:
    parts = [f"{k}={v}" for k, v in details.items() if not isinstance(v, (dict, list))][:limit]
    return ", ".join(parts)
