"""Labels moved with the pixels (`compose_with_targets`), checked by construction.

Filled rectangles, one per colour channel, are drawn into an image; their boxes, mask and
corner keypoints are moved by each perturbation that moves pixels, and compared with where
the drawn objects are in the perturbed image (pixels above half their level).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage

from wince.outputs import Detections
from wince.perturbations import (
    DataContext,
    Modality,
    RaggedBatch,
    Step,
    compose,
    compose_with_targets,
    registry,
    sample_keys,
)

SIDE = 128
LEVEL, BACKGROUND = 220, 20
# (x_min, y_min, x_max, y_max) in pixel edges, all within 36 px of the centre
RECTANGLES = ((40, 36, 62, 52), (70, 56, 90, 80), (44, 72, 60, 92))
CONTEXT = DataContext(Modality.IMAGE)
MOVING = sorted(n for n, c in registry().items() if c.moves_pixels)
PHOTOMETRIC = sorted(
    n for n, c in registry().items() if c.modality is Modality.IMAGE and not c.moves_pixels
)
SEVERITIES = {name: (0.3, 0.6, 1.0) for name in MOVING}
# levels 3-5 of ImageNet-C's elastic transform shred small objects; levels 1-2 warp them whole
SEVERITIES["image.imagenet_c_elastic_transform"] = (0.2, 0.4)


def scene(rectangles: tuple[tuple[int, int, int, int], ...]) -> np.ndarray:
    """One image with rectangle k filled at `LEVEL` in channel k."""
    image = np.full((SIDE, SIDE, 3), BACKGROUND, np.uint8)
    for k, (x0, y0, x1, y1) in enumerate(rectangles):
        image[y0:y1, x0:x1, k] = LEVEL
    return image


def ground_truth(rectangles: tuple[tuple[int, int, int, int], ...]) -> tuple[Detections, Any]:
    boxes = np.array(rectangles, dtype=np.float64)
    mask = np.zeros((SIDE, SIDE), np.int64)
    for k, (x0, y0, x1, y1) in enumerate(rectangles):
        mask[y0:y1, x0:x1] = k + 1
    return Detections(boxes, np.ones(len(boxes)), np.arange(len(boxes))), mask


def objects(out: np.ndarray, count: int) -> list[np.ndarray]:
    """Where each drawn object is in a perturbed image: its channel above half its level.

    Only the largest connected part counts: a reflected border may show a mirrored copy.
    """
    shown = []
    for k in range(count):
        parts, n = ndimage.label(out[:, :, k] > (LEVEL + BACKGROUND) / 2)
        sizes = np.bincount(parts.ravel(), minlength=n + 1)[1:]
        shown.append(parts == 1 + int(np.argmax(sizes)))
    return shown


def pixel_box(shown: np.ndarray) -> np.ndarray:
    rows, cols = np.flatnonzero(shown.any(axis=1)), np.flatnonzero(shown.any(axis=0))
    return np.array([cols[0], rows[0], cols[-1] + 1, rows[-1] + 1], dtype=np.float64)


def perturb(name: str, severity: float, seed: int, images: Any, targets: list[Any]) -> Any:
    cls = registry()[name]
    steps = [Step(name, cls().at_severity(severity))]
    keys = sample_keys([f"s{i}" for i in range(len(targets))])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return compose_with_targets(
            images, steps, seed=seed, trial=0, keys=keys, context=CONTEXT, targets=targets
        )


def assert_box_encloses(box: np.ndarray, shown: np.ndarray, where: str) -> None:
    truth = pixel_box(shown)
    assert (box[:2] <= truth[:2] + 1.5).all(), f"{where}: {box} does not enclose {truth}"
    assert (box[2:] >= truth[2:] - 1.5).all(), f"{where}: {box} does not enclose {truth}"
    assert (box[:2] >= truth[:2] - 2.0).all(), f"{where}: {box} is much larger than {truth}"
    assert (box[2:] <= truth[2:] + 2.0).all(), f"{where}: {box} is much larger than {truth}"


@pytest.mark.parametrize("name", MOVING)
@pytest.mark.parametrize("seed", [0, 1])
def test_boxes_and_masks_follow_the_drawn_objects(name: str, seed: int) -> None:
    detections, mask = ground_truth(RECTANGLES)
    image = scene(RECTANGLES)
    for severity in SEVERITIES[name]:
        out, (moved, moved_mask) = perturb(
            name, severity, seed, np.stack([image] * 2), [detections, mask]
        )
        # sample 0 carries the boxes and sample 1 the mask: each moves with its own draw
        for k, shown in enumerate(objects(out[0], len(RECTANGLES))):
            where = f"{name} at {severity}, seed {seed}, object {k}"
            assert moved.classes[k] == k, where
            assert_box_encloses(moved.boxes[k], shown, where)
        for k, shown in enumerate(objects(out[1], len(RECTANGLES))):
            labelled = moved_mask == k + 1
            iou = (labelled & shown).sum() / (labelled | shown).sum()
            assert iou > 0.9, f"{name} at {severity}, seed {seed}, object {k}: IoU {iou:.3f}"


@pytest.mark.parametrize("name", MOVING)
def test_keypoints_land_on_the_drawn_dots(name: str) -> None:
    # 3x3 dots centred on the corners of a 40 x 30 rectangle (pixel edges 44..84, 50..80)
    corners = np.array([[44.0, 50.0], [84.0, 50.0], [84.0, 80.0], [44.0, 80.0]])
    image = np.full((SIDE, SIDE, 3), BACKGROUND, np.uint8)
    for x, y in corners.astype(int):
        image[y - 2 : y + 1, x - 2 : x + 1] = LEVEL
    for severity in SEVERITIES[name]:
        out, (moved,) = perturb(name, severity, 3, image[None], [corners + 0.5 - 1.0])
        spots, count = ndimage.label(out[0, :, :, 0] > (LEVEL + BACKGROUND) / 2)
        found = np.array(
            ndimage.center_of_mass(out[0, :, :, 0].astype(float), spots, range(1, count + 1))
        )
        found = found[:, ::-1] + 0.5  # (x, y) in pixel edges
        for point in moved:
            error = np.hypot(*(found - point).T).min()
            assert error < 1.5, f"{name} at {severity}: keypoint {point} is {error:.2f} px off"


def test_keypoints_that_leave_the_image_become_nan() -> None:
    points = np.array([[64.0, 64.0], [1.0, 64.0], [127.0, 64.0], [64.0, 1.0], [64.0, 127.0]])
    image = np.full((SIDE, SIDE, 3), BACKGROUND, np.uint8)
    image[62:66, 62:66] = LEVEL
    out, (moved,) = perturb("image.translation", 1.0, 5, image[None], [points])
    dot = out[0, :, :, 0] > (LEVEL + BACKGROUND) / 2
    shift = np.array(ndimage.center_of_mass(dot))[::-1] - 63.5  # measured from the pixels
    expected = points + shift
    leaves = ((expected < 0) | (expected > SIDE)).any(axis=1)
    assert leaves.any()
    assert np.isnan(moved[leaves]).all()
    np.testing.assert_allclose(moved[~leaves], expected[~leaves], atol=0.6)


@given(
    name=st.sampled_from(["image.rotation", "image.translation", "image.perspective"]),
    seed=st.integers(0, 2**16),
    severity=st.floats(0.1, 1.0),
    x0=st.integers(34, 74),
    y0=st.integers(34, 74),
    width=st.integers(4, 20),
    height=st.integers(4, 20),
)
@settings(max_examples=40, deadline=None)
def test_a_random_box_still_encloses_its_drawn_object(
    name: str, seed: int, severity: float, x0: int, y0: int, width: int, height: int
) -> None:
    rectangle = (x0, y0, x0 + width, y0 + height)
    detections, _ = ground_truth((rectangle,))
    out, (moved,) = perturb(name, severity, seed, scene((rectangle,))[None], [detections])
    assert len(moved) == 1
    assert_box_encloses(moved.boxes[0], objects(out[0], 1)[0], f"{name} {rectangle}")


@pytest.mark.parametrize("name", MOVING + PHOTOMETRIC)
def test_images_are_those_of_compose_bit_for_bit(name: str) -> None:
    detections, mask = ground_truth(RECTANGLES)
    images = RaggedBatch([scene(RECTANGLES), scene(RECTANGLES)[:100], scene(RECTANGLES)])
    targets = [detections, detections, mask]
    steps = [Step(name, registry()[name]().at_severity(0.8))]
    keys = sample_keys(["a", "b", "c"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = compose(images, steps, seed=7, trial=1, keys=keys, context=CONTEXT)
        out, moved = compose_with_targets(
            images, steps, seed=7, trial=1, keys=keys, context=CONTEXT, targets=targets
        )
    assert all(np.array_equal(a, b) for a, b in zip(out, expected, strict=True))
    if name in PHOTOMETRIC:
        assert all(m is t for m, t in zip(moved, targets, strict=True))


def test_other_modalities_return_the_same_target_objects() -> None:
    targets = [object(), object()]
    x = np.zeros((2, 3))
    context = DataContext(Modality.TABULAR, column_sd=np.ones(3))
    steps = [Step("tabular.gaussian_noise", 0.5)]
    out, moved = compose_with_targets(
        x, steps, seed=0, trial=0, keys=sample_keys(["a", "b"]), context=context, targets=targets
    )
    assert out.shape == x.shape
    assert all(m is t for m, t in zip(moved, targets, strict=True))


def test_masks_take_the_fill_class_where_the_source_is_outside() -> None:
    mask = np.ones((SIDE, SIDE), np.int64)
    _, (moved,) = perturb("image.translation", 1.0, 0, scene(RECTANGLES)[None], [mask])
    outside = moved == 255
    shift_px = 12.8  # 10% of 128 px, in the drawn direction: a band that wide is uncovered
    assert 0.9 * shift_px * SIDE < outside.sum() < 2.1 * shift_px * SIDE
    assert set(np.unique(moved)) == {1, 255}
