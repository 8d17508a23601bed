"""The `hfm-compress` command line. Heavy libraries (torch, transformers) load only inside `compress`/`demo`."""

from __future__ import annotations

from typing import Annotated

import typer

from hfm_compress.cli import artifact_cmds, audit_cmd, compress_cmd, demo_cmd, profiles_cmd, sbom_cmd, trust_cmds
from hfm_compress.cli.errors import set_debug

app = typer.Typer(
    help="Compress healthcare foundation models into small verified ONNX artifacts and run them offline.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(profiles_cmd.app, name="profiles")
app.command("inspect")(artifact_cmds.inspect)
app.command("run")(artifact_cmds.run)
app.command("bench")(artifact_cmds.bench)
app.command("keygen")(trust_cmds.keygen)
app.command("sign")(trust_cmds.sign)
app.command("verify")(trust_cmds.verify)
app.command("sbom")(sbom_cmd.sbom)
app.add_typer(audit_cmd.app, name="audit")


@app.callback()
def root(debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks instead of one-line errors.")] = False) -> None:
    set_debug(debug)


# compress_cmd/demo_cmd import torch and transformers only inside their functions, so --help stays fast.
app.command("compress")(compress_cmd.compress)
app.command("demo")(demo_cmd.demo)


def main() -> None:
    app()
