"""A card as one self-contained HTML page: inline CSS, figures as base64 `data:` URIs, no script, no link out.

Every string is HTML-escaped (`html.escape`, quotes included), so manifest text can never become markup. The page
opens offline, from an e-mail attachment or a USB stick, exactly as it was written.
"""

from __future__ import annotations

import base64
from html import escape
from typing import Mapping

from hfm_compress.card.blocks import Block, Bullets, Card, Cell, Code, Mark, Paragraph, Plot, Table

_CSS = """
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1b1b1b;
       max-width: 64rem; margin: 2rem auto; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin-bottom: 0.2rem; }
h2 { font-size: 1.25rem; border-bottom: 1px solid #d0d0d0; padding-bottom: 0.2rem; margin-top: 2.2rem; }
.subtitle { color: #555; margin-top: 0; overflow-wrap: anywhere; }
nav ol { columns: 2; padding-left: 1.2rem; }
table { border-collapse: collapse; margin: 0.6rem 0 1rem; font-size: 0.9rem; }
caption { text-align: left; font-weight: 600; padding-bottom: 0.3rem; }
th, td { border: 1px solid #d0d0d0; padding: 0.25rem 0.5rem; text-align: left; vertical-align: top; }
th { background: #f2f2f2; }
code { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: 0.85rem;
       overflow-wrap: anywhere; }
.pass { color: #146c2e; font-weight: 600; }
.fail { color: #b3261e; font-weight: 700; }
.na { color: #666; }
figure { margin: 1rem 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #e4e4e4; }
figcaption { color: #444; font-size: 0.9rem; }
@media print { nav { display: none; } h2 { break-after: avoid; } figure, table { break-inside: avoid; } }
"""


def render(card: Card, images: Mapping[str, bytes]) -> str:
    """`images`: figure name -> PNG bytes, embedded in the page."""
    parts = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f"<title>{escape(card.title)}</title>", f"<style>{_CSS}</style>", "</head>", "<body>",
             f"<h1>{escape(card.title)}</h1>", f'<p class="subtitle">{escape(card.subtitle)}</p>', _contents(card)]
    for section in card.sections:
        parts.append(f'<section id="{escape(section.anchor)}">')
        parts.append(f"<h2>{escape(section.title)}</h2>")
        parts += [_block(block, images) for block in section.blocks]
        parts.append("</section>")
    parts += ["</body>", "</html>"]
    return "\n".join(parts) + "\n"


def _contents(card: Card) -> str:
    items = "".join(f'<li><a href="#{escape(s.anchor)}">{escape(s.title)}</a></li>' for s in card.sections)
    return f'<nav aria-label="Sections"><ol>{items}</ol></nav>'


def _block(block: Block, images: Mapping[str, bytes]) -> str:
    if isinstance(block, Paragraph):
        return f"<p>{escape(block.text)}</p>"
    if isinstance(block, Bullets):
        return "<ul>" + "".join(f"<li>{escape(item)}</li>" for item in block.items) + "</ul>"
    if isinstance(block, Table):
        return _table(block)
    if isinstance(block, Plot):
        data = base64.b64encode(images[block.name]).decode("ascii")
        return (f'<figure><img src="data:image/png;base64,{data}" alt="{escape(block.alt)}">'
                f"<figcaption>{escape(block.caption)}</figcaption></figure>")
    raise TypeError(f"unknown block {type(block).__name__}")


def _table(block: Table) -> str:
    caption = f"<caption>{escape(block.caption)}</caption>" if block.caption else ""
    head = "<tr>" + "".join(f'<th scope="col">{escape(column)}</th>' for column in block.columns) + "</tr>"
    body = "".join("<tr>" + "".join(f"<td>{_cell(cell)}</td>" for cell in row) + "</tr>" for row in block.rows)
    return f"<table>{caption}<thead>{head}</thead><tbody>{body}</tbody></table>"


def _cell(cell: Cell) -> str:
    if isinstance(cell, Code):
        return f"<code>{escape(cell.text)}</code>"
    if isinstance(cell, Mark):
        return f'<span class="{escape(cell.tone)}">{escape(cell.text)}</span>'
    return escape(str(cell))
