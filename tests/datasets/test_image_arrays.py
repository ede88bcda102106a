"""Image arrays as users have them: (n, h, w) grayscale, float64 in [0, 1], int levels."""

from __future__ import annotations

import numpy as np
import pytest

import wince
from wince.datasets import ArrayDataset
from wince.errors import DataError
from wince.perturbations import Rngs, get

PLAN = {
    "name": "grey",
    "perturbations": [{"name": "image.gaussian_noise", "severities": [0.5, 1.0]}],
    "repeats": 2,
}


def digits_like(n: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """(n, 28, 28) uint8 images: a bright square on the left (label 0) or the right (1)."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, n)
    x = rng.integers(0, 40, (n, 28, 28)).astype(np.uint8)
    for i, label in enumerate(y):
        x[i, 8:20, (2 if label == 0 else 16) : (12 if label == 0 else 26)] = 220
    return x, y


def brighter_side(batch: np.ndarray) -> np.ndarray:
    """A classifier of (n, 28, 28, 1) images: which half is brighter."""
    values = batch.astype(np.float64).reshape(len(batch), 28, 28)
    return (values[:, :, 14:].mean(axis=(1, 2)) > values[:, :, :14].mean(axis=(1, 2))).astype(int)


def outcomes(run: wince.Run) -> np.ndarray:
    return run.outcomes().sort_values(["scenario", "trial", "sample_id"])["correct"].to_numpy()


@pytest.mark.slow
def test_grayscale_images_without_a_channel_axis_run_when_declared(tmp_path):
    x, y = digits_like()
    declared = ArrayDataset(x, y, modality="image")
    assert declared.x.shape == (60, 28, 28, 1)
    run = wince.run(brighter_side, declared, PLAN, store=str(tmp_path / "a"))
    explicit = wince.run(brighter_side, (x[..., None], y), PLAN, store=str(tmp_path / "b"))
    np.testing.assert_array_equal(outcomes(run), outcomes(explicit))


@pytest.mark.slow
def test_a_plan_declares_grayscale_images_in_its_data_section(tmp_path):
    x, y = digits_like()
    np.savez(tmp_path / "digits.npz", x=x, y=y)
    plan = {**PLAN, "data": {"npz": str(tmp_path / "digits.npz"), "modality": "image"}}
    run = wince.run(brighter_side, plan=plan, store=str(tmp_path / "s"))
    assert run.summary().query("scenario == 'baseline' and metric == 'accuracy'")["value"].iloc[
        0
    ] == pytest.approx(1.0)


def test_undeclared_grayscale_images_name_both_readings_and_the_fix(tmp_path):
    x, y = digits_like()
    with pytest.raises(
        DataError, match=r"\(n, h, w\) array reads as n time series.*modality: image"
    ):
        wince.run(brighter_side, (x, y), PLAN, store=str(tmp_path))


@pytest.mark.slow
def test_float64_images_in_unit_range_are_the_same_as_float32(tmp_path):
    x, y = digits_like()
    unit = x[..., None].astype(np.float64) / 255.0
    run = wince.run(brighter_side, ArrayDataset(unit, y), PLAN, store=str(tmp_path / "a"))
    single = unit.astype(np.float32)
    same = wince.run(brighter_side, (single, y), PLAN, store=str(tmp_path / "b"))
    np.testing.assert_array_equal(outcomes(run), outcomes(same))


@pytest.mark.parametrize(
    ("values", "hint"),
    [
        (np.full((2, 4, 4, 3), 200.0), r"\(x / 255\)\.astype\(np\.float32\)"),
        (np.full((2, 4, 4, 3), 4000, dtype=np.uint16), r"\(x / 65535\)\.astype\(np\.float32\)"),
    ],
)
def test_out_of_range_images_get_the_conversion_that_fits_them(values, hint):
    with pytest.raises(DataError, match=hint):
        ArrayDataset(values, modality="image", name="photos.npz")


def test_integer_levels_become_uint8_and_perturbations_hint_the_right_conversion():
    levels = np.full((2, 4, 4, 3), 200, dtype=np.int64)
    assert ArrayDataset(levels, modality="image").x.dtype == np.uint8
    noise = get("image.gaussian_noise")()
    rngs = Rngs.for_samples(["a", "b"], seed=0, step="t")
    with pytest.raises(DataError, match=r"Convert with x\.astype\(np\.float32\)\."):
        noise.perturb(np.full((2, 4, 4, 3), 0.5), 1.0, rngs)  # float64 in [0, 1]: no / 255
    with pytest.raises(DataError, match=r"Convert with x\.astype\(np\.uint8\)\."):
        noise.perturb(levels, 1.0, rngs)
