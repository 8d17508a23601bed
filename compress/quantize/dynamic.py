"""Dynamic INT8: weights quantized offline, activation ranges computed per call; no calibration data needed.

ORT recommends dynamic quantization for transformers (docs, "Method selection"); per-channel weights recover most of
the fidelity that per-tensor loses on MiniLM (measured.md: 0.992 vs 0.959 cosine).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from hfm_compress.configs import StepConfig, StepReport, check_choice, register_config
from hfm_compress.onnx_files import atomic_output
from hfm_compress.quantize.common import check_flag, check_names, op_counts, quant_type, quiet_quantizer, size_report
from hfm_compress.quantize.context import QuantizeContext
from hfm_compress.quantize.cpu_format import INT8_TYPES, Int8Format, resolve_int8_format


@register_config
@dataclasses.dataclass(frozen=True)
class DynamicInt8Config(StepConfig):
    TYPE = "dynamic-int8"

    per_channel: bool = True  # per-tensor weights cost 0.03 cosine on MiniLM; per-channel costs no measurable speed
    weight_type: str = "auto"  # "auto": from the profile's CPU class (cpu_format.py); else "s8" or "u8"
    reduce_range: bool | str = "auto"  # "auto": from the CPU class; True = 7-bit weights
    nodes_to_exclude: tuple[str, ...] = ()  # node names kept in float
    op_types: tuple[str, ...] = ()  # empty: every op type ORT can quantize dynamically (MatMul, Attention, Gather...)

    def __post_init__(self) -> None:
        check_flag("dynamic-int8", "per_channel", self.per_channel)
        check_choice("dynamic-int8", "weight_type", self.weight_type, ("auto",) + INT8_TYPES)
        check_flag("dynamic-int8", "reduce_range", self.reduce_range, allow_auto=True)
        check_names("dynamic-int8", "nodes_to_exclude", self.nodes_to_exclude)
        check_names("dynamic-int8", "op_types", self.op_types)


def resolve_format(config: DynamicInt8Config, cpu_class: str) -> Int8Format:
    return resolve_int8_format(cpu_class, static=False, per_channel=config.per_channel,
                               weight_type=config.weight_type, reduce_range=config.reduce_range)


def quantize_dynamic_int8(model_in: Path, model_out: Path, config: DynamicInt8Config,
                          ctx: QuantizeContext) -> StepReport:
    started = time.perf_counter()
    fmt = resolve_format(config, ctx.cpu_class)
    with atomic_output(Path(model_out)) as temp:
        write_dynamic(model_in, temp, config, fmt)
    details = {"format": fmt.to_dict(), "nodes_excluded": list(config.nodes_to_exclude), "ops": op_counts(model_out)}
    return size_report(config.TYPE, config, model_in, model_out, details, started)


def write_dynamic(model_in: Path, model_out: Path, config: DynamicInt8Config, fmt: Int8Format) -> None:
    """Run ORT's quantize_dynamic (also used by the selective handler for each candidate)."""
    import onnx
    from onnxruntime.quantization import quantize_dynamic

    with quiet_quantizer():
        quantize_dynamic(
            str(model_in), str(model_out),
            op_types_to_quantize=list(config.op_types) or None,
            per_channel=config.per_channel,
            reduce_range=fmt.reduce_range,
            weight_type=quant_type(fmt.weight_type),
            nodes_to_exclude=list(config.nodes_to_exclude),
            # Fused com.microsoft ops (Attention, SkipLayerNormalization) have no ONNX shape inference; without a default
            # type the quantizer cannot tell their outputs are float and fails (measured.md).
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
