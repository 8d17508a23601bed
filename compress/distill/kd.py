"""Step "kd": task-specific knowledge distillation of a one-tensor model (1-D signal or imaging CNN) into a smaller
student built by a factory.

The student is the teacher's factory (or `student_factory`) called with the teacher's keyword arguments overridden by
`student_kwargs`, so for the ECG family a student is the same CNN with narrower blocks. Its loss is, per example
(or per pixel for segmentation logits (batch, classes, H, W)):
    alpha * T^2 * KL(softmax(teacher / T) || softmax(student / T)) + (1 - alpha) * cross-entropy(student, label)
with the hard term only when the training set has labels (or masks). T^2 keeps the soft term's gradients on the same
scale whatever the temperature (Hinton et al.).

Runs are reproducible and resumable like the text distillation (`distill.py`, whose checkpoint and Ctrl-C helpers
this reuses): the batch order is a function of (seed, epoch), a checkpoint holds the step, optimizer, scheduler and
RNG state, Ctrl-C finishes the current step, writes a checkpoint and raises `DistillInterrupted`, and a resumed run
ends with the same weights as an uninterrupted one.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from hfm_compress.configs import Progress, StepConfig, StepContext, StepReport, check_range, parameter_count, register_config
from hfm_compress.distill.loop import RunState, resume_state, train_steps
from hfm_compress.errors import CompressError, ConfigError
from hfm_compress.sources.arrays import TensorData, TensorSet
from hfm_compress.sources.modules import TensorTeacher, import_factory, is_module_reference

TEACHER_BATCH = 128  # teacher logits are computed once, in batches of this many inputs


@dataclasses.dataclass(frozen=True)
class LogitTraining(StepConfig):
    """The training fields of every step that trains a student against the teacher's logits (kd, and the training
    in prune-channels, prune-heads and distill-vit); a step redeclares a field to give it its own default."""

    # AdamW peak learning rate of a one-cycle schedule: a student trained from scratch takes a high rate early.
    lr: float = 3e-3
    batch_size: int = 64
    # 4 spreads the teacher's confident rhythm calls enough to show which classes it finds close (AF vs PVC runs).
    temperature: float = 4.0
    # Weight of the soft (teacher) term; the hard-label term gets 1 - alpha when labels exist.
    alpha: float = 0.7
    seed: int = 0


@register_config
@dataclasses.dataclass(frozen=True)
class TensorDistillConfig(LogitTraining):
    """How to build the student and train it against the teacher's logits."""

    TYPE = "kd"

    # The student's factory arguments over the teacher's: a JSON object ('{"widths": [8, 16, 32]}'), a preset named
    # in the factory module's PRESETS (e.g. "ecg-student"), or "" for that module's STUDENT_KWARGS.
    student_kwargs: str = ""
    # "package.module:function" building the student; "" uses the teacher's own factory (same family, narrower).
    student_factory: str = ""
    # ECG teacher -> 48k-parameter ecg-student on 2,400 simulated windows: under 1 s per epoch on one core; the loss
    # flattens after ~15 epochs and 30 reach 99.8% held-out agreement (the 71k ecg-student-wide: 100%).
    epochs: int = 30
    checkpoint_every: int = 100  # steps between checkpoints (one is always written at Ctrl-C and at the end)

    def __post_init__(self) -> None:
        check_training_fields("kd", self, ("epochs", 1), ("checkpoint_every", 1))
        if not isinstance(self.student_kwargs, str):
            raise ConfigError(f"kd.student_kwargs = {self.student_kwargs!r} is invalid; expected a JSON object text, "
                              "a preset name or \"\"")
        if self.student_kwargs.lstrip().startswith("{"):
            _parse_kwargs(self.student_kwargs)
        if self.student_factory and not is_module_reference(self.student_factory):
            raise ConfigError(f"kd.student_factory = {self.student_factory!r} is invalid; expected "
                              "\"package.module:function\" or \"\"")


def check_training_fields(step: str, config: Any, *integers: tuple[str, int]) -> None:
    """The training fields every step that trains against the teacher has (lr, batch_size, temperature, alpha,
    seed), plus the step's own integer fields given as (name, lowest value)."""
    for name, low in (*integers, ("batch_size", 1), ("seed", 0)):
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ConfigError(f"{step}.{name} = {value!r} is invalid; expected an integer >= {low}")
    check_range(step, "lr", config.lr, 1e-8, 1.0)
    check_range(step, "temperature", config.temperature, 0.05, 100.0)
    check_range(step, "alpha", config.alpha, 0.0, 1.0)


def training_config(config: Any, epochs: int) -> TensorDistillConfig:
    """The kd training loop's settings for a step's own training fields (recovery after pruning, distill-vit)."""
    return TensorDistillConfig(epochs=max(1, epochs), batch_size=config.batch_size, lr=config.lr,
                               temperature=config.temperature, alpha=config.alpha, seed=config.seed)


@dataclasses.dataclass
class TrainResult:
    loss_by_epoch: list[float]
    steps: int
    resumed_from_step: int | None


def run_step(config: TensorDistillConfig, current: TensorTeacher, teacher: TensorTeacher, data: TensorData,
             ctx: StepContext) -> tuple[TensorTeacher, StepReport]:
    """Build a fresh student from the teacher's factory and train it on data.train against the original teacher's
    logits (`current` is replaced: a student made by kd starts from scratch whatever ran before)."""
    import torch

    factory = config.student_factory or teacher.factory
    if not factory:
        raise CompressError(f"kd: teacher {teacher.name} was not built by a factory; set kd.student_factory to "
                            "\"package.module:function\" (or use a module folder / package.module:factory SOURCE)")
    base = teacher.factory_kwargs if factory == teacher.factory else {}
    kwargs = {**base, **resolve_student_kwargs(config.student_kwargs, factory)}
    torch.manual_seed(config.seed)
    student = _build(factory, kwargs)
    result = train_student(student, teacher.model, data.train, config, Path(ctx.checkpoint_dir) / "kd-checkpoint.pt",
                           resume=ctx.resume, progress=ctx.progress, label="kd",
                           run_extra={"teacher": teacher.sha256, "factory": factory, "kwargs": kwargs})
    details = {
        "factory": factory, "student_kwargs": kwargs,
        "student_parameters": parameter_count(student), "teacher_parameters": parameter_count(teacher.model),
        "loss_first": round(result.loss_by_epoch[0], 6), "loss_last": round(result.loss_by_epoch[-1], 6),
        "loss_by_epoch": [round(x, 6) for x in result.loss_by_epoch], "epochs": config.epochs, "steps": result.steps,
        "resumed_from_step": result.resumed_from_step, "train": data.train.fingerprint(),
        **evaluation_agreement(teacher.model, student, data.evaluation),
    }
    new = dataclasses.replace(current, model=student, factory=factory, factory_kwargs=kwargs,
                              model_type=type(student).__name__)
    return new, StepReport(step=config.TYPE, config=config.to_dict(), details=details)


def resolve_student_kwargs(text: str, factory: str) -> dict[str, Any]:
    """JSON object, a preset of the factory module's PRESETS, or (empty) its STUDENT_KWARGS."""
    if text.lstrip().startswith("{"):
        return _parse_kwargs(text)
    import_factory(factory)  # a clear SourceError when the factory is missing
    namespace = importlib.import_module(factory.partition(":")[0])
    if not text:
        default = getattr(namespace, "STUDENT_KWARGS", None)
        if not isinstance(default, dict):
            raise ConfigError(f"kd.student_kwargs is empty and {namespace.__name__} has no STUDENT_KWARGS; expected "
                              "a JSON object of the student's factory arguments")
        return dict(default)
    presets = getattr(namespace, "PRESETS", {})
    if text not in presets:
        raise ConfigError(f"kd.student_kwargs = {text!r} is not a preset of {namespace.__name__}; expected a JSON "
                          f"object or one of {', '.join(sorted(presets)) or '(none defined)'}")
    return dict(presets[text])


def train_student(student: Any, teacher_model: Any, train: TensorSet | None, config: TensorDistillConfig,
                  checkpoint: Path, *, resume: bool, progress: Progress, label: str,
                  run_extra: dict[str, Any]) -> TrainResult:
    """Train `student` in place against `teacher_model`'s logits on `train`; see the module docstring for the loss.

    `run_extra` goes into the checkpoint's identity with the config and data fingerprint: a checkpoint resumes only
    the run it came from. Shared by kd and the recovery training of channel pruning."""
    import torch

    if train is None or len(train) == 0:
        raise CompressError(f"{label} trains the model: it needs training data (--train DATA, e.g. synth:ecg)")
    inputs = torch.from_numpy(np.ascontiguousarray(train.inputs, dtype=np.float32))
    targets = teacher_logits(teacher_model, inputs)
    hard = _hard_labels(train, targets)
    steps_per_epoch = math.ceil(len(inputs) / config.batch_size)
    total = config.epochs * steps_per_epoch
    optimizer = torch.optim.AdamW(student.parameters(), lr=config.lr, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, total_steps=total, pct_start=0.2)
    run_id = {"config": {**config.to_dict(), **run_extra}, "corpus": train.fingerprint(), "labels": None}
    state, resumed_from = resume_state(checkpoint, run_id, student, optimizer, scheduler, resume)

    def loss_of(epoch: int, position: int) -> Any:
        index = epoch_order(config.seed, epoch, len(inputs))[position * config.batch_size:
                                                              (position + 1) * config.batch_size]
        return kd_loss(student(inputs[index]), targets[index], None if hard is None else hard[index],
                       config.temperature, config.alpha)

    def report(state: RunState) -> None:
        epoch = (state.step - 1) // steps_per_epoch + 1
        progress(f"{label}: epoch {epoch}/{config.epochs} loss {state.last_loss:.4f}", state.step, total)

    student.train()
    try:
        train_steps(student, optimizer, scheduler, state, total=total, steps_per_epoch=steps_per_epoch,
                    loss_of=loss_of, report=report, checkpoint=checkpoint, run_id=run_id,
                    checkpoint_every=config.checkpoint_every, label=label)
    finally:
        student.eval()
    return TrainResult(loss_by_epoch=state.epoch_means(), steps=total, resumed_from_step=resumed_from)


def kd_loss(logits: Any, target: Any, labels: Any, temperature: float, alpha: float) -> Any:
    """Soft-target KL (times T^2) weighted alpha, plus hard cross-entropy weighted 1 - alpha when labels are given.

    Works on (batch, classes) and on per-pixel (batch, classes, ...) logits: classes are always axis 1, and the KL
    is summed over classes and averaged over examples and pixels."""
    import torch.nn.functional as F

    t = temperature
    kl = F.kl_div(F.log_softmax(logits / t, dim=1), F.log_softmax(target / t, dim=1), log_target=True,
                  reduction="none")
    soft = kl.sum(1).mean() * t * t
    if labels is None:
        return soft
    return alpha * soft + (1 - alpha) * F.cross_entropy(logits, labels)


def teacher_logits(model: Any, inputs: Any) -> Any:
    """The frozen teacher's logits for every input, computed once in eval mode."""
    import torch

    model.eval()
    with torch.inference_mode():
        return torch.cat([model(inputs[i:i + TEACHER_BATCH]) for i in range(0, len(inputs), TEACHER_BATCH)]).clone()


def epoch_order(seed: int, epoch: int, count: int) -> Any:
    """The shuffled order of one epoch, a function of (seed, epoch) only, so a resumed run sees the same batches."""
    import torch

    return torch.randperm(count, generator=torch.Generator().manual_seed(seed * 100_003 + epoch + 1))


def evaluation_agreement(teacher_model: Any, student: Any, evaluation: TensorSet | None) -> dict[str, Any]:
    """Top-1 agreement of student and teacher (per pixel for segmentation) and, with labels, the student's accuracy."""
    import torch

    if evaluation is None or len(evaluation) == 0:
        return {}
    inputs = torch.from_numpy(np.ascontiguousarray(evaluation.inputs, dtype=np.float32))
    reference = teacher_logits(teacher_model, inputs).argmax(1)
    predicted = teacher_logits(student, inputs).argmax(1)
    result: dict[str, Any] = {"evaluation_agreement": round(float((reference == predicted).float().mean()), 6),
                              "evaluation_count": len(evaluation)}
    labels = evaluation.masks if reference.ndim > 1 else evaluation.labels
    if labels is not None:
        result["evaluation_accuracy"] = round(float((predicted == torch.from_numpy(labels)).float().mean()), 6)
    return result


def _hard_labels(train: TensorSet, targets: Any) -> Any:
    """Labels (classification) or masks (per-pixel logits), as a tensor; None when the set has none."""
    import torch

    labels = train.masks if targets.ndim > 2 else train.labels
    if labels is None:
        return None
    labels = torch.from_numpy(np.asarray(labels, dtype=np.int64))
    if tuple(labels.shape) != (targets.shape[0], *targets.shape[2:]):
        raise CompressError(f"training labels have shape {tuple(labels.shape)} but the teacher's logits are "
                            f"{tuple(targets.shape)}; expected one label per input (per pixel for segmentation)")
    classes = targets.shape[1]
    if int(labels.min()) < 0 or int(labels.max()) >= classes:
        raise CompressError(f"training labels range {int(labels.min())}..{int(labels.max())}; expected 0..{classes - 1}"
                            " (the teacher's classes)")
    return labels


def _build(factory: str, kwargs: dict[str, Any]) -> Any:
    import torch

    try:
        model = import_factory(factory)(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"kd: {factory}({kwargs}) failed: {exc}") from None
    if not isinstance(model, torch.nn.Module):
        raise CompressError(f"kd: {factory} returned {type(model).__name__}; expected a torch.nn.Module")
    return model


def _parse_kwargs(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"kd.student_kwargs = {text!r} is not valid JSON ({exc.msg}); expected an object such as "
                          "'{\"widths\": [8, 16, 32]}'") from None
    if not isinstance(value, dict):
        raise ConfigError(f"kd.student_kwargs = {text!r} is a {type(value).__name__}; expected a JSON object")
    return value

