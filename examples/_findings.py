"""Shared by the examples: print the headline findings of an analysed run.

Not an example itself (the leading underscore keeps it out of tests/examples' list).
"""

from __future__ import annotations

from typing import Any

import wince


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
