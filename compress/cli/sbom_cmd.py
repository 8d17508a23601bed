"""`hfm-compress sbom`: write a CycloneDX SBOM of the runtime (and an artifact) for a device maker's SOUP list.

Only the runtime and cyclonedx-python-lib are needed (the `sbom` extra), never the toolchain: the SBOM describes what
runs on the device.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Iterable, Optional

import typer

from hfm_compress.cli.errors import reports_errors
from hfm_compress.cli.output import print_json, show, table


@reports_errors
def sbom(
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the CycloneDX JSON SBOM.")],
    artifact: Annotated[Optional[Path], typer.Option(
        "--artifact", help="Also list this .hfm artifact: the model, its members and the file, with SHA-256.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Write a CycloneDX SBOM of the installed runtime (SOUP list, IEC 62304), validated against the schema."""
    from hfm_runtime.sbom import SPEC_VERSION, write_sbom

    # write_sbom validates the exact text with the CycloneDX strict JSON schema before renaming it into place.
    written = write_sbom(out, artifact=artifact)
    document = json.loads(written.read_text(encoding="utf-8"))
    runtime = document["metadata"]["component"]
    summary = {
        "file": str(written),
        "spec_version": document["specVersion"],
        "serial_number": document.get("serialNumber"),
        "runtime": f"{runtime['name']} {runtime.get('version', '')}".strip(),
        "components": _count(document.get("components", [])),
        "artifact": str(artifact) if artifact else None,
        "validated": f"CycloneDX {SPEC_VERSION} JSON schema (strict)",
    }
    if as_json:
        print_json(summary)
        return
    show(table("SBOM written", ["field", "value"], [(k, v if v is not None else "-") for k, v in summary.items()]))


def _count(components: Iterable[dict[str, Any]]) -> int:
    """Components at every depth: artifact members are nested inside the artifact file's component."""
    return sum(1 + _count(c.get("components", [])) for c in components)
