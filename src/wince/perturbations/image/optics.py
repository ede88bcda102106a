"""Optics: defocus and Gaussian blur, motion blur, lens distortion, chromatic aberration.

Blur kernels follow the pixel model of the rest of the package: a pixel value is the light
integrated over a square pixel, the scene between pixel centres is taken as constant over each
pixel, and the blurred scene is integrated over the output pixel again. The discrete kernel of
a continuous point-spread function (a disk, a line) is therefore the PSF convolved with a
1-pixel tent (the convolution of two pixel boxes), sampled at whole pixels: it is built by
splatting dense samples of the PSF bilinearly onto the pixel grid. Severity is continuous down
to sub-pixel sizes, and a PSF of size 0 gives the identity.

Defocus and motion blur spread light, so they run in linear light (sRGB decoded; uint8 images
go through a lookup table to float32 and back through a 16-bit one): a bright highlight then
spreads into the bright disc or streak a camera records, instead of a dim grey smudge. Borders
of all blurs are reflected (OpenCV's reflect-101), as the scene continues past the frame.
Blurs convolve through scipy's FFT (`filters`), the same on every CPU.
Geometric effects (distortion, chromatic aberration) resample encoded values bilinearly, as
camera pipelines' lens corrections do.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from wince.errors import ParameterError
from wince.perturbations.arithmetic import cos, sin
from wince.perturbations.base import Batch, DataContext, Magnitude, Phrase, Rngs, register
from wince.perturbations.image.base import (
    ImagePerturbation,
    each_image,
    from_float,
    from_linear,
    size_px,
    to_float,
    to_linear,
)
from wince.perturbations.image.filters import convolve, filter_separable_uint8, gaussian_taps
from wince.perturbations.image.framing import Image, border_mode, centre_px, image_draws
from wince.perturbations.image.geometry import (
    Maps,
    SourceMap,
    fixed_point_maps,
    remap,
    rotation_matrix,
    warp_maps,
)
from wince.perturbations.words import signed

Kernel = npt.NDArray[np.float32]
Points = npt.NDArray[np.float64]

# Dense samples per pixel of a PSF's size when it is splatted onto the pixel grid.
_SAMPLES_PER_PX = 4
_MIN_SAMPLES = 16


def splat_kernel(points: Points) -> Kernel:
    """Normalised kernel of equally weighted PSF samples (x, y offsets in px), tent-filtered.

    Each sample is shared bilinearly among its four nearest pixels (the 1-px tent of the pixel
    model); the kernel is odd-sized and centred on offset (0, 0).
    """
    radius = math.ceil(float(np.abs(points).max(initial=0.0))) + 1
    size = 2 * radius + 1
    shifted = points + radius
    base = np.floor(shifted).astype(np.intp)
    frac = shifted - base
    weights = np.zeros(size * size)
    for dy in (0, 1):
        wy = frac[:, 1] if dy else 1.0 - frac[:, 1]
        for dx in (0, 1):
            wx = frac[:, 0] if dx else 1.0 - frac[:, 0]
            index = (base[:, 1] + dy) * size + base[:, 0] + dx
            weights += np.bincount(index, weights=wx * wy, minlength=size * size)
    kernel: Kernel = (weights / weights.sum()).astype(np.float32).reshape(size, size)
    return kernel


def disk_points(radius_px: float) -> Points:
    """Dense, evenly spread samples of a disk of `radius_px` centred on (0, 0)."""
    n = max(_MIN_SAMPLES, math.ceil(_SAMPLES_PER_PX * radius_px))
    ticks = ((np.arange(2 * n) + 0.5) / n - 1.0) * radius_px
    xx, yy = np.meshgrid(ticks, ticks)
    inside = xx * xx + yy * yy <= radius_px * radius_px
    return np.stack([xx[inside], yy[inside]], axis=1)


def line_points(length_px: float, angle_rad: float) -> Points:
    """Evenly spread samples of a segment of `length_px` centred on (0, 0) at `angle_rad`."""
    n = max(_MIN_SAMPLES, math.ceil(_SAMPLES_PER_PX * length_px))
    along = ((np.arange(n) + 0.5) / n - 0.5) * length_px
    angle = np.array([angle_rad])
    return np.stack([along * cos(angle)[0], along * sin(angle)[0]], axis=1)


def blur_linear(x: Image, kernels: list[Kernel]) -> Image:
    """Convolve image i with `kernels[i]` in linear light (colour channels; alpha kept)."""
    return each_image(
        x,
        lambda i, image: from_linear(
            convolve(to_linear(image), kernels[i]).reshape(image.shape), image.dtype
        ),
    )


@register
class DefocusBlur(ImagePerturbation):
    """Out-of-focus blur, as from a missed autofocus or a subject outside the depth of field.

    An out-of-focus lens spreads every scene point into a uniform disc (the circle of
    confusion; a pillbox PSF), here of radius `radius_pct` percent of the shorter image side,
    so a severity blurs the same share of the scene at any resolution. The disc is
    anti-aliased (tent-filtered, module docstring), so sub-pixel radii blur a little rather
    than nothing, and the blur runs in linear light, where highlights spread into bright discs.
    ImageNet-C's defocus radii, 3 to 10 px on 224-px images, span 1.3% to 4.5%; 0.3% is a
    barely soft shot.

    Why this range: no published source found measures the defocus of real photographs in % of
    the image side, so this is a stress test (`stress`): usable in a plan that names it, never
    in a preset.
    """

    name = "image.defocus_blur"
    family = "image.blur"
    phrase = Phrase(lambda v: f"out-of-focus blur of {v:g}% of the image's shorter side")
    stress = True
    version = 2
    stochastic = False
    magnitude = Magnitude(
        "radius_pct", unit="% of the shorter side", off=0.0, mild=0.3, severe=4.5,
        limits=(0.0, 50.0),
    )  # fmt: skip

    def apply(self, x: Batch, value: float, rngs: Rngs, context: DataContext) -> Batch:
        """Convolve every image with the anti-aliased disc, in linear light."""
        kernel = splat_kernel(disk_points(size_px(value, x)))
        return blur_linear(x, [kernel] * len(x))


@register
class GaussianBlur(ImagePerturbation):
    """A soft image, as from a cheap lens, a smudged window or heavy noise reduction.

    The Gaussian's standard deviation is a percentage of the shorter image side (resolution-
    independent). Unlike `image.defocus_blur`, which models the optics in linear light, this
    is the generic softening of a camera pipeline as the robustness literature applies it
    (ImageNet-C, Pillow, albumentations): on the encoded values, so results stay comparable
    with published numbers (and it is twice as fast). The kernel is the Gaussian sampled at
    whole pixels out to 3.5 sigma (as in Pillow). ImageNet-C's sigmas, 1 to 6 px on 224-px
    images, span 0.45% to 2.7%; 0.2% is a barely soft shot.

    uint8 images are filtered in exact integer arithmetic (`filters.filter_separable_uint8`,
    taps in steps of 1/4096), float images by float64 FFT (`filters.convolve`); the two agree
    within one 8-bit level.

    Why this range: no published source found measures the blur of real photographs in % of the
    image side, so this is a stress test (`stress`): usable in a plan that names it, never in a
    preset.
    """

    name = "image.gaussian_blur"
    family = "image.blur"
    phrase = Phrase(lambda v: f"blur of {v:g}% of the image's shorter side")
    calibration = "images.sharpness"
    stress = True
    version = 3
    stochastic = False
    magnitude = Magnitude(
        "sigma_pct", unit="% of the shorter side", off=0.0, mild=0.2, severe=2.5,
        limits=(0.0, 50.0),
    )  # fmt: skip

    def apply(self, x: Batch, value: float, rngs: Rngs, context: DataContext) -> Batch:
        """Convolve every image with the separable Gaussian kernel, on encoded values."""
        # Below 0.05 px the side taps vanish anyway (exp(-200)); the floor avoids overflow.
        sigma = max(size_px(value, x), 0.05)
        taps = gaussian_taps(sigma, math.ceil(3.5 * sigma))
        if x.dtype == np.uint8:
            return each_image(x, lambda i, image: filter_separable_uint8(image, taps))
        kernel = np.outer(taps, taps)
        return each_image(
            x, lambda i, image: from_float(convolve(to_float(image), kernel), image.dtype)
        )


@register
class MotionBlur(ImagePerturbation):
    """Motion blur, as from camera shake or a subject moving during the exposure.

    The scene moves along a straight streak of `length_pct` percent of the shorter image side
    (resolution-independent) during the exposure; the streak is centred on each point, so the
    image does not shift on average. Its angle is the `angle_deg` option (degrees from the x
    axis, counter-clockwise on screen) or, by default, drawn per image uniformly in [0, 180)
    (a centred streak looks the same both ways), independently of the length. Anti-aliased
    (tent-filtered) line kernel, in linear light so highlights streak brightly. Handheld shots
    at 1/30 s smear a few tenths of a percent (mild 0.5%); 8% (18 px at 224 px) is about
    ImageNet-C's strongest level (a 20-px kernel at 224 px), a fast pan or a moving vehicle.

    Why this range: no published source found measures the length of camera-shake or
    subject-motion blur in real photographs, so this is a stress test (`stress`): usable in a
    plan that names it, never in a preset.
    """

    name = "image.motion_blur"
    family = "image.blur"
    phrase = Phrase(lambda v: f"motion blur over {v:g}% of the image's shorter side")
    stress = True
    version = 2
    stochastic = True
    magnitude = Magnitude(
        "length_pct", unit="% of the shorter side", off=0.0, mild=0.5, severe=8.0,
        limits=(0.0, 100.0),
    )  # fmt: skip

    def __init__(self, *, angle_deg: float | None = None) -> None:
        real = int | float | np.integer | np.floating
        number = isinstance(angle_deg, real) and not isinstance(angle_deg, bool)
        if angle_deg is not None and not (number and math.isfinite(angle_deg)):
            raise ParameterError(
                f"{self.name}: angle_deg must be a number of degrees or None (drawn per "
                f"image); got {angle_deg!r}. Try angle_deg=0 (horizontal)."
            )
        self.angle_deg = angle_deg

    def apply(self, x: Batch, value: float, rngs: Rngs, context: DataContext) -> Batch:
        """Convolve every image with its streak kernel, in linear light."""
        length = size_px(value, x)
        if self.angle_deg is None:
            angles = np.pi * image_draws(rngs)
        else:
            angles = np.full(len(x), math.radians(self.angle_deg))
        # Screen y points down: a counter-clockwise angle on screen has a negative y component.
        kernels = [splat_kernel(line_points(length, -a)) for a in angles]
        return blur_linear(x, kernels)


def undistorted_radius(distorted: npt.NDArray[np.float64], k1: float) -> npt.NDArray[np.float64]:
    """Solve r_d = r_u (1 + k1 r_u^2) for r_u on normalised radii (the inverse map).

    The forward model is sampled on a fine grid of r_u over its increasing branch and inverted
    by interpolation. For k1 < 0 the branch ends at r* = 1/sqrt(-3 k1), where the one-term
    model folds back; radii past the fold, which no scene point reaches, continue with unit
    slope (they show border fill past the frame, without a seam).
    """
    top = min(2.0, 1.0 / math.sqrt(-3.0 * k1)) if k1 < 0 else 2.0
    grid = np.linspace(0.0, top, 4097)
    forward = grid * (1.0 + k1 * grid * grid)
    inverse = np.interp(distorted, forward, grid)
    beyond = distorted > forward[-1]
    inverse[beyond] = top + distorted[beyond] - forward[-1]
    return inverse


@register
class LensDistortion(ImagePerturbation):
    """Radial lens distortion: barrel (k1 < 0) as from wide-angle and action cameras, or pincushion.

    Brown-Conrady's one-term model: a scene point at normalised radius r from the image centre
    appears at r (1 + k1 r^2). Radii are normalised by the half-diagonal (centre to corner), so
    k1 is resolution-independent and the corner moves by k1 x 100 percent of the half-diagonal.
    Phone main cameras leave |k1| of a few hundredths uncorrected (mild -0.02); wide-angle and
    action cameras reach -0.1 to -0.3 and more (severe -0.25). Positive values (pincushion, as
    from telephoto lenses) are allowed but outside the declared range.

    Implemented as an inverse map (`geometry.remap`, bilinear): for every output pixel the source
    radius solves the model (`undistorted_radius`). Barrel distortion pulls the frame inwards;
    the margin then shows scene beyond the old edge, which a real camera would capture: the
    `border` option fills it as in `framing`: "replicate" by default; "constant" gives the
    black corners of a lens whose image circle is too small; "mirror" on request. Below
    k1 = -4/27 the one-term model folds before the corner (see `undistorted_radius`).

    Why this range: no published source found measures the residual distortion of real camera
    images after the camera's own correction, so this is a stress test (`stress`): usable in a
    plan that names it, never in a preset.
    """

    name = "image.lens_distortion"
    family = "image.optics"
    phrase = Phrase(
        lambda v: f"{signed(v, 'barrel', 'pincushion')} distortion from the lens (k1 = {v:g})"
    )
    stress = True
    version = 3
    stochastic = False
    moves_pixels = True
    magnitude = Magnitude(
        "distortion_k1", unit="Brown-Conrady k1 on the half-diagonal radius", off=0.0,
        mild=-0.02, severe=-0.25, limits=(-0.5, 0.5),
    )  # fmt: skip

    def __init__(self, *, border: str = "replicate", fill: int = 0) -> None:
        self.border = border
        self.fill = fill
        self._border = border_mode(self.name, border, fill)

    def apply_moving(
        self, x: Batch, value: float, rngs: Rngs, context: DataContext
    ) -> tuple[Batch, list[SourceMap]]:
        """Remap every image through the distortion's inverse map (one map for the batch)."""
        h, w = x.shape[1:3]
        cx, cy = centre_px(x)
        half_diagonal = math.hypot(w, h) / 2.0
        dx = (np.arange(w) - cx)[None, :] / half_diagonal
        dy = (np.arange(h) - cy)[:, None] / half_diagonal
        distorted = np.sqrt(dx * dx + dy * dy)
        ratio = np.ones_like(distorted)
        moved = distorted > 0
        ratio[moved] = undistorted_radius(distorted[moved], value) / distorted[moved]
        source = (cx + dx * ratio * half_diagonal, cy + dy * ratio * half_diagonal)
        maps = fixed_point_maps(*source)
        return each_image(
            x, lambda i, image: remap(image, maps, self._border.rule, self._border.fill_level)
        ), [source] * len(x)


# ITU-R BT.601 luma weights (OpenCV's RGB-to-grey conversion).
_LUMA = (0.299, 0.587, 0.114)


@register
class ChromaticAberration(ImagePerturbation):
    """Lateral chromatic aberration: colour fringes towards the corners, as from cheap lenses.

    Lateral CA is a difference in magnification between wavelengths: red is imaged slightly
    larger than green, blue slightly smaller, so fringes grow linearly from the centre. The
    magnitude is the red-blue separation at the image corner in percent of the centre-to-
    corner distance (red scaled by 1 + v/200 about the centre, blue by 1 - v/200), the unit
    Imatest reports; a relative size means the same at any resolution (a pixel count would
    not: the same lens gives twice the pixels of fringe on a sensor of twice the resolution).
    Imatest grades below 0.04% as negligible and above 0.15% as serious; 0.5% is a cheap
    webcam or wide-angle adapter. Grey images are taken as the BT.601 luma of a colour capture
    with the aberration, so they soften slightly towards the corners. The blue channel is
    shrunk, so its frame edge is reflected (reflect-101).

    Why this range: Imatest's documentation (SFR, "Chromatic Aberration Plot") grades lateral
    CA in % of the centre-to-corner distance: under 0.04 insignificant, 0.04-0.08 minor,
    0.08-0.15 moderate, over 0.15 serious, worst in ultrawide, long telephoto and extreme zoom
    lenses. The mild end (0.04%) is its threshold of visibility and 0.15% a grade it reports,
    but no source found gives values of real lenses or cameras as far as the severe end (0.5%),
    so this is a stress test (`stress`): usable in a plan that names it, never in a preset; a
    sourced severe end would be 0.15%.
    """

    name = "image.chromatic_aberration"
    family = "image.optics"
    phrase = Phrase(
        lambda v: f"colour fringes from the lens ({v:g}% of the centre-to-corner distance)"
    )
    stress = True
    version = 2
    stochastic = False
    magnitude = Magnitude(
        "lateral_ca_pct", unit="% of the centre-to-corner distance", off=0.0, mild=0.04,
        severe=0.5, limits=(0.0, 10.0),
    )  # fmt: skip

    def apply(self, x: Batch, value: float, rngs: Rngs, context: DataContext) -> Batch:
        """Scale red and blue radially in opposite directions about the centre."""
        h, w = x.shape[1:3]
        red_m, blue_m = (
            warp_maps(rotation_matrix(centre_px(x), 0.0, 1.0 + sign * value / 200.0), h, w)
            for sign in (1.0, -1.0)
        )

        def scaled(channel: Image, maps: Maps) -> Image:
            return remap(np.ascontiguousarray(channel), maps, "reflect101")

        def fringe(i: int, image: Image) -> Image:
            if image.shape[2] == 1:
                grey = to_float(image)[:, :, 0]
                red, blue = scaled(grey, red_m), scaled(grey, blue_m)
                return from_float(
                    grey + _LUMA[0] * (red - grey) + _LUMA[2] * (blue - grey), image.dtype
                )
            out = image.copy()
            out[:, :, 0] = scaled(image[:, :, 0], red_m)
            out[:, :, 2] = scaled(image[:, :, 2], blue_m)
            return out

        return each_image(x, fringe)
