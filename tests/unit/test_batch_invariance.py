"""A patient's result must not depend on whose inputs share the batch, and a call never exceeds the memory budget."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

import hfm_runtime
from hfm_runtime.batching import BatchBudget, plan_batches
from hfm_runtime.pack import pack_artifact
from tiny_artifacts import GOLDEN_TEXTS, text_manifest, tiny_encoder, tiny_tokenizer_json

LONG_NOTE = " ".join(["severe acute chest pain with shortness of breath"] * 3)


@pytest.fixture
def dynamic_int8_artifact(tmp_path: Path) -> Path:
    """The tiny encoder with ORT's dynamic INT8 MatMul: activation ranges come from the whole batch."""
    from onnxruntime.quantization import quantize_dynamic

    fp32, int8 = tmp_path / "fp32.onnx", tmp_path / "int8.onnx"
    onnx.save(tiny_encoder(), fp32)
    quantize_dynamic(fp32, int8, op_types_to_quantize=["MatMul"])
    return pack_artifact(tmp_path / "int8.hfm", model_bytes=int8.read_bytes(), manifest=text_manifest(),
                         members={"tokenizer.json": tiny_tokenizer_json().encode()}, golden_inputs=GOLDEN_TEXTS,
                         profile="clinic-cpu")


def test_dynamic_int8_results_do_not_depend_on_neighbours(dynamic_int8_artifact: Path) -> None:
    model = hfm_runtime.load(dynamic_int8_artifact)
    assert model.graph.batch_dependent and model.graph.precision == "int8"
    alone = model.run(["fever and cough since yesterday"])[0]
    beside_long = model.run(["fever and cough since yesterday", LONG_NOTE])[0]
    in_a_crowd = model.run([LONG_NOTE, "no history", "fever and cough since yesterday", "mild headache"])[2]
    np.testing.assert_array_equal(alone, beside_long)
    np.testing.assert_array_equal(alone, in_a_crowd)


def test_the_row_wise_rule_is_what_makes_it_hold(dynamic_int8_artifact: Path) -> None:
    """Run as one padded batch (what the runtime did before), the same text moves: the check above can fail."""
    model = hfm_runtime.load(dynamic_int8_artifact)
    batched = BatchBudget(max_units=10**9, unit_bytes=0.0, row_wise=False, source="test")
    items = model.inputs.items(["fever and cough since yesterday", LONG_NOTE])
    together = model.run_items(items, batch_size=2, budget=batched)[0]
    alone = model.run_items(items[:1], batch_size=1, budget=batched)[0]
    assert np.max(np.abs(together - alone)) > 1e-4


def test_golden_entry_checks_both_ways(dynamic_int8_artifact: Path, tiny_artifact: Path) -> None:
    for path in (dynamic_int8_artifact, tiny_artifact):
        golden = hfm_runtime.load(path).manifest["golden"]
        assert golden["checks"] == ["together", "alone"]
        assert golden["batch_drift"] <= golden["atol"]


def test_fp32_batches_are_invariant_and_split_by_memory(tiny_artifact: Path) -> None:
    model = hfm_runtime.load(tiny_artifact)
    assert not model.graph.batch_dependent
    texts = [LONG_NOTE if i % 7 == 0 else GOLDEN_TEXTS[i % 3] for i in range(50)]
    one_batch = model.run(texts, batch_size=10_000)
    one_by_one = np.stack([model.run([t])[0] for t in texts])
    np.testing.assert_allclose(one_batch, one_by_one, atol=1e-6)
    tight = BatchBudget(max_units=40, unit_bytes=1.0, row_wise=False, source="test")
    np.testing.assert_allclose(model.run_items(model.inputs.items(texts), 10_000, tight), one_batch, atol=1e-6)


def test_plan_batches_respects_count_tokens_and_row_wise() -> None:
    budget = BatchBudget(max_units=100, unit_bytes=1.0, row_wise=False, source="test")
    plan = plan_batches([10] * 25, batch_size=8, budget=budget)
    assert [len(b) for b in plan] == [8, 8, 8, 1]  # the count binds: 8 x 10 tokens fit the 100 units
    assert [len(b) for b in plan_batches([30] * 7, batch_size=8, budget=budget)] == [3, 3, 1]  # the tokens bind
    assert sorted(i for b in plan for i in b) == list(range(25))
    assert plan_batches([500, 3], batch_size=8, budget=budget) == [[0], [1]]  # an oversized item runs alone
    row_wise = BatchBudget(max_units=100, unit_bytes=1.0, row_wise=True, source="test")
    assert plan_batches([1, 1, 1], batch_size=8, budget=row_wise) == [[0], [1], [2]]


def test_text_budget_follows_the_profile() -> None:
    clinic = BatchBudget.for_text(512, 384, False, "clinic")
    wearable = BatchBudget.for_text(32, 384, False, "wearable")
    assert abs(clinic.max_units - 16 * wearable.max_units) <= 16
    assert clinic.max_units >= 32 * 128  # the default batch of 32 full-length texts still fits on clinic-cpu
