"""The report's figures as Vega-Lite specifications (built with Altair).

One library serves the interactive HTML report (the specs run in the embedded Vega bundle,
with tooltips and metric selectors) and the static PNG/SVG exports (vl-convert renders the
same specs offline, with no browser). Colours are colour-blind safe: Okabe-Ito for
categories (without its yellow, too pale on white), each line also with its own dash and
marker, viridis for sequential scales and blue-orange for diverging ones. Every perturbation
keeps its colour in every figure; every mark carries a tooltip; axes name the metric and
the physical unit; heatmap cells print the physical value and the metric.

Widths are computed so that each figure fills the report's column (`COLUMN_PX`); the page
scales an SVG figure down, never beyond its column, on a narrower screen.
"""

from __future__ import annotations

import json
import math
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd

from wince.analysis.curves import harm_signs
from wince.extras import missing_extra
from wince.files import write_file
from wince.report.data import ReportData
from wince.report.narrative import amount, range_flag

try:
    import altair as alt
except ImportError as error:
    raise missing_extra("altair", "the HTML report") from error

# Okabe & Ito (2008), the palette designed to stay distinct under every colour-vision
# deficiency, without its yellow (#F0E442), which is too pale for a line on white
OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000", "#999999"]
# a dash pattern and a marker per line, so that lines differ in more than colour
DASHES = [[1, 0], [6, 3], [2, 2], [8, 3, 2, 3], [4, 4], [1, 3], [10, 2], [3, 6]]
SHAPES = [
    "circle",
    "square",
    "triangle-up",
    "diamond",
    "cross",
    "triangle-down",
    "triangle-left",
    "triangle-right",
]
VEGA_LITE_VERSION = alt.SCHEMA_VERSION.lstrip("v").rsplit(".", 1)[0]  # e.g. "6.4"
COLUMN_PX = 940  # the report's column: a figure's full width, axes and legend included
PANEL_COLUMNS = 3  # small multiples per row
TOGETHER, EXPECTED = "together (observed)", "expected from parts"  # interaction plot lines
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
            "font": "system-ui, -apple-system, 'Segoe UI', 'Noto Sans', 'DejaVu Sans', sans-serif",
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


def _metric_title(param: str, data: ReportData, metrics: list[str]) -> dict[str, str]:
    """The selected metric's name and unit as a Vega expression (a title that follows the menu).

    Vega-Lite axis titles are fixed strings, so the metric a chart shows is named in its title,
    which can follow the metric selector.
    """
    expression = "''"
    for metric in reversed(metrics):
        known = data.metrics.get(metric)
        label = METRIC_LABELS.get(metric, metric)
        text = f"{label}: {known.description}" if known is not None else label
        expression = f"{param} == {json.dumps(metric)} ? {json.dumps(text)} : {expression}"
    return {"expr": expression}


def _metric_labels(param: str, data: ReportData, metrics: list[str]) -> str:
    """A Vega label expression: shares as percentages, other metrics as plain numbers."""
    shares = [m for m in metrics if getattr(data.metrics.get(m), "unit", None) == "share"]
    return (
        f"indexof({json.dumps(shares)}, {param}) >= 0 ? format(datum.value, '.0%') "
        ": format(datum.value, '.3~g')"
    )


def _entry_scale(entries: list[str], values: list[Any]) -> alt.Scale:
    """One fixed value (colour, dash, marker) per plan entry, in plan order."""
    return alt.Scale(domain=entries, range=[values[i % len(values)] for i in range(len(entries))])


def entry_order(data: ReportData) -> list[str]:
    """Plan entries in plan order: every figure gives an entry the same colour and dash."""
    curves = data.frame("curves")
    return list(dict.fromkeys(by_entry(curves)["perturbation"])) if not curves.empty else []


def short_amount(value: float, unit: str) -> str:
    """A physical value compact enough for a heatmap cell: shares as percentages.

    Examples:
        >>> short_amount(0.15, "fraction of words"), short_amount(-6, "dB")
        ('15%', '-6 dB')
        >>> short_amount(50, "libjpeg quality")
        '50'
    """
    if unit.startswith("fraction of "):
        return f"{value * 100:.3g}%"
    if unit.startswith("%"):
        return f"{value:.3g}%"
    return f"{value:.4g} {unit}" if len(unit) <= 9 else f"{value:.4g}"


def unit_title(unit: str) -> str:
    """A unit as an axis names it: shares as percentages ('% of words')."""
    return "%" + unit.removeprefix("fraction") if unit.startswith("fraction of ") else unit


def parameter_name(scenarios: Any) -> str:
    """The varied parameter of an entry's scenarios ('gain_db' of 'audio.gain(gain_db=-6)')."""
    for scenario in scenarios:
        found = re.search(r"\((\w+)=", str(scenario))
        if found:
            return found.group(1).replace("_", " ")
    return "magnitude"


def _realism(curves: pd.DataFrame) -> list[str]:
    """Per curve point, its range flag ("beyond the realistic range: ...") or "" (`range_flag`)."""
    return [
        "" if scenario == "baseline" else range_flag(str(name), float(value))
        for name, value, scenario in zip(
            curves["perturbation"], curves["value"], curves["scenario"], strict=True
        )
    ]


def heatmap(data: ReportData) -> Figure | None:
    """Plan entry x tested magnitude (mildest first), coloured by the harm of the metric.

    Columns are each entry's own tested magnitudes in order, so entries swept on different
    grids fill their rows; every cell prints its physical value and the metric (severity and
    95% interval in the tooltip). The unperturbed baseline, 0 harm by definition, has no cell.
    """
    curves = data.frame("curves")
    if curves.empty:
        return None
    frame = _heatmap_cells(curves)
    rows = records(frame[_HEATMAP_COLUMNS])
    chart = _heatmap_chart(frame, rows, data.primary_metric)
    return Figure(
        "heatmap",
        "Where the model is sensitive: perturbation × magnitude",
        "Each row is one perturbation, its cells the magnitudes tested, mildest first; a cell "
        "gives the physical value and the selected metric (severity and 95% interval in the "
        "tooltip; (!) marks a value beyond the realistic range). Darker means more harm "
        "relative to the unperturbed baseline.",
        _spec(chart),
        rows,
    )


_HEATMAP_COLUMNS = [
    "perturbation", "row", "metric", "metric_label", "scenario", "step", "severity",
    "magnitude", "realism", "estimate", "low", "high", "change", "harm", "shade", "label",
]  # fmt: skip


def _heatmap_cells(curves: pd.DataFrame) -> pd.DataFrame:
    """One heatmap cell per perturbed scenario and metric, with its harm and its labels.

    `harm` is the change from the entry's baseline signed so that more is worse, `shade` its
    place within the metric's harm range (0 to 1, for a readable text colour), `step` the
    magnitude's rank within its entry (1 = mildest).
    """
    frame = by_entry(curves)
    base = frame[frame["scenario"] == "baseline"].set_index(["perturbation", "metric"])["estimate"]
    keys = list(zip(frame["perturbation"], frame["metric"], strict=True))
    frame["change"] = frame["estimate"].to_numpy() - np.array(
        [base.get(k, np.nan) for k in keys], dtype=np.float64
    )
    frame["harm"] = frame["change"] * harm_signs(frame)
    frame["realism"] = _realism(curves)
    frame = frame[frame["scenario"] != "baseline"].copy()
    # where each cell sits within its metric's colour range, to pick a readable text colour
    spread = frame.groupby("metric")["harm"].transform(lambda s: (s - s.min()) / (np.ptp(s) or 1))
    frame["shade"] = spread.fillna(0.0)
    frame["step"] = (
        frame.groupby(["perturbation", "metric"])["severity"].rank(method="dense").astype(int)
    )
    frame["row"] = [
        f"{entry} ({unit_title(unit)})"
        for entry, unit in zip(frame["perturbation"], frame["unit"], strict=True)
    ]
    frame["magnitude"] = [amount(v, u) for v, u in zip(frame["value"], frame["unit"], strict=True)]
    frame["metric_label"] = frame["metric"].map(lambda m: METRIC_LABELS.get(m, m))
    # a value beyond the realistic range is marked (!) and its flag is in the tooltip
    frame["label"] = [
        short_amount(v, u) + (" (!)" if flag else "") + ("" if not np.isfinite(e) else f"\n{e:.3f}")
        for v, u, e, flag in zip(
            frame["value"], frame["unit"], frame["estimate"], frame["realism"], strict=True
        )
    ]
    return frame


def _heatmap_chart(frame: pd.DataFrame, rows: list[dict[str, Any]], primary: str) -> alt.LayerChart:
    """The heatmap's coloured cells with their printed labels, one metric at a time."""
    metrics = list(dict.fromkeys(frame["metric"]))
    selected = _metric_param("heatmap_metric", metrics, primary)
    steps = int(frame["step"].max())
    base_chart = (
        alt.Chart(_inline(rows))
        .transform_filter(alt.datum.metric == selected)
        .encode(
            x=alt.X(
                "step:O",
                title="tested magnitudes of each perturbation, mildest first "
                "(physical value in each cell)",
                axis=alt.Axis(labelAngle=0, orient="top"),
            ),
            y=alt.Y("row:N", title=None, sort=list(dict.fromkeys(frame["row"]))),
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
        alt.Tooltip("realism:N"),
    ]
    cells = base_chart.mark_rect(stroke="white", strokeWidth=1).encode(
        color=alt.Color(
            "harm:Q",
            title=["harm vs", "baseline"],
            scale=alt.Scale(scheme="viridis", reverse=True),
        ),
        tooltip=tooltip,
    )
    text = base_chart.mark_text(fontSize=10, lineHeight=12, lineBreak="\n").encode(
        text="label:N",
        color=alt.condition("datum.shade > 0.55", alt.value("white"), alt.value("black")),
        tooltip=tooltip,
    )
    label_px = 7 * max(len(r) for r in frame["row"])  # the longest row label, 11 px type
    width = max(COLUMN_PX - min(label_px, 320) - 110, 240)  # minus labels and the colour legend
    chart: alt.LayerChart = (
        (cells + text)
        .add_params(selected)
        .properties(width=alt.Step(width // max(steps, 1)), height=alt.Step(36))
    )
    return chart


def sensitivity_curves(data: ReportData) -> Figure | None:
    """The metric against each perturbation's physical magnitude: one panel per plan entry.

    Each panel's x axis is its perturbation's parameter in its unit, oriented so that the
    perturbation grows to the right (a falling signal-to-noise ratio runs from high to low);
    the y axis is shared, so panels compare. Shaded bands are 95% intervals.
    """
    curves = data.frame("curves")
    if curves.empty:
        return None
    frame = by_entry(curves)
    frame["magnitude"] = [amount(v, u) for v, u in zip(frame["value"], frame["unit"], strict=True)]
    frame["realism"] = _realism(curves)
    frame["metric_label"] = frame["metric"].map(lambda m: METRIC_LABELS.get(m, m))
    columns = [
        "perturbation", "metric", "metric_label", "scenario", "severity", "value", "magnitude",
        "realism", "estimate", "low", "high",
    ]  # fmt: skip
    rows = records(frame[columns])
    metrics = list(dict.fromkeys(frame["metric"]))
    selected = _metric_param("curve_metric", metrics, data.primary_metric)
    entries = entry_order(data)
    colours = _entry_scale(entries, OKABE_ITO)
    tooltip = [
        alt.Tooltip("perturbation:N"),
        alt.Tooltip("magnitude:N"),
        alt.Tooltip("realism:N"),
        alt.Tooltip("severity:Q", format=".2f"),
        alt.Tooltip("metric_label:N", title="metric"),
        alt.Tooltip("estimate:Q", format=".4f"),
        alt.Tooltip("low:Q", title="95% low", format=".4f"),
        alt.Tooltip("high:Q", title="95% high", format=".4f"),
    ]
    columns_used = min(PANEL_COLUMNS, len(entries))
    panel_px = (COLUMN_PX - 20) // columns_used - 70  # minus the y axis and the spacing
    y_axis = alt.Axis(title=None, labelExpr=_metric_labels("curve_metric", data, metrics))
    panels = []
    for entry in entries:
        points = frame[frame["perturbation"] == entry].sort_values("severity")
        unit = str(points["unit"].iloc[0])
        rising = bool(points["value"].iloc[-1] >= points["value"].iloc[0])
        fraction = unit.startswith("fraction of ")
        x = alt.X(
            "value:Q",
            # two lines rather than a title wider than its panel
            title=textwrap.wrap(f"{parameter_name(points['scenario'])} ({unit_title(unit)})", 34),
            scale=alt.Scale(reverse=not rising, zero=False, nice=False),
            axis=alt.Axis(format="~%" if fraction else "~g", tickCount=5),
        )
        base = (
            alt.Chart(title=alt.TitleParams(entry, fontSize=12, anchor="start"))
            .transform_filter((alt.datum.perturbation == entry) & (alt.datum.metric == selected))
            .encode(x=x, color=alt.Color("perturbation:N", scale=colours, legend=None))
        )
        band = base.mark_area(opacity=0.18).encode(
            y=alt.Y("low:Q", axis=y_axis), y2="high:Q", tooltip=tooltip
        )
        line = base.mark_line(point=alt.OverlayMarkDef(size=40, filled=True)).encode(
            y="estimate:Q", tooltip=tooltip
        )
        panels.append((band + line).properties(width=panel_px, height=150))
    chart = (
        alt.concat(*panels, columns=columns_used, data=_inline(rows))
        .add_params(selected)
        .resolve_scale(x="independent", y="shared")
        .properties(title=alt.TitleParams(_metric_title("curve_metric", data, metrics)))
    )
    return Figure(
        "curves",
        "Sensitivity curves",
        "The selected metric as each perturbation grows, against its physical magnitude "
        "(the leftmost point is the unperturbed input); shaded bands are 95% bootstrap "
        "intervals over samples and seeds. Panels share the vertical scale.",
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
        part["magnitude"] = [amount(v, item["unit"]) for v in part["value"]]
        parts.append(part)
    frame = pd.concat(parts, ignore_index=True)
    rows = records(frame[["perturbation", "severity", "magnitude", "survival", "low", "high"]])
    metrics = {item.get("metric") for item in payload.values()} - {None}
    if metrics:  # searched on a metric: a sample breaks when it crosses its tolerance
        metric = ", ".join(sorted(metrics))
        what = "samples within tolerance"
        caption = (
            f"The share of samples whose {metric} is still within its tolerance of the clean "
            "value at each severity, from a per-sample search for the smallest magnitude at "
            "which it crosses the tolerance (95% bands)."
        )
    else:
        what = "predictions unchanged"
        caption = (
            "The share of predictions still unchanged at each severity, from a per-sample "
            "search for the smallest magnitude that changes the prediction (95% bands)."
        )
    entries = [e for e in entry_order(data) if e in payload] + [
        name for name in payload if name not in entry_order(data)
    ]
    legend = alt.Legend(orient="bottom", columns=3, title=None, symbolStrokeWidth=2.5)
    color = alt.Color("perturbation:N", scale=_entry_scale(entries, OKABE_ITO), legend=legend)
    dash = alt.StrokeDash("perturbation:N", scale=_entry_scale(entries, DASHES), legend=legend)
    base = alt.Chart(_inline(rows)).encode(
        x=alt.X(
            "severity:Q",
            title="severity (0 = off, 1 = severe end of the realistic range; "
            "physical value in the tooltip)",
            axis=alt.Axis(format=".1f", tickCount=10),
        ),
    )
    tooltip = [
        alt.Tooltip("perturbation:N"),
        alt.Tooltip("magnitude:N"),
        alt.Tooltip("severity:Q", format=".2f"),
        alt.Tooltip("survival:Q", title=what, format=".1%"),
        alt.Tooltip("low:Q", title="95% low", format=".1%"),
        alt.Tooltip("high:Q", title="95% high", format=".1%"),
    ]
    band = base.mark_area(opacity=0.15, interpolate="step-after").encode(
        y=alt.Y("low:Q", title=f"{what} (share of samples)", axis=alt.Axis(format="%")),
        y2="high:Q",
        fill=alt.Fill("perturbation:N", scale=_entry_scale(entries, OKABE_ITO), legend=None),
        tooltip=tooltip,
    )
    line = base.mark_line(interpolate="step-after", strokeWidth=2).encode(
        y="survival:Q", color=color, strokeDash=dash, tooltip=tooltip
    )
    # the bands' legend apart (and none): the legend is the lines', a swatch in its line's
    # colour and dash, not the pale band's
    chart = (
        (band + line)
        .resolve_legend(fill="independent")
        .properties(width=COLUMN_PX - 90, height=260)
    )
    return Figure(
        "survival",
        f"Breaking points: {what}",
        caption + _search_limits(payload),
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
    label_px = 7 * max(len(p) for p in frame["pair"])  # the longest pair name, 11 px type
    width = max(COLUMN_PX - min(label_px, 320) - 120, 240)  # minus labels and the legend
    chart = (cells + text).add_params(selected).properties(width=width, height=alt.Step(34))
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
    found = _interaction_rows(table, curves)
    if not found:
        return None
    rows = records(pd.DataFrame(found))
    metrics = list(dict.fromkeys(r["metric"] for r in rows))
    default = data.primary_metric if data.primary_metric in metrics else metrics[0]
    selected = _metric_param("interaction_plot_metric", metrics, default)
    lines, colours = _interaction_lines(data, rows)
    legend = alt.Legend(orient="bottom", title=None, symbolStrokeWidth=2.5, columns=3)
    panel_px = (COLUMN_PX - 20) // PANEL_COLUMNS - 70  # minus the y axis and the spacing
    chart = (
        alt.Chart(_inline(rows))
        .transform_filter(alt.datum.metric == selected)
        .mark_line(point=alt.OverlayMarkDef(size=30, filled=True), strokeWidth=2)
        .encode(
            x=alt.X(
                "severity:Q",
                title="severity of both",
                scale=alt.Scale(domain=[0, 1]),
            ),
            y=alt.Y(
                "value:Q",
                axis=alt.Axis(
                    title=None, labelExpr=_metric_labels("interaction_plot_metric", data, metrics)
                ),
            ),
            color=alt.Color(
                "series:N", scale=alt.Scale(domain=lines, range=colours), legend=legend
            ),
            strokeDash=alt.StrokeDash("series:N", scale=_entry_scale(lines, DASHES), legend=legend),
            tooltip=[
                alt.Tooltip("pair:N"),
                alt.Tooltip("series:N"),
                alt.Tooltip("severity:Q", format=".2f"),
                alt.Tooltip("value:Q", format=".4f"),
                alt.Tooltip("label:N", title="interaction"),
            ],
        )
        .properties(width=panel_px, height=160)
        .facet(facet=alt.Facet("pair:N", title=None), columns=PANEL_COLUMNS)
        .add_params(selected)
        .properties(title=alt.TitleParams(_metric_title("interaction_plot_metric", data, metrics)))
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


def _interaction_rows(table: pd.DataFrame, curves: pd.DataFrame) -> list[dict[str, Any]]:
    """Per matched-design pair and metric, a point per line: each part alone, together, expected.

    A part without a stored curve has no point.
    """
    estimate = curves.set_index(["scenario", "metric"])["estimate"].to_dict()
    severity = dict(zip(curves["scenario"], curves["severity"], strict=False))
    rows: list[dict[str, Any]] = []
    for row in table.itertuples():
        parts = [str(p) for p in row.parts]
        if len({severity.get(p) for p in parts}) != 1:
            continue
        pair = " + ".join(p.split("(")[0] for p in parts)
        series = [(f"{p.split('(')[0]} alone", estimate.get((p, row.metric))) for p in parts]
        series += [(TOGETHER, row.observed), (EXPECTED, row.expected)]
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
    return rows


def _interaction_lines(data: ReportData, rows: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """The interaction plot's lines in plan order, and their colours (the same index).

    Each part is in its perturbation's colour, as in the other figures; both together black,
    the expectation grey.
    """
    entries = entry_order(data)

    def position(line: str) -> int:  # its perturbation's place in the plan (last: unknown)
        name = line.removesuffix(" alone")
        return entries.index(name) if name in entries else len(entries)

    alone = sorted({r["series"] for r in rows} - {TOGETHER, EXPECTED}, key=position)
    colours = [OKABE_ITO[position(line) % len(OKABE_ITO)] for line in alone]
    return [*alone, TOGETHER, EXPECTED], [*colours, "#000000", "#999999"]


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
    measured = str(data.analyses["global_sensitivity"].get("output", "flip_rate"))
    output = METRIC_LABELS.get(measured, measured)
    tooltip = [
        alt.Tooltip("factor:N", title="perturbation"),
        alt.Tooltip("index:N"),
        alt.Tooltip("value:Q", title="estimate", format=".3f"),
        alt.Tooltip("low:Q", title="95% low", format=".3f"),
        alt.Tooltip("high:Q", title="95% high", format=".3f"),
    ]
    base = alt.Chart(_inline(rows)).encode(y=alt.Y("factor:N", title=None), yOffset="index:N")
    bars = base.mark_bar().encode(
        x=alt.X("bar:Q", title=f"share of the variance of the {output}", axis=alt.Axis(format="%")),
        color=alt.Color("index:N", title=None, legend=alt.Legend(orient="bottom")),
        tooltip=tooltip,
    )
    errors = base.mark_rule(color="black").encode(x="low:Q", x2="high:Q", tooltip=tooltip)
    label_px = 7 * max(len(str(f)) for f in indices["factor"])  # the longest name, 11 px type
    chart = (bars + errors).properties(
        width=max(COLUMN_PX - min(label_px, 320) - 30, 240), height=alt.Step(22)
    )
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
    base = alt.Chart(_inline(rows)).encode(
        x=alt.X("class_name:N", title="true class", sort=None, axis=alt.Axis(labelAngle=0))
    )
    bars = base.mark_bar(color=OKABE_ITO[0]).encode(
        y=alt.Y("flip_rate:Q", title="flip rate", axis=alt.Axis(format="%")), tooltip=tooltip
    )
    errors = base.mark_rule(color="black").encode(y="low:Q", y2="high:Q", tooltip=tooltip)
    chart = (bars + errors).properties(width=COLUMN_PX - 90, height=200)
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


def import_vl_convert() -> ModuleType:
    """vl-convert, which renders Vega-Lite offline (the `report` extra).

    Raises:
        MissingExtraError: vl-convert-python is not installed.
    """
    try:
        import vl_convert
    except ImportError as error:
        raise missing_extra("vl_convert", "the HTML report") from error
    return vl_convert


def write_figures(figures: list[Figure], folder: Path) -> list[Path]:
    """Write every figure as PNG (2x scale) and SVG, rendered offline by vl-convert.

    Returns:
        The written paths.
    """
    vl_convert = import_vl_convert()
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
