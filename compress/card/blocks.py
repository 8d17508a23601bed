"""What a model card is made of, before it is Markdown or HTML: sections of paragraphs, lists, tables and plots.

The renderers (markdown.py, html.py) escape every string here themselves, so text from the manifest goes in as
it is. A `Plot` holds only the numbers to draw; plots.py turns it into a PNG.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Mapping, Sequence, Union


@dataclasses.dataclass(frozen=True)
class Code:
    """A cell or value shown in a fixed-width font: hashes, configs, data sources."""

    text: str


@dataclasses.dataclass(frozen=True)
class Mark:
    """A verdict cell: `tone` is "pass", "fail" or "na" (styled in the HTML, plain words in Markdown)."""

    text: str
    tone: str


Cell = Union[str, Code, Mark]


@dataclasses.dataclass(frozen=True)
class Paragraph:
    text: str


@dataclasses.dataclass(frozen=True)
class Bullets:
    items: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Table:
    columns: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    caption: str = ""


@dataclasses.dataclass(frozen=True)
class Plot:
    """A figure: `name` is its file stem (figures/NAME.png), `kind` picks the drawing in plots.py, `data` its
    numbers and labels (plain lists, strings and floats)."""

    name: str
    kind: str
    data: Mapping[str, Any]
    alt: str
    caption: str


Block = Union[Paragraph, Bullets, Table, Plot]


@dataclasses.dataclass(frozen=True)
class Section:
    title: str
    anchor: str
    blocks: tuple[Block, ...]


@dataclasses.dataclass(frozen=True)
class Card:
    title: str
    subtitle: str
    sections: tuple[Section, ...]

    @property
    def plots(self) -> list[Plot]:
        return [block for section in self.sections for block in section.blocks if isinstance(block, Plot)]


def table(columns: Sequence[str], rows: Sequence[Sequence[Cell]], caption: str = "") -> Table:
    return Table(tuple(columns), tuple(tuple(row) for row in rows), caption)


def not_measured(what: str) -> Paragraph:
    """The line a section shows when the manifest lacks what it reports."""
    return Paragraph(f"Not measured: {what}.")


# Values from the manifest, as text. A manifest is JSON written by other code: anything may be missing or odd.

def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def number(value: Any, digits: int = 4) -> str:
    """`0.98765` -> `0.9877`, `1200` -> `1,200`, missing -> `-`."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if is_number(value):
        return f"{value:.{digits}f}"
    return "-" if value is None else str(value)


def percent(value: Any) -> str:
    return f"{value:.1%}" if is_number(value) else "-"


def compact(value: Any) -> str:
    """A config or detail value on one line: `method=minmax, op_types=[Conv, MatMul]`."""
    if isinstance(value, Mapping):
        return ", ".join(f"{key}={_nested(item)}" for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(_nested(item) for item in value)
    if isinstance(value, float):
        return f"{value:.6g}"
    return "-" if value is None else str(value)


def _nested(value: Any) -> str:
    if isinstance(value, Mapping):
        return "{" + compact(value) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + compact(value) + "]"
    return compact(value)


def fingerprint(entry: Any) -> str:
    """A data set's fingerprint (`{"source", "count", "sha256", ...}`) on one line:
    `synth:ecg?n=8, 48 inputs, sha256 463d33eb319d`."""
    if not isinstance(entry, Mapping) or not entry:
        return "-"
    parts = [str(entry["source"])] if entry.get("source") else []
    if isinstance(entry.get("count"), int):
        parts.append(f"{entry['count']:,} inputs")
    if entry.get("sha256"):
        parts.append(f"sha256 {str(entry['sha256'])[:12]}")
    rest = {key: value for key, value in entry.items() if key not in ("source", "count", "sha256", "scheme")}
    if rest:
        parts.append(compact(rest))
    return ", ".join(parts) or compact(entry)


def mapping(value: Any) -> Mapping[str, Any]:
    """`value` if it is a JSON object, else an empty one: sections read nested fields without type checks."""
    return value if isinstance(value, Mapping) else {}


def sequence(value: Any) -> list[Any]:
    """`value` if it is a JSON array, else an empty one (a string is not a list of its characters)."""
    return list(value) if isinstance(value, (list, tuple)) else []
