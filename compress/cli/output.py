"""Printing for the CLI: help pages and rich tables for people, `--json` for scripts.

Both are written to read cleanly at 80 columns, in a terminal or piped (`hfm-compress profiles | cat`): text wraps
only at spaces, so no profile name, path, option or hash is ever split or cut short.
"""

from __future__ import annotations

import inspect
import json
import textwrap
import typing
from pathlib import Path
from typing import Any, Iterable, Sequence

import typer
from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text
from typer.core import TyperCommand, TyperGroup

console = Console(highlight=False, soft_wrap=True)
# Between two columns: one space of padding on each side of a blank separator (box.SIMPLE_HEAD, no outer edge).
COLUMN_GAP = 3


def print_json(data: Any) -> None:
    # Plain stdout, no rich wrapping, so the output always parses.
    print(json.dumps(data, indent=2, default=_default))


def _default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "to_dict"):
        return value.to_dict()
    return str(value)


def table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]], caption: str | None = None) -> Table:
    """A table whose cells wrap only at spaces, fitted to the console width.

    Each column is at least as wide as its longest word (rich alone would fold `clinic-cpu` into `clinic-` / `cpu`
    at 80 columns); the width left over goes first to the columns that it lets fit on one line, the rest to the
    longest text. A table whose words cannot fit is printed wider than the console rather than cut.
    Cells print as written (a `[tag]` in an input or a path is not rich markup); pass a `Text` to style one.
    """
    body = [[cell if isinstance(cell, Text) else Text(str(cell)) for cell in row] for row in rows]
    heads = [Text(name) for name in columns]
    widths = _fit_widths([[head, *(row[index] for row in body)] for index, head in enumerate(heads)],
                         console.width - COLUMN_GAP * (len(heads) - 1))
    result = Table(title=_wrapping(title), title_justify="left", caption=_wrapping(caption) if caption else None,
                   caption_justify="left", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False,
                   show_header=any(columns), min_width=min(cell_len(title), console.width))
    for head, width in zip(heads, widths):
        result.add_column(head, width=width)
    natural = sum(widths) + COLUMN_GAP * (len(widths) - 1) if None not in widths else 0
    if natural > console.width:
        result.width = natural  # rich would squeeze it back to the console and cut words
    for row in body:
        result.add_row(*row)
    return result


def _fit_widths(columns: list[list[Text]], room: int) -> list[int | None]:
    """Column widths (None: rich's own, everything on one line) that never split a word."""
    longest_line = [max(cell_len(line) for cell in cells for line in cell.plain.splitlines() or [""])
                    for cells in columns]
    if sum(longest_line) <= room:
        return [None] * len(columns)
    widths = [max([cell_len(word) for cell in cells for word in cell.plain.split()] or [1]) for cells in columns]
    spare = room - sum(widths)
    for index in sorted(range(len(columns)), key=lambda i: longest_line[i] - widths[i]):
        if 0 < longest_line[index] - widths[index] <= spare:  # whole columns on one line, the cheapest first
            spare -= longest_line[index] - widths[index]
            widths[index] = longest_line[index]
    if spare > 0:  # what is left goes to the longest text, which wraps anyway
        widths[max(range(len(columns)), key=lambda i: longest_line[i] - widths[i])] += spare
    return list(widths)


def _wrapping(text: str) -> Text:
    # The console soft-wraps (long paths in messages stay whole); titles and captions still wrap at spaces, and
    # fold only a word longer than the line, as the terminal would.
    return Text(text, no_wrap=False, overflow="fold")


def show(*renderables: Any) -> None:
    for item in renderables:
        console.print(item)


def verdict(passed: bool) -> Text:
    return Text("PASS", style="green") if passed else Text("FAIL", style="red")


# Help pages. typer's rich help turned `package.module:factory` into an emoji, cut words with "…" and gave the
# option column half the width; its plain help labels values like Python (`<bool>`, `<list[str]>`, `{source}`).
# These classes keep click's plain layout with click's labels: `--out PATH`, `--runs INTEGER`, `SOURCE`.

_TYPE_METAVARS = {str: "TEXT", Path: "PATH", int: "INTEGER", float: "FLOAT"}


class HelpFormatter(typer.Context.formatter_class):  # type: ignore[misc,name-defined]
    """click's layout, but wrapping only at spaces: `model.distill-checkpoints/` and `no-resume` stay whole."""

    def write_text(self, text: str) -> None:
        indent = " " * self.current_indent
        for line in _wrap(text, self.width - self.current_indent):
            self.write(f"{indent}{line}\n" if line else "\n")

    def write_dl(self, rows: Sequence[tuple[str, str]], col_max: int = 30, col_spacing: int = 2) -> None:
        rows = list(rows)
        first_width = min(max(len(first) for first, _ in rows), col_max) + col_spacing
        indent = " " * self.current_indent
        for first, second in rows:
            lines = _wrap(second, max(self.width - self.current_indent - first_width, 20))
            if lines and len(first) + col_spacing <= first_width:
                self.write(f"{indent}{first:<{first_width}}{lines.pop(0)}\n")
            else:
                self.write(f"{indent}{first}\n")
            for line in lines:
                self.write(f"{indent}{'':<{first_width}}{line}\n" if line else "\n")


def _wrap(text: str, width: int) -> list[str]:
    lines: list[str] = []
    for index, paragraph in enumerate(text.split("\n\n")):
        if index:
            lines.append("")
        lines.extend(textwrap.wrap(" ".join(paragraph.split()), width, break_long_words=False, break_on_hyphens=False))
    return lines


class HelpContext(typer.Context):
    formatter_class = HelpFormatter


class HelpCommand(TyperCommand):
    """A command whose help page uses `HelpFormatter` and click-style value labels."""

    context_class = HelpContext

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for param in self.params:
            if param.metavar is None and not getattr(param, "is_flag", False):
                param.metavar = param.name.upper() if _is_argument(param) else _type_metavar(param)

    def collect_usage_pieces(self, ctx: typer.Context) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if _is_argument(param):
                label = param.metavar if param.required else f"[{param.metavar}]"
                pieces.append(label + ("..." if param.nargs != 1 else ""))
        return pieces

    def format_options(self, ctx: typer.Context, formatter: Any) -> None:
        arguments, options = [], []
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None:
                continue
            if _is_argument(param):
                arguments.append((param.metavar + ("..." if param.nargs != 1 else ""), record[1]))
            else:
                options.append(record)
        for heading, records in (("Arguments", arguments), ("Options", options)):
            if records:
                with formatter.section(heading):
                    formatter.write_dl(records)


class HelpGroup(TyperGroup):
    """A command group whose help page uses `HelpFormatter` and lists each command's whole first paragraph."""

    context_class = HelpContext

    def format_commands(self, ctx: typer.Context, formatter: Any) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                text = command.short_help or inspect.cleandoc(command.help or "").partition("\f")[0]
                rows.append((name, " ".join(text.split("\n\n")[0].split())))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def _is_argument(param: Any) -> bool:
    return param.param_type_name == "argument"


def _type_metavar(param: Any) -> str:
    annotation = getattr(getattr(param, "type_descriptor", None), "annotation", None)  # typer >= 0.20
    if typing.get_origin(annotation) is list:
        annotation = typing.get_args(annotation)[0]
    if annotation in _TYPE_METAVARS:
        return _TYPE_METAVARS[annotation]
    click_type = getattr(param, "type", None)  # older typer: a click type, `integer range` for a bounded int
    return str(getattr(click_type, "name", "value")).upper().removesuffix(" RANGE")
