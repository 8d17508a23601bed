#!/usr/bin/env python3
"""Write the bundled clinical text sets in compress/data/.

Everything here was written for this repo: fictional, generic clinical language, no patient data, nothing downloaded.
Hand-written sentences (tools/corpus_data/sentences/*.txt, and for the corpus tools/corpus_sentences/*.txt, one per
line) are mixed with lines built from the templates in tools/corpus_data/templates.toml and the slot vocabularies in
tools/corpus_data/lists/ and tables/ (complaints, history, exam, vitals, labs with units, imaging, ECG, medications,
allergies, plans, discharge instructions, nursing notes, common abbreviations); tools/corpus_data/README.md says how
to edit them. The code that draws from them is in tools/clinical_corpus/.

Deterministic: fixed seeds, stdlib only (tomli on Python 3.10), no iteration over sets.
`python tools/make_clinical_corpus.py` rewrites the committed files byte for byte; `--check` only compares them.

  clinical_calib.txt   hand-written + template lines; quantization calibration
  clinical_eval.txt    hand-written + template lines; shares no line with calib or corpus (held out)
  clinical_corpus.txt  hand-written corpus sentences + template lines + calib + demo documents; distillation and
                       vocabulary statistics
  demo_documents.txt   40 note snippets, one condition each; semantic-search demo
  demo_queries.txt     12 lay complaints <TAB> 1-based line number of the matching document
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

TOOLS_DIR = Path(__file__).resolve().parent
if str(TOOLS_DIR) not in sys.path:  # also when loaded by path (tests/unit/test_bundled_texts.py)
    sys.path.insert(0, str(TOOLS_DIR))

from clinical_corpus.data import CALIB_HANDWRITTEN, DEMO_DOCUMENTS, DEMO_QUERIES, EVAL_HANDWRITTEN  # noqa: E402
from clinical_corpus.families import MAX_WORDS, MIN_WORDS, template_lines  # noqa: E402

DATA_DIR = TOOLS_DIR.parent / "compress" / "data"
# Hand-written corpus sentences by topic (emergency, primary care, patients' own words, ...): 300 fictional lines per
# file, drafted for this repo by AI writing assistants from a topic brief, without access to the evaluation split;
# generate() rejects lines out of shape, duplicates and evaluation lines. Template lines alone
# teach a student the templates: a 3-layer MiniLM student reached 0.988 mean cosine on corpus lines, 0.975 on held-out
# template lines and 0.932 on held-out hand-written ones.
CORPUS_SENTENCES_DIR = TOOLS_DIR / "corpus_sentences"
SEED = 20240611
N_CALIB_TEMPLATE = 250
N_EVAL_TEMPLATE = 150
N_CORPUS_TEMPLATE = 4400


# ---- the sets --------------------------------------------------------------------------------------------------------


def generate() -> dict[str, list[str]]:
    """File name -> lines, for every file this script writes."""
    for line in CALIB_HANDWRITTEN + EVAL_HANDWRITTEN + DEMO_DOCUMENTS:
        if out_of_shape(line):
            raise ValueError(f"hand-written line out of shape ({len(line.split())} words): {line!r}")
    for lines in (CALIB_HANDWRITTEN, EVAL_HANDWRITTEN, DEMO_DOCUMENTS):
        if len(dict.fromkeys(lines)) != len(lines):
            raise ValueError("duplicate hand-written line")
    if any(i < 1 or i > len(DEMO_DOCUMENTS) for _, i in DEMO_QUERIES):
        raise ValueError("demo query names a document that does not exist")

    # The held-out set is drawn first; nothing drawn afterwards may repeat one of its lines.
    eval_lines = list(EVAL_HANDWRITTEN)
    eval_lines += template_lines(random.Random(SEED + 1), N_EVAL_TEMPLATE,
                                 dict.fromkeys(eval_lines + CALIB_HANDWRITTEN + DEMO_DOCUMENTS))
    held_out = dict.fromkeys(eval_lines)

    calib = list(CALIB_HANDWRITTEN)
    calib += template_lines(random.Random(SEED + 2), N_CALIB_TEMPLATE, {**held_out, **dict.fromkeys(calib)})

    seeded = calib + DEMO_DOCUMENTS + corpus_sentences(held_out, dict.fromkeys(calib + DEMO_DOCUMENTS))
    corpus_rng = random.Random(SEED + 3)
    corpus = seeded + template_lines(corpus_rng, N_CORPUS_TEMPLATE, {**held_out, **dict.fromkeys(seeded)})
    corpus_rng.shuffle(corpus)

    if set(eval_lines) & (set(calib) | set(corpus)):
        raise AssertionError("evaluation lines leaked into calibration or corpus")
    return {
        "clinical_calib.txt": calib,
        "clinical_eval.txt": eval_lines,
        "clinical_corpus.txt": corpus,
        "demo_documents.txt": list(DEMO_DOCUMENTS),
        "demo_queries.txt": [f"{query}\t{index}" for query, index in DEMO_QUERIES],
    }


def out_of_shape(line: str) -> bool:
    """A hand-written line must have MIN_WORDS..MAX_WORDS words, no surrounding spaces and no tab."""
    return not MIN_WORDS <= len(line.split()) <= MAX_WORDS or line != line.strip() or "\t" in line


def corpus_sentences(held_out: dict[str, None], taken: dict[str, None]) -> list[str]:
    """The lines of tools/corpus_sentences/*.txt (files in name order), checked like the hand-written lists."""
    lines: dict[str, None] = {}
    for path in sorted(CORPUS_SENTENCES_DIR.glob("*.txt")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            where = f"{path.name}:{number}"
            if out_of_shape(line):
                raise ValueError(f"{where}: corpus sentence out of shape ({len(line.split())} words): {line!r}")
            if line in held_out:
                raise ValueError(f"{where}: corpus sentence is an evaluation line: {line!r}")
            if line in taken or line in lines:
                raise ValueError(f"{where}: duplicate corpus sentence: {line!r}")
            lines[line] = None
    return list(lines)


def render(lines: list[str]) -> str:
    return "".join(line + "\n" for line in lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the files on disk; write nothing")
    parser.add_argument("--out", type=Path, default=DATA_DIR, help=f"output folder (default {DATA_DIR})")
    args = parser.parse_args(argv)
    stale = []
    for name, lines in generate().items():
        path = args.out / name
        text = render(lines)
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8", newline="\n")
            print(f"{path}: {len(lines)} lines")
    if stale:
        print("out of date: " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
