"""Step "prune-channels": structured channel pruning of block CNNs (`signal_models.ConvNet`, 1-D or 2-D), then a
short distillation from the original teacher to recover.

Each block's output channels are ranked by their mean |activation| after BatchNorm + ReLU on the calibration set: a
channel that stays near zero on real inputs contributes little to the next block, whatever its weight norm (a large
kernel followed by a BatchNorm that silences it ranks low here, as it should). The model is rebuilt by its factory
with the smaller `widths`, and the kept slices are copied: each conv's output channels and its BatchNorm, the next
conv's input channels, the head's input features. The result is a smaller dense model, so the exported ONNX has
really smaller Conv weights (no masks, no sparse kernels needed on the device).
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import numpy as np

from hfm_compress.configs import StepContext, StepReport, check_range, parameter_count, register_config
from hfm_compress.errors import CompressError
from hfm_compress.sources.arrays import TensorData, TensorSet
from hfm_compress.distill.kd import (LogitTraining, TensorDistillConfig, check_training_fields,
                                    evaluation_agreement, train_student, training_config)
from hfm_compress.sources.modules import TensorTeacher, import_factory

CALIBRATION_BATCH = 64


@register_config
@dataclasses.dataclass(frozen=True)
class ChannelPruneConfig(LogitTraining):
    """Which fraction of each block's channels to keep, and how long to recover."""

    TYPE = "prune-channels"

    # Fraction of each block's output channels kept. 0.5 quarters the inner convs' weights (in and out halve).
    keep_ratio: float = 0.5
    # Kept counts are rounded to a multiple of this (at least this many): INT8 conv kernels work in groups of 4-16
    # channels, so 29 channels costs what 32 do.
    round_to: int = 4
    # Recovery: distillation from the original teacher, as the kd step trains (0 skips it).
    recover_epochs: int = 10
    # Lower than kd's: the pruned model starts close to a good solution and only has to re-balance.
    lr: float = 1e-3

    def __post_init__(self) -> None:
        check_range("prune-channels", "keep_ratio", self.keep_ratio, 0.01, 1.0)
        check_training_fields("prune-channels", self, ("round_to", 1), ("recover_epochs", 0))

    def recovery(self) -> TensorDistillConfig:
        return training_config(self, self.recover_epochs)


def run_step(config: ChannelPruneConfig, current: TensorTeacher, teacher: TensorTeacher, data: TensorData,
             ctx: StepContext) -> tuple[TensorTeacher, StepReport]:
    """Prune `current` by calibration-set activations, rebuild it narrower, recover against the original teacher
    (after kd, `current` is the student and the teacher is still the better target)."""
    if not current.factory or "widths" not in current.factory_kwargs:
        raise CompressError(f"prune-channels: {current.name} was not built by a factory taking `widths` (such as "
                            "hfm_compress.signal_models:ecg_cnn); expected a module folder or package.module:factory")
    model = current.model
    blocks = conv_blocks(model)
    importance = channel_importance(model, data.calibration)
    widths = [len(scores) for scores in importance]
    keep = [top_channels(scores, kept_count(len(scores), config.keep_ratio, config.round_to)) for scores in importance]
    kwargs = {**current.factory_kwargs, "widths": [len(k) for k in keep]}
    pruned = import_factory(current.factory)(**kwargs)
    copy_kept(model, pruned, keep)
    before_recovery = evaluation_agreement(teacher.model, pruned, data.evaluation)

    details: dict[str, Any] = {
        "importance": "mean |activation| after BatchNorm+ReLU on the calibration set",
        "widths_before": widths, "widths_after": kwargs["widths"],
        "removed_per_block": [w - len(k) for w, k in zip(widths, keep)],
        "parameters_before": parameter_count(model), "parameters_after": parameter_count(pruned),
        "blocks": len(blocks), "agreement_before_recovery": before_recovery.get("evaluation_agreement"),
    }
    if config.recover_epochs > 0:
        result = train_student(pruned, teacher.model, data.train, config.recovery(),
                               Path(ctx.checkpoint_dir) / "prune-channels-checkpoint.pt", resume=ctx.resume,
                               progress=ctx.progress, label="prune-channels recovery",
                               run_extra={"teacher": teacher.sha256, "kept": [k.tolist() for k in keep]})
        details.update(recover_loss_by_epoch=[round(x, 6) for x in result.loss_by_epoch],
                       resumed_from_step=result.resumed_from_step)
    details.update(evaluation_agreement(teacher.model, pruned, data.evaluation))
    new = dataclasses.replace(current, model=pruned.eval(), factory_kwargs=kwargs)
    return new, StepReport(step=config.TYPE, config=config.to_dict(), details=details)


def conv_blocks(model: Any) -> list[tuple[Any, Any]]:
    """(conv, batch norm) of each block, checking the layout that slicing relies on."""
    import torch.nn as nn

    blocks, head = getattr(model, "blocks", None), getattr(model, "head", None)
    if not isinstance(blocks, nn.ModuleList) or not isinstance(head, nn.Linear):
        raise CompressError(f"prune-channels: {type(model).__name__} has no `blocks` (ModuleList) and `head` (Linear);"
                            " expected the block CNN of hfm_compress.models.ecg_cnn")
    found = []
    for number, block in enumerate(blocks):
        convs = [m for m in block.modules() if isinstance(m, (nn.Conv1d, nn.Conv2d))]
        norms = [m for m in block.modules() if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d))]
        if len(convs) != 1 or len(norms) != 1 or convs[0].groups != 1:
            raise CompressError(f"prune-channels: block {number} has {len(convs)} convolutions and {len(norms)} batch "
                                "norms; expected exactly one ungrouped Conv followed by one BatchNorm")
        found.append((convs[0], norms[0]))
    return found


def channel_importance(model: Any, calibration: TensorSet) -> list[np.ndarray]:
    """Mean |output| of each block (after its ReLU) per channel, over the calibration inputs and positions."""
    import torch

    if calibration is None or len(calibration) == 0:
        raise CompressError("prune-channels ranks channels on calibration data; got none (--calib DATA)")
    sums: list[torch.Tensor | None] = [None] * len(model.blocks)
    count = 0

    def recorder(number: int) -> Any:
        def hook(module: Any, inputs: Any, output: Any) -> None:
            reduce = [0, *range(2, output.ndim)]
            total = output.abs().sum(dim=reduce) / math.prod(output.shape[2:])
            sums[number] = total if sums[number] is None else sums[number] + total
        return hook

    handles = [block.register_forward_hook(recorder(i)) for i, block in enumerate(model.blocks)]
    model.eval()
    try:
        with torch.inference_mode():
            inputs = np.ascontiguousarray(calibration.inputs, dtype=np.float32)
            for start in range(0, len(inputs), CALIBRATION_BATCH):
                batch = torch.from_numpy(inputs[start:start + CALIBRATION_BATCH])
                model(batch)
                count += len(batch)
    finally:
        for handle in handles:
            handle.remove()
    return [(total / count).numpy() for total in sums]


def kept_count(width: int, keep_ratio: float, round_to: int) -> int:
    """keep_ratio * width rounded to a multiple of round_to, at least round_to, at most width."""
    if width <= round_to:
        return width
    return min(width, max(round_to, int(round(keep_ratio * width / round_to)) * round_to))


def top_channels(scores: np.ndarray, count: int) -> np.ndarray:
    """Indices of the `count` highest scores, in their original order (ties: the lower index wins)."""
    order = np.argsort(-scores, kind="stable")[:count]
    return np.sort(order)


def copy_kept(source: Any, target: Any, keep: list[np.ndarray]) -> None:
    """Copy the kept slices of `source`'s weights into the narrower `target` (same layout, smaller widths)."""
    import torch

    previous = None
    with torch.no_grad():
        for (conv, norm), (new_conv, new_norm), kept in zip(conv_blocks(source), conv_blocks(target), keep):
            index = torch.from_numpy(kept)
            weight = conv.weight[index]
            new_conv.weight.copy_(weight if previous is None else weight[:, previous])
            if conv.bias is not None:
                new_conv.bias.copy_(conv.bias[index])
            for name in ("weight", "bias", "running_mean", "running_var"):
                getattr(new_norm, name).copy_(getattr(norm, name)[index])
            new_norm.num_batches_tracked.copy_(norm.num_batches_tracked)
            previous = index
        target.head.weight.copy_(source.head.weight[:, previous])
        target.head.bias.copy_(source.head.bias)
