"""Tiny text artifacts built with onnx.helper and a small WordPiece tokenizer: no torch, seconds to make."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

from hfm_runtime.pack import pack_artifact

WORDS = (
    "patient reports chest pain shortness of breath fever cough headache nausea vomiting abdominal "
    "the a and with no history denies left right arm leg since yesterday mild severe acute chronic"
).split()
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
GOLDEN_TEXTS = ("patient reports chest pain", "fever and cough since yesterday", "no history of headache")
HIDDEN = 8


def tiny_tokenizer_json(max_length: int = 16) -> str:
    vocab = {token: index for index, token in enumerate(SPECIAL + WORDS + ["##s", "##ing"])}
    tokenizer = Tokenizer(models.WordPiece(vocab=vocab, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    tokenizer.decoder = decoders.WordPiece()
    return tokenizer.to_str()


def vocab_size() -> int:
    return len(SPECIAL) + len(WORDS) + 2


def tiny_encoder(num_labels: int | None = None, seed: int = 0) -> onnx.ModelProto:
    """last_hidden_state = tanh(Embedding[input_ids] @ W) * mask; with num_labels, logits of the masked mean instead."""
    rng = np.random.default_rng(seed)
    table = rng.normal(size=(vocab_size(), HIDDEN)).astype(np.float32)
    weight = rng.normal(size=(HIDDEN, HIDDEN)).astype(np.float32)
    nodes = [
        helper.make_node("Gather", ["table", "input_ids"], ["embedded"]),
        helper.make_node("MatMul", ["embedded", "weight"], ["projected"]),
        helper.make_node("Tanh", ["projected"], ["activated"]),
        helper.make_node("Cast", ["attention_mask"], ["mask_f"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["mask_f", "axis_last"], ["mask_3d"]),
        helper.make_node("Mul", ["activated", "mask_3d"], ["last_hidden_state"]),
    ]
    initializers = [
        numpy_helper.from_array(table, "table"),
        numpy_helper.from_array(weight, "weight"),
        numpy_helper.from_array(np.array([-1], dtype=np.int64), "axis_last"),
    ]
    output = helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", "sequence", HIDDEN])
    if num_labels:
        head = rng.normal(size=(HIDDEN, num_labels)).astype(np.float32)
        initializers.append(numpy_helper.from_array(head, "head"))
        initializers.append(numpy_helper.from_array(np.array([1], dtype=np.int64), "axis_tokens"))
        nodes += [  # mean over real tokens only, so padding in a batch cannot change a text's logits
            helper.make_node("ReduceSum", ["last_hidden_state", "axis_tokens"], ["summed"], keepdims=0),
            helper.make_node("ReduceSum", ["mask_3d", "axis_tokens"], ["counts"], keepdims=0),
            helper.make_node("Div", ["summed", "counts"], ["pooled"]),
            helper.make_node("MatMul", ["pooled", "head"], ["logits"]),
        ]
        output = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", num_labels])
    graph = helper.make_graph(
        nodes,
        "tiny_encoder",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "sequence"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "sequence"]),
        ],
        [output],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def text_manifest(task: str = "embedding", labels: Sequence[str] | None = None, precision: str = "fp32") -> dict:
    output = "logits" if task == "classification" else "last_hidden_state"
    post = {"type": "softmax", "labels": list(labels or [])} if task == "classification" else {"type": "mean-pool-l2"}
    return {
        "name": "tiny-test-encoder",
        "task": task,
        "model": {"precision": precision, "opset": 13},
        "inputs": [
            {"name": "input_ids", "dtype": "int64", "shape": ["batch", "sequence"]},
            {"name": "attention_mask", "dtype": "int64", "shape": ["batch", "sequence"]},
        ],
        "outputs": [{"name": output, "dtype": "float32", "shape": ["batch", "..."]}],
        "preprocessing": {"type": "text", "tokenizer": "tokenizer.json", "max_length": 16, "max_chars": 10_000},
        "postprocessing": post,
        "source": {"name": "tests/tiny_artifacts.py", "sha256": ""},
        "recipe": [],
    }


def make_text_artifact(path: Path, task: str = "embedding", profile: str = "clinic-cpu", precision: str = "fp32") -> Path:
    labels = ["routine", "urgent", "emergency"] if task == "classification" else None
    model = tiny_encoder(num_labels=len(labels) if labels else None)
    return pack_artifact(
        path,
        model_bytes=model.SerializeToString(),
        manifest=text_manifest(task, labels, precision),
        members={"tokenizer.json": tiny_tokenizer_json().encode()},
        golden_inputs=GOLDEN_TEXTS,
        profile=profile,
    )
