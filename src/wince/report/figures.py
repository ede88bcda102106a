"""The report's figures as Vega-Lite specifications (built with Altair).

One library serves the interactive HTML report (the specs run in the embedded Vega bundle,
with tooltips and metric selectors) and the static PNG/SVG exports (vl-convert renders the
same specs offline, with no browser). Colours are colour-blind safe: Okabe-Ito for
categories, viridis for sequential scales and blue-orange for diverging ones; every mark
carries a tooltip, and heatmap cells print their values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import altair as alt
import numpy as np
import pandas as pd

from wince.analysis.curves import harm_signs
from wince.files import write_file
from wince.report.data import ReportData

# Okabe & Ito (2008), the palette designed to stay distinct under every colour-vision deficiency
OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000"]
VEGA_LITE_VERSION = alt.SCHEMA_VERSION.lstrip("v").rsplit(".", 1)[0]  # e.g. "6.4"
WIDTH = 520
METRIC_LABELS = {
    "flip_rate": "flip rate",
    "accuracy": "accuracy",
    "confidence_change": "confidence change",
    "true_class_prob_change": "true-class probability change",
    "prediction_shift_jsd": "prediction shift (JSD)",
    "ece": "calibration error (ECE)",
    "mae": "mean absolute error",
    "rmse": "RMSE",
    "relative_change": "relative change",
    "mean_abs_change": "mean absolute change",
}


@dataclass(frozen=True)
class Figure:
    """One figure of the report.

    Attributes:
        key: stable identifier (file stem for exports, element id in HTML).
        title: heading.
        caption: how to read it.
        spec: the Vega-Lite specification (JSON-able).
        rows: the data plotted, one record per mark datum.
    """

    key: str
    title: str
    caption: str
    spec: dict[str, Any]
    rows: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form: title, caption and data (the spec is in `spec`)."""
        return {"key": self.key, "title": self.title, "caption": self.caption, "data": self.rows}


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON-able records; NaN and infinities become None."""
    out = []
    for row in frame.to_dict("records"):
        clean: dict[str, Any] = {}
        for key, value in row.items():
            if isinstance(value, np.generic):
                value = value.item()
            if isinstance(value, float) and not math.isfinite(value):
                value = None
            clean[str(key)] = value
        out.append(clean)
    return out


def _inline(rows: list[dict[str, Any]]) -> Any:
    """Data embedded in the spec (no URL, so nothing is fetched)."""
    return alt.Data(values=rows)  # type: ignore[no-untyped-call]


def _spec(chart: alt.TopLevelMixin) -> dict[str, Any]:
    spec: dict[str, Any] = chart.to_dict()
    spec.setdefault("config", {}).update(
        {
            "font": "system-ui, -apple-system, 'Segoe UI', sans-serif",
            "view": {"stroke": None},
            "axis": {"labelFontSize": 11, "titleFontSize": 12, "labelLimit": 320},
            "legend": {"labelFontSize": 11, "titleFontSize": 12, "labelLimit": 320},
            "range": {"category": OKABE_ITO},
        }
    )
    return spec


def _metric_param(name: str, metrics: list[str], default: str) -> Any:
    labels = [METRIC_LABELS.get(m, m) for m in metrics]
    return alt.param(
        name=name,
        value=default,
        bind=alt.binding_select(options=metrics, labels=labels, name="metric "),
    )


def by_entry(curves: pd.DataFrame) -> pd.DataFrame:
    """A copy of a curves table whose `perturbation` column names each plan entry.

    A plan may list one perturbation several times (`text.casing[style=lower]` and
    `[style=upper]`); each entry is its own row of a chart. Runs stored before entries had
    names have none: their perturbation names are their entries.
    """
    frame = curves.copy()
    if "entry" in frame.columns:
        frame["perturbation"] = frame["entry"]
    return frame


def heatmap(data: ReportData) -> Figure | None:
    """Perturbation x severity, coloured by the harm of the selected metric."""
    curves = data.frame("curves")
    if curves.empty:
        return None
    frame = by_entry(curves)
    base = frame[frame["scenario"] == "baseline"].set_index(["perturbation", "metric"])["estimate"]
    keys = list(zip(frame["perturbation"], frame["metric"], strict=True))
    frame["change"] = frame["estimate"].to_numpy() - np.array(
        [base.get(k, np.nan) for k in keys], dtype=np.float64
    )
    frame["harm"] = frame["change"] * harm_signs(frame)
    # where each cell sits within its metric's colour range, to pick a readable text colour
    spread = frame.groupby("metric")["harm"].transform(lambda s: (s - s.min()) / (np.ptp(s) or 1))
    frame["shade"] = spread.fillna(0.0)
    frame["level"] = frame["severity"].map(lambda s: f"{s:.2f}")
    frame["magnitude"] = [
        f"{v:.3g} {u}" for v, u in zip(frame["value"], frame["unit"], strict=True)
    ]
    frame["metric_label"] = frame["metric"].map(lambda m: METRIC_LABELS.get(m, m))
    frame["label"] = frame["estimate"].map(lambda v: "" if not np.isfinite(v) else f"{v:.3f}")
    columns = [
        "perturbation", "metric", "metric_label", "scenario", "level", "severity", "magnitude",
        "estimate", "low", "high", "change", "harm", "shade", "label",
    ]  # fmt: skip
    rows = records(frame[columns])
    metrics = list(dict.fromkeys(frame["metric"]))
    selected = _metric_param("heatmap_metric", metrics, data.primary_metric)
    base_chart = (
        alt.Chart(_inline(rows))
        .transform_filter(alt.datum.metric == selected)
        .encode(
            x=alt.X(
                "level:O",
                title="severity (0 = off, 1 = severe end of realistic range)",
                axis=alt.Axis(labelAngle=0),
            ),
            y=alt.Y("perturbation:N", title=None),
        )
    )
    tooltip = [
        alt.Tooltip("perturbation:N"),
        alt.Tooltip("magnitude:N"),
        alt.Tooltip("severity:Q", format=".2f"),
        alt.Tooltip("metric_label:N", title="metric"),
        alt.Tooltip("estimate:Q", format=".4f"),
        alt.Tooltip("low:Q", title="95% low", format=".4f"),
        alt.Tooltip("high:Q", title="95% high", format=".4f"),
        alt.Tooltip("change:Q", title="change from baseline", format="+.4f"),
    ]
    cells = base_chart.mark_rect(stroke="white", strokeWidth=1).encode(
        color=alt.Color(
            "harm:Q",
            title=["harm vs", "baseline"],
            scale=alt.Scale(scheme="viridis", reverse=True),
        ),
        tooltip=tooltip,
    )
    text = base_chart.mark_text(fontSize=10).encode(
        text="label:N",
        color=alt.condition("datum.shade > 0.55", alt.value("white"), alt.value("black")),
        tooltip=tooltip,
    )
    chart = (cells + text).add_params(selected).properties(width=WIDTH, height=alt.Step(34))
    return Figure(
        "heatmap",
        "Where the model is sensitive: perturbation × severity",
        "Each cell is the selected metric at one magnitude (95% intervals in the tooltip); "
        "darker means more harm relative to the unperturbed baseline.",
        _spec(chart),
        rows,
    )


def sensitivity_curves(data: ReportData) -> Figure | None:
    """Each metric against severity, per perturbation, with 95% interval bands."""
    curves = data.frame("curves")
    if curves.empty:
        return None
    frame = by_entry(curves)
    frame["magnitude"] = [
        f"{v:.3g} {u}" for v, u in zip(frame["value"], frame["unit"], strict=True)
    ]
    frame["metric_label"] = frame["metric"].map(lambda m: METRIC_LABELS.get(m, m))
    columns = [
        "perturbation", "metric", "metric_label", "scenario", "severity", "magnitude",
        "estimate", "low", "high",
    ]  # fmt: skip
    rows = records(frame[columns])
    metrics = list(dict.fromkeys(frame["metric"]))
    selected = _metric_param("curve_metric", metrics, data.primary_metric)
    base = (
        alt.Chart(_inline(rows))
        .transform_filter(alt.datum.metric == selected)
        .encode(
            x=alt.X("severity:Q", title="severity (0 = off, 1 = severe end of realistic range)"),
            color=alt.Color("perturbation:N", legend=alt.Legend(orient="bottom", columns=2)),
        )
    )
    tooltip = [
        alt.Tooltip("perturbation:N"),
        alt.Tooltip("magnitude:N"),
        alt.Tooltip("metric_label:N", title="metric"),
        alt.Tooltip("estimate:Q", format=".4f"),
        alt.Tooltip("low:Q", title="95% low", format=".4f"),
        alt.Tooltip("high:Q", title="95% high", format=".4f"),
    ]
    band = base.mark_area(opacity=0.2).encode(
        y=alt.Y("low:Q", title="metric value"), y2="high:Q", tooltip=tooltip
    )
    line = base.mark_line(point=alt.OverlayMarkDef(size=50, filled=True)).encode(
        y="estimate:Q", strokeDash=alt.StrokeDash("perturbation:N", legend=None), tooltip=tooltip
    )
    chart = (band + line).add_params(selected).properties(width=WIDTH, height=260)
    return Figure(
        "curves",
        "Sensitivity curves",
        "The selected metric as each perturbation grows; shaded bands are 95% bootstrap "
        "intervals over samples and seeds.",
        _spec(chart),
        rows,
    )


def survival(data: ReportData) -> Figure | None:
    """Share of predictions still unchanged as each perturbation grows (breaking points)."""
    payload = data.analyses.get("breaking_points")
    if not payload:
        return None
    parts = []
    for name, item in payload.items():
        part = pd.DataFrame(item["survival"])
        part["perturbation"] = name
        part["magnitude"] = [f"{v:.3g} {item['unit']}" for v in part["value"]]
        parts.append(part)
    frame = pd.concat(parts, ignore_index=True)
    rows = records(frame[["perturbation", "severity", "magnitude", "survival", "low", "high"]])
    base = alt.Chart(_inline(rows)).encode(
        x=alt.X("severity:Q", title="severity"),
        color=alt.Color("perturbation:N", legend=alt.Legend(orient="bottom", columns=2)),
    )
    tooltip = [
        alt.Tooltip("perturbation:N"),
        alt.Tooltip("magnitude:N"),
        alt.Tooltip("survival:Q", title="unchanged", format=".1%"),
        alt.Tooltip("low:Q", title="95% low", format=".1%"),
        alt.Tooltip("high:Q", title="95% high", format=".1%"),
    ]
    band = base.mark_area(opacity=0.2, interpolate="step-after").encode(
        y=alt.Y("low:Q", title="predictions unchanged", axis=alt.Axis(format="%")),
        y2="high:Q",
        tooltip=tooltip,
    )
    line = base.mark_line(interpolate="step-after").encode(
        y="survival:Q", strokeDash=alt.StrokeDash("perturbation:N", legend=None), tooltip=tooltip
    )
    points = base.mark_point(size=20, filled=True, opacity=0.6).encode(
        y="survival:Q", tooltip=tooltip
    )
    chart = (band + line + points).properties(width=WIDTH, height=240)
    return Figure(
        "survival",
        "Breaking points: predictions that survive",
        "The share of predictions still unchanged at each severity, from a per-sample search "
        "for the smallest magnitude that changes the prediction (95% bands)."
        + _search_limits(payload),
        _spec(chart),
        rows,
    )


def _search_limits(payload: dict[str, Any]) -> str:
    """What the breaking-point searches could miss, in words (empty when nothing)."""
    coarse = {name: item["resolution"] for name, item in payload.items() if item.get("warning")}
    if not coarse:
        return ""
    names = ", ".join(f"{name} ({width:.3g})" for name, width in coarse.items())
    return (
        f" The model gives labels only, so a change that comes and goes between searched "
        f"severities within less than the stated resolution can be missed: {names}."
    )


def interaction_heatmap(data: ReportData) -> Figure | None:
    """Combinations against the independence/additive expectation, pair x severity."""
    table = data.frame("interactions")
    if table.empty:
        return None
    frame = table.copy()
    frame["pair"] = [" + ".join(str(p).split("(")[0] for p in parts) for parts in frame["parts"]]
    frame["level"] = frame["severity"].map(lambda s: f"{s:.2f}")
    frame["metric_label"] = frame["metric"].map(lambda m: METRIC_LABELS.get(m, m))
    frame["mark"] = frame["label"].map({"synergistic": "S", "antagonistic": "A"}).fillna("")
    columns = [
        "scenario", "pair", "level", "severity", "metric", "metric_label", "model", "observed",
        "expected", "difference", "low", "high", "label", "mark",
    ]  # fmt: skip
    rows = records(frame[columns])
    metrics = list(dict.fromkeys(frame["metric"]))
    default = data.primary_metric if data.primary_metric in metrics else metrics[0]
    selected = _metric_param("interaction_metric", metrics, default)
    limit = float(np.nanmax(np.abs(frame["difference"]))) or 1.0
    base = (
        alt.Chart(_inline(rows))
        .transform_filter(alt.datum.metric == selected)
        .encode(
            x=alt.X("level:O", title="severity", axis=alt.Axis(labelAngle=0)),
            y=alt.Y("pair:N", title=None),
        )
    )
    tooltip = [
        alt.Tooltip("scenario:N"),
        alt.Tooltip("metric_label:N", title="metric"),
        alt.Tooltip("observed:Q", format=".4f"),
        alt.Tooltip("expected:Q", title="expected (from parts)", format=".4f"),
        alt.Tooltip("difference:Q", title="extra harm", format="+.4f"),
        alt.Tooltip("low:Q", title="95% low", format="+.4f"),
        alt.Tooltip("high:Q", title="95% high", format="+.4f"),
        alt.Tooltip("label:N", title="interaction"),
    ]
    cells = base.mark_rect(stroke="white").encode(
        color=alt.Color(
            "difference:Q",
            title=["extra harm vs", "expected"],
            scale=alt.Scale(scheme="blueorange", domain=[-limit, limit], domainMid=0),
        ),
        tooltip=tooltip,
    )
    text = base.mark_text(fontSize=11, fontWeight="bold").encode(text="mark:N", tooltip=tooltip)
    chart = (cells + text).add_params(selected).properties(width=WIDTH, height=alt.Step(34))
    return Figure(
        "interactions",
        "Interactions: do combinations hurt more than their parts?",
        "Orange: worse than expected from each perturbation alone (S: synergistic, interval "
        "above 0); blue: less harm (A: antagonistic); pale: additive.",
        _spec(chart),
        rows,
    )


def interaction_plots(data: ReportData) -> Figure | None:
    """Per pair, the metric of each part alone and together, against the expectation.

    Only combinations whose parts share one severity (matched designs) are drawn, so the
    x-axis is that common severity.
    """
    table = data.frame("interactions")
    curves = data.frame("curves")
    if table.empty or curves.empty:
        return None
    estimate = curves.set_index(["scenario", "metric"])["estimate"].to_dict()
    severity = dict(zip(curves["scenario"], curves["severity"], strict=False))
    rows: list[dict[str, Any]] = []
    for row in table.itertuples():
        parts = [str(p) for p in row.parts]
        if len({severity.get(p) for p in parts}) != 1:
            continue
        pair = " + ".join(p.split("(")[0] for p in parts)
        series = [(f"{p.split('(')[0]} alone", estimate.get((p, row.metric))) for p in parts]
        series += [("together (observed)", row.observed), ("expected from parts", row.expected)]
        rows += [
            {
                "pair": pair,
                "metric": row.metric,
                "metric_label": METRIC_LABELS.get(row.metric, row.metric),
                "severity": float(row.severity),
                "series": name,
                "value": value,
                "scenario": row.scenario,
                "label": row.label,
            }
            for name, value in series
            if value is not None
        ]
    if not rows:
        return None
    rows = records(pd.DataFrame(rows))
    metrics = list(dict.fromkeys(r["metric"] for r in rows))
    default = data.primary_metric if data.primary_metric in metrics else metrics[0]
    selected = _metric_param("interaction_plot_metric", metrics, default)
    chart = (
        alt.Chart(_inline(rows))
        .transform_filter(alt.datum.metric == selected)
        .mark_line(point=True)
        .encode(
            x=alt.X("severity:Q", title="severity of both", scale=alt.Scale(domain=[0, 1])),
            y=alt.Y("value:Q", title="metric value"),
            color=alt.Color("series:N", title=None, legend=alt.Legend(orient="bottom")),
            tooltip=[
                alt.Tooltip("pair:N"),
                alt.Tooltip("series:N"),
                alt.Tooltip("severity:Q", format=".2f"),
                alt.Tooltip("value:Q", format=".4f"),
                alt.Tooltip("label:N", title="interaction"),
            ],
        )
        .properties(width=260, height=180)
        .facet(facet=alt.Facet("pair:N", title=None), columns=3)
        .add_params(selected)
    )
    return Figure(
        "interaction_plots",
        "Interaction plots: each pair alone and together",
        "The metric under each perturbation alone, under both together, and what the parts "
        "predict together (independence for flips, additivity otherwise). A 'together' line "
        "above the expectation means the pair hurts more than its parts.",
        _spec(chart),
        rows,
    )


def global_sensitivity(data: ReportData) -> Figure | None:
    """First-order and total Sobol indices per perturbation with 95% intervals."""
    indices = data.frame("global_sensitivity", "indices")
    if indices.empty:
        return None
    parts = []
    for column, label in (("S1", "first-order (S1)"), ("ST", "total (ST)")):
        if column not in indices:
            continue
        part = pd.DataFrame(
            {
                "factor": indices["factor"],
                "index": label,
                # a share below 0 is sampling noise around 0: its bar stops at 0, while the
                # tooltip and the interval show the estimate as it came
                "bar": indices[column].clip(lower=0.0),
                "value": indices[column],
                "low": indices.get(f"{column}_low"),
                "high": indices.get(f"{column}_high"),
            }
        )
        parts.append(part)
    if not parts:
        return None
    rows = records(pd.concat(parts, ignore_index=True))
    tooltip = [
        alt.Tooltip("factor:N", title="perturbation"),
        alt.Tooltip("index:N"),
        alt.Tooltip("value:Q", title="estimate", format=".3f"),
        alt.Tooltip("low:Q", title="95% low", format=".3f"),
        alt.Tooltip("high:Q", title="95% high", format=".3f"),
    ]
    base = alt.Chart(_inline(rows)).encode(y=alt.Y("factor:N", title=None), yOffset="index:N")
    bars = base.mark_bar().encode(
        x=alt.X("bar:Q", title="share of output variance"),
        color=alt.Color("index:N", title=None, legend=alt.Legend(orient="bottom")),
        tooltip=tooltip,
    )
    errors = base.mark_rule(color="black").encode(x="low:Q", x2="high:Q", tooltip=tooltip)
    chart = (bars + errors).properties(width=WIDTH, height=alt.Step(22))
    return Figure(
        "global_sensitivity",
        "What drives the variation: global sensitivity",
        "Sobol indices over the realistic ranges: first-order is a perturbation's share alone, "
        "total includes its interactions (black lines: 95% intervals). Each design point "
        "applies every perturbation at once. An estimate below 0 is sampling noise around 0: "
        "its bar is drawn at 0, its interval as estimated.",
        _spec(chart),
        rows,
    )


def per_class(data: ReportData) -> Figure | None:
    """Flip rate per true class under mild perturbations, with 95% intervals."""
    table = data.frame("data_quality", "per_class")
    if table.empty or "flip_rate" not in table:
        return None
    frame = table.copy()
    frame["class_name"] = frame["class_name"].astype(str)
    rows = records(frame[["class_name", "n", "flip_rate", "low", "high", "any_flip"]])
    tooltip = [
        alt.Tooltip("class_name:N", title="class"),
        alt.Tooltip("n:Q", title="samples"),
        alt.Tooltip("flip_rate:Q", title="flip rate", format=".1%"),
        alt.Tooltip("low:Q", title="95% low", format=".1%"),
        alt.Tooltip("high:Q", title="95% high", format=".1%"),
        alt.Tooltip("any_flip:Q", title="flipped anywhere", format=".1%"),
    ]
    base = alt.Chart(_inline(rows)).encode(x=alt.X("class_name:N", title="true class", sort=None))
    bars = base.mark_bar(color=OKABE_ITO[0]).encode(
        y=alt.Y("flip_rate:Q", title="flip rate", axis=alt.Axis(format="%")), tooltip=tooltip
    )
    errors = base.mark_rule(color="black").encode(y="low:Q", y2="high:Q", tooltip=tooltip)
    chart = (bars + errors).properties(width=WIDTH, height=200)
    return Figure(
        "per_class",
        "Per-class fragility",
        "Flip rate per true class over the perturbed scenarios (95% intervals).",
        _spec(chart),
        rows,
    )


def all_figures(data: ReportData) -> list[Figure]:
    """Every figure the run's analyses support, in report order."""
    builders = (
        heatmap,
        sensitivity_curves,
        survival,
        interaction_heatmap,
        interaction_plots,
        global_sensitivity,
        per_class,
    )
    return [figure for build in builders if (figure := build(data)) is not None]


def write_figures(figures: list[Figure], folder: Path) -> list[Path]:
    """Write every figure as PNG (2x scale) and SVG, rendered offline by vl-convert.

    Returns:
        The written paths.
    """
    import vl_convert

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for figure in figures:
        svg = folder / f"{figure.key}.svg"
        write_file(
            svg,
            vl_convert.vegalite_to_svg(figure.spec, vl_version=VEGA_LITE_VERSION),
            what="--figures",
        )
        png = folder / f"{figure.key}.png"
        write_file(
            png,
            vl_convert.vegalite_to_png(figure.spec, vl_version=VEGA_LITE_VERSION, scale=2),
            what="--figures",
        )
        written += [png, svg]
    return written
