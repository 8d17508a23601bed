"""`hfm-compress demo`: compress the packaged MiniLM for clinic-cpu, then search clinical notes with the runtime alone."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from hfm_compress.cli.errors import reports_errors
from hfm_compress.cli.output import console, show, table
from hfm_compress.cli.report import print_result

DEMO_PROFILE = "clinic-cpu"
DEMO_OUT = Path("out/demo/minilm-clinic-cpu.hfm")


@reports_errors
def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the demo artifact.")] = DEMO_OUT,
    recipe: Annotated[Optional[str], typer.Option(
        help="Recipe for the demo artifact: fp32, int8, auto or a .toml/.json recipe file.", show_default="int8")] = None,
) -> None:
    """Compress the packaged MiniLM-L6 for clinic-cpu, then search clinical notes with the runtime alone, offline."""
    console.rule(f"1. Compress the packaged MiniLM-L6 encoder for the {DEMO_PROFILE} profile")
    import hfm_compress
    from hfm_compress.cli.progress import progress_bar

    with progress_bar() as progress:
        result = hfm_compress.compress("default", DEMO_PROFILE, recipe, out=out, task="embedding", progress=progress)
    print_result(result)
    console.rule("2. Offline clinical semantic search with the runtime alone (hfm_runtime, no torch)")
    semantic_search(result.path)
    console.rule("3. Model card: what the artifact is, how it was made and how far to trust it")
    write_demo_card(result.path)
    console.print(f"\nArtifact: {result.path}  (inspect it: hfm-compress inspect {result.path})")


def write_demo_card(artifact: Path) -> None:
    """The demo artifact's model card beside it (`out/demo/card/`); without matplotlib, say how to get one."""
    from hfm_compress.card import write_card
    from hfm_compress.card.plots import PlottingUnavailable

    folder = artifact.parent / "card"
    try:
        files = write_card(artifact, folder)
    except PlottingUnavailable as exc:
        console.print(f"No model card: {exc}")
        return
    console.print(f"Model card: {files.html} (self-contained HTML) and {files.markdown}")


def semantic_search(artifact: Path) -> float:
    """Embed the demo notes, answer each free-text complaint with its nearest note; return the hit rate."""
    import numpy as np

    import hfm_runtime
    from hfm_compress.data import load_demo_queries, load_texts

    model = hfm_runtime.load(artifact, profile=DEMO_PROFILE)
    documents = load_texts("demo_documents")
    queries = load_demo_queries()
    document_vectors = model.run(documents)
    query_vectors = model.run([q for q, _ in queries])
    scores = query_vectors @ document_vectors.T
    rows, hits = [], 0
    for (query, expected), row in zip(queries, scores):
        best = int(np.argmax(row))
        hits += best == expected
        rows.append((query, documents[best], f"{row[best]:.2f}", "yes" if best == expected else f"no (wanted: {documents[expected]})"))
    show(table(f"{len(queries)} complaints searched over {len(documents)} notes", ["complaint", "nearest note", "cosine", "intended?"], rows))
    rate = hits / len(queries)
    console.print(f"{hits}/{len(queries)} complaints found the intended note ({rate:.0%}).")
    return rate
