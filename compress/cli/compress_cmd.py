"""`hfm-compress compress SOURCE --profile NAME --out PATH.hfm`: build and verify an artifact."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from hfm_compress.cli.errors import EXIT_INTERRUPTED, reports_errors
from hfm_compress.cli.output import print_json, show
from hfm_compress.cli.progress import progress_bar
from hfm_compress.cli.report import print_gate_failure, print_result


@reports_errors
def compress(
    source: Annotated[str, typer.Argument(help=(
        "'default' (the packaged MiniLM-L6), a local Hugging Face folder, an .onnx file with its tokenizer.json beside "
        "it, a module folder, package.module:factory, or a Hub id with --allow-download."))],
    profile: Annotated[str, typer.Option("--profile", "-p", help="Device profile name or .toml path.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the .hfm artifact.")],
    recipe: Annotated[Optional[str], typer.Option(
        help="fp32, int8, auto (steps chosen from the profile's budgets) or a .toml/.json recipe file.",
        show_default="int8; imaging/signal: auto")] = None,
    task: Annotated[Optional[str], typer.Option(
        help="Text: embedding or classification. Imaging/signal: image-classification, segmentation or "
             "signal-classification.", show_default="embedding; imaging/signal: the model's own")] = None,
    calib: Annotated[Optional[str], typer.Option(
        help="Calibration data: texts, one per line; imaging/signal: an .npz file, synth:ultrasound or synth:ecg.",
        show_default="the bundled clinical set; imaging/signal: the model's own")] = None,
    eval_texts: Annotated[Optional[str], typer.Option(
        "--eval", help="Held-out evaluation data, as --calib.",
        show_default="the bundled clinical evaluation split; imaging/signal: the model's own")] = None,
    train: Annotated[Optional[str], typer.Option(
        help="Imaging/signal: training data for distillation and pruning recovery (.npz or synth:...).",
        show_default="the model's own")] = None,
    input_spec: Annotated[Optional[Path], typer.Option(
        help="For a SOURCE given as package.module:factory without an hfm_spec: a JSON file with its task, labels and "
             "preprocessing.")] = None,
    allow_download: Annotated[bool, typer.Option(help="Allow a Hugging Face Hub id as SOURCE (needs a network).")] = False,
    corpus: Annotated[Optional[Path], typer.Option(
        help="In-domain texts, one per line, for the distill and vocab steps.",
        show_default="the bundled clinical corpus")] = None,
    resume: Annotated[bool, typer.Option(
        help="Continue an interrupted distillation from its checkpoints beside --out (model.distill-checkpoints/ for model.hfm).")] = False,
    sign: Annotated[Optional[Path], typer.Option(
        "--sign", help="Sign the artifact with this private key (hfm-compress keygen); devices verify it.")] = None,
    gate: Annotated[Optional[list[str]], typer.Option(
        "--gate", help="A gate the artifact must pass, NAME=VALUE or sensitivity_drop[CLASS]=VALUE, repeatable: "
                       "sensitivity_drop, dice_drop (largest drop against the teacher, 0.01 = 1 point), "
                       "neighbour_overlap, agreement (floors), or NAME=off. Over the recipe file's and the "
                       "profile's gates; see docs/gates.md.",
        show_default="sensitivity_drop=0.01 (critical classes 0.005), dice_drop=0.02, neighbour_overlap=0.70")] = None,
    false_flag_rate: Annotated[float, typer.Option(
        help="Share of held-out in-distribution inputs the out_of_distribution and low_confidence flags may raise; "
             "their thresholds are chosen at it (docs/safety.md).")] = 0.01,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Distil/prune/quantize SOURCE into a verified artifact for a device profile; print teacher vs artifact."""
    import hfm_compress
    from hfm_compress.distill.loop import DistillInterrupted
    from hfm_compress.gates import GateError

    try:
        with progress_bar(not as_json) as progress:
            result = hfm_compress.compress(source, profile, recipe, out=out, task=task, calib=calib, eval=eval_texts,
                                           train=train, corpus=corpus, input_spec=input_spec,
                                           allow_download=allow_download, resume=resume, progress=progress, sign=sign,
                                           gates=gate or None, false_flag_rate=false_flag_rate)
    except DistillInterrupted as exc:
        typer.echo(f"interrupted: {exc} (the same command with --resume continues)", err=True)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except GateError as exc:  # the table of what failed, then the one-line error and its exit code
        if as_json:
            print_json({"artifact": None, "error": str(exc), "gates": exc.report.to_dict()})
        else:
            print_gate_failure(exc.report)
        raise
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
