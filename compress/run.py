"""The one pipeline: run any recipe on any modality. Torch steps, then export, then ONNX steps, then final steps
(ORT format), pack, then evaluate the packed artifact through `hfm_runtime` under the profile, as the device runs it.

What differs between text, image and signal models comes from the modality adapter (`modality/`); which step runs
how comes from the step registry (`steps.py`).
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from hfm_compress.configs import Progress, StepConfig, StepReport, no_progress
from hfm_compress.errors import CompressError, ConfigError
from hfm_compress.gates import Gates, check_gates, refuse
from hfm_compress.modality import Modality, OnnxJob, TorchJob, modality_for
from hfm_compress.safety import DEFAULT_FALSE_FLAG_RATE, attach_safety
from hfm_compress.steps import step_names, step_type
from hfm_runtime.artifact import read_artifact, write_artifact
from hfm_runtime.pack import pack_artifact
from hfm_runtime.profiles import DeviceProfile

TOOLCHAIN_VERSION = "0.1.0"
MODALITY_NAMES = {"text": "text models", "image": "imaging/signal models", "signal": "imaging/signal models"}


@dataclasses.dataclass
class CompressResult:
    """What `compress` made: the artifact, its manifest (with the evaluation) and what each step did."""

    path: Path
    manifest: dict[str, Any]
    reports: list[StepReport]
    signature: dict[str, Any] | None = None  # the trust record when `compress(..., sign=KEY)` signed it

    @property
    def evaluation(self) -> dict[str, Any]:
        return self.manifest["evaluation"]


@dataclasses.dataclass
class StagedRecipe:
    torch: list[StepConfig]
    onnx: list[StepConfig]  # export first (unless the source is already ONNX), then ONNX -> ONNX steps
    final: list[StepConfig]

    @property
    def steps(self) -> list[StepConfig]:
        return self.torch + self.onnx + self.final


def checkpoint_folder(out_path: Path) -> Path:
    """Where distillation checkpoints for `out_path` go: `model.distill-checkpoints/` beside `model.hfm`."""
    return Path(out_path).with_suffix(".distill-checkpoints")


def compress_model(teacher: Any, recipe: Sequence[StepConfig], profile: DeviceProfile, out_path: Path, data: Any,
                   progress: Progress = no_progress, recipe_name: str = "custom", *,
                   recipe_reasons: Sequence[str] = (), checkpoint_dir: Path | None = None,
                   resume: bool = False, gates: Gates | None = None,
                   false_flag_rate: float = DEFAULT_FALSE_FLAG_RATE) -> CompressResult:
    """Run `recipe` on a loaded teacher (text, image or signal) and its data; write the artifact to `out_path`.

    `recipe_reasons` (from the `auto` recipe) go into the manifest. Distillation checkpoints are written to
    `checkpoint_dir` (default: `checkpoint_folder(out_path)`); `resume` continues from them.
    `gates` (`hfm_compress.gates.gates_for`, which `hfm_compress.compress` always passes) are checked on the
    evaluation; on a failure `GateError` is raised and nothing is written to `out_path` (a file already there stays
    as it was). None checks none: for tests and scripts that build with toy recipes on random-weight models.
    `false_flag_rate`: the share of held-out in-distribution inputs the safety flags may raise (`hfm_compress.safety`).
    """
    modality = modality_for(teacher, data)
    staged = stage_recipe(recipe, modality, teacher, recipe_name)
    total = len(staged.steps)
    with tempfile.TemporaryDirectory(prefix="hfm-compress-") as work:
        workdir = Path(work)
        student, reports = teacher, []
        if staged.torch:
            job = TorchJob(teacher, teacher, data, checkpoint_dir or checkpoint_folder(out_path), resume, progress)
            reports = run_torch_steps(staged.torch, job, 0, total)
            student = job.current
        onnx_job = OnnxJob(modality, student, profile, progress)
        model_path, fp32_path, onnx_reports = chain_onnx_steps(staged.onnx, onnx_job, len(staged.torch), total,
                                                               workdir, modality.onnx_source(teacher))
        progress("steps", total, total)
        if model_path is None:
            raise CompressError("the recipe produced no ONNX model; it needs at least an 'export' step")
        reports += onnx_reports
        members = modality.members(student)
        model_entry: dict[str, Any] = {}
        for step in staged.final:
            report, extra, entries = step_type(step).run(step, model_path, workdir)
            reports.append(report)
            members.update(extra)
            model_entry.update(entries)
        # With torch steps, the fp32 ONNX of the recipe is the student's; the teacher rows need the teacher's own.
        reference = modality.teacher_reference(teacher, staged.onnx, workdir, progress) if staged.torch else fp32_path
        manifest = build_manifest(modality, teacher, student, staged, reports, recipe_name, model_path, model_entry)
        manifest["recipe_reasons"] = list(recipe_reasons)
        draft = pack_artifact(workdir / "draft.hfm", model_bytes=model_path.read_bytes(), manifest=manifest,
                              members=members, golden_inputs=modality.golden_inputs(teacher), profile=profile)
        evaluation = modality.evaluate(draft, teacher, profile, reference, progress)
        if gates is not None:
            report = check_gates(evaluation, gates)
            evaluation["gates"] = report.to_dict()
            if not report.passed:
                raise refuse(report, out_path)
        safety = attach_safety(draft, teacher, data, profile, evaluation, progress, false_flag_rate)
        packed = read_artifact(draft)
        final = {k: v for k, v in packed.manifest.items() if k not in ("format", "format_version", "members")}
        final["evaluation"] = evaluation
        members_out = dict(packed.members)
        if safety is not None:
            final["safety"] = safety.manifest
            members_out[safety.manifest["member"]] = safety.member
        write_artifact(out_path, final, members_out)
    return CompressResult(path=out_path, manifest=dict(read_artifact(out_path).manifest), reports=reports)


def stage_recipe(recipe: Sequence[StepConfig], modality: Modality, teacher: Any, recipe_name: str) -> StagedRecipe:
    """Check the steps against the registry and the modality, and split them by stage, in the order they run:
    torch steps before `export`, `vocab` after every `distill`, final steps last."""
    staged = StagedRecipe([], [], [])
    vocab_at: int | None = None
    for number, step in enumerate(recipe, start=1):
        entry = step_type(step)
        if modality.name not in entry.modalities:
            allowed = [n for stage in ("torch", "export", "onnx", "final") for n in step_names(stage, modality.name)]
            raise CompressError(f"recipe {recipe_name}: step(s) {step.TYPE} do not apply to "
                                f"{MODALITY_NAMES[modality.name]}; expected {', '.join(allowed)}")
        if entry.stage == "torch":
            if staged.onnx or staged.final:
                raise ConfigError(f"recipe {recipe_name}: step {number} {step.TYPE!r} comes after "
                                  f"{(staged.onnx + staged.final)[0].TYPE!r}; "
                                  f"{', '.join(step_names('torch', modality.name))} change the torch model, so they "
                                  "must all come before 'export'")
            if step.TYPE == "vocab" and vocab_at is None:
                vocab_at = number
            if step.TYPE == "distill" and vocab_at is not None:
                raise ConfigError(
                    f"recipe {recipe_name}: 'vocab' (step {vocab_at}) comes before 'distill' (step {number}); "
                    "distillation feeds teacher and student the same token ids, so the vocabulary can only be cut "
                    "after it: put 'vocab' after 'distill'")
            staged.torch.append(step)
        elif entry.stage == "final":
            staged.final.append(step)
        elif staged.final:
            raise CompressError(f"recipe {recipe_name}: {staged.final[0].TYPE!r} converts the final model; put it last")
        else:
            staged.onnx.append(step)
    onnx_source = modality.onnx_source(teacher) is not None
    if not onnx_source and (not staged.onnx or staged.onnx[0].TYPE != "export"):
        after = "after its torch steps" if staged.torch else "first"
        raise CompressError(f"recipe {recipe_name} needs an 'export' step {after} for a torch source "
                            "(ONNX steps such as optimize and quantization run on the exported model)")
    staged.onnx = modality.check_recipe(teacher, staged.torch, staged.onnx, recipe_name)
    return staged


def run_torch_steps(steps: Sequence[StepConfig], job: TorchJob, first: int, total: int) -> list[StepReport]:
    """Run the torch steps in order on `job.current`; each report records the exact config and what it changed."""
    reports = []
    for number, step in enumerate(steps, start=first):
        job.progress(f"step {number + 1}/{total}: {step.TYPE}", number, total)
        started = time.perf_counter()
        job.index = number
        report = step_type(step).run(step, job)  # type: ignore[misc]
        report.seconds = time.perf_counter() - started
        reports.append(report)
    return reports


def chain_onnx_steps(steps: Sequence[StepConfig], job: OnnxJob, first: int, total: int, workdir: Path,
                     start: Path | None = None) -> tuple[Path | None, Path | None, list[StepReport]]:
    """Run `steps` one after another through files `step{n}-{type}.onnx` in `workdir`, each timed and shown as
    step n of `total`. Returns the last model, the last fp32 model (export/optimize output, else `start`) and the
    reports."""
    current, fp32, reports = start, start, []
    for number, step in enumerate(steps, start=first):
        job.progress(f"step {number + 1}/{total}: {step.TYPE}", number, total)
        entry = step_type(step)
        if entry.stage != "export" and current is None:
            raise CompressError(f"step {step.TYPE} needs an ONNX model; put an 'export' step first")
        started = time.perf_counter()
        out = workdir / f"step{number}-{step.TYPE}.onnx"
        report = entry.run(step, job, current, out)  # type: ignore[misc]
        report.seconds = time.perf_counter() - started
        reports.append(report)
        current = out
        if step.TYPE in ("export", "optimize"):
            fp32 = out
    return current, fp32, reports


def precision(recipe: Sequence[StepConfig]) -> str:
    types = {step.TYPE for step in recipe}
    if "int4-weight-only" in types:
        return "int4"
    if types & {"dynamic-int8", "static-int8", "selective-int8"}:
        return "int8"
    return "fp32"


def build_manifest(modality: Modality, teacher: Any, student: Any, staged: StagedRecipe,
                   reports: Sequence[StepReport], recipe_name: str, model_path: Path,
                   model_entry: dict[str, Any]) -> dict[str, Any]:
    """The manifest's fields before packing (the packer adds format, members and hashes)."""
    import onnx

    graph = onnx.load(str(model_path), load_external_data=False)
    parameters = int(sum(np.prod(t.dims) for t in graph.graph.initializer))
    opset = max(o.version for o in graph.opset_import if o.domain in ("", "ai.onnx"))
    data_fields = modality.data_fields(staged.torch)
    return {
        "name": Path(str(teacher.name)).name or str(teacher.name),
        "task": teacher.task,
        "model": {"precision": precision(staged.steps), "opset": opset, "parameters": parameters, **model_entry},
        **modality.manifest_fields(teacher, student),
        "source": teacher.describe(),
        "recipe_name": recipe_name,
        "recipe": [step.to_dict() for step in staged.steps],
        "steps": [report.to_dict() for report in reports],
        "calibration": data_fields.pop("calibration"),
        "toolchain": {"name": "hfm-compress", "version": TOOLCHAIN_VERSION},
        **data_fields,
    }

