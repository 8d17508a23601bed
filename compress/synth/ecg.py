"""Deterministic single-lead ECG: training, calibration and evaluation windows for the rhythm teachers, and long
continuous records for the streaming benchmark.

No labelled ECG can be downloaded here, so signals are simulated in the spirit of ECGSYN (McSharry et al., IEEE TBME
2003): each beat is a sum of Gaussian waves (P, Q, R, S, T) placed around its R time, with amplitudes in mV and
widths in seconds drawn per patient. What makes the rhythm classes differ is when beats happen and what they look
like:

- sinus rhythms: RR intervals from a mean rate modulated by respiratory sinus arrhythmia (0.15-0.4 Hz), a
  low-frequency (~0.1 Hz, baroreflex) and a very-low-frequency component plus small beat-to-beat jitter; the mean
  rate sets normal (64-95 bpm), bradycardia (38-55) or tachycardia (108-150), each inside its clinical cut-off
  (60, 100 bpm) by a margin larger than the modulation, so a 10 s window never crosses into another class;
- atrial fibrillation: irregularly irregular RR (independent lognormal draws), no P waves, and a fibrillatory
  f-wave baseline at 4-9 Hz whose frequency wanders slowly;
- PVC: sinus rhythm with premature wide (120-200 ms) bizarre ventricular beats without a P wave, a discordant T wave
  and a full compensatory pause (the next sinus beat comes two sinus intervals after the last one);
- noise: an unreadable recording: strong baseline wander, motion-artefact bursts as large as the QRS, muscle noise
  and electrode-off segments (flat at a constant ADC value, or saturated at the amplifier's rail).

Every class also gets mild baseline wander, EMG (muscle) noise and powerline interference (50 or 60 Hz) at random
levels, and the amplifier clips at its rail.

Determinism: every random draw comes from `numpy.random.SeedSequence([seed, stream, ...])`, one stream per concern
(patient, beats, episode, EMG block), so a seed gives the same signal on any machine with the same numpy, and a
record is the same whatever chunk size it is rendered in. Rendering costs a few milliseconds per 10 s window.

Subgroups: `dataset_subgroups` (and `make_dataset_with_subgroups`) label each window of `make_dataset` with bins of
the parameters it was drawn with, recomputed from the same seeds (the windows themselves are untouched), so fidelity
can be reported per subgroup (`evaluate/subgroups.py`):

- `heart_rate`: the episode's mean rate as drawn (60 / mean RR), "<60 bpm", "60-100 bpm" or ">100 bpm";
- `noise`: the worse of two levels: EMG (muscle) noise std, patient plus artefact episode, "low" below 0.012 mV,
  "medium" below 0.022 mV, else "high"; and baseline wander (rms of all wander sines, patient plus artefact episode)
  "low" below 0.12 mV, "medium" below 0.3 mV, else "high" (only the noise class's heavy wander reaches "high");
- `amplitude`: the R-wave amplitude as drawn (patient R times electrode gain times the episode's ECG scale), "low"
  below 0.9 mV, "normal" up to 1.6 mV, else "high".

This module plans records, times the beats and renders chunks; the patient and episode parameters and the
waveforms they make (beat morphology, f-waves, wander, artefacts) live in `ecg_waves.py`.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Iterator, Sequence

import numpy as np

from hfm_compress.errors import CompressError
from hfm_compress.synth.ecg_waves import AF_HR_RANGE, AF_RR_CV, HR_RANGES  # noqa: F401  (re-exported)
from hfm_compress.synth.ecg_waves import (
    AF_MIN_RR,
    BEAT_AF,
    BEAT_PVC,
    BEAT_SINUS,
    Episode,
    Patient,
    beat_waves,
    draw_episode,
    draw_patient,
    episode_additive,
    render_gaussians,
    sines,
)

ECG_CLASSES = (
    "normal_sinus",
    "atrial_fibrillation",
    "sinus_bradycardia",
    "sinus_tachycardia",
    "pvc",
    "noise",
)
DEFAULT_FS = 250  # Hz: a common wearable ECG rate, enough for QRS morphology (content below ~40 Hz)
WINDOW_SECONDS = 10.0  # the rhythm-strip length a 1-lead wearable ECG records
MIN_FS, MAX_FS = 50, 2000
MAX_WINDOW_SECONDS = 3600.0
MAX_RECORD_HOURS = 24.0 * 14  # two weeks: the longest patch-monitor wear
# Subgroup bins (see the module docstring): (upper limit, name) in order, the last name above every limit.
HEART_RATE_BINS = ((60.0, "<60 bpm"), (100.0, "60-100 bpm"), (float("inf"), ">100 bpm"))
EMG_BINS = ((0.012, "low"), (0.022, "medium"), (float("inf"), "high"))  # mV std
WANDER_BINS = ((0.12, "low"), (0.3, "medium"), (float("inf"), "high"))  # mV rms
AMPLITUDE_BINS = ((0.9, "low"), (1.6, "normal"), (float("inf"), "high"))  # mV, R wave
NOISE_LEVELS = ("low", "medium", "high")
SUBGROUP_ATTRIBUTES = ("heart_rate", "noise", "amplitude")

# Seed streams: each concern draws from its own stream so adding draws to one never shifts another.
_PATIENT, _BEATS, _EPISODE, _EMG, _PLAN = range(5)
_EMG_BLOCK_SECONDS = 10  # EMG noise is drawn per fixed block, seeded by block number: chunk-size independent
_MARGIN = 1.0  # s: no wave reaches further than this from its R time (P at -0.3 s, a slow T at +0.8 s)


def simulate_window(rhythm: str, seed: int, fs: int = DEFAULT_FS, seconds: float = WINDOW_SECONDS) -> np.ndarray:
    """One `seconds`-long window of rhythm `rhythm` (one of `ECG_CLASSES`) in mV, float32, from `seed`."""
    _check_seconds("window", seconds, MAX_WINDOW_SECONDS)
    return simulate_record([(rhythm, seconds)], seed, fs)


def make_dataset(n_per_class: int, seed: int, fs: int = DEFAULT_FS,
                 seconds: float = WINDOW_SECONDS) -> tuple[np.ndarray, np.ndarray]:
    """A balanced set: windows float32 (n, samples) in mV and labels int64 (index into `ECG_CLASSES`).

    Classes are interleaved (0, 1, ..., 5, 0, 1, ...) and each window has its own seed derived from (seed, class,
    index), so a larger set starts with the windows of a smaller one made from the same seed, and sets made from
    different seeds share no window.
    """
    _check_dataset_args(n_per_class, seed, fs, seconds)
    n = int(n_per_class) * len(ECG_CLASSES)
    windows = np.empty((n, _sample_count(seconds, fs)), dtype=np.float32)
    labels = np.empty(n, dtype=np.int64)
    for index, (class_index, window_seed) in enumerate(_window_seeds(n, seed)):
        windows[index] = simulate_window(ECG_CLASSES[class_index], window_seed, fs, seconds)
        labels[index] = class_index
    return windows, labels


def make_dataset_with_subgroups(n_per_class: int, seed: int, fs: int = DEFAULT_FS, seconds: float = WINDOW_SECONDS
                                ) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """`make_dataset`'s windows and labels (the same arrays) and `dataset_subgroups` for them."""
    windows, labels = make_dataset(n_per_class, seed, fs, seconds)
    return windows, labels, dataset_subgroups(n_per_class, seed, fs, seconds)


def dataset_subgroups(n_per_class: int, seed: int, fs: int = DEFAULT_FS,
                      seconds: float = WINDOW_SECONDS) -> dict[str, np.ndarray]:
    """Subgroup labels of `make_dataset(n_per_class, seed, fs, seconds)`'s windows, in the same order: for each of
    `SUBGROUP_ATTRIBUTES` an (n,) array of bin names (see the module docstring).

    Recomputes each window's patient and episode draws from its seed (no rendering: microseconds per window).
    """
    _check_dataset_args(n_per_class, seed, fs, seconds)
    rows = [window_subgroups(ECG_CLASSES[class_index], window_seed, seconds)
            for class_index, window_seed in _window_seeds(int(n_per_class) * len(ECG_CLASSES), seed)]
    return {attribute: np.array([row[attribute] for row in rows], dtype=str) for attribute in SUBGROUP_ATTRIBUTES}


def window_parameters(rhythm: str, seed: int, seconds: float = WINDOW_SECONDS) -> dict[str, float]:
    """The drawn parameters the subgroups bin, of `simulate_window(rhythm, seed, fs, seconds)` (any fs): mean heart
    rate (bpm), EMG noise std (mV), baseline wander rms (mV) and R amplitude (mV)."""
    _check_rhythm(rhythm)
    _check_seed(seed)
    _check_seconds("window", seconds, MAX_WINDOW_SECONDS)
    patient, episodes = _draw_record([(rhythm, float(seconds))], int(seed))
    episode = episodes[0]
    wander = np.concatenate([patient.wander[:, 0], episode.wander[:, 0]])
    return {
        "heart_rate_bpm": 60.0 / episode.mean_rr,
        "emg_std_mv": patient.emg_std + episode.emg_std,
        "wander_rms_mv": float(np.sqrt(np.sum(wander ** 2) / 2.0)),
        "r_amplitude_mv": float(patient.sinus[2, 1]) * episode.ecg_scale,
    }


def window_subgroups(rhythm: str, seed: int, seconds: float = WINDOW_SECONDS) -> dict[str, str]:
    """Subgroup bins of one window: heart_rate, noise and amplitude (see the module docstring)."""
    p = window_parameters(rhythm, seed, seconds)
    noise = max(NOISE_LEVELS.index(_bin(p["emg_std_mv"], EMG_BINS)),
                NOISE_LEVELS.index(_bin(p["wander_rms_mv"], WANDER_BINS)))
    return {"heart_rate": _bin(p["heart_rate_bpm"], HEART_RATE_BINS), "noise": NOISE_LEVELS[noise],
            "amplitude": _bin(p["r_amplitude_mv"], AMPLITUDE_BINS)}


def _bin(value: float, bins: tuple[tuple[float, str], ...]) -> str:
    return next(name for limit, name in bins if value < limit)


def _window_seeds(n: int, seed: int) -> Iterator[tuple[int, int]]:
    """(class index, window seed) of each window of a data set: classes interleaved, one seed per (class, repeat)."""
    for index in range(n):
        class_index, repeat = index % len(ECG_CLASSES), index // len(ECG_CLASSES)
        yield class_index, int(np.random.SeedSequence([seed, class_index, repeat]).generate_state(1)[0])


def _check_dataset_args(n_per_class: object, seed: object, fs: object, seconds: object) -> None:
    if not isinstance(n_per_class, (int, np.integer)) or isinstance(n_per_class, bool) or n_per_class < 1:
        raise CompressError(f"n_per_class = {n_per_class!r}; expected a whole number >= 1")
    _check_seed(seed)
    _check_fs(fs)
    _check_seconds("window", seconds, MAX_WINDOW_SECONDS)


def simulate_record(rhythms: Sequence[tuple[str, float]], seed: int, fs: int = DEFAULT_FS) -> np.ndarray:
    """A continuous record made of `(rhythm, seconds)` episodes in order (one patient, no gaps), float32 mV."""
    return np.concatenate(list(_render_chunks(_plan_from(rhythms), seed, fs, chunk_seconds=60.0)))


def iter_record_chunks(hours: float, seed: int, fs: int = DEFAULT_FS,
                       chunk_seconds: float = 60.0) -> Iterator[np.ndarray]:
    """A long ambulatory record (e.g. 24 h) yielded as float32 mV chunks of `chunk_seconds` (the last may be shorter).

    Mostly normal sinus rhythm with episodes of the other classes (AF runs, bradycardia, tachycardia, PVC runs, short
    artefact bursts), as a Holter or patch monitor sees. Only the current chunk, the beats within a second of it and
    the episode plan (a few numbers per episode) are held, never the record.
    """
    if not isinstance(hours, (int, float)) or isinstance(hours, bool) or not 0 < hours <= MAX_RECORD_HOURS:
        raise CompressError(f"record hours = {hours!r}; expected a number of hours above 0 and at most "
                            f"{MAX_RECORD_HOURS:g}")
    _check_seconds("chunk", chunk_seconds, MAX_WINDOW_SECONDS)
    _check_seed(seed)
    plan = _ambulatory_plan(hours * 3600.0, np.random.default_rng([seed, _PLAN]))
    return _render_chunks(plan, seed, fs, chunk_seconds)


def _ambulatory_plan(total_seconds: float, rng: np.random.Generator) -> list[tuple[str, float]]:
    # Episode lengths (s) per class: sinus stretches between events last minutes to an hour; AF runs can last long,
    # artefact bursts are short (a patient moving, a loose electrode).
    lengths = {"atrial_fibrillation": (120, 3600), "sinus_bradycardia": (300, 1800), "sinus_tachycardia": (60, 600),
               "pvc": (120, 1200), "noise": (10, 120)}
    others, weights = list(lengths), np.array([0.25, 0.2, 0.2, 0.15, 0.2])
    plan, elapsed = [], 0.0
    while elapsed < total_seconds:
        rhythm, span = "normal_sinus", rng.uniform(120, 2400)
        if plan and plan[-1][0] == "normal_sinus":
            rhythm = others[rng.choice(len(others), p=weights)]
            span = rng.uniform(*lengths[rhythm])
        span = min(span, total_seconds - elapsed)
        plan.append((rhythm, span))
        elapsed += span
    return plan


def _plan_from(rhythms: Sequence[tuple[str, float]]) -> list[tuple[str, float]]:
    if not isinstance(rhythms, (list, tuple)) or not rhythms:
        raise CompressError(f"rhythms = {rhythms!r}; expected a non-empty list of (rhythm, seconds) pairs")
    plan = []
    for index, item in enumerate(rhythms):
        if not isinstance(item, (list, tuple)) or len(item) != 2:
            raise CompressError(f"rhythms[{index}] = {item!r}; expected a (rhythm, seconds) pair")
        rhythm, seconds = item
        _check_rhythm(rhythm)
        _check_seconds(f"rhythms[{index}]", seconds, MAX_RECORD_HOURS * 3600.0)
        plan.append((rhythm, float(seconds)))
    return plan


def _render_chunks(plan: list[tuple[str, float]], seed: int, fs: int, chunk_seconds: float) -> Iterator[np.ndarray]:
    """Check the arguments now, then render lazily (a generator would defer the checks to the first chunk)."""
    _check_seed(seed)
    _check_fs(fs)
    return _Renderer(plan, int(seed), int(fs)).chunks(_sample_count(chunk_seconds, fs))


class _Renderer:
    """Renders a planned record chunk by chunk; the output depends on (plan, seed, fs) only, not on chunk size."""

    def __init__(self, plan: list[tuple[str, float]], seed: int, fs: int) -> None:
        self.seed, self.fs = seed, fs
        self.patient, self.episodes = _draw_record(plan, seed)
        self.total = _sample_count(self.episodes[-1].end, fs)
        self.clock = _BeatClock(self.patient, self.episodes, np.random.default_rng([seed, _BEATS]))
        self.beats: deque[tuple[float, int, float, float]] = deque()

    def chunks(self, size: int) -> Iterator[np.ndarray]:
        for first in range(0, self.total, size):
            yield self.render(first, min(first + size, self.total)).astype(np.float32)

    def render(self, first: int, stop: int) -> np.ndarray:
        t = np.arange(first, stop) / self.fs
        x = self._beats(first, stop) + sines(self.patient.wander, t) + self._powerline(t)
        emg_std = np.full(t.shape, self.patient.emg_std)
        overlapping = [e for e in self.episodes if e.end > t[0] and e.start <= t[-1]]
        if overlapping:
            spikes = np.concatenate([e.spikes for e in overlapping])
            x += render_gaussians(spikes[:, 0], spikes[:, 1], spikes[:, 2], first, stop, self.fs)
        for episode in overlapping:
            span = (t >= episode.start) & (t < episode.end)
            x[span] += episode_additive(episode, t[span])
            emg_std[span] += episode.emg_std
        x += emg_std * self._unit_noise(first, stop)
        rail = self.patient.rail
        np.clip(x, -rail, rail, out=x)
        for episode in overlapping:
            for start, end, value in episode.lead_off:
                x[(t >= start) & (t < end)] = min(max(value, -rail), rail)
        return x

    def _beats(self, first: int, stop: int) -> np.ndarray:
        t0, t1 = first / self.fs, stop / self.fs
        while not self.beats or self.beats[-1][0] < t1 + _MARGIN:
            self.beats.append(self.clock.next())
        while self.beats and self.beats[0][0] < t0 - _MARGIN:
            self.beats.popleft()
        centres, amplitudes, widths = beat_waves(self.patient, [b for b in self.beats if b[0] < t1 + _MARGIN])
        return render_gaussians(centres, amplitudes, widths, first, stop, self.fs)

    def _powerline(self, t: np.ndarray) -> np.ndarray:
        amplitude, hz, phase = self.patient.line
        if hz >= self.fs / 2:  # the ADC's anti-aliasing filter removes mains above Nyquist
            return np.zeros_like(t)
        return amplitude * np.sin(2 * np.pi * hz * t + phase)

    def _unit_noise(self, first: int, stop: int) -> np.ndarray:
        block = _EMG_BLOCK_SECONDS * self.fs
        parts = []
        for index in range(first // block, (stop - 1) // block + 1):
            noise = np.random.default_rng([self.seed, _EMG, index]).standard_normal(block)
            lo, hi = max(first - index * block, 0), min(stop - index * block, block)
            parts.append(noise[lo:hi])
        return np.concatenate(parts)


def _draw_record(plan: list[tuple[str, float]], seed: int) -> tuple[Patient, list[Episode]]:
    """The patient and each planned episode, each from its own seed stream (what the renderer and the subgroups use)."""
    patient = draw_patient(np.random.default_rng([seed, _PATIENT]))
    episodes: list[Episode] = []
    start = 0.0
    for index, (rhythm, seconds) in enumerate(plan):
        rng = np.random.default_rng([seed, _EPISODE, index])
        episodes.append(draw_episode(rhythm, start, start + seconds, rng))
        start += seconds
    return patient, episodes


class _BeatClock:
    """Yields beats in time order as (R time s, kind, preceding RR s, amplitude scale), across episodes."""

    def __init__(self, patient: Patient, episodes: list[Episode], rng: np.random.Generator) -> None:
        self.patient, self.episodes, self.rng = patient, episodes, rng
        self.index = -1
        # Start a little before the record so its first second already shows the previous beat's T wave.
        self.t = -1.5 - rng.uniform(0.0, 1.0) * episodes[0].mean_rr
        self.rr = episodes[0].mean_rr
        self.pending: deque[tuple[float, int, float, float]] = deque()
        self.until_pvc = 0

    def next(self) -> tuple[float, int, float, float]:
        if not self.pending:
            self._advance()
        return self.pending.popleft()

    def _episode(self) -> Episode:
        index = max(self.index, 0)
        while index < len(self.episodes) - 1 and self.t >= self.episodes[index].end:
            index += 1
        if index != self.index:
            self.index = index
            # The first PVC comes after a few sinus beats, so a window's first PVC has sinus beats on both sides.
            self.until_pvc = int(self.rng.integers(3, 6))
        return self.episodes[index]

    def _advance(self) -> None:
        episode = self._episode()
        scale = episode.ecg_scale * (1.0 + 0.03 * self.rng.standard_normal())  # small beat-to-beat variation
        if episode.rhythm == "atrial_fibrillation":
            sigma = math.sqrt(math.log1p(episode.af_cv ** 2))
            rr = max(AF_MIN_RR, episode.mean_rr * math.exp(sigma * self.rng.standard_normal() - sigma ** 2 / 2))
            self.t += rr
            self.pending.append((self.t, BEAT_AF, rr, scale))
            return
        rr = self._sinus_rr(episode)
        if episode.rhythm == "pvc" and self.until_pvc <= 0:
            coupling = self.rng.uniform(*episode.coupling)
            self.pending.append((self.t + coupling * rr, BEAT_PVC, coupling * rr, scale))
            self.t += rr  # the sinus beat the PVC conceals: the next one comes a full compensatory pause later
            rr = self._sinus_rr(episode)
            self.until_pvc = int(self.rng.integers(episode.pvc_gap[0], episode.pvc_gap[1] + 1))
        self.t += rr
        self.until_pvc -= 1
        self.pending.append((self.t, BEAT_SINUS, rr, scale))

    def _sinus_rr(self, episode: Episode) -> float:
        p = self.patient
        modulation = p.rsa * math.sin(2 * math.pi * p.resp_hz * self.t + p.resp_phase)
        for amplitude, hz, phase in p.hrv:
            modulation += amplitude * math.sin(2 * math.pi * hz * self.t + phase)
        return episode.mean_rr * (1.0 + modulation) * (1.0 + p.jitter * self.rng.standard_normal())


def _sample_count(seconds: float, fs: int) -> int:
    return max(1, int(round(seconds * fs)))


def _check_rhythm(rhythm: object) -> None:
    if rhythm not in ECG_CLASSES:
        raise CompressError(f"ECG rhythm {rhythm!r} is unknown; expected one of {', '.join(ECG_CLASSES)}")


def _check_seed(seed: object) -> None:
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise CompressError(f"ECG seed {seed!r} is invalid; expected a whole number >= 0")


def _check_fs(fs: object) -> None:
    if not isinstance(fs, (int, np.integer)) or isinstance(fs, bool) or not MIN_FS <= fs <= MAX_FS:
        raise CompressError(f"ECG sampling rate fs = {fs!r} is invalid; expected a whole number of Hz from {MIN_FS} "
                            f"to {MAX_FS}")


def _check_seconds(what: str, seconds: object, limit: float) -> None:
    if not isinstance(seconds, (int, float, np.floating, np.integer)) or isinstance(seconds, bool) \
            or not 0 < seconds <= limit:
        raise CompressError(f"{what} length {seconds!r} s is invalid; expected seconds above 0 and at most {limit:g}")
