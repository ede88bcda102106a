"""Interaction effects: does a combination hurt more, or less, than its parts predict?

For each combination scenario, the observed effect is compared per sample with what the
isolated effects predict if they act independently:

- flips: a sample flips under A+B with probability 1 - (1 - pa)(1 - pb), pa and pb its flip
  frequencies under A and B alone;
- accuracy: a sample right on clean data stays right under A+B with probability ca * cb (it
  must survive both), one wrong on clean data stays wrong with (1 - ca)(1 - cb), ca and cb
  its frequencies of being right under A and B alone (an additive expectation,
  1 - pa - pb, made independent pairs look antagonistic);
- continuous changes (`mean_abs_change`): additivity (change A+B = change A + change B).

The mean difference (observed - expected, in the harmful direction) gets a 95% paired
bootstrap interval and a two-sided bootstrap p-value, adjusted across the run's combinations
of each metric with the plan's correction (Holm by default). A pair is synergistic (worse
than expected) or antagonistic (better) only when the adjusted p-value is below alpha and
the difference is larger than the plan's tolerance for that metric (any difference, when it
has none) and than numerical noise (1e-9); otherwise additive.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from wince.analysis.data import RunData
from wince.analysis.settings import AnalysisSettings, run_settings
from wince.analysis.stats import adjust, percentile_interval
from wince.engine.scenarios import BASELINE
from wince.metrics import Metric, Resampling, bootstrap_weights

FloatArray = npt.NDArray[np.float64]


def interaction_metrics(data: RunData) -> dict[str, Metric]:
    """The metrics whose combinations are tested.

    The flip rate, accuracy and mean absolute change of classifiers and regressors, and every
    metric of a structured output or of the plan's own.
    """
    classic = ("flip_rate", "accuracy", "mean_abs_change")
    return {
        name: metric
        for name, metric in data.metrics.items()
        if name in classic or metric.function is not None or metric.source != "built-in"
    }


def interaction_model(metric: Metric) -> str:
    """How parts are expected to combine without interaction.

    A share of 0/1 changes (flip rate, output changed) and a share of 0/1 successes
    (accuracy, exact match) combine as independent events ("independence"); other metrics
    add their changes ("additive").
    """
    return "independence" if metric.proportion else "additive"


@dataclass(frozen=True)
class Interactions:
    """Observed vs expected effects of combinations.

    Attributes:
        table: one row per (combination, metric): `scenario`, `parts` (isolation scenarios),
            `severity`, `metric`, `model` ("independence" or "additive"), `observed`,
            `expected`, `difference` (observed - expected, in the harmful direction),
            `low`, `high` (95% interval of the difference), `p_value` (two-sided,
            bootstrap), `p_adjusted` (across the combinations of the metric), `label`.
    """

    table: pd.DataFrame

    def to_payload(self) -> dict[str, Any]:
        """JSON-able form."""
        return {"table": self.table.to_dict(orient="list")}

    def _repr_html_(self) -> str:
        from wince.notebook import counts_text, html_card, html_table

        labels = self.table["label"].value_counts().to_dict() if len(self.table) else {}
        columns = (
            "scenario",
            "metric",
            "observed",
            "expected",
            "difference",
            "low",
            "high",
            "label",
        )
        return html_card(
            "Interactions",
            [("combinations", counts_text(labels))],
            [("Observed against expected", html_table(self.table, columns=columns))],
        )


def _isolation_scenario(data: RunData, step: dict[str, Any]) -> str | None:
    for row in data.scenarios.itertuples():
        if row.kind != "isolation":
            continue
        only = row.steps[0]
        if (
            only["name"] == step["name"]
            and only["value"] == step["value"]
            and only["params"] == step["params"]
        ):
            return str(row.scenario)
    return None


def _bootstrap_mean(per_sample: FloatArray, resample: Resampling) -> FloatArray:
    present = np.isfinite(per_sample)
    values = np.where(present, per_sample, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return resample.dot(values) / resample.dot(present.astype(np.float64))


# Differences this small are floating-point noise, never an interaction.
NUMERICAL_NOISE = 1e-9


def _bootstrap_pvalue(replicates: FloatArray) -> float:
    """Two-sided p-value that the mean difference is 0, from its bootstrap replicates."""
    finite = replicates[np.isfinite(replicates)]
    if len(finite) == 0:
        return float("nan")
    tail = min(np.sum(finite <= 0.0), np.sum(finite >= 0.0))
    return float(min(1.0, 2.0 * (tail + 1) / (len(finite) + 1)))


def _expected(data: RunData, metric: Metric, parts: list[str]) -> FloatArray:
    """Each sample's expected value under A+B if the parts act independently (or add).

    Independent changes: the sample stays unchanged only if every part leaves it so.
    Independent successes (a sample right or wrong on clean inputs): a right one stays right
    only if every part leaves it right, a wrong one stays wrong only if every part does.
    """
    column = metric.column
    if interaction_model(metric) == "independence" and metric.better == "lower":
        survive = np.ones(len(data.samples))
        for part in parts:
            survive *= 1.0 - data.per_sample(part, column)
        return 1.0 - survive
    if interaction_model(metric) == "independence":
        right = np.ones(len(data.samples))
        wrong = np.ones(len(data.samples))
        for part in parts:
            correct = data.per_sample(part, column)
            right *= correct
            wrong *= 1.0 - correct
        clean = data.per_sample(BASELINE, column)
        return np.where(clean >= 0.5, right, 1.0 - wrong)
    base = data.per_sample(BASELINE, column)
    expected: FloatArray = base + sum(data.per_sample(p, column) - base for p in parts)
    return expected


def interactions(
    data: RunData,
    *,
    resample: Resampling | None = None,
    settings: AnalysisSettings | None = None,
) -> Interactions:
    """Label every combination of the run synergistic, antagonistic or additive.

    Args:
        data: the run's outcomes.
        resample: the bootstrap resampling of samples (default: the plan's bootstrap).
        settings: tolerances, alpha and correction (default: the plan's analysis section).
    """
    settings = settings or run_settings(data)
    tolerance = dict(settings.tolerance)
    alpha, correction = settings.alpha, settings.correction
    resample = resample or bootstrap_weights(len(data.samples), settings.bootstrap, data.plan.seed)
    metrics = interaction_metrics(data)
    rows = []
    for combo in data.scenarios.itertuples():
        if combo.kind != "combination":
            continue
        parts = [_isolation_scenario(data, step) for step in combo.steps]
        if any(p is None for p in parts) or not data.has(combo.scenario):
            continue
        part_names = [str(p) for p in parts]
        for metric, spec in metrics.items():
            observed = data.per_sample(combo.scenario, spec.column)
            expected = _expected(data, spec, part_names)
            difference = spec.harm_sign * (observed - expected)
            replicates = _bootstrap_mean(difference, resample)
            low, high = percentile_interval(replicates)
            rows.append(
                {
                    "scenario": combo.scenario,
                    "parts": part_names,
                    "severity": float(combo.severity),
                    "metric": metric,
                    "model": interaction_model(spec),
                    "observed": float(np.nanmean(observed)),
                    "expected": float(np.nanmean(expected)),
                    "difference": float(np.nanmean(difference)),
                    "low": low,
                    "high": high,
                    "p_value": _bootstrap_pvalue(replicates),
                }
            )
    table = pd.DataFrame(rows)
    if table.empty:
        return Interactions(table)
    table["p_adjusted"] = np.nan
    for _, group in table.groupby("metric"):
        tested = group["p_value"].notna()
        table.loc[group.index[tested], "p_adjusted"] = adjust(
            group.loc[tested, "p_value"].to_numpy(), correction
        )
    table["label"] = [
        _label(row.difference, row.p_adjusted, tolerance.get(row.metric, 0.0), alpha)
        for row in table.itertuples()
    ]
    return Interactions(table)


def _label(difference: float, p_adjusted: float, tolerance: float, alpha: float) -> str:
    if not np.isfinite(difference) or abs(difference) <= max(tolerance, NUMERICAL_NOISE):
        return "additive"
    if not p_adjusted < alpha:
        return "additive"
    return "synergistic" if difference > 0 else "antagonistic"
