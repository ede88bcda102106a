"""Framing: small rotation, translation, zoom / crop, perspective tilt.

Geometric effects resample the encoded values with bilinear interpolation, as cameras' and
libraries' resamplers do, from source maps computed the same way on every CPU (`geometry`).
Where the moved image no longer covers the frame, the `border` option says what fills it, as
a camera would produce it:

- "replicate" (default): the edge pixels continued outwards. Past the edge a real camera sees
  more of the scene, which nothing here knows; the edge's own colour is the closest stand-in
  that invents no structure (on text crops and documents, the paper's colour).
- "constant": a flat level, `fill` (an 8-bit level in [0, 255]; 0, black, by default), as a
  rotated scan shows its scanner lid or a document photo its white paper (`fill: 255`).
- "mirror" (OpenCV's reflect-101): the image reflected about its edge. It invents mirrored
  structure (glyph fragments next to text, a second copy of an object near the edge), so it
  is only used on request.

Directions (rotation sign, shift direction, tilt axis) are drawn per image from that image's
generator, one uniform number each, whatever the magnitude: a sweep moves every image further
along the same direction (common random numbers). The alpha channel of RGBA images is not light
and stays unchanged; only the colour moves.

This module also holds the per-image helpers the other image modules share (`each_image`,
`border_mode`, `image_draws`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from wince.errors import ParameterError
from wince.perturbations.arithmetic import cos, sin
from wince.perturbations.base import (
    Batch,
    DataContext,
    Magnitude,
    Phrase,
    Rngs,
    check_choice,
    register,
)
from wince.perturbations.image.base import (
    ImagePerturbation,
    each_image,
    size_px,
)
from wince.perturbations.image.geometry import (
    SourceMap,
    fixed_point_maps,
    invert,
    matmul,
    remap,
    rotation_matrix,
    source_positions,
)
from wince.perturbations.words import count

Image = npt.NDArray[Any]  # one image or a batch, uint8 or float32 (OpenCV accepts both)
Matrix = npt.NDArray[Any]  # 2x3 affine or 3x3 homography, float64

# The `border` option's values, as `geometry.remap` names them.
BORDERS: dict[str, str] = {
    "replicate": "replicate",
    "constant": "constant",
    "mirror": "reflect101",
}

# 35 mm-equivalent focal length of a phone's main camera (26 mm) over the 35 mm frame's
# half-diagonal (21.63 mm): the pinhole model of `Perspective` (about 79 degrees diagonally).
PHONE_FOCAL_PER_HALF_DIAGONAL = 26.0 / math.hypot(18.0, 12.0)


@dataclass(frozen=True)
class Border:
    """What fills the frame beyond a moved image's edge.

    `rule` is a `geometry.remap` border rule; `fill_level` the 8-bit level (0-255) that the
    "constant" rule reads beyond the edge.
    """

    rule: str
    fill_level: int


def border_mode(owner: str, border: object, fill: object) -> Border:
    """The `Border` of a `border` option ("replicate", "constant", "mirror") and its `fill`.

    Raises:
        ParameterError: an unknown border, a fill that is not an integer level in [0, 255],
            or a non-zero fill with a border other than "constant" (it would not be used).
    """
    rule = BORDERS[check_choice(owner, "border", border, tuple(BORDERS))]
    if isinstance(fill, bool) or not isinstance(fill, int | np.integer) or not 0 <= fill <= 255:
        raise ParameterError(
            f"{owner}: fill must be an 8-bit level, an integer in [0, 255] (0 black, 255 "
            f"white); got {fill!r}. Try fill=255 for white paper."
        )
    if fill != 0 and border != "constant":
        raise ParameterError(
            f"{owner}: fill={fill!r} only applies to border='constant'; got border={border!r}. "
            f"Set border='constant' to fill the uncovered frame with level {fill}, or drop fill."
        )
    return Border(rule, int(fill))


def image_draws(rngs: Rngs) -> npt.NDArray[np.float64]:
    """One uniform number in [0, 1) per image, from that image's generator: shape (n,)."""
    return rngs.random(())


def centre_px(x: Image) -> tuple[float, float]:
    """The image centre (x, y) in pixel coordinates (pixel centres at whole numbers)."""
    return (x.shape[2] - 1) / 2.0, (x.shape[1] - 1) / 2.0


def warp(x: Image, matrices: Sequence[Matrix], border: Border) -> tuple[Image, list[SourceMap]]:
    """Resample image i through `matrices[i]` (2x3 affine or 3x3 homography, source to output).

    Bilinear interpolation from fixed-point maps (`geometry`), the same on every CPU; `border`
    fills what lies beyond the source's edge. Returns the images and each one's source map
    (`apply_moving`).
    """
    h, w = x.shape[1:3]
    # a shared matrix is mapped once
    sources = {id(m): source_positions(invert(m), h, w) for m in matrices}
    maps = {key: fixed_point_maps(*source) for key, source in sources.items()}
    out = each_image(
        x, lambda i, image: remap(image, maps[id(matrices[i])], border.rule, border.fill_level)
    )
    return out, [sources[id(m)] for m in matrices]


@register
class Rotation(ImagePerturbation):
    """A camera held slightly askew: the image rotated about its centre, as in a handheld shot.

    The magnitude is the absolute angle in degrees; the sense (clockwise or counter-clockwise)
    is drawn per image, half and half. Handheld snapshots and phone scans are typically a few
    degrees off level (mild 0.5 degrees); 15 degrees is a carelessly held or crookedly mounted
    camera. Angles are resolution-independent. Border: the `border` option (module docstring),
    replicate by default.

    Why this range: no published source found measures the roll of real hand-held or scanned
    captures, so this is a stress test (`stress`): usable in a plan that names it, never in a
    preset.
    """

    name = "image.rotation"
    family = "image.geometry"
    phrase = Phrase(
        lambda v: f"rotating images by {count(v, 'degree')}",
        lambda v: (
            "as in a handheld snapshot"
            if v <= 3
            else "as from a carelessly held camera"
            if v <= 15
            else ""
        ),
    )
    stress = True
    version = 3
    stochastic = True
    moves_pixels = True
    magnitude = Magnitude(
        "angle_deg", unit="degrees", off=0.0, mild=0.5, severe=15.0, limits=(0.0, 180.0)
    )

    def __init__(self, *, border: str = "replicate", fill: int = 0) -> None:
        self.border = border
        self.fill = fill
        self._border = border_mode(self.name, border, fill)

    def apply_moving(
        self, x: Batch, value: float, rngs: Rngs, context: DataContext
    ) -> tuple[Batch, list[SourceMap]]:
        """Rotate every image by +-value degrees about its centre."""
        centre = centre_px(x)
        senses = np.where(image_draws(rngs) < 0.5, 1.0, -1.0)
        matrices = [rotation_matrix(centre, s * value, 1.0) for s in senses]
        return warp(x, matrices, self._border)


@register
class Translation(ImagePerturbation):
    """The subject off-centre: the image shifted, as when a camera is aimed a little off.

    The shift is a percentage of the shorter image side, so it means the same at any
    resolution; its direction is drawn per image, uniformly over all angles. Detectors and
    croppers in a pipeline are commonly off by a few percent (mild 0.5%); 10% is a clearly
    mis-centred subject. Sub-pixel shifts interpolate bilinearly. Border: the `border` option
    (module docstring), replicate by default.

    Why this range: no published source found measures how far real crops are off-centre, so
    this is a stress test (`stress`): usable in a plan that names it, never in a preset.
    """

    name = "image.translation"
    family = "image.geometry"
    phrase = Phrase(
        lambda v: f"the subject shifted off-centre by {v:g}% of the image's shorter side"
    )
    stress = True
    version = 3
    stochastic = True
    moves_pixels = True
    magnitude = Magnitude(
        "shift_pct", unit="% of the shorter side", off=0.0, mild=0.5, severe=10.0,
        limits=(0.0, 100.0),
    )  # fmt: skip

    def __init__(self, *, border: str = "replicate", fill: int = 0) -> None:
        self.border = border
        self.fill = fill
        self._border = border_mode(self.name, border, fill)

    def apply_moving(
        self, x: Batch, value: float, rngs: Rngs, context: DataContext
    ) -> tuple[Batch, list[SourceMap]]:
        """Shift every image by value% of its shorter side in its drawn direction."""
        shift = size_px(value, x)
        angles = 2.0 * np.pi * image_draws(rngs)
        matrices = [
            np.array([[1.0, 0.0, shift * dx], [0.0, 1.0, shift * dy]])
            for dx, dy in zip(cos(angles), sin(angles), strict=True)
        ]
        return warp(x, matrices, self._border)


@register
class Zoom(ImagePerturbation):
    """A tighter framing: the central part of the image cropped and enlarged, as by digital zoom.

    `zoom_pct` is how much the field of view shrinks: the central (100 - zoom_pct)% of the
    width and of the height is kept and resized back to the full size (bilinear), so distances
    from the centre grow by 1 / (1 - zoom_pct/100). A percentage of the field of view is
    resolution-independent. Evaluation crops differ by about 12% (the 224-of-256 centre crop
    of ImageNet models); 30% is a markedly tighter shot. The enlargement also softens the
    image, as digital zoom does (optical zoom would not). The crop lies inside the image, so no
    border is ever seen; the crop stays centred.

    Why this range: no published source found measures how far real crops are tighter than the
    training framing, so this is a stress test (`stress`): usable in a plan that names it, never
    in a preset.
    """

    name = "image.zoom"
    family = "image.geometry"
    phrase = Phrase(lambda v: f"framing zoomed in by {v:g}% of the field of view")
    stress = True
    version = 2
    stochastic = False
    moves_pixels = True
    magnitude = Magnitude(
        "zoom_pct", unit="% of the field of view", off=0.0, mild=2.0, severe=30.0,
        limits=(0.0, 90.0),
    )  # fmt: skip

    def apply_moving(
        self, x: Batch, value: float, rngs: Rngs, context: DataContext
    ) -> tuple[Batch, list[SourceMap]]:
        """Scale every image by 1 / (1 - value/100) about its centre."""
        matrix = rotation_matrix(centre_px(x), 0.0, 1.0 / (1.0 - value / 100.0))
        return warp(x, [matrix] * len(x), Border("reflect101", 0))


def tilt_homography(tilt_deg: float, axis_rad: float, x: Image) -> Matrix:
    """Homography (source to output pixels) of a flat scene seen by a camera tilted `tilt_deg`.

    A pinhole camera (`PHONE_FOCAL_PER_HALF_DIAGONAL`) first faces a plane squarely and sees
    the image; the plane is then turned by `tilt_deg` about the line through the image centre
    at `axis_rad` from the x axis (the camera orbits the centre point, which stays put). A
    plane point (u, v) at unit distance projects to f (u, v) before and to
    f (R (u, v, 0) + e3)_xy / (R (u, v, 0) + e3)_z after, i.e. H = K [r1 r2 e3] K^-1.
    """
    f = PHONE_FOCAL_PER_HALF_DIAGONAL * math.sqrt(x.shape[1] ** 2 + x.shape[2] ** 2) / 2.0
    angles = np.array([axis_rad, math.radians(tilt_deg)])
    ax, cos_t = (float(v) for v in cos(angles))
    ay, sin_t = (float(v) for v in sin(angles))
    # Rodrigues' rotation about the unit axis (ax, ay, 0) by tilt_deg; its third column is
    # replaced by e3 (the plane's normal direction does not map plane points).
    plane = np.array(
        [
            [cos_t + ax * ax * (1.0 - cos_t), ax * ay * (1.0 - cos_t), 0.0],
            [ax * ay * (1.0 - cos_t), cos_t + ay * ay * (1.0 - cos_t), 0.0],
            [-ay * sin_t, ax * sin_t, 1.0],
        ]
    )
    cx, cy = centre_px(x)
    to_camera = np.array([[1.0 / f, 0.0, -cx / f], [0.0, 1.0 / f, -cy / f], [0.0, 0.0, 1.0]])
    to_pixels = np.array([[f, 0.0, cx], [0.0, f, cy], [0.0, 0.0, 1.0]])
    return matmul(matmul(to_pixels, plane), to_camera)


@register
class Perspective(ImagePerturbation):
    """A flat subject photographed at an angle, as a document or sign shot from the side.

    `tilt_deg` is the angle between the camera's sensor and the (planar) scene, in degrees;
    the tilt axis passes through the image centre, which stays fixed, and its direction is
    drawn per image uniformly over all angles (which side recedes). The camera is a pinhole
    with a phone's main-camera field of view (26 mm equivalent, about 79 degrees across the
    diagonal), declared so the distortion for a tilt is that of a real phone shot; angles are
    resolution-independent. Casual document and product photos are a few degrees to 30
    degrees off square. Limits stop at 45 degrees, where the plane's horizon nears the frame
    corner (beyond it the view would include the sky). The receding side shrinks and uncovers
    the frame: the `border` option (module docstring), replicate by default.

    Why this range: no published source found measures the tilt of real hand-held captures of
    flat targets, so this is a stress test (`stress`): usable in a plan that names it, never in
    a preset.
    """

    name = "image.perspective"
    family = "image.geometry"
    phrase = Phrase(lambda v: f"flat subjects photographed {count(v, 'degree')} off square")
    stress = True
    version = 3
    stochastic = True
    moves_pixels = True
    magnitude = Magnitude(
        "tilt_deg", unit="degrees", off=0.0, mild=2.0, severe=30.0, limits=(0.0, 45.0)
    )

    def __init__(self, *, border: str = "replicate", fill: int = 0) -> None:
        self.border = border
        self.fill = fill
        self._border = border_mode(self.name, border, fill)

    def apply_moving(
        self, x: Batch, value: float, rngs: Rngs, context: DataContext
    ) -> tuple[Batch, list[SourceMap]]:
        """Warp every image with the homography of its drawn tilt axis."""
        axes = 2.0 * np.pi * image_draws(rngs)
        return warp(x, [tilt_homography(value, a, x) for a in axes], self._border)
