"""Facts read from the ONNX graph itself, never from the manifest's claims: weight precision and whether activations
are quantized with ranges computed over the whole batch.

`precision` is the lowest weight precision present (`int4` < `int8` < `fp16` < `fp32`), the manifest's convention.
Scales, zero points and shape constants (1-D and under 256 elements) do not count as weights; matrices do.
`batch_dependent`: DynamicQuantizeLinear (and the fused ops that contain it) takes one scale over every row and
padding position of a batch, so an input's result would depend on its neighbours; the runtime runs such graphs one
row at a time.
"""

from __future__ import annotations

import dataclasses
from typing import Iterator

from hfm_runtime.errors import ArtifactError

WEIGHT_MIN_ELEMENTS = 256
INT4_OPS = frozenset({"MatMulNBits", "GatherBlockQuantized"})
BATCH_RANGE_OPS = frozenset({"DynamicQuantizeLinear", "DynamicQuantizeMatMul", "DynamicQuantizeLSTM"})
PRECISION_ORDER = ("int4", "int8", "fp16", "fp32")


@dataclasses.dataclass(frozen=True)
class GraphFacts:
    precision: str
    batch_dependent: bool
    op_types: frozenset[str]


def graph_facts(model_bytes: bytes, where: str) -> GraphFacts:
    """Scan the serialized ModelProto for op types and initializer types.

    The runtime may not import `onnx` (it stays light, tests/unit/test_lean_import.py), and parsing a whole model just
    to read a few fields would hold a second copy of every weight; this walks the protobuf wire format instead and
    skips weight bytes without copying them.
    """
    try:
        scan = _Scan()
        graph = _field(memoryview(model_bytes), MODEL_GRAPH)
        if graph is None:
            raise ValueError("no graph")
        scan.graph(graph)
    except (ValueError, IndexError) as exc:
        raise ArtifactError(f"{where}: model.onnx is not a valid ONNX model ({exc})") from None
    levels = {"fp32"}
    if scan.weight_types & {FLOAT16, BFLOAT16}:
        levels.add("fp16")
    if scan.weight_types & {INT8, UINT8}:
        levels.add("int8")
    if scan.op_types & INT4_OPS or scan.weight_types & {INT4, UINT4}:
        levels.add("int4")
    precision = next(level for level in PRECISION_ORDER if level in levels)
    return GraphFacts(precision, bool(scan.op_types & BATCH_RANGE_OPS), frozenset(scan.op_types))


# Field numbers and TensorProto data types from onnx/onnx.proto (stable since IR version 3).
MODEL_GRAPH = 7
GRAPH_NODE, GRAPH_INITIALIZER = 1, 5
NODE_OP_TYPE, NODE_ATTRIBUTE = 4, 5
ATTRIBUTE_G, ATTRIBUTE_GRAPHS = 6, 11
TENSOR_DIMS, TENSOR_DATA_TYPE = 1, 2
UINT8, INT8, FLOAT16, BFLOAT16, UINT4, INT4 = 2, 3, 10, 16, 21, 22
VARINT, FIXED64, LEN, FIXED32 = 0, 1, 2, 5
MAX_GRAPH_DEPTH = 16


class _Scan:
    def __init__(self) -> None:
        self.op_types: set[str] = set()
        self.weight_types: set[int] = set()

    def graph(self, data: memoryview, depth: int = 0) -> None:
        if depth > MAX_GRAPH_DEPTH:
            raise ValueError("subgraphs nested too deeply")
        for number, value in _fields(data):
            if number == GRAPH_NODE and isinstance(value, memoryview):
                self.node(value, depth)
            elif number == GRAPH_INITIALIZER and isinstance(value, memoryview):
                self.initializer(value)

    def node(self, data: memoryview, depth: int) -> None:
        for number, value in _fields(data):
            if number == NODE_OP_TYPE and isinstance(value, memoryview):
                self.op_types.add(bytes(value).decode("utf-8", "replace"))
            elif number == NODE_ATTRIBUTE and isinstance(value, memoryview):
                for inner, sub in _fields(value):
                    if inner in (ATTRIBUTE_G, ATTRIBUTE_GRAPHS) and isinstance(sub, memoryview):
                        self.graph(sub, depth + 1)

    def initializer(self, data: memoryview) -> None:
        elements, data_type, rank = 1, 0, 0
        for number, value in _fields(data):
            if number == TENSOR_DIMS:
                if isinstance(value, memoryview):  # packed repeated int64
                    position = 0
                    while position < len(value):
                        dim, position = _varint(value, position)
                        elements, rank = elements * dim, rank + 1
                else:
                    elements, rank = elements * value, rank + 1
            elif number == TENSOR_DATA_TYPE and isinstance(value, int):
                data_type = value
        if rank >= 2 or elements >= WEIGHT_MIN_ELEMENTS:
            self.weight_types.add(data_type)


def _field(data: memoryview, wanted: int) -> memoryview | None:
    for number, value in _fields(data):
        if number == wanted and isinstance(value, memoryview):
            return value
    return None


def _fields(data: memoryview) -> Iterator[tuple[int, int | memoryview]]:
    """(field number, value) pairs of one message: ints for varints, memoryviews for length-delimited fields."""
    position, end = 0, len(data)
    while position < end:
        key, position = _varint(data, position)
        number, wire = key >> 3, key & 7
        if wire == VARINT:
            value, position = _varint(data, position)
            yield number, value
        elif wire == LEN:
            length, position = _varint(data, position)
            if position + length > end:
                raise ValueError("a field runs past the end of its message")
            yield number, data[position : position + length]
            position += length
        elif wire in (FIXED64, FIXED32):
            position += 8 if wire == FIXED64 else 4
        else:
            raise ValueError(f"protobuf wire type {wire} is not used by ONNX")
    if position != end:
        raise ValueError("a field runs past the end of its message")


def _varint(data: memoryview, position: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, position
        shift += 7
        if shift > 63:
            raise ValueError("malformed varint")
