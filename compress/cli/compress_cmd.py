"""`hfm-compress compress SOURCE --profile NAME --out PATH.hfm`: build and verify an artifact."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from hfm_compress.cli.errors import EXIT_INTERRUPTED, reports_errors
from hfm_compress.cli.output import print_json, show, table
from hfm_compress.cli.progress import progress_bar
from hfm_compress.errors import CompressError


@reports_errors
def compress(
    source: Annotated[str, typer.Argument(help="'default' (packaged MiniLM-L6), a local Hugging Face folder, or an .onnx file.")],
    profile: Annotated[str, typer.Option("--profile", "-p", help="Device profile name or .toml path.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the .hfm artifact.")],
    recipe: Annotated[Optional[str], typer.Option(
        help="Named recipe (fp32, int8 = the default, auto = chosen from the profile's budgets) or a .toml/.json recipe file.")] = None,
    task: Annotated[str, typer.Option(help="embedding or classification.")] = "embedding",
    calib: Annotated[Optional[Path], typer.Option(help="Calibration texts, one per line (default: bundled clinical set).")] = None,
    eval_texts: Annotated[Optional[Path], typer.Option("--eval", help="Held-out evaluation texts, one per line.")] = None,
    allow_download: Annotated[bool, typer.Option(help="Allow a Hugging Face Hub id as SOURCE (needs a network).")] = False,
    corpus: Annotated[Optional[Path], typer.Option(
        help="In-domain texts, one per line, for the distill and vocab steps (default: bundled clinical corpus).")] = None,
    resume: Annotated[bool, typer.Option(
        help="Continue an interrupted distillation from its checkpoints beside --out (model.distill-checkpoints/ for model.hfm).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Distil/prune/quantize SOURCE into a verified artifact for a device profile; print teacher vs artifact."""
    from hfm_compress.distill import DistillInterrupted

    if out.suffix != ".hfm":
        raise CompressError(f"--out {out} must end in .hfm")
    try:
        result = run_compress(source, profile, out, recipe, task, calib, eval_texts, allow_download,
                              show_progress=not as_json, corpus=corpus, resume=resume)
    except DistillInterrupted as exc:
        typer.echo(f"interrupted: {exc} (the same command with --resume continues)", err=True)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    if as_json:
        print_json({"artifact": str(result.path), "manifest": result.manifest})
        return
    print_result(result)


def run_compress(source: str, profile_name: str, out: Path, recipe: str | None, task: str, calib: Path | None,
                 eval_texts: Path | None, allow_download: bool = False, show_progress: bool = True,
                 corpus: Path | None = None, resume: bool = False) -> Any:
    """Load the profile, texts and teacher, resolve the recipe (`auto` needs the teacher), run the pipeline."""
    from hfm_compress.pipeline import compress_text_model
    from hfm_compress.recipes import AUTO, DEFAULT_RECIPE, plan_recipe
    from hfm_compress.sources import load_teacher
    from hfm_compress.textdata import hold_out_from_corpus, load_text_data
    from hfm_compress.torch_steps import uses_corpus
    from hfm_runtime.profiles import load_profile

    device = load_profile(profile_name)
    name = recipe or DEFAULT_RECIPE
    plan = None if name == AUTO else plan_recipe(name, device)  # recipe errors before the slow teacher load
    data = load_text_data(calib, eval_texts, corpus)
    with progress_bar(show_progress) as progress:
        progress("load teacher", 0, 1)
        teacher = load_teacher(source, task, allow_download)
        progress("load teacher", 1, 1)
        plan = plan or plan_recipe(name, device, teacher, data.corpus)
        if uses_corpus(plan.steps):
            data = hold_out_from_corpus(data)
        return compress_text_model(teacher, plan.steps, device, out, data, progress, plan.name,
                                   recipe_reasons=plan.reasons, resume=resume)


def print_result(result: Any) -> None:
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
