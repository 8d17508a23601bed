"""Text benchmark: PyTorch fp32, ONNX Runtime fp32, the peer default INT8 and our int8 artifact, side by side.

Same held-out clinical texts, same thread count, one run. Latency is the median over the texts at batch 1 (real
sentence lengths, no padding) and the median per batch of 32, the contenders taking turns on blocks of inputs;
fidelity is against the PyTorch fp32 teacher.

Usage: python benchmarks/bench_text.py [--threads 1] [--artifact PATH.hfm] [--recipe int8] [--profile clinic-cpu]
Writes benchmarks/out/text.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

from common import machine, print_table, write_json

BATCH = 32


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--profile", default="clinic-cpu")
    parser.add_argument("--recipe", default="int8")
    parser.add_argument("--artifact", type=Path, help="use this artifact instead of building one")
    parser.add_argument("--passes", type=int, default=3, help="timing passes over the texts")
    args = parser.parse_args()

    import onnxruntime as ort
    import torch
    from onnxruntime.quantization import quantize_dynamic

    import hfm_runtime
    import hfm_compress
    from hfm_compress.data import load_texts
    from hfm_compress.evaluate.latency import interleaved_latency_ms
    from hfm_compress.export import ExportConfig
    from hfm_compress.evaluate.metrics import embedding_fidelity
    from hfm_compress.modality.text import export_module
    from hfm_compress.sources.reference import forward, teacher_outputs, text_preprocessor
    from hfm_compress.sources.text import load_text_teacher
    from hfm_compress.export import export_onnx
    from hfm_compress.optimize import OptimizeConfig, optimize_onnx

    torch.set_num_threads(args.threads)
    texts = load_texts("eval")
    teacher = load_text_teacher("default")
    pre = text_preprocessor(teacher)
    work = Path(tempfile.mkdtemp(prefix="bench-text-"))

    artifact = args.artifact
    if artifact is None:
        artifact = work / "ours.hfm"
        hfm_compress.compress("default", args.profile, args.recipe, out=artifact, task="embedding")

    # ONNX fp32 export (plain) and ORT-fused, built with the toolchain's own export/optimise steps.
    plain = work / "fp32.onnx"
    feeds = {k: torch.from_numpy(v) for k, v in pre.encode(texts[:2]).items()}
    checks = [{k: torch.from_numpy(v) for k, v in pre.encode(texts[2:5]).items()}]
    dynamic = {n: {0: "batch", 1: "sequence"} for n in teacher.input_names + ["last_hidden_state"]}
    export_onnx(export_module(teacher), feeds, ["last_hidden_state"], dynamic, plain, ExportConfig(), checks)
    fused = work / "fp32-fused.onnx"
    optimize_onnx(plain, fused, OptimizeConfig(), [pre.encode(texts[:4])])
    peer = work / "peer-default-int8.onnx"
    quantize_dynamic(str(plain), str(peer))  # ONNX Runtime defaults = Optimum avx2(is_static=False)

    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.inter_op_num_threads = 1

    def onnx_runner(path: Path) -> Callable[[list[str]], np.ndarray]:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

        def run(batch: list[str]) -> np.ndarray:
            encoded = pre.encode(batch)
            from hfm_runtime.postprocess import mean_pool_l2

            return mean_pool_l2(session.run(["last_hidden_state"], encoded)[0], encoded["attention_mask"])

        return run

    def torch_runner(batch: list[str]) -> np.ndarray:
        with torch.inference_mode():
            encoded = pre.encode(batch)
            from hfm_runtime.postprocess import mean_pool_l2

            hidden = forward(teacher, {k: torch.from_numpy(v) for k, v in encoded.items()}).numpy()
            return mean_pool_l2(hidden, encoded["attention_mask"])

    profile = dataclasses.replace(hfm_runtime.load_profile(args.profile), intra_op_threads=args.threads)
    ours = hfm_runtime.load(artifact, profile=profile)
    contenders: dict[str, tuple[Callable[[list[str]], np.ndarray], int]] = {
        "PyTorch fp32": (torch_runner, sum(p.numel() * 4 for p in teacher.model.parameters())),
        "ONNX Runtime fp32": (onnx_runner(plain), plain.stat().st_size),
        "ONNX Runtime fp32 + fusions": (onnx_runner(fused), fused.stat().st_size),
        "peer default INT8 (quantize_dynamic defaults)": (onnx_runner(peer), peer.stat().st_size),
        f"ours: {artifact.name} ({ours.manifest['model']['precision']})": (lambda b: ours.run(b, batch_size=BATCH), artifact.stat().st_size),
    }
    reference = teacher_outputs(teacher, texts)
    batches = [texts[i : i + BATCH] for i in range(0, len(texts) - BATCH + 1, BATCH)]
    runners = {name: run for name, (run, _) in contenders.items()}
    # Contenders take turns on blocks of inputs (interleaved), so background load hits all of them alike.
    batch1 = interleaved_latency_ms({n: (lambda t, run=run: run([t])) for n, run in runners.items()}, texts, args.passes)
    batch32 = interleaved_latency_ms(runners, batches, args.passes)
    results: dict[str, dict[str, Any]] = {}
    for name, (run, size) in contenders.items():
        outputs = np.concatenate([run(texts[i : i + BATCH]) for i in range(0, len(texts), BATCH)])
        results[name] = {
            "size_mb": round(size / 1e6, 2),
            "batch1_p50_ms": round(batch1[name], 3),
            "batch32_p50_ms": round(batch32[name], 2),
            **{k: round(v, 4) for k, v in embedding_fidelity(reference, outputs).items()},
        }
    base_onnx = results["ONNX Runtime fp32"]
    base_torch = results["PyTorch fp32"]
    rows = []
    for name, r in results.items():
        r["size_ratio_vs_fp32"] = round(r["size_mb"] / base_onnx["size_mb"], 3)
        r["batch1_ratio_vs_onnx_fp32"] = round(r["batch1_p50_ms"] / base_onnx["batch1_p50_ms"], 3)
        r["batch1_ratio_vs_torch_fp32"] = round(r["batch1_p50_ms"] / base_torch["batch1_p50_ms"], 3)
        r["batch32_ratio_vs_onnx_fp32"] = round(r["batch32_p50_ms"] / base_onnx["batch32_p50_ms"], 3)
        rows.append((name, f"{r['size_mb']:.1f} ({r['size_ratio_vs_fp32']:.0%})",
                     f"{r['batch1_p50_ms']:.2f} ({r['batch1_ratio_vs_onnx_fp32']:.2f}x / {r['batch1_ratio_vs_torch_fp32']:.2f}x)",
                     f"{r['batch32_p50_ms']:.1f} ({r['batch32_ratio_vs_onnx_fp32']:.2f}x)",
                     f"{r['cosine_mean']:.4f} / {r['cosine_min']:.4f}",
                     f"{r['top1_neighbour_agreement']:.3f} / {r['top5_neighbour_agreement']:.3f}",
                     f"{r['teacher_nearest_in_top5']:.3f}"))
    print_table(
        f"MiniLM-L6 on {len(texts)} held-out clinical texts, {args.threads} thread(s); ratios vs ONNX Runtime fp32 / PyTorch fp32",
        ["variant", "size MB", "batch 1 p50 ms", f"batch {BATCH} p50 ms", "cosine mean / min", "top-1 / top-5 NN overlap", "teacher NN in top 5"],
        rows,
    )
    path = write_json("text", {"threads": args.threads, "texts": len(texts), "artifact": str(artifact),
                               "recipe": ours.manifest.get("recipe"), "results": results, "machine": machine()})
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
