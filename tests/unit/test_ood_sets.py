"""The OOD evaluation sets: deterministic, shaped and ranged as documented, each recognisably what it claims, the
near-OOD ones built from the in-distribution simulators as documented, and the bundled texts disjoint from the clinical
text files (and non-clinical, except the near-OOD ones that are clinical on purpose)."""

from __future__ import annotations

import re
from importlib.resources import files

import numpy as np
import pytest

from hfm_compress.data import load_texts
from hfm_compress.errors import CompressError
from hfm_compress.synth import ecg, ultrasound
from hfm_compress.synth.ood import (
    BUNDLED_TEXT_SETS,
    COLOUR_SETS,
    NEAR_OOD_KINDS,
    NEAR_OOD_RHYTHMS,
    OOD_KINDS,
    OVERGAIN_RANGE,
    RAIL_MV,
    WANDER_MV_RANGE,
    WRONG_RATE_FACTORS,
    WRONG_RATE_RHYTHMS,
    image_sets,
    signal_sets,
    text_sets,
)

FS = 250
# Clinical words in English and in the bundled other languages; none may appear in an OOD text file.
CLINICAL_WORDS = {
    "patient", "patients", "mg", "ml", "diagnosis", "diagnosed", "symptom", "symptoms", "hospital", "clinic",
    "clinical", "doctor", "nurse", "physician", "medication", "medicine", "dose", "dosage", "prescribed", "pain",
    "fever", "blood", "surgery", "disease", "treatment", "therapy", "tumour", "tumor", "cancer", "ecg", "mri",
    "ultrasound", "pulse", "heart", "infection", "chronic", "acute", "sinus", "arrhythmia", "biopsy", "lesion",
    "arzt", "krankenhaus", "schmerz", "schmerzen", "fieber", "patienten", "médecin", "hôpital", "douleur", "fièvre",
    "médico", "dolor", "fiebre", "paciente", "medico", "ospedale", "dolore", "febbre", "paziente", "dor", "febre",
    "ziekenhuis", "pijn", "koorts", "doktor", "ağrı", "ateş", "lekarz", "szpital", "läkare", "sjukhus",
}


@pytest.fixture(scope="module")
def texts() -> dict[str, list[str]]:
    return text_sets(80, seed=3)


@pytest.fixture(scope="module")
def images() -> dict[str, np.ndarray]:
    return image_sets(12, seed=3, size=64)


@pytest.fixture(scope="module")
def signals() -> dict[str, np.ndarray]:
    return signal_sets(20, seed=3, fs=FS, seconds=10.0)


def bundled_lines(name: str) -> list[str]:
    return files("hfm_compress.data").joinpath("ood_text", f"{name}.txt").read_text(encoding="utf-8").split("\n")[:-1]


def item_rng(seed: int, modality: str, name: str, index: int) -> np.random.Generator:
    """Item `index` of set `name`'s stream, as the module docstring documents it (restated here, not imported)."""
    modality_index = ("text", "image", "signal").index(modality)
    return np.random.default_rng(np.random.SeedSequence([seed, 0x00D, modality_index,
                                                         OOD_KINDS[modality].index(name), index]))


def simulator_seed(rng: np.random.Generator) -> int:
    seed = (1 << 63) | int(rng.integers(0, 1 << 63))
    assert seed >= 2**32  # never an in-distribution (32-bit) seed
    return seed


def _equal(a: object, b: object) -> bool:
    return a == b if isinstance(a, list) else bool(np.array_equal(a, b))


@pytest.mark.parametrize("make, modality, args", [
    (text_sets, "text", dict(n=6)),
    (image_sets, "image", dict(n=4, size=32)),
    (signal_sets, "signal", dict(n=10, seconds=4.0)),
])
def test_same_seed_same_sets_other_seed_differs_larger_n_extends(make, modality: str, args: dict) -> None:
    first, again, other = make(seed=11, **args), make(seed=11, **args), make(seed=12, **args)
    larger = make(seed=11, **{**args, "n": args["n"] + 3})
    assert tuple(first) == OOD_KINDS[modality]
    for name in OOD_KINDS[modality]:
        assert _equal(first[name], again[name]), name
        assert not _equal(first[name], other[name]), name
        assert _equal(larger[name][: args["n"]], first[name]), name


def test_text_sets_are_clean_strings(texts: dict[str, list[str]]) -> None:
    for name, items in texts.items():
        assert len(items) == 80 and len(set(items)) == 80, name
        for text in items:
            assert isinstance(text, str) and text == text.strip() and "\n" not in text, (name, text)
            assert 3 <= len(text.split()) <= 60, (name, text)
    bundled = {name: set(bundled_lines(name)) for name in BUNDLED_TEXT_SETS}
    assert all(set(texts[name]) <= bundled[name] for name in BUNDLED_TEXT_SETS)


def test_random_characters_are_gibberish(texts: dict[str, list[str]]) -> None:
    words = [word for text in texts["random_characters"] for word in text.split()]
    assert sum(any(not c.isalpha() for c in word) for word in words) > len(words) / 4  # digits, punctuation
    assert set("".join(words)) <= set(map(chr, range(33, 127)))
    assert set(words).isdisjoint(word for name in BUNDLED_TEXT_SETS for line in bundled_lines(name)
                                 for word in line.split() if len(word) > 3)


def test_near_ood_sets_come_last_in_each_modality() -> None:
    for modality, near in NEAR_OOD_KINDS.items():
        assert near and OOD_KINDS[modality][-len(near):] == near, modality
    assert set(NEAR_OOD_KINDS["text"]) <= set(BUNDLED_TEXT_SETS)


def _clinical_words(lines: list[str]) -> set[str]:
    return {word for line in lines for word in re.findall(r"[^\W\d_]+", line.lower())} & CLINICAL_WORDS


@pytest.mark.parametrize("name", BUNDLED_TEXT_SETS)
def test_bundled_files_are_varied_and_not_clinical(name: str) -> None:
    lines = bundled_lines(name)
    assert len(lines) >= 80
    assert all(line and line == line.strip() for line in lines), "empty or padded line"
    assert len(set(lines)) == len(lines), "duplicate line"
    assert all(3 <= len(line.split()) <= 60 for line in lines), "line of fewer than 3 or more than 60 words"
    found = _clinical_words(lines)
    if name in NEAR_OOD_KINDS["text"]:  # clinical on purpose: near-OOD by language or species, not by domain
        assert len(found) >= 5, f"{name}.txt should read like clinic notes; clinical words found: {sorted(found)}"
    else:
        assert not found, f"clinical words in {name}.txt: {sorted(found)}"


def test_bundled_files_share_no_line_with_clinical_texts() -> None:
    ood = {line for name in BUNDLED_TEXT_SETS for line in bundled_lines(name)}
    clinical = {line for name in ("calib", "eval", "corpus", "demo_documents") for line in load_texts(name)}
    assert not ood & clinical


def test_text_n_beyond_a_bundled_file_is_refused() -> None:
    smallest = min(len(bundled_lines(name)) for name in BUNDLED_TEXT_SETS)
    assert len(text_sets(smallest)["source_code"]) == smallest
    with pytest.raises(CompressError, match=rf"asks for more; expected n <= {smallest}"):
        text_sets(smallest + 1)


def test_near_ood_texts_are_clinic_notes_in_other_languages_or_species() -> None:
    languages = bundled_lines("clinical_other_languages")
    english = {"the", "and", "with", "was", "for", "after", "since"}
    assert not any(set(line.lower().split()) & english for line in languages)  # not English ...
    assert sum(any(not c.isascii() for c in line) for line in languages) > len(languages) / 2  # ... many accents
    notes = bundled_lines("veterinary_notes")
    animals = re.compile(r"canine|feline|equine|bovine|dog|cat|kitten|pupp|horse|mare|gelding|pony|foal|filly|cow|"
                         r"heifer|calf|bull|ewe|lamb|sheep|goat|rabbit|pig|ferret|cockatiel|bitch|tom|retriever|"
                         r"labrador|spaniel|terrier|collie|shepherd|beagle|dachshund|poodle|boxer|bulldog|pug|husky|"
                         r"greyhound|rottweiler|chihuahua|dane|newfoundland|persian|siamese|shorthair|thoroughbred|"
                         r"warmblood|holstein|shetland|russell|staffordshire|yorkshire|sheepdog", re.IGNORECASE)
    assert all(animals.search(line) for line in notes)  # every note is about an animal


def test_image_shapes_dtypes_ranges(images: dict[str, np.ndarray]) -> None:
    for name, frames in images.items():
        assert frames.shape == ((12, 64, 64, 3) if name in COLOUR_SETS else (12, 64, 64)), name
        assert frames.dtype == np.float32 and np.isfinite(frames).all(), name
        assert frames.min() >= 0.0 and frames.max() <= 1.0, name
    assert image_sets(1, size=32)["natural_colour"].shape == (1, 32, 32, 3)


def test_images_look_like_their_set(images: dict[str, np.ndarray]) -> None:
    blank = images["blank"]
    assert (blank.min(axis=(1, 2)) == blank.max(axis=(1, 2))).all() and not blank[0].any()  # constant; first black
    saturated = images["saturated"]
    assert ((saturated == 1.0).mean(axis=(1, 2)) >= 0.5).all() and saturated.min() >= 0.5
    noise = images["pure_noise"]
    assert abs(noise.mean() - 0.5) < 0.02 and abs(noise.std() - 12 ** -0.5) < 0.02
    colour = images["natural_colour"]
    assert ((colour.max(axis=-1) - colour.min(axis=-1)).mean(axis=(1, 2)) > 0.08).all()  # colourful, not grey
    document = images["document_scan"]
    assert (np.median(document, axis=(1, 2)) > 0.8).all()  # a white page ...
    assert ((document < 0.5).mean(axis=(1, 2)) > 0.01).all()  # ... with dark ink
    xray = images["xray_like"]
    assert (np.percentile(xray, 10, axis=(1, 2)) < 0.15).all() and (xray.max(axis=(1, 2)) > 0.5).all()
    for smooth in (xray, saturated):  # no speckle: away from edges, neighbours differ far less than in noise (~0.3)
        assert (np.median(np.abs(np.diff(smooth, axis=2)), axis=(1, 2)) < 0.05).all()
    assert (np.median(np.abs(np.diff(noise, axis=2)), axis=(1, 2)) > 0.2).all()


def test_inverted_probe_is_a_phantom_flipped_upside_down(images: dict[str, np.ndarray]) -> None:
    frames = images["ultrasound_inverted_probe"]
    for i, frame in enumerate(frames):
        seed = simulator_seed(item_rng(3, "image", "ultrasound_inverted_probe", i))
        phantom = ultrasound.generate(ultrasound.US_CLASSES[i % len(ultrasound.US_CLASSES)], seed, 64)
        assert np.array_equal(frame, phantom.image[::-1]), i
    # The fan widens away from the probe, now upwards: its upper half images more pixels than its lower half.
    assert ((frames[:, :32] > 0).sum(axis=(1, 2)) > (frames[:, 32:] > 0).sum(axis=(1, 2))).all()


def test_overgained_phantoms_saturate_most_tissue(images: dict[str, np.ndarray]) -> None:
    frames = images["ultrasound_overgained"]
    at_one = (frames == 1.0).mean(axis=(1, 2))
    assert at_one.mean() > 0.4 and (at_one > 0.3).all()  # the fan covers ~41-55 % of a frame
    assert ((frames == 1.0).sum(axis=(1, 2)) > 0.8 * (frames > 0).sum(axis=(1, 2))).all()  # most imaged pixels
    for i, frame in enumerate(frames[:4]):
        rng = item_rng(3, "image", "ultrasound_overgained", i)
        source = ultrasound.generate(ultrasound.US_CLASSES[i % len(ultrasound.US_CLASSES)], simulator_seed(rng), 64)
        assert (source.image == 1.0).mean() < 0.01  # control: the scanner's own gain saturates almost nothing
        kept = (frame < 1.0) & (source.image > 0.05)
        gain = frame[kept] / source.image[kept]
        assert np.allclose(gain, gain[0], rtol=1e-5) and OVERGAIN_RANGE[0] <= gain[0] <= OVERGAIN_RANGE[1], i


def _speckle_grain(frame: np.ndarray) -> float:
    """Horizontal lag (pixels, interpolated) where the correlation of imaged (non-zero) pixel pairs falls to 0.5."""
    previous = 1.0
    for lag in range(1, 32):
        a, b = frame[:, :-lag], frame[:, lag:]
        imaged = (a > 0) & (b > 0)
        r = float(np.corrcoef(a[imaged], b[imaged])[0, 1])
        if r < 0.5:
            return lag - 1 + (previous - 0.5) / (previous - r)
        previous = r
    return 32.0


def test_zoomed_phantoms_have_coarser_speckle_and_no_fan_edge(images: dict[str, np.ndarray]) -> None:
    zoomed = images["ultrasound_zoomed"]
    phantoms = images["ultrasound_inverted_probe"]  # real phantoms (flipping keeps the horizontal grain)
    ratio = np.median([_speckle_grain(f) for f in zoomed]) / np.median([_speckle_grain(f) for f in phantoms])
    assert 2.0 <= ratio <= 4.5, ratio
    assert ((zoomed == 0).mean(axis=(1, 2)) < 0.1).all()  # a crop inside the fan: no black surround
    assert ((phantoms == 0).mean(axis=(1, 2)) > 0.4).all()  # control: a whole frame's fan leaves ~half black


def test_signal_shapes_dtypes_ranges(signals: dict[str, np.ndarray]) -> None:
    for name, windows in signals.items():
        assert windows.shape == (20, 10 * FS) and windows.dtype == np.float32, name
        assert np.isfinite(windows).all() and np.abs(windows).max() <= 10.0, name
        assert (windows.std(axis=1) > 0).all(), name
    small = signal_sets(2, seed=1, fs=50, seconds=0.5)
    assert all(w.shape == (2, 25) and np.isfinite(w).all() for w in small.values())


def _dominant_hz(windows: np.ndarray, fs: int) -> np.ndarray:
    spectrum = np.abs(np.fft.rfft(windows - windows.mean(axis=1, keepdims=True), axis=1))
    return np.fft.rfftfreq(windows.shape[1], 1.0 / fs)[spectrum.argmax(axis=1)]


def test_signals_have_their_frequency_content(signals: dict[str, np.ndarray]) -> None:
    emg = signals["emg_noise"]
    power = np.abs(np.fft.rfft(emg, axis=1)) ** 2
    hz = np.fft.rfftfreq(emg.shape[1], 1.0 / FS)
    assert (power[:, (hz >= 15) & (hz <= 125)].sum(axis=1) > 0.95 * power.sum(axis=1)).all()
    assert (np.abs(emg).max(axis=1) < 1.5).all()
    respiration = _dominant_hz(signals["respiration"], FS)
    assert ((respiration >= 0.05) & (respiration <= 0.6)).all()
    mains = _dominant_hz(signals["powerline"], FS)
    assert np.allclose(mains, np.where(np.arange(20) % 2 == 0, 50.0, 60.0), atol=0.5)


def test_step_artefacts_are_jumps_on_a_flat_baseline(signals: dict[str, np.ndarray]) -> None:
    steps = signals["step_artefacts"]
    jumps = np.abs(np.diff(steps, axis=1))
    assert (jumps.max(axis=1) > 0.3).all() and (np.median(jumps, axis=1) < 0.05).all()
    assert np.abs(steps).max() <= RAIL_MV


def _beats(x: np.ndarray, fs: int) -> int:
    """R peaks: |x - local mean| maxima above half the window's largest, at least 0.6 s apart."""
    n = int(0.4 * fs)
    y = np.abs(x - np.convolve(np.pad(x, (n // 2, n - 1 - n // 2), mode="edge"), np.ones(n) / n, mode="valid"))
    peaks: list[int] = []
    for i in np.argsort(-y):
        if y[i] < 0.5 * y.max():
            break
        if all(abs(int(i) - p) >= 0.6 * fs for p in peaks):
            peaks.append(int(i))
    return len(peaks)


def test_wrong_rate_ecg_is_time_stretched(signals: dict[str, np.ndarray]) -> None:
    windows = signals["wrong_rate_ecg"]
    normal = WRONG_RATE_RHYTHMS.index("normal_sinus")
    for index in range(normal, len(windows), len(WRONG_RATE_RHYTHMS)):
        factor = WRONG_RATE_FACTORS[(index // len(WRONG_RATE_RHYTHMS)) % len(WRONG_RATE_FACTORS)]
        # Normal sinus stays under ~100 bpm (mean <= 95 plus modulation); read k times too slow, a 10 s window holds
        # at most 100 / k / 6 + 1 beats.
        assert _beats(windows[index], FS) <= 100 / factor / 6 + 1, index
    in_distribution = ecg.simulate_window("normal_sinus", 5, fs=FS)
    assert _beats(in_distribution, FS) >= 10  # control: the same counter sees 64+ bpm at the true rate


def _near_ood_source(name: str, index: int) -> tuple[str, np.ndarray]:
    """The rhythm and the simulated ECG window that item `index` of near-OOD set `name` was made from (seed 3)."""
    rng = item_rng(3, "signal", name, index)
    rhythm = NEAR_OOD_RHYTHMS[int(rng.integers(len(NEAR_OOD_RHYTHMS)))]
    return rhythm, ecg.simulate_window(rhythm, simulator_seed(rng), fs=FS, seconds=10.0)


def _dominant_excursion(x: np.ndarray) -> float:
    y = x - np.median(x)
    return float(y[np.argmax(np.abs(y))])


def test_lead_reversed_ecg_is_an_inverted_ecg(signals: dict[str, np.ndarray]) -> None:
    windows = signals["ecg_lead_reversed"]
    rhythms = set()
    for i, window in enumerate(windows):
        rhythm, source = _near_ood_source("ecg_lead_reversed", i)
        rhythms.add(rhythm)
        assert np.array_equal(window, -source), i
        if rhythm != "pvc":  # sinus and AF: the dominant R peak points up in the source and down when reversed
            assert _dominant_excursion(source) > 0 > _dominant_excursion(window), (i, rhythm)
    assert len(rhythms) >= 3 and "noise" not in rhythms


def _ppg_peaks(x: np.ndarray, fs: int) -> np.ndarray:
    """Systolic peaks: maxima of x minus its 1 s moving mean within +-0.35 s, above half its 99th percentile."""
    n, half = fs, int(0.35 * fs)
    y = x - np.convolve(np.pad(x, (n // 2, n - 1 - n // 2), mode="edge"), np.ones(n) / n, mode="valid")
    windowed = np.lib.stride_tricks.sliding_window_view(np.pad(y, half, constant_values=-np.inf), 2 * half + 1)
    return np.flatnonzero((y == windowed.max(axis=1)) & (y > 0.5 * np.percentile(y, 99)))


def test_ppg_has_one_regular_pulse_per_beat(signals: dict[str, np.ndarray]) -> None:
    for i, window in enumerate(signals["ppg"]):
        peaks = _ppg_peaks(window, FS)
        assert 50 / 6 - 1 <= len(peaks) <= 110 / 6 * 1.05 + 1, (i, len(peaks))  # 50-110 bpm in 10 s
        spectrum = np.abs(np.fft.rfft(window - window.mean()))
        hz = np.fft.rfftfreq(window.size, 1.0 / FS)
        cardiac = (hz >= 0.75) & (hz <= 2.0)
        assert abs(len(peaks) - 10 * hz[cardiac][spectrum[cardiac].argmax()]) <= 1.5, i  # one peak per beat
        intervals = np.diff(peaks)
        assert intervals.std() < 0.1 * intervals.mean(), i  # regular: no dicrotic hump counted as a beat
        assert 0.4 <= np.ptp(window) <= 4.0, i
    # Smooth: no QRS. The steepest slope of a PPG is far below an ECG's of the same peak-to-peak amplitude.
    ppg_slope, ecg_slope = (np.abs(np.diff(w, axis=1)).max(axis=1) / np.ptp(w, axis=1)
                            for w in (signals["ppg"], signals["ecg_lead_reversed"]))
    assert ppg_slope.max() < np.median(ecg_slope) / 2


def test_ecg_without_high_pass_carries_strong_slow_wander(signals: dict[str, np.ndarray]) -> None:
    for i, window in enumerate(signals["ecg_high_pass_missing"]):
        _, source = _near_ood_source("ecg_high_pass_missing", i)
        added = window.astype(np.float64) - source
        assert np.abs(np.diff(added, 2)).max() < 1e-3, i  # smooth: 0.1-0.3 Hz, nothing of the ECG changed
        assert np.ptp(added) >= 1.0 and np.abs(added).max() <= 1.3 * WANDER_MV_RANGE[1] + 0.5 + 1e-3, i
        baseline, source_baseline = (np.ptp(np.convolve(x, np.ones(FS) / FS, mode="valid")) for x in (window, source))
        assert baseline > 1.5 and baseline > 1.5 * source_baseline, i  # the 1 s mean swings far more than the data's


@pytest.mark.parametrize("call, message", [
    (lambda: text_sets(0), "n = 0 is invalid; expected a whole number from 1"),
    (lambda: text_sets(2.0), "n = 2.0 is invalid"),
    (lambda: text_sets(True), "n = True is invalid"),
    (lambda: text_sets(3, seed=-1), "seed -1 is invalid; expected a whole number >= 0"),
    (lambda: image_sets(0), "n = 0 is invalid"),
    (lambda: image_sets(2, seed=1.5), "seed 1.5 is invalid"),
    (lambda: image_sets(2, size=16), "size 16 is invalid; expected a whole number of pixels from 32 to 1024"),
    (lambda: image_sets(2, size=64.0), "size 64.0 is invalid"),
    (lambda: signal_sets(-3), "n = -3 is invalid"),
    (lambda: signal_sets(2, fs=250.5), "fs = 250.5 is invalid; expected a whole number of Hz from 50 to 2000"),
    (lambda: signal_sets(2, fs=10), "fs = 10 is invalid"),
    (lambda: signal_sets(2, seconds=0), "length 0 s is invalid; expected seconds above 0"),
    (lambda: signal_sets(2, seconds=float("nan")), "length nan s is invalid"),
    (lambda: signal_sets(2, seconds="10"), "length '10' s is invalid"),
])
def test_bad_arguments_are_refused(call, message: str) -> None:
    with pytest.raises(CompressError, match=re.escape(message)):
        call()
