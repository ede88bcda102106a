"""The foreground of an image on a plain background, for aligning its subject before a model.

Centring a subject on the centre of mass of its grey levels works only for bright subjects on
a dark ground (a white digit on black): on dark text on white paper the mass is the paper's,
and its centre stays at the frame's centre wherever the text is. `foreground_weights` weighs
each pixel by how far its tone lies from the background's, the tone of most of the image's
border, whichever of the two is the brighter; where the border has no majority tone (a
photograph) or nothing stands out from it (a blank or faded image), there is no honest centre
and it returns None.

Examples:
    >>> import numpy as np
    >>> page = np.full((20, 30), 255, dtype=np.uint8)
    >>> page[4:8, 20:26] = 0  # dark text in the upper right
    >>> weights = foreground_weights(page)
    >>> ys, xs = np.nonzero(weights)
    >>> float(xs.mean()), float(ys.mean())
    (22.5, 5.5)
    >>> foreground_weights(np.full((20, 30), 128, dtype=np.uint8)) is None
    True
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from wince.errors import DataError

# A pixel within this distance of the background's tone (a fraction of full scale) is
# background: paper grain, sensor noise and JPEG ringing stay below it.
BACKGROUND_TOLERANCE = 0.1
# The border is a plain background when at least this share of its pixels lies within
# `BACKGROUND_TOLERANCE` of their median tone.
PLAIN_BORDER_SHARE = 0.5
# The subject stands out when its strongest pixels differ from the background by at least
# this fraction of full scale (faint pencil on paper is about 0.3).
MIN_CONTRAST = 0.25


def _grey_levels(image: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
    """The mean of an image's colour channels (h, w) as a fraction of full scale, in [0, 1].

    `image` is (h, w), (h, w, 1), (h, w, 3) or (h, w, 4) (alpha ignored), uint8 levels or
    floats in [0, 1].

    Raises:
        DataError: another shape, or float values outside [0, 1].
    """
    values = np.asarray(image)
    if values.ndim == 3 and values.shape[2] in (1, 3, 4):
        values = values[..., : 3 if values.shape[2] == 4 else values.shape[2]].mean(axis=2)
    if values.ndim != 2 or min(values.shape, default=0) < 2:
        raise DataError(
            f"foreground_weights: one image of shape (h, w) or (h, w, channels) with 1, 3 or 4 "
            f"channels and sides of at least 2 px is needed; got shape {np.shape(image)}. "
            "Pass the images of a batch one at a time: images[i]."
        )
    if np.asarray(image).dtype == np.uint8:
        return values.astype(np.float64) / 255.0
    grey = values.astype(np.float64)
    if not (grey.min() >= 0.0 and grey.max() <= 1.0):
        raise DataError(
            f"foreground_weights: float images must lie in [0, 1]; got values in "
            f"[{grey.min():g}, {grey.max():g}]. Divide 0-255 levels by 255 (or pass uint8)."
        )
    return grey


def foreground_weights(image: npt.NDArray[Any]) -> npt.NDArray[np.float64] | None:
    """How much each pixel (h, w) belongs to the subject: 0 for background, up to 0.9.

    The background is the median tone of the border pixels, if at least half of them lie
    within `BACKGROUND_TOLERANCE` of it; a pixel's weight is its distance from that tone beyond
    the tolerance, so dark subjects on light grounds and light subjects on dark grounds weigh
    alike. Image moments of the weights (`cv2.moments`) give the subject's centre and axis.

    Returns:
        The weights, or None when they cannot be told honestly: the border has no majority
        tone (no plain background), or no pixel differs from it by `MIN_CONTRAST` (too faint
        a subject, or none).

    Raises:
        DataError: `image` is not one image of uint8 levels or floats in [0, 1].
    """
    grey = _grey_levels(image)
    border = np.concatenate([grey[0], grey[-1], grey[1:-1, 0], grey[1:-1, -1]])
    background = float(np.median(border))
    plain = np.abs(border - background) <= BACKGROUND_TOLERANCE
    if plain.mean() < PLAIN_BORDER_SHARE:
        return None
    distance = np.abs(grey - background)
    if distance.max() < MIN_CONTRAST:
        return None
    weights: npt.NDArray[np.float64] = np.maximum(distance - BACKGROUND_TOLERANCE, 0.0)
    return weights
