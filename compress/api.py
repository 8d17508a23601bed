"""The toolchain's Python API: `compress(...)` builds a verified artifact, `plan_recipe(...)` says which steps a
recipe name (or `auto`) resolves to. The CLI, `demo` and the benchmarks call these.

    import hfm_compress
    result = hfm_compress.compress("default", "clinic-cpu", out="triage.hfm")
    result.path, result.evaluation["fidelity"], [r.step for r in result.reports]
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from hfm_compress.configs import Progress, no_progress
from hfm_compress.errors import CompressError
from hfm_compress.recipes import AUTO, Recipe
from hfm_compress.recipes import plan_recipe as plan_for_profile
from hfm_compress.recipes.text import DEFAULT_RECIPE
from hfm_compress.run import CompressResult
from hfm_runtime.profiles import DeviceProfile

DATA_OPTIONS = {"calibration": "calib", "evaluation": "eval", "train": "train"}


def compress(source: str | Path, profile: str | DeviceProfile, recipe: str | None = None, *, out: str | Path,
             task: str | None = None, calib: str | Path | None = None, eval: str | Path | None = None,  # noqa: A002
             train: str | None = None, corpus: str | Path | None = None, input_spec: str | Path | None = None,
             allow_download: bool = False, resume: bool = False, progress: Progress | None = None,
             sign: str | Path | None = None) -> CompressResult:
    """Compress `source` for `profile` into the artifact `out` (.hfm) and evaluate it against the teacher.

    source: 'default' (packaged MiniLM-L6), a Hugging Face folder (text or vision), an .onnx file (text), a
        `package.module:factory` reference or a module folder (imaging/signal).
    profile: a device profile name, a .toml path or a loaded `DeviceProfile`.
    recipe: a named recipe (fp32, int8, auto) or a .toml/.json recipe file; default int8 for text models and auto
        (chosen from the profile's budgets) for imaging/signal models.
    task: text: embedding (default) or classification; imaging/signal: the model's own unless given.
    calib, eval: text files (one text per line; default the bundled clinical sets), or for imaging/signal .npz files
        or synth:ultrasound / synth:ecg (default: the data the model names).
    train: imaging/signal training data for distillation and pruning recovery. corpus: in-domain texts for the
        distill and vocab steps (default: the bundled clinical corpus).
    resume: continue an interrupted distillation from its checkpoints beside `out`.
    progress: called as progress(label, done, total). sign: a private key file; the artifact is signed and
        `result.signature` holds the trust record.
    Raises `CompressError` (and its subclasses) with a message naming the input at fault.
    """
    from hfm_compress.modality import is_tensor_source

    out = Path(out)
    if out.suffix != ".hfm":
        raise CompressError(f"--out {out} must end in .hfm")
    signing_key = _load_key(sign)  # a bad key fails before hours of work
    device = _profile(profile)
    report = progress or no_progress
    if is_tensor_source(str(source), task):
        result = _compress_tensor(str(source), device, out, recipe, task, calib, eval, train, input_spec, resume,
                                  report)
    else:
        result = _compress_text(str(source), device, out, recipe, task or "embedding", calib, eval, corpus,
                                allow_download, resume, report)
    if signing_key is not None:
        from hfm_runtime.artifact import read_artifact, sign_artifact

        sign_artifact(result.path, signing_key)
        result.signature = read_artifact(result.path).trust.to_dict()
    return result


def plan_recipe(recipe: str | None, profile: str | DeviceProfile, teacher: Any = None,
                corpus: Sequence[str] = ()) -> Recipe:
    """The steps (and, for `auto`, one reason per choice) that `recipe` means for `profile` (a name, a .toml path
    or a `DeviceProfile`); see `hfm_compress.recipes.plan_recipe`."""
    return plan_for_profile(recipe, _profile(profile), teacher, corpus)


def _compress_text(source: str, device: DeviceProfile, out: Path, recipe: str | None, task: str,
                   calib: str | Path | None, evaluation: str | Path | None, corpus: str | Path | None,
                   allow_download: bool, resume: bool, progress: Progress) -> CompressResult:
    """Texts and teacher, then the recipe (`auto` needs the teacher), then the pipeline."""
    from hfm_compress.modality.text import uses_corpus
    from hfm_compress.run import compress_model
    from hfm_compress.sources.text import load_teacher
    from hfm_compress.sources.texts import hold_out_from_corpus, load_text_data

    name = recipe or DEFAULT_RECIPE
    plan = None if name == AUTO else plan_recipe(name, device)  # recipe errors before the slow teacher load
    data = load_text_data(_path(calib), _path(evaluation), _path(corpus))
    progress("load teacher", 0, 1)
    teacher = load_teacher(source, task, allow_download)
    progress("load teacher", 1, 1)
    plan = plan or plan_recipe(name, device, teacher, data.corpus)
    if uses_corpus(plan.steps):
        data = hold_out_from_corpus(data)
    return compress_model(teacher, plan.steps, device, out, data, progress, plan.name, recipe_reasons=plan.reasons,
                          resume=resume)


def _compress_tensor(source: str, device: DeviceProfile, out: Path, recipe: str | None, task: str | None,
                     calib: str | Path | None, evaluation: str | Path | None, train: str | None,
                     input_spec: str | Path | None, resume: bool, progress: Progress) -> CompressResult:
    """Imaging and signal models: data sets as arrays, `auto` by default (the profile's budgets pick the steps)."""
    from hfm_compress.run import compress_model
    from hfm_compress.steps import step_type
    from hfm_compress.sources.arrays import TensorData, load_set
    from hfm_compress.sources import load_tensor_teacher

    progress("load teacher", 0, 1)
    teacher = load_tensor_teacher(source, task, _path(input_spec))
    plan = plan_recipe(recipe, device, teacher)
    progress("load data", 0, 1)
    default = teacher.default_data
    names = {"calibration": calib or default, "evaluation": evaluation or default, "train": train or default}
    if not any(step_type(step).stage == "torch" for step in plan.steps):
        names.pop("train")
    missing = [role for role, value in names.items() if value is None]
    if missing:
        raise CompressError(f"SOURCE {source} names no default data: pass "
                            f"{' and '.join('--' + DATA_OPTIONS[r] for r in missing)} as .npz files or "
                            "synth:ultrasound / synth:ecg")
    sets = {role: load_set(str(value), role, teacher.task, teacher.preprocessing)
            for role, value in names.items() if value is not None}
    data = TensorData(sets["calibration"], sets["evaluation"], sets.get("train"))
    progress("load data", 1, 1)
    return compress_model(teacher, plan.steps, device, out, data, progress, plan.name, recipe_reasons=plan.reasons,
                          resume=resume)


def _profile(profile: str | DeviceProfile) -> DeviceProfile:
    from hfm_runtime.profiles import load_profile

    return profile if isinstance(profile, DeviceProfile) else load_profile(str(profile))


def _path(value: str | Path | None) -> Path | None:
    return Path(value) if value is not None else None


def _load_key(sign: str | Path | None) -> Any:
    if sign is None:
        return None
    from hfm_runtime.signing import load_private_key

    return load_private_key(Path(sign))
