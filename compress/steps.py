"""The one registry of step types, keyed by config type and filled explicitly in `step_types()`.

A step has a stage that says where it runs in the one pipeline (`run.py`):
- `torch`: changes the torch model before export; `run(config, job)` with a `TorchJob` (modality/__init__.py);
- `export`: torch model -> ONNX file; `run(config, job, None, out)` with an `OnnxJob`;
- `onnx`: ONNX file -> ONNX file (optimize, quantization); `run(config, job, current, out)`;
- `final`: adds members to the artifact (ORT format); `run(config, model, workdir)` -> (report, members, model
  entries), after the ONNX steps.
`modalities` names the modalities (text, image, signal) a step applies to; the runner refuses the others by name.
Nothing registers itself on import: a new step type is one line in `step_types()`.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from hfm_compress.configs import StepConfig, StepReport
from hfm_compress.errors import ConfigError

if TYPE_CHECKING:
    from hfm_compress.modality import OnnxJob

TEXT = ("text",)
TENSOR = ("image", "signal")
ALL = TEXT + TENSOR
STAGES = ("torch", "export", "onnx", "final")


@dataclasses.dataclass(frozen=True)
class StepType:
    config: type[StepConfig]
    stage: str
    run: Callable[..., Any]
    modalities: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.config.TYPE


@functools.lru_cache(maxsize=1)
def step_types() -> dict[type[StepConfig], StepType]:
    """Every step type this toolchain knows. Importing the config modules is cheap: torch is imported only inside
    the handlers."""
    from hfm_compress import export, optimize, ort_format, quantize, vocab
    from hfm_compress.distill import bert as distill
    from hfm_compress.distill import kd as tensor_distill
    from hfm_compress.distill import vit as vit_distill
    from hfm_compress.prune import bert as prune
    from hfm_compress.prune import channels as channel_prune
    from hfm_compress.prune import vit as vit_prune
    from hfm_compress.modality import tensor, text

    entries = [
        StepType(distill.DistillConfig, "torch", text.distill_step, TEXT),
        StepType(prune.StructuredPruneConfig, "torch", text.prune_step, TEXT),
        StepType(prune.MagnitudePruneConfig, "torch", text.magnitude_prune_step, TEXT),
        StepType(vocab.VocabPruneConfig, "torch", text.vocab_step, TEXT),
        StepType(tensor_distill.TensorDistillConfig, "torch", tensor.tensor_step(tensor_distill.run_step), TENSOR),
        StepType(channel_prune.ChannelPruneConfig, "torch", tensor.tensor_step(channel_prune.run_step), TENSOR),
        StepType(vit_prune.HeadPruneConfig, "torch", tensor.tensor_step(vit_prune.run_step), TENSOR),
        StepType(vit_distill.VitDistillConfig, "torch", tensor.tensor_step(vit_distill.run_step), TENSOR),
        StepType(export.ExportConfig, "export", export_step, ALL),
        StepType(optimize.OptimizeConfig, "onnx", optimize_step, ALL),
        StepType(quantize.DynamicInt8Config, "onnx", quantize_step, ALL),
        StepType(quantize.StaticInt8Config, "onnx", quantize_step, ALL),
        StepType(quantize.SelectiveInt8Config, "onnx", quantize_step, TEXT),
        StepType(quantize.Int4WeightOnlyConfig, "onnx", quantize_step, TEXT),
        StepType(ort_format.OrtFormatConfig, "final", ort_format.add_ort_format, TENSOR),
    ]
    return {entry.config: entry for entry in entries}


def config_types() -> dict[str, type[StepConfig]]:
    """Step type tag (as in recipe files and manifests) -> config class."""
    return {config.TYPE: config for config in step_types()}


def step_type(config: StepConfig) -> StepType:
    entry = step_types().get(type(config))
    if entry is None:
        raise ConfigError(f"step {config.TYPE!r} is not a registered step type; expected one of "
                          f"{', '.join(sorted(config_types()))}")
    return entry


def step_names(stage: str, modality: str | None = None) -> list[str]:
    """The type tags of one stage, in registry order (optionally only those `modality` allows)."""
    return [entry.name for entry in step_types().values()
            if entry.stage == stage and (modality is None or modality in entry.modalities)]


def export_step(step: StepConfig, job: OnnxJob, current: Path | None, out: Path) -> StepReport:
    return job.modality.export(job.model, step, out)


def optimize_step(step: StepConfig, job: OnnxJob, current: Path, out: Path) -> StepReport:
    from hfm_compress.optimize import optimize_onnx

    return optimize_onnx(current, out, step, job.modality.check_feeds(job.model))


def quantize_step(step: StepConfig, job: OnnxJob, current: Path, out: Path) -> StepReport:
    from hfm_compress.quantize import quantize

    return quantize(current, out, step, job.modality.quantize_context(job.model, job.profile, job.progress))
