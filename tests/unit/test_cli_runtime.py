"""CLI commands that need only the runtime, through typer's CliRunner: exit codes and one-line errors."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hfm_compress.cli import app

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def test_profiles_list_and_show() -> None:
    listed = invoke("profiles", "--json")
    assert listed.exit_code == 0
    assert [p["name"] for p in json.loads(listed.stdout)] == ["clinic-cpu", "ultrasound-host", "wearable"]
    shown = invoke("profiles", "show", "wearable", "--json")
    assert shown.exit_code == 0 and json.loads(shown.stdout)["artifact_size_mb"] == 0.25
    assert "rural clinic" in invoke("profiles", "show", "clinic-cpu").stdout


def test_inspect_prints_the_verified_manifest(tiny_artifact: Path) -> None:
    result = invoke("inspect", tiny_artifact, "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["task"] == "embedding"
    assert "verified" in invoke("inspect", tiny_artifact).stdout


def test_run_texts_and_a_file_of_texts(tiny_artifact: Path, tmp_path: Path) -> None:
    lines = tmp_path / "complaints.txt"
    lines.write_text("chest pain\n\nfever and cough\n")
    result = invoke("run", tiny_artifact, "headache", lines, "--profile", "clinic-cpu", "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["inputs"] == ["headache", "chest pain", "fever and cough"]
    assert len(payload["outputs"]) == 3 and len(payload["outputs"][0]) == 8


def test_run_classifier_table(tiny_classifier: Path) -> None:
    result = invoke("run", tiny_classifier, "severe chest pain")
    assert result.exit_code == 0 and "probability" in result.stdout


def test_bench_reports_percentiles_and_budgets(tiny_artifact: Path) -> None:
    result = invoke("bench", tiny_artifact, "--profile", "clinic-cpu", "--runs", "10", "--warmup", "2", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["p95_ms"] >= report["p50_ms"] > 0
    assert {c["budget"] for c in report["checks"]} == {"artifact_size_mb", "allowed_precisions", "latency_ms", "memory_mb"}
    assert report["rss_added_mb"] >= 0
    assert report["unit"] == "text"
    assert report["per_second"] == pytest.approx(1000.0 / report["p50_ms"], rel=0.01)
    assert report["per_second_device"] < report["per_second"]  # clinic-cpu assumes a slower device


def test_bench_strict_fails_when_a_budget_fails(tiny_artifact: Path, tmp_path: Path) -> None:
    profile = tmp_path / "tight.toml"
    source = (Path(__file__).parents[2] / "device_profiles" / "clinic-cpu.toml").read_text()
    profile.write_text(source.replace("latency_ms = { value = 10.0,", "latency_ms = { value = 0.001,"))
    result = invoke("bench", tiny_artifact, "--profile", profile, "--runs", "5", "--warmup", "0", "--strict")
    assert result.exit_code == 1
    assert "FAIL" in result.stdout


def test_errors_are_one_line_with_non_zero_exit(tiny_artifact: Path, tmp_path: Path) -> None:
    junk = tmp_path / "junk.hfm"
    junk.write_bytes(b"\x00" * 100)
    cases = [
        (("inspect", junk), "not an .hfm artifact"),
        (("run", tiny_artifact, "fever", "--profile", "mri-cart"), "unknown profile 'mri-cart'"),
        (("run", tiny_artifact), "no inputs given"),
        (("run", tiny_artifact, "x" * 20_000), "input 0 has 20,000 characters"),
        (("bench", tmp_path / "absent.hfm"), "no such artifact file"),
        (("profiles", "show", tmp_path / "absent.toml"), "does not exist"),
    ]
    for args, message in cases:
        result = invoke(*args)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.stderr
        assert "Traceback" not in result.output
        assert len(result.stderr.strip().splitlines()) == 1
