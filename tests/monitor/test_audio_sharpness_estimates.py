from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from wince.monitor.estimate import loudness_change_db, sharpness_ratio, snr_db

RATE = 16_000


def bursts(n=40, seconds=1.0, seed=0):
    """Tone bursts with pauses: half of each clip is silent."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(RATE * seconds)) / RATE
    clips = []
    for _ in range(n):
        tone = 0.3 * np.sin(2 * np.pi * rng.uniform(200, 800) * t)
        gate = (np.sin(2 * np.pi * 2 * t) > 0).astype(float)
        clips.append(tone * gate)
    return np.array(clips, dtype=np.float32)


def with_noise(clips, snr, seed=1):
    power = np.mean(np.square(clips.astype(np.float64)), axis=1, keepdims=True)
    noise = np.random.default_rng(seed).standard_normal(clips.shape)
    return (clips + noise * np.sqrt(power / 10 ** (snr / 10))).astype(np.float32)


@pytest.mark.parametrize("snr", [10.0, 20.0, 30.0])
def test_snr_of_added_white_noise_is_recovered_within_20_percent(snr):
    estimate = snr_db(with_noise(bursts(), snr))
    assert estimate.value == pytest.approx(snr, rel=0.2)
    assert estimate.low <= estimate.value <= estimate.high


def test_loudness_change_matches_a_known_gain():
    reference = bursts()
    quieter = reference * 10 ** (-6 / 20)  # 6 dB down
    estimate = loudness_change_db(reference, quieter)
    assert estimate.value == pytest.approx(-6.0, abs=0.01)
    assert estimate.unit == "dB"


def test_blur_lowers_the_sharpness_ratio_and_identity_keeps_it_at_one():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(30, 32, 32, 3), dtype=np.uint8)
    blurred = np.stack([cv2.GaussianBlur(im, (5, 5), 1.5) for im in images])
    same = sharpness_ratio(images, images)
    assert same.value == pytest.approx(1.0)
    blurry = sharpness_ratio(images, blurred)
    assert blurry.value < 0.2
    assert blurry.high < 1.0
    assert not math.isnan(blurry.low)
