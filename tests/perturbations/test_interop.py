"""Albumentations and torchvision transforms wrapped as wince perturbations.

The references are the libraries themselves, seeded through their own public APIs
(`A.Compose(..., seed=...)`, `torch.manual_seed`), never the wrapper's code.
"""

from __future__ import annotations

import re
import sys
from typing import Any

import albumentations as A  # noqa: N812  (the library's own convention)
import numpy as np
import pytest

from wince.errors import DataError, ParameterError
from wince.perturbations import Magnitude, Rngs, Step, base, get, register
from wince.perturbations.base import build
from wince.perturbations.interop import from_albumentations, from_torchvision

torch = pytest.importorskip("torch")

NOISE_SD = Magnitude(
    "noise_sd_pct", unit="% of full scale", off=0.0, mild=1.0, severe=8.0, limits=(0.0, 100.0)
)


def ids(n: int, offset: int = 0) -> list[str]:
    return [f"img-{i + offset}" for i in range(n)]


def rngs_for(sample_ids: list[str], seed: int = 0) -> Rngs:
    return Rngs.for_samples(sample_ids, seed=seed, step="interop")


def photos(n: int = 4, h: int = 16, w: int = 20) -> np.ndarray:
    out: np.ndarray = np.random.default_rng(9).integers(30, 226, (n, h, w, 3), dtype=np.uint8)
    return out


def seeds_of(sample_ids: list[str], seed: int = 0) -> list[int]:
    """The per-sample seeds the wrapper documents: the first draw of 0..2**32-1 from rngs[i]."""
    return [int(g.integers(2**32)) for g in rngs_for(sample_ids, seed)]


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
    ("kwargs", "words"),
    [
        ({}, "either a transform"),
        ({"transform": noise(), "build": lambda v: noise()}, "either a transform"),
        ({"build": lambda v: noise()}, "go together"),
        ({"transform": noise(), "magnitude": NOISE_SD}, "go together"),
        ({"transform": noise(), "name": "gauss"}, "image.<snake_case>"),
        ({"transform": lambda image: image}, "expected an albumentations transform"),
    ],
    ids=["neither", "both", "build-alone", "magnitude-alone", "bad-name", "not-a-transform"],
)
def test_wrong_arguments_raise_parameter_error(kwargs: dict[str, Any], words: str) -> None:
    with pytest.raises(ParameterError, match="from_albumentations") as info:
        from_albumentations(**kwargs)
    assert words in str(info.value)


@pytest.mark.parametrize(
    ("factory", "module", "fix"),
    [
        (from_albumentations, "albumentations", "pip install albumentations"),
        (from_torchvision, "torch", "pip install 'wince[torch]'"),
    ],
)
def test_a_missing_library_says_what_to_install(
    factory: Any, module: str, fix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` fail
    with pytest.raises(ImportError, match=re.escape(fix)):
        factory(noise())


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


# ---------------------------------------------------------------------------------------------
# torchvision (torchvision itself is not installed: plain callables on CHW tensors that draw
# from torch's global generator take the same path as its transforms)


def add_noise(t: Any) -> Any:
    return (t + 0.1 * torch.randn_like(t)).clamp(0.0, 1.0)


def jitter_levels(t: Any) -> Any:
    """uint8 CHW: add a random whole-image offset of -20..20 levels per channel."""
    offset = torch.randint(-20, 21, (t.shape[0], 1, 1))
    return (t.to(torch.int16) + offset).clamp(0, 255).to(torch.uint8)


def test_torchvision_output_is_the_callable_under_the_sample_seed() -> None:
    x = photos().astype(np.float32) / np.float32(255)
    out = from_torchvision(add_noise)().perturb(x, 1, rngs_for(ids(4)))
    for image, seed, result in zip(x, seeds_of(ids(4)), out, strict=True):
        torch.manual_seed(seed)
        chw = torch.from_numpy(image).permute(2, 0, 1).contiguous()  # a plain CHW tensor
        expected = add_noise(chw).permute(1, 2, 0).numpy()
        np.testing.assert_array_equal(result, expected)


def test_torchvision_uint8_batches_are_batch_and_order_invariant() -> None:
    x = photos(5)
    p = from_torchvision(jitter_levels, name="image.level_jitter")()
    whole = p.perturb(x, 1, rngs_for(ids(5)))
    assert whole.dtype == np.uint8
    order = np.array([3, 0, 4, 2, 1])
    shuffled = p.perturb(x[order], 1, rngs_for([f"img-{i}" for i in order]))
    np.testing.assert_array_equal(shuffled, whole[order])
    alone = p.perturb(x[2:3], 1, rngs_for(ids(1, offset=2)))
    np.testing.assert_array_equal(alone[0], whole[2])
    twins = p.perturb(np.repeat(x[:1], 2, axis=0), 1, rngs_for(ids(2)))
    assert not np.array_equal(twins[0], twins[1])


def test_torch_global_random_state_is_restored() -> None:
    torch.manual_seed(123)
    expected = torch.rand(5)
    torch.manual_seed(123)
    from_torchvision(add_noise)().perturb(photos() / np.float32(255), 1, rngs_for(ids(4)))
    np.testing.assert_array_equal(torch.rand(5).numpy(), expected.numpy())


def test_torchvision_built_transform_and_non_tensor_results() -> None:
    wrapped = from_torchvision(
        build=lambda sd: lambda t: (t + sd / 100 * torch.randn_like(t)).clamp(0, 1),
        magnitude=NOISE_SD,
        name="image.torch_noise",
    )
    x = np.full((2, 32, 32, 3), 0.5, dtype=np.float32)
    one = wrapped().perturb(x, 1.0, rngs_for(ids(2))) - 0.5
    three = wrapped().perturb(x, 3.0, rngs_for(ids(2))) - 0.5
    np.testing.assert_allclose(three, 3 * one, atol=1e-6)
    numpy_out = from_torchvision(lambda t: t.numpy(), name="image.numpy_out", stochastic=False)
    with pytest.raises(DataError, match=r"image\.numpy_out.*must keep both"):
        numpy_out().perturb(x, 1, rngs_for(ids(2)))
