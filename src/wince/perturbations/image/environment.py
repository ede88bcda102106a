"""Environment: haze / fog, partial occlusion.

Haze follows the atmospheric scattering model in linear light; occlusion hides a share of the
image area under a finger, a hand or a strap at the frame's edge, rain drops on the lens or a
rectangle, drawn per image. Both leave the alpha channel of RGBA images unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from wince.errors import ParameterError
from wince.perturbations import arithmetic
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
    colour_channels,
    each_image,
    from_float,
    from_linear,
    linear_to_srgb,
    size_px,
    srgb_to_linear,
    to_float,
    to_linear,
    tone_map,
)
from wince.perturbations.image.filters import convolve, gaussian_taps

DEPTHS = ("flat", "vertical")
KINDS = ("finger", "hand", "strap", "drops", "rectangle")
FILLS = ("black", "grey", "noise")


@register
class Haze(ImagePerturbation):
    """Haze or fog between camera and scene, as on a misty morning or through smog.

    The atmospheric scattering model (Koschmieder; used by every dehazing method): the camera
    sees I = J t + A (1 - t) in linear light, where J is the scene radiance, A the airlight
    (light scattered towards the camera) and t = exp(-beta d) the share of scene light that
    crosses the air. The magnitude is that share, `transmission_pct` = 100 t, at the scene
    depth: a quantity one can reason about (the scene lies at ln(100 / T) / 3.91 of the
    meteorological visibility, where contrast drops to 2%). The scale is logarithmic because
    the optical depth beta d = -ln t then grows linearly with severity. Light haze passes 90%;
    10% is fog with the scene at 0.6 of the visibility. Everything is done in linear light.

    Why this range: by construction of Koschmieder's law, t = exp(-3.91 d / V) for a scene at
    distance d in air of visibility V, so each transmission is a distance in a given fog. The
    SynFog data set (Xie et al. 2024, "SynFog: A Photo-realistic Synthetic Fog Dataset based on
    End-to-end Imaging Simulation for Advancing Real-World Defogging in Autonomous Driving",
    arXiv 2403.17094) renders three fog densities, of visibility 600, 300 and 150 m. In the
    lightest, 90% (mild) is a scene 16 m away; in the densest, 10% (severe) is a scene 88 m
    away: both ordinary distances of road scenes.

    Args:
        airlight_pct: the colour of the fog, a grey level in percent of full scale in sRGB
            (encoded) values; 80 (sRGB 204), the light grey of daylight fog, by default.
        depth: "flat" (default): the whole scene at one depth, one t for the image. "vertical":
            depth grows linearly from the bottom row to the top row (a ground plane receding
            to the horizon), the optical depth going from 0.5 to 1.5 times the flat one, so
            it matches the flat case on average over rows.

    Raises:
        ParameterError: `airlight_pct` is not a number in [0, 100], or `depth` is unknown.
    """

    name = "image.haze"
    family = "image.contrast"
    phrase = Phrase(lambda v: f"haze or fog that lets only {v:g}% of the scene's light through")
    version = 1
    stochastic = False
    magnitude = Magnitude(
        "transmission_pct", unit="% of scene light reaching the camera", off=100.0, mild=90.0,
        severe=10.0, limits=(0.1, 100.0), scale="log",
    )  # fmt: skip

    def __init__(self, *, airlight_pct: float = 80.0, depth: str = "flat") -> None:
        real = int | float | np.integer | np.floating
        number = isinstance(airlight_pct, real) and not isinstance(airlight_pct, bool)
        if not (number and 0.0 <= airlight_pct <= 100.0):
            raise ParameterError(
                f"{self.name}: airlight_pct must be a number of % of full scale in [0, 100]; "
                f"got {airlight_pct!r}. Try airlight_pct=80."
            )
        self.airlight_pct = airlight_pct
        self.depth = check_choice(self.name, "depth", depth, DEPTHS)

    def apply(self, x: Batch, value: float, rngs: Rngs, context: DataContext) -> Batch:
        """Mix every pixel with the airlight by its transmission, in linear light."""
        airlight = float(srgb_to_linear(np.array(self.airlight_pct / 100.0)))
        if self.depth == "flat":
            t = value / 100.0

            def curve(v: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
                return np.asarray(linear_to_srgb(srgb_to_linear(v) * t + airlight * (1 - t)))

            return tone_map(x, curve)
        h = x.shape[1]
        factor = np.linspace(1.5, 0.5, h) if h > 1 else np.ones(1)
        rows = arithmetic.exp(math.log(value / 100.0) * factor).astype(np.float32)[:, None, None]
        veil = np.float32(airlight) * (1.0 - rows)
        return each_image(x, lambda i, image: from_linear(to_linear(image) * rows + veil, x.dtype))


def occluder_size(area_px: float, aspect: float, h: int, w: int) -> tuple[float, float]:
    """Width and height (px) of a rectangle of `area_px` and width/height `aspect` that fits.

    Where the drawn aspect does not fit, the rectangle takes the full width (or height) and
    grows in the other direction. Both sides are non-decreasing in the area, so a larger
    occluder always contains a smaller one of the same draws.
    """
    width = min(max(math.sqrt(area_px * aspect), area_px / h), w)
    if width <= 0:  # a tiny area underflows
        return 0.0, 0.0
    return width, min(area_px / width, h)  # min: area / (area / h) may round above h


def coverage(start: float, length: float, size: int) -> npt.NDArray[np.float32]:
    """Covered share of each pixel along one axis by the interval [start, start + length)."""
    edges = np.arange(size, dtype=np.float64)
    covered = np.minimum(start + length, edges + 1.0) - np.maximum(start, edges)
    share: npt.NDArray[np.float32] = np.clip(covered, 0.0, 1.0).astype(np.float32)
    return share


# The Monk Skin Tone scale (Monk 2019; Google's 10 tones, skintone.google), sRGB levels.
MONK_SKIN_TONES = np.array(
    [
        [246, 237, 228], [243, 231, 219], [247, 234, 208], [234, 218, 186], [215, 189, 150],
        [160, 126, 86], [130, 92, 67], [96, 65, 52], [58, 49, 42], [41, 36, 32],
    ]
)  # fmt: skip
# A finger over the lens is in the camera's shadow, lit from behind and the sides: it shows at
# half its reflectance in linear light (one stop under the scene's exposure).
FINGER_SHADE = 0.5
FINGER_DIAMETER = (0.3, 0.6)  # drawn uniformly, in shorter sides of the frame
FINGER_TILT_DEG = 30.0  # the finger's axis leans up to this far from the edge's normal
# Defocus: a finger a centimetre or two before a phone lens is far out of focus; its edge
# fades over this share of its radius (smoothstep).
FINGER_EDGE = 0.6
DROP_COUNT = 24  # drops per image; the requested area sets their common scale
DROP_SIZES = 3.0  # relative drop radii are log-uniform in [1, DROP_SIZES]
DROP_EDGE = 0.4  # a drop's rim fades over this outer share of its radius
DROP_BLUR = 2.0  # % of the shorter side: the sigma of the blurred view through a drop
DROP_VEIL = 0.15  # share of full-scale light a drop scatters into its area (linear light)
# The occluder's size is solved until its area is within this share of the frame of the
# request (Illinois regula falsi, at most `_SIZE_STEPS` evaluations of the coverage).
AREA_TOLERANCE = 1e-6
_SIZE_STEPS = 64

# Linear-light luminance weights of Rec. 709 / sRGB primaries.
_LUMINANCE = np.array([0.2126, 0.7152, 0.0722])


def smoothstep(t: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """3t^2 - 2t^3 on t clipped to [0, 1]: a soft edge, 0 outside and 1 inside."""
    u = np.clip(t, 0.0, 1.0)
    ramp: npt.NDArray[np.float64] = u * u * (3.0 - 2.0 * u)
    return ramp


CoverageAt = Callable[[npt.NDArray[np.float64]], npt.NDArray[np.float64]]


def fitted_size(
    coverage_at: CoverageAt,
    area_px: float,
    low: npt.NDArray[np.float64],
    high: npt.NDArray[np.float64],
) -> npt.NDArray[np.float64]:
    """The size per image (n,) whose coverage sums to `area_px` (within `AREA_TOLERANCE`).

    `coverage_at(size)` maps one size per image (n,) to its coverage (n, h, w) in [0, 1]; its
    sum grows with the size, from at most `area_px` at `low` to at least `area_px` at `high`
    (where it dips on the way, the size found is one of those that give the area). The size is
    found by the Illinois variant of regula falsi, which keeps the bracket and converges in a
    handful of evaluations on the smooth areas of soft-edged shapes.
    """
    first = coverage_at(low)
    tolerance = AREA_TOLERANCE * first[0].size
    excess_low = first.sum(axis=(1, 2)) - area_px  # at most 0
    excess_high = coverage_at(high).sum(axis=(1, 2)) - area_px  # at least 0
    # The secant's end weights: the excesses, halved by the Illinois rule.
    weight_low, weight_high = excess_low, excess_high
    moved = np.zeros(len(low), dtype=np.int8)  # which end moved last: -1 low, +1 high
    for _ in range(_SIZE_STEPS):
        # Each image stops on its own, so its occluder does not depend on the rest of the batch.
        active = np.minimum(-excess_low, excess_high) > tolerance
        if not active.any():
            break
        span = weight_high - weight_low
        trial = high - weight_high * (high - low) / np.where(span > 0, span, 1.0)
        excess = coverage_at(trial).sum(axis=(1, 2)) - area_px
        short = active & (excess < 0)
        long = active & ~short
        # Illinois: when the same end moves twice running, halve the other end's weight.
        weight_high = np.where(short & (moved == -1), weight_high / 2, weight_high)
        weight_low = np.where(long & (moved == 1), weight_low / 2, weight_low)
        low = np.where(short, trial, low)
        excess_low = np.where(short, excess, excess_low)
        weight_low = np.where(short, excess, weight_low)
        high = np.where(long, trial, high)
        excess_high = np.where(long, excess, excess_high)
        weight_high = np.where(long, excess, weight_high)
        moved = np.where(short, -1, np.where(long, 1, moved)).astype(np.int8)
    sizes: npt.NDArray[np.float64] = np.where(-excess_low < excess_high, low, high)
    return sizes


def edge_entry(
    draws: npt.NDArray[np.float64], tilt_deg: float, h: int, w: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Pixel coordinates (n, h, w) in px along and across an axis entering over the frame's edge.

    The axis enters from a drawn edge (`draws[:, 0]`: top, right, bottom, left) at a drawn place
    (`draws[:, 1]`: 10-90% along it; the frame's outline runs through the outer corners of its
    pixels) and leans from the edge's inward normal by up to `tilt_deg` (`draws[:, 2]`). Along
    is measured into the frame from the entry point; across is signed, positive on the axis's
    left in image coordinates (x right, y down).
    """
    edge = np.floor(draws[:, 0] * 4.0).astype(np.intp)  # top, right, bottom, left
    place = 0.1 + 0.8 * draws[:, 1]
    lean = np.deg2rad(tilt_deg * (2.0 * draws[:, 2] - 1.0))
    # Entry point on the frame's edge (pixel centres at whole numbers) and inward normal.
    entry_x = np.choose(
        edge, [place * w - 0.5, w - 0.5, place * w - 0.5, np.full_like(place, -0.5)]
    )
    entry_y = np.choose(
        edge, [np.full_like(place, -0.5), place * h - 0.5, h - 0.5, place * h - 0.5]
    )
    normal_angle = np.choose(edge, [np.pi / 2, np.pi, -np.pi / 2, 0.0]) + lean
    axis_x = arithmetic.cos(normal_angle)[:, None, None]
    axis_y = arithmetic.sin(normal_angle)[:, None, None]
    xs = np.arange(w, dtype=np.float64)[None, None, :] - entry_x[:, None, None]
    ys = np.arange(h, dtype=np.float64)[None, :, None] - entry_y[:, None, None]
    along: npt.NDArray[np.float64] = xs * axis_x + ys * axis_y
    across: npt.NDArray[np.float64] = ys * axis_x - xs * axis_y
    return along, across


def finger_coverage(
    draws: npt.NDArray[np.float64], area_px: float, h: int, w: int
) -> npt.NDArray[np.float64]:
    """Coverage (n, h, w) in [0, 1] of a defocused finger entering the frame, `area_px` in all.

    The finger is a capsule (a strip with a round tip) of a drawn diameter (`FINGER_DIAMETER`)
    that enters from a drawn edge at a drawn place (10-90% along it), leaning by up to
    `FINGER_TILT_DEG`; its edge fades over `FINGER_EDGE` of its radius. It reaches into the
    frame until it covers `area_px` (once it crosses the whole frame, it widens). `draws`
    holds five uniform numbers per image: edge, place, lean, diameter and (unused here) tone.
    """
    radius = (
        min(h, w)
        * (FINGER_DIAMETER[0] + (FINGER_DIAMETER[1] - FINGER_DIAMETER[0]) * draws[:, 3])
        / 2
    )
    along, across = edge_entry(draws, FINGER_TILT_DEG, h, w)
    across = np.abs(across)
    softness = FINGER_EDGE * radius
    diagonal = math.sqrt(h * h + w * w)
    full_length = diagonal + 2.0 * radius + softness  # the tip is past the far edge

    def coverage_at(size: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        reach = np.minimum(size, full_length)[:, None, None]
        width = (radius + np.maximum(size - full_length, 0.0))[:, None, None]
        beyond_tip = np.maximum(along - reach, 0.0)
        distance = np.sqrt(beyond_tip * beyond_tip + across * across) - width
        return smoothstep(0.5 - distance / softness[:, None, None])

    # Outside the frame at `low` (the lean keeps the axis within 60 degrees of the normal,
    # whose cosine is 1/2); the whole frame covered at `high`.
    low = -2.0 * (radius + softness) - 1.0
    high = full_length + 2.0 * diagonal + softness
    return coverage_at(fitted_size(coverage_at, area_px, low, high))


def finger_tones(draws: npt.NDArray[np.float64], channels: int) -> npt.NDArray[np.float64]:
    """Linear light (n, channels) of fingers of the Monk tone drawn by `draws` (n,) in [0, 1).

    At `FINGER_SHADE` of the tone's reflectance; grey images take its luminance.
    """
    count = len(MONK_SKIN_TONES)
    tones = MONK_SKIN_TONES[np.minimum(draws * count, count - 1).astype(np.intp)]
    light: npt.NDArray[np.float64] = FINGER_SHADE * srgb_to_linear(tones / 255.0)
    if channels == 3:
        return light
    red, green, blue = _LUMINANCE
    luminance: npt.NDArray[np.float64] = (
        red * light[:, 0] + green * light[:, 1] + blue * light[:, 2]
    )
    return luminance[:, None]


def drop_coverage(
    draws: npt.NDArray[np.float64], area_px: float, h: int, w: int
) -> npt.NDArray[np.float64]:
    """Coverage (n, h, w) in [0, 1] of `DROP_COUNT` soft discs per image, `area_px` in all.

    `draws` (n, DROP_COUNT, 3): each drop's centre (x, y as fractions of the frame) and
    relative radius (log-uniform in [1, `DROP_SIZES`]). The requested area sets the common
    scale of the radii; each disc's rim fades over `DROP_EDGE` of its radius, and overlapping
    drops cover a pixel as much as the larger coverage.
    """
    centre_x = draws[:, :, 0] * w - 0.5
    centre_y = draws[:, :, 1] * h - 0.5
    relative = arithmetic.exp(math.log(DROP_SIZES) * draws[:, :, 2])
    xs = np.arange(w, dtype=np.float64)[None, None, :]
    ys = np.arange(h, dtype=np.float64)[None, :, None]
    squared = np.full((len(draws), h, w), np.inf)  # to the nearest drop, in its radii, squared
    for k in range(draws.shape[1]):
        dx = (xs - centre_x[:, k, None, None]) / relative[:, k, None, None]
        dy = (ys - centre_y[:, k, None, None]) / relative[:, k, None, None]
        np.minimum(squared, dx * dx + dy * dy, out=squared)
    nearest = np.sqrt(squared)

    def coverage_at(scale: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        s = scale[:, None, None]
        return smoothstep((s - nearest) / (DROP_EDGE * s))

    low = nearest.min(axis=(1, 2)) + 1e-9  # no pixel covered (but one at a drop centre)
    high = nearest.max(axis=(1, 2)) / (1.0 - DROP_EDGE) + 1.0
    return coverage_at(fitted_size(coverage_at, area_px, low, high))


# A hand held up before the lens, open and entering over the frame's edge, in units of half
# the palm's width (about 4.3 cm on an adult hand): capsules (segments with round ends), in
# (along, across) coordinates from the wrist, which sits on the frame's edge: along the arm into
# the frame, and across it towards the thumb. Proportions of an adult hand: the palm 2 wide and
# 2.5 long, fingers of 1.5-2 with their knuckles spread over the palm's width.
HAND_PARTS = (  # (start along, start across, end along, end across, radius)
    (0.0, 0.0, -5.0, 0.0, 0.75),  # forearm, beyond the frame's edge
    (0.9, 0.0, 1.4, 0.0, 1.0),  # palm
    (0.6, 0.8, 1.7, 2.0, 0.28),  # thumb
    (2.25, 0.68, 4.1, 0.9, 0.24),  # index finger
    (2.4, 0.22, 4.35, 0.3, 0.25),  # middle finger
    (2.35, -0.24, 4.15, -0.38, 0.24),  # ring finger
    (2.15, -0.66, 3.6, -0.95, 0.21),  # little finger
)
HAND_TILT_DEG = 30.0  # the arm leans up to this far from the edge's normal
# Defocus: the hand is far nearer than the subject the lens focuses on, so its blur circle and
# its image both grow as 1 / distance: the edge fades over a fixed share of the hand's size,
# the lens's pupil over the hand's width (a phone's 2 mm pupil against a 9 cm palm is 2%, a
# large camera's 25 mm is 30%). Here 0.3 half-palm widths (15% of the palm's width, smoothstep):
# soft, yet fingers stay fingers.
HAND_EDGE = 0.3
# Shading of a rounded body in diffuse light: the rim turns away from the light and shows at
# `HAND_RIM` of the brightness of the inside, which it reaches `HAND_ROUNDING` in from the edge.
HAND_RIM = 0.6
HAND_ROUNDING = 0.5  # half-palm widths


def hand_shape(
    draws: npt.NDArray[np.float64], area_px: float, h: int, w: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Coverage (n, h, w) in [0, 1] of a defocused open hand, `area_px` in all, and its depth.

    The hand (`HAND_PARTS`) enters from a drawn edge with its wrist at a drawn place (10-90%
    along it), leaning by up to `HAND_TILT_DEG`, its thumb on a drawn side; it is scaled about
    the wrist until it covers `area_px`, its edge fading over `HAND_EDGE` half-palm widths.
    The depth is the distance inside the hand's edge in half-palm widths (negative outside).
    `draws` holds five uniform numbers per image: edge, place, lean, thumb side and (unused
    here) tone.
    """
    along, across = edge_entry(draws, HAND_TILT_DEG, h, w)
    across *= np.where(draws[:, 3] < 0.5, -1.0, 1.0)[:, None, None]  # the thumb's side
    along, across = along.astype(np.float32), across.astype(np.float32)

    def depth_at(size: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Distance inside the hand's edge, in half-palm widths, at `size` px per unit."""
        # In float32: seven parts per pixel for each trial size, in half the time of float64.
        s = size[:, None, None].astype(np.float32)
        q_along, q_across = along / s, across / s
        inside = np.full(along.shape, -np.inf, dtype=np.float32)
        for start_along, start_across, end_along, end_across, radius in HAND_PARTS:
            # The nearest point of the part's axis is t of the way from its start to its end.
            axis_along, axis_across = end_along - start_along, end_across - start_across
            from_along, from_across = q_along - start_along, q_across - start_across
            length_squared = axis_along * axis_along + axis_across * axis_across
            t = np.clip(
                (from_along * axis_along + from_across * axis_across) / length_squared, 0, 1
            )
            off_along, off_across = from_along - t * axis_along, from_across - t * axis_across
            off = np.sqrt(off_along * off_along + off_across * off_across)
            np.maximum(inside, radius - off, out=inside)
        return inside.astype(np.float64)

    def coverage_at(size: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return smoothstep(0.5 + depth_at(size) / HAND_EDGE)

    # At `low` the hand is a speck on the edge's outer side; at `high` its palm alone holds
    # the frame.
    diagonal = math.sqrt(h * h + w * w)
    low = np.full(len(draws), 1e-6)
    high = np.full(len(draws), 2.0 * diagonal + 1.0)
    size = fitted_size(coverage_at, area_px, low, high)
    depth = depth_at(size)
    return smoothstep(0.5 + depth / HAND_EDGE), depth


# A camera strap hanging before the lens: a dark band sagging along a circular arc from one
# edge of the frame, far out of focus. Its deepest point lies a drawn share of the shorter
# side from the edge, on an arc of a drawn radius in diagonals. Its edge fades over a share
# of its half-width (like the hand: blur and width both grow as it nears the lens) plus a
# floor: hanging within centimetres of the lens, even a thin strap is a blurred stripe.
STRAP_DEPTH = (0.1, 0.4)  # shorter sides from the edge to the arc's deepest point
STRAP_CURVE = (1.0, 3.0)  # the arc's radius, in frame diagonals
STRAP_TILT_DEG = 20.0  # the sag's direction leans up to this far from the edge's normal
STRAP_EDGE = 0.5  # the edge fades over this share of the half-width (smoothstep) ...
STRAP_BLUR = 0.03  # ... plus this share of the shorter side
# Black webbing (about 5% reflectance) in the camera's shadow, at `FINGER_SHADE`; its rounded
# cross-section shows its rims at `HAND_RIM` of its middle's brightness.
STRAP_REFLECTANCE = 0.05


def strap_shape(
    draws: npt.NDArray[np.float64], area_px: float, h: int, w: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Coverage (n, h, w) in [0, 1] of a defocused strap, `area_px` in all, and its profile.

    The strap's centre line is an arc sagging from a drawn edge (`draws[:, 0]`) at a drawn
    place (`draws[:, 1]`), leaning up to `STRAP_TILT_DEG` (`draws[:, 2]`), its deepest point
    at a drawn depth (`STRAP_DEPTH`, `draws[:, 3]`) on an arc of a drawn radius
    (`STRAP_CURVE`, `draws[:, 4]`); it widens until it covers `area_px`, its edge fading over
    `STRAP_EDGE` of its half-width plus `STRAP_BLUR` of the shorter side. The profile is 1
    on the centre line, falling to 0 at the strap's nominal edge (a half-width away) and
    negative beyond.
    """
    along, across = edge_entry(draws, STRAP_TILT_DEG, h, w)
    depth = min(h, w) * (STRAP_DEPTH[0] + (STRAP_DEPTH[1] - STRAP_DEPTH[0]) * draws[:, 3])
    diagonal = math.sqrt(h * h + w * w)
    radius = diagonal * (STRAP_CURVE[0] + (STRAP_CURVE[1] - STRAP_CURVE[0]) * draws[:, 4])
    below = along - (depth - radius)[:, None, None]  # from the arc's centre, beyond the edge
    off_line = np.abs(np.sqrt(below * below + across * across) - radius[:, None, None])

    def coverage_at(half_width: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        b = half_width[:, None, None]
        return smoothstep(0.5 - (off_line - b) / (STRAP_EDGE * b + STRAP_BLUR * min(h, w)))

    low = np.full(len(draws), 1e-6)  # a hairline, blurred to a faint stripe
    high = np.full(len(draws), 4.0 * diagonal / (1.0 - STRAP_EDGE / 2.0) + diagonal)  # all
    half_width = fitted_size(coverage_at, area_px, low, high)
    return coverage_at(half_width), 1.0 - off_line / half_width[:, None, None]


@register
class Occlusion(ImagePerturbation):
    """Part of the scene hidden, as by a finger or a hand before the lens or rain drops on it.

    The magnitude is the hidden share of the image area in percent: the summed coverage of
    the occluder (a soft edge covers its pixels in part), which matches the request to
    within a millionth of the frame. Random-erasing and cutout augmentations hide 2-40% of
    an image; 1% is a fingertip in a corner or a few fine drops, 25% a finger across a
    third of the frame, a hand reaching across it or a lens streaming with rain. Shapes and
    positions are drawn per image, independently of the area, so a sweep grows the same
    occluder.

    Why this range: a phone held sideways often has a finger over the edge of its lens,
    leaving "a small occlusion area" at the edge of the photo that the user does not notice
    (Qu et al., Xiaomi, "Method and apparatus for detecting finger occlusion image", patent EP
    3933675 A1, 2022), the mild end (1%); no source found measures how large real occlusions
    are, and the severe end (25%, a finger across a third of the frame or a hand across it) is
    not sourced, so this is a stress test (`stress`): usable in a plan that names it, never in
    a preset.

    Args:
        kind: "finger" (default): a finger over the edge of a phone's lens, the accidental
            occlusion of handheld photos, and the one whose size matches the range (a
            fingertip to a third of the frame). It enters from a drawn edge as a capsule
            (a strip with a round tip) 30-60% of the shorter side wide, leaning up to 30
            degrees, and is far out of focus: its edge fades over 60% of its radius. Its
            colour is one of the ten tones of the Monk Skin Tone scale, drawn per image, at
            half its reflectance (in the camera's shadow), mixed in linear light as a
            defocused occluder mixes with the scene (`finger_coverage`).
            "hand": an open hand held up before the lens, as when someone blocks the camera or
            reaches past it: forearm, palm, thumb and four fingers of an adult's proportions
            (`HAND_PARTS`), entering over a drawn edge at a drawn place, leaning up to 30
            degrees, thumb on a drawn side, scaled about the wrist to the requested area. Far
            nearer than the subject, it is out of focus: its edge fades over 15% of the
            palm's width (blur and size both grow as the hand nears the lens). Its tone is a
            Monk skin tone at half its reflectance, as for the finger, and its rim turns away
            from the light: 60% as bright as its inside (`hand_shape`).
            "strap": a camera strap hanging before the lens, an object at the frame's edge:
            a band of black webbing sagging along a circular arc from a drawn edge (its
            deepest point 10-40% of the shorter side in, the arc's radius 1-3 diagonals,
            leaning up to 20 degrees), widened to the requested area. Out of focus, its edge
            fades over half its half-width plus 3% of the shorter side; in the camera's
            shadow it shows at half its 5% reflectance, its rims at 60% of its middle's
            brightness (`strap_shape`).
            "drops": rain drops on the lens, as on outdoor, vehicle and action cameras: 24
            soft discs per image at drawn places, radii drawn within a factor of 3 and scaled
            together to the requested area. Through a drop the scene is seen blurred
            (Gaussian, sigma 2% of the shorter side) and veiled by the light the water
            scatters (15% of full scale): pixels are brightened and softened, never hidden
            (`drop_coverage`).
            "rectangle": an opaque rectangle, for synthetic tests (and version 1's
            occluder): aspect ratio log-uniform in [1/3, 3], corner at drawn fractions (u, v)
            of the room around it, larger areas growing the same rectangle; edge pixels
            covered in proportion, blended on encoded values.
        fill: the rectangle's fill: "black" (default; an opaque object in shadow), "grey"
            (sRGB mid grey) or "noise" (independent uniform levels per pixel and channel,
            drawn per image over the whole frame). Only with kind "rectangle".

    Raises:
        ParameterError: `kind` or `fill` is unknown, or `fill` is set for another kind.
    """

    name = "image.occlusion"
    family = "image.obstruction"
    phrase = Phrase(lambda v: f"{v:g}% of the image hidden behind an obstruction")
    stress = True
    version = 3
    stochastic = True
    magnitude = Magnitude(
        "area_pct", unit="% of the image area", off=0.0, mild=1.0, severe=25.0,
        limits=(0.0, 100.0),
    )  # fmt: skip

    def __init__(self, *, kind: str = "finger", fill: str = "black") -> None:
        self.kind = check_choice(self.name, "kind", kind, KINDS)
        self.fill = check_choice(self.name, "fill", fill, FILLS)
        if fill != "black" and kind != "rectangle":
            raise ParameterError(
                f"{self.name}: fill={fill!r} only applies to kind='rectangle'; got "
                f"kind={kind!r}. Set kind='rectangle' for a filled rectangle, or drop fill."
            )

    def apply(self, x: Batch, value: float, rngs: Rngs, context: DataContext) -> Batch:
        """Hide value% of every image's area under its drawn occluder."""
        if self.kind == "rectangle":
            return self.rectangles(x, value, rngs)
        if len(x) == 0:
            return x.copy()
        h, w = x.shape[1:3]
        c = colour_channels(x)
        area = value / 100.0 * h * w
        if self.kind == "drops":
            draws = rngs.random((DROP_COUNT, 3))
            sigma = size_px(DROP_BLUR, x)
            taps = gaussian_taps(sigma, math.ceil(3.0 * sigma))
            kernel = np.outer(taps, taps)
        else:
            draws = rngs.random((5,))
            tones = finger_tones(draws[:, 4], c)

        # One image at a time: the occluder is solved per image, and its arrays stay in cache.
        def occlude(i: int, image: npt.NDArray[np.generic]) -> npt.NDArray[np.generic]:
            scene = to_linear(image).astype(np.float64)
            if self.kind == "finger":
                cover = finger_coverage(draws[i : i + 1], area, h, w)[0]
                seen = tones[i]
            elif self.kind == "hand":
                hand, depth = hand_shape(draws[i : i + 1], area, h, w)
                cover = hand[0]
                shade = HAND_RIM + (1.0 - HAND_RIM) * smoothstep(depth[0] / HAND_ROUNDING)
                seen = shade[..., None] * tones[i]
            elif self.kind == "strap":
                strap, profile = strap_shape(draws[i : i + 1], area, h, w)
                cover = strap[0]
                shade = HAND_RIM + (1.0 - HAND_RIM) * np.clip(profile[0], 0.0, 1.0)
                seen = (FINGER_SHADE * STRAP_REFLECTANCE * shade)[..., None]
            else:
                cover = drop_coverage(draws[i : i + 1], area, h, w)[0]
                blurred = convolve(scene, kernel, "replicate").reshape(scene.shape)
                seen = blurred + DROP_VEIL * (1.0 - blurred)
            mixed = scene + cover[..., None] * (seen - scene)
            return from_linear(mixed.astype(np.float32), x.dtype)

        return each_image(x, occlude)

    def rectangles(self, x: Batch, value: float, rngs: Rngs) -> Batch:
        """Blend a drawn rectangle of value% of the area with the fill, per image."""
        h, w = x.shape[1:3]
        c = colour_channels(x)
        draws = rngs.random((3,))
        area = value / 100.0 * h * w
        out = x.copy()
        for i, (aspect_draw, u, v) in enumerate(draws):
            width, height = occluder_size(area, 3.0 ** (2.0 * aspect_draw - 1.0), h, w)
            left, top = u * (w - width), v * (h - height)
            rows = slice(math.floor(top), min(h, math.ceil(top + height)))
            cols = slice(math.floor(left), min(w, math.ceil(left + width)))
            share = (
                coverage(top - rows.start, height, rows.stop - rows.start)[:, None, None]
                * coverage(left - cols.start, width, cols.stop - cols.start)[None, :, None]
            )
            if self.fill == "noise":
                levels = rngs[i].integers(0, 256, size=(h, w, c), dtype=np.uint8)
                fill: npt.NDArray[np.float32] | np.float32 = to_float(levels[rows, cols])
            else:
                fill = np.float32(0.0 if self.fill == "black" else 0.5)
            region = to_float(x[i, rows, cols, :c])
            out[i, rows, cols, :c] = from_float(region + share * (fill - region), x.dtype)
        return out
