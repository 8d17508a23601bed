"""Batches that fit the device profile's memory budget, and results that do not depend on batch neighbours.

A caller's `batch_size` is an upper bound: a batch is also cut where its padded size (items x the longest item's
cost, in tokens for text or elements for tensors) would make ONNX Runtime's activations exceed the share of
`memory_mb` given to inputs. Splitting never refuses work and never changes a result, because results are
batch-invariant: graphs whose activation ranges are computed over the whole batch (dynamic INT8) run one row at a
time, and every other graph is row-independent up to float rounding (checked by the golden self-test both ways).
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

MB = 1 << 20  # memory_mb is compared with RSS readings in MiB (runtime/memory.py)
INPUT_SHARE = 0.5  # half the budget for activations; the rest holds weights, the session and the caller's data
# Measured on MiniLM-L6 (hidden 384): one call of 1,000 texts x ~110 tokens grew RSS by 3.8 GB, ~34.5 KB per padded
# token, ~22 floats per hidden unit. 32 floats per hidden unit keeps a 1.4x margin.
FLOATS_PER_TOKEN_PER_HIDDEN = 32
DEFAULT_HIDDEN = 1024  # when the graph does not say (classifier heads): BERT-large width, conservative
# Convolutional and ViT students hold ~tens of activations per input element at their widest layer.
BYTES_PER_TENSOR_ELEMENT = 4 * 64


@dataclasses.dataclass(frozen=True)
class BatchBudget:
    """How many cost units (padded tokens, or input elements) one inference call may hold, and why."""

    max_units: int
    unit_bytes: float
    row_wise: bool
    source: str

    @classmethod
    def for_text(cls, memory_mb: float, hidden: int | None, row_wise: bool, source: str) -> "BatchBudget":
        unit = 4.0 * FLOATS_PER_TOKEN_PER_HIDDEN * (hidden or DEFAULT_HIDDEN)
        return cls(max(1, int(memory_mb * MB * INPUT_SHARE / unit)), unit, row_wise, source)

    @classmethod
    def for_tensors(cls, memory_mb: float, row_wise: bool, source: str) -> "BatchBudget":
        unit = float(BYTES_PER_TENSOR_ELEMENT)
        return cls(max(1, int(memory_mb * MB * INPUT_SHARE / unit)), unit, row_wise, source)


    @classmethod
    def one_padded_batch(cls, source: str) -> "BatchBudget":
        """No memory cap and no row-by-row rule: how golden outputs were recorded before the batch check."""
        return cls(max_units=2**62, unit_bytes=0.0, row_wise=False, source=source)


def plan_batches(costs: Sequence[int], batch_size: int, budget: BatchBudget) -> list[list[int]]:
    """Indices grouped into batches, in the given order: at most `batch_size` items (1 when row-wise), and at most
    `budget.max_units` padded units unless a single item alone is larger (it then runs alone)."""
    limit = 1 if budget.row_wise else batch_size
    batches: list[list[int]] = []
    current: list[int] = []
    longest = 0
    for index, cost in enumerate(costs):
        widest = max(longest, cost)
        if current and (len(current) >= limit or widest * (len(current) + 1) > budget.max_units):
            batches.append(current)
            current, widest = [], cost
        current.append(index)
        longest = widest
    if current:
        batches.append(current)
    return batches
