"""Lighting and colour: exposure, contrast, gamma, white balance, saturation, hue, vignetting.

Effects of light (white balance, colour matrices, vignetting, low-light noise) work in linear
light: `in_linear_light` decodes sRGB, applies a per-image function and re-encodes. For uint8
images decoding is a 256-entry table and encoding a 65536-entry table on linear values
quantised to 16 bits (at most 0.03 of a level from exact sRGB encoding before rounding).
Per-value curves (exposure, contrast, gamma) are 256-entry tables (`tone_map`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import cv2
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
    LUMINANCE_WEIGHTS,
    FloatImages,
    ImagePerturbation,
    colour_channels,
    each_image,
    from_linear,
    linear_to_srgb,
    srgb_to_linear,
    to_linear,
    tone_map,
)
from wince.perturbations.words import count, signed

LinearTransform = Callable[[int, npt.NDArray[Any]], npt.NDArray[Any]]

# Photographic mid grey: 18% reflectance, the average scene light meters assume (linear light).
MID_GREY = 0.18


def in_linear_light(x: Batch, transform: LinearTransform, *, scale_free: bool = False) -> Batch:
    """Apply `transform(i, linear)` to the colour channels of image i in linear light.

    `linear` is an array (height, width, colour channels) of linear light that the transform
    may modify in place; it returns an array of the same shape and dtype. By default the values
    are float32 in [0, 1] and the result may leave that range (it is clipped when re-encoded).
    With `scale_free`, for a transform that commutes with scaling (a colour matrix, a gain
    map), uint8 images arrive as uint16 codes of linear light (full scale 65535) and the
    transform returns uint16, saturated by OpenCV; this halves the work. The alpha channel of
    RGBA images is kept. Loops over images, so every intermediate is one image.
    """

    def one(i: int, colour: npt.NDArray[Any]) -> npt.NDArray[Any]:
        return from_linear(transform(i, to_linear(colour, codes=scale_free)), x.dtype)

    return each_image(x, one)


@register
class Exposure(ImagePerturbation):
    """Over- or under-exposure by a number of photographic stops, as in a dim room or a wrong meter.

    Exposure is set in EV because each stop doubles or halves the light reaching the sensor;
    the effect multiplies linear-light luminance by 2**exposure_ev, then re-encodes to sRGB
    with clipping (blown highlights). Negative values darken (the severe end, -3 EV, is a
    dim room shot without compensation); positive values brighten.

    Why this range: Afifi et al. (2021, "Learning Multi-Scale Photo Exposure Correction", CVPR)
    emulate the exposure errors of real photographs by rendering each raw image at -1.5, -1, 0,
    +1 and +1.5 EV, so the mild end (-0.3 EV) and the middle of the range (to -1.5 EV) are
    exposure errors of that size; the severe end (-3 EV) is twice the largest, and no source
    found shows noise-free photographs that far off (darker real shots carry the noise of
    `low_light`). It is therefore a stress test (`stress`): usable in a plan that names it,
    never in a preset; a sourced severe end would be -1.5 EV.
    """

    name = "image.exposure"
    family = "image.exposure"
    phrase = Phrase(
        lambda v: f"{signed(v, 'under', 'over')}-exposing images by {count(abs(v), 'stop')}",
        lambda v: "as in a dim room or with a wrong light meter" if -3 <= v < 0 else "",
    )
    monitor_estimate = "exposure_ev"
    calibration = "images.exposure"
    stress = True
    version = 2  # v2: the alpha channel of RGBA images is left unchanged
    stochastic = False
    magnitude = Magnitude(
        "exposure_ev", unit="EV", off=0.0, mild=-0.3, severe=-3.0, limits=(-10.0, 10.0)
    )

    def apply(self, x: Batch, value: float, rngs: Rngs, context: DataContext) -> Batch:
        """Scale linear light by 2**value (colour channels only; alpha is kept)."""
        gain = 2.0**value
        return tone_map(x, lambda v: linear_to_srgb(srgb_to_linear(v) * gain))


@register
class Contrast(ImagePerturbation):
    """Flatter (or punchier) contrast, as through a hazy or flared lens or on a cheap display.

    Deviations of linear light from photographic mid grey (18% reflectance, sRGB level 118) are
    scaled by 1 + contrast_pct/100, then re-encoded to sRGB with clipping. The pivot is in linear
    light because veiling glare and haze add scattered light to every pixel, which is the same
    as pulling linear values towards the scene's average; the average scene is 18% grey, the
    value exposure meters are calibrated to. -100% is uniform mid grey. In % because that is
    how editors and displays state contrast changes. The declared range follows ImageNet-C's
    contrast levels 1-5 (40% down to 5% of the original contrast, i.e. -60% to -95%), starting
    at -10%, a slightly hazy lens; positive values (more contrast) are allowed and warn.

    Why this range: no published source found measures how much contrast real photographs lose,
    so this is a stress test (`stress`): usable in a plan that names it, never in a preset.
    """

    name = "image.contrast"
    family = "image.contrast"
    phrase = Phrase(lambda v: f"contrast {signed(v, 'lowered', 'raised')} by {abs(v):g}%")
    calibration = "images.contrast"
    stress = True
    version = 1
    stochastic = False
    magnitude = Magnitude(
        "contrast_pct", unit="%", off=0.0, mild=-10.0, severe=-80.0, limits=(-100.0, 200.0)
    )

    def apply(self, x: Batch, value: float, rngs: Rngs, context: DataContext) -> Batch:
        """Scale linear light's deviation from 18% grey by 1 + value/100."""
        k = 1.0 + value / 100.0
        return tone_map(x, lambda v: linear_to_srgb(MID_GREY + k * (srgb_to_linear(v) - MID_GREY)))


@register
class Gamma(ImagePerturbation):
    """A power-law tone-curve error, as from a display or viewer with the wrong gamma.

    Every encoded value v in [0, 1] becomes v**gamma_exponent: above 1 darkens the mid-tones and
    crushes the shadows, below 1 brightens and washes out; black and white stay fixed. The
    scale is logarithmic because exponents g and 1/g are errors of the same size in opposite
    directions. Mild is 1.1 (a gamma 2.2 image shown at 2.4); severe is 2.0, a tone curve
    applied twice. Exponents below 1 (an image mastered for gamma 2.2 shown at 1.8 is 0.82) are
    allowed and warn as outside the declared range. For the mix-up of linear and sRGB values,
    which is not a power law, see `image.gamma_mismatch`.

    Why this range: by construction of display encoding, an image encoded for one tone curve and
    shown or decoded under another is off by the ratio of the two exponents: about 1.2 for a 1.8
    curve read as a 2.2 one, up to about 2.2 when a 2.2 decoding is applied once too often, so
    1.1 (mild) to 2.0 (severe) spans those mismatches.
    """

    name = "image.gamma"
    family = "image.exposure"
    phrase = Phrase(lambda v: f"a wrong tone curve (gamma {v:g})")
    version = 1
    stochastic = False
    magnitude = Magnitude(
        "gamma_exponent", unit="power-law exponent", off=1.0, mild=1.1, severe=2.0,
        limits=(0.1, 10.0), scale="log",
    )  # fmt: skip

    def apply(self, x: Batch, value: float, rngs: Rngs, context: DataContext) -> Batch:
        """Raise every encoded value in [0, 1] to the power `value`."""
        return tone_map(x, lambda v: v**value)


def apply_colour_matrix(linear: npt.NDArray[Any], m: npt.NDArray[np.float64]) -> npt.NDArray[Any]:
    """`m` times every pixel's linear (R, G, B) of one image (h, w, 3), uint16 codes or float32.

    Each output channel is (m[r, 0] R + m[r, 1] G) + m[r, 2] B in float64, one elementwise
    operation at a time, so the result is the same on every CPU (OpenCV's `transform` rounds
    differently on its SIMD and scalar paths). uint16 codes round to the nearest code and
    saturate to [0, 65535].
    """
    planes = np.moveaxis(linear, -1, 0).astype(np.float64)  # (3, h, w), each contiguous
    out = np.empty(planes.shape, dtype=np.float64)
    term = np.empty(planes.shape[1:], dtype=np.float64)
    for row in range(3):
        np.multiply(planes[0], m[row, 0], out=out[row])
        out[row] += np.multiply(planes[1], m[row, 1], out=term)
        out[row] += np.multiply(planes[2], m[row, 2], out=term)
    if linear.dtype == np.uint16:
        np.clip(np.rint(out, out=out), 0.0, 65535.0, out=out)
        return np.moveaxis(out.astype(np.uint16), 0, -1)
    return np.moveaxis(out.astype(np.float32), 0, -1)


class ColourMatrix(ImagePerturbation):
    """A 3x3 matrix applied to linear RGB, as a camera's colour processing does.

    Single-channel (grey) images have no colour to change and are returned unchanged: the
    matrices keep the luminance of greys, which is all a grey image holds.
    """

    stochastic = False

    def matrix(self, value: float) -> npt.NDArray[np.float64]:
        """The 3x3 matrix acting on linear (R, G, B) column vectors at a parameter value."""
        raise NotImplementedError

    def apply(self, x: Batch, value: float, rngs: Rngs, context: DataContext) -> Batch:
        """Multiply every linear RGB pixel by `matrix(value)`, clip and re-encode."""
        if colour_channels(x) == 1:
            return x.copy()
        m = self.matrix(value)
        return in_linear_light(x, lambda i, linear: apply_colour_matrix(linear, m), scale_free=True)

    @classmethod
    def example_batch(cls) -> Batch:
        """Colourful uint8 RGBA images: grey images, which these leave unchanged, are unfair."""
        n, h, w = 6, 24, 32
        yy, xx = np.mgrid[0:h, 0:w]
        hue = (xx * 180 // w + 30 * np.arange(n)[:, None, None]) % 180
        saturation = 96 + yy * 159 // (h - 1)
        value = np.broadcast_to(80 + (xx + yy) * 175 // (h + w - 2), hue.shape)
        rgb = hsv_to_rgb(hue, np.broadcast_to(saturation, hue.shape), value)
        alpha = np.broadcast_to((xx * 255 // (w - 1)).astype(np.uint8), (n, h, w))[..., None]
        return np.concatenate([rgb, alpha], axis=-1)


def hsv_to_rgb(
    hue: npt.NDArray[np.integer],
    saturation: npt.NDArray[np.integer],
    value: npt.NDArray[np.integer],
) -> npt.NDArray[np.uint8]:
    """uint8 RGB of integer HSV (hue in [0, 180) half-degrees, saturation and value in [0, 255]).

    The hexcone model in integer arithmetic (for example images, the same on every machine).
    """
    sector, position = np.divmod(hue.astype(np.int64) * 6, 180)
    v, s = value.astype(np.int64), saturation.astype(np.int64)
    p = v * (255 - s) // 255
    q = v * (255 - s * position // 180) // 255
    t = v * (255 - s * (180 - position) // 180) // 255
    order = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)]
    channels = [np.choose(sector, [o[k] for o in order]) for k in range(3)]
    return np.stack(channels, axis=-1).astype(np.uint8)


def planckian_xy(temperature_k: float) -> tuple[float, float]:
    """CIE 1931 xy chromaticity of a black body at a temperature (1667-25000 K).

    Kang, Moon, Hong, Lee, Cho and Kim (2002), "Design of advanced color temperature control
    system for HDTV applications", J. Korean Physical Society 41(6), 865-871: cubic splines
    fitted to the Planckian locus, within 5e-4 of its tabulated chromaticities.
    """
    t = temperature_k
    if t <= 4000.0:
        x = -0.2661239e9 / t**3 - 0.2343589e6 / t**2 + 0.8776956e3 / t + 0.179910
    else:
        x = -3.0258469e9 / t**3 + 2.1070379e6 / t**2 + 0.2226347e3 / t + 0.240390
    if t <= 2222.0:
        y = -1.1063814 * x**3 - 1.34811020 * x**2 + 2.18555832 * x - 0.20219683
    elif t <= 4000.0:
        y = -0.9549476 * x**3 - 1.37418593 * x**2 + 2.09137015 * x - 0.16748867
    else:
        y = 3.0817580 * x**3 - 5.87338670 * x**2 + 3.75112997 * x - 0.37001483
    return x, y


# Bradford cone-response matrix (Lam 1985) and linear sRGB to XYZ (IEC 61966-2-1, D65).
_BRADFORD = np.array(
    [[0.8951, 0.2664, -0.1614], [-0.7502, 1.7135, 0.0367], [0.0389, -0.0685, 1.0296]]
)
_SRGB_TO_XYZ = np.array(
    [[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]
)


def _white_xyz(temperature_k: float) -> npt.NDArray[np.float64]:
    """XYZ (Y = 1) of the Planckian white at a temperature."""
    x, y = planckian_xy(temperature_k)
    return np.array([x / y, 1.0, (1.0 - x - y) / y])


@register
class WhiteBalance(ColourMatrix):
    """A colour cast from a wrong white balance, as under tungsten light or in shade.

    The camera assumes a 6500 K illuminant and the scene is lit at temperature_k instead: every
    colour is adapted with the Bradford transform (von Kries scaling of the cone-like responses
    of Lam 1985, in linear light) from the Planckian white at 6500 K to the Planckian white at
    temperature_k, whose chromaticity comes from the Kang et al. (2002) approximation of the
    Planckian locus (`planckian_xy`). Adapting between two whites of the same locus (rather
    than from sRGB's D65, which lies slightly off it) makes 6500 K the identity and the effect
    continuous there. A grey card at 3000 K turns orange: linear (R, G, B) about (1.72, 0.86,
    0.26) times its grey level. The matrix is normalised so that greys keep their luminance,
    so a single-channel image is unchanged; saturated colours change luminance as under real
    light (at 3000 K pure red gains 18%, pure blue loses 42%). Channels pushed above full scale
    clip.

    Kelvin on a log scale: colour differences between illuminants are roughly uniform in
    reciprocal temperature (mired), which a log scale follows much better than a linear one.
    The realistic range runs from 5500 K (flash, noon sun: a slight warm cast) to 3000 K
    (tungsten/halogen); cooler light (shade, 7000-9000 K) is allowed and warns as outside it.

    Why this range: tungsten light, the commonest warm indoor source, is CIE standard illuminant
    A, a Planckian radiator at about 2856 K; average daylight is D65, about 6500 K (ISO 11664-2,
    CIE standard illuminants for colorimetry). A camera balanced for daylight that photographs a
    tungsten-lit scene renders it near 3000 K (severe); 5500 K (mild) is daylight of a warmer
    phase.
    """

    name = "image.white_balance"
    family = "image.colour"
    phrase = Phrase(lambda v: f"a colour cast from a white balance {v:g} K off")
    version = 2  # v2: the matrix applies in float64, rounding the same on every CPU
    magnitude = Magnitude(
        "temperature_k", unit="K", off=6500.0, mild=5500.0, severe=3000.0,
        limits=(1667.0, 25000.0), scale="log",
    )  # fmt: skip

    def matrix(self, value: float) -> npt.NDArray[np.float64]:
        """Bradford adaptation from the 6500 K white to the `value` K white, greys' Y kept."""
        ratio = (_BRADFORD @ _white_xyz(value)) / (_BRADFORD @ _white_xyz(self.magnitude.off))
        adapt = np.linalg.inv(_BRADFORD) @ np.diag(ratio) @ _BRADFORD
        m = np.linalg.inv(_SRGB_TO_XYZ) @ adapt @ _SRGB_TO_XYZ
        grey_luminance = float(LUMINANCE_WEIGHTS @ m @ np.ones(3))
        adapted: npt.NDArray[np.float64] = m / grey_luminance
        return adapted


@register
class Saturation(ColourMatrix):
    """Washed-out (or oversaturated) colour, as in a faded print, a cheap camera or a 'vivid' mode.

    Each linear-light pixel moves away from or towards the grey of its own luminance (Rec. 709
    weights): rgb -> Y + (1 + saturation_pct/100) (rgb - Y). Luminance is kept exactly (until
    clipping), so only colour changes; -100% is a black-and-white image. In % as in photo
    editors; the realistic range runs from -10% (slightly faded) to -100% (monochrome, as from
    a CCTV camera at night); oversaturation is allowed and warns as outside it.

    Why this range: by construction a greyscale capture (a scanner or camera set to grey, a
    black-and-white print) removes all colour, -100% (severe), and a source either does or does
    not; -10% (mild) is the start of the path to it, as in a faded print or a muted camera
    style.
    """

    name = "image.saturation"
    family = "image.colour"
    phrase = Phrase(
        lambda v: f"colour saturation {signed(v, 'reduced', 'increased')} by {abs(v):g}%"
    )
    version = 2  # v2: the matrix applies in float64, rounding the same on every CPU
    magnitude = Magnitude(
        "saturation_pct", unit="%", off=0.0, mild=-10.0, severe=-100.0, limits=(-100.0, 300.0)
    )

    def matrix(self, value: float) -> npt.NDArray[np.float64]:
        """The matrix s I + (1 - s) 1 w^T, s = 1 + value/100, w the luminance weights."""
        s = 1.0 + value / 100.0
        return s * np.eye(3) + (1.0 - s) * np.outer(np.ones(3), LUMINANCE_WEIGHTS)


@register
class HueRotation(ColourMatrix):
    """A hue shift, as from a wrong colour-correction matrix, a tint error or fading dyes.

    Each linear-light pixel splits into the grey of its own luminance and a chroma vector
    (rgb - Y); the chroma rotates by hue_deg about the axis of the luminance weights, which
    keeps luminance and leaves greys (and single-channel images) unchanged. Positive angles
    turn red towards yellow and green, as hue increases on a colour wheel; 360 degrees is the
    identity and angles add. Degrees are the unit of hue angle; the declared range runs from
    5 degrees (a barely visible tint) to 45 degrees (a badly wrong colour matrix). Out-of-gamut
    results clip.

    Why this range: no published source found measures hue shifts of real photographs (colour
    casts are `white_balance`), so this is a stress test (`stress`): usable in a plan that names
    it, never in a preset.
    """

    name = "image.hue_rotation"
    family = "image.colour"
    phrase = Phrase(lambda v: f"colours shifted in hue by {count(v, 'degree')}")
    stress = True
    version = 2  # v2: the matrix applies in float64, rounding the same on every CPU
    magnitude = Magnitude(
        "hue_deg", unit="degrees", off=0.0, mild=5.0, severe=45.0, limits=(-360.0, 360.0)
    )

    def matrix(self, value: float) -> npt.NDArray[np.float64]:
        """1 w^T + R(value) (I - 1 w^T), R a rotation about the unit luminance-weight axis."""
        k = LUMINANCE_WEIGHTS / np.linalg.norm(LUMINANCE_WEIGHTS)
        angle = math.radians(value)
        cross = np.array([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
        rotation = (
            math.cos(angle) * np.eye(3)
            + math.sin(angle) * cross
            + (1.0 - math.cos(angle)) * np.outer(k, k)
        )
        grey = np.outer(np.ones(3), LUMINANCE_WEIGHTS)
        return grey + rotation @ (np.eye(3) - grey)


@register
class Vignetting(ImagePerturbation):
    """Darkened corners, as from a wide-angle or fast lens used wide open without correction.

    Natural vignetting follows the cos**4 law: light arriving at field angle theta is scaled by
    cos(theta)**4. The field angle of the corners is chosen so that they lose corner_falloff_ev
    stops; a pixel at normalised radius r (distance from the image centre over the half
    diagonal, so the corners are at r = 1 at any resolution and aspect ratio) sits at
    tan(theta) = r tan(theta_corner) and is scaled, in linear light, by
    cos(theta)**4 = 1 / (1 + r**2 tan(theta_corner)**2)**2. The centre is unchanged.
    In EV (stops) as lens reviews quote vignetting; the declared range runs from 0.3 EV (a
    corrected zoom) to 3 EV (a fast wide lens wide open on a full-frame sensor, or an
    uncorrected phone camera module).

    Why this range: LensTip's lens reviews measure the corner brightness loss of uncorrected
    images and span it: on full frame the Nikkor AF-S 28 mm f/1.4E loses 0.30 EV at f/5.6 (the
    mild end, 0.3 EV) and 2.18 EV wide open, and the Canon EF 50 mm f/1.4 USM 3.7 EV wide open
    (Starczewski 2009, "Canon EF 50 mm f/1.4 USM", LensTip), beyond the severe end (3 EV). The
    range is that of images saved without a lens-profile correction.
    """

    name = "image.vignetting"
    family = "image.exposure"
    phrase = Phrase(lambda v: f"corners darkened by {count(v, 'stop')}")
    version = 2
    stochastic = False
    magnitude = Magnitude(
        "corner_falloff_ev", unit="EV", off=0.0, mild=0.3, severe=3.0, limits=(0.0, 10.0)
    )

    def apply(self, x: Batch, value: float, rngs: Rngs, context: DataContext) -> Batch:
        """Multiply linear light by the cos**4 falloff whose corner value is 2**-value."""
        h, w = x.shape[1:3]
        yy = (np.arange(h, dtype=np.float64) + 0.5 - h / 2) ** 2
        xx = (np.arange(w, dtype=np.float64) + 0.5 - w / 2) ** 2
        r2 = (yy[:, None] + xx[None, :]) / ((h / 2) ** 2 + (w / 2) ** 2)
        tan2_corner = 2.0 ** (value / 2.0) - 1.0  # cos(theta_corner)**4 = 2**-value
        gain = (1.0 / (1.0 + r2 * tan2_corner) ** 2).astype(np.float32)
        gains = np.repeat(gain[:, :, None], colour_channels(x), axis=2)

        def darken(i: int, linear: npt.NDArray[Any]) -> npt.NDArray[Any]:
            depth = cv2.CV_16U if linear.dtype == np.uint16 else cv2.CV_32F
            return np.asarray(cv2.multiply(linear, gains, dtype=depth))

        return in_linear_light(x, darken, scale_free=True)


def gaussian_shot_noise(
    linear: FloatImages,
    variance_per_signal: float,
    normals: FloatImages,
    variance_floor: float = 0.0,
) -> FloatImages:
    """Add noise of variance `variance_per_signal` * signal + `variance_floor` to linear values.

    The first term is photon shot noise, the second signal-independent noise such as read
    noise (both in full-scale units). Poisson counts are approximated by a Gaussian of the same
    mean and variance, scaling standard normal draws fixed in advance (common random numbers:
    a larger variance moves every value further the same way). The approximation is close from
    about 10 photons up; below, where a Poisson count is skewed, values that would fall under 0
    clip to black, which lowers the variance there. Modifies and returns `linear`.
    """
    variance = np.maximum(linear, np.float32(0.0)) * np.float32(variance_per_signal)
    if variance_floor:
        variance += np.float32(variance_floor)
    linear += np.sqrt(variance) * normals
    return linear


# Full-well capacity of a small-sensor pixel (1.4-2 um, phones and compacts), in electrons:
# the photons a full-scale white pixel collects at base ISO.
BASE_FULL_SCALE_PHOTONS = 10_000.0


@register
class LowLight(ImagePerturbation):
    """An underexposed shot in dim light: a darker image with the photon noise of fewer photons.

    The sensor collects 2**exposure_ev times the photons of a normal exposure (full scale =
    full_scale_photons electrons, default 10,000, a small-sensor pixel's full well) and the
    image is left dark, as a camera at fixed ISO records it; `image.iso_noise` models the
    pushed (amplified) alternative. Linear light s becomes s * g (g = 2**exposure_ev) plus
    Gaussian-approximated Poisson noise (see `gaussian_shot_noise`). The input counts as a
    normal exposure that already holds the shot noise of s * full_scale_photons photons, whose
    scaled variance g**2 s / N is part of the dark image's s g / N: the added variance is
    s g (1 - g) / N, which vanishes at 0 EV. Noise draws are one standard normal per pixel and
    colour channel of each image, fixed whatever the exposure.

    In EV because each stop halves the light; the declared range runs from -0.5 EV to -4 EV
    (indoors at night without a flash or a longer exposure).

    Why this range: real photographs fall short of a correct exposure by the whole range and
    more. Afifi et al. (2021, "Learning Multi-Scale Photo Exposure Correction", CVPR) emulate
    the exposure errors of ordinary photographs at -1 and -1.5 EV (around the mild end, -0.5
    EV); the See-in-the-Dark data set (Chen et al. 2018, "Learning to See in the Dark", CVPR)
    pairs real short exposures of 1/30 to 1/10 s, taken indoors at 0.03-0.3 lux and outdoors at
    0.2-5 lux, with references exposed 100 to 300 times longer, that is 6.6 to 8.2 EV darker
    than the reference, beyond the severe end (-4 EV).
    """

    name = "image.low_light"
    family = "image.exposure"
    phrase = Phrase(lambda v: f"shots in dim light, {count(abs(v), 'stop')} too dark")
    version = 2
    stochastic = True
    magnitude = Magnitude(
        "exposure_ev", unit="EV", off=0.0, mild=-0.5, severe=-4.0, limits=(-12.0, 0.0)
    )

    def __init__(self, *, full_scale_photons: float = BASE_FULL_SCALE_PHOTONS) -> None:
        self.full_scale_photons = check_number(
            self.name, "full_scale_photons", full_scale_photons, unit="photons", low=1.0, high=1e9
        )

    def apply(self, x: Batch, value: float, rngs: Rngs, context: DataContext) -> Batch:
        """Scale linear light by 2**value and add the matching extra shot noise."""
        g = 2.0**value
        shape = (*x.shape[1:3], colour_channels(x))

        def darken(i: int, linear: FloatImages) -> FloatImages:
            normals = rngs[i].standard_normal(shape, dtype=np.float32)
            dark = linear * np.float32(g)
            return gaussian_shot_noise(dark, (1.0 - g) / self.full_scale_photons, normals)

        return in_linear_light(x, darken)
