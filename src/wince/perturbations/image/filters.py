"""Linear filtering the same on every CPU: FFT convolution, and direct separable filters.

OpenCV's float filters (`filter2D`, `sepFilter2D`, `GaussianBlur` on float32) take SIMD or
scalar paths by the CPU and round differently, so a blur would differ between machines.
scipy's pocketfft is compiled once for all CPUs of an architecture, with no run-time choice of
code path, so a convolution through it gives the same bits everywhere. At the kernel sizes
blurs use (a few to a few dozen pixels) it costs about what OpenCV's own DFT path costs.
Transforms are float64, so results equal direct convolution to about 1e-15 of full scale: a
flat image stays flat and no light leaks beyond a kernel's support (float32 transforms leave
errors near 1e-6, enough to move a truncated 8-bit level). Small
separable windows (SSIM's Gaussian) are filtered directly instead, one elementwise
multiply-add per tap in a fixed order (`correlate_separable`). Separable filters of uint8
images run in exact integer arithmetic instead (`filter_separable_uint8`): integer taps on
integer values, whose sums OpenCV computes exactly in float64 on any code path, 5x faster
than the FFT.
"""

from __future__ import annotations

import functools
from typing import Any, Literal

import cv2
import numpy as np
import numpy.typing as npt
import scipy.fft

from wince.perturbations import arithmetic

Kernel = npt.NDArray[np.floating]
# Below this sigma, exp(-0.5 / sigma**2) at one pixel is below float64's smallest subnormal, so
# a sampled Gaussian is exactly the identity; dividing by a tinier sigma would overflow.
DELTA_SIGMA_PX = 0.02


def gaussian_taps(sigma_px: float, radius_px: int) -> npt.NDArray[np.float64]:
    """A normalised Gaussian of `sigma_px` sampled at whole pixels out to `radius_px` each side."""
    radius = radius_px
    offsets = np.arange(-radius, radius + 1, dtype=np.float64)
    if sigma_px < DELTA_SIGMA_PX:  # the off-centre taps underflow to 0: the identity, exactly
        identity: npt.NDArray[np.float64] = (offsets == 0).astype(np.float64)
        return identity
    taps = arithmetic.exp(-0.5 * (offsets / sigma_px) ** 2)
    normalised: npt.NDArray[np.float64] = taps / taps.sum()
    return normalised


# Border rules by OpenCV's names, as NumPy's `pad` modes.
PadMode = Literal["reflect", "symmetric", "edge"]
BORDERS: dict[str, PadMode] = {"reflect101": "reflect", "reflect": "symmetric", "replicate": "edge"}


def convolve(
    image: npt.NDArray[Any], kernel: Kernel, border: str = "reflect101"
) -> npt.NDArray[np.float32]:
    """Convolve one image (h, w) or (h, w, c) with an odd-sized 2D kernel; float32 result.

    Borders by default reflect without repeating the edge pixel (OpenCV's reflect-101), as a
    camera's blur of the scene beyond the frame would look; `border` may also be "reflect"
    (edge pixel repeated) or "replicate". The kernel is applied as a correlation centred on its
    middle tap, which equals convolution for the point-symmetric kernels blurs use.
    """
    kh, kw = kernel.shape
    ry, rx = kh // 2, kw // 2
    values = np.asarray(image, dtype=np.float64)
    planar = values.ndim == 2
    if planar:
        values = values[:, :, None]
    h, w = values.shape[:2]
    padded = np.pad(values, ((ry, ry), (rx, rx), (0, 0)), mode=BORDERS[border])
    size = (
        scipy.fft.next_fast_len(padded.shape[0] + kh - 1, real=True),
        scipy.fft.next_fast_len(padded.shape[1] + kw - 1, real=True),
    )
    flipped = np.ascontiguousarray(kernel[::-1, ::-1], dtype=np.float64)
    spectrum = arithmetic.complex_multiply(
        scipy.fft.rfft2(padded, s=size, axes=(0, 1)),
        _kernel_spectrum(flipped.tobytes(), flipped.shape, size)[:, :, None],
    )
    full = scipy.fft.irfft2(spectrum, s=size, axes=(0, 1))
    out: npt.NDArray[np.float32] = np.ascontiguousarray(
        full[2 * ry : 2 * ry + h, 2 * rx : 2 * rx + w], dtype=np.float32
    )
    return out[:, :, 0] if planar else out


# Integer taps of `filter_separable_uint8` sum to 2**12 per axis: a flat image stays flat,
# each 2D weight is within 2**-25 of the float kernel's, and every sum (at most 255 * 2**24)
# is a whole number far below 2**53, so float64 holds every partial sum exactly.
_TAP_BITS = 12
_OPENCV_BORDERS = {
    "reflect101": cv2.BORDER_REFLECT_101,
    "reflect": cv2.BORDER_REFLECT,
    "replicate": cv2.BORDER_REPLICATE,
}


def integer_taps(taps: Kernel) -> npt.NDArray[np.float64]:
    """Non-negative normalised `taps` as whole numbers summing to exactly 2**12.

    Each tap is rounded to the nearest 1/4096; the middle tap takes up the rounding remainder.
    """
    whole: npt.NDArray[np.float64] = np.rint(np.asarray(taps, dtype=np.float64) * 2**_TAP_BITS)
    whole[len(whole) // 2] += 2**_TAP_BITS - whole.sum()
    return whole


def filter_separable_uint8(
    image: npt.NDArray[np.uint8], taps: Kernel, border: str = "reflect101"
) -> npt.NDArray[np.uint8]:
    """Filter one uint8 image (h, w) or (h, w, c) with `taps` along rows and columns.

    `taps` (odd length, non-negative, summing to 1) become `integer_taps`; the filtered sums
    are exact integers, rounded half up to 8-bit levels: the same result on every CPU and
    OpenCV release, within half a level of the float filter. Borders as in `convolve`.
    """
    whole = integer_taps(taps)
    sums = cv2.sepFilter2D(
        image.astype(np.float64), cv2.CV_64F, whole, whole, borderType=_OPENCV_BORDERS[border]
    )
    half = 2 ** (2 * _TAP_BITS - 1)
    levels: npt.NDArray[np.uint8] = ((sums.astype(np.int64) + half) >> (2 * _TAP_BITS)).astype(
        np.uint8
    )
    return levels.reshape(image.shape)


@functools.lru_cache(maxsize=8)
def _kernel_spectrum(
    kernel: bytes, shape: tuple[int, ...], size: tuple[int, int]
) -> npt.NDArray[np.complex128]:
    """The real FFT of a float64 kernel (given as bytes), zero-padded to `size`; cached.

    A batch convolves every image with the same kernel; its transform is computed once.
    """
    taps = np.frombuffer(kernel, dtype=np.float64).reshape(shape)
    spectrum: npt.NDArray[np.complex128] = scipy.fft.rfft2(taps, s=size)
    spectrum.flags.writeable = False
    return spectrum


def correlate_separable(
    values: npt.NDArray[np.float32], taps: Kernel, border: str = "reflect"
) -> npt.NDArray[np.float32]:
    """Filter (rows, columns, ...) float32 values with `taps` along rows and columns.

    Direct correlation, one multiply-add per tap in a fixed order; borders by default mirrored
    with the edge pixel repeated (OpenCV's reflect), or any of `BORDERS`. For small windows.
    """
    r = len(taps) // 2
    weights = np.asarray(taps, dtype=np.float32)
    out = values
    for axis in (0, 1):
        pad = np.zeros((values.ndim, 2), dtype=np.intp)
        pad[axis] = r
        padded = np.pad(out, pad, mode=BORDERS[border])
        length = out.shape[axis]
        total = np.zeros_like(out)
        for k, weight in enumerate(weights):
            total += weight * np.take(padded, np.arange(k, k + length), axis=axis)
        out = total
    return out
