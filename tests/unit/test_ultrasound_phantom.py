"""The B-mode phantom generator: deterministic, labels and masks agree, and the physics shows where it should."""

import time

import numpy as np
import pytest

from hfm_compress.errors import CompressError
from hfm_compress.synth.ultrasound import US_CLASSES, Phantom, generate, make_dataset


def _find(kind: str, count: int = 3) -> list[Phantom]:
    """The first `count` solid lesions of a kind (hypoechoic, hyperechoic, calcified) over seeds 0, 1, 2, ..."""
    found = []
    for seed in range(200):
        phantom = generate("solid_lesion", seed)
        if phantom.meta["kind"] == kind:
            found.append(phantom)
            if len(found) == count:
                return found
    raise AssertionError(f"fewer than {count} {kind} lesions in 200 seeds")


def _posterior_db(phantom: Phantom, gap: int = 4, height: int = 24) -> float:
    """Envelope (dB) in the beams right behind the lesion minus beams beside it, at the same depths.

    Same depth on the beam grid cancels TGC, focus and tissue attenuation, leaving what the lesion did to the beam.
    """
    decibels = 20 * np.log10(phantom.envelope)
    samples, lines = decibels.shape
    first_row, last_row, first_line, last_line = phantom.meta["lesion_box"]
    centre, half = (first_line + last_line) // 2, max(1, (last_line - first_line) // 4)
    rows = slice(last_row + gap, min(samples, last_row + gap + height))
    beside = np.r_[0 : max(0, first_line - 4), min(lines, last_line + 5) : lines]
    return float(decibels[rows, centre - half : centre + half + 1].mean() - decibels[rows, beside].mean())


def _dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    grown = mask.copy()
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            if dy * dy + dx * dx <= radius * radius:
                grown |= np.roll(np.roll(mask, dy, axis=0), dx, axis=1)
    return grown


def _lesion_minus_surround(phantom: Phantom) -> float:
    """Mean grey level inside the mask minus a ring of tissue 3-6 pixels outside it (inside the fan)."""
    lesion = phantom.mask.astype(bool)
    ring = _dilate(lesion, 6) & ~_dilate(lesion, 2) & phantom.fan
    return float(phantom.image[lesion].mean() - phantom.image[ring].mean())


@pytest.mark.parametrize("label", US_CLASSES)
def test_same_seed_same_phantom_other_seed_differs(label: str) -> None:
    first, again, other = generate(label, 7), generate(label, 7), generate(label, 8)
    np.testing.assert_array_equal(first.image, again.image)
    np.testing.assert_array_equal(first.mask, again.mask)
    assert first.meta == again.meta
    assert not np.array_equal(first.image, other.image)


@pytest.mark.parametrize("size", [64, 128, 160])
def test_image_and_mask_types_and_fan(size: int) -> None:
    phantom = generate("cyst", 3, size=size)
    assert phantom.image.shape == phantom.mask.shape == (size, size)
    assert phantom.image.dtype == np.float32 and phantom.mask.dtype == np.uint8
    assert 0.0 <= phantom.image.min() and phantom.image.max() <= 1.0
    assert phantom.image_uint8.dtype == np.uint8
    # The sector: black corners outside the fan, and the lesion mask never leaves it.
    assert phantom.fan.dtype == bool and not phantom.fan[0, 0] and not phantom.fan[0, -1]
    assert 0.4 < phantom.fan.mean() < 0.9
    assert (phantom.image[~phantom.fan] == 0).all() and phantom.image[phantom.fan].mean() > 0.3
    assert not (phantom.mask.astype(bool) & ~phantom.fan).any()


def test_masks_agree_with_labels() -> None:
    for seed in range(6):
        assert generate("no_lesion", seed).mask.sum() == 0
        for label in ("cyst", "solid_lesion"):
            phantom = generate(label, seed)
            assert set(np.unique(phantom.mask)) == {0, 1}
            assert 20 < phantom.mask.sum() < 0.2 * phantom.mask.size, (label, seed)
            assert phantom.meta["lesion_box"] is not None


def test_speckle_envelope_is_rayleigh_in_homogeneous_tissue() -> None:
    """Fully developed speckle: mean/std of a Rayleigh envelope is sqrt(pi / (4 - pi)) = 1.913."""
    ratios = []
    for seed in range(8):
        envelope = generate("no_lesion", seed).envelope.astype(np.float64)
        samples, lines = envelope.shape
        window = envelope[int(0.25 * samples) : int(0.55 * samples), int(0.2 * lines) : int(0.8 * lines)]
        window = window / np.sqrt((window**2).mean(axis=1, keepdims=True))  # remove what TGC leaves per depth
        ratios.append(window.mean() / window.std())
    assert abs(np.mean(ratios) - 1.913) < 0.1, ratios
    assert all(abs(r - 1.913) < 0.3 for r in ratios), ratios


def test_cysts_are_dark_with_posterior_enhancement() -> None:
    cysts = [generate("cyst", seed) for seed in range(6)]
    assert all(c.meta["kind"] == "anechoic_cyst" for c in cysts)
    assert all(_lesion_minus_surround(c) < -0.2 for c in cysts)
    enhancement = [_posterior_db(c) for c in cysts]
    assert all(e > 1.0 for e in enhancement), enhancement
    assert np.mean(enhancement) > 4.0, enhancement


def test_hyperechoic_lesions_are_bright_and_hypoechoic_dark() -> None:
    assert all(_lesion_minus_surround(p) > 0.05 for p in _find("hyperechoic"))
    assert all(_lesion_minus_surround(p) < -0.03 for p in _find("hypoechoic"))


def test_calcified_lesions_are_bright_and_shadow_what_lies_below() -> None:
    calcified = _find("calcified")
    assert all(_lesion_minus_surround(p) > 0.05 for p in calcified)
    shadows = [_posterior_db(p) for p in calcified]
    assert all(s < -8.0 for s in shadows), shadows


def test_make_dataset_shapes_balance_and_speed() -> None:
    generate("solid_lesion", 0)  # warm caches before timing
    start = time.perf_counter()
    images, labels, masks = make_dataset(10, seed=1)
    per_image = (time.perf_counter() - start) / 30
    assert images.shape == (30, 1, 128, 128) and images.dtype == np.float32
    assert labels.dtype == np.int64 and np.bincount(labels).tolist() == [10, 10, 10]
    assert masks.shape == (30, 128, 128) and masks.dtype == np.uint8
    assert (masks[labels == 0].sum(axis=(1, 2)) == 0).all() and (masks[labels > 0].sum(axis=(1, 2)) > 0).all()
    # 1,000 frames must take well under a minute on one core; 50 ms each leaves room for a loaded machine.
    assert per_image < 0.05, f"{per_image * 1000:.1f} ms per image"
    again, _, _ = make_dataset(10, seed=1)
    np.testing.assert_array_equal(images, again)
    smaller, _, _ = make_dataset(2, seed=1)
    np.testing.assert_array_equal(smaller, images[:6])


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: generate("tumour", 0), "label 'tumour' is unknown; expected one of no_lesion, cyst, solid_lesion"),
        (lambda: generate("cyst", -1), "seed -1 is invalid; expected a whole number >= 0"),
        (lambda: generate("cyst", 0, size=8), "size 8 is invalid; expected a whole number from 32 to 1024"),
        (lambda: make_dataset(0, 0), "n_per_class = 0; expected a whole number >= 1"),
    ],
)
def test_bad_arguments_raise_compress_error(call, message: str) -> None:
    with pytest.raises(CompressError, match=message):
        call()
