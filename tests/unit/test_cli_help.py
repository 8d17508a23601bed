"""What a newcomer reads from the CLI at 80 columns with stdout not a terminal (`hfm-compress ... | cat`): help pages,
tables and the one-line error for a missing extra (issue 17, item 5).

"Whole words" below means every word of the source text (an option's help, a profile name, a digest) is a
whitespace-separated token of the output: nothing split at a hyphen, folded mid-word or cut with "...".
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from rich.console import Console
from typer.testing import CliRunner

from hfm_compress.cli import app, output
from hfm_compress.cli.errors import reports_errors
from hfm_runtime.artifact import read_artifact
from hfm_runtime.profiles import available_profiles, load_profile

WIDTH = 80
runner = CliRunner()


def invoke(*args: str) -> typer.testing.Result:
    result = runner.invoke(app, [str(a) for a in args], env={"COLUMNS": str(WIDTH)}, terminal_width=WIDTH,
                           prog_name="hfm-compress")
    assert result.exit_code == 0, result.output
    return result


def assert_reads_at_80_columns(text: str, words: list[str]) -> None:
    lines = text.splitlines()
    too_long = [line for line in lines if len(line.rstrip()) > WIDTH]
    assert not too_long, "\n".join(too_long)
    unexpected = {ch for ch in text if not ch.isascii() and not "\u2500" <= ch <= "\u257f"}  # box drawing only
    assert not unexpected, f"no emoji, no ellipsis character: {unexpected}"
    tokens = set(text.split())
    assert [w for w in words if w not in tokens] == []


def _commands() -> list[tuple[list[str], object]]:
    """Every command and group of the CLI, as (argv before --help, click command)."""
    found = []

    def walk(path: list[str], command: object) -> None:
        found.append((path, command))
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            walk([*path, name], sub)

    walk([], typer.main.get_command(app))
    return found


COMMANDS = _commands()


@pytest.mark.parametrize("path, command", COMMANDS, ids=[" ".join(p) or "hfm-compress" for p, _ in COMMANDS])
def test_help_reads_cleanly_at_80_columns(path: list[str], command: object) -> None:
    text = invoke(*path, "--help").stdout
    helps = [command.help or ""] + [p.help or "" for p in command.params if not getattr(p, "hidden", False)]
    helps += [(sub.help or "").split("\n\n")[0] for sub in getattr(command, "commands", {}).values()]
    assert_reads_at_80_columns(text, [word for help_text in helps for word in help_text.split()])
    assert f"Usage: hfm-compress {' '.join(path)}".rstrip() in text
    # click's labels, not Python's: `--out PATH`, `SOURCE`; never `<bool>`, `<list[str]>`, `{artifact}`.
    assert not re.search(r"<(str|bool|int|float|path|list\[[^>]*\])>|\{[a-z_]+\}", text), text


def test_compress_help_shows_the_factory_syntax_and_a_narrow_option_column() -> None:
    text = invoke("compress", "--help").stdout
    assert "Usage: hfm-compress compress [OPTIONS] SOURCE" in text
    assert "package.module:factory" in " ".join(text.split())  # rich markup made `:factory:` an emoji
    words = [word.strip(",.") for word in text.split()]
    assert "image-classification" in words and "signal-classification" in words  # never cut with an ellipsis
    recipe = next(line for line in text.splitlines() if "--recipe TEXT" in line)
    assert 0 < recipe.index("fp32,") <= 34, "the option column takes at most click's 30 columns"
    for line in ("-o, --out PATH", "--input-spec PATH", "--resume / --no-resume"):
        assert line in text


def test_runtime_commands_show_their_defaults() -> None:
    flat = " ".join(invoke("run", "--help").stdout.split())
    assert "ARTIFACT [INPUTS]..." in flat
    assert "-p, --profile TEXT Device profile name or .toml path. [default: clinic-cpu]" in flat
    assert "--batch-size INTEGER Inputs per inference call. [default: 32]" in flat
    bench = " ".join(invoke("bench", "--help").stdout.split())
    assert "--runs INTEGER Timed runs after warm-up. [default: 100; x>=5]" in bench


def test_compress_and_demo_show_the_defaults_of_recipe_task_and_eval() -> None:
    compress = " ".join(invoke("compress", "--help").stdout.split())
    for option, following in (("--recipe", "--task"), ("--task", "--calib"), ("--eval", "--train")):
        described = re.search(f"{option} TEXT (.*?) {following} ", compress)
        assert described and "[default:" in described.group(1), option
    assert re.search(r"--recipe TEXT .*\[default: \(?int8\)?\]", " ".join(invoke("demo", "--help").stdout.split()))


def test_profiles_table_keeps_names_whole() -> None:
    text = invoke("profiles").stdout
    profiles = [load_profile(name) for name in available_profiles()]
    assert_reads_at_80_columns(text, [p.name for p in profiles] + [p.cpu_class for p in profiles])
    assert "ms/window" in text.split() and "hfm-compress profiles show NAME" in " ".join(text.split())


@pytest.mark.parametrize("name", available_profiles())
def test_profile_show_keeps_fields_values_and_reasons_whole(name: str) -> None:
    text = invoke("profiles", "show", name).stdout
    profile = load_profile(name)
    words = [key for key in profile.to_dict() if key not in ("name", "description", "rationale", "sha256", "source")]
    words += [word for reason in profile.rationale.values() for word in reason.split()]
    words += [profile.sha256, *profile.description.split()]
    assert_reads_at_80_columns(text, words)


def test_inspect_prints_readable_fields(tiny_artifact: Path) -> None:
    text = invoke("inspect", tiny_artifact).stdout
    assert_reads_at_80_columns(text, [read_artifact(tiny_artifact).digest, "input_ids:int64,", "attention_mask:int64"])
    flat = " ".join(text.split())
    assert "{'" not in text, "the toolchain is not printed as a Python dict"
    assert re.search(r"built by runtime \d", flat)
    assert re.search(r"model size \d+\.\d\d MB \(model\.onnx, unpacked\)", flat)
    assert "self-test 3 golden texts, atol" in flat


def test_tables_fit_the_width_and_print_cells_as_written(monkeypatch: pytest.MonkeyPatch) -> None:
    screen = io.StringIO()
    monkeypatch.setattr(output, "console", Console(file=screen, width=WIDTH, highlight=False, soft_wrap=True))
    long_path = "/data/" + "x" * 90 + ".hfm"
    prose = "a long explanation that has to wrap over several lines of the table because it is long " * 2
    rows = [("path", long_path), ("why", prose), ("note", "[/note] is not markup"), ("ok", output.verdict(True))]
    output.show(output.table("title", ["field", "value"], rows))
    text = screen.getvalue()
    tokens = text.split()
    assert long_path in tokens, "a word wider than the console is printed whole, not cut"
    assert "[/note]" in tokens and "PASS" in tokens
    assert all(word in tokens for word in prose.split())


@pytest.mark.parametrize("module, extra", [("torch", "compress"), ("transformers", "compress"), ("onnx", "compress"),
                                           ("onnx_ir", "compress"), ("safetensors", "compress"),
                                           ("pydicom", "imaging"), ("PIL.Image", "imaging"), ("wfdb", "signals"),
                                           ("cyclonedx.model", "sbom")])
def test_a_missing_extra_is_a_one_line_error_naming_it(module: str, extra: str, capsys: pytest.CaptureFixture) -> None:
    @reports_errors
    def command() -> None:
        raise ModuleNotFoundError(f"No module named '{module}'", name=module)

    with pytest.raises(typer.Exit) as exited:
        command()
    assert exited.value.exit_code == 2
    message = capsys.readouterr().err
    assert message.startswith("error: this command needs ") and message.count("\n") == 1
    assert message.rstrip().endswith(f"pip install 'hfm-compress[{extra}]'")


def test_another_missing_module_stays_an_internal_error(capsys: pytest.CaptureFixture) -> None:
    @reports_errors
    def command() -> None:
        raise ModuleNotFoundError("No module named 'hfm_nonexistent'", name="hfm_nonexistent")

    with pytest.raises(typer.Exit) as exited:
        command()
    assert exited.value.exit_code == 1 and capsys.readouterr().err.startswith("internal error: ModuleNotFoundError")


# The base install, simulated: `import torch` (and the rest of the [compress] extra) raises ModuleNotFoundError.
WITHOUT_TOOLCHAIN = """
import sys
for name in ("torch", "transformers", "onnx", "onnx_ir", "safetensors"):
    sys.modules[name] = None
from hfm_compress.cli import main
sys.argv = ["hfm-compress", *sys.argv[1:]]
main()
"""


@pytest.mark.parametrize("kind", ["hugging-face-folder", "onnx-file"])
def test_compress_without_the_toolchain_says_which_extra_to_install(kind: str, tmp_path: Path) -> None:
    if kind == "onnx-file":
        source = tmp_path / "model.onnx"
        source.write_bytes(b"")
    else:
        source = tmp_path / "bert"
        source.mkdir()
        (source / "config.json").write_text(json.dumps({"model_type": "bert", "architectures": ["BertModel"]}))
        (source / "model.safetensors").write_bytes(b"")
    result = subprocess.run([sys.executable, "-c", WITHOUT_TOOLCHAIN, "compress", str(source), "--profile",
                             "clinic-cpu", "--out", str(tmp_path / "out.hfm"), "--json"],
                            capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": str(WIDTH)})
    assert result.returncode == 2, result.stderr
    assert "internal error" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].endswith("pip install 'hfm-compress[compress]'"), result.stderr
