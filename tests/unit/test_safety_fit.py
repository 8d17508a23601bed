"""The fitting half of clinical safety (numpy only): the detector, thresholds at a false-flag rate, AUROC, the
temperature and the expected calibration error, checked against brute-force or known answers."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from hfm_compress.errors import CompressError
from hfm_compress.safety.detector import (auroc, expected_calibration_error, fit_detector, fit_temperature,
                                          ledoit_wolf_shrinkage, lower_threshold, upper_threshold)
from hfm_runtime.errors import ArtifactError
from hfm_runtime.postprocess import softmax
from hfm_runtime.safety import OodDetector, calibrate


def test_auroc_matches_counting_every_pair() -> None:
    rng = np.random.default_rng(1)
    ind, ood = rng.integers(0, 6, 40).astype(float), rng.integers(2, 9, 30).astype(float)  # many ties
    pairs = [(1.0 if o > i else 0.5 if o == i else 0.0) for i, o in itertools.product(ind, ood)]
    assert auroc(ind, ood) == pytest.approx(np.mean(pairs), abs=1e-4)
    assert auroc(ind, ind + 100) == 1.0 and auroc(ind + 100, ind) == 0.0


def test_an_infinite_score_counts_as_the_most_out_of_distribution() -> None:
    assert auroc(np.array([1.0, 2.0]), np.array([np.inf, np.inf])) == 1.0


def test_thresholds_flag_the_stated_share_of_held_out_scores() -> None:
    scores = np.arange(1000, dtype=float)
    assert np.mean(scores > upper_threshold(scores, 0.01)) == pytest.approx(0.01, abs=0.002)
    assert np.mean(scores < lower_threshold(scores, 0.05)) == pytest.approx(0.05, abs=0.002)


def test_detector_separates_a_shifted_cloud_and_survives_its_npz_round_trip() -> None:
    rng = np.random.default_rng(0)
    cov = rng.standard_normal((20, 20))
    fit = rng.standard_normal((300, 20)) @ cov
    detector = fit_detector(fit)
    held_out = rng.standard_normal((200, 20)) @ cov
    shifted = rng.standard_normal((200, 20)) @ cov + 3.0
    threshold = upper_threshold(detector.score(held_out[:100]), 0.01)
    assert np.mean(detector.score(held_out[100:]) > threshold) < 0.06
    assert auroc(detector.score(held_out[100:]), detector.score(shifted)) > 0.95
    loaded = OodDetector.from_npz(detector.to_npz(), "test")
    np.testing.assert_allclose(loaded.score(shifted), detector.score(shifted), rtol=1e-4)


def test_high_dimensional_features_keep_leading_components_and_a_residual() -> None:
    rng = np.random.default_rng(2)
    detector = fit_detector(rng.standard_normal((150, 384)))
    assert detector.components.shape == (384, 48) and detector.residual_variance > 0
    assert 0.0 <= ledoit_wolf_shrinkage(rng.standard_normal((50, 10)), np.eye(10)) <= 1.0


def test_detector_refuses_too_few_fit_inputs() -> None:
    with pytest.raises(CompressError, match="at least 8"):
        fit_detector(np.zeros((4, 3)))


def test_a_detector_member_with_bad_arrays_is_refused() -> None:
    import io

    buffer = io.BytesIO()
    np.savez(buffer, mean=np.zeros(3), scale=np.ones(3), components=np.eye(3)[:, :2], variances=np.array([1.0, -1.0]),
             residual_variance=np.float32(1.0))
    with pytest.raises(ArtifactError, match="zero or negative variance"):
        OodDetector.from_npz(buffer.getvalue(), "x.hfm")
    with pytest.raises(ArtifactError, match="not a detector"):
        OodDetector.from_npz(b"not an npz", "x.hfm")


def test_temperature_recovers_how_overconfident_the_probabilities_are() -> None:
    rng = np.random.default_rng(3)
    logits = rng.standard_normal((3000, 4)) * 3
    labels = np.array([rng.choice(4, p=p) for p in softmax(logits / 2.0, axis=1)])  # the truth is logits / 2
    temperature = fit_temperature(softmax(logits, axis=1), labels)
    assert temperature == pytest.approx(2.0, rel=0.1)
    before = expected_calibration_error(softmax(logits, axis=1), labels)["ece"]
    after = expected_calibration_error(calibrate(softmax(logits, axis=1), temperature), labels)["ece"]
    assert after < before / 2


def test_ece_of_masks_counts_every_pixel() -> None:
    probabilities = np.zeros((2, 2, 3, 3), dtype=np.float32)
    probabilities[:, 0] = 0.9
    probabilities[:, 1] = 0.1
    masks = np.zeros((2, 3, 3), dtype=np.int64)
    masks[0, 0, 0] = 1  # 1 of 18 pixels wrong at confidence 0.9: ECE = |0.9 - 17/18|
    result = expected_calibration_error(probabilities, masks)
    assert result["ece"] == pytest.approx(abs(0.9 - 17 / 18), abs=1e-4)
    assert sum(result["reliability"]["count"]) == 18
    assert fit_temperature(probabilities, masks) > 0
