"""Tiny random-weight models for tests: built in milliseconds, nothing fetched from a hub.

`TinyBertEncoder` is a 2-layer BERT (hidden 32) with the same graph shape as MiniLM, so export, ORT fusion and
every quantizer see the real patterns; `tiny_mlp_onnx` is a non-transformer graph where fusions do not apply.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

VOCAB_SIZE = 100


class TinyBertEncoder(torch.nn.Module):
    """BertModel returning only `last_hidden_state`, called with keyword inputs like the real export."""

    input_names = ("input_ids", "attention_mask", "token_type_ids")
    output_names = ("last_hidden_state",)

    def __init__(self, seed: int = 0, hidden: int = 32, layers: int = 2, heads: int = 2) -> None:
        from transformers import BertConfig, BertModel

        super().__init__()
        torch.manual_seed(seed)
        config = BertConfig(vocab_size=VOCAB_SIZE, hidden_size=hidden, num_hidden_layers=layers,
                            num_attention_heads=heads, intermediate_size=4 * hidden, max_position_embeddings=64)
        self.config = config
        self.model = BertModel(config, add_pooling_layer=False).eval()

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=input_ids, attention_mask=attention_mask,
                          token_type_ids=token_type_ids).last_hidden_state

    @staticmethod
    def example_inputs(batch: int = 2, sequence: int = 8, seed: int = 0) -> dict[str, torch.Tensor]:
        """Random token ids with the last row padded, so masks are exercised."""
        generator = torch.Generator().manual_seed(seed)
        input_ids = torch.randint(1, VOCAB_SIZE, (batch, sequence), generator=generator)
        attention_mask = torch.ones(batch, sequence, dtype=torch.int64)
        if batch > 1 and sequence > 2:
            attention_mask[-1, sequence // 2:] = 0
            input_ids[-1, sequence // 2:] = 0
        return {"input_ids": input_ids, "attention_mask": attention_mask,
                "token_type_ids": torch.zeros(batch, sequence, dtype=torch.int64)}

    @staticmethod
    def dynamic_axes() -> dict[str, dict[int, str]]:
        axes = {name: {0: "batch", 1: "sequence"} for name in TinyBertEncoder.input_names}
        axes["last_hidden_state"] = {0: "batch", 1: "sequence"}
        return axes

    @staticmethod
    def feeds(count: int, batch: int = 2, seed: int = 0) -> list[dict[str, np.ndarray]]:
        """ORT feed dicts of varying sequence length (4..15), for calibration and checks."""
        return [{k: v.numpy() for k, v in TinyBertEncoder.example_inputs(batch, 4 + (i * 5) % 12, seed + i).items()}
                for i in range(count)]


def export_tiny_bert(path: Path, seed: int = 0) -> Path:
    """Export a TinyBertEncoder to `path` with dynamic batch/sequence axes (no checks; for quantizer tests)."""
    import warnings

    module = TinyBertEncoder(seed)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (), str(path), kwargs=module.example_inputs(),
                          input_names=list(module.input_names), output_names=list(module.output_names),
                          dynamic_axes=module.dynamic_axes(), opset_version=17, dynamo=False)
    return path


def tiny_mlp_onnx(path: Path, width: int = 64, seed: int = 0) -> Path:
    """A two-MatMul float graph (x -> MatMul -> Relu -> MatMul), where no transformer fusion applies."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    w1 = numpy_helper.from_array(rng.normal(0, 0.2, (width, width)).astype(np.float32), "w1")
    w2 = numpy_helper.from_array(rng.normal(0, 0.2, (width, width)).astype(np.float32), "w2")
    nodes = [helper.make_node("MatMul", ["x", "w1"], ["h"], name="fc1"),
             helper.make_node("Relu", ["h"], ["r"], name="relu"),
             helper.make_node("MatMul", ["r", "w2"], ["y"], name="fc2")]
    graph = helper.make_graph(nodes, "tiny_mlp",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", width])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", width])],
                              initializer=[w1, w2])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path
