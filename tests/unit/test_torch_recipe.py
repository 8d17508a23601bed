"""Torch steps (distill, prune, vocab) as recipe steps of the pipeline, the `auto` recipe, and the CLI's --corpus."""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path

import pytest
from typer.testing import CliRunner

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

import hfm_runtime  # noqa: E402
from hfm_compress.cli import app  # noqa: E402
from hfm_compress.cli.compress_cmd import run_compress  # noqa: E402
from hfm_compress.errors import CompressError, ConfigError  # noqa: E402
from hfm_compress.run import checkpoint_folder  # noqa: E402
from hfm_compress.run import compress_model as compress_text_model  # noqa: E402
from hfm_compress.prune.bert import count_parameters  # noqa: E402
from hfm_compress.recipes import load_recipe_file, plan_recipe  # noqa: E402
from hfm_compress.recipes.text import TeacherShape, auto_recipe  # noqa: E402
from hfm_compress.sources.text import load_teacher  # noqa: E402
from hfm_compress.sources.texts import load_text_data  # noqa: E402
from hfm_compress.modality.text import TorchStepRunner  # noqa: E402
from hfm_runtime.artifact import read_artifact  # noqa: E402
from hfm_runtime.profiles import load_profile  # noqa: E402

runner = CliRunner()
CORPUS_WORDS = ("patient reports chest pain fever cough headache nausea the a and with no history left right arm mild "
                "severe acute blood pressure heart rate normal days").split()

TORCH_RECIPE = """
[[steps]]
type = "distill"
layers = [0]
epochs = 1
batch_size = 8
[[steps]]
type = "prune"
heads_keep = 2
ffn_keep = 40
importance = "activation"
max_batches = 2
[[steps]]
type = "vocab"
keep_top = 0
[[steps]]
type = "export"
[[steps]]
type = "optimize"
[[steps]]
type = "dynamic-int8"
"""


def write_corpus(path: Path, n: int = 36, seed: int = 0) -> Path:
    rng = random.Random(seed)
    path.write_text("\n".join(" ".join(rng.choice(CORPUS_WORDS) for _ in range(rng.randint(3, 9))) for _ in range(n)))
    return path


def write_recipe(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def weight_dims(model_bytes: bytes) -> list[tuple[int, ...]]:
    graph = onnx.load_from_string(model_bytes).graph
    return [tuple(t.dims) for t in graph.initializer if len(t.dims) == 2]


def test_distill_prune_vocab_recipe_shrinks_the_artifact(tiny_bert_folder: Path, tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "corpus.txt")
    teacher = load_teacher(str(tiny_bert_folder))
    snapshot = {k: v.clone() for k, v in teacher.model.state_dict().items()}
    teacher_vocab = teacher.model.get_input_embeddings().num_embeddings
    data = load_text_data(None, None, corpus)
    steps = load_recipe_file(write_recipe(tmp_path / "small.toml", TORCH_RECIPE))
    out = tmp_path / "student.hfm"
    result = compress_text_model(teacher, steps, load_profile("clinic-cpu"), out, data, recipe_name="small.toml")
    fp32 = run_compress(str(tiny_bert_folder), "clinic-cpu", tmp_path / "fp32.hfm", "fp32", "embedding", None, None,
                        show_progress=False)

    # The teacher is the fidelity reference: untouched.
    assert teacher.model.get_input_embeddings().num_embeddings == teacher_vocab
    assert all(torch.equal(v, teacher.model.state_dict()[k]) for k, v in snapshot.items())

    manifest = result.manifest
    assert [s["step"] for s in manifest["steps"]] == ["distill", "prune", "vocab", "export", "optimize", "dynamic-int8"]
    distilled, pruned, vocab = (s["details"] for s in manifest["steps"][:3])
    assert distilled["student"]["layers"] == 1 and distilled["corpus"]["count"] == 36
    assert pruned["after"]["ffn_per_layer"] == [40] and pruned["after"]["heads_per_layer"] == [2]
    assert vocab["vocab_before"] == teacher_vocab and vocab["vocab_after"] < teacher_vocab
    assert manifest["corpus"]["count"] == 36 and manifest["corpus"]["source"] == str(corpus)
    assert manifest["model"]["parameters"] < fp32.manifest["model"]["parameters"]
    assert (checkpoint_folder(out) / "step1-distill" / "distill-checkpoint.pt").is_file()

    members = read_artifact(result.path).members
    ffn_before = [d for d in weight_dims(read_artifact(fp32.path).members["model.onnx"]) if 64 in d]
    ffn_after = [d for d in weight_dims(members["model.onnx"]) if 40 in d]
    assert len(ffn_before) == 4 and len(ffn_after) == 2  # one layer instead of two, FFN 64 -> 40
    assert not [d for d in weight_dims(members["model.onnx"]) if 64 in d]
    assert (teacher_vocab, 32) in weight_dims(read_artifact(fp32.path).members["model.onnx"])
    assert (teacher_vocab, 32) not in weight_dims(members["model.onnx"])
    assert (vocab["vocab_after"], 32) in weight_dims(members["model.onnx"])  # word embeddings cut to the kept pieces
    assert len(json.loads(members["tokenizer.json"])["model"]["vocab"]) == vocab["vocab_after"]

    model = hfm_runtime.load(result.path, profile="clinic-cpu")
    assert model.run(["patient reports chest pain"]).shape == (1, 32)
    assert -1.0 <= manifest["evaluation"]["fidelity"]["cosine_mean"] <= 1.0
    assert manifest["evaluation"]["latency_batch1"]["teacher_onnx_fp32_ms"] > 0  # the teacher's own export


def test_resumed_distillation_continues_from_its_checkpoint(tiny_bert_folder: Path, tmp_path: Path) -> None:
    from hfm_compress.distill.bert import DistillConfig

    teacher = load_teacher(str(tiny_bert_folder))
    corpus = write_corpus(tmp_path / "corpus.txt", n=16).read_text().splitlines()
    step = DistillConfig(layers=(0,), epochs=1, batch_size=8)
    first = TorchStepRunner(teacher, corpus, corpus, tmp_path / "ckpt").run([step])
    again = TorchStepRunner(teacher, corpus, corpus, tmp_path / "ckpt", resume=True).run([step])
    assert first.reports[0].details["resumed_from_step"] is None
    assert again.reports[0].details["resumed_from_step"] == 2  # both steps already done: nothing retrained
    for a, b in zip(first.model.state_dict().values(), again.model.state_dict().values()):
        assert torch.equal(a, b)


@pytest.mark.parametrize(("text", "message"), [
    ('[[steps]]\ntype = "vocab"\n[[steps]]\ntype = "distill"\n[[steps]]\ntype = "export"\n',
     r"'vocab' \(step 1\) comes before 'distill' \(step 2\).*put 'vocab' after 'distill'"),
    ('[[steps]]\ntype = "export"\n[[steps]]\ntype = "prune"\n',
     r"step 2 'prune' comes after 'export'.*must all come before 'export'"),
    ('[[steps]]\ntype = "distill"\n[[steps]]\ntype = "optimize"\n',
     r"needs an 'export' step after its torch steps"),
])
def test_misordered_torch_steps_are_rejected(tiny_bert_folder: Path, tmp_path: Path, text: str, message: str) -> None:
    recipe = write_recipe(tmp_path / "bad.toml", text)
    with pytest.raises(CompressError, match=message):
        run_compress(str(tiny_bert_folder), "clinic-cpu", tmp_path / "x.hfm", str(recipe), "embedding", None, None,
                     show_progress=False)
    assert not (tmp_path / "x.hfm").exists()


def minilm_shape(vocab_after: int | None = 5000) -> TeacherShape:
    """all-MiniLM-L6-v2's parameter counts (hidden 384, FFN 1536, 6 layers, 30,522 pieces, 512 positions)."""
    hidden, ffn = 384, 1536
    ffn_parameters = 2 * hidden * ffn + ffn + hidden
    layer = 4 * (hidden * hidden + hidden) + ffn_parameters + 4 * hidden
    other = 512 * hidden + 2 * hidden + 2 * hidden + hidden * hidden + hidden
    return TeacherShape(layers=6, hidden=hidden, ffn=ffn, vocab=30522, layer_parameters=layer,
                        ffn_parameters=ffn_parameters, other_parameters=other, vocab_after_prune=vocab_after)


def test_auto_recipe_follows_the_profile_budgets() -> None:
    clinic = auto_recipe(load_profile("clinic-cpu"), minilm_shape())
    assert [s.TYPE for s in clinic.steps] == ["distill", "export", "optimize", "selective-int8", "int4-weight-only"]
    assert clinic.steps[0].layers == (0, 2, 5) and clinic.steps[0].ffn_keep is None
    int8, table = clinic.steps[3:]
    assert int8.op_types == ("MatMul", "Attention")  # the lookups stay float for the 4-bit step
    assert table.quantize_gather and not table.quantize_matmul and not table.symmetric
    assert table.gather_indices == ("input_ids",)  # the word table only
    assert (clinic.steps[0].table_4bit_block, clinic.steps[0].table_4bit_symmetric) == (table.block_size, False)
    assert "3 of 6 layers" in clinic.reasons[0] and "latency budget 10 ms/text on 4 threads" in clinic.reasons[0]
    assert clinic.reasons[1].startswith("no vocab step: with all 30,522 word pieces") and "128 MB" in clinic.reasons[1]
    assert "within budget" in clinic.reasons[2] and "word embeddings at 0.57 byte" in clinic.reasons[2]
    assert clinic.reasons[4].startswith("4-bit word embeddings") and "11.72 M weights" in clinic.reasons[4]

    host = auto_recipe(load_profile("ultrasound-host"), minilm_shape())  # int8 allowed, int4 not: no 4-bit table
    assert [s.TYPE for s in host.steps] == ["distill", "export", "optimize", "selective-int8"]
    assert host.steps[3].op_types == () and len(host.reasons) == 5
    assert host.reasons[4].startswith("distill 20 passes (the distill default")

    wearable = auto_recipe(load_profile("wearable"), minilm_shape())
    assert [s.TYPE for s in wearable.steps] == ["distill", "vocab", "export", "optimize", "selective-int8"]
    assert wearable.steps[0].layers == (0, 5) and wearable.steps[0].ffn_keep == 0.5
    assert "size budget 0.25 MB" in wearable.reasons[0] and "none fits" in wearable.reasons[0]
    assert wearable.reasons[1].startswith("vocab to 5,000 of 30,522") and "no student fits" in wearable.reasons[1]
    assert "cannot fit this profile" in wearable.reasons[2]
    assert clinic.steps != wearable.steps

    no_vocab = auto_recipe(load_profile("wearable"), minilm_shape(vocab_after=None))
    assert "vocab" not in [s.TYPE for s in no_vocab.steps] and no_vocab.reasons[1].startswith("no vocab step")
    onnx_source = auto_recipe(load_profile("clinic-cpu"), None)
    assert [s.TYPE for s in onnx_source.steps] == ["export", "optimize", "selective-int8"]


@pytest.mark.parametrize("precision, expected", [
    ("fp32", {36: 20, 4870: 20, 9670: 10, 10**6: 1}),
    ("bf16", {36: 20, 4870: 20, 9670: 18, 12070: 14, 10**6: 1}),
])
def test_auto_recipe_sets_distill_passes_from_the_corpus_size(monkeypatch, precision, expected) -> None:
    """About AUTO_DISTILL_TEXTS texts in all (more where the CPU trains in bf16): fewer passes over a bigger corpus,
    never more than the default 20."""
    import hfm_compress.distill.bert
    from hfm_compress.recipes.text import AUTO_DISTILL_TEXTS

    monkeypatch.setattr(hfm_compress.distill.bert, "training_precision", lambda requested: precision)
    clinic = load_profile("clinic-cpu")
    passes = {n: auto_recipe(clinic, minilm_shape(), n).steps[0].epochs for n in expected}
    assert passes == expected
    plan = auto_recipe(clinic, minilm_shape(), 9670)
    assert plan.reasons[-1].startswith(f"distill {expected[9670]} passes over the corpus's 9,670 texts "
                                       f"({expected[9670] * 9670:,} in all)")
    assert f"about {AUTO_DISTILL_TEXTS[precision]:,} texts" in plan.reasons[-1]
    assert ("bf16 autocast" in plan.reasons[-1]) == (precision == "bf16")
    assert not any("passes" in reason for reason in auto_recipe(clinic, None, 9670).reasons)  # ONNX: no distill


def test_auto_recipe_cuts_the_vocabulary_only_for_the_size_budget() -> None:
    """Full vocabulary while some student fits; the cut (and the deeper student it allows) when none does."""
    roomy = dataclasses.replace(load_profile("clinic-cpu"), artifact_size_mb=13.0)
    assert "vocab" not in [s.TYPE for s in auto_recipe(roomy, minilm_shape()).steps]
    tight = dataclasses.replace(load_profile("clinic-cpu"), artifact_size_mb=8.0)  # 3 layers: 12.35 MB, 2: 9.40 MB
    plan = auto_recipe(tight, minilm_shape())
    assert [s.TYPE for s in plan.steps] == ["distill", "vocab", "export", "optimize", "selective-int8",
                                            "int4-weight-only"]
    assert plan.steps[0].layers == (0, 2, 5)
    assert "no student fits the 8 MB size budget (9.40 MB for the smallest)" in plan.reasons[1]
    assert "with 5,000 word pieces is estimated at 6.76 MB" in plan.reasons[2]
    assert "1.92 M weights" in plan.reasons[4]


def test_auto_recipe_counts_the_loaded_teacher(tiny_bert_folder: Path, tmp_path: Path) -> None:
    from hfm_compress.recipes.text import teacher_shape

    teacher = load_teacher(str(tiny_bert_folder))
    corpus = write_corpus(tmp_path / "corpus.txt").read_text().splitlines()
    shape = teacher_shape(teacher, corpus)
    assert shape.parameters(shape.layers) == count_parameters(teacher.model)
    assert shape.vocab_after_prune == shape.vocab  # keep_top=3000 keeps every piece of a tiny vocabulary
    plan = plan_recipe("auto", load_profile("clinic-cpu"), teacher, corpus)
    assert plan.name == "auto" and plan.steps[0].TYPE == "distill" and len(plan.reasons) == 6
    assert "over the corpus's 36 texts (720 in all)" in plan.reasons[5]  # a tiny corpus: 20 passes at most
    assert "vocab" not in [s.TYPE for s in plan.steps]
    with pytest.raises(ConfigError, match="auto is chosen from the teacher's size"):
        plan_recipe("auto", load_profile("clinic-cpu"))


def test_auto_recipe_artifact_has_a_4bit_table_and_runs(tiny_bert_folder: Path, tmp_path: Path) -> None:
    teacher = load_teacher(str(tiny_bert_folder))
    corpus = write_corpus(tmp_path / "corpus.txt")
    plan = plan_recipe("auto", load_profile("clinic-cpu"), teacher, corpus.read_text().splitlines())
    steps = [dataclasses.replace(plan.steps[0], epochs=1, batch_size=8), *plan.steps[1:]]
    result = compress_text_model(teacher, steps, load_profile("clinic-cpu"), tmp_path / "auto.hfm",
                                 load_text_data(None, None, corpus), recipe_name="auto", recipe_reasons=plan.reasons)
    assert [s["step"] for s in result.manifest["steps"]] == ["distill", "export", "optimize", "selective-int8",
                                                             "int4-weight-only"]
    assert result.manifest["recipe_reasons"] == list(plan.reasons)
    graph = onnx.load_from_string(read_artifact(result.path).members["model.onnx"]).graph
    lookups = [n for n in graph.node if n.op_type == "GatherBlockQuantized"]
    vocab = teacher.model.get_input_embeddings().num_embeddings
    packed = {t.name: tuple(t.dims) for t in graph.initializer if t.data_type in (onnx.TensorProto.UINT4,
                                                                                   onnx.TensorProto.INT4)}
    assert len(lookups) == 1 and any(dims[0] == vocab for dims in packed.values())  # the whole word table, 4-bit
    tables = {t.name for t in graph.initializer}
    float_lookups = [n for n in graph.node if n.op_type == "Gather" and n.input[0] in tables]
    assert float_lookups and all("word" not in n.input[0] for n in float_lookups)  # positions, token types stay float
    int4_step = result.manifest["steps"][-1]["details"]
    assert sorted(int4_step["gathers_kept_float"]) == sorted(n.name for n in float_lookups)
    model = hfm_runtime.load(result.path, profile="clinic-cpu")
    embedding = model.run(["patient reports chest pain"])
    assert embedding.shape == (1, 32) and abs(float((embedding ** 2).sum()) - 1.0) < 1e-4


def test_cli_corpus_errors_are_one_line(tiny_bert_folder: Path, tmp_path: Path) -> None:
    base = ["compress", str(tiny_bert_folder), "--profile", "clinic-cpu", "--out", str(tmp_path / "a.hfm")]
    missing = runner.invoke(app, base + ["--corpus", str(tmp_path / "nope.txt")])
    assert missing.exit_code == 2
    assert "--corpus file" in missing.stderr and "does not exist" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1
    (tmp_path / "empty.txt").write_text("\n  \n")
    empty = runner.invoke(app, base + ["--corpus", str(tmp_path / "empty.txt")])
    assert empty.exit_code == 2 and "has no texts" in empty.stderr
    assert len(empty.stderr.strip().splitlines()) == 1
