"""`hfm-compress profiles` and `hfm-compress profiles show NAME`."""

from __future__ import annotations

from typing import Annotated

import typer

from hfm_compress.cli.errors import reports_errors
from hfm_compress.cli.output import HelpCommand, HelpGroup, print_json, show, table
from hfm_runtime.profiles import DeviceProfile, available_profiles, load_profile

app = typer.Typer(help="List device profiles or show one.", invoke_without_command=True, no_args_is_help=False,
                  cls=HelpGroup)
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
    rows = [(p.name, p.cpu_class, _budget(p, "size", f"{p.artifact_size_mb:g} MB"),
             _budget(p, "memory", f"{p.memory_mb:g} MB"), _budget(p, "latency", f"{p.latency_ms:g} ms/{p.latency_unit}"),
             ", ".join(p.allowed_precisions)) for p in profiles]
    show(table("Device profiles", ["name", "cpu", "size budget", "memory", "latency", "precisions"], rows,
               caption="* the binding budget, the one `--recipe auto` plans for. Threads and the reason for every "
                       "number: hfm-compress profiles show NAME"))


def _budget(profile: DeviceProfile, name: str, value: str) -> str:
    return f"{value} *" if profile.binding == name else value


@app.command("show", cls=HelpCommand)
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
        if key in ("name", "description", "rationale", "sha256", "source"):  # in the title and caption
            continue
        why = next((w for field, w in profile.rationale.items() if field.endswith("." + key)), "")
        rows.append((key, ", ".join(map(str, value)) if isinstance(value, (list, tuple)) else value, why))
    show(table(f"Profile {profile.name}: {profile.description}", ["field", "value", "why"], rows,
               caption=f"From {values['source']}, sha256 {values['sha256']}"))
