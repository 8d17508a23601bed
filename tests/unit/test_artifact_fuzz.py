"""Property-based tests of the artifact reader and manifest validation: whatever the bytes, the answer is a verified
artifact or one ArtifactError line, never another exception (bounded to well under a minute)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hfm_runtime.artifact import read_artifact
from hfm_runtime.errors import ArtifactError
from hfm_runtime.manifest_schema import parse_manifest_json, validate_manifest
from tiny_artifacts import make_text_artifact

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def artifact_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return make_text_artifact(tmp_path_factory.mktemp("fuzz") / "tiny.hfm").read_bytes()


def _read(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    try:
        read_artifact(path)
    except ArtifactError as exc:
        assert "\n" not in str(exc)


@FUZZ
@given(st.data())
def test_mutated_artifact_bytes(artifact_bytes: bytes, tmp_path: Path, data: st.DataObject) -> None:
    mutated = bytearray(artifact_bytes)
    for _ in range(data.draw(st.integers(1, 8))):
        position = data.draw(st.integers(0, len(mutated) - 1))
        mutated[position] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(mutated)))
    _read(tmp_path / "mutated.hfm", bytes(mutated[: cut or len(mutated)]))


@FUZZ
@given(st.binary(max_size=2048))
def test_arbitrary_bytes(tmp_path: Path, blob: bytes) -> None:
    _read(tmp_path / "blob.hfm", blob)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)


@FUZZ
@given(st.dictionaries(st.sampled_from(["format", "format_version", "members", "task", "model", "inputs", "outputs",
                                        "preprocessing", "postprocessing", "golden", "name"]), JSON_VALUES))
def test_manifest_validation_names_a_field(fields: dict) -> None:
    manifest = {"format": "hfm", "format_version": 1, **fields}
    raw = json.dumps(manifest).encode()
    try:
        validate_manifest("fuzz.hfm", parse_manifest_json("fuzz.hfm", raw))
    except ArtifactError as exc:
        assert "\n" not in str(exc)
        assert "format version" in str(exc) or "manifest.json field" in str(exc)


@FUZZ
@given(st.dictionaries(st.text(max_size=30), st.binary(max_size=64), max_size=5))
def test_zip_with_arbitrary_members(tmp_path: Path, members: dict) -> None:
    path = tmp_path / "members.hfm"
    with zipfile.ZipFile(path, "w") as archive:
        for name, payload in members.items():
            if name and "\x00" not in name:
                archive.writestr(name, payload)
    _read(path, path.read_bytes())


def test_published_schema_is_the_one_the_runtime_uses() -> None:
    runtime_copy = (REPO / "runtime" / "schemas" / "manifest.schema.json").read_bytes()
    assert (REPO / "docs" / "manifest.schema.json").read_bytes() == runtime_copy
