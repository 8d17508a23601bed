"""Modality adapters: what differs between text, image and signal models, behind one interface (`Modality`).

The one pipeline (`run.py`) asks the adapter for the export, the feeds that check and calibrate the ONNX model,
the reference the quantizers score against, the teacher's own fp32 ONNX, the manifest's per-modality fields, the
artifact's extra members, the golden inputs and the evaluation of the packed artifact. Which steps a modality
allows is in the step registry (`steps.py`).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Sequence

from hfm_compress.configs import Progress, StepConfig, StepReport, no_progress
from hfm_runtime.profiles import DeviceProfile


@dataclasses.dataclass
class TorchJob:
    """The state torch steps share: the untouched teacher, the model as the previous steps left it, the data."""

    teacher: Any  # TextTeacher or TensorTeacher
    current: Any  # the same type, holding the student so far
    data: Any  # TextData or TensorData
    checkpoint_root: Path
    resume: bool = False
    progress: Progress = no_progress
    index: int = 0  # the step's position in the recipe
    changed: bool = False  # whether `current.model` is already the toolchain's own copy


@dataclasses.dataclass
class OnnxJob:
    """What export and ONNX steps share: the adapter, the model being compressed (after the torch steps)."""

    modality: "Modality"
    model: Any
    profile: DeviceProfile
    progress: Progress = no_progress


class Modality:
    """Base of the text, image and signal adapters; `run.py` calls these, in this order."""

    name = ""

    def __init__(self, data: Any) -> None:
        self.data = data

    def check_recipe(self, teacher: Any, torch_steps: Sequence[StepConfig], onnx_steps: Sequence[StepConfig],
                     recipe_name: str) -> list[StepConfig]:
        """The ONNX steps that run for this teacher (an ONNX source skips `export`); refuse what cannot run."""
        return list(onnx_steps)

    def onnx_source(self, teacher: Any) -> Path | None:
        return None

    def export(self, model: Any, step: StepConfig, out: Path) -> StepReport:
        raise NotImplementedError

    def check_feeds(self, model: Any) -> list[dict[str, Any]]:
        raise NotImplementedError

    def quantize_context(self, model: Any, profile: DeviceProfile, progress: Progress) -> Any:
        raise NotImplementedError

    def teacher_reference(self, teacher: Any, onnx_steps: Sequence[StepConfig], workdir: Path,
                          progress: Progress) -> Path:
        raise NotImplementedError

    def manifest_fields(self, teacher: Any, student: Any) -> dict[str, Any]:
        raise NotImplementedError

    def data_fields(self, torch_steps: Sequence[StepConfig]) -> dict[str, Any]:
        raise NotImplementedError

    def members(self, student: Any) -> dict[str, bytes]:
        return {}

    def golden_inputs(self, teacher: Any) -> Sequence[Any]:
        raise NotImplementedError

    def evaluate(self, artifact: Path, teacher: Any, profile: DeviceProfile, reference_onnx: Path | None,
                 progress: Progress) -> dict[str, Any]:
        raise NotImplementedError


def is_tensor_source(source: str, task: str | None) -> bool:
    """An imaging/signal SOURCE: such a task, a package.module:factory, a module folder, or a HF vision folder."""
    from hfm_compress.sources.modules import MODULE_SPEC_FILE, TENSOR_TASKS, is_module_reference

    if task in TENSOR_TASKS or is_module_reference(source):
        return True
    folder = Path(source)
    if (folder / MODULE_SPEC_FILE).is_file():
        return True
    try:
        architectures = json.loads((folder / "config.json").read_text()).get("architectures") or []
    except (OSError, ValueError):
        return False
    return any(a.endswith(("ForImageClassification", "ForSemanticSegmentation")) for a in architectures)


def modality_for(teacher: Any, data: Any) -> Modality:
    """The adapter for a loaded teacher and its data."""
    from hfm_compress.sources.modules import TensorTeacher
    from hfm_runtime.inputs import IMAGE_TASKS

    if isinstance(teacher, TensorTeacher):
        from hfm_compress.modality.tensor import ImageModality, SignalModality

        return ImageModality(data) if teacher.task in IMAGE_TASKS else SignalModality(data)
    from hfm_compress.modality.text import TextModality

    return TextModality(data)
