"""INT8 format per CPU class: the wrong choice makes INT8 slower than fp32, or overflows, on some CPUs.

Sources (cited next to each rule):
- [ORT-FAQ] onnxruntime docs, "Quantize ONNX models": "Data type selection" and "When to use reduce-range and
  per-channel quantization?" (docs/performance/model-optimizations/quantization.md).
- [ORT-API] docstring of `onnxruntime.quantization.quantize_static` (1.32), "Choosing parameters for CPU inference".
- [OPTIMUM] optimum `AutoQuantizationConfig.avx2 / .avx512_vnni / .arm64` (optimum/onnxruntime/configuration.py).
- Known failures: onnxruntime #20052, #17389 (INT8 slower than or equal to fp32 on CPU), #6695 (dynamic INT8 BERT
  barely faster on non-VNNI CPUs), #6004 (wrong INT8 BERT predictions on an AVX2-only CPU); OpenVINO POT
  "SaturationIssue" and NNCF `saturation_fix` (7-bit weights on AVX2/AVX512 for the same 16-bit overflow).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hfm_compress.errors import ConfigError
from hfm_runtime.profiles import CPU_CLASSES

QUANT_FORMATS = ("qdq", "qoperator")
INT8_TYPES = ("u8", "s8")


@dataclass(frozen=True)
class Int8Format:
    quant_format: str  # "qdq" | "qoperator"
    activation_type: str  # "u8" | "s8"; dynamic quantization always uses u8 activations
    weight_type: str  # "u8" | "s8"
    reduce_range: bool  # 7-bit weights
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"quant_format": self.quant_format, "activation_type": self.activation_type,
                "weight_type": self.weight_type, "reduce_range": self.reduce_range, "reason": self.reason}


def choose_int8_format(cpu_class: str, *, static: bool = True, per_channel: bool = True) -> Int8Format:
    """The recommended INT8 format for `cpu_class`, with the reason recorded in the step report."""
    if cpu_class == "x86-avx2":
        # [ORT-FAQ] U8S8 runs on VPMADDUBSW, whose 16-bit pair sums can saturate on CPUs without VNNI;
        # reduce_range (7-bit weights) "is designed for the U8S8 format on AVX2 and AVX512 (non-VNNI) machines", and
        # "on AVX2 and AVX512 machines, you will generally need to enable reduce-range as well if per-channel is
        # enabled". [ORT-API] the same for static. The dynamic kernels (MatMulInteger) take the same U8S8 path.
        # U8U8 avoids saturation but is ~12% slower; on MiniLM, per-channel s8 with 7-bit weights measured
        # 0.9922 held-out cosine vs 0.9918 with 8-bit, at the same speed (see the research notes in the report).
        return Int8Format("qdq", "u8", "s8", per_channel,
                          "x86 without VNNI: u8 activations/s8 weights (VPMADDUBSW fast path)"
                          + ("; 7-bit weights against VPMADDUBSW saturation with per-channel scales" if per_channel
                             else "; full 8-bit weights (per-tensor scales rarely saturate)"))
    if cpu_class == "x86-vnni":
        # [ORT-FAQ] "This is not needed on machines supporting VNNI"; [OPTIMUM] avx512_vnni: QUInt8 activations,
        # QInt8 weights, reduce_range=False (VPDPBUSD accumulates u8*s8 in 32 bits without saturation).
        return Int8Format("qdq", "u8", "s8", False,
                          "x86 with VNNI: u8 activations/s8 weights, full 8-bit (VPDPBUSD does not saturate)")
    if cpu_class == "arm64":
        # [ORT-API] ARM: "Use activation_type=QInt8 and weight_type=QInt8 with reduce_range=False"; [ORT-FAQ] no
        # saturation issue on ARM. Dynamic quantization has u8 activations; [OPTIMUM] arm64 pairs them with s8
        # weights ("u8/s8 is faster than u8/u8 on lower-end ARM64 and identical on higher-end ARM64").
        activation = "s8" if static else "u8"
        return Int8Format("qdq", activation, "s8", False,
                          f"arm64: {activation}/s8, full 8-bit (no VPMADDUBSW saturation on ARM dot-product kernels)")
    raise ConfigError(f"cpu_class = {cpu_class!r} is invalid; expected one of {', '.join(map(repr, CPU_CLASSES))}")


def resolve_int8_format(cpu_class: str, *, static: bool, per_channel: bool, quant_format: str = "auto",
                        activation_type: str = "auto", weight_type: str = "auto",
                        reduce_range: bool | str = "auto") -> Int8Format:
    """Fill every "auto" field from `choose_int8_format`; explicit config values win and are named in the reason."""
    chosen = choose_int8_format(cpu_class, static=static, per_channel=per_channel)
    explicit = {name: value for name, value in (("quant_format", quant_format), ("activation_type", activation_type),
                                                ("weight_type", weight_type), ("reduce_range", reduce_range))
                if value != "auto"}
    values = {**chosen.to_dict(), **explicit}
    if not static:
        values["activation_type"] = "u8"  # ORT's DynamicQuantizeLinear produces uint8 only
    reason = chosen.reason + (f"; set by config: {', '.join(f'{k}={v}' for k, v in explicit.items())}" if explicit else "")
    values["reason"] = reason
    return Int8Format(**values)
