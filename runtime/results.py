"""What `Model.predict` returns: every result with its flags, the scores behind them, and whether the device's policy
withheld it.

The policy (`ResultPolicy`) comes from the profile's `[safety]` table or `load(withhold=...)`: a result that carries
one of the `withhold` flags is withheld (its output is not given: NaN in arrays, None per result); every other
result is returned with its flags. Either way the caller sees that something was flagged: never a silent answer.
How to read flags and scores: docs/safety.md.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Iterator, Mapping, Sequence

import numpy as np


@dataclasses.dataclass(frozen=True)
class ResultPolicy:
    """Which flags withhold a result, and where that rule came from (named in output and errors)."""

    withhold: tuple[str, ...] = ()
    source: str = "default"

    def withholds(self, flags: Sequence[str]) -> bool:
        return any(flag in self.withhold for flag in flags)


@dataclasses.dataclass(frozen=True)
class Prediction:
    """One result. `output` is None when the policy withheld it."""

    index: int
    output: np.ndarray | None
    flags: tuple[str, ...]
    scores: Mapping[str, float]
    withheld: bool

    @property
    def flagged(self) -> bool:
        return bool(self.flags)


@dataclasses.dataclass(frozen=True)
class Predictions:
    """Results of one `predict` call, one row per result (a cine DICOM gives one per frame, a record one per window).

    `outputs` (n, ...) are calibrated where the artifact carries a temperature; rows of withheld results are NaN.
    `flags[i]`, `scores[i]` and `withheld[i]` belong to row i; `policy` is the rule that withheld them.
    """

    outputs: np.ndarray
    flags: list[tuple[str, ...]]
    scores: list[dict[str, float]]
    withheld: np.ndarray
    policy: ResultPolicy = ResultPolicy()

    def __len__(self) -> int:
        return len(self.flags)

    def __getitem__(self, index: int) -> Prediction:
        if isinstance(index, slice):
            raise TypeError("Predictions[...] takes one result's index; slice .outputs, .flags or .scores instead")
        row = range(len(self))[index]  # IndexError and negative indices as for a list
        withheld = bool(self.withheld[row])
        return Prediction(row, None if withheld else self.outputs[row], self.flags[row], self.scores[row], withheld)

    def __iter__(self) -> Iterator[Prediction]:
        return (self[row] for row in range(len(self)))

    @property
    def flagged(self) -> int:
        """How many results carry at least one flag (withheld or not)."""
        return sum(1 for flags in self.flags if flags)

    def to_dicts(self, labels: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """One JSON-ready dict per result: `index`, `flags`, `scores` (non-finite scores as None), `withheld`,
        `output` (a list, None when withheld); with `labels`, class rows also get the top `label` and its
        `probability` (None when withheld)."""
        dicts = []
        for result in self:
            entry: dict[str, Any] = {"index": result.index, "flags": list(result.flags),
                                     "scores": json_scores(result.scores), "withheld": result.withheld}
            if labels is not None and self.outputs.ndim == 2:
                top = None if result.output is None else int(np.argmax(result.output))
                entry["label"] = None if top is None else labels[top] if top < len(labels) else str(top)
                entry["probability"] = None if top is None else float(result.output[top])  # type: ignore[index]
            entry["output"] = None if result.output is None else result.output.tolist()
            dicts.append(entry)
        return dicts


def json_scores(scores: Mapping[str, float]) -> dict[str, float | None]:
    """Scores for strict JSON (the audit log, `--json`): a non-finite score (a feature that overflowed) is None."""
    return {name: float(value) if math.isfinite(value) else None for name, value in scores.items()}


def apply_policy(outputs: np.ndarray, flags: list[tuple[str, ...]], scores: list[dict[str, float]],
                 policy: ResultPolicy) -> Predictions:
    """Withhold the rows whose flags the policy names: NaN in a copy of `outputs`, `withheld` True."""
    withheld = np.array([policy.withholds(f) for f in flags], dtype=bool)
    if withheld.any():
        outputs = np.array(outputs, dtype=np.result_type(outputs.dtype, np.float32), copy=True)
        outputs[withheld] = np.nan
    return Predictions(outputs, flags, scores, withheld, policy)
