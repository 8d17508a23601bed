"""Clinical safety at compress time: fit the out-of-distribution detector, the low-confidence threshold and the
temperature that the runtime applies (`hfm_runtime.safety`), and measure them on data never used for fitting."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hfm_compress.configs import Progress, no_progress
from hfm_compress.errors import ConfigError
from hfm_compress.safety.fit import DEFAULT_FALSE_FLAG_RATE, SafetyFit, SafetySets, fit_safety

__all__ = ["DEFAULT_FALSE_FLAG_RATE", "MIN_HALF", "SafetyFit", "SafetySets", "attach_safety", "check_rate",
           "fit_for_artifact", "fit_safety"]

MIN_HALF = 16  # calibration items per half (fit, threshold): fewer give a detector and a threshold not worth shipping
MAX_RATE = 0.5


def check_rate(rate: float) -> float:
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 < rate <= MAX_RATE:
        raise ConfigError(f"false-flag rate = {rate!r}; expected a number in (0, {MAX_RATE}] (0.01 flags 1% of "
                          "in-distribution inputs)")
    return float(rate)


def attach_safety(draft: Path, teacher: Any, data: Any, profile: Any, evaluation: dict[str, Any],
                  progress: Progress = no_progress, rate: float = DEFAULT_FALSE_FLAG_RATE) -> SafetyFit | None:
    """Fit on the packed draft and add `ood` (and `calibration`) to `evaluation`; None, with the reason in
    `evaluation["ood"]["skipped"]`, when the calibration set is too small to fit and threshold on."""
    calibration = data.calibration
    count = len(calibration)
    if count < 2 * MIN_HALF:
        evaluation["ood"] = {"skipped": f"the calibration set has {count} inputs; fitting the out-of-distribution "
                                        f"detector and choosing its threshold needs at least {2 * MIN_HALF} (half "
                                        "each); this artifact raises no out_of_distribution or low_confidence flags"}
        return None
    progress("safety: fit and evaluate flags", 0, 1)
    fitted = fit_for_artifact(draft, teacher, data, profile, check_rate(rate))
    progress("safety: fit and evaluate flags", 1, 1)
    evaluation["ood"] = fitted.ood
    if fitted.calibration is not None:
        evaluation["calibration"] = fitted.calibration
    return fitted


def fit_for_artifact(draft: Path, teacher: Any, data: Any, profile: Any,
                     rate: float = DEFAULT_FALSE_FLAG_RATE) -> SafetyFit:
    """Fit on the packed draft as the device runs it (profile session settings, no self-test: evaluation ran it)."""
    import hfm_runtime
    from hfm_compress.safety.sets import tensor_sets, text_sets
    from hfm_compress.sources.modules import TensorTeacher

    model = hfm_runtime.load(draft, profile=profile, self_test=False)
    sets = tensor_sets(model, teacher, data) if isinstance(teacher, TensorTeacher) else text_sets(model, teacher, data)
    return fit_safety(model, sets, rate)
