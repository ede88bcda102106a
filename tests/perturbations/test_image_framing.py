"""Framing perturbations measured in their physical units: where a marked point lands.

Each test draws small Gaussian dots and follows their intensity centroids (bilinear
resampling moves a centroid exactly under a shift and to within hundredths of a pixel under
rotation and scaling). Expected positions come from the geometry written out here: rotation
matrices, shift vectors, the zoom factor, and a pinhole camera looking at a tilted plane.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from wince.errors import ParameterError
from wince.perturbations import Rngs
from wince.perturbations.image.framing import Perspective, Rotation, Translation, Zoom

ignore_realism = pytest.mark.filterwarnings("ignore::wince.errors.RealismWarning")


def rngs_for(n: int, seed: int = 0) -> Rngs:
    return Rngs.for_samples([f"img-{i}" for i in range(n)], seed=seed, step="test")


def same_draws(n: int, seed: int = 0) -> Rngs:
    """Generators for n copies of one sample: every image gets the same draws."""
    return Rngs.for_samples(["one"] * n, seed=seed, step="test")


def dots(h: int, w: int, points: list[tuple[float, float]], sigma: float = 1.2) -> np.ndarray:
    """A float32 batch, one image per point, each with a Gaussian dot of peak 1 there."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    images = [np.exp(-((xx - x0) ** 2 + (yy - y0) ** 2) / (2 * sigma**2)) for x0, y0 in points]
    return np.stack(images)[..., None].astype(np.float32)


def centroids(batch: np.ndarray) -> np.ndarray:
    """Intensity centroid (x, y) of the first channel of every image: shape (n, 2)."""
    h, w = batch.shape[1:3]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    light = batch[..., 0].astype(np.float64)
    weighted = np.stack([(light * xx).sum(axis=(1, 2)), (light * yy).sum(axis=(1, 2))], axis=1)
    found: np.ndarray = weighted / light.sum(axis=(1, 2))[:, None]
    return found


H, W = 81, 101
CENTRE = np.array([(W - 1) / 2, (H - 1) / 2])


# ---------------------------------------------------------------------------------------------
# Rotation


def test_rotation_turns_a_point_about_the_centre_by_the_angle_in_a_drawn_sense(seed: int) -> None:
    offset = np.array([25.0, -12.0])
    n = 12
    x = dots(H, W, [tuple(CENTRE + offset)] * n)
    angle = 10.0
    moved = centroids(Rotation().perturb(x, angle, rngs_for(n, seed))) - CENTRE
    senses = []
    for m in moved:
        # Screen y points down: counter-clockwise on screen is a negative mathematical angle.
        turned = {
            s: np.array(
                [
                    [math.cos(math.radians(s * angle)), math.sin(math.radians(s * angle))],
                    [-math.sin(math.radians(s * angle)), math.cos(math.radians(s * angle))],
                ]
            )
            @ offset
            for s in (1, -1)
        }
        sense = min(turned, key=lambda s: float(np.linalg.norm(turned[s] - m)))
        np.testing.assert_allclose(m, turned[sense], atol=0.03)
        senses.append(sense)
    assert set(senses) == {1, -1}, "both senses occur"


def test_rotation_keeps_each_image_s_sense_across_angles(seed: int) -> None:
    offset = np.array([0.0, -30.0])  # straight up: the sense shows in the sign of x
    x = dots(H, W, [tuple(CENTRE + offset)] * 8)
    sides = [
        np.sign(centroids(Rotation().perturb(x, a, rngs_for(8, seed)))[:, 0] - CENTRE[0])
        for a in (2.0, 8.0, 15.0)
    ]
    np.testing.assert_array_equal(sides[0], sides[1])
    np.testing.assert_array_equal(sides[0], sides[2])


def ramp(h: int, w: int) -> np.ndarray:
    """One float32 grey image whose level grows linearly with x and y (0 to 1)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    return (((xx + 2 * yy) / (w - 1 + 2 * (h - 1)))[None, :, :, None]).astype(np.float32)


def corner_sources(h: int, w: int, angle: float) -> np.ndarray:
    """Source (x, y) of the four output corners under a rotation about the centre, per sense.

    Shape (2 senses, 4 corners, 2). Screen y points down: the output turns by -angle in
    mathematical terms, so the source is the corner turned back by +angle.
    """
    centre = np.array([(w - 1) / 2, (h - 1) / 2])
    corners = np.array([[0, 0], [w - 1, 0], [0, h - 1], [w - 1, h - 1]], dtype=np.float64)
    sources = []
    for sense in (1, -1):
        a = math.radians(sense * angle)
        back = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
        sources.append((corners - centre) @ back.T + centre)
    return np.array(sources)


def ramp_level(h: int, w: int, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The level of `ramp(h, w)` at positions (x, y), extended linearly."""
    level: np.ndarray = (x + 2 * y) / (w - 1 + 2 * (h - 1))
    return level


def corner_levels(out: np.ndarray) -> np.ndarray:
    """Levels of the four corners of a single grey image batch."""
    image = out[0, :, :, 0]
    return np.array([image[0, 0], image[0, -1], image[-1, 0], image[-1, -1]], dtype=np.float64)


def matches_a_sense(found: np.ndarray, expected_by_sense: np.ndarray) -> bool:
    return any(np.allclose(found, e, atol=2e-3) for e in expected_by_sense)


@pytest.mark.parametrize("angle", [5.0, 15.0])
def test_rotation_replicates_the_nearest_edge_pixels_into_the_new_corners(
    angle: float, seed: int
) -> None:
    h, w = 40, 60
    sources = corner_sources(h, w, angle)
    beyond = (sources < 0) | (sources > [w - 1, h - 1])
    assert beyond.any(axis=-1).all(), "every corner comes from beyond the edge"
    nearest_edge = ramp_level(
        h, w, np.clip(sources[..., 0], 0, w - 1), np.clip(sources[..., 1], 0, h - 1)
    )
    for n in range(4):
        out = Rotation().perturb(ramp(h, w), angle, rngs_for(1, seed + n))
        assert matches_a_sense(corner_levels(out), nearest_edge)


def test_rotation_fills_new_corners_with_a_constant_level() -> None:
    white = np.ones((1, 40, 60, 3), dtype=np.float32)
    np.testing.assert_array_equal(Rotation().perturb(white, 10.0, rngs_for(1)), white)
    black_corner = Rotation(border="constant").perturb(white, 10.0, rngs_for(1))
    np.testing.assert_array_equal(black_corner[0, 0, 0], 0.0)
    dark = np.full((1, 40, 60, 3), 30, dtype=np.uint8)
    paper = Rotation(border="constant", fill=255).perturb(dark, 10.0, rngs_for(1))
    for corner in (paper[0, 0, 0], paper[0, 0, -1], paper[0, -1, 0], paper[0, -1, -1]):
        np.testing.assert_array_equal(corner, 255)
    assert (paper == 30).mean() > 0.8, "the image itself keeps its level"


def test_rotation_mirrors_the_image_about_its_edge_on_request() -> None:
    h, w = 40, 60
    sources = corner_sources(h, w, 15.0)
    # Reflect-101 about the edge pixels' centres: -p for p < 0, 2 (size - 1) - p beyond.
    x, y = sources[..., 0], sources[..., 1]
    mirrored = ramp_level(
        h, w, np.where(x < 0, -x, np.where(x > w - 1, 2 * (w - 1) - x, x)),
        np.where(y < 0, -y, np.where(y > h - 1, 2 * (h - 1) - y, y)),
    )  # fmt: skip
    out = Rotation(border="mirror").perturb(ramp(h, w), 15.0, rngs_for(1))
    assert matches_a_sense(corner_levels(out), mirrored)


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"border": "reflect"}, "border"),
        ({"border": "constant", "fill": 256}, "fill"),
        ({"border": "constant", "fill": 0.5}, "fill"),
        ({"border": "replicate", "fill": 255}, "only applies to border='constant'"),
    ],
)
def test_rotation_rejects_unknown_borders_and_fills(options: dict, problem: str) -> None:
    with pytest.raises(ParameterError, match=problem):
        Rotation(**options)


# ---------------------------------------------------------------------------------------------
# Translation


@pytest.mark.parametrize(("h", "w"), [(81, 101), (101, 61)])
def test_translation_moves_a_point_by_the_requested_share_of_the_shorter_side(
    h: int, w: int, seed: int
) -> None:
    n = 16
    x = dots(h, w, [((w - 1) / 2, (h - 1) / 2)] * n)
    shift_pct = 7.0
    moved = centroids(Translation().perturb(x, shift_pct, rngs_for(n, seed))) - [
        (w - 1) / 2,
        (h - 1) / 2,
    ]
    np.testing.assert_allclose(
        np.linalg.norm(moved, axis=1), shift_pct / 100 * min(h, w), atol=0.02
    )
    # Directions are drawn per image, uniformly: 16 unit vectors do not all point one way.
    unit = moved / np.linalg.norm(moved, axis=1, keepdims=True)
    assert np.linalg.norm(unit.mean(axis=0)) < 0.8


def test_translation_direction_is_the_same_at_every_magnitude(seed: int) -> None:
    x = dots(H, W, [tuple(CENTRE)] * 6)
    small, large = (
        centroids(Translation().perturb(x, pct, rngs_for(6, seed))) - CENTRE for pct in (2.0, 8.0)
    )
    # Sampling positions are quantised to 1/32 px (as in OpenCV's warps), so each centroid is
    # known to within 1/64 px, and four times the small shift to within 4/64 px.
    np.testing.assert_allclose(large, 4 * small, atol=4 / 64 + 1 / 64)


# ---------------------------------------------------------------------------------------------
# Zoom


@pytest.mark.parametrize("zoom_pct", [5.0, 20.0, 30.0])
def test_zoom_scales_distances_from_the_centre_by_one_over_the_kept_share(zoom_pct: float) -> None:
    offsets = [np.array([20.0, 10.0]), np.array([-15.0, 18.0]), np.array([0.0, 0.0])]
    x = dots(H, W, [tuple(CENTRE + o) for o in offsets])
    moved = centroids(Zoom().perturb(x, zoom_pct, rngs_for(len(offsets)))) - CENTRE
    np.testing.assert_allclose(moved, np.array(offsets) / (1 - zoom_pct / 100), atol=0.03)


def test_zoom_keeps_the_central_crop_of_the_requested_size() -> None:
    # A white frame whose inner edge is exactly the kept region's edge at 20% zoom.
    h, w = 50, 100
    x = np.zeros((1, h, w, 1), dtype=np.float32)
    x[0, 5:45, 10:90] = 1.0  # the central 80% of width and height
    out = Zoom().perturb(x, 20.0, rngs_for(1))
    # The kept region fills the frame: only the outermost pixel rings see the edge blur.
    assert out[0, 1:-1, 1:-1].min() > 0.99


# ---------------------------------------------------------------------------------------------
# Perspective


def pinhole_focal_px(h: int, w: int) -> float:
    """A 26 mm-equivalent lens: focal length / half-diagonal = 26 / 21.63 (35 mm frame)."""
    return 26.0 / math.hypot(18.0, 12.0) * math.hypot(h, w) / 2


@pytest.mark.parametrize("tilt_deg", [10.0, 30.0])
def test_perspective_is_a_plane_seen_from_a_camera_tilted_by_the_angle(
    tilt_deg: float, seed: int
) -> None:
    h, w = 121, 161
    centre = np.array([(w - 1) / 2, (h - 1) / 2])
    grid = [tuple(centre + np.array([dx, dy])) for dx in (-40, 0, 40) for dy in (-30, 0, 30)]
    out = Perspective(border="constant").perturb(dots(h, w, grid), tilt_deg, same_draws(9, seed))
    found = centroids(out)
    np.testing.assert_allclose(found[4], centre, atol=0.05)  # the centre stays put
    homography, _ = cv2.findHomography(np.array(grid) - centre, found - centre)
    # For a plane facing the camera at unit distance, then turned by R: H ~ K [r1 r2 e3] K^-1.
    f = pinhole_focal_px(h, w)
    k = np.diag([f, f, 1.0])
    m = np.linalg.inv(k) @ homography @ k
    m = m / m[2, 2]
    r1, r2 = m[:, 0], m[:, 1]
    np.testing.assert_allclose([r1 @ r1, r2 @ r2, r1 @ r2], [1.0, 1.0, 0.0], atol=0.01)
    normal = np.cross(r1, r2)
    assert math.degrees(math.acos(normal[2] / np.linalg.norm(normal))) == pytest.approx(
        tilt_deg, abs=0.5
    )


def test_perspective_tilt_axis_is_drawn_per_image(seed: int) -> None:
    h, w = 81, 101
    point = ((w - 1) / 2 + 30, (h - 1) / 2 + 20)
    moved = centroids(Perspective().perturb(dots(h, w, [point] * 6), 20.0, rngs_for(6, seed)))
    assert np.ptp(moved[:, 0]) > 1.0 or np.ptp(moved[:, 1]) > 1.0
