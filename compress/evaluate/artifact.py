"""The one evaluation of a packed artifact against its teacher: fidelity on held-out data, size, and batch-1 latency
of the artifact (through `hfm_runtime` under the profile, as the device runs it) beside the teacher in PyTorch and
in ONNX Runtime fp32. What differs per modality (the items, how each contender runs them, the metrics) comes in a
`Contenders`.
"""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from hfm_compress.configs import Progress, no_progress
from hfm_compress.evaluate.latency import interleaved_latency_ms, torch_threads
from hfm_runtime.profiles import DeviceProfile

Runner = Callable[[Any], Any]


@dataclasses.dataclass
class Contenders:
    items: Sequence[Any]  # held-out inputs: texts, or preprocessed arrays
    teacher_outputs: Callable[[], np.ndarray]  # the fidelity reference on `items`
    artifact_outputs: Callable[[Any], np.ndarray]  # (loaded artifact) -> outputs on `items`
    fidelity: Callable[[np.ndarray, np.ndarray], dict[str, Any]]
    latency_items: int
    artifact_runner: Callable[[Any], Runner]  # (loaded artifact) -> run one item
    teacher_torch: Runner | None  # None for an ONNX teacher
    teacher_onnx: Callable[[Any, Path], Runner]  # (loaded artifact, teacher fp32 ONNX) -> run one item
    teacher_parameter_bytes: Callable[[], int]
    size_digits: int
    latency_fields: Callable[[Any, int, dict[str, float]], dict[str, Any]]  # per-modality fields of latency_batch1
    measured_on: str
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)  # e.g. the held-out data's fingerprint


def evaluate_artifact(artifact_path: Path, profile: DeviceProfile, contenders: Contenders,
                      teacher_onnx: Path | None, progress: Progress = no_progress) -> dict[str, Any]:
    """The manifest's `evaluation`: fidelity, size and latency_batch1 (artifact vs teacher, interleaved)."""
    import hfm_runtime

    model = hfm_runtime.load(artifact_path, profile=profile)
    progress("evaluate: teacher", 0, 3)
    reference = contenders.teacher_outputs()
    progress("evaluate: artifact", 1, 3)
    fidelity = contenders.fidelity(reference, contenders.artifact_outputs(model))
    progress("evaluate: latency", 2, 3)
    threads = model.settings.intra_op_threads
    items = list(contenders.items[:contenders.latency_items])
    runners: dict[str, Runner] = {"artifact_ms": contenders.artifact_runner(model)}
    if contenders.teacher_torch is not None:
        runners["teacher_torch_fp32_ms"] = contenders.teacher_torch
    if teacher_onnx is not None:
        runners["teacher_onnx_fp32_ms"] = contenders.teacher_onnx(model, teacher_onnx)
    with torch_threads(threads) if contenders.teacher_torch is not None else contextlib.nullcontext():
        latency = interleaved_latency_ms(runners, items)
    progress("evaluate", 3, 3)
    teacher_bytes = (teacher_onnx.stat().st_size if teacher_onnx is not None and teacher_onnx.exists()
                     else contenders.teacher_parameter_bytes())
    digits = contenders.size_digits
    ratio = lambda key: round(latency["artifact_ms"] / latency[key], 3) if key in latency else None  # noqa: E731
    return {
        "fidelity": fidelity,
        "size": {"artifact_mb": round(model.artifact.size_bytes / 1e6, digits),
                 "teacher_fp32_mb": round(teacher_bytes / 1e6, digits),
                 "ratio": round(model.artifact.size_bytes / teacher_bytes, 4)},
        "latency_batch1": {
            **{k: round(v, 3) for k, v in latency.items()},
            "threads": threads,
            **contenders.latency_fields(model, len(items), latency),
            "ratio_vs_onnx_fp32": ratio("teacher_onnx_fp32_ms"),
            "ratio_vs_torch_fp32": ratio("teacher_torch_fp32_ms"),
            "measured_on": contenders.measured_on,
        },
        **contenders.extra,
    }


def parameter_bytes(model: Any) -> int:
    return int(sum(p.numel() * p.element_size() for p in model.parameters()))
