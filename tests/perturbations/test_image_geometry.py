"""`geometry.remap`: OpenCV's fixed-point path computes exactly the NumPy definition.

uint8 images go through `cv2.remap` for speed; `exact_remap` states the result (integer
weights out of 1024, rounded half up). They must agree on every pixel, for any map, border,
image size and channel count, including maps that reach far beyond the image.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wince.perturbations.image.geometry import (
    BORDERS,
    Maps,
    exact_remap,
    fixed_point_maps,
    remap,
    warp_maps,
)


@st.composite
def warps(draw: st.DrawFn) -> tuple[np.ndarray, Maps, str, int]:
    """A random uint8 image, a map onto it (sources up to 60 px beyond its edges), a border
    and a fill level for the constant border."""
    height, width = draw(st.integers(1, 40)), draw(st.integers(1, 40))
    channels = draw(st.sampled_from([None, 1, 2, 3, 4]))
    shape = (height, width) if channels is None else (height, width, channels)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    image = rng.integers(0, 256, shape, dtype=np.uint8)
    out_shape = (draw(st.integers(1, 40)), draw(st.integers(1, 40)))
    source_x = rng.uniform(-60.0, width + 60.0, out_shape)
    source_y = rng.uniform(-60.0, height + 60.0, out_shape)
    border, fill_level = draw(st.sampled_from(BORDERS)), draw(st.integers(0, 255))
    return image, fixed_point_maps(source_x, source_y), border, fill_level


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(warps())
def test_opencv_fixed_point_remap_equals_the_numpy_definition(warp):
    image, maps, border, fill_level = warp
    fast = remap(image, maps, border, fill_level)
    assert fast.shape == maps[1].shape + image.shape[2:]
    np.testing.assert_array_equal(fast, exact_remap(image, maps, border, fill_level))


def test_float_images_and_many_channels_use_the_definition():
    image = np.random.default_rng(0).random((9, 11, 5), dtype=np.float32)
    maps = warp_maps(np.array([[0.9, 0.1, 1.3], [-0.1, 0.9, 0.7]]), 9, 11)
    out = remap(image, maps, "reflect101")
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, exact_remap(image, maps, "reflect101"))
    # An exact identity map returns the image unchanged, pixel for pixel.
    identity = warp_maps(np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]), 9, 11)
    np.testing.assert_array_equal(remap(image, identity, "constant"), image)


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_constant_border_reads_the_fill_level_beyond_the_edge(dtype: type) -> None:
    image = np.full((6, 8), 10 if dtype == np.uint8 else 0.04, dtype=dtype)
    # Shifted by 3.5 px to the right: columns 0-2 see only the border, column 3 half of it.
    maps = warp_maps(np.array([[1.0, 0.0, 3.5], [0.0, 1.0, 0.0]]), 6, 8)
    out = remap(image, maps, "constant", 255).astype(np.float64)
    full_scale = 255.0 if dtype == np.uint8 else 1.0
    np.testing.assert_allclose(out[:, :3], full_scale)
    np.testing.assert_allclose(
        out[:, 3], (image[0, 0] + full_scale) / 2, atol=0.5 / 255 * full_scale
    )
    np.testing.assert_allclose(out[:, 4:], image[0, 0], atol=1e-6)
