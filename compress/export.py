"""Export step: torch module -> ONNX file, checked against torch on inputs of other batch and sequence sizes.

The check runs every `check_inputs` item through both torch and ONNX Runtime, so a graph that traced a shape as a
constant (dynamic axes silently lost) fails here rather than on a device.
"""

from __future__ import annotations

import dataclasses
import inspect
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from hfm_compress.configs import StepConfig, StepReport, check_range, register_config
from hfm_compress.errors import CompressError, ConfigError
from hfm_compress.onnx_files import atomic_output, check_outputs_close, cpu_session, run_session

if TYPE_CHECKING:
    import torch


@register_config
@dataclasses.dataclass(frozen=True)
class ExportConfig(StepConfig):
    TYPE = "export"

    opset: int = 17  # 17 has LayerNormalization and is what ORT's transformer fusions are tested on
    check_atol: float = 1e-4  # fp32 torch vs ORT differ by ~1e-6 on BERT-size models; 1e-4 leaves room, catches bugs

    def __post_init__(self) -> None:
        if isinstance(self.opset, bool) or not isinstance(self.opset, int):
            raise ConfigError(f"export.opset = {self.opset!r} is invalid; expected an integer between 14 and 23")
        check_range("export", "opset", self.opset, 14, 23)
        check_range("export", "check_atol", self.check_atol, 0.0, 1.0)


def export_onnx(module: "torch.nn.Module", example_inputs: dict[str, "torch.Tensor"], output_names: list[str],
                dynamic_axes: dict[str, dict[int, str]], out_path: Path, config: ExportConfig,
                check_inputs: list[dict[str, "torch.Tensor"]]) -> StepReport:
    """Export `module` called as `module(**example_inputs)`, then compare ORT with torch on every check input."""
    import torch

    started = time.perf_counter()
    module = module.eval()
    example_inputs = _in_signature_order(module, example_inputs)
    with atomic_output(Path(out_path)) as temp:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer warnings
            try:
                torch.onnx.export(module, (), str(temp), kwargs=dict(example_inputs),
                                  input_names=list(example_inputs), output_names=list(output_names),
                                  dynamic_axes=dynamic_axes, opset_version=config.opset, dynamo=False,
                                  do_constant_folding=True)
            except Exception as exc:  # the exporter raises many types; the user needs the reason in one line
                raise CompressError(f"export: torch.onnx.export failed ({type(exc).__name__}: {exc})") from exc
        max_diff = _check_against_torch(module, temp, output_names, check_inputs, config.check_atol)
    size = Path(out_path).stat().st_size
    details = {
        "opset": config.opset,
        "max_abs_diff": max_diff,
        "check_inputs": len(check_inputs),
        "size_out": size,
        "parameters": sum(p.numel() for p in module.parameters()),
    }
    return StepReport("export", config.to_dict(), details, time.perf_counter() - started)


def _check_against_torch(module: "torch.nn.Module", onnx_path: Path, output_names: list[str],
                         check_inputs: list[dict[str, "torch.Tensor"]], atol: float) -> float:
    import torch

    if not check_inputs:
        raise CompressError("export: no check inputs given; expected at least one feed of another batch/sequence size")
    session = cpu_session(onnx_path)
    expected, actual = [], []
    for inputs in check_inputs:
        with torch.no_grad():
            result = module(**inputs)
        outputs = _as_tuple(result)
        expected.append({name: t.detach().numpy() for name, t in zip(output_names, outputs)})
        actual.append(run_session(session, {k: v.numpy() for k, v in inputs.items()}))
    return check_outputs_close("export", expected, actual, atol)


def _in_signature_order(module: "torch.nn.Module", inputs: dict[str, "torch.Tensor"]) -> dict[str, "torch.Tensor"]:
    """The TorchScript exporter lays graph inputs out in `forward`'s parameter order and names them positionally
    from `input_names`; a feed dict in another order (e.g. a tokenizer's) would swap names such as attention_mask
    and token_type_ids."""
    order = [name for name in inspect.signature(module.forward).parameters if name in inputs]
    unknown = sorted(set(inputs) - set(order))
    if unknown and not any(p.kind is p.VAR_KEYWORD for p in inspect.signature(module.forward).parameters.values()):
        raise CompressError(f"export: example input(s) {', '.join(unknown)} are not parameters of "
                            f"{type(module).__name__}.forward; expected names from its signature")
    return {name: inputs[name] for name in order + unknown}


def _as_tuple(result: object) -> tuple:
    """Module outputs in export order: a tensor, a tuple, or a Hugging Face ModelOutput."""
    if hasattr(result, "to_tuple"):
        return tuple(result.to_tuple())  # type: ignore[attr-defined]
    return tuple(result) if isinstance(result, (tuple, list)) else (result,)
