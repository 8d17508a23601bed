"""Deterministic B-mode ultrasound phantoms: training, calibration and evaluation data for the imaging teachers.

No medical ultrasound weights or images can be downloaded here, so images are simulated from the physics a
curvilinear B-mode scanner follows, on the beam grid it acquires (depth samples x beam lines):

1. random point scatterers (uniform positions, Gaussian amplitudes) binned on the beam grid; a lesion changes their
   density and amplitude, and a cyst holds none;
2. round-trip attenuation accumulated along each beam, so what lies behind a lesion depends on it: a cyst barely
   attenuates (posterior acoustic enhancement), a calcified lesion attenuates strongly (acoustic shadow);
3. receiver noise, then the point-spread function applied in the frequency domain (the same as a convolution): an
   axial Gaussian-modulated cosine pulse and a lateral Gaussian beam that is narrowest at the focal depth;
4. envelope detection: the magnitude of the analytic signal (an FFT Hilbert transform, folded into the pulse filter);
5. time-gain compensation (TGC) that mis-estimates the attenuation a little and ripples with depth, an auto-gain
   reference (the median level, as a scanner's auto-optimise does) and log compression to a dynamic range;
6. scan conversion of the beam grid onto square pixels inside the sector (fan) mask.

Everything is drawn from `numpy.random.default_rng(seed)`: a seed gives the same image, mask and metadata on any
machine with the same numpy. Costs a few milliseconds per 128x128 image on one core (no per-pixel Python loops).

Subgroups: `make_dataset_with_subgroups` (and `phantom_subgroups` for one frame's `meta`) label each frame with bins
of the parameters it was drawn with, so fidelity can be reported per subgroup (`evaluate/subgroups.py`):

- `depth`: imaging depth, "<10 cm", "10-12 cm" or ">12 cm" (drawn from 8-14 cm);
- `gain`: the display gain offset, "low" below -1 dB, "normal" up to +1 dB, else "high" (drawn from -3 to +3 dB);
- `lesion_size`: the lesion's equivalent diameter (2 sqrt(a b) of its ellipse axes, before the margin's
  harmonics), "none" without a lesion, "small" below 2 cm, "medium" up to 3 cm, else "large";
- `speckle`: speckle grain, set by the pulse length (the axial speckle size follows it), "fine" below 2.33 depth
  samples, "medium" up to 2.67, else "coarse" (drawn from 2-3 samples).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from hfm_compress.errors import CompressError

US_CLASSES = ("no_lesion", "cyst", "solid_lesion")
# What a "solid_lesion" is drawn as, with its probability. Calcified lesions are the hyperechoic ones that shadow.
SOLID_KINDS = {"hypoechoic": 0.5, "hyperechoic": 0.25, "calcified": 0.25}
MIN_SIZE, MAX_SIZE = 32, 1024

# Display: tissue's median level sits here on the [0, 1] grey scale, like a scanner after auto-gain.
TISSUE_LEVEL = 0.6
# Scatterers per beam-grid cell: with ~12 cells per resolution cell this is fully developed speckle (>10 per cell).
SCATTER_DENSITY = 1.5
# Beam-grid padding (samples, lines) so the FFT filters do not wrap around into the image.
AXIAL_PAD, LATERAL_PAD = 24, 8
# Subgroup bins (see the module docstring): (upper limit, name) in order, the last name above every limit.
DEPTH_BINS = ((10.0, "<10 cm"), (12.0, "10-12 cm"), (float("inf"), ">12 cm"))
GAIN_BINS = ((-1.0, "low"), (1.0, "normal"), (float("inf"), "high"))  # dB
LESION_SIZE_BINS = ((2.0, "small"), (3.0, "medium"), (float("inf"), "large"))  # cm, equivalent diameter
SPECKLE_BINS = ((7.0 / 3.0, "fine"), (8.0 / 3.0, "medium"), (float("inf"), "coarse"))  # pulse sigma, depth samples
SUBGROUP_ATTRIBUTES = ("depth", "gain", "lesion_size", "speckle")


@dataclasses.dataclass(frozen=True)
class Phantom:
    """One simulated frame.

    image: (H, W) float32 in [0, 1], 0 outside the fan. mask: (H, W) uint8, 1 inside the lesion and the fan.
    fan: (H, W) bool, the sector the probe images (an anechoic cyst is black too, so the image cannot tell).
    envelope: (depth samples, beam lines) float32, the TGC-compensated envelope before log compression (for speckle
    statistics). meta: the drawn parameters; `lesion_box` gives the lesion's rows and lines on the envelope grid.
    """

    image: np.ndarray
    mask: np.ndarray
    label: str
    meta: dict[str, Any]
    envelope: np.ndarray
    fan: np.ndarray

    @property
    def image_uint8(self) -> np.ndarray:
        return np.round(self.image * 255.0).astype(np.uint8)


@dataclasses.dataclass(frozen=True)
class _Probe:
    """Curvilinear probe and the beam grid it acquires. Lengths in cm, angles in radians."""

    depth: float
    radius: float
    half_angle: float
    samples: int
    lines: int

    def grid_xy(self) -> tuple[np.ndarray, np.ndarray]:
        """Cartesian positions (apex at the origin, y down) of the padded beam grid's cells."""
        rows = np.arange(-AXIAL_PAD, self.samples + AXIAL_PAD, dtype=np.float32)
        cols = np.arange(-LATERAL_PAD, self.lines + LATERAL_PAD, dtype=np.float32)
        r = (rows + 0.5) * (self.depth / self.samples)
        theta = -self.half_angle + (cols + 0.5) * (2 * self.half_angle / self.lines)
        rho = self.radius + r[:, None]
        return rho * np.sin(theta)[None, :], rho * np.cos(theta)[None, :]


@dataclasses.dataclass(frozen=True)
class _Lesion:
    kind: str
    center: tuple[float, float]
    axes: tuple[float, float]
    angle: float
    harmonics: np.ndarray  # (K, 3): order, relative amplitude, phase of the margin's radial perturbation
    density: float  # fraction of the tissue's scatterers kept inside
    amplitude: float  # scatterer amplitude relative to tissue
    attenuation_ratio: float  # attenuation per cm relative to tissue
    contrast_db: float

    def inside(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """A rotated ellipse whose radius is perturbed by a few harmonics of the polar angle (irregular margin)."""
        dx, dy = x - np.float32(self.center[0]), y - np.float32(self.center[1])
        result = np.zeros(np.shape(x), dtype=bool)
        near = dx * dx + dy * dy < self.extent() ** 2  # only points near the lesion need the margin's harmonics
        dx, dy = dx[near], dy[near]
        c, s = np.cos(self.angle), np.sin(self.angle)
        u = (c * dx + s * dy) / self.axes[0]
        v = (-s * dx + c * dy) / self.axes[1]
        psi = np.arctan2(v, u)
        order, amp, phase = self.harmonics[:, 0], self.harmonics[:, 1], self.harmonics[:, 2]
        boundary = 1.0 + amp @ np.cos(order[:, None] * psi[None, :] + phase[:, None])
        result[near] = u * u + v * v < boundary * boundary
        return result

    def extent(self) -> float:
        """Largest distance of the margin from the centre (cm)."""
        return max(self.axes) * (1.0 + float(np.abs(self.harmonics[:, 1]).sum()))


def generate(label: str, seed: int, size: int = 128) -> Phantom:
    """Simulate one `size` x `size` B-mode frame of class `label` (one of `US_CLASSES`) from `seed`."""
    _check_args(label, seed, size)
    rng = np.random.default_rng(seed)
    probe = _Probe(
        depth=rng.uniform(8.0, 14.0),  # abdominal/breast curvilinear imaging depths
        radius=rng.uniform(2.0, 5.0),  # probe radius of curvature: microconvex to abdominal convex
        half_angle=np.deg2rad(rng.uniform(25.0, 35.0)),  # 50-70 degree fields of view
        samples=2 * size,  # two depth samples per output row, so scan conversion interpolates rather than invents
        lines=max(48, 3 * size // 4),  # fewer lines than columns at depth: the lateral interpolation look
    )
    tissue_db = rng.uniform(25.0, 45.0)  # round-trip attenuation over the depth: sets penetration and TGC range
    lesion = _draw_lesion(label, probe, tissue_db, rng)
    gx, gy = probe.grid_xy()
    inside = lesion.inside(gx, gy) if lesion else np.zeros(gx.shape, dtype=bool)
    envelope, settings = _acquire(probe, lesion, inside, tissue_db, rng)
    display = _log_compress(envelope, rng, settings)
    image, fan, px, py = _scan_convert(display, probe, size)
    mask = (lesion.inside(px, py) & fan).astype(np.uint8) if lesion else np.zeros((size, size), dtype=np.uint8)
    kept = inside[AXIAL_PAD : AXIAL_PAD + probe.samples, LATERAL_PAD : LATERAL_PAD + probe.lines]
    meta = {
        "kind": lesion.kind if lesion else "none",
        "depth_cm": probe.depth,
        "probe_radius_cm": probe.radius,
        "half_angle_deg": float(np.rad2deg(probe.half_angle)),
        "attenuation_db": tissue_db,
        **settings,
        "lesion": _lesion_meta(lesion),
        "lesion_box": _box(kept),
    }
    return Phantom(image=image, mask=mask, label=label, meta=meta, envelope=envelope, fan=fan)


def make_dataset(n_per_class: int, seed: int, size: int = 128) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A balanced set: images float32 (n, 1, H, W), labels int64 (index into `US_CLASSES`), masks uint8 (n, H, W).

    Classes are interleaved (0, 1, 2, 0, 1, 2, ...) and each frame has its own seed derived from (seed, class,
    index), so a larger set starts with the frames of a smaller one made from the same seed.
    """
    images, labels, masks, _ = make_dataset_with_subgroups(n_per_class, seed, size)
    return images, labels, masks


def make_dataset_with_subgroups(n_per_class: int, seed: int, size: int = 128
                                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """`make_dataset`'s images, labels and masks (the same arrays), and for each of `SUBGROUP_ATTRIBUTES` an (n,)
    array of bin names (see the module docstring), read from each frame's drawn parameters in the same pass."""
    if not isinstance(n_per_class, int) or isinstance(n_per_class, bool) or n_per_class < 1:
        raise CompressError(f"n_per_class = {n_per_class!r}; expected a whole number >= 1")
    _check_args(US_CLASSES[0], seed, size)
    n = n_per_class * len(US_CLASSES)
    images = np.empty((n, 1, size, size), dtype=np.float32)
    labels = np.empty(n, dtype=np.int64)
    masks = np.empty((n, size, size), dtype=np.uint8)
    rows = []
    for index in range(n):
        class_index, repeat = index % len(US_CLASSES), index // len(US_CLASSES)
        frame_seed = int(np.random.SeedSequence([seed, class_index, repeat]).generate_state(1)[0])
        phantom = generate(US_CLASSES[class_index], frame_seed, size)
        images[index, 0], labels[index], masks[index] = phantom.image, class_index, phantom.mask
        rows.append(phantom_subgroups(phantom.meta))
    subgroups = {attribute: np.array([row[attribute] for row in rows], dtype=str) for attribute in SUBGROUP_ATTRIBUTES}
    return images, labels, masks, subgroups


def dataset_subgroups(n_per_class: int, seed: int, size: int = 128) -> dict[str, np.ndarray]:
    """Subgroups of `make_dataset(n_per_class, seed, size)`'s frames. Some draws come after the scatterers, so this
    renders every frame again: prefer `make_dataset_with_subgroups` when the images are needed too."""
    return make_dataset_with_subgroups(n_per_class, seed, size)[3]


def phantom_subgroups(meta: dict[str, Any]) -> dict[str, str]:
    """Subgroup bins of one frame from its `Phantom.meta`: depth, gain, lesion_size and speckle."""
    lesion = meta["lesion"]
    if lesion is None:
        size = "none"
    else:
        major, minor = lesion["axes_cm"]
        size = _bin(2.0 * float(np.sqrt(major * minor)), LESION_SIZE_BINS)
    return {"depth": _bin(meta["depth_cm"], DEPTH_BINS), "gain": _bin(meta["gain_db"], GAIN_BINS),
            "lesion_size": size, "speckle": _bin(meta["pulse_sigma"], SPECKLE_BINS)}


def _bin(value: float, bins: tuple[tuple[float, str], ...]) -> str:
    return next(name for limit, name in bins if value < limit)


def _check_args(label: str, seed: int, size: int) -> None:
    if label not in US_CLASSES:
        raise CompressError(f"phantom label {label!r} is unknown; expected one of {', '.join(US_CLASSES)}")
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise CompressError(f"phantom seed {seed!r} is invalid; expected a whole number >= 0")
    if not isinstance(size, (int, np.integer)) or not MIN_SIZE <= size <= MAX_SIZE:
        raise CompressError(f"phantom size {size!r} is invalid; expected a whole number from {MIN_SIZE} to {MAX_SIZE}")


def _draw_lesion(label: str, probe: _Probe, tissue_db: float, rng: np.random.Generator) -> _Lesion | None:
    """Kind, size, shape, position and contrast; the whole lesion lies inside the fan with room behind it."""
    if label == "no_lesion":
        return None
    if label == "cyst":
        kind = "anechoic_cyst"
        harmonics = _margin(rng, orders=range(2, 5), scale=0.04)  # cysts are smooth, round to oval
    else:
        kind = str(rng.choice(list(SOLID_KINDS), p=list(SOLID_KINDS.values())))
        harmonics = _margin(rng, orders=range(2, 9), scale=0.22)  # lobulated to spiculated margins
    radius = rng.uniform(0.06, 0.15) * probe.depth
    contrast, density, amplitude, attenuation = _echogenicity(kind, 2 * radius * tissue_db / probe.depth, rng)
    elongation = rng.uniform(1.0, 1.6)
    axes = (radius * np.sqrt(elongation), radius / np.sqrt(elongation))
    lesion = _Lesion(kind, (0.0, 0.0), axes, rng.uniform(0.0, np.pi), harmonics, density, amplitude, attenuation,
                     contrast)
    extent = lesion.extent()
    # Centre depth leaves a near-field margin above and room below for enhancement or shadow.
    low, high = 0.1 * probe.depth + extent, 0.8 * probe.depth - extent
    r = rng.uniform(low, max(low, high))
    lateral = max(0.0, 0.85 * probe.half_angle - extent / (probe.radius + r))
    theta = rng.uniform(-lateral, lateral)
    center = ((probe.radius + r) * np.sin(theta), (probe.radius + r) * np.cos(theta))
    return dataclasses.replace(lesion, center=center)


def _margin(rng: np.random.Generator, orders: range, scale: float) -> np.ndarray:
    order = np.asarray(orders, dtype=np.float64)
    amp = scale * rng.uniform(0.0, 1.0, order.size) / order**0.7
    return np.stack([order, amp, rng.uniform(0.0, 2 * np.pi, order.size)], axis=1)


def _echogenicity(kind: str, tissue_loss_db: float, rng: np.random.Generator) -> tuple[float, float, float, float]:
    """(contrast dB, scatterer density kept, amplitude, attenuation ratio) for a lesion kind.

    Contrast is the mean backscattered power relative to tissue: density * amplitude**2 = 10**(contrast / 10).
    `tissue_loss_db` is what tissue as thick as the lesion would attenuate (round trip); a calcified lesion's ratio
    is chosen so that it takes 12-20 dB more, which is the depth of its shadow.
    """
    if kind == "anechoic_cyst":
        return -np.inf, 0.0, 0.0, rng.uniform(0.05, 0.2)  # fluid: no scatterers, little attenuation
    if kind == "hypoechoic":
        contrast, density = rng.uniform(-15.0, -6.0), rng.uniform(0.3, 1.0)
        attenuation = rng.uniform(0.9, 1.4)
    elif kind == "hyperechoic":
        contrast, density = rng.uniform(6.0, 14.0), 1.0
        attenuation = rng.uniform(1.0, 1.8)
    else:  # calcified: strongly reflecting and attenuating, so the beam behind it is shadowed
        contrast, density = rng.uniform(14.0, 22.0), 1.0
        attenuation = 1.0 + rng.uniform(12.0, 20.0) / tissue_loss_db
    amplitude = float(np.sqrt(10 ** (contrast / 10) / density))
    return float(contrast), float(density), amplitude, float(attenuation)


def _acquire(probe: _Probe, lesion: _Lesion | None, inside: np.ndarray, tissue_db: float,
             rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
    """Scatterers -> attenuation -> noise -> PSF + Hilbert -> envelope -> TGC, on the beam grid (cropped)."""
    per_sample = tissue_db / probe.samples * np.log(10) / 20  # round-trip amplitude attenuation, nepers per sample
    field = _scatterers(inside, lesion, rng)
    field *= _transmission(inside, lesion, per_sample)
    noise_db = rng.uniform(-58.0, -48.0)  # receiver noise relative to the tissue echo at the probe face
    noise = np.float32(np.sqrt(SCATTER_DENSITY) * 10 ** (noise_db / 20))
    field += rng.standard_normal(field.shape, dtype=np.float32) * noise

    f0 = rng.uniform(0.22, 0.3)  # centre frequency, cycles per depth sample (~4 samples per wavelength)
    sigma_axial = rng.uniform(2.0, 3.0)  # pulse length (samples): ~50-70 % fractional bandwidth
    focus = rng.uniform(0.4, 0.7) * probe.samples + AXIAL_PAD
    beam_depth = (np.arange(field.shape[0]) - focus) / (0.35 * probe.samples)  # in Rayleigh lengths from the focus
    sigma_lateral = rng.uniform(0.8, 1.1) * np.sqrt(1 + beam_depth**2)
    analytic = _point_spread(field, f0, sigma_axial, sigma_lateral)
    envelope = np.abs(analytic[AXIAL_PAD : AXIAL_PAD + probe.samples, LATERAL_PAD : LATERAL_PAD + probe.lines])
    gain, slope_error = _tgc(probe.samples, per_sample, rng)
    settings = {"noise_db": noise_db, "center_frequency": f0, "pulse_sigma": sigma_axial,
                "focus_fraction": float((focus - AXIAL_PAD) / probe.samples), "tgc_slope_error": slope_error}
    return (envelope * gain[:, None]).astype(np.float32), settings


def _scatterers(inside: np.ndarray, lesion: _Lesion | None, rng: np.random.Generator) -> np.ndarray:
    """Random point scatterers summed per beam-grid cell; the lesion thins them out and scales their amplitude."""
    rows, cols = inside.shape
    count = int(SCATTER_DENSITY * rows * cols)
    cell = rng.integers(0, rows * cols, count)
    amplitude = rng.standard_normal(count, dtype=np.float32)
    keep = cell >= AXIAL_PAD * cols  # nothing scatters inside the probe
    if lesion is not None:
        in_lesion = inside.ravel()[cell]
        amplitude[in_lesion] *= lesion.amplitude
        if lesion.density < 1.0:
            keep &= ~in_lesion | (rng.uniform(size=count) < lesion.density)
    return np.bincount(cell[keep], amplitude[keep], minlength=rows * cols).reshape(rows, cols).astype(np.float32)


def _transmission(inside: np.ndarray, lesion: _Lesion | None, per_sample: float) -> np.ndarray:
    """Round-trip amplitude left at each cell: attenuation accumulated from the probe face along each beam."""
    alpha = np.full(inside.shape, per_sample, dtype=np.float32)
    if lesion is not None:
        alpha[inside] *= lesion.attenuation_ratio
    alpha[:AXIAL_PAD] = 0.0
    return np.exp(-np.cumsum(alpha, axis=0))


def _tgc(samples: int, per_sample: float, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """Time-gain compensation: the nominal attenuation undone with a mis-estimated slope and a slow ripple in depth,
    as from hand-set sliders. Returns the gain per depth sample and the slope error."""
    depth = np.arange(samples, dtype=np.float32)
    slope_error = rng.uniform(-0.15, 0.15)
    ripple_db = np.zeros(samples, dtype=np.float32)
    for k in (1, 2, 3):
        ripple_db += rng.uniform(0.0, 1.5) / k * np.sin(2 * np.pi * k * depth / samples + rng.uniform(0, 2 * np.pi))
    gain = np.exp(per_sample * (1 + slope_error) * depth) * 10 ** (ripple_db / 20)
    return gain.astype(np.float32), float(slope_error)


def _point_spread(field: np.ndarray, f0: float, sigma_axial: float, sigma_lateral: np.ndarray) -> np.ndarray:
    """Analytic RF signal: axial pulse and Hilbert transform in one positive-frequency filter, then the lateral beam.

    The pulse exp(-z^2 / 2 s^2) cos(2 pi f0 z) has the spectrum of two Gaussians at +-f0; the analytic signal keeps
    twice the positive one. The lateral beam is a Gaussian per depth row, applied as its Gaussian transfer function.
    """
    rows, cols = field.shape
    spectrum = np.fft.rfft(field, axis=0)
    freq = np.fft.rfftfreq(rows).astype(np.float32)
    pulse = 2 * np.exp(-2 * np.pi**2 * sigma_axial**2 * (freq - f0) ** 2)
    full = np.zeros((rows, cols), dtype=np.complex64)
    full[: freq.size] = spectrum * pulse[:, None]
    analytic = np.fft.ifft(full, axis=0)
    kx = np.fft.fftfreq(cols).astype(np.float32)
    beam = np.exp(-2 * np.pi**2 * (sigma_lateral[:, None] * kx[None, :]) ** 2).astype(np.float32)
    return np.fft.ifft(np.fft.fft(analytic, axis=1) * beam, axis=1)


def _log_compress(envelope: np.ndarray, rng: np.random.Generator, settings: dict[str, Any]) -> np.ndarray:
    """Map decibels relative to the median (auto-gain) onto [0, 1] over a dynamic range, with a small gain offset."""
    dynamic_range = rng.uniform(50.0, 65.0)
    gain_db = rng.uniform(-3.0, 3.0)
    settings.update(dynamic_range_db=dynamic_range, gain_db=gain_db)
    reference = np.median(envelope)
    decibels = 20 * np.log10(envelope / reference + 1e-12)
    return np.clip(TISSUE_LEVEL + (decibels + gain_db) / dynamic_range, 0.0, 1.0).astype(np.float32)


def _scan_convert(display: np.ndarray, probe: _Probe, size: int) -> tuple[np.ndarray, ...]:
    """Bilinear scan conversion onto a square grid that fits the fan; returns image, fan mask, pixel x and y (cm)."""
    sin_h, cos_h = np.sin(probe.half_angle), np.cos(probe.half_angle)
    far = probe.radius + probe.depth
    width, height = 2 * far * sin_h, far - probe.radius * cos_h
    pixel = max(width, height) * 1.02 / size
    coords = (np.arange(size, dtype=np.float32) + 0.5 - size / 2) * pixel
    px = coords[None, :].repeat(size, axis=0)
    py = (coords + (probe.radius * cos_h + far) / 2)[:, None].repeat(size, axis=1)
    r = np.hypot(px, py) - probe.radius
    theta = np.arctan2(px, py)
    fan = (r >= 0) & (r <= probe.depth) & (np.abs(theta) <= probe.half_angle)
    fr = np.clip(r / probe.depth * probe.samples - 0.5, 0, probe.samples - 1)
    fl = np.clip((theta + probe.half_angle) / (2 * probe.half_angle) * probe.lines - 0.5, 0, probe.lines - 1)
    r0, l0 = np.minimum(fr.astype(np.intp), probe.samples - 2), np.minimum(fl.astype(np.intp), probe.lines - 2)
    wr, wl = fr - r0, fl - l0
    flat, corner = display.ravel(), r0 * probe.lines + l0
    top = flat[corner] * (1 - wl) + flat[corner + 1] * wl
    bottom = flat[corner + probe.lines] * (1 - wl) + flat[corner + probe.lines + 1] * wl
    image = np.where(fan, top * (1 - wr) + bottom * wr, 0.0).astype(np.float32)
    return image, fan, px, py


def _lesion_meta(lesion: _Lesion | None) -> dict[str, Any] | None:
    if lesion is None:
        return None
    return {"center_cm": [float(c) for c in lesion.center], "axes_cm": [float(a) for a in lesion.axes],
            "contrast_db": lesion.contrast_db if np.isfinite(lesion.contrast_db) else None, "density": lesion.density,
            "attenuation_ratio": lesion.attenuation_ratio}


def _box(inside: np.ndarray) -> tuple[int, int, int, int] | None:
    """(first row, last row, first line, last line) of the lesion on the envelope grid, or None."""
    rows, lines = np.nonzero(inside)
    if rows.size == 0:
        return None
    return int(rows.min()), int(rows.max()), int(lines.min()), int(lines.max())
