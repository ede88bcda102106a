"""Breaking points: the smallest severity at which each sample's prediction changes.

For one perturbation and one trial, a sample's prediction is a deterministic function of
severity: its random stream depends on (run seed, perturbation, trial, sample id) and not on
the value (common random numbers). So the smallest severity at which the prediction flips
(a classifier's label differs from the clean prediction; a regressor's value moves by more
than a tolerance) can be searched for per sample:

1. every sample is evaluated at a coarse grid of severities 1/coarse, 2/coarse, ..., 1;
2. a sample whose coarse profile is monotone (unchanged, then changed from its first change
   on) is bracketed by its first changed point and the point before it, and the bracket is
   bisected until it is at most `tolerance` wide. Samples sharing a bracket share midpoints,
   so each model call is one batch of every sample that needs that severity;
3. a sample whose coarse profile is not monotone (changed at one point, unchanged at a later
   one) is scanned on a dense grid k/64 (k/ceil(1/tolerance) when `tolerance` is finer) up
   to its first coarse change, and its first changed grid point is taken (bisection could
   land on any of its transitions);
4. a sample unchanged at every coarse point is censored: its breaking severity is infinite.

The breaking severity reported is the smallest severity *seen* to change (the bracket's
upper end), so the true breaking point lies within `tolerance` below it. Integer magnitudes
(JPEG quality) make the response a step function of severity; bisection still works on
severity and continues until the bracket's ends are adjacent whole values, so the breaking
value is the exact first whole value that changes the prediction (when the response does
not change back inside the bracket). Evaluations are remembered by
physical value, so severities that round to a value already seen cost nothing.

Limits: a change that appears and disappears between two coarse points, below the first
coarse change, is not seen (raise `coarse` to look closer). The run's own severities are
coarse points too (`severities`; the profile passes the plan's sweep), so the search sees
every change the run saw; a flip window narrower than the gaps between them can still be
missed, and such a sample is reported as never changing. The survival curve counts a
sample as changed from its first change on, even if the response later reverts.

The search covers the whole severity scale [0, 1], including the part between `off` and the
mild end of the realistic range: a breaking point there is flagged in the `realistic` column.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from wince import perturbations as library
from wince.analysis.stats import percentile_interval, resampling
from wince.engine.probe import Probe
from wince.errors import ModelError, ParameterError
from wince.models.base import Predictions, Task
from wince.perturbations.base import Magnitude, Step

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
BoolArray = npt.NDArray[np.bool_]

DENSE_GRID = 64  # points of the dense severity grid (fallback scan, survival curve, benchmark)
METHODS = ("bisection", "grid", "none")
TABLE_COLUMNS = (
    "sample_index",
    "sample_id",
    "breaking_severity",
    "breaking_value",
    "unchanged_severity",
    "method",
    "realistic",
)
SURVIVAL_COLUMNS = ("severity", "value", "survival", "low", "high")
_MAX_HALVINGS = 64  # bisection depth guard; float severities cannot be halved further anyway


@dataclass(frozen=True)
class BreakingPoints:
    """Per-sample breaking points of one perturbation and the population's survival curve.

    Attributes:
        perturbation: registry name of the perturbation.
        parameter: name of its magnitude (e.g. `exposure_ev`).
        unit: unit of the magnitude.
        table: one row per sample, by sample index: `sample_index`, `sample_id`,
            `breaking_severity` (smallest severity seen to change the prediction, in [0, 1];
            inf when it never changes up to severity 1), `breaking_value` (the same in
            physical units; NaN when censored), `unchanged_severity` (largest severity seen
            unchanged below the break: the true breaking point lies between the two),
            `method` ("bisection", "grid" for non-monotone responses, "none" when censored),
            `realistic` (the breaking value lies in the declared realistic range).
        survival: one row per severity of the dense grid 0, 1/64, ..., 1: `severity`,
            `value` (physical units), `survival` (share of samples whose prediction has not
            yet changed at that severity), `low`, `high` (95% bootstrap interval over samples).
        evaluations: model evaluations (sample × input) the search used, baseline included.
        dense_grid_evaluations: evaluations a dense grid at the search's resolution would use
            (samples × 64 at the default tolerance).
        median_breaking_severity: median breaking severity over samples (inf when more than
            half never change).
        median_interval: 95% bootstrap interval of the median (resampling samples).
        tolerance: width of the final brackets, in severity.
        trial: the trial (random stream) searched.
        value_tolerance: regression: the change of the output that counts as a change of
            prediction, in output units; None for classifiers.
    """

    perturbation: str
    parameter: str
    unit: str
    table: pd.DataFrame
    survival: pd.DataFrame
    evaluations: int
    dense_grid_evaluations: int
    median_breaking_severity: float
    median_interval: tuple[float, float]
    tolerance: float
    trial: int = 0
    value_tolerance: float | None = None

    @property
    def evaluation_ratio(self) -> float:
        """Evaluations used as a fraction of the dense grid's."""
        return self.evaluations / self.dense_grid_evaluations

    @property
    def median_breaking_value(self) -> float:
        """The median breaking severity in physical units (NaN when it is infinite)."""
        s = self.median_breaking_severity
        if not math.isfinite(s):
            return math.nan
        return library.get(self.perturbation).magnitude.value_at(min(max(s, 0.0), 1.0))

    def to_payload(self) -> dict[str, Any]:
        """JSON-able form: summary numbers, survival curve and per-sample table as lists.

        Infinite and NaN numbers become None (strict JSON, as PostgreSQL stores it).
        """
        low, high = self.median_interval
        return {
            "perturbation": self.perturbation,
            "parameter": self.parameter,
            "unit": self.unit,
            "tolerance": self.tolerance,
            "trial": self.trial,
            "value_tolerance": self.value_tolerance,
            "n_samples": len(self.table),
            "evaluations": self.evaluations,
            "dense_grid_evaluations": self.dense_grid_evaluations,
            "evaluation_ratio": self.evaluation_ratio,
            "median_breaking_severity": _json_number(self.median_breaking_severity),
            "median_breaking_value": _json_number(self.median_breaking_value),
            "median_interval": [_json_number(low), _json_number(high)],
            "survival": {c: _json_list(self.survival[c]) for c in SURVIVAL_COLUMNS},
            "table": {c: _json_list(self.table[c]) for c in TABLE_COLUMNS},
        }

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> BreakingPoints:
        """Rebuild from `to_payload()` output."""
        rows = payload["table"]
        table = pd.DataFrame(
            {
                "sample_index": np.asarray(rows["sample_index"], dtype=np.int64),
                "sample_id": [str(i) for i in rows["sample_id"]],
                "breaking_severity": _from_json(rows["breaking_severity"], math.inf),
                "breaking_value": _from_json(rows["breaking_value"], math.nan),
                "unchanged_severity": _from_json(rows["unchanged_severity"], math.nan),
                "method": [str(m) for m in rows["method"]],
                "realistic": np.asarray(rows["realistic"], dtype=np.bool_),
            }
        )
        survival = pd.DataFrame(
            {c: _from_json(payload["survival"][c], math.nan) for c in SURVIVAL_COLUMNS}
        )
        low, high = payload["median_interval"]
        value_tolerance = payload["value_tolerance"]
        return cls(
            perturbation=str(payload["perturbation"]),
            parameter=str(payload["parameter"]),
            unit=str(payload["unit"]),
            table=table,
            survival=survival,
            evaluations=int(payload["evaluations"]),
            dense_grid_evaluations=int(payload["dense_grid_evaluations"]),
            median_breaking_severity=_from_json_number(payload["median_breaking_severity"]),
            median_interval=(_from_json_number(low), _from_json_number(high)),
            tolerance=float(payload["tolerance"]),
            trial=int(payload["trial"]),
            value_tolerance=None if value_tolerance is None else float(value_tolerance),
        )


def breaking_points(
    probe: Probe,
    perturbation: str,
    *,
    params: Mapping[str, Any] | None = None,
    indices: Sequence[int] | npt.NDArray[np.integer[Any]] | None = None,
    tolerance: float = 1 / DENSE_GRID,
    coarse: int = 4,
    severities: Sequence[float] = (),
    value_tolerance: float | None = None,
    trial: int = 0,
    n_boot: int = 1000,
    seed: int = 0,
) -> BreakingPoints:
    """Find the smallest severity at which each sample's prediction changes.

    Args:
        probe: evaluations on the run's model and data (with the run's random streams).
        perturbation: registry name, e.g. "image.exposure".
        params: the perturbation's extra parameters (as in the plan), if any.
        indices: samples (positions in the dataset, no duplicates); default all. The result
            is in sample-index order whatever the order given.
        tolerance: largest width of a final bracket, in severity (0, 1]; default 1/64.
        coarse: number of coarse severities 1/coarse, ..., 1 evaluated for every sample.
        severities: more severities in (0, 1] evaluated for every sample (the run's sweep:
            a change the run saw at one of them is never missed).
        value_tolerance: regression only, required there: the absolute change of the output
            (in output units) beyond which the prediction counts as changed.
        trial: which random stream (trial) of a stochastic perturbation to search.
        n_boot: bootstrap replicates for the intervals (resampling samples).
        seed: seed of the bootstrap.

    Returns:
        The per-sample table, the survival curve with intervals and the evaluations used.

    Raises:
        ParameterError: unknown perturbation, an argument out of range, duplicate or
            out-of-range indices, or `value_tolerance` missing for a regressor (or given for
            a classifier).
        ModelError: the model's predictions do not match its task.

    Examples:
        >>> import numpy as np
        >>> from wince.datasets import ArrayDataset
        >>> from wince.engine.probe import Probe
        >>> from wince.models import CallableAdapter
        >>> grey = np.float32([0.4, 0.9])[:, None, None, None] * np.ones((2, 2, 2, 1), np.float32)
        >>> dark = CallableAdapter(lambda x: (x.mean(axis=(1, 2, 3)) < 0.2).astype(int))
        >>> probe = Probe(dark, ArrayDataset(grey, modality="image"), seed=0)
        >>> result = breaking_points(probe, "image.exposure")
        >>> result.table[["breaking_severity", "method"]].values.tolist()
        [[0.671875, 'bisection'], [inf, 'none']]
        >>> result.evaluations, result.dense_grid_evaluations
        (14, 128)
    """
    magnitude = library.get(perturbation).magnitude
    _check_arguments(tolerance, coarse, value_tolerance, trial, n_boot)
    extra = tuple(sorted((params or {}).items()))
    index = _sample_positions(probe, indices)
    regression = Task(probe.model.task) == Task.REGRESSION
    if regression and value_tolerance is None:
        raise ParameterError(
            f"breaking points of {perturbation}: the model is a regressor, so a change of "
            "prediction needs a size; give value_tolerance (output units), e.g. "
            "value_tolerance=0.1."
        )
    if not regression and value_tolerance is not None:
        raise ParameterError(
            f"breaking points of {perturbation}: value_tolerance applies to regressors only; "
            f"a classifier's prediction changes when its label does. Drop value_tolerance="
            f"{value_tolerance!r}."
        )
    n_grid = max(DENSE_GRID, math.ceil(1 / tolerance - 1e-9))
    started = probe.evaluations
    search = _Search(
        probe, index, perturbation, magnitude, extra, trial, value_tolerance, regression
    )
    given = [float(v) for v in severities if 0.0 < float(v) <= 1.0]
    grid = np.unique(np.concatenate([np.arange(1, coarse + 1) / coarse, given]))
    low, high, method = _search_all(search, grid, tolerance, n_grid)
    evaluations = probe.evaluations - started
    values = np.array([magnitude.value_at(s) if np.isfinite(s) else math.nan for s in high])
    realistic_low, realistic_high = magnitude.realistic
    table = pd.DataFrame(
        {
            "sample_index": index.astype(np.int64),
            "sample_id": [probe.dataset.ids[i] for i in index],
            "breaking_severity": high,
            "breaking_value": values,
            "unchanged_severity": low,
            "method": method,
            "realistic": (values >= realistic_low) & (values <= realistic_high),
        }
    )
    survival, median, median_interval = _statistics(high, magnitude, n_grid, n_boot, seed)
    return BreakingPoints(
        perturbation=perturbation,
        parameter=magnitude.name,
        unit=magnitude.unit,
        table=table,
        survival=survival,
        evaluations=evaluations,
        dense_grid_evaluations=len(index) * n_grid,
        median_breaking_severity=median,
        median_interval=median_interval,
        tolerance=float(tolerance),
        trial=trial,
        value_tolerance=None if value_tolerance is None else float(value_tolerance),
    )


class _Search:
    """Whether samples' predictions changed at a severity, remembered by physical value."""

    def __init__(
        self,
        probe: Probe,
        index: IntArray,
        name: str,
        magnitude: Magnitude,
        params: tuple[tuple[str, Any], ...],
        trial: int,
        value_tolerance: float | None,
        regression: bool,
    ) -> None:
        self.probe = probe
        self.index = index
        self.name = name
        self.magnitude = magnitude
        self.params = params
        self.trial = trial
        self.value_tolerance = value_tolerance
        self.regression = regression
        self.reference = self._outputs(probe.predict(index, (), trial=trial))
        # at `off` the perturbation is the identity, so the prediction is the clean one
        self.memo: list[dict[float, bool]] = [{magnitude.off: False} for _ in range(len(index))]

    def _outputs(self, predictions: Predictions) -> npt.NDArray[Any]:
        output = predictions.values if self.regression else predictions.labels
        if output is None:
            wanted = "values" if self.regression else "class labels"
            raise ModelError(
                f"breaking points of {self.name}: the model's task is "
                f"{self.probe.model.task} but its predictions carry no {wanted}."
            )
        return output

    def value(self, severity: float) -> float:
        """Physical value at a severity."""
        return self.magnitude.value_at(float(severity))

    def changed(self, rows: IntArray, severity: float) -> BoolArray:
        """Whether the prediction of each sample in `rows` differs from its clean one."""
        value = self.value(severity)
        out = np.zeros(len(rows), dtype=np.bool_)
        missing = []
        for j, row in enumerate(rows):
            known = self.memo[row].get(value)
            if known is None:
                missing.append(j)
            else:
                out[j] = known
        if missing:
            todo = rows[missing]
            step = Step(self.name, value, self.params)
            output = self._outputs(self.probe.predict(self.index[todo], [step], trial=self.trial))
            reference = self.reference[todo]
            if self.regression:
                # NaN outputs count as changed
                flags = ~(np.abs(output - reference) <= self.value_tolerance)
            else:
                flags = output != reference
            out[missing] = flags
            for row, flag in zip(todo, flags, strict=True):
                self.memo[row][value] = bool(flag)
        return out


def _search_all(
    search: _Search, coarse_grid: FloatArray, tolerance: float, n_grid: int
) -> tuple[FloatArray, FloatArray, npt.NDArray[np.object_]]:
    """Bracket on the coarse grid, bisect monotone samples, scan the others on the grid."""
    n = len(search.index)
    rows = np.arange(n, dtype=np.intp)
    profile = np.column_stack([search.changed(rows, s) for s in coarse_grid])
    ever = profile.any(axis=1)
    first = np.argmax(profile, axis=1)
    after_first = np.arange(len(coarse_grid))[None, :] >= first[:, None]
    monotone = ever & ~(after_first & ~profile).any(axis=1)
    low = np.ones(n)
    high = np.full(n, np.inf)
    method = np.full(n, "none", dtype=object)
    below = np.concatenate([[0.0], coarse_grid[:-1]])  # the coarse point before each
    low[ever] = below[first[ever]]
    high[ever] = coarse_grid[first[ever]]
    method[monotone] = "bisection"
    method[ever & ~monotone] = "grid"
    _bisect(search, rows[monotone], low, high, tolerance)
    _scan(search, rows[ever & ~monotone], low, high, n_grid)
    return low, high, method


def _bisect(
    search: _Search, rows: IntArray, low: FloatArray, high: FloatArray, tolerance: float
) -> None:
    """Halve each sample's bracket (low unchanged, high changed) until it is narrow enough.

    Samples with the same bracket share its midpoint, so each distinct midpoint is one
    batched model call. Integer magnitudes also halve until the ends' values are adjacent.
    """
    for _ in range(_MAX_HALVINGS):
        wide = high[rows] - low[rows] > tolerance
        if search.magnitude.integer:
            gap = np.array(
                [abs(search.value(high[r]) - search.value(low[r])) > 1 for r in rows], np.bool_
            )
            wide |= gap
        active = rows[wide]
        if len(active) == 0:
            return
        middle = (low[active] + high[active]) / 2
        for severity in np.unique(middle):
            group = active[middle == severity]
            changed = search.changed(group, float(severity))
            high[group[changed]] = severity
            low[group[~changed]] = severity


def _scan(search: _Search, rows: IntArray, low: FloatArray, high: FloatArray, n_grid: int) -> None:
    """First changed point of the dense grid k/n_grid, up to each sample's first coarse change.

    `high` holds the first coarse change on entry; a sample with no changed grid point at or
    below it (a coarse point between grid points) keeps it.
    """
    limit = high[rows].copy()
    pending = rows
    previous = 0.0
    for k in range(1, n_grid + 1):
        severity = k / n_grid
        pending = pending[limit[np.searchsorted(rows, pending)] >= severity]
        if len(pending) == 0:
            break
        changed = search.changed(pending, severity)
        found = pending[changed]
        high[found] = severity
        low[found] = previous
        low[pending[~changed]] = severity
        pending = pending[~changed]
        previous = severity


def _statistics(
    breaking: FloatArray, magnitude: Magnitude, n_grid: int, n_boot: int, seed: int
) -> tuple[pd.DataFrame, float, tuple[float, float]]:
    """Survival curve with bootstrap intervals, and the median breaking severity."""
    n = len(breaking)
    weights = resampling(n, n_boot, seed).samples
    grid = np.arange(n_grid + 1) / n_grid
    alive = (breaking[:, None] > grid[None, :]).astype(np.float64)
    replicates = weights @ alive / n
    intervals = [percentile_interval(replicates[:, j]) for j in range(len(grid))]
    survival = pd.DataFrame(
        {
            "severity": grid,
            "value": [magnitude.value_at(float(s)) for s in grid],
            "survival": alive.mean(axis=0),
            "low": [i[0] for i in intervals],
            "high": [i[1] for i in intervals],
        }
    )
    order = np.argsort(breaking, kind="stable")
    medians = _weighted_medians(breaking[order], weights[:, order])
    if np.all(np.isfinite(medians)):
        interval = percentile_interval(medians)
    else:  # an order statistic, since interpolating towards inf means nothing
        low, high = np.percentile(medians, [2.5, 97.5], method="inverted_cdf")
        interval = (float(low), float(high))
    return survival, float(np.median(breaking)), interval


def _weighted_medians(ordered: FloatArray, weights: FloatArray) -> FloatArray:
    """Median of each bootstrap replicate, given ascending values and (n_boot, n) counts."""
    n = len(ordered)
    cumulative = np.cumsum(weights, axis=1)

    def order_statistic(k: int) -> FloatArray:  # k-th smallest, 1-based
        return np.asarray(ordered[np.argmax(cumulative >= k - 0.5, axis=1)], dtype=np.float64)

    if n % 2:
        return order_statistic((n + 1) // 2)
    return (order_statistic(n // 2) + order_statistic(n // 2 + 1)) / 2


def _check_arguments(
    tolerance: float, coarse: int, value_tolerance: float | None, trial: int, n_boot: int
) -> None:
    where = "breaking points"
    if not (isinstance(tolerance, int | float) and 0 < tolerance <= 1):
        raise ParameterError(
            f"{where}: tolerance must be a severity width in (0, 1]; got {tolerance!r}. Try 1/64."
        )
    if isinstance(coarse, bool) or not isinstance(coarse, int | np.integer) or coarse < 1:
        raise ParameterError(
            f"{where}: coarse must be a whole number of severities >= 1; got {coarse!r}. Try 4."
        )
    if value_tolerance is not None and not (
        isinstance(value_tolerance, int | float) and 0 <= value_tolerance < math.inf
    ):
        raise ParameterError(
            f"{where}: value_tolerance must be a finite number >= 0 in the model's output "
            f"units; got {value_tolerance!r}. Try 0.1."
        )
    if isinstance(trial, bool) or not isinstance(trial, int | np.integer) or trial < 0:
        raise ParameterError(f"{where}: trial must be a whole number >= 0; got {trial!r}.")
    if isinstance(n_boot, bool) or not isinstance(n_boot, int | np.integer) or n_boot < 1:
        raise ParameterError(
            f"{where}: n_boot must be a whole number of replicates >= 1; got {n_boot!r}. Try 1000."
        )


def _sample_positions(
    probe: Probe, indices: Sequence[int] | npt.NDArray[np.integer[Any]] | None
) -> IntArray:
    """The samples to search, as sorted positions (checked against the dataset)."""
    n_data = len(probe.dataset)
    if indices is None:
        index = np.arange(n_data, dtype=np.intp)
    else:
        given = np.asarray(indices)
        if given.ndim != 1 or (given.size and given.dtype.kind not in "iu"):
            raise ParameterError(
                "breaking points: indices must be a list of sample positions (whole numbers); "
                f"got an array of shape {given.shape} and dtype {given.dtype}."
            )
        index = np.sort(given.astype(np.intp))
        if len(index) and (index[0] < 0 or index[-1] >= n_data):
            bad = index[0] if index[0] < 0 else index[-1]
            raise ParameterError(
                f"breaking points: indices must be positions in [0, {n_data - 1}]; got {bad}."
            )
        repeated = index[1:][index[1:] == index[:-1]]
        if len(repeated):
            raise ParameterError(
                f"breaking points: indices must not repeat; {int(repeated[0])} appears twice."
            )
    if len(index) == 0:
        raise ParameterError("breaking points: no samples to search; give at least one index.")
    return index


def _json_number(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def _json_list(column: pd.Series[Any]) -> list[Any]:
    out: list[Any] = []
    for item in column.tolist():
        if isinstance(item, float) and not math.isfinite(item):
            out.append(None)
        else:
            out.append(item.item() if isinstance(item, np.generic) else item)
    return out


def _from_json(items: Sequence[Any], missing: float) -> FloatArray:
    return np.array([missing if x is None else float(x) for x in items], dtype=np.float64)


def _from_json_number(x: Any) -> float:
    return math.inf if x is None else float(x)
