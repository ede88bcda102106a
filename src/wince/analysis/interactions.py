"""Interaction effects: does a combination hurt more, or less, than its parts predict?

For each combination scenario, the observed effect is compared per sample with what the
isolated effects predict: for flips, independence (a sample flips under A+B with probability
1 - (1 - pa)(1 - pb), pa and pb its flip frequencies under A and B alone); for accuracy and
continuous changes, additivity (drop A+B = drop A + drop B). The mean difference gets a 95%
paired bootstrap interval; a pair is synergistic (worse than expected) when the interval
lies above 0, antagonistic when below, additive when it contains 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from wince.analysis.curves import HARM_SIGN
from wince.analysis.data import RunData
from wince.analysis.stats import Resampling, percentile_interval, resampling
from wince.engine.scenarios import BASELINE

FloatArray = npt.NDArray[np.float64]

INTERACTION_METRICS = {
    "flip_rate": "flipped",
    "accuracy": "correct",
    "mean_abs_change": "abs_value_delta",
}


@dataclass(frozen=True)
class Interactions:
    """Observed vs expected effects of combinations.

    Attributes:
        table: one row per (combination, metric): `scenario`, `parts` (isolation scenarios),
            `severity`, `metric`, `model` ("independence" or "additive"), `observed`,
            `expected`, `difference` (observed - expected, in the harmful direction),
            `low`, `high` (95% interval of the difference), `label`.
    """

    table: pd.DataFrame

    def to_payload(self) -> dict[str, Any]:
        """JSON-able form."""
        return {"table": self.table.to_dict(orient="list")}


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
        return (resample.samples @ values) / (resample.samples @ present.astype(np.float64))


def interactions(data: RunData, *, resample: Resampling | None = None) -> Interactions:
    """Label every combination of the run synergistic, antagonistic or additive."""
    bootstrap = (data.analysis or data.plan.analysis).bootstrap
    resample = resample or resampling(len(data.samples), bootstrap, data.plan.seed)
    metrics = {m: c for m, c in INTERACTION_METRICS.items() if c in data.outcomes.columns}
    rows = []
    for combo in data.scenarios.itertuples():
        if combo.kind != "combination":
            continue
        parts = [_isolation_scenario(data, step) for step in combo.steps]
        if any(p is None for p in parts) or not data.has(combo.scenario):
            continue
        part_names = [str(p) for p in parts]
        for metric, column in metrics.items():
            sign = HARM_SIGN[metric]
            observed = data.per_sample(combo.scenario, column)
            if metric == "flip_rate":
                model = "independence"
                survive = np.ones(len(data.samples))
                for part in part_names:
                    survive *= 1.0 - data.per_sample(part, column)
                expected = 1.0 - survive
            else:
                model = "additive"
                base = data.per_sample(BASELINE, column)
                expected = base + sum(data.per_sample(p, column) - base for p in part_names)
                if metric == "accuracy":
                    expected = np.clip(expected, 0.0, 1.0)
            difference = sign * (observed - expected)
            replicates = _bootstrap_mean(difference, resample)
            low, high = percentile_interval(replicates)
            label = "synergistic" if low > 0 else "antagonistic" if high < 0 else "additive"
            rows.append(
                {
                    "scenario": combo.scenario,
                    "parts": part_names,
                    "severity": float(combo.severity),
                    "metric": metric,
                    "model": model,
                    "observed": float(np.nanmean(observed)),
                    "expected": float(np.nanmean(expected)),
                    "difference": float(np.nanmean(difference)),
                    "low": low,
                    "high": high,
                    "label": label,
                }
            )
    return Interactions(pd.DataFrame(rows))
