"""The loaded model: verified artifact + profile-configured session + pre/post-processing.

`load()` is the public entry point: verify the artifact, check the profile's budgets, open the session, check the
manifest's input spec against the graph, then run the golden self-test.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from hfm_runtime import golden
from hfm_runtime.artifact import Artifact, read_artifact
from hfm_runtime.budgets import enforce_before_load
from hfm_runtime.errors import ArtifactError, InputError
from hfm_runtime.postprocess import mean_pool_l2, softmax
from hfm_runtime.preprocess.text import TextPreprocessor
from hfm_runtime.profiles import DeviceProfile, load_profile
from hfm_runtime.session import SessionSettings

TASKS = ("embedding", "classification")
DEFAULT_BATCH_SIZE = 32


class Model:
    """A ready-to-run artifact. `run(texts)` returns embeddings (n, dim) or class probabilities (n, classes)."""

    def __init__(self, artifact: Artifact, profile: DeviceProfile, settings: SessionSettings) -> None:
        self.artifact = artifact
        self.profile = profile
        self.settings = settings
        manifest = artifact.manifest
        self.task = manifest.get("task")
        if self.task not in TASKS:
            raise ArtifactError(f"{artifact.path}: task {self.task!r} is not supported; expected one of {', '.join(TASKS)}")
        self.session = settings.open(artifact.member(manifest["model"]["file"]))
        self.input_names = _check_io_spec(artifact, self.session)
        self.output_name = manifest["outputs"][0]["name"]
        self.preprocessor = _text_preprocessor(artifact, self.input_names)

    @property
    def manifest(self) -> Mapping[str, Any]:
        return self.artifact.manifest

    @property
    def labels(self) -> list[str] | None:
        return self.manifest.get("postprocessing", {}).get("labels")

    def run(self, inputs: Any, batch_size: int = DEFAULT_BATCH_SIZE) -> np.ndarray:
        texts = self.preprocessor.validate(inputs)
        if not isinstance(batch_size, int) or batch_size < 1:
            raise InputError(f"batch_size = {batch_size!r}; expected a whole number >= 1")
        # Group texts of similar length so each batch pads little, then restore the caller's order.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        results: list[np.ndarray] = [None] * len(texts)  # type: ignore[list-item]
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            batch = self._run_batch([texts[i] for i in chunk])
            for row, index in zip(batch, chunk):
                results[index] = row
        return np.stack(results)

    def _run_batch(self, texts: Sequence[str]) -> np.ndarray:
        feeds = self.preprocessor.encode(texts)
        (output,) = self.session.run([self.output_name], feeds)
        kind = self.manifest.get("postprocessing", {}).get("type")
        if kind == "mean-pool-l2":
            return mean_pool_l2(output, feeds["attention_mask"])
        if kind == "softmax":
            return softmax(output)
        return output


def load(path: str | Path, profile: str | Path | DeviceProfile = "clinic-cpu", self_test: bool = True) -> Model:
    """Verify, budget-check and open an artifact for a device profile; run its golden self-test unless disabled."""
    device = load_profile(profile)
    artifact = read_artifact(path)
    enforce_before_load(str(path), artifact.size_bytes, artifact.manifest, device)
    model = Model(artifact, device, SessionSettings.from_profile(device))
    if self_test:
        golden.self_test(model)
    return model


def _check_io_spec(artifact: Artifact, session: Any) -> list[str]:
    """The manifest's input/output spec must match the graph, so preprocessing feeds what the model expects."""
    spec_inputs = artifact.manifest.get("inputs") or []
    graph_inputs = {i.name: i.type for i in session.get_inputs()}
    names = [entry["name"] for entry in spec_inputs]
    if set(names) != set(graph_inputs):
        raise ArtifactError(
            f"{artifact.path}: manifest inputs {sorted(names)} do not match the model's inputs {sorted(graph_inputs)}"
        )
    for entry in spec_inputs:
        expected = f"tensor({entry['dtype']})"
        if graph_inputs[entry["name"]] != expected:
            raise ArtifactError(
                f"{artifact.path}: input {entry['name']} is {graph_inputs[entry['name']]} in the model, manifest says {expected}"
            )
    outputs = [o.name for o in session.get_outputs()]
    spec_outputs = artifact.manifest.get("outputs") or []
    if not spec_outputs or spec_outputs[0]["name"] not in outputs:
        raise ArtifactError(f"{artifact.path}: manifest outputs {spec_outputs} do not match the model's outputs {outputs}")
    return names


def _text_preprocessor(artifact: Artifact, input_names: Sequence[str]) -> TextPreprocessor:
    spec = artifact.manifest.get("preprocessing", {})
    if spec.get("type") != "text":
        raise ArtifactError(f"{artifact.path}: preprocessing type {spec.get('type')!r} is not supported; expected 'text'")
    tokenizer_json = artifact.member(spec.get("tokenizer", "tokenizer.json")).decode("utf-8")
    return TextPreprocessor(tokenizer_json, spec, input_names)
