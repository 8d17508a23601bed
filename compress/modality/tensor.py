"""The image and signal modalities: one-tensor-in, logits-out torch models (module factories, module folders,
Hugging Face vision folders) and data sets as arrays (.npz files or synth:ultrasound / synth:ecg).

They differ only in their golden inputs (phantom frames or ECG windows); their torch steps (kd, prune-channels,
prune-heads, distill-vit) live in their own modules and take `(config, current, teacher, data, StepContext)`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from hfm_compress.configs import Progress, StepConfig, StepContext, StepReport, no_progress
from hfm_compress.errors import CompressError
from hfm_compress.modality import Modality, TorchJob
from hfm_compress.sources.arrays import TensorData, TensorSet
from hfm_compress.evaluate.metrics import classification_metrics, segmentation_metrics
from hfm_compress.sources.modules import TensorTeacher
from hfm_runtime.inputs import IMAGE_TASKS
from hfm_runtime.postprocess import softmax
from hfm_runtime.profiles import DeviceProfile
from hfm_runtime.session import SessionSettings

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
        from hfm_compress.quantize.context import QuantizeContext

        inputs = self.data.calibration.inputs
        batches = [_feed(model, inputs[i:i + CALIBRATION_BATCH]) for i in range(0, len(inputs), CALIBRATION_BATCH)]
        scorer = AgreementScorer(model, batches, profile)
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
        return evaluate_tensor_artifact(artifact, teacher, profile, self.data.evaluation, reference_onnx, progress)


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


class AgreementScorer:
    """During accuracy-aware quantization: agreement of a candidate's argmax with the fp32 model's, per input (or
    per pixel for segmentation), reported as (mean, min over batches)."""

    def __init__(self, model: TensorTeacher, batches: Sequence[dict[str, np.ndarray]], profile: DeviceProfile) -> None:
        self.batches = list(batches)
        self.output_name = model.output_name
        self.reference = [torch_logits(model, b[model.input_name]).argmax(1) for b in self.batches]
        self.settings = SessionSettings.from_profile(profile)

    def score(self, model_path: Path) -> Any:
        from hfm_compress.quantize.context import FidelityScore

        session = self.settings.open(Path(model_path).read_bytes())
        rates = [float(np.mean(session.run([self.output_name], feeds)[0].argmax(1) == ref))
                 for feeds, ref in zip(self.batches, self.reference)]
        return FidelityScore(mean=float(np.mean(rates)), min=float(np.min(rates)))


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


def evaluate_tensor_artifact(artifact_path: Path, teacher: TensorTeacher, profile: DeviceProfile, data: TensorSet,
                             teacher_onnx: Path | None, progress: Progress = no_progress) -> dict[str, Any]:
    """Task metrics on the held-out set, size, and interleaved batch-1 latency of artifact vs teacher."""
    import hfm_runtime
    from hfm_compress.evaluate.artifact import interleaved_latency_ms, torch_threads

    model = hfm_runtime.load(artifact_path, profile=profile)
    progress("evaluate: teacher", 0, 3)
    teacher_probs = softmax(torch_logits(teacher, data.inputs), axis=1)
    progress("evaluate: artifact", 1, 3)
    candidate = model.run_items(list(data.inputs))
    if teacher.task == "segmentation":
        fidelity = segmentation_metrics(teacher_probs, candidate, data.masks, teacher.labels)
    else:
        fidelity = classification_metrics(teacher_probs, candidate, data.labels, teacher.labels)
    progress("evaluate: latency", 2, 3)
    threads = model.settings.intra_op_threads
    items = list(data.inputs[:LATENCY_ITEMS])
    runners: dict[str, Callable[[Any], Any]] = {"artifact_ms": lambda x: model.run_items([x], 1)}
    if teacher_onnx is not None:
        session = model.settings.open(teacher_onnx.read_bytes())
        runners["teacher_onnx_fp32_ms"] = lambda x: session.run([teacher.output_name], {teacher.input_name: x[None]})
    runners["teacher_torch_fp32_ms"] = lambda x: torch_logits(teacher, x[None])
    with torch_threads(threads):
        latency = interleaved_latency_ms(runners, items)
    progress("evaluate", 3, 3)
    teacher_bytes = teacher_onnx.stat().st_size if teacher_onnx is not None else _parameter_bytes(teacher)
    ratio = lambda key: round(latency["artifact_ms"] / latency[key], 3) if key in latency else None  # noqa: E731
    return {
        "fidelity": fidelity,
        "size": {"artifact_mb": round(model.artifact.size_bytes / 1e6, 4), "teacher_fp32_mb": round(teacher_bytes / 1e6, 4),
                 "ratio": round(model.artifact.size_bytes / teacher_bytes, 4)},
        "latency_batch1": {
            **{k: round(v, 3) for k, v in latency.items()},
            "threads": threads, "inputs": len(items), "model_format": model.model_format,
            "per_second": round(1000.0 / latency["artifact_ms"], 1),
            "ratio_vs_onnx_fp32": ratio("teacher_onnx_fp32_ms"), "ratio_vs_torch_fp32": ratio("teacher_torch_fp32_ms"),
            "measured_on": "build machine, profile session settings, preprocessed inputs",
        },
        "data": data.fingerprint(),
    }


def _parameter_bytes(teacher: TensorTeacher) -> int:
    return int(sum(p.numel() * p.element_size() for p in teacher.model.parameters()))
