"""Breaking points: the smallest severity at which each sample's prediction changes.

For one perturbation and one trial, a sample's prediction is a deterministic function of
severity: its random stream depends on (run seed, perturbation, trial, sample id) and not on
the value (common random numbers). So the smallest severity at which the prediction flips
(a classifier's label differs from the clean prediction; a regressor's value moves by more
than a tolerance) can be searched for per sample.

Range: severities 0 to 1 (`off` to the severe end of the realistic range), or further, to
the largest severity the run swept, when the plan swept values beyond the realistic range
(`Magnitude.value_at` continues the mapping past 1 up to the hard limits). A sample that
never changes within the range is censored: its breaking severity is infinite.

Search:

1. every sample is evaluated at a coarse grid of severities 1/coarse, 2/coarse, ... up to
   the end of the range, and at every severity the run swept (`severities`), so a change the
   run saw is never missed;
2. the bracket between the first changed severity and the one before it is halved until it
   is at most `tolerance` wide (for whole-number magnitudes, also until its ends' values are
   adjacent). Samples asking for the same severity share one batched model call;
3. a change can also appear and disappear between two unchanged severities (a *window*).
   Every interval below the first change that could hide one is halved down to `tolerance`,
   lowest first. Which intervals could: with a *margin* (a classifier's log-odds of its clean
   label against the most likely other class, from its scores; a regressor's
   `value_tolerance` minus its output's move), a change inside [a, b] needs the margin to
   fall from m(a) to 0 and back to m(b), impossible when
   m(a) + m(b) > 2 x (steepest slope of the margin seen) x (b - a). With labels only there
   is no such evidence: only a sample seen to change back has its intervals below the
   first change halved.

The breaking severity reported is the smallest severity *seen* to change (the bracket's
upper end), so the true breaking point lies within `tolerance` below it. Integer magnitudes
(JPEG quality) make the response a step function of severity: the breaking value is the
exact first whole value that changes the prediction (when the response does not change
back inside the bracket). Evaluations are remembered by physical value, so severities that
round to a value already seen cost nothing.

Resolution (`BreakingPoints.resolution`): the narrowest window of change the search is sure
to find. With margins it is `tolerance`, provided the margin moves at most twice as steeply
as anywhere seen between searched points (a sharper dip can still be missed). With labels
only it is the widest gap between searched severities (1/coarse by default): a narrower
window there is missed, the sample reads as never changing, and the result carries a
`warning` saying so. The survival curve counts a sample as changed from its first change
on, even if the response later reverts.

The search covers the part of the scale between `off` and the mild end of the realistic
range too: a breaking point there, or beyond severity 1, is flagged in the `realistic` column.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from wince import perturbations as library
from wince.analysis.stats import percentile_interval
from wince.engine.probe import Probe
from wince.errors import ModelError, ParameterError, RealismWarning
from wince.metrics import Metric, bootstrap_weights
from wince.models.base import Predictions, Task
from wince.perturbations.base import Magnitude, Step

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
BoolArray = npt.NDArray[np.bool_]

DENSE_GRID = 64  # points of the dense severity grid (fallback scan, survival curve, benchmark)
METHODS = ("bisection", "window", "none")
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
_MAX_ROUNDS = 4096  # guard; float severities cannot be halved much below 1e-15 anyway
_SCORE_FLOOR = 1e-12  # class scores below count as this, so log-odds margins stay finite
SLOPE_FACTOR = 2.0  # margins are taken to move at most twice as steeply as seen between points


@dataclass(frozen=True)
class BreakingPoints:
    """Per-sample breaking points of one perturbation and the population's survival curve.

    Attributes:
        perturbation: registry name of the perturbation.
        parameter: name of its magnitude (e.g. `exposure_ev`).
        unit: unit of the magnitude.
        table: one row per sample, by sample index: `sample_index`, `sample_id`,
            `breaking_severity` (smallest severity seen to change the prediction, in
            [0, search_end]; inf when it never changes up to `search_end`), `breaking_value`
            (the same in physical units; NaN when censored), `unchanged_severity` (largest
            severity seen unchanged below the break: the true breaking point lies between
            the two),
            `method` ("bisection" for a response that stays changed above its break,
            "window" for one seen to change back, "none" when censored),
            `realistic` (the breaking value lies in the declared realistic range).
        survival: one row per severity of the dense grid 0, 1/64, ..., search_end: `severity`,
            `value` (physical units), `survival` (share of samples whose prediction has not
            yet changed at that severity), `low`, `high` (95% bootstrap interval over samples).
        evaluations: model evaluations (sample × input) the search used, baseline included.
        dense_grid_evaluations: evaluations a dense grid at the search's resolution would use
            (samples × 64 per unit of severity searched at the default tolerance).
        median_breaking_severity: median breaking severity over samples (inf when more than
            half never change).
        median_interval: 95% bootstrap interval of the median (resampling samples).
        tolerance: width of the final brackets, in severity.
        trial: the trial (random stream) searched.
        value_tolerance: regression: the change of the output that counts as a change of
            prediction, in output units; with `metric`, the metric's harmful change that
            counts (its unit); None for classifiers.
        metric: the per-sample metric searched (e.g. "cer"); None: the label or value.
        search_end: the end of the searched severities: 1 (the severe end of the realistic
            range), or the largest severity the run swept when that lies beyond.
        resolution: the narrowest window of change (in severity) the search is sure to find:
            `tolerance` when the model gives scores (or is a regressor), the largest gap
            between searched severities when it gives labels only. NaN for results stored
            before it was recorded.
        warning: why a narrower window of change may have been missed; empty when
            `resolution` is `tolerance`.
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
    metric: str | None = None
    search_end: float = 1.0
    resolution: float = math.nan
    warning: str = ""

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
        return library.get(self.perturbation).magnitude.value_at(s)

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
            "metric": self.metric,
            "search_end": self.search_end,
            "resolution": _json_number(self.resolution),
            "warning": self.warning,
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
        resolution = payload.get("resolution")  # absent from results stored before it was
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
            metric=payload.get("metric"),
            search_end=float(payload.get("search_end", 1.0)),
            resolution=math.nan if resolution is None else float(resolution),
            warning=str(payload.get("warning", "")),
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
    metric: Metric | None = None,
    trial: int = 0,
    n_boot: int = 1000,
    seed: int = 0,
) -> BreakingPoints:
    """Find the smallest severity at which each sample's prediction changes.

    A prediction changes when a classifier's label does, when a regressor's value moves by
    more than `value_tolerance`, or, with a `metric`, when the sample's metric moves towards
    harm by more than `value_tolerance` (its tolerance) from its value on the clean input:
    the character error rate of an OCR model rising by more than 0.01, a metric of one's own
    crossing its tolerance.

    Args:
        probe: evaluations on the run's model and data (with the run's random streams).
        perturbation: registry name, e.g. "image.exposure".
        params: the perturbation's extra parameters (as in the plan), if any.
        indices: samples (positions in the dataset, no duplicates); default all. The result
            is in sample-index order whatever the order given.
        tolerance: largest width of a final bracket, in severity (0, 1]; default 1/64.
        coarse: coarse severities per unit of severity: 1/coarse, 2/coarse, ... up to the
            end of the search range are evaluated for every sample.
        severities: more severities evaluated for every sample (the run's sweep: a change
            the run saw at one of them is never missed). The search range ends at the largest
            of them when it exceeds 1; those at or below 0 (`off`, or the other side of it)
            are not searched.
        value_tolerance: required for a regressor or with a metric: the absolute change of
            the output (in output units), or the metric's harmful change (in its unit),
            beyond which the prediction counts as changed; default the metric's tolerance.
        metric: a per-sample metric of the run (`RunData.metrics`) to search instead of the
            label or value; structured outputs (text, detection, ...) need one.
        trial: which random stream (trial) of a stochastic perturbation to search.
        n_boot: bootstrap replicates for the intervals (resampling samples).
        seed: seed of the bootstrap.

    Returns:
        The per-sample table, the survival curve with intervals and the evaluations used.

    Raises:
        ParameterError: unknown perturbation, an argument out of range, a severity beyond
            the magnitude's hard limit, duplicate or out-of-range indices, or
            `value_tolerance` missing for a regressor (or given for a classifier).
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
    if metric is not None:
        value_tolerance = metric.tolerance if value_tolerance is None else value_tolerance
        if value_tolerance is None or not value_tolerance >= 0:
            raise ParameterError(
                f"breaking points of {perturbation} on {metric.name}: give the harmful change "
                "of the metric that counts as broken, value_tolerance (its unit), or declare "
                "the metric's tolerance."
            )
    elif Task(probe.model.task).structured:
        raise ParameterError(
            f"breaking points of {perturbation}: the model answers with {probe.model.task} "
            "outputs; name the metric whose change counts as broken (metric=..., "
            "`wince analyze --breaking-metric`)."
        )
    elif regression and value_tolerance is None:
        raise ParameterError(
            f"breaking points of {perturbation}: the model is a regressor, so a change of "
            "prediction needs a size; give value_tolerance (output units), e.g. "
            "value_tolerance=0.1."
        )
    elif not regression and value_tolerance is not None:
        raise ParameterError(
            f"breaking points of {perturbation}: value_tolerance applies to regressors only; "
            f"a classifier's prediction changes when its label does. Drop value_tolerance="
            f"{value_tolerance!r}."
        )
    given = _swept_severities(perturbation, magnitude, severities)
    end = max([1.0, *given])
    started = probe.evaluations
    search = _Search(
        probe, index, perturbation, magnitude, extra, trial, value_tolerance, regression, metric
    )
    grid = np.unique(np.concatenate([_grid_to(end, coarse), given]))
    low, high, method = _search_all(search, grid, tolerance)
    resolution, warning = _resolution(grid, tolerance, search.has_margins)
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
    dense = _grid_to(end, max(DENSE_GRID, math.ceil(1 / tolerance - 1e-9)))
    survival, median, median_interval = _statistics(high, magnitude, dense, n_boot, seed)
    return BreakingPoints(
        perturbation=perturbation,
        parameter=magnitude.name,
        unit=magnitude.unit,
        table=table,
        survival=survival,
        evaluations=evaluations,
        dense_grid_evaluations=len(index) * len(dense),
        median_breaking_severity=median,
        median_interval=median_interval,
        tolerance=float(tolerance),
        trial=trial,
        value_tolerance=None if value_tolerance is None else float(value_tolerance),
        metric=None if metric is None else metric.name,
        search_end=end,
        resolution=resolution,
        warning=warning,
    )


def _swept_severities(
    perturbation: str, magnitude: Magnitude, severities: Sequence[float]
) -> list[float]:
    """The run's severities on the severe side of `off` (others are not searched), checked."""
    top = magnitude.max_severity
    out = []
    for given in severities:
        number = float(given)
        if not (math.isfinite(number) and number <= top):
            raise ParameterError(
                f"breaking points of {perturbation}: severities must be finite and at most "
                f"{top:.6g}, where {magnitude.name} meets its hard limit "
                f"({magnitude.describe_constraint()}); got {given!r}."
            )
        if number > 0:
            out.append(number)
    return out


def _grid_to(end: float, per_unit: int) -> FloatArray:
    """Severities k/per_unit, k = 1, 2, ..., up to `end` (the last one is `end` itself)."""
    points = np.arange(1, math.ceil(end * per_unit - 1e-9) + 1) / per_unit
    points[-1] = end
    return points


def _resolution(grid: FloatArray, tolerance: float, has_margins: bool) -> tuple[float, str]:
    """The narrowest window of change the search is sure to find, and a warning if wider.

    With margins every interval that could hide a change is halved down to `tolerance`; with
    labels only, a window wider than the largest gap between searched severities covers one.
    """
    if has_margins:
        return float(tolerance), ""
    widest = float(np.max(np.diff(np.concatenate([[0.0], grid]))))
    if widest <= tolerance:
        return float(tolerance), ""
    return widest, (
        f"the model gives class labels only (no scores), so a change that appears and "
        f"disappears within less than {widest:.3g} severity, between two searched severities "
        "below a sample's first change, can be missed (that sample then reads as never "
        "breaking); sweep the severities you care about, raise `coarse`, or give scores."
    )


class _Search:
    """Each sample's searched severities: whether the prediction changed there, and its margin.

    The margin is how far the prediction is from changing: for a classifier with class
    scores, the log-odds of the clean label against the most likely other one; for a regressor,
    `value_tolerance` minus the output's move; with a metric, `value_tolerance` minus its
    harmful change; NaN for a classifier that gives labels only.
    Model calls are remembered by physical value, so severities rounding to a value already
    seen (integer magnitudes) cost nothing.
    """

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
        metric: Metric | None = None,
    ) -> None:
        self.probe = probe
        self.metric = metric
        self.index = index
        self.name = name
        self.magnitude = magnitude
        self.params = params
        self.trial = trial
        self.value_tolerance = value_tolerance
        self.regression = regression
        clean = probe.predict(index, (), trial=trial)
        self.clean = clean
        if metric is None:
            self.reference = self._outputs(clean)
            clean_margins = self._margins(clean, self.reference)
        else:
            assert value_tolerance is not None
            self.reference = probe.measure(metric, index, clean, clean)  # the clean values
            clean_margins = np.full(len(index), float(value_tolerance))
        self.has_margins = bool(np.isfinite(clean_margins).all())
        # at `off` the perturbation is the identity, so the prediction is the clean one
        self.by_value: list[dict[float, tuple[bool, float]]] = [
            {magnitude.off: (False, float(m))} for m in clean_margins
        ]
        self.points: list[dict[float, tuple[bool, float]]] = [
            {0.0: (False, float(m))} for m in clean_margins
        ]

    def _outputs(self, predictions: Predictions) -> npt.NDArray[Any]:
        output = predictions.values if self.regression else predictions.labels
        if output is None:
            wanted = "values" if self.regression else "class labels"
            raise ModelError(
                f"breaking points of {self.name}: the model's task is "
                f"{self.probe.model.task} but its predictions carry no {wanted}."
            )
        return output

    def _margins(self, predictions: Predictions, reference: npt.NDArray[Any]) -> FloatArray:
        output = self._outputs(predictions)
        if self.regression:
            assert self.value_tolerance is not None
            return np.asarray(self.value_tolerance - np.abs(output - reference), np.float64)
        scores = predictions.scores
        rows = np.arange(len(reference))
        if scores is None or scores.shape[1] < 2 or np.any(reference >= scores.shape[1]):
            return np.full(len(reference), np.nan)
        # log-odds: a softmax's logit difference, which moves about linearly with the input
        # where probabilities saturate (a probability difference would hide a sharp dip)
        logs = np.log(np.clip(np.asarray(scores, dtype=np.float64), _SCORE_FLOOR, 1.0))
        own = logs[rows, reference]
        logs[rows, reference] = -np.inf
        return np.asarray(own - logs.max(axis=1), np.float64)

    def _judge(
        self, todo: IntArray, predictions: Predictions, step: Step
    ) -> tuple[npt.NDArray[np.bool_], FloatArray]:
        """Whether each sample of `todo` changed under `predictions`, and its margin."""
        reference = self.reference[todo]
        assert self.metric is None or self.value_tolerance is not None
        if self.metric is not None:
            clean = self.clean.take(todo)
            measured = self.probe.measure(
                self.metric, self.index[todo], clean, predictions, [step], trial=self.trial
            )
            margins = self.value_tolerance - self.metric.harm_sign * (measured - reference)
            return ~(margins >= 0), np.asarray(margins, np.float64)
        output = self._outputs(predictions)
        if self.regression:  # NaN outputs count as changed
            flags = ~(np.abs(output - reference) <= self.value_tolerance)
        else:
            flags = output != reference
        return np.asarray(flags, bool), self._margins(predictions, reference)

    def value(self, severity: float) -> float:
        """Physical value at a severity."""
        return self.magnitude.value_at(float(severity))

    def evaluate(self, rows: IntArray, severity: float) -> None:
        """Record, for each sample in `rows`, whether its prediction changed at `severity`."""
        value = self.value(severity)
        todo = np.array([r for r in rows if value not in self.by_value[r]], dtype=np.intp)
        if len(todo):
            step = Step(self.name, value, self.params)
            # values beyond the realistic range are searched when the run swept there; the
            # table flags them (`realistic`), so the RealismWarning would only repeat the run's
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RealismWarning)
                predictions = self.probe.predict(self.index[todo], [step], trial=self.trial)
            flags, margins = self._judge(todo, predictions, step)
            for row, flag, margin in zip(todo, flags, margins, strict=True):
                self.by_value[row][value] = (bool(flag), float(margin))
        for row in rows:
            self.points[row][float(severity)] = self.by_value[row][value]

    def next_severity(self, row: int, tolerance: float) -> float | None:
        """The next severity to evaluate for a sample, or None when its search is done.

        The lowest open interval between the sample's searched severities, below and up to
        its first change, is halved: the bracket ending at the first change until it is at
        most `tolerance` wide (and, for whole-number magnitudes, its ends' values adjacent);
        an interval between two unchanged severities while it may hide a change
        (`_may_hide_a_change`) and is wider than `tolerance`.
        """
        points = sorted(self.points[row].items())
        severities = [s for s, _ in points]
        changed = [c for _, (c, _) in points]
        margins = np.array([m for _, (_, m) in points])
        first = changed.index(True) if True in changed else len(points)
        reverts = not all(changed[first:])
        slope = _steepest_slope(np.array(severities), margins) if self.has_margins else math.nan
        for i in range(min(first, len(points) - 1)):
            low, high = severities[i], severities[i + 1]
            wide = high - low > tolerance
            if self.magnitude.integer:
                gap = abs(self.value(high) - self.value(low))
                if i + 1 == first:
                    wide |= gap > 1
                else:
                    wide &= gap > 1  # no whole value lies strictly between the two
            if not wide:
                continue
            if i + 1 == first or _may_hide_a_change(
                margins[i], margins[i + 1], high - low, slope, reverts
            ):
                return (low + high) / 2
        return None


def _steepest_slope(severities: FloatArray, margins: FloatArray) -> float:
    """The largest |change of margin| per unit severity between consecutive searched points."""
    finite = np.isfinite(margins)
    s, m = severities[finite], margins[finite]
    if len(s) < 2:
        return 0.0
    return float(np.max(np.abs(np.diff(m)) / np.diff(s)))


def _may_hide_a_change(
    margin_low: float, margin_high: float, width: float, slope: float, reverts: bool
) -> bool:
    """Whether a change could appear and disappear between two unchanged severities.

    With margins, a change inside needs the margin to fall from `margin_low` to 0 and rise
    back to `margin_high` within `width`; moving at most `SLOPE_FACTOR` times the steepest
    slope seen (`slope`), that takes (margin_low + margin_high) / (SLOPE_FACTOR * slope).
    Without margins only the labels speak: a response seen to change back (`reverts`) may
    hold other windows, so every interval below its first change is searched.
    """
    if math.isnan(slope):
        return reverts
    total = margin_low + margin_high
    return not total > SLOPE_FACTOR * slope * width  # NaN margins: searched


def _search_all(
    search: _Search, grid: FloatArray, tolerance: float
) -> tuple[FloatArray, FloatArray, npt.NDArray[np.object_]]:
    """Evaluate every sample on the grid, then halve intervals until every search is done.

    Each round asks every sample for its next severity (`_Search.next_severity`); samples
    asking for the same severity share one batched model call.
    """
    n = len(search.index)
    rows = np.arange(n, dtype=np.intp)
    for severity in grid:
        search.evaluate(rows, float(severity))
    pending = rows
    for _ in range(_MAX_ROUNDS):
        wanted = {int(r): search.next_severity(int(r), tolerance) for r in pending}
        pending = np.array([r for r, s in wanted.items() if s is not None], dtype=np.intp)
        if len(pending) == 0:
            break
        asked = np.array([wanted[int(r)] for r in pending])
        for severity in np.unique(asked):
            search.evaluate(pending[asked == severity], float(severity))
    low = np.full(n, grid[-1])
    high = np.full(n, np.inf)
    method = np.full(n, "none", dtype=object)
    for row in rows:
        points = sorted(search.points[row].items())
        changed = [c for _, (c, _) in points]
        if True not in changed:
            continue
        first = changed.index(True)
        high[row], low[row] = points[first][0], points[first - 1][0]
        method[row] = "bisection" if all(changed[first:]) else "window"
    return low, high, method


def _statistics(
    breaking: FloatArray, magnitude: Magnitude, dense: FloatArray, n_boot: int, seed: int
) -> tuple[pd.DataFrame, float, tuple[float, float]]:
    """Survival curve with bootstrap intervals, and the median breaking severity."""
    n = len(breaking)
    weights = bootstrap_weights(n, n_boot, seed)
    grid = np.concatenate([[0.0], dense])
    alive = (breaking[:, None] > grid[None, :]).astype(np.float64)
    replicates = weights.dot(alive) / n
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
    medians = _weighted_medians(breaking[order], weights.counts[:, order])
    if np.all(np.isfinite(medians)):
        interval = percentile_interval(medians)
    else:  # an order statistic, since interpolating towards inf means nothing
        low, high = np.percentile(medians, [2.5, 97.5], method="inverted_cdf")
        interval = (float(low), float(high))
    return survival, float(np.median(breaking)), interval


def _weighted_medians(ordered: FloatArray, weights: npt.NDArray[np.uint8]) -> FloatArray:
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
