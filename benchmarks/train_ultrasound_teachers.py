"""Train the two ultrasound teachers from scratch on B-mode phantoms and save them as Hugging Face folders.

No medical imaging weights can be downloaded, so the teachers the compression benchmarks start from are trained here:
- `us-vit/`: ViTForImageClassification (no_lesion / cyst / solid_lesion), 1 grey channel;
- `us-segformer/`: SegformerForSemanticSegmentation (background / lesion), a slim MiT-b0.

Data are `compress/synth/ultrasound.py` phantoms at the model's size, from the seeds `tensor_data.SYNTH_DEFAULTS`
uses (train 1000, evaluation 3000: disjoint frames), cached as .npz under benchmarks/out. Training sets are larger
than the default train set (more phantoms cost milliseconds; a ViT from scratch needs them more than epochs).
The evaluation goes through `load_hf_vision_teacher` and `tensor_data.load_set`, i.e. the saved folder and the
runtime's preprocessing, exactly as `hfm-compress` will see the teachers.

    .venv/bin/python benchmarks/train_ultrasound_teachers.py            # both, ~25 minutes on 2 CPU cores
    .venv/bin/python benchmarks/train_ultrasound_teachers.py --only vit --vit-epochs 1 --train-per-class 100  # smoke
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from hfm_compress.synth import ultrasound
from hfm_compress.sources.arrays import SYNTH_DEFAULTS, load_set
from hfm_compress.sources.vision import load_hf_vision_teacher

OUT = Path(__file__).parent / "out"
SEG_LABELS = ("background", "lesion")
# Phantom grey levels: tissue sits near 0.6 inside the fan, the fan's outside is 0. Centring on the whole-image mean
# and scaling by its spread puts the inputs near zero mean and unit variance (measured on 600 training frames).
MEAN, STD = 0.3, 0.3


def phantoms(n_per_class: int, seed: int, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(images (n, H, W), labels, masks), generated once and cached: 6,000 frames take about a minute."""
    path = OUT / f"us_phantoms_{size}px_{n_per_class}x3_seed{seed}.npz"
    if path.is_file():
        with np.load(path) as cached:
            return cached["images"], cached["labels"], cached["masks"]
    started = time.perf_counter()
    images, labels, masks = ultrasound.make_dataset(n_per_class, seed, size=size)
    OUT.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, images=images[:, 0], labels=labels, masks=masks)
    print(f"generated {len(labels)} phantoms ({size} px, seed {seed}) in {time.perf_counter() - started:.1f} s")
    return images[:, 0], labels, masks


def spec(size: int) -> dict[str, Any]:
    return {"size": {"height": size, "width": size}, "image_mean": [MEAN], "image_std": [STD], "do_resize": True,
            "do_rescale": True, "rescale_factor": 1 / 255, "do_normalize": True, "resample": 2}


def inputs_of(images: np.ndarray) -> torch.Tensor:
    """Frames in [0, 1] -> normalised (n, 1, H, W); at the model's size the runtime's resize is the identity."""
    return torch.from_numpy((images[:, None] - MEAN) / STD).float()


def schedule(step: int, total: int, warmup: int) -> float:
    """Linear warmup, then cosine decay to zero: the usual recipe for training a ViT from scratch."""
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))


def train_loop(model: torch.nn.Module, inputs: torch.Tensor, targets: torch.Tensor, loss_fn: Callable[..., Any],
               *, epochs: int, batch: int, lr: float, weight_decay: float, seed: int,
               name: str) -> dict[str, float]:
    """AdamW with warmup + cosine, horizontal flips (the fan is symmetric); returns wall and CPU seconds (the 2 cores
    are shared with other work, so wall time alone overstates the cost)."""
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    steps_per_epoch = len(inputs) // batch
    total = epochs * steps_per_epoch
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: schedule(s, total, max(1, total // 20)))
    started, cpu_started = time.perf_counter(), time.process_time()
    model.train()
    for epoch in range(epochs):
        order = torch.randperm(len(inputs), generator=generator)
        flips = torch.rand(len(inputs), generator=generator) < 0.5
        running = 0.0
        for step in range(steps_per_epoch):
            index = order[step * batch:(step + 1) * batch]
            x, y = inputs[index].clone(), targets[index].clone()
            flip = flips[index]
            x[flip] = x[flip].flip(-1)
            if y.ndim == 3:
                y[flip] = y[flip].flip(-1)
            loss = loss_fn(model, x, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            running += loss.item()
            if (step + 1) % 20 == 0 or step + 1 == steps_per_epoch:
                elapsed = time.perf_counter() - started
                print(f"  {name} epoch {epoch + 1}/{epochs} step {step + 1}/{steps_per_epoch} "
                      f"loss {running / (step + 1):.4f}  {elapsed:.0f} s", flush=True)
    model.eval()
    return {"train_seconds": round(time.perf_counter() - started, 1),
            "train_cpu_seconds": round(time.process_time() - cpu_started, 1)}


# ---- ViT classifier -----------------------------------------------------------------------------------------------

def train_vit(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    torch.manual_seed(args.seed)
    images, labels, _ = phantoms(args.train_per_class, SYNTH_DEFAULTS["train"]["seed"], args.size)
    classes = ultrasound.US_CLASSES
    config = ViTConfig(image_size=args.size, patch_size=16, num_channels=1, hidden_size=192, num_hidden_layers=6,
                       num_attention_heads=6, intermediate_size=768, hidden_dropout_prob=0.0,
                       attention_probs_dropout_prob=0.0, num_labels=len(classes),
                       id2label=dict(enumerate(classes)), label2id={c: i for i, c in enumerate(classes)})
    model = ViTForImageClassification(config)

    def loss_fn(m: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(m(pixel_values=x).logits, y, label_smoothing=0.1)

    timing = train_loop(model, inputs_of(images), torch.from_numpy(labels), loss_fn, epochs=args.vit_epochs,
                         batch=64, lr=1e-3, weight_decay=0.05, seed=args.seed, name="vit")
    model.config.hfm_default_data = "synth:ultrasound"  # the CLI's default data for this teacher
    model.save_pretrained(folder)
    ViTImageProcessor(**spec(args.size)).save_pretrained(folder)
    return {**timing, "train_frames": len(labels), "epochs": args.vit_epochs,
            "parameters": sum(p.numel() for p in model.parameters()), **evaluate_classifier(folder)}


def evaluate_classifier(folder: Path) -> dict[str, Any]:
    teacher = load_hf_vision_teacher(folder, "image-classification")
    held_out = load_set("synth:ultrasound", "evaluation", teacher.task, teacher.preprocessing)
    predicted = predict(teacher.model, held_out.inputs).argmax(1).numpy()
    truth = held_out.labels
    confusion = np.zeros((len(teacher.labels),) * 2, dtype=int)
    np.add.at(confusion, (truth, predicted), 1)
    return {"held_out_frames": len(truth), "accuracy": round(float((predicted == truth).mean()), 4),
            "sensitivity": {label: round(float(confusion[i, i] / confusion[i].sum()), 4)
                            for i, label in enumerate(teacher.labels)},
            "confusion (rows: truth)": confusion.tolist()}


# ---- SegFormer segmenter ------------------------------------------------------------------------------------------

def train_segformer(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    from transformers import SegformerConfig, SegformerForSemanticSegmentation, SegformerImageProcessor

    torch.manual_seed(args.seed)
    images, _, masks = phantoms(args.train_per_class, SYNTH_DEFAULTS["train"]["seed"], args.size)
    count = min(len(images), 3 * args.seg_per_class)
    # MiT-b0's layout with narrower stages: lesions are blobs on speckle, not 150 ADE20K classes.
    config = SegformerConfig(num_channels=1, hidden_sizes=[32, 64, 128, 160], depths=[2, 2, 2, 2],
                             num_attention_heads=[1, 2, 4, 5], decoder_hidden_size=128, drop_path_rate=0.0,
                             hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, classifier_dropout_prob=0.0,
                             num_labels=len(SEG_LABELS), id2label=dict(enumerate(SEG_LABELS)),
                             label2id={c: i for i, c in enumerate(SEG_LABELS)})
    model = SegformerForSemanticSegmentation(config)

    def loss_fn(m: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        # Lesions cover ~2% of the pixels: cross-entropy alone learns "all background"; soft Dice weighs the lesion.
        logits = F.interpolate(m(pixel_values=x).logits, size=x.shape[-2:], mode="bilinear", align_corners=False)
        lesion = logits.softmax(1)[:, 1]
        target = y.float()
        dice = 1 - (2 * (lesion * target).sum() + 1) / (lesion.sum() + target.sum() + 1)
        return F.cross_entropy(logits, y) + dice

    timing = train_loop(model, inputs_of(images[:count]), torch.from_numpy(masks[:count].astype(np.int64)), loss_fn,
                         epochs=args.seg_epochs, batch=32, lr=1e-3, weight_decay=0.01, seed=args.seed,
                         name="segformer")
    model.config.hfm_default_data = "synth:ultrasound"  # the CLI's default data for this teacher
    model.save_pretrained(folder)
    SegformerImageProcessor(**spec(args.size), do_reduce_labels=False).save_pretrained(folder)
    return {**timing, "train_frames": count, "epochs": args.seg_epochs,
            "parameters": sum(p.numel() for p in model.parameters()), **evaluate_segmenter(folder)}


def evaluate_segmenter(folder: Path) -> dict[str, Any]:
    teacher = load_hf_vision_teacher(folder, "segmentation")
    held_out = load_set("synth:ultrasound", "evaluation", teacher.task, teacher.preprocessing)
    predicted = predict(teacher.model, held_out.inputs).argmax(1).numpy().astype(bool)
    truth = held_out.masks.astype(bool)
    has_lesion = truth.reshape(len(truth), -1).any(1)
    overlap = (predicted & truth).reshape(len(truth), -1).sum(1)
    sizes = predicted.reshape(len(truth), -1).sum(1) + truth.reshape(len(truth), -1).sum(1)
    dice = 2 * overlap[has_lesion] / sizes[has_lesion]
    union = (predicted | truth).reshape(len(truth), -1).sum(1)
    return {"held_out_frames": len(truth), "lesion_frames": int(has_lesion.sum()),
            "mean_dice_lesion_frames": round(float(dice.mean()), 4),
            "median_dice_lesion_frames": round(float(np.median(dice)), 4),
            "mean_iou_lesion_frames": round(float((overlap[has_lesion] / union[has_lesion]).mean()), 4),
            "global_dice": round(float(2 * overlap.sum() / sizes.sum()), 4),
            "no_lesion_frames_with_false_positive_pixels": round(float((sizes[~has_lesion] > 0).mean()), 4),
            "pixel_accuracy": round(float((predicted == truth).mean()), 5)}


def predict(model: torch.nn.Module, inputs: np.ndarray, batch: int = 64) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([model(torch.from_numpy(inputs[i:i + batch])) for i in range(0, len(inputs), batch)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT / "teachers")
    parser.add_argument("--only", choices=("vit", "segformer"), default=None)
    parser.add_argument("--size", type=int, default=128, help="phantom and model input size (px)")
    parser.add_argument("--train-per-class", type=int, default=2000)
    parser.add_argument("--seg-per-class", type=int, default=800, help="SegFormer trains on the first 3 x this")
    parser.add_argument("--vit-epochs", type=int, default=10)
    parser.add_argument("--seg-epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    metrics_path = args.out / "metrics.json"
    results = json.loads(metrics_path.read_text()) if metrics_path.is_file() else {}
    for name, train in (("vit", train_vit), ("segformer", train_segformer)):
        if args.only in (None, name):
            folder = args.out / f"us-{name}"
            results[f"us-{name}"] = {"folder": str(folder), **train(args, folder)}
            print(json.dumps({f"us-{name}": results[f"us-{name}"]}, indent=2), flush=True)
            args.out.mkdir(parents=True, exist_ok=True)
            metrics_path.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {metrics_path}")


if __name__ == "__main__":
    main()
