"""A streamed ECG's windows all reach the audit log: classified windows with quality "ok", refused ones with why."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import hfm_runtime
from hfm_runtime.audit import AuditLog, verify_log
from hfm_runtime.pack import pack_artifact

FS, SECONDS, LABELS = 100.0, 4.0, ["normal_sinus", "atrial_fibrillation", "noise"]


def tiny_signal_artifact(path: Path) -> Path:
    """(batch, 1, 400) -> mean and max over time -> 3 logits, built with onnx.helper (no torch)."""
    samples = int(FS * SECONDS)
    head = np.random.default_rng(0).normal(size=(2, len(LABELS))).astype(np.float32)
    nodes = [
        helper.make_node("ReduceMean", ["signal"], ["mean"], axes=[2], keepdims=0),
        helper.make_node("ReduceMax", ["signal"], ["peak"], axes=[2], keepdims=0),
        helper.make_node("Concat", ["mean", "peak"], ["features"], axis=1),
        helper.make_node("MatMul", ["features", "head"], ["logits"]),
    ]
    graph = helper.make_graph(
        nodes, "tiny_signal", [helper.make_tensor_value_info("signal", TensorProto.FLOAT, ["batch", 1, samples])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", len(LABELS)])],
        [numpy_helper.from_array(head, "head")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    manifest = {
        "name": "tiny-signal", "task": "signal-classification", "model": {"precision": "fp32"},
        "inputs": [{"name": "signal", "dtype": "float32", "shape": ["batch", 1, samples]}],
        "outputs": [{"name": "logits", "dtype": "float32", "shape": ["batch", len(LABELS)]}],
        "preprocessing": {"type": "signal", "fs": FS, "window_seconds": SECONDS, "normalisation": "zscore"},
        "postprocessing": {"type": "softmax", "labels": LABELS}, "source": {"name": "test"}, "recipe": [],
    }
    rng = np.random.default_rng(1)
    golden = [rng.normal(size=samples).astype(np.float32) for _ in range(2)]
    return pack_artifact(path, model_bytes=model.SerializeToString(), manifest=manifest, members={},
                         golden_inputs=golden, profile="clinic-cpu")


def test_stream_windows_and_their_quality_are_audited(tmp_path: Path) -> None:
    artifact = tiny_signal_artifact(tmp_path / "ecg.hfm")
    log_path = tmp_path / "audit.jsonl"
    with AuditLog(log_path) as log:
        model = hfm_runtime.load(artifact, profile="clinic-cpu", audit=log)
        stream = model.stream()
        t = np.arange(int(FS * SECONDS * 2)) / FS
        results = stream.push(np.sin(2 * np.pi * 1.2 * t)) + stream.push(np.zeros(int(FS * SECONDS)))
        results += stream.flush()
    records = [json.loads(line) for line in log_path.read_text().splitlines()]
    assert [r["quality"] for r in records if r["quality"] == "ok"] == ["ok"] * sum(r.ok for r in results)
    flagged = [r for r in records if r["quality"] != "ok"]
    assert flagged and {r["quality"] for r in flagged} == {res.quality for res in results if not res.ok}
    assert all(r["output"] is None for r in flagged)
    assert all(r["artifact"] == model.artifact.digest for r in records)
    assert verify_log(log_path).ok
