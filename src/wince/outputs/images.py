"""What the image output kinds share: pairing outputs per image, and a canvas to draw on.

Detection and segmentation outputs come one per image and are drawn on their image for the
report's worst cases.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from wince.errors import DataError, ModelError

RgbImage = npt.NDArray[np.uint8]


def rgb_canvas(image: npt.NDArray[Any]) -> RgbImage:
    """A fresh (h, w, 3) uint8 RGB copy of `image`, to draw on.

    Args:
        image: (h, w), (h, w, 1) or (h, w, 3); uint8 levels 0-255, or floats in [0, 1]
            (clipped to that range, then rounded to the nearest level). Grey images are
            repeated over the three channels.

    Raises:
        DataError: another shape, or a dtype that is neither uint8 nor floating point.
    """
    array = np.asarray(image)
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] not in (1, 3):
        raise DataError(
            f"an image to draw on is (h, w), (h, w, 1) or (h, w, 3); got shape {array.shape}."
        )
    if array.dtype == np.uint8:
        levels = array
    elif np.issubdtype(array.dtype, np.floating):
        levels = np.rint(np.clip(array, 0.0, 1.0) * 255.0).astype(np.uint8)
    else:
        raise DataError(
            f"an image to draw on holds uint8 levels or floats in [0, 1]; got dtype {array.dtype}."
        )
    canvas: RgbImage = np.array(np.broadcast_to(levels, (*levels.shape[:2], 3)), dtype=np.uint8)
    return canvas


def check_paired(counts: tuple[int, int], names: tuple[str, str], outputs: str) -> None:
    """Raise unless two sequences of per-image outputs have one entry per image each.

    Example: `check_paired((3, 2), ("clean", "perturbed"), "masks")` raises `ModelError`.
    """
    if counts[0] != counts[1]:
        raise ModelError(
            f"got {counts[0]} {names[0]} and {counts[1]} {names[1]} {outputs}; they pair image "
            "by image, so give one of each per image."
        )
