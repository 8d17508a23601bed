"""Every damaged or foreign file gets a specific one-line ArtifactError before anything runs."""

import json
import zipfile
from pathlib import Path

import pytest

import hfm_runtime
from hfm_runtime.artifact import read_artifact, write_artifact
from hfm_runtime.errors import ArtifactError


def test_truncated_file(tiny_artifact: Path) -> None:
    data = tiny_artifact.read_bytes()
    tiny_artifact.write_bytes(data[: len(data) // 2])
    with pytest.raises(ArtifactError, match="truncated or corrupt"):
        hfm_runtime.load(tiny_artifact)


def test_tampered_member_names_the_member(tiny_artifact: Path, tmp_path: Path) -> None:
    tampered = tmp_path / "tampered.hfm"
    with zipfile.ZipFile(tiny_artifact) as src, zipfile.ZipFile(tampered, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "tokenizer.json":
                data = data.replace(b"fever", b"fewer")
            dst.writestr(item, data)
    with pytest.raises(ArtifactError, match=r"member tokenizer.json has sha256 .* manifest says .*tampered or corrupt"):
        hfm_runtime.load(tampered)


def test_unknown_format_version(tiny_artifact: Path, tmp_path: Path) -> None:
    future = tmp_path / "future.hfm"
    with zipfile.ZipFile(tiny_artifact) as src, zipfile.ZipFile(future, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "manifest.json":
                manifest = json.loads(data)
                manifest["format_version"] = 99
                data = json.dumps(manifest).encode()
            dst.writestr(item, data)
    with pytest.raises(ArtifactError, match="format version 99 is not supported; this runtime reads version 1"):
        hfm_runtime.load(future)


def test_file_that_is_not_an_artifact(tmp_path: Path) -> None:
    text = tmp_path / "notes.hfm"
    text.write_text("not a model")
    with pytest.raises(ArtifactError, match=r"not an .hfm artifact \(expected a zip archive"):
        hfm_runtime.load(text)
    plain_zip = tmp_path / "other.zip"
    with zipfile.ZipFile(plain_zip, "w") as archive:
        archive.writestr("readme.txt", "hello")
    with pytest.raises(ArtifactError, match="manifest.json is missing"):
        hfm_runtime.load(plain_zip)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="no such artifact file"):
        hfm_runtime.load(tmp_path / "absent.hfm")


def test_failed_write_leaves_nothing_behind(tmp_path: Path) -> None:
    target = tmp_path / "out.hfm"

    class Exploding(dict):
        def items(self):  # type: ignore[override]
            yield "model.onnx", b"partial"
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_artifact(target, {"task": "embedding"}, Exploding({"model.onnx": b""}))
    assert list(tmp_path.iterdir()) == []


def test_failed_write_keeps_the_previous_artifact(tiny_artifact: Path) -> None:
    before = tiny_artifact.read_bytes()
    with pytest.raises(ValueError):
        write_artifact(tiny_artifact, {}, {"manifest.json": b"x"})
    assert tiny_artifact.read_bytes() == before
    assert read_artifact(tiny_artifact).manifest["task"] == "embedding"
