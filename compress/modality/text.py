"""The text modality: BERT-family encoders (Hugging Face folders, the packaged MiniLM, or ONNX files) and texts.

Its torch steps (distill, prune, magnitude-prune, vocab) run on a copy of the teacher; the vocab step also renumbers
the tokenizer, and every later step, the export, calibration, golden pairs and the packed artifact use the new one.
"""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from hfm_compress.configs import Progress, StepConfig, StepReport, no_progress
from hfm_compress.errors import CompressError
from hfm_compress.modality import Modality, TorchJob
from hfm_compress.sources.reference import feed_batches, forward, postprocess, teacher_outputs, text_preprocessor
from hfm_compress.sources.text import TextTeacher
from hfm_runtime.fingerprint import text_fingerprint
from hfm_runtime.profiles import DeviceProfile

CALIBRATION_BATCH = 8
LATENCY_TEXTS = 64  # batch-1 latency is the median over this many held-out texts, each timed twice
PRUNE_BATCH = 32  # calibration texts per batch for the prune step's importance scores (as in distillation)
CORPUS_STEP_TYPES = ("distill", "vocab")
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


def uses_corpus(steps: Sequence[StepConfig]) -> bool:
    return any(step.TYPE in CORPUS_STEP_TYPES for step in steps)


class TextModality(Modality):
    name = "text"
    data: TextData

    def __init__(self, data: TextData) -> None:
        super().__init__(data)
        self._reference: tuple[Any, np.ndarray] | None = None

    def check_recipe(self, teacher: TextTeacher, torch_steps: Sequence[StepConfig], onnx_steps: Sequence[StepConfig],
                     recipe_name: str) -> list[StepConfig]:
        if teacher.onnx_path is not None:
            if torch_steps:
                from hfm_compress.steps import step_names

                raise CompressError(f"recipe {recipe_name}: SOURCE {teacher.name} is an ONNX file, but the steps "
                                    f"{', '.join(step_names('torch', self.name))} need the torch model (a Hugging "
                                    "Face folder or 'default')")
            return [step for step in onnx_steps if step.TYPE != "export"]  # the source is already an ONNX export
        return list(onnx_steps)

    def onnx_source(self, teacher: TextTeacher) -> Path | None:
        return teacher.onnx_path

    def export(self, model: TextTeacher, step: StepConfig, out: Path) -> StepReport:
        import torch

        from hfm_compress.export import export_onnx

        preprocessor = text_preprocessor(model)
        as_torch = lambda feeds: {k: torch.from_numpy(v) for k, v in feeds.items()}  # noqa: E731
        calibration = self.data.calibration
        example = as_torch(preprocessor.encode(calibration[:2]))
        checks = [as_torch(f) for f in (preprocessor.encode(calibration[2:5]), preprocessor.encode([calibration[5]]))]
        dynamic = {name: {0: "batch", 1: "sequence"} for name in model.input_names}
        dynamic[model.output_name] = {0: "batch"} if model.task == "classification" else {0: "batch", 1: "sequence"}
        return export_onnx(export_module(model), example, [model.output_name], dynamic, out, step, checks)

    def check_feeds(self, model: TextTeacher) -> list[dict[str, np.ndarray]]:
        preprocessor = text_preprocessor(model)
        return [preprocessor.encode(self.data.calibration[:4]), preprocessor.encode([self.data.calibration[4]])]

    def quantize_context(self, model: TextTeacher, profile: DeviceProfile, progress: Progress) -> Any:
        """Quantization is judged against the fp32 model it quantizes: the teacher, or the student after torch
        steps (a distilled student cannot reach the INT8 targets against the teacher). The artifact's evaluation is
        always against the teacher."""
        from hfm_compress.evaluate.scoring import OnnxScorer, class_agreement, cosine
        from hfm_compress.quantize.context import QuantizeContext

        if self._reference is None or self._reference[0] is not model:
            self._reference = (model, teacher_outputs(model, self.data.calibration))
        batches = feed_batches(text_preprocessor(model), self.data.calibration, CALIBRATION_BATCH)
        compare = class_agreement if model.task == "classification" else cosine
        scorer = OnnxScorer(batches, self._reference[1], model.output_name, profile, compare,
                            lambda feeds, out: postprocess(model.task, out, feeds["attention_mask"]))
        return QuantizeContext(cpu_class=profile.cpu_class, calibration_feeds=lambda: iter(batches),
                               fidelity=scorer.score, progress=progress)

    def teacher_reference(self, teacher: TextTeacher, onnx_steps: Sequence[StepConfig], workdir: Path,
                          progress: Progress) -> Path:
        """The teacher's own fp32 ONNX (the recipe's export and optimize configs)."""
        from hfm_compress.export import ExportConfig
        from hfm_compress.optimize import optimize_onnx

        progress("teacher fp32 reference: export", 0, 2)
        export = next((step for step in onnx_steps if step.TYPE == "export"), ExportConfig())
        path = workdir / "teacher-fp32.onnx"
        self.export(teacher, export, path)
        optimize = next((step for step in onnx_steps if step.TYPE == "optimize"), None)
        if optimize is not None:
            optimized = workdir / "teacher-fp32-optimized.onnx"
            optimize_onnx(path, optimized, optimize, self.check_feeds(teacher))
            path = optimized
        progress("teacher fp32 reference", 2, 2)
        return path

    def manifest_fields(self, teacher: TextTeacher, student: TextTeacher) -> dict[str, Any]:
        classification = teacher.task == "classification"
        output_shape: list[Any] = ["batch", len(teacher.labels or [])] if classification else ["batch", "sequence", "hidden"]
        return {
            "inputs": [{"name": n, "dtype": "int64", "shape": ["batch", "sequence"]} for n in teacher.input_names],
            "outputs": [{"name": teacher.output_name, "dtype": "float32", "shape": output_shape}],
            "preprocessing": {"type": "text", "tokenizer": "tokenizer.json", "max_length": teacher.max_length,
                              "pad_token": teacher.pad_token, "max_chars": 100_000},
            "postprocessing": ({"type": "softmax", "labels": teacher.labels} if classification
                               else {"type": "mean-pool-l2"}),
        }

    def data_fields(self, torch_steps: Sequence[StepConfig]) -> dict[str, Any]:
        fields: dict[str, Any] = {"calibration": {**text_fingerprint(self.data.calibration),
                                                  "source": self.data.calibration_source}}
        if uses_corpus(torch_steps):
            fields["corpus"] = {**text_fingerprint(self.data.corpus), "source": self.data.corpus_source}
        return fields

    def members(self, student: TextTeacher) -> dict[str, bytes]:
        return {"tokenizer.json": student.tokenizer_json.encode("utf-8")}

    def golden_inputs(self, teacher: TextTeacher) -> Sequence[str]:
        return GOLDEN_TEXTS

    def evaluate(self, artifact: Path, teacher: TextTeacher, profile: DeviceProfile, reference_onnx: Path | None,
                 progress: Progress) -> dict[str, Any]:
        from hfm_compress.evaluate.artifact import Contenders, evaluate_artifact, parameter_bytes
        from hfm_compress.evaluate.metrics import classification_fidelity, embedding_fidelity
        from hfm_compress.evaluate.subgroups import (embedding_subgroup_metrics, subgroup_fidelity,
                                                     text_classification_subgroup_metrics)
        from hfm_compress.evaluate.text_topics import text_subgroups

        texts = list(self.data.evaluation)
        classification = teacher.task == "classification"

        def fidelity(reference: np.ndarray, candidate: np.ndarray) -> dict[str, Any]:
            result = (classification_fidelity if classification else embedding_fidelity)(reference, candidate)
            per_subgroup = text_classification_subgroup_metrics if classification else embedding_subgroup_metrics
            return {**result, "subgroups": subgroup_fidelity(per_subgroup, text_subgroups(texts), reference,
                                                             candidate)}

        contenders = Contenders(
            items=texts,
            teacher_outputs=lambda: teacher_outputs(teacher, texts),
            artifact_outputs=lambda model: model.run_raw(texts),
            fidelity=fidelity,
            latency_items=LATENCY_TEXTS,
            artifact_runner=lambda model: lambda text: model.run_raw([text]),
            teacher_torch=torch_runner(teacher) if teacher.model is not None else None,
            teacher_onnx=lambda model, path: onnx_runner(path, teacher, model.settings),
            teacher_parameter_bytes=lambda: parameter_bytes(teacher.model),
            size_digits=3,
            latency_fields=lambda model, count, latency: {"texts": count},
            measured_on="build machine, profile session settings",
            extra={"texts": {**text_fingerprint(texts), "source": self.data.evaluation_source}},
        )
        return evaluate_artifact(artifact, profile, contenders, reference_onnx, progress)


def torch_runner(teacher: TextTeacher) -> Callable[[str], Any]:
    """Batch-1 teacher in PyTorch, tokenized as the runtime tokenizes."""
    import torch

    preprocessor = text_preprocessor(teacher)

    def run(text: str) -> Any:
        with torch.inference_mode():
            return forward(teacher, {k: torch.from_numpy(v) for k, v in preprocessor.encode([text]).items()})

    return run


def onnx_runner(model_path: Path, teacher: TextTeacher, settings: Any) -> Callable[[str], Any]:
    session = settings.open(Path(model_path).read_bytes())
    preprocessor = text_preprocessor(teacher)
    return lambda text: session.run([teacher.output_name], preprocessor.encode([text]))


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


# Torch steps of the text modality: each takes its config and the shared `TorchJob` and returns its report.

def distill_step(step: StepConfig, job: TorchJob) -> StepReport:
    from hfm_compress.distill.bert import distill

    previous = job.current.model if job.changed else None
    student, report = distill(job.teacher.model, previous, job.current.tokenizer_json, _corpus(job, "distill"), step,
                              job.checkpoint_root / f"step{job.index + 1}-distill", progress=job.progress,
                              resume=job.resume)  # type: ignore[arg-type]
    if previous is not None:
        report.details["student_from"] = ("the model of the previous steps; this step's layers, heads_keep and "
                                          "ffn_keep were not applied")
    job.current, job.changed = dataclasses.replace(job.current, model=student), True
    return report


def prune_step(step: StepConfig, job: TorchJob) -> StepReport:
    from hfm_compress.prune.bert import prune_model

    return prune_model(_own_model(job), step, _calibration_batches(job))  # type: ignore[arg-type]


def magnitude_prune_step(step: StepConfig, job: TorchJob) -> StepReport:
    from hfm_compress.prune.bert import magnitude_prune

    return magnitude_prune(_own_model(job), step)  # type: ignore[arg-type]


def vocab_step(step: StepConfig, job: TorchJob) -> StepReport:
    from hfm_compress.vocab import prune_vocabulary

    tokenizer_json, report = prune_vocabulary(_own_model(job), job.current.tokenizer_json, _corpus(job, "vocab"),
                                              step)  # type: ignore[arg-type]
    job.current = dataclasses.replace(job.current, tokenizer_json=tokenizer_json)
    return report


def _own_model(job: TorchJob) -> Any:
    """The student model, copied from the teacher the first time a step changes it (the teacher stays the
    reference every fidelity number is measured against)."""
    if not job.changed:
        job.current, job.changed = dataclasses.replace(job.current, model=copy.deepcopy(job.teacher.model)), True
    return job.current.model


def _corpus(job: TorchJob, step: str) -> list[str]:
    if not job.data.corpus:
        raise CompressError(f"the {step} step needs a corpus of in-domain texts (--corpus FILE, one text per "
                            "line); got none")
    return list(job.data.corpus)


def _calibration_batches(job: TorchJob) -> Iterator[dict[str, Any]]:
    """Calibration texts tokenized exactly as the runtime will (current tokenizer, padded per batch)."""
    import torch

    preprocessor = text_preprocessor(job.current)
    calibration = job.data.calibration
    for start in range(0, len(calibration), PRUNE_BATCH):
        feeds = preprocessor.encode(calibration[start:start + PRUNE_BATCH])
        yield {name: torch.from_numpy(value) for name, value in feeds.items()}


@dataclasses.dataclass
class TorchStepsResult:
    model: Any  # the student: a torch.nn.Module
    tokenizer_json: str
    reports: list[StepReport]


class TorchStepRunner:
    """Only the torch steps of a text recipe, on a copy of `teacher.model` (for tools and tests)."""

    def __init__(self, teacher: TextTeacher, corpus: Sequence[str], calibration: Sequence[str],
                 checkpoint_dir: Path, resume: bool = False, progress: Progress = no_progress) -> None:
        data = TextData(list(calibration), [], "", "", corpus=list(corpus))
        self.job = TorchJob(teacher, teacher, data, Path(checkpoint_dir), resume, progress)

    def run(self, steps: Sequence[StepConfig], total: int | None = None) -> TorchStepsResult:
        from hfm_compress.run import run_torch_steps

        reports = run_torch_steps(steps, self.job, 0, total or len(steps))
        return TorchStepsResult(_own_model(self.job), self.job.current.tokenizer_json, reports)
