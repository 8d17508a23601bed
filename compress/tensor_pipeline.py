"""Run a recipe on an imaging or signal teacher: torch steps, export, quantization, optional ORT format, pack, then
evaluate the packed artifact through `hfm_runtime` under the profile, as the device runs it.

The text pipeline (`pipeline.py`) shares the step configs, the exporter, the quantizers and the artifact format;
what differs is the data (arrays instead of texts), the golden inputs and the task metrics.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from hfm_compress.configs import StepConfig, StepReport, register_config
from hfm_compress.errors import CompressError
from hfm_compress.pipeline import TOOLCHAIN_VERSION, CompressResult, _precision, chain_onnx_steps, checkpoint_folder
from hfm_compress.tensor_data import TensorData, TensorSet
from hfm_compress.tensor_metrics import classification_metrics, segmentation_metrics
from hfm_compress.tensor_sources import IMAGE_TASKS, TensorTeacher
from hfm_compress.tensor_steps import StepContext, is_tensor_torch_step, run_tensor_steps
from hfm_runtime.artifact import read_artifact, write_artifact
from hfm_runtime.pack import pack_artifact
from hfm_runtime.postprocess import softmax
from hfm_runtime.profiles import DeviceProfile
from hfm_runtime.session import SessionSettings

Progress = Callable[[str, int, int], None]
CALIBRATION_BATCH = 8
LATENCY_ITEMS = 48  # batch-1 latency: median over this many held-out inputs, each timed twice, contenders interleaved
GOLDEN_COUNT = 2
ORT_MEMBER = "model.ort"
REQUIRED_OPERATORS_MEMBER = "required_operators.config"


@register_config
@dataclasses.dataclass(frozen=True)
class OrtFormatConfig(StepConfig):
    """Also carry the final model in ONNX Runtime's ORT format, with the operators a reduced build must include."""

    TYPE = "ort-format"


def compress_tensor_model(teacher: TensorTeacher, recipe: Sequence[StepConfig], profile: DeviceProfile,
                          out_path: Path, data: TensorData, progress: Progress = lambda label, done, total: None,
                          recipe_name: str = "custom", *, recipe_reasons: Sequence[str] = (),
                          checkpoint_dir: Path | None = None, resume: bool = False) -> CompressResult:
    torch_steps, onnx_steps, ort_format = _split(recipe, recipe_name)
    total = len(recipe)
    with tempfile.TemporaryDirectory(prefix="hfm-compress-") as work:
        workdir = Path(work)
        student, reports = teacher, []
        if torch_steps:
            ctx = StepContext(checkpoint_dir or checkpoint_folder(out_path), resume, progress)
            student, reports = run_tensor_steps(torch_steps, teacher, data, ctx, 0, total)
        runner = _OnnxSteps(student, profile, data, workdir, progress)
        model_path, onnx_reports = runner.run(onnx_steps, first=len(torch_steps), total=total)
        reports += onnx_reports
        members: dict[str, bytes] = {}
        model_entry: dict[str, Any] = {}
        if ort_format is not None:
            report, ort_bytes, operators = _to_ort(model_path, workdir, ort_format)
            reports.append(report)
            members = {ORT_MEMBER: ort_bytes, REQUIRED_OPERATORS_MEMBER: operators.encode("utf-8")}
            model_entry = {"ort_file": ORT_MEMBER, "required_operators": REQUIRED_OPERATORS_MEMBER}
        teacher_onnx = runner.fp32_path if not torch_steps else runner.export_reference(teacher)
        manifest = _manifest(teacher, recipe, reports, profile, data, recipe_name, model_path, model_entry)
        manifest["recipe_reasons"] = list(recipe_reasons)
        if torch_steps and data.train is not None:
            manifest["train_data"] = data.train.fingerprint()
        draft = pack_artifact(workdir / "draft.hfm", model_bytes=model_path.read_bytes(), manifest=manifest,
                              members=members, golden_inputs=golden_inputs(teacher), profile=profile)
        evaluation = evaluate_tensor_artifact(draft, teacher, profile, data.evaluation, teacher_onnx, progress)
        packed = read_artifact(draft)
        final = {k: v for k, v in packed.manifest.items() if k not in ("format", "format_version", "members")}
        final["evaluation"] = evaluation
        write_artifact(out_path, final, packed.members)
    return CompressResult(path=out_path, manifest=dict(read_artifact(out_path).manifest), reports=reports)


def _split(recipe: Sequence[StepConfig], recipe_name: str) -> tuple[list[StepConfig], list[StepConfig], StepConfig | None]:
    torch_steps = [s for s in recipe if is_tensor_torch_step(s)]
    rest = list(recipe[len(torch_steps):])
    if any(is_tensor_torch_step(s) for s in rest):
        raise CompressError(f"recipe {recipe_name}: torch steps ({', '.join(s.TYPE for s in torch_steps)}) must come "
                            "before 'export'")
    ort_format = None
    if rest and rest[-1].TYPE == OrtFormatConfig.TYPE:
        ort_format, rest = rest[-1], rest[:-1]
    if any(s.TYPE == OrtFormatConfig.TYPE for s in rest):
        raise CompressError(f"recipe {recipe_name}: 'ort-format' converts the final model; put it last")
    if not rest or rest[0].TYPE != "export":
        raise CompressError(f"recipe {recipe_name} needs an 'export' step after its torch steps")
    allowed = {"export", "optimize", "static-int8", "dynamic-int8"}
    unknown = [s.TYPE for s in rest if s.TYPE not in allowed]
    if unknown:
        raise CompressError(f"recipe {recipe_name}: step(s) {', '.join(unknown)} do not apply to imaging/signal "
                            f"models; expected {', '.join(sorted(allowed))} after the torch steps")
    return torch_steps, rest, ort_format


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


class _OnnxSteps:
    """Export, then ONNX steps chained through files in a work folder."""

    def __init__(self, model: TensorTeacher, profile: DeviceProfile, data: TensorData, workdir: Path,
                 progress: Progress) -> None:
        self.model = model
        self.profile = profile
        self.data = data
        self.workdir = workdir
        self.progress = progress
        self.fp32_path: Path | None = None
        self.export_config: StepConfig | None = None

    def run(self, steps: Sequence[StepConfig], first: int, total: int) -> tuple[Path, list[StepReport]]:
        current, self.fp32_path, reports = chain_onnx_steps(steps, first, total, self.workdir, self.progress,
                                                            self._step)
        assert current is not None  # _split guarantees an export step
        return current, reports

    def _step(self, step: StepConfig, current: Path | None, out: Path) -> StepReport:
        if step.TYPE == "export":
            self.export_config = step
            return export_tensor_model(self.model, step, out, self.data.calibration.inputs)
        assert current is not None
        if step.TYPE == "optimize":
            from hfm_compress.optimize import optimize_onnx

            return optimize_onnx(current, out, step, [self._feed(self.data.calibration.inputs[:4])])
        from hfm_compress.quantize import quantize
        from hfm_compress.quantize.context import QuantizeContext

        inputs = self.data.calibration.inputs
        batches = [self._feed(inputs[i:i + CALIBRATION_BATCH]) for i in range(0, len(inputs), CALIBRATION_BATCH)]
        scorer = _AgreementScorer(self.model, batches, self.profile)
        ctx = QuantizeContext(cpu_class=self.profile.cpu_class, calibration_feeds=lambda: iter(batches),
                              fidelity=scorer.score, progress=self.progress)
        return quantize(current, out, step, ctx)

    def _feed(self, inputs: np.ndarray) -> dict[str, np.ndarray]:
        return {self.model.input_name: np.ascontiguousarray(inputs, dtype=np.float32)}

    def export_reference(self, teacher: TensorTeacher) -> Path:
        """The teacher's own fp32 ONNX, for the teacher rows of the evaluation when torch steps changed the model."""
        from hfm_compress.export import ExportConfig

        path = self.workdir / "teacher-fp32.onnx"
        export_tensor_model(teacher, self.export_config or ExportConfig(), path, self.data.calibration.inputs)
        return path


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


class _AgreementScorer:
    """During accuracy-aware quantization: agreement of a candidate's argmax with the fp32 model's, per input (or
    per pixel for segmentation), reported as (mean, min over batches)."""

    def __init__(self, model: TensorTeacher, batches: Sequence[dict[str, np.ndarray]], profile: DeviceProfile) -> None:
        self.batches = list(batches)
        self.output_name = model.output_name
        self.reference = [_torch_logits(model, b[model.input_name]).argmax(1) for b in self.batches]
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


def _torch_logits(model: TensorTeacher, inputs: np.ndarray, batch_size: int = 32) -> np.ndarray:
    import torch

    rows = []
    with torch.inference_mode():
        for start in range(0, len(inputs), batch_size):
            rows.append(model.model(torch.from_numpy(np.ascontiguousarray(inputs[start:start + batch_size]))).numpy())
    return np.concatenate(rows)



def _to_ort(model_path: Path, workdir: Path, config: StepConfig) -> tuple[StepReport, bytes, str]:
    from hfm_compress.ort_format import convert_to_ort

    started = time.perf_counter()
    ort_bytes, operators = convert_to_ort(model_path, workdir / "ort")
    details = {"ort_bytes": len(ort_bytes), "onnx_bytes": model_path.stat().st_size,
               "required_operators": [line for line in operators.splitlines() if line and not line.startswith("#")]}
    return StepReport(config.TYPE, config.to_dict(), details, time.perf_counter() - started), ort_bytes, operators


def evaluate_tensor_artifact(artifact_path: Path, teacher: TensorTeacher, profile: DeviceProfile, data: TensorSet,
                             teacher_onnx: Path | None, progress: Progress = lambda label, done, total: None) -> dict[str, Any]:
    """Task metrics on the held-out set, size, and interleaved batch-1 latency of artifact vs teacher."""
    import hfm_runtime
    from hfm_compress.evaluate import interleaved_latency_ms, torch_threads

    model = hfm_runtime.load(artifact_path, profile=profile)
    progress("evaluate: teacher", 0, 3)
    teacher_probs = softmax(_torch_logits(teacher, data.inputs), axis=1)
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
    runners["teacher_torch_fp32_ms"] = lambda x: _torch_logits(teacher, x[None])
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


def _manifest(teacher: TensorTeacher, recipe: Sequence[StepConfig], reports: Sequence[StepReport],
              profile: DeviceProfile, data: TensorData, recipe_name: str, model_path: Path,
              model_entry: dict[str, Any]) -> dict[str, Any]:
    import onnx

    graph = onnx.load(str(model_path), load_external_data=False)
    parameters = int(sum(np.prod(t.dims) for t in graph.graph.initializer))
    shape = teacher.input_shape
    classes = len(teacher.labels)
    output_shape: list[Any] = ["batch", classes, *shape[1:]] if teacher.task == "segmentation" else ["batch", classes]
    return {
        "name": Path(str(teacher.name)).name or str(teacher.name),
        "task": teacher.task,
        "model": {"precision": _precision(recipe), "parameters": parameters, **model_entry,
                  "opset": max(o.version for o in graph.opset_import if o.domain in ("", "ai.onnx"))},
        "inputs": [{"name": teacher.input_name, "dtype": "float32", "shape": ["batch", *shape]}],
        "outputs": [{"name": teacher.output_name, "dtype": "float32", "shape": output_shape}],
        "preprocessing": dict(teacher.preprocessing),
        "postprocessing": {"type": "softmax", "axis": 1, "labels": list(teacher.labels)},
        "source": teacher.describe(),
        "recipe_name": recipe_name,
        "recipe": [step.to_dict() for step in recipe],
        "steps": [report.to_dict() for report in reports],
        "calibration": data.calibration.fingerprint(),
        "toolchain": {"name": "hfm-compress", "version": TOOLCHAIN_VERSION},
    }

