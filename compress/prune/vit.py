"""Step "prune-heads": structured pruning of a Hugging Face ViT/DeiT classifier, then distillation to recover.

Attention heads and FFN neurons are ranked by their Fisher importance on the calibration images (Kwon et al. 2022,
"A Fast Post-Training Pruning Framework for Transformers"): each unit gets a mask variable m = 1 where its output
enters the next matrix, and the score is the sum over images of (d loss / d m)^2, with the cross-entropy of the
model against its own prediction as the loss (no labels needed). Per-image gradients come from one backward pass,
because every image gets its own row of mask variables.

The kept units are sliced out physically (transformers' `prune_heads` for the Q/K/V rows and the output columns,
`prune_linear_layer` for the FFN), so the exported ONNX graph has smaller MatMuls. Every layer keeps the same number
of heads and neurons, as in the text pruning step (`prune.py`): one `intermediate_size` in the config, and ONNX
Runtime's attention fusion assumes one head count. Whole layers can be dropped first (`layers`).

Recovery is the kd step's training loop (`tensor_distill.train_student`) against the ORIGINAL teacher's logits, so
a prune after a distillation still learns from the best model available.
"""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from hfm_compress.configs import StepContext, StepReport, parameter_count, register_config
from hfm_compress.errors import CompressError
from hfm_compress.prune.encoder import Encoder, check_keep, check_layers, resolve_keep
from hfm_compress.sources.arrays import TensorData, TensorSet
from hfm_compress.distill.kd import (LogitTraining, TensorDistillConfig, check_training_fields,
                                    evaluation_agreement, train_student, training_config)
from hfm_compress.sources.modules import TensorTeacher

SCORE_BATCH = 32  # calibration images per backward pass when scoring


@register_config
@dataclasses.dataclass(frozen=True)
class HeadPruneConfig(LogitTraining):
    """How many heads (and FFN neurons, layers) each ViT layer keeps, and how long to recover."""

    TYPE = "prune-heads"

    # Heads per layer to keep: a count (int) or a fraction (float). 0.5 halves attention's Q/K/V/output matrices
    # (a third of a ViT layer's weights). Phantom ViT (6 heads -> 3): agreement with the teacher 88.3% after the cut,
    # 98.0% after 2 recovery epochs on 3,000 phantoms (85 s on 2 CPU cores).
    heads_keep: int | float = 0.5
    # FFN neurons per layer to keep (count or fraction); the FFN holds two thirds of a layer's weights.
    ffn_keep: int | float = 1.0
    # Encoder layers to keep, in order, before heads are ranked; None keeps all.
    layers: tuple[int, ...] | None = None
    # Recovery epochs of distillation from the original teacher on data.train (0 skips it).
    recover_epochs: int = 3
    # Low: the pruned model starts near a good solution; a high rate would undo what the kept heads know.
    lr: float = 2e-4
    temperature: float = 2.0

    def __post_init__(self) -> None:
        check_vit_shape_fields(self.TYPE, self.heads_keep, self.ffn_keep, self.layers)
        check_training_fields(self.TYPE, self, ("recover_epochs", 0))

    def recovery(self) -> TensorDistillConfig:
        return training_config(self, self.recover_epochs)


def check_vit_shape_fields(step: str, heads_keep: Any, ffn_keep: Any, layers: Any) -> None:
    check_keep(step, "heads_keep", heads_keep)
    check_keep(step, "ffn_keep", ffn_keep)
    check_layers(step, layers)


def run_step(config: HeadPruneConfig, current: TensorTeacher, teacher: TensorTeacher, data: TensorData,
             ctx: StepContext) -> tuple[TensorTeacher, StepReport]:
    """Prune a copy of `current` (the teacher stays intact: it is the recovery target), then recover."""
    student = copy.deepcopy(current.model).eval()
    details = shrink_vit(student, data.calibration, config.heads_keep, config.ffn_keep, config.layers)
    details["agreement_before_recovery"] = evaluation_agreement(teacher.model, student, data.evaluation).get(
        "evaluation_agreement")
    if config.recover_epochs > 0:
        result = train_student(student, teacher.model, data.train, config.recovery(),
                               Path(ctx.checkpoint_dir) / "prune-heads-checkpoint.pt", resume=ctx.resume,
                               progress=ctx.progress, label="prune-heads recovery",
                               run_extra={"teacher": teacher.sha256, "shape": details["after"]})
        details.update(recover_loss_by_epoch=[round(x, 6) for x in result.loss_by_epoch],
                       resumed_from_step=result.resumed_from_step)
    details.update(evaluation_agreement(teacher.model, student, data.evaluation))
    new = dataclasses.replace(current, model=student.eval(), model_type=current.model_type)
    return new, StepReport(step=config.TYPE, config=config.to_dict(), details=details)


# ---- model structure ----------------------------------------------------------------------------------------------

def vit_of(model: Any) -> Any:
    """The HF ViT/DeiT model inside a teacher wrapper, checked for the layout that slicing relies on."""
    inner = getattr(model, "hf", model)
    layers = getattr(getattr(getattr(inner, "base_model", None), "encoder", None), "layer", None)
    if layers is None or not hasattr(layers[0].attention, "prune_heads") or not hasattr(layers[0], "intermediate"):
        raise CompressError(f"{type(inner).__name__} is not a ViT-family model (encoder.layer with prunable "
                            "attention); prune-heads and distill-vit's heads/layers work on ViT and DeiT")
    return inner


def vit_layers(hf: Any) -> Any:
    return Encoder(hf, "attention").layers


def head_counts(hf: Any) -> list[int]:
    return Encoder(hf, "attention").head_counts()


def ffn_sizes(hf: Any) -> list[int]:
    return Encoder(hf, "attention").ffn_sizes()


def shape_facts(model: Any) -> dict[str, Any]:
    hf = vit_of(model)
    return {"layers": len(vit_layers(hf)), "heads_per_layer": head_counts(hf), "ffn_per_layer": ffn_sizes(hf),
            "parameters": parameter_count(hf)}


def keep_vit_layers(hf: Any, keep: tuple[int, ...]) -> None:
    Encoder(hf, "attention").keep_layers(keep)


def shrink_vit(model: Any, calibration: TensorSet | None, heads_keep: int | float, ffn_keep: int | float,
               layers: tuple[int, ...] | None) -> dict[str, Any]:
    """Drop layers, then slice every layer to its best heads and FFN neurons, in place; returns before/after facts."""
    hf = vit_of(model)
    details: dict[str, Any] = {"before": shape_facts(model)}
    if layers is not None:
        keep_vit_layers(hf, layers)
    heads = resolve_keep(heads_keep, min(head_counts(hf)), "heads per layer")
    neurons = resolve_keep(ffn_keep, min(ffn_sizes(hf)), "FFN neurons per layer")
    if heads < max(head_counts(hf)) or neurons < max(ffn_sizes(hf)):
        head_scores, neuron_scores = fisher_importance(model, calibration)
        details["importance"] = "Fisher (squared per-image mask gradients) on the calibration set"
        details["removed_heads"] = {str(k): v for k, v in Encoder(hf, "attention").prune_heads_to(head_scores, heads).items()}
        Encoder(hf, "attention").prune_ffn_to(neuron_scores, neurons)
    details["after"] = shape_facts(model)
    details["parameter_ratio"] = round(details["after"]["parameters"] / details["before"]["parameters"], 4)
    return details


# ---- importance ---------------------------------------------------------------------------------------------------

def fisher_importance(model: Any, calibration: TensorSet | None) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per layer: Fisher scores of every head and every FFN neuron (see the module docstring)."""
    import torch
    import torch.nn.functional as F

    if calibration is None or len(calibration) == 0:
        raise CompressError("prune-heads ranks heads and neurons on calibration images; got none (--calib DATA)")
    hf = vit_of(model)
    layers = vit_layers(hf)
    heads = [np.zeros(n) for n in head_counts(hf)]
    neurons = [np.zeros(n) for n in ffn_sizes(hf)]
    masks: list[tuple[torch.Tensor, np.ndarray]] = []

    def gate(scores: np.ndarray) -> Any:
        def hook(module: Any, inputs: tuple[Any, ...]) -> tuple[Any, ...]:
            hidden = inputs[0]  # (batch, tokens, units * width)
            mask = torch.ones(hidden.shape[0], len(scores), requires_grad=True)
            masks.append((mask, scores))
            scale = mask.repeat_interleave(hidden.shape[-1] // len(scores), dim=1)
            return (hidden * scale[:, None, :], *inputs[1:])
        return hook

    handles = []
    for layer, head_scores, neuron_scores in zip(layers, heads, neurons):
        handles.append(layer.attention.output.dense.register_forward_pre_hook(gate(head_scores)))
        handles.append(layer.output.dense.register_forward_pre_hook(gate(neuron_scores)))
    parameters = [p for p in model.parameters() if p.requires_grad]
    for parameter in parameters:  # only the masks need gradients: half the backward's work
        parameter.requires_grad_(False)
    model.eval()
    try:
        inputs = torch.from_numpy(np.ascontiguousarray(calibration.inputs, dtype=np.float32))
        for start in range(0, len(inputs), SCORE_BATCH):
            masks.clear()
            logits = model(inputs[start:start + SCORE_BATCH])
            F.cross_entropy(logits, logits.argmax(1).detach(), reduction="sum").backward()
            for mask, scores in masks:
                scores += (mask.grad ** 2).sum(0).numpy()
    finally:
        for handle in handles:
            handle.remove()
        for parameter in parameters:
            parameter.requires_grad_(True)
    return heads, neurons
