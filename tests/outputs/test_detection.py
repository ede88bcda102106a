"""Detection metrics against hand computations and pycocotools; drawings pixel by pixel."""

from __future__ import annotations

import numpy as np
import pytest
from require import require_module

from wince.errors import DataError, ModelError, ParameterError
from wince.outputs import Detections
from wince.outputs.detection import (
    CLEAN_COLOUR,
    IOU_THRESHOLDS,
    PERTURBED_COLOUR,
    box_iou,
    detection_accuracy,
    detection_changes,
    draw_detections,
    match,
    mean_average_precision,
    per_class_average_precision,
)


def objects(
    boxes: list[list[float]], classes: list[int], scores: list[float] | None = None
) -> Detections:
    """Detections from plain lists (scores 1 by default, as ground truth)."""
    return Detections(
        np.array(boxes, dtype=np.float64).reshape(-1, 4),
        np.ones(len(boxes)) if scores is None else np.array(scores),
        np.array(classes, dtype=np.int64),
    )


NOTHING = objects([], [])


def interpolated_ap(ranked_hits: list[bool], n_truth: int) -> float:
    """COCO's 101-point interpolated AP of predictions ranked by score, in plain python."""
    points = []
    hits = 0
    for rank, hit in enumerate(ranked_hits, start=1):
        hits += hit
        points.append((hits / n_truth, hits / rank))
    total = 0.0
    for step in range(101):
        reachable = [precision for recall, precision in points if recall >= step / 100]
        total += max(reachable, default=0.0)
    return total / 101


# --- IoU -------------------------------------------------------------------------------


def test_box_iou_by_hand() -> None:
    iou = box_iou(
        [[0, 0, 10, 10], [2, 2, 2, 8]],
        [[5, 5, 15, 15], [0, 0, 10, 10], [20, 20, 30, 30], [0, 0, 10, 5], [2, 2, 2, 8]],
    )
    # overlap 5 x 5 = 25 of 100 + 100 - 25; itself; disjoint; half of it
    assert iou[0, :4] == pytest.approx([25 / 175, 1.0, 0.0, 0.5])
    # a zero-area box overlaps nothing, not even itself
    np.testing.assert_array_equal(iou[1], np.zeros(5))
    assert iou[0, 4] == 0.0
    assert box_iou(np.zeros((0, 4)), [[0, 0, 1, 1]]).shape == (0, 1)


def test_box_iou_agrees_with_pycocotools_on_xywh_boxes() -> None:
    mask = require_module("pycocotools.mask", "detection")
    rng = np.random.default_rng(3)
    corners = rng.uniform(0, 50, size=(2, 30, 2))
    sizes = rng.uniform(0, 30, size=(2, 30, 2))
    first, second = (
        np.concatenate([c, c + s], axis=1) for c, s in zip(corners, sizes, strict=True)
    )
    as_xywh = [np.concatenate([b[:, :2], b[:, 2:] - b[:, :2]], axis=1) for b in (first, second)]
    reference = mask.iou(as_xywh[0].tolist(), as_xywh[1].tolist(), [0] * 30)
    np.testing.assert_allclose(box_iou(first, second), reference, rtol=1e-12)


# --- matching --------------------------------------------------------------------------


def test_match_takes_candidates_by_score_not_by_overlap() -> None:
    reference = objects([[0, 0, 10, 10]], [0])
    candidate = objects([[0, 0, 10, 10], [0, 0, 10, 6]], [0, 0], scores=[0.5, 0.9])
    pairs, ious = match(reference, candidate)
    np.testing.assert_array_equal(pairs, [[0, 1]])
    assert ious == pytest.approx([0.6])


def test_match_breaks_score_ties_by_lower_index() -> None:
    reference = objects([[0, 0, 10, 10]], [0])
    candidate = objects([[0, 0, 10, 6], [0, 0, 10, 10]], [0, 0], scores=[0.7, 0.7])
    pairs, _ = match(reference, candidate)
    np.testing.assert_array_equal(pairs, [[0, 0]])


def test_match_gives_each_candidate_its_best_free_reference() -> None:
    reference = objects([[0, 0, 10, 6], [0, 0, 10, 10]], [0, 0])
    candidate = objects([[0, 0, 10, 9], [0, 0, 10, 5]], [0, 0], scores=[0.9, 0.8])
    pairs, ious = match(reference, candidate)
    # the first takes the 10x10 box (IoU 0.9 > 60/90); the second gets the 10x6 one (50/60)
    np.testing.assert_array_equal(pairs, [[1, 0], [0, 1]])
    assert ious == pytest.approx([0.9, 50 / 60])


def test_match_threshold_is_inclusive_and_classes_must_agree_unless_told() -> None:
    reference = objects([[0, 0, 10, 10]], [1])
    half = objects([[0, 0, 10, 5]], [1])
    assert len(match(reference, half, iou_threshold=0.5)[0]) == 1
    assert len(match(reference, half, iou_threshold=0.51)[0]) == 0
    other_class = objects([[0, 0, 10, 10]], [2])
    assert len(match(reference, other_class)[0]) == 0
    np.testing.assert_array_equal(match(reference, other_class, same_class=False)[0], [[0, 0]])
    assert match(NOTHING, NOTHING)[0].shape == (0, 2)


@pytest.mark.parametrize("threshold", [0.0, -0.1, 1.5])
def test_match_rejects_thresholds_outside_the_unit_interval(threshold: float) -> None:
    with pytest.raises(ParameterError, match="iou_threshold"):
        match(NOTHING, NOTHING, iou_threshold=threshold)


# --- error modes between clean and perturbed outputs -----------------------------------


def test_detection_changes_on_a_lost_a_gained_a_relabelled_and_a_drifted_object() -> None:
    clean = objects(
        [[0, 0, 10, 10], [20, 20, 40, 40], [50, 50, 60, 60], [70, 0, 90, 20]], [1, 2, 3, 1]
    )
    perturbed = objects(
        [[0, 0, 10, 10], [20, 20, 40, 36], [50, 50, 60, 60], [100, 100, 110, 110]],
        [1, 2, 4, 1],
        scores=[0.9, 0.8, 0.7, 0.6],
    )
    changes = detection_changes([clean], [perturbed])
    # the class-3 box came back as class 4 and the one at x=70 vanished: 2 of 4 lost
    assert changes["objects_lost"] == pytest.approx([0.5])
    assert changes["class_changed"] == pytest.approx([0.25])
    # the relabelled box and the one at x=100 match nothing of their class
    assert changes["objects_gained"] == pytest.approx([2.0])
    # IoUs of the same-class matches: 1 and 16 x 20 / (20 x 20)
    assert changes["box_drift"] == pytest.approx([1 - (1.0 + 0.8) / 2])


def test_detection_changes_of_empty_outputs_are_finite() -> None:
    box = objects([[0, 0, 10, 10]], [0])
    changes = detection_changes([NOTHING, NOTHING, box], [NOTHING, box, NOTHING])
    assert changes["objects_lost"] == pytest.approx([0.0, 0.0, 1.0])
    assert changes["objects_gained"] == pytest.approx([0.0, 1.0, 0.0])
    assert changes["class_changed"] == pytest.approx([0.0, 0.0, 0.0])
    assert changes["box_drift"] == pytest.approx([0.0, 0.0, 0.0])


def test_detection_changes_of_an_image_do_not_depend_on_the_others() -> None:
    rng = np.random.default_rng(0)

    def random_objects(count: int) -> Detections:
        corners = rng.uniform(0, 40, size=(count, 2))
        boxes = np.concatenate([corners, corners + rng.uniform(2, 20, size=(count, 2))], axis=1)
        return Detections(boxes, rng.uniform(size=count), rng.integers(0, 3, size=count))

    clean = [random_objects(n) for n in (0, 3, 7, 12)]
    perturbed = [random_objects(n) for n in (4, 0, 8, 12)]
    batch = detection_changes(clean, perturbed)
    for image in range(4):
        alone = detection_changes([clean[image]], [perturbed[image]])
        for name, values in batch.items():
            assert values[image] == alone[name][0], name


def test_detection_changes_need_one_output_of_each_per_image() -> None:
    with pytest.raises(ModelError, match="2 clean and 1 perturbed"):
        detection_changes([NOTHING, NOTHING], [NOTHING])


# --- accuracy against ground truth -----------------------------------------------------


def test_detection_accuracy_by_hand() -> None:
    truth = objects([[0, 0, 10, 10], [20, 20, 30, 30], [40, 40, 50, 50]], [0, 0, 1])
    predicted = objects(
        [[0, 0, 10, 10], [20, 20, 30, 30], [60, 60, 70, 70], [40, 40, 50, 50]],
        [0, 0, 0, 0],
        scores=[0.9, 0.2, 0.8, 0.7],
    )
    accuracy = detection_accuracy([predicted, NOTHING, NOTHING], [truth, truth, NOTHING])
    # found 2 of 3 (the class-1 box was called class 0); 2 of 4 predictions right
    assert accuracy["recall"] == pytest.approx([2 / 3, 0.0, 1.0])
    assert accuracy["precision"] == pytest.approx([0.5, 1.0, 1.0])
    kept = detection_accuracy([predicted], [truth], score_threshold=0.5)
    # the 0.2 box is dropped: 1 of 3 found, 1 of 3 kept predictions right
    assert kept["recall"] == pytest.approx([1 / 3])
    assert kept["precision"] == pytest.approx([1 / 3])


# --- COCO mAP --------------------------------------------------------------------------


@pytest.fixture
def coco() -> None:
    require_module("pycocotools", "detection")


@pytest.mark.usefixtures("coco")
def test_map_against_101_point_interpolation_by_hand() -> None:
    truth = [
        objects([[0, 0, 10, 10], [20, 20, 30, 30]], [0, 0]),
        objects([[0, 0, 10, 10], [40, 40, 50, 50]], [0, 0]),
    ]
    predicted = [
        objects([[0, 0, 10, 10], [50, 50, 60, 60], [20, 20, 30, 30]], [0, 0, 0], [0.9, 0.8, 0.6]),
        objects([[0, 0, 10, 10], [100, 100, 110, 110]], [0, 0], [0.7, 0.5]),
    ]
    # ranked over both images: hit (0.9), miss (0.8), hit (0.7), hit (0.6), miss (0.5)
    expected = interpolated_ap([True, False, True, True, False], n_truth=4)
    assert expected == pytest.approx((26 * 1.0 + 50 * 0.75) / 101)  # the steps, read off
    assert mean_average_precision(predicted, truth) == pytest.approx(expected, abs=1e-12)
    assert per_class_average_precision(predicted, truth) == pytest.approx({0: expected})


@pytest.mark.usefixtures("coco")
def test_map_50_95_averages_the_thresholds_a_box_passes() -> None:
    truth = [objects([[0, 0, 10, 10]], [0])]
    predicted = [objects([[0, 0, 10, 7.8]], [0], [0.9])]  # IoU 0.78: passes 0.5 to 0.75
    assert IOU_THRESHOLDS["map_50_95"] == pytest.approx([0.5 + 0.05 * i for i in range(10)])
    map_50_95 = mean_average_precision(predicted, truth, iou_thresholds=IOU_THRESHOLDS["map_50_95"])
    assert map_50_95 == pytest.approx(6 / 10)


@pytest.mark.usefixtures("coco")
@pytest.mark.parametrize(("bottom", "expected"), [(104.8, 0.0), (105.2, 1.0)])
def test_map_boxes_reach_pycocotools_as_xywh_without_plus_one(
    bottom: float, expected: float
) -> None:
    # IoU 0.48 or 0.52 as corners; read as (x, y, w, h) both boxes would overlap by > 0.9,
    # and with COCO's old +1 pixel widths 0.48 would become (11 x 5.8) / (11 x 11) = 0.53
    truth = [objects([[100, 100, 110, 110]], [0])]
    predicted = [objects([[100, 100, 110, bottom]], [0], [0.9])]
    assert mean_average_precision(predicted, truth) == pytest.approx(expected, abs=1e-12)


@pytest.mark.usefixtures("coco")
def test_map_per_class_ignores_classes_only_predicted() -> None:
    truth = [objects([[0, 0, 10, 10], [20, 20, 30, 30]], [0, 1])]
    predicted = [objects([[0, 0, 10, 10], [20, 20, 30, 30]], [0, 2], [0.9, 0.8])]
    assert per_class_average_precision(predicted, truth) == pytest.approx({0: 1.0, 1: 0.0})
    assert mean_average_precision(predicted, truth) == pytest.approx(0.5)


@pytest.mark.usefixtures("coco")
def test_map_of_perfect_empty_and_truthless_predictions() -> None:
    truth = [objects([[0, 0, 10, 10], [5, 5, 25, 25]], [0, 3]), objects([[1, 2, 3, 4]], [1])]
    # COCO divides by tp + fp + machine epsilon, so a perfect 1 comes out a hair below
    assert mean_average_precision(truth, truth) == pytest.approx(1.0, abs=1e-12)
    map_50_95 = mean_average_precision(truth, truth, iou_thresholds=IOU_THRESHOLDS["map_50_95"])
    assert map_50_95 == pytest.approx(1.0, abs=1e-12)
    assert mean_average_precision([NOTHING, NOTHING], truth) == 0.0
    assert mean_average_precision([NOTHING], [NOTHING]) == 1.0
    assert mean_average_precision([truth[0]], [NOTHING]) == 0.0
    assert per_class_average_precision([NOTHING], [NOTHING]) == {}


def test_map_rejects_no_thresholds_and_unpaired_outputs() -> None:
    with pytest.raises(ParameterError, match="iou_thresholds"):
        mean_average_precision([NOTHING], [NOTHING], iou_thresholds=())
    with pytest.raises(ParameterError, match="iou_thresholds"):
        mean_average_precision([NOTHING], [NOTHING], iou_thresholds=(0.5, 1.2))
    with pytest.raises(ModelError, match="1 predicted and 2 ground-truth"):
        mean_average_precision([NOTHING], [NOTHING, NOTHING])


# --- drawings --------------------------------------------------------------------------


def test_draw_detections_outlines_matched_boxes_solid_and_leaves_the_inside() -> None:
    image = np.full((60, 60), 40, dtype=np.uint8)
    box = objects([[10, 20, 30, 40]], [0])
    drawn = draw_detections(image, box, box)
    assert drawn.shape == (60, 60, 3)
    assert drawn.dtype == np.uint8
    # rows 20 and 21, columns 10 and 11 are the outline; perturbed is drawn over clean
    for row, column in [(20, 15), (21, 25), (30, 10), (30, 11), (39, 20), (30, 29)]:
        assert tuple(drawn[row, column]) == PERTURBED_COLOUR, (row, column)
    for row, column in [(22, 15), (30, 12), (30, 20), (45, 45), (30, 30)]:
        assert tuple(drawn[row, column]) == (40, 40, 40), (row, column)
    assert tuple(image.shape) == (60, 60)
    assert (image == 40).all()


def test_draw_detections_dashes_lost_and_gained_objects() -> None:
    clean = objects([[8, 16, 32, 40]], [0])
    perturbed = objects([[0, 44, 12, 50]], [1])
    drawn = draw_detections(np.zeros((50, 50, 1)), clean, perturbed)
    # along the lost box's top edge (row 16) blue dashes of 4 px start at column 8
    assert tuple(drawn[16, 9]) == CLEAN_COLOUR
    assert tuple(drawn[16, 13]) == (0, 0, 0)
    assert tuple(drawn[16, 17]) == CLEAN_COLOUR
    # the gained box's orange dashes fill the other phase: (49 + column) // 4 odd at 3 to 6
    assert tuple(drawn[49, 4]) == PERTURBED_COLOUR
    assert tuple(drawn[49, 8]) == (0, 0, 0)


def test_draw_detections_shows_a_class_change_as_alternating_dashes() -> None:
    drawn = draw_detections(
        np.zeros((60, 60, 3), np.uint8),
        objects([[16, 20, 40, 36]], [0]),
        objects([[16, 20, 40, 36]], [1]),
    )
    top_edge = [tuple(drawn[20, column]) for column in range(16, 40)]
    # (20 + column) // 4 is even at columns 16-19, 24-27, 32-35: blue there, orange between
    assert top_edge == [
        CLEAN_COLOUR if (20 + column) // 4 % 2 == 0 else PERTURBED_COLOUR
        for column in range(16, 40)
    ]


def test_draw_detections_labels_boxes_with_their_class_names() -> None:
    box = objects([[10, 30, 40, 45]], [1])
    plain = draw_detections(np.zeros((50, 50, 3), np.uint8), box, NOTHING)
    named = draw_detections(
        np.zeros((50, 50, 3), np.uint8), box, NOTHING, class_names=["cat", "person"]
    )
    label_rows = slice(16, 28)  # the label stands above the box, whose top row is 30
    assert (
        (named[label_rows] == CLEAN_COLOUR).all(axis=2).sum()
        > (plain[label_rows] == CLEAN_COLOUR).all(axis=2).sum()
        > 0
    )


def test_draw_detections_takes_float_images_and_rejects_other_shapes() -> None:
    drawn = draw_detections(np.full((20, 20, 3), 0.5), NOTHING, NOTHING)
    assert (drawn == 128).all()
    with pytest.raises(DataError, match=r"\(20, 20, 4\)"):
        draw_detections(np.zeros((20, 20, 4)), NOTHING, NOTHING)
    with pytest.raises(DataError, match="int64"):
        draw_detections(np.zeros((20, 20), np.int64), NOTHING, NOTHING)
