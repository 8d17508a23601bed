"""Teacher reference outputs, tokenized exactly as the runtime will tokenize them on the device."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from hfm_compress.sources.text import TextTeacher
from hfm_runtime.postprocess import mean_pool_l2, softmax
from hfm_runtime.preprocess.text import TextPreprocessor


def text_preprocessor(teacher: TextTeacher, tokenizer_json: str | None = None) -> TextPreprocessor:
    spec = {"max_length": teacher.max_length, "pad_token": teacher.pad_token}
    return TextPreprocessor(tokenizer_json or teacher.tokenizer_json, spec, teacher.input_names)


def postprocess(task: str, output: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
    return softmax(output) if task == "classification" else mean_pool_l2(output, attention_mask)


def teacher_outputs(teacher: TextTeacher, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
    """Pooled embeddings or class probabilities of the fp32 teacher (torch, or ONNX Runtime for ONNX sources)."""
    preprocessor = text_preprocessor(teacher)
    if teacher.model is None:
        return _onnx_teacher_outputs(teacher, preprocessor, texts, batch_size)
    import torch

    rows = []
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            feeds = preprocessor.encode(texts[start : start + batch_size])
            output = forward(teacher, {k: torch.from_numpy(v) for k, v in feeds.items()})
            rows.append(postprocess(teacher.task, output.numpy(), feeds["attention_mask"]))
    return np.concatenate(rows)


def forward(teacher: TextTeacher, inputs: dict) -> "torch.Tensor":  # noqa: F821
    result = teacher.model(**inputs)
    return result.logits if teacher.task == "classification" else result.last_hidden_state


def feed_batches(preprocessor: TextPreprocessor, texts: Sequence[str], batch_size: int) -> list[dict[str, np.ndarray]]:
    return [preprocessor.encode(texts[i : i + batch_size]) for i in range(0, len(texts), batch_size)]


def _onnx_teacher_outputs(teacher: TextTeacher, preprocessor: TextPreprocessor, texts: Sequence[str],
                          batch_size: int) -> np.ndarray:
    import onnxruntime as ort

    assert teacher.onnx_path is not None
    session = ort.InferenceSession(str(teacher.onnx_path), providers=["CPUExecutionProvider"])
    rows = []
    for feeds in feed_batches(preprocessor, texts, batch_size):
        rows.append(postprocess(teacher.task, session.run([teacher.output_name], feeds)[0], feeds["attention_mask"]))
    return np.concatenate(rows)
