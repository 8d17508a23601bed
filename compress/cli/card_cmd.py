"""`card`: a model card (Markdown and self-contained HTML, with figures) from an artifact's verified manifest."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hfm_compress.cli.errors import reports_errors
from hfm_compress.cli.output import print_json, show, table

ArtifactPath = Annotated[Path, typer.Argument(help="Path to a .hfm artifact.")]


@reports_errors
def card(
    artifact: ArtifactPath,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for MODEL_CARD.md, model_card.html and figures/ "
                                                           "(created if missing).")],
    keys: Annotated[list[str], typer.Option("--key", "-k", help="Trusted public key (.pub); repeat for several.")] = [],  # noqa: B006
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output: the paths written.")] = False,
) -> None:
    """Write a model card (Markdown and self-contained HTML, with figures) from an artifact's verified manifest.

    The card covers intended use, source and steps, fidelity beside the teacher (overall, per class, per
    subgroup), gates, out-of-distribution detection, calibration, size and latency, provenance and known
    limitations. Nothing is run; no file is written unless the artifact verifies. Needs the [card] extra
    (matplotlib) for the figures.
    """
    from hfm_compress.card import write_card

    written = write_card(artifact, out, keys)
    if as_json:
        print_json(written.to_dict())
        return
    rows = [("Markdown", str(written.markdown)), ("HTML (self-contained)", str(written.html))]
    rows += [("figure", str(path)) for path in written.figures]
    show(table(f"Model card of {artifact}, verified: {written.signer}", ["file", "path"], rows))
