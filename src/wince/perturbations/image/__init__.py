"""Image perturbations: batches (n, height, width, channels), uint8 [0, 255] or float32 [0, 1].

Modules: `base` (batch checks, conversions, tone curves, distances), `lighting` (exposure and
colour), `sensor` (noise and pixel defects), `optics` (blur, lens distortion, chromatic
aberration), `framing` (rotation, translation, zoom, perspective), `pipeline` (codecs,
rescaling, bit depth) and `environment` (haze, occlusion). Importing the package registers
them all.
"""

from wince.perturbations.image import environment, framing, lighting, optics, pipeline, sensor
from wince.perturbations.image.base import (
    ImagePerturbation,
    check_images,
    colour_channels,
    from_float,
    linear_to_srgb,
    mean_absolute_difference,
    psnr_db,
    size_px,
    srgb_to_linear,
    ssim,
    to_float,
    tone_map,
)

__all__ = [
    "ImagePerturbation",
    "check_images",
    "colour_channels",
    "environment",
    "framing",
    "from_float",
    "lighting",
    "linear_to_srgb",
    "mean_absolute_difference",
    "optics",
    "pipeline",
    "psnr_db",
    "sensor",
    "size_px",
    "srgb_to_linear",
    "ssim",
    "to_float",
    "tone_map",
]
