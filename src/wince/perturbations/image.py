"""Image perturbations: batches (n, height, width, channels), uint8 [0, 255] or float32 [0, 1].

Images have 1 (grey), 3 (RGB) or 4 (RGBA) channels. Pixel values are sRGB-encoded; photometric
effects that are physical in linear light (exposure) decode to linear light first. Alpha is
not light: every perturbation leaves the alpha channel of RGBA images unchanged.
"""

from __future__ import annotations

from typing import ClassVar

import cv2
import numpy as np
import numpy.typing as npt

from wince.errors import DataError
from wince.perturbations.base import (
    Batch,
    DataContext,
    Magnitude,
    Modality,
    Perturbation,
    Rngs,
    register,
)

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
            "Convert with x.astype(np.float32) / 255."
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


def srgb_to_linear(v: npt.NDArray[np.floating]) -> npt.NDArray[np.floating]:
    """IEC 61966-2-1 sRGB decoding, values in [0, 1]."""
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(v: npt.NDArray[np.floating]) -> npt.NDArray[np.floating]:
    """IEC 61966-2-1 sRGB encoding, values in [0, 1]."""
    v = np.clip(v, 0.0, 1.0)
    return np.where(v <= 0.0031308, v * 12.92, 1.055 * v ** (1 / 2.4) - 0.055)


class ImagePerturbation(Perturbation):
    """Shared batch checks and distance for image perturbations."""

    modality = Modality.IMAGE
    distance_unit: ClassVar[str] = "mean absolute difference (fraction of full scale)"

    def check_batch(self, x: Batch) -> None:
        """Raise `DataError` unless `x` is an image batch."""
        check_images(x, self.name)

    def distance(
        self, original: Batch, perturbed: Batch, context: DataContext
    ) -> npt.NDArray[np.float64]:
        """Mean absolute pixel difference per image, as a fraction of full scale [0, 1]."""
        diff = np.abs(to_float(original) - to_float(perturbed))
        per_image: npt.NDArray[np.float64] = diff.reshape(len(diff), -1).mean(
            axis=1, dtype=np.float64
        )
        return per_image


@register
class Exposure(ImagePerturbation):
    """Over- or under-exposure by a number of photographic stops, as in a dim room or a wrong meter.

    Exposure is set in EV because each stop doubles or halves the light reaching the sensor;
    the effect multiplies linear-light luminance by 2**exposure_ev, then re-encodes to sRGB
    with clipping (blown highlights). Negative values darken (the severe end, -3 EV, is a
    dim room shot without compensation); positive values brighten.
    """

    name = "image.exposure"
    version = 2  # v2: the alpha channel of RGBA images is left unchanged
    stochastic = False
    magnitude = Magnitude(
        "exposure_ev", unit="EV", off=0.0, mild=-0.3, severe=-3.0, limits=(-10.0, 10.0)
    )

    def apply(self, x: Batch, value: float, rngs: Rngs, context: DataContext) -> Batch:
        """Scale linear light by 2**value (colour channels only; alpha is kept)."""
        gain = 2.0**value
        out = x.copy()
        if x.size == 0:
            return out
        c = colour_channels(x)
        if x.dtype == np.uint8:
            levels = np.arange(256, dtype=np.float64) / 255.0
            table = np.rint(linear_to_srgb(srgb_to_linear(levels) * gain) * 255.0)
            flat = np.ascontiguousarray(x[..., :c]).reshape(x.shape[0] * x.shape[1], -1)
            out[..., :c] = cv2.LUT(flat, table.astype(np.uint8)).reshape(*x.shape[:3], c)
            return out
        linear = srgb_to_linear(x[..., :c].astype(np.float64)) * gain
        out[..., :c] = linear_to_srgb(linear)
        return out


@register
class GaussianNoise(ImagePerturbation):
    """Additive Gaussian sensor read noise, as from a small sensor at high gain.

    The standard deviation is a percentage of full scale (255 levels for uint8) because that is
    how sensor noise is quoted and it reads the same for uint8 and float images.
    """

    name = "image.gaussian_noise"
    version = 2  # v2: the alpha channel of RGBA images is left unchanged
    stochastic = True
    magnitude = Magnitude(
        "noise_sd_pct", unit="% of full scale", off=0.0, mild=1.0, severe=8.0, limits=(0.0, 100.0)
    )

    def apply(self, x: Batch, value: float, rngs: Rngs, context: DataContext) -> Batch:
        """Add N(0, (value/100)^2) noise to every colour sample, then clip to the valid range."""
        if x.size == 0:
            return x.copy()
        c = colour_channels(x)
        # Noise for the colour channels only: an RGBA image gets the noise of its RGB version.
        shape = (*x.shape[1:3], c)
        noise: npt.NDArray[np.float32] = rngs.standard_normal(shape, dtype=np.float32)
        out = x.copy()
        noisy = to_float(x[..., :c]) + noise * np.float32(value / 100.0)
        out[..., :c] = from_float(noisy, x.dtype)
        return out


@register
class Jpeg(ImagePerturbation):
    """Re-saving as JPEG at a quality setting, as messaging apps and web uploads do.

    The quality is libjpeg's 1-100 scale (OpenCV's encoder, 4:2:0 chroma subsampling for
    colour). 100 is the documented "no re-encode" value and returns the input unchanged;
    messaging apps re-encode around 70-85, aggressive web compression goes to 20.
    """

    name = "image.jpeg"
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
        images = x if x.dtype == np.uint8 else from_float(x, np.dtype(np.uint8))
        out = np.empty_like(images)
        params = [cv2.IMWRITE_JPEG_QUALITY, int(value)]
        channels = images.shape[3]
        for i, image in enumerate(images):
            pixels = (
                image[:, :, 0]
                if channels == 1
                else cv2.cvtColor(np.ascontiguousarray(image[:, :, :3]), cv2.COLOR_RGB2BGR)
            )
            ok, code = cv2.imencode(".jpg", pixels, params)
            if not ok:
                raise DataError(f"{self.name}: the JPEG encoder failed on sample {i}.")
            decoded = cv2.imdecode(
                code, cv2.IMREAD_GRAYSCALE if channels == 1 else cv2.IMREAD_COLOR
            )
            if decoded is None:
                raise DataError(f"{self.name}: the JPEG decoder failed on sample {i}.")
            if channels == 1:
                out[i, :, :, 0] = decoded
            else:
                out[i, :, :, :3] = cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB)
                if channels == 4:
                    out[i, :, :, 3] = image[:, :, 3]
        if x.dtype == np.uint8:
            return out
        return to_float(out)
