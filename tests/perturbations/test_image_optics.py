"""Optics perturbations measured in their physical units: PSF sizes, flux, displacements.

Blurs are measured on impulses (a single lit pixel): the output is the point-spread function,
whose flux, second moments and flat top follow from the declared PSF (a disc, a line, a
Gaussian) convolved with the 1-px tent of the pixel model. Geometric effects are measured on
small Gaussian dots whose intensity centroids must land where the declared model puts them.
Linear light is decoded here with the IEC 61966-2-1 sRGB curve, written independently of wince.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from image_reference import srgb_decode

from wince.errors import ParameterError
from wince.perturbations import Rngs
from wince.perturbations.image.filters import filter_separable_uint8, gaussian_taps, integer_taps
from wince.perturbations.image.optics import (
    ChromaticAberration,
    DefocusBlur,
    GaussianBlur,
    LensDistortion,
    MotionBlur,
    undistorted_radius,
)

ignore_realism = pytest.mark.filterwarnings("ignore::wince.errors.RealismWarning")


def rngs_for(n: int, seed: int = 0) -> Rngs:
    return Rngs.for_samples([f"img-{i}" for i in range(n)], seed=seed, step="test")


def impulse(h: int, w: int, channels: int = 1) -> np.ndarray:
    """One float32 image, black but for full white at the central pixel."""
    x = np.zeros((1, h, w, channels), dtype=np.float32)
    x[0, h // 2, w // 2] = 1.0
    return x


def moments(light: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Total, centroid (x, y) and covariance matrix (px^2) of a 2-D light distribution."""
    h, w = light.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    total = float(light.sum())
    centre = np.array([(light * xx).sum(), (light * yy).sum()]) / total
    dx, dy = xx - centre[0], yy - centre[1]
    cov = np.array(
        [
            [(light * dx * dx).sum(), (light * dx * dy).sum()],
            [(light * dx * dy).sum(), (light * dy * dy).sum()],
        ]
    )
    return total, centre, cov / total


def dot(h: int, w: int, x0: float, y0: float, channels: int = 3, sigma: float = 1.5) -> np.ndarray:
    """One float32 image with a small Gaussian dot of peak 1 centred at (x0, y0) px."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    blob = np.exp(-((xx - x0) ** 2 + (yy - y0) ** 2) / (2 * sigma**2))
    return np.repeat(blob[None, :, :, None], channels, axis=3).astype(np.float32)


def centroid(image: np.ndarray) -> np.ndarray:
    """Intensity centroid (x, y) of a 2-D image."""
    return moments(image.astype(np.float64))[1]


# ---------------------------------------------------------------------------------------------
# Gaussian blur


@ignore_realism  # wide blurs keep the impulse response well sampled
@pytest.mark.parametrize(("h", "w", "sigma_pct"), [(61, 61, 5.0), (61, 121, 2.5), (90, 70, 1.6)])
def test_gaussian_blur_of_an_impulse_has_the_requested_sigma(
    h: int, w: int, sigma_pct: float
) -> None:
    out = GaussianBlur().perturb(impulse(h, w), sigma_pct, rngs_for(1))
    total, centre, cov = moments(out[0, :, :, 0].astype(np.float64))
    sigma_px = sigma_pct / 100 * min(h, w)  # a percentage of the shorter side
    assert total == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose(centre, [w // 2, h // 2], atol=1e-6)
    np.testing.assert_allclose(np.sqrt(np.diag(cov)), sigma_px, rtol=0.005)
    assert abs(cov[0, 1]) < 1e-6


@ignore_realism
@pytest.mark.parametrize("shape", [(2, 40, 50, 3), (1, 7, 9, 1), (1, 30, 20, 4)])
@pytest.mark.parametrize("sigma_pct", [0.1, 2.0, 10.0, 50.0])
def test_gaussian_blur_uint8_matches_float_within_one_level(shape, sigma_pct: float) -> None:
    # uint8 images are filtered in integer arithmetic, float images by FFT: the same blur.
    x = (np.random.default_rng(3).random(shape) * 255).astype(np.uint8)
    out_u8 = GaussianBlur().perturb(x, sigma_pct, rngs_for(len(x))).astype(np.float64)
    out_f = GaussianBlur().perturb(x.astype(np.float32) / 255, sigma_pct, rngs_for(len(x)))
    assert np.abs(out_u8 - out_f * 255.0).max() <= 1.0


@pytest.mark.parametrize("sigma_px", [0.05, 0.3, 1.0, 4.7, 25.0])
@pytest.mark.parametrize("level", [0, 1, 128, 254, 255])
def test_integer_blur_keeps_a_flat_image_flat(sigma_px: float, level: int) -> None:
    taps = gaussian_taps(sigma_px, math.ceil(3.5 * sigma_px))
    assert integer_taps(taps).sum() == 4096
    flat = np.full((11, 13, 3), level, dtype=np.uint8)
    np.testing.assert_array_equal(filter_separable_uint8(flat, taps), flat)


# ---------------------------------------------------------------------------------------------
# Defocus blur


@ignore_realism
@pytest.mark.parametrize("radius_pct", [4.0, 10.0])
def test_defocus_blur_spreads_an_impulse_into_a_disc_of_the_requested_radius(
    radius_pct: float,
) -> None:
    h, w = 81, 121
    out = DefocusBlur().perturb(impulse(h, w), radius_pct, rngs_for(1))
    light = srgb_decode(out[0, :, :, 0])
    radius_px = radius_pct / 100 * min(h, w)
    total, centre, cov = moments(light)
    assert total == pytest.approx(1.0, rel=1e-4), "the blur conserves linear light"
    np.testing.assert_allclose(centre, [w // 2, h // 2], atol=1e-4)
    # Disc variance R^2/4 per axis; sampling the 1-px tent at whole pixels adds q(1 - q) for a
    # point at fractional offset q, 1/6 on average over a disc.
    np.testing.assert_allclose(np.diag(cov), radius_px**2 / 4 + 1 / 6, rtol=0.01)
    yy, xx = np.mgrid[0:h, 0:w]
    distance = np.hypot(xx - w // 2, yy - h // 2)
    assert light[distance > radius_px + 1.5].max() < 1e-9, "no light beyond the disc"
    # Inside the disc, away from its edge, the level is the disc's 1 / (pi R^2).
    flat_top = light[distance < radius_px - 1.5]
    np.testing.assert_allclose(flat_top, 1 / (math.pi * radius_px**2), rtol=0.01)


@ignore_realism
def test_defocus_blur_of_sub_pixel_radius_grows_continuously_from_identity() -> None:
    x = impulse(21, 21)
    peaks = [
        float(srgb_decode(DefocusBlur().perturb(x, r / 21 * 100, rngs_for(1))[0, 10, 10, 0]))
        for r in (0.01, 0.1, 0.3, 0.6, 1.0)
    ]
    assert peaks[0] > 0.99
    assert all(b < a for a, b in itertools.pairwise(peaks)), peaks


def test_defocus_blur_is_in_linear_light() -> None:
    # Half white, half black: the two pixels either side of the edge share the light evenly in
    # linear light (a blur of encoded values would average 0.5 in sRGB, about 0.21 of the light).
    x = np.zeros((1, 40, 40, 3), dtype=np.float32)
    x[:, :, 20:] = 1.0
    out = DefocusBlur().perturb(x, 10.0, rngs_for(1))
    boundary = srgb_decode(out[0, 20, 19:21, 0]).mean()
    assert boundary == pytest.approx(0.5, abs=0.02)


# ---------------------------------------------------------------------------------------------
# Motion blur


@ignore_realism  # a long streak measures its length well
@pytest.mark.parametrize("angle_deg", [0.0, 30.0, 90.0, 135.0])
def test_motion_blur_of_an_impulse_is_a_streak_of_the_requested_length_and_angle(
    angle_deg: float,
) -> None:
    h, w = 61, 81
    length_pct = 30.0
    out = MotionBlur(angle_deg=angle_deg).perturb(impulse(h, w), length_pct, rngs_for(1))
    light = srgb_decode(out[0, :, :, 0])
    total, centre, cov = moments(light)
    length_px = length_pct / 100 * min(h, w)
    assert total == pytest.approx(1.0, rel=1e-4)
    np.testing.assert_allclose(centre, [w // 2, h // 2], atol=1e-4)  # the streak is centred
    # Counter-clockwise on screen, where y points down.
    a = math.radians(angle_deg)
    along = np.array([math.cos(a), -math.sin(a)])
    across = np.array([math.sin(a), math.cos(a)])
    # A uniform segment has variance L^2/12 along it. Sampling the 1-px tent at whole pixels
    # adds q(1 - q) <= 1/4 px^2 per axis for a point at fractional offset q.
    assert length_px**2 / 12 <= along @ cov @ along <= length_px**2 / 12 + 0.25
    assert across @ cov @ across <= 0.25


def streak_angle_deg(image: np.ndarray) -> float:
    """Orientation of a streak (degrees in [0, 180), counter-clockwise on screen)."""
    _, _, cov = moments(srgb_decode(image))
    values, vectors = np.linalg.eigh(cov)
    vx, vy = vectors[:, np.argmax(values)]
    return math.degrees(math.atan2(-vy, vx)) % 180.0


@ignore_realism
def test_motion_blur_angle_is_drawn_per_image_and_kept_across_lengths(seed: int) -> None:
    x = np.repeat(impulse(51, 51), 6, axis=0)
    angles = [
        [streak_angle_deg(o[:, :, 0]) for o in MotionBlur().perturb(x, pct, rngs_for(6, seed))]
        for pct in (20.0, 40.0)
    ]
    np.testing.assert_allclose(angles[0], angles[1], atol=1.0)
    assert np.ptp(angles[0]) > 20.0, "images get their own directions"


def test_motion_blur_rejects_a_non_numeric_angle() -> None:
    with pytest.raises(ParameterError, match="angle_deg"):
        MotionBlur(angle_deg="left")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# Lens distortion


@ignore_realism  # pincushion (k1 > 0) is outside the declared, barrel, range
@pytest.mark.parametrize("k1", [-0.25, -0.1, 0.1])
@pytest.mark.parametrize(("r", "direction_deg"), [(0.3, 20.0), (0.6, 135.0), (0.85, -30.0)])
def test_lens_distortion_moves_a_point_at_radius_r_to_r_times_one_plus_k1_r_squared(
    k1: float, r: float, direction_deg: float
) -> None:
    h, w = 161, 241
    cx, cy = (w - 1) / 2, (h - 1) / 2
    half_diagonal = math.hypot(w, h) / 2
    unit = np.array([math.cos(math.radians(direction_deg)), math.sin(math.radians(direction_deg))])
    source = np.array([cx, cy]) + unit * r * half_diagonal
    # Black borders: a reflected copy of a dot near the edge would pull the centroid.
    out = LensDistortion(border="constant").perturb(
        dot(h, w, source[0], source[1], sigma=1.0), k1, rngs_for(1)
    )
    expected = np.array([cx, cy]) + unit * r * (1 + k1 * r**2) * half_diagonal
    np.testing.assert_allclose(centroid(out[0, :, :, 1]), expected, atol=0.1)


def test_barrel_distortion_shows_black_corners_only_with_constant_border() -> None:
    white = np.ones((1, 60, 80, 3), dtype=np.float32)
    replicated = LensDistortion().perturb(white, -0.25, rngs_for(1))
    mirrored = LensDistortion(border="mirror").perturb(white, -0.25, rngs_for(1))
    black = LensDistortion(border="constant").perturb(white, -0.25, rngs_for(1))
    np.testing.assert_array_equal(replicated, white)
    np.testing.assert_array_equal(mirrored, white)
    assert np.all(black[0, 0, 0] == 0.0)
    assert np.all(black[0, 30, 40] == 1.0)
    grey = LensDistortion(border="constant", fill=128).perturb(white, -0.25, rngs_for(1))
    np.testing.assert_allclose(grey[0, 0, 0], 128 / 255)


def test_lens_distortion_rejects_an_unknown_border() -> None:
    with pytest.raises(ParameterError, match="border"):
        LensDistortion(border="wrap")


@pytest.mark.slow
@settings(max_examples=200, deadline=None)
@given(k1=st.floats(-0.5, 0.5), fraction=st.floats(0.0, 1.0))
def test_undistorted_radius_solves_the_model_up_to_its_fold(k1: float, fraction: float) -> None:
    # The one-term model increases up to r* = 1/sqrt(-3 k1) when k1 < 0, reaching 2/3 r*; the
    # solver covers undistorted radii up to 2 (twice the half-diagonal) before the fold.
    top = 2.0 if k1 >= 0 else min(2.0, 1 / math.sqrt(-3 * k1))
    reach = min(1.5, top * (1 + k1 * top * top))
    r_d = np.array([fraction * reach])
    r_u = undistorted_radius(r_d, k1)
    np.testing.assert_allclose(r_u * (1 + k1 * r_u**2), r_d, atol=2e-6)


# ---------------------------------------------------------------------------------------------
# Chromatic aberration


@ignore_realism  # 2% makes the shift large enough to measure to 2%
def test_chromatic_aberration_scales_red_out_and_blue_in_by_the_requested_separation() -> None:
    h, w = 201, 301
    cx, cy = (w - 1) / 2, (h - 1) / 2
    offset = np.array([-110.0, 70.0])  # towards the lower-left corner
    x = dot(h, w, cx + offset[0], cy + offset[1])
    ca_pct = 2.0
    out = ChromaticAberration().perturb(x, ca_pct, rngs_for(1))
    centre = np.array([cx, cy])
    red, green, blue = (centroid(out[0, :, :, c]) for c in range(3))
    np.testing.assert_allclose(red, centre + offset * (1 + ca_pct / 200), atol=0.03)
    np.testing.assert_allclose(green, centre + offset, atol=1e-6)
    np.testing.assert_allclose(blue, centre + offset * (1 - ca_pct / 200), atol=0.03)
    # The red-blue separation, as a share of the dot's distance from the centre.
    separation = np.linalg.norm(red - blue) / np.linalg.norm(offset) * 100
    assert separation == pytest.approx(ca_pct, rel=0.02)


@ignore_realism
def test_chromatic_aberration_of_grey_images_is_the_luma_of_the_colour_result() -> None:
    grey = (np.random.default_rng(4).random((2, 30, 40, 1)) * 255).astype(np.uint8)
    rgb = np.repeat(grey, 3, axis=3)
    colour = ChromaticAberration().perturb(rgb.astype(np.float32) / 255, 3.0, rngs_for(2))
    luma = colour.astype(np.float64) @ np.array([0.299, 0.587, 0.114]) * 255
    out = ChromaticAberration().perturb(grey, 3.0, rngs_for(2)).astype(np.float64)
    assert np.abs(out[..., 0] - luma).max() <= 0.5 + 1e-3
    assert not np.array_equal(out[..., 0], grey[..., 0])


@pytest.mark.parametrize("sigma_px", [0.02, 0.0199, 1e-5, 1e-308, 0.0])
def test_a_vanishing_gaussian_is_exactly_the_identity_without_overflow(sigma_px):
    """ImageNet-C's defocus at a subnormal severity once overflowed dividing by its sigma."""
    np.testing.assert_array_equal(gaussian_taps(sigma_px, 2), [0.0, 0.0, 1.0, 0.0, 0.0])
