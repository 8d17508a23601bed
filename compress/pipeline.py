"""Run a recipe on a text teacher: torch steps, export, ONNX steps, pack, then evaluate the packed artifact.

Evaluation goes through `hfm_runtime` with the profile's session settings, exactly as the device runs it.
"""

from __future__ import annotations

import dataclasses
import hashlib
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


@dataclasses.dataclass
class CompressResult:
    path: Path
    manifest: dict[str, Any]
    reports: list[StepReport]

    @property
    def evaluation(self) -> dict[str, Any]:
        return self.manifest["evaluation"]


def fingerprint(texts: Sequence[str]) -> dict[str, Any]:
    """Count and sha256 of a text set: enough to tell data sets apart, never the data."""
    digest = hashlib.sha256("\n".join(texts).encode("utf-8")).hexdigest()
    return {"count": len(texts), "sha256": digest}


def compress_text_model(
    teacher: TextTeacher,
    recipe: Sequence[StepConfig],
    profile: DeviceProfile,
    out_path: Path,
    data: TextData,
    progress: Progress = lambda label, done, total: None,
    recipe_name: str = "custom",
) -> CompressResult:
    if teacher.onnx_path is not None:
        recipe = [step for step in recipe if step.TYPE != "export"]  # the source is already an ONNX export
    elif not recipe or recipe[0].TYPE != "export":
        raise CompressError(f"recipe {recipe_name} must start with an 'export' step for a torch source")
    reference_calib = teacher_outputs(teacher, data.calibration)
    with tempfile.TemporaryDirectory(prefix="hfm-compress-") as work:
        workdir = Path(work)
        runner = _OnnxStepRunner(teacher, profile, data, reference_calib, workdir, progress)
        model_path, reports = runner.run(recipe)
        manifest = _manifest(teacher, recipe, reports, profile, data, recipe_name, model_path)
        draft = pack_artifact(
            workdir / "draft.hfm",
            model_bytes=model_path.read_bytes(),
            manifest=manifest,
            members={"tokenizer.json": runner.tokenizer_json.encode("utf-8")},
            golden_texts=GOLDEN_TEXTS,
            profile=profile,
        )
        evaluation = evaluate.evaluate_text_artifact(
            draft, teacher, profile, data.evaluation, runner.fp32_onnx_path, progress
        )
        evaluation["texts"] = {**fingerprint(data.evaluation), "source": data.evaluation_source}
        packed = read_artifact(draft)
        final_manifest = {k: v for k, v in packed.manifest.items() if k not in ("format", "format_version", "members")}
        final_manifest["evaluation"] = evaluation
        write_artifact(out_path, final_manifest, packed.members)
    return CompressResult(path=out_path, manifest=dict(read_artifact(out_path).manifest), reports=reports)


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

    def run(self, recipe: Sequence[StepConfig]) -> tuple[Path, list[StepReport]]:
        current: Path | None = self.teacher.onnx_path
        reports: list[StepReport] = []
        for index, step in enumerate(recipe):
            self.progress(f"step {index + 1}/{len(recipe)}: {step.TYPE}", index, len(recipe))
            started = time.perf_counter()
            out = self.workdir / f"step{index}-{step.TYPE}.onnx"
            report = self._run_step(step, current, out)
            report.seconds = time.perf_counter() - started
            reports.append(report)
            current = out
            if step.TYPE in ("export", "optimize"):
                self.fp32_onnx_path = out
        self.progress("steps", len(recipe), len(recipe))
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

    def _export(self, step: StepConfig, out: Path) -> StepReport:
        import torch

        from hfm_compress.export import export_onnx

        preprocessor = text_preprocessor(self.teacher, self.tokenizer_json)
        as_torch = lambda feeds: {k: torch.from_numpy(v) for k, v in feeds.items()}  # noqa: E731
        example = as_torch(preprocessor.encode(self.data.calibration[:2]))
        checks = [as_torch(f) for f in (preprocessor.encode(self.data.calibration[2:5]), preprocessor.encode([self.data.calibration[5]]))]
        dynamic = {name: {0: "batch", 1: "sequence"} for name in self.teacher.input_names}
        dynamic[self.teacher.output_name] = {0: "batch"} if self.teacher.task == "classification" else {0: "batch", 1: "sequence"}
        return export_onnx(export_module(self.teacher), example, [self.teacher.output_name], dynamic, out, step, checks)

    def _check_feeds(self) -> list[dict[str, np.ndarray]]:
        preprocessor = text_preprocessor(self.teacher, self.tokenizer_json)
        return [preprocessor.encode(self.data.calibration[:4]), preprocessor.encode([self.data.calibration[4]])]

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
        "calibration": {**fingerprint(data.calibration), "source": data.calibration_source},
        "toolchain": {"name": "hfm-compress", "version": TOOLCHAIN_VERSION},
    }
