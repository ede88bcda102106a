"""Albumentations transforms wrapped as wince perturbations.

The references are the library itself, seeded through its own public API
(`A.Compose(..., seed=...)`), never the wrapper's code.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from interop_support import NOISE_SD, ids, photos, rngs_for, seeds_of

from require import require_module
from wince.errors import DataError, ParameterError
from wince.perturbations import Step, base, get, register
from wince.perturbations.base import build
from wince.perturbations.interop import from_albumentations

A = require_module("albumentations", "dev")

# Importing albumentations takes seconds before the first test.
pytestmark = pytest.mark.slow


def noise(p: float = 1.0) -> A.GaussNoise:
    return A.GaussNoise(std_range=(0.1, 0.1), p=p)


# ---------------------------------------------------------------------------------------------
# albumentations


@pytest.mark.parametrize(
    "make", [noise, lambda: A.RandomBrightnessContrast(p=1.0)], ids=["noise", "brightness"]
)
def test_albumentations_output_is_the_library_seeded_with_the_sample_seed(make: Any) -> None:
    x = photos()
    wrapped = from_albumentations(make())
    out = wrapped().perturb(x, 1, rngs_for(ids(4)))
    for image, seed, result in zip(x, seeds_of(ids(4)), out, strict=True):
        expected = A.Compose([make()], seed=seed)(image=image)["image"]
        np.testing.assert_array_equal(result, expected)


@pytest.mark.parametrize(
    "make", [noise, lambda: A.RandomBrightnessContrast(p=1.0)], ids=["noise", "brightness"]
)
def test_albumentations_output_of_a_sample_ignores_its_batch_and_order(make: Any) -> None:
    x = photos(6)
    p = from_albumentations(make())()
    whole = p.perturb(x, 1, rngs_for(ids(6)))
    again = p.perturb(x, 1, rngs_for(ids(6)))
    np.testing.assert_array_equal(whole, again)
    alone = p.perturb(x[4:5], 1, rngs_for(ids(1, offset=4)))
    np.testing.assert_array_equal(alone[0], whole[4])
    order = np.array([5, 2, 0, 4, 1, 3])
    shuffled = p.perturb(x[order], 1, rngs_for([f"img-{i}" for i in order]))
    np.testing.assert_array_equal(shuffled, whole[order])
    twins = p.perturb(np.repeat(x[:1], 2, axis=0), 1, rngs_for(ids(2)))
    assert not np.array_equal(twins[0], twins[1]), "each sample draws its own numbers"


def test_albumentations_applied_zero_is_the_identity_and_inputs_are_untouched() -> None:
    x = photos()
    before = x.copy()
    wrapped = from_albumentations(noise())
    assert wrapped.magnitude.name == "applied"
    assert wrapped().at_severity(0.4) == 0
    assert wrapped().at_severity(0.6) == 1
    np.testing.assert_array_equal(wrapped().perturb(x, 0, rngs_for(ids(4))), x)
    out = wrapped().perturb(x, 1, rngs_for(ids(4)))
    assert out.shape == x.shape
    assert out.dtype == x.dtype
    np.testing.assert_array_equal(x, before)


def test_built_transform_sweeps_a_physical_value_with_common_random_numbers() -> None:
    x = np.full((3, 64, 64, 3), 0.5, dtype=np.float32)
    wrapped = from_albumentations(
        build=lambda sd: A.GaussNoise(std_range=(sd / 100, sd / 100), p=1.0), magnitude=NOISE_SD
    )
    assert wrapped.name == "image.albumentations_gauss_noise"
    assert wrapped.magnitude is NOISE_SD
    p = wrapped()
    one = p.perturb(x, 1.0, rngs_for(ids(3))) - 0.5
    two = p.perturb(x, 2.0, rngs_for(ids(3))) - 0.5
    assert one.std() == pytest.approx(0.01, rel=0.03), "the value is the noise sd in %"
    np.testing.assert_allclose(two, 2 * one, atol=1e-6)  # the same draws, scaled


def test_albumentations_grey_and_rgba_images_keep_channels_and_alpha() -> None:
    x = photos()
    alpha = np.random.default_rng(1).integers(0, 256, (*x.shape[:3], 1), dtype=np.uint8)
    p = from_albumentations(noise())()
    rgba = p.perturb(np.concatenate([x, alpha], axis=-1), 1, rngs_for(ids(4)))
    np.testing.assert_array_equal(rgba[..., 3:], alpha)
    np.testing.assert_array_equal(rgba[..., :3], p.perturb(x, 1, rngs_for(ids(4))))
    grey = p.perturb(x[..., :1].copy(), 1, rngs_for(ids(4)))
    assert grey.shape == (4, 16, 20, 1)
    assert not np.array_equal(grey, x[..., :1])


def test_albumentations_float_images_stay_float_in_range() -> None:
    x = photos().astype(np.float32) / np.float32(255)
    out = from_albumentations(noise())().perturb(x, 1, rngs_for(ids(4)))
    assert out.dtype == np.float32
    assert 0.0 <= out.min() <= out.max() <= 1.0
    assert not np.array_equal(out, x)


def test_transforms_that_resize_are_rejected_naming_the_perturbation() -> None:
    wrapped = from_albumentations(A.Resize(8, 8), stochastic=False)
    with pytest.raises(DataError, match=r"image\.albumentations_resize.*must keep both"):
        wrapped().perturb(photos(), 1, rngs_for(ids(4)))


def test_empty_batches_give_empty_batches() -> None:
    out = from_albumentations(noise())().perturb(photos()[:0], 1, rngs_for([]))
    assert out.shape == (0, 16, 20, 3)


@pytest.mark.parametrize(
    ("make_kwargs", "words"),
    # functions that make the arguments: building a transform here would import albumentations
    # while the tests are collected
    [
        (lambda: {}, "either a transform"),
        (lambda: {"transform": noise(), "build": lambda v: noise()}, "either a transform"),
        (lambda: {"build": lambda v: noise()}, "go together"),
        (lambda: {"transform": noise(), "magnitude": NOISE_SD}, "go together"),
        (lambda: {"transform": noise(), "name": "gauss"}, "image.<snake_case>"),
        (lambda: {"transform": lambda image: image}, "expected an albumentations transform"),
    ],
    ids=["neither", "both", "build-alone", "magnitude-alone", "bad-name", "not-a-transform"],
)
def test_wrong_arguments_raise_parameter_error(
    make_kwargs: Callable[[], dict[str, Any]], words: str
) -> None:
    with pytest.raises(ParameterError, match="from_albumentations") as info:
        from_albumentations(**make_kwargs())
    assert words in str(info.value)


def test_registered_wrapper_runs_from_a_plan_step(monkeypatch: pytest.MonkeyPatch) -> None:
    base.registry()  # load every built-in first: they must register in the real registry
    monkeypatch.setattr(base, "_REGISTRY", dict(base._REGISTRY))  # keep the real one clean
    wrapped = register(from_albumentations(noise(), name="image.my_noise"))
    assert get("image.my_noise") is wrapped
    assert wrapped.describe()["params"][0]["name"] == "applied"
    assert wrapped.__module__.startswith("albumentations"), "a user perturbation, not wince's"
    x = photos()
    out = build(Step("image.my_noise", 1.0)).perturb(x, 1.0, rngs_for(ids(4)))
    np.testing.assert_array_equal(out, wrapped().perturb(x, 1, rngs_for(ids(4))))
