"""The settings an analysis runs with: tolerances, significance level, correction, bootstrap.

Analysis settings are not part of a run's identity: a run is what produced its outcomes, and
its verdicts apply whatever settings the analysis is given. They come from the current plan's
`analysis` section (the last plan a run was run with, or one named with
`wince analyze --plan`), merged with overrides (`--tolerance metric=value`, `--alpha`,
`--correction`). Regression runs get a default tolerance for `mean_abs_change` when none is
given: 0.1 x the standard deviation of the model's baseline predictions, a tenth of the
spread of what the model outputs on clean data. Every tolerance records where it came from,
and the stored analysis records the settings it used.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from wince.errors import ParameterError
from wince.metrics import BUILT_IN_METRICS, Metric, metric_table
from wince.plan import AnalysisSpec, GlobalSensitivitySpec

if TYPE_CHECKING:
    from wince.analysis.data import RunData

Correction = Literal["holm", "bh"]
CORRECTIONS: tuple[Correction, ...] = ("holm", "bh")
# The default tolerance of a regression run, as a share of the spread of its baseline outputs.
REGRESSION_TOLERANCE_SD = 0.1
DEFAULT_SOURCE = "default: 0.1 x sd of baseline predictions"


def tolerance_problems(
    tolerance: Mapping[str, Any], *, where: str, own: Sequence[str] = ()
) -> list[str]:
    """Problems of a tolerance mapping: unknown metrics (with a hint) and invalid values.

    Args:
        tolerance: metric name -> largest change that still counts as robust.
        where: the field path or option named in messages, e.g. "analysis.tolerance".
        own: the names of the plan's own metrics (`wince.metrics.declared_metrics`).

    Examples:
        >>> tolerance_problems({"flip_rat": 0.02, "accuracy": -1}, where="analysis.tolerance")
        ... # doctest: +NORMALIZE_WHITESPACE
        ["analysis.tolerance.flip_rat: unknown verdict metric 'flip_rat' — did you mean
        'flip_rate'?", 'analysis.tolerance.accuracy: a tolerance is a non-negative number (a
        change of the metric); got -1. Try 0.01.']
    """
    problems = []
    known = [*BUILT_IN_METRICS, *own]
    for metric, value in tolerance.items():
        path = f"{where}.{metric}"
        if metric not in known:
            close = difflib.get_close_matches(str(metric), known, n=1)
            hint = f" — did you mean {close[0]!r}?" if close else f" Known: {', '.join(known)}."
            problems.append(f"{path}: unknown verdict metric {metric!r}{hint}")
            continue
        number = value if isinstance(value, int | float) and not isinstance(value, bool) else None
        if number is None or not math.isfinite(number) or number < 0:
            problems.append(
                f"{path}: a tolerance is a non-negative number (a change of the metric); got "
                f"{value!r}. Try {0.02 if metric == 'flip_rate' else 0.01}."
            )
    return problems


@dataclass(frozen=True)
class AnalysisSettings:
    """The settings one analysis ran with.

    Attributes:
        tolerance: verdict metric -> largest change that still counts as robust.
        tolerance_source: verdict metric -> where its tolerance came from: "plan",
            "override" or "default: 0.1 x sd of baseline predictions (sd = ...)".
        alpha: significance level of the verdicts, in (0, 1).
        correction: multiple-comparison correction across the grid, "holm" or "bh".
        bootstrap: bootstrap resamples of the intervals.
        global_sensitivity: design of the global-sensitivity analysis.
    """

    tolerance: Mapping[str, float]
    tolerance_source: Mapping[str, str]
    alpha: float = 0.05
    correction: Correction = "holm"
    bootstrap: int = 1000
    global_sensitivity: GlobalSensitivitySpec = field(default_factory=GlobalSensitivitySpec)

    def to_payload(self) -> dict[str, Any]:
        """JSON-able form, stored with the analysis."""
        return {
            "tolerance": dict(self.tolerance),
            "tolerance_source": dict(self.tolerance_source),
            "alpha": self.alpha,
            "correction": self.correction,
            "bootstrap": self.bootstrap,
            "global_sensitivity": self.global_sensitivity.model_dump(mode="json"),
        }


def run_analysis_spec(lineage: Mapping[str, Any]) -> AnalysisSpec:
    """The current `analysis` section of a stored run.

    That of the last plan the run was run with (`wince run` records it), else that of the
    plan the run was first made with.
    """
    section = lineage.get("analysis")
    if section is None:
        section = (lineage.get("plan") or {}).get("analysis") or {}
    return AnalysisSpec.model_validate(section)


def parse_tolerances(items: list[str] | None) -> dict[str, float]:
    """`metric=value` strings (the `--tolerance` option) as a mapping.

    Raises:
        ParameterError: an item is not `metric=value` with a number.
    """
    parsed: dict[str, float] = {}
    for item in items or []:
        metric, sep, text = item.partition("=")
        try:
            if not sep:
                raise ValueError
            parsed[metric.strip()] = float(text)
        except ValueError:
            raise ParameterError(
                f"--tolerance: expected metric=value, e.g. flip_rate=0.05; got {item!r}."
            ) from None
    return parsed


def resolve(
    spec: AnalysisSpec,
    *,
    task: str,
    tolerance: Mapping[str, float] | None = None,
    alpha: float | None = None,
    correction: str | None = None,
    baseline_sd: float | None = None,
    table: Mapping[str, Metric] | None = None,
) -> AnalysisSettings:
    """The settings of an analysis: a plan's `analysis` section merged with overrides.

    Metrics the section and the overrides leave without a tolerance take their default
    (`Metric.tolerance`: a classifier's flip rate 0.02 and accuracy 0.01, a text run's
    character error rate, a detection run's objects lost, ...), labelled "default".

    Args:
        spec: the plan's analysis section.
        task: the model's task ("classification", "regression", "text", ...).
        tolerance: tolerances replacing or adding to the plan's, per metric.
        alpha: significance level replacing the plan's, in (0, 1).
        correction: "holm" or "bh", replacing the plan's.
        baseline_sd: standard deviation of the baseline predictions of a regression run;
            gives `mean_abs_change` its default tolerance when neither the plan nor an
            override sets one.
        table: the run's metrics (`wince.metrics.metric_table`); default the built-in ones of
            `task`.

    Raises:
        ParameterError: an unknown or negative tolerance, alpha outside (0, 1), or an
            unknown correction.

    Examples:
        >>> from wince.plan import AnalysisSpec
        >>> settings = resolve(AnalysisSpec(), task="regression", baseline_sd=20.0,
        ...                    tolerance={"mae": 1.5})
        >>> dict(settings.tolerance)
        {'mae': 1.5, 'mean_abs_change': 2.0}
        >>> classifier = resolve(AnalysisSpec(tolerance={"flip_rate": 0.05}),
        ...                      task="classification")
        >>> dict(classifier.tolerance), dict(classifier.tolerance_source)
        ({'flip_rate': 0.05, 'accuracy': 0.01}, {'flip_rate': 'plan', 'accuracy': 'default'})
        >>> settings.tolerance_source["mean_abs_change"]
        'default: 0.1 x sd of baseline predictions (sd = 20)'
    """
    table = table if table is not None else metric_table(task)
    own = [m for m in table if m not in BUILT_IN_METRICS]
    overrides = dict(tolerance or {})
    problems = tolerance_problems(spec.tolerance, where="analysis.tolerance", own=own)
    problems += tolerance_problems(overrides, where="--tolerance", own=own)
    problems += [
        f"--tolerance {metric}: a {' or '.join(BUILT_IN_METRICS[metric].tasks)} metric, and "
        f"this run is {task}; use one of {', '.join(table)}."
        for metric in overrides
        if metric in BUILT_IN_METRICS and metric not in table
    ]
    if alpha is not None and not 0 < alpha < 1:
        problems.append(f"--alpha: a significance level in (0, 1); got {alpha!r}. Try 0.05.")
    if correction is not None and correction not in CORRECTIONS:
        problems.append(
            f"--correction: one of {', '.join(CORRECTIONS)}; got {correction!r}. Try holm."
        )
    if problems:
        raise ParameterError("\n".join(problems))
    merged = {m: float(v) for m, v in spec.tolerance.items()}
    sources = dict.fromkeys(merged, "plan")
    for metric, value in overrides.items():
        merged[metric] = float(value)
        sources[metric] = "override"
    for entry in table.values():
        if entry.name not in merged and entry.tolerance is not None:
            merged[entry.name] = entry.tolerance
            sources[entry.name] = "default" if entry.source == "built-in" else "its declaration"
    regression = task == "regression" and "mean_abs_change" not in merged
    if regression and baseline_sd is not None and math.isfinite(baseline_sd):
        merged["mean_abs_change"] = REGRESSION_TOLERANCE_SD * baseline_sd
        sources["mean_abs_change"] = f"{DEFAULT_SOURCE} (sd = {baseline_sd:.4g})"
    chosen: Correction = spec.correction
    if correction is not None:
        chosen = "holm" if correction == "holm" else "bh"
    return AnalysisSettings(
        tolerance=merged,
        tolerance_source=sources,
        alpha=spec.alpha if alpha is None else float(alpha),
        correction=chosen,
        bootstrap=spec.bootstrap,
        global_sensitivity=spec.global_sensitivity,
    )


def run_settings(
    data: RunData,
    *,
    spec: AnalysisSpec | None = None,
    tolerance: Mapping[str, float] | None = None,
    alpha: float | None = None,
    correction: str | None = None,
) -> AnalysisSettings:
    """The settings of an analysis of a run (see `resolve`).

    Args:
        data: the run.
        spec: the analysis section to use; default the run's current one (`RunData.analysis`).
        tolerance: tolerances replacing or adding to the section's, per metric.
        alpha: significance level replacing the section's.
        correction: "holm" or "bh", replacing the section's.

    Raises:
        ParameterError: invalid tolerances, alpha or correction.
    """
    from wince.engine.scenarios import BASELINE

    spec = spec or data.analysis or data.plan.analysis
    baseline_sd = None
    if data.task == "regression" and "value" in data.outcomes.columns and data.has(BASELINE):
        values = data.per_sample(BASELINE, "value")
        values = values[np.isfinite(values)]
        if len(values) > 1:
            baseline_sd = float(np.std(values, ddof=1))
    return resolve(
        spec,
        task=data.task,
        tolerance=tolerance,
        alpha=alpha,
        correction=correction,
        baseline_sd=baseline_sd,
        table=data.metrics,
    )
