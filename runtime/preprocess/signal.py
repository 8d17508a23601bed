"""Signal preprocessing for 1-D models (ECG, PPG) with numpy only: read a record, resample it to the model's rate,
band-pass it, cut it into windows and normalise each window, for whole records and for live streams alike.

This module only re-exports, so `hfm_runtime.preprocess.signal` keeps every name it has always had. The code lives in:
- `signal_spec`: `SignalSpec` and its validation, `check_input_fs` and the input checks (`as_samples`,
  `resample_ratio`), and the limits (MAX_INPUT_FS, MAX_ABS_SAMPLE, MAX_RESAMPLE_FACTOR, MAX_FILTER_TAPS ...).
- `signal_io`: `read_signal` and `wfdb_header`, with the CSV, NPY and WFDB readers; wfdb (an optional extra that
  pulls pandas and scipy) is imported there, inside the WFDB reader only.
- `signal_dsp`: resampling (`resample`), the FIR band-pass (`bandpass`), `windows()`, `SignalStream` and
  `WindowResult`; its docstring explains the filter choices and how a stream matches the whole record.

Constants are re-exported as values: to change one, set it on the module that owns it.
"""

from __future__ import annotations

from hfm_runtime.preprocess.signal_dsp import (BLOCK_SAMPLES, KAISER_BETA, KAISER_HALF_LENGTH, SignalStream,
                                               WindowResult, bandpass, resample, windows)
from hfm_runtime.preprocess.signal_io import MV_PER_UNIT, WFDB_FS, read_signal, wfdb_header
from hfm_runtime.preprocess.signal_spec import (HAMMING_TRANSITION, MAX_ABS_SAMPLE, MAX_FILTER_TAPS, MAX_INPUT_FS,
                                                MAX_RESAMPLE_FACTOR, NORMALISATIONS, QUALITIES, SignalSpec,
                                                check_input_fs)

__all__ = [
    "BLOCK_SAMPLES",
    "HAMMING_TRANSITION",
    "KAISER_BETA",
    "KAISER_HALF_LENGTH",
    "MAX_ABS_SAMPLE",
    "MAX_FILTER_TAPS",
    "MAX_INPUT_FS",
    "MAX_RESAMPLE_FACTOR",
    "MV_PER_UNIT",
    "NORMALISATIONS",
    "QUALITIES",
    "WFDB_FS",
    "SignalSpec",
    "SignalStream",
    "WindowResult",
    "bandpass",
    "check_input_fs",
    "read_signal",
    "resample",
    "wfdb_header",
    "windows",
]
