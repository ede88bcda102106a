"""Calibrated quantities: from measured magnitudes to plan values, and the `Calibration`.

`make_quantity` takes the magnitudes an estimator measured and works out their severe-side
p50, p90 and p99 (`severe_quantiles`), the plan values (`plan_values`: clipped to the hard
limits, rounded, deduplicated, without values indistinguishable from off) and the notes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from wince import perturbations
from wince.monitor.estimate import Estimate
from wince.perturbations.base import Magnitude, Modality
from wince.realism.calibration.render import render_plan

FloatArray = npt.NDArray[np.float64]

QUANTILES = (0.5, 0.9, 0.99)


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
