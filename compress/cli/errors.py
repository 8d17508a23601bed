"""One-line errors and exit codes for every command; a traceback only with --debug."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import signal
import threading
from typing import Any, Callable, Iterator, TypeVar

import typer

from hfm_runtime.errors import HfmError

F = TypeVar("F", bound=Callable[..., Any])
EXIT_USER_ERROR = 2
EXIT_INTERNAL_ERROR = 1
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports Ctrl-C
EXIT_TERMINATED = 143  # 128 + SIGTERM
_state = {"debug": False}


class Terminated(KeyboardInterrupt):
    """SIGTERM during a command. A KeyboardInterrupt, so every `finally`, temporary folder and Ctrl-C handler (the
    distillation checkpoint) runs for it exactly as for Ctrl-C."""


def set_debug(enabled: bool) -> None:
    _state["debug"] = enabled


def reports_errors(command: F) -> F:
    """Turn HfmError into `error: <message>` on stderr with exit 2; other failures into a one-line internal error.

    A library missing because its extra is not installed (torch without `[compress]`, pydicom without `[imaging]`)
    is a user error too: exit 2 with the `pip install 'hfm-compress[...]'` that fixes it.

    Ctrl-C exits 130 with `interrupted`; SIGTERM unwinds the same way (temporary folders removed) and exits 143
    with `terminated`, whatever the command made of the interruption on its way out.
    """

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with _sigterm_interrupts() as termination:
            try:
                result = _report_errors(command, args, kwargs)
            except typer.Exit as exc:
                if not termination.received or exc.exit_code == EXIT_TERMINATED:
                    raise
            else:
                if not termination.received:
                    return result
            # SIGTERM came, but the command ended its own way (distillation reports its checkpoint and exits 130).
            typer.echo("terminated", err=True)
            raise typer.Exit(EXIT_TERMINATED)

    return wrapper  # type: ignore[return-value]


def _report_errors(command: Callable[..., Any], args: Any, kwargs: Any) -> Any:
    try:
        return command(*args, **kwargs)
    except typer.Exit:
        raise
    except HfmError as exc:
        if _state["debug"]:
            raise
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_USER_ERROR) from None
    except Terminated:
        typer.echo("terminated", err=True)
        raise typer.Exit(EXIT_TERMINATED) from None
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except Exception as exc:  # noqa: BLE001 - last line of defence: no raw traceback for users
        if _state["debug"]:
            raise
        hint = missing_extra(exc)
        if hint is not None:
            typer.echo(f"error: {hint}", err=True)
            raise typer.Exit(EXIT_USER_ERROR) from None
        typer.echo(f"internal error: {type(exc).__name__}: {exc} (re-run with --debug for the traceback)", err=True)
        raise typer.Exit(EXIT_INTERNAL_ERROR) from None


# Import name -> (what it provides, the extra that installs it). The base install is the runtime only.
_EXTRAS = {
    **dict.fromkeys(("torch", "transformers", "onnx", "onnx_ir", "safetensors"), ("the toolchain", "compress")),
    **dict.fromkeys(("pydicom", "PIL"), ("the image readers", "imaging")),
    "wfdb": ("the WFDB signal reader", "signals"),
    "cyclonedx": ("the CycloneDX library", "sbom"),
}


def missing_extra(exc: BaseException) -> str | None:
    """For an import of a library that an optional extra installs, the message saying which extra; else None."""
    if not isinstance(exc, ModuleNotFoundError) or not exc.name:
        return None
    package = exc.name.split(".")[0]
    if package not in _EXTRAS:
        return None
    what, extra = _EXTRAS[package]
    return f"this command needs {what} ({package} is not installed): pip install 'hfm-compress[{extra}]'"


@dataclasses.dataclass
class _Termination:
    received: bool = False


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[_Termination]:
    """For the block, SIGTERM raises `Terminated` in the main thread; the previous handler comes back afterwards.

    Only the first SIGTERM raises: a second one while the first is unwinding would cut its cleanup short.
    Outside the main thread (where Python cannot set handlers) nothing changes.
    """
    termination = _Termination()
    if threading.current_thread() is not threading.main_thread():
        yield termination
        return

    def handler(signum: int, frame: Any) -> None:
        if termination.received:
            return
        termination.received = True
        raise Terminated

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield termination
    finally:
        signal.signal(signal.SIGTERM, previous)
