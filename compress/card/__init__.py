"""Model cards: `write_card(artifact, out)` writes `MODEL_CARD.md`, `model_card.html` and `figures/*.png` from the
artifact's verified manifest alone (nothing is run, torch is never imported).

content.py turns the manifest into sections (blocks.py), plots.py draws the figures (matplotlib, the `[card]`
extra), markdown.py and html.py render, files.py writes everything or nothing. See docs/model-card.md.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Sequence

from hfm_compress.card.files import CardWriteError, write_all
from hfm_compress.card.plots import PlottingUnavailable

MARKDOWN_NAME = "MODEL_CARD.md"
HTML_NAME = "model_card.html"
# Every figure a card can have, so that one left by an earlier card in the folder is removed when this one has none.
FIGURE_NAMES = ("confusion", "per_class_sensitivity", "subgroups", "ood_auroc", "reliability")


@dataclasses.dataclass(frozen=True)
class CardFiles:
    markdown: Path
    html: Path
    figures: tuple[Path, ...]
    signer: str

    def to_dict(self) -> dict[str, Any]:
        return {"markdown": str(self.markdown), "html": str(self.html), "figures": [str(p) for p in self.figures],
                "signer": self.signer}


def write_card(artifact: str | Path, out: str | Path, trusted_keys: Sequence[str] = ()) -> CardFiles:
    """Verify `artifact` (as `inspect` does, `trusted_keys` naming signers to trust) and write its card into `out`.

    Raises ArtifactError/SignatureError for an artifact that fails verification, PlottingUnavailable without
    matplotlib and CardWriteError when `out` cannot be written; in each case no file of the card is written.
    """
    from hfm_compress.card import html, markdown, plots
    from hfm_compress.card.content import build_card
    from hfm_runtime.artifact import read_artifact
    from hfm_runtime.signing import TrustPolicy

    verified = read_artifact(artifact, TrustPolicy(trusted_keys=tuple(trusted_keys), source="--key"))
    plots.require_matplotlib()
    card = build_card(verified.manifest, verified.trust.to_dict(), Path(artifact).name, verified.size_bytes)
    images = plots.render_all(card.plots)
    files = {f"{markdown.FIGURES}/{name}.png": data for name, data in images.items()}
    files[MARKDOWN_NAME] = markdown.render(card).encode("utf-8")
    files[HTML_NAME] = html.render(card, images).encode("utf-8")
    folder = Path(out)
    stale = tuple(markdown.figure_path(name) for name in FIGURE_NAMES)
    write_all(folder, files, stale)
    return CardFiles(markdown=folder / MARKDOWN_NAME, html=folder / HTML_NAME,
                     figures=tuple(folder / markdown.figure_path(name) for name in images),
                     signer=verified.trust.describe())


__all__ = ["CardFiles", "CardWriteError", "PlottingUnavailable", "write_card"]
