"""ONNX Runtime session configured from a device profile: threads, optimisation level, arena, providers."""

from __future__ import annotations

import dataclasses
import os

import onnxruntime as ort

from hfm_runtime.errors import ProfileError
from hfm_runtime.profiles import DeviceProfile

_OPT_LEVELS = {
    "disabled": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}


@dataclasses.dataclass(frozen=True)
class SessionSettings:
    """What the session really uses; may differ from the profile where this machine has fewer cores."""

    intra_op_threads: int
    inter_op_threads: int
    graph_optimization_level: str
    enable_cpu_mem_arena: bool
    providers: tuple[str, ...]
    notes: tuple[str, ...] = ()

    @classmethod
    def from_profile(cls, profile: DeviceProfile) -> "SessionSettings":
        cores = available_cores()
        notes = []
        threads = profile.intra_op_threads
        if threads > cores:
            notes.append(f"profile asks for {threads} intra-op threads, this machine has {cores} cores: using {cores}")
            threads = cores
        available = set(ort.get_available_providers())
        providers = tuple(p for p in profile.execution_providers if p in available)
        missing = [p for p in profile.execution_providers if p not in available]
        if missing:
            notes.append(f"execution provider(s) {', '.join(missing)} not in this ONNX Runtime build: skipped")
        if not providers:
            raise ProfileError(
                f"profile {profile.name}: none of its execution providers ({', '.join(profile.execution_providers)}) "
                f"exist in this ONNX Runtime build; available: {', '.join(sorted(available))}"
            )
        return cls(
            intra_op_threads=threads,
            inter_op_threads=profile.inter_op_threads,
            graph_optimization_level=profile.graph_optimization_level,
            enable_cpu_mem_arena=profile.enable_cpu_mem_arena,
            providers=providers,
            notes=tuple(notes),
        )

    def session_options(self) -> ort.SessionOptions:
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.intra_op_threads
        options.inter_op_num_threads = self.inter_op_threads
        options.graph_optimization_level = _OPT_LEVELS[self.graph_optimization_level]
        options.enable_cpu_mem_arena = self.enable_cpu_mem_arena
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3
        return options

    def open(self, model_bytes: bytes, model_format: str = "onnx") -> ort.InferenceSession:
        """A session on an ONNX model, or on an ORT-format model (`model_format="ort"`, for minimal builds)."""
        options = self.session_options()
        if model_format == "ort":
            options.add_session_config_entry("session.load_model_format", "ORT")
        session = ort.InferenceSession(model_bytes, sess_options=options, providers=list(self.providers))
        release_model_bytes(session)
        return session


def release_model_bytes(session: ort.InferenceSession) -> None:
    """Let the model's bytes go once the session holds its weights.

    ONNX Runtime's Python session keeps the bytes it was built from (its own comment: "This is bad as we're holding
    the memory indefinitely") only to rebuild itself when an execution provider fails and it falls back to another;
    with fallback off, nothing reads them, and a 91 MB model no longer stays resident twice.
    """
    session.disable_fallback()
    if getattr(session, "_model_bytes", None) is not None:
        session._model_bytes = None


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1
