"""Calibration: the magnitudes of the library's perturbations that real data actually shows.

`calibrate(reference, production)` measures, in each perturbation's own physical unit, how far
the production inputs sit from the reference ones (or, without production data, how much the
reference varies within itself), and `Calibration.to_yaml()` writes a plan whose sweep values
are the observed p50, p90 and p99 of those magnitudes, with the evidence in comments.

| modality | quantity (unit)               | perturbation             | spread from           |
|----------|-------------------------------|--------------------------|-----------------------|
| image    | exposure (EV)                 | `image.exposure`         | shift fn of log2 lum. |
| image    | contrast (%)                  | `image.contrast`         | shift fn of log2 CV   |
| image    | sharpness -> blur sigma (%)   | `image.gaussian_blur`    | Laplacian quantiles   |
| image    | added noise (% of full scale) | `image.gaussian_noise`   | noise sd quantiles    |
| image    | JPEG quality (files only)     | `image.jpeg`             | per file              |
| image    | resolution (% per side)       | `image.downscale`        | one value             |
| text     | typo rate (of characters)     | `text.typos`             | bootstrap replicates  |
| text     | re-cased words (of words)     | `text.casing`            | bootstrap replicates  |
| text     | punctuation errors            | `text.punctuation`       | bootstrap replicates  |
| audio    | SNR (dB)                      | `audio.additive_noise`   | per clip              |
| audio    | loudness change (dB)          | `audio.gain`             | shift fn of dBFS      |
| audio    | bandwidth (Hz)                | `audio.low_pass`         | one value (spectra)   |
| tabular  | drift (column sd)             | `tabular.sensor_drift`   | per column            |
| tabular  | measurement noise (column sd) | `tabular.gaussian_noise` | per column            |
| tabular  | missing cells (fraction)      | `tabular.missing_values` | per column            |

Pooled estimates (with 95% bootstrap or normal intervals) reuse the estimators of
`wince.monitor.estimate`, so `wince monitor` and `wince calibrate` agree on every number. The
*shift function* compares the production and reference distributions of a per-image (per-clip)
statistic quantile by quantile (Doksum's shift function): Q_prod(q) - Q_ref(q) for q = 5%..95%.
Unpaired data cannot tell which production image came from which reference image, so this is
how far the q-th darkest production image sits from the q-th darkest reference image; for a
uniform change every quantile shifts by the same amount, and a change that hits some images
harder spreads the shifts out.

Without production data the reference is calibrated against itself: the spread of exposure,
contrast and loudness around the reference median, the noise level, JPEG quality of the files,
SNR of the clips, and missing cells. Drift, blur, resolution, typos, casing, punctuation and
bandwidth need a production set (they are a difference between two sets; for typos, no English
word list is shipped, so the reference's vocabulary is the list) and are listed as left out.

Text: the typo rate is `wince.monitor`'s non-word estimator, which assumes the production texts
are *new* texts from the reference's source and that the reference's vocabulary covers theirs.
On a small reference the vocabulary gap is noisy (halves of the 370 demo sentences give clean
estimates of 0.2-1%); production texts that repeat the reference's texts read low.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from wince import perturbations
from wince.errors import DataError
from wince.monitor.estimate import (
    LUMA,
    Estimate,
    clip_level_dbfs,
    clip_snr_db,
    exposure_ev,
    image_luminance,
    image_luminance_sd,
    image_noise_pct,
    image_noise_sd,
    jpeg_file_qualities,
    laplacian_variance,
    loudness_change_db,
    not_estimable,
    snr_db,
    tabular_drift_sd,
    tabular_noise_sd,
    tokens,
    typo_rate_replicates,
)
from wince.perturbations.base import DataContext, Magnitude, Modality, Rngs

FloatArray = npt.NDArray[np.float64]

QUANTILES = (0.5, 0.9, 0.99)
SHIFT_GRID = np.linspace(0.05, 0.95, 91)  # the 1% tails of small sets are too noisy
BLUR_GRID_PCT = np.concatenate([np.linspace(0.0, 1.0, 21), np.linspace(1.25, 6.0, 20)])
BLUR_CURVE_IMAGES = 32  # reference images blurred to map a sharpness ratio to a sigma
DEFAULT_SAMPLE_RATE_HZ = 16_000
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)*")
_TINY = 1e-12
SPREAD_INTERVAL = "middle 95% of the samples"  # what low..high mean for self-calibration


@dataclass(frozen=True)
class Quantity:
    """One calibrated magnitude: a pooled estimate, its spread and the plan values it gives.

    Attributes:
        key: short name of the measured quantity ("exposure", "drift").
        perturbation: registry name of the perturbation whose magnitude it is.
        estimate: the pooled estimate with its 95% interval, in the magnitude's unit.
        samples: the magnitudes whose quantiles become plan values (`spread` says what they
            are: per image, per quantile of the shift function, per column, bootstrap).
        spread: what `samples` are, for the evidence comment.
        params: options of the perturbation in the plan (e.g. `columns`, `style`).
        method: how the value was measured, for the evidence comment.
        n: what the measurement rests on ("64 reference / 64 production images").
        quantiles: observed p50, p90, p99 of `samples` towards the severe side (raw).
        values: the plan values: quantiles clipped to the hard limits, rounded, deduplicated,
            without values indistinguishable from off.
        included: whether the plan lists this perturbation.
        notes: clipping, realism and omission notes.
        details: extra figures (per column) for the evidence comment.
    """

    key: str
    perturbation: str
    estimate: Estimate
    samples: tuple[float, ...]
    spread: str
    params: dict[str, Any]
    method: str
    n: str
    quantiles: tuple[float, ...]
    values: tuple[float, ...]
    included: bool
    notes: tuple[str, ...]
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def magnitude(self) -> Magnitude:
        """The perturbation's magnitude declaration."""
        return perturbations.get(self.perturbation).magnitude

    def to_payload(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "key": self.key,
            "perturbation": self.perturbation,
            "parameter": self.magnitude.name,
            "estimate": self.estimate.to_payload(),
            "quantiles": dict(zip(("p50", "p90", "p99"), self.quantiles, strict=False)),
            "values": list(self.values),
            "params": self.params,
            "included": self.included,
            "method": self.method,
            "n": self.n,
            "spread": self.spread,
            "notes": list(self.notes),
            "details": self.details,
        }


@dataclass(frozen=True)
class Calibration:
    """The calibrated magnitudes of one data set (or reference/production pair).

    Attributes:
        modality: the data's modality.
        reference: where the reference data came from.
        production: where the production data came from, or None (self-calibration).
        n_reference: reference samples.
        n_production: production samples (0 without production data).
        quantities: every quantity measured, included in the plan or not.
    """

    modality: Modality
    reference: str
    production: str | None
    n_reference: int
    n_production: int
    quantities: tuple[Quantity, ...]

    def get(self, key: str) -> Quantity:
        """The quantity named `key` ("exposure", "jpeg_quality", "drift", ...).

        Raises:
            KeyError: no such quantity for this modality.
        """
        for quantity in self.quantities:
            if quantity.key == key:
                return quantity
        raise KeyError(f"{key!r}; measured: {', '.join(q.key for q in self.quantities)}")

    @property
    def included(self) -> list[Quantity]:
        """The quantities the plan lists."""
        return [q for q in self.quantities if q.included]

    def to_payload(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "modality": self.modality.value,
            "reference": self.reference,
            "production": self.production,
            "n_reference": self.n_reference,
            "n_production": self.n_production,
            "quantities": [q.to_payload() for q in self.quantities],
        }

    def to_yaml(
        self,
        *,
        name: str = "calibrated",
        model: dict[str, Any] | None = None,
        data: dict[str, Any] | None = None,
    ) -> str:
        """The calibrated plan as YAML text, with the evidence in comments.

        Args:
            name: the plan's name.
            model: the plan's model section (e.g. copied from a template), or None for a
                commented-out placeholder.
            data: the plan's data section, or None for a placeholder naming the reference.

        Raises:
            DataError: no perturbation shows in the data, so a plan would be empty.
        """
        return render_plan(self, name=name, model=model, data=data)


# ------------------------------------------------------------------------------------------
# turning samples into plan values


def _direction(samples: FloatArray, magnitude: Magnitude) -> float:
    """+1 when larger values are the severe side for these samples, -1 when smaller are."""
    median = float(np.median(samples)) if len(samples) else magnitude.off
    if median != magnitude.off and math.isfinite(median):
        return 1.0 if median > magnitude.off else -1.0
    return 1.0 if magnitude.severe > magnitude.off else -1.0


def severe_quantiles(samples: Sequence[float], magnitude: Magnitude) -> tuple[float, ...]:
    """The p50, p90 and p99 of `samples`, p90 and p99 taken towards the severe side.

    For a magnitude whose severe side is below `off` (darker EV, lower JPEG quality, lower
    SNR) "p90" is the 10th percentile: the value 90% of the samples are milder than.
    """
    values = np.asarray(samples, dtype=np.float64)
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return ()
    sign = _direction(values, magnitude)
    levels = [q if sign > 0 else 1.0 - q for q in QUANTILES]
    return tuple(float(v) for v in np.quantile(values, levels))


def round_value(value: float, magnitude: Magnitude) -> float:
    """A plan value: whole for integer magnitudes, else three significant digits."""
    if magnitude.integer:
        return float(round(value))
    if value == 0 or not math.isfinite(value):
        return float(value)
    return float(f"{value:.3g}")


def _negligible(value: float, magnitude: Magnitude) -> bool:
    """True when `value` is less than half-way (in severity) from `off` to `mild`."""
    if value == magnitude.off:
        return True
    if magnitude.scale == "log" and (value <= 0 or magnitude.off <= 0):
        return False
    return abs(magnitude.severity_of(value)) < 0.5 * abs(magnitude.severity_of(magnitude.mild))


def plan_values(
    quantiles: Sequence[float], magnitude: Magnitude
) -> tuple[tuple[float, ...], list[str]]:
    """Plan values from raw quantiles: clipped to the limits, rounded, deduplicated, off dropped.

    Returns:
        The values and notes on what was clipped, dropped or is outside the realistic range.
    """
    low, high = magnitude.limits
    notes: list[str] = []
    values: list[float] = []
    for label, raw in zip(("p50", "p90", "p99"), quantiles, strict=False):
        value = raw
        if not low <= value <= high:
            value = min(max(value, low), high)
            notes.append(
                f"{label} {raw:.4g} {magnitude.unit} clipped to the hard limit {value:g} "
                f"({magnitude.describe_constraint()})"
            )
        value = round_value(value, magnitude)
        if _negligible(value, magnitude):
            continue
        if value not in values:
            values.append(value)
    realistic_low, realistic_high = magnitude.realistic
    beyond = [
        v
        for v in values
        if not (
            realistic_low <= v <= realistic_high
            or min(magnitude.off, magnitude.severe) <= v <= max(magnitude.off, magnitude.severe)
        )
    ]
    if beyond:
        notes.append(
            f"{', '.join(f'{v:g}' for v in beyond)} outside the realistic range "
            f"[{realistic_low:g}, {realistic_high:g}] {magnitude.unit}: runs flag them"
        )
    return tuple(values), notes


def make_quantity(
    key: str,
    perturbation: str,
    estimate: Estimate,
    samples: Sequence[float] | FloatArray,
    *,
    spread: str,
    method: str,
    n: str,
    params: dict[str, Any] | None = None,
    details: dict[str, Any] | None = None,
    why_not: str = "",
    replicates: bool = False,
) -> Quantity:
    """A `Quantity` with its quantiles and plan values worked out.

    Args:
        key: short name of the quantity.
        perturbation: registry name of the matching perturbation.
        estimate: pooled estimate (not estimable: the quantity is left out).
        samples: magnitudes in the perturbation's unit whose quantiles become plan values.
        spread: what the samples are.
        method: how they were measured.
        n: what they rest on.
        params: perturbation options for the plan entry.
        details: extra figures for the evidence.
        why_not: a reason to leave the quantity out whatever its values.
        replicates: the samples are bootstrap replicates of one pooled value (uncertainty,
            not variation): the quantity is left out when their p50 is indistinguishable from
            off, however far the upper replicates reach.
    """
    magnitude = perturbations.get(perturbation).magnitude
    clean = tuple(float(s) for s in np.asarray(samples, dtype=np.float64) if math.isfinite(s))
    notes: list[str] = []
    quantiles: tuple[float, ...] = ()
    values: tuple[float, ...] = ()
    if why_not:
        notes.append(why_not)
    elif not estimable_quantity(estimate, clean):
        notes.append(estimate.note or "not estimable from these data")
    else:
        quantiles = severe_quantiles(clean, magnitude)
        values, notes = plan_values(quantiles, magnitude)
        if replicates and _negligible(round_value(quantiles[0], magnitude), magnitude):
            values = ()
        if not values:
            shown = ", ".join(f"{q:.3g}" for q in quantiles)
            notes.append(
                f"no evidence of this variation: p50/p90/p99 = {shown} {magnitude.unit} are all "
                f"within half of the mild value ({magnitude.mild:g}) of off ({magnitude.off:g})"
            )
    return Quantity(
        key=key,
        perturbation=perturbation,
        estimate=estimate,
        samples=clean,
        spread=spread,
        params=params or {},
        method=method,
        n=n,
        quantiles=quantiles,
        values=values,
        included=bool(values),
        notes=tuple(notes),
        details=details or {},
    )


def estimable_quantity(estimate: Estimate, samples: Sequence[float]) -> bool:
    """True when the estimate is usable and there are samples to take quantiles of."""
    return estimate.estimable and len(samples) > 0


def shift_function(reference: FloatArray, production: FloatArray) -> FloatArray:
    """Q_prod(q) - Q_ref(q) for q = 5%, 6%, ..., 95% (Doksum's shift function), shape (91,)."""
    ref = reference[np.isfinite(reference)]
    prod = production[np.isfinite(production)]
    if len(ref) == 0 or len(prod) == 0:
        return np.zeros(0)
    out: FloatArray = np.quantile(prod, SHIFT_GRID) - np.quantile(ref, SHIFT_GRID)
    return out


def _self_spread(values: FloatArray, sign: float) -> FloatArray:
    """|deviation from the median| with the severe side's sign (self-calibration spread)."""
    finite = values[np.isfinite(values)]
    out: FloatArray = sign * np.abs(finite - np.median(finite))
    return out


def _spread_estimate(perturbation: str, unit: str, samples: FloatArray, note: str) -> Estimate:
    """An `Estimate` whose value is the median of `samples` and interval their 2.5-97.5%."""
    finite = samples[np.isfinite(samples)]
    if len(finite) == 0:
        return not_estimable(perturbation, unit, "no finite measurement")
    low, high = np.percentile(finite, [2.5, 97.5])
    return Estimate(
        perturbation,
        float(np.median(finite)),
        float(low),
        float(high),
        unit,
        note=note,
        details={"interval": SPREAD_INTERVAL},
    )


def _bootstrap(
    statistic: Callable[[npt.NDArray[np.intp]], float], n: int, *, n_boot: int, seed: int
) -> FloatArray:
    rng = np.random.default_rng(seed)
    return np.array([statistic(rng.integers(0, n, size=n)) for _ in range(n_boot)])


def _interval_of(reps: FloatArray) -> tuple[float, float]:
    finite = reps[np.isfinite(reps)]
    if len(finite) == 0:
        return math.nan, math.nan
    low, high = np.percentile(finite, [2.5, 97.5])
    return float(low), float(high)


# ------------------------------------------------------------------------------------------
# images


def _image_counts(ref: Any, prod: Any | None) -> str:
    return f"{len(ref)} reference" + (
        f" / {len(prod)} production images" if prod is not None else " images"
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
    out: FloatArray = laplacian_variance(x) / np.maximum(spread, _TINY)
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
            / max(base, _TINY)
            for s in BLUR_GRID_PCT
        ]
    )
    curve = np.minimum.accumulate(curve)  # monotone despite rounding to 8 bits
    wanted = np.asarray(ratios, dtype=np.float64)
    sigmas = np.interp(wanted, curve[::-1], BLUR_GRID_PCT[::-1])
    out: FloatArray = np.where(wanted >= 1.0, 0.0, sigmas)
    return out, curve


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
    n = _image_counts(ref, prod)
    out: list[Quantity] = []

    # exposure: log2 of the mean linear luminance, per image
    ref_log = np.log2(np.maximum(image_luminance(ref), 1e-6))
    if prod is not None:
        prod_log = np.log2(np.maximum(image_luminance(prod), 1e-6))
        out.append(
            make_quantity(
                "exposure",
                "image.exposure",
                exposure_ev(ref, prod, n_boot=n_boot, seed=seed),
                shift_function(ref_log, prod_log),
                spread="shift function of per-image log2 mean linear luminance",
                method="EV mapping the reference's mean linear luminance onto the production "
                "one, clipping and 8-bit rounding simulated (wince.monitor)",
                n=n,
            )
        )
    else:
        samples = _self_spread(ref_log, -1.0)
        out.append(
            make_quantity(
                "exposure",
                "image.exposure",
                _spread_estimate("image.exposure", "EV", samples, "spread around the median"),
                samples,
                spread="per image: |log2 mean linear luminance - reference median|, as darkening",
                method="exposure spread of the reference images around their median (content "
                "and exposure are not separable without a production set)",
                n=n,
            )
        )

    # contrast: coefficient of variation of linear luminance, exposure-invariant
    def log_cv(x: Any) -> FloatArray:
        lum = image_luminance(x)
        out_: FloatArray = np.log2(np.maximum(image_luminance_sd(x), 1e-6) / np.maximum(lum, 1e-6))
        return out_

    ref_cv = log_cv(ref)
    if prod is not None:
        prod_cv = log_cv(prod)
        pooled = 100.0 * (2.0 ** (np.median(prod_cv) - np.median(ref_cv)) - 1.0)
        reps = _bootstrap(
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
            n_boot=n_boot,
            seed=seed,
        )
        low, high = _interval_of(reps)
        estimate = Estimate("image.contrast", float(pooled), low, high, "%", note="median CV ratio")
        samples = 100.0 * (2.0 ** shift_function(ref_cv, prod_cv) - 1.0)
        spread = "shift function of per-image log2 CV of linear luminance"
    else:
        samples = 100.0 * (2.0 ** _self_spread(ref_cv, -1.0) - 1.0)
        estimate = _spread_estimate("image.contrast", "%", samples, "spread around the median")
        spread = "per image: CV of linear luminance relative to the reference median, as flattening"
    out.append(
        make_quantity(
            "contrast",
            "image.contrast",
            estimate,
            samples,
            spread=spread,
            method="change of the coefficient of variation (sd / mean) of linear luminance, "
            "which exposure leaves alone; exact for contrast about a mean of 18% grey",
            n=n,
        )
    )

    # sharpness -> Gaussian blur sigma
    if prod is not None:
        ref_sharp, prod_sharp = relative_sharpness(ref), relative_sharpness(prod)
        ratio = float(np.median(prod_sharp) / max(float(np.median(ref_sharp)), _TINY))
        reps = _bootstrap(
            lambda idx: float(
                np.median(prod_sharp[idx % len(prod_sharp)])
                / max(float(np.median(ref_sharp[idx % len(ref_sharp)])), _TINY)
            ),
            max(len(ref_sharp), len(prod_sharp)),
            n_boot=n_boot,
            seed=seed,
        )
        ratio_low, ratio_high = _interval_of(reps)
        per_quantile = np.quantile(prod_sharp, SHIFT_GRID) / np.maximum(
            np.quantile(ref_sharp, SHIFT_GRID), _TINY
        )
        sigmas, _ = blur_sigma_for_ratio(ref, [ratio, ratio_low, ratio_high, *per_quantile])
        estimate = Estimate(
            "image.gaussian_blur",
            float(sigmas[0]),
            float(min(sigmas[1], sigmas[2])),
            float(max(sigmas[1], sigmas[2])),
            "% of the shorter side",
            note=f"relative sharpness ratio {ratio:.3g} (production / reference)",
        )
        out.append(
            make_quantity(
                "sharpness",
                "image.gaussian_blur",
                estimate,
                sigmas[3:],
                spread="per quantile of the relative sharpness, each ratio mapped to a sigma",
                method="sigma whose Gaussian blur of the reference images gives the production's "
                "median variance of the Laplacian relative to the luminance variance (a "
                "gain-free sharpness), read off a blur curve of the reference; added noise "
                "raises it and hides blur",
                n=n,
                details={"sharpness_ratio": ratio},
            )
        )
    else:
        out.append(
            make_quantity(
                "sharpness",
                "image.gaussian_blur",
                not_estimable("image.gaussian_blur", "%", "needs production data"),
                [],
                spread="",
                method="variance of the Laplacian",
                n=n,
                why_not="needs --production: blur is a loss of sharpness relative to a "
                "reference, and a set has no sharper version of itself",
            )
        )

    # noise
    ref_sd = image_noise_sd(ref)
    if prod is not None:
        prod_sd = image_noise_sd(prod)
        q_ref, q_prod = np.quantile(ref_sd, SHIFT_GRID), np.quantile(prod_sd, SHIFT_GRID)
        samples = 100.0 * np.sqrt(np.maximum(q_prod**2 - q_ref**2, 0.0))
        estimate = image_noise_pct(ref, prod, n_boot=n_boot, seed=seed)
        spread = "per quantile of the per-image noise sd, reference subtracted in variance"
        method = "Immerkær's noise sd, production minus reference in variance (wince.monitor)"
    else:
        samples = 100.0 * ref_sd
        estimate = _spread_estimate(
            "image.gaussian_noise", "% of full scale", samples, "noise sd of the images"
        )
        spread = "per image"
        method = "Immerkær's noise sd of each image; edges count as noise, so an upper bound"
    out.append(
        make_quantity(
            "noise", "image.gaussian_noise", estimate, samples, spread=spread, method=method, n=n
        )
    )

    # JPEG quality from the files' quantisation tables
    files = production_files if prod is not None else reference_files
    which = "production" if prod is not None else "reference"
    qualities = [q for q in jpeg_file_qualities(list(files or [])) if q is not None]
    if qualities:
        samples = np.array(qualities)
        estimate = _spread_estimate("image.jpeg", "libjpeg quality", samples, "median over files")
        why_not = ""
    else:
        samples = np.zeros(0)
        estimate = not_estimable("image.jpeg", "libjpeg quality", "")
        why_not = (
            f"the {which} images are not JPEG files (or are arrays), so no quantisation table "
            "tells their quality"
        )
    out.append(
        make_quantity(
            "jpeg_quality",
            "image.jpeg",
            estimate,
            samples,
            spread=f"per {which} JPEG file",
            method="luminance quantisation table matched to libjpeg's quality scaling",
            n=f"{len(qualities)} of {len(files or [])} {which} files are JPEG",
            why_not=why_not,
        )
    )

    # resolution
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
    out.append(
        make_quantity(
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
    )
    return out


# ------------------------------------------------------------------------------------------
# text


def _words(text: str) -> list[str]:
    return _WORD.findall(text)


def _case_shares(texts: Sequence[str]) -> FloatArray:
    """Per text: counts of words, lower-case, UPPER-case (2+ letters) and Title-case words."""
    out = np.zeros((len(texts), 4))
    for i, text in enumerate(texts):
        words = _words(text)
        out[i] = (
            len(words),
            sum(w.islower() for w in words),
            sum(len(w) > 1 and w.isupper() for w in words),
            sum(len(w) > 1 and w[0].isupper() and w[1:].islower() for w in words),
        )
    return out


def _punctuation_counts(texts: Sequence[str]) -> FloatArray:
    """Per text: punctuation marks (Unicode category P), letters and digits, and words."""
    return np.array(
        [
            (
                sum(unicodedata.category(ch).startswith("P") for ch in t),
                sum(ch.isalnum() for ch in t),
                len(tokens(t)),
            )
            for t in texts
        ],
        dtype=np.float64,
    ).reshape(len(texts), 3)


def calibrate_text(
    reference: Sequence[str],
    production: Sequence[str] | None = None,
    *,
    n_boot: int = 200,
    seed: int = 0,
) -> list[Quantity]:
    """Typo rate, casing and punctuation habits of text data.

    All three need production texts. Per-text rates are too noisy to take quantiles of (a
    sentence holds a few typos at most), so the plan values are the p50, p90 and p99 of
    bootstrap replicates of the pooled rate: the plausible range of the rate, not a spread over
    texts; a rate whose p50 is indistinguishable from off is left out.

    Args:
        reference: reference texts.
        production: production texts, or None.
        n_boot: bootstrap replicates.
        seed: bootstrap seed.
    """
    ref = list(reference)
    prod = None if production is None else list(production)
    n = f"{len(ref)} reference" + (
        f" / {len(prod)} production texts" if prod is not None else " texts"
    )
    spread = f"{n_boot} bootstrap replicates of the pooled rate (texts resampled)"
    out: list[Quantity] = []
    if prod is not None:  # typos against the reference's vocabulary
        value, nonword, base, reps = typo_rate_replicates(ref, prod, n_boot=n_boot, seed=seed)
        low, high = _interval_of(reps)
        out.append(
            make_quantity(
                "typos",
                "text.typos",
                Estimate("text.typos", value, low, high, "fraction of characters"),
                reps,
                spread=spread,
                replicates=True,
                method="share of production tokens missing from the reference vocabulary, above "
                "the reference's own, turned into a per-character rate via word lengths "
                "(wince.monitor)",
                n=n,
                details={"nonword_rate": nonword, "reference_nonword_rate": base},
            )
        )
    if prod is None:
        reasons = {
            "typos": "needs --production: no English word list is shipped, and within one set "
            "rare words cannot be told from misspellings",
            "casing": "needs --production: casing habits are a difference between sets",
            "punctuation": "needs --production: punctuation habits are a difference between sets",
        }
        for key, name in (
            ("typos", "text.typos"),
            ("casing", "text.casing"),
            ("punctuation", "text.punctuation"),
        ):
            out.append(
                make_quantity(
                    key,
                    name,
                    not_estimable(name, "", ""),
                    [],
                    spread="",
                    method="",
                    n=n,
                    why_not=reasons[key],
                )
            )
        return out

    # casing: the style whose share of words grew most; rate over the words not yet in it
    ref_case, prod_case = _case_shares(ref), _case_shares(prod)
    styles = {1: "lower", 2: "upper", 3: "title"}

    def case_rate(r: FloatArray, p: FloatArray, column: int) -> float:
        share_r = r[:, column].sum() / max(r[:, 0].sum(), 1.0)
        share_p = p[:, column].sum() / max(p[:, 0].sum(), 1.0)
        return float((share_p - share_r) / max(1.0 - share_r, _TINY))

    rates = {c: case_rate(ref_case, prod_case, c) for c in styles}
    column = max(rates, key=lambda c: rates[c])
    reps = _bootstrap(
        lambda idx: case_rate(ref_case, prod_case[idx], column), len(prod), n_boot=n_boot, seed=seed
    )
    low, high = _interval_of(reps)
    out.append(
        make_quantity(
            "casing",
            "text.casing",
            Estimate("text.casing", rates[column], low, high, "fraction of words"),
            reps,
            spread=spread,
            replicates=True,
            method=f"growth of the share of {styles[column]}-case words over the reference's, "
            "per word not already in that case (lower/upper/title tried; largest kept)",
            n=n,
            params={"style": styles[column]},
            details={f"{styles[c]}_rate": rates[c] for c in styles},
        )
    )

    # punctuation: marks per letter (removal and addition leave letters alone, not words:
    # "don't" loses a token when its apostrophe goes)
    ref_p, prod_p = _punctuation_counts(ref), _punctuation_counts(prod)
    per_letter_ref = ref_p[:, 0].sum() / max(ref_p[:, 1].sum(), 1.0)

    def punct_rate(p: FloatArray) -> float:
        expected = per_letter_ref * p[:, 1].sum()  # marks the production would hold unchanged
        marks = p[:, 0].sum()
        if marks < expected:
            return float(1.0 - marks / max(expected, _TINY))
        return float((marks - expected) / max(p[:, 2].sum(), 1.0))

    value = punct_rate(prod_p)
    per_letter_prod = prod_p[:, 0].sum() / max(prod_p[:, 1].sum(), 1.0)
    mode = "remove" if per_letter_prod < per_letter_ref else "add"
    reps = _bootstrap(lambda idx: punct_rate(prod_p[idx]), len(prod), n_boot=n_boot, seed=seed)
    low, high = _interval_of(reps)
    out.append(
        make_quantity(
            "punctuation",
            "text.punctuation",
            Estimate("text.punctuation", value, low, high, "fraction of marks and word ends"),
            reps,
            spread=spread,
            replicates=True,
            method=f"punctuation marks per letter: {per_letter_prod:.3g} in production, "
            f"{per_letter_ref:.3g} in the reference; fewer read as removed marks (share of the "
            "marks expected), more as marks added after words (per word)",
            n=n,
            params={"mode": mode},
        )
    )
    return out


# ------------------------------------------------------------------------------------------
# audio


def low_pass_cutoff_hz(
    reference: Any, production: Any, *, sample_rate_hz: int, drop_db: float = 6.0
) -> tuple[float, FloatArray, FloatArray]:
    """Cutoff of a low-pass filter between the reference and production clips, in Hz.

    The average power spectra (Welch, 1024-sample segments) are summed in sixth-octave bands
    from 50 Hz to Nyquist and divided, production over reference, then levelled by the median
    ratio of the bands below 1/8 of Nyquist (a gain change is not a filter). Bands where the
    reference holds less than 1e-5 of its strongest band's power are skipped. The cutoff is
    where the ratio falls `drop_db` below that level and stays below up to Nyquist (6 dB is
    where `audio.low_pass`, an order-4 Butterworth run forward and back, puts its cutoff),
    interpolated between band centres on a log-frequency axis.

    Returns:
        (cutoff in Hz, or inf when the top bands keep their level; band centres in Hz;
        levelled ratio per band in dB, NaN where skipped).
    """
    from scipy.signal import welch

    ref = np.asarray(reference, dtype=np.float64)
    prod = np.asarray(production, dtype=np.float64)
    segment = min(1024, ref.shape[1], prod.shape[1])
    freqs, p_ref = welch(ref, fs=sample_rate_hz, nperseg=segment, axis=1)
    _, p_prod = welch(prod, fs=sample_rate_hz, nperseg=segment, axis=1)
    p_ref, p_prod = p_ref.mean(axis=0), p_prod.mean(axis=0)
    nyquist = sample_rate_hz / 2
    edges = 50.0 * 2.0 ** (np.arange(0, 120) / 6.0)
    edges = np.append(edges[edges < nyquist * 0.95], nyquist)
    centres = np.sqrt(edges[:-1] * edges[1:])
    band_of = np.digitize(freqs, edges) - 1
    keep = (band_of >= 0) & (band_of < len(centres))
    ref_bands = np.bincount(band_of[keep], weights=p_ref[keep], minlength=len(centres))
    prod_bands = np.bincount(band_of[keep], weights=p_prod[keep], minlength=len(centres))
    usable = ref_bands > ref_bands.max(initial=0.0) * 1e-5
    ratio_db = np.full(len(centres), np.nan)
    ratio_db[usable] = 10.0 * np.log10(np.maximum(prod_bands[usable], _TINY) / ref_bands[usable])
    low_band = usable & (centres <= nyquist / 8)
    if not low_band.any():
        return math.inf, centres, ratio_db
    ratio_db -= float(np.median(ratio_db[low_band]))
    checked = np.flatnonzero(usable)
    below = ratio_db[checked] < -drop_db
    if not below[-1]:
        return math.inf, centres, ratio_db
    # the last run of bands below the threshold, up to the top usable band
    start = len(below) - int(np.argmin(below[::-1])) if not below.all() else 0
    i = int(checked[start])
    if start == 0:
        return float(centres[i]), centres, ratio_db
    j = int(checked[start - 1])
    a, b = ratio_db[j] + drop_db, ratio_db[i] + drop_db  # a >= 0 > b
    t = a / (a - b) if a != b else 0.0
    cutoff = math.exp(math.log(centres[j]) + t * (math.log(centres[i]) - math.log(centres[j])))
    return cutoff, centres, ratio_db


def calibrate_audio(
    reference: Any,
    production: Any | None = None,
    *,
    sample_rate_hz: int | None = None,
    n_boot: int = 200,
    seed: int = 0,
) -> list[Quantity]:
    """SNR, loudness and bandwidth of audio clips.

    Args:
        reference: reference clips (n, samples), float in [-1, 1].
        production: production clips, or None.
        sample_rate_hz: samples per second (default 16 kHz, noted).
        n_boot: bootstrap replicates.
        seed: bootstrap seed.
    """
    ref = np.asarray(reference, dtype=np.float64)
    prod = None if production is None else np.asarray(production, dtype=np.float64)
    n = f"{len(ref)} reference" + (
        f" / {len(prod)} production clips" if prod is not None else " clips"
    )
    out: list[Quantity] = []

    target = prod if prod is not None else ref
    which = "production" if prod is not None else "reference"
    per_clip = clip_snr_db(target)
    ref_clips = clip_snr_db(ref)
    ref_clips = ref_clips[np.isfinite(ref_clips)]
    ref_snr = float(np.median(ref_clips)) if prod is not None and len(ref_clips) else math.nan
    out.append(
        make_quantity(
            "snr",
            "audio.additive_noise",
            snr_db(target, n_boot=n_boot, seed=seed),
            per_clip,
            spread=f"per {which} clip",
            method="signal over the noise floor of each clip's quietest 10% of frames "
            "(wince.monitor); exact for steady noise when clips have pauses"
            + (
                f"; the reference's own median SNR is {ref_snr:.3g} dB"
                if math.isfinite(ref_snr)
                else ""
            ),
            n=n,
        )
    )

    ref_level = clip_level_dbfs(ref)
    if prod is not None:
        samples = shift_function(ref_level, clip_level_dbfs(prod))
        estimate = loudness_change_db(ref, prod, n_boot=n_boot, seed=seed)
        spread = "shift function of per-clip RMS level (dBFS)"
        method = "RMS level change, production minus reference (wince.monitor)"
    else:
        samples = _self_spread(ref_level, -1.0)
        estimate = _spread_estimate("audio.gain", "dB", samples, "level spread")
        spread = "per clip: |RMS level - reference median| in dB, as quieter"
        method = (
            f"spread of the clips' RMS level around the median, "
            f"{float(np.median(ref_level[np.isfinite(ref_level)])):.3g} dBFS"
        )
    out.append(
        make_quantity(
            "loudness", "audio.gain", estimate, samples, spread=spread, method=method, n=n
        )
    )

    rate = sample_rate_hz or DEFAULT_SAMPLE_RATE_HZ
    rate_note = "" if sample_rate_hz else f"; sample rate unknown, {rate} Hz assumed"
    if prod is not None:
        cutoff, _, _ = low_pass_cutoff_hz(ref, prod, sample_rate_hz=rate)
        nyquist = rate / 2
        estimate = (
            Estimate("audio.low_pass", cutoff, math.nan, math.nan, "Hz", note="pooled spectra")
            if math.isfinite(cutoff)
            else not_estimable("audio.low_pass", "Hz", "")
        )
        out.append(
            make_quantity(
                "bandwidth",
                "audio.low_pass",
                estimate,
                [cutoff] if math.isfinite(cutoff) else [],
                spread="one value (average spectra)",
                method="first frequency where the production/reference power spectrum ratio falls "
                "6 dB below its low-band level (the cutoff of audio.low_pass)" + rate_note,
                n=n,
                why_not=""
                if math.isfinite(cutoff)
                else f"no evidence of band limiting: the production spectrum keeps the "
                f"reference's up to Nyquist ({nyquist:g} Hz)",
            )
        )
    else:
        out.append(
            make_quantity(
                "bandwidth",
                "audio.low_pass",
                not_estimable("audio.low_pass", "Hz", ""),
                [],
                spread="",
                method="",
                n=n,
                why_not="needs --production: a clip's own spectrum cannot tell a filter from "
                "quiet highs",
            )
        )
    return out


# ------------------------------------------------------------------------------------------
# tabular


def within_group_noise_sd(table: Any, groups: Sequence[Any]) -> FloatArray:
    """Per column: within-group (repeated-measurement) sd over the column's sd, shape (k,).

    Rows sharing a group id measure the same thing, so their spread is measurement noise:
    sqrt(sum of squared deviations from the group means / (rows - groups)), divided by the
    column's overall sd (`tabular.gaussian_noise`'s unit). NaN cells are ignored; a column
    without repeats or with sd 0 gives NaN.
    """
    x = np.asarray(table, dtype=np.float64)
    labels = np.unique(np.asarray([str(g) for g in groups]), return_inverse=True)[1]
    out = np.full(x.shape[1], np.nan)
    for j in range(x.shape[1]):
        column = x[:, j]
        ok = np.isfinite(column)
        if ok.sum() < 2:
            continue
        g = labels[ok]
        values = column[ok]
        sums = np.bincount(g, weights=values)
        counts = np.bincount(g)
        means = sums[g] / counts[g]
        dof = ok.sum() - np.count_nonzero(counts)
        sd = values.std(ddof=1)
        if dof > 0 and sd > 0:
            out[j] = math.sqrt(float(np.sum((values - means) ** 2)) / dof) / sd
    return out


def _columns_note(names: Sequence[str], values: Sequence[float], unit: str) -> str:
    return ", ".join(f"{n} {v:+.3g}" for n, v in zip(names, values, strict=True)) + f" {unit}"


def calibrate_table(
    reference: Any,
    production: Any | None = None,
    *,
    feature_names: Sequence[str] | None = None,
    groups: Sequence[Any] | None = None,
    n_boot: int = 200,
    seed: int = 0,
) -> list[Quantity]:
    """Per-column drift, measurement noise and missing cells of tabular data.

    Args:
        reference: reference table (n, features).
        production: production table with the same columns, or None.
        feature_names: column names (default positions).
        groups: one id per row of the production table (the reference without production)
            whose repeated rows measure the same thing, for measurement noise; or None.
        n_boot: bootstrap replicates.
        seed: bootstrap seed.
    """
    ref = np.asarray(reference, dtype=np.float64)
    prod = None if production is None else np.asarray(production, dtype=np.float64)
    names = (
        [str(c) for c in feature_names]
        if feature_names is not None
        else [str(j) for j in range(ref.shape[1])]
    )
    n = f"{len(ref)} reference" + (
        f" / {len(prod)} production rows" if prod is not None else " rows"
    )
    n += f", {len(names)} columns"
    out: list[Quantity] = []

    # drift
    if prod is not None:
        drift = tabular_drift_sd(ref, prod, feature_names=names)
        mild = perturbations.get("tabular.sensor_drift").magnitude.mild
        moving = [
            (name, e)
            for name, e in drift.items()
            if e.estimable and abs(e.value) >= mild / 2 and (e.low > 0 or e.high < 0)
        ]
        values = np.array([e.value for _, e in moving])
        signs = set(np.sign(values).tolist())
        sign = float(values[np.argmax(np.abs(values))] > 0) * 2 - 1 if len(values) else 1.0
        samples = sign * np.abs(values)
        notes = (
            "; the columns drift both ways, the plan drifts them all the way of the largest"
            if len(signs) > 1
            else ""
        )
        estimate = (
            Estimate(
                "tabular.sensor_drift",
                float(np.median(samples)),
                float(min(min(e.low, e.high) for _, e in moving)),
                float(max(max(e.low, e.high) for _, e in moving)),
                "column standard deviations",
                note="median over drifting columns",
            )
            if moving
            else not_estimable("tabular.sensor_drift", "sd", "")
        )
        out.append(
            make_quantity(
                "drift",
                "tabular.sensor_drift",
                estimate,
                samples,
                spread="per drifting column",
                method="mean shift in reference sd per column (wince.monitor), columns whose "
                f"95% interval excludes 0 and |drift| >= {mild / 2:g} sd{notes}",
                n=n,
                params={"columns": [str(name) for name, _ in moving]} if moving else {},
                details={
                    name: {"value": e.value, "low": e.low, "high": e.high}
                    for name, e in drift.items()
                    if e.estimable
                },
                why_not=""
                if moving
                else "no column drifts: every |drift| is below "
                f"{mild / 2:g} sd or its 95% interval holds 0 ("
                + _columns_note(names, [e.value for e in drift.values()], "sd")
                + ")",
            )
        )
    else:
        out.append(
            make_quantity(
                "drift",
                "tabular.sensor_drift",
                not_estimable("tabular.sensor_drift", "sd", ""),
                [],
                spread="",
                method="",
                n=n,
                why_not="needs --production: drift is a shift between reference and production",
            )
        )

    # measurement noise
    if groups is not None:
        target = prod if prod is not None else ref
        which = "production" if prod is not None else "reference"
        per_column = within_group_noise_sd(target, groups)
        finite = per_column[np.isfinite(per_column)]
        estimate = (
            _spread_estimate("tabular.gaussian_noise", "column standard deviations", per_column, "")
            if len(finite)
            else not_estimable("tabular.gaussian_noise", "sd", "")
        )
        out.append(
            make_quantity(
                "noise",
                "tabular.gaussian_noise",
                estimate,
                per_column,
                spread="per column",
                method=f"within-id sd of repeated {which} measurements over the column sd",
                n=n + f", {len(set(map(str, groups)))} ids",
                details={k: float(v) for k, v in zip(names, per_column, strict=True)},
                why_not="" if len(finite) else "no id has repeated measurements",
            )
        )
    elif prod is not None:
        estimate = tabular_noise_sd(ref, prod, n_boot=n_boot, seed=seed)
        out.append(
            make_quantity(
                "noise",
                "tabular.gaussian_noise",
                estimate,
                [estimate.value],
                spread="one value (pooled over columns)",
                method="excess variance of production over the reference, averaged over "
                "columns (wince.monitor); give an id column to measure it from repeats",
                n=n,
            )
        )
    else:
        out.append(
            make_quantity(
                "noise",
                "tabular.gaussian_noise",
                not_estimable("tabular.gaussian_noise", "sd", ""),
                [],
                spread="",
                method="",
                n=n,
                why_not="needs an id column with repeated measurements (--id-column) or "
                "--production",
            )
        )

    # missing cells
    ref_missing = np.mean(~np.isfinite(ref), axis=0)
    if prod is not None:
        prod_missing = np.mean(~np.isfinite(prod), axis=0)
        per_column = np.maximum(prod_missing - ref_missing, 0.0) / np.maximum(
            1.0 - ref_missing, _TINY
        )
        method = "share of empty cells per column, production beyond the reference's"
    else:
        per_column = ref_missing
        method = "share of empty cells per column"
    pooled = float(per_column.mean())
    out.append(
        make_quantity(
            "missing",
            "tabular.missing_values",
            Estimate("tabular.missing_values", pooled, math.nan, math.nan, "fraction of cells"),
            per_column,
            spread="per column",
            method=method,
            n=n,
            details={k: float(v) for k, v in zip(names, per_column, strict=True)},
        )
    )
    return out


# ------------------------------------------------------------------------------------------
# entry point


def calibrate(
    reference: Any,
    production: Any | None = None,
    *,
    modality: Modality | str | None = None,
    groups: Sequence[Any] | None = None,
    n_boot: int = 200,
    seed: int = 0,
) -> Calibration:
    """Estimate the perturbation magnitudes that real data shows.

    Args:
        reference: a `wince.datasets.Dataset` (or batch: image array, list of str, audio or
            tabular array) of reference inputs — what the model was trained and tested on.
        production: the same for production inputs, or None to calibrate the reference
            against itself (see the module docstring for which quantities need production).
        modality: expected modality; default the reference's (arrays of shape (n, samples)
            read as tabular: pass "audio" for clips).
        groups: tabular: one id per row of the production table (of the reference without
            production); rows sharing an id are repeated measurements of one thing, whose
            spread is the measurement noise.
        n_boot: bootstrap replicates for intervals.
        seed: bootstrap seed.

    Returns:
        The `Calibration`, whose `to_yaml()` is the plan.

    Raises:
        DataError: the data are not of the expected modality, the reference and production
            modalities differ, or the modality has no calibration.

    Examples:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> reference = rng.normal(size=(500, 2))
        >>> production = reference + [0.5 * reference[:, 0].std(ddof=1), 0.0]
        >>> result = calibrate(reference, production)
        >>> quantity = result.get("drift")
        >>> quantity.params, quantity.values
        ({'columns': ['0']}, (0.5,))
    """
    from wince.datasets.base import ArrayDataset, Dataset, require_one_size

    def as_dataset(data: Any, which: str) -> Dataset:
        if isinstance(data, Dataset):
            return data
        try:
            return ArrayDataset(data, modality=modality, name=which)
        except (ValueError, TypeError) as error:
            raise DataError(f"calibrate: cannot use the {which} data: {error}") from None

    ref_data = as_dataset(reference, "reference")
    prod_data = None if production is None else as_dataset(production, "production")
    expected = Modality(modality) if modality is not None else ref_data.modality
    for which, data in (("reference", ref_data), ("production", prod_data)):
        if data is not None and data.modality != expected:
            raise DataError(
                f"calibrate: the {which} data ({getattr(data, 'name', which)}) are "
                f"{data.modality.value}, expected {expected.value}. Pass --modality "
                f"{data.modality.value}, or point --{which} at {expected.value} data."
            )
    ref_x = ref_data.batch(0, len(ref_data))
    prod_x = None if prod_data is None else prod_data.batch(0, len(prod_data))
    for which, x in (("reference", ref_x), ("production", prod_x)):
        require_one_size(x, where="calibrate", which=which, purpose="calibration compares")
    if expected == Modality.IMAGE:
        quantities = calibrate_images(
            ref_x,
            prod_x,
            reference_files=getattr(ref_data, "files", None),
            production_files=getattr(prod_data, "files", None),
            n_boot=n_boot,
            seed=seed,
        )
    elif expected == Modality.TEXT:
        quantities = calibrate_text(ref_x, prod_x, n_boot=n_boot, seed=seed)
    elif expected == Modality.AUDIO:
        rate = ref_data.context().sample_rate_hz
        quantities = calibrate_audio(ref_x, prod_x, sample_rate_hz=rate, n_boot=n_boot, seed=seed)
    elif expected == Modality.TABULAR:
        names = list(getattr(ref_data, "feature_names", None) or []) or None
        if prod_data is not None:
            prod_names = list(getattr(prod_data, "feature_names", None) or []) or None
            ref_width, prod_width = np.asarray(ref_x).shape[1], np.asarray(prod_x).shape[1]
            if names != prod_names or prod_width != ref_width:
                ref_cols = names or [str(j) for j in range(ref_width)]
                prod_cols = prod_names or [str(j) for j in range(prod_width)]
                missing = [c for c in ref_cols if c not in prod_cols]
                extra = [c for c in prod_cols if c not in ref_cols]
                raise DataError(
                    f"calibrate: the production table's columns differ from the reference's "
                    f"(missing {missing or 'none'}, extra {extra or 'none'}"
                    + (", same columns in another order" if not missing and not extra else "")
                    + "). Give both tables the same feature columns in the same order."
                )
        rows = len(prod_data if prod_data is not None else ref_data)
        if groups is not None and len(groups) != rows:
            raise DataError(
                f"calibrate: {len(groups)} ids for {rows} rows of the "
                f"{'production' if prod_data is not None else 'reference'} table; give one id "
                "per row."
            )
        quantities = calibrate_table(
            ref_x, prod_x, feature_names=names, groups=groups, n_boot=n_boot, seed=seed
        )
    else:
        raise DataError(
            f"calibrate: no calibration for {expected.value} data yet; images, text, audio and "
            "tabular data are supported."
        )
    return Calibration(
        modality=expected,
        reference=str(getattr(ref_data, "name", "reference")),
        production=None if prod_data is None else str(getattr(prod_data, "name", "production")),
        n_reference=len(ref_data),
        n_production=0 if prod_data is None else len(prod_data),
        quantities=tuple(quantities),
    )


# ------------------------------------------------------------------------------------------
# the plan


def _fmt(value: float) -> str:
    return "-" if not math.isfinite(value) else f"{value:.4g}"


def _yaml_scalar(value: Any) -> str:
    import yaml

    text: str = yaml.safe_dump(value, default_flow_style=True, width=10_000).strip()
    return text.removesuffix("\n...").strip()


def _comment(text: str, indent: str) -> list[str]:
    """`text` as comment lines, wrapped at 100 characters."""
    import textwrap

    return [
        f"{indent}# {line}"
        for line in textwrap.wrap(text, width=96 - len(indent), break_on_hyphens=False)
    ]


def _evidence(q: Quantity, indent: str) -> list[str]:
    m = q.magnitude
    e = q.estimate
    lines = [f"{q.key}: {q.perturbation} {m.name} in {m.unit}"]
    if e.estimable and math.isfinite(e.value):
        interval = (
            f" ({e.details.get('interval', '95% interval')} {_fmt(e.low)} .. {_fmt(e.high)})"
            if math.isfinite(e.low)
            else ""
        )
        lines.append(f"estimate {_fmt(e.value)}{interval}; {q.n}")
    else:
        lines.append(q.n)
    if q.method:
        lines.append(f"method: {q.method}")
    if q.quantiles:
        shown = ", ".join(
            f"{label} {_fmt(v)}"
            for label, v in zip(("p50", "p90", "p99"), q.quantiles, strict=False)
        )
        lines.append(f"observed {shown} ({q.spread})")
    if q.perturbation == "tabular.sensor_drift" and q.details:
        lines.append(
            "per column: "
            + ", ".join(
                f"{k} {v['value']:+.3g} ({v['low']:+.3g}..{v['high']:+.3g})"
                for k, v in q.details.items()
            )
        )
    lines += list(q.notes)
    out: list[str] = []
    for line in lines:
        out += _comment(line, indent)
    return out


def render_plan(
    calibration: Calibration,
    *,
    name: str = "calibrated",
    model: dict[str, Any] | None = None,
    data: dict[str, Any] | None = None,
) -> str:
    """The plan text of a calibration (see `Calibration.to_yaml`).

    Raises:
        DataError: no quantity made it into the plan.
    """
    import yaml

    included = calibration.included
    if not included:
        raise DataError(
            "calibrate: none of the measured magnitudes shows in the data ("
            + "; ".join(
                f"{q.key}: {q.notes[0] if q.notes else 'off'}" for q in calibration.quantities
            )
            + "), so there is no plan to write. Give --production data that differ from the "
            "reference, or more samples."
        )
    lines = [
        "# wince plan calibrated from real data by `wince calibrate`.",
        f"# reference: {calibration.reference} ({calibration.n_reference} "
        f"{calibration.modality.value} samples)",
        "# production: "
        + (
            f"{calibration.production} ({calibration.n_production} samples)"
            if calibration.production
            else "none (the reference calibrated against its own variation)"
        ),
        "# Each perturbation's values are the observed p50, p90 and p99 of its magnitude",
        "# (towards the severe side), clipped to the hard limits, rounded and deduplicated;",
        "# values indistinguishable from off are dropped. Evidence above each entry.",
        f"name: {_yaml_scalar(name)}",
    ]
    if model:
        lines.append(yaml.safe_dump({"model": model}, sort_keys=False).rstrip())
    else:
        lines += [
            "# model:          # the model to test; one source, e.g.",
            "#   pickle: model.joblib",
        ]
    if data:
        lines.append(yaml.safe_dump({"data": data}, sort_keys=False).rstrip())
    else:
        lines += [
            "# data:           # the data to perturb; one source, e.g. the reference:",
            f"#   {_data_hint(calibration)}",
        ]
    lines.append("perturbations:")
    for q in included:
        lines += _evidence(q, "  ")
        lines.append(f"  - name: {q.perturbation}")
        shown = [int(v) if q.magnitude.integer else v for v in q.values]
        lines.append(f"    values: {_yaml_scalar(shown)}")
        if q.params:
            lines.append(f"    params: {_yaml_scalar(q.params)}")
    left_out = [q for q in calibration.quantities if not q.included]
    if left_out:
        lines.append("# Left out of the plan:")
        for q in left_out:
            lines += _comment(f"{q.perturbation} ({q.key}): {'; '.join(q.notes) or 'off'}", "")
    return "\n".join(lines) + "\n"


def _data_hint(calibration: Calibration) -> str:
    kind = {
        Modality.IMAGE: "images",
        Modality.AUDIO: "wav",
        Modality.TEXT: "text",
        Modality.TABULAR: "csv",
    }.get(calibration.modality, "npz")
    source = Path(calibration.reference)
    suffix = source.suffix.lower().lstrip(".")
    if suffix in ("npz", "csv", "parquet", "jsonl"):
        kind = suffix
    elif suffix == "txt":
        kind = "text"
    return f"{kind}: {calibration.reference}"
