"""Evaluate candidates and the packed artifact against the teacher.

`OnnxScorer` scores intermediate ONNX files quickly during accuracy-aware quantization (held-in calibration texts).
`evaluate_text_artifact` runs the packed artifact through `hfm_runtime` under the profile on held-out texts.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np

from hfm_compress.evaluate.metrics import classification_fidelity, embedding_fidelity, row_cosines
from hfm_compress.sources.reference import forward, postprocess, teacher_outputs, text_preprocessor
from hfm_compress.sources.text import TextTeacher
from hfm_runtime.profiles import DeviceProfile
from hfm_runtime.session import SessionSettings

LATENCY_TEXTS = 64  # batch-1 latency is the median over this many held-out texts, each timed LATENCY_PASSES times
LATENCY_PASSES = 2


class OnnxScorer:
    """Cosine of a candidate ONNX model's pooled outputs against the teacher's on fixed feed batches."""

    def __init__(self, batches: Sequence[dict[str, np.ndarray]], reference: np.ndarray, task: str,
                 output_name: str, profile: DeviceProfile) -> None:
        self.batches = list(batches)
        self.reference = reference
        self.task = task
        self.output_name = output_name
        self.settings = SessionSettings.from_profile(profile)

    def outputs(self, model_path: Path) -> np.ndarray:
        session = self.settings.open(Path(model_path).read_bytes())
        rows = [postprocess(self.task, session.run([self.output_name], feeds)[0], feeds["attention_mask"])
                for feeds in self.batches]
        return np.concatenate(rows)

    def score(self, model_path: Path) -> Any:
        from hfm_compress.quantize.context import FidelityScore

        if self.task == "classification":
            agreement = float(np.mean(self.outputs(model_path).argmax(1) == self.reference.argmax(1)))
            return FidelityScore(mean=agreement, min=agreement)
        cosines = row_cosines(self.reference, self.outputs(model_path))
        return FidelityScore(mean=float(cosines.mean()), min=float(cosines.min()))


def interleaved_latency_ms(runners: Mapping[str, Callable[[Any], Any]], items: Sequence[Any],
                           passes: int = LATENCY_PASSES, block: int = 16) -> dict[str, float]:
    """Median milliseconds per call of each runner; the runners take turns on blocks of `block` items.

    Taking turns puts every contender under the same background load, so ratios hold on a busy machine. Turns are
    blocks, not single items, and each turn starts with one untimed call: thread pools (ORT's and torch's) keep
    spinning for a while after their last call, and with per-item turns one contender's spinning threads would
    steal cores from the next (demo, 2 threads on 2 cores: INT8 MiniLM 0.91x ORT fp32 with per-item turns, 0.68x
    with block turns; at 1 thread, as in the benchmarks, neither runtime starts pool threads).
    """
    for item in items[:3]:
        for run in runners.values():
            run(item)  # warm-up: first calls allocate arenas and caches
    timings: dict[str, list[float]] = {name: [] for name in runners}
    order = list(runners)
    blocks = [items[i:i + block] for i in range(0, len(items), block)]
    for _ in range(passes):
        for chunk in blocks:
            order = order[1:] + order[:1]  # rotate who goes first
            for name in order:
                runners[name](chunk[0])  # untimed: wakes this contender's threads after the others' turn
                for item in chunk:
                    start = time.perf_counter()
                    runners[name](item)
                    timings[name].append((time.perf_counter() - start) * 1000)
    return {name: statistics.median(values) for name, values in timings.items()}


def torch_runner(teacher: TextTeacher) -> Callable[[str], Any]:
    import torch

    preprocessor = text_preprocessor(teacher)

    def run(text: str) -> Any:
        with torch.inference_mode():
            return forward(teacher, {k: torch.from_numpy(v) for k, v in preprocessor.encode([text]).items()})

    return run


def onnx_runner(model_path: Path, teacher: TextTeacher, settings: SessionSettings) -> Callable[[str], Any]:
    session = settings.open(Path(model_path).read_bytes())
    preprocessor = text_preprocessor(teacher)
    return lambda text: session.run([teacher.output_name], preprocessor.encode([text]))


@contextlib.contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def evaluate_text_artifact(
    artifact_path: Path,
    teacher: TextTeacher,
    profile: DeviceProfile,
    texts: Sequence[str],
    fp32_onnx_path: Path | None,
    progress: Callable[[str, int, int], None] = lambda label, done, total: None,
) -> dict[str, Any]:
    """Fidelity on held-out texts, plus size and batch-1 latency of teacher (torch, ONNX fp32) and artifact."""
    import hfm_runtime

    model = hfm_runtime.load(artifact_path, profile=profile)
    progress("evaluate: teacher", 0, 4)
    reference = teacher_outputs(teacher, texts)
    progress("evaluate: artifact", 1, 4)
    candidate = model.run(list(texts))
    if teacher.task == "classification":
        fidelity = classification_fidelity(reference, candidate)
    else:
        fidelity = embedding_fidelity(reference, candidate)
    progress("evaluate: latency", 2, 4)
    sample = list(texts[:LATENCY_TEXTS])
    threads = model.settings.intra_op_threads
    runners: dict[str, Callable[[str], Any]] = {"artifact_ms": lambda t: model.run([t])}
    if teacher.model is not None:
        runners["teacher_torch_fp32_ms"] = torch_runner(teacher)
    if fp32_onnx_path is not None:
        runners["teacher_onnx_fp32_ms"] = onnx_runner(fp32_onnx_path, teacher, model.settings)
    with torch_threads(threads) if teacher.model is not None else contextlib.nullcontext():
        latency = interleaved_latency_ms(runners, sample)
    progress("evaluate", 4, 4)
    teacher_bytes = _teacher_size_bytes(teacher, fp32_onnx_path)
    return {
        "fidelity": fidelity,
        "size": {
            "artifact_mb": round(model.artifact.size_bytes / 1e6, 3),
            "teacher_fp32_mb": round(teacher_bytes / 1e6, 3),
            "ratio": round(model.artifact.size_bytes / teacher_bytes, 4),
        },
        "latency_batch1": {
            **{k: round(v, 3) for k, v in latency.items()},
            "threads": threads,
            "texts": len(sample),
            "ratio_vs_onnx_fp32": round(latency["artifact_ms"] / latency["teacher_onnx_fp32_ms"], 3)
            if "teacher_onnx_fp32_ms" in latency else None,
            "ratio_vs_torch_fp32": round(latency["artifact_ms"] / latency["teacher_torch_fp32_ms"], 3)
            if "teacher_torch_fp32_ms" in latency else None,
            "measured_on": "build machine, profile session settings",
        },
    }


def _teacher_size_bytes(teacher: TextTeacher, fp32_onnx_path: Path | None) -> int:
    if fp32_onnx_path is not None and fp32_onnx_path.exists():
        return fp32_onnx_path.stat().st_size
    return int(sum(p.numel() * p.element_size() for p in teacher.model.parameters()))
