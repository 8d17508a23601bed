"""Quantization: `quantize(model_in, model_out, config, ctx)` picks the handler by the config's type.

One handler per module (dynamic, static, selective, int4); the CPU class of the target profile decides the INT8
format inside each handler (cpu_format.py) and the choice is recorded with its reason in the step report.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from hfm_compress.configs import StepConfig, StepReport
from hfm_compress.errors import CompressError, ConfigError
from hfm_compress.quantize.context import FidelityScore, QuantizeContext
from hfm_compress.quantize.cpu_format import Int8Format, choose_int8_format
from hfm_compress.quantize.dynamic import DynamicInt8Config, quantize_dynamic_int8
from hfm_compress.quantize.int4 import Int4WeightOnlyConfig, quantize_int4
from hfm_compress.quantize.selective import SelectiveInt8Config, quantize_selective
from hfm_compress.quantize.static import StaticInt8Config, quantize_static_int8

Handler = Callable[[Path, Path, StepConfig, QuantizeContext], StepReport]

HANDLERS: dict[type[StepConfig], Handler] = {
    DynamicInt8Config: quantize_dynamic_int8,  # type: ignore[dict-item]
    StaticInt8Config: quantize_static_int8,  # type: ignore[dict-item]
    SelectiveInt8Config: quantize_selective,  # type: ignore[dict-item]
    Int4WeightOnlyConfig: quantize_int4,  # type: ignore[dict-item]
}


def quantize(model_in: Path, model_out: Path, config: StepConfig, ctx: QuantizeContext) -> StepReport:
    """Quantize the ONNX file `model_in` into `model_out` (written atomically) as `config` says."""
    handler = HANDLERS.get(type(config))
    if handler is None:
        names = ", ".join(repr(c.TYPE) for c in HANDLERS)
        raise ConfigError(f"step {config.TYPE!r} is not a quantization step; expected one of {names}")
    if not Path(model_in).is_file():
        raise CompressError(f"quantize: input model {model_in} does not exist; expected an ONNX file from an earlier step")
    return handler(Path(model_in), Path(model_out), config, ctx)


__all__ = ["quantize", "QuantizeContext", "FidelityScore", "Int8Format", "choose_int8_format", "DynamicInt8Config",
           "StaticInt8Config", "SelectiveInt8Config", "Int4WeightOnlyConfig", "HANDLERS"]
