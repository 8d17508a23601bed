"""The one scorer of candidate ONNX files during accuracy-aware quantization: the candidate's outputs on fixed feed
batches, compared with the fp32 model's by a modality's own measure (embedding cosine, class or pixel agreement)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from hfm_compress.evaluate.metrics import row_cosines
from hfm_runtime.profiles import DeviceProfile
from hfm_runtime.session import SessionSettings

# (reference, candidate outputs per batch) -> (mean, min)
Compare = Callable[[Any, list[np.ndarray]], tuple[float, float]]


class OnnxScorer:
    """`score(model_path)` -> FidelityScore of a candidate against `reference` on `batches`."""

    def __init__(self, batches: Sequence[dict[str, np.ndarray]], reference: Any, output_name: str,
                 profile: DeviceProfile, compare: Compare,
                 postprocess: Callable[[dict[str, np.ndarray], np.ndarray], np.ndarray] = lambda feeds, out: out) -> None:
        self.batches = list(batches)
        self.reference = reference
        self.output_name = output_name
        self.compare = compare
        self.postprocess = postprocess
        self.settings = SessionSettings.from_profile(profile)

    def outputs(self, model_path: Path) -> list[np.ndarray]:
        session = self.settings.open(Path(model_path).read_bytes())
        return [self.postprocess(feeds, session.run([self.output_name], feeds)[0]) for feeds in self.batches]

    def score(self, model_path: Path) -> Any:
        from hfm_compress.quantize.context import FidelityScore

        mean, low = self.compare(self.reference, self.outputs(model_path))
        return FidelityScore(mean=float(mean), min=float(low))


def cosine(reference: np.ndarray, candidate: list[np.ndarray]) -> tuple[float, float]:
    """Embeddings: cosine of every row with the reference's, (mean, min)."""
    cosines = row_cosines(reference, np.concatenate(candidate))
    return float(cosines.mean()), float(cosines.min())


def class_agreement(reference: np.ndarray, candidate: list[np.ndarray]) -> tuple[float, float]:
    """Class scores: share of rows whose argmax is the reference's, over all rows (mean = min)."""
    agreement = float(np.mean(np.concatenate(candidate).argmax(1) == reference.argmax(1)))
    return agreement, agreement


def batch_agreement(reference: list[np.ndarray], candidate: list[np.ndarray]) -> tuple[float, float]:
    """Logits per input (or per pixel): agreement of the argmax with the reference labels, (mean, min over batches)."""
    rates = [float(np.mean(out.argmax(1) == ref)) for out, ref in zip(candidate, reference)]
    return float(np.mean(rates)), float(np.min(rates))
