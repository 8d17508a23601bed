"""Train the ECG rhythm teacher (issue 6): a 1-D CNN on simulated single-lead ECG, 6 rhythm classes.

Train and held-out sets come from the simulator with disjoint seeds (the `synth:ecg` defaults: train seed 1000,
evaluation seed 3000), preprocessed by the runtime's own signal code, so the teacher sees exactly what the device
will feed it. The run is a pure function of --seed (data order, initialisation) at a fixed thread count.
Writes a module folder (`hfm_module.json` + `model.pt`, a valid SOURCE for `hfm-compress`) and `train_report.json`
with accuracy and per-class sensitivity on the held-out set.

Usage: python benchmarks/train_ecg_teacher.py [--out benchmarks/out/teachers/ecg-cnn] [--epochs 16] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hfm_compress.models.ecg_cnn import FACTORY, TEACHER_KWARGS, ecg_cnn, ecg_preprocessing
from hfm_compress.synth.ecg import ECG_CLASSES
from hfm_compress.sources.arrays import SYNTH_DEFAULTS, load_set
from hfm_compress.sources.modules import save_module_folder

TASK = "signal-classification"
DEFAULT_OUT = Path(__file__).parent / "out" / "teachers" / "ecg-cnn"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--epochs", type=int, default=16)
    parser.add_argument("--n-train", type=int, default=SYNTH_DEFAULTS["train"]["n"], help="windows per class")
    parser.add_argument("--n-eval", type=int, default=SYNTH_DEFAULTS["evaluation"]["n"], help="windows per class")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    spec = ecg_preprocessing()
    print(f"simulating and preprocessing {args.n_train} train + {args.n_eval} held-out windows per class ...")
    train = load_set(f"synth:ecg?n={args.n_train}", "train", TASK, spec)
    held_out = load_set(f"synth:ecg?n={args.n_eval}", "evaluation", TASK, spec)
    data_seconds = time.perf_counter() - started

    torch.manual_seed(args.seed)
    model = ecg_cnn(**TEACHER_KWARGS)
    losses = train_model(model, train.inputs, train.labels, args)
    metrics = evaluate(model, held_out.inputs, held_out.labels)

    save_module_folder(args.out, model, factory=FACTORY, kwargs=TEACHER_KWARGS, task=TASK, labels=list(ECG_CLASSES),
                       preprocessing=spec)
    report = {
        "teacher": {"factory": FACTORY, "kwargs": TEACHER_KWARGS,
                    "parameters": int(sum(p.numel() for p in model.parameters())),
                    "fp32_bytes": (args.out / "model.pt").stat().st_size},
        "data": {"train": train.fingerprint(), "held_out": held_out.fingerprint(),
                 "train_seed": SYNTH_DEFAULTS["train"]["seed"], "held_out_seed": SYNTH_DEFAULTS["evaluation"]["seed"]},
        "training": {"epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr, "seed": args.seed,
                     "threads": args.threads, "loss_by_epoch": [round(x, 5) for x in losses]},
        "held_out": metrics,
        "seconds": {"data": round(data_seconds, 1), "total": round(time.perf_counter() - started, 1)},
    }
    (args.out / "train_report.json").write_text(json.dumps(report, indent=2))
    print_report(report)
    print(f"saved {args.out} (SOURCE for hfm-compress) and {args.out / 'train_report.json'}")


def train_model(model: torch.nn.Module, inputs: np.ndarray, labels: np.ndarray, args: argparse.Namespace) -> list[float]:
    """AdamW with one-cycle learning rate; the data order is drawn from the seed per epoch."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    x, y = torch.from_numpy(inputs), torch.from_numpy(labels)
    steps_per_epoch = math.ceil(len(x) / args.batch_size)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=args.lr, epochs=args.epochs,
                                                    steps_per_epoch=steps_per_epoch, pct_start=0.2)
    # Light label smoothing: the teacher's soft targets then carry runner-up classes for distillation.
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=0.05)
    means = []
    columns = (TextColumn("train teacher"), BarColumn(), MofNCompleteColumn(), TextColumn("epoch {task.fields[epoch]}"),
               TextColumn("loss {task.fields[loss]}"), TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns) as bar:
        task = bar.add_task("train", total=args.epochs * steps_per_epoch, epoch=0, loss="-")
        for epoch in range(args.epochs):
            model.train()
            order = torch.randperm(len(x), generator=torch.Generator().manual_seed(args.seed * 1009 + epoch))
            total = 0.0
            for start in range(0, len(x), args.batch_size):
                index = order[start:start + args.batch_size]
                loss = loss_fn(model(x[index]), y[index])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                scheduler.step()
                value = float(loss.detach())
                total += value * len(index)
                bar.update(task, advance=1, epoch=epoch + 1, loss=f"{value:.4f}")
            means.append(total / len(x))
    model.eval()
    return means


def evaluate(model: torch.nn.Module, inputs: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    with torch.inference_mode():
        predicted = torch.cat([model(torch.from_numpy(inputs[i:i + 256])) for i in range(0, len(inputs), 256)])
    predicted = predicted.argmax(1).numpy()
    confusion = np.zeros((len(ECG_CLASSES), len(ECG_CLASSES)), dtype=int)
    np.add.at(confusion, (labels, predicted), 1)
    sensitivity = {name: round(float(confusion[i, i] / max(1, confusion[i].sum())), 4)
                   for i, name in enumerate(ECG_CLASSES)}
    return {"count": int(len(labels)), "accuracy": round(float(np.mean(predicted == labels)), 4),
            "sensitivity": sensitivity, "confusion": confusion.tolist(), "classes": list(ECG_CLASSES)}


def print_report(report: dict[str, Any]) -> None:
    metrics = report["held_out"]
    teacher = report["teacher"]
    print(f"\nteacher: {teacher['parameters']:,} parameters, {teacher['fp32_bytes'] / 1e6:.2f} MB fp32; "
          f"{report['seconds']['total']:.0f} s in all ({report['seconds']['data']:.0f} s data)")
    print(f"held-out accuracy {metrics['accuracy']:.4f} on {metrics['count']} windows")
    print("| class | sensitivity |\n|---|---|")
    for name, value in metrics["sensitivity"].items():
        print(f"| {name} | {value:.4f} |")
    print("confusion (rows true, columns predicted):", metrics["confusion"])


if __name__ == "__main__":
    main()
