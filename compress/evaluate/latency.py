"""Batch-1 latency of several contenders measured side by side: interleaved turns, median milliseconds."""

from __future__ import annotations

import contextlib
import statistics
import time
from typing import Any, Callable, Iterator, Mapping, Sequence

LATENCY_PASSES = 2


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


@contextlib.contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
