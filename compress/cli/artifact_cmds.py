"""`inspect`, `run` and `bench`: everything that only needs the runtime (works with the base install)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import numpy as np
import typer
from rich.progress import Progress

from hfm_compress.cli.errors import EXIT_USER_ERROR, reports_errors
from hfm_compress.cli.output import print_json, show, table, verdict
from hfm_runtime.errors import InputError

ArtifactPath = Annotated[Path, typer.Argument(help="Path to a .hfm artifact.")]
ProfileOption = Annotated[str, typer.Option("--profile", "-p", help="Device profile name or .toml path.")]
JsonFlag = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


@reports_errors
def inspect(
    artifact: ArtifactPath,
    keys: Annotated[list[str], typer.Option("--key", "-k", help="Trusted public key (.pub); repeat for several.")] = [],  # noqa: B006
    as_json: JsonFlag = False,
) -> None:
    """Verify an artifact (the same checks as load) and print its manifest and who signed it."""
    from hfm_runtime.artifact import read_artifact
    from hfm_runtime.signing import TrustPolicy

    policy = TrustPolicy(trusted_keys=tuple(keys), source="--key")
    verified = read_artifact(artifact, policy)
    manifest = dict(verified.manifest)
    if as_json:
        print_json({**manifest, "verification": {"verified": True, **verified.trust.to_dict()}})
        return
    model = manifest.get("model", {})
    source = manifest.get("source", {})
    rows = [
        ("name", manifest.get("name")),
        ("signer", verified.trust.describe()),
        ("manifest sha256", verified.digest),
        ("task", manifest.get("task")),
        ("format", f"artifact format v{manifest.get('format_version')}"),
        ("precision", model.get("precision")),
        ("model size", f"{model.get('size_bytes', 0) / 1e6:.2f} MB ({model.get('file', 'model.onnx')}, unpacked)"),
        ("parameters", f"{model.get('parameters', 'n/a'):,}" if isinstance(model.get("parameters"), int) else "n/a"),
        ("inputs", ", ".join(f"{i['name']}:{i['dtype']}" for i in manifest.get("inputs", []))),
        ("outputs", ", ".join(o["name"] for o in manifest.get("outputs", []))),
        ("source", _source(source)),
        ("profile", manifest.get("profile", {}).get("name")),
        ("recipe", " -> ".join(step.get("type", "?") for step in manifest.get("recipe", [])) or "-"),
        ("calibration", _fingerprint(manifest.get("calibration"))),
        ("self-test", _golden_summary(manifest.get("golden") or {})),
        ("created", manifest.get("created")),
        ("built by", _toolchain(manifest.get("toolchain") or {})),
    ]
    show(table(f"{artifact} (verified: format and {len(manifest['members'])} member hashes)", ["field", "value"], rows))
    evaluation = manifest.get("evaluation")
    if evaluation:
        show(table("Evaluation against the teacher (manifest keys)", ["metric", "value"], _evaluation_rows(evaluation)))


@reports_errors
def run(
    artifact: ArtifactPath,
    inputs: Annotated[Optional[list[str]], typer.Argument(
        help="Texts, or files with one text per line; imaging: PNG/JPEG/DICOM files; signals: WFDB/CSV/NPY records.")] = None,
    profile: ProfileOption = "clinic-cpu",
    batch_size: Annotated[int, typer.Option(help="Inputs per inference call.")] = 32,
    fs: Annotated[Optional[float], typer.Option(
        help="Signals: sampling rate (Hz) of CSV/NPY records and of WFDB records whose header gives none "
             "(default for CSV/NPY: the model's rate).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Run an artifact on inputs with the runtime (verifies and self-tests first). Every result shows its flags;
    results the profile withholds show why instead of an answer (docs/safety.md)."""
    import hfm_runtime
    from hfm_runtime.inputs import TEXT_TASKS

    model = hfm_runtime.load(artifact, profile=profile)
    if model.task not in TEXT_TASKS:
        return _run_files(model, artifact, profile, inputs or [], batch_size, as_json, fs)
    texts = _collect_texts(inputs or [])
    predictions = model.predict(texts, batch_size=batch_size)
    labels = model.labels
    if as_json:
        results = [{"input": text, **_safety_fields(result)} for text, result in zip(texts, predictions)]
        print_json({"task": model.task, "labels": labels, "outputs": [r.output for r in predictions],
                    "inputs": texts, "results": results, **_policy_fields(model, [predictions])})
        return
    if model.task == "classification" and labels:
        rows = [(_short(t), *_class_cells(r, labels), _flags_cell(r.flags)) for t, r in zip(texts, predictions)]
        show(table(f"{artifact} on {profile}", ["input", "class", "probability", "flags"], rows))
    else:
        rows = [(_short(t), predictions.outputs.shape[1], _head_cell(r), _flags_cell(r.flags))
                for t, r in zip(texts, predictions)]
        show(table(f"{artifact} on {profile}: embeddings", ["input", "dim", "first values", "flags"], rows))
    _print_safety_summary(model, [predictions])


@reports_errors
def bench(
    artifact: ArtifactPath,
    profile: ProfileOption = "clinic-cpu",
    runs: Annotated[int, typer.Option(min=5, help="Timed runs after warm-up.")] = 100,
    warmup: Annotated[int, typer.Option(min=0, help="Untimed warm-up runs.")] = 10,
    batch_size: Annotated[int, typer.Option(min=1, help="Inputs per timed call.")] = 1,
    inputs: Annotated[Optional[Path], typer.Option("--inputs", help="File with one text per line (default: the artifact's golden texts).")] = None,
    strict: Annotated[bool, typer.Option(help="Exit 1 when a budget fails.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Measure latency p50/p95, peak memory and size under the profile; say which budgets hold."""
    from hfm_runtime.bench import bench as run_bench

    texts = _read_lines(inputs) if inputs else None
    with Progress(transient=True, disable=as_json) as progress:
        task = progress.add_task("timing", total=runs)
        result = run_bench(artifact, profile, texts, runs=runs, warmup=warmup, batch_size=batch_size,
                           progress=lambda done, total: progress.update(task, completed=done))
    if as_json:
        print_json(result.to_dict())
    else:
        rows = [
            ("latency p50 / p95", f"{result.p50_ms:.2f} / {result.p95_ms:.2f} ms (batch {batch_size}, {result.threads} threads, {runs} runs)"),
            (f"{result.unit}s per second", f"{result.per_second:.1f} here, {result.per_second_device:.1f} on the profile's "
                                            "device (assumed slowdown)"),
            ("load + verify + self-test", f"{result.load_ms:.0f} ms"),
            ("peak RSS / added by model", f"{result.peak_rss_mb:.1f} / {result.rss_added_mb:.1f} MB"),
            ("artifact size", f"{result.size_mb:.2f} MB"),
        ] + [("note", note) for note in result.notes]
        show(table(f"bench {artifact} on {result.profile} (this machine)", ["measure", "value"], rows))
        checks = [(c.budget, f"{c.measured:g} {c.unit}" if c.measured == c.measured else c.unit,
                   f"{c.limit:g}" if c.limit == c.limit else "-", verdict(c.passed), c.detail) for c in result.checks]
        show(table("Budgets", ["budget", "measured (device)", "limit", "", "how"], checks))
    if strict and not result.all_passed:
        raise typer.Exit(1)


def _run_files(model: Any, artifact: Path, profile: str, paths: list[str], batch_size: int, as_json: bool,
               fs: float | None) -> None:
    """Image or signal files: one row per frame (a cine DICOM has several) or per window of a record."""
    if not paths:
        raise InputError("no inputs given; pass image files (PNG, JPEG, DICOM) or signal records (WFDB, CSV, NPY)")
    unit = "window" if model.task == "signal-classification" else "frame"
    hop = model.manifest["preprocessing"].get("hop_seconds")
    results, rows, runs = [], [], []
    for path in paths:
        predictions = model.predict(path, batch_size=batch_size, fs=fs)
        runs.append(predictions)
        for result in predictions:
            at = f"{path} {unit} {result.index}" + (f" ({result.index * hop:g} s)" if hop else "")
            if model.task == "segmentation":
                fraction = None if result.output is None else float(np.mean(result.output.argmax(0) > 0))
                results.append({"input": at, "foreground_fraction": fraction, **_safety_fields(result)})
                shown = _withheld_cell(result) if fraction is None else f"{fraction:.2%}"
                rows.append((at, shown, _flags_cell(result.flags)))
            else:
                label, probability = _class_cells(result, model.labels)
                output = result.output
                results.append({"input": at, "class": None if output is None else label,
                                "probability": None if output is None else float(output.max()),
                                "probabilities": None if output is None else output.tolist(),
                                **_safety_fields(result)})
                rows.append((at, label, probability, _flags_cell(result.flags)))
    if as_json:
        print_json({"task": model.task, "labels": model.labels, "results": results, **_policy_fields(model, runs)})
        return
    if model.task == "segmentation":
        show(table(f"{artifact} on {profile}: segmentation", ["input", "pixels not background", "flags"], rows))
    else:
        show(table(f"{artifact} on {profile}", ["input", "class", "probability", "flags"], rows))
    _print_safety_summary(model, runs)


def _safety_fields(result: Any) -> dict[str, Any]:
    """What `--json` says about one result's safety: its flags, the scores behind them, whether it was withheld."""
    from hfm_runtime.results import json_scores

    return {"flags": list(result.flags), "scores": json_scores(result.scores), "withheld": result.withheld}


def _policy_fields(model: Any, runs: list[Any]) -> dict[str, Any]:
    """Counts over every `predict` call of one command, and the policy that withheld results."""
    return {"flagged": sum(r.flagged for r in runs), "withheld": sum(int(r.withheld.sum()) for r in runs),
            "count": sum(len(r) for r in runs),
            "policy": {"withhold": list(model.policy.withhold), "source": model.policy.source,
                       "checks": list(model.safety_checks)}}


def _class_cells(result: Any, labels: list[str]) -> tuple[str, str]:
    if result.output is None:
        return _withheld_cell(result), "-"
    return labels[int(result.output.argmax())], f"{float(result.output.max()):.3f}"


def _head_cell(result: Any) -> str:
    if result.output is None:
        return _withheld_cell(result)
    return " ".join(f"{v:+.3f}" for v in result.output[:4]) + " ..."


def _withheld_cell(result: Any) -> str:
    return f"withheld ({', '.join(result.flags)})"


def _flags_cell(flags: tuple[str, ...]) -> str:
    return ", ".join(flags) if flags else "-"


def _print_safety_summary(model: Any, runs: list[Any]) -> None:
    """`N of M results flagged (k withheld under profile P)`, and a note for each flag the policy withholds that this
    artifact cannot raise (it carries no such check), so a policy that cannot act is never taken for one that did."""
    counts = _policy_fields(model, runs)
    show(f"{counts['flagged']} of {counts['count']} results flagged ({counts['withheld']} withheld under "
         f"{model.policy.source})")
    if not model.safety_checks:
        show("note: this artifact carries no safety checks (no out-of-distribution detector, no confidence "
             "threshold): only signal quality can flag a result")
        return
    for flag in model.policy.withhold:
        if flag not in model.safety_checks:
            show(f"note: {model.policy.source} withholds {flag} results, but this artifact carries no {flag} check")


def _golden_summary(entry: dict[str, Any]) -> str:
    pairs = (f"{len(entry['texts'])} golden texts" if "texts" in entry
             else f"golden arrays in {entry['file']}" if "inputs" in entry else "no golden pairs")
    return f"{pairs}, atol {entry.get('atol', 0):.1e}"


def _collect_texts(items: list[str]) -> list[str]:
    if not items:
        raise InputError("no inputs given; pass texts or a file with one text per line")
    texts: list[str] = []
    for item in items:
        texts.extend(_read_lines(Path(item)) if _is_file(item) else [item])
    return texts


def _is_file(item: str) -> bool:
    """Whether a `run` argument names a file; a text that cannot be a path (NUL, a lone surrogate that the file
    system encoding refuses, a word longer than a file name may be) is a text, not an error."""
    if len(item) >= 4096:
        return False
    try:
        return Path(item).is_file()
    except (OSError, ValueError):  # ENAMETOOLONG, EACCES; ValueError covers NUL and UnicodeEncodeError
        return False


def _read_lines(path: Path) -> list[str]:
    shown = _printable(str(path))
    try:
        lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    except (OSError, ValueError) as exc:  # ValueError: UnicodeDecodeError, or a path the OS cannot take
        raise InputError(f"cannot read inputs from {shown}: {_printable(str(exc))}; expected a UTF-8 text file "
                         "with one text per line") from None
    texts = [line for line in lines if line]
    if not texts:
        raise InputError(f"{shown} holds no texts (expected one text per line)")
    return texts


def _printable(text: str) -> str:
    """A file name or message with lone surrogates (undecodable bytes) escaped, so printing it cannot fail."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _short(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def _fingerprint(entry: Any) -> str:
    if not entry:
        return "-"
    return f"{entry.get('count')} inputs, sha256 {str(entry.get('sha256', ''))[:12]}"


def _source(source: dict[str, Any]) -> str:
    digest = str(source.get("sha256") or "")[:12]
    return f"{source.get('name', '-')}" + (f", sha256 {digest}" if digest else "")


def _toolchain(toolchain: dict[str, Any]) -> str:
    """`{'name': 'hfm-compress', 'version': '0.1.0', 'runtime_version': '0.1.0'}` -> `hfm-compress 0.1.0 (runtime 0.1.0)`"""
    built = " ".join(str(toolchain[key]) for key in ("name", "version") if toolchain.get(key))
    runtime = f"runtime {toolchain['runtime_version']}" if toolchain.get("runtime_version") else ""
    return f"{built} ({runtime})" if built and runtime else built or runtime or "-"


# Units and meaning for the evaluation's sizes: the artifact file is the packed .hfm, smaller than model.onnx.
_EVALUATION_NOTES = {
    "size.artifact_mb": "the .hfm file, packed",
    "size.teacher_fp32_mb": "the teacher in fp32",
    "size.ratio": "artifact / teacher",
}


def _evaluation_rows(evaluation: dict[str, Any]) -> list[tuple[str, str]]:
    rows = []
    for key, value in _flatten(evaluation):
        if key.endswith("_mb") and isinstance(value, (int, float)):
            shown = f"{value:.2f} MB"
        elif key.endswith("_ms") and isinstance(value, (int, float)):
            shown = f"{value:.2f} ms"
        elif key.endswith("sha256"):
            shown = str(value)[:12]  # as the calibration row; --json has the whole digest
        else:
            shown = f"{value:.4f}" if isinstance(value, float) else str(value)
        rows.append((key, f"{shown} ({_EVALUATION_NOTES[key]})" if key in _EVALUATION_NOTES else shown))
    return rows


def _flatten(data: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = []
    for key, value in data.items():
        if isinstance(value, dict):
            rows.extend(_flatten(value, f"{prefix}{key}."))
        else:
            rows.append((f"{prefix}{key}", value))
    return rows


__all__ = ["EXIT_USER_ERROR", "bench", "inspect", "run"]
