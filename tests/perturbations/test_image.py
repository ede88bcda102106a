"""Image perturbations measured in their physical units, against independent references."""

from __future__ import annotations

import itertools
import re

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from image_reference import srgb_decode, srgb_encode

from wince.errors import DataError
from wince.perturbations import DataContext, Modality, Perturbation, Rngs, registry
from wince.perturbations.image.lighting import Exposure
from wince.perturbations.image.pipeline import Jpeg
from wince.perturbations.image.sensor import GaussianNoise

IMAGE_PERTURBATIONS = {
    n: c
    for n, c in registry().items()
    if c.modality == Modality.IMAGE and c.__module__.startswith("wince.")
}

# Rec. 709 / sRGB luminance weights of linear R, G, B.
LUMA = np.array([0.2126, 0.7152, 0.0722])

ignore_realism = pytest.mark.filterwarnings("ignore::wince.errors.RealismWarning")
# Every image perturbation runs on small images here, ImageNet-C's too: its warning that the
# published pixel sizes are for 224 px is expected (tested in test_imagenet_c_reference.py).
pytestmark = pytest.mark.filterwarnings("ignore::wince.errors.ResolutionWarning")


def rngs_for(n: int, seed: int) -> Rngs:
    return Rngs.for_samples([f"img-{i}" for i in range(n)], seed=seed, step="test")


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / mse))


def textured(n: int = 3, h: int = 48, w: int = 64, seed: int = 5) -> np.ndarray:
    """uint8 RGB photographs in miniature: gradients, edges, fine texture and grain."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / np.array([h, w])[:, None, None]
    images = []
    for i in range(n):
        base = 0.5 + 0.35 * np.sin(2 * np.pi * (xx * (1 + i) + 0.5 * yy))
        edges = 0.2 * ((xx * 8 + yy * 3 + i) % 1 > 0.5)
        grain = 0.05 * rng.standard_normal((h, w, 3))
        images.append(base[..., None] * [1.0, 0.8, 0.6] + edges[..., None] + grain)
    out: np.ndarray = np.rint(np.clip(np.stack(images), 0, 1) * 255).astype(np.uint8)
    return out


# ---------------------------------------------------------------------------------------------
# Exposure


@ignore_realism  # brightening (+EV) is allowed but outside the declared (darkening) range
@pytest.mark.parametrize("ev", [-3.0, -1.0, -0.5, 0.5, 1.0])
def test_exposure_scales_linear_luminance_by_two_to_the_ev(ev: float, seed: int) -> None:
    # Colourful mid-tones: even at +1 EV no channel reaches full scale (sRGB 160 -> linear 0.35).
    x = np.random.default_rng(seed).integers(40, 161, size=(4, 16, 16, 3), dtype=np.uint8)
    f = x.astype(np.float32) / np.float32(255)

    out_f = Exposure().perturb(f, ev, rngs_for(4, seed))
    np.testing.assert_allclose(
        srgb_decode(out_f) @ LUMA, 2.0**ev * (srgb_decode(f) @ LUMA), rtol=2e-6, atol=1e-8
    )

    out_u8 = Exposure().perturb(x, ev, rngs_for(4, seed))
    exact = srgb_encode(2.0**ev * srgb_decode(x / 255.0)) * 255.0
    assert np.abs(out_u8 - exact).max() <= 0.5 + 1e-6, "uint8 rounds to the nearest level"
    assert np.abs(out_u8 - out_f.astype(np.float64) * 255.0).max() <= 1.0, "uint8 vs float32"


@ignore_realism  # below -3 EV is outside the realistic range
@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_exposure_darkens_monotonically_towards_black(dtype: type) -> None:
    x = textured()
    x = x if dtype == np.uint8 else x.astype(np.float32) / np.float32(255)
    full_scale = 255.0 if dtype == np.uint8 else 1.0
    previous, means = x, []
    for ev in np.arange(-0.5, -10.5, -0.5):
        out = Exposure().perturb(x, float(ev), rngs_for(len(x), 0))
        assert np.all(out <= previous), f"{ev} EV brightened some pixel"
        previous = out
        means.append(out.astype(np.float64).mean())
    assert all(b < a for a, b in itertools.pairwise(means))
    # -10 EV leaves 1/1024 of the light: full scale encodes to sRGB 12.92/1024 = 3.2 levels.
    assert out.max() <= 3.3 / 255 * full_scale


@ignore_realism
def test_exposure_clips_highlights_at_full_scale() -> None:
    x = np.full((1, 2, 2, 3), 200, dtype=np.uint8)
    assert np.all(Exposure().perturb(x, 2.0, rngs_for(1, 0)) == 255)


# ---------------------------------------------------------------------------------------------
# Gaussian noise


@pytest.mark.parametrize("noise_sd_pct", [1.0, 4.0, 8.0])
def test_noise_sd_matches_request_on_mid_grey_float_images(noise_sd_pct: float, seed: int) -> None:
    x = np.full((4, 64, 64, 3), 0.5, dtype=np.float32)  # 49k values: std known to ~0.3%
    out = GaussianNoise().perturb(x, noise_sd_pct, rngs_for(4, seed))
    diff = out.astype(np.float64) - 0.5
    assert diff.std() == pytest.approx(noise_sd_pct / 100, rel=0.03)
    assert abs(diff.mean()) < 4 * (noise_sd_pct / 100) / np.sqrt(diff.size)


@pytest.mark.parametrize("noise_sd_pct", [1.0, 4.0])
def test_uint8_noise_sd_adds_rounding_error_of_one_twelfth_level(
    noise_sd_pct: float, seed: int
) -> None:
    x = np.full((4, 64, 64, 3), 128, dtype=np.uint8)
    out = GaussianNoise().perturb(x, noise_sd_pct, rngs_for(4, seed))
    diff = out.astype(np.float64) - 128
    expected = np.sqrt((noise_sd_pct / 100 * 255) ** 2 + 1 / 12)  # Sheppard's correction
    assert diff.std() == pytest.approx(expected, rel=0.03)


def test_noise_is_independent_across_samples(seed: int) -> None:
    x = np.full((2, 64, 64, 3), 0.5, dtype=np.float32)
    out = GaussianNoise().perturb(x, 4.0, rngs_for(2, seed)).astype(np.float64) - 0.5
    r = np.corrcoef(out[0].ravel(), out[1].ravel())[0, 1]
    assert abs(r) < 4 / np.sqrt(out[0].size)


# ---------------------------------------------------------------------------------------------
# JPEG


def reference_jpeg(images: np.ndarray, quality: int) -> np.ndarray:
    """Round trip each image through OpenCV's codec directly (RGB <-> BGR by slicing)."""
    out = np.empty_like(images)
    params = [cv2.IMWRITE_JPEG_QUALITY, quality]
    for i, image in enumerate(images):
        grey = image.shape[2] == 1
        bgr = image[:, :, 0] if grey else image[:, :, 2::-1]
        ok, code = cv2.imencode(".jpg", np.ascontiguousarray(bgr), params)
        decoded = cv2.imdecode(code, cv2.IMREAD_GRAYSCALE if grey else cv2.IMREAD_COLOR)
        assert ok
        assert decoded is not None
        if grey:
            out[i, :, :, 0] = decoded
        else:
            out[i, :, :, :3] = decoded[:, :, ::-1]
            out[i, :, :, 3:] = image[:, :, 3:]
    return out


def test_jpeg_psnr_falls_as_quality_falls() -> None:
    x = textured()
    scores = [psnr(x, Jpeg().perturb(x, q, rngs_for(len(x), 0))) for q in (90, 50, 20)]
    assert scores[0] > scores[1] > scores[2], scores
    assert scores[0] < 60, "quality 90 is not lossless"


@pytest.mark.parametrize("quality", [90, 52, 20])
def test_jpeg_equals_an_independent_opencv_round_trip(quality: int) -> None:
    x = textured()
    np.testing.assert_array_equal(
        Jpeg().perturb(x, quality, rngs_for(len(x), 0)), reference_jpeg(x, quality)
    )


def test_jpeg_float_images_are_quantised_then_round_tripped() -> None:
    x = textured()
    out = Jpeg().perturb(x.astype(np.float32) / np.float32(255), 50, rngs_for(len(x), 0))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(np.rint(out * 255).astype(np.uint8), reference_jpeg(x, 50))


def test_jpeg_greyscale_images_round_trip_as_one_channel() -> None:
    grey = textured()[..., 1:2].copy()
    out = Jpeg().perturb(grey, 30, rngs_for(len(grey), 0))
    assert out.shape == grey.shape
    np.testing.assert_array_equal(out, reference_jpeg(grey, 30))
    assert psnr(grey, out) < 60


def test_jpeg_rgba_compresses_colour_and_keeps_alpha() -> None:
    rgb = textured()
    alpha = np.random.default_rng(1).integers(0, 256, size=(*rgb.shape[:3], 1), dtype=np.uint8)
    rgba = np.concatenate([rgb, alpha], axis=-1)
    out = Jpeg().perturb(rgba, 40, rngs_for(len(rgba), 0))
    np.testing.assert_array_equal(out, reference_jpeg(rgba, 40))
    np.testing.assert_array_equal(out[..., 3], alpha[..., 0])


# ---------------------------------------------------------------------------------------------
# All image perturbations


@pytest.mark.parametrize("cls", list(IMAGE_PERTURBATIONS.values()), ids=list(IMAGE_PERTURBATIONS))
def test_alpha_is_kept_and_colour_is_perturbed_as_without_alpha(
    cls: type[Perturbation], seed: int
) -> None:
    rgb = textured()
    alpha = np.random.default_rng(2).integers(0, 256, size=(*rgb.shape[:3], 1), dtype=np.uint8)
    p = cls()
    value = p.at_severity(1.0)
    for scale, dtype in ((1, np.uint8), (255, np.float32)):
        colour = (rgb / scale).astype(dtype)
        rgba = (np.concatenate([rgb, alpha], axis=-1) / scale).astype(dtype)
        out = p.perturb(rgba, value, rngs_for(len(rgba), seed))
        np.testing.assert_array_equal(out[..., 3], rgba[..., 3])
        np.testing.assert_array_equal(out[..., :3], p.perturb(colour, value, rngs_for(3, seed)))
        assert not np.array_equal(out[..., :3], colour)


@pytest.mark.parametrize("cls", list(IMAGE_PERTURBATIONS.values()), ids=list(IMAGE_PERTURBATIONS))
@pytest.mark.parametrize(
    ("bad", "words"),
    [
        (np.full((1, 4, 4, 3), 2.0, np.float32), "[0, 1]"),
        (np.full((1, 4, 4, 3), np.nan, np.float32), "[0, 1]"),
        (np.zeros((4, 4, 3), np.uint8), "x[None]"),
        (np.zeros((1, 4, 4, 3), np.float64), "float32"),
        (np.zeros((1, 4, 4, 2), np.uint8), "channels"),
    ],
    ids=["float-above-1", "float-nan", "no-batch-axis", "float64", "two-channels"],
)
def test_bad_image_batches_raise_data_error_with_a_fix(
    cls: type[Perturbation], bad: np.ndarray, words: str
) -> None:
    p = cls()
    with pytest.raises(DataError, match=re.escape(cls.name)) as info:
        p.perturb(bad, p.at_severity(1.0), rngs_for(len(bad), 0), DataContext(Modality.IMAGE))
    assert words in str(info.value)


@st.composite
def image_batches(draw: st.DrawFn) -> np.ndarray:
    shape = (
        draw(st.integers(0, 3)),
        draw(st.integers(1, 9)),
        draw(st.integers(1, 9)),
        draw(st.sampled_from([1, 3, 4])),
    )
    levels = np.random.default_rng(draw(st.integers(0, 2**32 - 1))).integers(
        0, 256, size=shape, dtype=np.uint8
    )
    if draw(st.booleans()):
        return levels
    out: np.ndarray = levels.astype(np.float32) / np.float32(255)
    return out


@pytest.mark.slow
@ignore_realism  # hypothesis draws values across the whole limits
@settings(max_examples=60, deadline=None)
@given(
    x=image_batches(),
    name=st.sampled_from(sorted(IMAGE_PERTURBATIONS)),
    fraction=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**32 - 1),
)
def test_any_image_batch_keeps_shape_dtype_and_range(
    x: np.ndarray, name: str, fraction: float, seed: int
) -> None:
    p = IMAGE_PERTURBATIONS[name]()
    low, high = p.magnitude.limits
    value = low + fraction * (high - low)
    value = float(round(value)) if p.magnitude.integer else value
    before = x.copy()
    out = p.perturb(x, value, rngs_for(len(x), seed))
    np.testing.assert_array_equal(x, before)
    assert out.shape == x.shape
    assert out.dtype == x.dtype
    if out.dtype == np.float32 and out.size:
        assert np.isfinite(out).all()
        assert out.min() >= 0.0
        assert out.max() <= 1.0
