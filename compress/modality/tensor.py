"""The image and signal modalities: one-tensor-in, logits-out torch models (module factories, module folders,
Hugging Face vision folders) and data sets as arrays (.npz files or synth:ultrasound / synth:ecg).

They differ only in their golden inputs (phantom frames or ECG windows); their torch steps (kd, prune-channels,
prune-heads, distill-vit) live in their own modules and take `(config, current, teacher, data, StepContext)`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from hfm_compress.configs import Progress, StepConfig, StepContext, StepReport
from hfm_compress.errors import CompressError
from hfm_compress.modality import Modality, TorchJob
from hfm_compress.sources.arrays import TensorData
from hfm_compress.evaluate.metrics import classification_metrics, segmentation_metrics
from hfm_compress.sources.modules import TensorTeacher
from hfm_runtime.inputs import IMAGE_TASKS
from hfm_runtime.postprocess import softmax
from hfm_runtime.profiles import DeviceProfile

CALIBRATION_BATCH = 8
LATENCY_ITEMS = 48  # batch-1 latency: median over this many held-out inputs, each timed twice, contenders interleaved
GOLDEN_COUNT = 2
TorchStep = Callable[[Any, TensorTeacher, TensorTeacher, TensorData, StepContext], tuple[TensorTeacher, StepReport]]


class TensorModality(Modality):
    data: TensorData

    def __init__(self, data: TensorData) -> None:
        super().__init__(data)
        self.export_config: StepConfig | None = None

    def check_recipe(self, teacher: TensorTeacher, torch_steps: Sequence[StepConfig],
                     onnx_steps: Sequence[StepConfig], recipe_name: str) -> list[StepConfig]:
        if torch_steps and self.data.train is None:
            raise CompressError(f"steps {', '.join(s.TYPE for s in torch_steps)} train the model: they need training "
                                "data (--train DATA, e.g. synth:ecg or a .npz file)")
        return list(onnx_steps)

    def export(self, model: TensorTeacher, step: StepConfig, out: Path) -> StepReport:
        self.export_config = step
        return export_tensor_model(model, step, out, self.data.calibration.inputs)

    def check_feeds(self, model: TensorTeacher) -> list[dict[str, np.ndarray]]:
        return [_feed(model, self.data.calibration.inputs[:4])]

    def quantize_context(self, model: TensorTeacher, profile: DeviceProfile, progress: Progress) -> Any:
        from hfm_compress.evaluate.scoring import OnnxScorer, batch_agreement
        from hfm_compress.quantize.context import QuantizeContext

        inputs = self.data.calibration.inputs
        batches = [_feed(model, inputs[i:i + CALIBRATION_BATCH]) for i in range(0, len(inputs), CALIBRATION_BATCH)]
        reference = [torch_logits(model, b[model.input_name]).argmax(1) for b in batches]
        scorer = OnnxScorer(batches, reference, model.output_name, profile, batch_agreement)
        return QuantizeContext(cpu_class=profile.cpu_class, calibration_feeds=lambda: iter(batches),
                               fidelity=scorer.score, progress=progress)

    def teacher_reference(self, teacher: TensorTeacher, onnx_steps: Sequence[StepConfig], workdir: Path,
                          progress: Progress) -> Path:
        """The teacher's own fp32 ONNX (the recipe's export config)."""
        from hfm_compress.export import ExportConfig

        path = workdir / "teacher-fp32.onnx"
        export_tensor_model(teacher, self.export_config or ExportConfig(), path, self.data.calibration.inputs)
        return path

    def manifest_fields(self, teacher: TensorTeacher, student: TensorTeacher) -> dict[str, Any]:
        shape = teacher.input_shape
        classes = len(teacher.labels)
        output_shape: list[Any] = ["batch", classes, *shape[1:]] if teacher.task == "segmentation" else ["batch", classes]
        return {
            "inputs": [{"name": teacher.input_name, "dtype": "float32", "shape": ["batch", *shape]}],
            "outputs": [{"name": teacher.output_name, "dtype": "float32", "shape": output_shape}],
            "preprocessing": dict(teacher.preprocessing),
            "postprocessing": {"type": "softmax", "axis": 1, "labels": list(teacher.labels)},
        }

    def data_fields(self, torch_steps: Sequence[StepConfig]) -> dict[str, Any]:
        fields: dict[str, Any] = {"calibration": self.data.calibration.fingerprint()}
        if torch_steps and self.data.train is not None:
            fields["train_data"] = self.data.train.fingerprint()
        return fields

    def golden_inputs(self, teacher: TensorTeacher) -> list[np.ndarray]:
        return golden_inputs(teacher)

    def evaluate(self, artifact: Path, teacher: TensorTeacher, profile: DeviceProfile, reference_onnx: Path | None,
                 progress: Progress) -> dict[str, Any]:
        from hfm_compress.evaluate.artifact import Contenders, evaluate_artifact, parameter_bytes

        data = self.data.evaluation

        def fidelity(teacher_logits: np.ndarray, candidate: np.ndarray) -> dict[str, Any]:
            from hfm_compress.evaluate.subgroups import lengths_match, subgroup_fidelity

            teacher_probs = softmax(teacher_logits, axis=1)
            if teacher.task == "segmentation":
                result = segmentation_metrics(teacher_probs, candidate, data.masks, teacher.labels)
                per_subgroup = lambda t, c, masks: segmentation_metrics(t, c, masks, teacher.labels)  # noqa: E731
                truth = {"masks": data.masks}
            else:
                result = classification_metrics(teacher_probs, candidate, data.labels, teacher.labels)
                per_subgroup = lambda t, c, labels: classification_metrics(t, c, labels, teacher.labels)  # noqa: E731
                truth = {"labels": data.labels}
            if data.subgroups:
                mismatch = lengths_match(data.subgroups, len(teacher_probs))
                result["subgroups"] = ({"unavailable": mismatch} if mismatch else
                                       subgroup_fidelity(per_subgroup, data.subgroups, teacher_probs, candidate,
                                                         **truth))
            return result

        def onnx_runner(model: Any, path: Path) -> Callable[[np.ndarray], Any]:
            session = model.settings.open(path.read_bytes())
            return lambda x: session.run([teacher.output_name], {teacher.input_name: x[None]})

        contenders = Contenders(
            items=list(data.inputs),
            teacher_outputs=lambda: torch_logits(teacher, data.inputs),
            artifact_outputs=lambda model: model.run_items(list(data.inputs)),
            fidelity=fidelity,
            latency_items=LATENCY_ITEMS,
            artifact_runner=lambda model: lambda x: model.run_items([x], 1),
            teacher_torch=lambda x: torch_logits(teacher, x[None]),
            teacher_onnx=onnx_runner,
            teacher_parameter_bytes=lambda: parameter_bytes(teacher.model),
            size_digits=4,
            latency_fields=lambda model, count, latency: {
                "inputs": count, "model_format": model.model_format,
                "per_second": round(1000.0 / latency["artifact_ms"], 1)},
            measured_on="build machine, profile session settings, preprocessed inputs",
            extra={"data": data.fingerprint()},
        )
        return evaluate_artifact(artifact, profile, contenders, reference_onnx, progress)


class ImageModality(TensorModality):
    name = "image"


class SignalModality(TensorModality):
    name = "signal"


def tensor_step(run_step: TorchStep) -> Callable[[StepConfig, TorchJob], StepReport]:
    """A registry handler around an imaging/signal step module's `run_step`."""

    def run(step: StepConfig, job: TorchJob) -> StepReport:
        # Each step keeps its checkpoints in its own folder, so two steps of one type cannot resume each other's.
        ctx = StepContext(job.checkpoint_root / f"step{job.index}-{step.TYPE}", job.resume, job.progress)
        job.current, report = run_step(step, job.current, job.teacher, job.data, ctx)
        return report

    return run


def _feed(model: TensorTeacher, inputs: np.ndarray) -> dict[str, np.ndarray]:
    return {model.input_name: np.ascontiguousarray(inputs, dtype=np.float32)}


def golden_inputs(teacher: TensorTeacher) -> list[np.ndarray]:
    """Fixed synthetic inputs of the model's raw input kind (never the user's data): phantom frames or ECG windows.

    They are raw (before preprocessing), so the device's self-test runs its preprocessing too, and float16, so two
    10 s ECG windows cost 10 KB of a wearable's 256 KB rather than 20 KB (outputs are recorded on these values).
    """
    spec = teacher.preprocessing
    if teacher.task in IMAGE_TASKS:
        from hfm_compress.synth import ultrasound

        frames = [ultrasound.generate(label, seed, size=max(32, int(spec["height"]))).image
                  for seed, label in enumerate(ultrasound.US_CLASSES[1:GOLDEN_COUNT + 1])]
        return [_half(np.repeat(f[..., None], 3, axis=2) if int(spec["channels"]) == 3 else f) for f in frames]
    from hfm_compress.synth import ecg

    fs, seconds = float(spec["fs"]), float(spec["window_seconds"])
    windows = [ecg.simulate_window(rhythm, seed, fs=int(round(fs)), seconds=seconds)
               for seed, rhythm in enumerate(ecg.ECG_CLASSES[:GOLDEN_COUNT])]
    channels = int(spec.get("channels", 1))
    return [_half(w if channels == 1 else np.repeat(w[:, None], channels, axis=1)) for w in windows]


def _half(array: np.ndarray) -> np.ndarray:
    return np.asarray(array, dtype=np.float16)


def export_tensor_model(model: TensorTeacher, config: StepConfig, out: Path, inputs: np.ndarray) -> StepReport:
    """torch.onnx.export with a dynamic batch axis, checked against torch on batches of other sizes."""
    import torch

    from hfm_compress.export import export_onnx

    if len(inputs) < 6:
        raise CompressError(f"export needs at least 6 calibration inputs to check the graph; got {len(inputs)}")
    as_feed = lambda batch: {model.input_name: torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))}  # noqa: E731
    dynamic = {model.input_name: {0: "batch"}, model.output_name: {0: "batch"}}
    return export_onnx(_input_named(model.model), as_feed(inputs[:2]), [model.output_name], dynamic, out, config,
                       [as_feed(inputs[2:5]), as_feed(inputs[5:6])])


def _input_named(module: Any) -> Any:
    """Wrap `module` so it can be called as `module(input=...)`: the exporter passes keyword inputs by graph name."""
    import torch

    class InputNamed(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = module

        def forward(self, input):  # type: ignore[no-untyped-def]  # noqa: A002
            return self.model(input)

    return InputNamed().eval()


def torch_logits(model: TensorTeacher, inputs: np.ndarray, batch_size: int = 32) -> np.ndarray:
    import torch

    rows = []
    with torch.inference_mode():
        for start in range(0, len(inputs), batch_size):
            rows.append(model.model(torch.from_numpy(np.ascontiguousarray(inputs[start:start + batch_size]))).numpy())
    return np.concatenate(rows)
