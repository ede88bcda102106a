"""Shared by the examples: print the headline findings of an analysed run.

Not an example itself (the leading underscore keeps it out of tests/examples' list).
"""

from __future__ import annotations

from typing import Any

import numpy as np

import wince
from wince.metrics import BUILT_IN_METRICS


def _fmt(metric: str, value: float) -> str:
    return f"{value:.1%}" if metric in ("flip_rate", "accuracy") else f"{value:.3g}"


def print_findings(run: wince.Run, profile: Any, *, quality: str, harms: tuple[str, ...]) -> None:
    """The headline: quality unperturbed, where each perturbation turns fragile, worst pairs."""
    summary = run.summary()
    base = summary.query(f"scenario == 'baseline' and metric == '{quality}'").iloc[0]
    print(f"{run.record['name']}: run {run.id}, {run.record['n_samples']} samples")
    print(
        f"  {quality} unperturbed: {_fmt(quality, base['value'])} "
        f"(95% interval {_fmt(quality, base['low'])}-{_fmt(quality, base['high'])})"
    )
    counts = profile.verdicts.scenarios["verdict"].value_counts().to_dict()
    print(
        f"  verdicts: {counts.get('fragile', 0)} fragile, {counts.get('robust', 0)} robust, "
        f"{counts.get('inconclusive', 0)} inconclusive scenarios"
    )
    tests = profile.verdicts.tests
    curves = profile.curves.table
    for harm in harms:
        fragile = tests[(tests["metric"] == harm) & (tests["verdict"] == "fragile")]
        for name, points in curves[curves["metric"] == harm].groupby("perturbation", sort=False):
            hit = points[points["scenario"].isin(fragile["scenario"])].sort_values("severity")
            if hit.empty:
                print(f"  {name}: {harm} not shown fragile at any level of the sweep")
                continue
            first = hit.iloc[0]
            print(
                f"  {name}: {harm} fragile from {first['value']:.4g} {first['unit']} (severity "
                f"{first['severity']:.1f}) on: {_fmt(harm, first['estimate'])} "
                f"({_fmt(harm, first['low'])}-{_fmt(harm, first['high'])})"
            )
        pairs = tests[(tests["kind"] == "combination") & (tests["metric"] == harm)]
        for row in pairs.sort_values("effect", ascending=False).head(3).itertuples():
            print(f"  pair {row.scenario}: {harm} change {_fmt(harm, row.effect)} ({row.verdict})")


def print_headline(run: wince.Run, metric: str, meaning: str) -> dict[str, dict[str, Any]]:
    """Print how a built-in `metric` (a share or rate, printed in %) moves from clean to worst.

    For example "character error rate rises from 0.8% [0.2%, 2.1%] clean to 6.3% [4.0%, 9.1%]
    under image.defocus_blur(...) at severity 1.0", with 95% intervals over samples; the worst
    scenario is the one whose estimate is furthest on the metric's bad side (highest for an
    error rate, lowest for a recall). Returns both rows of the run's summary (`clean` and
    `worst`, each with scenario, severity, value, low and high).
    """
    summary = run.summary()
    higher_is_better = BUILT_IN_METRICS[metric].better == "higher"
    rows = summary[summary["metric"] == metric].sort_values("value", ascending=higher_is_better)
    clean = rows[rows["scenario"] == "baseline"].iloc[0]
    worst = rows[~rows["scenario"].isin(("baseline", "identity"))].iloc[0]
    change = np.sign(worst["value"] - clean["value"])
    moves = {1.0: "rises", -1.0: "falls", 0.0: "stays"}[change]
    print(
        f"{run.record['name']}: {meaning} {moves} from {_interval(clean)} clean to "
        f"{_interval(worst)} under {worst['scenario']} at severity {worst['severity']:.1f}"
    )
    return {"clean": clean.to_dict(), "worst": worst.to_dict()}


def _interval(row: Any) -> str:
    return f"{row['value']:.1%} [{row['low']:.1%}, {row['high']:.1%}]"
