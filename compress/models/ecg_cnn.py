"""1-D CNNs for single-lead ECG rhythm classification: one factory for teacher, student and pruned models.

A model is a stack of blocks (Conv -> BatchNorm -> ReLU, each halving the time axis), a global average pool and a
linear head. Its architecture is nothing but the list of per-block widths, so a distilled student or a channel-pruned
model is the same factory called with smaller widths, and a module folder (`save_module_folder`) rebuilds it from
`factory` + `kwargs` alone. Every op exports to plain ONNX (Conv, Relu, GlobalAveragePool, Flatten, Gemm; ORT folds
BatchNorm into the Conv) and each has an INT8 kernel in ONNX Runtime, so static INT8 leaves no float islands.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn

from hfm_compress.errors import ConfigError
from hfm_compress.synth.ecg import ECG_CLASSES

FACTORY = "hfm_compress.signal_models:ecg_cnn"

# Teacher: ~0.84M parameters (3.4 MB fp32), wide where the time axis is already short so it stays cheap to train
# (~11 s per pass over 2,400 windows on one core). Seven stride-2 blocks see ~3 s (several beats), enough for RR
# irregularity; benchmarks/train_ecg_teacher.py reaches 100% held-out accuracy in 16 passes.
TEACHER_KWARGS: dict[str, Any] = {"widths": [16, 32, 64, 96, 128, 256, 256], "kernel": 7, "classes": len(ECG_CLASSES)}
# Student: ~48k parameters (~60 KB INT8: far under the wearable 256 KB budget, ~55x smaller than the fp32 teacher).
# Five stride-4 blocks (kernel 9) still see ~8 s of the window, for 0.6M MACs against the teacher's 39M: fewer and
# cheaper layers matter more than weights for latency, since per-op overhead dominates a model this small. Distilled on
# the simulated set (kd defaults): 99.8% held-out agreement with the teacher, AF sensitivity 100%.
STUDENT_KWARGS: dict[str, Any] = {"widths": [8, 16, 32, 48, 64], "kernel": 9, "stride": 4, "classes": len(ECG_CLASSES)}
# The teacher's depth and stride at ~1/4 width: ~71k parameters, 100% agreement, but ~2.5x the student's latency
# (and 4x with the ARM-targeted ORT file on x86 hosts).
WIDE_STUDENT_KWARGS: dict[str, Any] = {"widths": [8, 16, 24, 32, 48, 64, 64], "kernel": 7,
                                       "classes": len(ECG_CLASSES)}
PRESETS = {"ecg-teacher": TEACHER_KWARGS, "ecg-student": STUDENT_KWARGS, "ecg-student-wide": WIDE_STUDENT_KWARGS}


def ecg_preprocessing() -> dict[str, Any]:
    """The SignalSpec these models are trained with: 250 Hz, 10 s windows, 0.5-40 Hz band-pass, z-score.

    0.5 Hz removes baseline wander without bending ST segments; 40 Hz keeps QRS shape and drops mains and EMG."""
    from hfm_runtime.preprocess.signal import SignalSpec

    return SignalSpec(fs=250, window_seconds=10.0, bandpass=(0.5, 40.0), normalisation="zscore").to_dict()


class ConvNet(nn.Module):
    """Blocks of Conv -> BatchNorm -> ReLU, global average pool, linear head; 1-D (dims=1) or 2-D (dims=2).

    `blocks[i]` is `nn.Sequential(conv, norm, relu)` and `head` the final Linear: channel pruning relies on this
    layout to slice each block's output channels, the next block's input channels and the head's input features."""

    def __init__(self, widths: Sequence[int], kernel: int = 7, classes: int = len(ECG_CLASSES), in_channels: int = 1,
                 stride: int = 2, dims: int = 1, dropout: float = 0.0) -> None:
        super().__init__()
        _check_arguments(widths, kernel, classes, in_channels, stride, dims, dropout)
        conv, norm, pool = ((nn.Conv1d, nn.BatchNorm1d, nn.AdaptiveAvgPool1d) if dims == 1
                            else (nn.Conv2d, nn.BatchNorm2d, nn.AdaptiveAvgPool2d))
        self.widths = [int(w) for w in widths]
        blocks, previous = [], in_channels
        for width in self.widths:
            # No conv bias: BatchNorm's shift does its job, and the pair folds into one biased Conv at export.
            blocks.append(nn.Sequential(conv(previous, width, kernel, stride=stride, padding=kernel // 2, bias=False),
                                        norm(width), nn.ReLU()))
            previous = width
        self.blocks = nn.ModuleList(blocks)
        self.pool = pool(1)  # exports as GlobalAveragePool, which ORT quantizes (ReduceMean it would not)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(previous, classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(torch.flatten(self.pool(self.features(x)), 1)))


def ecg_cnn(widths: Sequence[int] = tuple(TEACHER_KWARGS["widths"]), kernel: int = 7, classes: int = len(ECG_CLASSES),
            in_channels: int = 1, stride: int = 2, dropout: float = 0.0) -> ConvNet:
    """The ECG family's factory (`hfm_compress.models.ecg_cnn:ecg_cnn`): input (batch, leads, samples) -> logits."""
    model = ConvNet(widths, kernel, classes, in_channels, stride, dims=1, dropout=dropout)
    # What `hfm-compress compress hfm_compress.models.ecg_cnn:ecg_cnn` reads when no --input-spec is given.
    labels = list(ECG_CLASSES) if classes == len(ECG_CLASSES) else [f"class_{i}" for i in range(classes)]
    model.hfm_spec = {"task": "signal-classification", "labels": labels, "preprocessing": ecg_preprocessing()}
    if labels == list(ECG_CLASSES):  # a missed atrial fibrillation is a missed stroke risk: the gates guard it closer
        model.hfm_spec["critical_classes"] = ["atrial_fibrillation"]
    return model


def conv_net_2d(widths: Sequence[int], kernel: int = 3, classes: int = 2, in_channels: int = 1, stride: int = 2,
                dropout: float = 0.0) -> ConvNet:
    """The same block structure over images: what channel pruning and KD also serve for small imaging CNNs."""
    return ConvNet(widths, kernel, classes, in_channels, stride, dims=2, dropout=dropout)


def _check_arguments(widths: Sequence[int], kernel: int, classes: int, in_channels: int, stride: int, dims: int,
                     dropout: float) -> None:
    if not isinstance(widths, (list, tuple)) or not widths or not all(
            isinstance(w, int) and not isinstance(w, bool) and w >= 1 for w in widths):
        raise ConfigError(f"widths = {widths!r}; expected a non-empty list of whole numbers >= 1 (one per block)")
    for name, value in (("kernel", kernel), ("classes", classes), ("in_channels", in_channels), ("stride", stride)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(f"{name} = {value!r}; expected a whole number >= 1")
    if kernel % 2 == 0:
        raise ConfigError(f"kernel = {kernel}; expected an odd size (centred 'same' padding)")
    if classes < 2:
        raise ConfigError(f"classes = {classes}; expected at least 2")
    if dims not in (1, 2):
        raise ConfigError(f"dims = {dims!r}; expected 1 or 2")
    if not 0.0 <= dropout < 1.0:
        raise ConfigError(f"dropout = {dropout!r}; expected a number from 0 to below 1")
