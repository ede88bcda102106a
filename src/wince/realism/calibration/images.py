"""Image calibration: exposure, contrast, blur, noise, JPEG quality and resolution."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from wince import perturbations
from wince.errors import DataError
from wince.monitor.estimate import (
    LUMA,
    Estimate,
    exposure_ev,
    image_luminance,
    image_luminance_sd,
    image_noise_pct,
    image_noise_sd,
    jpeg_file_qualities,
    laplacian_variance,
    not_estimable,
)
from wince.perturbations.base import DataContext, Modality, Rngs
from wince.realism.calibration.base import (
    SHIFT_GRID,
    TINY,
    CalibrationData,
    FloatArray,
    Measurement,
    Sets,
    bootstrap,
    counts,
    interval_of,
    measure,
    needs_production,
    self_spread,
    shift_function,
    spread_estimate,
)
from wince.realism.calibration.quantities import Quantity

BLUR_GRID_PCT = np.concatenate([np.linspace(0.0, 1.0, 21), np.linspace(1.25, 6.0, 20)])
BLUR_CURVE_IMAGES = 32  # reference images blurred to map a sharpness ratio to a sigma


@dataclass(frozen=True)
class ImageSets(Sets):
    """Image sets (n, h, w, c), with the files they were read from (for JPEG quality).

    Attributes:
        reference_files: the reference image files, or None for arrays.
        production_files: the production image files, or None.
    """

    reference_files: Sequence[Path] | None = None
    production_files: Sequence[Path] | None = None


def calibrate_images(
    reference: Any,
    production: Any | None = None,
    *,
    reference_files: Sequence[Path] | None = None,
    production_files: Sequence[Path] | None = None,
    n_boot: int = 200,
    seed: int = 0,
) -> list[Quantity]:
    """Exposure, contrast, blur, noise, JPEG quality and resolution of image data.

    Args:
        reference: reference images (n, h, w, c), uint8 or float in [0, 1].
        production: production images, same channel count (any size), or None.
        reference_files: the reference image files (JPEG quality of the files).
        production_files: the production image files.
        n_boot: bootstrap replicates for intervals.
        seed: bootstrap seed.

    Returns:
        One `Quantity` per measured magnitude.
    """
    ref = np.asarray(reference)
    prod = None if production is None else np.asarray(production)
    if prod is not None and (prod.ndim != 4 or prod.shape[3] != ref.shape[3]):
        raise DataError(
            f"calibrate: production images have shape {prod.shape}, the reference "
            f"{ref.shape}; both need (n, h, w, c) with the same channel count. Convert one "
            "set to RGB (or to grey) first."
        )
    sets = ImageSets(
        ref,
        prod,
        counts(ref, prod, "images"),
        n_boot,
        seed,
        reference_files=reference_files,
        production_files=production_files,
    )
    return measure(sets, MEASUREMENTS)


def calibrate_image_data(data: CalibrationData, *, n_boot: int, seed: int) -> list[Quantity]:
    """`calibrate_images` of the read datasets, with their files when they are folders."""
    return calibrate_images(
        data.reference_x,
        data.production_x,
        reference_files=getattr(data.reference, "files", None),
        production_files=getattr(data.production, "files", None),
        n_boot=n_boot,
        seed=seed,
    )


# ------------------------------------------------------------------------------------------
# estimators


def _log_luminance(images: Any) -> FloatArray:
    """Per image: log2 of the mean linear luminance."""
    out: FloatArray = np.log2(np.maximum(image_luminance(images), 1e-6))
    return out


def exposure(sets: ImageSets) -> Measurement:
    """Exposure in EV: the shift of log2 mean linear luminance (self: its spread)."""
    ref_log = _log_luminance(sets.reference)
    if sets.production is None:
        samples = self_spread(ref_log, -1.0)
        return Measurement(
            "exposure",
            "image.exposure",
            spread_estimate("image.exposure", "EV", samples, "spread around the median"),
            samples,
            spread="per image: |log2 mean linear luminance - reference median|, as darkening",
            method="exposure spread of the reference images around their median (content "
            "and exposure are not separable without a production set)",
        )
    return Measurement(
        "exposure",
        "image.exposure",
        exposure_ev(sets.reference, sets.production, n_boot=sets.n_boot, seed=sets.seed),
        shift_function(ref_log, _log_luminance(sets.production)),
        spread="shift function of per-image log2 mean linear luminance",
        method="EV mapping the reference's mean linear luminance onto the production "
        "one, clipping and 8-bit rounding simulated (wince.monitor)",
    )


def _log_cv(images: Any) -> FloatArray:
    """Per image: log2 of the coefficient of variation of linear luminance."""
    luminance = image_luminance(images)
    out: FloatArray = np.log2(
        np.maximum(image_luminance_sd(images), 1e-6) / np.maximum(luminance, 1e-6)
    )
    return out


def contrast(sets: ImageSets) -> Measurement:
    """Contrast in %: the change of the CV of linear luminance, which exposure leaves alone."""
    ref_cv = _log_cv(sets.reference)
    if sets.production is not None:
        prod_cv = _log_cv(sets.production)
        pooled = 100.0 * (2.0 ** (np.median(prod_cv) - np.median(ref_cv)) - 1.0)
        reps = bootstrap(
            lambda idx: (
                100.0
                * (
                    2.0
                    ** (
                        np.median(prod_cv[idx % len(prod_cv)])
                        - np.median(ref_cv[idx % len(ref_cv)])
                    )
                    - 1.0
                )
            ),
            max(len(ref_cv), len(prod_cv)),
            n_boot=sets.n_boot,
            seed=sets.seed,
        )
        low, high = interval_of(reps)
        estimate = Estimate("image.contrast", float(pooled), low, high, "%", note="median CV ratio")
        samples = 100.0 * (2.0 ** shift_function(ref_cv, prod_cv) - 1.0)
        spread = "shift function of per-image log2 CV of linear luminance"
    else:
        samples = 100.0 * (2.0 ** self_spread(ref_cv, -1.0) - 1.0)
        estimate = spread_estimate("image.contrast", "%", samples, "spread around the median")
        spread = "per image: CV of linear luminance relative to the reference median, as flattening"
    return Measurement(
        "contrast",
        "image.contrast",
        estimate,
        samples,
        spread=spread,
        method="change of the coefficient of variation (sd / mean) of linear luminance, "
        "which exposure leaves alone; exact for contrast about a mean of 18% grey",
    )


def relative_sharpness(images: Any) -> FloatArray:
    """Per-image variance of the Laplacian over the variance of the luminance, shape (n,).

    Both are of the encoded luminance, so a gain (exposure, contrast) cancels and only the
    share of fine detail remains: blur lowers it, noise raises it.
    """
    x = np.asarray(images)
    c = 3 if x.shape[3] == 4 else x.shape[3]
    weights = LUMA if c == 3 else np.full(c, 1.0 / c)
    scale = 255.0 if x.dtype == np.uint8 else 1.0
    luminance = (x[..., :c].astype(np.float64) / scale) @ weights
    spread = luminance.reshape(len(x), -1).var(axis=1)
    out: FloatArray = laplacian_variance(x) / np.maximum(spread, TINY)
    return out


def blur_sigma_for_ratio(reference: Any, ratios: Sequence[float]) -> tuple[FloatArray, FloatArray]:
    """Gaussian-blur sigma (% of the shorter side) whose blur of `reference` gives each ratio.

    The reference images (up to `BLUR_CURVE_IMAGES`) are blurred with `image.gaussian_blur` at
    the sigmas of `BLUR_GRID_PCT`; the ratio of their median `relative_sharpness` to the
    unblurred one falls monotonically with sigma, and each requested ratio is read off that
    curve by linear interpolation. Ratios >= 1 give 0; ratios below the curve give its largest
    sigma.

    Returns:
        (sigmas for `ratios`, the curve's ratios at `BLUR_GRID_PCT`).
    """
    x = np.asarray(reference)[:BLUR_CURVE_IMAGES]
    blur = perturbations.get("image.gaussian_blur")()
    rngs = Rngs.for_samples([str(i) for i in range(len(x))])
    context = DataContext(Modality.IMAGE)
    base = float(np.median(relative_sharpness(x)))
    # `apply`, not `perturb`: the grid runs past the realistic range on purpose
    curve = np.array(
        [
            float(np.median(relative_sharpness(blur.apply(x, float(s), rngs, context) if s else x)))
            / max(base, TINY)
            for s in BLUR_GRID_PCT
        ]
    )
    curve = np.minimum.accumulate(curve)  # monotone despite rounding to 8 bits
    wanted = np.asarray(ratios, dtype=np.float64)
    sigmas = np.interp(wanted, curve[::-1], BLUR_GRID_PCT[::-1])
    out: FloatArray = np.where(wanted >= 1.0, 0.0, sigmas)
    return out, curve


def sharpness(sets: ImageSets) -> Measurement:
    """Gaussian-blur sigma (% of the shorter side) that explains the production's lost detail."""
    if sets.production is None:
        return needs_production(
            "sharpness",
            "image.gaussian_blur",
            "%",
            "needs --production: blur is a loss of sharpness relative to a "
            "reference, and a set has no sharper version of itself",
            note="needs production data",
            method="variance of the Laplacian",
        )
    ref_sharp = relative_sharpness(sets.reference)
    prod_sharp = relative_sharpness(sets.production)
    ratio = float(np.median(prod_sharp) / max(float(np.median(ref_sharp)), TINY))
    reps = bootstrap(
        lambda idx: float(
            np.median(prod_sharp[idx % len(prod_sharp)])
            / max(float(np.median(ref_sharp[idx % len(ref_sharp)])), TINY)
        ),
        max(len(ref_sharp), len(prod_sharp)),
        n_boot=sets.n_boot,
        seed=sets.seed,
    )
    ratio_low, ratio_high = interval_of(reps)
    per_quantile = np.quantile(prod_sharp, SHIFT_GRID) / np.maximum(
        np.quantile(ref_sharp, SHIFT_GRID), TINY
    )
    sigmas, _ = blur_sigma_for_ratio(sets.reference, [ratio, ratio_low, ratio_high, *per_quantile])
    estimate = Estimate(
        "image.gaussian_blur",
        float(sigmas[0]),
        float(min(sigmas[1], sigmas[2])),
        float(max(sigmas[1], sigmas[2])),
        "% of the shorter side",
        note=f"relative sharpness ratio {ratio:.3g} (production / reference)",
    )
    return Measurement(
        "sharpness",
        "image.gaussian_blur",
        estimate,
        sigmas[3:],
        spread="per quantile of the relative sharpness, each ratio mapped to a sigma",
        method="sigma whose Gaussian blur of the reference images gives the production's "
        "median variance of the Laplacian relative to the luminance variance (a "
        "gain-free sharpness), read off a blur curve of the reference; added noise "
        "raises it and hides blur",
        details={"sharpness_ratio": ratio},
    )


def noise(sets: ImageSets) -> Measurement:
    """Added Gaussian noise in % of full scale, from Immerkær's per-image noise sd."""
    ref_sd = image_noise_sd(sets.reference)
    if sets.production is not None:
        prod_sd = image_noise_sd(sets.production)
        q_ref, q_prod = np.quantile(ref_sd, SHIFT_GRID), np.quantile(prod_sd, SHIFT_GRID)
        samples = 100.0 * np.sqrt(np.maximum(q_prod**2 - q_ref**2, 0.0))
        estimate = image_noise_pct(
            sets.reference, sets.production, n_boot=sets.n_boot, seed=sets.seed
        )
        spread = "per quantile of the per-image noise sd, reference subtracted in variance"
        method = "Immerkær's noise sd, production minus reference in variance (wince.monitor)"
    else:
        samples = 100.0 * ref_sd
        estimate = spread_estimate(
            "image.gaussian_noise", "% of full scale", samples, "noise sd of the images"
        )
        spread = "per image"
        method = "Immerkær's noise sd of each image; edges count as noise, so an upper bound"
    return Measurement(
        "noise", "image.gaussian_noise", estimate, samples, spread=spread, method=method
    )


def jpeg_quality(sets: ImageSets) -> Measurement:
    """JPEG quality of the production files (self: the reference files), per file."""
    files = sets.production_files if sets.production is not None else sets.reference_files
    which = sets.which
    qualities = [q for q in jpeg_file_qualities(list(files or [])) if q is not None]
    if qualities:
        samples = np.array(qualities)
        estimate = spread_estimate("image.jpeg", "libjpeg quality", samples, "median over files")
        why_not = ""
    else:
        samples = np.zeros(0)
        estimate = not_estimable("image.jpeg", "libjpeg quality", "")
        why_not = (
            f"the {which} images are not JPEG files (or are arrays), so no quantisation table "
            "tells their quality"
        )
    return Measurement(
        "jpeg_quality",
        "image.jpeg",
        estimate,
        samples,
        spread=f"per {which} JPEG file",
        method="luminance quantisation table matched to libjpeg's quality scaling",
        n=f"{len(qualities)} of {len(files or [])} {which} files are JPEG",
        why_not=why_not,
    )


def resolution(sets: ImageSets) -> Measurement:
    """Resolution in % per side: the production images' shorter side over the reference's."""
    ref, prod = sets.reference, sets.production
    if prod is not None and min(prod.shape[1:3]) != min(ref.shape[1:3]):
        pct = 100.0 * min(prod.shape[1:3]) / min(ref.shape[1:3])
        estimate = Estimate("image.downscale", pct, pct, pct, "% of the image size per side")
        why_not = ""
    else:
        pct = math.nan
        estimate = not_estimable("image.downscale", "%", "")
        why_not = (
            "production images have the reference's size; effective resolution of images "
            "upscaled to that size is not estimated (see image.gaussian_blur)"
            if prod is not None
            else "needs --production: a folder's images all have one size"
        )
    return Measurement(
        "resolution",
        "image.downscale",
        estimate,
        [pct],
        spread="one value",
        method="shorter side of the production images over the reference's",
        n=f"reference {ref.shape[2]}x{ref.shape[1]} px"
        + (f", production {prod.shape[2]}x{prod.shape[1]} px" if prod is not None else ""),
        why_not=why_not,
    )


# the measurements `calibrate_images` takes, in this order; a perturbation's `calibration` names one
# ("images.<function>")
MEASUREMENTS: tuple[Callable[[ImageSets], Measurement], ...] = (
    exposure,
    contrast,
    sharpness,
    noise,
    jpeg_quality,
    resolution,
)
