"""`hfm-compress audit verify LOG`: check a per-inference audit log written by `hfm_runtime.audit.AuditLog`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hfm_compress.cli.errors import EXIT_USER_ERROR, reports_errors
from hfm_compress.cli.output import HelpCommand, HelpGroup, print_json, show, table, verdict
from hfm_runtime.audit import AuditReport, verify_log

app = typer.Typer(help="Check tamper-evident audit logs of inferences.", no_args_is_help=True, cls=HelpGroup)
JsonFlag = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


@app.callback()
def audit() -> None:
    """Check tamper-evident audit logs of inferences (see docs/audit-log.md)."""


@app.command("verify", cls=HelpCommand)
@reports_errors
def verify(
    log: Annotated[Path, typer.Argument(help="The audit log (its rotated LOG.1, LOG.2 ... and LOG.head are read too).")],
    as_json: JsonFlag = False,
) -> None:
    """Exit 0 when every record is intact and the log reaches its head; exit 2 naming every problem otherwise."""
    report = verify_log(log)
    if as_json:
        print_json(report.to_dict())
    else:
        show(table(f"Audit log {log}", ["check", "result"], _rows(report)))
    if not report.ok:
        typer.echo(f"error: {report.problems[0]}", err=True)
        for problem in report.problems:
            typer.echo(f"  - {problem}", err=True)
        raise typer.Exit(EXIT_USER_ERROR)


def _rows(report: AuditReport) -> list[tuple[str, object]]:
    seqs = "none" if report.first_seq is None else f"{report.first_seq} .. {report.last_seq}"
    head = "missing" if report.head is None else f"seq {report.head.get('seq')}"
    return [
        ("files (oldest first)", ", ".join(report.files)),
        ("records", report.records),
        ("seq", seqs),
        ("head", head),
        ("problems", len(report.problems)),
        ("verdict", verdict(report.ok)),
    ]
