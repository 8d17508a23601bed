"""What the vocab step alone costs on MiniLM-L6: the fp32 teacher with its vocabulary cut, against the uncut teacher.

Usage: python benchmarks/vocab_sweep.py [KEEP_TOP ...]   (default: 3000 12000 20000 25000)
For each `keep_top` the teacher's table is cut to the bundled corpus's pieces + that frequency floor + single
characters; fidelity on the held-out evaluation split, split into its hand-written lines (vocabulary the corpus may
lack) and its template lines. No distillation, no INT8: the loss printed is the cut's own.
"""

from __future__ import annotations

import copy
import dataclasses
import sys

from common import print_table, write_json


def main() -> None:
    from hfm_compress.data import load_texts
    from hfm_compress.evaluate.metrics import embedding_fidelity, row_cosines
    from hfm_compress.sources.reference import teacher_outputs
    from hfm_compress.sources.text import load_text_teacher
    from hfm_compress.vocab import VocabPruneConfig, prune_vocabulary

    keep_tops = [int(a) for a in sys.argv[1:]] or [3000, 12000, 20000, 25000]
    teacher = load_text_teacher("default")
    corpus, evals = load_texts("corpus"), load_texts("eval")
    # tools/make_clinical_corpus.py writes the hand-written lines first, then N_EVAL_TEMPLATE = 150 template lines.
    hand_written = len(evals) - 150
    reference = teacher_outputs(teacher, evals)
    rows, results = [], {}
    for keep_top in keep_tops:
        model = copy.deepcopy(teacher.model)
        tokenizer_json, report = prune_vocabulary(model, teacher.tokenizer_json, corpus,
                                                  VocabPruneConfig(keep_top=keep_top))
        outputs = teacher_outputs(dataclasses.replace(teacher, model=model, tokenizer_json=tokenizer_json), evals)
        cosines = row_cosines(reference, outputs)
        fidelity = {k: round(v, 4) for k, v in embedding_fidelity(reference, outputs).items()}
        results[keep_top] = {"pieces": report.details["vocab_after"], **fidelity,
                             "hand_written_cosine_mean": round(float(cosines[:hand_written].mean()), 4),
                             "template_cosine_mean": round(float(cosines[hand_written:].mean()), 4)}
        r = results[keep_top]
        rows.append((f"{keep_top}", f"{r['pieces']:,}", f"{r['cosine_mean']:.4f} / {r['cosine_min']:.4f}",
                     f"{r['hand_written_cosine_mean']:.4f}", f"{r['template_cosine_mean']:.4f}",
                     f"{r['teacher_nearest_in_top5']:.3f}"))
    print_table(f"MiniLM-L6 fp32 with its vocabulary cut, {len(evals)} held-out texts ({hand_written} hand-written)",
                ["keep_top", "pieces kept", "cosine mean / min", "hand-written", "template", "teacher NN in top 5"],
                rows)
    print(f"\nwrote {write_json('vocab_sweep', {'results': results, 'hand_written': hand_written})}")


if __name__ == "__main__":
    main()
