"""Torchvision-style transforms (callables on CHW tensors) wrapped as wince perturbations.

torchvision itself is not installed: plain callables on CHW tensors that draw from torch's global
generator take the same path as its transforms. The reference is the callable itself, seeded
through `torch.manual_seed`, never the wrapper's code.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from interop_support import NOISE_SD, ids, photos, rngs_for, seeds_of

from require import require_module
from wince.errors import DataError
from wince.perturbations.interop import from_torchvision

torch = require_module("torch", "torch")

pytestmark = pytest.mark.torch


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
