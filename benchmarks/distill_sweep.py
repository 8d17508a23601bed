"""Distillation settings sweep on MiniLM-L6 (no INT8): held-out fidelity of the fp32 student per DistillConfig.

Usage: python benchmarks/distill_sweep.py '{"layers": [0, 2, 5], "epochs": 4, "lr": 0.0003}' [more JSON configs ...]
Each argument is a JSON object of DistillConfig fields; prints one line per config (seconds, fidelity to the teacher
on the bundled evaluation split). Checkpoints go to a temporary folder.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    from hfm_compress.data import load_texts
    from hfm_compress.distill import DistillConfig, distill
    from hfm_compress.metrics import embedding_fidelity
    from hfm_compress.reference import teacher_outputs
    from hfm_compress.sources import load_text_teacher

    teacher = load_text_teacher("default")
    corpus, evals = load_texts("corpus"), load_texts("eval")
    reference = teacher_outputs(teacher, evals)
    for spec in sys.argv[1:]:
        fields = json.loads(spec)
        if "layers" in fields:
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
