"""Golden input/output pairs: recorded when packing, re-run by `load()` on the device.

A different ONNX Runtime build, optimisation level or thread count can silently change results; the self-test
catches drift beyond a tolerance that the packer measured (see `record`) rather than guessed.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from hfm_runtime.artifact import npz_load
from hfm_runtime.errors import SelfTestError

if TYPE_CHECKING:
    from hfm_runtime.model import Model

GOLDEN_MEMBER = "golden.npz"
ATOL_FLOOR = 1e-4  # fp32 kernels differ by ~1e-6 across thread counts; 1e-4 still flags any real change.
DRIFT_MARGIN = 4.0  # tolerance = margin x the drift measured between two legitimate session settings.


@dataclasses.dataclass(frozen=True)
class GoldenRecord:
    manifest_entry: dict[str, Any]
    npz: dict[str, np.ndarray]


def record(model: "Model", reference: "Model", inputs: Sequence[Any]) -> GoldenRecord:
    """Outputs under the target profile, and a tolerance from their drift against a 1-thread unoptimised session.

    `inputs` are texts (kept in the manifest, readable) or raw arrays (frames, signal windows: kept in the npz as
    `inputs`, so the self-test runs the device's preprocessing too).
    """
    inputs = list(inputs)
    outputs = model.run(inputs)
    drift = float(np.max(np.abs(outputs - reference.run(inputs))))
    atol = max(ATOL_FLOOR, DRIFT_MARGIN * drift)
    entry: dict[str, Any] = {"file": GOLDEN_MEMBER}
    npz = {"outputs": outputs}
    if all(isinstance(item, str) for item in inputs):
        entry["texts"] = inputs
    else:
        entry["inputs"] = "inputs"
        npz["inputs"] = np.stack([np.asarray(item) for item in inputs])
    entry.update({"atol": atol, "reference_drift": drift, "recorded_with": dataclasses.asdict(model.settings)})
    return GoldenRecord(manifest_entry=entry, npz=npz)


def golden_inputs(model: "Model") -> list[Any]:
    """The recorded golden inputs: texts, or one raw array per input."""
    entry = model.manifest.get("golden")
    if not entry:
        raise SelfTestError(f"{model.artifact.path}: the artifact has no golden pairs to self-test (load with self_test=False to skip)")
    if "texts" in entry:
        return list(entry["texts"])
    return list(npz_load(model.artifact.member(entry["file"]))[entry["inputs"]])


def self_test(model: "Model") -> float:
    """Run the golden inputs; raise SelfTestError if any output moved beyond the recorded tolerance."""
    inputs = golden_inputs(model)
    entry = model.manifest["golden"]
    expected = npz_load(model.artifact.member(entry["file"]))["outputs"]
    actual = model.run(inputs)
    if actual.shape != expected.shape:
        raise SelfTestError(f"{model.artifact.path}: self-test output shape {actual.shape}, recorded {expected.shape}")
    drift = float(np.max(np.abs(actual - expected)))
    if not drift <= entry["atol"]:
        raise SelfTestError(
            f"{model.artifact.path}: self-test failed: outputs drift {drift:.2e} from the recorded golden outputs "
            f"(tolerance {entry['atol']:.2e}) under this ONNX Runtime build and profile {model.profile.name}"
        )
    return drift
