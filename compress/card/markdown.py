"""A card as GitHub-flavoured Markdown, figures linked from `figures/`.

Manifest text is escaped: `<`, `>` and `&` become entities (a label `<script>` is shown, never run by a renderer
that passes HTML through), Markdown punctuation is backslash-escaped, a `|` cannot end a table cell and a
newline cannot end a row.
"""

from __future__ import annotations

import re

from hfm_compress.card.blocks import Block, Bullets, Card, Cell, Code, Mark, Paragraph, Plot, Table

FIGURES = "figures"
_PUNCTUATION = re.compile(r"([\\`*\[\]|~#])")
_LONE_UNDERSCORE = re.compile(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")  # inside a word `_` is never emphasis


def render(card: Card) -> str:
    lines = [f"# {text(card.title)}", "", text(card.subtitle), ""]
    for section in card.sections:
        lines += [f"## {text(section.title)}", ""]
        for block in section.blocks:
            lines += _block(block) + [""]
    return "\n".join(lines).rstrip("\n") + "\n"


def figure_path(name: str) -> str:
    return f"{FIGURES}/{name}.png"


def text(value: str) -> str:
    """Manifest or card text as Markdown that shows exactly these characters, on one line."""
    value = " ".join(str(value).split())
    value = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    value = _PUNCTUATION.sub(r"\\\1", value)
    return _LONE_UNDERSCORE.sub(r"\\_", value)


def code(value: str) -> str:
    """A code span: its content is literal, only `|` (which GFM reads as a cell border even there) is escaped."""
    value = " ".join(str(value).split()).replace("|", "\\|")
    fence = "`" * (max((len(run) for run in re.findall(r"`+", value)), default=0) + 1)
    pad = " " if value.startswith("`") or value.endswith("`") else ""
    return f"{fence}{pad}{value}{pad}{fence}"


def _block(block: Block) -> list[str]:
    if isinstance(block, Paragraph):
        return [text(block.text)]
    if isinstance(block, Bullets):
        return [f"- {text(item)}" for item in block.items]
    if isinstance(block, Table):
        return _table(block)
    if isinstance(block, Plot):
        return [f"![{text(block.alt)}]({figure_path(block.name)})", "", f"*{text(block.caption)}*"]
    raise TypeError(f"unknown block {type(block).__name__}")


def _table(block: Table) -> list[str]:
    lines = [f"**{text(block.caption)}**", ""] if block.caption else []
    lines.append("| " + " | ".join(text(column) for column in block.columns) + " |")
    lines.append("|" + "|".join(" --- " for _ in block.columns) + "|")
    lines += ["| " + " | ".join(_cell(cell) for cell in row) + " |" for row in block.rows]
    return lines


def _cell(cell: Cell) -> str:
    if isinstance(cell, Code):
        return code(cell.text)
    if isinstance(cell, Mark):
        return f"**{text(cell.text)}**" if cell.tone == "fail" else text(cell.text)
    return text(cell) or " "
