"""The toolchain's Python API: `compress(...)` builds a verified artifact, `plan_recipe(...)` says which steps a
recipe name (or `auto`) resolves to. The CLI, `demo` and the benchmarks call these.

    import hfm_compress
    result = hfm_compress.compress("default", "clinic-cpu", out="triage.hfm")
    result.path, result.evaluation["fidelity"], [r.step for r in result.reports]
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from hfm_compress.configs import Progress, no_progress
from hfm_compress.errors import CompressError
from hfm_compress.safety import DEFAULT_FALSE_FLAG_RATE, check_rate
from hfm_compress.gates import GateError, Gates, GateSetting, describe_attempt, gates_for, parse_gates
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
             sign: str | Path | None = None, gates: Sequence[str] | Mapping[str, Any] | None = None,
             false_flag_rate: float = DEFAULT_FALSE_FLAG_RATE) -> CompressResult:
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
    gates: "NAME=VALUE" strings or a {NAME: VALUE} dict (docs/gates.md) over the recipe file's, the profile's and
        the default gates. A failed gate writes nothing to `out` and raises `GateError` (its `report` has every
        row); `auto` first tries its next-larger candidates and records them in `evaluation["gates"]["attempts"]`.
    false_flag_rate: the share of held-out in-distribution inputs the out_of_distribution and low_confidence flags
        may raise; their thresholds are chosen at it (docs/safety.md).
    Raises `CompressError` (and its subclasses) with a message naming the input at fault.
    """
    from hfm_compress.modality import is_tensor_source

    out = Path(out)
    if out.suffix != ".hfm":
        raise CompressError(f"--out {out} must end in .hfm")
    signing_key = _load_key(sign)  # a bad key fails before hours of work
    option_gates = parse_gates(gates, "option")  # and a bad --gate
    rate = check_rate(false_flag_rate)  # and a bad rate
    device = _profile(profile)
    report = progress or no_progress
    if is_tensor_source(str(source), task):
        result = _compress_tensor(str(source), device, out, recipe, task, calib, eval, train, input_spec, resume,
                                  report, option_gates, rate)
    else:
        result = _compress_text(str(source), device, out, recipe, task or "embedding", calib, eval, corpus,
                                allow_download, resume, report, option_gates, rate)
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
                   allow_download: bool, resume: bool, progress: Progress,
                   option_gates: Mapping[str, GateSetting], rate: float) -> CompressResult:
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
    gates = gates_for(teacher, device, plan.gates, option_gates)

    def run(candidate: Recipe, candidate_gates: Gates, reasons: Sequence[str], checkpoints: Path | None) -> Any:
        held_out = hold_out_from_corpus(data) if uses_corpus(candidate.steps) else data
        return compress_model(teacher, candidate.steps, device, out, held_out, progress, candidate.name,
                              recipe_reasons=reasons, checkpoint_dir=checkpoints, resume=resume, gates=candidate_gates,
                              false_flag_rate=rate)

    return compress_candidates(plan, gates, out, run)


def _compress_tensor(source: str, device: DeviceProfile, out: Path, recipe: str | None, task: str | None,
                     calib: str | Path | None, evaluation: str | Path | None, train: str | None,
                     input_spec: str | Path | None, resume: bool, progress: Progress,
                     option_gates: Mapping[str, GateSetting], rate: float) -> CompressResult:
    """Imaging and signal models: data sets as arrays, `auto` by default (the profile's budgets pick the steps)."""
    from hfm_compress.run import compress_model
    from hfm_compress.steps import step_type
    from hfm_compress.sources.arrays import TensorData, load_set
    from hfm_compress.sources import load_tensor_teacher

    progress("load teacher", 0, 1)
    teacher = load_tensor_teacher(source, task, _path(input_spec))
    plan = plan_recipe(recipe, device, teacher)
    gates = gates_for(teacher, device, plan.gates, option_gates)  # a bad class in a gate fails before the data
    progress("load data", 0, 1)
    default = teacher.default_data
    names = {"calibration": calib or default, "evaluation": evaluation or default, "train": train or default}
    if not any(step_type(step).stage == "torch" for step in plan.steps):
        names.pop("train")  # fallbacks of `auto` drop torch steps, never add them
    missing = [role for role, value in names.items() if value is None]
    if missing:
        raise CompressError(f"SOURCE {source} names no default data: pass "
                            f"{' and '.join('--' + DATA_OPTIONS[r] for r in missing)} as .npz files or "
                            "synth:ultrasound / synth:ecg")
    sets = {role: load_set(str(value), role, teacher.task, teacher.preprocessing)
            for role, value in names.items() if value is not None}
    data = TensorData(sets["calibration"], sets["evaluation"], sets.get("train"))
    progress("load data", 1, 1)

    def run(candidate: Recipe, candidate_gates: Gates, reasons: Sequence[str], checkpoints: Path | None) -> Any:
        return compress_model(teacher, candidate.steps, device, out, data, progress, candidate.name,
                              recipe_reasons=reasons, checkpoint_dir=checkpoints, resume=resume, gates=candidate_gates,
                              false_flag_rate=rate)

    return compress_candidates(plan, gates, out, run)


Attempt = Callable[[Recipe, Gates, Sequence[str], "Path | None"], CompressResult]


def compress_candidates(plan: Recipe, gates: Gates, out: Path, run: Attempt) -> CompressResult:
    """`run(candidate, gates, reasons, checkpoint_dir)` on `plan`, then, while a candidate fails a gate, on each of
    `plan.fallbacks` (auto's next-larger candidates) in turn. Each refusal becomes a line of the next candidate's
    `recipe_reasons` and an entry of `evaluation["gates"]["attempts"]`; when none passes, `GateError` says what
    every candidate failed. A recipe without fallbacks fails at once."""
    candidates = [plan, *plan.fallbacks]
    attempts: list[dict[str, Any]] = []
    notes: list[str] = []
    error: GateError | None = None
    for number, candidate in enumerate(candidates):
        if error is not None:
            notes.append(f"{describe_attempt(error.report, candidates[number - 1].describe())}; "
                         f"trying {candidate.describe()}")
        checkpoints = None if number == 0 else fallback_checkpoints(out, number)
        try:
            return run(candidate, gates.with_attempts(attempts), (*notes, *candidate.reasons), checkpoints)
        except GateError as exc:
            attempts.append({"candidate": candidate.describe(), "passed": False, "failed": exc.report.failures()})
            error = exc
    assert error is not None
    if plan.name != AUTO:
        raise error
    error.report.attempts = attempts
    if len(candidates) == 1:
        raise GateError(f"{error}; auto has no larger candidate within the profile's size budget to try",
                        error.report) from None
    tried = "; ".join(f"{a['candidate']}: {', '.join(a['failed'])}" for a in attempts)
    raise GateError(f"every auto candidate failed its gates, no artifact written to {out}: {tried}",
                    error.report) from None


def fallback_checkpoints(out: Path, number: int) -> Path:
    """Distillation checkpoints of auto's fallback `number`, beside the first candidate's (`checkpoint_folder`)."""
    return out.parent / f"{out.stem}.fallback{number}.distill-checkpoints"


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
