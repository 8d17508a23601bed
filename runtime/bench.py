"""Latency (p50/p95 after warm-up), peak memory and size of an artifact under a profile, with budget checks."""

from __future__ import annotations

import dataclasses
import itertools
import statistics
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from hfm_runtime import golden, memory
from hfm_runtime.budgets import BudgetCheck, check_latency, check_memory, check_precision, check_size
from hfm_runtime.model import load
from hfm_runtime.profiles import DeviceProfile, load_profile

DEFAULT_RUNS = 100
DEFAULT_WARMUP = 10


@dataclasses.dataclass(frozen=True)
class BenchResult:
    artifact: str
    profile: str
    runs: int
    warmup: int
    batch_size: int
    p50_ms: float
    p95_ms: float
    mean_ms: float
    load_ms: float
    rss_before_mb: float
    peak_rss_mb: float
    rss_added_mb: float
    size_mb: float
    threads: int
    unit: str  # the profile's latency unit: "frame", "window", "sentence", ...
    per_second: float  # units per second at p50 on this machine
    per_second_device: float  # the same on the profile's device (this machine's rate / its assumed slowdown)
    notes: tuple[str, ...]
    checks: tuple[BudgetCheck, ...]

    @property
    def all_passed(self) -> bool:
        return all(check.passed for check in self.checks)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["checks"] = [c.to_dict() for c in self.checks]
        data["all_passed"] = self.all_passed
        return data


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def bench(
    path: str | Path,
    profile: str | Path | DeviceProfile,
    inputs: Sequence[Any] | None = None,
    runs: int = DEFAULT_RUNS,
    warmup: int = DEFAULT_WARMUP,
    batch_size: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> BenchResult:
    """Load in this process (to measure memory added), then time `runs` calls of `batch_size` inputs each."""
    device = load_profile(profile)
    memory.reset_peak()
    rss_before = memory.rss_mb()
    started = time.perf_counter()
    model = load(path, device)
    load_ms = (time.perf_counter() - started) * 1000
    texts = list(inputs) if inputs else golden.golden_inputs(model)
    batches = itertools.cycle([texts[i : i + batch_size] for i in range(0, len(texts), batch_size)])
    for _ in range(warmup):
        model.run(next(batches), batch_size=batch_size)
    timings = []
    for done in range(runs):
        batch = next(batches)
        start = time.perf_counter()
        model.run(batch, batch_size=batch_size)
        timings.append((time.perf_counter() - start) * 1000)
        if progress:
            progress(done + 1, runs)
    peak = memory.peak_rss_mb()
    p50 = statistics.median(timings)
    per_second = 1000.0 * batch_size / p50
    checks = (
        check_size(model.artifact.size_bytes, device),
        check_precision(model.graph.precision, device),
        check_latency(p50 / batch_size, device),
        check_memory(peak - rss_before, device),
    )
    return BenchResult(
        artifact=str(path), profile=device.name, runs=runs, warmup=warmup, batch_size=batch_size,
        p50_ms=round(p50, 3), p95_ms=round(percentile(timings, 95), 3), mean_ms=round(statistics.fmean(timings), 3),
        load_ms=round(load_ms, 1), rss_before_mb=round(rss_before, 1), peak_rss_mb=round(peak, 1),
        rss_added_mb=round(peak - rss_before, 1), size_mb=round(model.artifact.size_bytes / 1e6, 3),
        threads=model.settings.intra_op_threads, unit=device.latency_unit, per_second=round(per_second, 1),
        per_second_device=round(per_second / device.assumed_slowdown, 1), notes=model.settings.notes, checks=checks,
    )
