"""The card's figures as PNG bytes, drawn with matplotlib (the `[card]` extra) on its Agg canvas.

Only matplotlib's object API is used (no pyplot): nothing global changes in the caller's process, and no window
or display is ever needed. Manifest text is drawn literally (`text.parse_math` off: a `$` in a label is a dollar).
"""

from __future__ import annotations

import io
import math
from typing import Any, Callable, Mapping, Sequence

from hfm_compress.card.blocks import Plot
from hfm_runtime.errors import HfmError

TEACHER = "#8c8c8c"  # grey: the reference
ARTIFACT = "#1f6fb4"  # blue: what ships
ARTIFACT_AFTER = "#e07b00"  # orange: the artifact after temperature scaling (distinct in colour-blind palettes)
DPI = 110
LABEL_CHARS = 24  # longer class names are shortened on the axes (the tables carry them whole)
_RC = {"text.parse_math": False, "font.size": 9, "axes.spines.top": False, "axes.spines.right": False}


class PlottingUnavailable(HfmError):
    """matplotlib, which the `[card]` extra installs, is missing."""


def require_matplotlib() -> None:
    """Raise `PlottingUnavailable` with the extra to install, before any file of the card is written."""
    try:
        import matplotlib  # noqa: F401
        from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: F401
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("matplotlib"):
            raise
        raise PlottingUnavailable("this command needs matplotlib for the card's figures (matplotlib is not "
                                  "installed): pip install 'hfm-compress[card]'") from None


def render(plot: Plot) -> bytes:
    """The figure for `plot` as PNG bytes."""
    from matplotlib import rc_context
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    draw = _KINDS[plot.kind]
    with rc_context(_RC):
        figure = Figure(layout="constrained")
        FigureCanvasAgg(figure)
        draw(figure, plot.data)
        buffer = io.BytesIO()
        # No Software tag: the PNG names no URL, and the same numbers give the same bytes.
        figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def _confusion(figure: Any, data: Mapping[str, Any]) -> None:
    labels = [_short(label) for label in data["labels"]]
    size = len(labels)
    side = min(3.0 + 0.35 * size, 9.0)
    figure.set_size_inches(2 * side + 1.2, side)
    axes = figure.subplots(1, 2)
    image = None
    for ax, matrix, title in zip(axes, (data["teacher"], data["artifact"]), data["titles"]):
        shares = [[value / sum(row) if sum(row) else 0.0 for value in row] for row in matrix]
        image = ax.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
        ax.set_title(title)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_xticks(range(size), labels, rotation=45, ha="right")
        ax.set_yticks(range(size), labels)
        if size <= 15:  # the counts, where they fit in their cells
            for i, row in enumerate(matrix):
                for j, value in enumerate(row):
                    ax.text(j, i, f"{value:g}", ha="center", va="center", fontsize=8,
                            color="white" if shares[i][j] > 0.5 else "black")
    figure.colorbar(image, ax=list(axes), label="share of the true class", shrink=0.8)


def _bars(figure: Any, data: Mapping[str, Any]) -> None:
    """Horizontal grouped bars, one panel per group; series named "teacher" are grey, the others blue/orange."""
    groups = data["groups"]
    heights = [max(len(group["categories"]), 1) * (0.25 + 0.18 * len(group["series"])) + 0.8 for group in groups]
    figure.set_size_inches(7.0, min(sum(heights), 40.0))
    axes = figure.subplots(len(groups), 1, squeeze=False, height_ratios=heights)[:, 0]
    for number, (ax, group) in enumerate(zip(axes, groups)):
        series, categories = group["series"], group["categories"]
        width = 0.8 / len(series)
        for index, entry in enumerate(series):
            values = [float(v) if isinstance(v, (int, float)) and math.isfinite(v) else math.nan
                      for v in entry["values"]]
            offsets = [c + (index - (len(series) - 1) / 2) * width for c in range(len(categories))]
            bars = ax.barh(offsets, values, height=width, label=entry["name"], color=_colour(entry["name"], index))
            ax.bar_label(bars, labels=["" if math.isnan(v) else f"{v:.2f}" for v in values], padding=2, fontsize=7)
        ax.set_yticks(range(len(categories)), [_short(c) for c in categories])
        ax.invert_yaxis()  # the first category on top, as in the tables
        if data.get("xlim"):
            low, high = data["xlim"]
            ax.set_xlim(low, high + 0.08 * (high - low))  # room for the value written after the longest bar
        if group.get("title"):
            ax.set_title(_short(group["title"], 60), loc="left")
        ax.set_xlabel(data.get("xlabel") or "")
        if number == 0:
            ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)


def _reliability(figure: Any, data: Mapping[str, Any]) -> None:
    figure.set_size_inches(5.0, 5.0)
    ax = figure.subplots()
    ax.plot([0, 1], [0, 1], linestyle="--", color="#444444", linewidth=1, label="perfectly calibrated")
    for index, entry in enumerate(data["series"]):
        ax.plot(entry["confidence"], entry["accuracy"], marker="o", label=entry["name"],
                color=_colour(entry["name"], index))
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("equal")
    ax.set_xlabel("confidence (mean predicted probability in the bin)")
    ax.set_ylabel("accuracy in the bin")
    ax.legend(loc="upper left", fontsize=8)


def _colour(name: str, index: int) -> str:
    if name.startswith("teacher"):
        return TEACHER
    return ARTIFACT_AFTER if "after" in name else ARTIFACT


def _short(text: Any, limit: int = LABEL_CHARS) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


_KINDS: dict[str, Callable[[Any, Mapping[str, Any]], None]] = {
    "confusion": _confusion,
    "bars": _bars,
    "reliability": _reliability,
}


def render_all(plots: Sequence[Plot]) -> dict[str, bytes]:
    """name -> PNG bytes for every plot of a card."""
    return {plot.name: render(plot) for plot in plots}
