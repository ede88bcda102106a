"""Detection outputs: object matching, error modes, accuracy against ground truth, COCO mAP.

Every function takes the plain form `Detections` (boxes `x_min, y_min, x_max, y_max` in
pixels, scores, int classes) per image, pairs images by position, and gives each image a
value that depends on that image alone. Objects are matched one to one by COCO's greedy rule
(`match`); the error modes between a clean and a perturbed output are:

- lost: a clean object that no perturbed object of its class overlaps enough;
- gained: a perturbed object that matches no clean object of its class;
- class changed: a lost object whose box is found again under another class;
- box drift: how far the matched boxes moved, as 1 - IoU.

Filter low-score detections before calling these (except `mean_average_precision`, which
ranks by score itself): every object passed in counts.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from wince.errors import ParameterError
from wince.outputs import Detections
from wince.outputs.images import RgbImage, check_paired, rgb_canvas

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

# COCO's IoU thresholds of each mAP wince reports, by metric name (COCO's own linspace, so
# the floats equal pycocotools' defaults).
IOU_THRESHOLDS: dict[str, tuple[float, ...]] = {
    "map_50": (0.5,),
    "map_50_95": tuple(float(t) for t in np.linspace(0.5, 0.95, 10)),
}
# COCO's limit of detections per image and class that mAP ranks.
MAX_DETECTIONS = 100

# Okabe-Ito colours (readable under colour-vision deficiencies): clean blue, perturbed orange.
CLEAN_COLOUR = (0, 114, 178)
PERTURBED_COLOUR = (230, 159, 0)
LINE_PX = 2
DASH_PX = 4
LABEL_FONT = cv2.FONT_HERSHEY_PLAIN
LABEL_SCALE = 0.8


def box_iou(a: npt.ArrayLike, b: npt.ArrayLike) -> FloatArray:
    """Intersection over union of every box of `a` with every box of `b`.

    Args:
        a: (m, 4) boxes `x_min, y_min, x_max, y_max` in pixels.
        b: (k, 4) boxes, same convention.

    Returns:
        (m, k) float64 IoU in [0, 1]. A zero-area box (x_max == x_min or y_max == y_min) has
        no area to share: its IoU with any box, itself included, is 0 (as in pycocotools).
    """
    first = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    second = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    width = np.minimum(first[:, None, 2], second[None, :, 2]) - np.maximum(
        first[:, None, 0], second[None, :, 0]
    )
    height = np.minimum(first[:, None, 3], second[None, :, 3]) - np.maximum(
        first[:, None, 1], second[None, :, 1]
    )
    intersection = np.clip(width, 0.0, None) * np.clip(height, 0.0, None)
    union = _area(first)[:, None] + _area(second)[None, :] - intersection
    iou: FloatArray = np.divide(
        intersection, union, out=np.zeros_like(intersection), where=union > 0
    )
    return iou


def match(
    reference: Detections,
    candidate: Detections,
    *,
    iou_threshold: float = 0.5,
    same_class: bool = True,
) -> tuple[IntArray, FloatArray]:
    """Match the objects of `candidate` one to one to those of `reference` (COCO's rule).

    Candidates are taken by descending score (equal scores: lower index first); each takes
    the free reference object it overlaps most (equal IoU: lower index first), provided that
    IoU is at least `iou_threshold` and, with `same_class`, the classes agree. A candidate
    with no such free reference stays unmatched, and a taken reference is not offered again.
    (COCOeval gives an IoU tie to the later reference; ties of real boxes are rare.)

    Args:
        reference: the objects to find (ground truth, or the clean output).
        candidate: the objects found (a prediction, or the perturbed output).
        iou_threshold: least IoU of a match, in (0, 1].
        same_class: only objects of the same class match.

    Returns:
        `pairs`, a (p, 2) int64 array of `(reference index, candidate index)` in matching
        order, and `ious`, the (p,) IoU of each pair.

    Raises:
        ParameterError: `iou_threshold` outside (0, 1].
    """
    _check_iou_threshold(iou_threshold, "iou_threshold")
    ious = box_iou(candidate.boxes, reference.boxes)
    eligible = ious >= iou_threshold
    if same_class:
        eligible &= candidate.classes[:, None] == reference.classes[None, :]
    free = np.ones(len(reference), dtype=bool)
    pairs: list[tuple[int, int]] = []
    for found in np.argsort(-candidate.scores, kind="stable"):
        offered = np.where(eligible[found] & free, ious[found], -1.0)
        if not offered.size or offered.max() < 0.0:
            continue
        taken = int(np.argmax(offered))
        free[taken] = False
        pairs.append((taken, int(found)))
    pair_array = np.array(pairs, dtype=np.int64).reshape(-1, 2)
    return pair_array, ious[pair_array[:, 1], pair_array[:, 0]]


def detection_changes(
    clean: Sequence[Detections],
    perturbed: Sequence[Detections],
    *,
    iou_threshold: float = 0.5,
) -> dict[str, FloatArray]:
    """The error modes of each image's perturbed output against its clean output.

    Args:
        clean: one clean (baseline) output per image.
        perturbed: the perturbed output of the same images, in the same order.
        iou_threshold: least IoU of a match, in (0, 1] (see `match`).

    Returns:
        (n,) float64 arrays, one value per image:

        - `objects_lost`: share in [0, 1] of clean objects with no same-class match; 0 when
          the clean output has no object.
        - `objects_gained`: count (>= 0) of perturbed objects with no same-class match.
        - `class_changed`: share in [0, 1] of clean objects with no same-class match that an
          unmatched perturbed object of another class overlaps by at least `iou_threshold`
          (matched one to one among the unmatched objects); a subset of `objects_lost`, and
          its perturbed objects count in `objects_gained`. 0 with no clean object.
        - `box_drift`: 1 - mean IoU, in [0, 1 - iou_threshold], of the same-class matches;
          0 when nothing matched.

    Raises:
        ModelError: the two sequences differ in length.
        ParameterError: `iou_threshold` outside (0, 1].
    """
    check_paired((len(clean), len(perturbed)), ("clean", "perturbed"), "detection outputs")
    changes = {
        name: np.zeros(len(clean))
        for name in ("objects_lost", "objects_gained", "class_changed", "box_drift")
    }
    for image, (before, after) in enumerate(zip(clean, perturbed, strict=True)):
        pairs, ious = match(before, after, iou_threshold=iou_threshold)
        lost = np.setdiff1d(np.arange(len(before)), pairs[:, 0])
        unmatched = np.setdiff1d(np.arange(len(after)), pairs[:, 1])
        relabelled, _ = match(
            _subset(before, lost),
            _subset(after, unmatched),
            iou_threshold=iou_threshold,
            same_class=False,
        )
        if len(before):
            changes["objects_lost"][image] = len(lost) / len(before)
            changes["class_changed"][image] = len(relabelled) / len(before)
        changes["objects_gained"][image] = len(unmatched)
        if len(ious):
            changes["box_drift"][image] = 1.0 - float(ious.mean())
    return changes


def detection_accuracy(
    predicted: Sequence[Detections],
    truth: Sequence[Detections],
    *,
    iou_threshold: float = 0.5,
    score_threshold: float = 0.0,
) -> dict[str, FloatArray]:
    """Recall and precision of each image's prediction against its ground truth.

    Predictions scoring below `score_threshold` are dropped first; the rest are matched to
    the ground truth by `match` (same class, IoU >= `iou_threshold`).

    Args:
        predicted: one output per image.
        truth: the ground truth of the same images, in the same order.
        iou_threshold: least IoU of a match, in (0, 1].
        score_threshold: least score of a kept prediction, in [0, 1].

    Returns:
        (n,) float64 arrays in [0, 1], one value per image: `recall`, the share of
        ground-truth objects found (1 when the image has none), and `precision`, the share of
        kept predictions that match one (1 when none is kept).

    Raises:
        ModelError: the two sequences differ in length.
        ParameterError: `iou_threshold` outside (0, 1].
    """
    check_paired((len(predicted), len(truth)), ("predicted", "ground-truth"), "detection outputs")
    recall = np.ones(len(truth))
    precision = np.ones(len(truth))
    for image, (found, expected) in enumerate(zip(predicted, truth, strict=True)):
        kept = _subset(found, np.flatnonzero(found.scores >= score_threshold))
        pairs, _ = match(expected, kept, iou_threshold=iou_threshold)
        if len(expected):
            recall[image] = len(pairs) / len(expected)
        if len(kept):
            precision[image] = len(pairs) / len(kept)
    return {"recall": recall, "precision": precision}


def mean_average_precision(
    predicted: Sequence[Detections],
    truth: Sequence[Detections],
    *,
    iou_thresholds: Sequence[float] = IOU_THRESHOLDS["map_50"],
) -> float:
    """COCO mean average precision of a set of images, through pycocotools' `COCOeval`.

    COCO's bbox evaluation with every object size and at most `MAX_DETECTIONS` detections
    per image and class (the highest-scoring): per class and threshold, precision is read
    at 101 recall points (0, 0.01, ..., 1) from the running maximum of precision over the
    predictions ranked by score, and averaged; the mean over the classes that have ground
    truth and over `iou_thresholds` is the result. Classes only predicted are ignored.
    pycocotools takes boxes as `x, y, width, height` with width = x_max - x_min (no +1).

    Args:
        predicted: one output per image.
        truth: the ground truth of the same images, in the same order.
        iou_thresholds: each in (0, 1]; `IOU_THRESHOLDS["map_50_95"]` for COCO's
            mAP@[.5:.95].

    Returns:
        mAP in [0, 1]. With no ground-truth object in any image: 1 if nothing is predicted
        either, else 0.

    Raises:
        ModelError: the two sequences differ in length.
        ParameterError: a threshold outside (0, 1], or none.
        ImportError: pycocotools is not installed (`pip install 'wince[detection]'`).
    """
    precision = _coco_precision(predicted, truth, iou_thresholds)
    if precision is None:
        return 1.0 if all(len(found) == 0 for found in predicted) else 0.0
    return float(precision.mean())


def per_class_average_precision(
    predicted: Sequence[Detections], truth: Sequence[Detections]
) -> dict[int, float]:
    """COCO average precision at IoU 0.5 of each class that has ground truth.

    Same evaluation as `mean_average_precision` (whose mean over these values it is).

    Args:
        predicted: one output per image.
        truth: the ground truth of the same images, in the same order.

    Returns:
        AP in [0, 1] by class index, in increasing class order; empty with no ground truth.

    Raises:
        ModelError: the two sequences differ in length.
        ImportError: pycocotools is not installed (`pip install 'wince[detection]'`).
    """
    precision = _coco_precision(predicted, truth, IOU_THRESHOLDS["map_50"])
    if precision is None:
        return {}
    classes = np.unique(np.concatenate([expected.classes for expected in truth]))
    return {int(cls): float(precision[0, :, column].mean()) for column, cls in enumerate(classes)}


def draw_detections(
    image: npt.NDArray[Any],
    clean: Detections,
    perturbed: Detections,
    *,
    class_names: Sequence[str] | None = None,
    iou_threshold: float = 0.5,
) -> RgbImage:
    """One image with its clean and perturbed objects drawn, for the report's worst cases.

    Clean boxes are blue (`CLEAN_COLOUR`), perturbed boxes orange (`PERTURBED_COLOUR`),
    drawn on top; each outline is `LINE_PX` pixels thick, inside the pixels the box covers
    (columns floor(x_min) to ceil(x_max) - 1, rows likewise; clipped to the image). A solid
    outline is an object found in both outputs (same-class `match`); a dashed one (dashes of
    `DASH_PX` pixels) an unmatched object: a dashed blue box is a lost object, a dashed orange
    one a gained object. Blue and orange dashes fill each other's gaps, so a class change
    shows as one box of alternating blue and orange dashes. Each box is labelled with its
    class name (or index) in antialiased text of the box's colour: a clean box above its
    top-left corner, a perturbed box below its bottom-left corner (inside the box where the
    image ends). Every other pixel is left as it is.

    Args:
        image: (h, w), (h, w, 1) or (h, w, 3); uint8, or floats in [0, 1].
        clean: the clean output of that image.
        perturbed: its perturbed output.
        class_names: name of each class index; default the index. Non-ASCII letters are
            drawn as `?`.
        iou_threshold: least IoU of a match, in (0, 1].

    Returns:
        A new (h, w, 3) uint8 RGB image.

    Raises:
        DataError: `image` has another shape or dtype.
        ParameterError: `iou_threshold` outside (0, 1].
    """
    canvas = rgb_canvas(image)
    pairs, _ = match(clean, perturbed, iou_threshold=iou_threshold)
    for objects, matched, colour, dash_phase, label_below in (
        (clean, pairs[:, 0], CLEAN_COLOUR, 0, False),
        (perturbed, pairs[:, 1], PERTURBED_COLOUR, 1, True),
    ):
        for index, (box, cls) in enumerate(zip(objects.boxes, objects.classes, strict=True)):
            _draw_box(
                canvas,
                box,
                colour,
                dash_phase=None if index in matched else dash_phase,
                label=str(cls) if class_names is None else class_names[int(cls)],
                label_below=label_below,
            )
    return canvas


def _draw_box(
    canvas: RgbImage,
    box: FloatArray,
    colour: tuple[int, int, int],
    *,
    dash_phase: int | None,
    label: str,
    label_below: bool,
) -> None:
    """Paint one box's outline (solid, or dashes of phase 0 or 1) and label onto `canvas`."""
    height, width = canvas.shape[:2]
    left, top = int(np.floor(box[0])), int(np.floor(box[1]))
    right = max(left, int(np.ceil(box[2])) - 1)
    bottom = max(top, int(np.ceil(box[3])) - 1)
    if left >= width or top >= height or right < 0 or bottom < 0:
        return
    rows = np.arange(height)[:, None]
    columns = np.arange(width)[None, :]
    covered = (rows >= top) & (rows <= bottom) & (columns >= left) & (columns <= right)
    interior = (
        (rows >= top + LINE_PX)
        & (rows <= bottom - LINE_PX)
        & (columns >= left + LINE_PX)
        & (columns <= right - LINE_PX)
    )
    outline = covered & ~interior
    if dash_phase is not None:
        outline &= (rows + columns) // DASH_PX % 2 == dash_phase
    canvas[outline] = colour
    text = label.encode("ascii", "replace").decode("ascii")
    (_, text_height), _ = cv2.getTextSize(text, LABEL_FONT, LABEL_SCALE, 1)
    if label_below:
        outside = bottom + 2 + text_height < height
        baseline = bottom + 2 + text_height if outside else bottom - LINE_PX - 1
    else:
        outside = top - 2 - text_height >= 0
        baseline = top - 2 if outside else top + LINE_PX + 1 + text_height
    cv2.putText(
        canvas, text, (max(left, 0), baseline), LABEL_FONT, LABEL_SCALE, colour, 1, cv2.LINE_AA
    )


def _coco_precision(
    predicted: Sequence[Detections],
    truth: Sequence[Detections],
    iou_thresholds: Sequence[float],
) -> FloatArray | None:
    """COCOeval's (thresholds, 101 recall points, classes with ground truth) precision.

    None when no image has a ground-truth object (COCO leaves every class out then).
    """
    check_paired((len(predicted), len(truth)), ("predicted", "ground-truth"), "detection outputs")
    if not len(iou_thresholds):
        raise ParameterError("iou_thresholds is empty: give at least one IoU in (0, 1].")
    for threshold in iou_thresholds:
        _check_iou_threshold(threshold, "iou_thresholds")
    if all(len(expected) == 0 for expected in truth):
        return None
    try:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    except ImportError as error:
        raise ImportError(
            f"mAP needs pycocotools: pip install 'wince[detection]' ({error})"
        ) from error
    classes = np.unique(np.concatenate([o.classes for o in [*truth, *predicted]]))
    with contextlib.redirect_stdout(io.StringIO()):
        expected = COCO()
        expected.dataset = _coco_dataset(truth, classes, ground_truth=True)
        expected.createIndex()
        found = COCO()
        found.dataset = _coco_dataset(predicted, classes, ground_truth=False)
        found.createIndex()
        evaluation = COCOeval(expected, found, iouType="bbox")
        evaluation.params.iouThrs = np.asarray(iou_thresholds, dtype=np.float64)
        evaluation.params.maxDets = [MAX_DETECTIONS]
        evaluation.params.areaRng = [[0.0, np.inf]]
        evaluation.params.areaRngLbl = ["all"]
        evaluation.evaluate()
        evaluation.accumulate()
    # (thresholds, recall points, classes, area ranges, max detections); -1 marks a class
    # without ground truth
    precision = np.asarray(evaluation.eval["precision"], dtype=np.float64)[:, :, :, 0, 0]
    with_truth: FloatArray = precision[:, :, (precision > -1).all(axis=(0, 1))]
    return with_truth


def _coco_dataset(
    images: Sequence[Detections], classes: IntArray, *, ground_truth: bool
) -> dict[str, Any]:
    """A COCO dataset dict: image ids are positions, annotation ids count from 1.

    COCOeval takes id 0 for "unmatched", so annotations must not have it.
    """
    annotations: list[dict[str, Any]] = []
    for image, objects in enumerate(images):
        for box, score, cls in zip(objects.boxes, objects.scores, objects.classes, strict=True):
            x_min, y_min, x_max, y_max = (float(v) for v in box)
            width, height = x_max - x_min, y_max - y_min
            annotation: dict[str, Any] = {
                "id": len(annotations) + 1,
                "image_id": image,
                "category_id": int(cls),
                "bbox": [x_min, y_min, width, height],
                "area": width * height,
                "iscrowd": 0,
            }
            if not ground_truth:
                annotation["score"] = float(score)
            annotations.append(annotation)
    return {
        "images": [{"id": image} for image in range(len(images))],
        "categories": [{"id": int(cls)} for cls in classes],
        "annotations": annotations,
    }


def _subset(objects: Detections, indices: npt.NDArray[np.integer[Any]]) -> Detections:
    """The objects at `indices`, in that order."""
    return Detections(objects.boxes[indices], objects.scores[indices], objects.classes[indices])


def _area(boxes: FloatArray) -> FloatArray:
    """(m,) areas in square pixels of (m, 4) xyxy boxes."""
    area: FloatArray = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return area


def _check_iou_threshold(value: float, field: str) -> None:
    if not 0.0 < value <= 1.0:
        raise ParameterError(f"{field}: an IoU threshold is in (0, 1]; got {value}.")
