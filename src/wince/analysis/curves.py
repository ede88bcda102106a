"""Sensitivity curves, local (finite-difference) slopes and threshold effects (cliffs).

A curve is a metric against a perturbation's magnitude, from the baseline (severity 0)
through each isolation scenario of its sweep. Every point carries a 95% interval from a
bootstrap that resamples samples and seeds with weights shared across the run, so
differences between points (slopes, slope jumps) are paired and get intervals too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from wince import perturbations as library
from wince.analysis.data import RunData
from wince.analysis.settings import AnalysisSettings
from wince.analysis.stats import (
    adjust,
    bootstrap_means_each,
    normal_pvalue,
    percentile_interval,
)
from wince.engine.scenarios import BASELINE
from wince.metrics import (
    BUILT_IN_METRICS,
    Resampling,
    bootstrap_weights,
    proportion_interval,
    scenario_metrics,
    summary_names,
)

FloatArray = npt.NDArray[np.float64]


def harm_signs(curves: pd.DataFrame) -> pd.Series[float]:
    """+1 where a rise of the row's metric is harm, -1 where a fall is.

    From the curves' `harm_sign` (curves stored before it was recorded: the built-in
    metrics' own, +1 for the others).
    """
    if "harm_sign" in curves.columns:
        return curves["harm_sign"].fillna(1.0).astype(float)
    return curves["metric"].map(
        lambda m: BUILT_IN_METRICS[m].harm_sign if m in BUILT_IN_METRICS else 1.0
    )


def curve_columns(data: RunData) -> dict[str, str]:
    """Metric -> outcome column of the run's per-sample metrics (`RunData.metrics`)."""
    return {name: metric.column for name, metric in data.metrics.items()}


@dataclass(frozen=True)
class Curves:
    """Sensitivity curves of a run.

    Attributes:
        table: one row per (plan entry, metric, sweep point): `perturbation` (registry
            name), `entry` (the plan entry's name, `Plan.labels`: the registry name unless
            the plan lists the perturbation more than once), `metric`, `scenario`, `value`
            (physical units), `unit`, `severity`, `estimate`, `low`, `high` (95% interval),
            `seed_sd` (sd of the metric across seeds: the perturbation's own randomness),
            `n_samples`, `n_trials`, `harm_sign` (+1: a rise is harm, -1: a fall is).
        replicates: bootstrap replicates per (entry, metric): (n_points, n_boot), paired
            across points and perturbations (same resampling).
    """

    table: pd.DataFrame
    replicates: dict[tuple[str, str], FloatArray] = field(repr=False)

    def curve(self, entry: str, metric: str) -> pd.DataFrame:
        """The rows of one curve, by severity (`entry`: a plan entry's name)."""
        rows = self.table[(self.table["entry"] == entry) & (self.table["metric"] == metric)]
        return rows.reset_index(drop=True)

    def to_payload(self) -> dict[str, Any]:
        """JSON-able form (without replicates)."""
        return {"table": self.table.to_dict(orient="list")}

    def _repr_html_(self) -> str:
        from wince.notebook import html_card, html_table

        table = self.table
        facts = [
            ("perturbations", table["entry"].nunique() if len(table) else 0),
            ("metrics", ", ".join(dict.fromkeys(table["metric"])) if len(table) else "none"),
            ("points", len(table)),
        ]
        columns = ("entry", "metric", "severity", "value", "unit", "estimate", "low", "high")
        return html_card(
            "Sensitivity curves", facts, [("Points", html_table(table, columns=columns))]
        )


def sensitivity_curves(data: RunData, *, resample: Resampling | None = None) -> Curves:
    """Every metric against magnitude for each perturbation of the run.

    Mean metrics (flip rate, accuracy, confidence and probability changes, mean absolute
    change, MAE) keep their bootstrap replicates for slopes and cliffs; the plan's other
    metrics (prediction-shift JSD, ECE, RMSE, relative change) get a point and an interval
    from the same resampling. A perturbation the model refused at every level has no curve
    (`RunData.refused_entries`).
    """
    bootstrap = (data.analysis or data.plan.analysis).bootstrap
    resample = resample or bootstrap_weights(len(data.samples), bootstrap, data.plan.seed)
    columns = curve_columns(data)
    ratios = [m for m in summary_names(data.plan) if m not in columns]
    rows: list[dict[str, Any]] = []
    replicates: dict[tuple[str, str], FloatArray] = {}
    refused = set(data.refused_entries())
    for entry in data.perturbations():
        name = data.perturbation_name(entry)
        unit = library.get(name).magnitude.unit
        points = data.sweep(entry)
        if entry in refused and len(points) == 1:
            # the model refused every level: a curve of the baseline alone would read as
            # "no effect" (the monitor would predict no harm); the refusal is reported instead
            continue
        # point by point, every metric of a scenario while it is in memory; rows by metric
        by_metric: dict[str, list[dict[str, Any]]] = {metric: [] for metric in columns}
        reps: dict[str, list[FloatArray]] = {metric: [] for metric in columns}
        ratio_rows: list[dict[str, Any]] = []
        for point in points:
            ratio_rows += _ratio_metric_rows(data, (name, entry), unit, point, resample, ratios)
            matrices = {m: data.matrix(point.scenario, c) for m, c in columns.items()}
            point_reps = bootstrap_means_each(list(matrices.values()), resample)
            for k, (metric, values) in enumerate(matrices.items()):
                with np.errstate(invalid="ignore"):
                    trial_means = np.nanmean(values, axis=0)
                    estimate = float(np.nanmean(values))
                rep = point_reps[:, k]
                low, high = percentile_interval(rep)
                if data.metrics[metric].proportion:  # the bootstrap collapses for rare events
                    present = np.isfinite(values)
                    successes = np.where(present, values, 0.0).sum(axis=1)
                    low, high = proportion_interval(successes, present.sum(axis=1))
                reps[metric].append(rep)
                seed_sd = float(np.std(trial_means, ddof=1)) if len(trial_means) > 1 else 0.0
                by_metric[metric].append(
                    _row((name, entry), metric, unit, point, (estimate, low, high), seed_sd)
                    | {
                        "harm_sign": data.metrics[metric].harm_sign,
                        "n_samples": int(np.isfinite(values).any(axis=1).sum()),
                        "n_trials": int(values.shape[1]),
                    }
                )
        for metric in columns:
            rows += by_metric[metric]
            replicates[(entry, metric)] = np.vstack(reps[metric])
        rows += ratio_rows
    return Curves(pd.DataFrame(rows), replicates)


def _row(
    names: tuple[str, str],
    metric: str,
    unit: str,
    point: Any,
    interval: tuple[float, float, float],
    seed_sd: float,
) -> dict[str, Any]:
    estimate, low, high = interval
    return {
        "perturbation": names[0],
        "entry": names[1],
        "metric": metric,
        "scenario": point.scenario,
        "value": point.value,
        "unit": unit,
        "severity": point.severity,
        "estimate": estimate,
        "low": low,
        "high": high,
        "seed_sd": seed_sd,
    }


def _ratio_metric_rows(
    data: RunData,
    names: tuple[str, str],
    unit: str,
    point: Any,
    resample: Resampling,
    wanted: list[str],
) -> list[dict[str, Any]]:
    """Rows of the metrics of `wanted` that are no mean of one column, at one sweep point."""
    if not wanted:
        return []
    frame = data.frame(point.scenario)
    found = scenario_metrics(
        frame, data.frame(BASELINE), wanted, resample, pd.Index(data.samples), {}
    )
    return [
        _row(names, metric, unit, point, (e.value, e.low, e.high), float("nan"))
        | {
            "harm_sign": 1.0,  # ECE, prediction shift, RMSE, relative change
            "n_samples": int(frame["sample_index"].nunique()),
            "n_trials": int(frame["trial"].nunique()),
        }
        for metric, e in found.items()
    ]


def local_sensitivity(curves: Curves) -> pd.DataFrame:
    """Finite-difference slope of each metric at the mild end of each realistic range.

    The slope is taken between the two sweep points (baseline included) nearest the severity
    of the magnitude's `mild` value, per physical unit and per unit of severity, with a 95%
    interval from the paired bootstrap replicates.

    Returns:
        One row per (plan entry, metric): `perturbation`, `entry`, `metric`, `from_value`,
        `to_value`, `slope_per_unit`, `low`, `high`, `unit`, `slope_per_severity`.
    """
    rows = []
    for (entry, metric), reps in curves.replicates.items():
        curve = curves.curve(entry, metric)
        if len(curve) < 2:
            continue
        name = str(curve["perturbation"].iloc[0])
        magnitude = library.get(name).magnitude
        mild = magnitude.severity_of(magnitude.mild)
        order = np.argsort(np.abs(curve["severity"].to_numpy() - mild), kind="stable")
        a, b = sorted(order[:2])
        dv = curve["value"].iloc[b] - curve["value"].iloc[a]
        ds = curve["severity"].iloc[b] - curve["severity"].iloc[a]
        diff = curve["estimate"].iloc[b] - curve["estimate"].iloc[a]
        low, high = sorted(percentile_interval((reps[b] - reps[a]) / dv))
        rows.append(
            {
                "perturbation": name,
                "entry": entry,
                "metric": metric,
                "from_value": float(curve["value"].iloc[a]),
                "to_value": float(curve["value"].iloc[b]),
                "unit": magnitude.unit,
                "slope_per_unit": float(diff / dv),
                "low": low,
                "high": high,
                "slope_per_severity": float(diff / ds),
            }
        )
    return pd.DataFrame(rows)


CLIFF_COLUMNS = [
    "perturbation",
    "entry",
    "metric",
    "severity",
    "value",
    "slope_before",
    "slope_after",
    "jump",
    "jump_low",
    "jump_high",
    "p_value",
    "p_adjusted",
]


def cliffs(
    curves: Curves, settings: AnalysisSettings | None = None, *, min_ratio: float = 2.0
) -> pd.DataFrame:
    """Threshold effects: points where a curve's slope jumps towards harm.

    At each interior point of each curve with bootstrap replicates, the slope (per unit
    severity) of the segment after is compared with the segment before; the jump is
    `slope_after - slope_before`, harm positive. Every interior point of every curve is a
    test of "the slope jumps towards harm", with a one-sided p-value from the normal
    approximation to the jump's paired bootstrap replicates (`normal_pvalue`), and the
    p-values are adjusted together with the run's correction (Holm by default). A cliff is
    reported where

    - the adjusted p-value is below alpha (so on flat, noisy curves the chance of any false
      cliff in the run is at most alpha with Holm),
    - the slope after is at least `min_ratio` times the slope before (in magnitude), and
    - the jump matters: the metric changes over the segment after by more than the
      tolerance beyond what the slope before predicts (`jump * segment width > tolerance`;
      a metric without a tolerance needs significance alone).

    Per curve, the largest such jump is kept.

    Args:
        curves: the run's sensitivity curves.
        settings: tolerances, alpha and correction; default alpha 0.05, Holm, no tolerance.
        min_ratio: how much steeper the segment after must be than the one before (>= 1).

    Returns:
        One row per cliff: `perturbation`, `entry` (the plan entry), `metric`, `severity`,
        `value` (where the slope jumps), `slope_before`, `slope_after` (per unit severity,
        the metric's own sign), `jump` (harm positive), `jump_low`, `jump_high` (95%
        percentile interval), `p_value` (one-sided), `p_adjusted` (across every interior
        point of every curve).
    """
    settings = settings or AnalysisSettings(tolerance={}, tolerance_source={})
    candidates = [
        jump
        for (entry, metric), reps in curves.replicates.items()
        for jump in _slope_jumps(curves.curve(entry, metric), reps, min_ratio)
    ]
    table = pd.DataFrame(candidates, columns=[*CLIFF_COLUMNS, "steep", "excess"])
    tested = table["p_value"].notna().to_numpy()
    if tested.any():
        table.loc[tested, "p_adjusted"] = adjust(
            table.loc[tested, "p_value"].to_numpy(np.float64), settings.correction
        )
    tolerance = table["metric"].map(lambda m: settings.tolerance.get(m, 0.0)).astype(float)
    cliff = (
        (table["p_adjusted"].fillna(1.0) < settings.alpha)
        & table["steep"].astype(bool)
        & (table["excess"] > tolerance)
    )
    largest = table[cliff].sort_values("jump", ascending=False, kind="stable")
    kept = largest.drop_duplicates(["entry", "metric"]).sort_index()
    return kept[CLIFF_COLUMNS].reset_index(drop=True)


def _slope_jumps(curve: pd.DataFrame, reps: FloatArray, min_ratio: float) -> list[dict[str, Any]]:
    """Every interior point of a curve as a candidate cliff, with its unadjusted p-value.

    `steep`: the slope after is towards harm and at least `min_ratio` times the slope
    before; `excess`: the harmful change over the segment after the point beyond what the
    slope before predicts (metric units).
    """
    if len(curve) < 3:
        return []
    metric = str(curve["metric"].iloc[0])
    sign = float(harm_signs(curve).iloc[0])
    severity = curve["severity"].to_numpy(np.float64)
    estimate = curve["estimate"].to_numpy(np.float64) * sign
    harmful = reps * sign
    rows = []
    for k in range(1, len(curve) - 1):
        width_before = severity[k] - severity[k - 1]
        width_after = severity[k + 1] - severity[k]
        before = (estimate[k] - estimate[k - 1]) / width_before
        after = (estimate[k + 1] - estimate[k]) / width_after
        jump_reps = (harmful[k + 1] - harmful[k]) / width_after - (
            harmful[k] - harmful[k - 1]
        ) / width_before
        low, high = percentile_interval(jump_reps)
        rows.append(
            {
                "perturbation": str(curve["perturbation"].iloc[0]),
                "entry": str(curve["entry"].iloc[0]),
                "metric": metric,
                "severity": float(severity[k]),
                "value": float(curve["value"].iloc[k]),
                "slope_before": float(before * sign),
                "slope_after": float(after * sign),
                "jump": float(after - before),
                "jump_low": low,
                "jump_high": high,
                "p_value": normal_pvalue(after - before, jump_reps),
                "p_adjusted": math.nan,
                "steep": bool(after > 0 and after >= min_ratio * max(abs(before), 1e-12)),
                "excess": float((after - before) * width_after),
            }
        )
    return rows
