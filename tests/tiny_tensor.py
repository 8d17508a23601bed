"""Tiny random-weight imaging and signal models for pipeline and runtime tests (seconds; nothing downloaded)."""

from __future__ import annotations

from typing import Any

ECG_LABELS = ["normal_sinus", "atrial_fibrillation", "sinus_bradycardia", "sinus_tachycardia", "pvc", "noise"]
ECG_SPEC = {"type": "signal", "fs": 100.0, "window_seconds": 4.0, "bandpass": [0.5, 30.0], "normalisation": "zscore"}
IMAGE_SPEC = {"type": "image", "height": 32, "width": 32, "channels": 1, "mean": [0.5], "std": [0.25]}


def tiny_signal_cnn() -> Any:
    """A 1-D CNN over 4 s windows at 100 Hz, 6 rhythm classes."""
    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv1d(1, 8, 7, stride=2, padding=3), torch.nn.BatchNorm1d(8), torch.nn.ReLU(),
        torch.nn.Conv1d(8, 16, 5, stride=2, padding=2), torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool1d(1), torch.nn.Flatten(), torch.nn.Linear(16, len(ECG_LABELS)),
    )
    model.hfm_spec = {"task": "signal-classification", "labels": ECG_LABELS, "preprocessing": ECG_SPEC}
    return model.eval()


def tiny_image_cnn() -> Any:
    """A 2-D CNN over 32x32 grey frames, 3 classes."""
    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 8, 3, stride=2, padding=1), torch.nn.ReLU(),
        torch.nn.Conv2d(8, 16, 3, stride=2, padding=1), torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(16, 3),
    )
    model.hfm_spec = {"task": "image-classification", "labels": ["no_lesion", "cyst", "solid_lesion"],
                      "preprocessing": IMAGE_SPEC}
    return model.eval()


def tiny_segmenter() -> Any:
    """A fully convolutional 2-class segmenter at the input's size."""
    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(8, 2, 3, padding=1),
    )
    model.hfm_spec = {"task": "segmentation", "labels": ["background", "lesion"], "preprocessing": IMAGE_SPEC}
    return model.eval()
