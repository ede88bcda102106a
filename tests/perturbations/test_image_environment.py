"""Environment perturbations measured in their physical units: transmission and hidden area.

Haze is checked against the atmospheric scattering model I = J t + A (1 - t) in linear light
(decoded here with the IEC 61966-2-1 sRGB curve, written independently of wince); occlusion
by measuring the hidden area: on white images with a black rectangle, and for fingers, hands,
straps and drops from their mix with uniform scenes in linear light.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from image_reference import srgb_decode, srgb_encode
from scipy import ndimage

from wince.errors import ParameterError
from wince.perturbations import Rngs
from wince.perturbations.image.environment import DROP_VEIL, HAND_RIM, Haze, Occlusion

ignore_realism = pytest.mark.filterwarnings("ignore::wince.errors.RealismWarning")


def rngs_for(n: int, seed: int = 0) -> Rngs:
    return Rngs.for_samples([f"img-{i}" for i in range(n)], seed=seed, step="test")


def patches(levels: list[float], h: int = 8, w: int = 8) -> np.ndarray:
    """float32 RGB images, each flat at one sRGB level."""
    return np.stack([np.full((h, w, 3), v, dtype=np.float32) for v in levels])


# ---------------------------------------------------------------------------------------------
# Haze


@pytest.mark.parametrize("transmission_pct", [90.0, 50.0, 10.0])
@pytest.mark.parametrize("airlight_pct", [80.0, 100.0, 30.0])
def test_haze_mixes_scene_and_airlight_by_the_transmission_in_linear_light(
    transmission_pct: float, airlight_pct: float
) -> None:
    x = patches([0.0, 0.2, 0.5, 0.9, 1.0])
    out = Haze(airlight_pct=airlight_pct).perturb(x, transmission_pct, rngs_for(len(x)))
    t = transmission_pct / 100
    airlight = srgb_decode(np.array(airlight_pct / 100))
    expected = srgb_decode(x) * t + airlight * (1 - t)
    np.testing.assert_allclose(srgb_decode(out), expected, atol=2e-6)


def test_haze_uint8_rounds_the_exact_result_to_the_nearest_level() -> None:
    x = np.arange(256, dtype=np.uint8).reshape(1, 16, 16, 1)
    out = Haze().perturb(x, 30.0, rngs_for(1)).astype(np.float64)
    exact = srgb_encode(srgb_decode(x / 255.0) * 0.3 + srgb_decode(np.array(0.8)) * 0.7) * 255
    assert np.abs(out - exact).max() <= 0.5 + 1e-9


def test_vertical_haze_thickens_from_bottom_to_top_around_the_flat_optical_depth() -> None:
    h = 21
    x = patches([0.0], h=h, w=4)
    transmission_pct = 20.0
    out = Haze(depth="vertical", airlight_pct=100.0).perturb(x, transmission_pct, rngs_for(1))
    # On black under white airlight the linear result is 1 - t, so t = 1 - I.
    t_rows = 1 - srgb_decode(out[0, :, 0, 0])
    optical_depth = -np.log(transmission_pct / 100)
    expected = np.exp(-optical_depth * np.linspace(1.5, 0.5, h))  # top row farthest
    np.testing.assert_allclose(t_rows, expected, atol=2e-6)
    flat = 1 - srgb_decode(Haze(airlight_pct=100.0).perturb(x, transmission_pct, rngs_for(1)))
    np.testing.assert_allclose(t_rows[h // 2], flat[0, 0, 0, 0], atol=2e-6)


@pytest.mark.parametrize("airlight_pct", [-1.0, 101.0, "white", True, float("nan")])
def test_haze_rejects_an_airlight_outside_0_to_100(airlight_pct: object) -> None:
    with pytest.raises(ParameterError, match="airlight_pct"):
        Haze(airlight_pct=airlight_pct)  # type: ignore[arg-type]


def test_haze_rejects_an_unknown_depth() -> None:
    with pytest.raises(ParameterError, match="depth"):
        Haze(depth="ground")


# ---------------------------------------------------------------------------------------------
# Occlusion


def hidden_px(out: np.ndarray) -> np.ndarray:
    """Hidden area per image (px) of a black occluder on white float images."""
    hidden: np.ndarray = (1.0 - out[..., 0].astype(np.float64)).sum(axis=(1, 2))
    return hidden


@ignore_realism  # the whole range of areas
@settings(max_examples=60, deadline=None)
@given(
    h=st.integers(1, 40),
    w=st.integers(1, 40),
    area_pct=st.floats(0.01, 100.0),
    seed=st.integers(0, 2**32 - 1),
)
def test_occlusion_hides_exactly_the_requested_area(
    h: int, w: int, area_pct: float, seed: int
) -> None:
    x = np.ones((3, h, w, 1), dtype=np.float32)
    out = Occlusion(kind="rectangle").perturb(x, area_pct, rngs_for(3, seed))
    np.testing.assert_allclose(hidden_px(out), area_pct / 100 * h * w, rtol=1e-5, atol=1e-4)


@ignore_realism
def test_larger_occluders_contain_smaller_ones(seed: int) -> None:
    x = np.ones((8, 30, 50, 3), dtype=np.float32)
    outs = [
        Occlusion(kind="rectangle").perturb(x, a, rngs_for(8, seed)) for a in (1.0, 5.0, 25.0, 60.0)
    ]
    for smaller, larger in itertools.pairwise(outs):
        assert np.all(larger <= smaller + 1e-7)


def test_uint8_occluder_covers_the_area_to_within_one_row_and_column(seed: int) -> None:
    h, w = 60, 80
    x = np.full((6, h, w, 3), 255, dtype=np.uint8)
    area_pct = 12.0
    out = Occlusion(kind="rectangle").perturb(x, area_pct, rngs_for(6, seed))[..., 0]
    for image in out:
        black = np.argwhere(image == 0)
        touched = np.argwhere(image < 255)
        (r0, c0), (r1, c1) = touched.min(axis=0), touched.max(axis=0)
        assert len(touched) == (r1 - r0 + 1) * (c1 - c0 + 1), "a rectangle"
        requested = area_pct / 100 * h * w
        assert len(black) <= requested <= len(touched)
        # Only the one-pixel ring around the fully covered core is partly covered.
        assert len(touched) - len(black) <= 2 * (r1 - r0 + 1) + 2 * (c1 - c0 + 1) - 4
    positions = {tuple(np.argwhere(image < 255).min(axis=0)) for image in out}
    assert len(positions) > 1, "positions are drawn per image"


def test_occlusion_fills_grey_or_noise_where_black_would_be() -> None:
    x = np.full((4, 40, 40, 3), 255, dtype=np.uint8)
    covered = (Occlusion(kind="rectangle").perturb(x, 10.0, rngs_for(4)) == 0).all(
        axis=-1
    )  # fully covered
    grey = Occlusion(kind="rectangle", fill="grey").perturb(x, 10.0, rngs_for(4))
    np.testing.assert_array_equal(grey[covered], 128)
    small, large = (
        Occlusion(kind="rectangle", fill="noise").perturb(x, a, rngs_for(4)) for a in (10.0, 20.0)
    )
    levels = small[covered].astype(np.float64)
    assert levels.std() == pytest.approx(np.sqrt((256**2 - 1) / 12), rel=0.1), "uniform levels"
    np.testing.assert_array_equal(large[covered], small[covered])  # same noise at any area
    with pytest.raises(ParameterError, match="fill"):
        Occlusion(fill="blur")


def uniform(level: float, n: int = 6, h: int = 48, w: int = 64) -> np.ndarray:
    return np.full((n, h, w, 3), level, dtype=np.float32)


def finger_cover(
    area_pct: float, seed: int, n: int = 6, kind: str = "finger", h: int = 48, w: int = 64
) -> np.ndarray:
    """An occluder's coverage per pixel (n, h, w), from its mix with a white and a black scene.

    In linear light a defocused occluder of light F over a scene S gives S + a (F - S), so
    white minus black is 1 - a whatever F is (shading included).
    """
    white, black = (
        srgb_decode(Occlusion(kind=kind).perturb(uniform(v, n, h, w), area_pct, rngs_for(n, seed)))
        for v in (1.0, 0.0)
    )
    cover: np.ndarray = 1.0 - (white - black)[..., 1]
    return cover


@ignore_realism
@pytest.mark.parametrize("area_pct", [1.0, 10.0, 25.0, 60.0, 100.0])
def test_a_finger_covers_the_requested_share_of_the_frame(area_pct: float, seed: int) -> None:
    cover = finger_cover(area_pct, seed)
    assert cover.min() >= -1e-4
    assert cover.max() <= 1 + 1e-4
    np.testing.assert_allclose(cover.mean(axis=(1, 2)), area_pct / 100, rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize("area_pct", [1.0, 10.0, 25.0])
def test_a_finger_enters_from_the_frame_s_edge_in_one_piece(area_pct: float, seed: int) -> None:
    for cover in finger_cover(area_pct, seed) > 0.01:
        _, count = ndimage.label(cover)
        assert count == 1, "one finger"
        frame_edge = np.concatenate([cover[0], cover[-1], cover[:, 0], cover[:, -1]])
        assert frame_edge.any(), "the finger comes in over the frame's edge"
        assert not cover.all()


def test_a_finger_is_skin_toned_and_opaque_at_its_core(seed: int) -> None:
    out = Occlusion().perturb(uniform(1.0, 8), 25.0, rngs_for(8, seed)).astype(np.float64)
    cover = finger_cover(25.0, seed, 8)
    for image, covered in zip(out, cover, strict=True):
        core = srgb_decode(image[covered > 0.999])
        assert len(core) > 0, "fully hidden pixels at 25%"
        assert np.abs(core - core[0]).max() < 1e-3, "one flat tone (linear light)"
        red, green, blue = core[0]
        assert red >= green >= blue, "skin: red over green over blue"
        assert red > blue


def test_larger_fingers_contain_smaller_ones(seed: int) -> None:
    covers = [finger_cover(a, seed) for a in (1.0, 5.0, 25.0, 60.0)]
    for smaller, larger in itertools.pairwise(covers):
        assert np.all(larger >= smaller - 1e-4)


@ignore_realism
@pytest.mark.parametrize("kind", ["hand", "strap"])
@pytest.mark.parametrize("area_pct", [1.0, 5.0, 10.0, 25.0, 60.0, 100.0])
def test_a_hand_or_strap_covers_the_requested_share_of_the_frame(
    kind: str, area_pct: float, seed: int
) -> None:
    cover = finger_cover(area_pct, seed, n=16, kind=kind)
    assert cover.min() >= -1e-4
    assert cover.max() <= 1 + 1e-4
    np.testing.assert_allclose(cover.mean(axis=(1, 2)), area_pct / 100, rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize("kind", ["hand", "strap"])
@pytest.mark.parametrize("area_pct", [2.0, 10.0, 25.0])
def test_a_hand_or_strap_comes_in_over_the_frame_s_edge_in_one_piece(
    kind: str, area_pct: float, seed: int
) -> None:
    for cover in finger_cover(area_pct, seed, n=16, kind=kind) > 0.01:
        _, count = ndimage.label(cover)
        assert count == 1, "one hand, fingers and thumb joined to the palm; one strap"
        frame_edge = np.concatenate([cover[0], cover[-1], cover[:, 0], cover[:, -1]])
        assert frame_edge.any(), "it comes in over the frame's edge"
        assert not cover.all()


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["hand", "strap"])
@pytest.mark.parametrize("area_pct", [10.0, 25.0])
def test_a_hand_or_strap_s_edge_is_a_defocused_band_not_a_step(
    kind: str, area_pct: float, seed: int
) -> None:
    covers = finger_cover(area_pct, seed, n=8, kind=kind, h=96, w=128)
    for cover in covers:
        steps = np.concatenate(
            [np.abs(np.diff(cover, axis=0)).ravel(), np.abs(np.diff(cover, axis=1)).ravel()]
        )
        assert steps.max() < 0.5, "no pixel jumps from scene to hand"
        band = ((cover > 0.05) & (cover < 0.95)).sum()
        core = (cover >= 0.95).sum()
        assert band > 0.1 * core, "a soft rim, not a cut-out"


@pytest.mark.slow
def test_a_hand_is_skin_toned_and_shaded_darker_at_its_rim(seed: int) -> None:
    n = 8
    out = Occlusion(kind="hand").perturb(uniform(1.0, n, 96, 128), 25.0, rngs_for(n, seed))
    cover = finger_cover(25.0, seed, n, kind="hand", h=96, w=128)
    for image, covered in zip(srgb_decode(out.astype(np.float64)), cover, strict=True):
        core = image[covered > 1 - 1e-5]  # none of the white scene shows through
        assert len(core) > 100, "fully hidden pixels at 25%"
        red, green, blue = core.T
        assert np.all(red >= green), "skin: red over green"
        assert np.all(green >= blue), "skin: green over blue"
        # one skin under changing light: every pixel is the same colour at another brightness
        np.testing.assert_allclose(blue / red, blue[0] / red[0], rtol=1e-2, atol=1e-3)
        brightest, darkest = green.max(), green.min()
        assert 1.3 < brightest / darkest < 1 / HAND_RIM + 0.01, "the rim turns from the light"


def test_a_strap_is_dark_neutral_webbing_brighter_along_its_middle(seed: int) -> None:
    n = 8
    out = Occlusion(kind="strap").perturb(uniform(1.0, n, 96, 128), 25.0, rngs_for(n, seed))
    cover = finger_cover(25.0, seed, n, kind="strap", h=96, w=128)
    for image, covered in zip(srgb_decode(out.astype(np.float64)), cover, strict=True):
        core = image[covered > 1 - 1e-5]
        assert len(core) > 100, "fully hidden pixels at 25%"
        np.testing.assert_allclose(core, core[:, :1].repeat(3, axis=1), atol=1e-6)  # grey
        light = core[:, 0]
        assert light.max() <= 0.5 * 0.05 + 1e-6, "5% webbing at half its reflectance"
        assert light.max() / light.min() > 1.2, "the rims turn from the light"


def test_larger_straps_contain_smaller_ones(seed: int) -> None:
    covers = [finger_cover(a, seed, n=8, kind="strap") for a in (1.0, 5.0, 25.0, 60.0)]
    for smaller, larger in itertools.pairwise(covers):
        assert np.all(larger >= smaller - 1e-4)


@pytest.mark.slow
def test_larger_hands_contain_most_of_smaller_ones(seed: int) -> None:
    # The hand grows about its wrist: spread fingers may leave a gap where a smaller hand's
    # finger was, but the palm holds most of what it covered.
    covers = [finger_cover(a, seed, n=8, kind="hand") for a in (5.0, 25.0, 60.0)]
    for smaller, larger in itertools.pairwise(covers):
        kept = np.minimum(smaller, larger).sum(axis=(1, 2)) / smaller.sum(axis=(1, 2))
        assert np.all(kept > 0.8)


@pytest.mark.parametrize("kind", ["finger", "hand", "strap", "drops"])
def test_an_image_s_occluder_does_not_depend_on_the_rest_of_the_batch(kind: str) -> None:
    x = np.random.default_rng(6).integers(0, 256, (5, 40, 56, 3), dtype=np.uint8)
    ids = [f"img-{i}" for i in range(5)]
    batch = Occlusion(kind=kind).perturb(x, 15.0, Rngs.for_samples(ids, seed=2, step="test"))
    for i in (0, 3):
        alone = Occlusion(kind=kind).perturb(
            x[i : i + 1], 15.0, Rngs.for_samples([ids[i]], seed=2, step="test")
        )
        np.testing.assert_array_equal(alone[0], batch[i])


@ignore_realism
@pytest.mark.parametrize("area_pct", [1.0, 10.0, 25.0, 60.0])
def test_drops_cover_the_requested_share_of_the_frame(area_pct: float, seed: int) -> None:
    # On a black scene a drop shows only the light it scatters: DROP_VEIL times its cover.
    out = Occlusion(kind="drops").perturb(uniform(0.0), area_pct, rngs_for(6, seed))
    cover = srgb_decode(out)[..., 1] / DROP_VEIL
    np.testing.assert_allclose(cover.mean(axis=(1, 2)), area_pct / 100, rtol=1e-3, atol=1e-5)
    assert (cover > 0.01).any(axis=(1, 2)).all()


def test_drops_blur_and_brighten_the_scene_without_hiding_it(seed: int) -> None:
    n = 4
    cover = (
        srgb_decode(
            Occlusion(kind="drops").perturb(uniform(0.0, n, 96, 128), 25.0, rngs_for(n, seed))
        )[..., 1]
        / DROP_VEIL
    )
    stripes = np.zeros((n, 96, 128, 3), dtype=np.float32)
    stripes[:, :, ::2] = 0.8  # 1-px stripes: blurred to their mean inside a drop
    out = Occlusion(kind="drops").perturb(stripes, 25.0, rngs_for(n, seed))
    under = out[cover > 0.999]
    assert len(under) > 100
    assert np.all(under > 0.05), "not black"
    assert np.all(np.abs(under - stripes[cover > 0.999]) > 0.02), "not unchanged"
    light = srgb_decode(under).mean()
    assert light > srgb_decode(stripes).mean(), "brighter: the drop adds scattered light"
    # unchanged outside the drops (a drop's faintest rim, below 1e-9, moves a value by as much)
    np.testing.assert_allclose(out[cover < 1e-9], stripes[cover < 1e-9], rtol=0, atol=1e-8)


@pytest.mark.parametrize("kind", ["finger", "hand", "strap", "drops", "rectangle"])
def test_occluders_are_the_same_for_the_same_seed_and_drawn_per_image(kind: str) -> None:
    x = np.random.default_rng(5).integers(0, 256, (4, 40, 56, 3), dtype=np.uint8)
    first, again = (Occlusion(kind=kind).perturb(x, 10.0, rngs_for(4, 3)) for _ in range(2))
    np.testing.assert_array_equal(first, again)
    other = Occlusion(kind=kind).perturb(x, 10.0, rngs_for(4, 4))
    assert not np.array_equal(first, other)
    changed = [
        tuple(np.argwhere((a != b).any(axis=-1)).min(axis=0)) for a, b in zip(first, x, strict=True)
    ]
    assert len(set(changed)) > 1, "each image draws its own occluder"


def test_occlusion_fill_belongs_to_the_rectangle() -> None:
    with pytest.raises(ParameterError, match="only applies to kind='rectangle'"):
        Occlusion(fill="grey")
    with pytest.raises(ParameterError, match="kind"):
        Occlusion(kind="glove")
