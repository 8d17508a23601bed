"""Optimize step: ONNX Runtime's transformer fusions (Attention, LayerNorm, GELU), checked against the input model.

Fused ops are what make INT8 pay off on CPU: the quantized MatMuls then sit next to fused kernels instead of dozens
of small elementwise ops. Graphs the fusions do not recognise pass through unchanged and report zero fusions.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np

from hfm_compress.configs import StepConfig, StepReport, check_choice, check_range, register_config
from hfm_compress.errors import CompressError, ConfigError
from hfm_compress.onnx_files import atomic_output, check_outputs_close, cpu_session, quiet_logs, run_session

# Encoder families of onnxruntime.transformers.optimizer.MODEL_TYPES that this toolchain exports.
MODEL_TYPES = ("bert", "bart", "t5", "vit", "clip", "swin", "conformer")


@register_config
@dataclasses.dataclass(frozen=True)
class OptimizeConfig(StepConfig):
    TYPE = "optimize"

    model_type: str = "bert"  # BERT-family fusions also match RoBERTa/DistilBERT/MiniLM encoders
    num_heads: int = 0  # 0: ORT detects the head count from the graph
    hidden_size: int = 0  # 0: ORT detects the hidden size from the graph
    check_atol: float = 1e-3  # fused kernels reorder float sums and use erf/tanh variants: ~1e-5 typical, 1e-3 is a bug
    # Off: EmbedLayerNormalization hides the word-embedding Gather (half of MiniLM) from the quantizers, so the
    # embedding table would stay fp32; optimum disables it by default for the same reason.
    embed_layer_norm: bool = False
    # On: MultiHeadAttention keeps the Q/K/V projections as plain MatMuls, which static QDQ and MatMulNBits can
    # quantize (neither handles the fused Attention op's packed weights); as fast as Attention on MiniLM (measured).
    multi_head_attention: bool = False

    def __post_init__(self) -> None:
        check_choice("optimize", "model_type", self.model_type, MODEL_TYPES)
        for name in ("num_heads", "hidden_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigError(f"optimize.{name} = {value!r} is invalid; expected an integer >= 0 (0 = detect)")
        check_range("optimize", "check_atol", self.check_atol, 0.0, 1.0)
        check_choice("optimize", "embed_layer_norm", self.embed_layer_norm, (True, False))
        check_choice("optimize", "multi_head_attention", self.multi_head_attention, (True, False))


def optimize_onnx(model_in: Path, model_out: Path, config: OptimizeConfig,
                  check_feeds: list[dict[str, np.ndarray]]) -> StepReport:
    """Fuse `model_in` into `model_out`; raises FidelityError if outputs move by more than `check_atol`."""
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    started = time.perf_counter()
    options = FusionOptions(config.model_type)
    options.enable_embed_layer_norm = config.embed_layer_norm
    options.use_multi_head_attention = config.multi_head_attention
    try:
        with quiet_logs():
            optimized = optimize_model(str(model_in), model_type=config.model_type, num_heads=config.num_heads,
                                       hidden_size=config.hidden_size, optimization_options=options)
    except Exception as exc:  # the fusion scripts raise assertion/shape errors of many kinds
        raise CompressError(f"optimize: ORT transformer optimizer failed on {model_in} ({type(exc).__name__}: {exc})") from exc
    fused = {op: int(n) for op, n in (optimized.get_fused_operator_statistics() or {}).items() if n}
    nodes_out = len(optimized.model.graph.node)
    with atomic_output(Path(model_out)) as temp:
        optimized.save_model_to_file(str(temp), use_external_data_format=False)
        max_diff = _check_against_input(Path(model_in), temp, check_feeds, config.check_atol)
    details = {
        "fused_ops": fused,
        "fusions": sum(fused.values()),
        "nodes_out": nodes_out,
        "max_abs_diff": max_diff,
        "size_in": Path(model_in).stat().st_size,
        "size_out": Path(model_out).stat().st_size,
    }
    return StepReport("optimize", config.to_dict(), details, time.perf_counter() - started)


def _check_against_input(model_in: Path, model_out: Path, feeds: list[dict[str, np.ndarray]], atol: float) -> float:
    if not feeds:
        raise CompressError("optimize: no check feeds given; expected at least one input batch")
    reference, candidate = cpu_session(model_in), cpu_session(model_out)
    return check_outputs_close("optimize", [run_session(reference, f) for f in feeds],
                               [run_session(candidate, f) for f in feeds], atol)
