"""Labels in pixel coordinates moved with the pixels: boxes, masks and keypoints.

A perturbation that `moves_pixels` hands back, per image, its source map (`apply_moving`):
the source position (x, y) of every output pixel, in float64 before the 1/32-px rounding of
the pixels' remap, computed from the same draw as the pixels. Every label moves through that
one map, whatever the perturbation (affine, homography, lens distortion, elastic field):

- masks, (h, w) integer class maps: each output pixel takes the class of the source pixel
  nearest its source position (nearest neighbour through the pixels' inverse map); pixels
  whose source lies outside the image get the fill class (`mask_fill`, an ignore index).
- boxes (`Detections`): a box's transformed region is the set of output pixels whose source
  position lies inside the box; the new box is the bounding box of those pixels, so it is
  clipped to the image by construction, exact for whole-pixel boxes under whole-pixel moves
  and within half a pixel a side otherwise (the region is rasterised at pixel centres). A box
  none of whose region any output pixel shows is dropped with its score and class.
- keypoints, (m, 2) float64 x, y: forward-mapped by searching the inverse map: the output
  pixel whose source position is nearest the keypoint, then one Newton step with the map's
  local Jacobian (central differences), exact for affine maps and within a small fraction of
  a pixel for smooth ones. A keypoint that lands outside the image becomes NaN.

Coordinates: boxes and keypoints are in the continuous image plane, the image covering
[0, width] x [0, height] with pixel (column i, row j) covering [i, i + 1] x [j, j + 1] (the
COCO and torchvision convention); source maps put pixel centres at whole numbers, so the two
differ by half a pixel.

Photometric steps (and every step of another modality) leave labels alone: the same objects
come back.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from wince.errors import DataError
from wince.outputs import Detections
from wince.perturbations.base import Batch, DataContext, Step, build, step_streams

if TYPE_CHECKING:
    from wince.perturbations.image.geometry import SourceMap

# Pixel centres sit at whole numbers in source maps, at half-integers in label coordinates.
_CENTRE = 0.5


def compose_with_targets(
    x: Batch,
    steps: Sequence[Step],
    *,
    seed: int,
    trial: int,
    keys: npt.NDArray[np.uint64],
    context: DataContext,
    targets: Sequence[Any],
    mask_fill: int = 255,
) -> tuple[Batch, list[Any]]:
    """`compose`, moving each sample's label in pixel coordinates with its pixels.

    The batch is `compose`'s with the same arguments, bit for bit. Each step that moves pixels
    (`Perturbation.moves_pixels`) moves sample i's target with sample i's own draw; other
    steps leave it unchanged (the same object).

    Args:
        x: the batch, as `compose` takes it.
        steps: the scenario's steps, applied in order.
        seed: the run seed.
        trial: the trial index.
        keys: the samples' keys (`sample_keys`).
        context: the data's context.
        targets: one label per sample: a `Detections`, an (h, w) integer class mask, or (m, 2)
            float64 keypoints (x, y) in pixels (module docstring: coordinates).
        mask_fill: the class of mask pixels whose source lies outside the image (an ignore
            index).

    Raises:
        DataError: a count or kind of targets that does not fit the batch.
    """
    if len(targets) != len(x):
        raise DataError(
            f"compose_with_targets: got {len(targets)} targets for {len(x)} samples; pass one "
            "label per sample (Detections, an (h, w) mask or (m, 2) keypoints)."
        )
    moved = list(targets)
    for step, rngs in step_streams(steps, seed=seed, trial=trial, keys=keys):
        x, sources = build(step).perturb_moving(x, step.value, rngs, context)
        moved = [
            target if source is None else move_target(target, source, mask_fill=mask_fill)
            for target, source in zip(moved, sources, strict=True)
        ]
    return x, moved


def move_target(target: Any, source: SourceMap, *, mask_fill: int = 255) -> Any:
    """One label moved through an image's source map (`move_boxes`, `move_mask`, `move_keypoints`).

    A tuple of labels (an image's ground truth and the model's clean output) moves as a tuple;
    None in it (no ground truth) stays None.

    Raises:
        DataError: not a `Detections`, an integer (h, w) mask of the image's size or (m, 2)
            float keypoints.
    """
    if isinstance(target, tuple):
        return tuple(
            None if t is None else move_target(t, source, mask_fill=mask_fill) for t in target
        )
    if isinstance(target, Detections):
        return move_boxes(target, source)
    array = np.asarray(target)
    if array.ndim == 2 and np.issubdtype(array.dtype, np.integer):
        if array.shape != source[0].shape:
            raise DataError(
                f"a mask of shape {array.shape} for an image of {source[0].shape} (h, w); "
                "masks hold one class per pixel of their image."
            )
        return move_mask(array, source, fill=mask_fill)
    if array.ndim == 2 and array.shape[1] == 2 and np.issubdtype(array.dtype, np.floating):
        return move_keypoints(array, source)
    raise DataError(
        f"cannot move a label of type {type(target).__name__} (shape {array.shape}, dtype "
        f"{array.dtype}) with the pixels: pass Detections, an (h, w) integer mask or (m, 2) "
        "float64 keypoints (x, y)."
    )


def move_mask(
    mask: npt.NDArray[np.integer[Any]], source: SourceMap, *, fill: int = 255
) -> npt.NDArray[np.int64]:
    """An (h, w) class mask moved through a source map: nearest source pixel, `fill` outside."""
    source_x, source_y = source
    h, w = mask.shape
    cols = np.rint(source_x)
    rows = np.rint(source_y)
    inside = (cols >= 0) & (cols <= w - 1) & (rows >= 0) & (rows <= h - 1)
    out = np.full(source_x.shape, fill, dtype=np.int64)
    out[inside] = mask[rows[inside].astype(np.intp), cols[inside].astype(np.intp)]
    return out


def move_boxes(detections: Detections, source: SourceMap) -> Detections:
    """Each box as the bounding box of the output pixels showing it; boxes shown by none drop."""
    source_x, source_y = source
    kept: list[int] = []
    boxes: list[list[float]] = []
    for k, (x_min, y_min, x_max, y_max) in enumerate(detections.boxes - _CENTRE):
        shown = (source_x >= x_min) & (source_x <= x_max) & (source_y >= y_min)
        shown &= source_y <= y_max
        cols = np.flatnonzero(shown.any(axis=0))
        rows = np.flatnonzero(shown.any(axis=1))
        if len(cols):
            kept.append(k)
            boxes.append([cols[0], rows[0], cols[-1] + 1.0, rows[-1] + 1.0])
    return Detections(
        np.array(boxes, dtype=np.float64).reshape(-1, 4),
        detections.scores[kept],
        detections.classes[kept],
    )


def move_keypoints(
    points: npt.NDArray[np.floating[Any]], source: SourceMap
) -> npt.NDArray[np.float64]:
    """(m, 2) keypoints (x, y) forward-mapped through a source map; NaN where they leave."""
    source_x, source_y = source
    h, w = source_x.shape
    wanted = np.asarray(points, dtype=np.float64) - _CENTRE
    out = np.full(wanted.shape, np.nan)
    if h < 2 or w < 2:
        return out
    # d(source)/d(output column) and /d(output row), by central differences
    dx_dcol, dx_drow = np.gradient(source_x, axis=1), np.gradient(source_x, axis=0)
    dy_dcol, dy_drow = np.gradient(source_y, axis=1), np.gradient(source_y, axis=0)
    for k, (x, y) in enumerate(wanted):
        if not (np.isfinite(x) and np.isfinite(y)):
            continue
        nearest = np.argmin((source_x - x) ** 2 + (source_y - y) ** 2)
        row, col = divmod(int(nearest), w)
        jacobian = np.array(
            [[dx_dcol[row, col], dx_drow[row, col]], [dy_dcol[row, col], dy_drow[row, col]]]
        )
        determinant = jacobian[0, 0] * jacobian[1, 1] - jacobian[0, 1] * jacobian[1, 0]
        if determinant == 0:
            continue
        rx, ry = x - source_x[row, col], y - source_y[row, col]
        step_col = (jacobian[1, 1] * rx - jacobian[0, 1] * ry) / determinant
        step_row = (jacobian[0, 0] * ry - jacobian[1, 0] * rx) / determinant
        moved = np.array([col + step_col, row + step_row]) + _CENTRE
        if 0.0 <= moved[0] <= w and 0.0 <= moved[1] <= h:
            out[k] = moved
    return out
