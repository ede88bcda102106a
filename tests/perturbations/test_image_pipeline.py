"""Pipeline perturbations measured against Pillow, OpenCV and hand-computed references."""

from __future__ import annotations

import io
import itertools

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from image_reference import srgb_decode, srgb_encode
from PIL import Image

from wince.errors import ParameterError
from wince.perturbations import Rngs
from wince.perturbations.image.pipeline import (
    BitDepth,
    Downscale,
    GammaMismatch,
    Jpeg,
    Pixelation,
    Webp,
)

PIPELINE = [Jpeg, Webp, Downscale, Pixelation, BitDepth, GammaMismatch]

ignore_realism = pytest.mark.filterwarnings("ignore::wince.errors.RealismWarning")


def rngs_for(n: int, seed: int = 0) -> Rngs:
    return Rngs.for_samples([f"img-{i}" for i in range(n)], seed=seed, step="test")


def photos(n: int = 3, h: int = 48, w: int = 64, seed: int = 5) -> np.ndarray:
    """uint8 RGB images with gradients, edges and grain (codecs need texture to differ)."""
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


def pillow_bytes(image: np.ndarray, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format=fmt, **options)
    return buffer.getvalue()


def pillow_round_trip(images: np.ndarray, fmt: str, quality: int) -> np.ndarray:
    """Encode and decode each RGB image with Pillow alone."""
    decoded = [
        np.asarray(Image.open(io.BytesIO(pillow_bytes(im, fmt, quality=quality))).convert("RGB"))
        for im in images
    ]
    return np.stack(decoded)


def opencv_bytes(image: np.ndarray, extension: str, flag: int, quality: int) -> bytes:
    ok, code = cv2.imencode(extension, np.ascontiguousarray(image[:, :, ::-1]), [flag, quality])
    assert ok
    return bytes(code.tobytes())


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / mse))


# ---------------------------------------------------------------------------------------------
# JPEG and WebP


@pytest.mark.parametrize("quality", [90, 52, 20])
def test_jpeg_equals_a_pillow_round_trip_and_opencv_writes_pillows_bytes(quality: int) -> None:
    # Pillow's defaults (4:2:0, no Huffman optimisation) match OpenCV's libjpeg-turbo settings
    # byte for byte; `optimize=True` would change the bytes but not the pixels.
    x = photos()
    for image in x:
        expected = pillow_bytes(image, "JPEG", quality=quality)
        assert opencv_bytes(image, ".jpg", cv2.IMWRITE_JPEG_QUALITY, quality) == expected
    out = Jpeg().perturb(x, quality, rngs_for(len(x)))
    np.testing.assert_array_equal(out, pillow_round_trip(x, "JPEG", quality))


@pytest.mark.parametrize("quality", [85, 52, 20])
def test_webp_equals_a_pillow_round_trip_and_opencv_writes_pillows_bytes(quality: int) -> None:
    # OpenCV's WebP writer uses libwebp's defaults (method 4), as Pillow does.
    x = photos()
    for image in x:
        expected = pillow_bytes(image, "WEBP", quality=quality)
        assert opencv_bytes(image, ".webp", cv2.IMWRITE_WEBP_QUALITY, quality) == expected
    out = Webp().perturb(x, quality, rngs_for(len(x)))
    np.testing.assert_array_equal(out, pillow_round_trip(x, "WEBP", quality))


@ignore_realism  # quality 1
def test_webp_psnr_falls_as_quality_falls_and_quality_100_is_still_lossy() -> None:
    x = photos()
    scores = [psnr(x, Webp().perturb(x, q, rngs_for(len(x)))) for q in (100, 85, 50, 20, 1)]
    assert all(a > b for a, b in itertools.pairwise(scores)), scores
    assert scores[0] < 60, "quality 100 is still lossy WebP"


def test_webp_off_value_is_a_lossless_encoding_which_changes_nothing() -> None:
    # The declared off value 101 stands for lossless WebP, which Pillow confirms is exact.
    x = photos()
    for image in x:
        decoded = Image.open(io.BytesIO(pillow_bytes(image, "WEBP", lossless=True)))
        np.testing.assert_array_equal(np.asarray(decoded.convert("RGB")), image)
    assert Webp.magnitude.off == 101
    np.testing.assert_array_equal(Webp().perturb(x, 101, rngs_for(len(x))), x)


def test_webp_greyscale_and_rgba_keep_their_channels() -> None:
    x = photos()
    grey = x[..., 1:2].copy()
    out = Webp().perturb(grey, 30, rngs_for(len(grey)))
    reference = np.stack(
        [
            np.asarray(Image.open(io.BytesIO(pillow_bytes(g[..., 0], "WEBP", quality=30))))
            for g in grey
        ]
    )  # Pillow stores grey WebP as RGB with equal channels; compare its luma.
    luma = np.rint(reference.astype(np.float64) @ [0.299, 0.587, 0.114])
    assert np.abs(out[..., 0].astype(np.float64) - luma).max() <= 1
    alpha = np.random.default_rng(1).integers(0, 256, size=(*x.shape[:3], 1), dtype=np.uint8)
    rgba_out = Webp().perturb(np.concatenate([x, alpha], axis=-1), 30, rngs_for(len(x)))
    np.testing.assert_array_equal(rgba_out[..., 3:], alpha)
    np.testing.assert_array_equal(rgba_out[..., :3], pillow_round_trip(x, "WEBP", 30))


def test_webp_float_images_are_quantised_then_round_tripped() -> None:
    x = photos()
    out = Webp().perturb(x.astype(np.float32) / np.float32(255), 40, rngs_for(len(x)))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(np.rint(out * 255), pillow_round_trip(x, "WEBP", 40))


# ---------------------------------------------------------------------------------------------
# Downscale


def test_halving_a_two_by_two_block_image_with_area_filters_is_the_identity() -> None:
    small = np.random.default_rng(3).integers(0, 256, size=(2, 12, 16, 3), dtype=np.uint8)
    x = small.repeat(2, axis=1).repeat(2, axis=2)
    out = Downscale(filter="area", upscale_filter="area").perturb(x, 50.0, rngs_for(2))
    np.testing.assert_array_equal(out, x)
    smooth = Downscale().perturb(x, 50.0, rngs_for(2))  # bilinear viewer: edges soften
    assert not np.array_equal(smooth, x)


@pytest.mark.parametrize(("h", "w", "pct"), [(48, 64, 50.0), (48, 64, 37.3), (30, 17, 61.0)])
def test_stored_size_is_the_rounded_fraction_of_each_side(h: int, w: int, pct: float) -> None:
    # Nearest both ways on an image of distinct values: the output holds exactly the pixels
    # that were stored, so counting distinct values measures the stored size.
    x = (np.arange(h * w, dtype=np.float32) / np.float32(h * w)).reshape(1, h, w, 1)
    out = Downscale(filter="nearest", upscale_filter="nearest").perturb(x, pct, rngs_for(1))
    assert len(np.unique(out)) == round(h * pct / 100) * round(w * pct / 100)


def test_detail_finer_than_the_stored_resolution_is_lost_and_coarse_detail_kept() -> None:
    xx = np.arange(64)
    fine = np.where(xx % 2 == 0, 255, 0).astype(np.uint8)  # 2 px period: above stored Nyquist
    coarse = np.rint(127.5 + 100 * np.sin(2 * np.pi * xx / 32)).astype(np.uint8)
    x = np.stack([np.broadcast_to(row[None, :, None], (64, 64, 3)) for row in (fine, coarse)])
    out = Downscale().perturb(x, 50.0, rngs_for(2))
    assert np.abs(out[0].astype(int) - 128).max() <= 1, "the area filter averages the stripes"
    assert psnr(x[1], out[1]) > 35


@pytest.mark.parametrize("option", ["filter", "upscale_filter"])
def test_unknown_filters_are_rejected(option: str) -> None:
    with pytest.raises(ParameterError, match=f"{option} must be one of 'area'"):
        Downscale(**{option: "gaussian"})


# ---------------------------------------------------------------------------------------------
# Pixelation


@ignore_realism  # blocks of 12.5 and 25 %
def test_every_block_is_flat_and_equals_the_mean_of_the_pixels_it_covers() -> None:
    x = photos(2, 64, 64)
    out = Pixelation().perturb(x, 12.5, rngs_for(2))  # 8 px blocks, 8 x 8 of them
    blocks_in = x.reshape(2, 8, 8, 8, 8, 3).astype(np.float64)
    blocks_out = out.reshape(2, 8, 8, 8, 8, 3)
    assert np.all(blocks_out == blocks_out[:, :, :1, :, :1, :]), "blocks are flat"
    means = blocks_in.mean(axis=(2, 4))
    assert np.abs(blocks_out[:, :, 0, :, 0, :] - means).max() <= 1.0


@ignore_realism
def test_block_size_is_a_fraction_of_the_shorter_side_at_any_resolution() -> None:
    for side in (32, 64, 256):
        x = np.random.default_rng(side).random((1, side, side * 3 // 2, 1), dtype=np.float32)
        out = Pixelation().perturb(x, 25.0, rngs_for(1))
        rows = np.unique(out[0, :, 0, 0])
        assert len(rows) == 4, f"{side} px: a 25 % block leaves 4 blocks down the short side"
        assert len(np.unique(out[0, 0, :, 0])) == 6


def test_blocks_under_a_pixel_change_nothing() -> None:
    x = photos(1, 40, 40)
    np.testing.assert_array_equal(Pixelation().perturb(x, 1.0, rngs_for(1)), x)  # 0.4 px


# ---------------------------------------------------------------------------------------------
# Bit depth


@ignore_realism  # 1 and 2 bits are beyond the realistic range
@pytest.mark.parametrize("bits", [1, 2, 3, 5, 7])
def test_bit_depth_leaves_two_to_the_bits_levels_within_half_a_step(bits: int) -> None:
    levels = 2**bits
    ramp = np.arange(256, dtype=np.uint8).reshape(1, 16, 16, 1)
    out = BitDepth().perturb(ramp, bits, rngs_for(1))
    assert len(np.unique(out)) == levels
    step = 255 / (levels - 1)
    error = np.abs(out.astype(np.float64) - ramp)
    assert error.max() <= step / 2 + 0.5, "half a step, plus rounding the level to uint8"
    assert abs(out.mean() - ramp.mean()) <= 0.5 + step / 256, "rounding keeps mean brightness"

    fine = (np.arange(4096, dtype=np.float32) / np.float32(4095)).reshape(1, 64, 64, 1)
    out_f = BitDepth().perturb(fine, bits, rngs_for(1))
    expected_levels = np.arange(levels) / (levels - 1)
    np.testing.assert_allclose(np.unique(out_f), expected_levels, rtol=0, atol=1e-7)
    assert np.abs(out_f - fine).max() <= 0.5 / (levels - 1) + 1e-7


# ---------------------------------------------------------------------------------------------
# Gamma mismatch


@pytest.mark.parametrize(
    ("direction", "expected"),
    [("linear_as_srgb", float(srgb_decode(0.5))), ("srgb_as_linear", float(srgb_encode(0.5)))],
)
def test_full_mismatch_maps_mid_grey_through_the_wrong_curve(
    direction: str, expected: float
) -> None:
    x = np.full((1, 2, 2, 3), 0.5, dtype=np.float32)
    out = GammaMismatch(direction=direction).perturb(x, 1.0, rngs_for(1))
    assert np.all(out == np.float32(expected))
    grey = np.full((1, 2, 2, 3), 128, dtype=np.uint8)
    out_u8 = GammaMismatch(direction=direction).perturb(grey, 1.0, rngs_for(1))
    target = 255 * float((srgb_decode if direction == "linear_as_srgb" else srgb_encode)(128 / 255))
    assert np.all(out_u8 == round(target))


@pytest.mark.parametrize("direction", ["linear_as_srgb", "srgb_as_linear"])
def test_partial_mismatch_is_an_effective_gamma_exponent_error(direction: str) -> None:
    # The effective exponent at mid-grey, log(out) / log(0.5), moves linearly from 1 to the
    # full mismatch's exponent (about 2.2 or 1 / 2.2), the way a display gamma error does.
    x = np.full((1, 1, 1, 1), 0.5, dtype=np.float32)
    full = float(srgb_decode(0.5) if direction == "linear_as_srgb" else srgb_encode(0.5))
    full_exponent = np.log(full) / np.log(0.5)
    assert full_exponent == pytest.approx(2.2 if direction == "linear_as_srgb" else 1 / 2.2, 0.03)
    for t in (0.2, 0.5, 0.8):
        out = GammaMismatch(direction=direction).perturb(x, t, rngs_for(1))
        exponent = np.log(float(out[0, 0, 0, 0])) / np.log(0.5)
        assert exponent == pytest.approx(1 + t * (full_exponent - 1), rel=1e-6)


def test_mismatch_darkens_or_brightens_every_midtone_and_keeps_black_and_white() -> None:
    ramp = np.arange(256, dtype=np.uint8).reshape(1, 16, 16, 1)
    dark = GammaMismatch(direction="linear_as_srgb").perturb(ramp, 0.6, rngs_for(1))
    bright = GammaMismatch(direction="srgb_as_linear").perturb(ramp, 0.6, rngs_for(1))
    assert np.all(dark <= ramp)
    assert np.all(bright >= ramp)
    assert (dark.ravel()[[0, 255]] == [0, 255]).all()
    assert (bright.ravel()[[0, 255]] == [0, 255]).all()
    assert dark.ravel()[128] < 128 - 20
    assert bright.ravel()[128] > 128 + 20


def test_unknown_gamma_direction_is_rejected() -> None:
    with pytest.raises(ParameterError, match="direction must be one of 'linear_as_srgb'"):
        GammaMismatch(direction="srgb_to_linear")


# ---------------------------------------------------------------------------------------------
# Any batch


@ignore_realism  # values are drawn across the whole limits
@settings(max_examples=80, deadline=None)
@given(
    shape=st.tuples(
        st.integers(0, 3), st.integers(1, 9), st.integers(1, 9), st.sampled_from([1, 3, 4])
    ),
    as_float=st.booleans(),
    cls=st.sampled_from(PIPELINE),
    fraction=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**32 - 1),
)
def test_any_batch_keeps_shape_dtype_range_and_alpha(
    shape: tuple[int, int, int, int], as_float: bool, cls: type, fraction: float, seed: int
) -> None:
    levels = np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)
    x: np.ndarray = levels.astype(np.float32) / np.float32(255) if as_float else levels
    p = cls()
    low, high = p.magnitude.limits
    value = low + fraction * (high - low)
    value = float(round(value)) if p.magnitude.integer else value
    before = x.copy()
    out = p.perturb(x, value, rngs_for(len(x), seed))
    np.testing.assert_array_equal(x, before)
    assert out.shape == x.shape
    assert out.dtype == x.dtype
    if shape[3] == 4:
        np.testing.assert_array_equal(out[..., 3], x[..., 3])
    if as_float and out.size:
        assert np.isfinite(out).all()
        assert out.min() >= 0.0
        assert out.max() <= 1.0
