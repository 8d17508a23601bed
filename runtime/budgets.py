"""Checks of an artifact against a device profile's budgets.

Size and precision are checked before a session opens (load refuses); latency and memory need a measurement and
are checked by `bench`. Latency measured here is scaled by the profile's assumed slowdown of the device.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

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


def check_precision(manifest: Mapping[str, Any], profile: DeviceProfile) -> BudgetCheck:
    precision = str(manifest.get("model", {}).get("precision", "unknown"))
    return BudgetCheck(
        budget="allowed_precisions", limit=float("nan"), measured=float("nan"), unit=precision,
        passed=precision in profile.allowed_precisions,
        detail=f"artifact precision {precision}; profile allows {', '.join(profile.allowed_precisions)}",
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


def enforce_before_load(path: str, size_bytes: int, manifest: Mapping[str, Any], profile: DeviceProfile) -> None:
    """Refuse an artifact that cannot fit the device before paying for a session."""
    size = check_size(size_bytes, profile)
    if not size.passed:
        raise BudgetError(
            f"{path} is {size.measured:.2f} MB; profile {profile.name} allows at most {profile.artifact_size_mb:g} MB"
        )
    precision = check_precision(manifest, profile)
    if not precision.passed:
        raise BudgetError(f"{path}: {precision.detail} (profile {profile.name})")
