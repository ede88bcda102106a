"""Environment: haze / fog, partial occlusion.

Haze follows the atmospheric scattering model in linear light; occlusion hides a share of the
image area under a rectangle drawn per image. Both leave the alpha channel of RGBA images
unchanged.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from wince.errors import ParameterError
from wince.perturbations import arithmetic
from wince.perturbations.base import Batch, DataContext, Magnitude, Rngs, check_choice, register
from wince.perturbations.image.base import (
    ImagePerturbation,
    colour_channels,
    each_image,
    from_float,
    from_linear,
    linear_to_srgb,
    srgb_to_linear,
    to_float,
    to_linear,
    tone_map,
)

DEPTHS = ("flat", "vertical")
FILLS = ("black", "grey", "noise")


@register
class Haze(ImagePerturbation):
    """Haze or fog between camera and scene, as on a misty morning or through smog.

    The atmospheric scattering model (Koschmieder; used by every dehazing method): the camera
    sees I = J t + A (1 - t) in linear light, where J is the scene radiance, A the airlight
    (light scattered towards the camera) and t = exp(-beta d) the share of scene light that
    crosses the air. The magnitude is that share, `transmission_pct` = 100 t, at the scene
    depth: a quantity one can reason about (the scene lies at ln(100 / T) / 3.91 of the
    meteorological visibility, where contrast drops to 2%). The scale is logarithmic because
    the optical depth beta d = -ln t then grows linearly with severity. Light haze passes 90%;
    10% is fog with the scene at 0.6 of the visibility. Everything is done in linear light.

    Args:
        airlight_pct: the colour of the fog, a grey level in percent of full scale in sRGB
            (encoded) values; 80 (sRGB 204), the light grey of daylight fog, by default.
        depth: "flat" (default): the whole scene at one depth, one t for the image. "vertical":
            depth grows linearly from the bottom row to the top row (a ground plane receding
            to the horizon), the optical depth going from 0.5 to 1.5 times the flat one, so
            it matches the flat case on average over rows.

    Raises:
        ParameterError: `airlight_pct` is not a number in [0, 100], or `depth` is unknown.
    """

    name = "image.haze"
    version = 1
    stochastic = False
    magnitude = Magnitude(
        "transmission_pct", unit="% of scene light reaching the camera", off=100.0, mild=90.0,
        severe=10.0, limits=(0.1, 100.0), scale="log",
    )  # fmt: skip

    def __init__(self, *, airlight_pct: float = 80.0, depth: str = "flat") -> None:
        real = int | float | np.integer | np.floating
        number = isinstance(airlight_pct, real) and not isinstance(airlight_pct, bool)
        if not (number and 0.0 <= airlight_pct <= 100.0):
            raise ParameterError(
                f"{self.name}: airlight_pct must be a number of % of full scale in [0, 100]; "
                f"got {airlight_pct!r}. Try airlight_pct=80."
            )
        self.airlight_pct = airlight_pct
        self.depth = check_choice(self.name, "depth", depth, DEPTHS)

    def apply(self, x: Batch, value: float, rngs: Rngs, context: DataContext) -> Batch:
        """Mix every pixel with the airlight by its transmission, in linear light."""
        airlight = float(srgb_to_linear(np.array(self.airlight_pct / 100.0)))
        if self.depth == "flat":
            t = value / 100.0

            def curve(v: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
                return np.asarray(linear_to_srgb(srgb_to_linear(v) * t + airlight * (1 - t)))

            return tone_map(x, curve)
        h = x.shape[1]
        factor = np.linspace(1.5, 0.5, h) if h > 1 else np.ones(1)
        rows = arithmetic.exp(math.log(value / 100.0) * factor).astype(np.float32)[:, None, None]
        veil = np.float32(airlight) * (1.0 - rows)
        return each_image(x, lambda i, image: from_linear(to_linear(image) * rows + veil, x.dtype))


def occluder_size(area_px: float, aspect: float, h: int, w: int) -> tuple[float, float]:
    """Width and height (px) of a rectangle of `area_px` and width/height `aspect` that fits.

    Where the drawn aspect does not fit, the rectangle takes the full width (or height) and
    grows in the other direction. Both sides are non-decreasing in the area, so a larger
    occluder always contains a smaller one of the same draws.
    """
    width = min(max(math.sqrt(area_px * aspect), area_px / h), w)
    if width <= 0:  # a tiny area underflows
        return 0.0, 0.0
    return width, min(area_px / width, h)  # min: area / (area / h) may round above h


def coverage(start: float, length: float, size: int) -> npt.NDArray[np.float32]:
    """Covered share of each pixel along one axis by the interval [start, start + length)."""
    edges = np.arange(size, dtype=np.float64)
    covered = np.minimum(start + length, edges + 1.0) - np.maximum(start, edges)
    share: npt.NDArray[np.float32] = np.clip(covered, 0.0, 1.0).astype(np.float32)
    return share


@register
class Occlusion(ImagePerturbation):
    """Part of the scene hidden, as by a finger over the lens, a sticker or an object in front.

    The magnitude is the hidden share of the image area in percent. The occluder is a
    rectangle whose aspect ratio (log-uniform in [1/3, 3]) and position are drawn per image,
    independently of the area: its corner sits at the drawn fractions (u, v) of the room
    left around it, so it stays inside the image and a larger area grows the same rectangle
    around the smaller one (nested occluders, a smooth sweep). Pixels on its edge are covered
    in proportion to the covered part of the pixel (blended on encoded values), so the hidden
    area equals the request exactly. Random-erasing and cutout augmentations hide 2-40% of an
    image; 1% is a speck, 25% a hand across a corner.

    Args:
        fill: "black" (default; an opaque object in shadow), "grey" (sRGB mid grey) or "noise"
            (independent uniform levels per pixel and channel, drawn per image over the whole
            frame, so they do not depend on the area either).

    Raises:
        ParameterError: `fill` is unknown.
    """

    name = "image.occlusion"
    version = 1
    stochastic = True
    magnitude = Magnitude(
        "area_pct", unit="% of the image area", off=0.0, mild=1.0, severe=25.0,
        limits=(0.0, 100.0),
    )  # fmt: skip

    def __init__(self, *, fill: str = "black") -> None:
        self.fill = check_choice(self.name, "fill", fill, FILLS)

    def apply(self, x: Batch, value: float, rngs: Rngs, context: DataContext) -> Batch:
        """Blend a drawn rectangle of value% of the area with the fill, per image."""
        h, w = x.shape[1:3]
        c = colour_channels(x)
        draws = rngs.random((3,))
        area = value / 100.0 * h * w
        out = x.copy()
        for i, (aspect_draw, u, v) in enumerate(draws):
            width, height = occluder_size(area, 3.0 ** (2.0 * aspect_draw - 1.0), h, w)
            left, top = u * (w - width), v * (h - height)
            rows = slice(math.floor(top), min(h, math.ceil(top + height)))
            cols = slice(math.floor(left), min(w, math.ceil(left + width)))
            share = (
                coverage(top - rows.start, height, rows.stop - rows.start)[:, None, None]
                * coverage(left - cols.start, width, cols.stop - cols.start)[None, :, None]
            )
            if self.fill == "noise":
                levels = rngs[i].integers(0, 256, size=(h, w, c), dtype=np.uint8)
                fill: npt.NDArray[np.float32] | np.float32 = to_float(levels[rows, cols])
            else:
                fill = np.float32(0.0 if self.fill == "black" else 0.5)
            region = to_float(x[i, rows, cols, :c])
            out[i, rows, cols, :c] = from_float(region + share * (fill - region), x.dtype)
        return out
