"""ImageNet-C preset: the 15 corruptions against the published formulas, and the mCE scores.

The references are the published definitions (Hendrycks & Dietterich 2019, make_imagenet_c.py)
computed independently with Pillow, scikit-image, scipy and hand arithmetic; the comparison
with the imagecorruptions package itself, in reference mode, is in test_imagenet_c_reference.py.
"""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage, stats
from skimage import color

import wince.perturbations.presets.imagenet_c  # noqa: F401  (registers the corruptions)
from wince.errors import ParameterError
from wince.perturbations import Rngs, get, registry
from wince.perturbations.presets import (
    ALEXNET_ERRORS,
    IMAGENET_C_CORRUPTIONS,
    corruption_error,
    mean_corruption_error,
    preset,
    relative_mean_corruption_error,
)
from wince.perturbations.presets.imagenet_c import interpolate

# The formulas are checked on small images where the published size does not matter; the
# warning about sizes far from 224 px is tested in test_imagenet_c_reference.py.
pytestmark = pytest.mark.filterwarnings("ignore::wince.errors.ResolutionWarning")


def corrupt(name: str, x: np.ndarray, level: float, seed: int = 0) -> np.ndarray:
    rngs = Rngs.for_samples([f"s{i}" for i in range(len(x))], seed=seed, step=name)
    out: np.ndarray = get(f"image.imagenet_c_{name}")().perturb(x, level, rngs)
    return out


def photo(side: int = 224, seed: int = 1) -> np.ndarray:
    """A smooth colour scene with edges: gradients, a disc and a bar (uint8, one image)."""
    yy, xx = np.mgrid[0:side, 0:side] / (side - 1)
    disc = ((xx - 0.4) ** 2 + (yy - 0.55) ** 2 < 0.05).astype(float)
    bar = ((xx > 0.7) & (xx < 0.8)).astype(float)
    rng = np.random.default_rng(seed)
    channels = [
        0.2 + 0.5 * xx + 0.2 * disc,
        0.3 + 0.4 * yy - 0.2 * bar,
        0.6 - 0.3 * xx * yy + 0.3 * bar,
    ]
    image = np.stack(channels, axis=-1) + 0.02 * rng.standard_normal((side, side, 3))
    return np.rint(np.clip(image, 0, 1) * 255).astype(np.uint8)[None]


def grey_float(value: float, side: int = 128) -> np.ndarray:
    return np.full((1, side, side, 3), value, dtype=np.float32)


# ---------------------------------------------------------------------------------------------
# Levels and registration.


def test_interpolation_gives_published_rows_at_whole_levels_and_means_between() -> None:
    table = [(0.0, 1.0), (3.0, 0.1), (4.0, 0.5), (6.0, 0.5), (8.0, 0.5), (10.0, 0.5)]
    for level in range(6):
        assert interpolate(table, float(level)) == table[level]
    assert interpolate(table, 2.5) == pytest.approx((5.0, 0.5))
    assert interpolate(table, 0.25) == pytest.approx((0.75, 0.775))


def test_the_fifteen_corruptions_are_registered_with_levels_as_severities() -> None:
    names = [f"image.imagenet_c_{c}" for c in IMAGENET_C_CORRUPTIONS]
    assert set(names) <= set(registry())
    for name in names:
        p = get(name)()
        assert [p.at_severity(s) for s in (0.2, 0.4, 0.6, 0.8, 1.0)] == [1, 2, 3, 4, 5]


# ---------------------------------------------------------------------------------------------
# Noise.


@pytest.mark.parametrize(("level", "sd"), [(1, 0.08), (2, 0.12)])
def test_gaussian_noise_has_the_published_standard_deviation(level: int, sd: float) -> None:
    x = grey_float(0.5)
    noise = corrupt("gaussian_noise", x, level) - x
    assert noise.std() == pytest.approx(sd, rel=0.02)
    assert abs(noise.mean()) < 0.003


def test_gaussian_noise_scales_the_same_draws_with_the_level() -> None:
    x = grey_float(0.5)
    low, high = (corrupt("gaussian_noise", x, level) - x for level in (1, 2))
    inside = np.abs(high) < 0.49  # not clipped
    assert inside.mean() > 0.999
    np.testing.assert_allclose(high[inside], low[inside] * 0.12 / 0.08, atol=2e-6)


def test_shot_noise_level_5_counts_poisson_photons() -> None:
    x = grey_float(0.5)  # 3 photons per full scale: mean count 1.5
    counts = np.rint(corrupt("shot_noise", x, 5) * 3)
    shares = [np.mean(counts == k) for k in range(3)]
    expected = stats.poisson.pmf(range(3), 1.5)
    np.testing.assert_allclose(shares, expected, atol=0.01)
    assert np.mean(counts == 3) == pytest.approx(stats.poisson.sf(2, 1.5), abs=0.01)  # clipped


def test_impulse_noise_sets_the_published_share_half_salt_half_pepper() -> None:
    x = np.full((1, 128, 128, 3), 100, dtype=np.uint8)
    out = corrupt("impulse_noise", x, 3)  # amount 0.09
    assert np.mean(out == 0) == pytest.approx(0.045, abs=0.004)
    assert np.mean(out == 255) == pytest.approx(0.045, abs=0.004)
    assert np.all((out == 0) | (out == 255) | (out == 100))


def test_impulse_noise_hits_grow_as_nested_sets_with_the_level() -> None:
    x = np.full((1, 64, 64, 3), 100, dtype=np.uint8)
    mild, severe = (corrupt("impulse_noise", x, level) != 100 for level in (2, 4))
    assert np.all(severe[mild])
    assert severe.sum() > mild.sum()


# ---------------------------------------------------------------------------------------------
# Deterministic corruptions against the published formulas.


def test_brightness_adds_the_level_to_the_hsv_value() -> None:
    x = photo()
    hsv = color.rgb2hsv(x[0] / 255.0)
    hsv[..., 2] = np.clip(hsv[..., 2] + 0.3, 0, 1)  # level 3
    expected = np.clip(color.hsv2rgb(hsv), 0, 1) * 255
    out = corrupt("brightness", x, 3)[0].astype(float)
    assert np.abs(out - expected).max() <= 1.0


def test_contrast_level_5_scales_deviations_from_the_channel_mean_by_005() -> None:
    x = photo().astype(np.float32) / 255
    mean = x.astype(np.float64).mean(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(corrupt("contrast", x, 5), (x - mean) * 0.05 + mean, atol=1e-6)


@pytest.mark.parametrize(("level", "factor"), [(1, 0.6), (3, 0.4), (5, 0.25)])
def test_pixelate_resizes_with_pillow_box_down_and_back(level: int, factor: float) -> None:
    x = photo()
    small = Image.fromarray(x[0]).resize((int(224 * factor),) * 2, Image.Resampling.BOX)
    expected = np.asarray(small.resize((224, 224), Image.Resampling.BOX))
    np.testing.assert_array_equal(corrupt("pixelate", x, level)[0], expected)


@pytest.mark.parametrize(("level", "quality"), [(1, 25), (5, 7)])
def test_jpeg_compression_matches_pillow_at_the_published_quality(level: int, quality: int) -> None:
    x = photo()
    buffer = io.BytesIO()
    Image.fromarray(x[0]).save(buffer, "JPEG", quality=quality)
    expected = np.asarray(Image.open(buffer)).astype(float)
    assert np.abs(corrupt("jpeg_compression", x, level)[0] - expected).mean() < 0.5


def test_defocus_level_1_convolves_with_the_published_disk() -> None:
    coords = np.arange(-8, 9)
    disk = (coords[:, None] ** 2 + coords[None, :] ** 2 <= 9).astype(float)  # radius 3
    disk /= disk.sum()
    gauss = np.exp(-(np.arange(-1, 2) ** 2) / (2 * 0.1**2))  # 3 x 3 anti-aliasing, sigma 0.1
    kernel = ndimage.convolve(disk, np.outer(gauss, gauss) / gauss.sum() ** 2, mode="constant")
    x = photo()
    expected = np.stack(
        [ndimage.correlate(x[0, :, :, k] / 255.0, kernel, mode="mirror") for k in range(3)], -1
    )
    out = corrupt("defocus_blur", x, 1)[0] / 255.0
    assert np.abs(out - expected).max() <= 0.5 / 255 + 1e-6


@pytest.mark.slow
def test_zoom_blur_level_1_averages_scipy_centre_zooms() -> None:
    x = photo()
    image = x[0] / 255.0
    total = image.copy()
    zooms = np.arange(1, 1.11, 0.01)
    for zoom in zooms:  # the published clipped_zoom
        crop = math.ceil(224 / zoom)
        top = (224 - crop) // 2
        zoomed = ndimage.zoom(image[top : top + crop, top : top + crop], (zoom, zoom, 1), order=1)
        trim = (zoomed.shape[0] - 224) // 2
        total += zoomed[trim : trim + 224, trim : trim + 224]
    expected = np.rint(total / (len(zooms) + 1) * 255)
    assert np.abs(corrupt("zoom_blur", x, 1)[0] - expected).mean() < 0.02


# ---------------------------------------------------------------------------------------------
# Stochastic corruptions: what the published formulas fix.


def delta(side: int) -> np.ndarray:
    x = np.zeros((1, side, side, 1), dtype=np.float32)
    x[0, side // 2, side // 2, 0] = 1.0
    return x


def test_motion_blur_is_a_one_sided_line_of_published_length() -> None:
    out = corrupt("motion_blur", delta(224), 1)[0, :, :, 0]  # radius 10, sigma 3
    assert out.sum() == pytest.approx(1.0, abs=1e-5)
    rows, cols = np.nonzero(out > 1e-7)
    dy, dx = rows - 112, cols - 112
    assert np.hypot(dy, dx).max() <= 20.5  # taps 0..2 * radius
    taps = np.arange(21)
    weights = np.exp(-(taps**2) / 18)
    weights /= weights.sum()
    mean_reach = float((np.hypot(dy, dx) * out[rows, cols]).sum())
    assert mean_reach == pytest.approx(float((taps * weights).sum()), abs=0.3)
    assert np.all(dx * np.sign(dx.sum()) >= 0)  # all on one side


def test_motion_blur_length_scales_with_the_image() -> None:
    reach = []
    for side in (224, 448):
        out = corrupt("motion_blur", delta(side), 2)[0, :, :, 0]
        rows, cols = np.nonzero(out > 1e-7)
        reach.append(float((np.hypot(rows - side // 2, cols - side // 2) * out[rows, cols]).sum()))
    assert reach[1] / reach[0] == pytest.approx(2.0, rel=0.06)


def test_fog_on_a_flat_image_spans_the_published_range() -> None:
    out = corrupt("fog", grey_float(0.5, 224), 1)  # (0.5 + 1.5 haze) * 0.5 / (0.5 + 1.5)
    assert out.min() == pytest.approx(0.125, abs=1e-6)
    assert out.max() == pytest.approx(0.5, abs=1e-6)


def test_frost_on_black_weights_a_frost_like_texture() -> None:
    out = corrupt("frost", np.zeros((4, 96, 96, 3), dtype=np.float32), 3)  # frost weight 0.7
    channel_means = out.mean(axis=(0, 1, 2))
    np.testing.assert_allclose(channel_means, 0.7 * np.array([0.572, 0.656, 0.702]), atol=0.02)
    assert channel_means[2] > channel_means[0]  # ice is bluish


def test_snow_lightens_black_to_the_published_floor() -> None:
    out = corrupt("snow", np.zeros((1, 96, 96, 3), dtype=np.float32), 1)
    assert out.min() >= 0.1 - 1e-6  # 0.8 * 0 + 0.2 * max(0, 1.5 * 0 + 0.5)
    assert out.max() > 0.5  # flakes


@pytest.mark.parametrize("name", ["glass_blur", "elastic_transform", "defocus_blur", "zoom_blur"])
def test_flat_images_stay_flat_under_blurs_and_warps(name: str) -> None:
    x = np.full((2, 64, 64, 3), 128, dtype=np.uint8)
    np.testing.assert_array_equal(corrupt(name, x, 5), x)


def test_glass_blur_only_shuffles_locally() -> None:
    x = np.zeros((1, 224, 224, 1), dtype=np.uint8)
    x[0, 112, 112, 0] = 255
    out = corrupt("glass_blur", x, 1)[0, :, :, 0]  # sigma 0.7 (3-px kernels), shifts of 1 px
    rows, cols = np.nonzero(out)
    assert np.abs(rows - 112).max() <= 8
    assert np.abs(cols - 112).max() <= 8
    assert out.max() < 128  # blurred


# ---------------------------------------------------------------------------------------------
# Preset and scores.


def test_preset_lists_the_fifteen_corruptions_in_published_order_at_levels_1_to_5() -> None:
    entries = preset("imagenet-c")
    assert [e["name"] for e in entries] == [f"image.imagenet_c_{c}" for c in IMAGENET_C_CORRUPTIONS]
    assert entries[0]["name"] == "image.imagenet_c_gaussian_noise"
    assert entries[-1]["name"] == "image.imagenet_c_jpeg_compression"
    assert all(e["levels"] == [1, 2, 3, 4, 5] for e in entries)


def test_unknown_preset_names_the_known_ones() -> None:
    with pytest.raises(ParameterError, match="'imagenet-c'"):
        preset("imagenet-p")


def test_corruption_error_is_summed_error_over_summed_baseline() -> None:
    assert corruption_error([0.5, 0.6, 0.7, 0.8, 0.9], baseline_error=0.8) == pytest.approx(87.5)
    with pytest.raises(ParameterError, match="level"):
        corruption_error([0.5, 0.6], baseline_error=0.8)
    with pytest.raises(ParameterError, match="fractions"):
        corruption_error([50, 60, 70, 80, 90], baseline_error=0.8)


def test_alexnet_scores_100_against_itself() -> None:
    errors = {c: [e] * 5 for c, e in ALEXNET_ERRORS.items()}
    assert mean_corruption_error(errors) == pytest.approx(100.0)


def test_mean_corruption_error_averages_the_fifteen_ces() -> None:
    baseline = dict.fromkeys(IMAGENET_C_CORRUPTIONS, 0.5)
    errors = {f"image.imagenet_c_{c}": [0.25] * 5 for c in IMAGENET_C_CORRUPTIONS}
    errors["image.imagenet_c_contrast"] = [0.5] * 5
    assert mean_corruption_error(errors, baseline) == pytest.approx((14 * 50 + 100) / 15)


def test_mean_corruption_error_needs_all_fifteen() -> None:
    errors = {c: [0.5] * 5 for c in IMAGENET_C_CORRUPTIONS[:-1]}
    with pytest.raises(ParameterError, match="jpeg_compression"):
        mean_corruption_error(errors)
    with pytest.raises(ParameterError, match="not an ImageNet-C corruption"):
        mean_corruption_error({**errors, "rain": [0.5] * 5})


def test_relative_mce_compares_degradation_from_clean() -> None:
    errors = {c: [0.6] * 5 for c in IMAGENET_C_CORRUPTIONS}
    baseline = dict.fromkeys(IMAGENET_C_CORRUPTIONS, 0.7)
    relative = relative_mean_corruption_error(
        errors, clean_error=0.4, baseline=baseline, baseline_clean_error=0.3
    )
    assert relative == pytest.approx(50.0)  # (0.6 - 0.4) / (0.7 - 0.3)
