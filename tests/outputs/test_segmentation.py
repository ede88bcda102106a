"""Segmentation metrics against scikit-learn's Jaccard score and hand counts; overlays by pixel."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import jaccard_score

from wince.errors import DataError, ModelError, ParameterError
from wince.outputs.segmentation import (
    CHANGED_COLOUR,
    PALETTE,
    changed_pixels_overlay,
    mean_iou,
    overlay_mask,
    per_class_iou,
    pixels_changed,
)


def random_masks(seed: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Predicted and true masks of four images of different sizes, classes 0 to 4 and 255."""
    rng = np.random.default_rng(seed)
    shapes = [(7, 9), (12, 5), (3, 3), (16, 16)]
    truth = [rng.choice([0, 1, 2, 4, 255], size=shape) for shape in shapes]
    predicted = [np.where(rng.random(t.shape) < 0.6, t, rng.integers(0, 4, t.shape)) for t in truth]
    return predicted, truth


def test_mean_iou_by_hand() -> None:
    truth = np.array([[0, 0], [1, 1]])
    predicted = np.array([[0, 1], [1, 1]])
    # class 0: 1 shared pixel of 2; class 1: 2 of 3
    assert mean_iou([predicted], [truth]) == pytest.approx([(1 / 2 + 2 / 3) / 2])
    # a class only predicted counts, with IoU 0
    assert mean_iou([np.array([[0, 2]])], [np.array([[0, 0]])]) == pytest.approx([(0.5 + 0) / 2])


@pytest.mark.parametrize("seed", [0, 1])
def test_mean_iou_matches_sklearn_jaccard_per_image(seed: int) -> None:
    predicted, truth = random_masks(seed)
    expected = [
        jaccard_score(t.ravel(), p.ravel(), average="macro")
        for p, t in zip(predicted, truth, strict=True)
    ]
    np.testing.assert_allclose(mean_iou(predicted, truth), expected, rtol=1e-12)


def test_mean_iou_ignores_the_pixels_of_the_ignored_true_class() -> None:
    predicted, truth = random_masks(2)
    expected = [
        jaccard_score(t[t != 255], p[t != 255], average="macro")
        for p, t in zip(predicted, truth, strict=True)
    ]
    np.testing.assert_allclose(mean_iou(predicted, truth, ignore_index=255), expected, rtol=1e-12)


def test_mean_iou_is_one_when_no_pixel_is_left() -> None:
    empty = np.zeros((0, 4), dtype=np.int64)
    ignored = np.full((2, 2), 255)
    scores = mean_iou([empty, np.ones((2, 2), np.int64)], [empty, ignored], ignore_index=255)
    np.testing.assert_array_equal(scores, [1.0, 1.0])


def test_mean_iou_of_an_image_does_not_depend_on_the_others() -> None:
    predicted, truth = random_masks(3)
    batch = mean_iou(predicted, truth)
    alone = [mean_iou([p], [t])[0] for p, t in zip(predicted, truth, strict=True)]
    np.testing.assert_array_equal(batch, alone)


def test_per_class_iou_sums_over_the_set_like_sklearn_on_all_pixels() -> None:
    predicted, truth = random_masks(4)
    pixels_true = np.concatenate([t.ravel() for t in truth])
    pixels_predicted = np.concatenate([p.ravel() for p in predicted])
    classes = sorted(set(pixels_true) | set(pixels_predicted))
    expected = jaccard_score(pixels_true, pixels_predicted, labels=classes, average=None)
    result = per_class_iou(predicted, truth)
    assert list(result) == classes
    np.testing.assert_allclose(list(result.values()), expected, rtol=1e-12)


def test_per_class_iou_by_hand_with_an_ignored_class() -> None:
    truth = [np.array([[1, 1, 9]]), np.array([[1], [2]])]
    predicted = [np.array([[1, 2, 2]]), np.array([[1], [1]])]
    # class 1: (1 + 1) shared of (2 + 2); class 2: 0 of (1 + 1); the pixel of class 9 is dropped
    assert per_class_iou(predicted, truth, ignore_index=9) == pytest.approx({1: 0.5, 2: 0.0})
    assert per_class_iou([np.full((1, 1), 9)], [np.full((1, 1), 9)], ignore_index=9) == {}


def test_pixels_changed_by_hand() -> None:
    clean = [np.array([[0, 1, 1, 2]]), np.zeros((0, 0), np.int64), np.eye(3, dtype=np.int64)]
    perturbed = [np.array([[0, 2, 1, 0]]), np.zeros((0, 0), np.int64), np.eye(3, dtype=np.int64)]
    np.testing.assert_array_equal(pixels_changed(clean, perturbed), [0.5, 0.0, 0.0])


def test_masks_of_another_shape_or_type_are_refused() -> None:
    with pytest.raises(ModelError, match=r"\(3, 2\).*\(2, 3\)"):
        mean_iou([np.zeros((3, 2), np.int64)], [np.zeros((2, 3), np.int64)])
    with pytest.raises(ModelError, match=r"\(3, 2\).*\(2, 3\)"):
        pixels_changed([np.zeros((2, 3), np.int64)], [np.zeros((3, 2), np.int64)])
    with pytest.raises(ModelError, match="float64"):
        mean_iou([np.zeros((2, 2))], [np.zeros((2, 2), np.int64)])
    with pytest.raises(ModelError, match=r"\(2, 2, 1\)"):
        per_class_iou([np.zeros((2, 2, 1), np.int64)], [np.zeros((2, 2, 1), np.int64)])
    with pytest.raises(ModelError, match="1 predicted and 2 ground-truth"):
        mean_iou([np.zeros((2, 2), np.int64)], [np.zeros((2, 2), np.int64)] * 2)


def test_palette_is_pascal_voc_colour_map() -> None:
    # the published VOC colours: background, aeroplane, bicycle, bird, boat, person
    for cls, colour in [
        (0, (0, 0, 0)),
        (1, (128, 0, 0)),
        (2, (0, 128, 0)),
        (3, (128, 128, 0)),
        (4, (0, 0, 128)),
        (15, (192, 128, 128)),
    ]:
        assert tuple(PALETTE[cls]) == colour


def test_overlay_mask_blends_each_pixel_with_its_class_colour() -> None:
    image = np.full((2, 3), 100, dtype=np.uint8)
    mask = np.array([[0, 1, 2], [257, 1, 0]])
    tinted = overlay_mask(image, mask, alpha=0.25)
    assert tinted.shape == (2, 3, 3)
    assert tinted.dtype == np.uint8
    assert tuple(tinted[0, 0]) == (75, 75, 75)  # 0.75 x 100 + 0.25 x black
    assert tuple(tinted[0, 1]) == (107, 75, 75)  # 0.75 x 100 + 0.25 x 128 = 107
    assert tuple(tinted[0, 2]) == (75, 107, 75)
    assert tuple(tinted[1, 0]) == tuple(tinted[0, 1])  # class 257 wraps to 1
    assert (overlay_mask(image, mask, alpha=0.0) == 100).all()
    assert (image == 100).all()  # the input is not drawn on


def test_changed_pixels_overlay_tints_only_the_changed_pixels() -> None:
    image = np.full((2, 2, 3), 100 / 255)  # floats in [0, 1]: level 100
    clean = np.array([[1, 1], [2, 2]])
    perturbed = np.array([[1, 3], [2, 2]])
    drawn = changed_pixels_overlay(image, clean, perturbed)
    assert CHANGED_COLOUR == (255, 0, 255)
    assert tuple(drawn[0, 1]) == (178, 50, 178)  # 177.5 rounds to the even 178
    for row, column in [(0, 0), (1, 0), (1, 1)]:
        assert tuple(drawn[row, column]) == (100, 100, 100)
    assert tuple(changed_pixels_overlay(image, clean, perturbed, alpha=1.0)[0, 1]) == (255, 0, 255)


def test_overlays_refuse_masks_of_another_size_bad_alpha_and_bad_images() -> None:
    image = np.zeros((4, 5), dtype=np.uint8)
    with pytest.raises(ModelError, match=r"\(5, 4\).*\(4, 5\)"):
        overlay_mask(image, np.zeros((5, 4), np.int64))
    with pytest.raises(ModelError, match=r"\(4, 4\)"):
        changed_pixels_overlay(image, np.zeros((4, 5), np.int64), np.zeros((4, 4), np.int64))
    with pytest.raises(ParameterError, match="alpha"):
        overlay_mask(image, np.zeros((4, 5), np.int64), alpha=1.5)
    with pytest.raises(DataError, match="shape"):
        overlay_mask(np.zeros((4, 5, 2), np.uint8), np.zeros((4, 5), np.int64))
