"""Segmentation outputs: per-image and per-class IoU, changed pixels, overlays.

A mask is the plain form of `wince.outputs`: an (h, w) integer array holding the class of each
pixel. Masks of different images may differ in size; a mask and the one it is compared with
must not. Every per-image value depends on that image alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from wince.errors import ModelError, ParameterError
from wince.outputs.images import RgbImage, check_paired, rgb_canvas

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

# Pixels whose class changed, in `changed_pixels_overlay` (magenta: no class of the palette).
CHANGED_COLOUR = (255, 0, 255)


def _voc_palette() -> npt.NDArray[np.uint8]:
    """PASCAL VOC's colour map: class 0 black, 1 dark red, 2 dark green, ... for 256 classes."""
    classes = np.arange(256)
    palette = np.zeros((256, 3), dtype=np.int64)
    for bit in range(8):
        for channel in range(3):
            palette[:, channel] |= ((classes >> (3 * bit + channel)) & 1) << (7 - bit)
    return palette.astype(np.uint8)


# The colour of class c in `overlay_mask` is PALETTE[c % 256].
PALETTE = _voc_palette()


def mean_iou(
    predicted: Sequence[npt.ArrayLike],
    truth: Sequence[npt.ArrayLike],
    *,
    ignore_index: int | None = None,
) -> FloatArray:
    """Each image's IoU of its predicted and true mask, averaged over its classes.

    Per class c, IoU = |predicted c and true c| / |predicted c or true c| in pixels; the
    mean runs over the classes present in that image's prediction or truth.

    Args:
        predicted: one (h, w) integer mask per image.
        truth: the (h, w) true mask of the same images, in the same order.
        ignore_index: a true class whose pixels count for nothing (unlabelled pixels).

    Returns:
        (n,) float64 in [0, 1]; 1 for an image with no pixel left (empty, or all ignored).

    Raises:
        ModelError: the sequences differ in length, a mask is not a 2-D integer array, or a
            predicted mask's shape differs from its truth's.
    """
    check_paired((len(predicted), len(truth)), ("predicted", "ground-truth"), "masks")
    scores = np.ones(len(truth))
    for image, (found, expected) in enumerate(zip(predicted, truth, strict=True)):
        _, intersections, unions = _class_overlaps(found, expected, ignore_index)
        if len(unions):
            scores[image] = float(np.mean(intersections / unions))
    return scores


def per_class_iou(
    predicted: Sequence[npt.ArrayLike],
    truth: Sequence[npt.ArrayLike],
    *,
    ignore_index: int | None = None,
) -> dict[int, float]:
    """IoU of each class over a whole set: its summed intersections over its summed unions.

    Args:
        predicted: one (h, w) integer mask per image.
        truth: the (h, w) true mask of the same images, in the same order.
        ignore_index: a true class whose pixels count for nothing.

    Returns:
        IoU in [0, 1] by class, for every class present in some prediction or truth (after
        ignored pixels are dropped), in increasing class order; empty when no pixel is left.

    Raises:
        ModelError: as `mean_iou`.
    """
    check_paired((len(predicted), len(truth)), ("predicted", "ground-truth"), "masks")
    intersections: dict[int, int] = {}
    unions: dict[int, int] = {}
    for found, expected in zip(predicted, truth, strict=True):
        classes, image_intersections, image_unions = _class_overlaps(found, expected, ignore_index)
        for cls, intersection, union in zip(
            classes.tolist(), image_intersections.tolist(), image_unions.tolist(), strict=True
        ):
            intersections[cls] = intersections.get(cls, 0) + intersection
            unions[cls] = unions.get(cls, 0) + union
    return {cls: intersections[cls] / unions[cls] for cls in sorted(unions)}


def pixels_changed(
    clean: Sequence[npt.ArrayLike],
    perturbed: Sequence[npt.ArrayLike],
    *,
    ignore_index: int | None = None,
) -> FloatArray:
    """Each image's share of pixels whose class differs between its clean and perturbed mask.

    Args:
        clean: the clean masks.
        perturbed: the perturbed masks, one per clean one, of its shape.
        ignore_index: a class of the clean masks whose pixels are not counted (those a
            perturbation that moves pixels brought in from outside the image).

    Returns:
        (n,) float64 in [0, 1]; 0 for a mask without counted pixels.

    Raises:
        ModelError: the sequences differ in length, a mask is not a 2-D integer array, or a
            perturbed mask's shape differs from its clean one's.
    """
    check_paired((len(clean), len(perturbed)), ("clean", "perturbed"), "masks")
    shares = np.zeros(len(clean))
    for image, (before, after) in enumerate(zip(clean, perturbed, strict=True)):
        reference, changed = _mask_pair(before, after)
        counted = reference != ignore_index if ignore_index is not None else reference >= 0
        if counted.any():
            shares[image] = float(np.mean(reference[counted] != changed[counted]))
    return shares


def overlay_mask(image: npt.NDArray[Any], mask: npt.ArrayLike, *, alpha: float = 0.5) -> RgbImage:
    """`image` tinted with the colour of each pixel's class (`PALETTE`, PASCAL VOC's colours).

    Each pixel becomes round((1 - alpha) * pixel + alpha * PALETTE[class % 256]) per channel;
    class 0 is black, so a background class 0 only darkens.

    Args:
        image: (h, w), (h, w, 1) or (h, w, 3); uint8, or floats in [0, 1].
        mask: (h, w) integer mask of the same image.
        alpha: weight of the class colour, in [0, 1].

    Returns:
        A new (h, w, 3) uint8 RGB image.

    Raises:
        DataError: `image` has another shape or dtype.
        ModelError: `mask` is not an integer array of the image's height and width.
        ParameterError: `alpha` outside [0, 1].
    """
    canvas = rgb_canvas(image)
    classes = _mask_of_image(mask, canvas)
    return _blend(canvas, np.ones(classes.shape, dtype=bool), PALETTE[classes % 256], alpha)


def changed_pixels_overlay(
    image: npt.NDArray[Any],
    clean_mask: npt.ArrayLike,
    perturbed_mask: npt.ArrayLike,
    *,
    alpha: float = 0.5,
) -> RgbImage:
    """`image` with the pixels whose class changed tinted in `CHANGED_COLOUR` (magenta).

    A changed pixel becomes round((1 - alpha) * pixel + alpha * CHANGED_COLOUR) per channel;
    every other pixel is left as it is.

    Args:
        image: (h, w), (h, w, 1) or (h, w, 3); uint8, or floats in [0, 1].
        clean_mask: (h, w) integer clean mask of that image.
        perturbed_mask: (h, w) integer perturbed mask.
        alpha: weight of the highlight colour, in [0, 1].

    Returns:
        A new (h, w, 3) uint8 RGB image.

    Raises:
        DataError: `image` has another shape or dtype.
        ModelError: a mask is not an integer array of the image's height and width.
        ParameterError: `alpha` outside [0, 1].
    """
    canvas = rgb_canvas(image)
    changed = _mask_of_image(clean_mask, canvas) != _mask_of_image(perturbed_mask, canvas)
    colours = np.broadcast_to(np.array(CHANGED_COLOUR, dtype=np.uint8), canvas.shape)
    return _blend(canvas, changed, colours, alpha)


def _blend(
    canvas: RgbImage, where: npt.NDArray[np.bool_], colours: npt.NDArray[np.uint8], alpha: float
) -> RgbImage:
    """`canvas` with the pixels at `where` moved `alpha` of the way to `colours`, in place."""
    if not 0.0 <= alpha <= 1.0:
        raise ParameterError(f"alpha: the weight of the overlay colour is in [0, 1]; got {alpha}.")
    mixed = (1.0 - alpha) * canvas[where] + alpha * colours[where].astype(np.float64)
    canvas[where] = np.rint(mixed).astype(np.uint8)
    return canvas


def _class_overlaps(
    predicted: npt.ArrayLike, truth: npt.ArrayLike, ignore_index: int | None
) -> tuple[IntArray, IntArray, IntArray]:
    """The classes present in one image, with their intersections and unions in pixels."""
    expected, found = _mask_pair(truth, predicted)
    kept = np.ones(expected.shape, dtype=bool) if ignore_index is None else expected != ignore_index
    expected, found = expected[kept], found[kept]
    classes, codes = np.unique(np.concatenate([expected, found]), return_inverse=True)
    count = len(classes)
    confusion = np.bincount(
        codes[: expected.size] * count + codes[expected.size :], minlength=count * count
    ).reshape(count, count)
    intersections = np.diagonal(confusion)
    unions = confusion.sum(axis=0) + confusion.sum(axis=1) - intersections
    return classes.astype(np.int64), intersections.astype(np.int64), unions.astype(np.int64)


def _mask_pair(reference: npt.ArrayLike, other: npt.ArrayLike) -> tuple[IntArray, IntArray]:
    """Two masks of one image as int64 arrays; their shapes must agree."""
    first, second = _as_mask(reference), _as_mask(other)
    if first.shape != second.shape:
        raise ModelError(
            f"a mask of shape {second.shape} is compared with one of shape {first.shape}: "
            "each output mask must have the height and width of its reference mask."
        )
    return first, second


def _mask_of_image(mask: npt.ArrayLike, canvas: RgbImage) -> IntArray:
    """`mask` as int64, checked against the image it belongs to."""
    classes = _as_mask(mask)
    if classes.shape != canvas.shape[:2]:
        raise ModelError(
            f"a mask of shape {classes.shape} does not fit an image of height and width "
            f"{canvas.shape[:2]}: draw each mask on its own image."
        )
    return classes


def _as_mask(mask: npt.ArrayLike) -> IntArray:
    """An (h, w) integer (or bool) mask as int64."""
    array = np.asarray(mask)
    if array.ndim != 2 or not (np.issubdtype(array.dtype, np.integer) or array.dtype == np.bool_):
        raise ModelError(
            "a segmentation mask is an (h, w) integer array of class indices; got shape "
            f"{array.shape} and dtype {array.dtype}."
        )
    return array.astype(np.int64)
