"""Sensor perturbations measured in their physical units: noise variances, defect rates.

Noise is measured on flat patches in linear light (decoded here with the IEC 61966-2-1 sRGB
curve, written independently of wince); tolerances follow the sampling error of the estimate.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from image_reference import srgb_decode, srgb_encode

from wince.errors import ParameterError
from wince.perturbations import Rngs
from wince.perturbations.image.sensor import DeadPixels, IsoNoise, ShotNoise

ignore_realism = pytest.mark.filterwarnings("ignore::wince.errors.RealismWarning")


def rngs_for(n: int, seed: int = 0) -> Rngs:
    return Rngs.for_samples([f"img-{i}" for i in range(n)], seed=seed, step="test")


def flat_linear(s: float, n: int = 4, size: int = 64, channels: int = 3) -> np.ndarray:
    """float32 images of one grey level given in linear light (4 x 64 x 64 x 3: 49k values)."""
    level = np.float32(srgb_encode(np.array(s)))
    return np.full((n, size, size, channels), level, dtype=np.float32)


def lag_one_correlation(noise: np.ndarray) -> float:
    """Correlation of horizontally adjacent values, pooled over images."""
    a, b = noise[:, :, :-1].ravel(), noise[:, :, 1:].ravel()
    return float(np.corrcoef(a, b)[0, 1])


# ---------------------------------------------------------------------------------------------
# Shot noise


# Mean counts s N of 25 and more: the Gaussian approximation hardly ever clips at 0.
@pytest.mark.parametrize(
    ("photons", "s"), [(50.0, 0.5), (1000.0, 0.05), (1000.0, 0.5), (20_000.0, 0.01)]
)
def test_shot_noise_variance_is_signal_over_photons(photons: float, s: float, seed: int) -> None:
    x = flat_linear(s)
    out = srgb_decode(ShotNoise().perturb(x, photons, rngs_for(4, seed)))
    variance = s / photons  # Poisson: N s photons with variance N s, over N**2
    assert out.var() == pytest.approx(variance, rel=0.04)
    assert out.mean() == pytest.approx(s, abs=4 * math.sqrt(variance / out.size))


def test_shot_noise_just_below_off_moves_uint8_values_by_under_half_a_level(seed: int) -> None:
    x = np.broadcast_to(np.arange(256, dtype=np.uint8)[None, :, None, None], (4, 256, 64, 3))
    out = ShotNoise().perturb(x, 999_000.0, rngs_for(4, seed)).astype(np.int64)
    diff = out - x
    assert np.abs(diff).max() <= 1
    assert diff.std() < 0.5


def test_shot_noise_draws_are_common_to_every_photon_count(seed: int) -> None:
    x = flat_linear(0.3, n=2, size=32)
    standardised = [
        (srgb_decode(ShotNoise().perturb(x, photons, rngs_for(2, seed))) - 0.3)
        / math.sqrt(0.3 / photons)
        for photons in (200.0, 5000.0)
    ]
    np.testing.assert_allclose(standardised[0], standardised[1], atol=0.01)


def test_shot_noise_is_independent_across_images_and_channels(seed: int) -> None:
    out = srgb_decode(ShotNoise().perturb(flat_linear(0.3, n=2), 100.0, rngs_for(2, seed)))
    noise = out - out.mean()
    bound = 4 / math.sqrt(noise[0, ..., 0].size)
    assert abs(np.corrcoef(noise[0].ravel(), noise[1].ravel())[0, 1]) < bound
    assert abs(np.corrcoef(noise[0, ..., 0].ravel(), noise[0, ..., 1].ravel())[0, 1]) < bound


# ---------------------------------------------------------------------------------------------
# ISO noise


@ignore_realism  # ISO 25600 lies beyond the declared severe end
@pytest.mark.parametrize("iso", [800.0, 6400.0, 25_600.0])
@pytest.mark.parametrize("channels", [1, 3])
def test_iso_noise_adds_the_shot_and_read_noise_of_the_higher_gain(
    iso: float, channels: int, seed: int
) -> None:
    s, photons, read = 0.4, 10_000.0, 2.0
    x = flat_linear(s, channels=channels, n=12 // channels)
    out = srgb_decode(IsoNoise().perturb(x, iso, rngs_for(len(x), seed)))
    # At gain G = ISO/100 a full-scale pixel holds N/G photons; variance s G/N + (read G/N)**2
    # in full-scale units, less what the ISO 100 input already holds.
    gain = iso / 100
    variance = s * (gain - 1) / photons + (read / photons) ** 2 * (gain**2 - 1)
    assert out.var() == pytest.approx(variance, rel=0.05)


def test_iso_noise_options_set_the_photon_transfer_model(seed: int) -> None:
    s = 0.4
    x = flat_linear(s)
    p = IsoNoise(full_scale_photons=40_000.0, read_noise_electrons=10.0)
    out = srgb_decode(p.perturb(x, 3200.0, rngs_for(4, seed)))
    variance = s * 31 / 40_000 + (10 / 40_000) ** 2 * (32**2 - 1)
    assert out.var() == pytest.approx(variance, rel=0.05)


def test_iso_chroma_noise_is_coarser_than_luminance_noise(seed: int) -> None:
    out = srgb_decode(IsoNoise().perturb(flat_linear(0.4), 6400.0, rngs_for(4, seed)))
    noise = out - 0.4
    # Red and blue, bilinearly interpolated from every other pixel: neighbours weigh
    # (0.75, 0.25) and (0.25, 0.75) of the same samples (correlation 0.6) or share one
    # sample at 0.75 (correlation 0.9), 0.75 on average. Green is white noise.
    assert lag_one_correlation(noise[..., 0]) == pytest.approx(0.75, abs=0.03)
    assert lag_one_correlation(noise[..., 2]) == pytest.approx(0.75, abs=0.03)
    assert lag_one_correlation(noise[..., 1]) == pytest.approx(0.0, abs=0.03)
    # Every pixel gets the same variance: even and odd columns alike, and the borders too.
    variance = noise.var(axis=(0, 1, 3))
    for columns in (variance[0::2], variance[1::2], variance[[0, 1, -2, -1]]):
        assert columns.mean() == pytest.approx(variance.mean(), rel=0.15)


def test_iso_noise_grows_continuously_from_iso_100() -> None:
    x = flat_linear(0.4, n=1, size=32)
    out = srgb_decode(IsoNoise().perturb(x, 101.0, rngs_for(1)))
    assert out.std() < 0.001


@pytest.mark.parametrize(
    ("option", "value"), [("full_scale_photons", 0.5), ("read_noise_electrons", -1.0)]
)
def test_iso_noise_rejects_impossible_sensor_options(option: str, value: float) -> None:
    with pytest.raises(ParameterError, match=option):
        IsoNoise(**{option: value})


# ---------------------------------------------------------------------------------------------
# Dead and hot pixels


def defects(out: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Masks of hot (all channels 1) and dead (all 0) pixels of mid-grey float images."""
    return np.all(out == 1.0, axis=-1), np.all(out == 0.0, axis=-1)


@pytest.mark.parametrize("defect_rate_ppm", [200.0, 2000.0])
def test_share_of_defect_pixels_matches_the_rate(defect_rate_ppm: float, seed: int) -> None:
    x = np.full((8, 128, 128, 3), 0.5, dtype=np.float32)  # 131k pixels
    hot, dead = defects(DeadPixels().perturb(x, defect_rate_ppm, rngs_for(8, seed)))
    pixels = hot.size
    p = defect_rate_ppm / 1e6
    tolerance = 4 * math.sqrt(pixels * p * (1 - p))  # binomial sd
    assert abs((hot | dead).sum() - pixels * p) < tolerance
    # Half hot, half dead, within the binomial sd of the split.
    assert abs(hot.sum() - dead.sum()) < 4 * math.sqrt((hot | dead).sum())


@ignore_realism  # 10,000 ppm lies beyond the declared severe end
def test_higher_defect_rates_keep_every_defect_of_lower_rates(seed: int) -> None:
    x = np.full((4, 128, 128, 3), 0.5, dtype=np.float32)  # 33 defects expected at 500 ppm
    previous_hot = previous_dead = np.zeros(x.shape[:3], dtype=bool)
    for rate in (500.0, 2000.0, 10_000.0, 50_000.0):
        hot, dead = defects(DeadPixels().perturb(x, rate, rngs_for(4, seed)))
        assert np.all(hot[previous_hot])
        assert np.all(dead[previous_dead])
        assert (hot | dead).sum() > (previous_hot | previous_dead).sum()
        previous_hot, previous_dead = hot, dead


@pytest.mark.parametrize(("hot_share", "dtype"), [(1.0, np.uint8), (0.0, np.float32)])
def test_hot_share_decides_hot_or_dead(hot_share: float, dtype: type) -> None:
    x = np.full((2, 64, 64, 3), 0.5, dtype=np.float32)
    x = x if dtype == np.float32 else np.full(x.shape, 128, np.uint8)
    out = DeadPixels(hot_share=hot_share).perturb(x, 2000.0, rngs_for(2))
    changed = np.any(out != x, axis=-1)
    full_scale = 255 if dtype == np.uint8 else 1.0
    expected = full_scale if hot_share == 1.0 else 0
    assert changed.sum() > 0
    assert np.all(out[changed] == expected)


@ignore_realism
def test_a_million_defects_per_million_pixels_hits_every_pixel() -> None:
    x = np.full((1, 16, 16, 3), 128, dtype=np.uint8)
    out = DeadPixels().perturb(x, 1e6, rngs_for(1))
    assert np.all((out == 0) | (out == 255))


def test_hot_share_outside_zero_to_one_is_rejected() -> None:
    with pytest.raises(ParameterError, match="hot_share"):
        DeadPixels(hot_share=1.5)


@given(
    shape=st.lists(st.integers(1, 9), min_size=1, max_size=3).map(tuple),
    seed=st.integers(0, 2**32 - 1),
)
def test_random_bits_are_the_generators_byte_stream(shape, seed):
    from wince.perturbations.image.base import random_bits16

    fast, slow = np.random.default_rng(seed), np.random.default_rng(seed)
    bits = random_bits16(fast, shape)
    expected = np.frombuffer(slow.bytes(2 * int(np.prod(shape))), dtype="<u2").reshape(shape)
    assert bits.dtype == np.uint16
    np.testing.assert_array_equal(bits, expected)
    assert fast.random() == slow.random()  # later draws unaffected
