"""The results `wince analyze` was asked for, as terminal listings and JSON records.

Each function turns one analysis result into a `wince.terminal.Listing`: its rows are what
the terminal shows (fitted to its width, names whole), its records what `--json` holds. A
physical value beyond its perturbation's realistic range is marked "beyond" in the `range`
column, as the report flags it (`Magnitude.beyond_realistic`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from wince import perturbations
from wince.errors import WinceError
from wince.terminal import Listing

if TYPE_CHECKING:
    from wince.analysis.breaking import BreakingPoints
    from wince.analysis.global_sensitivity import GlobalSensitivity
    from wince.analysis.gradients import Gradients
    from wince.analysis.local import ColumnSensitivity

BEYOND = "beyond"
"""The `range` cell of a value beyond its perturbation's realistic range."""


def beyond_realistic(perturbation: str, value: float) -> bool:
    """Whether `value` (physical units) lies beyond `perturbation`'s realistic range.

    False for a value that is not finite or a perturbation not registered here.
    """
    if not math.isfinite(value):
        return False
    try:
        magnitude = perturbations.get(perturbation).magnitude
    except WinceError:
        return False
    return magnitude.beyond_realistic(value)


def scenario_beyond_realistic(steps: list[Mapping[str, Any]]) -> bool:
    """Whether any step of a scenario applies a value beyond its realistic range."""
    return any(beyond_realistic(str(step["name"]), float(step["value"])) for step in steps)


def _number(value: float, digits: str = ".3g") -> str:
    return format(value, digits) if math.isfinite(value) else "-"


def _interval(ends: list[float | None], search_end: float) -> str:
    """An interval's ends as "low to high", an end not reached as beyond `search_end`.

    `search_end`: the last value the breaking-point search tried (physical units).
    """
    if all(end is None for end in ends):
        return f"beyond {search_end:.3g}"
    return " to ".join(f"beyond {search_end:.3g}" if end is None else f"{end:.3g}" for end in ends)


def _with_range(
    columns: Sequence[str], rows: list[list[str]], beyond: Sequence[bool]
) -> tuple[tuple[str, ...], list[list[str]]]:
    """The listing's columns and rows, without the `range` column when no value is beyond."""
    if any(beyond):
        return tuple(columns), rows
    at = list(columns).index("range")
    return tuple(c for c in columns if c != "range"), [row[:at] + row[at + 1 :] for row in rows]


def _finite(value: float) -> float | None:
    """`value` for JSON: None when it is infinite or NaN."""
    return float(value) if math.isfinite(value) else None


def tolerance_listing(settings: Mapping[str, Any], tested: set[str]) -> Listing:
    """The tolerances the verdicts tested, each with its source, under the alpha and correction.

    `settings` is `AnalysisSettings.to_payload()`; a tolerance without a recorded source is
    the plan's.
    """
    sources = settings.get("tolerance_source", {})
    records: list[dict[str, Any]] = [
        {"metric": metric, "tolerance": float(value), "source": sources.get(metric, "plan")}
        for metric, value in settings.get("tolerance", {}).items()
        if metric in tested
    ]
    return Listing(
        title=f"tolerances (alpha {settings.get('alpha')}, {settings.get('correction')} "
        "correction)",
        columns=("metric", "tolerance", "source"),
        rows=[[r["metric"], f"{r['tolerance']:g}", r["source"]] for r in records],
        whole=("metric",),
        records=records,
    )


def fragile_listing(fragile: pd.DataFrame, scenarios: pd.DataFrame, shown: int) -> Listing:
    """The first `shown` fragile scenarios: effect, tolerance, corrected p and range mark.

    `scenarios` is the run's scenario table (`RunData.scenarios`: `scenario`, `steps`).
    """
    from wince.analysis.stats import format_pvalue

    steps = dict(zip(scenarios["scenario"], scenarios["steps"], strict=True))
    records: list[dict[str, Any]] = [
        {
            "scenario": row.scenario,
            "metric": row.metric,
            "effect": float(row.effect),
            "tolerance": float(row.tolerance),
            "p": float(row.p_fragile),
            "beyond_realistic": scenario_beyond_realistic(steps.get(row.scenario, [])),
        }
        for row in fragile.itertuples()
    ]
    rows = [
        [
            r["scenario"],
            r["metric"],
            f"{r['effect']:.3f}",
            f"{r['tolerance']:g}",
            format_pvalue(r["p"]),
            BEYOND if r["beyond_realistic"] else "",
        ]
        for r in records[:shown]
    ]
    columns, rows = _with_range(
        ("scenario", "metric", "effect", "tolerance", "p", "range"),
        rows,
        [r["beyond_realistic"] for r in records[:shown]],
    )
    return Listing(
        title="fragile (effect beyond tolerance, corrected p < alpha)",
        columns=columns,
        rows=rows,
        whole=("scenario", "metric"),
        optional=("tolerance",),
        records=records,
    )


def cliffs_listing(cliffs: pd.DataFrame) -> Listing:
    """Where each metric's curve steepens: the value, the slopes either side, adjusted p."""
    from wince.analysis.stats import format_pvalue

    records: list[dict[str, Any]] = [
        {
            "perturbation": row.perturbation,
            "metric": row.metric,
            "value": float(row.value),
            "severity": float(row.severity),
            "slope_before": float(row.slope_before),
            "slope_after": float(row.slope_after),
            "p_adjusted": float(row.p_adjusted),
        }
        for row in cliffs.itertuples()
    ]
    rows = [
        [
            r["perturbation"],
            r["metric"],
            f"{r['value']:g}",
            f"{r['slope_before']:.3f} -> {r['slope_after']:.3f}",
            format_pvalue(r["p_adjusted"]),
        ]
        for r in records
    ]
    return Listing(
        title="cliffs (where a curve steepens; slope per unit of severity)",
        columns=("perturbation", "metric", "at", "slope", "adjusted p"),
        rows=rows,
        whole=("perturbation", "metric"),
        records=records,
    )


def breaking_listing(results: Mapping[str, BreakingPoints]) -> Listing:
    """Each plan entry's median breaking point in physical units, with its 95% interval.

    The interval is that of the median (bootstrap over samples), converted to the
    perturbation's unit; `broke` counts the samples that broke within the searched range.
    """
    records: list[dict[str, Any]] = []
    for entry, result in results.items():
        magnitude = perturbations.get(result.perturbation).magnitude
        low, high = result.median_interval
        value = result.median_breaking_value
        records.append(
            {
                "entry": entry,
                "perturbation": result.perturbation,
                "parameter": result.parameter,
                "unit": result.unit,
                "samples": len(result.table),
                "broke": int(sum(math.isfinite(s) for s in result.table["breaking_severity"])),
                "broken_when": (
                    f"{result.metric} beyond {result.value_tolerance:g}"
                    if result.metric is not None
                    else "the prediction changed"
                ),
                "median_value": _finite(value),
                "median_severity": _finite(result.median_breaking_severity),
                "interval_value": [
                    _finite(magnitude.value_at(s)) if math.isfinite(s) else None
                    for s in (low, high)
                ],
                "search_end": result.search_end,
                "search_end_value": magnitude.value_at(result.search_end),
                "beyond_realistic": beyond_realistic(result.perturbation, value),
            }
        )
    rows = []
    for r in records:
        median = r["median_value"]
        rows.append(
            [
                r["entry"],
                f"{r['broke']} of {r['samples']}",
                f"{median:.3g} {r['unit']}"
                if median is not None
                else f"beyond {r['search_end_value']:.3g} {r['unit']}",
                _interval(r["interval_value"], r["search_end_value"]),
                BEYOND if r["beyond_realistic"] else "",
                r["broken_when"],
            ]
        )
    columns, rows = _with_range(
        ("perturbation", "broke", "median", "interval", "range", "broken when"),
        rows,
        [r["beyond_realistic"] for r in records],
    )
    return Listing(
        title="breaking points (median over samples, 95% interval)",
        columns=columns,
        rows=rows,
        whole=("perturbation",),
        optional=("broken when",),
        records=records,
    )


def global_listing(result: GlobalSensitivity) -> Listing:
    """Each factor's Sobol' first-order and total index (or Morris mu*, sigma), by rank."""
    ranked = result.indices.sort_values("rank")
    records: list[dict[str, Any]] = [
        {key: (value.item() if hasattr(value, "item") else value) for key, value in row.items()}
        for row in ranked.to_dict(orient="records")
    ]
    if result.method == "morris":
        rows = [
            [
                r["factor"],
                f"{r['mu_star']:.3g} [{r['mu_star_low']:.3g}, {r['mu_star_high']:.3g}]",
                f"{r['sigma']:.3g}",
            ]
            for r in records
        ]
        columns: tuple[str, ...] = ("factor", "mu* [95%]", "sigma")
    else:
        rows = [
            [
                r["factor"],
                f"{r['ST']:.2f} [{r['ST_low']:.2f}, {r['ST_high']:.2f}]",
                f"{r['S1']:.2f} [{r['S1_low']:.2f}, {r['S1_high']:.2f}]",
            ]
            for r in records
        ]
        columns = ("factor", "total [95%]", "first-order [95%]")
    return Listing(
        title=f"global sensitivity ({result.method}, {result.design_points} design points)",
        columns=columns,
        rows=rows,
        whole=("factor",),
        records=records,
    )


def gradients_listing(gradients: Gradients) -> Listing:
    """Per perturbation: the output change the gradient predicts and the one observed.

    Means of absolute values over samples, in the differentiated output's units (the
    probability of the predicted class, or the value).
    """
    records: list[dict[str, Any]] = []
    directional = gradients.directional
    for name, group in directional.groupby("perturbation", sort=False):
        records.append(
            {
                "perturbation": str(name),
                "samples": len(group),
                "severity": float(group["severity"].iloc[0]),
                "mean_abs_predicted": float(group["directional"].abs().mean()),
                "mean_abs_actual": float(group["actual"].abs().mean()),
            }
        )
    rows = [
        [
            r["perturbation"],
            f"{r['severity']:.2f}",
            _number(r["mean_abs_predicted"]),
            _number(r["mean_abs_actual"]),
        ]
        for r in records
    ]
    norms = gradients.samples["gradient_norm"]
    return Listing(
        title=f"input gradients ({len(norms)} samples, median gradient norm "
        f"{_number(float(norms.median()))})",
        columns=("perturbation", "severity", "gradient predicts", "observed"),
        rows=rows,
        whole=("perturbation",),
        records=records,
    )


def columns_listing(columns: ColumnSensitivity) -> Listing:
    """Each column's mean derivative per column sd with its 95% interval, by rank."""
    ranked = columns.table.sort_values("rank")
    records: list[dict[str, Any]] = [
        {
            "column": str(row.column),
            "mean": float(row.mean),
            "low": float(row.low),
            "high": float(row.high),
            "mean_abs": float(row.mean_abs),
            "rank": int(row.rank),
        }
        for row in ranked.itertuples()
    ]
    rows = [
        [
            r["column"],
            f"{r['mean']:.3g} [{r['low']:.3g}, {r['high']:.3g}]",
            _number(r["mean_abs"]),
        ]
        for r in records
    ]
    return Listing(
        title=f"column sensitivity (d {columns.output} per column sd)",
        columns=("column", "mean [95%]", "mean |d|"),
        rows=rows,
        whole=("column",),
        records=records,
    )
