"""Size-fidelity-latency trade-off of MiniLM-L6 students (issue 4): teacher fp32, int8, auto (3 layers), 2 layers.

Each variant is built by `hfm-compress compress default --profile clinic-cpu` with its recipe (distillation on the
bundled clinical corpus), then all are measured in one run on the same held-out texts and thread count: size,
batch-1 latency at real sentence lengths (contenders taking turns on blocks of texts), fidelity to the PyTorch teacher.
Writes benchmarks/out/distill.json and benchmarks/out/distill.png (fidelity against size and against latency).

Usage: python benchmarks/bench_distill.py [--threads 1] [--reuse]   (--reuse: keep artifacts built by a former run)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from common import OUT_DIR, machine, print_table, write_json

# For tighter profiles: 2 layers, half the FFN, the vocabulary cut to the corpus, then INT8 and the 4-bit word table
# (trained against, as in `auto`); the distillation gets as many passes as `auto` gives its student (see main).
TWO_LAYERS = {"steps": [
    {"type": "distill", "layers": [0, 5], "ffn_keep": 0.5, "table_4bit_block": 64},
    {"type": "vocab"}, {"type": "export"}, {"type": "optimize"},
    {"type": "selective-int8", "op_types": ["MatMul", "Attention"]},
    {"type": "int4-weight-only", "quantize_gather": True, "quantize_matmul": False, "symmetric": False,
     "block_size": 64, "gather_indices": ["input_ids"]},
]}


def build(name: str, recipe: str, folder: Path, reuse: bool) -> tuple[Path, float | None]:
    """The artifact and its build seconds (None when an earlier run's artifact is reused)."""
    import hfm_compress
    from hfm_compress.cli.progress import progress_bar

    out = folder / f"{name}.hfm"
    if reuse and out.exists():
        return out, None
    started = time.perf_counter()
    with progress_bar() as progress:
        hfm_compress.compress("default", "clinic-cpu", recipe, out=out, task="embedding", progress=progress)
    return out, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--reuse", action="store_true", help="reuse artifacts of a former run in benchmarks/out/distill/")
    args = parser.parse_args()

    import hfm_runtime
    from hfm_compress.data import load_texts
    from hfm_compress.evaluate.latency import interleaved_latency_ms
    from hfm_compress.export import ExportConfig, export_onnx
    from hfm_compress.evaluate.metrics import embedding_fidelity
    from hfm_compress.modality.text import export_module
    from hfm_compress.recipes.text import distill_passes
    from hfm_compress.sources.reference import teacher_outputs, text_preprocessor
    from hfm_compress.sources.text import load_text_teacher
    from hfm_runtime.postprocess import mean_pool_l2

    folder = OUT_DIR / "distill"
    folder.mkdir(parents=True, exist_ok=True)
    two_layer_recipe = folder / "two-layers.json"
    distill, *rest = TWO_LAYERS["steps"]
    passes = distill_passes(len(load_texts("corpus")))
    two_layer_recipe.write_text(json.dumps({"steps": [{**distill, "epochs": passes}, *rest]}))
    built = {
        "int8, 6 layers": build("int8", "int8", folder, args.reuse),
        "auto: 3 layers (0, 2, 5) + int8 + 4-bit embeddings": build("auto", "auto", folder, args.reuse),
        "2 layers (0, 5), FFN/2 + vocab + int8 + 4-bit emb.": build("two-layers", str(two_layer_recipe), folder,
                                                                      args.reuse),
    }

    import onnxruntime as ort
    import torch

    teacher = load_text_teacher("default")
    pre = text_preprocessor(teacher)
    corpus = set(load_texts("corpus"))
    texts = [t for t in load_texts("eval") if t not in corpus]  # the same held-out rule as the pipeline
    reference = teacher_outputs(teacher, texts)
    work = Path(tempfile.mkdtemp(prefix="bench-distill-"))
    fp32 = work / "teacher.onnx"
    as_torch = lambda feeds: {k: torch.from_numpy(v) for k, v in feeds.items()}  # noqa: E731
    export_onnx(export_module(teacher), as_torch(pre.encode(texts[:2])), ["last_hidden_state"],
                {n: {0: "batch", 1: "sequence"} for n in teacher.input_names + ["last_hidden_state"]}, fp32,
                ExportConfig(), [as_torch(pre.encode(texts[2:5]))])
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    session = ort.InferenceSession(str(fp32), options, providers=["CPUExecutionProvider"])

    def teacher_run(batch: list[str]) -> np.ndarray:
        encoded = pre.encode(batch)
        return mean_pool_l2(session.run(["last_hidden_state"], encoded)[0], encoded["attention_mask"])

    profile = dataclasses.replace(hfm_runtime.load_profile("clinic-cpu"), intra_op_threads=args.threads)
    runners: dict[str, Callable[[list[str]], np.ndarray]] = {"teacher, ONNX Runtime fp32": teacher_run}
    sizes = {"teacher, ONNX Runtime fp32": fp32.stat().st_size}
    for name, (path, _) in built.items():
        model = hfm_runtime.load(path, profile=profile)
        runners[name] = model.run
        sizes[name] = path.stat().st_size
    latency = interleaved_latency_ms({n: (lambda t, run=run: run([t])) for n, run in runners.items()}, texts,
                                     args.passes)
    results: dict[str, dict[str, Any]] = {}
    for name, run in runners.items():
        outputs = np.concatenate([run(texts[i:i + 32]) for i in range(0, len(texts), 32)])
        seconds = built[name][1] if name in built else None
        results[name] = {
            "size_mb": round(sizes[name] / 1e6, 2),
            "batch1_p50_ms": round(latency[name], 3),
            "build_s": None if seconds is None else round(seconds, 1),
            **{k: round(v, 4) for k, v in embedding_fidelity(reference, outputs).items()},
        }
    base = results["teacher, ONNX Runtime fp32"]
    rows = []
    for name, r in results.items():
        r["size_ratio"] = round(r["size_mb"] / base["size_mb"], 3)
        r["latency_ratio"] = round(r["batch1_p50_ms"] / base["batch1_p50_ms"], 3)
        rows.append((name, f"{r['size_mb']:.1f} ({r['size_ratio']:.0%})",
                     f"{r['batch1_p50_ms']:.2f} ({r['latency_ratio']:.2f}x)",
                     f"{r['cosine_mean']:.4f} / {r['cosine_min']:.4f}",
                     f"{r['top5_neighbour_agreement']:.3f}", f"{r['teacher_nearest_in_top5']:.3f}",
                     "-" if r["build_s"] is None else f"{r['build_s'] / 60:.1f} min"))
    print_table(f"MiniLM-L6 students on {len(texts)} held-out clinical texts, {args.threads} thread(s), batch 1",
                ["variant", "size MB", "p50 ms (vs fp32)", "cosine mean / min", "top-5 overlap",
                 "teacher NN in top 5", "build time"], rows)
    png = plot(results, OUT_DIR / "distill.png")
    path = write_json("distill", {"threads": args.threads, "texts": len(texts), "results": results,
                                  "artifacts": {n: str(p) for n, (p, _) in built.items()}, "machine": machine()})
    print(f"\nwrote {path} and {png}")


def plot(results: dict[str, dict[str, Any]], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for axis, key, label in ((axes[0], "size_mb", "artifact size (MB)"), (axes[1], "batch1_p50_ms", "batch-1 p50 latency (ms)")):
        for name, r in results.items():
            axis.scatter(r[key], r["cosine_mean"], s=40)
            axis.annotate(name, (r[key], r["cosine_mean"]), fontsize=7, xytext=(4, 4), textcoords="offset points")
        axis.set_xlabel(label)
        axis.set_ylabel("mean cosine to the teacher")
        axis.grid(alpha=0.3)
    axes[0].set_xscale("log")
    figure.suptitle("MiniLM-L6 on held-out clinical text: fidelity against size and latency")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    return path


if __name__ == "__main__":
    main()
