"""Sensor noise: Gaussian read noise, shot (Poisson) noise, ISO noise, dead and hot pixels.

Noise is inherently per pixel: it is added at the image's own resolution, as the sensor that
captured it at that resolution would add it (a downscaled photograph has less noise per pixel).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from wince.perturbations.base import (
    Batch,
    DataContext,
    Magnitude,
    Phrase,
    Rngs,
    check_number,
    register,
)
from wince.perturbations.image.base import (
    NORMAL_TABLE,
    FloatImages,
    ImagePerturbation,
    colour_channels,
    each_image,
    random_bits16,
)
from wince.perturbations.image.lighting import (
    BASE_FULL_SCALE_PHOTONS,
    gaussian_shot_noise,
    in_linear_light,
)
from wince.perturbations.image.resize import resize


@register
class GaussianNoise(ImagePerturbation):
    """Additive Gaussian sensor read noise, as from a small sensor at high gain.

    The standard deviation is a percentage of full scale (255 levels for uint8) because that is
    how sensor noise is quoted and it reads the same for uint8 and float images. Deviates come
    from a 65,536-entry table of normal quantiles (`quantile_normal`: unit variance, tails cut
    at 4.2 sd), drawn per image and value and scaled by the magnitude, so a sweep reuses them.

    Why this range: by construction of the photon-transfer model of EMVA 1288 (Standard for
    Characterization of Image Sensors and Cameras), a mid-grey pixel (half of full scale,
    linear) of a 10,000-electron full well at base ISO 100 has a photon-noise sd of 1.4% of full
    scale at ISO 400 and 8% at ISO 12,800; Chapman et al. (2011, "Predicting Pixel Defect Rates
    Based on Image Sensor Parameters", IEEE DFT) measured 23 DSLRs, 4 compact and 11 phone
    cameras set between ISO 400 and ISO 25,600, so the range 1% (mild) to 8% (severe) is the
    noise of settings real cameras use.
    """

    name = "image.gaussian_noise"
    family = "image.noise"
    phrase = Phrase(
        lambda v: f"sensor noise of {v:g}% of full scale",
        lambda v: "as from a small camera at high gain" if v <= 8 else "",
    )
    monitor_estimate = "image_noise_pct"
    calibration = "images.noise"
    version = 3  # v3: quantile-table deviates (4x faster); v2: alpha left unchanged
    stochastic = True
    magnitude = Magnitude(
        "noise_sd_pct", unit="% of full scale", off=0.0, mild=1.0, severe=8.0, limits=(0.0, 100.0)
    )

    def apply(self, x: Batch, value: float, rngs: Rngs, context: DataContext) -> Batch:
        """Add N(0, (value/100)^2) noise to every colour sample, then clip to the valid range."""
        if x.size == 0:
            return x.copy()
        sd = value / 100.0
        # uint8: x + round(255 sd z) is round(255 (x / 255 + sd z)), one table lookup per value.
        levels = np.rint(NORMAL_TABLE * (255.0 * sd)).astype(np.int16)

        def noisy(i: int, colour: npt.NDArray[Any]) -> npt.NDArray[Any]:
            bits = random_bits16(rngs[i], colour.shape)
            if colour.dtype == np.uint8:
                summed = colour + np.take(levels, bits)
                return np.asarray(np.clip(summed, 0, 255), dtype=np.uint8)
            shifted = colour + np.float32(sd) * np.take(NORMAL_TABLE, bits)
            return np.asarray(np.clip(shifted, 0.0, 1.0), dtype=np.float32)

        return each_image(x, noisy)


@register
class ShotNoise(ImagePerturbation):
    """Photon shot noise, as in a photograph taken with few photons (small pixels, high ISO).

    Light arrives in photons, so a pixel that collects N of them on average varies with a
    Poisson sd of sqrt(N). full_scale_photons is the mean count of a full-scale white pixel; a
    pixel of linear value s collects s * full_scale_photons, so its linear value gets noise of
    variance s / full_scale_photons, independently per pixel and colour channel (a Gaussian
    approximation of the Poisson count with draws fixed per image, see `gaussian_shot_noise`;
    exact Poisson draws would change with the count and break common random numbers). The input
    is treated as noise-free.

    The count is on a log scale because noise sd goes with 1/sqrt(photons): equal ratios are
    equal steps. Off is 1e6 photons: the sd is then at most 184/sqrt(1e6) = 0.18 of a uint8
    level (at the sRGB knee, linear 0.0031, where encoding is steepest), below half a level, so
    the sweep starts without a visible jump. Mild is 10,000, a small sensor's full well at base
    ISO; severe is 50 photons, a small sensor pushed to ISO 10,000-20,000. (ImageNet-C's level 5
    uses 3 "photons" on sRGB-encoded values, far beyond what any camera records.)

    Why this range: by construction of the photon-transfer model of EMVA 1288 (Standard for
    Characterization of Image Sensors and Cameras), photon noise has a variance equal to the
    mean count, and a pixel of full well W electrons at base ISO 100 holds W * 100 / ISO photons
    at full scale when the gain is raised. With the library's default W = 10,000, 10,000 photons
    (mild) is ISO 100 and 50 photons (severe) ISO 20,000; Chapman et al. (2011, "Predicting
    Pixel Defect Rates Based on Image Sensor Parameters", IEEE DFT) measured 23 DSLRs, 4 compact
    and 11 phone cameras set between ISO 400 and ISO 25,600, so the range lies inside the
    settings real cameras use.
    """

    name = "image.shot_noise"
    family = "image.noise"
    phrase = Phrase(lambda v: f"the grain of a dim exposure ({v:g} photons per pixel)")
    version = 2
    stochastic = True
    magnitude = Magnitude(
        "full_scale_photons", unit="photons", off=1e6, mild=1e4, severe=50.0,
        limits=(1.0, 1e9), scale="log",
    )  # fmt: skip

    def apply(self, x: Batch, value: float, rngs: Rngs, context: DataContext) -> Batch:
        """Add Gaussian shot noise of variance s / value to every linear colour value s."""
        shape = (*x.shape[1:3], colour_channels(x))
        return in_linear_light(
            x,
            lambda i, linear: gaussian_shot_noise(
                linear, 1.0 / value, rngs[i].standard_normal(shape, dtype=np.float32)
            ),
        )


def bayer_noise(rng: np.random.Generator, height: int, width: int, channels: int) -> FloatImages:
    """Unit-variance noise shaped like a demosaiced Bayer sensor's, (height, width, channels).

    Green is sampled at every pixel (white noise). Red and blue are sampled on every other row
    and column of a Bayer mosaic: their noise is drawn on that half-resolution grid and
    bilinearly interpolated to full resolution, as demosaicing does, which makes chroma noise
    coarser (blotchier) than luminance noise. Exact 2x bilinear upsampling weighs neighbours
    0.75/0.25 along each axis, so the interpolated variance is 0.625**2 at every pixel and is
    scaled back to 1. A single channel (a monochrome sensor) gets white noise.
    """
    if channels == 1:
        return rng.standard_normal((height, width, 1), dtype=np.float32)
    # A margin of 2 output pixels keeps border pixels away from the replicated edge.
    coarse = rng.standard_normal((height // 2 + 2, width // 2 + 2, 2), dtype=np.float32)
    fine = resize(coarse, 2 * coarse.shape[0], 2 * coarse.shape[1], "bilinear")
    red_blue = fine[2 : height + 2, 2 : width + 2] * np.float32(1.0 / 0.625)
    green = rng.standard_normal((height, width), dtype=np.float32)
    return np.dstack([red_blue[:, :, 0], green, red_blue[:, :, 1]])


@register
class IsoNoise(ImagePerturbation):
    """Noise of a high ISO setting, as in a dim scene shot with the sensor gain turned up.

    Noise model (photon transfer, as in camera noise profiles): at ISO `iso` the sensor's gain
    is iso/100 times its base gain, so a full-scale pixel holds N = full_scale_photons * 100/iso
    photons (default 10,000 at ISO 100, a small-sensor pixel's full well). A linear value s then
    has variance s / N (photon shot noise) + (read_noise_electrons / N)**2 (read noise, default
    2 electrons, referred to the input). The input counts as a base-ISO capture that already
    holds the ISO 100 noise, so the difference in variance is added: none at ISO 100, growing
    with ISO. Noise is independent per photosite and shaped by `bayer_noise`: fine-grained
    luminance noise (green) with coarser chroma noise (red and blue interpolated from half
    resolution), the luminance + chroma look of camera noise. Draws are fixed per image.

    ISO on a log scale, as cameras step it in stops; the realistic range runs from ISO 400 to
    ISO 6400, the top of what small sensors offer. The noise is per pixel, as captured.

    Why this range: ISO is the camera's exposure index as ISO 12232 (2019) defines it, and
    Chapman et al. (2011, "Predicting Pixel Defect Rates Based on Image Sensor Parameters", IEEE
    DFT) measured 23 DSLRs, 4 compact and 11 phone cameras set between ISO 400 and ISO 25,600,
    so the range ISO 400 (mild) to ISO 6400 (severe) lies inside the settings real cameras use.
    """

    name = "image.iso_noise"
    family = "image.noise"
    phrase = Phrase(lambda v: f"the noise of a camera set to ISO {v:g}")
    version = 2
    stochastic = True
    magnitude = Magnitude(
        "iso", unit="ISO", off=100.0, mild=400.0, severe=6400.0, limits=(100.0, 409_600.0),
        scale="log",
    )  # fmt: skip

    def __init__(
        self,
        *,
        full_scale_photons: float = BASE_FULL_SCALE_PHOTONS,
        read_noise_electrons: float = 2.0,
    ) -> None:
        self.full_scale_photons = check_number(
            self.name, "full_scale_photons", full_scale_photons, unit="photons", low=1.0, high=1e9
        )
        self.read_noise_electrons = check_number(
            self.name, "read_noise_electrons", read_noise_electrons, unit="electrons", low=0.0,
            high=1e4,
        )  # fmt: skip

    def apply(self, x: Batch, value: float, rngs: Rngs, context: DataContext) -> Batch:
        """Add the extra shot and read noise of ISO `value` over ISO 100 in linear light."""
        gain = value / 100.0
        shot = (gain - 1.0) / self.full_scale_photons
        read = (self.read_noise_electrons / self.full_scale_photons) ** 2 * (gain**2 - 1.0)
        h, w = x.shape[1:3]
        c = colour_channels(x)
        return in_linear_light(
            x,
            lambda i, linear: gaussian_shot_noise(
                linear, shot, bayer_noise(rngs[i], h, w, c), read
            ),
        )


@register
class DeadPixels(ImagePerturbation):
    """Dead (black) and hot (stuck white) pixels, as on an aging, damaged or cheap sensor.

    Each pixel of each image draws one uniform number and becomes a defect when it falls below
    defect_rate_ppm / 1e6, so a higher rate keeps every defect of a lower one; a second uniform
    number per pixel decides hot (all colour channels at full scale) or dead (0) against
    `hot_share`, the share of hot defects (default 0.5). Whole pixels are affected, as after
    demosaicing spreads a photosite defect into its pixel. Per million pixels because that is
    how sensor defects are specified; the rate is inherently per pixel (not resolution-aware):
    defects are pixels. The declared range runs from 10 ppm (a new sensor before defect
    mapping) to 2000 ppm (a sensor damaged by radiation or heat, or long exposures with many
    hot pixels).

    Why this range: hot pixels accumulate as a sensor ages, but slowly: Chapman et al. (2022,
    "Image Degradation due to Interacting Adjacent Hot Pixels", IEEE DFT) project 128 hot pixels
    on a 20-Mpixel sensor with 4-micron pixels after 1.4 years at ISO 6400, about 6 per million.
    The mild end (10 per million) is of that order, but no source supports the severe end (2000
    per million), so this is a stress test (`stress`): usable in a plan that names it, never in
    a preset.
    """

    name = "image.dead_pixels"
    family = "image.impulse"
    phrase = Phrase(lambda v: f"{v:g} dead or stuck pixels per million")
    stress = True
    version = 1
    stochastic = True
    magnitude = Magnitude(
        "defect_rate_ppm", unit="defects per million pixels", off=0.0, mild=10.0, severe=2000.0,
        limits=(0.0, 1e6),
    )  # fmt: skip

    def __init__(self, *, hot_share: float = 0.5) -> None:
        self.hot_share = check_number(
            self.name, "hot_share", hot_share, unit="defects", low=0.0, high=1.0
        )

    def apply(self, x: Batch, value: float, rngs: Rngs, context: DataContext) -> Batch:
        """Set the pixels whose uniform draw falls below value/1e6 to 0 (dead) or full scale."""
        out = x.copy()
        h, w, channels = x.shape[1:]
        c = colour_channels(x)
        full_scale = 255 if x.dtype == np.uint8 else 1.0
        for i, rng in enumerate(rngs):
            draws = rng.random((2, h * w), dtype=np.float32)
            defects = np.flatnonzero(draws[0] < value / 1e6)
            hot = draws[1, defects] < self.hot_share
            pixels = out[i].reshape(h * w, channels)
            pixels[defects[hot], :c] = full_scale
            pixels[defects[~hot], :c] = 0
        return out
