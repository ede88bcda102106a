"""Moving pixels the same way on every machine: source maps in float64, bilinear fixed-point remap.

OpenCV's `warpAffine`, `warpPerspective` and `remap` compute source coordinates and weights on
SIMD and scalar paths that round differently, and differently between OpenCV releases (4.14
and 5.1 disagree on grey and float images), so the same image would warp to different pixels
on different machines. Here every geometric effect is an inverse map: for each output pixel,
its source position (x, y), computed with elementwise float64 NumPy arithmetic and rounded to
1/32 px (`fixed_point_maps`, OpenCV's map format); `remap` then interpolates bilinearly with
integer weights that sum to 1024: exact integer arithmetic for uint8 images (OpenCV's own
fixed-point path, whose results are the same on every CPU and in OpenCV 4.14 and 5.1, checked
against the NumPy definition by the tests) and float64 sums rounded once to float32 for float
images (NumPy). Matrices are built and inverted with scalar float64 arithmetic (no BLAS or
LAPACK, whose kernels depend on the CPU).
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from wince.perturbations.arithmetic import cos, sin

Image = npt.NDArray[Any]  # one image (h, w, c) or (h, w), uint8 or float32
Matrix = npt.NDArray[np.float64]  # 2x3 affine or 3x3 homography
Maps = tuple[npt.NDArray[np.int16], npt.NDArray[np.uint16]]
# Where each output pixel comes from: source x and source y (h, w) in pixels, before the
# rounding of `fixed_point_maps`; labels in pixel coordinates move through it (`targets`).
SourceMap = tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]

# OpenCV's remap table: 32 sub-pixel positions per axis (INTER_TAB_SIZE, 5 bits).
SUBPIXEL_STEPS = 32
_COORDINATE_LIMIT = 32767 * SUBPIXEL_STEPS  # integer parts must fit int16


def rotation_matrix(centre: tuple[float, float], angle_deg: float, scale: float) -> Matrix:
    """2x3 affine matrix (source to output) of a rotation by `angle_deg` and a scaling.

    As OpenCV's `getRotationMatrix2D`: positive angles turn the image counter-clockwise on
    screen about `centre` (x, y in pixels); cosine and sine from `arithmetic`.
    """
    radians = np.array([np.deg2rad(angle_deg)])
    alpha = float(cos(radians)[0]) * scale
    beta = float(sin(radians)[0]) * scale
    cx, cy = centre
    return np.array(
        [
            [alpha, beta, (1.0 - alpha) * cx - beta * cy],
            [-beta, alpha, beta * cx + (1.0 - alpha) * cy],
        ]
    )


def matmul(a: Matrix, b: Matrix) -> Matrix:
    """Product of two small matrices with scalar float64 arithmetic (no BLAS), summed in order."""
    rows, inner = a.shape
    columns = b.shape[1]
    return np.array(
        [
            [sum((float(a[i, k]) * float(b[k, j]) for k in range(inner)), 0.0)
             for j in range(columns)]
            for i in range(rows)
        ]
    )  # fmt: skip


def invert(matrix: Matrix) -> Matrix:
    """Inverse of a 2x3 affine (as a 2x3) or of a 3x3 homography, by cofactors (no LAPACK)."""
    m = np.vstack([matrix, [0.0, 0.0, 1.0]]) if matrix.shape == (2, 3) else matrix
    a, b, c = (float(v) for v in m[0])
    d, e, f = (float(v) for v in m[1])
    g, h, i = (float(v) for v in m[2])
    cofactors = np.array(
        [
            [e * i - f * h, c * h - b * i, b * f - c * e],
            [f * g - d * i, a * i - c * g, c * d - a * f],
            [d * h - e * g, b * g - a * h, a * e - b * d],
        ]
    )
    determinant = a * cofactors[0, 0] + b * cofactors[1, 0] + c * cofactors[2, 0]
    inverse: Matrix = cofactors / determinant
    return inverse[:2] if matrix.shape == (2, 3) else inverse


def source_positions(inverse: Matrix, height: int, width: int) -> SourceMap:
    """Source (x, y) of every output pixel (height, width) under `inverse` (output to source).

    `inverse` is a 2x3 affine or a 3x3 homography; pixel centres sit at whole coordinates.
    """
    xs = np.arange(width, dtype=np.float64)[None, :]
    ys = np.arange(height, dtype=np.float64)[:, None]
    source_x, source_y = map_points(inverse, xs, ys)
    return np.broadcast_to(source_x, (height, width)), np.broadcast_to(source_y, (height, width))


def map_points(
    matrix: Matrix, xs: npt.NDArray[np.float64], ys: npt.NDArray[np.float64]
) -> SourceMap:
    """Points (xs, ys) in pixels (any broadcastable shapes) under a 2x3 affine or homography."""
    m = matrix
    source_x = (m[0, 0] * xs + m[0, 1] * ys) + m[0, 2]
    source_y = (m[1, 0] * xs + m[1, 1] * ys) + m[1, 2]
    if m.shape == (3, 3):
        depth = (m[2, 0] * xs + m[2, 1] * ys) + m[2, 2]
        source_x, source_y = source_x / depth, source_y / depth
    return source_x, source_y


def fixed_point_maps(source_x: npt.ArrayLike, source_y: npt.ArrayLike) -> Maps:
    """OpenCV fixed-point remap maps from source positions in pixels, rounded to 1/32 px.

    Returns the (h, w, 2) int16 integer parts (x, y) and the (h, w) uint16 index
    `32 * (y fraction) + (x fraction)` of OpenCV's interpolation table, exactly as
    `cv2.convertMaps` makes them, but rounded by NumPy (half to even).
    """
    steps = [
        np.clip(np.rint(np.asarray(s, dtype=np.float64) * SUBPIXEL_STEPS), -_COORDINATE_LIMIT,
                _COORDINATE_LIMIT).astype(np.int32)
        for s in (source_x, source_y)
    ]  # fmt: skip
    whole = np.stack([s >> 5 for s in steps], axis=-1).astype(np.int16)
    fraction = ((steps[1] & 31) * SUBPIXEL_STEPS + (steps[0] & 31)).astype(np.uint16)
    return whole, fraction


# Border rules, by OpenCV's names: what lies beyond the edge of "abcd" (f: the fill level).
BORDERS = ("reflect101", "reflect", "replicate", "constant")  # dcb|abcd, dcba|abcd, aaa|abcd, f
_OPENCV_BORDERS = {
    "reflect101": cv2.BORDER_REFLECT_101,
    "reflect": cv2.BORDER_REFLECT,
    "replicate": cv2.BORDER_REPLICATE,
    "constant": cv2.BORDER_CONSTANT,
}


def border_index(
    index: npt.NDArray[np.intp], size: int, border: str
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.bool_]]:
    """Indices into an axis of `size` pixels for any integer positions, under `border`.

    Returns the indices and a mask of the positions that take a pixel (all but those beyond
    the edge under "constant", which read as the fill level).
    """
    inside = (index >= 0) & (index < size)
    if border == "constant":
        return np.clip(index, 0, size - 1), inside
    if border == "replicate" or size == 1:
        return np.clip(index, 0, size - 1), np.ones_like(inside)
    period = 2 * size - 2 if border == "reflect101" else 2 * size
    folded = np.mod(index, period)
    mirrored = period - folded if border == "reflect101" else period - 1 - folded
    return np.where(folded < size, folded, mirrored), np.ones_like(inside)


def remap(image: Image, maps: Maps, border: str, fill_level: int = 0) -> Image:
    """Bilinear resampling of one image (h, w) or (h, w, c) through fixed-point `maps`.

    Each output pixel is the weighted sum of its source's four neighbours with weights
    (32 - fx)(32 - fy), fx (32 - fy), (32 - fx) fy and fx fy, out of 1024, where fx and fy are
    the 1/32 px fractions; uint8 results round half up, as OpenCV's; float32 results are
    float64 sums rounded once. `border` is one of `BORDERS`; under "constant", positions
    beyond the edge read as `fill_level`, an 8-bit level in [0, 255] (level / 255 in float
    images).

    uint8 images of up to 4 channels go through OpenCV's fixed-point remap, which computes
    exactly this in integer arithmetic (nothing for a SIMD path to round differently; the
    tests compare it with `exact_remap` on every border) about 40x faster; `exact_remap`,
    the definition, serves every other image.
    """
    if image.dtype == np.uint8 and (image.ndim == 2 or image.shape[2] <= 4):
        whole, fraction = maps
        out: Image = cv2.remap(
            image,
            whole,
            fraction,
            cv2.INTER_LINEAR,
            borderMode=_OPENCV_BORDERS[border],
            borderValue=(fill_level,) * 4,
        )
        return out.reshape(fraction.shape + image.shape[2:])
    return exact_remap(image, maps, border, fill_level)


def exact_remap(image: Image, maps: Maps, border: str, fill_level: int = 0) -> Image:
    """`remap` in NumPy, for any dtype and number of channels: the definition of its results."""
    whole, fraction = maps
    fx = (fraction & (SUBPIXEL_STEPS - 1)).astype(np.int64)
    fy = (fraction >> 5).astype(np.int64)
    x0, y0 = whole[..., 0].astype(np.intp), whole[..., 1].astype(np.intp)
    values = image[:, :, None] if image.ndim == 2 else image
    h, w = values.shape[:2]
    accumulator = np.int64 if image.dtype == np.uint8 else np.float64
    fill = fill_level if image.dtype == np.uint8 else fill_level / 255.0
    total = np.zeros((*whole.shape[:2], values.shape[2]), dtype=accumulator)
    steps = SUBPIXEL_STEPS
    neighbours = (
        (0, 0, (steps - fx) * (steps - fy)),
        (0, 1, fx * (steps - fy)),
        (1, 0, (steps - fx) * fy),
        (1, 1, fx * fy),
    )
    for dy, dx, weight in neighbours:
        rows, row_inside = border_index(y0 + dy, h, border)
        cols, col_inside = border_index(x0 + dx, w, border)
        inside = row_inside & col_inside
        total += (weight * inside)[:, :, None] * values[rows, cols].astype(accumulator)
        total += (weight * ~inside)[:, :, None] * fill
    scale = steps * steps
    if image.dtype == np.uint8:
        out: Image = ((total + scale // 2) // scale).astype(np.uint8)
    else:
        out = (total / scale).astype(image.dtype)
    return out[:, :, 0] if image.ndim == 2 else out


def warp_maps(matrix: Matrix, height: int, width: int) -> Maps:
    """Fixed-point maps of a 2x3 affine or 3x3 homography given from source to output."""
    return fixed_point_maps(*source_positions(invert(matrix), height, width))
