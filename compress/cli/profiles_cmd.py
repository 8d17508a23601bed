"""`hfm-compress profiles` and `hfm-compress profiles show NAME`."""

from __future__ import annotations

from typing import Annotated

import typer

from hfm_compress.cli.errors import reports_errors
from hfm_compress.cli.output import print_json, show, table
from hfm_runtime.profiles import available_profiles, load_profile

app = typer.Typer(help="List device profiles or show one.", invoke_without_command=True, no_args_is_help=False)
JsonFlag = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


@app.callback()
@reports_errors
def list_profiles(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """List the packaged device profiles."""
    if ctx.invoked_subcommand is not None:
        return
    profiles = [load_profile(name) for name in available_profiles()]
    if as_json:
        print_json([p.to_dict() for p in profiles])
        return
    rows = [
        (p.name, p.cpu_class, p.intra_op_threads, f"{p.artifact_size_mb:g} MB", f"{p.memory_mb:g} MB",
         f"{p.latency_ms:g} ms/{p.latency_unit}", ",".join(p.allowed_precisions), p.binding)
        for p in profiles
    ]
    show(table("Device profiles", ["name", "cpu", "threads", "size budget", "memory", "latency", "precisions", "binding"], rows))


@app.command("show")
@reports_errors
def show_profile(
    name: Annotated[str, typer.Argument(help="A packaged profile name or a path to a profile .toml file.")],
    as_json: JsonFlag = False,
) -> None:
    """Print one profile with the reason for every number."""
    profile = load_profile(name)
    if as_json:
        print_json(profile.to_dict())
        return
    values = profile.to_dict()
    rows = []
    for key, value in values.items():
        if key in ("rationale",):
            continue
        why = next((w for field, w in profile.rationale.items() if field.endswith("." + key)), "")
        rows.append((key, value if not isinstance(value, list) else ", ".join(value), why))
    show(table(f"Profile {profile.name}: {profile.description}", ["field", "value", "why"], rows))
