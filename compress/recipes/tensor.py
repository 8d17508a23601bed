"""Recipes for imaging and signal models: `fp32`, `int8` (static, calibrated), and `auto`, chosen from the profile's
budgets and the teacher's family, with one reason per choice (they go into the manifest and the CLI output).

Static INT8, not dynamic: convolutions have no dynamic-quantized kernel in ONNX Runtime, and fixed activation ranges
from calibration frames/windows cost nothing per call, which a frame-rate or per-window budget wants.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from hfm_compress.configs import StepConfig
from hfm_compress.errors import ConfigError
from hfm_compress.recipes import AUTO, Recipe, recipe_file
from hfm_compress.sources.modules import TensorTeacher
from hfm_runtime.profiles import DeviceProfile

# Weight-carrying ops: convolutions, linear layers (Gemm) and transformer MatMuls.
INT8_OPS = ("Conv", "MatMul", "Gemm")
TENSOR_RECIPES = ("fp32", "int8", AUTO)
# Phantom SegFormer -> seg_cnn on 3,000 frames: Dice vs the teacher 0.950 after 12 epochs (156 s on 2 cores).
# Soft targets only (alpha 1): the goal is the teacher's decisions. With hard labels (alpha 0.7) the ViT's cls_cnn
# student reached accuracy 0.983 against the teacher's 0.950, but agreed with the teacher on only 96.7% of frames.
IMAGING_KD_EPOCHS = 20


def _export() -> StepConfig:
    from hfm_compress.export import ExportConfig

    return ExportConfig()


def _static_int8() -> StepConfig:
    from hfm_compress.quantize.static import StaticInt8Config

    return StaticInt8Config(op_types=INT8_OPS, max_samples=128)


def plan_tensor_recipe(name: str | None, profile: DeviceProfile, teacher: TensorTeacher) -> Recipe:
    name = name or AUTO
    if name == "fp32":
        return Recipe("fp32", [_export()])
    if name == "int8":
        return Recipe("int8", [_export(), _static_int8()])
    if name == AUTO:
        return auto_tensor_recipe(profile, teacher)
    from_file = recipe_file(name)
    if from_file is not None:
        return from_file
    raise ConfigError(f"unknown recipe {name!r} for a {teacher.task} model; expected one of "
                      f"{', '.join(TENSOR_RECIPES)} or a .toml/.json recipe file")


def auto_tensor_recipe(profile: DeviceProfile, teacher: TensorTeacher) -> Recipe:
    """Torch steps for the teacher's family when the profile's budgets call for a smaller model, then static INT8,
    and the ORT format for single-core wearables (minimal ONNX Runtime builds).

    When it distils, the teacher itself at INT8 is the fallback candidate if its weights fit the size budget (twice
    over where the artifact also holds the ORT-format copy): the larger model `compress` tries when the student
    fails a gate."""
    family_steps, family_reasons = _family_steps(profile, teacher)
    recipe = _auto_candidate(profile, family_steps, family_reasons)
    if not family_steps:
        return recipe
    parameters = sum(p.numel() for p in teacher.model.parameters())
    copies = 2 if _ort_format(profile) else 1
    int8_mb = copies * parameters / 1e6
    if int8_mb > profile.artifact_size_mb:
        return recipe
    fallback = _auto_candidate(profile, [], [
        f"no distillation (fallback): the student failed a gate; the teacher's {parameters:,} weights "
        f"(~{int8_mb:.2f} MB at INT8{' in ONNX and ORT format' if copies == 2 else ''}) fit the "
        f"{profile.artifact_size_mb:g} MB size budget of profile {profile.name}"])
    return dataclasses.replace(recipe, fallbacks=(fallback,))


def _ort_format(profile: DeviceProfile) -> bool:
    return profile.artifact_size_mb <= 1.0


def _auto_candidate(profile: DeviceProfile, family_steps: list[StepConfig], family_reasons: list[str]) -> Recipe:
    steps: list[StepConfig] = [*family_steps, _export(), _static_int8()]
    reasons = [*family_reasons, f"static INT8 on Conv/MatMul/Gemm: profile {profile.name} allows "
               f"{', '.join(profile.allowed_precisions)}; calibrated ranges cost nothing per {profile.latency_unit}"]
    if _ort_format(profile):
        from hfm_compress.ort_format import OrtFormatConfig

        steps.append(OrtFormatConfig())
        reasons.append(f"ORT format with its operator list: the {profile.artifact_size_mb * 1000:g} KB size budget "
                       "points to firmware, where a reduced ONNX Runtime build is what fits")
    how = "with distillation" if family_steps else "without distillation"
    return Recipe(AUTO, steps, tuple(reasons), candidate=f"auto {how} ({' -> '.join(s.TYPE for s in steps)})")


def _family_steps(profile: DeviceProfile, teacher: TensorTeacher) -> tuple[list[StepConfig], list[str]]:
    """Distillation/pruning steps that the teacher's family supports; none for an unknown architecture."""
    family = _family(teacher)
    if family == "ecg_cnn":
        return ecg_auto_steps(profile, teacher)
    if family in ("vit", "segformer"):
        return _imaging_student_steps(profile, teacher)
    return [], [f"no distillation or pruning: {teacher.model_type} is not a family these steps know (ecg_cnn, ViT, "
                "SegFormer); only quantization"]


def _imaging_student_steps(profile: DeviceProfile, teacher: TensorTeacher) -> tuple[list[StepConfig], list[str]]:
    """A latency-bound profile gets a compact CNN student (`imaging_students.py`) distilled from the transformer's
    logits (per pixel for segmentation): the teacher's time goes to hundreds of small operators, which a shallower or
    narrower transformer keeps (half the layers measured 1.35x; half the SegFormer depth 1.3x), while the CNN
    student has a few dozen fused convolutions."""
    from hfm_compress.models.imaging_students import CLS_STUDENT_KWARGS, SEG_STUDENT_KWARGS
    from hfm_compress.distill.kd import TensorDistillConfig

    if profile.binding != "latency":
        return [], [f"no distillation: profile {profile.name} is {profile.binding}-bound; INT8 alone meets its budgets"]
    spec = teacher.preprocessing
    height, width = int(spec["height"]), int(spec["width"])
    if height % 16 or width % 16:
        return [], [f"no CNN student: its four stride-2 stages need a size divisible by 16, the teacher takes "
                    f"{height}x{width}; only quantization"]
    segmentation = teacher.task == "segmentation"
    base = SEG_STUDENT_KWARGS if segmentation else CLS_STUDENT_KWARGS
    kwargs = {**base, "classes": len(teacher.labels), "in_channels": int(spec["channels"])}
    factory = f"hfm_compress.imaging_students:{'seg_cnn' if segmentation else 'cls_cnn'}"
    step = TensorDistillConfig(student_factory=factory, student_kwargs=json.dumps(kwargs), epochs=IMAGING_KD_EPOCHS,
                               lr=3e-3, batch_size=32, temperature=2.0, alpha=1.0)
    return [step], [
        f"kd into {factory.rpartition(':')[2]} {kwargs['widths']} for {IMAGING_KD_EPOCHS} epochs: profile "
        f"{profile.name} is bound by {profile.latency_ms:g} ms per {profile.latency_unit} on an assumed "
        f"{profile.assumed_slowdown:g}x slower device, and the {teacher.model_type} teacher's time is in hundreds of "
        "small operators that a shallower transformer keeps; a few fused convolutions do not"]


def _family(teacher: TensorTeacher) -> str:
    if teacher.factory and teacher.factory.endswith(":ecg_cnn"):
        return "ecg_cnn"
    for family in ("vit", "segformer"):
        if teacher.model_type.lower().startswith(family):
            return family
    return teacher.model_type


def ecg_auto_steps(profile: DeviceProfile, teacher: TensorTeacher) -> tuple[list[Any], list[str]]:
    """The `auto` recipe's torch steps for an ecg_cnn teacher: distil into the STUDENT_KWARGS student when the
    teacher's INT8 weights alone would not fit the profile's size budget."""
    from hfm_compress.distill.kd import TensorDistillConfig
    from hfm_compress.models.ecg_cnn import STUDENT_KWARGS, ecg_cnn

    parameters = sum(p.numel() for p in teacher.model.parameters())
    int8_kb, budget_kb = parameters / 1000, profile.artifact_size_mb * 1000
    if int8_kb <= 0.5 * budget_kb:
        return [], [f"no distillation: the teacher's {parameters:,} weights are ~{int8_kb:.0f} KB at INT8, within "
                    f"half the {budget_kb:g} KB budget of profile {profile.name}"]
    student = ecg_cnn(**STUDENT_KWARGS)
    student_parameters = sum(p.numel() for p in student.parameters())
    return [TensorDistillConfig(student_kwargs="ecg-student")], [
        f"kd into the ecg-student CNN ({student_parameters:,} weights, ~{student_parameters / 1000:.0f} KB at INT8):"
        f" the teacher's {parameters:,} weights (~{int8_kb:.0f} KB at INT8) do not fit half the {budget_kb:g} KB "
        f"budget of profile {profile.name}, and the other half is left for the graph, manifest and ORT copy"]
