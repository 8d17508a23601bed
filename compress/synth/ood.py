"""Deterministic out-of-distribution (OOD) evaluation sets, per modality, for measuring OOD detectors.

An OOD detector is fitted on in-distribution data (clinical text, B-mode phantoms, simulated ECG) and then scored by
its AUROC at separating in-distribution inputs from these sets. Every set here is disjoint from anything a detector is
fitted on: the texts are bundled lines that share nothing with the clinical text files, and the images and signals
are drawn from seed streams no in-distribution generator uses (see Determinism). Each set is what a deployed device
could plausibly be handed by mistake, by misuse or by a broken sensor, as raw input before any preprocessing.

Each modality has far-OOD sets first (obviously not the data: code, a photo, mains hum; a detector should separate them
perfectly, and usually does) and near-OOD sets last (`NEAR_OOD_KINDS`): inputs that look almost like the
in-distribution data but come from a different device, lead, language or species. These are what tells a clinic how
well a detector guards the model's edge, where its AUROC falls below 1.

Text (one raw string per item; `text_sets`):

- `non_clinical_prose`: everyday, legal, sports, cooking and finance prose. English, fluent and well formed like a
  clinical note, but about the wrong domain: a domain-shift OOD set, the hardest for a clinical text model.
- `source_code`: single lines of Python, JavaScript, SQL and shell (and a few of Rust, Go, Java, C). Symbols,
  identifiers and syntax no clinical vocabulary holds.
- `other_languages`: everyday, non-medical sentences in German, French, Spanish, Italian, Portuguese, Dutch,
  Turkish, Polish, Swedish, Finnish, Indonesian and Czech, mixed. A language shift: the tokenizer splits them into
  rare sub-words.
- `random_characters`: "words" of random letters, digits and punctuation generated from the seed: gibberish, as
  from a corrupted file or a keyboard mash.

Near-OOD text:

- `clinical_other_languages`: fictional clinic-note sentences (symptoms, findings, vital signs, medications, plans)
  in German, French, Spanish, Italian, Portuguese, Dutch, Turkish and Polish. The same domain, register and
  structure as the in-distribution notes, with numbers, units and drug names a model recognises, but in a language
  it was not trained on: a note from a foreign colleague or a translated record.
- `veterinary_notes`: fictional veterinary clinical notes in English (dogs, cats, horses, cattle, sheep, rabbits and
  a few others): the same clinical English, terse note style, symptoms, drugs and doses, but about another species,
  so breeds, husbandry and veterinary conditions replace human anatomy and care.

All but `random_characters` are sampled without replacement from hand-written files in
`hfm_compress/data/ood_text/`, so `n` cannot exceed a file's line count. The two near-OOD files are clinical on
purpose; like the others they share no line with the clinical text files.

Images (values in [0, 1] as the device gets a frame; `image_sets`; grey sets are (n, size, size) float32, colour
sets (n, size, size, 3)):

- `natural_colour`: colourful outdoor-like scenes: a sky gradient with clouds, a hilly horizon, a tree line of
  foliage-like noise, textured ground and saturated coloured shapes (flowers, a sun, walls). Colour, and no probe
  fan, no speckle: the camera photo a user uploads instead of a scan.
- `blank`: constant frames at random levels, every fourth one black: a disconnected probe or an empty buffer.
- `saturated`: almost all pixels clipped at 1.0 with faint structure below: gain far too high, an overexposed frame.
- `xray_like`: smooth bright anatomy-like silhouettes (a chest with lungs, spine, heart and ribs, or long bones in
  soft tissue) on a dark background, without speckle: the wrong imaging modality.
- `document_scan`: a white page with dark text-like lines, slightly skewed: a scanned letter or report.
- `pure_noise`: independent uniform random pixels: no image at all.

Near-OOD images (grey), each a real B-mode phantom (`hfm_compress.synth.ultrasound.generate`, labels cycling through
`US_CLASSES` by item index) altered the way a wrong device or setting would alter it:

- `ultrasound_inverted_probe`: the phantom flipped upside down, probe at the bottom and the fan opening upwards: a
  frame exported with the wrong orientation (or a display's flip setting). Every pixel statistic is the data's.
- `ultrasound_overgained`: the phantom's grey levels multiplied by 2.5-4 and clipped to 1: gain far beyond the
  scanner's range, so most tissue saturates white and only cysts and shadows keep structure. Unlike `saturated`
  the fan, its black surround and the lesions are still there.
- `ultrasound_zoomed`: a square of 35-50 % of the frame's side lying wholly inside the fan, nearest the frame's
  centre (smaller where a narrow fan holds no square that large; the largest always exceeds ~45 %), resized back to
  `size` (bilinear): speckle 2-3 times coarser and no fan edge or black surround, as a zoomed frame or one from a
  probe of another frequency.

Signals (float32 (n, samples) in mV-like units, to be read as sampled at `fs`; `signal_sets`):

- `emg_noise`: band-limited (20-120 Hz, or below Nyquist) Gaussian muscle-noise bursts on a low background, peak
  amplitude about 0.05-0.5 mV, with no heartbeat: the electrodes record only a muscle.
- `respiration`: a 0.1-0.5 Hz breathing waveform (0.2-1 peak amplitude, slowly varying rate) with small noise: a
  respiration-belt or impedance channel connected to the ECG input.
- `wrong_rate_ecg`: a real simulated ECG (`hfm_compress.synth.ecg`; sinus, bradycardia, tachycardia, AF and PVC
  rhythms) recorded at `fs * k` for k in `WRONG_RATE_FACTORS` but declared at `fs`, so its time axis is stretched by
  k: heart rate k times too slow, QRS complexes k times too wide. Morphology an ECG model never saw, on a
  plausible-looking trace: a misconfigured sampling rate.
- `powerline`: a 50 or 60 Hz mains sinusoid with small 3rd and 5th harmonics (those below Nyquist) and noise: the
  leads are off and only pick up mains. At fs <= 120 Hz the fundamental aliases, as on an ADC without an
  anti-aliasing filter.
- `step_artefacts`: electrode pops on a flat baseline: level steps that recover exponentially (the amplifier's
  high-pass), narrow spikes and pops (a spike with a fast decay), clipped at a +-5 mV rail.

Near-OOD signals, two of them a real simulated ECG window (`ecg.simulate_window`, a rhythm drawn at random from
`NEAR_OOD_RHYTHMS`, the rhythms with beats) at the declared `fs`:

- `ecg_lead_reversed`: the ECG multiplied by -1, as after a limb-lead (or electrode) reversal: the same rhythm,
  rate and noise, with inverted QRS complexes, P and T waves.
- `ppg`: a photoplethysmogram: one smooth pulse per beat at 50-110 bpm (with slow rate variability), each a fast
  systolic upstroke and peak followed by a dicrotic notch and a smaller diastolic hump (25-55 % of the systolic
  peak), peak-to-peak amplitude 0.5-2, slow baseline drift (0.05-0.3 Hz, 10-40 % of the amplitude), a small offset
  and noise: a wearable's optical pulse channel read as its ECG channel. A quasi-periodic cardiac signal at the
  right rate, without the narrow QRS.
- `ecg_high_pass_missing`: the ECG plus strong baseline wander, a 0.1-0.3 Hz sine of 1-3 mV amplitude and a weaker
  one (up to 30 % of it) at another 0.1-0.3 Hz frequency, plus a 0-0.5 mV offset of either sign, not clipped: a
  DC-coupled recorder without its high-pass filter (outside its noise class the ECG simulator's wander
  has an rms under 0.3 mV; this one's is 0.7-2.2 mV).

Determinism: a set depends only on its arguments. Item `i` of kind `k` draws from
`numpy.random.SeedSequence([seed, 0x00D, modality, k, i])` (modality 0 text, 1 image, 2 signal); a text set's
sampling order from `SeedSequence([seed, 0x00D, 0, k])`. The in-distribution generators (`ecg.make_dataset`,
`ultrasound.make_dataset`) derive item seeds from `[seed, class, i]` with class < 13, so whatever the seeds, no OOD
stream repeats an in-distribution one (SeedSequence pads a shorter entropy list with zeros, so the second word must
differ, and 0x00D is larger than any class index). A larger `n` with the same seed starts with the items of a
smaller one. The `wrong_rate_ecg` windows pass a 32-bit seed derived from their own stream to the ECG simulator.
The near-OOD sets built on a phantom or an ECG window pass the simulator a seed drawn from their own stream with its
top bit set, `2**63 | rng.integers(0, 2**63)` (the ECG sets draw the rhythm first, then the seed, then any other
parameter; the image sets draw the seed first): in-distribution frames and windows use 32-bit seeds (the data sets'
`generate_state(1)[0]`, the golden inputs' small indices), so no near-OOD item repeats one, whatever the seeds.
Everything costs milliseconds per item on one core (vectorised numpy, FFT filters).
"""

from __future__ import annotations

import math
import string
from functools import lru_cache
from importlib.resources import files

import numpy as np

from hfm_compress.errors import CompressError
from hfm_compress.synth import ecg, ultrasound

# Near-OOD sets (almost the data: another device, lead, language or species), last in each modality's kinds.
NEAR_OOD_KINDS = {
    "text": ("clinical_other_languages", "veterinary_notes"),
    "image": ("ultrasound_inverted_probe", "ultrasound_overgained", "ultrasound_zoomed"),
    "signal": ("ecg_lead_reversed", "ppg", "ecg_high_pass_missing"),
}
OOD_KINDS = {
    "text": ("non_clinical_prose", "source_code", "other_languages", "random_characters",
             *NEAR_OOD_KINDS["text"]),
    "image": ("natural_colour", "blank", "saturated", "xray_like", "document_scan", "pure_noise",
              *NEAR_OOD_KINDS["image"]),
    "signal": ("emg_noise", "respiration", "wrong_rate_ecg", "powerline", "step_artefacts",
               *NEAR_OOD_KINDS["signal"]),
}
COLOUR_SETS = frozenset({"natural_colour"})  # image sets shaped (n, size, size, 3); the others are grey
BUNDLED_TEXT_SETS = ("non_clinical_prose", "source_code", "other_languages",  # files in hfm_compress/data/ood_text
                     "clinical_other_languages", "veterinary_notes")
WRONG_RATE_FACTORS = (2.5, 4.0)  # true sampling rate / declared rate of the `wrong_rate_ecg` windows
WRONG_RATE_RHYTHMS = tuple(r for r in ecg.ECG_CLASSES if r != "noise")  # ECG with beats to stretch
NEAR_OOD_RHYTHMS = WRONG_RATE_RHYTHMS  # the rhythms of the near-OOD ECG windows (beats to invert or to wander)
OVERGAIN_RANGE = (2.5, 4.0)  # grey-level factor of `ultrasound_overgained`
ZOOM_CROP_RANGE = (0.35, 0.5)  # crop side / frame side of `ultrasound_zoomed`
PPG_BPM_RANGE = (50.0, 110.0)  # mean pulse rate of `ppg`
WANDER_MV_RANGE = (1.0, 3.0)  # main wander amplitude of `ecg_high_pass_missing`
MAX_N = 10_000
MIN_SIZE, MAX_SIZE = 32, 1024
MIN_FS, MAX_FS = ecg.MIN_FS, ecg.MAX_FS
MAX_SECONDS = ecg.MAX_WINDOW_SECONDS
RAIL_MV = 5.0  # amplifier rail of the step-artefact set

_OOD = 0x00D  # second seed word of every OOD stream; in-distribution generators put a class index (< 13) there
_TEXT, _IMAGE, _SIGNAL = range(3)
_RANDOM_ALPHABETS = (
    string.ascii_letters + string.digits + string.punctuation,
    string.ascii_lowercase,
    string.digits + string.punctuation,
)


def text_sets(n: int = 60, seed: int = 0) -> dict[str, list[str]]:
    """The text OOD sets, name -> `n` raw strings, in `OOD_KINDS["text"]` order, deterministic for (n, seed)."""
    _check_n(n)
    _check_seed(seed)
    for name in BUNDLED_TEXT_SETS:
        available = len(_bundled_lines(name))
        if n > available:
            raise CompressError(f"OOD text set {name!r} bundles {available} lines and n = {n} asks for more; "
                                f"expected n <= {min(len(_bundled_lines(m)) for m in BUNDLED_TEXT_SETS)}")
    sets: dict[str, list[str]] = {}
    for kind, name in enumerate(OOD_KINDS["text"]):
        if name in BUNDLED_TEXT_SETS:
            lines = _bundled_lines(name)
            order = np.random.default_rng(np.random.SeedSequence([seed, _OOD, _TEXT, kind])).permutation(len(lines))
            sets[name] = [lines[int(j)] for j in order[:n]]
        else:
            sets[name] = [_random_characters(_rng(seed, _TEXT, kind, i)) for i in range(n)]
    return sets


def image_sets(n: int = 48, seed: int = 0, size: int = 128) -> dict[str, np.ndarray]:
    """The image OOD sets, name -> float32 frames in [0, 1]: (n, size, size), or (n, size, size, 3) for
    `COLOUR_SETS`; in `OOD_KINDS["image"]` order, deterministic for (n, seed, size)."""
    _check_n(n)
    _check_seed(seed)
    if not isinstance(size, (int, np.integer)) or isinstance(size, bool) or not MIN_SIZE <= size <= MAX_SIZE:
        raise CompressError(f"OOD image size {size!r} is invalid; expected a whole number of pixels from {MIN_SIZE} "
                            f"to {MAX_SIZE}")
    size = int(size)
    makers = {"natural_colour": _natural_colour, "blank": _blank, "saturated": _saturated, "xray_like": _xray_like,
              "document_scan": _document_scan, "pure_noise": _pure_noise,
              "ultrasound_inverted_probe": _inverted_probe, "ultrasound_overgained": _overgained,
              "ultrasound_zoomed": _zoomed}
    sets = {}
    for kind, name in enumerate(OOD_KINDS["image"]):
        shape = (n, size, size, 3) if name in COLOUR_SETS else (n, size, size)
        frames = np.empty(shape, dtype=np.float32)
        for i in range(n):
            frame = makers[name](_rng(seed, _IMAGE, kind, i), size, i)
            frames[i] = np.clip(frame, 0.0, 1.0)
        sets[name] = frames
    return sets


def signal_sets(n: int = 48, seed: int = 0, fs: int = 250, seconds: float = 10.0) -> dict[str, np.ndarray]:
    """The signal OOD sets, name -> float32 (n, samples) windows in mV-like units to be read as sampled at `fs`; in
    `OOD_KINDS["signal"]` order, deterministic for (n, seed, fs, seconds)."""
    _check_n(n)
    _check_seed(seed)
    if not isinstance(fs, (int, np.integer)) or isinstance(fs, bool) or not MIN_FS <= fs <= MAX_FS:
        raise CompressError(f"OOD signal sampling rate fs = {fs!r} is invalid; expected a whole number of Hz from "
                            f"{MIN_FS} to {MAX_FS}")
    if not isinstance(seconds, (int, float, np.integer, np.floating)) or isinstance(seconds, bool) \
            or not 0 < seconds <= MAX_SECONDS:
        raise CompressError(f"OOD signal window length {seconds!r} s is invalid; expected seconds above 0 and at "
                            f"most {MAX_SECONDS:g}")
    fs, samples = int(fs), max(1, int(round(float(seconds) * int(fs))))
    makers = {"emg_noise": _emg_noise, "respiration": _respiration, "wrong_rate_ecg": _wrong_rate_ecg,
              "powerline": _powerline, "step_artefacts": _step_artefacts, "ecg_lead_reversed": _ecg_lead_reversed,
              "ppg": _ppg, "ecg_high_pass_missing": _ecg_high_pass_missing}
    sets = {}
    for kind, name in enumerate(OOD_KINDS["signal"]):
        windows = np.empty((n, samples), dtype=np.float32)
        for i in range(n):
            windows[i] = makers[name](_rng(seed, _SIGNAL, kind, i), fs, samples, i, seed)
        sets[name] = windows
    return sets


# ---------------------------------------------------------------------------------------------------------- checks


def _check_n(n: object) -> None:
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or not 1 <= n <= MAX_N:
        raise CompressError(f"OOD set size n = {n!r} is invalid; expected a whole number from 1 to {MAX_N}")


def _check_seed(seed: object) -> None:
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise CompressError(f"OOD seed {seed!r} is invalid; expected a whole number >= 0")


def _rng(seed: int, modality: int, kind: int, index: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(seed), _OOD, modality, kind, index]))


def _simulator_seed(rng: np.random.Generator) -> int:
    """A seed for the phantom or ECG simulator with its top bit set (>= 2**63): in-distribution seeds are 32-bit."""
    return (1 << 63) | int(rng.integers(0, 1 << 63))


# ------------------------------------------------------------------------------------------------------------ text


@lru_cache(maxsize=None)
def _bundled_lines(name: str) -> tuple[str, ...]:
    text = files("hfm_compress.data").joinpath("ood_text").joinpath(f"{name}.txt").read_text(encoding="utf-8")
    return tuple(line.strip() for line in text.splitlines() if line.strip())


def _random_characters(rng: np.random.Generator) -> str:
    """3-40 'words' of 1-12 random characters from one of three alphabets (mixed, lowercase, digits+punctuation)."""
    alphabet = np.array(list(_RANDOM_ALPHABETS[int(rng.integers(len(_RANDOM_ALPHABETS)))]))
    lengths = rng.integers(1, 13, int(rng.integers(3, 41)))
    chars = alphabet[rng.integers(0, alphabet.size, int(lengths.sum()))]
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    return " ".join("".join(chars[a:b]) for a, b in zip(bounds[:-1], bounds[1:]))


# ---------------------------------------------------------------------------------------------------------- images


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates (y, x) in [0, 1], each (size, size) float32."""
    c = (np.arange(size, dtype=np.float32) + 0.5) / size
    return c[:, None].repeat(size, axis=1), c[None, :].repeat(size, axis=0)


def _fractal(rng: np.random.Generator, size: int, beta: float) -> np.ndarray:
    """Zero-mean unit-std 1/f**beta noise, (size, size) float32: smooth for beta ~2, rough for beta ~1."""
    fy = np.fft.fftfreq(size)[:, None]
    fx = np.fft.rfftfreq(size)[None, :]
    f = np.hypot(fy, fx)
    f[0, 0] = 1.0
    spectrum = np.fft.rfft2(rng.standard_normal((size, size))) / f**beta
    spectrum[0, 0] = 0.0
    field = np.fft.irfft2(spectrum, s=(size, size))
    return (field / (field.std() + 1e-12)).astype(np.float32)


def _blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur (sigma in pixels) as a transfer function, on a reflect-padded copy so edges do not wrap."""
    if sigma <= 0:
        return image
    pad = int(math.ceil(3 * sigma))
    padded = np.pad(image, pad, mode="reflect")
    h, w = padded.shape
    fy, fx = np.fft.fftfreq(h)[:, None], np.fft.rfftfreq(w)[None, :]
    transfer = np.exp(-2 * np.pi**2 * sigma**2 * (fy**2 + fx**2))
    return np.fft.irfft2(np.fft.rfft2(padded) * transfer, s=(h, w))[pad:-pad, pad:-pad].astype(np.float32)


def _hsv(h: float, s: float, v: float) -> np.ndarray:
    """An HSV colour (each in [0, 1]) as RGB."""
    k = (np.array([5.0, 3.0, 1.0]) + 6.0 * h) % 6.0
    return (v - v * s * np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)).astype(np.float32)


def _natural_colour(rng: np.random.Generator, size: int, index: int) -> np.ndarray:
    y, x = _grid(size)
    skies = {"day": ((0.20, 0.42, 0.85), (0.75, 0.85, 0.95)), "sunset": ((0.30, 0.25, 0.55), (0.98, 0.60, 0.30)),
             "overcast": ((0.55, 0.58, 0.62), (0.80, 0.82, 0.84))}
    top, low = (np.array(c, dtype=np.float32) for c in skies[list(skies)[int(rng.integers(len(skies)))]])
    top, low = np.clip(top + rng.normal(0, 0.05, 3), 0, 1), np.clip(low + rng.normal(0, 0.05, 3), 0, 1)
    # Horizon: a base height plus a few hills (sines) per column.
    xs = x[0]
    horizon = np.full(size, rng.uniform(0.35, 0.65), dtype=np.float32)
    for k in range(1, 4):
        horizon += rng.uniform(0.0, 0.06) / k * np.sin(2 * np.pi * (k * rng.uniform(0.5, 1.5) * xs
                                                                     + rng.uniform(0, 1)))
    h = horizon[None, :]
    depth = np.clip(y / h, 0.0, 1.0)[..., None]
    image = top * (1 - depth**1.5) + low * depth**1.5
    clouds = np.clip((_fractal(rng, size, 2.2) - rng.uniform(0.0, 1.2)) * 0.6, 0.0, 1.0)[..., None]
    image = image * (1 - clouds) + np.float32(0.95) * clouds
    if rng.uniform() < 0.5:  # a sun
        cy, cx, r = rng.uniform(0.05, 0.3), rng.uniform(0.1, 0.9), rng.uniform(0.03, 0.08)
        sun = np.clip((r - np.hypot(y - cy, x - cx)) * size, 0.0, 1.0)[..., None]
        image = image * (1 - sun) + np.array([1.0, 0.92, 0.5], dtype=np.float32) * sun
    # Ground: a colour with a smooth texture, darker far away (up) and per-channel variation.
    ground_colours = ((0.25, 0.50, 0.15), (0.45, 0.35, 0.20), (0.85, 0.75, 0.50), (0.35, 0.55, 0.25))
    ground_base = np.array(ground_colours[int(rng.integers(len(ground_colours)))], dtype=np.float32)
    texture = _fractal(rng, size, 1.6)
    ground = ground_base * (0.75 + 0.25 * np.clip((y - h) / (1 - h + 1e-6), 0, 1))[..., None]
    ground = ground * (1 + 0.18 * texture)[..., None] + 0.03 * rng.standard_normal(3).astype(np.float32)
    below = np.clip((y - h) * size + 0.5, 0.0, 1.0)[..., None]
    image = image * (1 - below) + ground * below
    # A tree line: foliage-like rough noise in a band above the horizon with a ragged top.
    if rng.uniform() < 0.75:
        rough = _fractal(rng, size, 1.1)
        tree_height = rng.uniform(0.04, 0.2) * (0.6 + 0.4 * np.abs(_fractal(rng, size, 2.0)[0]))
        band = (y > h - tree_height[None, :]) & (y <= h + 0.02)
        leaves = (band & (rough > rng.uniform(-1.0, 0.0))).astype(np.float32)[..., None]
        green = np.array([0.10, 0.35, 0.10], dtype=np.float32) * (0.7 + 0.3 * np.tanh(rough))[..., None]
        image = image * (1 - leaves) + green * leaves
    # Saturated coloured shapes: flowers (discs) on the ground, walls or boxes (rectangles).
    for _ in range(int(rng.integers(2, 9))):
        colour = _hsv(rng.uniform(), rng.uniform(0.6, 1.0), rng.uniform(0.6, 1.0))
        cy, cx = rng.uniform(0.3, 1.0), rng.uniform(0.0, 1.0)
        if rng.uniform() < 0.6:
            r = rng.uniform(0.01, 0.06)
            shape = np.clip((r - np.hypot(y - cy, x - cx)) * size + 0.5, 0.0, 1.0)
        else:
            hh, hw = rng.uniform(0.03, 0.15), rng.uniform(0.03, 0.2)
            shape = ((np.abs(y - cy) < hh) & (np.abs(x - cx) < hw)).astype(np.float32)
        shade = (1 + 0.1 * texture)[..., None]
        image = image * (1 - shape[..., None]) + colour * shade * shape[..., None]
    return image


def _blank(rng: np.random.Generator, size: int, index: int) -> np.ndarray:
    level = 0.0 if index % 4 == 0 else rng.uniform(0.0, 1.0)
    return np.full((size, size), level, dtype=np.float32)


def _saturated(rng: np.random.Generator, size: int, index: int) -> np.ndarray:
    """Clipped at 1 except where faint structure dips just below: at least ~70 % of pixels at exactly 1.0."""
    structure = _fractal(rng, size, rng.uniform(1.5, 2.5))
    return 1.0 + rng.uniform(0.05, 0.2) + rng.uniform(0.02, 0.08) * structure


def _capsule(y: np.ndarray, x: np.ndarray, a: tuple[float, float], b: tuple[float, float]) -> np.ndarray:
    """Distance of each pixel from the segment a-b (points as (y, x))."""
    ay, ax = a
    dy, dx = b[0] - ay, b[1] - ax
    t = np.clip(((y - ay) * dy + (x - ax) * dx) / (dy * dy + dx * dx + 1e-12), 0.0, 1.0)
    return np.hypot(y - ay - t * dy, x - ax - t * dx)


def _xray_like(rng: np.random.Generator, size: int, index: int) -> np.ndarray:
    y, x = _grid(size)
    image = np.full((size, size), rng.uniform(0.0, 0.08), dtype=np.float32)
    if index % 2 == 0:  # chest: torso, dark lungs, heart, spine, ribs, clavicles
        cx = 0.5 + rng.uniform(-0.05, 0.05)
        image += rng.uniform(0.4, 0.55) * ((((x - cx) / rng.uniform(0.36, 0.46)) ** 2
                                            + ((y - 0.62) / 0.6) ** 2) < 1)
        lungs = np.zeros_like(image, dtype=bool)
        for side in (-1, 1):
            lx, rx, ry = cx + side * rng.uniform(0.14, 0.18), rng.uniform(0.1, 0.14), rng.uniform(0.24, 0.3)
            lungs |= (((x - lx) / rx) ** 2 + ((y - 0.5) / ry) ** 2) < 1
        image -= rng.uniform(0.2, 0.3) * lungs
        image += rng.uniform(0.12, 0.2) * ((((x - cx - 0.05) / 0.12) ** 2 + ((y - 0.63) / 0.11) ** 2) < 1)
        image += rng.uniform(0.2, 0.3) * ((np.abs(x - cx) < 0.03) & (y > 0.15))
        spacing, first = rng.uniform(0.045, 0.06), rng.uniform(0.28, 0.33)
        for k in range(int(rng.integers(6, 10))):
            arc = first + k * spacing + 0.9 * (x - cx) ** 2
            image += 0.08 * ((np.abs(y - arc) < 0.008) & lungs)
        for side in (-1, 1):
            image += 0.15 * (_capsule(y, x, (0.24, cx + side * 0.04), (0.2, cx + side * 0.3)) < 0.012)
    else:  # long bones in soft tissue: cortex bright, medulla darker, rounded ends
        for _ in range(int(rng.integers(1, 3))):
            angle = rng.uniform(-0.6, 0.6) + np.pi / 2
            cy, cx, half = rng.uniform(0.35, 0.65), rng.uniform(0.3, 0.7), rng.uniform(0.3, 0.45)
            a = (cy - half * np.sin(angle), cx - half * np.cos(angle))
            b = (cy + half * np.sin(angle), cx + half * np.cos(angle))
            r = rng.uniform(0.03, 0.06)
            distance = _capsule(y, x, a, b)
            image += rng.uniform(0.2, 0.3) * (distance < 2.4 * r)
            image += rng.uniform(0.35, 0.45) * (distance < r)
            image -= rng.uniform(0.1, 0.15) * (distance < 0.55 * r)
            for end in (a, b):
                image += 0.3 * (np.hypot(y - end[0], x - end[1]) < 1.4 * r) * (distance >= r)
    heel = 1.0 + rng.uniform(-0.1, 0.1) * (x - 0.5)  # anode heel effect: brightness falls across the field
    return _blur(image * heel, max(0.6, size * rng.uniform(0.004, 0.01)))


def _document_scan(rng: np.random.Generator, size: int, index: int) -> np.ndarray:
    y, x = _grid(size)
    py, px = y * size, x * size  # pixel units
    page = rng.uniform(0.88, 1.0) + 0.01 * _fractal(rng, size, 2.0) - rng.uniform(0.0, 0.05) * (x - 0.5) ** 2
    pitch = max(size * rng.uniform(0.03, 0.06), rng.uniform(5.0, 7.0))  # line distance, >= 5 px for legible rows
    text_height = rng.uniform(0.45, 0.65)  # fraction of the pitch an ink row occupies
    left, right = size * rng.uniform(0.06, 0.15), size * (1 - rng.uniform(0.06, 0.15))
    top, bottom = size * rng.uniform(0.05, 0.12), size * (1 - rng.uniform(0.05, 0.12))
    cell = max(1.0, pitch * rng.uniform(0.17, 0.25))  # half a character's width, at least a pixel
    lines, cells = max(1, int((bottom - top) / pitch)), int(math.ceil((right - left) / cell)) + 1
    words = np.zeros((lines, cells), dtype=bool)
    for line in range(lines):
        if rng.uniform() < 0.12:  # a paragraph break
            continue
        end = cells if rng.uniform() > 0.15 else int(cells * rng.uniform(0.2, 0.8))  # a paragraph's last line
        c = 0
        while c < end:
            length = 2 * int(rng.integers(2, 11))  # 2-10 characters, two cells each
            words[line, c : min(c + length, end)] = True
            c += length + 2
    glyphs = rng.uniform(size=(lines, 4, cells)) < 0.55  # 4 sub-rows per text row: strokes of letters
    skewed = py - rng.uniform(-0.02, 0.02) * (px - size / 2) - top
    line = np.floor(skewed / pitch).astype(np.intp)
    within = (skewed - line * pitch) / (pitch * text_height)
    column = np.floor((px - left) / cell).astype(np.intp)
    inside = (line >= 0) & (line < lines) & (within < 1) & (column >= 0) & (column < cells) & (px < right)
    li, ri, ci = np.where(inside, line, 0), np.clip((within * 4).astype(np.intp), 0, 3), np.where(inside, column, 0)
    ink = (inside & words[li, ci] & glyphs[li, ri, ci]).astype(np.float32)
    image = page * (1 - ink) + rng.uniform(0.02, 0.25) * ink
    image = _blur(image, rng.uniform(0.3, 0.6))
    return image + rng.uniform(0.0, 0.01) * rng.standard_normal((size, size)).astype(np.float32)


def _pure_noise(rng: np.random.Generator, size: int, index: int) -> np.ndarray:
    return rng.random((size, size), dtype=np.float32)


def _phantom(rng: np.random.Generator, size: int, index: int) -> ultrasound.Phantom:
    """A real B-mode phantom: label cycling through `US_CLASSES` by index, seed from the item's own stream."""
    return ultrasound.generate(ultrasound.US_CLASSES[index % len(ultrasound.US_CLASSES)], _simulator_seed(rng), size)


def _inverted_probe(rng: np.random.Generator, size: int, index: int) -> np.ndarray:
    return _phantom(rng, size, index).image[::-1]


def _overgained(rng: np.random.Generator, size: int, index: int) -> np.ndarray:
    image = _phantom(rng, size, index).image
    return np.minimum(image * np.float32(rng.uniform(*OVERGAIN_RANGE)), 1.0)


def _zoomed(rng: np.random.Generator, size: int, index: int) -> np.ndarray:
    """The square of 35-50 % of the side inside the fan nearest the frame's centre (shrunk until one fits the fan),
    resized back to `size`."""
    phantom = _phantom(rng, size, index)
    side = max(2, int(round(size * rng.uniform(*ZOOM_CROP_RANGE))))
    # Outside-fan pixels per side x side box (an integral image); boxes with none lie wholly inside the fan.
    outside = np.pad(np.cumsum(np.cumsum(~phantom.fan, axis=0, dtype=np.int64), axis=1), ((1, 0), (1, 0)))
    while True:  # a narrow fan holds no square of the drawn side: shrink it (the largest always exceeds ~45 %)
        count = outside[side:, side:] - outside[:-side, side:] - outside[side:, :-side] + outside[:-side, :-side]
        rows, cols = np.nonzero(count == 0)
        if rows.size or side <= 2:
            break
        side -= 1
    if rows.size:
        centre = (size - side) / 2
        best = int(np.argmin((rows - centre) ** 2 + (cols - centre) ** 2))
        top, left = int(rows[best]), int(cols[best])
    else:  # not even a 2-pixel square inside the fan (never drawn): the central crop
        top = left = (size - side) // 2
    return _resize(phantom.image[top : top + side, left : left + side], size)


def _resize(image: np.ndarray, size: int) -> np.ndarray:
    """Bilinear resize of an (h, w) image to (size, size), pixel centres aligned."""
    for axis in (0, 1):
        n = image.shape[axis]
        position = np.clip((np.arange(size) + 0.5) * n / size - 0.5, 0.0, n - 1)
        low = np.floor(position).astype(np.intp)
        high = np.minimum(low + 1, n - 1)
        weight = (position - low).astype(np.float32)
        if axis == 0:
            image = image[low] * (1 - weight)[:, None] + image[high] * weight[:, None]
        else:
            image = image[:, low] * (1 - weight) + image[:, high] * weight
    return image.astype(np.float32)


# --------------------------------------------------------------------------------------------------------- signals


def _band_noise(rng: np.random.Generator, samples: int, fs: int, low: float, high: float) -> np.ndarray:
    """Unit-std Gaussian noise keeping only the frequencies in [low, high] Hz (an FFT brick-wall band-pass)."""
    spectrum = np.fft.rfft(rng.standard_normal(samples))
    f = np.fft.rfftfreq(samples, 1.0 / fs)
    noise = np.fft.irfft(spectrum * ((f >= low) & (f <= high)), n=samples)
    return noise / (noise.std() or 1.0)


def _emg_noise(rng: np.random.Generator, fs: int, samples: int, index: int, seed: int) -> np.ndarray:
    high = min(120.0, 0.45 * fs)
    noise = _band_noise(rng, samples, fs, min(20.0, 0.5 * high), high)
    t = np.arange(samples) / fs
    seconds = samples / fs
    envelope = np.full(samples, rng.uniform(0.05, 0.2))
    for _ in range(int(rng.integers(1, 6))):
        onset, duration = rng.uniform(-0.5, seconds), rng.uniform(0.2, 2.0)
        phase = (t - onset) / duration
        envelope += np.where((phase >= 0) & (phase < 1), np.sin(np.pi * np.clip(phase, 0, 1)) ** 2, 0.0)
    return rng.uniform(0.05, 0.5) / 3 * np.minimum(envelope, 1.0) * noise  # std amplitude/3: peaks ~amplitude


def _respiration(rng: np.random.Generator, fs: int, samples: int, index: int, seed: int) -> np.ndarray:
    t = np.arange(samples) / fs
    rate = rng.uniform(0.1, 0.5) * (1 + rng.uniform(0.0, 0.1) * np.sin(2 * np.pi * rng.uniform(0.01, 0.05) * t
                                                                        + rng.uniform(0, 2 * np.pi)))
    phase = 2 * np.pi * np.cumsum(rate) / fs + rng.uniform(0, 2 * np.pi)
    wave = np.sin(phase) + rng.uniform(0.1, 0.3) * np.sin(2 * phase + rng.uniform(0, 2 * np.pi))  # inhale != exhale
    wave *= rng.uniform(0.2, 1.0) / 1.3
    return wave + rng.uniform(-0.1, 0.1) + rng.uniform(0.005, 0.03) * rng.standard_normal(samples)


def _wrong_rate_ecg(rng: np.random.Generator, fs: int, samples: int, index: int, seed: int) -> np.ndarray:
    """An ECG truly sampled at fs * k, read as if at fs: `samples` samples span samples / (fs * k) real seconds."""
    rhythm = WRONG_RATE_RHYTHMS[index % len(WRONG_RATE_RHYTHMS)]
    k = WRONG_RATE_FACTORS[(index // len(WRONG_RATE_RHYTHMS)) % len(WRONG_RATE_FACTORS)]
    true_fs = fs * k
    sim_fs = int(min(max(round(true_fs), ecg.MIN_FS), ecg.MAX_FS))
    ecg_seed = int(rng.integers(0, 2**32))
    signal = ecg.simulate_window(rhythm, ecg_seed, fs=sim_fs, seconds=samples / true_fs)
    if signal.size != samples or sim_fs != true_fs:  # fs * k not a valid simulator rate: resample in real time
        signal = np.interp(np.arange(samples) / true_fs, np.arange(signal.size) / sim_fs, signal)
    return signal


def _powerline(rng: np.random.Generator, fs: int, samples: int, index: int, seed: int) -> np.ndarray:
    t = np.arange(samples) / fs
    hz = (50.0, 60.0)[index % 2] * (1 + rng.uniform(-0.002, 0.002))
    phase = rng.uniform(0, 2 * np.pi)
    wave = np.sin(2 * np.pi * hz * t + phase)
    for harmonic, most in ((3, 0.15), (5, 0.05)):
        if harmonic * hz < fs / 2:  # the anti-aliasing filter removes harmonics above Nyquist
            wave += rng.uniform(0.0, most) * np.sin(harmonic * (2 * np.pi * hz * t + phase) + rng.uniform(0, 6.3))
    amplitude = rng.uniform(0.05, 1.0)
    return amplitude * wave + rng.uniform(-0.1, 0.1) + rng.uniform(0.002, 0.02) * rng.standard_normal(samples)


def _step_artefacts(rng: np.random.Generator, fs: int, samples: int, index: int, seed: int) -> np.ndarray:
    x = rng.uniform(-0.3, 0.3) + rng.uniform(0.003, 0.015) * rng.standard_normal(samples)
    events = 1 + min(int(rng.poisson(0.4 * samples / fs)), 39)
    for _ in range(events):
        at = int(rng.integers(0, samples))
        kind = int(rng.integers(3))
        size = rng.choice((-1.0, 1.0)) * rng.uniform(0.5, 3.0)
        if kind == 1:  # a spike, 1-3 samples wide
            x[at : at + int(rng.integers(1, 4))] += size * rng.uniform(1.0, 2.0)
            continue
        tau = rng.uniform(0.3, 3.0) if kind == 0 else rng.uniform(0.05, 0.3)  # step, or pop (spike + fast decay)
        stop = min(samples, at + int(10 * tau * fs) + 1)
        x[at:stop] += size * np.exp(-np.arange(stop - at) / (tau * fs))
    return np.clip(x, -RAIL_MV, RAIL_MV)


def _beating_ecg(rng: np.random.Generator, fs: int, samples: int) -> np.ndarray:
    """A simulated ECG window at the declared rate: the rhythm drawn first, then the simulator seed."""
    rhythm = NEAR_OOD_RHYTHMS[int(rng.integers(len(NEAR_OOD_RHYTHMS)))]
    return ecg.simulate_window(rhythm, _simulator_seed(rng), fs=fs, seconds=samples / fs)


def _ecg_lead_reversed(rng: np.random.Generator, fs: int, samples: int, index: int, seed: int) -> np.ndarray:
    return -_beating_ecg(rng, fs, samples)


def _ecg_high_pass_missing(rng: np.random.Generator, fs: int, samples: int, index: int, seed: int) -> np.ndarray:
    signal = _beating_ecg(rng, fs, samples)
    t = np.arange(samples) / fs
    amplitude = rng.uniform(*WANDER_MV_RANGE)
    wander = amplitude * np.sin(2 * np.pi * rng.uniform(0.1, 0.3) * t + rng.uniform(0, 2 * np.pi))
    wander += amplitude * rng.uniform(0.0, 0.3) * np.sin(2 * np.pi * rng.uniform(0.1, 0.3) * t
                                                         + rng.uniform(0, 2 * np.pi))
    offset = rng.choice((-1.0, 1.0)) * rng.uniform(0.0, 0.5)
    return signal + wander + offset


def _ppg(rng: np.random.Generator, fs: int, samples: int, index: int, seed: int) -> np.ndarray:
    """One pulse per cycle of a beat phase: an asymmetric systolic bump (fast rise, slower fall) and a smaller,
    wider diastolic bump after the dicrotic notch, as periodic Gaussians of the phase; then drift, offset, noise."""
    t = np.arange(samples) / fs
    rate = rng.uniform(*PPG_BPM_RANGE) / 60.0 * (1 + rng.uniform(0.0, 0.05) * np.sin(
        2 * np.pi * rng.uniform(0.1, 0.3) * t + rng.uniform(0, 2 * np.pi)))  # beats per second, slowly varying
    phase = np.cumsum(rate) / fs + rng.uniform(0.0, 1.0)
    systolic, rise, fall = rng.uniform(0.15, 0.22), rng.uniform(0.04, 0.06), rng.uniform(0.07, 0.09)
    diastolic, width, ratio = systolic + rng.uniform(0.2, 0.26), rng.uniform(0.06, 0.09), rng.uniform(0.25, 0.55)

    def shape(p: np.ndarray) -> np.ndarray:
        d = (p - systolic + 0.5) % 1.0 - 0.5  # wrapped phase distance from the systolic peak
        e = (p - diastolic + 0.5) % 1.0 - 0.5
        return np.exp(-0.5 * (d / np.where(d < 0, rise, fall)) ** 2) + ratio * np.exp(-0.5 * (e / width) ** 2)

    one_cycle = shape(np.linspace(0.0, 1.0, 512, endpoint=False))
    low, high = float(one_cycle.min()), float(one_cycle.max())
    amplitude = rng.uniform(0.5, 2.0)
    pulse = amplitude * (shape(phase) - low) / (high - low)
    drift = amplitude * rng.uniform(0.1, 0.4) * np.sin(2 * np.pi * rng.uniform(0.05, 0.3) * t
                                                        + rng.uniform(0, 2 * np.pi))
    noise = amplitude * rng.uniform(0.002, 0.01) * rng.standard_normal(samples)
    return pulse - amplitude / 2 + drift + rng.uniform(-0.2, 0.2) + noise
