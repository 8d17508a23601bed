"""The `hfm-compress` command line. Heavy libraries (torch, transformers) load only inside `compress`/`demo`."""

from __future__ import annotations

from typing import Annotated

import typer

from hfm_compress.cli import (artifact_cmds, audit_cmd, card_cmd, compress_cmd, demo_cmd, profiles_cmd, sbom_cmd,
                              trust_cmds)
from hfm_compress.cli.errors import set_debug
from hfm_compress.cli.output import HelpCommand, HelpGroup

app = typer.Typer(
    help="Compress healthcare foundation models into small verified ONNX artifacts and run them offline.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    # Plain help pages (see output.HelpGroup): rich markup read `package.module:factory` as an emoji code.
    cls=HelpGroup,
    rich_markup_mode=None,
    # Help uses the terminal's width up to 100 columns (click's own cap is 80); subcommands inherit it.
    context_settings={"max_content_width": 100},
)
# The main job first. compress_cmd/demo_cmd import torch and transformers only inside their functions, so --help
# stays fast.
for name, function in [
    ("compress", compress_cmd.compress),
    ("demo", demo_cmd.demo),
    ("inspect", artifact_cmds.inspect),
    ("run", artifact_cmds.run),
    ("bench", artifact_cmds.bench),
    ("card", card_cmd.card),
    ("keygen", trust_cmds.keygen),
    ("sign", trust_cmds.sign),
    ("verify", trust_cmds.verify),
    ("sbom", sbom_cmd.sbom),
]:
    app.command(name, cls=HelpCommand)(function)
app.add_typer(profiles_cmd.app, name="profiles")
app.add_typer(audit_cmd.app, name="audit")


@app.callback()
def root(debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks instead of one-line errors.")] = False) -> None:
    set_debug(debug)


def main() -> None:
    app()
