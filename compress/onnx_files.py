"""Shared plumbing of the ONNX steps: atomic output files, small CPU sessions, and numeric checks against a reference.

Every step writes its model through `atomic_output`, so an interrupted run never leaves a half-written file where
the next step (or the packer) would pick it up.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Mapping, Sequence

import numpy as np

from hfm_compress.errors import FidelityError
from hfm_runtime.artifact import default_file_mode

if TYPE_CHECKING:
    import onnxruntime

Feed = Mapping[str, np.ndarray]


@contextlib.contextmanager
def atomic_output(path: Path) -> Iterator[Path]:
    """Yield a temp path in `path`'s folder; it replaces `path` only if the block finishes without error."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp.onnx", dir=path.parent)
    os.close(handle)
    temp = Path(name)
    try:
        yield temp
        if temp.exists():
            os.chmod(temp, default_file_mode())  # mkstemp makes 0600
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)


def cpu_session(path: Path, threads: int = 1) -> "onnxruntime.InferenceSession":
    """A CPU session for checks and calibration; one thread keeps steps deterministic and polite on shared hosts."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def run_session(session: "onnxruntime.InferenceSession", feed: Feed) -> dict[str, np.ndarray]:
    """Outputs by name; feed entries the graph does not take (e.g. an unused token_type_ids) are dropped."""
    wanted = {i.name for i in session.get_inputs()}
    values = session.run(None, {k: v for k, v in feed.items() if k in wanted})
    return {o.name: v for o, v in zip(session.get_outputs(), values)}


def check_outputs_close(step: str, reference: Sequence[Mapping[str, np.ndarray]],
                        candidate: Sequence[Mapping[str, np.ndarray]], atol: float) -> float:
    """Largest absolute difference over all outputs and feeds; raises FidelityError naming the worst output."""
    worst_name, worst_diff, worst_index = "", 0.0, 0
    for index, (expected, actual) in enumerate(zip(reference, candidate)):
        for name, value in expected.items():
            if name not in actual:
                raise FidelityError(f"{step}: output {name!r} is missing from the produced model")
            if np.shape(actual[name]) != np.shape(value):
                raise FidelityError(f"{step}: output {name!r} has shape {np.shape(actual[name])} on check input "
                                    f"{index}; expected {np.shape(value)}")
            diff = float(np.max(np.abs(np.asarray(actual[name], np.float64) - np.asarray(value, np.float64)),
                                initial=0.0))
            if not np.isfinite(diff) or diff > worst_diff:
                worst_name, worst_diff, worst_index = name, diff, index
    if not worst_diff <= atol:
        raise FidelityError(f"{step}: output {worst_name!r} differs from the reference by max abs {worst_diff:.3g} on "
                            f"check input {worst_index}; expected at most check_atol={atol:g}")
    return worst_diff


@contextlib.contextmanager
def quiet_logs(*names: str) -> Iterator[None]:
    """ORT's tools log advice and fusion chatter at INFO/WARNING; the step report already says what ran."""
    loggers = [logging.getLogger()] + [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)
