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

`SignalSpec` (what the model expects) is `signal_spec`; reading records is `signal_io`.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from hfm_runtime.errors import InputError
from hfm_runtime.preprocess.signal_spec import (MAX_ABS_SAMPLE, MAX_INPUT_FS, SignalSpec, as_samples, check_input_fs,
                                                 is_real, resample_ratio)

KAISER_BETA = 5.0  # anti-alias filter: ~55 dB stopband, as scipy's resample_poly
KAISER_HALF_LENGTH = 10  # anti-alias filter half-length, in multiples of max(up, down), as resample_poly
BLOCK_SAMPLES = 1 << 16  # a push is processed in blocks of this many input samples: bounded temporaries


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
    x = as_samples(signal, spec.channels, "signal")
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
        up, down = resample_ratio(self.input_fs, spec.fs)
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
        x = as_samples(chunk, self.spec.channels, "chunk")
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
        if not is_real(rate) or not 0 < rate <= MAX_INPUT_FS:
            raise InputError(f"resample: {name} = {rate!r}; expected a positive number of Hz up to {MAX_INPUT_FS:g}")
    x = np.asarray(signal, dtype=np.float64)
    samples = x.reshape(len(x), -1)
    up, down = resample_ratio(float(fs), float(target_fs))
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
