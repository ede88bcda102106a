"""Tabular defences: clipping, imputation, drift rescaling and unit repair of table columns."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from wince.defences.base import CleanData, InputDefence, register
from wince.errors import DataError, ParameterError
from wince.models.base import ModelAdapter
from wince.perturbations.base import Batch, Modality, check_choice, check_number


def table_columns(x: Batch, owner: str) -> npt.NDArray[np.float64]:
    """A table batch as an (n, features) float array.

    Raises:
        DataError: not a 2-D numeric batch.
    """
    array = np.asarray(x)
    if array.ndim != 2 or array.dtype.kind not in "biuf":
        raise DataError(
            f"{owner} takes a numeric table (n, features); got an array of shape "
            f"{array.shape} and dtype {array.dtype}. Use it on tabular data."
        )
    return array.astype(np.float64)


def _in_float_dtype_of(result: npt.NDArray[np.float64], x: Batch) -> Batch:
    """`result` in the dtype of `x` when that is a float, else float64.

    Rescaled or repaired values are not whole numbers, and NaN has no integer.
    """
    dtype = np.asarray(x).dtype
    return result.astype(dtype if dtype.kind == "f" else np.float64, copy=False)


class _FittedColumns(InputDefence):
    """An input defence that learns one number (or two) per column from clean data."""

    def _check_fitted(
        self, fitted: npt.NDArray[np.float64] | None, x: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.float64]:
        """`fitted` (a per-column array) if it is set and as wide as `x`, else `DataError`."""
        if fitted is None:
            raise DataError(f"{self.name} is not fitted: call fit(model, clean) first.")
        if x.shape[1] != len(fitted):
            raise DataError(
                f"{self.name} was fitted on {len(fitted)} columns but got {x.shape[1]}; fit "
                "it on the data the model reads."
            )
        return fitted


@register
class ClipToTrainingRange(_FittedColumns):
    """Each column clipped to the range it spans in the clean data (fitted).

    A value beyond the clean minimum or maximum (a sensor saturating, a unit read wrongly, a
    sentinel such as -999) becomes that bound, so the model never extrapolates. Missing
    values (NaN) stay missing. Values in the clean range are unchanged.
    """

    name = "tabular.clip"
    version = 1
    modalities = frozenset({Modality.TABULAR})

    def __init__(self, *, seed: int = 0) -> None:
        super().__init__(seed=seed)
        self.low: npt.NDArray[np.float64] | None = None
        self.high: npt.NDArray[np.float64] | None = None

    def fit(self, model: ModelAdapter, clean: CleanData) -> None:
        """Learn each column's minimum and maximum over the clean data (NaN left out)."""
        x = table_columns(clean.x, self.name)
        self.low, self.high = np.nanmin(x, axis=0), np.nanmax(x, axis=0)

    def fitted_state(self) -> dict[str, Any]:
        """The columns' bounds."""
        return {
            "low": None if self.low is None else self.low.tolist(),
            "high": None if self.high is None else self.high.tolist(),
        }

    def transform(self, x: Batch) -> Batch:
        """Each column clipped to [low, high]; NaN stays NaN."""
        array = table_columns(x, self.name)
        low = self._check_fitted(self.low, array)
        clipped = np.clip(array, low, self.high)
        return clipped.astype(np.asarray(x).dtype, copy=False)


@register
class ImputeMedians(_FittedColumns):
    """Missing values (NaN) replaced by their column's median over the clean data (fitted).

    A model that cannot take NaN answers again, and one that can sees a typical value
    instead of an unseen pattern. Present values are unchanged.
    """

    name = "tabular.impute"
    version = 1
    modalities = frozenset({Modality.TABULAR})

    def __init__(self, *, seed: int = 0) -> None:
        super().__init__(seed=seed)
        self.medians: npt.NDArray[np.float64] | None = None

    def fit(self, model: ModelAdapter, clean: CleanData) -> None:
        """Learn each column's median over the clean data (NaN left out; 0 for all-NaN)."""
        x = table_columns(clean.x, self.name)
        present = np.isfinite(x).any(axis=0)
        medians = np.zeros(x.shape[1])
        medians[present] = np.nanmedian(x[:, present], axis=0)
        self.medians = medians

    def fitted_state(self) -> dict[str, Any]:
        """The columns' medians."""
        return {"medians": None if self.medians is None else self.medians.tolist()}

    def transform(self, x: Batch) -> Batch:
        """NaN replaced by the column's median."""
        array = table_columns(x, self.name)
        medians = self._check_fitted(self.medians, array)
        filled = np.where(np.isnan(array), medians, array)
        return filled.astype(np.asarray(x).dtype, copy=False)


# Standard errors of a batch's median and of its log IQR, times sqrt(rows), for normal data,
# the median's in IQRs: 1.2533 sd / sqrt(n) = 0.929 IQR / sqrt(n); the log IQR's 1.166 /
# sqrt(n) (the asymptotic variances of sample quantiles). `tabular.robust_scale` calls a
# column drifted when its batch median or IQR is further off than `tolerance` of them.
MEDIAN_SE_PER_ROOT_ROW = 0.929
LOG_IQR_SE_PER_ROOT_ROW = 1.166


def _quartiles(x: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.float64], ...]:
    """Each column's median and IQR over its finite values (NaN for a column without any).

    Quantiles interpolated linearly between order statistics, as `np.percentile`'s default,
    from one sort of the table (`np.nanpercentile` loops over the columns).
    """
    if len(x) == 0:
        nothing = np.full(x.shape[1], np.nan)
        return nothing, nothing
    ordered = np.sort(np.where(np.isfinite(x), x, np.nan), axis=0)  # NaN sort last
    counts = np.isfinite(x).sum(axis=0)
    quartiles = []
    for share in (0.25, 0.5, 0.75):
        position = share * np.maximum(counts - 1, 0)
        below = np.floor(position).astype(np.intp)[None]
        above = np.ceil(position).astype(np.intp)[None]
        low, high = (np.take_along_axis(ordered, i, axis=0)[0] for i in (below, above))
        quartiles.append(np.where(counts > 0, low + (high - low) * (position - below[0]), np.nan))
    q25, median, q75 = quartiles
    return median, q75 - q25


@register
class RobustRescale(_FittedColumns):
    """A batch's drifted columns mapped back to their clean median and IQR (fitted, per batch).

    Batch-level recalibration: for each column, the batch's median m_b and interquartile
    range q_b are compared with the clean data's m and q; a column whose batch median is off
    by more than `tolerance` standard errors (0.929 q / sqrt(rows)) or whose log IQR ratio is
    off by more than `tolerance` of its (1.166 / sqrt(rows)), as if the whole column was
    recorded in another unit (x 1000) or through an offset sensor, becomes
    m + (x - m_b) * q / q_b. The map is affine per column: the rows' order and relative
    spacing stay, only the column's location and scale are restored. Columns within the
    tolerance, and columns whose clean or batch IQR is 0 (constants, mostly-zero counts), are
    unchanged, so a clean batch passes as it is. NaN stays NaN.

    Limitations: a row's answer depends on the batch it comes in (`batch_dependent`: its
    predictions are not cached per row), so `wince harden` tries it only when named. It
    needs batches of one source, each of `min_rows` rows or more (fewer pass unchanged: a
    median of a handful of rows is noise), and it reads any shift of a column's median or
    spread as drift: a batch that truly differs (another population, a filtered subset) is
    forced back to the clean one, and a batch mixing rows in two units
    (`tabular.unit_confusion` on a share of rows) has its clean rows distorted too;
    `tabular.units` repairs such rows one by one. The standard errors are those of normal
    data: heavy-tailed or discrete columns vary more between clean batches, so raise
    `tolerance` for them.

    Why not per-column quantile mapping (each value replaced by the clean quantile of its
    rank in the batch)? It would restore any distribution shape, but replaces every value by
    a clean quantile: a genuinely extreme row in a small batch becomes a typical one, and
    with few rows the mapping is coarse. Unit and offset drift change location and scale
    only, which the affine map undoes exactly.

    Args:
        min_rows: the fewest rows with a value a column needs to be recalibrated, >= 4.
        tolerance: how many standard errors of a clean batch's median or log IQR a batch's
            may be off before its column is recalibrated, > 0.
    """

    name = "tabular.robust_scale"
    version = 1
    modalities = frozenset({Modality.TABULAR})
    by_default = False  # its premise, batches of one source, is the user's to vouch for
    batch_dependent = True

    def __init__(self, *, min_rows: int = 20, tolerance: float = 5.0, seed: int = 0) -> None:
        super().__init__(seed=seed)
        if isinstance(min_rows, bool) or not isinstance(min_rows, int) or min_rows < 4:
            raise ParameterError(
                f"{self.name}: min_rows must be a whole number of rows >= 4 (a median and "
                f"quartiles need a few rows); got {min_rows!r}."
            )
        self.min_rows = min_rows
        self.tolerance = check_number(
            self.name, "tolerance", tolerance, unit="standard errors", low=1e-9, high=math.inf
        )
        self.medians: npt.NDArray[np.float64] | None = None
        self.iqrs: npt.NDArray[np.float64] | None = None

    def fit(self, model: ModelAdapter, clean: CleanData) -> None:
        """Learn each column's median and IQR over the clean data (NaN left out)."""
        self.medians, self.iqrs = _quartiles(table_columns(clean.x, self.name))

    def fitted_state(self) -> dict[str, Any]:
        """The columns' medians and IQRs."""
        return {
            "medians": None if self.medians is None else self.medians.tolist(),
            "iqrs": None if self.iqrs is None else self.iqrs.tolist(),
        }

    def drifted(self, x: Batch) -> npt.NDArray[np.bool_]:
        """Which columns of the batch `transform` recalibrates."""
        return self._drift(table_columns(x, self.name))[0]

    def _drift(self, array: npt.NDArray[np.float64]) -> tuple[npt.NDArray[Any], ...]:
        """The drifted columns of a batch, and its columns' medians and IQRs."""
        median = self._check_fitted(self.medians, array)
        iqr = np.asarray(self.iqrs)
        rows = np.isfinite(array).sum(axis=0)
        batch_median, batch_iqr = _quartiles(array)
        usable = (rows >= self.min_rows) & (iqr > 0) & (batch_iqr > 0)
        root_rows = np.sqrt(np.maximum(rows, 1))
        with np.errstate(divide="ignore", invalid="ignore"):
            shift = np.abs(batch_median - median) / iqr * root_rows / MEDIAN_SE_PER_ROOT_ROW
            spread = np.abs(np.log(batch_iqr / iqr)) * root_rows / LOG_IQR_SE_PER_ROOT_ROW
        drifted = usable & ((shift > self.tolerance) | (spread > self.tolerance))
        return drifted, batch_median, batch_iqr

    def transform(self, x: Batch) -> Batch:
        """Drifted columns mapped to the clean median and IQR; the others unchanged."""
        array = table_columns(x, self.name)
        drifted, batch_median, batch_iqr = self._drift(array)
        median, iqr = np.asarray(self.medians), np.asarray(self.iqrs)
        rescaled = array.copy()
        rescaled[:, drifted] = (
            median[drifted]
            + (array[:, drifted] - batch_median[drifted]) * iqr[drifted] / batch_iqr[drifted]
        )
        return _in_float_dtype_of(rescaled, x)


# Recorded numbers per expected number of the usual unit confusions: x 10 (cm read as mm),
# x 100 (m read as cm, a fraction read as a percent), x 1000 (kg read as g), and back.
UNIT_FACTORS = (10.0, 100.0, 1000.0, 0.1, 0.01, 0.001)
IMPOSSIBLE_CHOICES = ("clip", "missing")


@register
class UnitSanityCheck(_FittedColumns):
    """Values recorded in the wrong unit repaired, and impossible values clipped or dropped.

    Fitted on clean data, it learns each column's range [low, high] and median, and the
    plausible range: [low, high] widened by `slack` times its span on each side. A value
    outside the plausible range is read as recorded in another unit when dividing it by one
    of `UNIT_FACTORS` (x 10, 100, 1000, / 10, 100, 1000: grams for kilograms, cm for m, a
    percent for a fraction) brings it into the clean range; it is repaired so, and when
    several factors would, by the one giving the value nearest the column's median. A
    factor is considered for a column only when it is detectable there (`factors` in the
    fitted state): the middle half of the clean values (the interquartile range) times the
    factor lies wholly outside the plausible range, so a zero-centred column gets none. A
    value out of the plausible range that no factor explains (or an infinite one) is
    impossible: clipped to the plausible range (`impossible="clip"`), or made missing
    (`"missing"`, NaN: for a model that takes NaN, or followed by imputation). Values in the
    plausible range, and NaN, are unchanged: a confusion that lands in range (a zero-centred
    column, a small value times 10) cannot be told from a real value.

    Args:
        impossible: what becomes of an impossible value, "clip" or "missing".
        slack: how far beyond the clean range a value is still plausible, a fraction of the
            range's span in [0, 10].
    """

    name = "tabular.units"
    version = 1
    modalities = frozenset({Modality.TABULAR})

    def __init__(self, *, impossible: str = "clip", slack: float = 0.25, seed: int = 0) -> None:
        super().__init__(seed=seed)
        self.impossible = check_choice(self.name, "impossible", impossible, IMPOSSIBLE_CHOICES)
        self.slack = check_number(
            self.name, "slack", slack, unit="the clean range's span", low=0.0, high=10.0
        )
        self.low: npt.NDArray[np.float64] | None = None
        self.high: npt.NDArray[np.float64] | None = None
        self.medians: npt.NDArray[np.float64] | None = None
        self.factors: npt.NDArray[np.bool_] | None = None  # (len(UNIT_FACTORS), columns)

    def fit(self, model: ModelAdapter, clean: CleanData) -> None:
        """Learn each column's range, median and detectable unit factors (NaN left out).

        Raises:
            DataError: a column has no finite value in the clean data.
        """
        x = table_columns(clean.x, self.name)
        empty = ~np.isfinite(x).any(axis=0)
        if empty.any():
            raise DataError(
                f"{self.name}: column {int(np.argmax(empty))} of the clean data has no finite "
                "value, so it has no plausible range; fit it on data with values there."
            )
        finite = np.where(np.isfinite(x), x, np.nan)
        self.low, self.high = np.nanmin(finite, axis=0), np.nanmax(finite, axis=0)
        q25, self.medians, q75 = np.nanpercentile(finite, [25, 50, 75], axis=0)
        low, high = self.plausible_range()
        factors = np.asarray(UNIT_FACTORS)[:, None]
        confused_low = np.minimum(q25 * factors, q75 * factors)
        confused_high = np.maximum(q25 * factors, q75 * factors)
        self.factors = (confused_high < low) | (confused_low > high)

    def plausible_range(self) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """Each column's plausible low and high: the clean range widened by `slack` spans."""
        if self.low is None or self.high is None:
            raise DataError(f"{self.name} is not fitted: call fit(model, clean) first.")
        margin = self.slack * (self.high - self.low)
        return self.low - margin, self.high + margin

    def fitted_state(self) -> dict[str, Any]:
        """The columns' clean ranges, medians and, per column, the unit factors it repairs."""
        if self.factors is None:
            return {"low": None, "high": None, "medians": None, "factors": None}
        return {
            "low": np.asarray(self.low).tolist(),
            "high": np.asarray(self.high).tolist(),
            "medians": np.asarray(self.medians).tolist(),
            "factors": [
                [f for f, usable in zip(UNIT_FACTORS, column, strict=True) if usable]
                for column in self.factors.T.tolist()
            ],
        }

    def transform(self, x: Batch) -> Batch:
        """Repairable values divided back into range, impossible ones clipped or made NaN."""
        array = table_columns(x, self.name)
        medians = self._check_fitted(self.medians, array)
        low, high = self.plausible_range()
        with np.errstate(invalid="ignore"):
            outside = ~np.isnan(array) & ~((array >= low) & (array <= high))
            candidates = array[None] / np.asarray(UNIT_FACTORS)[:, None, None]
            fits = (
                np.asarray(self.factors)[:, None, :]
                & (candidates >= self.low)
                & (candidates <= self.high)
            )
        distance = np.where(fits, np.abs(candidates - medians), np.inf)
        best = np.argmin(distance, axis=0)[None]
        repaired = np.take_along_axis(candidates, best, axis=0)[0]
        repairable = outside & fits.any(axis=0)
        impossible = outside & ~repairable
        replacement = np.clip(array, low, high) if self.impossible == "clip" else np.nan
        checked = np.where(repairable, repaired, np.where(impossible, replacement, array))
        return _in_float_dtype_of(checked, x)
