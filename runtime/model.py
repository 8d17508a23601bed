"""The loaded model: verified artifact + profile-configured session + pre/post-processing.

`load()` is the public entry point: verify the artifact (bounded reading, schema, seal or signatures under the trust
policy, member hashes), check the profile's budgets against the graph itself, open the session, check the
manifest's input spec against the graph, read the safety section (runtime/safety.py), then run the golden self-test
(all golden inputs together, and each alone). `predict()` returns every result with its flags under the result policy
(runtime/results.py); `run()` is its outputs; `run_raw()` the graph's outputs before calibration and policy.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from hfm_runtime import golden
from hfm_runtime.artifact import Artifact, read_artifact
from hfm_runtime.batching import BatchBudget, plan_batches
from hfm_runtime.budgets import check_file_size, enforce_precision
from hfm_runtime.errors import ArtifactError, InputError
from hfm_runtime.graph_facts import GraphFacts
from hfm_runtime.inputs import TASKS, SignalInputs, TextInputs, adapter_for
from hfm_runtime.preprocess.image import frame_limit
from hfm_runtime.preprocess.signal import SignalStream, WindowResult
from hfm_runtime.profiles import DeviceProfile, load_profile
from hfm_runtime.results import Prediction, Predictions, ResultPolicy, apply_policy
from hfm_runtime.safety import LOW_CONFIDENCE, OUT_OF_DISTRIBUTION, SAFETY_FLAGS, SafetySpec
from hfm_runtime.session import SessionSettings
from hfm_runtime.signing import TrustPolicy

DEFAULT_BATCH_SIZE = 32
MODEL_FORMATS = ("auto", "onnx", "ort")
ORT_TYPE_NAMES = {"float32": "float"}  # manifest dtypes are numpy names; ONNX Runtime says tensor(float)


class Model:
    """A ready-to-run artifact. `predict(inputs)` gives one result per row with its flags; `run(inputs)` the rows
    alone: embeddings (n, dim), class probabilities (n, classes), or per-pixel class probabilities (n, classes, H, W)
    for segmentation.

    Inputs by task: texts; image files or frame arrays (a cine DICOM gives one row per frame); signal record files
    or arrays (one row per window). `stream()` runs a signal model on samples as they arrive.
    """

    def __init__(self, artifact: Artifact, profile: DeviceProfile, settings: SessionSettings,
                 model_format: str = "auto", audit: Any = None, policy: ResultPolicy | None = None) -> None:
        self.artifact = artifact
        self.profile = profile
        self.settings = settings
        self.audit = audit
        manifest = artifact.manifest
        self.task = manifest.get("task")
        if self.task not in TASKS:
            raise ArtifactError(f"{artifact.path}: task {self.task!r} is not supported; expected one of {', '.join(TASKS)}")
        self.model_format = _model_format(manifest, model_format, artifact.path)
        self.graph: GraphFacts = artifact.graph  # read from model.onnx; model.ort is the same graph, hash-checked
        member = manifest["model"]["ort_file"] if self.model_format == "ort" else manifest["model"]["file"]
        model_bytes = artifact.member(member)
        self.session = settings.open(model_bytes, self.model_format)
        del model_bytes  # the session holds the weights now; the artifact's bytes are not kept
        self.input_names = _check_io_spec(artifact, self.session)
        self.output_name = manifest["outputs"][0]["name"]
        frame_bytes, frame_source = frame_limit(profile)
        self.inputs = adapter_for(manifest, artifact.member, self.input_names, str(artifact.path),
                                  max_decoded_bytes=frame_bytes, limit_source=frame_source)
        self.batch_budget = _batch_budget(self)
        self.safety = SafetySpec.from_manifest(manifest, artifact.member, str(artifact.path))  # None: no checks
        self.policy = policy if policy is not None else result_policy(profile, None)

    @property
    def manifest(self) -> Mapping[str, Any]:
        return self.artifact.manifest

    @property
    def labels(self) -> list[str] | None:
        return self.manifest.get("postprocessing", {}).get("labels")

    @property
    def safety_checks(self) -> tuple[str, ...]:
        """The safety flags this artifact can raise: those its manifest's `safety` section carries a check for."""
        if self.safety is None:
            return ()
        checks = [OUT_OF_DISTRIBUTION] if self.safety.detector is not None else []
        if self.safety.confidence_threshold is not None and self.task != "embedding":
            checks.append(LOW_CONFIDENCE)
        return tuple(checks)

    def predict(self, inputs: Any, batch_size: int = DEFAULT_BATCH_SIZE, fs: float | None = None) -> Predictions:
        """Every result with its flags and scores, withheld where the result policy says so (runtime/results.py).

        Outputs are calibrated where the artifact carries a temperature. `fs`: signal models only, the sampling rate
        of arrays and of CSV/NPY records (default: the model's)."""
        return self.predict_items(self._items(inputs, batch_size, fs), batch_size)

    def run(self, inputs: Any, batch_size: int = DEFAULT_BATCH_SIZE, fs: float | None = None) -> np.ndarray:
        """`predict(...).outputs`: calibrated where the artifact carries a temperature, and rows of results that the
        policy withholds are NaN (use `predict` to see the flags of every row)."""
        return self.predict(inputs, batch_size, fs).outputs

    def run_raw(self, inputs: Any, batch_size: int = DEFAULT_BATCH_SIZE, fs: float | None = None) -> np.ndarray:
        """The graph's outputs after post-processing only: no temperature, no flags, no policy. This is what the
        golden self-test compares and what the toolchain measures and fits the safety checks on."""
        return self.run_items(self._items(inputs, batch_size, fs), batch_size)

    def _items(self, inputs: Any, batch_size: int, fs: float | None) -> list[Any]:
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise InputError(f"batch_size = {batch_size!r}; expected a whole number >= 1")
        if fs is not None:
            if not isinstance(self.inputs, SignalInputs):
                raise InputError(f"fs is for signal models; this artifact's task is {self.task}")
            return self.inputs.items(inputs, fs)
        return self.inputs.items(inputs)

    def predict_items(self, items: Sequence[Any], batch_size: int = DEFAULT_BATCH_SIZE,
                      budget: BatchBudget | None = None, quality: Sequence[str] | None = None) -> Predictions:
        """`predict` on already-preprocessed items (what `self.inputs.items()` returns); audited with each row's
        flags, scores and whether it was withheld (the output recorded is the one computed, withheld or not)."""
        started = time.perf_counter()
        raw = self._infer(items, batch_size, budget)
        if self.safety is None:
            calibrated, flags, scores = raw, [()] * len(raw), [{} for _ in range(len(raw))]
        else:
            assessment = self.safety.assess(self.inputs, items, raw)
            calibrated, flags, scores = assessment.outputs, assessment.flags, assessment.scores
        predictions = apply_policy(calibrated, flags, scores, self.policy)
        if self.audit is not None:
            self.audit.record_inference(
                **self.audit_identity(), inputs=list(items), outputs=calibrated, labels=self.labels, quality=quality,
                flags=predictions.flags, withheld=predictions.withheld, scores=predictions.scores,
                latency_ms=(time.perf_counter() - started) * 1000)
        return predictions

    def run_items(self, items: Sequence[Any], batch_size: int = DEFAULT_BATCH_SIZE,
                  budget: BatchBudget | None = None, quality: Sequence[str] | None = None) -> np.ndarray:
        """`run_raw` on already-preprocessed items. Audited like `predict_items`, but its records carry no `flags`
        (the results were not assessed)."""
        started = time.perf_counter()
        stacked = self._infer(items, batch_size, budget)
        if self.audit is not None:
            self.audit.record_inference(
                **self.audit_identity(), inputs=list(items), outputs=stacked, labels=self.labels, quality=quality,
                latency_ms=(time.perf_counter() - started) * 1000)
        return stacked

    def _infer(self, items: Sequence[Any], batch_size: int, budget: BatchBudget | None) -> np.ndarray:
        """Run items in the caller's order, in batches that fit the profile's memory budget (runtime/batching.py);
        an item's result does not depend on its batch."""
        budget = budget or self.batch_budget
        costs = [_cost(self.inputs, item) for item in items] if len(items) > 1 else [0] * len(items)  # 1: no plan
        order = list(range(len(items)))
        if self.inputs.sort_by_length:  # group texts of similar length so each batch pads little
            order.sort(key=lambda i: costs[i])
        results: list[np.ndarray] = [None] * len(items)  # type: ignore[list-item]
        for batch in plan_batches([costs[i] for i in order], batch_size, budget):
            chunk = [order[position] for position in batch]
            feeds = self.inputs.feeds([items[i] for i in chunk])
            (output,) = self.session.run([self.output_name], feeds)
            for row, index in zip(self.inputs.outputs(output, feeds), chunk):
                results[index] = row
        return np.stack(results)

    def audit_identity(self) -> dict[str, Any]:
        """Who answered: the artifact's digest and signer, the profile and the task (fields of every audit record)."""
        return {"artifact_digest": self.artifact.digest, "signer": ",".join(self.artifact.trust.signers) or None,
                "profile": self.profile.name, "task": self.task}

    def stream(self, input_fs: float | None = None) -> "SignalModelStream":
        """A live stream for a signal model: push chunks of samples at `input_fs` (default the model's rate)."""
        if not isinstance(self.inputs, SignalInputs):
            raise InputError(f"stream() is for signal models; this artifact's task is {self.task}")
        rate = input_fs if input_fs is not None else self.inputs.spec.fs
        return SignalModelStream(self, SignalStream(self.inputs.spec, rate))


@dataclasses.dataclass(frozen=True)
class StreamResult:
    """One window of a stream: its class probabilities with their flags, or None with the flag that says why not.

    `probabilities` is None when the window was refused for its quality (`quality` is not "ok", and `flags` holds
    it) or withheld by the result policy (`withheld`; `flags` says which safety flag)."""

    index: int
    start_seconds: float
    quality: str  # "ok", "flat_line", "non_finite", "too_short"
    probabilities: np.ndarray | None
    flags: tuple[str, ...] = ()
    withheld: bool = False
    scores: Mapping[str, float] = dataclasses.field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """The window's signal quality was good enough to run the model (its result may still be flagged)."""
        return self.quality == "ok"


class SignalModelStream:
    """Chunks in, one result per complete window out; memory is the preprocessing stream's bounded state."""

    def __init__(self, model: Model, stream: SignalStream) -> None:
        self.model = model
        self.preprocessing = stream

    def push(self, chunk: Any) -> list[StreamResult]:
        return self._run(self.preprocessing.push(chunk))

    def flush(self) -> list[StreamResult]:
        return self._run(self.preprocessing.flush())

    def _run(self, windows: Sequence[WindowResult]) -> list[StreamResult]:
        ready = [w for w in windows if w.ok]
        answered: dict[int, Prediction] = {}
        if ready:
            data = self.model.inputs.model_layout(np.stack([w.data for w in ready]))
            predictions = self.model.predict_items(list(data), quality=["ok"] * len(ready))
            answered = {w.index: p for w, p in zip(ready, predictions)}
        if self.model.audit is not None:  # a window refused for its quality is a result too: record it
            identity = self.model.audit_identity()
            for window in (w for w in windows if not w.ok):
                self.model.audit.append({"artifact": identity["artifact_digest"], "signer": identity["signer"],
                                         "profile": identity["profile"], "task": identity["task"],
                                         "quality": window.quality, "output": None, "flags": [window.quality],
                                         "withheld": False, "window_start_seconds": window.start_seconds})
        return [_stream_result(w, answered.get(w.index)) for w in windows]


def _stream_result(window: WindowResult, prediction: Prediction | None) -> StreamResult:
    if prediction is None:  # refused for its quality: the model never ran
        return StreamResult(window.index, window.start_seconds, window.quality, None, (window.quality,))
    return StreamResult(window.index, window.start_seconds, window.quality, prediction.output, prediction.flags,
                        prediction.withheld, dict(prediction.scores))


def load(path: str | Path, profile: str | Path | DeviceProfile = "clinic-cpu", self_test: bool = True,
         model_format: str = "auto", *, trusted_keys: Sequence[str] | None = None,
         require_signature: bool | None = None, audit: Any = None, withhold: Sequence[str] | None = None) -> Model:
    """Verify, budget-check and open an artifact for a device profile; run its golden self-test unless disabled.

    `model_format`: "onnx", "ort" (the ORT-format copy an artifact may carry, for minimal ONNX Runtime builds), or
    "auto" (ORT format when the artifact carries it).
    Trust: `trusted_keys` (public key PEM files or texts) and `require_signature` override the profile's `[trust]`
    table; where a signature is required, unsigned, unknown-key and bad-signature artifacts are refused.
    `audit`: an `hfm_runtime.audit.AuditLog` that gets one hash-chained record per inference.
    `withhold`: the safety flags whose results are withheld (a subset of `hfm_runtime.safety.SAFETY_FLAGS`; `[]`
    returns every result with its flags); overrides the profile's `[safety]` table.
    """
    device = load_profile(profile)
    policy = trust_policy(device, trusted_keys, require_signature)
    results = result_policy(device, withhold)
    check_file_size(path, device)
    artifact = read_artifact(path, policy, keep_model=True)
    enforce_precision(str(path), artifact.graph.precision, device)
    model = Model(artifact, device, SessionSettings.from_profile(device), model_format, policy=results)
    artifact.kept.clear()  # an ORT-format session did not take the ONNX bytes: drop them
    if self_test:
        golden.self_test(model)
    model.audit = audit  # after the self-test: the log holds the device's own inferences only
    return model


def trust_policy(device: DeviceProfile, trusted_keys: Sequence[str] | None,
                 require_signature: bool | None) -> TrustPolicy:
    """The profile's policy, with the caller's arguments taking precedence (and saying so in errors)."""
    if trusted_keys is None and require_signature is None:
        return TrustPolicy(device.require_signature, device.trusted_keys, f"profile {device.name}")
    if isinstance(trusted_keys, (str, Path)):
        trusted_keys = [str(trusted_keys)]
    keys = tuple(str(k) for k in (trusted_keys if trusted_keys is not None else device.trusted_keys))
    require = device.require_signature if require_signature is None else bool(require_signature)
    if require and not keys:
        raise InputError("require_signature=True needs trusted_keys (public key files); none were given")
    return TrustPolicy(require, keys, "load() arguments")


def result_policy(device: DeviceProfile, withhold: Sequence[str] | None) -> ResultPolicy:
    """The profile's `[safety]` policy, or the caller's `withhold` in its place (and saying so in output)."""
    if withhold is None:
        return ResultPolicy(device.withhold, f"profile {device.name}")
    if not isinstance(withhold, (str, list, tuple, set, frozenset)):
        raise InputError(f"withhold = {withhold!r}; expected a list of {', '.join(SAFETY_FLAGS)} (or [])")
    flags = [withhold] if isinstance(withhold, str) else list(withhold)
    bad = [flag for flag in flags if flag not in SAFETY_FLAGS]
    if bad:
        raise InputError(f"withhold = {flags!r}: {', '.join(map(repr, bad))} is not a safety flag; expected a list "
                         f"of {', '.join(SAFETY_FLAGS)} (or [] to return every result with its flags)")
    return ResultPolicy(tuple(dict.fromkeys(flags)), "load() arguments")


def _cost(inputs: Any, item: Any) -> int:
    """Padded size of one item: tokens for a text, elements for an array."""
    if isinstance(inputs, TextInputs):
        return inputs.preprocessor.token_count(item)
    return int(np.asarray(item).size)


def _batch_budget(model: Model) -> BatchBudget:
    source = f"profile {model.profile.name} memory_mb {model.profile.memory_mb:g}"
    row_wise = model.graph.batch_dependent
    if isinstance(model.inputs, TextInputs):
        shape = model.session.get_outputs()[0].shape
        hidden = shape[-1] if model.task == "embedding" and isinstance(shape[-1], int) else None
        return BatchBudget.for_text(model.profile.memory_mb, hidden, row_wise, source)
    return BatchBudget.for_tensors(model.profile.memory_mb, row_wise, source)


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
        expected = f"tensor({ORT_TYPE_NAMES.get(entry['dtype'], entry['dtype'])})"
        if graph_inputs[entry["name"]] != expected:
            raise ArtifactError(
                f"{artifact.path}: input {entry['name']} is {graph_inputs[entry['name']]} in the model, manifest says {expected}"
            )
    outputs = [o.name for o in session.get_outputs()]
    spec_outputs = artifact.manifest.get("outputs") or []
    if not spec_outputs or spec_outputs[0]["name"] not in outputs:
        raise ArtifactError(f"{artifact.path}: manifest outputs {spec_outputs} do not match the model's outputs {outputs}")
    return names


def _model_format(manifest: Mapping[str, Any], wanted: str, path: Any) -> str:
    if wanted not in MODEL_FORMATS:
        raise InputError(f"model_format = {wanted!r}; expected one of {', '.join(MODEL_FORMATS)}")
    has_ort = bool(manifest.get("model", {}).get("ort_file"))
    if wanted == "ort" and not has_ort:
        raise ArtifactError(f"{path}: the artifact carries no ORT-format model; build it with an 'ort-format' step")
    if wanted == "auto":
        return "ort" if has_ort else "onnx"
    return wanted
