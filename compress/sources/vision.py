"""Hugging Face vision folders as tensor teachers: ViT/DeiT, ResNet/ConvNeXt classifiers and SegFormer segmenters.

The HF model is wrapped so that every teacher keeps one contract (see `tensor_sources.py`): `input` (batch, C, H, W)
float32 -> `logits`. SegFormer predicts at a quarter of the input size; its wrapper upsamples bilinearly inside the
module, so the exported ONNX graph (and the device) returns masks at the input size, as the evaluation compares them.

The preprocessing spec comes from the folder's `preprocessor_config.json`, mapped onto the runtime's `ImageSpec`:
- `size` {"height", "width"}, {"shortest_edge": n} or n -> a plain resize to that size. ConvNeXt's crop_pct
  (resize larger, then centre-crop) is not reproduced: ultrasound frames have the scan in the middle anyway.
- any `resample` maps to bilinear with antialias (the only filter the runtime has; PIL's bicubic differs slightly).
- `do_rescale` with factor 1/255 is the runtime's "source_range" scaling; other factors are refused.
- `image_mean`/`image_std` (or 0/1 when `do_normalize` is false), one value or one per channel of `num_channels`.
Nothing is ever downloaded: every load passes `local_files_only=True`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from hfm_compress.errors import SourceError
from hfm_compress.sources.hashing import files_sha256
from hfm_compress.sources.modules import TensorTeacher, check_preprocessing
from hfm_runtime.inputs import IMAGE_TASKS

PREPROCESSOR_FILE = "preprocessor_config.json"
WEIGHT_SUFFIXES = (".safetensors", ".bin")
# Families whose export, pruning and INT8 paths are tested (tests/unit/test_vision_models.py).
SUPPORTED_MODEL_TYPES = {
    "image-classification": ("vit", "deit", "resnet", "convnext", "convnextv2"),
    "segmentation": ("segformer",),
}
# config.json key naming the DATA the model was trained on (e.g. "synth:ultrasound"): the CLI's default --calib,
# --eval and --train, as `default_data` is for module folders. transformers keeps unknown config keys as attributes.
DEFAULT_DATA_KEY = "hfm_default_data"
ARCHITECTURE_SUFFIXES = {"ForImageClassification": "image-classification", "ForSemanticSegmentation": "segmentation"}


class ClassifierLogits(torch.nn.Module):
    """input (batch, C, H, W) -> logits (batch, classes)."""

    def __init__(self, hf_model: torch.nn.Module) -> None:
        super().__init__()
        self.hf = hf_model

    def forward(self, input: torch.Tensor) -> torch.Tensor:  # noqa: A002 - the graph's input is named "input"
        return self.hf(pixel_values=input).logits


class SegmentationLogits(torch.nn.Module):
    """input (batch, C, H, W) -> logits (batch, classes, H, W): the H/4 x W/4 logits upsampled bilinearly."""

    def __init__(self, hf_model: torch.nn.Module) -> None:
        super().__init__()
        self.hf = hf_model

    def forward(self, input: torch.Tensor) -> torch.Tensor:  # noqa: A002
        logits = self.hf(pixel_values=input).logits
        return F.interpolate(logits, size=input.shape[-2:], mode="bilinear", align_corners=False)


def wrap_hf_model(hf_model: torch.nn.Module, task: str) -> torch.nn.Module:
    wrapper = SegmentationLogits if task == "segmentation" else ClassifierLogits
    return wrapper(hf_model).eval()


def hf_model_of(model: torch.nn.Module) -> torch.nn.Module:
    """The HF model inside a teacher's wrapper (steps that prune or distill work on it)."""
    inner = getattr(model, "hf", None)
    if inner is None:
        raise SourceError(f"{type(model).__name__} is not a wrapped Hugging Face vision model")
    return inner


def load_hf_vision_teacher(folder: Path, task: str | None = None) -> TensorTeacher:
    """Load a local HF image classifier or segmenter; `task` (if given) must match its architecture."""
    from transformers import AutoConfig, AutoModelForImageClassification, AutoModelForSemanticSegmentation

    folder = Path(folder)
    if not (folder / "config.json").is_file():
        raise SourceError(f"SOURCE {folder}: no config.json (and no hfm_module.json); expected a Hugging Face model "
                          "folder or a module folder")
    config = AutoConfig.from_pretrained(folder, local_files_only=True)
    model_task = _task_of(folder, config, task)
    supported = SUPPORTED_MODEL_TYPES[model_task]
    if config.model_type not in supported:
        raise SourceError(f"SOURCE {folder}: model type {config.model_type!r} is not supported for {model_task}; "
                          f"expected one of {', '.join(supported)}")
    auto = AutoModelForSemanticSegmentation if model_task == "segmentation" else AutoModelForImageClassification
    # Eager attention exports to plain MatMul/Softmax, which ONNX Runtime fuses and quantizes; sdpa gains nothing here.
    extra = {"attn_implementation": "eager"} if config.model_type in ("vit", "deit") else {}
    try:
        hf_model = auto.from_pretrained(folder, local_files_only=True, **extra)
    except (OSError, ValueError) as exc:
        raise SourceError(f"SOURCE {folder}: cannot load the model ({str(exc).splitlines()[0][:200]})") from None
    preprocessing = image_spec_from_folder(folder, int(getattr(config, "num_channels", 3)))
    check_preprocessing(str(folder), model_task, preprocessing)
    return TensorTeacher(name=str(folder), task=model_task, model=wrap_hf_model(hf_model, model_task),
                         labels=labels_of(config), preprocessing=preprocessing, sha256=weights_sha256(folder),
                         model_type=type(hf_model).__name__, folder=folder,
                         default_data=getattr(config, DEFAULT_DATA_KEY, None))


def _task_of(folder: Path, config: Any, task: str | None) -> str:
    if task is not None and task not in IMAGE_TASKS:
        raise SourceError(f"SOURCE {folder} is an image model; --task {task} is not one of {', '.join(IMAGE_TASKS)}")
    architectures = list(getattr(config, "architectures", None) or [])
    found = {ARCHITECTURE_SUFFIXES[s] for a in architectures for s in ARCHITECTURE_SUFFIXES if a.endswith(s)}
    if len(found) == 1:
        (inferred,) = found
        if task is not None and task != inferred:
            raise SourceError(f"SOURCE {folder}: --task {task} was asked for, but its architecture "
                              f"{architectures[0]} is for {inferred}")
        return inferred
    if task is None:
        raise SourceError(f"SOURCE {folder}: cannot tell the task from architectures {architectures}; pass --task "
                          f"{' or '.join(IMAGE_TASKS)}")
    return task


def labels_of(config: Any) -> list[str]:
    id2label = {int(k): str(v) for k, v in (config.id2label or {}).items()}
    if sorted(id2label) != list(range(len(id2label))) or len(id2label) < 2:
        raise SourceError(f"config id2label {config.id2label!r}; expected labels 0..n-1 for at least 2 classes")
    return [id2label[i] for i in range(len(id2label))]


def image_spec_from_folder(folder: Path, channels: int) -> dict[str, Any]:
    """`preprocessor_config.json` -> an ImageSpec dict (validated by the caller with the runtime's parser)."""
    path = folder / PREPROCESSOR_FILE
    if not path.is_file():
        raise SourceError(f"SOURCE {folder}: no {PREPROCESSOR_FILE}; expected the image processor's config (size, "
                          "image_mean, image_std), e.g. written by ViTImageProcessor(...).save_pretrained(folder)")
    try:
        processor = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SourceError(f"{path} is not valid JSON ({exc})") from None
    if not isinstance(processor, dict):
        raise SourceError(f"{path} holds a {type(processor).__name__}; expected a JSON object")
    height, width = _size_of(path, processor.get("size"))
    if processor.get("do_rescale", True) and abs(float(processor.get("rescale_factor", 1 / 255)) - 1 / 255) > 1e-9:
        raise SourceError(f"{path}: rescale_factor {processor['rescale_factor']!r} is not supported; expected 1/255 "
                          "(pixel values scaled to [0, 1])")
    if processor.get("do_normalize", True):
        mean, std = processor.get("image_mean"), processor.get("image_std")
        if mean is None or std is None:
            raise SourceError(f"{path}: do_normalize is set but image_mean/image_std are missing")
    else:
        mean, std = [0.0], [1.0]
    return {"type": "image", "version": 1, "height": height, "width": width, "channels": channels,
            "layout": "NCHW", "mean": _floats(path, "image_mean", mean), "std": _floats(path, "image_std", std),
            "resize": "bilinear" if processor.get("do_resize", True) else "none", "antialias": True,
            "value_scale": "source_range", "crop_to_region": True}


def _size_of(path: Path, size: Any) -> tuple[int, int]:
    if isinstance(size, int) and not isinstance(size, bool):
        return size, size
    if isinstance(size, dict):
        if "height" in size and "width" in size:
            return int(size["height"]), int(size["width"])
        if "shortest_edge" in size:
            return int(size["shortest_edge"]), int(size["shortest_edge"])
    raise SourceError(f"{path}: size {size!r} is not supported; expected {{'height': H, 'width': W}}, "
                      "{'shortest_edge': N} or N")


def _floats(path: Path, name: str, values: Any) -> list[float]:
    values = [values] if isinstance(values, (int, float)) else values
    if not isinstance(values, list) or not values or not all(isinstance(v, (int, float)) for v in values):
        raise SourceError(f"{path}: {name} {values!r}; expected a number or a list of numbers")
    return [float(v) for v in values]


def weights_sha256(folder: Path) -> str:
    """One digest over every weight file (name and bytes, sorted by name), so sharded checkpoints hash too."""
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in WEIGHT_SUFFIXES)
    if not files:
        raise SourceError(f"SOURCE {folder}: no weight files (*.safetensors or *.bin)")
    return files_sha256(files, with_names=True)
