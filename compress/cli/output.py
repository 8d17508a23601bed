"""Printing for the CLI: rich tables for people, `--json` for scripts."""

from __future__ import annotations

import json
from typing import Any, Iterable, Sequence

from rich.console import Console
from rich.table import Table

console = Console(highlight=False, soft_wrap=True)


def print_json(data: Any) -> None:
    # Plain stdout, no rich wrapping, so the output always parses.
    print(json.dumps(data, indent=2, default=_default))


def _default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "to_dict"):
        return value.to_dict()
    return str(value)


def table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Table:
    result = Table(title=title, title_justify="left")
    for column in columns:
        result.add_column(column, overflow="fold")
    for row in rows:
        result.add_row(*[str(cell) for cell in row])
    return result


def show(*renderables: Any) -> None:
    for item in renderables:
        console.print(item)


def verdict(passed: bool) -> str:
    return "[green]PASS[/green]" if passed else "[red]FAIL[/red]"
