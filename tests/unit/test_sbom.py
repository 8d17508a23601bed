"""`hfm-compress sbom`: a schema-valid CycloneDX SBOM of the runtime (and an artifact) for a SOUP list."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any, Iterator

import pytest
import typer
from typer.testing import CliRunner

pytest.importorskip("cyclonedx", reason="needs the [sbom] extra: pip install 'hfm-compress[sbom]'")

from hfm_compress.cli.sbom_cmd import sbom  # noqa: E402
from hfm_runtime import sbom as sbom_module  # noqa: E402
from hfm_runtime.artifact import read_artifact  # noqa: E402
from hfm_runtime.sbom import SbomError, build_sbom, sbom_json, validate_sbom_json, write_sbom  # noqa: E402

RUNTIME_DEPS = ("onnxruntime", "numpy", "tokenizers")
TOOLCHAIN_ONLY = ("torch", "transformers")


def walk(components: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for component in components:
        yield component
        yield from walk(component.get("components", []))


def by_name(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"].lower().replace("_", "-"): c for c in walk(document["components"])}


@pytest.fixture(scope="module")
def runtime_sbom() -> str:
    return sbom_json(build_sbom())


def test_runtime_sbom_validates_and_lists_installed_versions(runtime_sbom: str) -> None:
    validate_sbom_json(runtime_sbom)  # the CycloneDX library's own strict schema validator
    document = json.loads(runtime_sbom)
    assert document["bomFormat"] == "CycloneDX" and document["specVersion"] == "1.6"
    root = document["metadata"]["component"]
    assert (root["name"], root["version"]) == ("hfm-compress", metadata.version("hfm-compress"))
    components = by_name(document)
    for name in RUNTIME_DEPS:
        version = metadata.version(name)
        assert components[name]["version"] == version
        assert components[name]["purl"] == f"pkg:pypi/{name}@{version}"
    runtime_edges = next(d for d in document["dependencies"] if d["ref"] == root["bom-ref"])
    assert {f"pkg:pypi/{n}@{metadata.version(n)}" for n in RUNTIME_DEPS} <= set(runtime_edges["dependsOn"])


def test_runtime_sbom_leaves_out_the_toolchain(runtime_sbom: str) -> None:
    assert not set(TOOLCHAIN_ONLY) & set(by_name(json.loads(runtime_sbom)))


def test_artifact_components_carry_the_verified_hashes(tiny_artifact: Path) -> None:
    text = sbom_json(build_sbom(tiny_artifact))
    validate_sbom_json(text)
    document = json.loads(text)
    manifest = read_artifact(tiny_artifact).manifest
    components = list(walk(document["components"]))
    model = next(c for c in components if c["name"] == manifest["name"])
    assert model["type"] == "machine-learning-model"
    assert model["hashes"] == [{"alg": "SHA-256", "content": manifest["members"][manifest["model"]["file"]]}]
    tokenizer = next(c for c in components if c["name"] == "tokenizer.json")
    assert tokenizer["hashes"][0]["content"] == manifest["members"]["tokenizer.json"]
    file = next(c for c in components if c["name"] == tiny_artifact.name)
    assert file["type"] == "file"
    assert file["hashes"][0]["content"] == hashlib.sha256(tiny_artifact.read_bytes()).hexdigest()
    edges = {d["ref"]: set(d.get("dependsOn", [])) for d in document["dependencies"]}
    assert edges[model["bom-ref"]] == {tokenizer["bom-ref"]}
    assert not {c["bom-ref"] for c in components if "hfm-artifact" in c["bom-ref"]} & edges[
        document["metadata"]["component"]["bom-ref"]]


def test_a_failed_write_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "sbom.json"

    def refuse(*_: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(sbom_module.os, "replace", refuse)
    with pytest.raises(SbomError, match="No space left"):
        write_sbom(out)
    assert list(tmp_path.iterdir()) == []


def test_an_invalid_sbom_is_never_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def invalid(_: str) -> None:
        raise SbomError("schema violation")

    monkeypatch.setattr(sbom_module, "validate_sbom_json", invalid)
    with pytest.raises(SbomError):
        write_sbom(tmp_path / "sbom.json")
    assert list(tmp_path.iterdir()) == []


def test_missing_library_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "cyclonedx.model.bom", None)
    with pytest.raises(SbomError, match=r"hfm-compress\[sbom\]"):
        build_sbom()


def test_an_unmet_base_requirement_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    installed = sbom_module._installed()
    monkeypatch.setattr(sbom_module, "_installed", lambda: {k: v for k, v in installed.items() if k != "tokenizers"})
    root = build_sbom().metadata.component
    assert any(p.name == "hfm:unmet-requirement" and p.value.startswith("tokenizers") for p in root.properties)


def test_building_imports_neither_torch_nor_cyclonedx_until_asked() -> None:
    script = (
        "import sys, hfm_runtime.sbom as s\n"
        "assert 'cyclonedx' not in sys.modules\n"
        "s.build_sbom()\n"
        "print(','.join(m for m in sys.modules if m.split('.')[0] in ('torch', 'transformers', 'hfm_compress')))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


def cli() -> typer.Typer:
    app = typer.Typer()
    app.command("sbom")(sbom)

    @app.callback()
    def root() -> None:  # a callback keeps `sbom` a named subcommand, as in the real app
        pass

    return app


def test_cli_writes_a_valid_sbom_and_summarises_it(tiny_artifact: Path, tmp_path: Path) -> None:
    out = tmp_path / "out" / "sbom.cdx.json"
    result = CliRunner().invoke(cli(), ["sbom", "--out", str(out), "--artifact", str(tiny_artifact), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    document = json.loads(out.read_text())
    assert summary["file"] == str(out) and summary["components"] == len(list(walk(document["components"])))
    validate_sbom_json(out.read_text())
    table = CliRunner().invoke(cli(), ["sbom", "--out", str(out)])
    assert table.exit_code == 0 and "components" in table.stdout


@pytest.mark.parametrize("make_bad", [lambda p: p / "missing.hfm", lambda p: p / "not-a-zip.hfm"])
def test_cli_bad_artifact_is_a_one_line_error(tmp_path: Path, make_bad: Any) -> None:
    bad = make_bad(tmp_path)
    if bad.name == "not-a-zip.hfm":
        bad.write_text("hello")
    out = tmp_path / "sbom.json"
    result = CliRunner().invoke(cli(), ["sbom", "--out", str(out), "--artifact", str(bad)])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: ") and str(bad) in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert not out.exists()
