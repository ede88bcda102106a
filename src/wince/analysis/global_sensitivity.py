"""Global sensitivity: which perturbation magnitudes drive the model's output, over their ranges.

Each perturbation of a plan is one *factor*: its magnitude varies over a declared distribution
(default: uniform over its realistic range, in physical units). Every design point applies all
factors at once, in plan order, to a fixed subset of samples through the engine (`Probe`), and
the output is one number per point: the flip rate against the clean prediction (classifiers)
or the mean absolute change of the output (regressors).

- **Sobol'** (SALib: Saltelli's scheme on a scrambled Sobol' sequence, Saltelli 2010 and Jansen
  estimators): first-order S1 (the share of output variance a factor explains alone), total ST
  (alone and through every interaction) and second-order S2 per pair, each with a 95% bootstrap
  interval (estimate ± SALib's half-width; the bootstrap resamples design rows, so it measures
  Monte Carlo error of the design, for the chosen samples). Estimates are not clipped to [0, 1]:
  a slightly negative S1 of an irrelevant factor is sampling error made visible.
  The design is sized to a precision: by default (`n_base="auto"`) it starts at n_base 64 and
  doubles (a Sobol' sequence extends by doubling, so every evaluated point is kept) until the
  widest 95% half-width of the total indices is at most 0.05, or a time budget stops it; a
  result short of its target carries a warning (`PrecisionWarning`) with the half-width
  reached and the n_base that would reach it.
- **Morris** screening (elementary effects on a grid of `levels`, SALib): mu* (mean absolute
  effect, in output units per full range of the factor), its bootstrap interval and sigma
  (spread of effects: non-linearity or interactions). Cheaper than Sobol' for many factors.

The per-sample random streams do not depend on the magnitude (common random numbers), so for
a given sample, seed and trial the output is a deterministic function of the magnitudes: the
indices apportion the effect of *how strong* each perturbation is, not of its random draws.
Integer magnitudes (JPEG quality) are rounded half up when applied; the ends of their range
then carry half the weight of the interior values.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field, replace
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from wince import perturbations as library
from wince.engine.probe import Probe
from wince.errors import ModelError, ParameterError, PrecisionWarning, RealismWarning
from wince.metrics import Metric, plan_metric_table, primary_metric
from wince.models.base import Predictions
from wince.perturbations.base import Step
from wince.plan import Plan
from wince.terminal import ProgressReporter

FloatArray = npt.NDArray[np.float64]
Evaluate = Callable[[FloatArray], npt.ArrayLike]
Distribution = Literal["uniform", "normal"]
Method = Literal["sobol", "morris"]
Output = Literal["flip_rate", "mean_change"]
NBase = int | Literal["auto"]

CONFIDENCE = 0.95
TARGET_HALF_WIDTH = 0.05  # default precision: widest 95% half-width of the total indices
PILOT_N_BASE = 64  # first design of the doubling; smaller bootstrap half-widths are unreliable
LARGEST_AUTO_N_BASE = 2**14  # "auto" stops doubling here, whatever the precision
JOINT_DESIGN_NOTE = (
    "Each design point applies every perturbation at once, each at its own magnitude drawn "
    "over its range, so an input can be far more perturbed than in any single scenario of "
    "the run; the indices describe the model under such combined perturbations."
)
SOBOL_COLUMNS = ("factor", "S1", "S1_low", "S1_high", "ST", "ST_low", "ST_high", "rank")
SECOND_ORDER_COLUMNS = ("factor_a", "factor_b", "S2", "S2_low", "S2_high")
MORRIS_COLUMNS = ("factor", "mu", "mu_star", "mu_star_low", "mu_star_high", "sigma", "rank")
_BOOTSTRAP_STREAM = 0x5081  # spawn keys: the bootstrap and the sample subset draw apart from
_SUBSET_STREAM = 0x5082  # the design (SALib's own seeding) and from each other


@dataclass(frozen=True)
class Factor:
    """One input of a global sensitivity design: a magnitude and its distribution.

    Attributes:
        name: the factor's name; for engine designs, the perturbation's registry name.
        low: lower bound, in the magnitude's physical unit.
        high: upper bound (> low).
        distribution: "uniform" on [low, high], or "normal" with `mean` and `sd`, truncated
            to [low, high] (SALib "truncnorm") so every value stays inside the bounds, which
            must lie within the perturbation's hard limits.
        mean: centre of a normal distribution (inside [low, high]); None for uniform.
        sd: standard deviation of a normal distribution (> 0); None for uniform.
        params: extra parameters of the perturbation, as in `Step.params`.

    Raises:
        ParameterError: non-finite or inverted bounds, unknown distribution, or normal
            parameters missing, misplaced or given to a uniform factor.
    """

    name: str
    low: float
    high: float
    _: KW_ONLY
    distribution: Distribution = "uniform"
    mean: float | None = None
    sd: float | None = None
    params: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self) -> None:
        where = f"factor {self.name!r}"
        if not self.name:
            raise ParameterError("a factor needs a name (the perturbation's registry name).")
        if not all(_is_number(v) and math.isfinite(v) for v in (self.low, self.high)):
            raise ParameterError(
                f"{where}: low and high must be finite numbers; got low={self.low!r}, "
                f"high={self.high!r}."
            )
        if not self.low < self.high:
            raise ParameterError(
                f"{where}: low must be below high; got [{self.low:g}, {self.high:g}]. "
                "Swap them, or drop the factor if it should stay fixed."
            )
        if self.distribution == "uniform":
            if self.mean is not None or self.sd is not None:
                raise ParameterError(
                    f"{where}: mean and sd belong to a normal distribution; got them with "
                    "distribution='uniform'. Drop them or set distribution='normal'."
                )
        elif self.distribution == "normal":
            mean, sd = self.mean, self.sd
            if mean is None or sd is None or not (_is_number(mean) and _is_number(sd)):
                raise ParameterError(
                    f"{where}: a normal distribution needs numbers mean and sd; got "
                    f"mean={mean!r}, sd={sd!r}."
                )
            if not self.low <= mean <= self.high or not 0 < sd < math.inf:
                raise ParameterError(
                    f"{where}: a normal distribution needs mean in [{self.low:g}, "
                    f"{self.high:g}] and a finite sd > 0; got mean={mean:g}, sd={sd:g}."
                )
        else:
            raise ParameterError(
                f"{where}: distribution must be 'uniform' or 'normal'; got {self.distribution!r}."
            )

    @classmethod
    def for_perturbation(
        cls,
        name: str,
        *,
        low: float | None = None,
        high: float | None = None,
        distribution: Distribution = "uniform",
        mean: float | None = None,
        sd: float | None = None,
        params: Sequence[tuple[str, Any]] = (),
    ) -> Factor:
        """The factor of a registered perturbation; bounds default to its realistic range.

        Raises:
            ParameterError: unknown perturbation, or a bound outside its hard limits (or not
                whole for an integer magnitude). A bound outside the realistic range warns
                once (`RealismWarning`).
        """
        magnitude = library.get(name).magnitude
        default_low, default_high = magnitude.realistic
        low = magnitude.validate(default_low if low is None else low, name)
        high = magnitude.validate(default_high if high is None else high, name)
        return cls(
            name, low, high, distribution=distribution, mean=mean, sd=sd, params=tuple(params)
        )

    @classmethod
    def from_declaration(
        cls,
        name: str,
        declaration: Mapping[str, Any] | None,
        *,
        params: Sequence[tuple[str, Any]] = (),
    ) -> Factor:
        """The factor of a perturbation from a plan declaration.

        Args:
            name: the perturbation's registry name.
            declaration: None for the default (uniform over the realistic range), or a
                mapping with optional keys `kind` ("uniform" or "normal"), `low`, `high`
                (physical units; default the realistic range), `mean` and `sd` (normal).
            params: the perturbation's extra parameters.

        Raises:
            ParameterError: unknown keys, or any problem `for_perturbation` reports.
        """
        given = dict(declaration or {})
        unknown = sorted(set(given) - {"kind", "low", "high", "mean", "sd"})
        if unknown:
            raise ParameterError(
                f"{name}: unknown distribution fields {unknown}; use kind ('uniform' or "
                "'normal'), low, high, mean and sd."
            )
        return cls.for_perturbation(
            name,
            low=given.get("low"),
            high=given.get("high"),
            distribution=given.get("kind", "uniform"),
            mean=given.get("mean"),
            sd=given.get("sd"),
            params=params,
        )

    def step(self, value: float) -> Step:
        """The perturbation step at `value` (rounded half up for integer magnitudes)."""
        if library.get(self.name).magnitude.integer:
            value = math.floor(value + 0.5)
        return Step(self.name, float(value), self.params)

    def salib(self) -> tuple[str, list[float]]:
        """SALib's distribution name and bounds for this factor."""
        if self.distribution == "normal":
            assert self.mean is not None
            assert self.sd is not None
            return "truncnorm", [self.low, self.high, self.mean, self.sd]
        return "unif", [self.low, self.high]

    def to_payload(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "name": self.name,
            "low": self.low,
            "high": self.high,
            "distribution": self.distribution,
            "mean": self.mean,
            "sd": self.sd,
            "params": [list(p) for p in self.params],
        }

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> Factor:
        """Rebuild from `to_payload()` output."""
        return cls(
            payload["name"],
            float(payload["low"]),
            float(payload["high"]),
            distribution=payload["distribution"],
            mean=payload["mean"],
            sd=payload["sd"],
            params=tuple((str(k), v) for k, v in payload["params"]),
        )


def _is_number(value: object) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)


@dataclass(frozen=True)
class GlobalSensitivity:
    """Global sensitivity indices of one output over a set of factors.

    Attributes:
        method: "sobol" or "morris".
        factors: the factors, in design order.
        indices: one row per factor. Sobol': `factor`, `S1`, `S1_low`, `S1_high`, `ST`,
            `ST_low`, `ST_high`, `rank` (1 = largest ST). Morris: `factor`, `mu`, `mu_star`,
            `mu_star_low`, `mu_star_high`, `sigma`, `rank` (1 = largest mu*).
            Intervals are 95% bootstrap intervals.
        second_order: Sobol' only: `factor_a`, `factor_b`, `S2`, `S2_low`, `S2_high` per pair
            (empty for Morris or when not computed).
        design_points: number of points in the design (rows evaluated).
        evaluations: model evaluations spent (design points times samples for engine designs).
        output: what was measured ("flip_rate", "mean_change", or "output" for a function).
        output_variance: variance of the output over the design; 0 means no factor changed
            it, and every index is then 0 by convention.
        design: the settings that reproduce the design (n_base reached, second_order, n_boot,
            seed, and the requested n_base, target_half_width and time_budget_s; or
            trajectories, levels, n_boot, seed).
        sample_ids: the dataset samples the output was averaged over (engine designs).
        half_width: Sobol' only: the widest 95% interval half-width of the total indices ST,
            the precision the design reached (None for Morris and results stored before it
            was recorded).
        warning: why the result is less precise than its target and which n_base would do;
            empty when the target was met.
    """

    method: Method
    factors: tuple[Factor, ...]
    indices: pd.DataFrame
    second_order: pd.DataFrame
    design_points: int
    evaluations: int
    output: str = "output"
    output_variance: float = float("nan")
    design: dict[str, Any] = field(default_factory=dict)
    sample_ids: tuple[str, ...] = ()
    half_width: float | None = None
    warning: str = ""

    def to_payload(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "method": self.method,
            "factors": [f.to_payload() for f in self.factors],
            "indices": _frame_payload(self.indices),
            "second_order": _frame_payload(self.second_order),
            "design_points": self.design_points,
            "evaluations": self.evaluations,
            "output": self.output,
            "output_variance": self.output_variance,
            "design": dict(self.design),
            "sample_ids": list(self.sample_ids),
            "half_width": self.half_width,
            "warning": self.warning,
        }

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> GlobalSensitivity:
        """Rebuild from `to_payload()` output."""
        method = payload["method"]
        columns = SOBOL_COLUMNS if method == "sobol" else MORRIS_COLUMNS
        return cls(
            method=method,
            factors=tuple(Factor.from_payload(f) for f in payload["factors"]),
            indices=_frame(payload["indices"], columns),
            second_order=_frame(payload["second_order"], SECOND_ORDER_COLUMNS),
            design_points=int(payload["design_points"]),
            evaluations=int(payload["evaluations"]),
            output=str(payload["output"]),
            output_variance=float(payload["output_variance"]),
            design=dict(payload["design"]),
            sample_ids=tuple(str(i) for i in payload["sample_ids"]),
            half_width=_float_or_none(payload.get("half_width")),
            warning=str(payload.get("warning", "")),
        )


def _float_or_none(value: Any) -> float | None:
    # payloads stored before the key existed lack it
    return None if value is None else float(value)


def _frame_payload(frame: pd.DataFrame) -> dict[str, list[Any]]:
    return {str(c): frame[c].tolist() for c in frame.columns}


def _frame(columns: Mapping[str, list[Any]], names: Sequence[str]) -> pd.DataFrame:
    frame = pd.DataFrame({c: columns.get(c, []) for c in names})
    numeric = [c for c in names if c not in ("factor", "factor_a", "factor_b")]
    frame[numeric] = frame[numeric].astype(np.float64)
    if "rank" in frame:
        frame["rank"] = frame["rank"].astype(np.int64)
    return frame


def _problem(factors: Sequence[Factor]) -> dict[str, Any]:
    if not factors:
        raise ParameterError("global sensitivity needs at least one factor; got none.")
    names = [f.name for f in factors]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ParameterError(
            f"factor names must be unique; {repeated} appear more than once. A plan lists "
            "each perturbation once for global sensitivity."
        )
    dists, bounds = zip(*(f.salib() for f in factors), strict=True)
    return {
        "num_vars": len(factors),
        "names": names,
        "bounds": list(bounds),
        "dists": list(dists),
    }


def _evaluate(evaluate: Evaluate, points: FloatArray) -> FloatArray:
    y = np.asarray(evaluate(points), dtype=np.float64)
    if y.shape != (len(points),):
        raise ModelError(
            f"global sensitivity: the evaluator must return one number per design point, "
            f"shape ({len(points)},); got shape {y.shape}."
        )
    if not np.all(np.isfinite(y)):
        bad = int(np.flatnonzero(~np.isfinite(y))[0])
        raise ModelError(
            f"global sensitivity: the evaluator returned {y[bad]} at design point "
            f"{points[bad].tolist()}; every output must be finite."
        )
    return y


def _bootstrap_rng(seed: int) -> np.random.Generator:
    # SALib's Sobol' analysis falls back to the global NumPy stream for a falsy seed (0), so
    # it always receives a Generator of its own.
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(_BOOTSTRAP_STREAM,)))


def _check_count(value: object, name: str, low: int, hint: str) -> int:
    if not (isinstance(value, int | np.integer) and not isinstance(value, bool) and value >= low):
        raise ParameterError(f"{name} must be a whole number >= {low}; got {value!r}. {hint}")
    return int(value)


def _rank(values: FloatArray) -> npt.NDArray[np.int64]:
    order = np.argsort(-values, kind="stable")
    ranks = np.empty(len(values), dtype=np.int64)
    ranks[order] = np.arange(1, len(values) + 1)
    return ranks


def sobol(
    evaluate: Evaluate,
    factors: Sequence[Factor],
    *,
    n_base: NBase = "auto",
    target_half_width: float = TARGET_HALF_WIDTH,
    time_budget_s: float | None = None,
    second_order: bool = True,
    seed: int = 0,
    n_boot: int = 1000,
    progress: bool = False,
    samples_per_point: int | None = None,
) -> GlobalSensitivity:
    """Sobol' first-order, total and second-order indices of a function of the factors.

    The design has `n_base * (2 * d + 2)` points with second-order indices, `n_base * (d + 2)`
    without (d factors), drawn from a scrambled Sobol' sequence (SALib `sample.sobol`) and
    mapped through each factor's distribution. It is built by doubling from n_base 64 (or
    `n_base` when smaller): the design of 2N extends that of N, so each doubling evaluates
    only the new points, in batches of `2 * d + 2` (`d + 2`) points.

    With `n_base="auto"` the doubling stops once the widest 95% half-width of the total
    indices is at most `target_half_width` (or at n_base 16384); with a whole number it goes
    on to that n_base. Either way a time budget stops it before a doubling that would exceed
    the budget (a doubling evaluates as many points as all earlier ones, so it takes about as
    long as everything so far); the first design is always completed. A result whose
    half-width is above the target carries a warning, also raised as `PrecisionWarning`,
    with the half-width reached and the n_base that should reach the target (half-widths
    shrink as 1/sqrt(n_base)).

    Args:
        evaluate: maps design points `(n_points, n_factors)` (physical units, columns in
            factor order) to one output per point, `(n_points,)`.
        factors: the factors (at least one, unique names).
        n_base: "auto" (size the design to `target_half_width`), or the base sample size N,
            a power of 2 (the Sobol' sequence's balance needs it).
        target_half_width: the precision asked for: the widest 95% interval half-width of
            the total indices, in (0, 1); 0.05 by default.
        time_budget_s: seconds the design may take, evaluations and analysis (> 0); None
            for no limit.
        second_order: also compute S2 for every pair (needs two or more factors).
        seed: seed of the design's scrambling and of the bootstrap.
        n_boot: bootstrap resamples for the 95% intervals.
        progress: show a progress bar with ETA per doubling.
        samples_per_point: the samples each design point's output averages over: the bar
            counts samples (points x this) instead of design points (None).

    Raises:
        ParameterError: `n_base` neither "auto" nor a power of 2, a target outside (0, 1), a
            budget not > 0, too few resamples, or invalid factors.
        ModelError: `evaluate` returned the wrong shape or a non-finite value.

    Examples:
        >>> factors = [Factor("a", 0.0, 1.0), Factor("b", 0.0, 1.0)]
        >>> result = sobol(lambda v: 2 * v[:, 0] + v[:, 1], factors)  # n_base "auto"
        >>> result.indices[["factor", "S1"]].round(1).to_dict(orient="list")
        {'factor': ['a', 'b'], 'S1': [0.8, 0.2]}
    """
    auto = n_base == "auto"
    largest = LARGEST_AUTO_N_BASE if auto else _check_n_base(n_base)
    _check_precision_settings(target_half_width, time_budget_s)
    n_boot = _check_count(n_boot, "sobol: n_boot", 10, "Try 1000.")
    problem = _problem(factors)
    pairs = second_order and len(factors) > 1
    y, size, estimates = _doubling_design(
        evaluate,
        problem,
        pairs=pairs,
        largest=largest,
        target_half_width=target_half_width if auto else None,
        time_budget_s=time_budget_s,
        seed=seed,
        n_boot=n_boot,
        progress=progress,
        samples_per_point=samples_per_point,
    )
    if estimates is None:
        estimates = _sobol_estimates(problem, y, pairs, n_boot, seed)
    warning = ""
    if estimates.half_width > target_half_width:
        stopped = (
            "the time budget stopped the doubling"
            if size < largest
            else "the largest automatic design"
            if auto
            else "the n_base asked for"
        )
        warning = precision_warning(estimates.half_width, target_half_width, size, stopped=stopped)
        warnings.warn(warning, PrecisionWarning, stacklevel=2)
    indices, pair_frame = _sobol_frames([f.name for f in factors], estimates, pairs)
    return GlobalSensitivity(
        method="sobol",
        factors=tuple(factors),
        indices=indices,
        second_order=pair_frame,
        design_points=len(y),
        evaluations=len(y),
        output_variance=float(np.var(y)),
        design={
            "n_base": size,
            "second_order": pairs,
            "n_boot": n_boot,
            "seed": seed,
            "requested_n_base": n_base,
            "target_half_width": target_half_width,
            "time_budget_s": time_budget_s,
        },
        half_width=estimates.half_width,
        warning=warning,
    )


def _evaluate_in_batches(
    evaluate: Evaluate,
    points: FloatArray,
    batch: int,
    *,
    title: str,
    progress: bool,
    samples_per_point: int | None,
) -> FloatArray:
    """`evaluate` on `points`, `batch` points at a time, under a progress bar with ETA.

    The bar counts samples (`samples_per_point` per point) or, when that is None, points.
    """
    per_point = 1 if samples_per_point is None else samples_per_point
    unit = "points" if samples_per_point is None else "samples"
    outputs = [np.empty(0)]
    with ProgressReporter(
        len(points) * per_point, enabled=progress, title=title, unit=unit
    ) as reporter:
        for first in range(0, len(points), batch):
            chunk = points[first : first + batch]
            outputs.append(_evaluate(evaluate, chunk))
            reporter.advance(len(chunk) * per_point)
    return np.concatenate(outputs)


def _check_n_base(n_base: object) -> int:
    checked = _check_count(n_base, "sobol: n_base", 2, 'Try "auto", or 256.')
    if checked & (checked - 1):
        raise ParameterError(
            f"sobol: n_base must be a power of 2 (the Sobol' sequence is balanced only then) "
            f'or "auto"; got {checked}. Try {1 << round(math.log2(checked))}.'
        )
    return checked


def _check_precision_settings(target_half_width: float, time_budget_s: float | None) -> None:
    """Refuse a target half-width outside (0, 1) or a time budget that is not > 0 seconds."""
    if not (_is_number(target_half_width) and 0 < target_half_width < 1):
        raise ParameterError(
            f"sobol: target_half_width must be a number in (0, 1); got {target_half_width!r}. "
            f"Try {TARGET_HALF_WIDTH}."
        )
    if time_budget_s is not None and not (_is_number(time_budget_s) and time_budget_s > 0):
        raise ParameterError(
            f"sobol: time_budget_s must be a number of seconds > 0, or None for no limit; got "
            f"{time_budget_s!r}."
        )


def _doubling_design(
    evaluate: Evaluate,
    problem: dict[str, Any],
    *,
    pairs: bool,
    largest: int,
    target_half_width: float | None,
    time_budget_s: float | None,
    seed: int,
    n_boot: int,
    progress: bool,
    samples_per_point: int | None,
) -> tuple[FloatArray, int, _SobolEstimates | None]:
    """Evaluate the Sobol' design, doubling n_base from the pilot size until it stops.

    It stops at n_base `largest`, once the total indices' widest 95% half-width is at most
    `target_half_width` (None: never checked), or before a doubling that would take the
    elapsed time past `time_budget_s`. Returns the outputs of every design point in design
    order, the n_base reached, and the estimates at it when the half-width was checked.
    """
    from SALib.sample import sobol as sobol_sample

    d = int(problem["num_vars"])
    batch = 2 * d + 2 if pairs else d + 2
    started = time.perf_counter()
    size = min(PILOT_N_BASE, largest)
    y = np.empty(0)
    estimates: _SobolEstimates | None = None
    while True:
        points = np.asarray(
            sobol_sample.sample(problem, size, calc_second_order=pairs, seed=seed), np.float64
        )
        fresh = _evaluate_in_batches(
            evaluate,
            points[len(y) :],
            batch,
            title=f"Sobol' n_base {size}",
            progress=progress,
            samples_per_point=samples_per_point,
        )
        y = np.concatenate([y, fresh])
        if target_half_width is not None:
            estimates = _sobol_estimates(problem, y, pairs, n_boot, seed)
            if estimates.half_width <= target_half_width:
                break
        if size == largest:
            break
        if time_budget_s is not None and 2 * (time.perf_counter() - started) > time_budget_s:
            break
        size *= 2
    return y, size, estimates


def _sobol_frames(
    names: list[str], estimates: _SobolEstimates, pairs: bool
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The first-order and total indices per factor, and S2 per pair, with 95% intervals.

    The pair frame is empty without second-order indices.
    """
    s1, s1_conf, st, st_conf = estimates.s1, estimates.s1_conf, estimates.st, estimates.st_conf
    indices = pd.DataFrame(
        {
            "factor": names,
            "S1": s1,
            "S1_low": s1 - s1_conf,
            "S1_high": s1 + s1_conf,
            "ST": st,
            "ST_low": st - st_conf,
            "ST_high": st + st_conf,
            "rank": _rank(st),
        }
    )
    s2, s2_conf = estimates.s2, estimates.s2_conf
    rows = [
        (names[j], names[k], s2[j, k], s2[j, k] - s2_conf[j, k], s2[j, k] + s2_conf[j, k])
        for j in range(len(names))
        for k in range(j + 1, len(names))
        if pairs
    ]
    pair_frame = _frame(
        {c: [r[i] for r in rows] for i, c in enumerate(SECOND_ORDER_COLUMNS)},
        SECOND_ORDER_COLUMNS,
    )
    return indices, pair_frame


@dataclass(frozen=True)
class _SobolEstimates:
    """SALib's Sobol' estimates and their 95% half-widths (S2 zeros without pairs)."""

    s1: FloatArray
    s1_conf: FloatArray
    st: FloatArray
    st_conf: FloatArray
    s2: FloatArray
    s2_conf: FloatArray

    @property
    def half_width(self) -> float:
        """The widest 95% half-width of the total indices: the design's precision."""
        return float(np.max(self.st_conf))


def _sobol_estimates(
    problem: dict[str, Any], y: FloatArray, pairs: bool, n_boot: int, seed: int
) -> _SobolEstimates:
    from SALib.analyze import sobol as sobol_analyze

    d = int(problem["num_vars"])
    if np.ptp(y) == 0:  # no factor changed the output: every index is 0 by convention
        zeros = np.zeros(d)
        return _SobolEstimates(zeros, zeros, zeros, zeros, np.zeros((d, d)), np.zeros((d, d)))
    si = sobol_analyze.analyze(
        problem,
        y,
        calc_second_order=pairs,
        num_resamples=n_boot,
        conf_level=CONFIDENCE,
        seed=_bootstrap_rng(seed),
    )
    return _SobolEstimates(
        s1=np.asarray(si["S1"], dtype=np.float64),
        s1_conf=np.asarray(si["S1_conf"], dtype=np.float64),
        st=np.asarray(si["ST"], dtype=np.float64),
        st_conf=np.asarray(si["ST_conf"], dtype=np.float64),
        s2=np.asarray(si["S2"], dtype=np.float64) if pairs else np.zeros((d, d)),
        s2_conf=np.asarray(si["S2_conf"], dtype=np.float64) if pairs else np.zeros((d, d)),
    )


def recommended_n_base(half_width: float, target_half_width: float, n_base: int) -> int:
    """The n_base whose design would reach `target_half_width`, from one design's precision.

    Interval half-widths shrink as 1/sqrt(n_base), so the target needs
    `n_base * (half_width / target_half_width) ** 2`, rounded up to a power of 2.

    Examples:
        >>> recommended_n_base(0.12, 0.05, 64)  # 64 * 5.76 = 369
        512
    """
    needed = n_base * (half_width / target_half_width) ** 2
    return max(n_base, 1 << math.ceil(math.log2(needed)))


def precision_warning(
    half_width: float, target_half_width: float, n_base: int, *, stopped: str
) -> str:
    """The warning of a Sobol' design short of its target precision.

    Args:
        half_width: the widest 95% half-width of the total indices reached.
        target_half_width: the half-width asked for.
        n_base: the design's n_base.
        stopped: why the design stopped there (the time budget, the largest design, ...).
    """
    needed = recommended_n_base(half_width, target_half_width, n_base)
    return (
        f"Sobol' indices less precise than asked: the widest 95% interval of a total index "
        f"is ±{half_width:.2f}, above the target ±{target_half_width:.2f}, at n_base {n_base} "
        f"({stopped}). n_base {needed} should reach the target (intervals shrink as "
        f"1/sqrt(n_base); {needed // n_base} times the design points, and time, of this one): "
        "set n_base (plan: analysis.global_sensitivity.n_base; 'auto' checks as it doubles) "
        "or raise the time budget (analysis.global_sensitivity.time_budget_s). Until then "
        "read the indices with their intervals: differences within them are noise."
    )


def morris(
    evaluate: Evaluate,
    factors: Sequence[Factor],
    *,
    trajectories: int = 20,
    levels: int = 4,
    seed: int = 0,
    n_boot: int = 1000,
    progress: bool = False,
    samples_per_point: int | None = None,
) -> GlobalSensitivity:
    """Morris elementary-effects screening: a cheap ranking of many factors.

    The design has `trajectories * (d + 1)` points (SALib `sample.morris`): each trajectory
    moves one factor at a time by a step of `levels / (2 * (levels - 1))` of its range on a
    grid of `levels` values (through the factor's distribution).

    Args:
        evaluate: maps design points `(n_points, n_factors)` to outputs `(n_points,)`.
        factors: the factors (at least one, unique names).
        trajectories: number of trajectories r (>= 2); 10-50 is usual.
        levels: grid levels p, an even number >= 2 (4 is usual).
        seed: seed of the trajectories and of the bootstrap.
        n_boot: bootstrap resamples for the 95% interval of mu*.
        progress: show a progress bar with ETA, advanced per trajectory.
        samples_per_point: as for `sobol`: the bar counts samples instead of design points.

    Returns:
        Per factor `mu` (mean elementary effect), `mu_star` (mean absolute effect: output
        change per full range of the factor, on the distribution's probability scale),
        its interval and `sigma` (spread of the effects: non-linearity or interactions).

    Raises:
        ParameterError: bad `trajectories`, `levels` or factors.
        ModelError: `evaluate` returned the wrong shape or a non-finite value.
    """
    from SALib.analyze import morris as morris_analyze
    from SALib.sample import morris as morris_sample

    trajectories = _check_count(trajectories, "morris: trajectories", 2, "Try 20.")
    levels = _check_count(levels, "morris: levels", 2, "Try 4.")
    if levels % 2:
        raise ParameterError(
            f"morris: levels must be an even number (so every step has the same size); got "
            f"{levels}. Try {levels + 1}."
        )
    n_boot = _check_count(n_boot, "morris: n_boot", 10, "Try 1000.")
    problem = _problem(factors)
    points = np.asarray(
        morris_sample.sample(problem, trajectories, num_levels=levels, seed=seed), np.float64
    )
    y = _evaluate_in_batches(
        evaluate,
        points,
        len(factors) + 1,  # one trajectory
        title="Morris",
        progress=progress,
        samples_per_point=samples_per_point,
    )
    si = morris_analyze.analyze(
        problem,
        points,
        y,
        num_resamples=n_boot,
        conf_level=CONFIDENCE,
        num_levels=levels,
        seed=_bootstrap_rng(seed),
    )
    mu_star = np.asarray(si["mu_star"], dtype=np.float64)
    conf = np.asarray(si["mu_star_conf"], dtype=np.float64)
    indices = pd.DataFrame(
        {
            "factor": [f.name for f in factors],
            "mu": np.asarray(si["mu"], dtype=np.float64),
            "mu_star": mu_star,
            "mu_star_low": mu_star - conf,
            "mu_star_high": mu_star + conf,
            "sigma": np.asarray(si["sigma"], dtype=np.float64),
            "rank": _rank(mu_star),
        }
    )
    return GlobalSensitivity(
        method="morris",
        factors=tuple(factors),
        indices=indices,
        second_order=_frame({}, SECOND_ORDER_COLUMNS),
        design_points=len(points),
        evaluations=len(points),
        output_variance=float(np.var(y)),
        design={"trajectories": trajectories, "levels": levels, "n_boot": n_boot, "seed": seed},
    )


class ModelOutputEvaluator:
    """The model's output change under all factors at once, averaged over a sample subset.

    Calling it with design points `(n_points, n_factors)` applies, for each point, every
    factor's perturbation at that point's value (as steps, in factor order) to the samples at
    `indices` through the probe (one batched call per point, with the run's random streams
    for `trial`) and returns one number per point.

    Attributes:
        output: "flip_rate" (share of samples whose predicted class differs from the clean
            prediction), "mean_change" (mean |output - clean output|: the value for a
            regressor, the probability of the clean predicted class for a classifier), or
            the name of the metric (`Metric`) whose mean harmful change it measures.
        indices: positions of the samples in the dataset.
    """

    def __init__(
        self,
        probe: Probe,
        factors: Sequence[Factor],
        *,
        indices: npt.ArrayLike,
        output: Output | Metric | None = None,
        trial: int = 0,
    ) -> None:
        self.probe = probe
        self.factors = tuple(factors)
        self.trial = trial
        self.indices = np.asarray(indices, dtype=np.intp).reshape(-1)
        n = len(probe.dataset)
        if len(self.indices) == 0 or self.indices.min() < 0 or self.indices.max() >= n:
            raise ParameterError(
                f"global sensitivity: indices must be positions in the dataset (0 to {n - 1}), "
                f"at least one; got {len(self.indices)} positions."
            )
        for factor in self.factors:
            magnitude = library.get(factor.name).magnitude
            for bound in (factor.low, factor.high):
                magnitude.validate(bound, factor.name)
        self.baseline = probe.predict(self.indices, (), trial=trial)
        self.metric = output if isinstance(output, Metric) else None
        if isinstance(output, Metric):
            self.clean_values = probe.measure(output, self.indices, self.baseline, self.baseline)
            self.output: str = output.name
            return
        if self.baseline.outputs is not None:
            raise ParameterError(
                "global sensitivity: a model with structured outputs (text, boxes, ...) is "
                "measured through one of its metrics; name it (plan: "
                "analysis.global_sensitivity.metric)."
            )
        regression = self.baseline.values is not None
        resolved: Output = output or ("mean_change" if regression else "flip_rate")
        if resolved not in ("flip_rate", "mean_change"):
            raise ParameterError(
                f"global sensitivity: output must be 'flip_rate' or 'mean_change'; got "
                f"{resolved!r}."
            )
        if regression and resolved == "flip_rate":
            raise ParameterError(
                "global sensitivity: a regressor has no classes to flip; use output='mean_change'."
            )
        if not regression and resolved == "mean_change" and self.baseline.scores is None:
            raise ModelError(
                "global sensitivity: output='mean_change' of a classifier needs class "
                "probabilities; this model gives labels only. Use output='flip_rate'."
            )
        self.output = resolved

    def score(self, predictions: Predictions, steps: Sequence[Step] = ()) -> float:
        """The output of one design point from the perturbed predictions under `steps`.

        With a metric: the mean harmful change of the metric against the clean inputs.
        """
        clean = self.baseline
        if self.metric is not None:
            values = self.probe.measure(
                self.metric, self.indices, clean, predictions, steps, trial=self.trial
            )
            return float(np.mean(self.metric.harm_sign * (values - self.clean_values)))
        if self.output == "flip_rate":
            assert predictions.labels is not None
            assert clean.labels is not None
            return float(np.mean(predictions.labels != clean.labels))
        if clean.values is not None:
            assert predictions.values is not None
            return float(np.mean(np.abs(predictions.values - clean.values)))
        assert predictions.scores is not None
        assert clean.scores is not None
        assert clean.labels is not None
        rows = np.arange(len(clean.labels))
        change = predictions.scores[rows, clean.labels] - clean.scores[rows, clean.labels]
        return float(np.mean(np.abs(change)))

    def __call__(self, points: FloatArray) -> FloatArray:
        """One output per design point."""
        points = np.asarray(points, dtype=np.float64)
        if points.ndim != 2 or points.shape[1] != len(self.factors):
            raise ParameterError(
                f"global sensitivity: design points must have shape (n, {len(self.factors)}); "
                f"got {points.shape}."
            )
        out = np.empty(len(points))
        with warnings.catch_warnings():
            # Bounds outside the realistic range warned once when the factor was declared;
            # each design point would otherwise warn again with its own value.
            warnings.simplefilter("ignore", RealismWarning)
            for row, point in enumerate(points):
                steps = [f.step(v) for f, v in zip(self.factors, point, strict=True)]
                predictions = self.probe.predict(self.indices, steps, trial=self.trial)
                out[row] = self.score(predictions, steps)
        return out


def model_output_evaluator(
    probe: Probe,
    factors: Sequence[Factor],
    *,
    indices: npt.ArrayLike,
    output: Output | Metric | None = None,
    trial: int = 0,
) -> ModelOutputEvaluator:
    """An evaluator of the model's output change for `sobol` / `morris`, through the engine.

    Args:
        probe: new evaluations on the run's model and data.
        factors: one per perturbation (registry names), in the order they are applied.
        indices: positions of the samples to average over.
        output: "flip_rate", "mean_change", or a per-sample `Metric` (its mean harmful change
            against the clean inputs); default flip rate for classifiers, mean change for
            regressors.
        trial: the trial whose random streams the perturbations draw (0-based).

    Raises:
        ParameterError: unknown perturbation, bound outside its limits, bad indices, or an
            output that does not fit the model's task.
        ModelError: mean change of a classifier that gives labels only.
    """
    return ModelOutputEvaluator(probe, factors, indices=indices, output=output, trial=trial)


def factors_from_plan(plan: Plan) -> list[Factor]:
    """One factor per perturbation of the plan, in plan order.

    A perturbation's distribution comes from `analysis.global_sensitivity.distributions` when
    the plan declares one (see `Factor.from_declaration`), else uniform over its realistic
    range.

    Raises:
        ParameterError: a declaration is invalid or a perturbation is listed twice.
    """
    names = [spec.name for spec in plan.perturbations]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        entries = [label for label, n in zip(plan.labels(), names, strict=True) if n in repeated]
        raise ParameterError(
            f"global sensitivity varies each perturbation's magnitude as one factor, so a plan "
            f"lists each perturbation once for it; {', '.join(repeated)} is listed more than "
            f"once ({', '.join(entries)}). Analyse a plan with one entry per perturbation, or "
            "pass `factors` built with `Factor.from_declaration`."
        )
    factors = []
    distributions = plan.analysis.global_sensitivity.distributions
    for spec in plan.perturbations:
        declared: Any = distributions.get(spec.name)
        if declared is not None:
            declared = {k: v for k, v in declared.model_dump().items() if v is not None}
        params = tuple(sorted(spec.params.items()))
        factors.append(Factor.from_declaration(spec.name, declared, params=params))
    _problem(factors)
    return factors


def sample_subset(n: int, samples: int, *, seed: int) -> npt.NDArray[np.intp]:
    """Positions of `samples` of `n` samples: the first of a seeded permutation, sorted."""
    samples = _check_count(samples, "global sensitivity: samples", 1, "Try 200.")
    if samples >= n:
        return np.arange(n, dtype=np.intp)
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(_SUBSET_STREAM,)))
    return np.sort(rng.permutation(n)[:samples]).astype(np.intp)


def global_sensitivity(
    probe: Probe,
    plan: Plan,
    *,
    method: Method = "sobol",
    factors: Sequence[Factor] | None = None,
    samples: int = 200,
    output: Output | Metric | None = None,
    n_base: NBase = "auto",
    target_half_width: float = TARGET_HALF_WIDTH,
    time_budget_s: float | None = None,
    second_order: bool = True,
    trajectories: int = 20,
    levels: int = 4,
    n_boot: int = 1000,
    trial: int = 0,
    seed: int | None = None,
    progress: bool = False,
) -> GlobalSensitivity:
    """Global sensitivity of the model's output to the plan's perturbation magnitudes.

    Costs `design_points * samples` model evaluations: Sobol' with d perturbations has
    `n_base * (2d + 2)` points (`n_base * (d + 2)` without second order), Morris
    `trajectories * (d + 1)`. Each design point applies every perturbation at once
    (`JOINT_DESIGN_NOTE`).

    Args:
        probe: new evaluations on the run's model and data.
        plan: the run's plan; its perturbations are the factors.
        method: "sobol" (variance shares with intervals) or "morris" (screening).
        factors: override the factors (default `factors_from_plan(plan)`).
        samples: how many samples the output averages over (a seeded subset; all if fewer).
        output: "flip_rate", "mean_change" or a per-sample `Metric` (default by the model's
            task: a structured output's headline metric, `primary_metric`).
        n_base: Sobol' base sample size: "auto" (doubled until `target_half_width`) or a
            power of 2 (see `sobol`).
        target_half_width: Sobol': the widest 95% half-width of the total indices asked for.
        time_budget_s: Sobol': seconds the design may take; None for no limit.
        second_order: Sobol' second-order indices too.
        trajectories: Morris trajectories.
        levels: Morris grid levels (even).
        n_boot: bootstrap resamples for the intervals.
        trial: the trial whose random streams the perturbations draw.
        seed: seed of the design, subset and bootstrap (default the plan's seed).
        progress: show a progress bar with ETA counting the samples evaluated (design points
            x samples; Sobol': one bar per doubling of the design).

    Raises:
        ParameterError: invalid settings or factors.
        ModelError: the model failed, or its outputs do not fit `output`.
    """
    if method not in ("sobol", "morris"):
        raise ParameterError(
            f"global sensitivity: method must be 'sobol' or 'morris'; got {method!r}."
        )
    seed = plan.seed if seed is None else seed
    chosen = list(factors) if factors is not None else factors_from_plan(plan)
    indices = sample_subset(len(probe.dataset), samples, seed=seed)
    task = str(probe.adapter.task)
    if output is None and task not in ("classification", "regression"):
        table = plan_metric_table(plan, task)
        labelled = probe.labels is not None
        output = primary_metric(
            task, {n: m for n, m in table.items() if labelled or not m.needs_labels}
        )
    started = probe.evaluations
    evaluator = model_output_evaluator(probe, chosen, indices=indices, output=output, trial=trial)
    if method == "sobol":
        result = sobol(
            evaluator,
            chosen,
            n_base=n_base,
            target_half_width=target_half_width,
            time_budget_s=time_budget_s,
            second_order=second_order,
            seed=seed,
            n_boot=n_boot,
            progress=progress,
            samples_per_point=len(indices),
        )
    else:
        result = morris(
            evaluator,
            chosen,
            trajectories=trajectories,
            levels=levels,
            seed=seed,
            n_boot=n_boot,
            progress=progress,
            samples_per_point=len(indices),
        )
    return replace(
        result,
        evaluations=probe.evaluations - started,
        output=evaluator.output,
        design={**result.design, "samples": len(indices), "trial": trial},
        sample_ids=tuple(probe.dataset.ids[i] for i in indices),
    )
