"""What a quantizer needs from the pipeline: the target CPU class, calibration data and a fidelity scorer.

Handlers get callables rather than data so the pipeline decides how texts are tokenized and scored, and a
calibration set larger than memory can be streamed (`calibration_feeds` returns a fresh iterator on every call).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from hfm_compress.configs import Progress, no_progress


@dataclass(frozen=True)
class FidelityScore:
    """Cosine similarity of a candidate's outputs vs the reference (teacher) on held-in calibration texts."""

    mean: float
    min: float

    def meets(self, mean_target: float, min_target: float) -> bool:
        return self.mean >= mean_target and self.min >= min_target

    def to_dict(self) -> dict[str, float]:
        return {"mean": round(self.mean, 6), "min": round(self.min, 6)}


@dataclass
class QuantizeContext:
    cpu_class: str  # "x86-avx2" | "x86-vnni" | "arm64" (from the device profile)
    calibration_feeds: Callable[[], Iterable[dict[str, np.ndarray]]]  # fresh iterator of ORT feed dicts per call
    fidelity: Callable[[Path], FidelityScore]  # scores a candidate ONNX file against the teacher
    progress: Progress = no_progress  # handlers report progress unconditionally; callers opt in to showing it
