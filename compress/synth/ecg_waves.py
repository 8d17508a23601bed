"""The building blocks of the simulated ECG (see `ecg.py`): per-patient beat morphology and per-episode rhythm,
artefact and noise parameters drawn from a seeded generator, and the waveforms made from them (Gaussian P-QRS-T
waves, f-waves, baseline wander, motion artefact).

Nothing here seeds a generator or knows about records and chunks: `ecg.py` hands in the generator for each concern,
decides when beats happen and renders the record chunk by chunk.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

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

# Beat kinds, as the beat clock in `ecg.py` reports them.
BEAT_SINUS, BEAT_AF, BEAT_PVC = 0, 1, 2


@dataclasses.dataclass(frozen=True)
class Patient:
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
class Episode:
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


def beat_waves(patient: Patient, beats: list[tuple[float, int, float, float]]) -> tuple[np.ndarray, ...]:
    """Centres (s), amplitudes (mV) and widths (s) of every Gaussian wave of `beats`."""
    if not beats:
        return np.zeros(0), np.zeros(0), np.zeros(0)
    times, kinds, rrs, scales = (np.array(column) for column in zip(*beats))
    centres, amplitudes, widths = [], [], []
    breathing = 1.0 + patient.amp_mod * np.sin(2 * np.pi * patient.resp_hz * times + patient.resp_phase)
    for kind, table in ((BEAT_SINUS, patient.sinus), (BEAT_AF, patient.sinus[1:]), (BEAT_PVC, patient.ectopic)):
        chosen = kinds == kind
        if not chosen.any():
            continue
        offsets = np.broadcast_to(table[:, 0], (int(chosen.sum()), len(table))).copy()
        if kind != BEAT_PVC:  # QT shortens with rate (Bazett): the T wave moves with sqrt(RR)
            offsets[:, -1] *= np.sqrt(np.clip(rrs[chosen], 0.3, 2.0))
        centres.append(times[chosen, None] + offsets)
        amplitudes.append((scales * breathing)[chosen, None] * table[None, :, 1])
        widths.append(np.broadcast_to(table[:, 2], offsets.shape))
    return tuple(np.concatenate([part.ravel() for part in parts]) for parts in (centres, amplitudes, widths))


def render_gaussians(centres: np.ndarray, amplitudes: np.ndarray, widths: np.ndarray,
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


def episode_additive(episode: Episode, t: np.ndarray) -> np.ndarray:
    """f-waves, heavy wander and motion artefact of one episode at times `t` (s, inside the episode)."""
    x = sines(episode.wander, t)
    amplitude, hz, phase = episode.fwave
    if amplitude:
        # Frequency wanders +-0.5 Hz at 0.1 Hz; the integrated phase keeps it continuous across chunks.
        phi = 2 * np.pi * hz * t + phase + 5.0 * np.sin(2 * np.pi * 0.1 * t)
        x += amplitude * (np.sin(phi) + 0.3 * np.sin(2 * phi + 1.0))
    for start, end, components in episode.motion:
        inside = (t >= start) & (t < end)
        if inside.any():
            envelope = np.sin(np.pi * (t[inside] - start) / (end - start)) ** 2
            x[inside] += envelope * sines(components, t[inside])
    return x


def sines(components: np.ndarray, t: np.ndarray) -> np.ndarray:
    x = np.zeros_like(t)
    for amplitude, hz, phase in components:
        x += amplitude * np.sin(2 * np.pi * hz * t + phase)
    return x


def draw_patient(rng: np.random.Generator) -> Patient:
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
    return Patient(
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


def draw_episode(rhythm: str, start: float, end: float, rng: np.random.Generator) -> Episode:
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
    return Episode(
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
