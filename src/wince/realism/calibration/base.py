"""What every modality's calibration shares: its estimators' input and output, and statistics.

A modality module reads its samples into a `Sets` (or a subclass holding more facts: image
files, a sample rate, column names) and lists its estimators, each a function of the sets
returning one `Measurement`; `measure` runs them in order and turns each measurement into a
`Quantity`. A quantity that needs production data reports `needs_production` without it.
The statistics the estimators share are here too: Doksum's shift function, spreads around
the reference median, and bootstrap replicates with their 95% interval.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence, Sized
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import numpy as np
import numpy.typing as npt

from wince.monitor.estimate import Estimate, not_estimable
from wince.realism.calibration.quantities import Quantity, make_quantity

if TYPE_CHECKING:
    from wince.datasets.base import Dataset

FloatArray = npt.NDArray[np.float64]

SHIFT_GRID = np.linspace(0.05, 0.95, 91)  # the 1% tails of small sets are too noisy
SPREAD_INTERVAL = "middle 95% of the samples"  # what low..high mean for self-calibration
TINY = 1e-12  # floor of denominators


@dataclass(frozen=True)
class CalibrationData:
    """The reference and production datasets of one calibration, with their samples read.

    Attributes:
        reference: the reference dataset.
        production: the production dataset, or None (self-calibration).
        reference_x: all reference samples as one batch.
        production_x: all production samples as one batch, or None.
        groups: tabular: one id per row of the production table (of the reference without
            production) marking repeated measurements; or None.
    """

    reference: Dataset
    production: Dataset | None
    reference_x: Any
    production_x: Any | None
    groups: Sequence[Any] | None


class ModalityCalibration(Protocol):
    """One modality's calibration of gathered data (`calibrate_image_data`, ...)."""

    def __call__(self, data: CalibrationData, *, n_boot: int, seed: int) -> list[Quantity]:
        """The quantities measured in `data`, with `n_boot` bootstrap replicates from `seed`."""
        ...


@dataclass(frozen=True)
class Sets:
    """The samples one modality's estimators measure.

    Attributes:
        reference: reference samples (an array, or a list of texts).
        production: production samples, or None (self-calibration).
        n: what the measurements rest on ("64 reference / 64 production images").
        n_boot: bootstrap replicates for intervals.
        seed: bootstrap seed.
    """

    reference: Any
    production: Any | None
    n: str
    n_boot: int
    seed: int

    @property
    def which(self) -> str:
        """The word for the set whose own variation is measured: production, else reference."""
        return "production" if self.production is not None else "reference"

    @property
    def target(self) -> Any:
        """The samples whose own variation is measured: production's, else the reference's."""
        return self.production if self.production is not None else self.reference


@dataclass(frozen=True)
class Measurement:
    """What an estimator measured for one quantity (see `make_quantity` for the fields).

    `n` overrides what the sets' measurements rest on (None: `Sets.n`).
    """

    key: str
    perturbation: str
    estimate: Estimate
    samples: Sequence[float] | FloatArray
    spread: str
    method: str
    n: str | None = None
    params: dict[str, Any] | None = None
    details: dict[str, Any] | None = None
    why_not: str = ""
    replicates: bool = False


SetsT = TypeVar("SetsT", bound=Sets)


def measure(sets: SetsT, estimators: Sequence[Callable[[SetsT], Measurement]]) -> list[Quantity]:
    """Run each estimator on the sets and make the quantities of their measurements, in order."""
    quantities = []
    for estimator in estimators:
        m = estimator(sets)
        quantities.append(
            make_quantity(
                m.key,
                m.perturbation,
                m.estimate,
                m.samples,
                spread=m.spread,
                method=m.method,
                n=sets.n if m.n is None else m.n,
                params=m.params,
                details=m.details,
                why_not=m.why_not,
                replicates=m.replicates,
            )
        )
    return quantities


def needs_production(
    key: str, perturbation: str, unit: str, why: str, *, note: str = "", method: str = ""
) -> Measurement:
    """The measurement of a quantity left out because it is a difference between two sets.

    Args:
        key: short name of the quantity.
        perturbation: registry name of the matching perturbation.
        unit: the estimate's unit.
        why: why it needs production data ("needs --production: ...").
        note: the estimate's note.
        method: how it would be measured.
    """
    return Measurement(
        key,
        perturbation,
        not_estimable(perturbation, unit, note),
        [],
        spread="",
        method=method,
        why_not=why,
    )


def counts(reference: Sized, production: Sized | None, noun: str) -> str:
    """What the measurements rest on: "64 reference / 60 production images" or "64 images"."""
    return f"{len(reference)} reference" + (
        f" / {len(production)} production {noun}" if production is not None else f" {noun}"
    )


def shift_function(reference: FloatArray, production: FloatArray) -> FloatArray:
    """Q_prod(q) - Q_ref(q) for q = 5%, 6%, ..., 95% (Doksum's shift function), shape (91,)."""
    ref = reference[np.isfinite(reference)]
    prod = production[np.isfinite(production)]
    if len(ref) == 0 or len(prod) == 0:
        return np.zeros(0)
    out: FloatArray = np.quantile(prod, SHIFT_GRID) - np.quantile(ref, SHIFT_GRID)
    return out


def self_spread(values: FloatArray, sign: float) -> FloatArray:
    """|deviation from the median| with the severe side's sign (self-calibration spread)."""
    finite = values[np.isfinite(values)]
    out: FloatArray = sign * np.abs(finite - np.median(finite))
    return out


def spread_estimate(perturbation: str, unit: str, samples: FloatArray, note: str) -> Estimate:
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


def bootstrap(
    statistic: Callable[[npt.NDArray[np.intp]], float], n: int, *, n_boot: int, seed: int
) -> FloatArray:
    """`statistic` of `n_boot` resamples (indices drawn with replacement from 0..n-1)."""
    rng = np.random.default_rng(seed)
    return np.array([statistic(rng.integers(0, n, size=n)) for _ in range(n_boot)])


def interval_of(reps: FloatArray) -> tuple[float, float]:
    """The 2.5% and 97.5% percentiles of the finite replicates (NaN, NaN without any)."""
    finite = reps[np.isfinite(reps)]
    if len(finite) == 0:
        return math.nan, math.nan
    low, high = np.percentile(finite, [2.5, 97.5])
    return float(low), float(high)
