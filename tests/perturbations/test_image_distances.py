"""PSNR and SSIM per image against scikit-image, an independent implementation."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from wince.perturbations import DataContext, Modality, registry
from wince.perturbations.image import mean_absolute_difference, psnr_db, size_px, ssim


def pair(shape: tuple[int, ...], seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0 : shape[1], 0 : shape[2]]
    base = (yy * 3 + xx * 2)[None, :, :, None] % 256 + rng.integers(0, 40, shape)
    a = np.clip(base, 0, 255).astype(np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-30, 31, shape), 0, 255).astype(np.uint8)
    return a, b


@pytest.mark.parametrize("shape", [(3, 40, 56, 3), (2, 33, 31, 1), (2, 11, 15, 3)])
def test_ssim_equals_scikit_image(shape: tuple[int, ...]) -> None:
    a, b = pair(shape, seed=shape[1])
    ours = ssim(a, b)
    for i in range(shape[0]):
        theirs = structural_similarity(
            a[i] / 255.0,
            b[i] / 255.0,
            channel_axis=2,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
            data_range=1.0,
        )
        assert ours[i] == pytest.approx(theirs, abs=1e-5)


def test_psnr_equals_scikit_image_and_is_infinite_when_unchanged() -> None:
    a, b = pair((3, 24, 24, 3), seed=1)
    expected = [peak_signal_noise_ratio(a[i], b[i], data_range=255) for i in range(3)]
    np.testing.assert_allclose(psnr_db(a, b), expected, rtol=1e-6)
    assert np.all(np.isinf(psnr_db(a, a)))
    np.testing.assert_array_equal(ssim(a, a), 1.0)


def test_ssim_of_tiny_images_uses_a_window_that_fits() -> None:
    a, b = pair((2, 8, 8, 1), seed=2)
    scores = ssim(a, b)
    assert np.all((scores > -1) & (scores < 1))


def test_alpha_is_left_out_of_every_distance() -> None:
    a, b = pair((2, 20, 20, 3), seed=3)
    opaque = np.full((2, 20, 20, 1), 255, np.uint8)
    rgba_a, rgba_b = np.concatenate([a, opaque], -1), np.concatenate([b, opaque], -1)
    np.testing.assert_array_equal(
        mean_absolute_difference(rgba_a, rgba_b), mean_absolute_difference(a, b)
    )
    np.testing.assert_array_equal(psnr_db(rgba_a, rgba_b), psnr_db(a, b))
    np.testing.assert_array_equal(ssim(rgba_a, rgba_b), ssim(a, b))


def test_every_image_perturbation_records_psnr_and_ssim() -> None:
    a, b = pair((2, 20, 20, 3), seed=4)
    for name, cls in registry().items():
        if name.startswith("image."):
            measured = cls().distances(a, b, DataContext(Modality.IMAGE))
            assert set(measured) == {"distance", "psnr_db", "ssim"}, name


def test_sizes_are_relative_to_the_shorter_side() -> None:
    assert size_px(10.0, np.zeros((1, 32, 48, 3))) == pytest.approx(3.2)
    assert size_px(10.0, np.zeros((1, 1024, 768, 3))) == pytest.approx(76.8)


def test_distances_of_an_empty_batch_are_empty() -> None:
    empty = np.zeros((0, 12, 12, 3), dtype=np.uint8)
    for measure in (mean_absolute_difference, psnr_db, ssim):
        assert measure(empty, empty).shape == (0,)
