"""Issue 16 (trust), measured side by side: this runtime against the runtime before the trust layer (git commit
BEFORE), on the packaged MiniLM-L6 compressed with `--recipe fp32` and `--recipe int8`.

- batch invariance: largest |output alone - output in a batch| over held-out clinical texts beside a long note;
- latency at batch 1 (p50, interleaved child processes, median of rounds) and throughput at batch 32; in one
  process, the runtime's cost over a bare ONNX Runtime call and row-by-row against one padded batch;
- peak RSS added by one `run(texts, batch_size=10000)` call and by `load` of the fp32 artifact;
- peak RSS added while refusing a 1 GiB zip bomb.

Run: `.venv/bin/python benchmarks/bench_trust.py` (about 10 minutes on 2 cores; artifacts are cached in
benchmarks/out/trust/). Writes benchmarks/out/bench_trust.json.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import OUT_DIR, machine, median, print_table, run_child, write_json  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
BEFORE = "ca2ce4e"  # main before the trust layer
WORK = OUT_DIR / "trust"
ROUNDS = 5


def build_artifacts() -> dict[str, Path]:
    WORK.mkdir(parents=True, exist_ok=True)
    paths = {}
    for recipe in ("fp32", "int8"):
        path = WORK / f"minilm-{recipe}.hfm"
        if not path.exists():
            import hfm_compress

            hfm_compress.compress("default", "clinic-cpu", recipe, out=path)
        legacy = WORK / f"minilm-{recipe}-legacy.hfm"  # what the earlier runtime can read: no signature.json
        with zipfile.ZipFile(path) as src, zipfile.ZipFile(legacy, "w", zipfile.ZIP_DEFLATED) as dst:
            for name in src.namelist():
                if name != "signature.json":
                    dst.writestr(name, src.read(name))
        paths[recipe], paths[recipe + "-legacy"] = path, legacy
    return paths


def old_runtime() -> Path:
    """The runtime as it was at BEFORE, importable as `hfm_runtime` from a path put first on sys.path."""
    tree = WORK / "before"
    if not (tree / "runtime").exists():
        subprocess.run(["git", "worktree", "add", "--force", "--detach", str(tree), BEFORE], cwd=REPO, check=True,
                       capture_output=True)
    shim = WORK / "before-path"
    shim.mkdir(exist_ok=True)
    link = shim / "hfm_runtime"
    if not link.exists():
        link.symlink_to(tree / "runtime")
        (tree / "runtime" / "device_profiles").unlink(missing_ok=True)
        (tree / "runtime" / "device_profiles").symlink_to(tree / "device_profiles")
    return shim


PRELUDE = """
import sys, time, json, statistics
{path_line}
import numpy as np
import hfm_runtime
from hfm_runtime import memory
texts = [line.strip() for line in open({eval_texts!r}) if line.strip()][:64]
long_note = " ".join(texts[:12])
"""


def child(code: str, old: bool, shim: Path) -> dict:
    path_line = f"sys.path.insert(0, {str(shim)!r})" if old else ""
    prelude = PRELUDE.format(path_line=path_line, eval_texts=str(REPO / "compress" / "data" / "clinical_eval.txt"))
    result = run_child(prelude + textwrap.dedent(code))
    return json.loads(result["stdout"].strip().splitlines()[-1])


INVARIANCE = """
model = hfm_runtime.load({artifact!r})
alone = np.stack([model.run([t])[0] for t in texts[:32]])
batched = model.run(texts[:32] + [long_note], batch_size=64)[:32]
print(json.dumps({{"max_abs": float(np.max(np.abs(alone - batched)))}}))
"""

LATENCY = """
model = hfm_runtime.load({artifact!r})
for t in texts[:10]:
    model.run([t])
times = []
for _ in range(3):
    for t in texts:
        start = time.perf_counter(); model.run([t]); times.append(time.perf_counter() - start)
batch32 = []
for _ in range(3):
    start = time.perf_counter(); model.run(texts, batch_size=32); batch32.append(time.perf_counter() - start)
print(json.dumps({{"p50_ms": statistics.median(times) * 1000, "batch32_per_s": len(texts) / statistics.median(batch32)}}))
"""

# In one process (no process-to-process noise): the runtime's own cost over a bare ONNX Runtime call at batch 1, and
# what running a dynamic-INT8 graph row by row costs against one padded batch (the pre-trust behaviour) at batch 32.
IN_PROCESS = """
from hfm_runtime.batching import BatchBudget
model = hfm_runtime.load({artifact!r})
pre = model.inputs.preprocessor
def bare(t):
    feeds = pre.encode([t])
    return model.inputs.outputs(model.session.run([model.output_name], feeds)[0], feeds)
padded = BatchBudget.one_padded_batch("one padded batch")
items = model.inputs.items(texts)
for t in texts[:10]:
    model.run([t]); bare(t)
ours, raw, rows, batched = [], [], [], []
for _ in range(5):
    for t in texts:
        start = time.perf_counter(); model.run([t]); ours.append(time.perf_counter() - start)
        start = time.perf_counter(); bare(t); raw.append(time.perf_counter() - start)
    start = time.perf_counter(); model.run(texts, batch_size=32); rows.append(time.perf_counter() - start)
    start = time.perf_counter(); model.run_items(items, 32, padded); batched.append(time.perf_counter() - start)
print(json.dumps({{"run_p50_ms": statistics.median(ours) * 1000, "bare_p50_ms": statistics.median(raw) * 1000,
                  "batch32_now_s": statistics.median(rows), "batch32_padded_s": statistics.median(batched),
                  "row_wise": model.graph.batch_dependent}}))
"""

MEMORY = """
note = " ".join(texts[:5])
many = [note + " " + str(i) for i in range({count})]
model = hfm_runtime.load({artifact!r})
model.run(texts[:4])
base = memory.rss_mb(); memory.reset_peak()
model.run(many, batch_size=10000)
print(json.dumps({{"peak_added_mb": memory.peak_rss_mb() - base, "held_after_mb": memory.rss_mb() - base,
                  "tokens": model.inputs.preprocessor.token_count(note)}}))
"""

LOAD = """
base = memory.rss_mb(); memory.reset_peak()
model = hfm_runtime.load({artifact!r})
print(json.dumps({{"load_added_mb": memory.rss_mb() - base, "load_peak_added_mb": memory.peak_rss_mb() - base}}))
"""

BOMB = """
from hfm_runtime.artifact import read_artifact
base = memory.rss_mb(); memory.reset_peak()
try:
    read_artifact({artifact!r}); message = "accepted"
except Exception as exc:
    message = f"{{type(exc).__name__}}: {{exc}}"
print(json.dumps({{"peak_added_mb": memory.peak_rss_mb() - base, "result": message[-160:]}}))
"""


def make_bomb(base: Path) -> Path:
    bomb = WORK / "bomb-1gib.hfm"
    if bomb.exists():
        return bomb
    with zipfile.ZipFile(base) as src:
        members = {name: src.read(name) for name in src.namelist() if name != "signature.json"}
    manifest = json.loads(members["manifest.json"])
    manifest["members"]["bomb.bin"] = "0" * 64
    members["manifest.json"] = json.dumps(manifest).encode()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
        with archive.open("bomb.bin", "w", force_zip64=True) as stream:
            for _ in range(64):
                stream.write(bytes(1 << 24))
    return bomb


def main() -> None:
    artifacts = build_artifacts()
    shim = old_runtime()
    rows, results = [], {"machine": machine(), "before": BEFORE}
    for recipe in ("fp32", "int8"):
        new, legacy = str(artifacts[recipe]), str(artifacts[recipe + "-legacy"])
        inv_old = child(INVARIANCE.format(artifact=legacy), True, shim)["max_abs"]
        inv_new = child(INVARIANCE.format(artifact=new), False, shim)["max_abs"]
        lat_old, lat_new = [], []
        for _ in range(ROUNDS):  # interleaved: old, new, old, new ...
            lat_old.append(child(LATENCY.format(artifact=legacy), True, shim))
            lat_new.append(child(LATENCY.format(artifact=new), False, shim))
        p50_old, p50_new = median([r["p50_ms"] for r in lat_old]), median([r["p50_ms"] for r in lat_new])
        tp_old, tp_new = median([r["batch32_per_s"] for r in lat_old]), median([r["batch32_per_s"] for r in lat_new])
        inproc = child(IN_PROCESS.format(artifact=new), False, shim)
        results[recipe + "_in_process"] = inproc
        overhead = inproc["run_p50_ms"] / inproc["bare_p50_ms"]
        batch_cost = inproc["batch32_now_s"] / inproc["batch32_padded_s"]
        rows += [(recipe, "in one process: run() p50 / bare ORT call p50, batch 1",
                  f"{inproc['bare_p50_ms']:.2f} ms (bare)", f"{inproc['run_p50_ms']:.2f} ms", f"{overhead:.3f}"),
                 (recipe, "in one process: batch 32 as run() does it / one padded batch",
                  f"{inproc['batch32_padded_s'] * 1000:.1f} ms (padded)", f"{inproc['batch32_now_s'] * 1000:.1f} ms "
                  f"({'row by row' if inproc['row_wise'] else 'batched'})", f"{batch_cost:.3f}")]
        results[recipe] = {"invariance_max_abs": {"before": inv_old, "now": inv_new},
                           "p50_batch1_ms": {"before": p50_old, "now": p50_new, "ratio": p50_new / p50_old},
                           "batch32_texts_per_s": {"before": tp_old, "now": tp_new, "ratio": tp_new / tp_old}}
        rows += [(recipe, "max abs alone vs in batch", f"{inv_old:.2e}", f"{inv_new:.2e}", ""),
                 (recipe, "p50 latency, batch 1 (ms)", f"{p50_old:.2f}", f"{p50_new:.2f}", f"{p50_new / p50_old:.3f}"),
                 (recipe, "texts/s at batch 32", f"{tp_old:.1f}", f"{tp_new:.1f}", f"{tp_new / tp_old:.3f}")]
    mem_old = child(MEMORY.format(artifact=str(artifacts["int8-legacy"]), count=1000), True, shim)
    mem_new = child(MEMORY.format(artifact=str(artifacts["int8"]), count=1000), False, shim)
    mem_new_10k = child(MEMORY.format(artifact=str(artifacts["int8"]), count=10000), False, shim)
    fp32_old = child(MEMORY.format(artifact=str(artifacts["fp32-legacy"]), count=1000), True, shim)
    fp32_new = child(MEMORY.format(artifact=str(artifacts["fp32"]), count=1000), False, shim)
    fp32_new_10k = child(MEMORY.format(artifact=str(artifacts["fp32"]), count=10000), False, shim)
    load_old = child(LOAD.format(artifact=str(artifacts["fp32-legacy"])), True, shim)
    load_new = child(LOAD.format(artifact=str(artifacts["fp32"])), False, shim)
    bomb = make_bomb(artifacts["fp32"])
    bomb_old = child(BOMB.format(artifact=str(bomb)), True, shim)
    bomb_new = child(BOMB.format(artifact=str(bomb)), False, shim)
    results["memory"] = {"run_1000_texts_batch_10000": {"before": mem_old, "now": mem_new},
                         "run_10000_texts_batch_10000_now": mem_new_10k,
                         "fp32_run_1000_texts_batch_10000": {"before": fp32_old, "now": fp32_new},
                         "fp32_run_10000_texts_batch_10000_now": fp32_new_10k,
                         "load_fp32": {"before": load_old, "now": load_new},
                         "bomb_1gib": {"before": bomb_old, "now": bomb_new}}
    tokens = mem_new["tokens"]
    rows += [("int8", f"peak RSS added, run(1,000 x {tokens} tokens, batch_size=10000) MB",
              f"{mem_old['peak_added_mb']:.0f}", f"{mem_new['peak_added_mb']:.0f}", ""),
             ("int8", "RSS still held after that call, MB", f"{mem_old['held_after_mb']:.0f}",
              f"{mem_new['held_after_mb']:.0f}", ""),
             ("int8", f"peak RSS added, run(10,000 x {tokens} tokens, batch_size=10000) MB", "not run (18.7 GB in #16)",
              f"{mem_new_10k['peak_added_mb']:.0f}", ""),
             ("fp32", f"peak RSS added, run(1,000 x {tokens} tokens, batch_size=10000) MB",
              f"{fp32_old['peak_added_mb']:.0f}", f"{fp32_new['peak_added_mb']:.0f}", ""),
             ("fp32", "RSS still held after that call, MB", f"{fp32_old['held_after_mb']:.0f}",
              f"{fp32_new['held_after_mb']:.0f}", ""),
             ("fp32", f"peak RSS added, run(10,000 x {tokens} tokens, batch_size=10000) MB", "not run",
              f"{fp32_new_10k['peak_added_mb']:.0f}", ""),
             ("fp32", "RSS added by load (held), MB", f"{load_old['load_added_mb']:.0f}",
              f"{load_new['load_added_mb']:.0f}", ""),
             ("fp32", "peak RSS added during load, MB", f"{load_old['load_peak_added_mb']:.0f}",
              f"{load_new['load_peak_added_mb']:.0f}", ""),
             ("-", "peak RSS added refusing a 1 GiB bomb, MB", f"{bomb_old['peak_added_mb']:.0f}",
              f"{bomb_new['peak_added_mb']:.0f}", "")]
    print_table("Trust layer: before vs now (clinic-cpu profile, this machine)",
                ["artifact", "measure", f"before ({BEFORE})", "now", "now/before"], rows)
    print(f"bomb, before: {bomb_old['result']}\nbomb, now: {bomb_new['result']}")
    print(f"wrote {write_json('bench_trust', results)}")


if __name__ == "__main__":
    main()
