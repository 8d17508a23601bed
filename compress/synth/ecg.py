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
"""

from __future__ import annotations

import dataclasses
import math
from collections import deque
from typing import Iterator, Sequence

import numpy as np

from hfm_compress.errors import CompressError

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

# Mean heart rate (bpm) per sinus-driven rhythm. The noise class hides a sinus rhythm of any plausible rate.
HR_RANGES = {
    "normal_sinus": (64.0, 95.0),
    "sinus_bradycardia": (38.0, 55.0),
    "sinus_tachycardia": (108.0, 150.0),
    "pvc": (62.0, 95.0),
    "noise": (55.0, 110.0),
}
AF_HR_RANGE = (70.0, 140.0)  # ventricular rate in AF, from rate-controlled to rapid
AF_RR_CV = (0.18, 0.35)  # spread of AF RR intervals: far above sinus rhythm's 0.02-0.06
AF_MIN_RR = 0.28  # s: the AV node's refractory period bounds how fast AF can conduct

# Seed streams: each concern draws from its own stream so adding draws to one never shifts another.
_PATIENT, _BEATS, _EPISODE, _EMG, _PLAN = range(5)
_EMG_BLOCK_SECONDS = 10  # EMG noise is drawn per fixed block, seeded by block number: chunk-size independent
_MARGIN = 1.0  # s: no wave reaches further than this from its R time (P at -0.3 s, a slow T at +0.8 s)

# Beat kinds.
_SINUS, _AF, _PVC = 0, 1, 2


@dataclasses.dataclass(frozen=True)
class _Patient:
    """What stays the same across a record: beat morphology, heart-rate variability, electrodes and mains."""

    sinus: np.ndarray  # (5, 3): offset from R (s, at RR = 1 s), amplitude (mV), width (s) for P, Q, R, S, T
    ectopic: np.ndarray  # (3, 3): the same for a PVC's main deflection, its notch and its discordant T wave
    resp_hz: float
    resp_phase: float
    rsa: float  # respiratory sinus arrhythmia: relative RR modulation
    amp_mod: float  # respiration also modulates QRS amplitude (the heart's axis moves with the diaphragm)
    hrv: np.ndarray  # (2, 3): relative amplitude, frequency (Hz), phase of the LF and VLF RR components
    jitter: float  # relative beat-to-beat RR noise
    wander: np.ndarray  # (k, 3): amplitude (mV), frequency (Hz), phase of mild baseline wander
    line: tuple[float, float, float]  # powerline amplitude (mV), frequency (Hz), phase
    emg_std: float  # mV
    rail: float  # mV: where the amplifier saturates


@dataclasses.dataclass(frozen=True)
class _Episode:
    """One stretch of a single rhythm class, in seconds from the record start."""

    rhythm: str
    start: float
    end: float
    mean_rr: float
    af_cv: float
    pvc_gap: tuple[int, int]  # sinus beats between PVCs: drawn from [low, high]
    coupling: tuple[float, float]  # PVC's RR as a fraction of the sinus RR
    fwave: tuple[float, float, float]  # f-wave amplitude (mV), mean frequency (Hz), phase; zero outside AF
    wander: np.ndarray  # (k, 3) extra baseline wander (noise episodes)
    emg_std: float  # extra EMG (noise episodes)
    ecg_scale: float  # a loose electrode also picks up less of the heart's signal (noise episodes)
    motion: tuple[tuple[float, float, np.ndarray], ...]  # (start, end, (k, 3) amplitude/frequency/phase)
    spikes: np.ndarray  # (k, 3): centre (s), amplitude (mV), width (s) of QRS-like artefact spikes
    lead_off: tuple[tuple[float, float, float], ...]  # (start, end, constant value) electrode-off segments


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
    if not isinstance(n_per_class, (int, np.integer)) or isinstance(n_per_class, bool) or n_per_class < 1:
        raise CompressError(f"n_per_class = {n_per_class!r}; expected a whole number >= 1")
    _check_seed(seed)
    _check_fs(fs)
    _check_seconds("window", seconds, MAX_WINDOW_SECONDS)
    n = int(n_per_class) * len(ECG_CLASSES)
    windows = np.empty((n, _sample_count(seconds, fs)), dtype=np.float32)
    labels = np.empty(n, dtype=np.int64)
    for index in range(n):
        class_index, repeat = index % len(ECG_CLASSES), index // len(ECG_CLASSES)
        window_seed = int(np.random.SeedSequence([seed, class_index, repeat]).generate_state(1)[0])
        windows[index] = simulate_window(ECG_CLASSES[class_index], window_seed, fs, seconds)
        labels[index] = class_index
    return windows, labels


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
        self.patient = _draw_patient(np.random.default_rng([seed, _PATIENT]))
        self.episodes: list[_Episode] = []
        start = 0.0
        for index, (rhythm, seconds) in enumerate(plan):
            rng = np.random.default_rng([seed, _EPISODE, index])
            self.episodes.append(_draw_episode(rhythm, start, start + seconds, rng))
            start += seconds
        self.total = _sample_count(start, fs)
        self.clock = _BeatClock(self.patient, self.episodes, np.random.default_rng([seed, _BEATS]))
        self.beats: deque[tuple[float, int, float, float]] = deque()

    def chunks(self, size: int) -> Iterator[np.ndarray]:
        for first in range(0, self.total, size):
            yield self.render(first, min(first + size, self.total)).astype(np.float32)

    def render(self, first: int, stop: int) -> np.ndarray:
        t = np.arange(first, stop) / self.fs
        x = self._beats(first, stop) + _sines(self.patient.wander, t) + self._powerline(t)
        emg_std = np.full(t.shape, self.patient.emg_std)
        overlapping = [e for e in self.episodes if e.end > t[0] and e.start <= t[-1]]
        if overlapping:
            spikes = np.concatenate([e.spikes for e in overlapping])
            x += _render_gaussians(spikes[:, 0], spikes[:, 1], spikes[:, 2], first, stop, self.fs)
        for episode in overlapping:
            span = (t >= episode.start) & (t < episode.end)
            x[span] += _episode_additive(episode, t[span])
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
        centres, amplitudes, widths = _beat_waves(self.patient, [b for b in self.beats if b[0] < t1 + _MARGIN])
        return _render_gaussians(centres, amplitudes, widths, first, stop, self.fs)

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


class _BeatClock:
    """Yields beats in time order as (R time s, kind, preceding RR s, amplitude scale), across episodes."""

    def __init__(self, patient: _Patient, episodes: list[_Episode], rng: np.random.Generator) -> None:
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

    def _episode(self) -> _Episode:
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
            self.pending.append((self.t, _AF, rr, scale))
            return
        rr = self._sinus_rr(episode)
        if episode.rhythm == "pvc" and self.until_pvc <= 0:
            coupling = self.rng.uniform(*episode.coupling)
            self.pending.append((self.t + coupling * rr, _PVC, coupling * rr, scale))
            self.t += rr  # the sinus beat the PVC conceals: the next one comes a full compensatory pause later
            rr = self._sinus_rr(episode)
            self.until_pvc = int(self.rng.integers(episode.pvc_gap[0], episode.pvc_gap[1] + 1))
        self.t += rr
        self.until_pvc -= 1
        self.pending.append((self.t, _SINUS, rr, scale))

    def _sinus_rr(self, episode: _Episode) -> float:
        p = self.patient
        modulation = p.rsa * math.sin(2 * math.pi * p.resp_hz * self.t + p.resp_phase)
        for amplitude, hz, phase in p.hrv:
            modulation += amplitude * math.sin(2 * math.pi * hz * self.t + phase)
        return episode.mean_rr * (1.0 + modulation) * (1.0 + p.jitter * self.rng.standard_normal())


def _beat_waves(patient: _Patient, beats: list[tuple[float, int, float, float]]) -> tuple[np.ndarray, ...]:
    """Centres (s), amplitudes (mV) and widths (s) of every Gaussian wave of `beats`."""
    if not beats:
        return np.zeros(0), np.zeros(0), np.zeros(0)
    times, kinds, rrs, scales = (np.array(column) for column in zip(*beats))
    centres, amplitudes, widths = [], [], []
    breathing = 1.0 + patient.amp_mod * np.sin(2 * np.pi * patient.resp_hz * times + patient.resp_phase)
    for kind, table in ((_SINUS, patient.sinus), (_AF, patient.sinus[1:]), (_PVC, patient.ectopic)):
        chosen = kinds == kind
        if not chosen.any():
            continue
        offsets = np.broadcast_to(table[:, 0], (int(chosen.sum()), len(table))).copy()
        if kind != _PVC:  # QT shortens with rate (Bazett): the T wave moves with sqrt(RR)
            offsets[:, -1] *= np.sqrt(np.clip(rrs[chosen], 0.3, 2.0))
        centres.append(times[chosen, None] + offsets)
        amplitudes.append((scales * breathing)[chosen, None] * table[None, :, 1])
        widths.append(np.broadcast_to(table[:, 2], offsets.shape))
    return tuple(np.concatenate([part.ravel() for part in parts]) for parts in (centres, amplitudes, widths))


def _render_gaussians(centres: np.ndarray, amplitudes: np.ndarray, widths: np.ndarray,
                      first: int, stop: int, fs: int) -> np.ndarray:
    """Sum of Gaussians on samples [first, stop), each evaluated on +-4 widths only (cost ~ waves, not samples)."""
    n = stop - first
    if centres.size == 0:
        return np.zeros(n)
    half = int(math.ceil(4 * widths.max() * fs))
    index = np.round(centres * fs).astype(np.int64)[:, None] + np.arange(-half, half + 1)[None, :]
    distance = (index / fs - centres[:, None]) / widths[:, None]
    values = amplitudes[:, None] * np.exp(-0.5 * distance ** 2)
    # Each wave ends at its own +-4 widths (not the widest wave's), so a sample's value does not depend on which
    # other waves share its chunk: records come out the same whatever the chunk size.
    inside = (index >= first) & (index < stop) & (np.abs(distance) <= 4.0)
    return np.bincount(index[inside] - first, weights=values[inside], minlength=n)


def _episode_additive(episode: _Episode, t: np.ndarray) -> np.ndarray:
    """f-waves, heavy wander and motion artefact of one episode at times `t` (s, inside the episode)."""
    x = _sines(episode.wander, t)
    amplitude, hz, phase = episode.fwave
    if amplitude:
        # Frequency wanders +-0.5 Hz at 0.1 Hz; the integrated phase keeps it continuous across chunks.
        phi = 2 * np.pi * hz * t + phase + 5.0 * np.sin(2 * np.pi * 0.1 * t)
        x += amplitude * (np.sin(phi) + 0.3 * np.sin(2 * phi + 1.0))
    for start, end, components in episode.motion:
        inside = (t >= start) & (t < end)
        if inside.any():
            envelope = np.sin(np.pi * (t[inside] - start) / (end - start)) ** 2
            x[inside] += envelope * _sines(components, t[inside])
    return x


def _sines(components: np.ndarray, t: np.ndarray) -> np.ndarray:
    x = np.zeros_like(t)
    for amplitude, hz, phase in components:
        x += amplitude * np.sin(2 * np.pi * hz * t + phase)
    return x


def _draw_patient(rng: np.random.Generator) -> _Patient:
    u = rng.uniform
    gain = u(0.7, 1.4)  # electrode placement and body habitus scale the whole complex
    r = u(0.8, 1.6)  # R amplitude (mV, before the gain); P, Q, S and T scale with it as in a lead II
    sinus = np.array([
        [-u(0.15, 0.21), r * u(0.08, 0.16), u(0.02, 0.03)],  # P: atrial depolarisation, PR interval 120-200 ms
        [-u(0.025, 0.035), -r * u(0.03, 0.1), u(0.008, 0.012)],  # Q
        [0.0, r, u(0.009, 0.013)],  # R: narrow, QRS 80-110 ms in all
        [u(0.025, 0.04), -r * u(0.1, 0.3), u(0.009, 0.014)],  # S
        [u(0.24, 0.3), r * u(0.15, 0.35), u(0.045, 0.07)],  # T at RR = 1 s; moved with sqrt(RR)
    ])
    polarity = rng.choice([-1.0, 1.0])  # the ectopic focus decides whether the PVC points up or down in this lead
    main = u(1.0, 2.0)
    ectopic = np.array([
        [0.0, polarity * main, u(0.035, 0.05)],  # wide main deflection: QRS 140-200 ms
        [u(0.06, 0.09), -polarity * main * u(0.2, 0.45), u(0.025, 0.04)],  # notch: the 'bizarre' shape
        [u(0.3, 0.38), -polarity * u(0.3, 0.6), u(0.07, 0.1)],  # discordant T wave
    ])
    sinus[:, 1] *= gain
    ectopic[:, 1] *= gain
    resp_hz = u(0.15, 0.4)
    wander = np.array([
        [u(0.02, 0.15), resp_hz, u(0, 2 * np.pi)],  # breathing moves the electrodes
        [u(0.02, 0.2), u(0.03, 0.1), u(0, 2 * np.pi)],  # slow electrode-skin drift
    ])
    return _Patient(
        sinus=sinus, ectopic=ectopic, resp_hz=resp_hz, resp_phase=u(0, 2 * np.pi), rsa=u(0.01, 0.05),
        amp_mod=u(0.03, 0.12),
        hrv=np.array([[u(0.01, 0.04), u(0.08, 0.12), u(0, 2 * np.pi)],  # LF (Mayer waves)
                      [u(0.0, 0.04), u(0.003, 0.01), u(0, 2 * np.pi)]]),  # VLF
        jitter=u(0.004, 0.012),
        wander=wander,
        line=(u(0.0, 0.03), float(rng.choice([50.0, 60.0])), u(0, 2 * np.pi)),
        emg_std=u(0.004, 0.03),
        rail=u(4.0, 8.0),
    )


def _draw_episode(rhythm: str, start: float, end: float, rng: np.random.Generator) -> _Episode:
    u = rng.uniform
    if rhythm == "atrial_fibrillation":
        mean_rr = 60.0 / u(*AF_HR_RANGE)
        fwave = (u(0.04, 0.15), u(4.5, 8.5), u(0, 2 * np.pi))  # 4-9 Hz with the +-0.5 Hz wander
    else:
        mean_rr = 60.0 / u(*HR_RANGES[rhythm])
        fwave = (0.0, 0.0, 0.0)
    wander, emg_std, motion, spikes, lead_off, ecg_scale = np.zeros((0, 3)), 0.0, (), np.zeros((0, 3)), (), 1.0
    if rhythm == "noise":
        wander, emg_std, motion, spikes, lead_off = _draw_artefacts(start, end, rng)
        ecg_scale = u(0.3, 0.8)
    return _Episode(
        rhythm=rhythm, start=start, end=end, mean_rr=mean_rr, af_cv=u(*AF_RR_CV),
        pvc_gap=(1, int(rng.integers(2, 7))),  # bigeminy (every other beat) up to occasional PVCs
        coupling=(0.55, 0.7), fwave=fwave, wander=wander, emg_std=emg_std, ecg_scale=ecg_scale, motion=motion,
        spikes=spikes, lead_off=lead_off,
    )


def _draw_artefacts(start: float, end: float, rng: np.random.Generator) -> tuple:
    """Heavy wander always; then electrode-off segments and/or motion bursts (at least one), maybe muscle noise.

    Wander alone leaves a readable ECG (a high-pass filter removes it), so every artefact episode also carries
    in-band corruption: bursts that cover most of the time, or muscle noise near the QRS amplitude, or lead-off.
    """
    u = rng.uniform
    wander = np.array([[u(0.5, 2.0), u(0.15, 0.8), u(0, 2 * np.pi)], [u(0.3, 1.0), u(0.05, 0.15), u(0, 2 * np.pi)]])
    lead_off_wanted = rng.random() < 0.5
    motion_wanted = rng.random() < 0.7 or not lead_off_wanted
    emg_std = u(0.15, 0.5) if rng.random() < 0.4 else 0.0
    per_10s = (end - start) / 10.0
    motion, spikes, lead_off = [], [np.zeros((0, 3))], []
    if motion_wanted:
        for _ in range(max(1, int(round(per_10s * u(4.0, 8.0))))):  # bursts overlap: most of the time is hit
            first, last = _event_span(start, end, u(1.0, 3.0), rng)
            # Skin stretch moves the electrode: swings from 0.5 Hz up into the QRS band, as large as the QRS or more.
            components = np.column_stack([u(0.3, 1.2, 5), u(0.5, 15.0, 5), u(0, 2 * np.pi, 5)])
            components[:, 0] *= u(1.5, 5.0) / components[:, 0].sum()
            motion.append((first, last, components))
            # Electrode pops and taps: QRS-like spikes at random times, which a beat detector mistakes for beats.
            count = int(rng.poisson((last - first) * u(1.0, 4.0)))
            spikes.append(np.column_stack([u(first, last, count), rng.choice([-1.0, 1.0], count) * u(0.3, 2.0, count),
                                           u(0.008, 0.03, count)]))
    if lead_off_wanted:
        for _ in range(max(1, int(round(per_10s * u(1.0, 2.5))))):
            first, last = _event_span(start, end, u(0.5, 3.0), rng)
            flat = rng.random() < 0.5  # flat: the ADC holds a constant code; else it saturates at a rail
            value = u(-0.2, 0.2) if flat else rng.choice([-1.0, 1.0]) * 1e6  # clipped to the patient's rail
            lead_off.append((first, last, value))
    return wander, emg_std, tuple(motion), np.concatenate(spikes), tuple(lead_off)


def _event_span(start: float, end: float, duration: float, rng: np.random.Generator) -> tuple[float, float]:
    duration = min(duration, end - start)
    first = rng.uniform(start, end - duration)
    return first, first + duration


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
