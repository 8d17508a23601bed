"""INT4 weight-only: block-wise 4-bit MatMul weights (MatMulNBits), optionally 4-bit embedding tables.

For size-bound targets where INT8 is still too big. On MiniLM it costs fidelity (0.968 cosine with every MatMul at
4 bits). With only the embedding lookups at 4 bits, mean / min cosine on the 302 held-out clinical texts was 0.9939 /
0.9869 symmetric in blocks of 32, 0.9975 / 0.9937 with zero points in blocks of 32 and 0.9963 / 0.9924 with zero
points in blocks of 64 (what `auto` uses), so recipes must evaluate it, never assume it.
MatMulNBits replaces MatMul only: the packed Q/K/V weights of a fused Attention op stay float, so quantize the plain
export or a graph optimized with `multi_head_attention=True`.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import TYPE_CHECKING

from hfm_compress.configs import StepConfig, StepReport, check_choice, register_config
from hfm_compress.errors import ConfigError
from hfm_compress.onnx_files import atomic_output, cpu_session
from hfm_compress.quantize.common import check_flag, check_names, op_counts, size_report, write_nbits
from hfm_compress.quantize.context import QuantizeContext

if TYPE_CHECKING:
    import numpy as np

BLOCK_SIZES = (16, 32, 64, 128, 256)  # weights per 4-bit scale that ORT's block quantizer takes


@register_config
@dataclasses.dataclass(frozen=True)
class Int4WeightOnlyConfig(StepConfig):
    TYPE = "int4-weight-only"

    block_size: int = 32  # 32 weights per scale: the accuracy end of ORT's range (its default 128 is for LLMs)
    symmetric: bool = True  # no zero points: smaller and the fast path of the MatMulNBits kernels
    accuracy_level: int = 0  # 0: kernel default; 4: int8 activations (fastest on CPU, less accurate)
    quantize_gather: bool = False  # 4-bit embedding tables: -48% file size on MiniLM, -0.004..-0.006 cosine
    quantize_matmul: bool = True  # False with quantize_gather: compress only the embedding table
    nodes_to_exclude: tuple[str, ...] = ()  # node names kept as they are
    # With quantize_gather: only the lookups indexed by these graph inputs go to 4 bits (empty: every lookup).
    # ["input_ids"] keeps a text model's position and token-type tables float: on the distilled 3-layer MiniLM the
    # 4-bit position table cost 0.0026 mean cosine for 0.6 MB saved.
    gather_indices: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if isinstance(self.block_size, bool) or self.block_size not in BLOCK_SIZES:
            raise ConfigError(f"int4-weight-only.block_size = {self.block_size!r} is invalid; "
                              f"expected one of {', '.join(map(str, BLOCK_SIZES))}")
        check_flag("int4-weight-only", "symmetric", self.symmetric)
        check_choice("int4-weight-only", "accuracy_level", self.accuracy_level, (0, 1, 2, 3, 4))
        check_flag("int4-weight-only", "quantize_gather", self.quantize_gather)
        check_flag("int4-weight-only", "quantize_matmul", self.quantize_matmul)
        if not (self.quantize_gather or self.quantize_matmul):
            raise ConfigError("int4-weight-only: quantize_matmul and quantize_gather are both false; "
                              "expected at least one to be true")
        check_names("int4-weight-only", "nodes_to_exclude", self.nodes_to_exclude)
        check_names("int4-weight-only", "gather_indices", self.gather_indices)


def quantize_int4(model_in: Path, model_out: Path, config: Int4WeightOnlyConfig, ctx: QuantizeContext) -> StepReport:
    started = time.perf_counter()
    op_types = (("MatMul",) if config.quantize_matmul else ()) + (("Gather",) if config.quantize_gather else ())
    other = other_lookups(Path(model_in), config.gather_indices) if config.quantize_gather and config.gather_indices \
        else ()
    with atomic_output(Path(model_out)) as temp:
        write_nbits(Path(model_in), temp, bits=4, block_size=config.block_size, symmetric=config.symmetric,
                    accuracy_level=config.accuracy_level, op_types=op_types,
                    nodes_to_exclude=tuple(config.nodes_to_exclude) + other)
    details = {"bits": 4, "op_types": list(op_types), "ops": op_counts(model_out)}
    if other:
        details["gathers_kept_float"] = list(other)
    return size_report(config.TYPE, config, model_in, model_out, details, started)


def other_lookups(model_path: Path, indices: tuple[str, ...]) -> tuple[str, ...]:
    """Names of the Gather nodes on a constant table whose indices are not one of the graph inputs `indices`."""
    import onnx

    graph = onnx.load(str(model_path), load_external_data=False).graph
    tables = {init.name for init in graph.initializer}
    lookups = [node for node in graph.node if node.op_type == "Gather" and node.input[0] in tables]
    if not any(node.input[1] in indices for node in lookups):
        inputs = ", ".join(i.name for i in graph.input) or "none"
        raise ConfigError(f"int4-weight-only.gather_indices = {list(indices)}: no table lookup in {model_path.name} "
                          f"is indexed by those graph inputs; expected some of its inputs ({inputs})")
    return tuple(node.name for node in lookups if node.input[1] not in indices)


def stored_4bit_table(table: "np.ndarray", block_size: int, symmetric: bool) -> "np.ndarray":
    """`table` (rows, width) as a 4-bit GatherBlockQuantized lookup returns it: quantized by the same ORT quantizer
    the int4-weight-only step uses, then read back row by row through ONNX Runtime."""
    import tempfile

    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    ids = helper.make_tensor_value_info("ids", TensorProto.INT64, [None])
    rows = helper.make_tensor_value_info("rows", TensorProto.FLOAT, [None, table.shape[1]])
    graph = helper.make_graph([helper.make_node("Gather", ["table", "ids"], ["rows"], name="lookup")], "table",
                              [ids], [rows], [numpy_helper.from_array(np.asarray(table, np.float32), "table")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    with tempfile.TemporaryDirectory(prefix="hfm-table-") as folder:
        plain, packed = Path(folder) / "table.onnx", Path(folder) / "table-4bit.onnx"
        onnx.save(model, str(plain))
        write_nbits(plain, packed, bits=4, block_size=block_size, symmetric=symmetric, accuracy_level=0,
                    op_types=("Gather",))
        session = cpu_session(packed)
        return session.run(["rows"], {"ids": np.arange(table.shape[0], dtype=np.int64)})[0]
