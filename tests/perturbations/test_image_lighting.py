"""Lighting and colour perturbations measured in their physical units.

References are written here independently of wince: the IEC 61966-2-1 sRGB curves, published
chromaticities of the Planckian locus, the Bradford transform from its published matrix, the
cos**4 law from trigonometry.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from image_reference import srgb_decode, srgb_encode

from wince.perturbations import Rngs
from wince.perturbations.image.lighting import (
    Contrast,
    Gamma,
    HueRotation,
    LowLight,
    Saturation,
    Vignetting,
    WhiteBalance,
    planckian_xy,
)

ignore_realism = pytest.mark.filterwarnings("ignore::wince.errors.RealismWarning")

# Rec. 709 / sRGB luminance weights of linear R, G, B.
LUMA = np.array([0.2126, 0.7152, 0.0722])


def rngs_for(n: int, seed: int = 0) -> Rngs:
    return Rngs.for_samples([f"img-{i}" for i in range(n)], seed=seed, step="test")


def flat(linear_rgb: tuple[float, ...], n: int = 1, size: int = 4) -> np.ndarray:
    """float32 images of one colour given in linear light."""
    colour = srgb_encode(np.array(linear_rgb)).astype(np.float32)
    return np.broadcast_to(colour, (n, size, size, len(linear_rgb))).copy()


def random_colours(seed: int, low: int = 0, high: int = 256) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(low, high, size=(3, 16, 16, 3), dtype=np.uint8)


# ---------------------------------------------------------------------------------------------
# Contrast


@ignore_realism  # +50% lies outside the declared (flattening) range
@pytest.mark.parametrize("contrast_pct", [-80.0, -30.0, -5.0, 50.0])
def test_contrast_scales_linear_deviations_from_mid_grey(contrast_pct: float) -> None:
    # Linear values 0.10-0.30 stay inside [0, 1] even at +50% around 0.18.
    x = srgb_encode(np.random.default_rng(1).uniform(0.10, 0.30, (2, 8, 8, 3)))
    out = Contrast().perturb(x.astype(np.float32), contrast_pct, rngs_for(2))
    k = 1 + contrast_pct / 100
    expected = 0.18 + k * (srgb_decode(x.astype(np.float32)) - 0.18)
    np.testing.assert_allclose(srgb_decode(out), expected, atol=2e-6)


@pytest.mark.parametrize("contrast_pct", [-80.0, -30.0])
def test_uint8_contrast_rounds_to_the_nearest_level(contrast_pct: float) -> None:
    x = random_colours(2)
    out = Contrast().perturb(x, contrast_pct, rngs_for(3))
    exact = 255 * srgb_encode(0.18 + (1 + contrast_pct / 100) * (srgb_decode(x / 255) - 0.18))
    assert np.abs(out - exact).max() <= 0.5 + 1e-6


@ignore_realism
def test_minus_hundred_percent_contrast_is_uniform_mid_grey_level_118() -> None:
    out = Contrast().perturb(random_colours(3), -100.0, rngs_for(3))
    # 18% linear encodes to sRGB 0.4613 = 117.6 levels.
    assert np.all(out == 118)


# ---------------------------------------------------------------------------------------------
# Gamma


@ignore_realism  # exponents below 1 lie outside the declared range
@pytest.mark.parametrize("gamma_exponent", [0.5, 1 / 1.1, 1.1, 1.5, 2.0, 2.2])
def test_gamma_maps_half_to_half_to_the_power_and_keeps_black_and_white(
    gamma_exponent: float,
) -> None:
    x = np.array([0.0, 0.25, 0.5, 1.0], dtype=np.float32).reshape(1, 2, 2, 1)
    out = Gamma().perturb(x, gamma_exponent, rngs_for(1)).ravel()
    np.testing.assert_allclose(out, [0.0, 0.25**gamma_exponent, 0.5**gamma_exponent, 1.0], 1e-6)


def test_uint8_gamma_rounds_to_the_nearest_level() -> None:
    x = np.arange(256, dtype=np.uint8).reshape(1, 16, 16, 1)
    out = Gamma().perturb(x, 1.8, rngs_for(1))
    np.testing.assert_array_equal(out.ravel(), np.rint(255 * (np.arange(256) / 255) ** 1.8))


# ---------------------------------------------------------------------------------------------
# White balance

# CIE 1931 chromaticities of a black body (Wyszecki & Stiles, Color Science, table 1(3.11);
# 2856 K is CIE illuminant A).
PLANCKIAN_XY = {
    2000.0: (0.5267, 0.4133),
    2856.0: (0.44757, 0.40745),
    3000.0: (0.4369, 0.4041),
    4000.0: (0.3805, 0.3768),
    5000.0: (0.3451, 0.3516),
    6500.0: (0.3135, 0.3236),
}
BRADFORD = np.array(
    [[0.8951, 0.2664, -0.1614], [-0.7502, 1.7135, 0.0367], [0.0389, -0.0685, 1.0296]]
)
SRGB_TO_XYZ = np.array(
    [[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]
)


@pytest.mark.parametrize("temperature_k", sorted(PLANCKIAN_XY))
def test_planckian_chromaticity_matches_the_published_locus(temperature_k: float) -> None:
    x, y = planckian_xy(temperature_k)
    assert x == pytest.approx(PLANCKIAN_XY[temperature_k][0], abs=6e-4)
    assert y == pytest.approx(PLANCKIAN_XY[temperature_k][1], abs=6e-4)


def predicted_grey(temperature_k: float) -> np.ndarray:
    """Linear RGB of sRGB white under a light at T, by Bradford from the published whites."""

    def cones(xy: tuple[float, float]) -> np.ndarray:
        x, y = xy
        return BRADFORD @ np.array([x / y, 1.0, (1 - x - y) / y])

    gain = cones(PLANCKIAN_XY[temperature_k]) / cones(PLANCKIAN_XY[6500.0])
    lms_of_white = BRADFORD @ SRGB_TO_XYZ @ np.ones(3)
    rgb: np.ndarray = np.linalg.solve(BRADFORD @ SRGB_TO_XYZ, gain * lms_of_white)
    return rgb


@ignore_realism  # 2856 K lies just beyond the declared severe end
@pytest.mark.parametrize("temperature_k", [2856.0, 3000.0, 4000.0, 5000.0])
def test_white_balance_gives_a_grey_card_the_colour_of_the_published_illuminant(
    temperature_k: float,
) -> None:
    grey = flat((0.18, 0.18, 0.18))  # a grey card: no channel clips
    out = srgb_decode(WhiteBalance().perturb(grey, temperature_k, rngs_for(1)))[0, 0, 0]
    expected = predicted_grey(temperature_k)
    assert out[0] / out[2] == pytest.approx(expected[0] / expected[2], rel=0.01)
    assert out[1] / out[2] == pytest.approx(expected[1] / expected[2], rel=0.01)
    assert out @ LUMA == pytest.approx(0.18, rel=1e-5), "greys keep their luminance"


def test_tungsten_light_warms_and_shade_cools_a_grey_card() -> None:
    grey = flat((0.18, 0.18, 0.18))
    warm = srgb_decode(WhiteBalance().perturb(grey, 3000.0, rngs_for(1)))[0, 0, 0]
    with pytest.warns(match="beyond the realistic range"):
        cool = srgb_decode(WhiteBalance().perturb(grey, 8000.0, rngs_for(1)))[0, 0, 0]
    assert warm[0] > warm[1] > warm[2]
    assert cool[0] < cool[1] < cool[2]


def test_white_balance_is_continuous_at_6500_k() -> None:
    x = random_colours(4)
    out = WhiteBalance().perturb(x, 6499.0, rngs_for(3))
    assert np.abs(out.astype(int) - x).max() <= 1


@pytest.mark.parametrize("cls", [WhiteBalance, Saturation, HueRotation])
def test_colour_changes_leave_single_channel_grey_images_unchanged(cls: type) -> None:
    x = np.arange(256, dtype=np.uint8).reshape(1, 16, 16, 1)
    p = cls()
    np.testing.assert_array_equal(p.perturb(x, p.at_severity(1.0), rngs_for(1)), x)


@pytest.mark.parametrize("cls", [WhiteBalance, Saturation, HueRotation])
def test_uint8_colour_changes_match_float32_within_a_level(cls: type) -> None:
    x = random_colours(5)
    p = cls()
    value = p.at_severity(0.7)
    out_u8 = p.perturb(x, value, rngs_for(3)).astype(np.float64)
    out_f = p.perturb(x.astype(np.float32) / np.float32(255), value, rngs_for(3))
    assert np.abs(out_u8 - 255 * out_f.astype(np.float64)).max() <= 0.5 + 0.05


# ---------------------------------------------------------------------------------------------
# Saturation


@ignore_realism
@settings(max_examples=40, deadline=None)
@given(
    rgb=st.tuples(*[st.floats(0.0, 1.0)] * 3),
    saturation_pct=st.floats(-100.0, 0.0),
)
def test_desaturation_keeps_luminance(
    rgb: tuple[float, float, float], saturation_pct: float
) -> None:
    x = flat(rgb)
    out = srgb_decode(Saturation().perturb(x, saturation_pct, rngs_for(1)))[0, 0, 0]
    assert out @ LUMA == pytest.approx(srgb_decode(x[0, 0, 0]) @ LUMA, abs=1e-5)


def test_minus_hundred_percent_saturation_gives_grey_of_the_same_luminance() -> None:
    x = random_colours(6).astype(np.float32) / np.float32(255)
    out = srgb_decode(Saturation().perturb(x, -100.0, rngs_for(3)))
    luminance = srgb_decode(x) @ LUMA
    for channel in range(3):
        np.testing.assert_allclose(out[..., channel], luminance, atol=2e-6)


@ignore_realism
@pytest.mark.parametrize("saturation_pct", [-60.0, 50.0])
def test_saturation_scales_the_distance_from_grey(saturation_pct: float) -> None:
    rgb = (0.30, 0.20, 0.25)  # low chroma: +50% stays in gamut
    out = srgb_decode(Saturation().perturb(flat(rgb), saturation_pct, rngs_for(1)))[0, 0, 0]
    luminance = np.array(rgb) @ LUMA
    expected = luminance + (1 + saturation_pct / 100) * (np.array(rgb) - luminance)
    np.testing.assert_allclose(out, expected, atol=2e-6)


# ---------------------------------------------------------------------------------------------
# Hue rotation


@ignore_realism
def test_hue_rotation_by_360_degrees_is_the_identity() -> None:
    x = random_colours(7).astype(np.float32) / np.float32(255)
    np.testing.assert_allclose(HueRotation().perturb(x, 360.0, rngs_for(3)), x, atol=2e-6)
    np.testing.assert_allclose(HueRotation().perturb(x, -360.0, rngs_for(3)), x, atol=2e-6)


@ignore_realism
def test_hue_rotation_by_120_degrees_turns_red_green_and_green_blue() -> None:
    x = flat((1.0, 0.0, 0.0)), flat((0.0, 1.0, 0.0))
    red_to, green_to = (HueRotation().perturb(v, 120.0, rngs_for(1))[0, 0, 0] for v in x)
    assert red_to[1] > 0
    assert red_to[0] == red_to[2] == 0
    assert green_to[2] > max(green_to[0], green_to[1])


@ignore_realism
def test_hue_rotations_add_and_keep_luminance_and_greys() -> None:
    # Low-chroma colours stay in gamut under any rotation, so nothing clips.
    rng = np.random.default_rng(8)
    linear = 0.4 + 0.1 * rng.uniform(-1, 1, (1, 8, 8, 3))
    linear[0, 0, 0] = 0.3  # a grey pixel
    x = srgb_encode(linear).astype(np.float32)
    p = HueRotation()
    once = p.perturb(x, 100.0, rngs_for(1))
    twice = p.perturb(p.perturb(x, 40.0, rngs_for(1)), 60.0, rngs_for(1))
    np.testing.assert_allclose(once, twice, atol=1e-5)
    np.testing.assert_allclose(srgb_decode(once) @ LUMA, linear @ LUMA, atol=1e-5)
    np.testing.assert_allclose(srgb_decode(once[0, 0, 0]), 0.3, atol=1e-6)
    assert np.abs(srgb_decode(once) - linear).max() > 0.05


# ---------------------------------------------------------------------------------------------
# Vignetting


def cos4_gain(radius: float, corner_falloff_ev: float) -> float:
    """Natural vignetting: cos(field angle)**4, the corner angle set by the falloff."""
    corner_angle = math.acos(2 ** (-corner_falloff_ev / 4))
    angle = math.atan(radius * math.tan(corner_angle))
    return math.cos(angle) ** 4


@pytest.mark.parametrize("corner_falloff_ev", [0.3, 1.0, 3.0])
@pytest.mark.parametrize(("h", "w"), [(301, 401), (401, 201)])
def test_vignetting_darkens_corners_by_the_requested_stops(
    corner_falloff_ev: float, h: int, w: int
) -> None:
    x = flat((0.5, 0.5, 0.5), size=1)
    x = np.broadcast_to(x, (1, h, w, 3)).copy()
    out = srgb_decode(Vignetting().perturb(x, corner_falloff_ev, rngs_for(1)))[0, :, :, 1]
    centre = out[h // 2, w // 2]
    assert centre == pytest.approx(0.5, rel=1e-5)
    # The corner pixel's centre lies 0.5 px inside the corner: r = 0.997 here.
    assert out[0, 0] / centre == pytest.approx(2**-corner_falloff_ev, rel=0.012)
    assert out[-1, -1] / centre == pytest.approx(2**-corner_falloff_ev, rel=0.012)
    # Half way to the corner along the diagonal, the cos**4 law.
    mid = out[h // 4, w // 4] / centre
    assert mid == pytest.approx(cos4_gain(0.5, corner_falloff_ev), rel=0.01)


def test_vignetting_is_resolution_independent() -> None:
    gains = []
    for scale in (1, 9):
        h, w = 33 * scale, 45 * scale
        x = np.broadcast_to(flat((0.5, 0.5, 0.5), size=1), (1, h, w, 3)).copy()
        out = srgb_decode(Vignetting().perturb(x, 2.0, rngs_for(1)))[0, :, :, 0] / 0.5
        # Pixel j of the small image and pixel 9 j + 4 of the large one share their centre.
        gains.append(out[scale // 2 :: scale, scale // 2 :: scale])
    np.testing.assert_allclose(gains[0], gains[1], rtol=1e-5)
    assert gains[0].min() < 0.3


# ---------------------------------------------------------------------------------------------
# Low light


@pytest.mark.parametrize("exposure_ev", [-1.0, -3.0])
def test_low_light_darkens_by_the_stops_and_adds_the_shot_noise_of_fewer_photons(
    exposure_ev: float, seed: int
) -> None:
    s, photons = 0.5, 1000.0
    x = flat((s, s, s), n=4, size=64)  # 49k values: variance known to ~1%
    out = srgb_decode(
        LowLight(full_scale_photons=photons).perturb(x, exposure_ev, rngs_for(4, seed))
    )
    g = 2**exposure_ev
    # Photons: s g N on average; the input's own noise s N is scaled by g, so g s (1 - g) N
    # is added, which in full-scale units is a variance of s g (1 - g) / N.
    variance = s * g * (1 - g) / photons
    assert out.mean() == pytest.approx(s * g, abs=4 * math.sqrt(variance / out.size))
    assert out.var() == pytest.approx(variance, rel=0.04)


def test_low_light_noise_draws_are_common_to_every_exposure(seed: int) -> None:
    x = flat((0.5, 0.5, 0.5), n=2, size=32)
    standardised = []
    for ev in (-1.0, -2.0):
        g = 2**ev
        out = srgb_decode(LowLight().perturb(x, ev, rngs_for(2, seed)))
        standardised.append((out - 0.5 * g) / math.sqrt(0.5 * g * (1 - g) / 10_000))
    np.testing.assert_allclose(standardised[0], standardised[1], atol=0.01)


@ignore_realism
def test_low_light_at_minus_twelve_ev_is_black_up_to_noise() -> None:
    x = np.full((1, 16, 16, 3), 255, dtype=np.uint8)
    assert LowLight().perturb(x, -12.0, rngs_for(1)).max() <= 3
