"""Sensor noise: Gaussian read noise, shot (Poisson) noise, ISO noise, dead and hot pixels."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from wince.perturbations.base import Batch, DataContext, Magnitude, Rngs, register
from wince.perturbations.image.base import (
    ImagePerturbation,
    colour_channels,
    from_float,
    to_float,
)


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
        "noise_sd_pct",
        unit="% of full scale",
        off=0.0,
        mild=1.0,
        severe=8.0,
        limits=(0.0, 100.0),
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
