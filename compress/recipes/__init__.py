"""Recipes: an ordered list of step configs, named (fp32, int8), `auto` (chosen from the profile's budgets and the
teacher) or read from a recipe file (TOML `[[steps]]` or a JSON list of steps, optionally with `[gates]` /
`{"gates": {...}, "steps": [...]}`). Each modality has its own named and `auto` recipes: text.py (BERT-family
encoders) and tensor.py (imaging and signal models).
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Any, Sequence

from hfm_compress.configs import StepConfig, config_from_dict
from hfm_compress.errors import ConfigError
from hfm_compress.gates import GateSetting, parse_gates
from hfm_runtime.profiles import DeviceProfile

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

AUTO = "auto"


@dataclasses.dataclass(frozen=True)
class Recipe:
    """Resolved recipe: display name, steps, and (for `auto`) one reason per choice.

    gates: the recipe file's `[gates]` table, parsed. fallbacks: for `auto`, the next-larger candidates to try in
    order when this one fails a gate. candidate: what this candidate is, for the messages that say which failed."""

    name: str
    steps: list[StepConfig]
    reasons: tuple[str, ...] = ()
    gates: dict[str, GateSetting] = dataclasses.field(default_factory=dict)
    fallbacks: tuple["Recipe", ...] = ()
    candidate: str = ""

    def describe(self) -> str:
        return self.candidate or f"recipe {self.name}"


def plan_recipe(name_or_file: str | None, profile: DeviceProfile, teacher: Any = None,
                corpus: Sequence[str] = ()) -> Recipe:
    """The steps (and, for `auto`, one reason per choice) that a recipe name or file means for `profile`.

    `auto` needs the loaded teacher (and, for text, the corpus the distill and vocab steps would use); a named recipe
    or a recipe file does not. An imaging/signal teacher (`TensorTeacher`) gets that modality's recipes."""
    from hfm_compress.sources.modules import TensorTeacher

    if isinstance(teacher, TensorTeacher):
        from hfm_compress.recipes.tensor import plan_tensor_recipe

        return plan_tensor_recipe(name_or_file, profile, teacher)
    from hfm_compress.recipes.text import plan_text_recipe

    return plan_text_recipe(name_or_file, profile, teacher, corpus)


def recipe_file(name: str) -> Recipe | None:
    """The recipe in file `name` when it names a .toml/.json or existing file, else None."""
    path = Path(name)
    if path.suffix.lower() in (".toml", ".json") or path.exists():
        steps, gates = read_recipe_file(path)
        return Recipe(path.name, steps, gates=gates)
    return None


def load_recipe_file(path: Path) -> list[StepConfig]:
    """The steps of a recipe file."""
    return read_recipe_file(path)[0]


def read_recipe_file(path: Path) -> tuple[list[StepConfig], dict[str, GateSetting]]:
    """The steps and the parsed `[gates]` table (empty without one) of a recipe file."""
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
    gates = data.get("gates") if isinstance(data, dict) else None
    if gates is not None and not isinstance(gates, dict):
        raise ConfigError(f"recipe file {path}: gates is a {type(gates).__name__}; expected a table of gates "
                          "([gates] in TOML, an object in JSON), e.g. sensitivity_drop = 0.01")
    return [config_from_dict(step) for step in steps], parse_gates(gates, "recipe", f"recipe file {path} [gates]")
