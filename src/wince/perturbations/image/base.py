"""Shared machinery of image perturbations: batch checks, conversions, tone curves, distances.

Image batches have shape (n, height, width, channels), uint8 [0, 255] or float32 [0, 1], with
1 (grey), 3 (RGB) or 4 (RGBA) channels. Pixel values are sRGB-encoded; effects that are
physical in linear light (exposure, shot noise, blur of light) decode to linear light first.
Alpha is not light: every perturbation leaves the alpha channel of RGBA images unchanged.

Sizes are resolution-aware: a perturbation that moves, blurs or covers pixels declares its size
as a percentage of the image's shorter side (`size_px` converts), so a severity means the same
at 32 px and at 1024 px. Where a size is inherently relative (lens distortion's k1 on the
normalised radius) or inherently per pixel (dead pixels per million), the docstring says so.

Every image outcome records three per-image measures, so runs that mix image perturbations
share one set of columns:

- `distance`: mean absolute difference of the colour channels, a fraction of full scale;
- `psnr_db`: peak signal-to-noise ratio, 10 log10(1 / MSE) on [0, 1] values; infinite when
  the image is unchanged;
- `ssim`: structural similarity (Wang et al. 2004: Gaussian window of sigma 1.5 px, K1 = 0.01,
  K2 = 0.03, data range 1), averaged over colour channels; 1 when unchanged.

Examples:
    >>> import numpy as np
    >>> from wince.perturbations import DataContext, Modality, Rngs, get
    >>> x = np.full((1, 32, 32, 3), 100, dtype=np.uint8)
    >>> darker = get("image.exposure")().perturb(x, -1.0, Rngs.for_samples(["a"]))
    >>> int(darker[0, 0, 0, 0])
    71
    >>> distances = get("image.exposure")().distances(x, darker, DataContext(Modality.IMAGE))
    >>> round(float(distances["psnr_db"][0]), 1), round(float(distances["ssim"][0]), 3)
    (18.9, 0.944)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, ClassVar

import cv2
import numpy as np
import numpy.typing as npt
import stringzilla as sz
from scipy import special

from wince.errors import DataError
from wince.perturbations import arithmetic
from wince.perturbations.base import Batch, DataContext, Drift, Modality, Perturbation
from wince.perturbations.image.filters import correlate_separable, gaussian_taps

FloatImages = npt.NDArray[np.float32]


def check_images(x: object, owner: str) -> None:
    """Raise `DataError` unless `x` is an image batch (n, h, w, c) of uint8 or float32 in [0, 1]."""
    if not isinstance(x, np.ndarray) or x.ndim != 4:
        shape = getattr(x, "shape", type(x).__name__)
        hint = " Add a batch axis: x[None]." if getattr(x, "ndim", 0) == 3 else ""
        raise DataError(
            f"{owner}: image batches have shape (n, height, width, channels); got {shape}.{hint}"
        )
    if x.dtype not in (np.uint8, np.float32):
        raise DataError(
            f"{owner}: images must be uint8 in [0, 255] or float32 in [0, 1]; got {x.dtype}. "
            f"Convert with {conversion_hint(x)}."
        )
    if x.shape[3] not in (1, 3, 4):
        raise DataError(f"{owner}: images need 1, 3 or 4 channels (last axis); got {x.shape[3]}.")
    if x.dtype == np.float32 and x.size:
        low, high = float(x.min()), float(x.max())
        if not (low >= 0.0 and high <= 1.0):  # also rejects NaN
            raise DataError(
                f"{owner}: float32 images must lie in [0, 1]; got values in [{low:g}, {high:g}]. "
                "Divide 0-255 levels by 255, or clip with np.clip(x, 0, 1)."
            )


def conversion_hint(x: npt.NDArray[np.generic]) -> str:
    """The conversion that makes `x` a uint8 or float32 image batch, for its dtype and values."""
    high = float(np.max(x)) if x.size else 0.0
    if x.dtype.kind == "f":
        return "x.astype(np.float32)" if high <= 1.0 else "(x / 255).astype(np.float32)"
    if high <= 255:
        return "x.astype(np.uint8)"
    return "(x / 65535).astype(np.float32) for 16-bit levels"


def colour_channels(x: npt.NDArray[np.generic]) -> int:
    """Number of channels that carry light: all but the alpha channel of RGBA images."""
    return 3 if x.shape[3] == 4 else x.shape[3]


def to_float(x: npt.NDArray[np.generic]) -> FloatImages:
    """Images as float32 in [0, 1]."""
    if x.dtype == np.uint8:
        return x.astype(np.float32) / np.float32(255.0)
    return x.astype(np.float32, copy=True)


def from_float(y: FloatImages, dtype: np.dtype[np.generic]) -> npt.NDArray[np.generic]:
    """Float images in [0, 1] back to `dtype`, clipping; uint8 rounds to the nearest level."""
    clipped: FloatImages = np.clip(y, 0.0, 1.0)
    if dtype == np.uint8:
        levels: npt.NDArray[np.uint8] = np.rint(clipped * np.float32(255.0)).astype(np.uint8)
        return levels
    return clipped.astype(np.float32, copy=False)


def srgb_to_linear(v: npt.NDArray[np.floating]) -> npt.NDArray[np.float64]:
    """IEC 61966-2-1 sRGB decoding of values in [0, 1], in float64 (the same on every CPU)."""
    v = np.asarray(v, dtype=np.float64)
    curve = arithmetic.power(np.maximum(v + 0.055, 0.0) / 1.055, 2.4)
    linear: npt.NDArray[np.float64] = np.where(v <= 0.04045, v / 12.92, curve)
    return linear


def linear_to_srgb(v: npt.NDArray[np.floating]) -> npt.NDArray[np.float64]:
    """IEC 61966-2-1 sRGB encoding of values clipped to [0, 1], in float64 (same on every CPU)."""
    v = np.clip(np.asarray(v, dtype=np.float64), 0.0, 1.0)
    encoded: npt.NDArray[np.float64] = np.where(
        v <= 0.0031308, v * 12.92, 1.055 * arithmetic.power(v, 1 / 2.4) - 0.055
    )
    return encoded


# Rec. 709 / sRGB luminance weights of linear R, G, B.
LUMINANCE_WEIGHTS = np.array([0.2126, 0.7152, 0.0722])

_LEVELS = np.arange(256, dtype=np.float64) / 255.0
# uint8 sRGB level -> linear light (float32, or 16-bit codes), and linear light quantised to
# 16 bits -> nearest uint8 level: 16 bits keep the encoding within 0.05 of a level even in the
# steep toe near black.
_LINEAR_OF_LEVEL = srgb_to_linear(_LEVELS).astype(np.float32)
_LINEAR_CODE_OF_LEVEL = np.rint(srgb_to_linear(_LEVELS) * 65535.0).astype(np.uint16)
_LEVEL_OF_LINEAR_CODE = np.rint(linear_to_srgb(np.arange(65536) / 65535.0) * 255.0).astype(np.uint8)


def to_linear(image: npt.NDArray[np.generic], *, codes: bool = False) -> npt.NDArray[Any]:
    """Linear light of an sRGB-encoded image (uint8 or float32 in [0, 1]); any shape.

    float32 in [0, 1] by default; with `codes`, uint8 images give uint16 codes of linear light
    (full scale 65535), for effects that commute with scaling (a colour matrix, a gain map).
    """
    if image.dtype == np.uint8:
        flat = np.ascontiguousarray(image).reshape(max(image.shape[0], 1), -1)
        table = _LINEAR_CODE_OF_LEVEL if codes else _LINEAR_OF_LEVEL
        return np.asarray(cv2.LUT(flat, table)).reshape(image.shape)
    linear: npt.NDArray[np.float32] = srgb_to_linear(image.astype(np.float32, copy=False)).astype(
        np.float32, copy=False
    )
    return linear


def from_linear(linear: npt.NDArray[Any], dtype: np.dtype[np.generic]) -> npt.NDArray[Any]:
    """sRGB-encoded image of `dtype` (uint8 or float32) from linear light, clipped.

    `linear` is float32 in [0, 1] (values outside are clipped) or uint16 codes (see
    `to_linear`); uint8 output rounds to the nearest level through a 16-bit table.
    """
    if dtype == np.uint8:
        if linear.dtype == np.uint16:
            codes = linear
        else:  # rounds to the nearest code and saturates to [0, 65535]
            scaled = np.clip(linear * np.float32(65535.0), 0.0, 65535.0)
            codes = np.rint(scaled, out=scaled).astype(np.uint16)
        encoded: npt.NDArray[np.uint8] = np.take(_LEVEL_OF_LINEAR_CODE, codes)
        return encoded
    return np.asarray(linear_to_srgb(linear), dtype=np.float32)


def each_image(
    x: npt.NDArray[Any], effect: Callable[[int, npt.NDArray[Any]], npt.NDArray[Any]]
) -> npt.NDArray[Any]:
    """Apply `effect(i, colour)` to the colour channels of every image, keeping alpha.

    `colour` is image i's colour channels, contiguous, shape (h, w, c) and dtype of `x`;
    `effect` returns the perturbed colour channels with the same shape and dtype (OpenCV's
    (h, w) for one channel is accepted). One image at a time keeps intermediates in cache.
    """
    out = np.empty_like(x)
    c = colour_channels(x)
    if x.shape[3] == 4:
        out[..., 3] = x[..., 3]
    for i in range(len(x)):
        colour = np.ascontiguousarray(x[i, :, :, :c])
        out[i, :, :, :c] = effect(i, colour).reshape(colour.shape)
    return out


# Fast per-image random draws: 16 raw random bits per value, turned into standard normal
# deviates by a 65,536-entry table of normal quantiles (rescaled to unit variance; |z| < 4.2).
# Several times faster than `Generator.standard_normal`, and the noise of image noise models
# needs no tail beyond 4 sd.
_QUANTILES = special.ndtri((np.arange(2**16) + 0.5) / 2**16)
NORMAL_TABLE = (_QUANTILES / _QUANTILES.std()).astype(np.float32)


def random_bits16(rng: np.random.Generator, shape: tuple[int, ...]) -> npt.NDArray[np.uint16]:
    """Uniform 16-bit integers of `shape` from the generator's raw bytes.

    The values of `rng.bytes(2 * size)` for a non-empty shape (the same stream; later 64-bit
    draws, such as float64 uniforms and normals, follow as after `bytes`, 32-bit ones may not),
    read straight from the bit generator's 64-bit words: 3-6x faster than `bytes`, which goes
    through 32-bit draws. An empty shape draws nothing.
    """
    count = math.prod(shape)
    words = rng.bit_generator.random_raw((count + 3) // 4).astype("<u8", copy=False)
    return words.view("<u2")[:count].reshape(shape)


def quantile_normal(rng: np.random.Generator, shape: tuple[int, ...]) -> npt.NDArray[np.float32]:
    """Standard normal deviates of `shape` (float32) through `NORMAL_TABLE`."""
    normal: npt.NDArray[np.float32] = np.take(NORMAL_TABLE, random_bits16(rng, shape))
    return normal


def size_px(size_pct: float, x: npt.NDArray[np.generic]) -> float:
    """A size given in % of the shorter image side, in pixels of the batch `x` (n, h, w, c)."""
    return float(size_pct / 100.0 * min(x.shape[1], x.shape[2]))


def lookup(x: npt.NDArray[np.uint8], table: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """Every value of a uint8 array replaced by `table[value]` (256 entries), in a new array.

    StringZilla's byte translation does it: measured here 3-4x faster than OpenCV's LUT on
    a batch of 224-px images (107k vs 24k images/s), the cost of most lighting perturbations.
    """
    source = np.ascontiguousarray(x)
    out = np.empty_like(source)
    if source.size:
        flat_table = np.ascontiguousarray(table, dtype=np.uint8)
        sz.translate(source.reshape(-1).data, flat_table.data, out=out.reshape(-1).data)
    return out


def tone_map(
    x: npt.NDArray[np.generic],
    curve: Callable[[npt.NDArray[np.float64]], npt.NDArray[np.floating]],
) -> npt.NDArray[np.generic]:
    """Apply a per-value tone curve on [0, 1] to the colour channels, keeping alpha.

    uint8 images go through a 256-entry lookup table (rounded to the nearest level); float32
    images through the curve itself. The curve's output is clipped to [0, 1].
    """
    if x.size == 0:
        return x.copy()
    c = colour_channels(x)
    if x.dtype == np.uint8:
        levels = np.arange(256, dtype=np.float64) / 255.0
        table = np.rint(np.clip(curve(levels), 0.0, 1.0) * 255.0).astype(np.uint8)
        mapped = lookup(x.view(np.uint8), table)
        if c < x.shape[3]:
            mapped[..., c:] = x[..., c:]
        return mapped
    out = x.copy()
    out[..., :c] = np.clip(curve(x[..., :c].astype(np.float64)), 0.0, 1.0)
    return out


def per_image_mean(values: npt.NDArray[np.floating]) -> npt.NDArray[np.float64]:
    """Mean over every axis but the first, in float64."""
    per_value = values.reshape(len(values), math.prod(values.shape[1:]))
    means: npt.NDArray[np.float64] = per_value.mean(axis=1, dtype=np.float64)
    return means


def mean_absolute_difference(
    original: npt.NDArray[np.generic], perturbed: npt.NDArray[np.generic]
) -> npt.NDArray[np.float64]:
    """Mean absolute difference of the colour channels per image, a fraction of full scale."""
    return CleanImages(original).mean_absolute_difference(perturbed)


def psnr_db(
    original: npt.NDArray[np.generic], perturbed: npt.NDArray[np.generic]
) -> npt.NDArray[np.float64]:
    """Peak signal-to-noise ratio per image in dB, on [0, 1] colour values; inf if unchanged."""
    return CleanImages(original).psnr_db(perturbed)


SSIM_SIGMA_PX = 1.5
SSIM_WINDOW_PX = 11
_SSIM_C1 = 0.01**2
_SSIM_C2 = 0.03**2
# float32 values blurred per call (4 MB an array), so big images go a few at a time
_SSIM_GROUP_VALUES = 1 << 20


def ssim(
    original: npt.NDArray[np.generic], perturbed: npt.NDArray[np.generic]
) -> npt.NDArray[np.float64]:
    """Structural similarity per image in [-1, 1] (1 when unchanged), over colour channels.

    Wang et al. (2004) with a Gaussian window (sigma 1.5 px, 11 px wide), population
    covariances and data range 1, as `skimage.metrics.structural_similarity(...,
    gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1)`: borders are
    reflected for the filtering and the 5-px margin left out of the mean. Images narrower than
    11 px use the widest odd window that fits, with sigma scaled to match.
    """
    return CleanImages(original).ssim(perturbed)


class CleanImages:
    """A batch of original images, measured once, to compare many perturbed versions against.

    The engine measures every trial of a batch against the same originals: their float
    values are computed once here instead of once per trial (4 bytes a value; the originals'
    SSIM moments are blurred again each trial, which keeps a unit's memory at that).
    Perturbed batches must have the originals' shape.
    """

    def __init__(self, original: npt.NDArray[np.generic]) -> None:
        self.original = original
        self.channels = colour_channels(original)
        self.values = to_float(original[..., : self.channels])
        h, w = original.shape[1:3]
        self.window = min(SSIM_WINDOW_PX, (min(h, w) - 1) // 2 * 2 + 1)
        self.sigma = SSIM_SIGMA_PX * self.window / SSIM_WINDOW_PX
        self.margin = self.window // 2
        # Only pixels at least `margin` from every edge enter the SSIM mean, and their windows
        # stay inside their own image: so images and their products, stacked one above the
        # other, are blurred in one call with the same per-pixel arithmetic (per-call costs
        # dominate small images), and the index is computed on those pixels alone.
        self.per_group = max(1, _SSIM_GROUP_VALUES // max(1, 5 * h * w * self.channels))

    def _difference(self, perturbed: npt.NDArray[np.generic]) -> FloatImages:
        difference: FloatImages = to_float(perturbed[..., : self.channels])
        difference -= self.values
        return difference

    def mean_absolute_difference(
        self, perturbed: npt.NDArray[np.generic]
    ) -> npt.NDArray[np.float64]:
        """Mean absolute difference per image (see `mean_absolute_difference`)."""
        return per_image_mean(np.abs(self._difference(perturbed)))

    def psnr_db(self, perturbed: npt.NDArray[np.generic]) -> npt.NDArray[np.float64]:
        """PSNR per image in dB (see `psnr_db`)."""
        return self._psnr(per_image_mean(np.square(self._difference(perturbed))))

    @staticmethod
    def _psnr(mse: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        psnr: npt.NDArray[np.float64] = -10.0 * arithmetic.log10(mse)
        return psnr

    def ssim(self, perturbed: npt.NDArray[np.generic]) -> npt.NDArray[np.float64]:
        """SSIM per image (see `ssim`)."""
        return self._ssim(perturbed, self._changed(self._difference(perturbed)))

    @staticmethod
    def _changed(difference: FloatImages) -> npt.NDArray[np.bool_]:
        """Which images differ anywhere."""
        per_image = difference.reshape(len(difference), math.prod(difference.shape[1:]))
        changed: npt.NDArray[np.bool_] = (per_image != 0).any(axis=1)
        return changed

    def _ssim(
        self, perturbed: npt.NDArray[np.generic], changed: npt.NDArray[np.bool_]
    ) -> npt.NDArray[np.float64]:
        n, h, w = self.original.shape[:3]
        c, m = self.channels, self.margin
        scores = np.ones(n)
        which = np.flatnonzero(changed)
        if len(which) == 0:
            return scores
        for first in range(0, len(which), self.per_group):
            group = which[first : first + self.per_group]
            a = self.values[group]
            b = to_float(perturbed[group][..., :c])
            stacked = np.concatenate([a, b, a * a, b * b, a * b]).reshape(-1, w, c)
            blurred = self._blur(stacked).reshape(5, len(group), h, w, c)
            mu_a, mu_b, blur_aa, blur_bb, blur_ab = blurred[:, :, m : h - m, m : w - m]
            var_a = blur_aa - mu_a * mu_a
            var_b = blur_bb - mu_b * mu_b
            cov = blur_ab - mu_a * mu_b
            index = ((2 * mu_a * mu_b + _SSIM_C1) * (2 * cov + _SSIM_C2)) / (
                (mu_a * mu_a + mu_b * mu_b + _SSIM_C1) * (var_a + var_b + _SSIM_C2)
            )
            scores[group] = index.mean(axis=(1, 2, 3), dtype=np.float64)
        return scores

    def distances(self, perturbed: npt.NDArray[np.generic]) -> dict[str, npt.NDArray[np.float64]]:
        """`distance` (mean absolute difference), `psnr_db` and `ssim` per image."""
        difference = self._difference(perturbed)
        changed = self._changed(difference)
        mse = per_image_mean(np.square(difference))
        np.abs(difference, out=difference)
        return {
            "distance": per_image_mean(difference),
            "psnr_db": self._psnr(mse),
            "ssim": self._ssim(perturbed, changed),
        }

    def _blur(self, v: FloatImages) -> FloatImages:
        """Gaussian blur of each channel of (rows, columns, channels) values, borders reflected."""
        taps = gaussian_taps(self.sigma, self.window // 2)
        return correlate_separable(v, taps).reshape(v.shape)


class ImagePerturbation(Perturbation):
    """Shared batch checks and distances (mean absolute difference, PSNR, SSIM) of images."""

    modality = Modality.IMAGE
    distance_unit: ClassVar[str] = "mean absolute difference (fraction of full scale)"
    # Codecs bundled with OpenCV, Pillow's resampling and SciPy's FFT may round a value that
    # sits on a level boundary the other way in another release: one level, rarely.
    drift: ClassVar[Drift] = Drift(max_change=1 / 255, max_share=0.005)

    def check_batch(self, x: Batch) -> None:
        """Raise `DataError` unless `x` is an image batch."""
        check_images(x, self.name)

    def distance(
        self, original: Batch, perturbed: Batch, context: DataContext
    ) -> npt.NDArray[np.float64]:
        """Mean absolute difference of the colour channels per image, in [0, 1] of full scale."""
        return mean_absolute_difference(original, perturbed)

    def distances(
        self, original: Batch, perturbed: Batch, context: DataContext
    ) -> dict[str, npt.NDArray[np.float64]]:
        """`distance` (mean absolute difference), `psnr_db` and `ssim` per image."""
        return self.distances_to(self.measure_clean(original, context), perturbed, context)

    def measure_clean(self, original: Batch, context: DataContext) -> CleanImages:
        """The original images, whose float values and local moments are then kept."""
        return CleanImages(original)

    def distances_to(
        self, clean: CleanImages, perturbed: Batch, context: DataContext
    ) -> dict[str, npt.NDArray[np.float64]]:
        """`distance` (mean absolute difference), `psnr_db` and `ssim` per image."""
        return clean.distances(perturbed)
