"""Image pipeline: JPEG and WebP re-encoding, rescaling, pixelation, bit depth, gamma mismatch."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from wince.errors import DataError
from wince.perturbations.base import (
    Batch,
    DataContext,
    Magnitude,
    Phrase,
    Rngs,
    check_choice,
    register,
)
from wince.perturbations.image.base import (
    ImagePerturbation,
    colour_channels,
    from_float,
    linear_to_srgb,
    size_px,
    srgb_to_linear,
    to_float,
    tone_map,
)
from wince.perturbations.image.resize import FILTERS, resize
from wince.perturbations.words import count, share


def reencode(x: Batch, owner: str, extension: str, params: list[int]) -> Batch:
    """Encode and decode every image with OpenCV's codec for `extension` (".jpg", ".webp").

    Colour images are encoded as RGB (OpenCV's BGR order), grey images as one channel; the
    alpha channel of RGBA images is kept unchanged. float32 images are quantised to uint8 first
    and returned as float32.

    Raises:
        DataError: the encoder or decoder failed on a sample.
    """
    images = x if x.dtype == np.uint8 else from_float(x, np.dtype(np.uint8))
    out = np.empty_like(images)
    channels = images.shape[3]
    codec = extension.lstrip(".").upper()
    for i, image in enumerate(images):
        pixels = (
            image[:, :, 0]
            if channels == 1
            else cv2.cvtColor(np.ascontiguousarray(image[:, :, :3]), cv2.COLOR_RGB2BGR)
        )
        ok, code = cv2.imencode(extension, pixels, params)
        if not ok:
            raise DataError(f"{owner}: the {codec} encoder failed on sample {i}.")
        decoded = cv2.imdecode(code, cv2.IMREAD_GRAYSCALE if channels == 1 else cv2.IMREAD_COLOR)
        if decoded is None:
            raise DataError(f"{owner}: the {codec} decoder failed on sample {i}.")
        if channels == 1:
            out[i, :, :, 0] = decoded
        else:
            out[i, :, :, :3] = cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB)
            if channels == 4:
                out[i, :, :, 3] = image[:, :, 3]
    if x.dtype == np.uint8:
        return out
    return to_float(out)


def resample(x: Batch, small_hw: tuple[int, int], down: str, up: str) -> npt.NDArray[np.generic]:
    """Resize the colour channels of every image to `small_hw` and back (`resize.FILTERS`).

    Alpha is kept; float32 results are clipped to [0, 1] (cubic and Lanczos overshoot).
    """
    out: npt.NDArray[np.generic] = x.copy()
    n, h, w = x.shape[:3]
    c = colour_channels(x)
    if n == 0 or small_hw == (h, w):
        return out
    for i in range(n):
        small = resize(x[i, :, :, :c], *small_hw, down)
        out[i, :, :, :c] = resize(small, h, w, up)
    if x.dtype == np.float32:
        np.clip(out, 0.0, 1.0, out=out)
    return out


@register
class Jpeg(ImagePerturbation):
    """Re-saving as JPEG at a quality setting, as messaging apps and web uploads do.

    The quality is libjpeg's 1-100 scale (OpenCV's encoder, 4:2:0 chroma subsampling for
    colour; byte for byte what Pillow writes with `quality=q`). 100 is the documented "no
    re-encode" value and returns the input unchanged; messaging apps re-encode around 70-85,
    aggressive web compression goes to 20.

    Why this range: the default quality of libjpeg's cjpeg (IJG usage notes) and of SANE's
    scanimage is 75, so images saved with default settings carry 75 by construction, and
    Twitter re-encodes every uploaded JPEG above quality 85 to 85 (O'Brien 2018, "Upcoming
    changes to PNG image support", Twitter developer forum), so the mild end (90) and the
    middle of the range (85-75) are qualities real images carry. No source found measures how
    often images are re-saved near 20 (severe), so this is a stress test (`stress`): usable in
    a plan that names it, never in a preset; a sourced severe end would be 75.
    """

    name = "image.jpeg"
    family = "image.compression"
    phrase = Phrase(
        lambda v: f"re-saving images as JPEG at quality {v:g} of 100",
        lambda v: (
            "as messaging apps do"
            if v >= 60
            else "as heavily compressed web images are"
            if v >= 20
            else ""
        ),
    )
    monitor_estimate = "jpeg_quality"
    calibration = "images.jpeg_quality"
    stress = True
    version = 1
    stochastic = False
    magnitude = Magnitude(
        "jpeg_quality",
        unit="libjpeg quality",
        off=100.0,
        mild=90.0,
        severe=20.0,
        limits=(1.0, 100.0),
        integer=True,
    )

    def apply(self, x: Batch, value: float, rngs: Rngs, context: DataContext) -> Batch:
        """Encode and decode every image at the given quality."""
        return reencode(x, self.name, ".jpg", [cv2.IMWRITE_JPEG_QUALITY, int(value)])


@register
class Webp(ImagePerturbation):
    """Re-saving as lossy WebP at a quality setting, as image CDNs and browsers serve photos.

    The quality is libwebp's 1-100 scale (OpenCV's encoder, its defaults: method 4, 4:2:0
    chroma; byte for byte what Pillow writes with `quality=q`). 101 is the off value: OpenCV
    encodes any quality above 100 losslessly, which leaves the pixels unchanged, so 101 returns
    the input without encoding. CDNs serve WebP at 75-85 (cwebp's default is 75); 20 is
    aggressive bandwidth saving with visible smearing of fine texture.

    Why this range: the default quality of libwebp's cwebp (its documentation) is 75, so images
    encoded with default settings carry 75 by construction, but no source found measures how
    often images are served near 20 (severe), so this is a stress test (`stress`): usable in a
    plan that names it, never in a preset; a sourced severe end would be 75.
    """

    name = "image.webp"
    family = "image.compression"
    phrase = Phrase(lambda v: f"re-saving images as WebP at quality {v:g}")
    stress = True
    version = 1
    stochastic = False
    magnitude = Magnitude(
        "webp_quality",
        unit="libwebp quality (101 = lossless)",
        off=101.0,
        mild=85.0,
        severe=20.0,
        limits=(1.0, 101.0),
        integer=True,
    )

    def apply(self, x: Batch, value: float, rngs: Rngs, context: DataContext) -> Batch:
        """Encode and decode every image at the given quality."""
        return reencode(x, self.name, ".webp", [cv2.IMWRITE_WEBP_QUALITY, int(value)])


@register
class Downscale(ImagePerturbation):
    """Lost resolution of an image stored small and enlarged again, as thumbnails and webcams give.

    `resolution_pct` is the stored size as a percentage of the displayed size (per side), so
    it reads the same at any resolution; the scale is logarithmic because each halving of
    resolution removes an octave of detail (100 -> 50 -> 25 are equal steps). The stored size
    is rounded to whole pixels (at least 1). `filter` is how the small copy was made (default
    "area", the anti-aliased box filter of good thumbnailers); `upscale_filter` is how the
    viewer or data loader enlarges it back (default "bilinear", as most viewers and
    torchvision's Resize do). Both take "area", "bilinear", "bicubic", "nearest" or "lanczos"
    (OpenCV's INTER_AREA, INTER_LINEAR, INTER_CUBIC, INTER_NEAREST, INTER_LANCZOS4, computed
    the same on every CPU by `resize`); borders are OpenCV's replicated edges. 75 % is a
    mildly undersized upload; 25 % a 224 px input made from a 56 px thumbnail.

    Why this range: by construction of the standard frame sizes, a 1080-line video frame is 50%
    of a 2160-line one per side and a 540-line frame 25%, and a 1440-line image 75% of a
    1920-line one: a model trained on one resolution and fed an image stored at another sees
    exactly such a factor, from 75% (mild) to 25% (severe).
    """

    name = "image.downscale"
    family = "image.resolution"
    phrase = Phrase(lambda v: f"images stored at {v:g}% of their size and enlarged again")
    calibration = "images.resolution"
    version = 2
    stochastic = False
    magnitude = Magnitude(
        "resolution_pct",
        unit="% of the image size per side",
        off=100.0,
        mild=75.0,
        severe=25.0,
        limits=(1.0, 100.0),
        scale="log",
    )

    def __init__(self, *, filter: str = "area", upscale_filter: str = "bilinear") -> None:
        """Choose the downscaling and upscaling filters (see the class docstring)."""
        self.filter = check_choice(self.name, "filter", filter, list(FILTERS))
        self.upscale_filter = check_choice(
            self.name, "upscale_filter", upscale_filter, list(FILTERS)
        )

    def apply(self, x: Batch, value: float, rngs: Rngs, context: DataContext) -> Batch:
        """Resize every image to `value` % per side and back to its size."""
        small_hw = (
            max(1, round(x.shape[1] * value / 100)),
            max(1, round(x.shape[2] * value / 100)),
        )
        return resample(x, small_hw, self.filter, self.upscale_filter)


@register
class Pixelation(ImagePerturbation):
    """Mosaic of flat blocks, as from censoring filters, extreme digital zoom or low-res video.

    The block size is a percentage of the shorter image side, so a mosaic has the same number
    of blocks across at any resolution (2 % is a 4-5 px block at 224 px; 8 %, 12 blocks across,
    leaves only the coarse layout). Each block is painted with the mean of the pixels it
    covers (OpenCV's INTER_AREA down to the block grid, INTER_NEAREST back up). The grid has
    the image size divided by the block size, rounded, blocks across and down: when the size
    divides, blocks are equal and their means exact; otherwise block sizes differ by a pixel
    and the means are area-weighted over the nominal cells. Blocks under 1 px change nothing.

    Why this range: no published source found gives the block sizes of pixelated images in real
    data, so this is a stress test (`stress`): usable in a plan that names it, never in a
    preset.
    """

    name = "image.pixelation"
    family = "image.resolution"
    phrase = Phrase(lambda v: f"pixelation into blocks of {v:g}% of the image's shorter side")
    stress = True
    version = 2
    stochastic = False
    magnitude = Magnitude(
        "block_pct",
        unit="% of the shorter image side",
        off=0.0,
        mild=1.0,
        severe=8.0,
        limits=(0.0, 100.0),
    )

    def apply(self, x: Batch, value: float, rngs: Rngs, context: DataContext) -> Batch:
        """Average every block of `value` % of the shorter side and paint it flat."""
        block = size_px(value, x)
        if block <= 1.0:  # blocks of a pixel or less: nothing to average
            return x.copy()
        h, w = x.shape[1:3]
        grid_hw = (min(h, max(1, round(h / block))), min(w, max(1, round(w / block))))
        return resample(x, grid_hw, "area", "nearest")


@register
class BitDepth(ImagePerturbation):
    """Banding from too few bits per channel, as on 6-bit panels, in RGB565 or palette images.

    Every colour value is rounded to the nearest of 2**bits evenly spaced levels from black to
    full scale (a b-bit file or ADC read back to full range), so mean brightness is kept and
    the error is at most half a step; Pillow's and albumentations' Posterize instead truncate
    the low bits and darken by half a step on average. 8 bits is off (uint8 is unchanged;
    float32 images, being finer, are returned unchanged too); float32 images below 8 bits are
    quantised to the same 2**bits levels. 6 bits (RGB666 panels) is mild; 3 bits (8 levels)
    shows strong contouring on gradients. Alpha is kept.

    Why this range: images are stored with 8 bits per channel, and no source found measures real
    images posterised to 3-6 bits, so this is a stress test (`stress`): usable in a plan that
    names it, never in a preset.
    """

    name = "image.bit_depth"
    family = "image.banding"
    phrase = Phrase(lambda v: f"images stored with only {count(v, 'bit')} per colour channel")
    stress = True
    version = 1
    stochastic = False
    magnitude = Magnitude(
        "bit_depth_bits",
        unit="bits per channel",
        off=8.0,
        mild=6.0,
        severe=3.0,
        limits=(1.0, 8.0),
        integer=True,
    )

    def apply(self, x: Batch, value: float, rngs: Rngs, context: DataContext) -> Batch:
        """Round every colour value to the nearest of 2**value levels."""
        steps = 2.0**value - 1.0
        return tone_map(x, lambda v: np.rint(v * steps) / steps)


GAMMA_DIRECTIONS = ("linear_as_srgb", "srgb_as_linear")


@register
class GammaMismatch(ImagePerturbation):
    """Wrong transfer curve, as when linear-light data is read as sRGB or sRGB data as linear.

    `direction="linear_as_srgb"` (default, the common bug: a RAW, EXR or renderer pipeline
    hands over linear light where sRGB codes are expected) darkens: a full mismatch maps each
    sRGB value v to srgb_to_linear(v), mid-grey 0.5 to 0.214. `direction="srgb_as_linear"`
    (sRGB data encoded a second time) brightens and washes out: v -> linear_to_srgb(v), 0.5 to
    0.735. Sources: IEC 61966-2-1 curves.

    A full mismatch is all or nothing, but partial ones are common: a power-law display gamma
    error (an image mastered for gamma 1.8 shown at 2.2) is a fraction of the sRGB/linear one.
    `mismatch_fraction` t mixes the curves geometrically, v**(1-t) * wrong(v)**t, which for a
    power-law curve is exactly an exponent error (v**2.2 at t=1 becomes v**(1 + 1.2 t)): 0 is
    correct, 1 a full sRGB/linear confusion, about 0.2 the gamma 1.8 versus 2.2 confusion
    (darkening) or about 0.3 its reverse (brightening). Alpha is kept.

    Why this range: by construction a pipeline either decodes its sRGB values as linear (or the
    reverse) or does not, so the realistic value is the full mismatch, 1 (severe); the smaller
    fractions down to 0.2 (mild) are the path from the correct image to it, a partial mismatch
    such as a tone curve close to sRGB's.
    """

    name = "image.gamma_mismatch"
    family = "image.exposure"
    phrase = Phrase(
        lambda v: f"a wrong colour transfer curve ({share(v)} of a full sRGB/linear mix-up)"
    )
    version = 1
    stochastic = False
    magnitude = Magnitude(
        "mismatch_fraction",
        unit="fraction of a full sRGB/linear mismatch",
        off=0.0,
        mild=0.2,
        severe=1.0,
        limits=(0.0, 1.0),
    )

    def __init__(self, *, direction: str = "linear_as_srgb") -> None:
        """Choose which way the curves are confused (see the class docstring)."""
        self.direction = check_choice(self.name, "direction", direction, GAMMA_DIRECTIONS)

    def apply(self, x: Batch, value: float, rngs: Rngs, context: DataContext) -> Batch:
        """Apply the wrong curve, mixed geometrically with the identity by `value`."""
        wrong = srgb_to_linear if self.direction == "linear_as_srgb" else linear_to_srgb
        return tone_map(x, lambda v: v ** (1.0 - value) * wrong(v) ** value)
