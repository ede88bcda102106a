"""Assemble a report from the store and write it as HTML, Markdown or JSON.

Everything comes from the store: the run's lineage, its stored analyses and, for the worst
cases, its outcomes plus inputs regenerated from the data and the run's seed. The model is
never loaded.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass, field
from importlib import metadata
from itertools import repeat
from pathlib import Path
from typing import Any, Literal

import yaml

from wince.errors import WinceError
from wince.files import write_file
from wince.report.breakdowns import Breakdown, breakdowns
from wince.report.data import ReportData, load_report_data
from wince.report.figures import VEGA_LITE_VERSION, Figure, all_figures, write_figures
from wince.report.gallery import Case, worst_cases
from wince.report.measured import STATUS_CLASSES, hardening_section, measured_first
from wince.report.narrative import (
    Narrative,
    metric_interval,
    metric_value,
    narrative,
    percent,
    steps_flag,
)
from wince.report.previews import Preview, previews
from wince.store.store import Store

Format = Literal["html", "markdown", "json"]
FORMATS: tuple[str, ...] = ("html", "markdown", "json")
SUFFIXES = {"html": ".html", "markdown": ".md", "json": ".json"}
GALLERY_SCENARIOS = 3  # scenarios shown in the worst-case gallery
CASES_PER_SCENARIO = 3
SUSPECTS_SHOWN = 10  # possible label errors listed


@dataclass(frozen=True)
class Report:
    """A run's report, ready to render.

    Attributes:
        data: the run as read from the store.
        narrative: findings and recommendations, the defences `wince harden` measured first
            (`wince.report.measured`).
        figures: every figure the stored analyses support.
        cases: worst cases (empty without the data, but for structured outputs).
        gallery_note: why cases are missing or how they were chosen.
        breakdowns: error modes of structured outputs per scenario (`wince.report.breakdowns`).
        suspect_inputs: the inputs of the possible label errors shown, in their order (empty
            previews without the data).
    """

    data: ReportData
    narrative: Narrative
    figures: list[Figure]
    cases: list[Case]
    gallery_note: str
    breakdowns: list[Breakdown] = field(default_factory=list)
    suspect_inputs: list[Preview] = field(default_factory=list)

    def html(self) -> str:
        """The self-contained HTML page."""
        from wince.report.html import render_html

        return render_html(_context(self), self.figures)

    def markdown(self) -> str:
        """A compact Markdown summary (for a pull-request comment)."""
        from wince.report.markdown import render_markdown

        return render_markdown(self)

    def json(self) -> str:
        """Every finding and every figure's data, as JSON."""
        return json.dumps(self.to_dict(), indent=2, default=_json_default, allow_nan=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form: run, findings, recommendations, figures' data, cases, lineage.

        `hardening` is the stored `wince harden` result (None when the run was never hardened).
        """
        record = self.data.record
        return {
            "run": {
                "run_id": self.data.run_id,
                "name": record.get("name"),
                "task": self.data.task,
                "modality": self.data.modality,
                "n_samples": record.get("n_samples"),
                "status": record.get("status"),
                "model_fingerprint": record.get("model_fingerprint"),
                "data_fingerprint": record.get("data_fingerprint"),
            },
            "summary": self.narrative.to_dict(),
            "figures": {f.key: f.to_dict() for f in self.figures},
            "worst_cases": [c.to_dict() for c in self.cases],
            "breakdowns": [b.to_dict() for b in self.breakdowns],
            "hardening": self.data.analyses.get("harden"),
            "lineage": _finite(self.data.lineage),
            "computed_for_report": list(self.data.computed),
        }

    def render(self, fmt: str) -> str:
        """The report in a format: html, markdown or json."""
        if fmt == "html":
            return self.html()
        if fmt == "markdown":
            return self.markdown()
        if fmt == "json":
            return self.json()
        raise WinceError(f"unknown report format {fmt!r}; choose one of {', '.join(FORMATS)}.")


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def _gallery(
    store: Store, data: ReportData, scenarios: list[str], dataset: Any, missing: str
) -> tuple[list[Case], str]:
    scenarios = scenarios[:GALLERY_SCENARIOS]
    if not scenarios:
        return [], "No perturbed scenario to show."
    if dataset is None and not data.structured:
        return [], f"Worst cases are not shown: {missing}"
    cases = worst_cases(store, data, dataset, scenarios, per_scenario=CASES_PER_SCENARIO)
    if data.structured:
        metric = data.metrics[data.primary_metric]
        note = (
            "For the headline scenario of each perturbation (risks first): the samples whose "
            f"{metric.description} worsened most in the first trial, with the model's outputs "
            "from the store. "
        )
        note += (
            f"Inputs are not shown: {missing}"
            if dataset is None
            else "Inputs are regenerated from the data and the run's seed."
        )
        return cases, note
    note = (
        "For the headline scenario of each perturbation (risks first): the samples whose "
        "prediction changed, most confident first. Perturbed inputs are regenerated from the "
        "data and the run's seed."
    )
    return cases, note


def _dataset(data: ReportData, dataset: Any) -> tuple[Any, str]:
    """The run's data (given, or the plan's data section), or None and why it is missing.

    Only data whose fingerprint is the run's regenerates its inputs exactly.
    """
    from wince.datasets.loading import as_dataset, load_dataset
    from wince.plan import Plan

    if dataset is None:
        plan = Plan.model_validate(data.plan)
        if plan.data is None:
            return None, (
                "they need the run's data, and the plan has no data section, so pass the data "
                "(Python: run.report(data=...))."
            )
        try:
            dataset = load_dataset(plan.data)
        except WinceError as error:
            return None, f"the run's data could not be read ({error})."
    else:
        dataset = as_dataset(dataset)
    expected = data.record.get("data_fingerprint")
    if dataset.fingerprint() != expected:
        return None, (
            f"the data's fingerprint {dataset.fingerprint()} differs from the run's "
            f"{expected}, so its inputs cannot be regenerated exactly."
        )
    return dataset, ""


def build_report(store: Store, run_id: str, *, data: Any = None) -> Report:
    """Read a run from the store and assemble its report.

    Args:
        store: the store holding the run.
        run_id: the run (a full id; see `Store.resolve`).
        data: the run's data for the worst cases (default: the plan's data section).

    Raises:
        StoreError: no such run, or its outcomes are missing.
    """
    report_data = load_report_data(store, run_id)
    found = measured_first(narrative(report_data), report_data)
    # the headline scenario of each perturbation, risks first
    scenarios = [f.scenario for f in [*found.risks, *found.inconclusive, *found.robust]]
    dataset, missing = _dataset(report_data, data)
    cases, note = _gallery(store, report_data, scenarios, dataset, missing)
    tables = breakdowns(store, report_data, scenarios)
    suspects = report_data.frame("data_quality", "suspects").head(SUSPECTS_SHOWN)
    indices = [int(i) for i in suspects.get("sample_index", [])]
    inputs = previews(report_data.modality, dataset, indices)
    return Report(report_data, found, all_figures(report_data), cases, note, tables, inputs)


def default_path(run_id: str, fmt: str) -> Path:
    """Where a report goes without --out: `wince-report-<run id>.<ext>` here."""
    return Path(f"wince-report-{run_id}{SUFFIXES.get(fmt, '.txt')}")


def write_report(
    store: Store,
    run_id: str,
    *,
    out: str | Path | None = None,
    fmt: str = "html",
    figures: str | Path | None = None,
    data: Any = None,
) -> Path:
    """Write a run's report to a file (and optionally every figure as PNG and SVG).

    Args:
        store: the store holding the run.
        run_id: the run.
        out: the report file; default `wince-report-<run id>.html` (.md, .json).
        fmt: html, markdown or json.
        figures: a folder to write every figure to as PNG and SVG.
        data: the run's data for the worst cases (default: the plan's data section).

    Returns:
        The report's path.
    """
    if fmt not in FORMATS:
        raise WinceError(f"unknown report format {fmt!r}; choose one of {', '.join(FORMATS)}.")
    report = build_report(store, run_id, data=data)
    target = Path(out) if out is not None else default_path(run_id, fmt)
    write_file(target, report.render(fmt), what="the report")
    if figures is not None:
        write_figures(report.figures, Path(figures))
    return target


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _context(report: Report) -> dict[str, Any]:
    """Everything the HTML template shows besides the figures."""
    data = report.data
    lineage, plan = data.lineage, data.plan
    metric = data.metrics[data.primary_metric]
    flags = {str(s): steps_flag(data.steps(str(s))) for s in data.scenarios["scenario"]}
    return {
        "run": _run_summary(data),
        "narrative": report.narrative,
        "hardening": hardening_section(data),
        "status_classes": STATUS_CLASSES,
        "cases": report.cases,
        "flags": flags,
        "breakdowns": [_table(b) for b in report.breakdowns],
        "gallery_note": report.gallery_note,
        "rules": data.frame("regions", "rules").to_dict("records"),
        "regions_stored": "regions" in data.analyses,
        "suspects": _suspect_rows(report),
        "verdicts": _verdict_rows(data, flags),
        "primary_name": metric.name.replace("_", " "),
        "primary_description": metric.description,
        "tolerances": data.tolerance_text(),
        "correction": data.settings.get("correction", "holm"),
        "alpha": data.settings.get("alpha", 0.05),
        "lineage_rows": _lineage_rows(data),
        "perturbation_versions": sorted((lineage.get("perturbation_versions") or {}).items()),
        "packages": _packages(lineage),
        "timings": _timing_rows(data),
        "plan_text": yaml.safe_dump(_without_none(plan), sort_keys=False, allow_unicode=True),
        "wince_version": _version("wince"),
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "vega_lite_version": VEGA_LITE_VERSION,
    }


def _run_summary(data: ReportData) -> dict[str, Any]:
    """The run's name, inputs and size for the report's header."""
    record, lineage = data.record, data.lineage
    return {
        "run_id": data.run_id,
        "name": record.get("name"),
        "description": data.plan.get("description"),
        "model": lineage.get("model", "model"),
        "data": lineage.get("data", "data"),
        "n_samples": record.get("n_samples"),
        "modality": data.modality,
        "task": data.task,
        "created_at": str(record.get("created_at", ""))[:19].replace("T", " "),
    }


def _primary_by_scenario(data: ReportData) -> dict[str, str]:
    """The primary metric per scenario as text: its curve's interval, else its observed value."""
    metric = data.metrics[data.primary_metric]
    primary: dict[str, str] = {}
    curves = data.frame("curves")
    if not curves.empty:
        rows = curves[curves["metric"] == metric.name]
        for row in rows.itertuples():
            primary[str(row.scenario)] = metric_interval(
                float(row.estimate), float(row.low), float(row.high), metric
            )
    interactions = data.frame("interactions")
    if not interactions.empty:
        observed = interactions[interactions["metric"] == metric.name]
        for row in observed.itertuples():
            shown = metric_value(float(row.observed), metric)
            primary.setdefault(str(row.scenario), f"{shown} (observed)")
    return primary


def _verdict_rows(data: ReportData, flags: dict[str, str]) -> list[dict[str, Any]]:
    """The stored verdicts per scenario with the primary metric and the steps flag added."""
    primary = _primary_by_scenario(data)
    return [
        {
            **row,
            "primary": primary.get(str(row["scenario"]), "see the interaction chart"),
            "flag": flags.get(str(row["scenario"]), ""),
        }
        for row in data.frame("verdicts", "scenarios").to_dict("records")
    ]


def _suspect_rows(report: Report) -> list[dict[str, Any]]:
    """The first possible label errors, with class names and their input previews."""
    data = report.data
    suspects = data.frame("data_quality", "suspects").copy()
    for column in ("label", "baseline_pred"):
        if column in suspects:
            suspects[column] = suspects[column].map(data.class_name)
    return [
        {**row, "input": preview}
        for row, preview in zip(
            suspects.head(SUSPECTS_SHOWN).to_dict("records"),
            report.suspect_inputs or repeat(Preview()),
            strict=False,
        )
    ]


def _timing_rows(data: ReportData) -> list[tuple[str, Any]]:
    """Seconds spent per run phase, then per analysis, rounded."""
    timings = dict(data.lineage.get("timings") or {})
    analysis_seconds = (data.analyses.get("timings") or {}).get("seconds") or {}
    return [(f"run: {k}", _round(v)) for k, v in timings.items()] + [
        (f"analysis: {k}", _round(v)) for k, v in analysis_seconds.items()
    ]


def _lineage_rows(data: ReportData) -> list[tuple[str, Any]]:
    """Where the run came from and how it ran, as (label, value) rows; missing values are ""."""
    record, lineage, plan = data.record, data.lineage, data.plan
    rows = [
        ("run id", data.run_id),
        ("status", record.get("status")),
        ("started", lineage.get("started_at", record.get("created_at"))),
        ("finished", record.get("finished_at")),
        ("model", f"{lineage.get('model', '')} (fingerprint {record.get('model_fingerprint')})"),
        ("data", f"{lineage.get('data', '')} (fingerprint {record.get('data_fingerprint')})"),
        ("plan digest", lineage.get("plan_digest")),
        ("seed", lineage.get("seed", plan.get("seed"))),
        ("repeats", lineage.get("repeats", plan.get("repeats"))),
        ("batch size", lineage.get("batch_size")),
        ("executor", f"{lineage.get('executor')} ({lineage.get('workers')} worker(s))"),
        ("host", f"{lineage.get('host')} · {lineage.get('platform')}"),
        ("python", lineage.get("python")),
        ("wince (run)", lineage.get("wince_version")),
    ]
    if data.computed:
        rows.append(("computed for this report", ", ".join(data.computed)))
    return [(k, "" if v is None else v) for k, v in rows]


def _packages(lineage: dict[str, Any]) -> list[tuple[str, Any]]:
    """The run's package versions plus the report's own renderers, sorted by name."""
    return sorted(
        {
            **(lineage.get("packages") or {}),
            "vl-convert-python (report)": _version("vl-convert-python"),
            "altair (report)": _version("altair"),
        }.items()
    )


def _table(breakdown: Breakdown) -> dict[str, Any]:
    """A breakdown as the template shows it: headers, and rows of formatted cells."""

    def cell(column: str, value: Any) -> str:
        if column in breakdown.percent_columns:
            return percent(float(value))
        if isinstance(value, float):
            return f"{value:.3g}" if math.isfinite(value) else "n/a"
        text = str(value)
        return text.replace(" ", "␣") if text.isspace() else text  # a space must show

    frame = breakdown.table
    return {
        "key": breakdown.key,
        "title": breakdown.title,
        "caption": breakdown.caption,
        "columns": list(frame.columns),
        "rows": [
            [cell(str(c), v) for c, v in zip(frame.columns, row, strict=True)]
            for row in frame.itertuples(index=False)
        ],
    }


def _without_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_none(v) for v in value]
    return value


def _round(value: Any) -> Any:
    return f"{value:.3f} s" if isinstance(value, float) else value
