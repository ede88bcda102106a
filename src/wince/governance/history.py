"""History: one metric across the successive runs of a plan name, oldest first.

Per run: its id, when it was created, its status, its model and data fingerprints, the mean of
the metric over its perturbed scenarios (isolations and combinations, not the baseline or the
noise floor) and its worst scenario with the metric's value and 95% bootstrap interval.
Worst means highest for metrics that grow with damage (flip rate, JSD, ECE, errors) and lowest
for accuracy and the confidence and true-class probability changes.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from wince.errors import ParameterError, StoreError, typo_of
from wince.metrics import BUILT_IN_METRICS, metric_name_problems, plan_metric_table, summarize
from wince.plan import METRICS, Plan
from wince.store.by_scenario import ScenarioOutcomes
from wince.store.store import Store

PERTURBED = ("isolation", "combination")
HISTORY_COLUMNS = [
    "run_id",
    "created_at",
    "status",
    "model_fingerprint",
    "data_fingerprint",
    "metric",
    "n_scenarios",
    "mean",
    "worst_scenario",
    "worst",
    "worst_low",
    "worst_high",
]


def history(
    store: Store, plan_name: str, metric: str = "flip_rate", *, n_boot: int | None = None
) -> pd.DataFrame:
    """The metric of every run of a plan name, in creation order.

    Args:
        store: the store.
        plan_name: the plan's `name` field.
        metric: one of the plan metrics (default flip_rate).
        n_boot: bootstrap replicates of the worst scenario's interval; default the plan's.

    Returns:
        One row per run with the columns of `HISTORY_COLUMNS`; `mean` and the worst scenario
        are NaN (and None) for a run without outcomes or without the metric (e.g. accuracy
        without labels).

    Raises:
        ParameterError: unknown metric.
        StoreError: no run of that plan name (the stored plan names are listed).
    """
    known = list(dict.fromkeys([*METRICS, *BUILT_IN_METRICS]))
    # a plan's own metric is known only with its runs; a name close to a built-in is a typo
    close = typo_of(metric, known)
    if metric not in known and (close or metric_name_problems(metric)):
        hint = f"did you mean {close!r}?" if close else f"known: {', '.join(known)}."
        raise ParameterError(
            f"history: unknown metric {metric!r}; {hint} (or name a metric of the plan's own)"
        )
    runs = store.list_runs()
    mine = runs[runs["name"] == plan_name].sort_values("created_at", kind="stable")
    if mine.empty:
        names = ", ".join(sorted(set(runs["name"]))) or "none"
        raise StoreError(
            f"no run of plan {plan_name!r} in the store at {store.url}; stored plan names: {names}."
        )
    rows = [_run_row(store, row._asdict(), metric, n_boot) for row in mine.itertuples()]
    return pd.DataFrame(rows, columns=HISTORY_COLUMNS)


def _run_row(
    store: Store, run: dict[str, object], metric: str, n_boot: int | None
) -> dict[str, object]:
    run_id = str(run["run_id"])
    row: dict[str, object] = {
        "run_id": run_id,
        "created_at": run["created_at"],
        "status": run["status"],
        "model_fingerprint": run["model_fingerprint"],
        "data_fingerprint": run["data_fingerprint"],
        "metric": metric,
        "n_scenarios": 0,
        "mean": math.nan,
        "worst_scenario": None,
        "worst": math.nan,
        "worst_low": math.nan,
        "worst_high": math.nan,
    }
    if not store.completed_units(run_id):
        return row
    record = store.run(run_id)
    plan = Plan.model_validate(record["lineage"]["plan"])
    metrics = plan_metric_table(plan, record["task"])
    scenarios = store.scenarios(run_id)
    perturbed = set(scenarios.loc[scenarios["kind"].isin(PERTURBED), "scenario"])
    table = summarize(
        ScenarioOutcomes.from_store(store, run_id, keep=0),
        [metric],
        table={metric: metrics[metric]} if metric in metrics else {},
        n_boot=n_boot or plan.analysis.bootstrap,
        seed=plan.seed,
        scenarios=perturbed,
    )
    table = table[table["scenario"].isin(perturbed) & (table["metric"] == metric)]
    table = table[np.isfinite(table["value"].to_numpy(float))]
    if table.empty:
        return row
    values = table["value"].to_numpy(float)
    # the other summary metrics (ECE, JSD, RMSE, relative change) are worse higher
    lower_is_worse = metric in metrics and metrics[metric].harm_sign < 0
    worst = table.iloc[int(np.argmin(values) if lower_is_worse else np.argmax(values))]
    row.update(
        n_scenarios=len(table),
        mean=float(values.mean()),
        worst_scenario=str(worst["scenario"]),
        worst=float(worst["value"]),
        worst_low=float(worst["low"]),
        worst_high=float(worst["high"]),
    )
    return row
