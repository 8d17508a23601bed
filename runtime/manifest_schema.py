"""The manifest's JSON Schema (runtime/schemas/manifest.schema.json, also published in docs/) and its validation.

Every malformed field becomes one ArtifactError line that names the field, so a hand-edited or corrupted manifest
never reaches code that would fail with a raw TypeError or OverflowError.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any, Mapping

from hfm_runtime.errors import ArtifactError
from hfm_runtime.safety import SAFETY_MEMBER

SCHEMA_RESOURCE = "manifest.schema.json"
MAX_DEPTH = 32  # the deepest real manifest is ~6 levels; bounds the validator's recursion too


@functools.lru_cache(maxsize=1)
def manifest_schema() -> dict[str, Any]:
    text = resources.files("hfm_runtime.schemas").joinpath(SCHEMA_RESOURCE).read_text(encoding="utf-8")
    return json.loads(text)


@functools.lru_cache(maxsize=1)
def _validator() -> Any:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(manifest_schema())


def parse_manifest_json(where: str, raw: bytes) -> dict[str, Any]:
    """Strict JSON: UTF-8, no NaN/Infinity, bounded depth, an object at the top."""
    try:
        manifest = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant, object_pairs_hook=_unique_keys)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ArtifactError(f"{where}: manifest.json is not valid JSON ({exc})") from None
    except RecursionError:
        raise ArtifactError(f"{where}: manifest.json is nested too deeply to be a manifest") from None
    if not isinstance(manifest, dict):
        raise ArtifactError(f"{where}: manifest.json is a JSON {type(manifest).__name__}; expected an object")
    depth = _depth(manifest)
    if depth > MAX_DEPTH:
        raise ArtifactError(f"{where}: manifest.json is nested {depth} levels deep; at most {MAX_DEPTH} expected")
    return manifest


def check_format_version(where: str, manifest: Mapping[str, Any]) -> None:
    """Before anything else: a future version may seal or lay out its members differently."""
    version = manifest.get("format_version")
    if type(version) is not int or version != 1:
        raise ArtifactError(f"{where}: artifact format version {version!r} is not supported; this runtime reads "
                            "version 1 (the integer 1)")


def validate_manifest(where: str, manifest: Mapping[str, Any]) -> None:
    """Check the manifest against the schema; the first error names its field, the value and the rule it broke."""
    if manifest.get("format") == "hfm":
        check_format_version(where, manifest)
    errors = sorted(_validator().iter_errors(manifest), key=_error_rank)
    if errors:
        raise ArtifactError(f"{where}: manifest.json {describe(errors[0])}")
    check_safety_member(where, manifest)


def check_safety_member(where: str, manifest: Mapping[str, Any]) -> None:
    """The member that `safety` names (its detector's arrays) must be one of the hash-listed members, so it is
    covered by the seal and signatures like the model itself."""
    safety = manifest.get("safety")
    if safety is None or ("member" not in safety and "out_of_distribution" not in safety):
        return
    member = safety.get("member", SAFETY_MEMBER)
    if member not in manifest["members"]:
        raise ArtifactError(f"{where}: manifest.json field safety.member names {member!r}, which is not one of the "
                            f"members ({', '.join(sorted(manifest['members']))})")


def describe(error: Any) -> str:
    field = ".".join(str(part) for part in error.absolute_path) or "(top level)"
    message = error.message
    if len(message) > 200:
        message = message[:200] + "..."
    return f"field {field}: {message}"


def _error_rank(error: Any) -> tuple[int, int, str]:
    """Deepest, most specific errors first: 'preprocessing.max_length: 1e30 > 8192' beats 'preprocessing is invalid'."""
    return (-len(error.absolute_path), 1 if error.validator in ("allOf", "oneOf", "anyOf", "if") else 0,
            ".".join(map(str, error.absolute_path)))


def _depth(node: Any) -> int:
    stack = [(node, 1)]
    deepest = 0
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if level > MAX_DEPTH:
            return level
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        stack.extend((child, level + 1) for child in children if isinstance(child, (dict, list)))
    return deepest


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A repeated key is refused: parsers disagree on which copy wins, so a device's jq could read another value."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"key {key!r} appears twice in one object")
        result[key] = value
    return result


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")
