"""Torch steps for imaging and signal models, run before export: distillation and structured pruning.

Each step type lives in its own module, which registers its config (`@register_config`) and defines
`run_step(config, current, teacher, data, ctx) -> (student, report)`:
- `current`: the model as the previous step left it (the teacher for the first step);
- `teacher`: the original teacher, for distillation targets and recovery training;
- the returned student is a `TensorTeacher` with the same task, labels and preprocessing and a new `model`.
"""

from __future__ import annotations

import dataclasses
import importlib
from pathlib import Path
from typing import Any, Callable, Sequence

from hfm_compress.configs import StepConfig, StepReport
from hfm_compress.errors import CompressError
from hfm_compress.tensor_data import TensorData
from hfm_compress.tensor_sources import TensorTeacher

Progress = Callable[[str, int, int], None]
# Step type -> module holding its config and `run_step`.
STEP_MODULES = {
    "kd": "hfm_compress.tensor_distill",
    "prune-channels": "hfm_compress.channel_prune",
    "prune-heads": "hfm_compress.vit_prune",
    "distill-vit": "hfm_compress.vit_distill",
}


@dataclasses.dataclass
class StepContext:
    checkpoint_dir: Path  # where long steps keep checkpoints (resume continues from them)
    resume: bool
    progress: Progress


def register_all() -> None:
    """Import every step module so its config is known to `config_from_dict` (recipe files, manifests)."""
    for module in STEP_MODULES.values():
        importlib.import_module(module)


def is_tensor_torch_step(step: StepConfig) -> bool:
    return step.TYPE in STEP_MODULES


def run_tensor_steps(steps: Sequence[StepConfig], teacher: TensorTeacher, data: TensorData, ctx: StepContext,
                     first: int, total: int) -> tuple[TensorTeacher, list[StepReport]]:
    """Run the torch steps in order; each report records the exact config and what the step changed."""
    import time

    if steps and data.train is None:
        raise CompressError(f"steps {', '.join(s.TYPE for s in steps)} train the model: they need training data "
                            "(--train DATA, e.g. synth:ecg or a .npz file)")
    current, reports = teacher, []
    for number, step in enumerate(steps, start=first):
        ctx.progress(f"step {number + 1}/{total}: {step.TYPE}", number, total)
        started = time.perf_counter()
        module = importlib.import_module(STEP_MODULES[step.TYPE])
        # Each step keeps its checkpoints in its own folder, so two steps of one type cannot resume each other's.
        step_ctx = dataclasses.replace(ctx, checkpoint_dir=ctx.checkpoint_dir / f"step{number}-{step.TYPE}")
        current, report = module.run_step(step, current, teacher, data, step_ctx)
        report.seconds = time.perf_counter() - started
        reports.append(report)
    return current, reports


def parameter_count(model: Any) -> int:
    return int(sum(p.numel() for p in model.parameters()))
