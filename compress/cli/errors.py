"""One-line errors and exit codes for every command; a traceback only with --debug."""

from __future__ import annotations

import functools
from typing import Any, Callable, TypeVar

import typer

from hfm_runtime.errors import HfmError

F = TypeVar("F", bound=Callable[..., Any])
EXIT_USER_ERROR = 2
EXIT_INTERNAL_ERROR = 1
EXIT_INTERRUPTED = 130
_state = {"debug": False}


def set_debug(enabled: bool) -> None:
    _state["debug"] = enabled


def reports_errors(command: F) -> F:
    """Turn HfmError into `error: <message>` on stderr with exit 2; other failures into a one-line internal error."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except typer.Exit:
            raise
        except HfmError as exc:
            if _state["debug"]:
                raise
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(EXIT_USER_ERROR) from None
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except Exception as exc:  # noqa: BLE001 - last line of defence: no raw traceback for users
            if _state["debug"]:
                raise
            typer.echo(f"internal error: {type(exc).__name__}: {exc} (re-run with --debug for the traceback)", err=True)
            raise typer.Exit(EXIT_INTERNAL_ERROR) from None

    return wrapper  # type: ignore[return-value]
