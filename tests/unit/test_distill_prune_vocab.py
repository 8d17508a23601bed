"""Distill, prune and vocab steps on a tiny random BERT (hidden 32, 4 heads) with a WordPiece tokenizer built here."""

from __future__ import annotations

import json
import os
import random
import signal
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

from hfm_compress.configs import config_from_dict  # noqa: E402
from hfm_compress.distill.bert import DistillConfig, distill  # noqa: E402
from hfm_compress.distill.loop import DistillInterrupted  # noqa: E402
from hfm_compress.errors import CompressError, ConfigError  # noqa: E402
from hfm_compress.prune.bert import (  # noqa: E402
    MagnitudePruneConfig,
    StructuredPruneConfig,
    magnitude_prune,
    model_output,
    prune_model,
    unit_importance,
)
from hfm_compress.vocab import VocabPruneConfig, prune_vocabulary  # noqa: E402

torch.set_num_threads(1)

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = (
    "patient reports chest pain shortness of breath fever cough headache nausea vomiting abdominal the a and with no "
    "history denies left right arm leg since yesterday mild severe acute chronic mg daily twice by mouth blood "
    "pressure heart rate normal rhythm lung lower upper exam skin rash swelling tenderness days weeks hours year old "
    "male female diabetes hypertension infection pneumonia fracture ray scan findings impression plan follow up "
    "tablet dose insulin aspirin wound knee hip back neck eye ear throat urine stool sugar oxygen pulse walk sleep "
    "tired dizzy weak cold hot sharp dull night morning after before meal"
).split()
SUFFIXES = ["##s", "##ed", "##ing", "##ly", "##er", "##al", "##itis", "##ache", "##y"]
CHARS = list("abcdefghijklmnopqrstuvwxyz0123456789.,:;-/()")


def make_tokenizer() -> str:
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    pieces = list(dict.fromkeys(SPECIAL + CHARS + WORDS + SUFFIXES + ["##" + c for c in CHARS]))
    vocab = {piece: index for index, piece in enumerate(pieces)}
    tokenizer = Tokenizer(models.WordPiece(vocab=vocab, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    tokenizer.decoder = decoders.WordPiece()
    tokenizer.add_special_tokens(SPECIAL)
    return tokenizer.to_str()


TOKENIZER_JSON = make_tokenizer()
VOCAB_SIZE = len(json.loads(TOKENIZER_JSON)["model"]["vocab"])


def make_bert(layers: int = 4, classifier: bool = False, seed: int = 0) -> "torch.nn.Module":
    from transformers import BertConfig, BertForSequenceClassification, BertModel

    torch.manual_seed(seed)
    config = BertConfig(vocab_size=VOCAB_SIZE, hidden_size=32, num_hidden_layers=layers, num_attention_heads=4,
                        intermediate_size=64, max_position_embeddings=64, num_labels=3)
    model = BertForSequenceClassification(config) if classifier else BertModel(config)
    return model.eval()


def corpus(n: int, seed: int = 0, words: list[str] = WORDS[:60]) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(words) for _ in range(rng.randint(3, 10))) for _ in range(n)]


def encode(texts: list[str], tokenizer_json: str = TOKENIZER_JSON) -> dict[str, "torch.Tensor"]:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_str(tokenizer_json)
    tokenizer.enable_padding(pad_id=tokenizer.token_to_id("[PAD]"))
    encodings = tokenizer.encode_batch(texts)
    return {"input_ids": torch.tensor([e.ids for e in encodings]),
            "attention_mask": torch.tensor([e.attention_mask for e in encodings]),
            "token_type_ids": torch.tensor([e.type_ids for e in encodings])}


def batches(n_batches: int = 4, size: int = 8) -> list[dict[str, "torch.Tensor"]]:
    texts = corpus(n_batches * size, seed=1)
    return [encode(texts[i:i + size]) for i in range(0, len(texts), size)]


def pooled(model: "torch.nn.Module", texts: list[str], tokenizer_json: str = TOKENIZER_JSON) -> "torch.Tensor":
    with torch.no_grad():
        return model_output(model, encode(texts, tokenizer_json))


# ---- configs ----------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("config", [
    StructuredPruneConfig(heads_keep=2, ffn_keep=0.5, layers=(0, 2), importance="activation", max_batches=3),
    MagnitudePruneConfig(sparsity=0.3),
    VocabPruneConfig(min_count=2, keep_top=10, keep_chars=False),
    DistillConfig(layers=(0, 3), ffn_keep=32, epochs=2, lr=3e-4, hidden_weight=0.5, checkpoint_every=5),
    DistillConfig(layers=None, ffn_keep=None),
])
def test_config_round_trip(config):
    data = json.loads(json.dumps(config.to_dict()))
    assert config_from_dict(data) == config


@pytest.mark.parametrize("make", [
    lambda: StructuredPruneConfig(heads_keep=0),
    lambda: StructuredPruneConfig(ffn_keep=1.5),
    lambda: StructuredPruneConfig(layers=(2, 0)),
    lambda: StructuredPruneConfig(importance="random"),
    lambda: MagnitudePruneConfig(sparsity=1.0),
    lambda: VocabPruneConfig(min_count=0),
    lambda: VocabPruneConfig(keep_top=-1),
    lambda: DistillConfig(epochs=0),
    lambda: DistillConfig(lr=-1.0),
    lambda: DistillConfig(layers=()),
    lambda: DistillConfig(hard_weight=2.0),
    lambda: DistillConfig(precision="fp16"),
    lambda: DistillConfig(table_4bit_block=48),
    lambda: DistillConfig(table_4bit_block=32, train_embeddings=True),
    lambda: config_from_dict({"type": "distill", "batch_size": "32"}),
])
def test_bad_values_raise_config_error(make):
    with pytest.raises(ConfigError):
        make()


# ---- structured pruning -----------------------------------------------------------------------------------------------

def matmul_weight_shapes(model: "torch.nn.Module", path: Path) -> list[tuple[int, ...]]:
    import onnx

    inputs = encode(["patient reports chest pain"])
    torch.onnx.export(model, (inputs["input_ids"], inputs["attention_mask"], inputs["token_type_ids"]), str(path),
                      input_names=["input_ids", "attention_mask", "token_type_ids"], output_names=["last_hidden_state"],
                      dynamic_axes={n: {0: "batch", 1: "sequence"} for n in ("input_ids", "attention_mask",
                                                                            "token_type_ids")},
                      opset_version=17, dynamo=False)
    graph = onnx.load(str(path)).graph
    initializers = {i.name: tuple(i.dims) for i in graph.initializer}
    return [initializers[name] for node in graph.node if node.op_type == "MatMul"
            for name in node.input if name in initializers]


@pytest.mark.parametrize("importance", ["taylor", "activation"])
def test_structured_prune_shrinks_matrices_and_onnx(tmp_path, importance):
    model = make_bert(layers=4)
    before = matmul_weight_shapes(model, tmp_path / "before.onnx")
    report = prune_model(model, StructuredPruneConfig(heads_keep=2, ffn_keep=0.5, layers=(0, 3),
                                                      importance=importance), batches())
    for layer in model.encoder.layer:
        assert layer.attention.self.query.weight.shape == (16, 32)
        assert layer.attention.output.dense.weight.shape == (32, 16)
        assert layer.intermediate.dense.weight.shape == (32, 32)
        assert layer.output.dense.weight.shape == (32, 32)
    assert model.config.num_hidden_layers == 2 and model.config.intermediate_size == 32
    after = matmul_weight_shapes(model, tmp_path / "after.onnx")
    size = lambda shapes: sum(a * b for a, b in shapes)  # noqa: E731
    assert len(after) == len(before) // 2  # two of four layers
    assert size(after) < size(before) / 3  # half the layers, half the heads and FFN
    assert max(max(s) for s in after) == 32  # no 64-wide FFN matrix survives
    assert report.details["after"]["heads_per_layer"] == [2, 2]
    json.dumps(report.to_dict())


def test_pruned_model_saves_and_reloads(tmp_path):
    from transformers import BertModel

    model = make_bert(layers=4)
    prune_model(model, StructuredPruneConfig(heads_keep=3, ffn_keep=40, layers=(1, 2, 3)), batches(2))
    model.save_pretrained(tmp_path)
    reloaded = BertModel.from_pretrained(tmp_path).eval()
    texts = ["fever and cough since yesterday", "patient denies chest pain"]
    assert torch.allclose(pooled(model, texts), pooled(reloaded, texts), atol=1e-6)
    assert [layer.attention.self.num_attention_heads for layer in reloaded.encoder.layer] == [3, 3, 3]


@pytest.mark.parametrize("importance", ["taylor", "activation"])
def test_importance_ranks_dead_units_last(importance):
    model = make_bert(layers=2)
    with torch.no_grad():  # head 1 of layer 0 and neuron 5 of layer 1 contribute nothing
        value = model.encoder.layer[0].attention.self.value
        value.weight[8:16].zero_()
        value.bias[8:16].zero_()
        model.encoder.layer[1].intermediate.dense.weight[5].zero_()
        model.encoder.layer[1].intermediate.dense.bias[5] = 0.0
    heads, neurons, used = unit_importance(model, batches(2), importance, max_batches=2)
    assert used == 2
    assert int(heads[0].argmin()) == 1 and float(heads[0][1]) < 1e-9
    assert int(neurons[1].argmin()) == 5 and float(neurons[1][5]) < 1e-9


def test_magnitude_prune_reports_it_does_not_speed_up():
    model = make_bert(layers=2)
    report = magnitude_prune(model, MagnitudePruneConfig(sparsity=0.5))
    assert abs(report.details["sparsity"] - 0.5) < 0.01
    assert report.details["speeds_up_onnxruntime_cpu"] is False
    assert "compressed" in report.details["note"] and "do not improve" in report.details["note"]
    assert float((model.encoder.layer[0].intermediate.dense.weight == 0).float().mean()) >= 0.5


# ---- vocabulary pruning -----------------------------------------------------------------------------------------------

DOMAIN = corpus(40, seed=2, words=WORDS[:40])
KEPT_TEXTS = ["patient reports chest pain", "fever and cough since yesterday", "the patient denies nausea"]


def test_vocab_prune_keeps_outputs_and_remaps_tokenizer():
    from tokenizers import Tokenizer

    model = make_bert(layers=2)
    expected = pooled(model, KEPT_TEXTS)
    new_json, report = prune_vocabulary(model, TOKENIZER_JSON, DOMAIN, VocabPruneConfig(keep_top=0, keep_chars=False))
    details = report.details
    assert details["vocab_before"] == VOCAB_SIZE and details["vocab_after"] < VOCAB_SIZE / 2
    assert model.embeddings.word_embeddings.weight.shape[0] == details["vocab_after"] == model.config.vocab_size
    assert details["parameters_saved"] == (details["vocab_before"] - details["vocab_after"]) * 32
    assert details["corpus_tokens_dropped"] == 0 and details["corpus_texts_retokenized"] == 0
    json.dumps(report.to_dict())

    new = Tokenizer.from_str(new_json)
    encoding = new.encode("patient reports chest pain")
    assert encoding.tokens == ["[CLS]", "patient", "reports", "chest", "pain", "[SEP]"]
    assert encoding.ids[0] == new.token_to_id("[CLS]") and encoding.ids[-1] == new.token_to_id("[SEP]")
    assert new.decode(encoding.ids) == "patient reports chest pain"
    assert max(encoding.ids) < details["vocab_after"]
    assert torch.allclose(pooled(model, KEPT_TEXTS, new_json), expected, atol=1e-6)

    dropped = "tired and dizzy after meal"  # words outside DOMAIN's 40-word list
    encoding = new.encode(dropped)
    assert "[UNK]" in encoding.tokens and encoding.ids[encoding.tokens.index("[UNK]")] == new.token_to_id("[UNK]")
    assert torch.isfinite(pooled(model, [dropped], new_json)).all()


def test_vocab_floor_and_characters_are_kept():
    from tokenizers import Tokenizer

    model = make_bert(layers=2)
    new_json, report = prune_vocabulary(model, TOKENIZER_JSON, DOMAIN[:5], VocabPruneConfig(keep_top=20,
                                                                                           keep_chars=True))
    new = Tokenizer.from_str(new_json)
    assert report.details["kept_because"]["frequency_floor"] == 20
    assert new.token_to_id("a") is not None and new.token_to_id("##z") is not None  # single characters
    assert "[UNK]" not in new.encode("tired and dizzy").tokens  # spelled out in kept pieces instead
    spec = json.loads(new_json)
    assert spec["post_processor"]["special_tokens"]["[CLS]"]["ids"] == [new.token_to_id("[CLS]")]


def test_vocab_prune_rejects_other_tokenizers():
    with pytest.raises(CompressError, match="WordPiece"):
        prune_vocabulary(make_bert(2), json.dumps({"model": {"type": "BPE"}}), DOMAIN, VocabPruneConfig())


# ---- distillation -----------------------------------------------------------------------------------------------------

TRAIN = corpus(48, seed=3)
TINY_DISTILL = DistillConfig(layers=(0, 3), epochs=4, batch_size=8, lr=2e-3, warmup=0.1, checkpoint_every=4)


def test_distillation_lowers_the_loss(tmp_path):
    teacher = make_bert(layers=4)
    student, report = distill(teacher, None, TOKENIZER_JSON, TRAIN, TINY_DISTILL, tmp_path, progress=False)
    losses = report.details["loss_by_epoch"]
    assert len(losses) == 4 and losses[-1] < 0.5 * losses[0]
    assert report.details["student"]["layers"] == 2
    assert report.details["corpus"]["count"] == 48 and len(report.details["corpus"]["sha256"]) == 64
    assert report.config == TINY_DISTILL.to_dict()
    json.dumps(report.to_dict())
    held_out = corpus(8, seed=9)
    cosine = (pooled(student, held_out) * pooled(teacher, held_out)).sum(-1)
    assert float(cosine.mean()) > 0.9


def test_bf16_training_runs_the_student_in_bf16_and_matches_fp32_closely(tmp_path):
    """bf16 autocast really changes the arithmetic (different weights from fp32) but learns the same student."""
    teacher = make_bert(layers=4)
    results = {}
    for precision in ("fp32", "bf16"):
        config = TINY_DISTILL.replace(precision=precision)
        results[precision] = distill(teacher, None, TOKENIZER_JSON, TRAIN, config, tmp_path / precision,
                                     progress=False)
    (fp32, fp32_report), (bf16, bf16_report) = results["fp32"], results["bf16"]
    assert fp32_report.details["precision"] == "fp32"
    assert bf16_report.details["precision"] == "bf16 autocast of the student's forward pass"
    losses = bf16_report.details["loss_by_epoch"]
    assert losses[-1] < 0.5 * losses[0]
    assert losses[-1] == pytest.approx(fp32_report.details["loss_by_epoch"][-1], rel=0.2)
    weights = [(a, b) for a, b in zip(fp32.state_dict().values(), bf16.state_dict().values()) if a.is_floating_point()]
    assert any(not torch.equal(a, b) for a, b in weights)
    held_out = corpus(8, seed=9)
    assert float((pooled(bf16, held_out) * pooled(fp32, held_out)).sum(-1).mean()) > 0.98


def test_student_trains_against_the_4bit_table_the_int4_step_stores(tmp_path):
    """table_4bit_block puts the frozen word table on the int4 step's grid: ORT's quantizer then changes nothing."""
    from hfm_compress.quantize.int4 import stored_4bit_table

    teacher = make_bert(layers=4)
    config = TINY_DISTILL.replace(epochs=1, table_4bit_block=16)
    student, report = distill(teacher, None, TOKENIZER_JSON, TRAIN, config, tmp_path, progress=False)
    table = student.get_input_embeddings().weight.detach().numpy()
    original = teacher.get_input_embeddings().weight.detach().numpy()
    change = report.details["word_table"]["max_abs_change"]
    assert change > 0 and change == pytest.approx(float(np.abs(table - original).max()), abs=1e-6)
    assert np.abs(stored_4bit_table(table, 16, False) - table).max() < 1e-6  # already on the grid
    assert report.details["word_table"]["stored_4bit"] == {"block_size": 16, "symmetric": False}


def test_teacher_states_computed_once_train_like_a_teacher_pass_per_step(tmp_path, monkeypatch):
    """The cached hidden-state targets are the teacher's own: same losses as running the teacher at every step."""
    import hfm_compress.distill.bert as distill_module

    teacher = make_bert(layers=4)
    # fp32: under bf16 the ~1e-7 differences between targets batched two ways flip roundings and the runs drift apart.
    config = TINY_DISTILL.replace(epochs=2, hidden_weight=0.5, precision="fp32")
    cached, cached_report = distill(teacher, None, TOKENIZER_JSON, TRAIN, config, tmp_path / "a", progress=False)
    monkeypatch.setattr(distill_module, "TEACHER_CACHE_BYTES", 0)  # too big to keep: the teacher runs per step
    per_step, per_step_report = distill(teacher, None, TOKENIZER_JSON, TRAIN, config, tmp_path / "b", progress=False)
    assert cached_report.details["teacher_outputs"] == "computed once"
    assert per_step_report.details["teacher_outputs"] == "per step"
    assert cached_report.details["loss_by_epoch"] == pytest.approx(per_step_report.details["loss_by_epoch"], rel=1e-4)
    for (name, a), b in zip(cached.state_dict().items(), per_step.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-4), name


def test_interrupt_and_resume_equals_uninterrupted(tmp_path):
    teacher = make_bert(layers=4)
    config = TINY_DISTILL.replace(epochs=2, ffn_keep=32, hidden_weight=0.5)
    reference, _ = distill(teacher, None, TOKENIZER_JSON, TRAIN, config, tmp_path / "a", progress=False)

    def ctrl_c(step: int, loss: float) -> None:
        if step == 5:
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(DistillInterrupted, match="interrupted at step 5 of 12") as caught:
        distill(teacher, None, TOKENIZER_JSON, TRAIN, config, tmp_path / "b", progress=False, on_step=ctrl_c)
    assert caught.value.checkpoint is not None and caught.value.checkpoint.is_file()
    resumed, report = distill(teacher, None, TOKENIZER_JSON, TRAIN, config, tmp_path / "b", progress=False,
                              resume=True)
    assert report.details["resumed_from_step"] == 5
    for (name, a), b in zip(reference.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name

    with pytest.raises(CompressError, match="different config"):
        distill(teacher, None, TOKENIZER_JSON, TRAIN, config.replace(lr=1e-3), tmp_path / "b", progress=False,
                resume=True)


def test_classifier_distillation_with_labels(tmp_path):
    teacher = make_bert(layers=2, classifier=True)
    labels = [len(text.split()) % 3 for text in TRAIN]
    config = DistillConfig(layers=(1,), epochs=3, batch_size=8, lr=2e-3, temperature=2.0, hard_weight=0.3)
    student, report = distill(teacher, None, TOKENIZER_JSON, TRAIN, config, tmp_path, labels=labels, progress=False)
    assert report.details["task"] == "classification" and report.details["labels"]["count"] == len(TRAIN)
    assert report.details["loss_by_epoch"][-1] < report.details["loss_by_epoch"][0]
    assert student.classifier.out_features == 3 and student.config.num_hidden_layers == 1
