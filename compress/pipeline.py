"""Run a recipe on a text teacher: torch steps, export, ONNX steps, pack, then evaluate the packed artifact.

Evaluation goes through `hfm_runtime` with the profile's session settings, exactly as the device runs it.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from hfm_compress import evaluate
from hfm_compress.configs import StepConfig, StepReport
from hfm_compress.errors import CompressError
from hfm_compress.reference import feed_batches, teacher_outputs, text_preprocessor
from hfm_compress.sources import TextTeacher
from hfm_runtime.artifact import read_artifact, write_artifact
from hfm_runtime.fingerprint import text_fingerprint
from hfm_runtime.pack import pack_artifact
from hfm_runtime.profiles import DeviceProfile

Progress = Callable[[str, int, int], None]
TOOLCHAIN_VERSION = "0.1.0"
CALIBRATION_BATCH = 8
# Golden pairs are stored in the artifact in clear text, so they are fixed sentences, never the user's data.
GOLDEN_TEXTS = (
    "Patient reports crushing chest pain radiating to the left arm.",
    "No acute cardiopulmonary abnormality.",
    "Metformin 500 mg by mouth twice daily with meals.",
    "Fever, productive cough and right lower lobe crackles for three days.",
)


@dataclasses.dataclass
class TextData:
    calibration: list[str]
    evaluation: list[str]
    calibration_source: str
    evaluation_source: str
    # Unlabeled in-domain texts for the torch steps (distill trains on them, vocab keeps their word pieces).
    corpus: list[str] = dataclasses.field(default_factory=list)
    corpus_source: str = ""


@dataclasses.dataclass
class CompressResult:
    path: Path
    manifest: dict[str, Any]
    reports: list[StepReport]

    @property
    def evaluation(self) -> dict[str, Any]:
        return self.manifest["evaluation"]


def checkpoint_folder(out_path: Path) -> Path:
    """Where distillation checkpoints for `out_path` go: `model.distill-checkpoints/` beside `model.hfm`."""
    return Path(out_path).with_suffix(".distill-checkpoints")


def compress_text_model(
    teacher: TextTeacher,
    recipe: Sequence[StepConfig],
    profile: DeviceProfile,
    out_path: Path,
    data: TextData,
    progress: Progress = lambda label, done, total: None,
    recipe_name: str = "custom",
    *,
    recipe_reasons: Sequence[str] = (),
    checkpoint_dir: Path | None = None,
    resume: bool = False,
) -> CompressResult:
    """Run `recipe`: torch steps (distill, prune, vocab) on a copy of the teacher, export, ONNX steps, pack, evaluate.

    `recipe_reasons` (from the `auto` recipe) go into the manifest. Distillation checkpoints are written to
    `checkpoint_dir` (default: `checkpoint_folder(out_path)`); `resume` continues from them.
    """
    from hfm_compress.torch_steps import uses_corpus

    torch_steps, onnx_steps = _split(recipe, teacher, recipe_name)
    recipe = torch_steps + onnx_steps  # what actually runs (an ONNX source skips 'export')
    with tempfile.TemporaryDirectory(prefix="hfm-compress-") as work:
        workdir = Path(work)
        student, reports = teacher, []
        if torch_steps:
            student, reports = _run_torch_steps(teacher, torch_steps, data, checkpoint_dir or checkpoint_folder(out_path),
                                                resume, progress, len(recipe))
        # Quantization steps are judged against the fp32 model they quantize: the teacher, or the student after torch
        # steps (a distilled student cannot reach the INT8 targets against the teacher, and chasing them would only
        # keep nodes out of INT8). The artifact's evaluation below is always against the teacher.
        reference_calib = teacher_outputs(student, data.calibration)
        runner = _OnnxStepRunner(student, profile, data, reference_calib, workdir, progress)
        model_path, onnx_reports = runner.run(onnx_steps, first=len(torch_steps), total=len(recipe))
        reports = reports + onnx_reports
        # With torch steps, the fp32 ONNX of the recipe is the student's; the teacher row needs the teacher's own.
        reference_onnx = runner.teacher_reference(teacher, onnx_steps) if torch_steps else runner.fp32_onnx_path
        manifest = _manifest(teacher, recipe, reports, profile, data, recipe_name, model_path)
        manifest["recipe_reasons"] = list(recipe_reasons)
        if uses_corpus(torch_steps):
            manifest["corpus"] = {**text_fingerprint(data.corpus), "source": data.corpus_source}
        draft = pack_artifact(
            workdir / "draft.hfm",
            model_bytes=model_path.read_bytes(),
            manifest=manifest,
            members={"tokenizer.json": runner.tokenizer_json.encode("utf-8")},
            golden_inputs=GOLDEN_TEXTS,
            profile=profile,
        )
        evaluation = evaluate.evaluate_text_artifact(
            draft, teacher, profile, data.evaluation, reference_onnx, progress
        )
        evaluation["texts"] = {**text_fingerprint(data.evaluation), "source": data.evaluation_source}
        packed = read_artifact(draft)
        final_manifest = {k: v for k, v in packed.manifest.items() if k not in ("format", "format_version", "members")}
        final_manifest["evaluation"] = evaluation
        write_artifact(out_path, final_manifest, packed.members)
    return CompressResult(path=out_path, manifest=dict(read_artifact(out_path).manifest), reports=reports)


def _split(recipe: Sequence[StepConfig], teacher: TextTeacher,
           recipe_name: str) -> tuple[list[StepConfig], list[StepConfig]]:
    """Check the step order and split the recipe into torch steps and ONNX steps (export first)."""
    from hfm_compress.torch_steps import TORCH_STEP_TYPES, split_recipe

    torch_steps, onnx_steps = split_recipe(recipe, recipe_name)
    if teacher.onnx_path is not None:
        if torch_steps:
            raise CompressError(f"recipe {recipe_name}: SOURCE {teacher.name} is an ONNX file, but the steps "
                                f"{', '.join(TORCH_STEP_TYPES)} need the torch model (a Hugging Face folder or "
                                "'default')")
        return [], [step for step in onnx_steps if step.TYPE != "export"]  # the source is already an ONNX export
    if not onnx_steps or onnx_steps[0].TYPE != "export":
        after = "after its torch steps" if torch_steps else "first"
        raise CompressError(f"recipe {recipe_name} needs an 'export' step {after} for a torch source "
                            "(ONNX steps such as optimize and quantization run on the exported model)")
    return torch_steps, onnx_steps


def _run_torch_steps(teacher: TextTeacher, steps: Sequence[StepConfig], data: TextData, checkpoint_dir: Path,
                     resume: bool, progress: Progress, total: int) -> tuple[TextTeacher, list[StepReport]]:
    """The student as a TextTeacher (same I/O, the new model and tokenizer) and the steps' reports."""
    from hfm_compress.torch_steps import TorchStepRunner

    runner = TorchStepRunner(teacher, data.corpus, data.calibration, checkpoint_dir, resume, progress)
    result = runner.run(steps, total)
    return dataclasses.replace(teacher, model=result.model, tokenizer_json=result.tokenizer_json), result.reports


def chain_onnx_steps(steps: Sequence[StepConfig], first: int, total: int, workdir: Path, progress: Progress,
                     run_step: Callable[[StepConfig, Path | None, Path], StepReport],
                     start: Path | None = None) -> tuple[Path | None, Path | None, list[StepReport]]:
    """Run `steps` one after another through files `step{n}-{type}.onnx` in `workdir`, each timed and shown as
    step n of `total`. Returns the last model, the last fp32 model (export/optimize output, else `start`) and the
    reports."""
    current, fp32, reports = start, start, []
    for number, step in enumerate(steps, start=first):
        progress(f"step {number + 1}/{total}: {step.TYPE}", number, total)
        started = time.perf_counter()
        out = workdir / f"step{number}-{step.TYPE}.onnx"
        report = run_step(step, current, out)
        report.seconds = time.perf_counter() - started
        reports.append(report)
        current = out
        if step.TYPE in ("export", "optimize"):
            fp32 = out
    return current, fp32, reports


class _OnnxStepRunner:
    """Chains the recipe's steps through files in a work folder; each step's report goes into the manifest."""

    def __init__(self, teacher: TextTeacher, profile: DeviceProfile, data: TextData, reference_calib: np.ndarray,
                 workdir: Path, progress: Progress) -> None:
        self.teacher = teacher
        self.profile = profile
        self.data = data
        self.reference_calib = reference_calib
        self.workdir = workdir
        self.progress = progress
        self.tokenizer_json = teacher.tokenizer_json
        self.fp32_onnx_path: Path | None = teacher.onnx_path

    def run(self, recipe: Sequence[StepConfig], first: int = 0, total: int | None = None) -> tuple[Path, list[StepReport]]:
        """Run the ONNX steps; `first` and `total` number them within the whole recipe for progress."""
        total = total or len(recipe)
        current, self.fp32_onnx_path, reports = chain_onnx_steps(recipe, first, total, self.workdir, self.progress,
                                                                 self._run_step, self.teacher.onnx_path)
        self.progress("steps", total, total)
        if current is None:
            raise CompressError("the recipe produced no ONNX model; it needs at least an 'export' step")
        return current, reports

    def _run_step(self, step: StepConfig, current: Path | None, out: Path) -> StepReport:
        if step.TYPE == "export":
            return self._export(step, out)
        if current is None:
            raise CompressError(f"step {step.TYPE} needs an ONNX model; put an 'export' step first")
        if step.TYPE == "optimize":
            from hfm_compress.optimize import optimize_onnx

            return optimize_onnx(current, out, step, self._check_feeds())
        from hfm_compress.quantize import quantize

        return quantize(current, out, step, self._quantize_context())

    def _export(self, step: StepConfig, out: Path, source: TextTeacher | None = None) -> StepReport:
        """Export `source` (default: the model this runner compresses) with its own tokenizer."""
        import torch

        from hfm_compress.export import export_onnx

        source = source or self.teacher
        preprocessor = text_preprocessor(source, source.tokenizer_json)
        as_torch = lambda feeds: {k: torch.from_numpy(v) for k, v in feeds.items()}  # noqa: E731
        example = as_torch(preprocessor.encode(self.data.calibration[:2]))
        checks = [as_torch(f) for f in (preprocessor.encode(self.data.calibration[2:5]), preprocessor.encode([self.data.calibration[5]]))]
        dynamic = {name: {0: "batch", 1: "sequence"} for name in source.input_names}
        dynamic[source.output_name] = {0: "batch"} if source.task == "classification" else {0: "batch", 1: "sequence"}
        return export_onnx(export_module(source), example, [source.output_name], dynamic, out, step, checks)

    def _check_feeds(self, tokenizer_json: str | None = None) -> list[dict[str, np.ndarray]]:
        preprocessor = text_preprocessor(self.teacher, tokenizer_json or self.tokenizer_json)
        return [preprocessor.encode(self.data.calibration[:4]), preprocessor.encode([self.data.calibration[4]])]

    def teacher_reference(self, teacher: TextTeacher, recipe: Sequence[StepConfig]) -> Path:
        """The teacher's own fp32 ONNX (the recipe's export and optimize configs), for the teacher rows of the
        evaluation when torch steps changed the model that was exported."""
        from hfm_compress.export import ExportConfig
        from hfm_compress.optimize import optimize_onnx

        self.progress("teacher fp32 reference: export", 0, 2)
        export = next((step for step in recipe if step.TYPE == "export"), ExportConfig())
        path = self.workdir / "teacher-fp32.onnx"
        self._export(export, path, teacher)
        optimize = next((step for step in recipe if step.TYPE == "optimize"), None)
        if optimize is not None:
            optimized = self.workdir / "teacher-fp32-optimized.onnx"
            optimize_onnx(path, optimized, optimize, self._check_feeds(teacher.tokenizer_json))
            path = optimized
        self.progress("teacher fp32 reference", 2, 2)
        return path

    def _quantize_context(self) -> Any:
        from hfm_compress.quantize.context import QuantizeContext

        preprocessor = text_preprocessor(self.teacher, self.tokenizer_json)
        batches = feed_batches(preprocessor, self.data.calibration, CALIBRATION_BATCH)
        scorer = evaluate.OnnxScorer(batches, self.reference_calib, self.teacher.task, self.teacher.output_name, self.profile)
        return QuantizeContext(
            cpu_class=self.profile.cpu_class,
            calibration_feeds=lambda: iter(batches),
            fidelity=scorer.score,
            progress=self.progress,
        )


def export_module(teacher: TextTeacher) -> Any:
    """Wrap the HF model so the exported graph takes keyword inputs and has exactly one named output."""
    import torch

    class OutputOnly(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = teacher.model

        def forward(self, input_ids, attention_mask, token_type_ids=None):  # type: ignore[no-untyped-def]
            kwargs = {"input_ids": input_ids, "attention_mask": attention_mask}
            if token_type_ids is not None:
                kwargs["token_type_ids"] = token_type_ids
            result = self.model(**kwargs)
            return result.logits if teacher.task == "classification" else result.last_hidden_state

    return OutputOnly().eval()


def _precision(recipe: Sequence[StepConfig]) -> str:
    types = {step.TYPE for step in recipe}
    if "int4-weight-only" in types:
        return "int4"
    if types & {"dynamic-int8", "static-int8", "selective-int8"}:
        return "int8"
    return "fp32"


def _manifest(teacher: TextTeacher, recipe: Sequence[StepConfig], reports: Sequence[StepReport], profile: DeviceProfile,
              data: TextData, recipe_name: str, model_path: Path) -> dict[str, Any]:
    import onnx

    graph = onnx.load(str(model_path), load_external_data=False)
    parameters = int(sum(np.prod(t.dims) for t in graph.graph.initializer))
    output_shape: list[Any] = ["batch", len(teacher.labels or [])] if teacher.task == "classification" else ["batch", "sequence", "hidden"]
    postprocessing: dict[str, Any] = (
        {"type": "softmax", "labels": teacher.labels} if teacher.task == "classification" else {"type": "mean-pool-l2"}
    )
    return {
        "name": Path(str(teacher.name)).name or str(teacher.name),
        "task": teacher.task,
        "model": {"precision": _precision(recipe), "opset": max(o.version for o in graph.opset_import if o.domain in ("", "ai.onnx")),
                  "parameters": parameters},
        "inputs": [{"name": n, "dtype": "int64", "shape": ["batch", "sequence"]} for n in teacher.input_names],
        "outputs": [{"name": teacher.output_name, "dtype": "float32", "shape": output_shape}],
        "preprocessing": {"type": "text", "tokenizer": "tokenizer.json", "max_length": teacher.max_length,
                          "pad_token": teacher.pad_token, "max_chars": 100_000},
        "postprocessing": postprocessing,
        "source": teacher.describe(),
        "recipe_name": recipe_name,
        "recipe": [step.to_dict() for step in recipe],
        "steps": [report.to_dict() for report in reports],
        "calibration": {**text_fingerprint(data.calibration), "source": data.calibration_source},
        "toolchain": {"name": "hfm-compress", "version": TOOLCHAIN_VERSION},
    }
