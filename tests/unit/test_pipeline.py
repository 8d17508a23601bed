"""The toolchain end to end on tiny random BERTs: compress -> artifact -> runtime, manifests, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import hfm_runtime
from hfm_compress.cli import app
from hfm_compress.cli.compress_cmd import run_compress
from hfm_compress.errors import ConfigError, SourceError
from hfm_compress.recipes import load_recipe_file
from hfm_compress.recipes.text import resolve_recipe
from hfm_compress.sources.text import load_teacher

runner = CliRunner()


def test_fp32_recipe_round_trips_with_near_perfect_fidelity(tiny_bert_folder: Path, tmp_path: Path) -> None:
    result = run_compress(str(tiny_bert_folder), "clinic-cpu", tmp_path / "fp32.hfm", "fp32", "embedding", None, None,
                          show_progress=False)
    manifest = result.manifest
    assert manifest["model"]["precision"] == "fp32"
    assert [s["type"] for s in manifest["recipe"]] == ["export", "optimize"]
    assert [s["step"] for s in manifest["steps"]] == ["export", "optimize"]
    assert manifest["calibration"]["count"] >= 8 and len(manifest["calibration"]["sha256"]) == 64
    assert manifest["source"]["model_type"] == "bert" and len(manifest["source"]["sha256"]) == 64
    fidelity = manifest["evaluation"]["fidelity"]
    assert fidelity["cosine_min"] > 0.9999
    assert fidelity["top5_neighbour_agreement"] > 0.99
    model = hfm_runtime.load(result.path, profile="clinic-cpu")
    assert model.run(["patient reports chest pain"]).shape == (1, 32)


def test_int8_recipe_quantizes_and_records_fidelity(tiny_bert_folder: Path, tmp_path: Path) -> None:
    result = run_compress(str(tiny_bert_folder), "clinic-cpu", tmp_path / "int8.hfm", "int8", "embedding", None, None,
                          show_progress=False)
    manifest = result.manifest
    assert manifest["model"]["precision"] == "int8"
    assert manifest["recipe"][-1]["type"] == "selective-int8"
    assert 0.5 < manifest["evaluation"]["fidelity"]["cosine_mean"] <= 1.0
    assert manifest["evaluation"]["latency_batch1"]["artifact_ms"] > 0
    assert hfm_runtime.load(result.path).run(["fever and cough"]).shape == (1, 32)


def test_classification_returns_labelled_probabilities(tiny_bert_classifier_folder: Path, tmp_path: Path) -> None:
    result = run_compress(str(tiny_bert_classifier_folder), "clinic-cpu", tmp_path / "cls.hfm", "fp32", "classification",
                          None, None, show_progress=False)
    assert result.manifest["evaluation"]["fidelity"]["class_agreement"] == 1.0
    model = hfm_runtime.load(result.path)
    probabilities = model.run(["severe chest pain", "mild rash"])
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    assert model.labels == ["routine", "urgent", "emergency"]


def test_onnx_file_source(tiny_bert_folder: Path, tmp_path: Path) -> None:
    fp32 = run_compress(str(tiny_bert_folder), "clinic-cpu", tmp_path / "fp32.hfm", "fp32", "embedding", None, None,
                        show_progress=False)
    artifact = hfm_runtime.artifact.read_artifact(fp32.path)
    onnx_dir = tmp_path / "exported"
    onnx_dir.mkdir()
    (onnx_dir / "model.onnx").write_bytes(artifact.members["model.onnx"])
    (onnx_dir / "tokenizer.json").write_bytes(artifact.members["tokenizer.json"])
    result = run_compress(str(onnx_dir / "model.onnx"), "clinic-cpu", tmp_path / "from-onnx.hfm", "int8", "embedding",
                          None, None, show_progress=False)
    assert [s["type"] for s in result.manifest["recipe"]] == ["optimize", "selective-int8"]
    assert result.manifest["source"]["model_type"] == "onnx"


def test_user_calibration_and_evaluation_files(tiny_bert_folder: Path, tmp_path: Path) -> None:
    calib = tmp_path / "calib.txt"
    calib.write_text("\n".join(f"patient {i} reports chest pain for {i} days" for i in range(12)))
    evaluation = tmp_path / "eval.txt"
    evaluation.write_text("\n".join([f"fever and cough since {i} weeks" for i in range(15)] + ["patient 0 reports chest pain for 0 days"]))
    result = run_compress(str(tiny_bert_folder), "clinic-cpu", tmp_path / "user.hfm", "fp32", "embedding", calib,
                          evaluation, show_progress=False)
    assert result.manifest["calibration"]["count"] == 12
    assert result.manifest["evaluation"]["texts"]["count"] == 15  # the text also used for calibration was dropped


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p / "absent", "does not exist"),
        (lambda p: (p / "empty").mkdir() or p / "empty", "no config.json"),
        (lambda p: ((p / "cfg").mkdir(), (p / "cfg" / "config.json").write_text("{}"))[0] or p / "cfg", "no weights"),
        (lambda p: ((p / "x.onnx").write_text("junk"), p / "x.onnx")[1], "tokenizer.json beside it"),
    ],
)
def test_bad_sources_name_what_was_found(tmp_path: Path, make, message: str) -> None:
    with pytest.raises(SourceError, match=message):
        load_teacher(str(make(tmp_path)))


def test_unsupported_architecture_is_named(tmp_path: Path) -> None:
    from transformers import GPT2Config, GPT2Model

    folder = tmp_path / "gpt2"
    GPT2Model(GPT2Config(n_layer=1, n_head=2, n_embd=8, vocab_size=50)).save_pretrained(folder)
    with pytest.raises(SourceError, match="architecture 'gpt2'.*is not supported; expected a BERT-family encoder"):
        load_teacher(str(folder))


def test_classification_needs_a_classifier_checkpoint(tiny_bert_folder: Path) -> None:
    with pytest.raises(SourceError, match="needs a \\*ForSequenceClassification checkpoint"):
        load_teacher(str(tiny_bert_folder), task="classification")


def test_recipe_files_toml_and_json(tmp_path: Path) -> None:
    toml = tmp_path / "r.toml"
    toml.write_text('[[steps]]\ntype = "export"\n[[steps]]\ntype = "dynamic-int8"\nper_channel = false\n')
    steps = load_recipe_file(toml)
    assert [s.TYPE for s in steps] == ["export", "dynamic-int8"] and steps[1].per_channel is False
    js = tmp_path / "r.json"
    js.write_text(json.dumps([s.to_dict() for s in steps]))
    assert load_recipe_file(js) == steps
    bad = tmp_path / "bad.json"
    bad.write_text('[{"type": "magic"}]')
    with pytest.raises(ConfigError, match="unknown step type 'magic'"):
        load_recipe_file(bad)
    with pytest.raises(ConfigError, match="unknown recipe 'turbo'"):
        resolve_recipe("turbo", hfm_runtime.load_profile("clinic-cpu"))


def test_cli_compress_json_and_errors(tiny_bert_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "cli.hfm"
    result = runner.invoke(app, ["compress", str(tiny_bert_folder), "--profile", "clinic-cpu", "--out", str(out),
                                 "--recipe", "fp32", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["manifest"]["task"] == "embedding"
    bad = runner.invoke(app, ["compress", str(tmp_path / "nope"), "--profile", "clinic-cpu", "--out", str(out)])
    assert bad.exit_code == 2 and "does not exist" in bad.stderr
    wrong_suffix = runner.invoke(app, ["compress", "default", "--profile", "clinic-cpu", "--out", str(tmp_path / "a.onnx")])
    assert wrong_suffix.exit_code == 2 and "must end in .hfm" in wrong_suffix.stderr


def test_cli_compress_sign_verify_and_load_under_a_signature_policy(tiny_bert_folder: Path, tmp_path: Path) -> None:
    """Issue 16: `compress --sign` -> `verify --key` -> `load` with require_signature; a bad key fails before work."""
    made = runner.invoke(app, ["keygen", str(tmp_path / "maker"), "--json"])
    key_id = json.loads(made.stdout)["key_id"]
    out = tmp_path / "signed.hfm"
    missing_key = runner.invoke(app, ["compress", str(tiny_bert_folder), "--profile", "clinic-cpu", "--out", str(out),
                                      "--recipe", "fp32", "--sign", str(tmp_path / "nope.key")])
    assert missing_key.exit_code == 2 and "cannot read key file" in missing_key.stderr and not out.exists()
    result = runner.invoke(app, ["compress", str(tiny_bert_folder), "--profile", "clinic-cpu", "--out", str(out),
                                 "--recipe", "fp32", "--sign", str(tmp_path / "maker.key"), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["signature"]["untrusted_signers"] == [key_id]
    verified = runner.invoke(app, ["verify", str(out), "--key", str(tmp_path / "maker.pub")])
    assert verified.exit_code == 0, verified.output
    model = hfm_runtime.load(out, trusted_keys=[str(tmp_path / "maker.pub")], require_signature=True)
    assert model.artifact.trust.signers == (key_id,)
