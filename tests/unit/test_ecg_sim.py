"""The ECG simulator: deterministic from a seed, and each rhythm class recognisable by a simple textbook rule."""

import numpy as np
import pytest

from hfm_compress.errors import CompressError
from hfm_compress.synth.ecg import (
    ECG_CLASSES,
    iter_record_chunks,
    make_dataset,
    simulate_record,
    simulate_window,
)

FS = 250
SEEDS = range(20)


def _moving_average(x: np.ndarray, n: int) -> np.ndarray:
    padded = np.pad(x, (n // 2, n - 1 - n // 2), mode="edge")
    return np.convolve(padded, np.ones(n) / n, mode="valid")


def _detrended(x: np.ndarray, fs: int) -> np.ndarray:
    """Remove baseline wander: subtract a 0.3 s double moving average (a crude ~1.5 Hz high-pass)."""
    n = int(0.3 * fs)
    return x - _moving_average(_moving_average(x, n), n)


def _r_peaks(y: np.ndarray, fs: int) -> np.ndarray:
    """Largest |y| local maxima above half the typical beat height, at least 250 ms apart.

    The typical beat height is the median over 2 s blocks of each block's maximum: every block holds a beat at any
    rate above 30 bpm, so T waves (well under half the R wave) are never taken for beats.
    """
    magnitude = np.abs(y)
    block = 2 * fs
    threshold = 0.5 * np.median([magnitude[i : i + block].max() for i in range(0, len(y) - block + 1, block)])
    inner = magnitude[1:-1]
    candidates = np.flatnonzero((inner > threshold) & (inner >= magnitude[:-2]) & (inner > magnitude[2:])) + 1
    peaks: list[int] = []
    for candidate in candidates[np.argsort(-magnitude[candidates])]:
        if all(abs(candidate - p) > 0.25 * fs for p in peaks):
            peaks.append(int(candidate))
    return np.sort(np.array(peaks, dtype=int))


def _half_height_widths(y: np.ndarray, peaks: np.ndarray, fs: int) -> np.ndarray:
    magnitude = np.abs(y)
    widths = []
    for peak in peaks:
        lo = hi = peak
        while lo > 0 and magnitude[lo - 1] > 0.5 * magnitude[peak]:
            lo -= 1
        while hi < len(y) - 1 and magnitude[hi + 1] > 0.5 * magnitude[peak]:
            hi += 1
        widths.append((hi - lo + 1) / fs)
    return np.array(widths)


def _longest_constant_run(x: np.ndarray) -> int:
    """Longest run of identical consecutive samples: a live lead always has some noise, a lead-off never."""
    changes = np.flatnonzero(np.diff(x) != 0)
    edges = np.concatenate([[-1], changes, [len(x) - 1]])
    return int(np.diff(edges).max())


def _beat_consistency(y: np.ndarray, peaks: np.ndarray, fs: int) -> float:
    """Mean over beats of the best correlation of a beat's slope (+-120 ms) with any other beat's.

    Real beats repeat a shape (PVCs repeat theirs), artefact 'beats' do not.
    """
    slope, half = np.gradient(_moving_average(y, max(1, int(0.02 * fs)))), int(0.12 * fs)  # smoothed: no EMG
    segments = np.array([slope[p - half : p + half] for p in peaks if half <= p < len(y) - half])
    if len(segments) < 3:
        return 0.0
    correlation = np.corrcoef(segments)
    np.fill_diagonal(correlation, -1.0)
    return float(correlation.max(axis=1).mean())


def classify(x: np.ndarray, fs: int = FS) -> str:
    """A textbook rhythm rule: unreadable first, then PVCs, AF by RR irregularity, then the rate."""
    y = _detrended(x, fs)
    peaks = _r_peaks(y, fs)
    if _longest_constant_run(x) >= 0.25 * fs or _beat_consistency(y, peaks, fs) < 0.85:
        return "noise"
    rr = np.diff(peaks) / fs
    widths, typical_rr = _half_height_widths(y, peaks, fs), np.median(rr)
    premature_wide = [
        i for i in range(1, len(rr))
        if rr[i - 1] < 0.85 * typical_rr and rr[i] > 1.15 * typical_rr and widths[i] > 1.8 * np.median(widths)
    ]
    if premature_wide:
        return "pvc"
    if np.sqrt(np.mean(np.diff(rr) ** 2)) / rr.mean() > 0.1:  # RMSSD relative to the mean RR
        return "atrial_fibrillation"
    rate = 60.0 / rr.mean()
    if rate < 60:
        return "sinus_bradycardia"
    if rate > 100:
        return "sinus_tachycardia"
    return "normal_sinus"


@pytest.mark.parametrize("rhythm", ECG_CLASSES)
def test_each_class_is_recognisable_by_a_simple_rule(rhythm: str) -> None:
    predicted = [classify(simulate_window(rhythm, seed)) for seed in SEEDS]
    hits = sum(p == rhythm for p in predicted)
    assert hits >= 0.9 * len(SEEDS), f"{rhythm}: rule says {predicted}"


def test_rates_and_irregularity_match_the_class_definitions() -> None:
    def rates(rhythm: str) -> list[float]:
        out = []
        for seed in range(8):
            y = _detrended(simulate_window(rhythm, seed), FS)
            out.append(60.0 / np.mean(np.diff(_r_peaks(y, FS)) / FS))
        return out

    assert max(rates("sinus_bradycardia")) < 60
    assert min(rates("sinus_tachycardia")) > 100
    assert 60 < min(rates("normal_sinus")) and max(rates("normal_sinus")) < 100


def test_window_is_deterministic_float32_millivolts() -> None:
    first, again = simulate_window("atrial_fibrillation", 7), simulate_window("atrial_fibrillation", 7)
    assert first.dtype == np.float32 and first.shape == (10 * FS,)
    assert np.array_equal(first, again)
    assert 0.3 < np.ptp(first) < 10.0  # a QRS is about a millivolt


def test_seeds_and_rhythms_give_different_windows() -> None:
    assert not np.allclose(simulate_window("normal_sinus", 1), simulate_window("normal_sinus", 2))
    assert not np.allclose(simulate_window("normal_sinus", 1), simulate_window("sinus_tachycardia", 1))


def test_sampling_rate_and_length_are_parameters() -> None:
    window = simulate_window("normal_sinus", 3, fs=500, seconds=4.0)
    assert window.shape == (2000,)
    assert classify(simulate_window("sinus_bradycardia", 3, fs=500), fs=500) == "sinus_bradycardia"


def test_dataset_is_balanced_interleaved_and_reproducible() -> None:
    windows, labels = make_dataset(3, seed=11, seconds=2.0)
    assert windows.shape == (18, 500) and windows.dtype == np.float32 and labels.dtype == np.int64
    assert labels.tolist() == list(range(len(ECG_CLASSES))) * 3
    bigger, _ = make_dataset(4, seed=11, seconds=2.0)
    assert np.array_equal(bigger[:18], windows)
    other, _ = make_dataset(3, seed=12, seconds=2.0)
    assert not np.allclose(other, windows)


def test_record_is_the_same_whatever_the_chunk_size() -> None:
    plan = [("normal_sinus", 20.0), ("pvc", 15.0), ("noise", 10.0), ("atrial_fibrillation", 15.0)]
    record = simulate_record(plan, seed=5)
    assert record.shape == (60 * FS,) and record.dtype == np.float32
    chunked = [chunk for chunk in iter_record_chunks(0.05, seed=5, chunk_seconds=7.0)]
    whole = [chunk for chunk in iter_record_chunks(0.05, seed=5, chunk_seconds=180.0)]
    assert [len(c) for c in chunked[:-1]] == [7 * FS] * (len(chunked) - 1)
    assert np.array_equal(np.concatenate(chunked), np.concatenate(whole))
    assert len(np.concatenate(whole)) == 180 * FS


def test_record_episodes_keep_their_rhythm() -> None:
    record = simulate_record([("sinus_bradycardia", 10.0), ("sinus_tachycardia", 10.0)], seed=2)
    assert classify(record[: 10 * FS]) == "sinus_bradycardia"
    assert classify(record[10 * FS :]) == "sinus_tachycardia"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: simulate_window("flutter", 1), "rhythm 'flutter' is unknown"),
        (lambda: simulate_window("pvc", -1), "seed -1 is invalid"),
        (lambda: simulate_window("pvc", 1, fs=10), "fs = 10 is invalid"),
        (lambda: simulate_window("pvc", 1, seconds=0), "length 0 s is invalid"),
        (lambda: make_dataset(0, 1), "n_per_class = 0"),
        (lambda: simulate_record([], 1), "non-empty list"),
        (lambda: simulate_record([("pvc",)], 1), "(rhythm, seconds) pair"),
        (lambda: iter_record_chunks(0, 1), "record hours = 0"),
    ],
)
def test_bad_arguments_say_what_was_expected(call, message: str) -> None:
    with pytest.raises(CompressError, match="expected") as caught:
        call()
    assert message in str(caught.value)
