"""Device profiles: a frozen description of a device class and its budgets, read from TOML.

The same `DeviceProfile` drives the compression recipe (CPU class, precisions, budgets) and the runtime
session (threads, optimisation level, memory arena, execution providers). Every number in a profile file carries
a `why`, so a reader can check the reasoning; see device_profiles/SCHEMA.md. Optional tables: `[trust]` (which
artifacts may load), `[safety]` (which flagged results are withheld rather than returned with their flags) and
`[gates]` (thresholds an artifact must meet, read by the toolchain).
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import sys
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

from hfm_runtime.errors import ProfileError
from hfm_runtime.safety import SAFETY_FLAGS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

SCHEMA_VERSION = 1
CPU_CLASSES = ("x86-avx2", "x86-vnni", "arm64")
PRECISIONS = ("fp32", "fp16", "int8", "int4")
OPT_LEVELS = ("disabled", "basic", "extended", "all")
LATENCY_UNITS = ("text", "frame", "window", "input")
BINDING = ("size", "latency", "memory")


@dataclasses.dataclass(frozen=True)
class DeviceProfile:
    name: str
    description: str
    cpu_class: str
    cores: int
    ram_mb: float
    assumed_slowdown: float
    intra_op_threads: int
    inter_op_threads: int
    graph_optimization_level: str
    enable_cpu_mem_arena: bool
    execution_providers: tuple[str, ...]
    artifact_size_mb: float
    memory_mb: float
    latency_ms: float
    latency_unit: str
    allowed_precisions: tuple[str, ...]
    binding: str
    rationale: Mapping[str, str]
    sha256: str
    source: str
    require_signature: bool = False
    trusted_keys: tuple[str, ...] = ()  # PEM files (resolved against the profile's folder) or inline PEM
    withhold: tuple[str, ...] = ()  # safety flags whose results are withheld; others are returned with their flags
    gates: Mapping[str, str | float] = dataclasses.field(default_factory=dict)  # name -> threshold or "off"

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["rationale"] = dict(self.rationale)
        data["execution_providers"] = list(self.execution_providers)
        data["allowed_precisions"] = list(self.allowed_precisions)
        data["trusted_keys"] = list(self.trusted_keys)
        data["withhold"] = list(self.withhold)
        data["gates"] = dict(self.gates)
        return data

    def latency_budget_on_build_machine_ms(self) -> float:
        """The device latency budget translated to this build machine by the profile's assumed slowdown."""
        return self.latency_ms / self.assumed_slowdown


def available_profiles() -> list[str]:
    folder = resources.files("hfm_runtime.device_profiles")
    return sorted(p.name[: -len(".toml")] for p in folder.iterdir() if p.name.endswith(".toml"))


def load_profile(name_or_path: str | Path | DeviceProfile) -> DeviceProfile:
    """Load a packaged profile by name (`clinic-cpu`) or a user's profile file by path."""
    if isinstance(name_or_path, DeviceProfile):
        return name_or_path
    text, source = _read_profile_text(str(name_or_path))
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"profile {source}: not valid TOML ({exc})") from None
    return parse_profile(data, source=source, sha256=hashlib.sha256(text.encode()).hexdigest())


def _read_profile_text(name_or_path: str) -> tuple[str, str]:
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        if not path.is_file():
            raise ProfileError(f"profile file {path} does not exist")
        return path.read_text(encoding="utf-8"), str(path)
    folder = resources.files("hfm_runtime.device_profiles")
    packaged = folder / f"{name_or_path}.toml"
    if not packaged.is_file():
        raise ProfileError(
            f"unknown profile {name_or_path!r}; expected one of {', '.join(available_profiles())} or a path to a .toml file"
        )
    return packaged.read_text(encoding="utf-8"), f"{name_or_path} (packaged)"


def parse_profile(data: Mapping[str, Any], source: str = "<dict>", sha256: str = "") -> DeviceProfile:
    """Validate a parsed profile table; every error names the field and what was expected."""
    reader = _FieldReader(data, source)
    version = reader.plain("schema_version", int)
    if version != SCHEMA_VERSION:
        raise ProfileError(f"profile {source}: schema_version = {version}; this runtime reads schema_version {SCHEMA_VERSION}")
    profile = DeviceProfile(
        name=reader.plain("name", str),
        description=reader.plain("description", str),
        cpu_class=reader.choice("device.cpu_class", CPU_CLASSES),
        cores=reader.number("device.cores", int, low=1),
        ram_mb=reader.number("device.ram_mb", float, low=1),
        assumed_slowdown=reader.number("device.assumed_slowdown", float, low=0.01),
        intra_op_threads=reader.number("session.intra_op_threads", int, low=1),
        inter_op_threads=reader.number("session.inter_op_threads", int, low=1),
        graph_optimization_level=reader.plain_choice("session.graph_optimization_level", OPT_LEVELS),
        enable_cpu_mem_arena=reader.plain("session.enable_cpu_mem_arena", bool),
        execution_providers=reader.string_list("session.execution_providers"),
        artifact_size_mb=reader.number("budgets.artifact_size_mb", float, low=0.001),
        memory_mb=reader.number("budgets.memory_mb", float, low=0.1),
        latency_ms=reader.number("budgets.latency_ms", float, low=0.001),
        latency_unit=reader.plain_choice("latency_unit", LATENCY_UNITS),
        allowed_precisions=reader.string_list("budgets.allowed_precisions", PRECISIONS),
        binding=reader.plain_choice("budgets.binding", BINDING),
        rationale=reader.rationale,
        sha256=sha256,
        source=source,
        **_trust_fields(data, source),
        withhold=_withhold(data, source, reader.rationale),
        gates=_gates(data, source),
    )
    return profile


def _trust_fields(data: Mapping[str, Any], source: str) -> dict[str, Any]:
    """The optional `[trust]` table: `require_signature` (bool) and `trusted_keys` (PEM file paths, relative to the
    profile file, or inline PEM). Without it, signatures are checked when their key is known but not required."""
    trust = _table(data, "trust", source)
    unknown = sorted(set(trust) - {"require_signature", "trusted_keys", "why"})
    if unknown:
        raise ProfileError(f"profile {source}: trust has unknown keys {', '.join(unknown)}; expected "
                           "require_signature, trusted_keys, why")
    require = trust.get("require_signature", False)
    if not isinstance(require, bool):
        raise ProfileError(f"profile {source}: trust.require_signature = {require!r} is invalid; expected true or false")
    keys = trust.get("trusted_keys", [])
    if not isinstance(keys, list) or not all(isinstance(k, str) and k.strip() for k in keys):
        raise ProfileError(f"profile {source}: trust.trusted_keys = {keys!r} is invalid; expected a list of public "
                           "key files (PEM) or PEM texts")
    if require and not keys:
        raise ProfileError(f"profile {source}: trust.require_signature is true but trust.trusted_keys is empty; no "
                           "artifact could load")
    folder = Path(source).parent if Path(source).is_file() else Path.cwd()  # packaged profiles: relative to cwd
    resolved = tuple(k if k.lstrip().startswith("-----BEGIN") else str(folder / k) for k in keys)
    return {"require_signature": require, "trusted_keys": resolved}


def _withhold(data: Mapping[str, Any], source: str, rationale: dict[str, str]) -> tuple[str, ...]:
    """The optional `[safety]` table: `withhold` (safety flags whose results are withheld) and `why` (required when
    anything is withheld; kept in the rationale as `safety.withhold`). Without it every result is returned with its
    flags."""
    safety = _table(data, "safety", source)
    unknown = sorted(set(safety) - {"withhold", "why"})
    if unknown:
        raise ProfileError(f"profile {source}: safety has unknown keys {', '.join(unknown)}; expected withhold, why")
    withhold = safety.get("withhold", [])
    if not isinstance(withhold, list) or not all(isinstance(flag, str) for flag in withhold):
        raise ProfileError(f"profile {source}: safety.withhold = {withhold!r} is invalid; expected a list of flags "
                           f"from {', '.join(SAFETY_FLAGS)}")
    bad = [flag for flag in withhold if flag not in SAFETY_FLAGS]
    if bad:
        raise ProfileError(f"profile {source}: safety.withhold = {withhold!r} is invalid: {', '.join(bad)} is not a "
                           f"safety flag; expected flags from {', '.join(SAFETY_FLAGS)}")
    why = safety.get("why")
    if why is not None and not isinstance(why, str):
        raise ProfileError(f"profile {source}: safety.why = {why!r} is invalid; expected a string")
    if withhold and not (why or "").strip():
        raise ProfileError(f"profile {source}: safety.withhold = {withhold!r} needs a non-empty safety.why giving the "
                           "reason a flagged result is withheld on this device rather than returned with its flag")
    if why is not None and why.strip():
        rationale["safety.withhold"] = why.strip()
    return tuple(dict.fromkeys(withhold))


def _gates(data: Mapping[str, Any], source: str) -> dict[str, str | float]:
    """The optional `[gates]` table, passed through: gate name -> a number or "off". The toolchain checks the names
    and what each number means; here only the types."""
    gates = _table(data, "gates", source)
    for name, value in gates.items():
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not isinstance(name, str) or not name.strip():
            raise ProfileError(f"profile {source}: gates has a key {name!r}; expected gate names (strings)")
        if not (value == "off" or (number and math.isfinite(value))):
            raise ProfileError(f"profile {source}: gates.{name} = {value!r} is invalid; expected a finite number or "
                               '"off"')
    return dict(gates)


def _table(data: Mapping[str, Any], name: str, source: str) -> Mapping[str, Any]:
    table = data.get(name, {})
    if not isinstance(table, Mapping):
        raise ProfileError(f"profile {source}: {name} = {table!r} is invalid; expected a table")
    return table


class _FieldReader:
    """Reads dotted fields from a profile table; numbers must be `{ value = ..., why = "..." }`."""

    def __init__(self, data: Mapping[str, Any], source: str) -> None:
        self.data = data
        self.source = source
        self.rationale: dict[str, str] = {}

    def _get(self, dotted: str) -> Any:
        node: Any = self.data
        for part in dotted.split("."):
            if not isinstance(node, Mapping) or part not in node:
                raise ProfileError(f"profile {self.source}: missing field {dotted}")
            node = node[part]
        return node

    def _fail(self, dotted: str, value: Any, expected: str) -> ProfileError:
        return ProfileError(f"profile {self.source}: {dotted} = {value!r} is invalid; expected {expected}")

    def plain(self, dotted: str, kind: type) -> Any:
        value = self._get(dotted)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise self._fail(dotted, value, f"a {kind.__name__}")
        return value

    def plain_choice(self, dotted: str, choices: tuple[str, ...]) -> str:
        value = self._get(dotted)
        if value not in choices:
            raise self._fail(dotted, value, f"one of {', '.join(choices)}")
        return value

    def _with_why(self, dotted: str) -> Any:
        entry = self._get(dotted)
        if not isinstance(entry, Mapping) or "value" not in entry:
            raise self._fail(dotted, entry, '{ value = ..., why = "reason for this number" }')
        why = entry.get("why")
        if not isinstance(why, str) or not why.strip():
            raise self._fail(dotted, entry, 'a non-empty `why` giving the reason for this value')
        self.rationale[dotted] = why.strip()
        return entry["value"]

    def number(self, dotted: str, kind: type, low: float) -> Any:
        value = self._with_why(dotted)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and not isinstance(value, int)):
            raise self._fail(dotted, value, f"a {'whole number' if kind is int else 'number'} >= {low}")
        if value < low:
            raise self._fail(dotted, value, f"a {'whole number' if kind is int else 'number'} >= {low}")
        return kind(value)

    def choice(self, dotted: str, choices: tuple[str, ...]) -> str:
        value = self._with_why(dotted)
        if value not in choices:
            raise self._fail(dotted, value, f"one of {', '.join(choices)}")
        return value

    def string_list(self, dotted: str, choices: tuple[str, ...] | None = None) -> tuple[str, ...]:
        value = self._get(dotted)
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise self._fail(dotted, value, "a non-empty list of strings")
        if choices is not None:
            bad = [v for v in value if v not in choices]
            if bad:
                raise self._fail(dotted, value, f"values from {', '.join(choices)}")
        return tuple(value)
