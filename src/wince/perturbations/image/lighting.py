"""Lighting and colour: exposure, contrast, gamma, white balance, saturation, hue, vignetting."""

from __future__ import annotations

from wince.perturbations.base import Batch, DataContext, Magnitude, Rngs, register
from wince.perturbations.image.base import (
    ImagePerturbation,
    linear_to_srgb,
    srgb_to_linear,
    tone_map,
)


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
        return tone_map(x, lambda v: linear_to_srgb(srgb_to_linear(v) * gain))
