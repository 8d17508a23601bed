"""The bundled clinical text sets: sizes, held-out split, no duplicates, valid demo queries, reproducible generator."""

from __future__ import annotations

import importlib.util
from importlib.resources import files
from pathlib import Path

import pytest

from hfm_compress.data import load_demo_queries, load_texts

GENERATOR = Path(__file__).resolve().parents[2] / "tools" / "make_clinical_corpus.py"
MIN_LINES = {"calib": 300, "eval": 250, "corpus": 9000}


def raw_lines(file_name: str) -> list[str]:
    return files("hfm_compress.data").joinpath(file_name).read_text(encoding="utf-8").split("\n")[:-1]


@pytest.mark.parametrize("name", sorted(MIN_LINES))
def test_sizes(name: str) -> None:
    assert len(load_texts(name)) >= MIN_LINES[name]


def test_demo_sizes() -> None:
    assert len(load_texts("demo_documents")) == 40
    assert len(load_demo_queries()) == 12


@pytest.mark.parametrize("file_name", ["clinical_calib.txt", "clinical_eval.txt", "clinical_corpus.txt",
                                       "demo_documents.txt", "demo_queries.txt"])
def test_files_have_no_empty_or_duplicate_lines(file_name: str) -> None:
    lines = raw_lines(file_name)
    assert lines and all(line.strip() and line == line.strip() for line in lines)
    assert len(set(lines)) == len(lines)


def test_eval_is_held_out() -> None:
    held_out = set(load_texts("eval"))
    assert not held_out & set(load_texts("calib"))
    assert not held_out & set(load_texts("corpus"))


def test_demo_queries_point_at_documents() -> None:
    documents = load_texts("demo_documents")
    for query, index in load_demo_queries():
        assert query and 0 <= index < len(documents)
    assert len({index for _, index in load_demo_queries()}) == 12


def test_unknown_name_lists_valid_names() -> None:
    with pytest.raises(ValueError, match="calib.*eval.*corpus.*demo_documents"):
        load_texts("training")


def load_generator():
    spec = importlib.util.spec_from_file_location("make_clinical_corpus", GENERATOR)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_corpus_holds_every_hand_written_sentence() -> None:
    corpus = set(load_texts("corpus"))
    folder = GENERATOR.parent / "corpus_sentences"
    sentences = [line for path in sorted(folder.glob("*.txt")) for line in path.read_text().splitlines()]
    assert len(sentences) >= 4000 and corpus.issuperset(sentences)


@pytest.mark.parametrize("line, error", [
    ("Urine drug screen positive for opiates and benzodiazepines.", "is an evaluation line"),
    ("Too short.", "out of shape"),
    ("Tab\tinside the line here.", "out of shape"),
    ("A sentence written twice in the folder.", "duplicate corpus sentence"),
])
def test_generator_rejects_bad_corpus_sentences(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, line: str,
                                                error: str) -> None:
    module = load_generator()
    (tmp_path / "a.txt").write_text("A fine corpus line about a cough.\nA sentence written twice in the folder.\n")
    (tmp_path / "b.txt").write_text(line + "\n")
    monkeypatch.setattr(module, "CORPUS_SENTENCES_DIR", tmp_path)
    with pytest.raises(ValueError, match=f"b.txt:1: .*{error}"):
        module.generate()


def test_generator_reproduces_committed_files() -> None:
    module = load_generator()
    first, second = module.generate(), module.generate()
    assert first == second
    for file_name, lines in first.items():
        assert raw_lines(file_name) == lines, f"{file_name} is stale; run python tools/make_clinical_corpus.py"
