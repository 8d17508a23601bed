"""Recipes for imaging and signal models: `fp32`, `int8` (static, calibrated), and `auto`, chosen from the profile's
budgets and the teacher's family, with one reason per choice (they go into the manifest and the CLI output).

Static INT8, not dynamic: convolutions have no dynamic-quantized kernel in ONNX Runtime, and fixed activation ranges
from calibration frames/windows cost nothing per call, which a frame-rate or per-window budget wants.
"""

from __future__ import annotations

from pathlib import Path

from hfm_compress.configs import StepConfig
from hfm_compress.errors import ConfigError
from hfm_compress.recipes import AUTO, Recipe, load_recipe_file
from hfm_compress.tensor_sources import TensorTeacher
from hfm_runtime.profiles import DeviceProfile

# Weight-carrying ops: convolutions, linear layers (Gemm) and transformer MatMuls.
INT8_OPS = ("Conv", "MatMul", "Gemm")
TENSOR_RECIPES = ("fp32", "int8", AUTO)
VIT_DISTILL_EPOCHS = 4  # 6,000 phantom frames x 4 passes: ~10 min on 2 cores for a 6-layer, 192-wide ViT


def _export() -> StepConfig:
    from hfm_compress.export import ExportConfig

    return ExportConfig()


def _static_int8() -> StepConfig:
    from hfm_compress.quantize.static import StaticInt8Config

    return StaticInt8Config(op_types=INT8_OPS, max_samples=128)


def plan_tensor_recipe(name: str | None, profile: DeviceProfile, teacher: TensorTeacher) -> Recipe:
    from hfm_compress.tensor_steps import register_all

    register_all()
    name = name or AUTO
    if name == "fp32":
        return Recipe("fp32", [_export()])
    if name == "int8":
        return Recipe("int8", [_export(), _static_int8()])
    if name == AUTO:
        return auto_tensor_recipe(profile, teacher)
    path = Path(name)
    if path.suffix.lower() in (".toml", ".json") or path.exists():
        return Recipe(path.name, load_recipe_file(path))
    raise ConfigError(f"unknown recipe {name!r} for a {teacher.task} model; expected one of "
                      f"{', '.join(TENSOR_RECIPES)} or a .toml/.json recipe file")


def auto_tensor_recipe(profile: DeviceProfile, teacher: TensorTeacher) -> Recipe:
    """Torch steps for the teacher's family when the profile's budgets call for a smaller model, then static INT8,
    and the ORT format for single-core wearables (minimal ONNX Runtime builds)."""
    steps: list[StepConfig] = []
    reasons: list[str] = []
    family_steps, family_reasons = _family_steps(profile, teacher)
    steps += family_steps
    reasons += family_reasons
    steps += [_export(), _static_int8()]
    reasons.append(f"static INT8 on Conv/MatMul/Gemm: profile {profile.name} allows "
                   f"{', '.join(profile.allowed_precisions)}; calibrated ranges cost nothing per "
                   f"{profile.latency_unit}")
    if profile.artifact_size_mb <= 1.0:
        from hfm_compress.tensor_pipeline import OrtFormatConfig

        steps.append(OrtFormatConfig())
        reasons.append(f"ORT format with its operator list: the {profile.artifact_size_mb * 1000:g} KB size budget "
                       "points to firmware, where a reduced ONNX Runtime build is what fits")
    return Recipe(AUTO, steps, tuple(reasons))


def _family_steps(profile: DeviceProfile, teacher: TensorTeacher) -> tuple[list[StepConfig], list[str]]:
    """Distillation/pruning steps that the teacher's family supports; none for an unknown architecture."""
    family = _family(teacher)
    if family == "ecg_cnn":
        from hfm_compress.signal_models import auto_steps

        return auto_steps(profile, teacher)
    if family == "vit":
        return _vit_steps(profile, teacher)
    return [], [f"no distillation or pruning: {teacher.model_type} is not a family these steps know (ecg_cnn, ViT); "
                "only quantization"]


def _vit_steps(profile: DeviceProfile, teacher: TensorTeacher) -> tuple[list[StepConfig], list[str]]:
    """A latency-bound profile gets a ViT student with half the layers (evenly spread, the last kept), distilled from
    the teacher's logits: encoder layers are nearly all of a ViT's compute, so half the layers is about half the time,
    and static INT8 then brings the size under a quarter."""
    from hfm_compress.recipes import spread_layers
    from hfm_compress.vit_distill import VitDistillConfig

    from hfm_compress.vit_prune import vit_of

    layers = int(vit_of(teacher.model).config.num_hidden_layers)
    if profile.binding != "latency" or layers < 4:
        return [], [f"no distillation: profile {profile.name} is {profile.binding}-bound and the ViT has {layers} layers"]
    keep = spread_layers(layers, layers // 2)
    return [VitDistillConfig(layers=keep, epochs=VIT_DISTILL_EPOCHS)], [
        f"distill-vit into layers {keep} of {layers}: profile {profile.name} is bound by {profile.latency_ms:g} ms per "
        f"{profile.latency_unit} on an assumed {profile.assumed_slowdown:g}x slower device; encoder layers are the "
        "ViT's compute, so half of them is about half the time"]


def _family(teacher: TensorTeacher) -> str:
    if teacher.factory and teacher.factory.endswith(":ecg_cnn"):
        return "ecg_cnn"
    if teacher.model_type.lower().startswith("vit"):
        return "vit"
    return teacher.model_type
