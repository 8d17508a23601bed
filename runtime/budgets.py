"""Checks of an artifact against a device profile's budgets.

Size and precision are checked before a session opens (load refuses); latency and memory need a measurement and
are checked by `bench`. Latency measured here is scaled by the profile's assumed slowdown of the device.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from hfm_runtime.errors import BudgetError
from hfm_runtime.profiles import DeviceProfile

MB = 1_000_000


@dataclasses.dataclass(frozen=True)
class BudgetCheck:
    budget: str
    limit: float
    measured: float
    unit: str
    passed: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def check_size(size_bytes: int, profile: DeviceProfile) -> BudgetCheck:
    size_mb = size_bytes / MB
    return BudgetCheck(
        budget="artifact_size_mb", limit=profile.artifact_size_mb, measured=round(size_mb, 3), unit="MB",
        passed=size_mb <= profile.artifact_size_mb, detail="size of the .hfm file",
    )


def check_precision(precision: str, profile: DeviceProfile) -> BudgetCheck:
    """`precision` as read from the graph (runtime/graph_facts.py), never the manifest's claim."""
    return BudgetCheck(
        budget="allowed_precisions", limit=float("nan"), measured=float("nan"), unit=precision,
        passed=precision in profile.allowed_precisions,
        detail=f"graph precision {precision}; profile allows {', '.join(profile.allowed_precisions)}",
    )


def check_latency(p50_ms: float, profile: DeviceProfile) -> BudgetCheck:
    device_ms = p50_ms * profile.assumed_slowdown
    return BudgetCheck(
        budget="latency_ms", limit=profile.latency_ms, measured=round(device_ms, 3), unit=f"ms/{profile.latency_unit}",
        passed=device_ms <= profile.latency_ms,
        detail=f"p50 {p50_ms:.2f} ms on this machine x assumed device slowdown {profile.assumed_slowdown:g}",
    )


def check_memory(added_mb: float, profile: DeviceProfile) -> BudgetCheck:
    return BudgetCheck(
        budget="memory_mb", limit=profile.memory_mb, measured=round(added_mb, 2), unit="MB",
        passed=added_mb <= profile.memory_mb, detail="peak RSS added by loading and running the model",
    )


def check_file_size(path: str | Path, profile: DeviceProfile) -> None:
    """Refuse a file too big for the device before reading a byte of it."""
    try:
        size_bytes = Path(path).stat().st_size
    except OSError:
        return  # read_artifact names the problem
    size = check_size(size_bytes, profile)
    if not size.passed:
        raise BudgetError(
            f"{path} is {size_bytes / MB:.2f} MB; profile {profile.name} allows at most {profile.artifact_size_mb:g} MB"
        )


def enforce_precision(path: str, precision: str, profile: DeviceProfile) -> None:
    """Refuse a graph whose weight precision the device does not allow, before paying for a session."""
    check = check_precision(precision, profile)
    if not check.passed:
        raise BudgetError(f"{path}: {check.detail} (profile {profile.name})")
