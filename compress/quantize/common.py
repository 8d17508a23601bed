"""Helpers shared by the quantization handlers: ORT type names, node listings and the size report."""

from __future__ import annotations

import contextlib
import logging
import time
from pathlib import Path
from typing import Any, Iterable

from hfm_compress.configs import StepConfig, StepReport
from hfm_compress.errors import ConfigError
from hfm_compress.onnx_files import quiet_logs


def quant_type(name: str) -> Any:
    """"u8"/"s8" -> onnxruntime.quantization.QuantType."""
    from onnxruntime.quantization import QuantType

    return {"u8": QuantType.QUInt8, "s8": QuantType.QInt8}[name]


def quant_format(name: str) -> Any:
    from onnxruntime.quantization import QuantFormat

    return {"qdq": QuantFormat.QDQ, "qoperator": QuantFormat.QOperator}[name]


def check_names(step: str, field: str, value: Any) -> None:
    """Node-name and op-type lists must be tuples of strings (JSON lists become tuples in config_from_dict)."""
    if not isinstance(value, tuple) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{step}.{field} = {value!r} is invalid; expected a list of non-empty names")


def check_flag(step: str, field: str, value: Any, allow_auto: bool = False) -> None:
    allowed: tuple[Any, ...] = (True, False, "auto") if allow_auto else (True, False)
    if not any(value is a or (isinstance(a, str) and value == a) for a in allowed):
        raise ConfigError(f"{step}.{field} = {value!r} is invalid; expected {' or '.join(map(repr, allowed))}")


def node_names(model_path: Path, op_types: Iterable[str]) -> list[str]:
    """Names of the nodes of the given op types, in graph order (what nodes_to_exclude refers to)."""
    import onnx

    wanted = set(op_types)
    model = onnx.load(str(model_path), load_external_data=False)
    return [n.name for n in model.graph.node if n.op_type in wanted and n.name]


def op_counts(model_path: Path) -> dict[str, int]:
    import onnx

    counts: dict[str, int] = {}
    for node in onnx.load(str(model_path), load_external_data=False).graph.node:
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return dict(sorted(counts.items()))


def size_report(step: str, config: StepConfig, model_in: Path, model_out: Path, details: dict[str, Any],
                started: float) -> StepReport:
    size_in, size_out = Path(model_in).stat().st_size, Path(model_out).stat().st_size
    sizes = {"size_in": size_in, "size_out": size_out, "size_ratio": round(size_out / size_in, 4)}
    return StepReport(step, config.to_dict(), {**sizes, **details}, time.perf_counter() - started)


def quiet_quantizer() -> contextlib.AbstractContextManager[None]:
    """ORT's quantizers log advice ("consider pre-processing") on the root logger and their own module loggers."""
    return quiet_logs("onnxruntime.quantization.matmul_nbits_quantizer")


def write_nbits(model_in: Path, model_out: Path, *, bits: int, block_size: int, symmetric: bool,
                accuracy_level: int, op_types: tuple[str, ...], nodes_to_exclude: Iterable[str] = ()) -> None:
    """ORT's MatMulNBitsQuantizer: block-wise weight-only MatMulNBits (and GatherBlockQuantized for "Gather")."""
    import onnx

    import numpy as np

    quantizer_cls = _nbits_quantizer_class()
    with quiet_quantizer(), np.errstate(divide="ignore", invalid="ignore"):  # all-zero blocks: the library masks them
        quantizer = quantizer_cls(
            onnx.load(str(model_in)), bits=bits, block_size=block_size, is_symmetric=symmetric,
            accuracy_level=accuracy_level or None, nodes_to_exclude=list(nodes_to_exclude),
            op_types_to_quantize=op_types, quant_axes=(("MatMul", 0), ("Gather", 1)),
        )
        quantizer.process()
        quantizer.model.save_model_to_file(str(model_out), use_external_data_format=False)


def _nbits_quantizer_class() -> Any:
    """Import MatMulNBitsQuantizer without its module-level logging.basicConfig(INFO) taking over the root logger."""
    root = logging.getLogger()
    guard = None if root.handlers else logging.NullHandler()
    if guard:
        root.addHandler(guard)
    try:
        from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer
    finally:
        if guard:
            root.removeHandler(guard)
    return MatMulNBitsQuantizer


def write_weight_only_int8(model_in: Path, model_out: Path, nodes: Iterable[str]) -> None:
    """Store the constant weights of the given MatMul nodes as per-channel int8, dequantized by Cast -> Mul.

    ORT constant-folds Cast and Mul of initializers when the session loads (graph optimization level basic or
    higher; it does not fold DequantizeLinear), so the file carries INT8 weights while the node runs as an fp32
    MatMul on float activations: INT8 size, fp32 speed and near-fp32 accuracy for the nodes INT8 hurts most.
    The weights are quantized by ORT's own quant_utils (symmetric, per output channel).
    """
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper
    from onnxruntime.quantization.quant_utils import compute_data_quant_params, quantize_onnx_initializer

    model = onnx.load(str(model_in))
    graph = model.graph
    initializers = {i.name: i for i in graph.initializer}
    targets = set(nodes)
    prologue = []
    for node in graph.node:
        if node.name not in targets:
            continue
        weight = initializers.get(node.input[1]) if node.op_type == "MatMul" and len(node.input) > 1 else None
        if weight is None or weight.data_type != onnx.TensorProto.FLOAT or len(weight.dims) != 2:
            continue  # not a MatMul with a 2-D float weight: nothing to do
        data = numpy_helper.to_array(weight)
        params = [compute_data_quant_params(data[:, c], onnx.TensorProto.INT8, True) for c in range(data.shape[1])]
        zero_points = np.array([p[0] for p in params]).reshape(-1)
        scales = np.array([p[1] for p in params], dtype=np.float32).reshape(-1)
        base = f"{weight.name}_wo8"
        quantized = quantize_onnx_initializer(weight, onnx.TensorProto.INT8, zero_points, scales, axis=1,
                                              quant_weight_name=f"{base}_q")
        graph.initializer.extend([quantized, numpy_helper.from_array(scales, f"{base}_scale")])
        prologue += [helper.make_node("Cast", [quantized.name], [f"{base}_f"], name=f"{base}_cast",
                                      to=onnx.TensorProto.FLOAT),
                     helper.make_node("Mul", [f"{base}_f", f"{base}_scale"], [base], name=f"{base}_mul")]
        node.input[1] = base
    nodes_in_order = prologue + list(graph.node)  # the prologue reads initializers only: topological order holds
    graph.ClearField("node")
    graph.node.extend(nodes_in_order)
    used = {name for n in graph.node for name in n.input} | {o.name for o in graph.output}
    kept = [i for i in graph.initializer if i.name in used]  # the replaced fp32 weights go
    graph.ClearField("initializer")
    graph.initializer.extend(kept)
    onnx.save(model, str(model_out))
