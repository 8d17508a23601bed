"""Recipe steps that change the torch model before export: distill, prune, magnitude-prune and vocab.

They run in recipe order on a copy of the teacher (the teacher itself stays untouched: it is the reference every
fidelity number is measured against). The vocab step also renumbers the tokenizer, and every later step, the export,
calibration, golden pairs and the packed artifact use the new one.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from hfm_compress.configs import StepConfig, StepReport
from hfm_compress.errors import CompressError, ConfigError
from hfm_compress.sources import TextTeacher

Progress = Callable[[str, int, int], None]
TORCH_STEP_TYPES = ("distill", "prune", "magnitude-prune", "vocab")
CORPUS_STEP_TYPES = ("distill", "vocab")
PRUNE_BATCH = 32  # calibration texts per batch for the prune step's importance scores (as in distillation)


def split_recipe(recipe: Sequence[StepConfig], recipe_name: str) -> tuple[list[StepConfig], list[StepConfig]]:
    """(torch steps, ONNX steps): torch steps must all come before `export`, and `vocab` after every `distill`."""
    torch_steps: list[StepConfig] = []
    onnx_steps: list[StepConfig] = []
    vocab_at: int | None = None
    for number, step in enumerate(recipe, start=1):
        if step.TYPE not in TORCH_STEP_TYPES:
            onnx_steps.append(step)
            continue
        if onnx_steps:
            raise ConfigError(
                f"recipe {recipe_name}: step {number} {step.TYPE!r} comes after {onnx_steps[0].TYPE!r}; "
                f"{', '.join(TORCH_STEP_TYPES)} change the torch model, so they must all come before 'export'")
        if step.TYPE == "vocab" and vocab_at is None:
            vocab_at = number
        if step.TYPE == "distill" and vocab_at is not None:
            raise ConfigError(
                f"recipe {recipe_name}: 'vocab' (step {vocab_at}) comes before 'distill' (step {number}); "
                "distillation feeds teacher and student the same token ids, so the vocabulary can only be cut "
                "after it: put 'vocab' after 'distill'")
        torch_steps.append(step)
    return torch_steps, onnx_steps


@dataclasses.dataclass
class TorchStepsResult:
    model: Any  # the student: a torch.nn.Module
    tokenizer_json: str
    reports: list[StepReport]


def uses_corpus(steps: Sequence[StepConfig]) -> bool:
    return any(step.TYPE in CORPUS_STEP_TYPES for step in steps)


class TorchStepRunner:
    """Runs the torch steps of a recipe in order on a deep copy of `teacher.model`."""

    def __init__(self, teacher: TextTeacher, corpus: Sequence[str], calibration: Sequence[str],
                 checkpoint_dir: Path, resume: bool = False, progress: Progress = lambda label, done, total: None,
                 ) -> None:
        if teacher.model is None:
            raise CompressError(f"SOURCE {teacher.name} is an ONNX file; the steps {', '.join(TORCH_STEP_TYPES)} "
                                "need the torch model (a Hugging Face folder or 'default')")
        self.teacher = teacher
        self.corpus = list(corpus)
        self.calibration = list(calibration)
        self.checkpoint_dir = Path(checkpoint_dir)
        self.resume = resume
        self.progress = progress
        self.model: Any = None  # the student; None until a step makes one
        self.tokenizer_json = teacher.tokenizer_json

    def run(self, steps: Sequence[StepConfig], total: int | None = None) -> TorchStepsResult:
        total = total or len(steps)
        reports = []
        for index, step in enumerate(steps):
            self.progress(f"step {index + 1}/{total}: {step.TYPE}", index, total)
            started = time.perf_counter()
            report = self._run_step(step, index)
            report.seconds = time.perf_counter() - started
            reports.append(report)
        return TorchStepsResult(model=self._student(), tokenizer_json=self.tokenizer_json, reports=reports)

    def _run_step(self, step: StepConfig, index: int) -> StepReport:
        if step.TYPE == "distill":
            return self._distill(step, index)
        if step.TYPE == "prune":
            from hfm_compress.prune import prune_model

            return prune_model(self._student(), step, self._calibration_batches())  # type: ignore[arg-type]
        if step.TYPE == "magnitude-prune":
            from hfm_compress.prune import magnitude_prune

            return magnitude_prune(self._student(), step)  # type: ignore[arg-type]
        if step.TYPE == "vocab":
            from hfm_compress.vocab import prune_vocabulary

            self.tokenizer_json, report = prune_vocabulary(self._student(), self.tokenizer_json,
                                                           self._corpus("vocab"), step)  # type: ignore[arg-type]
            return report
        raise ConfigError(f"step {step.TYPE!r} is not a torch step; expected one of {', '.join(TORCH_STEP_TYPES)}")

    def _distill(self, step: StepConfig, index: int) -> StepReport:
        from hfm_compress.distill import distill

        previous = self.model
        student, report = distill(self.teacher.model, previous, self.tokenizer_json, self._corpus("distill"), step,
                                  self.checkpoint_dir / f"step{index + 1}-distill", progress=self.progress,
                                  resume=self.resume)  # type: ignore[arg-type]
        if previous is not None:
            report.details["student_from"] = ("the model of the previous steps; this step's layers, heads_keep and "
                                              "ffn_keep were not applied")
        self.model = student
        return report

    def _student(self) -> Any:
        if self.model is None:
            self.model = copy.deepcopy(self.teacher.model)
        return self.model

    def _corpus(self, step: str) -> list[str]:
        if not self.corpus:
            raise CompressError(f"the {step} step needs a corpus of in-domain texts (--corpus FILE, one text per "
                                "line); got none")
        return self.corpus

    def _calibration_batches(self) -> Iterator[dict[str, Any]]:
        """Calibration texts tokenized exactly as the runtime will (current tokenizer, padded per batch)."""
        import torch

        from hfm_compress.reference import text_preprocessor

        preprocessor = text_preprocessor(self.teacher, self.tokenizer_json)
        for start in range(0, len(self.calibration), PRUNE_BATCH):
            feeds = preprocessor.encode(self.calibration[start:start + PRUNE_BATCH])
            yield {name: torch.from_numpy(value) for name, value in feeds.items()}
