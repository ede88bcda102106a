"""ImageNet-C: the 15 corruptions of Hendrycks & Dietterich (2019), 5 published levels.

"Benchmarking Neural Network Robustness to Common Corruptions and Perturbations" (ICLR 2019)
defines 15 corruptions at 5 severities. Each is registered here as `image.imagenet_c_<name>`
with one parameter, the ImageNet-C level: levels 1-5 (plan levels 1-5, severities 0.2-1.0)
use exactly the parameters of the published code (`ImageNet-C/create_c/make_imagenet_c.py`
in github.com/hendrycks/robustness); between levels, and from level 0 (the identity) to level
1, every parameter moves linearly (`interpolate`), so severity is continuous. Parameters that
are whole numbers in the published code (glass blur's pixel shift and iterations, pixelate's
and zoom blur's sizes, JPEG quality) step between levels.

Resolution. The published pixel sizes are for 224 x 224 images (ImageNet-C is made after a
resize to 256 and a 224 centre crop). Here every size in pixels is multiplied by
min(height, width) / 224, so at 224 px the corruption is the published one and at other sizes
it covers the same share of the image. Relative sizes (zoom factors, pixelate's scale, the
fog map) need no scaling. Elastic transform's `alpha` multiplies a field whose amplitude falls
as 1/sigma, so it scales with the square of the factor (displacements scale with it).
Scaling cannot save every level far from 224 px: on 28-px images defocus blur's disk shrinks
below a pixel (levels 1-3 change nothing, 4 equals 5), glass blur's shifts all round to 1 px
(levels 1, 4 and 5 coincide) and elastic levels 1-2 wreck digits while 3-5 leave them as
they are;
JPEG's 8-px blocks and per-pixel noise do not scale at all. So images whose shorter side lies
outside [112, 448] px (more than a factor of 2 from 224) warn once per size with a
`ResolutionWarning`.

Reference mode. The deterministic corruptions (defocus blur, zoom blur, brightness, contrast,
pixelate, JPEG compression) take the option `reference: true`, which reproduces the published
outputs exactly: those of imagecorruptions 1.1.2 (`corrupt`, the maintained copy of the
published code; at 224 px the computation of `make_imagenet_c.py` before its final JPEG
save) at any image size, computed with the published float64 arithmetic and library calls
and truncated to 8 bits. It takes uint8 images at whole levels only and does not scale pixel
sizes (the published code does not). Tests compare it with imagecorruptions itself, bit for bit. The
default mode is the one to sweep (continuous, size-scaled, rounded); it differs from the
published outputs by one 8-bit level on some pixels (contrast, brightness, defocus blur) or
two (zoom blur), and equals them for pixelate and JPEG at 224 px. The stochastic corruptions
have no reference mode: the published code draws from NumPy's global generator, unseeded.

Randomness. All draws come from the image's own generator and, wherever the algorithm allows,
do not depend on the level (common random numbers): the noises scale fixed standard draws,
impulse noise compares fixed uniforms with the amount, shot noise inverts the Poisson CDF at
fixed uniforms, blur angles, fog maps, frost textures and displacement fields are drawn
once per image. Where the published algorithm's randomness changes with the level (glass
blur's number of iterations, snow's zoomed crop of its noise field), the draws are made for the
largest case and the level uses a part of them.

Departures of the default mode from the published code (which is slow, unseeded, and uses
ImageMagick twice); `reference: true` removes those of the rows marked *:

| corruption       | here                                   | published                      |
| ---------------- | -------------------------------------- | ------------------------------ |
| all *            | rounded to the nearest 8-bit level     | truncated (make_imagenet_c.py  |
|                  |                                        | then saves JPEG quality 85)    |
| all *            | pixel sizes scaled by side / 224       | the same at every size         |
| defocus blur *   | own disk and separable blur, float32   | OpenCV GaussianBlur, filter2D  |
| brightness *     | an 8-bit lookup table                  | scikit-image HSV, float64      |
| gaussian, shot   | 65,536 normal quantiles (tails cut at  | numpy samplers                 |
| noise            | 4.2 sd), 4,096 Poisson quantiles       |                                |
| glass blur       | all pixels of an iteration take the    | sequential swaps from the      |
|                  | pixel at a random offset at once       | bottom right (chains possible) |
| motion blur,     | one-sided line kernel, Gaussian        | ImageMagick (Wand) motion blur |
| snow             | weights, as imagecorruptions' copy of  |                                |
|                  | ImageMagick's; edges replicated        |                                |
| frost            | seeded procedural ice texture, mean    | crop of one of five frost      |
|                  | and sd per channel of the photos       | photos (not ours to ship)      |
| fog              | same diamond-square fractal, seeded    | global numpy stream            |
| zoom blur *, snow| OpenCV bilinear warp (1/32 px steps)   | scipy.ndimage.zoom             |
| jpeg *           | OpenCV's libjpeg, 4:2:0                | Pillow's libjpeg, 4:2:0        |
| elastic          | OpenCV blur and remap, same borders    | scikit-image and scipy         |

Between levels 0 and 1, snow fades in through an opacity (1 at every published level) and JPEG
quality moves from 100 (re-encoded, not the identity) towards 25.
"""

from __future__ import annotations

import functools
import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image as PILImage
from scipy import ndimage, special

from wince.errors import DataError, ParameterError, ResolutionWarning, warn_once
from wince.perturbations import arithmetic
from wince.perturbations.base import Batch, DataContext, Magnitude, Rngs, register
from wince.perturbations.image.base import (
    NORMAL_TABLE,
    ImagePerturbation,
    colour_channels,
    quantile_normal,
    random_bits16,
    to_float,
)
from wince.perturbations.image.filters import convolve, correlate_separable, gaussian_taps
from wince.perturbations.image.geometry import (
    SourceMap,
    fixed_point_maps,
    invert,
    map_points,
    matmul,
    remap,
    source_positions,
    warp_maps,
)
from wince.perturbations.image.pipeline import Jpeg
from wince.perturbations.image.resize import resize

Image = npt.NDArray[Any]  # one image (height, width, colour channels), uint8 or float32
FloatImage = npt.NDArray[np.float32]
Params = tuple[float, ...]

REFERENCE_SIDE_PX = 224  # the published parameters are for 224 x 224 images
LEVEL = Magnitude(
    "imagenet_c_level",
    unit="ImageNet-C severity level",
    off=0.0,
    mild=1.0,
    severe=5.0,
    limits=(0.0, 5.0),
)


def interpolate(table: Sequence[Sequence[float]], level: float) -> Params:
    """The parameters at a continuous level, linear between the rows of a parameter table.

    Args:
        table: six rows of parameters, for level 0 (the identity) and levels 1 to 5.
        level: the ImageNet-C level in [0, 5]; whole levels give their row exactly.

    Examples:
        >>> interpolate([(0.0,), (0.1,), (0.2,), (0.3,), (0.4,), (0.5,)], 2.5)
        (0.25,)
    """
    low = min(int(level), len(table) - 2)
    t = level - low
    return tuple((1.0 - t) * a + t * b for a, b in zip(table[low], table[low + 1], strict=True))


def _whole(value: float) -> int:
    """A whole-number parameter between levels: rounded half up."""
    return math.floor(value + 0.5)


@dataclass(frozen=True)
class Setup:
    """What a corruption needs for one call, computed once for every image of the batch.

    Attributes:
        params: the interpolated parameters of the level.
        scale: min(height, width) / 224, the factor applied to published pixel sizes.
        extra: precomputed kernels or tables.
    """

    params: Params
    scale: float
    extra: Any = None


# One image's corruption, as `ImageNetCorruption.corrupt`.
Corrupt = Callable[[Image, Setup, np.random.Generator], Image]


class ImageNetCorruption(ImagePerturbation):
    """Shared machinery: the level, its parameter table and a per-image loop."""

    magnitude = LEVEL
    version = 1
    table: ClassVar[tuple[tuple[float, ...], ...]]

    def prepare(self, params: Params, scale: float, height: int, width: int) -> Setup:
        """Kernels and tables shared by all images of a call (default: none)."""
        return Setup(params, scale)

    def corrupt(self, image: Image, setup: Setup, rng: np.random.Generator) -> Image:
        """Corrupt one image (h, w, colour channels), uint8 or float32.

        Returns float32 values (clipped later) or an array of the input's dtype.
        """
        raise NotImplementedError

    def apply(self, x: Batch, value: float, rngs: Rngs, context: DataContext) -> Batch:
        """Corrupt every image at the level `value`, alpha kept; warn if far from 224 px."""
        if x.size == 0:
            return x.copy()
        _warn_far_from_reference_size(min(x.shape[1:3]))
        return self.corrupt_batch(x, value, rngs, context)

    def corrupt_batch(self, x: Batch, value: float, rngs: Rngs, context: DataContext) -> Batch:
        """Corrupt every image (a non-empty batch) at the level `value`, alpha kept."""
        return self.corrupt_each(x, value, rngs, self.corrupt)

    def corrupt_each(self, x: Batch, value: float, rngs: Rngs, corrupt: Corrupt) -> Batch:
        """`corrupt_batch` with `corrupt` in place of the method of that name."""
        n, height, width = x.shape[:3]
        c = colour_channels(x)
        out = np.empty_like(x)
        out[..., c:] = x[..., c:]  # alpha
        colour = out if c == x.shape[3] else out[..., :c]
        setup = self.prepare(
            interpolate(self.table, value), min(height, width) / REFERENCE_SIDE_PX, height, width
        )
        for i in range(n):
            result = corrupt(x[i, :, :, :c], setup, rngs[i]).reshape(height, width, c)
            colour[i] = (
                result if result.dtype == x.dtype == np.uint8 else _to_dtype(result, x.dtype)
            )
        return out


# Within a factor of 2 of 224 px, every published pixel size stays at least half its size (so
# the sizes of 1-3 px that separate the mild levels stay apart) and JPEG's 8-px blocks and the
# per-pixel noises keep roughly their published share of the image.
SIZE_RANGE_PX = (REFERENCE_SIDE_PX // 2, REFERENCE_SIDE_PX * 2)


def _warn_far_from_reference_size(side: int) -> None:
    """Warn once per size when the shorter image side lies outside `SIZE_RANGE_PX`."""
    low, high = SIZE_RANGE_PX
    if low <= side <= high:
        return
    warn_once(
        f"ImageNet-C on images of {side} px (shorter side): the published pixel sizes are for "
        f"224-px images; beyond a factor of 2 (outside [{low}, {high}] px) levels may change "
        "nothing or equal one another, and JPEG's 8-px blocks and per-pixel noise weigh "
        "differently. Resize the images towards 224 px for the published severities.",
        ResolutionWarning,
        stacklevel=4,
    )


_PUBLISHED_MIN_SIDE_PX = 32  # imagecorruptions' `corrupt` refuses smaller images


class PublishedCorruption(ImageNetCorruption):
    """A corruption without randomness that can also run as the published code computes it.

    With `reference=True` the output is that of imagecorruptions 1.1.2 (`corrupt(image,
    level, name)`, the maintained copy of the published code) at any image size: the published
    arithmetic in float64 and the published library calls (OpenCV's `filter2D`, scipy's
    `zoom`, Pillow's JPEG encoder), truncated to 8 bits at the end as published, pixel sizes
    not scaled with the image. Like imagecorruptions it takes uint8 images of at least 32 px
    a side, at whole levels only; grey images are corrupted as three equal channels, as
    published. At 224 px this is the computation of `make_imagenet_c.py` before its JPEG save.

    Args:
        reference: reproduce imagecorruptions' outputs exactly (uint8 images, levels 1-5)
            instead of wince's rounded, size-scaled, continuous version.
    """

    stochastic = False

    def __init__(self, *, reference: bool = False) -> None:
        if not isinstance(reference, bool):
            raise ParameterError(
                f"{self.name}: reference must be true or false; got {reference!r}. "
                "Try reference: true to reproduce the published outputs exactly."
            )
        self.reference = reference

    def published(self, image: npt.NDArray[np.uint8], level: int) -> npt.NDArray[Any]:
        """The published corruption of one RGB image (h, w, 3) at a level 1-5.

        Returns the values before the published final truncation: in [0, 255], float or uint8.
        """
        raise NotImplementedError

    def corrupt_batch(self, x: Batch, value: float, rngs: Rngs, context: DataContext) -> Batch:
        """The published outputs with `reference`, wince's otherwise."""
        if self.reference:
            return self.published_batch(x, value)
        return super().corrupt_batch(x, value, rngs, context)

    def published_batch(self, x: Batch, value: float) -> Batch:
        """Every image as the published code corrupts it at the level `value`, alpha kept.

        Raises:
            ParameterError: `value` is not a whole level.
            DataError: the images are not uint8, or smaller than 32 px.
        """
        if value != int(value):
            raise ParameterError(
                f"{self.name}: with reference: true the level must be a published one, a whole "
                f"number 0-5; got {value:g}. Use reference: false for levels in between."
            )
        if x.dtype != np.uint8:
            raise DataError(
                f"{self.name}: with reference: true the images must be uint8, as the published "
                f"code takes them; got {x.dtype}. Convert with (x * 255).round().astype('uint8')."
            )
        if min(x.shape[1:3]) < _PUBLISHED_MIN_SIDE_PX:
            raise DataError(
                f"{self.name}: with reference: true the images must be at least "
                f"{_PUBLISHED_MIN_SIDE_PX} px a side, as imagecorruptions requires; got "
                f"{x.shape[1]} x {x.shape[2]}. Use reference: false, which scales to any size."
            )
        c = colour_channels(x)
        out = x.copy()
        for i in range(len(x)):
            colour = x[i, :, :, :c]
            rgb = colour if c == 3 else np.repeat(colour, 3, axis=2)
            corrupted = np.asarray(self.published(rgb, int(value))).astype(np.uint8)  # truncates
            out[i, :, :, :c] = corrupted[:, :, :c]
        return out


def _to_dtype(image: FloatImage, dtype: np.dtype[Any]) -> Image:
    """Float values back to `dtype`, clipped to [0, 1]; uint8 rounds to the nearest level."""
    clipped = np.clip(image, 0.0, 1.0)
    if dtype == np.uint8:
        rounded: Image = np.rint(clipped * np.float32(255.0)).astype(np.uint8)
        return rounded
    return clipped


def _image_float(image: Image) -> FloatImage:
    """One image as float32 in [0, 1]."""
    floats: FloatImage = to_float(image[None])[0]
    return floats


def _levels(image: Image) -> npt.NDArray[np.uint8]:
    """One image as 8-bit levels (the nearest level for float images)."""
    if image.dtype == np.uint8:
        return image
    levels: npt.NDArray[np.uint8] = np.rint(image * np.float32(255.0)).astype(np.uint8)
    return levels


def _shaped(result: npt.NDArray[Any], like: Image) -> npt.NDArray[Any]:
    """OpenCV drops a single channel axis; put it back."""
    return result.reshape(like.shape)


# ---------------------------------------------------------------------------------------------
# Random draws: 16 random bits per value, turned into uniforms or normal deviates by tables.

_BITS = 16  # random bits per value (`random_bits16`)


# ---------------------------------------------------------------------------------------------
# Noise.


@register
class ImageNetCGaussianNoise(ImageNetCorruption):
    """ImageNet-C Gaussian noise, as from a sensor in low light: N(0, sd^2) added to each value.

    The standard deviation in [0, 1] units is 0.08, 0.12, 0.18, 0.26, 0.38 at levels 1-5.
    """

    name = "image.imagenet_c_gaussian_noise"
    family = "image.noise"
    stochastic = True
    table = ((0.0,), (0.08,), (0.12,), (0.18,), (0.26,), (0.38,))

    def prepare(self, params: Params, scale: float, height: int, width: int) -> Setup:
        """The noise table in 8-bit levels (x + round(255 sd z) is round(255 (x / 255 + sd z)))."""
        (sd,) = params
        return Setup(params, scale, np.rint(NORMAL_TABLE * (255.0 * sd)).astype(np.int16))

    def corrupt(self, image: Image, setup: Setup, rng: np.random.Generator) -> Image:
        """Add sd times fixed standard normal draws."""
        (sd,) = setup.params
        bits = random_bits16(rng, image.shape)
        if image.dtype == np.uint8:
            noisy: Image = np.clip(image + np.take(setup.extra, bits), 0, 255).astype(np.uint8)
            return noisy
        shifted: Image = image + np.float32(sd) * np.take(NORMAL_TABLE, bits)
        return shifted


@functools.lru_cache(maxsize=8)
def _poisson_tables(photons: float) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.uint8]]:
    """Shot noise for each 8-bit level (rows) at 4,096 uniform quantiles (columns).

    Entry (v, j) of the first table is Q / photons - v / 255, where Q is the Poisson quantile
    at probability (j + 0.5) / 4096 of a mean of photons * v / 255; the second table holds the
    noisy 8-bit levels. Above 1000 expected photons the Poisson quantile is taken from its
    normal approximation (skewness below 0.03).
    """
    probabilities = (np.arange(4096) + 0.5) / 4096
    values = np.arange(256) / 255.0
    noise = np.empty((256, 4096))
    for v, value in enumerate(values):
        mean = value * photons
        if mean > 1000.0:
            counts = np.rint(mean + np.sqrt(mean) * special.ndtri(probabilities))
        else:
            spread = 10.0 * math.sqrt(mean) + 10.0
            low = max(0, math.floor(mean - spread))
            k = np.arange(low, math.ceil(mean + spread) + 1)
            cdf = special.pdtr(k, mean)
            counts = low + np.minimum(np.searchsorted(cdf, probabilities), len(k) - 1)
        noise[v] = counts / photons - value
    levels = np.rint(np.clip(noise + values[:, None], 0.0, 1.0) * 255.0).astype(np.uint8)
    return noise.astype(np.float32).ravel(), levels.ravel()


@register
class ImageNetCShotNoise(ImageNetCorruption):
    """ImageNet-C shot noise, as from photon counting: Poisson(photons * x) / photons.

    The published photon counts per full-scale value are 60, 25, 12, 5, 3 at levels 1-5; the
    table holds their inverses (the noise variance per unit of signal) so that level 0 is the
    identity. Poisson quantiles are read at fixed uniform draws (12 bits), so a pixel's noise
    grows smoothly with the level.
    """

    name = "image.imagenet_c_shot_noise"
    family = "image.noise"
    stochastic = True
    table = ((0.0,), (1 / 60,), (1 / 25,), (1 / 12,), (1 / 5,), (1 / 3,))

    def prepare(self, params: Params, scale: float, height: int, width: int) -> Setup:
        """The noise table of the level's photon count."""
        (inverse_photons,) = params
        return Setup(params, scale, _poisson_tables(1.0 / inverse_photons))

    def corrupt(self, image: Image, setup: Setup, rng: np.random.Generator) -> Image:
        """Add the noise of each pixel's 8-bit level at its fixed uniform quantile."""
        noise, levels = setup.extra
        quantile = random_bits16(rng, image.shape) >> 4
        index = (_levels(image).astype(np.int32) << 12) | quantile
        if image.dtype == np.uint8:
            counted: Image = np.take(levels, index)
            return counted
        noisy: Image = image + np.take(noise, index)
        return noisy


@register
class ImageNetCImpulseNoise(ImageNetCorruption):
    """ImageNet-C impulse (salt-and-pepper) noise, as from bit errors: values set to 0 or full.

    The share of values replaced is 0.03, 0.06, 0.09, 0.17, 0.27 at levels 1-5, half salt and
    half pepper, each colour value independently (as scikit-image's `random_noise('s&p')`).
    """

    name = "image.imagenet_c_impulse_noise"
    family = "image.impulse"
    stochastic = True
    table = ((0.0,), (0.03,), (0.06,), (0.09,), (0.17,), (0.27,))

    def corrupt(self, image: Image, setup: Setup, rng: np.random.Generator) -> Image:
        """Replace the values whose fixed uniform falls below the amount."""
        (amount,) = setup.params
        draws = random_bits16(rng, image.shape)
        hit = (draws >> 1) < amount * 2 ** (_BITS - 1)  # 15 bits for the amount
        salt = (draws & 1).astype(image.dtype)  # the last bit for salt or pepper
        return np.where(hit, salt * (255 if image.dtype == np.uint8 else 1), image)


# ---------------------------------------------------------------------------------------------
# Blur.


def _disk_kernel(radius: float, alias_sigma: float) -> FloatImage:
    """The published defocus kernel: a normalised disk, anti-aliased by a small Gaussian.

    The disk lies on a grid of half-width max(8, radius) and is blurred with a 3 x 3 Gaussian
    kernel (5 x 5 above radius 8), as published; all-zero border rows are trimmed.
    """
    half = max(8, math.ceil(radius))
    coords = np.arange(-half, half + 1, dtype=np.float32)
    disk = (coords[:, None] ** 2 + coords[None, :] ** 2 <= radius**2).astype(np.float32)
    disk /= disk.sum()
    if alias_sigma > 0:
        taps = gaussian_taps(alias_sigma, 1 if radius <= 8 else 2)
        disk = correlate_separable(disk, taps, border="reflect101")
    extent = int(np.max(np.abs(np.nonzero(disk)[0] - half)))
    trimmed: FloatImage = np.ascontiguousarray(
        disk[half - extent : half + extent + 1, half - extent : half + extent + 1]
    )
    return trimmed


@register
class ImageNetCDefocusBlur(PublishedCorruption):
    """ImageNet-C defocus blur, as from a lens focused at the wrong distance: a disk kernel.

    Disk radius (px at 224) and anti-aliasing sigma are (3, 0.1), (4, 0.5), (6, 0.5), (8, 0.5),
    (10, 0.5) at levels 1-5; borders are reflected (OpenCV's default, as published). Between
    levels the binary disk grows ring by ring.
    """

    name = "image.imagenet_c_defocus_blur"
    family = "image.blur"
    version = 2
    table = ((0.0, 0.0), (3, 0.1), (4, 0.5), (6, 0.5), (8, 0.5), (10, 0.5))

    def prepare(self, params: Params, scale: float, height: int, width: int) -> Setup:
        """The disk kernel at this image size."""
        radius, alias_sigma = params
        return Setup(params, scale, _disk_kernel(radius * scale, alias_sigma * scale))

    def corrupt(self, image: Image, setup: Setup, rng: np.random.Generator) -> Image:
        """Convolve with the disk."""
        float_image = _image_float(image)
        return _shaped(convolve(float_image, setup.extra), float_image)

    def published(self, image: npt.NDArray[np.uint8], level: int) -> npt.NDArray[Any]:
        """OpenCV's `filter2D` of each channel (float64) with the published disk."""
        radius, alias_sigma = self.table[level]
        half = max(8, int(radius))  # the published grid: -8..8, or -radius..radius above 8
        coords = np.arange(-half, half + 1)
        disk = np.array(coords[:, None] ** 2 + coords[None, :] ** 2 <= radius**2, np.float32)
        disk /= np.sum(disk)
        size = 3 if radius <= 8 else 5
        kernel = cv2.GaussianBlur(disk, ksize=(size, size), sigmaX=alias_sigma)
        x = image / 255.0
        channels = [cv2.filter2D(x[:, :, d], -1, kernel) for d in range(3)]
        return np.clip(np.array(channels).transpose((1, 2, 0)), 0, 1) * 255


def _gaussian_blur(image: FloatImage, sigma: float, border: str) -> FloatImage:
    """Gaussian blur truncated at 4 sigma, as scikit-image's `gaussian` (scipy's kernel)."""
    if sigma <= 0:
        return image
    taps = gaussian_taps(sigma, int(4.0 * sigma + 0.5))
    return _shaped(convolve(image, np.outer(taps, taps), border), image)


_GLASS_ITERATIONS = 3  # the most iterations any level uses: draws are made for all of them


@register
class ImageNetCGlassBlur(ImageNetCorruption):
    """ImageNet-C glass blur, as seen through frosted glass: blur, local pixel shuffles, blur.

    Sigma (px), maximum shift d (px) and iterations are (0.7, 1, 2), (0.9, 2, 1), (1, 2, 3),
    (1.1, 3, 2), (1.5, 4, 2) at levels 1-5; d and the iterations step between levels. Each
    iteration moves every pixel at least d from the border to the pixel at an offset drawn
    uniformly from [-d, d) in each axis, all at once (the published loop swaps pixels one by
    one, which takes seconds per image). The first blur is truncated to 8 bits, as published.
    Borders are replicated (scikit-image's default).
    """

    name = "image.imagenet_c_glass_blur"
    family = "image.blur"
    version = 2
    stochastic = True
    table = ((0.0, 0.0, 0.0), (0.7, 1, 2), (0.9, 2, 1), (1, 2, 3), (1.1, 3, 2), (1.5, 4, 2))

    def prepare(self, params: Params, scale: float, height: int, width: int) -> Setup:
        """Pixel grids for the shuffles."""
        grid = np.mgrid[0:height, 0:width].astype(np.int32)
        return Setup(params, scale, grid)

    def corrupt(self, image: Image, setup: Setup, rng: np.random.Generator) -> Image:
        """Blur, shuffle locally `iterations` times, blur again."""
        sigma, delta, iterations = setup.params
        draws = random_bits16(rng, (_GLASS_ITERATIONS, 2, *image.shape[:2])).astype(np.int32)
        shift = _whole(delta)
        shift = max(1, round(shift * setup.scale)) if shift else 0
        sigma_px = sigma * setup.scale
        blurred = _gaussian_blur(_image_float(image), sigma_px, "replicate")
        shuffled = np.floor(blurred * np.float32(255.0)) / np.float32(255.0)
        height, width = image.shape[:2]
        if shift and height > 2 * shift and width > 2 * shift:
            rows, cols = setup.extra
            inner = (slice(shift + 1, height - shift + 1), slice(shift + 1, width - shift + 1))
            for step in range(_whole(iterations)):
                offsets = ((draws[step] * (2 * shift)) >> _BITS) - shift
                src_rows, src_cols = rows.copy(), cols.copy()
                src_rows[inner] += offsets[0][inner]
                src_cols[inner] += offsets[1][inner]
                shuffled = shuffled[src_rows, src_cols]
        return _gaussian_blur(shuffled, sigma_px, "replicate")


def _line_blur(image: FloatImage, radius: float, sigma: float, angle_deg: float) -> FloatImage:
    """Motion blur along a line, as imagecorruptions' reproduction of ImageMagick's.

    Taps i = 0 .. 2 * radius step one pixel along the angle (offsets rounded half down, as
    ImageMagick) with weights exp(-i^2 / (2 sigma^2)), normalised; edges are replicated.
    """
    taps = np.arange(math.floor(2 * radius) + 1)
    if sigma <= 0 or len(taps) == 1:
        return image
    weights = arithmetic.exp(-(taps**2) / (2.0 * sigma**2))
    weights /= weights.sum()
    angle = np.array([math.radians(angle_deg)])
    dy = np.ceil(taps * arithmetic.sin(angle)[0] - 0.5).astype(int)
    dx = np.ceil(taps * arithmetic.cos(angle)[0] - 0.5).astype(int)
    pad = int(max(np.abs(dy).max(), np.abs(dx).max()))
    planes = image.reshape(image.shape[0], image.shape[1], -1)
    padded = np.pad(planes, ((pad, pad), (pad, pad), (0, 0)), mode="edge")
    height, width = image.shape[:2]
    out = np.zeros((height, width, padded.shape[2]), dtype=np.float32)
    for weight, oy, ox in zip(weights, dy, dx, strict=True):
        view = padded[pad + oy : pad + oy + height, pad + ox : pad + ox + width]
        out += view * np.float32(weight)
    return out.reshape(image.shape)


@register
class ImageNetCMotionBlur(ImageNetCorruption):
    """ImageNet-C motion blur, as from a camera moving during the exposure: a one-sided line.

    ImageMagick's motion-blur radius and sigma (px at 224) are (10, 3), (15, 5), (15, 8),
    (15, 12), (20, 15) at levels 1-5; the angle is drawn per image, uniform in [-45, 45] deg.
    """

    name = "image.imagenet_c_motion_blur"
    family = "image.blur"
    version = 2
    stochastic = True
    table = ((0.0, 0.0), (10, 3), (15, 5), (15, 8), (15, 12), (20, 15))

    def corrupt(self, image: Image, setup: Setup, rng: np.random.Generator) -> Image:
        """Blur along the image's drawn angle."""
        radius, sigma = setup.params
        angle = rng.uniform(-45.0, 45.0)
        return _line_blur(_image_float(image), radius * setup.scale, sigma * setup.scale, angle)


def _zoom_axis(side: int, zoom: float) -> tuple[float, float]:
    """Source position = step * output position + offset, along one axis of `_clipped_zoom`."""
    crop = math.ceil(side / zoom)
    zoomed = round(crop * zoom)
    step = (crop - 1) / (zoomed - 1) if zoomed > 1 else 0.0
    return step, (side - crop) // 2 + (zoomed - side) // 2 * step


def _clipped_zoom(image: FloatImage, zoom: float) -> FloatImage:
    """Zoom into the centre by `zoom` >= 1, keeping the size, as the published `clipped_zoom`.

    The centre crop of ceil(side / zoom) px is resized by `zoom` with scipy's corner-aligned
    linear interpolation (output size rounded) and the centre of the result is kept.
    """
    height, width = image.shape[:2]
    step_x, offset_x = _zoom_axis(width, zoom)
    step_y, offset_y = _zoom_axis(height, zoom)
    matrix = np.array([[step_x, 0.0, offset_x], [0.0, step_y, offset_y]])
    maps = fixed_point_maps(*source_positions(matrix, height, width))
    return _shaped(remap(image, maps, "replicate"), image)


@register
class ImageNetCZoomBlur(PublishedCorruption):
    """ImageNet-C zoom blur, as from zooming during the exposure: the mean of centre zooms.

    The zoom factors run from 1 towards 1.11, 1.16, 1.21, 1.26, 1.31 (exclusive) in steps of
    0.01, 0.01, 0.02, 0.02, 0.03 at levels 1-5; the image is averaged with its zooms (the image
    itself counted twice, as published). Zoom factors are relative, so no resolution scaling.
    """

    name = "image.imagenet_c_zoom_blur"
    family = "image.blur"
    version = 2
    table = ((1.0, 0.01), (1.11, 0.01), (1.16, 0.01), (1.21, 0.02), (1.26, 0.02), (1.31, 0.03))

    def corrupt(self, image: Image, setup: Setup, rng: np.random.Generator) -> Image:
        """Average the image with its centre zooms."""
        end, step = setup.params
        float_image = _image_float(image)
        zooms = np.arange(1.0, end, step)
        total = float_image.copy()
        for zoom in zooms:
            total += _clipped_zoom(float_image, float(zoom))
        return total / np.float32(len(zooms) + 1)

    def published(self, image: npt.NDArray[np.uint8], level: int) -> npt.NDArray[Any]:
        """SciPy's linear `zoom` of centre crops, each cut to the image from its top left."""
        end, step = self.table[level]
        x = (image / 255.0).astype(np.float32)
        height, width = x.shape[:2]
        out = np.zeros_like(x)
        zooms = np.arange(1, end, step)
        for zoom in zooms:
            crop_height, crop_width = math.ceil(height / zoom), math.ceil(width / zoom)
            top, left = (height - crop_height) // 2, (width - crop_width) // 2
            crop = x[top : top + crop_height, left : left + crop_width]
            layer = ndimage.zoom(crop, (zoom, zoom, 1), order=1)[:height, :width, :]
            out[: layer.shape[0], : layer.shape[1]] += layer
        return np.clip((x + out) / (len(zooms) + 1), 0, 1) * 255


# ---------------------------------------------------------------------------------------------
# Weather.


@register
class ImageNetCSnow(ImageNetCorruption):
    """ImageNet-C snow, as when photographing in a snowfall: streaked flakes over a paler scene.

    Per level: a normal noise field (mean, sd) is zoomed into (flake size, px at 224), values
    below a threshold are dropped, the flakes are motion-blurred (radius, sigma in px, angle
    per image in [-135, -45] deg) and added with their 180-degree rotation to the image, first
    lightened towards max(x, 1.5 grey + 0.5) with weight 1 - blend. Published rows: mean
    0.1, 0.2, 0.55, 0.55, 0.55; sd 0.3; zoom 3, 2, 4, 4.5, 2.5; threshold 0.5, 0.5, 0.9, 0.85,
    0.85; radius 10, 12, 12, 12, 12; sigma 4, 4, 8, 8, 12; blend 0.8, 0.7, 0.7, 0.65, 0.55. The
    last column, flake opacity (1 at every published level), fades the flakes in from level 0.
    The noise field is drawn at the image size and the level's zoom uses its central crop.
    Flakes are at least one pixel: below 224 / zoom px the zoom stops at 1.
    """

    name = "image.imagenet_c_snow"
    family = "image.obstruction"
    version = 2
    stochastic = True
    table = (
        (0.1, 0.3, 3, 0.5, 10, 4, 1.0, 0.0),
        (0.1, 0.3, 3, 0.5, 10, 4, 0.8, 1.0),
        (0.2, 0.3, 2, 0.5, 12, 4, 0.7, 1.0),
        (0.55, 0.3, 4, 0.9, 12, 8, 0.7, 1.0),
        (0.55, 0.3, 4.5, 0.85, 12, 8, 0.65, 1.0),
        (0.55, 0.3, 2.5, 0.85, 12, 12, 0.55, 1.0),
    )

    def corrupt(self, image: Image, setup: Setup, rng: np.random.Generator) -> Image:
        """Lighten the scene, then add the blurred flake layer and its rotation."""
        mean, sd, zoom, threshold, radius, sigma, blend, opacity = setup.params
        angle = rng.uniform(-135.0, -45.0)
        field = np.float32(mean) + np.float32(sd) * quantile_normal(rng, image.shape[:2])
        flakes = _clipped_zoom(field, max(1.0, zoom * setup.scale))
        flakes[flakes < threshold] = 0.0
        flakes = _line_blur(
            np.clip(flakes, 0.0, 1.0), radius * setup.scale, sigma * setup.scale, angle
        )
        float_image = _image_float(image)
        grey = _grey(float_image)
        lighter = np.maximum(float_image, grey * np.float32(1.5) + np.float32(0.5))
        scene = _weighted_sum(float_image, blend, lighter, 1.0 - blend)
        layer = np.float32(opacity) * (flakes + flakes[::-1, ::-1])
        return scene + layer[:, :, None]


def _grey(image: FloatImage) -> FloatImage:
    """Luma (0.299 R + 0.587 G + 0.114 B, OpenCV's) of one image, shape (h, w, 1)."""
    if image.shape[2] == 1:
        return image
    red, green, blue = (image[:, :, k] for k in range(3))
    luma: FloatImage = (
        red * np.float32(0.299) + green * np.float32(0.587) + blue * np.float32(0.114)
    )
    return luma[:, :, None]


def _weighted_sum(a: FloatImage, weight_a: float, b: FloatImage, weight_b: float) -> FloatImage:
    """A * weight_a + b * weight_b in float32, one operation at a time (no fused multiply-add)."""
    total: FloatImage = a * np.float32(weight_a) + b * np.float32(weight_b)
    return total


# Per-channel mean and sd of the frost photos the published code draws from (frost1-5: its
# `randint(5)` never picks frost6), measured on the imagecorruptions copies.
_FROST_MEAN = np.array([0.572, 0.656, 0.702], dtype=np.float32)
_FROST_SD = np.array([0.112, 0.103, 0.103], dtype=np.float32)
_FROST_CELLS = (4, 8, 16, 32, 64)  # noise octaves: cells per shorter side
# The texture is clipped in sd units so that every channel stays in [0, 1].
_FROST_RANGE_SD = (
    float(np.max(-_FROST_MEAN / _FROST_SD)),
    float(np.min((1 - _FROST_MEAN) / _FROST_SD)),
)


def _smooth_noise(rng: np.random.Generator, cells: int, height: int, width: int) -> FloatImage:
    """Uniform noise on a grid of `cells` per shorter side, cubic-interpolated to the image."""
    side = min(height, width)
    shape = (max(2, round(cells * height / side)), max(2, round(cells * width / side)))
    grid = rng.random(shape, dtype=np.float32)
    smooth: FloatImage = resize(grid, height, width, "bicubic")
    return smooth


def _frost_texture(rng: np.random.Generator, height: int, width: int) -> FloatImage:
    """A procedural ice texture (h, w) with mean 0 and sd 1: cloudy noise and crystal ridges.

    Five octaves of smooth noise (4 to 64 cells per side, amplitude 1 / sqrt(cells)) make the
    clouds; ridges are thin bright lines along the zero crossings of the three finest octaves
    (ridged multifractal noise, (1 - |2 n - 1|)^8).
    """
    texture = np.zeros((height, width), dtype=np.float32)
    for octave, cells in enumerate(_FROST_CELLS):
        noise = _smooth_noise(rng, cells, height, width)
        texture += (noise - np.float32(0.5)) * np.float32(cells**-0.5)
        if octave >= 2:
            ridge = np.float32(1.0) - np.abs(np.float32(2.0) * noise - np.float32(1.0))
            ridge *= ridge
            ridge *= ridge
            texture += np.float32(0.5) * ridge * ridge
    mean = float(texture.mean(dtype=np.float64))
    sd = float(np.sqrt(np.mean(np.square(texture - mean, dtype=np.float64))))
    texture -= np.float32(mean)
    texture *= np.float32(1.0 / max(sd, 1e-6))
    return texture


@register
class ImageNetCFrost(ImageNetCorruption):
    """ImageNet-C frost, as when shooting through an iced-up window: ice crystals over the scene.

    The image is weighted by 1, 0.8, 0.7, 0.65, 0.6 and the frost texture by 0.4, 0.6, 0.7,
    0.7, 0.75 at levels 1-5, and the sum clipped. The published texture is a random crop of one
    of five frost photos, which are not ours to ship; here each image gets a seeded procedural
    ice texture with the photos' per-channel mean and sd (clipped in sd units so that every
    channel stays in [0, 1]), so the average lightening is the published one but the crystal
    shapes differ. Grey images get the texture's luma. The published table is not monotone in
    effect: from level 3 to 4 only the image weight drops, which darkens the result, so where
    frost brightens an image the change from the original shrinks.
    """

    name = "image.imagenet_c_frost"
    family = "image.obstruction"
    version = 2
    stochastic = True
    table = ((1.0, 0.0), (1, 0.4), (0.8, 0.6), (0.7, 0.7), (0.65, 0.7), (0.6, 0.75))

    def corrupt(self, image: Image, setup: Setup, rng: np.random.Generator) -> Image:
        """Blend the image with its frost texture."""
        image_weight, frost_weight = setup.params
        height, width, channels = image.shape
        texture = np.clip(_frost_texture(rng, height, width), *_FROST_RANGE_SD)
        frost = texture[:, :, None] * _FROST_SD + _FROST_MEAN
        if channels == 1:
            frost = _grey(frost)
        return _weighted_sum(_image_float(image), image_weight, frost, frost_weight)


def _plasma(rng: np.random.Generator, size: int, decay: float) -> FloatImage:
    """A diamond-square plasma fractal (size x size, size a power of 2) scaled to [0, 1].

    Each new point is the mean of its 4 neighbours (wrapping around) plus wibble^2 times a
    uniform draw in [-1, 1], with wibble starting at 100 and divided by `decay` at each halving
    of the step, as the published `plasma_fractal`. The size^2 - 1 draws do not depend on
    `decay`.
    """
    draws = 2.0 * rng.random(size * size, dtype=np.float32) - 1.0
    used = 0

    def wibbled(total: FloatImage, wibble: float) -> FloatImage:
        nonlocal used
        noise = draws[used : used + total.size].reshape(total.shape)
        used += total.size
        return total / np.float32(4.0) + np.float32(wibble * wibble) * noise

    fractal = np.zeros((size, size), dtype=np.float32)
    step, wibble = size, 100.0
    while step >= 2:
        half = step // 2
        corners = fractal[0:size:step, 0:size:step]
        square = corners + np.roll(corners, -1, axis=0)
        square = square + np.roll(square, -1, axis=1)
        fractal[half:size:step, half:size:step] = wibbled(square, wibble)
        centres = fractal[half:size:step, half:size:step]
        corners = fractal[0:size:step, 0:size:step]
        left = centres + np.roll(centres, 1, axis=0) + corners + np.roll(corners, -1, axis=1)
        fractal[0:size:step, half:size:step] = wibbled(left, wibble)
        top = centres + np.roll(centres, 1, axis=1) + corners + np.roll(corners, -1, axis=0)
        fractal[half:size:step, 0:size:step] = wibbled(top, wibble)
        step //= 2
        wibble /= decay
    fractal -= fractal.min()
    return fractal / max(float(fractal.max()), 1e-12)


@register
class ImageNetCFog(ImageNetCorruption):
    """ImageNet-C fog, as on a misty day: a plasma-fractal haze added and the contrast reduced.

    The haze amount and the fractal's roughness decay are (1.5, 2), (2, 2), (2.5, 1.7),
    (2.5, 1.5), (3, 1.4) at levels 1-5: x + amount * fractal, scaled by max / (max + amount)
    with max the image's largest value. The fractal map is the next power of 2 above the image
    side (256 at 224, as published), so its structure is relative to the image.
    """

    name = "image.imagenet_c_fog"
    family = "image.contrast"
    version = 2
    stochastic = True
    table = ((0.0, 2.0), (1.5, 2), (2, 2), (2.5, 1.7), (2.5, 1.5), (3, 1.4))

    def corrupt(self, image: Image, setup: Setup, rng: np.random.Generator) -> Image:
        """Add the haze and rescale."""
        amount, decay = setup.params
        height, width = image.shape[:2]
        size = 1 << (max(height, width) - 1).bit_length()
        haze = _plasma(rng, size, decay)[:height, :width]
        float_image = _image_float(image)
        peak = float(float_image.max())
        gain = peak / (peak + amount)
        return _weighted_sum(float_image, gain, haze[:, :, None], amount * gain)


def _rgb_to_hsv(rgb: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """RGB in [0, 1] to HSV with scikit-image's arithmetic (`skimage.color.rgb2hsv`).

    The hue of a pixel whose largest channel is shared comes from the last of red, green,
    blue holding it; grey pixels get hue and saturation 0.
    """
    value = rgb.max(-1)
    spread = np.ptp(rgb, axis=-1)
    hsv = np.empty_like(rgb)
    with np.errstate(invalid="ignore", divide="ignore"):
        saturation = spread / value
        saturation[spread == 0.0] = 0.0
        for k, offset in enumerate((0.0, 2.0, 4.0)):
            top = rgb[..., k] == value
            following = (rgb[top, (k + 1) % 3] - rgb[top, (k + 2) % 3]) / spread[top]
            hsv[top, 0] = following if k == 0 else offset + following
    hue = (hsv[..., 0] / 6.0) % 1.0
    hue[spread == 0.0] = 0.0
    hsv[..., 0], hsv[..., 1], hsv[..., 2] = hue, saturation, value
    hsv[np.isnan(hsv)] = 0
    return hsv


def _hsv_to_rgb(hsv: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """HSV to RGB with scikit-image's arithmetic (`skimage.color.hsv2rgb`)."""
    hue, saturation, value = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    sector = np.floor(hue * 6)
    fraction = hue * 6 - sector
    p = value * (1 - saturation)
    q = value * (1 - fraction * saturation)
    t = value * (1 - (1 - fraction) * saturation)
    sectors = np.stack([sector] * 3, axis=-1).astype(np.uint8) % 6
    by_sector = [
        np.stack(channels, axis=-1)
        for channels in (
            (value, t, p),
            (q, value, p),
            (p, value, t),
            (p, q, value),
            (t, p, value),
            (value, p, q),
        )
    ]
    rgb: npt.NDArray[np.float64] = np.choose(sectors, np.stack(by_sector))
    return rgb


@register
class ImageNetCBrightness(PublishedCorruption):
    """ImageNet-C brightness, as in bright sunlight: the HSV value raised, hue and saturation kept.

    The value max(R, G, B) is raised by 0.1, 0.2, 0.3, 0.4, 0.5 at levels 1-5 (clipped at 1),
    which scales a pixel's channels by the ratio of new to old value (black becomes grey).
    """

    name = "image.imagenet_c_brightness"
    family = "image.exposure"
    table = ((0.0,), (0.1,), (0.2,), (0.3,), (0.4,), (0.5,))

    def prepare(self, params: Params, scale: float, height: int, width: int) -> Setup:
        """The 8-bit result for every (value, channel level) pair."""
        (shift,) = params
        value = np.arange(256.0)[:, None] / 255.0
        raised = np.minimum(value + shift, 1.0)
        levels = np.arange(256.0)[None, :] * raised / np.maximum(value, 1e-12)
        levels[0, :] = 255.0 * raised[0, 0]  # black: value 0 becomes grey at the raised value
        table = np.rint(np.clip(levels, 0.0, 255.0)).astype(np.uint8)
        return Setup(params, scale, table.ravel())

    def corrupt(self, image: Image, setup: Setup, rng: np.random.Generator) -> Image:
        """Scale each pixel to its raised HSV value (a lookup table for 8-bit images)."""
        (shift,) = setup.params
        value = functools.reduce(np.maximum, np.moveaxis(image, 2, 0))[:, :, None]
        if image.dtype == np.uint8:
            brighter: Image = np.take(setup.extra, (value.astype(np.uint16) << 8) | image)
            return brighter
        raised = np.minimum(value + np.float32(shift), np.float32(1.0))
        scaled = image * (raised / np.maximum(value, np.float32(1e-12)))
        lifted: Image = scaled + raised * (value == 0)
        return lifted

    def published(self, image: npt.NDArray[np.uint8], level: int) -> npt.NDArray[Any]:
        """scikit-image's HSV round trip with the value raised, in float64."""
        (shift,) = self.table[level]
        hsv = _rgb_to_hsv(image / 255.0)
        hsv[:, :, 2] = np.clip(hsv[:, :, 2] + shift, 0, 1)
        return np.clip(_hsv_to_rgb(hsv), 0, 1) * 255


@register
class ImageNetCContrast(PublishedCorruption):
    """ImageNet-C contrast, as in haze or a flat print: deviations from the mean scaled down.

    Each channel's deviations from its image mean are multiplied by 0.4, 0.3, 0.2, 0.1, 0.05 at
    levels 1-5.
    """

    name = "image.imagenet_c_contrast"
    family = "image.contrast"
    table = ((1.0,), (0.4,), (0.3,), (0.2,), (0.1,), (0.05,))

    def corrupt(self, image: Image, setup: Setup, rng: np.random.Generator) -> Image:
        """Pull every value towards its channel mean (a lookup table for 8-bit images)."""
        (factor,) = setup.params
        means = image.reshape(-1, image.shape[2]).mean(axis=0, dtype=np.float64)
        if image.dtype == np.uint8:
            levels = np.arange(256.0)[:, None]
            table = np.rint(np.clip((levels - means) * factor + means, 0, 255)).astype(np.uint8)
            lut = table.reshape(1, 256, -1)
            return _shaped(cv2.LUT(image, lut[:, :, 0] if image.shape[2] == 1 else lut), image)
        mean = means.astype(np.float32)
        stretched: Image = (_image_float(image) - mean) * np.float32(factor) + mean
        return stretched

    def published(self, image: npt.NDArray[np.uint8], level: int) -> npt.NDArray[Any]:
        """Deviations from the channel means scaled, in float64."""
        (factor,) = self.table[level]
        x = image / 255.0
        means = np.mean(x, axis=(0, 1), keepdims=True)
        stretched: npt.NDArray[np.float64] = np.clip((x - means) * factor + means, 0, 1) * 255
        return stretched


# ---------------------------------------------------------------------------------------------
# Digital.


def _reflect_gaussian_matrix(side: int, sigma: float) -> FloatImage:
    """The (side x side) matrix of a Gaussian blur truncated at 3 sigma with reflected borders.

    Used where the kernel is wider than the image (elastic level 1: sigma 171 px at 224).
    """
    radius = int(3.0 * sigma + 0.5)
    offsets = np.arange(-radius, radius + 1)
    weights = arithmetic.exp(-(offsets**2) / (2.0 * sigma**2))
    weights /= weights.sum()
    period = np.mod(np.arange(side)[:, None] + offsets[None, :], 2 * side)
    source = np.where(period < side, period, 2 * side - 1 - period)
    matrix = np.zeros((side, side))
    np.add.at(
        matrix, (np.repeat(np.arange(side), len(offsets)), source.ravel()), np.tile(weights, side)
    )
    return matrix.astype(np.float32)


def _blur_field(
    field: FloatImage, sigma: float, matrices: tuple[FloatImage, FloatImage] | None
) -> FloatImage:
    """Gaussian blur truncated at 3 sigma, reflected borders (scipy's `gaussian_filter`)."""
    if matrices is not None:
        rows, cols = matrices
        return _product(_product(rows, field), cols.T)
    taps = gaussian_taps(sigma, int(3.0 * sigma + 0.5))
    return convolve(field, np.outer(taps, taps), "reflect")


def _product(a: FloatImage, b: FloatImage) -> FloatImage:
    """The matrix product a @ b (float32) summed term by term in float64, without BLAS.

    BLAS kernels differ by CPU in their order of summation and use of fused multiply-adds;
    an explicit sum of rank-one terms in a fixed order gives the same bits everywhere.
    """
    total = np.zeros((a.shape[0], b.shape[1]))
    for k in range(a.shape[1]):
        total += a[:, k : k + 1].astype(np.float64) * b[k : k + 1, :]
    return total.astype(np.float32)


@register
class ImageNetCElasticTransform(ImageNetCorruption):
    """ImageNet-C elastic transform, as from a warped print or lens: affine and elastic warps.

    Per level (px at 224, the published 244-based values): displacement scale alpha
    488, 488, 12.2, 17.08, 29.28; field smoothness sigma 170.8, 19.52, 2.44, 2.44, 2.44; affine
    corner jitter 24.4, 48.8, 4.88, 4.88, 4.88. Three points around the centre move by uniform
    jitter (an affine warp, borders reflected), then every pixel moves by alpha times a uniform
    [-1, 1] field blurred with sigma (bilinear, borders reflected). The published table is not
    monotone: levels 1-2 warp globally, 3-5 locally.
    """

    name = "image.imagenet_c_elastic_transform"
    family = "image.geometry"
    version = 2
    stochastic = True
    moves_pixels = True
    table = (
        (0.0, 244 * 0.7, 0.0),
        (244 * 2, 244 * 0.7, 244 * 0.1),
        (244 * 2, 244 * 0.08, 244 * 0.2),
        (244 * 0.05, 244 * 0.01, 244 * 0.02),
        (244 * 0.07, 244 * 0.01, 244 * 0.02),
        (244 * 0.12, 244 * 0.01, 244 * 0.02),
    )

    def prepare(self, params: Params, scale: float, height: int, width: int) -> Setup:
        """Blur matrices when the field's kernel is wider than a quarter of the image."""
        _, sigma, _ = params
        sigma_px = sigma * scale
        wide = 3.0 * sigma_px > min(height, width) / 4
        matrices = (
            (_reflect_gaussian_matrix(height, sigma_px), _reflect_gaussian_matrix(width, sigma_px))
            if wide
            else None
        )
        grid = np.mgrid[0:height, 0:width].astype(np.float32)
        return Setup(params, scale, (matrices, grid))

    def corrupt(self, image: Image, setup: Setup, rng: np.random.Generator) -> Image:
        """Warp affinely, then elastically."""
        return self.warp(image, setup, rng)[0]

    def apply_moving(
        self, x: Batch, value: float, rngs: Rngs, context: DataContext
    ) -> tuple[Batch, list[SourceMap | None]]:
        """`apply`'s images and each one's source map: the two warps in one (`warp`)."""
        if x.size == 0:
            return x.copy(), [None] * len(x)
        _warn_far_from_reference_size(min(x.shape[1:3]))
        sources: list[SourceMap | None] = []

        def warp_keeping_source(image: Image, setup: Setup, rng: np.random.Generator) -> Image:
            warped, source = self.warp(image, setup, rng)
            sources.append(source)
            return warped

        return self.corrupt_each(x, value, rngs, warp_keeping_source), sources

    def warp(self, image: Image, setup: Setup, rng: np.random.Generator) -> tuple[Image, SourceMap]:
        """The image warped affinely, then elastically, and where each output pixel comes from.

        The source map chains the two: output pixel p reads the affine warp's output at
        p + (dx, dy), which reads the image at the affine inverse of that point. (Pixels that
        read the affine warp's reflected border map to the inverse of a point outside it.)
        """
        alpha, sigma, jitter = setup.params
        matrices, (rows, cols) = setup.extra
        height, width = image.shape[:2]
        corner_draws = rng.uniform(-1.0, 1.0, size=(3, 2)).astype(np.float32)
        fields = 2.0 * rng.random((2, height, width), dtype=np.float32) - 1.0
        float_image = _image_float(image)
        square = min(height, width) // 3
        warped = float_image
        gain = np.float32(alpha * setup.scale**2)
        sigma_px = sigma * setup.scale
        dx = _blur_field(fields[0], sigma_px, matrices) * gain
        dy = _blur_field(fields[1], sigma_px, matrices) * gain
        read_x, read_y = cols + dx, rows + dy
        source: SourceMap = (read_x.astype(np.float64), read_y.astype(np.float64))
        if square > 0:  # three distinct points exist
            centre = np.array([width // 2, height // 2], dtype=np.float32)
            points = np.array(
                [centre + square, [centre[0] + square, centre[1] - square], centre - square],
                dtype=np.float32,
            )
            moved = points + corner_draws * np.float32(jitter * setup.scale)
            affine = _affine_through(points, moved)
            warped = _shaped(
                remap(float_image, warp_maps(affine, height, width), "reflect101"),
                float_image,
            )
            source = map_points(invert(affine), *source)
        maps = fixed_point_maps(read_x, read_y)
        return _shaped(remap(warped, maps, "reflect"), float_image), source


def _affine_through(points: FloatImage, moved: FloatImage) -> npt.NDArray[np.float64]:
    """The 2x3 affine matrix taking three points (3, 2) to `moved`, as `getAffineTransform`."""
    source = np.vstack([points.T.astype(np.float64), np.ones(3)])
    return matmul(moved.T.astype(np.float64), invert(source))


@register
class ImageNetCPixelate(PublishedCorruption):
    """ImageNet-C pixelate, as from a low-resolution camera or an upscaled thumbnail.

    The image is shrunk to 0.6, 0.5, 0.4, 0.3, 0.25 of its size at levels 1-5 with Pillow's box
    filter and enlarged back with it (nearest pixel), as published. The factor is relative, so
    no resolution scaling.
    """

    name = "image.imagenet_c_pixelate"
    family = "image.resolution"
    table = ((1.0,), (0.6,), (0.5,), (0.4,), (0.3,), (0.25,))

    def corrupt(self, image: Image, setup: Setup, rng: np.random.Generator) -> Image:
        """Shrink and enlarge each channel with Pillow's box filter."""
        (factor,) = setup.params
        height, width, channels = image.shape
        small = (max(1, int(width * factor)), max(1, int(height * factor)))
        if image.dtype == np.uint8:
            mode = "L" if channels == 1 else "RGB"
            pil = PILImage.fromarray(image[:, :, 0] if channels == 1 else image, mode)
            blocky = pil.resize(small, PILImage.Resampling.BOX).resize(
                (width, height),
                PILImage.Resampling.NEAREST,  # Pillow: BOX enlarges as NEAREST
            )
            return np.asarray(blocky).reshape(image.shape)
        out = np.empty_like(image)
        for k in range(channels):
            plane = PILImage.fromarray(np.ascontiguousarray(image[:, :, k]), "F")
            blocky = plane.resize(small, PILImage.Resampling.BOX).resize(
                (width, height), PILImage.Resampling.BOX
            )
            out[:, :, k] = np.asarray(blocky)
        return out

    def published(self, image: npt.NDArray[np.uint8], level: int) -> npt.NDArray[Any]:
        """Pillow's box filter down to the published share, nearest pixel back up."""
        (factor,) = self.table[level]
        height, width = image.shape[:2]
        small = PILImage.fromarray(image).resize(
            (int(width * factor), int(height * factor)), PILImage.Resampling.BOX
        )
        return np.asarray(small.resize((width, height), PILImage.Resampling.NEAREST))


@register
class ImageNetCJpegCompression(PublishedCorruption):
    """ImageNet-C JPEG compression, as from heavy web or messaging compression.

    libjpeg quality 25, 18, 15, 10, 7 at levels 1-5 (OpenCV's encoder, 4:2:0); from level 0 to
    1 the quality moves from 100 to 25, rounded to a whole number.
    """

    name = "image.imagenet_c_jpeg_compression"
    family = "image.compression"
    table = ((100.0,), (25,), (18,), (15,), (10,), (7,))

    def corrupt_batch(self, x: Batch, value: float, rngs: Rngs, context: DataContext) -> Batch:
        """Re-encode every image at the level's quality (Pillow's encoder with `reference`)."""
        if self.reference:
            return self.published_batch(x, value)
        (quality,) = interpolate(self.table, value)
        return Jpeg().apply(x, float(_whole(quality)), rngs, context)

    def published(self, image: npt.NDArray[np.uint8], level: int) -> npt.NDArray[Any]:
        """Pillow's JPEG encoder at the published quality."""
        (quality,) = self.table[level]
        encoded = io.BytesIO()
        PILImage.fromarray(image).save(encoded, "JPEG", quality=int(quality))
        return np.asarray(PILImage.open(encoded))
