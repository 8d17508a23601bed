"""A rich progress bar driven by the toolchain's `progress(label, done, total)` callbacks."""

from __future__ import annotations

import contextlib
from typing import Iterator

from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from hfm_compress.cli.output import console

from hfm_compress.configs import Progress as ProgressCallback


@contextlib.contextmanager
def progress_bar(enabled: bool = True) -> Iterator[ProgressCallback]:
    """One line per stage: a new label starts a new bar, repeated labels advance it."""
    if not enabled:
        yield lambda label, done, total: None
        return
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as bar:
        tasks: dict[str, int] = {}

        def update(label: str, done: int, total: int) -> None:
            stage = label.split(":")[0]
            if stage not in tasks:
                tasks[stage] = bar.add_task(label, total=max(total, 1))
            bar.update(tasks[stage], description=label, completed=done, total=max(total, 1))

        yield update
