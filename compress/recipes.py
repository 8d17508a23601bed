"""Named recipes per device profile, and recipe files (TOML `[[steps]]` tables or a JSON list of step configs)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Callable

from hfm_compress.configs import StepConfig, config_from_dict
from hfm_compress.errors import ConfigError
from hfm_runtime.profiles import DeviceProfile

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def _fp32(profile: DeviceProfile) -> list[StepConfig]:
    from hfm_compress.export import ExportConfig
    from hfm_compress.optimize import OptimizeConfig

    return [ExportConfig(), OptimizeConfig()]


def _int8(profile: DeviceProfile) -> list[StepConfig]:
    from hfm_compress.quantize.selective import SelectiveInt8Config

    # Accuracy-aware: quantize everything, then keep the most fragile nodes in float until the fidelity targets
    # hold. The profile's CPU class picks the INT8 format inside the step (recorded with its reason).
    return _fp32(profile) + [SelectiveInt8Config()]


NAMED_RECIPES: dict[str, Callable[[DeviceProfile], list[StepConfig]]] = {
    "fp32": _fp32,
    "int8": _int8,
}
DEFAULT_RECIPE = "int8"


def resolve_recipe(name_or_file: str | None, profile: DeviceProfile) -> tuple[str, list[StepConfig]]:
    """A named recipe for `profile`, or the steps of a recipe file; returns (display name, steps)."""
    name = name_or_file or DEFAULT_RECIPE
    if name in NAMED_RECIPES:
        return name, NAMED_RECIPES[name](profile)
    path = Path(name)
    if path.suffix.lower() in (".toml", ".json") or path.exists():
        return path.name, load_recipe_file(path)
    raise ConfigError(f"unknown recipe {name!r}; expected one of {', '.join(NAMED_RECIPES)} or a .toml/.json recipe file")


def load_recipe_file(path: Path) -> list[StepConfig]:
    if not path.is_file():
        raise ConfigError(f"recipe file {path} does not exist")
    text = path.read_text(encoding="utf-8")
    try:
        data: Any = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"recipe file {path} cannot be parsed ({exc})") from None
    steps = data.get("steps") if isinstance(data, dict) else data
    if not isinstance(steps, list) or not steps:
        raise ConfigError(f"recipe file {path} has no steps; expected a list of step tables ([[steps]] in TOML)")
    _import_step_modules()
    return [config_from_dict(step) for step in steps]


def _import_step_modules() -> None:
    """Step configs register themselves on import; load every step module so any type can be named."""
    import hfm_compress.export  # noqa: F401
    import hfm_compress.optimize  # noqa: F401
    import hfm_compress.quantize  # noqa: F401
