"""Accuracy-aware INT8: quantize everything, then move the most fragile nodes to a safer form until fidelity holds.

Quantization error on transformers is spread over many nodes (on MiniLM no single node is worth more than 0.002
cosine), so the step ranks every weight-carrying node by what taking it out of per-tensor INT8 recovers, then adds
nodes greedily (each step keeps the best of the next `lookahead` ranked nodes), scoring each step against the
teacher, until the targets hold or `max_float_nodes` is reached; the report never claims a target it did not meet.
The safer form ("fallback") is:
- "int8-weight-only" (default): the MatMul's weights are stored as per-channel INT8 and dequantized by Cast -> Mul,
  which ONNX Runtime constant-folds when the session loads; the node then runs as an fp32 MatMul on float
  activations. INT8 file size, fp32 speed for that node (measured on this AVX2 host: fp32 MatMul 2x the time of
  MatMulInteger), and 4 bytes per weight of RAM once loaded.
- "blockwise-int8": 8-bit MatMulNBits with a scale per 32 weights (accuracy_level 4). INT8 size in file and RAM,
  but on AVX2 its kernel measured 1.6x slower than fp32.
- "float": the node is left in fp32 (4x the bytes of its weights in the file).
Nodes that are not MatMuls (Attention, Gather) fall back to float whatever the setting.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

from hfm_compress.configs import StepConfig, StepReport, check_choice, check_range, register_config
from hfm_compress.errors import ConfigError
from hfm_compress.onnx_files import atomic_output
from hfm_compress.quantize import dynamic, static
from hfm_compress.quantize.common import (check_flag, check_names, node_names, op_counts, size_report, write_nbits,
                                          write_weight_only_int8)
from hfm_compress.quantize.context import FidelityScore, QuantizeContext
from hfm_compress.quantize.cpu_format import INT8_TYPES
from hfm_compress.quantize.smooth import measure_activation_ranges, write_smoothed

FALLBACKS = ("int8-weight-only", "blockwise-int8", "float")
WEIGHT_OPS = {"dynamic": ("MatMul", "Attention", "Gather"), "static": ("MatMul", "Gather")}


@register_config
@dataclasses.dataclass(frozen=True)
class SelectiveInt8Config(StepConfig):
    TYPE = "selective-int8"

    base: str = "dynamic"  # ORT recommends dynamic for transformers; static per-tensor ranges lose more on MiniLM
    fidelity_mean_target: float = 0.996  # mean cosine vs the teacher on calibration texts (goal 0.995 + margin)
    fidelity_min_target: float = 0.985  # worst single text
    max_float_nodes: int = 12  # most nodes moved out of per-tensor INT8 (each costs speed or size)
    fallback: str = "int8-weight-only"  # INT8 file size at fp32 speed for the kept nodes (see module docstring)
    fallback_block_size: int = 32  # weights per scale in the blockwise fallback: 32 is ORT's most accurate common size
    per_channel: bool = True  # base knob: per-tensor weights cost 0.03 cosine on MiniLM
    weight_type: str = "auto"  # base knob: "auto" follows the profile's CPU class
    reduce_range: bool | str = "auto"  # base knob: "auto" follows the profile's CPU class
    method: str = "minmax"  # static base only: calibration method
    nodes_to_exclude: tuple[str, ...] = ()  # always kept in float, before any selection
    # Op types the base quantizer turns into INT8; empty: all it can (see WEIGHT_OPS). ("MatMul", "Attention") leaves
    # the embedding lookups (Gather) in float for a later 4-bit step: quantizing them to 4 bits *before* this step made
    # its all-INT8 MiniLM student score 0.9913 instead of 0.9943 and kept 7 MatMuls out of INT8 instead of 1.
    op_types: tuple[str, ...] = ()
    # Op types ranked as candidates. On MiniLM a MatMul recovered up to 0.0018 cosine, an Attention or Gather node at
    # most 0.0004, and each candidate costs one quantization + scoring; Attention/Gather can only fall back to float.
    candidate_op_types: tuple[str, ...] = ("MatMul",)
    # Each greedy step tries the next `lookahead` ranked nodes and keeps the one that helps most together with those
    # already kept: single-node gains are small and noisy, and every node kept costs speed (fp32 MatMul ~2x INT8).
    lookahead: int = 3
    # SmoothQuant-style smoothing strengths tried before any node is kept out (smooth.py); the one whose all-INT8
    # model scores best on the calibration texts is kept, 0.0 meaning no smoothing; () skips the search.
    # On MiniLM 0.7 won (held-out cosine 0.9961 vs 0.9913 unsmoothed) and so needed fewer nodes kept out.
    smooth_alphas: tuple[float, ...] = (0.0, 0.5, 0.6, 0.7, 0.8)

    def __post_init__(self) -> None:
        check_choice("selective-int8", "base", self.base, tuple(WEIGHT_OPS))
        check_range("selective-int8", "fidelity_mean_target", self.fidelity_mean_target, 0.0, 1.0)
        check_range("selective-int8", "fidelity_min_target", self.fidelity_min_target, 0.0, 1.0)
        if isinstance(self.max_float_nodes, bool) or not isinstance(self.max_float_nodes, int) or self.max_float_nodes < 0:
            raise ConfigError(f"selective-int8.max_float_nodes = {self.max_float_nodes!r} is invalid; "
                              "expected an integer >= 0")
        check_choice("selective-int8", "fallback", self.fallback, FALLBACKS)
        check_choice("selective-int8", "fallback_block_size", self.fallback_block_size, (16, 32, 64, 128, 256))
        check_flag("selective-int8", "per_channel", self.per_channel)
        check_choice("selective-int8", "weight_type", self.weight_type, ("auto",) + INT8_TYPES)
        check_flag("selective-int8", "reduce_range", self.reduce_range, allow_auto=True)
        check_choice("selective-int8", "method", self.method, static.METHODS)
        check_names("selective-int8", "nodes_to_exclude", self.nodes_to_exclude)
        check_names("selective-int8", "candidate_op_types", self.candidate_op_types)
        check_names("selective-int8", "op_types", self.op_types)
        unknown_ops = sorted(set(self.op_types) - set(WEIGHT_OPS[self.base]))
        if unknown_ops:
            raise ConfigError(f"selective-int8.op_types = {list(self.op_types)!r} is invalid; expected a subset of "
                              f"{list(WEIGHT_OPS[self.base])} for base {self.base!r}")
        if not isinstance(self.smooth_alphas, (tuple, list)):
            raise ConfigError(f"selective-int8.smooth_alphas = {self.smooth_alphas!r} is invalid; expected a list of "
                              "numbers between 0 and 1")
        for alpha in self.smooth_alphas:
            check_range("selective-int8", "smooth_alphas", alpha, 0.0, 1.0)
        if isinstance(self.lookahead, bool) or not isinstance(self.lookahead, int) or self.lookahead < 1:
            raise ConfigError(f"selective-int8.lookahead = {self.lookahead!r} is invalid; expected an integer >= 1")
        unknown = sorted(set(self.candidate_op_types) - set(WEIGHT_OPS[self.base]))
        if unknown or not self.candidate_op_types:
            raise ConfigError(f"selective-int8.candidate_op_types = {list(self.candidate_op_types)!r} is invalid; "
                              f"expected a non-empty subset of {list(WEIGHT_OPS[self.base])} for base {self.base!r}")

    def base_config(self) -> dynamic.DynamicInt8Config | static.StaticInt8Config:
        common = {"per_channel": self.per_channel, "weight_type": self.weight_type, "reduce_range": self.reduce_range,
                  "nodes_to_exclude": self.nodes_to_exclude}
        if self.base == "dynamic":
            return dynamic.DynamicInt8Config(op_types=self.op_types, **common)
        return static.StaticInt8Config(method=self.method, **common,
                                       **({"op_types": self.op_types} if self.op_types else {}))


def quantize_selective(model_in: Path, model_out: Path, config: SelectiveInt8Config,
                       ctx: QuantizeContext) -> StepReport:
    started = time.perf_counter()
    model_out = Path(model_out)
    model_out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".hfm-selective-", dir=model_out.parent) as folder:
        build = _CandidateBuilder(Path(model_in), Path(folder), config, ctx)
        first = build.choose_smoothing()
        history = [first]
        ranking: list[dict[str, Any]] = []
        if not _meets(first.fidelity, config) and config.max_float_nodes > 0:
            ranking = _rank(build, first.fidelity, config, ctx)
            remaining = [entry["node"] for entry in ranking]
            while remaining and len(history) - 1 < config.max_float_nodes and not _meets(history[-1].fidelity, config):
                history.append(_best_next(build, history[-1], remaining[:config.lookahead], config))
                remaining.remove(history[-1].nodes[-1])
        chosen = max(history, key=lambda c: (_meets(c.fidelity, config), -_shortfall(c.fidelity, config),
                                             -len(c.nodes)))
        with atomic_output(model_out) as temp:
            shutil.copyfile(chosen.path, temp)
    details = {
        "base": config.base,
        "format": build.format.to_dict(),
        "fallback": config.fallback,
        "target": {"mean": config.fidelity_mean_target, "min": config.fidelity_min_target},
        "target_met": _meets(chosen.fidelity, config),
        "fidelity_all_int8": first.fidelity.to_dict(),
        "fidelity": chosen.fidelity.to_dict(),
        "nodes_kept_out": list(chosen.nodes),
        "float_nodes": list(config.nodes_to_exclude) + [n for n in chosen.nodes if build.fallback_of(n) == "float"],
        "additions": [{"node": c.nodes[-1], "fallback": build.fallback_of(c.nodes[-1]),
                       "fidelity": c.fidelity.to_dict(), "size": c.size} for c in history[1:]],
        "ranking": ranking[:config.max_float_nodes],
        "candidates_scored": build.scored,
        **build.extra_details,
        "ops": op_counts(model_out),
    }
    return size_report(config.TYPE, config, model_in, model_out, details, started)


@dataclasses.dataclass
class _Candidate:
    nodes: tuple[str, ...]
    path: Path
    fidelity: FidelityScore
    size: int


class _CandidateBuilder:
    """Builds and scores the model with a given set of nodes moved to the fallback (static calibration runs once)."""

    def __init__(self, model_in: Path, folder: Path, config: SelectiveInt8Config, ctx: QuantizeContext) -> None:
        self.config, self.ctx, self.folder = config, ctx, folder
        self.base = config.base_config()
        self.extra_details: dict[str, Any] = {}
        self.scored = 0
        if isinstance(self.base, static.StaticInt8Config):
            self.format = static.resolve_format(self.base, ctx.cpu_class)
        else:
            self.format = dynamic.resolve_format(self.base, ctx.cpu_class)
        self.float_source = model_in
        self._prepared: dict[Path, tuple[Path, Any]] = {}  # float source -> (model_in, static calibration or None)
        self._use_source(model_in, "typed.onnx")
        self.weight_nodes = _weight_nodes(self.model_in, config.candidate_op_types, config.nodes_to_exclude)

    def _use_source(self, model: Path, typed_name: str) -> None:
        """Make `model` the float model candidates are built from (static bases calibrate it, once per source)."""
        if model not in self._prepared:
            calibration = None
            model_in = model
            if isinstance(self.base, static.StaticInt8Config):
                model_in = static.with_shapes(model, self.folder / typed_name)
                calibration = static.calibrate(model_in, self.base, self.ctx.calibration_feeds, self.ctx.progress)
            self._prepared[model] = (model_in, calibration)
        self.model_in, self.calibration = self._prepared[model]
        if self.calibration is not None:
            self.extra_details.update(self.calibration.details())

    def choose_smoothing(self) -> "_Candidate":
        """Score the all-INT8 model at each smoothing strength; keep the best as the source; return its candidate."""
        alphas = [a for a in self.config.smooth_alphas if a > 0]
        tried = {0.0: self.score(())} if 0.0 in self.config.smooth_alphas or not alphas else {}
        if not alphas:
            return tried[0.0]
        original = self.float_source
        ranges = measure_activation_ranges(original, self.ctx.calibration_feeds(),
                                           lambda done: self.ctx.progress("smoothing: activation ranges", done, done))
        for index, alpha in enumerate(alphas):
            self.ctx.progress("smoothing: strengths", index, len(alphas))
            smoothed = self.folder / f"smoothed-{alpha}.onnx"
            write_smoothed(original, smoothed, ranges, alpha)
            self._use_source(smoothed, f"typed-{alpha}.onnx")
            tried[alpha] = self.score(())
        self.ctx.progress("smoothing: strengths", len(alphas), len(alphas))
        best = min(tried, key=lambda a: (_shortfall(tried[a].fidelity, self.config), -tried[a].fidelity.mean))
        self._use_source(self.folder / f"smoothed-{best}.onnx" if best else original, f"typed-{best}.onnx")
        self.extra_details["smoothing"] = {"alpha": best, "tried": {str(a): c.fidelity.to_dict() for a, c in tried.items()},
                                           "activation_inputs_measured": len(ranges)}
        return tried[best]

    @property
    def candidates(self) -> list[str]:
        return list(self.weight_nodes)

    def fallback_of(self, node: str) -> str:
        return self.config.fallback if self.weight_nodes.get(node) == "MatMul" else "float"

    def score(self, nodes: Sequence[str], keep: bool = True) -> _Candidate:
        """Build and score; `keep=False` deletes the file afterwards (ranking builds one model per node)."""
        path = self.build(tuple(nodes))
        self.scored += 1
        candidate = _Candidate(tuple(nodes), path, self.ctx.fidelity(path), path.stat().st_size)
        if not keep:
            path.unlink()
        return candidate

    def build(self, nodes: tuple[str, ...]) -> Path:
        out = self.folder / f"candidate-{self.scored}.onnx"
        source = self.model_in
        weight_only = [n for n in nodes if self.fallback_of(n) == "int8-weight-only"]
        blockwise = [n for n in nodes if self.fallback_of(n) == "blockwise-int8"]
        if weight_only:
            source = self.folder / "weight-only.onnx"
            write_weight_only_int8(self.model_in, source, weight_only)
        if blockwise:
            others = [n for n in node_names(self.model_in, ("MatMul",)) if n not in blockwise]
            write_nbits(source, self.folder / "blockwise.onnx", bits=8, block_size=self.config.fallback_block_size,
                        symmetric=True, accuracy_level=4, op_types=("MatMul",), nodes_to_exclude=others)
            source = self.folder / "blockwise.onnx"
        base = self.base.replace(nodes_to_exclude=tuple(self.config.nodes_to_exclude) + nodes)
        if isinstance(base, static.StaticInt8Config):
            static.write_static(source, out, base, self.format, self.calibration)
        else:
            dynamic.write_dynamic(source, out, base, self.format)
        return out


def _rank(build: _CandidateBuilder, first: FidelityScore, config: SelectiveInt8Config,
          ctx: QuantizeContext) -> list[dict[str, Any]]:
    """Each candidate's gain when it alone is moved to the fallback; nodes that gain nothing are dropped."""
    gains = []
    candidates = build.candidates
    for index, node in enumerate(candidates):
        ctx.progress("ranking nodes by fidelity cost", index, len(candidates))
        score = build.score((node,), keep=False).fidelity
        gain = _shortfall(first, config) - _shortfall(score, config)
        gains.append({"node": node, "gain": round(gain, 5), "mean_gain": round(score.mean - first.mean, 5)})
    ctx.progress("ranking nodes by fidelity cost", len(candidates), len(candidates))
    gains.sort(key=lambda g: (g["gain"], g["mean_gain"]), reverse=True)
    return [g for g in gains if g["gain"] > 0 or (g["gain"] == 0 and g["mean_gain"] > 0)]


def _best_next(build: _CandidateBuilder, current: _Candidate, options: list[str],
               config: SelectiveInt8Config) -> _Candidate:
    """Score `current` plus each option; keep the best (least shortfall, then highest mean), delete the others."""
    tried = [build.score(current.nodes + (node,)) for node in options]
    best = min(tried, key=lambda c: (_shortfall(c.fidelity, config), -c.fidelity.mean))
    for candidate in tried:
        if candidate is not best:
            candidate.path.unlink()
    return best


def _shortfall(score: FidelityScore, config: SelectiveInt8Config) -> float:
    """How far below the targets a score is (0 when both hold); the quantity the greedy loop drives down."""
    return max(0.0, config.fidelity_mean_target - score.mean) + max(0.0, config.fidelity_min_target - score.min)


def _meets(score: FidelityScore, config: SelectiveInt8Config) -> bool:
    return score.meets(config.fidelity_mean_target, config.fidelity_min_target)


def _weight_nodes(model_path: Path, op_types: Sequence[str], excluded: Sequence[str]) -> dict[str, str]:
    """Nodes of `op_types` that carry a float weight initializer (what the quantizers actually turn into INT8)."""
    import onnx

    model = onnx.load(str(model_path), load_external_data=False)
    weights = {i.name for i in model.graph.initializer if i.data_type == onnx.TensorProto.FLOAT and len(i.dims) >= 2}
    return {n.name: n.op_type for n in model.graph.node
            if n.op_type in op_types and n.name and n.name not in excluded and any(i in weights for i in n.input)}

