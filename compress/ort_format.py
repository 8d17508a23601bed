"""ONNX Runtime's ORT format for minimal builds: the model as ONNX Runtime's own converter writes it, plus the list of
operators it needs.

A device maker builds a reduced ONNX Runtime (`build.sh --minimal_build --include_ops_by_config FILE`) that holds
only the kernels in that list and reads only ORT-format models; for a small CNN that is a few hundred KB of runtime
instead of ~20 MB. We call the converter that ships with the `onnxruntime` package
(`onnxruntime.tools.convert_onnx_models_to_ort`, in-process) rather than re-implement it, so the file and the operator
list always match the ONNX Runtime version the toolchain verified the model with.

Choices, and why:
- optimization style "Fixed": graph optimizations are applied once, here, and baked into the file; a minimal build
  then needs neither the optimizers nor the ONNX parser on the device.
- target platform "arm" (the default; wearables are ARM): excludes the x86-only NCHWc layout transform, so the file
  runs on ARM and x86 alike, and keeps int8 (s8) activations in fused QDQ ops, which ARM dot-product kernels serve
  well. "amd64" is for x86 devices.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import shutil
import time
from pathlib import Path
from typing import Any

from hfm_compress.configs import StepConfig, StepReport
from hfm_compress.errors import CompressError

TARGET_PLATFORMS = ("arm", "amd64")
ORT_MEMBER = "model.ort"
REQUIRED_OPERATORS_MEMBER = "required_operators.config"


@dataclasses.dataclass(frozen=True)
class OrtFormatConfig(StepConfig):
    """Also carry the final model in ONNX Runtime's ORT format, with the operators a reduced build must include."""

    TYPE = "ort-format"


def add_ort_format(config: StepConfig, model_path: Path,
                   workdir: Path) -> tuple[StepReport, dict[str, bytes], dict[str, Any]]:
    """The `ort-format` step: its report, the artifact members it adds and the manifest's `model` entries."""
    started = time.perf_counter()
    ort_bytes, operators = convert_to_ort(model_path, workdir / "ort")
    details = {"ort_bytes": len(ort_bytes), "onnx_bytes": model_path.stat().st_size,
               "required_operators": [line for line in operators.splitlines() if line and not line.startswith("#")]}
    report = StepReport(config.TYPE, config.to_dict(), details, time.perf_counter() - started)
    members = {ORT_MEMBER: ort_bytes, REQUIRED_OPERATORS_MEMBER: operators.encode("utf-8")}
    return report, members, {"ort_file": ORT_MEMBER, "required_operators": REQUIRED_OPERATORS_MEMBER}


def convert_to_ort(onnx_path: Path, workdir: Path, target_platform: str = "arm") -> tuple[bytes, str]:
    """Convert `onnx_path` with ONNX Runtime's tool; return the ORT-format model bytes and the required-operators
    config text (the file `--include_ops_by_config` of a minimal build reads). `workdir` holds the tool's files.

    `target_platform`: "arm" for ARM devices (see the module docstring), "amd64" for x86 ones. An "arm" file of a
    model with int8 (s8) activations runs its s8s8 kernels, which are fast on ARM but several times slower on x86
    than the u8 path ORT picks there for the same ONNX model: time such an artifact's ONNX model on an x86 host."""
    from onnxruntime.tools.convert_onnx_models_to_ort import OptimizationStyle, convert_onnx_models_to_ort

    if target_platform not in TARGET_PLATFORMS:
        raise CompressError(f"ORT format: target platform {target_platform!r}; expected one of "
                            f"{', '.join(TARGET_PLATFORMS)}")
    onnx_path, workdir = Path(onnx_path), Path(workdir)
    if not onnx_path.is_file():
        raise CompressError(f"ORT format: {onnx_path} does not exist; expected an ONNX model file")
    source_dir, output_dir = workdir / "onnx", workdir / "ort"
    for folder in (source_dir, output_dir):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    # The tool names its outputs after the input and converts every .onnx it is pointed at: give it one clean copy.
    model = source_dir / "model.onnx"
    shutil.copyfile(onnx_path, model)
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # the tool prints a line per model
            convert_onnx_models_to_ort(model, output_dir=output_dir, optimization_styles=[OptimizationStyle.Fixed],
                                       target_platform=target_platform)
    except Exception as exc:  # noqa: BLE001 - ORT raises Fail/InvalidGraph/RuntimeError; all mean the same here
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise CompressError(f"ORT format: ONNX Runtime's converter failed on {onnx_path}: {first[:300]}") from None
    ort_files = sorted(output_dir.rglob("*.ort"))
    configs = sorted(output_dir.rglob("*.config"))
    if len(ort_files) != 1 or len(configs) != 1:
        raise CompressError(f"ORT format: the converter wrote {len(ort_files)} .ort and {len(configs)} .config files "
                            f"for {onnx_path}; expected one of each")
    # The config's header comment names the file it came from; keep the name, not this machine's temp path.
    config = configs[0].read_text(encoding="utf-8").replace(f"{output_dir.resolve()}{os.sep}", "")
    return ort_files[0].read_bytes(), config

