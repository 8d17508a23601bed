"""Assemble and write an artifact, recording golden pairs by running it through this very runtime.

The toolchain calls `pack_artifact` after its last step; the runtime tests call it on tiny onnx.helper graphs.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any, Mapping, Sequence

from hfm_runtime import __version__, golden
from hfm_runtime.artifact import MemoryArtifact, npz_bytes, write_artifact
from hfm_runtime.graph_facts import graph_facts
from hfm_runtime.model import Model
from hfm_runtime.profiles import DeviceProfile, load_profile
from hfm_runtime.provenance import build_provenance
from hfm_runtime.session import SessionSettings

MODEL_MEMBER = "model.onnx"


def pack_artifact(
    out_path: str | Path,
    *,
    model_bytes: bytes,
    manifest: Mapping[str, Any],
    members: Mapping[str, bytes],
    golden_inputs: Sequence[Any],
    profile: str | Path | DeviceProfile,
    signing_keys: Sequence[Any] = (),
) -> Path:
    """Write `out_path` atomically. `manifest` holds task, model, inputs/outputs, pre/post-processing, provenance.

    `members` may hold `model.ort` (an ORT-format copy, named by `manifest["model"]["ort_file"]`).
    `model.precision` is read from the graph (the lowest weight precision present), whatever the caller claimed.
    `signing_keys`: Ed25519 private keys that sign the artifact as it is written (runtime/signing.py).
    """
    device = load_profile(profile)
    graph = graph_facts(model_bytes, str(out_path))
    full = {
        **manifest,
        "model": {**manifest.get("model", {}), "file": MODEL_MEMBER, "size_bytes": len(model_bytes),
                  "precision": graph.precision},
        "profile": {"name": device.name, "sha256": device.sha256, "source": device.source,
                    "description": device.description},
        "toolchain": {**manifest.get("toolchain", {}), "runtime_version": __version__},
        "provenance": build_provenance(),
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    all_members = {MODEL_MEMBER: model_bytes, **members}
    draft = MemoryArtifact(Path(out_path), full, all_members, graph)
    settings = SessionSettings.from_profile(device)
    reference_settings = dataclasses.replace(settings, intra_op_threads=1, graph_optimization_level="disabled", notes=())
    recorded = golden.record(Model(draft, device, settings), Model(draft, device, reference_settings), golden_inputs)
    full["golden"] = recorded.manifest_entry
    all_members[golden.GOLDEN_MEMBER] = npz_bytes(recorded.npz)
    return write_artifact(out_path, full, all_members, signing_keys)
