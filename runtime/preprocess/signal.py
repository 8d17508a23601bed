"""Signal preprocessing for 1-D models (ECG, PPG) with numpy only: read a record, resample it to the model's rate,
band-pass it, cut it into windows and normalise each window, for whole records and for live streams alike.

One pipeline, built for streams: `SignalStream` takes chunks of any size and keeps bounded state (the resampler's
and the filter's histories plus a one-window ring buffer); `windows()` runs a whole record through the same stream in
one push, so a stream fed in chunks of any size yields the same windows as the record (up to float rounding).

Choices, and why:
- Resampling is rational polyphase (up by L, down by M) with a Kaiser-windowed sinc anti-alias filter cut at the
  lower Nyquist, as `scipy.signal.resample_poly` does: exact for any rational ratio (360 -> 250 Hz is 25/36), and
  causal with a fixed delay, so it streams. An FFT resampler needs the whole record.
- Band-pass filtering is a linear-phase FIR (Hamming-windowed sinc), applied with its group delay compensated:
  output sample n is the filter centred on input sample n. That has zero phase like forward-backward filtering
  (`filtfilt`), so QRS timing and shape are kept, but unlike `filtfilt` it runs on a stream with a fixed-size
  history. The cost is latency: a window is complete only half a filter later (3.3 s for a 0.5 Hz high-pass at
  250 Hz), which `SignalStream.latency_seconds` reports.
- Both filters extend a record with its first and last value (not zeros), so a DC offset does not ring through the
  high-pass at the start and the end.
- Each window is z-scored on its own (amplitude differs across electrodes and people); a window whose spread is
  below `min_std` is a flat lead, not a signal, and is refused, never normalised into noise.

`wfdb` (an optional extra that pulls pandas and scipy) is imported only inside the WFDB reader.
"""

from __future__ import annotations

import dataclasses
import math
import re
import warnings
from fractions import Fraction
from pathlib import Path
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
KAISER_BETA = 5.0  # anti-alias filter: ~55 dB stopband, as scipy's resample_poly
KAISER_HALF_LENGTH = 10  # anti-alias filter half-length, in multiples of max(up, down), as resample_poly
BLOCK_SAMPLES = 1 << 16  # a push is processed in blocks of this many input samples: bounded temporaries
WFDB_FS = re.compile(r"(\d+\.?\d*|\.\d+)(/.*)?")  # a header's rate field: fs[/counter_fs[(base_counter)]]
MV_PER_UNIT = {"mV": 1.0, "uV": 1e-3, "µV": 1e-3, "μV": 1e-3, "V": 1e3}  # WFDB voltage units, returned in mV


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
        if not _is_real(self.min_std) or not math.isfinite(self.min_std) or self.min_std < 0:
            raise InputError(f"signal spec: min_std = {self.min_std!r}; expected a number >= 0")
        self._resolve_filter()

    def _resolve_filter(self) -> None:
        if self.bandpass is None:
            if self.filter_taps is not None:
                raise InputError(f"signal spec: filter_taps = {self.filter_taps!r} without a bandpass; expected "
                                 "filter_taps only together with bandpass")
            return
        if not isinstance(self.bandpass, (list, tuple)) or len(self.bandpass) != 2 \
                or not all(_is_real(edge) for edge in self.bandpass):
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


@dataclasses.dataclass(frozen=True)
class WindowResult:
    """One window of a stream. `data` is the normalised window, (samples,) for one channel or (channels, samples),
    float32; it is None unless quality is "ok" ("flat_line", "non_finite": the window touched NaN/inf input or
    samples beyond MAX_ABS_SAMPLE, "too_short": the stream ended before its first window), so a flagged window
    cannot be run by mistake."""

    index: int
    start_seconds: float  # window start, in seconds from the stream's first sample
    data: np.ndarray | None
    quality: str

    @property
    def ok(self) -> bool:
        return self.quality == "ok"


def windows(signal: Any, fs: float | None, spec: SignalSpec) -> np.ndarray:
    """Cut a whole record into normalised windows: (n_windows, samples), or (n_windows, channels, samples), float32.

    Refuses NaN or infinite samples, samples beyond MAX_ABS_SAMPLE, a missing or implausible `fs`, a record shorter
    than one window and a flat-line window, each with an InputError that says where (a stream flags these instead;
    see `SignalStream`).
    """
    x = _as_samples(signal, spec.channels, "signal")
    bad = ~np.isfinite(x).all(axis=1)
    if bad.any():
        first = int(np.argmax(bad))
        raise InputError(f"signal has {int(bad.sum())} NaN or infinite samples (first at sample {first}); expected "
                         "finite values: cut or interpolate the gaps")
    huge = (np.abs(x) > MAX_ABS_SAMPLE).any(axis=1)
    if huge.any():
        first = int(np.argmax(huge))
        raise InputError(f"signal has {int(huge.sum())} samples larger in magnitude than {MAX_ABS_SAMPLE:g} (first at "
                         f"sample {first}: {np.abs(x[first]).max():g}), which overflow the filters; expected values in "
                         "physical units or ADC counts")
    stream = SignalStream(spec, fs)  # checks fs
    available = stream.output_samples(len(x))
    if available < spec.window_samples:
        raise InputError(f"signal has {len(x)} samples ({len(x) / stream.input_fs:g} s at {stream.input_fs:g} Hz); "
                         f"expected at least one window of {spec.window_seconds:g} s")
    results = stream.push(x) + stream.flush()
    for result in results:
        if result.quality == "flat_line":
            raise InputError(f"signal is a flat line in window {result.index} (from {result.start_seconds:g} s): "
                             f"spread below min_std {spec.min_std:g}; expected a connected lead")
    return np.stack([result.data for result in results])


class SignalStream:
    """Turn chunks of samples, as they arrive, into one `WindowResult` per hop, with bounded memory.

    `push(chunk)` accepts any number of samples ((n,) or (n, channels), at `input_fs`) and returns the windows that
    became complete; `flush()` ends the stream (extending it with its last value) and returns the rest. NaN or
    infinite samples (and samples beyond MAX_ABS_SAMPLE) are held at the last finite value and every window they
    reach is flagged "non_finite"; a window with spread below `spec.min_std` is flagged "flat_line". State between
    pushes: the resampler's and the filter's histories and a one-window ring buffer (`buffer_sizes`), never the
    stream.
    """

    def __init__(self, spec: SignalSpec, input_fs: float | None) -> None:
        self.spec = spec
        self.input_fs = check_input_fs(input_fs, spec)
        up, down = _resample_ratio(self.input_fs, spec.fs)
        self._resampler = _PolyphaseResampler(up, down, spec.channels)
        taps = _bandpass_taps(spec.bandpass, spec.fs, spec.filter_taps) if spec.bandpass else np.ones(1)
        self._filter = _CentredFir(taps, spec.channels)
        self._windower = _RingWindower(spec.window_samples, spec.hop_samples, spec.channels)
        self._bad: list[tuple[int, int]] = []  # filtered-sample ranges reached by non-finite input
        self._last_finite = np.zeros(spec.channels)
        self._emitted = 0
        self._ended = False

    @property
    def latency_seconds(self) -> float:
        """How long after a window's last sample the window is complete (filter and resampler delays)."""
        return self._filter.delay / self.spec.fs + self._resampler.delay_seconds(self.input_fs)

    @property
    def buffer_sizes(self) -> dict[str, int]:
        """Samples held per stage between pushes; bounded by the filters' lengths and one window."""
        return {"resampler": self._resampler.held, "filter": self._filter.held, "window": self._windower.size}

    def output_samples(self, input_samples: int) -> int:
        """Samples at the model's rate that `input_samples` input samples make once the stream is flushed."""
        return self._resampler.outputs_for(input_samples)

    def push(self, chunk: Any) -> list[WindowResult]:
        if self._ended:
            raise InputError("signal stream: push after flush; expected a new SignalStream for a new recording")
        x = _as_samples(chunk, self.spec.channels, "chunk")
        results: list[WindowResult] = []
        for start in range(0, len(x), BLOCK_SAMPLES):
            block = self._hold_non_finite(x[start : start + BLOCK_SAMPLES])
            results += self._windows(self._filter.process(self._resampler.process(block)))
        return results

    def flush(self) -> list[WindowResult]:
        """End the stream: complete the filters with the last value and return the last windows."""
        if self._ended:
            return []
        self._ended = True
        results = self._windows(self._filter.process(self._resampler.flush()))
        results += self._windows(self._filter.flush())
        if self._emitted == 0:
            results.append(WindowResult(index=0, start_seconds=0.0, data=None, quality="too_short"))
        return results

    def _hold_non_finite(self, x: np.ndarray) -> np.ndarray:
        """Replace NaN/inf (and samples beyond MAX_ABS_SAMPLE, which overflow the filters) by the last finite value,
        so filter state stays finite, and remember where they were."""
        finite = (np.abs(x) <= MAX_ABS_SAMPLE).all(axis=1)  # False for NaN too
        if not finite.all():
            offset = self._resampler.received
            bad = np.flatnonzero(~finite)
            runs = np.split(bad, np.flatnonzero(np.diff(bad) > 1) + 1)
            for run in runs:
                lo, hi = self._resampler.reach(offset + int(run[0]), offset + int(run[-1]))
                self._bad.append((lo - self._filter.delay, hi + self._filter.delay))
            index = np.where(finite, np.arange(len(x)), -1)
            np.maximum.accumulate(index, out=index)
            x = np.where((index >= 0)[:, None], x[np.maximum(index, 0)], self._last_finite)
        if len(x):
            self._last_finite = x[-1].copy()
        return x

    def _windows(self, filtered: np.ndarray) -> list[WindowResult]:
        results = []
        for index, start, window in self._windower.push(filtered):
            end = start + self.spec.window_samples - 1
            self._bad = [(lo, hi) for lo, hi in self._bad if hi >= start]
            results.append(self._result(index, start, window, any(lo <= end for lo, _ in self._bad)))
        self._emitted += len(results)
        return results

    def _result(self, index: int, start: int, window: np.ndarray, touched_non_finite: bool) -> WindowResult:
        start_seconds = start / self.spec.fs
        if touched_non_finite:
            return WindowResult(index, start_seconds, None, "non_finite")
        std = window.std(axis=0)
        if (std < self.spec.min_std).any() or (std == 0).any():
            return WindowResult(index, start_seconds, None, "flat_line")
        if self.spec.normalisation == "zscore":
            window = (window - window.mean(axis=0)) / std
        data = window.T.astype(np.float32)
        return WindowResult(index, start_seconds, data[0] if self.spec.channels == 1 else data, "ok")


def resample(signal: Any, fs: float, target_fs: float) -> np.ndarray:
    """Resample a whole 1-D or (samples, channels) signal from `fs` to `target_fs` (float64, same layout)."""
    for name, rate in (("fs", fs), ("target_fs", target_fs)):
        if not _is_real(rate) or not 0 < rate <= MAX_INPUT_FS:
            raise InputError(f"resample: {name} = {rate!r}; expected a positive number of Hz up to {MAX_INPUT_FS:g}")
    x = np.asarray(signal, dtype=np.float64)
    samples = x.reshape(len(x), -1)
    up, down = _resample_ratio(float(fs), float(target_fs))
    resampler = _PolyphaseResampler(up, down, samples.shape[1])
    out = np.concatenate([resampler.process(samples), resampler.flush()])
    return out.reshape((len(out),) + x.shape[1:])


def bandpass(signal: Any, fs: float, low_hz: float, high_hz: float, taps: int | None = None) -> np.ndarray:
    """Zero-phase band-pass of a whole 1-D or (samples, channels) signal, as `SignalStream` filters it."""
    spec = SignalSpec(fs=fs, window_seconds=1 / fs, bandpass=(low_hz, high_hz), filter_taps=taps)
    x = np.asarray(signal, dtype=np.float64)
    samples = x.reshape(len(x), -1)
    fir = _CentredFir(_bandpass_taps(spec.bandpass, fs, spec.filter_taps), samples.shape[1])
    return np.concatenate([fir.process(samples), fir.flush()]).reshape(x.shape)


def check_input_fs(fs: Any, spec: SignalSpec) -> float:
    """The input's sampling rate as a float, or an InputError if it is missing or cannot be right for `spec`."""
    if fs is None:
        raise InputError("sampling rate of the signal is unknown; expected fs in Hz (the CLI's --fs): CSV and NPY "
                         "files do not record it")
    if not _is_real(fs) or not math.isfinite(fs) or fs <= 0:
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


def read_signal(path: str | Path, channel: int | str | None = None) -> tuple[np.ndarray, float | None]:
    """Read one channel of a WFDB record, CSV or NPY file: (samples float32, fs in Hz or None when the file has none).

    WFDB: `path` is the `.hea` header, the `.dat` file or the record name without extension; voltages come back in
    mV; `channel` (index or signal name) defaults to the first signal, a record's primary lead by convention.
    CSV (optional header row; comma, semicolon, tab or space separated) and NPY ((samples,) or (samples, channels)):
    `channel` (index, or column name for CSV) is required when there is more than one column, since the first is
    often a time column. CSV and NPY carry no rate, so fs is None: the caller passes it (the CLI's --fs).
    A WFDB header that writes no rate also gives fs None (wfdb itself would assume 250 Hz); one that writes a rate
    that is not a positive number (0, -360, abc) is refused.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".npy":
        return _read_npy(_existing(p), channel), None
    if suffix in (".csv", ".tsv", ".txt"):
        return _read_csv(_existing(p), channel), None
    header = wfdb_header(p)
    if header is not None:
        return _read_wfdb(header, channel)
    _existing(p)
    raise InputError(f"signal file {p} has an unsupported format; expected a WFDB record (.hea), .csv or .npy")


def wfdb_header(path: str | Path) -> Path | None:
    """The `.hea` file of the WFDB record that `path` names (its header, its .dat file or the record name without
    extension), or None when `path` is a CSV/NPY file or no such header exists."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix in (".npy", ".csv", ".tsv", ".txt"):
        return None
    header = Path(f"{p.with_suffix('') if suffix in ('.hea', '.dat') else p}.hea")
    try:
        return header if header.is_file() else None
    except (OSError, ValueError):  # a name the file system cannot take
        return None


def _existing(path: Path) -> Path:
    if not path.is_file():
        raise InputError(f"signal file {path} not found; expected an existing .hea, .csv or .npy file")
    return path


def _read_wfdb(header_path: Path, channel: int | str | None) -> tuple[np.ndarray, float | None]:
    record = header_path.with_suffix("")
    try:
        import wfdb  # optional extra, and heavy: pandas, scipy, matplotlib
    except ImportError:
        raise InputError(f"{record}: reading WFDB records needs the wfdb package: pip install "
                         "hfm-compress[signals]") from None
    fs = _header_fs(header_path)
    try:
        header = wfdb.rdheader(str(record))
        index = _channel_index(channel, list(header.sig_name), header.n_sig, f"WFDB record {record}", default=0)
        data = wfdb.rdrecord(str(record), channels=[index], physical=True)
    except InputError:
        raise
    except Exception as exc:  # wfdb raises a mix of ValueError, OSError and others for damaged records
        raise InputError(f"WFDB record {record} cannot be read ({exc}); expected a valid header and signal "
                         "file") from None
    samples = data.p_signal[:, 0].astype(np.float64) * MV_PER_UNIT.get(str(data.units[0]).strip(), 1.0)
    return _to_float32(samples, f"WFDB record {record}"), fs


def _header_fs(header: Path) -> float | None:
    """The rate a WFDB header's record line writes, or None when it writes none.

    Read from the text because wfdb fills in 250 Hz for a missing rate (and for one it cannot parse, such as a
    negative one), so its `fs` cannot tell a record at 250 Hz from one whose rate is unknown.
    """
    try:
        text = header.read_bytes().decode("latin-1")
    except OSError as exc:
        raise InputError(f"WFDB header {header} cannot be read ({exc}); expected a readable header file") from None
    line = next((line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")), "")
    fields = line.split()
    if len(fields) < 2:
        raise InputError(f"WFDB header {header} has no record line; expected 'name n_signals fs n_samples' first")
    if len(fields) < 3:
        return None
    match = WFDB_FS.fullmatch(fields[2])
    if match is None or float(match.group(1)) <= 0:
        raise InputError(f"WFDB header {header} gives sampling rate {fields[2]!r}; expected a positive number of Hz "
                         "(the third field of its first line)")
    return float(match.group(1))


def _read_csv(path: Path, channel: int | str | None) -> np.ndarray:
    try:
        return _parse_csv(path, channel)
    except UnicodeDecodeError as exc:
        raise InputError(f"CSV file {path} is not UTF-8 text (byte {exc.start}: {exc.reason}); expected numbers as "
                         "UTF-8 text") from None


def _parse_csv(path: Path, channel: int | str | None) -> np.ndarray:
    with open(path, encoding="utf-8-sig") as handle:
        first = next((line for line in handle if line.strip() and not line.startswith("#")), "")
    if not first:
        raise InputError(f"CSV file {path} is empty; expected one sample per row")
    delimiter = next((d for d in (",", ";", "\t") if d in first), None)
    fields = [field.strip().strip('"') for field in first.split(delimiter)]
    header = not all(_parses(field) for field in fields)
    index = _channel_index(channel, fields if header else None, len(fields), f"CSV file {path}", default=None)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="loadtxt: input contained no data")  # refused below
            values = np.loadtxt(path, delimiter=delimiter, skiprows=_header_row(path) + 1 if header else 0,
                                usecols=index, dtype=np.float64, ndmin=1, comments="#", encoding="utf-8-sig")
    except ValueError as exc:
        raise InputError(f"CSV file {path} has a value that is not a number ({' '.join(str(exc).split())}); "
                         f"expected numbers in column {fields[index] if header else index}") from None
    if values.size == 0:
        raise InputError(f"CSV file {path} has a header row but no samples; expected one sample per row")
    return _to_float32(values, f"CSV file {path}")


def _header_row(path: Path) -> int:
    """Index of the header line: the first line that is neither blank nor a comment."""
    with open(path, encoding="utf-8-sig") as handle:
        for number, line in enumerate(handle):
            if line.strip() and not line.startswith("#"):
                return number
    return 0


def _read_npy(path: Path, channel: int | str | None) -> np.ndarray:
    """The header is checked against the file's size first, so a header that claims more data than the file holds
    is refused instead of allocated; the data is memory-mapped and only the channel asked for is copied."""
    shape, dtype = _npy_header(path)
    if dtype.kind not in "iuf":
        raise InputError(f"NPY file {path} holds {dtype} values; expected numbers")
    if len(shape) not in (1, 2) or (len(shape) == 2 and shape[1] > shape[0]):
        raise InputError(f"NPY file {path} has shape {shape}; expected (samples,) or (samples, channels) "
                         "(transpose a channels-first array)")
    index = _channel_index(channel, None, 1 if len(shape) == 1 else shape[1], f"NPY file {path}",
                           default=0 if len(shape) == 1 else None)
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise InputError(f"NPY file {path} cannot be read ({' '.join(str(exc).split())}); expected a numeric .npy "
                         "array") from None
    return _to_float32(np.asarray(array if array.ndim == 1 else array[:, index]), f"NPY file {path}")


def _npy_header(path: Path) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype from an .npy header, refused unless the file holds all the data the header describes."""
    readers = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
    try:
        with open(path, "rb") as handle:
            version = np.lib.format.read_magic(handle)
            if version not in readers:
                raise ValueError(f"format version {version[0]}.{version[1]}, which holds no plain numbers")
            shape, _, dtype = readers[version](handle)
            data_bytes = path.stat().st_size - handle.tell()
    except Exception as exc:  # numpy's header parser raises ValueError, SyntaxError, tokenize.TokenError ...
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise InputError(f"NPY file {path} cannot be read ({reason}); expected a numeric .npy array") from None
    needed = math.prod(shape) * dtype.itemsize
    if data_bytes < needed:
        raise InputError(f"NPY file {path} is cut short: its header describes {shape} {dtype} values ({needed:,} "
                         f"bytes) and it holds {data_bytes:,} bytes; expected a complete .npy file")
    return tuple(shape), dtype


def _to_float32(values: np.ndarray, where: str) -> np.ndarray:
    """Samples as float32, refusing finite values that float32 cannot hold (they would turn into infinities)."""
    beyond = np.isfinite(values) & (np.abs(values) > np.finfo(np.float32).max) if values.dtype.kind == "f" else None
    if beyond is not None and beyond.any():
        first = int(np.argmax(beyond))
        raise InputError(f"{where} has {int(beyond.sum())} values beyond the float32 range (first at sample {first}: "
                         f"{float(values[first]):g}); expected samples in physical units or ADC counts")
    return values.astype(np.float32)


def _channel_index(channel: int | str | None, names: list[str] | None, count: int, where: str,
                   default: int | None) -> int:
    listing = f"({', '.join(names)})" if names else f"(0 to {count - 1})"
    if channel is None:
        if count == 1 or default is not None:
            return default or 0
        raise InputError(f"{where} has {count} columns {listing}; expected channel= (the CLI's --channel) to say "
                         "which one, by index or name")
    if isinstance(channel, str) and not channel.lstrip("-").isdigit():
        if names is None:
            raise InputError(f"{where} has no channel names, so channel {channel!r} cannot be found; expected an "
                             f"index from 0 to {count - 1}")
        if channel not in names:
            raise InputError(f"{where} has no channel {channel!r}; expected one of {', '.join(names)}")
        return names.index(channel)
    if isinstance(channel, bool) or not isinstance(channel, (int, np.integer, str)) or not 0 <= int(channel) < count:
        raise InputError(f"{where}: channel {channel!r} does not exist; expected an index from 0 to {count - 1} "
                         f"{listing}")
    return int(channel)


def _as_samples(data: Any, channels: int, what: str) -> np.ndarray:
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


class _PolyphaseResampler:
    """Rational resampler, causal with its delay compensated: output n is the signal at input time n * down / up.

    Output n is ready once input sample (n * down + delay) // up has arrived; before the first sample the input is
    its first value, and `flush` extends it with its last value up to the last output at or before the last input.
    """

    def __init__(self, up: int, down: int, channels: int) -> None:
        self.up, self.down = up, down
        self.identity = up == down == 1
        factor = max(up, down)
        half = KAISER_HALF_LENGTH * factor
        n = np.arange(-half, half + 1)
        taps = np.sinc(n / factor) * np.kaiser(2 * half + 1, KAISER_BETA)  # cut at the lower rate's Nyquist
        taps *= up / taps.sum()  # zero-stuffing by `up` divides the gain by `up`
        self.delay = half
        self.width = -(-len(taps) // up)  # taps per output
        padded = np.zeros(self.width * up)
        padded[: len(taps)] = taps
        self.phases = padded.reshape(self.width, up).T  # phases[r, i] = taps[r + i * up]
        self.history = np.zeros((0, channels))
        self.last = np.zeros((1, channels))
        self.first = 0  # absolute input index of history[0]
        self.received = 0
        self.next_out = 0
        self.stop: int | None = None

    @property
    def held(self) -> int:
        return len(self.history)

    def delay_seconds(self, input_fs: float) -> float:
        return 0.0 if self.identity else self.delay / (self.up * input_fs)

    def outputs_for(self, inputs: int) -> int:
        return (inputs - 1) * self.up // self.down + 1 if inputs > 0 else 0

    def reach(self, first_input: int, last_input: int) -> tuple[int, int]:
        """The outputs that input samples [first_input, last_input] contribute to."""
        if self.identity:
            return first_input, last_input
        lo = -(-(first_input * self.up - self.delay) // self.down)
        hi = ((last_input + self.width) * self.up - 1 - self.delay) // self.down
        return lo, hi

    def process(self, x: np.ndarray) -> np.ndarray:
        if self.identity:
            self.received += len(x)
            return x
        if len(x) == 0:
            return x
        if self.received == 0:
            self.history = np.repeat(x[:1], self.width - 1, axis=0)  # the first value, extended backwards
            self.first = -(self.width - 1)
        self.history = np.concatenate([self.history, x])
        self.received += len(x)
        self.last = x[-1:]
        return self._drain()

    def flush(self) -> np.ndarray:
        if self.identity or self.received == 0:
            return np.zeros((0, self.history.shape[1]))
        self.stop = self.outputs_for(self.received)
        last_needed = ((self.stop - 1) * self.down + self.delay) // self.up
        pad = max(0, last_needed - (self.received - 1))
        self.history = np.concatenate([self.history, np.repeat(self.last, pad, axis=0)])
        self.received += pad
        return self._drain()

    def _drain(self) -> np.ndarray:
        end = (self.received * self.up - 1 - self.delay) // self.down + 1
        if self.stop is not None:
            end = min(end, self.stop)
        block = max(1, (1 << 21) // self.width)  # outputs per step: the gathered inputs stay ~16 MB at most
        outputs = [self._compute(a, min(a + block, end)) for a in range(self.next_out, end, block)]
        self.next_out = max(self.next_out, end)
        keep = min((self.next_out * self.down + self.delay) // self.up - (self.width - 1), self.received)
        self.history = self.history[max(keep - self.first, 0) :]
        self.first = max(keep, self.first)
        return np.concatenate(outputs) if outputs else np.zeros((0, self.history.shape[1]))

    def _compute(self, a: int, b: int) -> np.ndarray:
        position = np.arange(a, b) * self.down + self.delay
        newest, phase = position // self.up, position % self.up
        rows = newest[:, None] - np.arange(self.width)[None, :] - self.first
        return np.einsum("nk,nkc->nc", self.phases[phase], self.history[rows])


class _CentredFir:
    """Linear-phase FIR with its delay compensated (zero phase), streaming: output n needs input n + delay.

    The input is its first value before it starts, and `flush` extends it with its last value.
    """

    def __init__(self, taps: np.ndarray, channels: int) -> None:
        self.taps = taps
        self.delay = (len(taps) - 1) // 2
        self.history = np.zeros((0, channels))
        self.received = 0
        self.next_out = 0

    @property
    def held(self) -> int:
        return len(self.history)

    def process(self, y: np.ndarray) -> np.ndarray:
        if self.delay == 0:
            self.received += len(y)
            return y * self.taps[0]
        if len(y) == 0:
            return y
        if self.received == 0:
            self.history = np.repeat(y[:1], self.delay, axis=0)
        self.history = np.concatenate([self.history, y])
        self.received += len(y)
        return self._drain(self.received - self.delay)

    def flush(self) -> np.ndarray:
        if self.delay == 0 or self.received == 0:
            return np.zeros((0, self.history.shape[1]))
        stop = self.received
        self.history = np.concatenate([self.history, np.repeat(self.history[-1:], self.delay, axis=0)])
        return self._drain(stop)

    def _drain(self, end: int) -> np.ndarray:
        count = end - self.next_out
        if count <= 0:
            return np.zeros((0, self.history.shape[1]))
        # history[0] is input next_out - delay: every output needs the `len(taps)` inputs centred on it
        out = _convolve_valid(self.history[: count + len(self.taps) - 1], self.taps)
        self.history = self.history[count:]
        self.next_out = end
        return out


def _convolve_valid(x: np.ndarray, taps: np.ndarray) -> np.ndarray:
    """'valid' convolution along axis 0: direct for short inputs, FFT (overlap-free, blocks) for long ones."""
    count = len(x) - len(taps) + 1
    if count * len(taps) <= 1 << 16:
        return np.stack([np.convolve(x[:, c], taps, mode="valid") for c in range(x.shape[1])], axis=1)
    out = np.empty((count, x.shape[1]))
    size = 1 << int(math.ceil(math.log2(BLOCK_SAMPLES + len(taps))))
    step = size - len(taps) + 1
    spectrum = np.fft.rfft(taps, size)[:, None]
    for a in range(0, count, step):
        segment = x[a : a + step + len(taps) - 1]
        full = np.fft.irfft(np.fft.rfft(segment, size, axis=0) * spectrum, size, axis=0)
        valid = full[len(taps) - 1 : len(segment)]
        out[a : a + len(valid)] = valid
    return out


class _RingWindower:
    """Cuts windows of `size` samples every `hop` samples from a stream, holding at most one window."""

    def __init__(self, size: int, hop: int, channels: int) -> None:
        self.size, self.hop = size, hop
        self.ring = np.zeros((size, channels))
        self.seen = 0  # samples written so far
        self.next_index = 0

    def push(self, y: np.ndarray) -> list[tuple[int, int, np.ndarray]]:
        done = []
        end_of_block = self.seen + len(y)
        while (start := self.next_index * self.hop) + self.size <= end_of_block:
            from_ring = np.arange(start, min(self.seen, start + self.size)) % self.size
            from_block = y[max(start - self.seen, 0) : start + self.size - self.seen]
            done.append((self.next_index, start, np.concatenate([self.ring[from_ring], from_block])))
            self.next_index += 1
        tail = y[-self.size :]
        positions = np.arange(end_of_block - len(tail), end_of_block) % self.size
        self.ring[positions] = tail
        self.seen = end_of_block
        return done


def _bandpass_taps(band: tuple[float, float], fs: float, taps: int) -> np.ndarray:
    """Hamming-windowed sinc band-pass (high low-pass minus low low-pass), unit gain at the band's centre."""
    n = np.arange(taps) - (taps - 1) / 2
    low, high = band
    h = (2 * high / fs * np.sinc(2 * high / fs * n) - 2 * low / fs * np.sinc(2 * low / fs * n)) * np.hamming(taps)
    centre = math.sqrt(low * high)
    return h / abs(np.sum(h * np.exp(-2j * np.pi * centre / fs * n)))


def _resample_ratio(fs: float, target_fs: float) -> tuple[int, int]:
    ratio = Fraction(target_fs).limit_denominator(10**6) / Fraction(fs).limit_denominator(10**6)
    up, down = ratio.numerator, ratio.denominator
    if max(up, down) > MAX_RESAMPLE_FACTOR:
        raise InputError(f"sampling rate {fs:g} Hz cannot be resampled to {target_fs:g} Hz: the ratio {up}/{down} "
                         f"needs factors above {MAX_RESAMPLE_FACTOR}; expected a rate with a simpler ratio "
                         "(resample the record first)")
    return up, down


def _check_positive(name: str, value: Any) -> None:
    if not _is_real(value) or not math.isfinite(value) or value <= 0:
        raise InputError(f"signal spec: {name} = {value!r}; expected a positive number")


def _is_real(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def _numeric(array: np.ndarray) -> bool:
    return array.dtype.kind in "iuf"


def _parses(field: str) -> bool:
    try:
        float(field)
    except ValueError:
        return False
    return True
