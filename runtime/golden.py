"""Golden input/output pairs: recorded when packing, re-run by `load()` on the device.

A different ONNX Runtime build, optimisation level or thread count can silently change results; the self-test
catches drift beyond a tolerance that the packer measured (see `record`) rather than guessed. It compares raw outputs
(`Model.run_raw`: before the safety section's temperature and the result policy), as they were recorded. It also
checks that a result does not depend on its batch: every golden input is run together with the others and alone,
and both must match the recorded outputs (artifacts recorded before this check, without `checks` in their golden
entry, are self-tested together only, as they were recorded).
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
CHECKS = ("together", "alone")


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
    outputs = model.run_raw(inputs)
    drift = float(np.max(np.abs(outputs - reference.run_raw(inputs))))
    atol = max(ATOL_FLOOR, DRIFT_MARGIN * drift)
    batch_drift = _alone_drift(model, inputs, outputs)
    if not batch_drift <= atol:
        raise SelfTestError(f"{model.artifact.path}: outputs depend on their batch neighbours: a golden input alone "
                            f"differs by {batch_drift:.2e} from the same input in a batch (tolerance {atol:.2e})")
    entry: dict[str, Any] = {"file": GOLDEN_MEMBER}
    npz = {"outputs": outputs}
    if all(isinstance(item, str) for item in inputs):
        entry["texts"] = inputs
    else:
        entry["inputs"] = "inputs"
        npz["inputs"] = np.stack([np.asarray(item) for item in inputs])
    entry.update({"atol": atol, "reference_drift": drift, "batch_drift": batch_drift, "checks": list(CHECKS),
                  "recorded_with": dataclasses.asdict(model.settings)})
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
    """Run the golden inputs together and each alone; raise SelfTestError if any output moved beyond the recorded
    tolerance. Returns the largest drift seen."""
    inputs = golden_inputs(model)
    entry = model.manifest["golden"]
    expected = npz_load(model.artifact.member(entry["file"]))["outputs"]
    atol = float(entry["atol"])
    checks = entry.get("checks") or ["together"]
    together = model.run_raw(inputs) if "alone" in checks else _run_as_recorded(model, inputs)
    if together.shape != expected.shape:
        raise SelfTestError(f"{model.artifact.path}: self-test output shape {together.shape}, recorded {expected.shape}")
    drift = _check(model, "together", float(np.max(np.abs(together - expected))), atol)
    if "alone" in checks:
        drift = max(drift, _check(model, "each alone", _alone_drift(model, inputs, expected), atol))
    return drift


def _check(model: "Model", how: str, drift: float, atol: float) -> float:
    if not drift <= atol:
        raise SelfTestError(
            f"{model.artifact.path}: self-test failed: outputs of the golden inputs run {how} drift {drift:.2e} from "
            f"the recorded golden outputs (tolerance {atol:.2e}) under this ONNX Runtime build and profile "
            f"{model.profile.name}"
        )
    return drift


def _alone_drift(model: "Model", inputs: Sequence[Any], expected: np.ndarray) -> float:
    """Largest difference between each input run alone (batch of one) and `expected`."""
    alone = np.stack([model.run_raw([item])[0] for item in inputs])
    return float(np.max(np.abs(alone - expected)))


def _run_as_recorded(model: "Model", inputs: Sequence[Any]) -> np.ndarray:
    """Artifacts recorded before the batch check recorded their golden outputs as one padded batch; reproduce that
    (a dynamic-INT8 graph would otherwise run row by row and legitimately differ from the recording)."""
    from hfm_runtime.batching import BatchBudget

    budget = BatchBudget.one_padded_batch("recorded golden batch")
    return model.run_items(model.inputs.items(inputs), batch_size=len(inputs), budget=budget)
