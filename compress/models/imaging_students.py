"""Compact CNN students for imaging teachers (the kd step's `student_factory` for ViT and SegFormer teachers).

A transformer teacher on a phone-class CPU pays per operator, not only per multiply: the phantom SegFormer (1.96 M
weights) exports to 1,221 ONNX nodes (reshapes, transposes, layer norms between small MatMuls) and the phantom ViT to
465, so cutting depth or width alone measured under 2x. The CNN students export to 30 and 18 nodes, which ONNX Runtime
fuses (Conv+BN+ReLU) and runs in its blocked NCHWc layout. Distilled from the teacher's per-pixel (or per-frame) logits, it learns the
teacher's decisions, not only the labels.

- `seg_cnn`: four stride-2 stages, then a SegFormer-style all-conv decoder that sums the stride-4/8/16 features
  projected to one width, at the SegFormer output stride (4), then upsampled bilinearly to the input size as the
  SegFormer teacher's wrapper does, so its logits have the teacher's shape (batch, classes, H, W).
- `cls_cnn`: the same encoder with global average pooling and a linear classifier.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn

from hfm_compress.errors import ConfigError

SEG_STUDENT_KWARGS: dict[str, Any] = {"widths": [16, 32, 64, 96], "decoder_width": 32}
CLS_STUDENT_KWARGS: dict[str, Any] = {"widths": [16, 32, 64, 96]}
STUDENT_KWARGS = SEG_STUDENT_KWARGS
PRESETS = {"seg-student": SEG_STUDENT_KWARGS, "cls-student": CLS_STUDENT_KWARGS}
OUTPUT_STRIDE = 4  # SegFormer's logits are at 1/4 of the input size


def _conv(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True))


class ConvEncoder(nn.Module):
    """Four stages of (3x3 stride-2 conv, 3x3 conv), each with batch norm and ReLU: strides 2, 4, 8, 16."""

    def __init__(self, widths: Sequence[int], in_channels: int) -> None:
        super().__init__()
        stages, cin = [], in_channels
        for width in widths:
            stages.append(nn.Sequential(_conv(cin, width, 2), _conv(width, width, 1)))
            cin = width
        self.stages = nn.ModuleList(stages)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = []
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        return features


class SegCnn(nn.Module):
    def __init__(self, widths: Sequence[int], decoder_width: int, classes: int, in_channels: int) -> None:
        super().__init__()
        self.encoder = ConvEncoder(widths, in_channels)
        # Features at strides 4, 8, 16 (stages 2-4), projected to one width and summed at stride 4.
        self.lateral = nn.ModuleList(nn.Conv2d(w, decoder_width, 1) for w in widths[1:])
        self.fuse = _conv(decoder_width, decoder_width, 1)
        self.classifier = nn.Conv2d(decoder_width, classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.encoder(x)[1:]
        fused = self.lateral[0](features[0])
        for level, (lateral, feature) in enumerate(zip(self.lateral[1:], features[1:]), start=1):
            fused = fused + nn.functional.interpolate(lateral(feature), scale_factor=float(2 ** level),
                                                      mode="bilinear", align_corners=False)
        logits = self.classifier(self.fuse(fused))
        return nn.functional.interpolate(logits, scale_factor=float(OUTPUT_STRIDE), mode="bilinear",
                                         align_corners=False)


class ClsCnn(nn.Module):
    def __init__(self, widths: Sequence[int], classes: int, in_channels: int) -> None:
        super().__init__()
        self.encoder = ConvEncoder(widths, in_channels)
        self.classifier = nn.Linear(widths[-1], classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.encoder(x)[-1].mean(dim=(2, 3)))


def seg_cnn(widths: Sequence[int] = tuple(SEG_STUDENT_KWARGS["widths"]),
            decoder_width: int = SEG_STUDENT_KWARGS["decoder_width"], classes: int = 2,
            in_channels: int = 1) -> SegCnn:
    """Segmentation student: logits (batch, classes, H, W) for inputs whose H and W are multiples of 16."""
    _check(widths, classes, in_channels, decoder_width=decoder_width, stages=4)
    return SegCnn(list(widths), decoder_width, classes, in_channels)


def cls_cnn(widths: Sequence[int] = tuple(CLS_STUDENT_KWARGS["widths"]), classes: int = 3,
            in_channels: int = 1) -> ClsCnn:
    """Classification student: logits (batch, classes)."""
    _check(widths, classes, in_channels)
    return ClsCnn(list(widths), classes, in_channels)


def _check(widths: Sequence[int], classes: int, in_channels: int, *, decoder_width: int = 1,
           stages: int | None = None) -> None:
    if not isinstance(widths, (list, tuple)) or not widths or not all(
            isinstance(w, int) and not isinstance(w, bool) and w >= 1 for w in widths):
        raise ConfigError(f"widths = {widths!r}; expected a non-empty list of whole numbers >= 1 (one per stage)")
    if stages is not None and len(widths) != stages:
        raise ConfigError(f"widths = {list(widths)}; expected {stages} stages (strides 2, 4, 8, 16)")
    for name, value, low in (("classes", classes, 2), ("in_channels", in_channels, 1),
                             ("decoder_width", decoder_width, 1)):
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise ConfigError(f"{name} = {value!r}; expected a whole number >= {low}")
