"""The alignment defence centres the subject, never the background, or leaves the image alone.

The report used to recommend centring on the centre of mass of the grey levels: on dark text
on white paper that is the paper's centre, which does not move with the text. Here the subject
is moved by a known translation (crops of one canvas, so the shift is exact) and the defence's
code must find the same offset, for dark text on white and for a white digit on black.
"""

from __future__ import annotations

from string import Template
from typing import Any

import cv2
import numpy as np
import pytest

from wince.errors import DataError
from wince.realism.align import MIN_CONTRAST, foreground_weights
from wince.report.narrative import DEFENCES

CODE = Template(DEFENCES["image.geometry"].code).safe_substitute(
    name="image.translation", value="5", run="abc123"
)


def aligned(image: np.ndarray) -> dict[str, Any]:
    """The names the defence's code leaves after running on `image`."""
    namespace: dict[str, Any] = {"image": image}
    exec(compile(CODE, "<alignment defence>", "exec"), namespace)
    return namespace


def text_on_white(dx: int = 0, dy: int = 0) -> np.ndarray:
    """A 64x160 colour crop of dark text on white paper; the text moved by (dx, dy) px."""
    canvas = np.full((128, 256, 3), 255, dtype=np.uint8)
    cv2.putText(canvas, "wince 42", (62, 70), cv2.FONT_HERSHEY_SIMPLEX, 0.9, (20, 20, 20), 2)
    return np.ascontiguousarray(canvas[32 - dy : 96 - dy, 48 - dx : 208 - dx])


def digit_on_black(dx: int = 0, dy: int = 0) -> np.ndarray:
    """A 28x28 grey crop of a white digit on black (MNIST-like); the digit moved by (dx, dy)."""
    canvas = np.zeros((56, 56), dtype=np.uint8)
    cv2.putText(canvas, "7", (21, 36), cv2.FONT_HERSHEY_SIMPLEX, 0.7, 255, 2, cv2.LINE_AA)
    return np.ascontiguousarray(canvas[14 - dy : 42 - dy, 14 - dx : 42 - dx])


@pytest.mark.parametrize("subject", [text_on_white, digit_on_black])
@pytest.mark.parametrize(("dx", "dy"), [(5, -3), (-7, 4), (0, 6)])
def test_the_estimated_centre_moves_by_the_subject_s_translation(subject, dx, dy):
    before, after = aligned(subject()), aligned(subject(dx, dy))
    assert after["cx"] - before["cx"] == pytest.approx(dx, abs=1e-3)
    assert after["cy"] - before["cy"] == pytest.approx(dy, abs=1e-3)


@pytest.mark.parametrize("subject", [text_on_white, digit_on_black])
def test_a_moved_subject_is_centred_where_the_unmoved_one_is(subject):
    still, moved = (aligned(subject(*shift))["centred"] for shift in ((0, 0), (6, -4)))
    assert moved.shape == still.shape
    # the subject lands on the same pixels; the borders are background either way
    assert np.abs(moved.astype(int) - still.astype(int)).mean() < 0.5
    assert not np.array_equal(subject(6, -4), subject())


def test_a_sub_pixel_shift_is_found_to_a_tenth_of_a_pixel():
    digit = digit_on_black()
    shift = np.float32([[1, 0, 2.3], [0, 1, -1.6]])
    moved = cv2.warpAffine(digit, shift, (28, 28), borderMode=cv2.BORDER_REPLICATE)
    before, after = aligned(digit), aligned(moved)
    assert after["cx"] - before["cx"] == pytest.approx(2.3, abs=0.1)
    assert after["cy"] - before["cy"] == pytest.approx(-1.6, abs=0.1)


def test_dark_text_on_white_is_centred_on_the_text_not_the_paper():
    page = np.full((64, 160), 255, dtype=np.uint8)
    page[8:16, 10:50] = 0  # a dark word in the upper left
    namespace = aligned(page)
    assert namespace["cx"] == pytest.approx(29.5)
    assert namespace["cy"] == pytest.approx(11.5)
    # The grey levels' centre of mass, which the report used to recommend, is the paper's.
    paper = cv2.moments(page)
    assert paper["m10"] / paper["m00"] == pytest.approx(79.5, abs=3)
    assert paper["m01"] / paper["m00"] == pytest.approx(31.5, abs=3)
    centred = namespace["centred"]
    assert (centred[28:36, 60:100] == 0).all(), "the word moved to the middle"
    assert (centred[8:16, 10:50] == 255).all()


def test_a_light_and_a_dark_subject_weigh_alike():
    dark, light = np.full((2, 20, 20), 200, dtype=np.uint8)
    dark[5:9, 5:9], light[5:9, 5:9] = 100, 255
    light[0, :] = 0  # a few border pixels of another tone leave the majority alone
    dark_weights, light_weights = foreground_weights(dark), foreground_weights(light)
    assert dark_weights is not None
    assert light_weights is not None
    np.testing.assert_allclose(dark_weights[5:9, 5:9], 100 / 255 - 0.1)
    np.testing.assert_allclose(light_weights[5:9, 5:9], 55 / 255 - 0.1)
    assert dark_weights.sum() == pytest.approx(16 * (100 / 255 - 0.1))


def busy_photo() -> np.ndarray:
    """Colour texture up to the border: no tone fills most of it."""
    return np.random.default_rng(3).integers(0, 256, (32, 32, 3), dtype=np.uint8)


def faint_text() -> np.ndarray:
    page = np.full((32, 48), 230, dtype=np.uint8)
    page[10:20, 10:30] = 230 - int(255 * (MIN_CONTRAST - 0.05))
    return page


@pytest.mark.parametrize(
    "image",
    [busy_photo(), faint_text(), np.full((16, 16), 90, dtype=np.uint8)],
    ids=["no plain background", "too faint a subject", "blank"],
)
def test_no_alignment_where_the_subject_cannot_be_told_from_the_background(image):
    assert foreground_weights(image) is None
    namespace = aligned(image)
    assert namespace["centred"] is image, "left as it is"
    assert "cx" not in namespace


def test_float_images_in_0_to_1_give_the_weights_of_their_uint8_levels():
    page = text_on_white()
    levels, floats = foreground_weights(page), foreground_weights(page / np.float32(255.0))
    assert levels is not None
    assert floats is not None
    np.testing.assert_allclose(floats, levels, atol=1e-6)


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (np.zeros((4, 16, 16, 3), dtype=np.uint8), "one at a time"),
        (np.full((16, 16), 200.0), r"\[0, 1\]"),
    ],
)
def test_a_batch_or_levels_out_of_range_are_refused(image, message):
    with pytest.raises(DataError, match=message):
        foreground_weights(image)
