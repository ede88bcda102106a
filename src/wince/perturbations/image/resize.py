"""Resizing the same on every CPU: OpenCV's interpolation rules, as elementwise NumPy sums.

`cv2.resize` on float images (and on uint8 images with area weights) accumulates on SIMD or
scalar paths by the CPU, which round differently. Here each axis is resampled by a table of
source taps and weights per output position, built from the definitions of OpenCV's filters
(`INTER_NEAREST`, `INTER_LINEAR`, `INTER_CUBIC` with a = -0.75, `INTER_LANCZOS4`,
`INTER_AREA`; borders replicated), and applied as one float64 multiply-add per tap in a fixed
order; uint8 results round to the nearest level. The results equal `cv2.resize` on float64
images to about 1e-6 (its weights are float32), and are the same on every machine.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
import numpy.typing as npt

from wince.perturbations import arithmetic

Taps = tuple[npt.NDArray[np.intp], npt.NDArray[np.float64]]  # (out, k) indices and weights

FILTERS = ("area", "bilinear", "bicubic", "nearest", "lanczos")  # the names plans use
_CUBIC_A = -0.75


def _cubic(fraction: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """OpenCV's cubic convolution weights (a = -0.75) of taps -1..2 at `fraction` in [0, 1)."""
    x, a = fraction, _CUBIC_A
    w0 = ((a * (x + 1) - 5 * a) * (x + 1) + 8 * a) * (x + 1) - 4 * a
    w1 = ((a + 2) * x - (a + 3)) * x * x + 1
    w2 = ((a + 2) * (1 - x) - (a + 3)) * (1 - x) * (1 - x) + 1
    return np.stack([w0, w1, w2, 1.0 - w0 - w1 - w2], axis=1)


def _lanczos4(fraction: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Lanczos weights (a = 4) of taps -3..4 at `fraction` in [0, 1), normalised to sum 1."""
    offsets = fraction[:, None] + 3.0 - np.arange(8)[None, :]
    angle = offsets * (math.pi / 4.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        weights = arithmetic.sin(4.0 * angle) * arithmetic.sin(angle) / (angle * angle * 4.0)
    weights = np.where(np.abs(offsets) < 1e-6, 1.0, weights)
    total: npt.NDArray[np.float64] = weights / weights.sum(axis=1, keepdims=True)
    return total


def _area_downscale(size_in: int, size_out: int) -> Taps:
    """Box weights: each output cell averages the source pixels it covers, by overlap."""
    scale = size_in / size_out
    width = math.ceil(scale) + 1
    indices = np.zeros((size_out, width), dtype=np.intp)
    weights = np.zeros((size_out, width))
    for d in range(size_out):
        start, stop = d * scale, min(d * scale + scale, float(size_in))
        first, last = math.floor(start), min(math.ceil(stop), size_in)
        cells = np.arange(first, last)
        overlap = np.minimum(cells + 1.0, stop) - np.maximum(cells, start)
        overlap = np.where(overlap > 1e-3, overlap, 0.0)
        indices[d, : len(cells)] = cells
        weights[d, : len(cells)] = overlap / (stop - start)
    return indices, weights


@functools.lru_cache(maxsize=64)
def taps(size_in: int, size_out: int, method: str) -> Taps:
    """Source indices and weights (size_out, k) resampling one axis of `size_in` pixels.

    Cached, since a batch resizes every image alike: the arrays are read-only.

    Args:
        size_in: source pixels along the axis.
        size_out: output pixels along the axis.
        method: one of `FILTERS` (OpenCV's INTER_NEAREST, INTER_LINEAR, INTER_CUBIC,
            INTER_LANCZOS4, INTER_AREA).
    """
    table = axis_taps(size_in, size_out, method)
    for array in table:
        array.flags.writeable = False
    return table


def axis_taps(size_in: int, size_out: int, method: str) -> Taps:
    """`taps`, computed afresh (uncached, writable)."""
    scale = size_in / size_out
    d = np.arange(size_out, dtype=np.float64)
    if method == "nearest":
        index = np.minimum(np.floor(d * scale).astype(np.intp), size_in - 1)
        return index[:, None], np.ones((size_out, 1))
    if method == "area" and scale >= 1.0:
        return _area_downscale(size_in, size_out)
    if method == "area":  # enlarging: OpenCV's area rule, a linear blend at cell boundaries
        start = np.floor(d * scale)
        fraction = (d + 1.0) - (start + 1.0) / scale
        fraction = np.where(fraction <= 0.0, 0.0, fraction - np.floor(fraction))
    else:
        position = (d + 0.5) * scale - 0.5
        start = np.floor(position)
        fraction = position - start
    first = start.astype(np.intp)
    if method in ("bilinear", "area"):
        below = first < 0
        above = first >= size_in - 1
        fraction = np.where(below | above, 0.0, fraction)
        first = np.clip(first, 0, size_in - 1)
        offsets, weights = np.arange(2), np.stack([1.0 - fraction, fraction], axis=1)
    elif method == "bicubic":
        offsets, weights = np.arange(-1, 3), _cubic(fraction)
    elif method == "lanczos":
        offsets, weights = np.arange(-3, 5), _lanczos4(fraction)
    else:
        raise ValueError(f"unknown resize method {method!r}; expected one of {FILTERS}")
    index = np.clip(first[:, None] + offsets[None, :], 0, size_in - 1)
    return index, weights


def resample_axis(values: npt.NDArray[np.float64], table: Taps, axis: int) -> npt.NDArray[Any]:
    """Apply one axis's taps to float64 `values` along `axis`, tap by tap in a fixed order."""
    index, weights = table
    rows = np.ascontiguousarray(np.moveaxis(values, axis, 0))  # gathers of whole rows
    spread = (slice(None),) + (None,) * (rows.ndim - 1)
    out = np.zeros((len(index), *rows.shape[1:]))
    for k in range(index.shape[1]):
        out += rows[index[:, k]] * weights[:, k][spread]
    return np.moveaxis(out, 0, axis)


def resize(image: npt.NDArray[Any], height: int, width: int, method: str) -> npt.NDArray[Any]:
    """One image (h, w) or (h, w, c), uint8 or float, resized to (height, width).

    Rows first, then columns, in float64; uint8 results round to the nearest level and
    saturate, float results keep the input's dtype (unclipped: cubic and Lanczos overshoot).
    """
    values = image.astype(np.float64)
    out = resample_axis(values, taps(image.shape[0], height, method), axis=0)
    out = resample_axis(out, taps(image.shape[1], width, method), axis=1)
    result: npt.NDArray[Any] = (
        np.clip(np.rint(out), 0.0, 255.0).astype(np.uint8)
        if image.dtype == np.uint8
        else out.astype(image.dtype)
    )
    return result
