"""SIGTERM cleans up like Ctrl-C: temporary folders are removed; the exit is 143 (`terminated`), Ctrl-C's 130."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from hfm_compress.cli.errors import EXIT_INTERRUPTED, EXIT_TERMINATED, reports_errors

# A command holding a temporary folder: it prints the folder once it exists, then waits to be signalled.
CHILD = """
import pathlib, signal, tempfile, time
import typer
from hfm_compress.cli.errors import reports_errors

signal.signal(signal.SIGINT, signal.default_int_handler)  # a background job starts with Ctrl-C ignored

@reports_errors
def hold(base: str) -> None:
    with tempfile.TemporaryDirectory(prefix="hfm-signal-", dir=base) as folder:
        (pathlib.Path(folder) / "partial.onnx").write_bytes(b"0" * 1024)
        print(folder, flush=True)
        time.sleep(120)

app = typer.Typer()
app.command()(hold)
app()
"""


@pytest.mark.parametrize(("signum", "code", "message"), [(signal.SIGTERM, EXIT_TERMINATED, "terminated"),
                                                         (signal.SIGINT, EXIT_INTERRUPTED, "interrupted")])
def test_signal_removes_temporary_folder(tmp_path: Path, signum: int, code: int, message: str) -> None:
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        folder = Path(child.stdout.readline().strip())
        assert folder.is_dir() and folder.parent == tmp_path, child.stderr.read()
        child.send_signal(signum)
        _, stderr = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == code, stderr
    assert stderr.strip().splitlines()[-1] == message
    assert not folder.exists() and list(tmp_path.iterdir()) == []


def _app(command) -> typer.Typer:  # noqa: ANN001
    app = typer.Typer()
    app.command()(reports_errors(command))
    return app


def test_sigterm_wins_over_the_commands_own_exit() -> None:
    """Distillation turns the interruption into its own message and exit 130; SIGTERM still exits 143."""

    def command() -> None:
        try:
            os.kill(os.getpid(), signal.SIGTERM)
        except KeyboardInterrupt:
            typer.echo("interrupted: checkpoint saved", err=True)
            raise typer.Exit(EXIT_INTERRUPTED) from None

    previous = signal.getsignal(signal.SIGTERM)
    result = CliRunner().invoke(_app(command), [])
    assert result.exit_code == EXIT_TERMINATED and result.output.strip().endswith("terminated")
    assert signal.getsignal(signal.SIGTERM) is previous


def test_handler_restored_after_a_command() -> None:
    seen = []

    def command() -> None:
        seen.append(signal.getsignal(signal.SIGTERM))

    previous = signal.getsignal(signal.SIGTERM)
    result = CliRunner().invoke(_app(command), [])
    assert result.exit_code == 0 and seen[0] is not previous
    assert signal.getsignal(signal.SIGTERM) is previous
