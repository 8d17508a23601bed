"""Step configs: small frozen dataclasses with a type tag and a version.

A recipe is an ordered list of these; the artifact manifest records `to_dict()` of every step that ran, and
`config_from_dict()` turns such a record (or a recipe file entry) back into the same config.
Each concrete config validates its fields in `__post_init__`; the step registry (`steps.step_types()`, filled
explicitly) says which types exist, so `config_from_dict` knows every type whatever modules were imported before.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterable, TypeVar

from hfm_compress.errors import ConfigError

# Every long operation reports (label, done, total); the CLI draws it as a progress bar.
Progress = Callable[[str, int, int], None]
C = TypeVar("C", bound=type["StepConfig"])


@dataclasses.dataclass(frozen=True)
class StepConfig:
    """Base of every step config. Subclasses set `TYPE` (the tag in recipe files) and `VERSION`."""

    TYPE: ClassVar[str] = ""
    VERSION: ClassVar[int] = 1

    def to_dict(self) -> dict[str, Any]:
        fields = {f.name: _jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}
        return {"type": self.TYPE, "version": self.VERSION, **fields}

    def replace(self, **changes: Any) -> "StepConfig":
        return dataclasses.replace(self, **changes)


def register_config(cls: C) -> C:
    """Check that a config class names its type; registration itself is explicit, in `steps.step_types()`."""
    if not cls.TYPE:
        raise TypeError(f"{cls.__name__} must set TYPE")
    return cls


def registered_types() -> list[str]:
    from hfm_compress.steps import config_types

    return sorted(config_types())


def config_from_dict(data: dict[str, Any]) -> StepConfig:
    """Rebuild a config from its `to_dict()` form; unknown types, versions or fields are rejected by name."""
    if not isinstance(data, dict):
        raise ConfigError(f"a recipe step must be a table/object, got {type(data).__name__}")
    from hfm_compress.steps import config_types

    types = config_types()
    step_type = data.get("type")
    if step_type not in types:
        raise ConfigError(f"unknown step type {step_type!r}; expected one of {', '.join(sorted(types))}")
    cls = types[step_type]
    version = data.get("version", cls.VERSION)
    if version != cls.VERSION:
        raise ConfigError(f"step {step_type!r} has version {version!r}; this toolchain reads version {cls.VERSION}")
    known = {f.name: f for f in dataclasses.fields(cls)}
    values = {k: v for k, v in data.items() if k not in ("type", "version")}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(f"step {step_type!r} has unknown field(s) {', '.join(unknown)}; expected {', '.join(known)}")
    values = {k: _from_json(v, known[k].type) for k, v in values.items()}
    try:
        return cls(**values)
    except TypeError as exc:
        raise ConfigError(f"step {step_type!r}: {exc}") from None


def check_choice(step: str, field: str, value: Any, choices: Iterable[Any]) -> None:
    choices = tuple(choices)
    if value not in choices:
        raise ConfigError(f"{step}.{field} = {value!r} is invalid; expected one of {', '.join(map(repr, choices))}")


def check_range(step: str, field: str, value: float, low: float | None = None, high: float | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{step}.{field} = {value!r} is invalid; expected a number")
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f"between {low} and {high}" if low is not None and high is not None else (
            f">= {low}" if low is not None else f"<= {high}")
        raise ConfigError(f"{step}.{field} = {value!r} is out of range; expected {bounds}")


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    return value


def _from_json(value: Any, annotation: Any) -> Any:
    """Lists from JSON/TOML become tuples where the field is a tuple, so configs stay hashable and frozen."""
    if isinstance(value, list) and "tuple" in str(annotation):
        return tuple(_from_json(v, "") for v in value)
    return value


@dataclasses.dataclass
class StepReport:
    """What one step did: recorded in the manifest next to the exact config that ran."""

    step: str
    config: dict[str, Any]
    details: dict[str, Any] = dataclasses.field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.step, "config": self.config, "details": self.details, "seconds": round(self.seconds, 3)}


def no_progress(label: str, done: int, total: int) -> None:
    """The default `Progress`: report nothing."""


@dataclasses.dataclass
class StepContext:
    """What a torch step of an imaging/signal model gets besides its config, the models and the data."""

    checkpoint_dir: Path  # where long steps keep checkpoints (resume continues from them)
    resume: bool
    progress: Progress


def parameter_count(model: Any) -> int:
    return int(sum(p.numel() for p in model.parameters()))
