"""Step "distill-vit": a shallower student cut from the teacher's own transformer layers, then distilled.

- ViT/DeiT: the student keeps the teacher's embeddings, head and the encoder layers listed in `layers` (optionally
  also fewer heads and FFN neurons per layer, ranked as in the prune-heads step). Starting from teacher layers
  instead of random weights is what lets a few epochs on a small image set reach the teacher's agreement
  (DistilBERT's and TinyViT's initialisation).
- SegFormer (Mix Transformer): `segformer_depths` keeps the first N blocks of each of the four stages; patch
  embeddings, stage norms and the all-MLP decoder are kept, so the student is the same network with shallower stages.

The student trains with the kd step's loop (`tensor_distill.train_student`): soft targets of the ORIGINAL teacher
(per pixel for segmentation) plus the hard labels or masks of data.train, resumable from checkpoints.
"""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Any

from hfm_compress.configs import StepContext, StepReport, parameter_count, register_config
from hfm_compress.errors import CompressError, ConfigError
from hfm_compress.sources.arrays import TensorData
from hfm_compress.distill.kd import (LogitTraining, TensorDistillConfig, check_training_fields,
                                    evaluation_agreement, train_student, training_config)
from hfm_compress.sources.modules import TensorTeacher
from hfm_compress.prune.vit import check_vit_shape_fields, shrink_vit


@register_config
@dataclasses.dataclass(frozen=True)
class VitDistillConfig(LogitTraining):
    """Which teacher layers the student starts from, and how long it trains."""

    TYPE = "distill-vit"

    # ViT: teacher encoder layers the student keeps, in order. Every other layer of a 6-layer teacher halves the
    # encoder's cost; spreading them keeps early (local texture) and late (class evidence) features.
    layers: tuple[int, ...] | None = (0, 2, 4)
    # ViT: heads / FFN neurons per kept layer (count or fraction), cut by Fisher importance as in prune-heads.
    heads_keep: int | float = 1.0
    ffn_keep: int | float = 1.0
    # SegFormer: blocks kept per stage (the first N of each); None keeps the teacher's depths.
    segformer_depths: tuple[int, ...] | None = None
    # A student missing half its layers must relearn how the rest connect: more epochs and a higher rate than the
    # prune-heads recovery. Phantom ViT, layers (0, 2, 4): agreement 69.3% before training, 94.3% after 3 epochs
    # on 1,200 phantoms, 97.7% after 12 epochs on 3,000 (164 s on 2 CPU cores).
    epochs: int = 10
    lr: float = 5e-4
    temperature: float = 2.0

    def __post_init__(self) -> None:
        check_vit_shape_fields(self.TYPE, self.heads_keep, self.ffn_keep, self.layers)
        check_training_fields(self.TYPE, self, ("epochs", 1))
        depths = self.segformer_depths
        if depths is not None and (not isinstance(depths, tuple) or not depths or not all(
                isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in depths)):
            raise ConfigError(f"distill-vit.segformer_depths = {depths!r} is invalid; expected None or a tuple of "
                              "block counts >= 1, one per stage")

    def training(self) -> TensorDistillConfig:
        return training_config(self, self.epochs)


def run_step(config: VitDistillConfig, current: TensorTeacher, teacher: TensorTeacher, data: TensorData,
             ctx: StepContext) -> tuple[TensorTeacher, StepReport]:
    """Cut the student from a copy of `current`, then train it against the original teacher's logits."""
    student = copy.deepcopy(current.model).eval()
    model_type = getattr(getattr(getattr(student, "hf", None), "config", None), "model_type", None)
    if model_type == "segformer":
        if config.segformer_depths is None:
            raise ConfigError("distill-vit on a SegFormer needs segformer_depths (blocks kept per stage, e.g. [1, 1, 1,"
                              " 1]); layers/heads_keep/ffn_keep apply to ViT")
        details = shallower_segformer(student.hf, config.segformer_depths)
    else:
        details = shrink_vit(student, data.calibration, config.heads_keep, config.ffn_keep, config.layers)
    details["agreement_before_training"] = evaluation_agreement(teacher.model, student, data.evaluation).get(
        "evaluation_agreement")
    result = train_student(student, teacher.model, data.train, config.training(),
                           Path(ctx.checkpoint_dir) / "distill-vit-checkpoint.pt", resume=ctx.resume,
                           progress=ctx.progress, label="distill-vit",
                           run_extra={"teacher": teacher.sha256, "shape": details["after"]})
    details.update(loss_by_epoch=[round(x, 6) for x in result.loss_by_epoch], steps=result.steps,
                   resumed_from_step=result.resumed_from_step, train=data.train.fingerprint(),
                   teacher_parameters=parameter_count(teacher.model), student_parameters=parameter_count(student),
                   **evaluation_agreement(teacher.model, student, data.evaluation))
    new = dataclasses.replace(current, model=student.eval())
    return new, StepReport(step=config.TYPE, config=config.to_dict(), details=details)


def shallower_segformer(hf: Any, depths: tuple[int, ...]) -> dict[str, Any]:
    """Keep the first `depths[i]` blocks of stage i, in place; returns before/after facts."""
    import torch

    encoder = getattr(getattr(hf, "segformer", None), "encoder", None)
    if encoder is None or not hasattr(encoder, "block"):
        raise CompressError(f"{type(hf).__name__} is not a SegFormer (no segformer.encoder.block)")
    before = list(hf.config.depths)
    if len(depths) != len(before) or any(d > b for d, b in zip(depths, before)):
        raise ConfigError(f"distill-vit.segformer_depths = {list(depths)} does not fit the teacher's depths {before};"
                          f" expected {len(before)} counts, each at most the teacher's")
    facts = {"before": {"depths": before, "parameters": parameter_count(hf)}}
    encoder.block = torch.nn.ModuleList([torch.nn.ModuleList(list(stage)[:d]) for stage, d in zip(encoder.block,
                                                                                                   depths)])
    hf.config.depths = list(depths)
    facts["after"] = {"depths": list(depths), "parameters": parameter_count(hf)}
    facts["parameter_ratio"] = round(facts["after"]["parameters"] / facts["before"]["parameters"], 4)
    return facts
