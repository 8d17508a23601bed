"""Distillation settings sweep on MiniLM-L6 (no INT8): held-out fidelity of the fp32 student per DistillConfig.

Usage: python benchmarks/distill_sweep.py [--corpus FILE] '{"layers": [0, 2, 5], "epochs": 4}' [more JSON configs ...]
--corpus: train on FILE (one text per line) instead of the bundled corpus. Each JSON argument is an object of
DistillConfig fields; prints one line per config (seconds, fidelity to the teacher on the bundled evaluation split).
Checkpoints go to a temporary folder.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, help="training texts, one per line (default: the bundled corpus)")
    parser.add_argument("configs", nargs="+", help="JSON objects of DistillConfig fields")
    args = parser.parse_args()
    from hfm_compress.data import load_texts
    from hfm_compress.distill.bert import DistillConfig, distill
    from hfm_compress.evaluate.metrics import embedding_fidelity
    from hfm_compress.sources.reference import teacher_outputs
    from hfm_compress.sources.text import load_text_teacher

    teacher = load_text_teacher("default")
    corpus = args.corpus.read_text(encoding="utf-8").splitlines() if args.corpus else load_texts("corpus")
    evals = load_texts("eval")
    reference = teacher_outputs(teacher, evals)
    for spec in args.configs:
        fields = json.loads(spec)
        if fields.get("layers") is not None:
            fields["layers"] = tuple(fields["layers"])
        started = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="distill-sweep-") as folder:
            student, _ = distill(teacher.model, None, teacher.tokenizer_json, corpus, DistillConfig(**fields),
                                 Path(folder), progress=False)
        seconds = time.perf_counter() - started
        fidelity = embedding_fidelity(reference, teacher_outputs(dataclasses.replace(teacher, model=student), evals))
        print(spec, f"{seconds:.0f} s", {k: round(v, 4) for k, v in fidelity.items()}, flush=True)


if __name__ == "__main__":
    main()
