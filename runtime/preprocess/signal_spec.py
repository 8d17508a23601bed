"""The signal preprocessing spec: `SignalSpec`, what a 1-D model's (ECG, PPG) artifact manifest records under
"preprocessing", with the checks that refuse a bad one, and the checks that refuse an input the spec cannot take:
`check_input_fs` (a missing or implausible sampling rate), `resample_ratio` (a rate with no simple ratio to the
model's) and `as_samples` (an array of the wrong type or shape).

Reading records is `signal_io`; resampling, filtering and windowing is `signal_dsp`.
"""

from __future__ import annotations

import dataclasses
import math
from fractions import Fraction
from typing import Any, Mapping

import numpy as np

from hfm_runtime.errors import InputError

NORMALISATIONS = ("zscore", "none")
QUALITIES = ("ok", "flat_line", "non_finite", "too_short")
MAX_INPUT_FS = 100_000.0  # Hz: above any physiological recorder (pacemaker-spike ECG front-ends sample ~32 kHz)
MAX_ABS_SAMPLE = 1e30  # beyond any unit a recorder writes (mV, uV, ADC counts); squares of larger values overflow
MAX_RESAMPLE_FACTOR = 1000  # up/down factors beyond this mean an odd rate (e.g. 359.97 Hz); refuse rather than guess
MAX_FILTER_TAPS = 65_537
HAMMING_TRANSITION = 3.3  # a Hamming-windowed sinc's transition width is ~3.3 * fs / taps


@dataclasses.dataclass(frozen=True)
class SignalSpec:
    """What the model expects, as recorded in the artifact manifest's preprocessing section.

    fs: the model's sampling rate (Hz). window_seconds, hop_seconds: window length and step (hop None means
    hop = window, no overlap). bandpass: (low_hz, high_hz) or None. filter_taps: FIR length (odd); None derives it
    from the low edge (transition width = low_hz) and stores the result, so a manifest pins the exact filter.
    normalisation: "zscore" (per window and channel) or "none". min_std: a window whose filtered spread is below
    this (in the signal's units, 0.01 suits ECG in mV) is a flat lead.
    """

    fs: float
    window_seconds: float
    hop_seconds: float | None = None
    channels: int = 1
    bandpass: tuple[float, float] | None = None
    filter_taps: int | None = None
    normalisation: str = "zscore"
    min_std: float = 0.01

    def __post_init__(self) -> None:
        _check_positive("fs", self.fs)
        _check_positive("window_seconds", self.window_seconds)
        if self.hop_seconds is None:
            object.__setattr__(self, "hop_seconds", float(self.window_seconds))
        _check_positive("hop_seconds", self.hop_seconds)
        for name in ("window_seconds", "hop_seconds"):
            samples = getattr(self, name) * self.fs
            if abs(samples - round(samples)) > 1e-6:
                raise InputError(f"signal spec: {name} = {getattr(self, name)} s is {samples:g} samples at "
                                 f"{self.fs:g} Hz; expected a whole number of samples")
        if not isinstance(self.channels, int) or isinstance(self.channels, bool) or self.channels < 1:
            raise InputError(f"signal spec: channels = {self.channels!r}; expected a whole number >= 1")
        if self.normalisation not in NORMALISATIONS:
            raise InputError(f"signal spec: normalisation = {self.normalisation!r}; expected one of "
                             f"{', '.join(NORMALISATIONS)}")
        if not is_real(self.min_std) or not math.isfinite(self.min_std) or self.min_std < 0:
            raise InputError(f"signal spec: min_std = {self.min_std!r}; expected a number >= 0")
        self._resolve_filter()

    def _resolve_filter(self) -> None:
        if self.bandpass is None:
            if self.filter_taps is not None:
                raise InputError(f"signal spec: filter_taps = {self.filter_taps!r} without a bandpass; expected "
                                 "filter_taps only together with bandpass")
            return
        if not isinstance(self.bandpass, (list, tuple)) or len(self.bandpass) != 2 \
                or not all(is_real(edge) for edge in self.bandpass):
            raise InputError(f"signal spec: bandpass = {self.bandpass!r}; expected (low_hz, high_hz) or None")
        low, high = (float(edge) for edge in self.bandpass)
        if not 0 < low < high < self.fs / 2:
            raise InputError(f"signal spec: bandpass = ({low:g}, {high:g}) Hz; expected 0 < low < high < "
                             f"{self.fs / 2:g} Hz (half of fs)")
        object.__setattr__(self, "bandpass", (low, high))
        taps = self.filter_taps
        if taps is None:
            taps = int(math.ceil(HAMMING_TRANSITION * self.fs / low)) | 1  # odd: a centred, linear-phase filter
        if not isinstance(taps, int) or isinstance(taps, bool) or taps % 2 == 0 or not 3 <= taps <= MAX_FILTER_TAPS:
            raise InputError(f"signal spec: filter_taps = {taps!r}; expected an odd whole number from 3 to "
                             f"{MAX_FILTER_TAPS} (a low edge of {low:g} Hz at {self.fs:g} Hz needs "
                             f"~{HAMMING_TRANSITION * self.fs / low:.0f})")
        object.__setattr__(self, "filter_taps", taps)

    @property
    def window_samples(self) -> int:
        return int(round(self.window_seconds * self.fs))

    @property
    def hop_samples(self) -> int:
        return int(round(self.hop_seconds * self.fs))

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": "signal",
            "fs": self.fs,
            "window_seconds": self.window_seconds,
            "hop_seconds": self.hop_seconds,
            "channels": self.channels,
            "bandpass": list(self.bandpass) if self.bandpass else None,
            "filter_taps": self.filter_taps,
            "normalisation": self.normalisation,
            "min_std": self.min_std,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SignalSpec:
        """Read a manifest's preprocessing section; unknown keys are refused (they would change preprocessing)."""
        if not isinstance(data, Mapping):
            raise InputError(f"signal spec is a {type(data).__name__}; expected a mapping")
        values = dict(data)
        kind = values.pop("type", "signal")
        if kind != "signal":
            raise InputError(f"signal spec: type = {kind!r}; expected 'signal'")
        fields = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(values) - fields)
        if unknown:
            raise InputError(f"signal spec has unknown keys {', '.join(unknown)}; expected only "
                             f"{', '.join(sorted(fields))}")
        missing = sorted({"fs", "window_seconds"} - set(values))
        if missing:
            raise InputError(f"signal spec lacks {', '.join(missing)}; expected fs and window_seconds at least")
        if isinstance(values.get("bandpass"), list):
            values["bandpass"] = tuple(values["bandpass"])
        return cls(**values)


def check_input_fs(fs: Any, spec: SignalSpec) -> float:
    """The input's sampling rate as a float, or an InputError if it is missing or cannot be right for `spec`."""
    if fs is None:
        raise InputError("sampling rate of the signal is unknown; expected fs in Hz (the CLI's --fs): CSV and NPY "
                         "files do not record it")
    if not is_real(fs) or not math.isfinite(fs) or fs <= 0:
        raise InputError(f"sampling rate fs = {fs!r}; expected a positive number of Hz")
    fs = float(fs)
    if fs > MAX_INPUT_FS:
        raise InputError(f"sampling rate fs = {fs:g} Hz is implausible; expected at most {MAX_INPUT_FS:g} Hz "
                         "(is it in Hz, not samples per minute?)")
    top = spec.bandpass[1] if spec.bandpass else spec.fs / 4
    if fs < 2 * top:
        raise InputError(f"sampling rate fs = {fs:g} Hz is too low for this model: it uses content up to {top:g} Hz, "
                         f"so expected at least {2 * top:g} Hz")
    return fs


def as_samples(data: Any, channels: int, what: str) -> np.ndarray:
    """`data` as float64 (samples, channels), or an InputError naming what is wrong with its type or shape."""
    try:
        array = np.asarray(data)
    except ValueError:
        raise InputError(f"{what} is a ragged sequence; expected an array of samples") from None
    if not _numeric(array):
        raise InputError(f"{what} holds {array.dtype} values; expected numbers")
    if array.ndim == 1 and channels == 1:
        array = array[:, None]
    if array.ndim != 2 or array.shape[1] != channels:
        expected = "(samples,) or (samples, 1)" if channels == 1 else f"(samples, {channels})"
        raise InputError(f"{what} has shape {array.shape}; expected {expected}")
    return array.astype(np.float64)


def resample_ratio(fs: float, target_fs: float) -> tuple[int, int]:
    """(up, down) factors that take `fs` to `target_fs`; an InputError if they exceed MAX_RESAMPLE_FACTOR."""
    ratio = Fraction(target_fs).limit_denominator(10**6) / Fraction(fs).limit_denominator(10**6)
    up, down = ratio.numerator, ratio.denominator
    if max(up, down) > MAX_RESAMPLE_FACTOR:
        raise InputError(f"sampling rate {fs:g} Hz cannot be resampled to {target_fs:g} Hz: the ratio {up}/{down} "
                         f"needs factors above {MAX_RESAMPLE_FACTOR}; expected a rate with a simpler ratio "
                         "(resample the record first)")
    return up, down


def _check_positive(name: str, value: Any) -> None:
    if not is_real(value) or not math.isfinite(value) or value <= 0:
        raise InputError(f"signal spec: {name} = {value!r}; expected a positive number")


def is_real(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def _numeric(array: np.ndarray) -> bool:
    return array.dtype.kind in "iuf"
