"""Wearable ECG: the fp32 teacher, the teacher in INT8 and the `auto` artifact (distilled, pruned, INT8, ORT format)
side by side in one run, then 24 hours of simulated ECG streamed through the runtime.

Usage: python benchmarks/bench_wearable.py [--teacher DIR] [--hours 24] [--reuse]
The teacher defaults to benchmarks/out/teachers/ecg-cnn (train_ecg_teacher.py writes it). Artifacts are built with
the toolchain API (`hfm_compress.compress(TEACHER, "wearable", "fp32"|"int8"|"auto", ...)`); `--reuse` keeps built ones.
Per-window latency: 1 thread, batch 1, the three contenders interleaved by blocks on the same held-out windows.
Session memory: RSS after opening the session minus before, in a fresh process (first session: includes ONNX
Runtime's one-time environment set-up) and again in the same process (the model's own cost); median of 3.
Writes benchmarks/out/wearable.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from common import OUT_DIR, machine, median, print_table, run_child, write_json

HERE = Path(__file__).parent
RECIPES = ("fp32", "int8", "auto")

MEMORY_CODE = """
import gc, json
from hfm_runtime.memory import rss_mb
import hfm_runtime
from hfm_runtime.artifact import read_artifact
from hfm_runtime.profiles import load_profile
from hfm_runtime.session import SessionSettings
artifact = read_artifact({path!r})
member = artifact.manifest["model"].get("ort_file") if {ort!r} else artifact.manifest["model"]["file"]
data = artifact.member(member)
settings = SessionSettings.from_profile(load_profile("wearable"))
fmt = "ort" if {ort!r} else "onnx"
gc.collect()
before = rss_mb()
session = settings.open(data, fmt)
first = rss_mb() - before
del session
gc.collect()
before = rss_mb()
session = settings.open(data, fmt)
print(json.dumps({{"added_mb": first, "again_mb": rss_mb() - before}}))
"""


def build(teacher: Path, recipe: str, out: Path, reuse: bool, profile: str = "wearable", data: str = "synth:ecg",
          train: str | None = None) -> dict:
    if not (reuse and out.exists()):
        started = time.perf_counter()
        import hfm_compress
        from hfm_compress.errors import CompressError

        try:
            hfm_compress.compress(str(teacher), profile, recipe, out=out, calib=data, eval=data, train=train or data)
        except CompressError as exc:
            raise SystemExit(f"compress --recipe {recipe} failed: {exc}") from None
        print(f"built {out.name} in {time.perf_counter() - started:.0f} s")
    from hfm_runtime.artifact import read_artifact

    return dict(read_artifact(out).manifest)


def session_memory(path: Path, ort: bool, repeats: int = 3) -> tuple[float, float]:
    """RSS added by opening the session: as the first session of a process (it also initialises ONNX Runtime's
    environment, ~9 MB in the full Python build), and once more in the same process (the model's own cost)."""
    runs = [json.loads(run_child(MEMORY_CODE.format(path=str(path), ort=ort))["stdout"]) for _ in range(repeats)]
    return round(median([r["added_mb"] for r in runs]), 2), round(median([r["again_mb"] for r in runs]), 2)


def latency(paths: dict[str, Path], windows, profile: str = "wearable") -> dict[str, float]:
    """Median ms per input at the profile's threads; contenders interleaved (`evaluate.interleaved_latency_ms`)."""
    from hfm_compress.evaluate.latency import interleaved_latency_ms
    from hfm_runtime.artifact import read_artifact
    from hfm_runtime.profiles import load_profile
    from hfm_runtime.session import SessionSettings

    settings = SessionSettings.from_profile(load_profile(profile))
    runners = {}
    for name, path in paths.items():
        artifact = read_artifact(path)
        entry = artifact.manifest["model"]
        fmt = "ort" if entry.get("ort_file") else "onnx"
        session = settings.open(artifact.member(entry.get("ort_file") or entry["file"]), fmt)
        runners[name] = (lambda s: lambda x: s.run(None, {"input": x[None]}))(session)
    return interleaved_latency_ms(runners, list(windows), passes=3)


def stream_day(path: Path, hours: float) -> dict:
    """Stream `hours` of simulated ambulatory ECG in 60 s chunks; RSS sampled every simulated hour."""
    import numpy as np

    import hfm_runtime
    from hfm_compress.synth import ecg
    from hfm_runtime.memory import rss_mb

    model = hfm_runtime.load(path, "wearable")
    stream = model.stream(input_fs=ecg.DEFAULT_FS)
    counts: dict[str, int] = {}
    rss = []
    compute = 0.0
    started = time.perf_counter()
    for number, chunk in enumerate(ecg.iter_record_chunks(hours, seed=24, chunk_seconds=60.0)):
        begin = time.perf_counter()
        results = stream.push(chunk)
        compute += time.perf_counter() - begin
        for result in results:
            key = model.labels[int(np.argmax(result.probabilities))] if result.ok else result.quality
            counts[key] = counts.get(key, 0) + 1
        if number % 60 == 0:
            rss.append(round(rss_mb(), 1))
    results = stream.flush()
    windows = sum(counts.values()) + len(results)
    return {"hours": hours, "windows": windows, "wall_s": round(time.perf_counter() - started, 1),
            "runtime_s": round(compute, 1), "windows_per_s": round(windows / compute, 1),
            "rss_mb_hourly": rss, "rss_spread_mb": round(max(rss) - min(rss), 1), "classes": counts,
            "note": "runtime_s counts push() only (preprocessing + model); wall_s also counts the ECG simulator"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teacher", type=Path, default=OUT_DIR / "teachers" / "ecg-cnn")
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--reuse", action="store_true", help="keep artifacts built by an earlier run")
    args = parser.parse_args()
    if not args.teacher.exists():
        raise SystemExit(f"{args.teacher} is missing: run python benchmarks/train_ecg_teacher.py first")
    folder = OUT_DIR / "wearable"
    folder.mkdir(parents=True, exist_ok=True)
    paths = {recipe: folder / f"ecg-{recipe}.hfm" for recipe in RECIPES}
    # The fp32 and INT8 teachers cannot be packed for the wearable's 256 KB budget: they are packed for the same
    # session settings with the budgets lifted (wearable-reference.toml); every latency and memory figure below is
    # measured with the wearable profile's session settings.
    manifests = {recipe: build(args.teacher, recipe, path, args.reuse,
                               "wearable" if recipe == "auto" else str(HERE / "wearable-reference.toml"))
                 for recipe, path in paths.items()}

    from hfm_compress.sources.arrays import load_set

    auto_manifest = manifests["auto"]
    evaluation = load_set("synth:ecg", "evaluation", auto_manifest["task"], auto_manifest["preprocessing"])
    times = latency(paths, evaluation.inputs[:48])
    rows, results = [], {}
    teacher_size = paths["fp32"].stat().st_size
    for recipe in RECIPES:
        manifest = manifests[recipe]
        fidelity = manifest["evaluation"]["fidelity"]
        ort = bool(manifest["model"].get("ort_file"))
        result = {
            "size_kb": round(paths[recipe].stat().st_size / 1000, 1),
            "size_ratio_vs_teacher": round(teacher_size / paths[recipe].stat().st_size, 2),
            "ms_per_window": round(times[recipe], 3),
            "speedup_vs_teacher_onnx_fp32": round(times["fp32"] / times[recipe], 2),
            **dict(zip(("session_memory_mb", "session_memory_again_mb"), session_memory(paths[recipe], ort))),
            "agreement": fidelity["agreement"], "accuracy": fidelity.get("accuracy"),
            "af_sensitivity": fidelity["sensitivity"]["atrial_fibrillation"],
            "teacher_af_sensitivity": fidelity["teacher_sensitivity"]["atrial_fibrillation"],
            "max_sensitivity_drop": fidelity["max_sensitivity_drop"],
            "model_format": "ort" if ort else "onnx",
            "recipe": [step["type"] for step in manifest["recipe"]],
        }
        results[recipe] = result
        rows.append((recipe, f"{result['size_kb']:.0f} KB", f"{result['size_ratio_vs_teacher']:.1f}x",
                     f"{result['ms_per_window']:.3f} ms", f"{result['speedup_vs_teacher_onnx_fp32']:.2f}x",
                     f"{result['session_memory_mb']:.1f} / {result['session_memory_again_mb']:.1f} MB",
                     f"{result['agreement']:.4f}",
                     f"{result['af_sensitivity']:.3f} ({result['teacher_af_sensitivity']:.3f})",
                     f"{result['max_sensitivity_drop']:+.3f}"))
    print_table(f"Wearable ECG, {len(evaluation)} held-out 10 s windows; latency 1 thread batch 1 (this machine)",
                ["recipe", "size", "smaller", "per window", "faster than fp32", "session memory first / again", "agreement",
                 "AF sensitivity (teacher)", "max sens. drop"], rows)
    day = stream_day(paths["auto"], args.hours)
    print_table(f"Streaming {args.hours:g} h of simulated ECG through the auto artifact (60 s chunks)",
                ["windows", "runtime", "windows/s", "RSS hourly min-max", "classes"],
                [(day["windows"], f"{day['runtime_s']} s", day["windows_per_s"],
                  f"{min(day['rss_mb_hourly'])}-{max(day['rss_mb_hourly'])} MB", json.dumps(day["classes"]))])
    path = write_json("wearable", {"machine": machine(), "variants": results, "stream": day,
                                   "goals": {"size_kb_max": 256, "smaller_min": 8, "agreement_min": 0.98,
                                             "af_drop_max": 0.01, "speedup_min": 3, "session_memory_mb_max": 8}})
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
