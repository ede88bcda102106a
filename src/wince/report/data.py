"""Everything a report shows, read from the store: the run, its lineage and its analyses.

Reports never call the model. Analyses already stored under the run are used as they are;
a run that was never analysed gets the analyses that need only its stored outcomes (curves,
verdicts, interactions, data quality), computed on the fly and not saved.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from wince.metrics import Metric, plan_metric_table, primary_metric
from wince.store.store import Store

# stored analyses a report reads, by catalog name
ANALYSES = (
    "curves",
    "local_sensitivity",
    "cliffs",
    "interactions",
    "verdicts",
    "data_quality",
    "regions",
    "breaking_points",
    "global_sensitivity",
    "columns",
    "timings",
    "settings",
    "harden",
)


@dataclass(frozen=True)
class ReportData:
    """A run as a report sees it.

    Attributes:
        run_id: the run.
        record: the catalog row (name, status, task, fingerprints, lineage).
        scenarios: scenario rows in plan order, those the model rejected included.
        analyses: stored payloads by analysis name (absent analyses are missing keys).
        computed: analyses computed for this report because the store had none.
        rejected: the scenarios whose inputs the model refused (`Store.rejections`: position,
            scenario, error, units, samples, trials); they have no outcomes.
    """

    run_id: str
    record: dict[str, Any]
    scenarios: pd.DataFrame
    analyses: dict[str, dict[str, Any]]
    computed: tuple[str, ...] = ()
    rejected: pd.DataFrame = field(default_factory=pd.DataFrame)
    _frames: dict[str, pd.DataFrame] = field(default_factory=dict, repr=False, compare=False)

    @property
    def lineage(self) -> dict[str, Any]:
        """The run's lineage: resolved plan, versions, fingerprints, seeds, timings."""
        return dict(self.record.get("lineage") or {})

    def class_name(self, index: Any) -> Any:
        """The model's name of a class index (the index itself when the run has no names)."""
        classes = self.lineage.get("classes")
        if classes is None or index is None or not 0 <= int(index) < len(classes):
            return index
        return classes[int(index)]

    @property
    def trainable(self) -> bool | None:
        """Whether the run's model can be trained (None: not known).

        As the model adapter declared it (`trainable` in the lineage); an HTTP endpoint, of
        runs recorded before adapters declared it, cannot be.
        """
        declared = self.lineage.get("trainable")
        if declared is not None:
            return bool(declared)
        return False if str(self.lineage.get("model", "")).startswith("HTTP endpoint") else None

    @property
    def plan(self) -> dict[str, Any]:
        """The resolved plan as stored."""
        return dict(self.lineage.get("plan") or {})

    @property
    def settings(self) -> dict[str, Any]:
        """The analysis settings the verdicts used: tolerances, their sources, alpha, correction.

        Those recorded with the stored analysis; for runs analysed before analyses recorded
        them, the plan's analysis section (every tolerance from "plan").
        """
        stored = self.analyses.get("settings")
        if stored:
            return dict(stored)
        analysis = dict(self.plan.get("analysis") or {})
        tolerance = dict(analysis.get("tolerance") or {})
        return {
            "tolerance": tolerance,
            "tolerance_source": dict.fromkeys(tolerance, "plan"),
            "alpha": analysis.get("alpha", 0.05),
            "correction": analysis.get("correction", "holm"),
        }

    def tested_tolerances(self) -> list[tuple[str, float, str]]:
        """(metric, tolerance, source) of each metric the verdicts tested."""
        settings = self.settings
        tests = self.frame("verdicts", "tests")
        tested = set(tests["metric"]) if "metric" in tests else set(settings["tolerance"])
        sources = settings.get("tolerance_source") or {}
        return [
            (metric, float(value), str(sources.get(metric, "plan")))
            for metric, value in settings["tolerance"].items()
            if metric in tested
        ]

    def tolerance_text(self) -> str:
        """The tolerances the verdicts applied, each with where it came from.

        E.g. "flip rate 0.02 (plan), mean abs change 4.9 (default: 0.1 x sd of baseline
        predictions (sd = 49))".
        """
        return (
            ", ".join(
                f"{metric.replace('_', ' ')} {value:.3g} ({source})"
                for metric, value, source in self.tested_tolerances()
            )
            or "none tested"
        )

    @property
    def task(self) -> str:
        """The task: classification, regression, text, multilabel, detection, ... ."""
        return str(self.record["task"])

    @property
    def structured(self) -> bool:
        """Whether the model answers with structured outputs (text, boxes, masks, ...)."""
        return self.task not in ("classification", "regression")

    @functools.cached_property
    def metrics(self) -> dict[str, Metric]:
        """The run's per-sample metrics by name: its task's built-in ones and the plan's own.

        Their descriptions, units and directions word the findings (`wince.metrics`).
        """
        from wince.plan import Plan

        return plan_metric_table(Plan.model_validate(self.plan), self.task)

    @property
    def modality(self) -> str:
        """The data's modality (image, text, tabular, audio, timeseries)."""
        return str(self.lineage.get("modality", "unknown"))

    @property
    def primary_metric(self) -> str:
        """The metric findings are stated in.

        The flip rate, the mean absolute change, or a structured output's headline metric
        among those the curves hold (`wince.metrics.primary_metric`).
        """
        if self.task == "classification":
            return "flip_rate"
        if self.task == "regression":
            return "mean_abs_change"
        curves = self.frame("curves")
        measured = set(curves["metric"]) if "metric" in curves else set()
        held = {name: m for name, m in self.metrics.items() if name in measured}
        headline = primary_metric(self.task, held)
        if headline is not None:
            return headline.name
        return next(iter(held), next(iter(self.metrics)))

    def frame(self, analysis: str, key: str = "table") -> pd.DataFrame:
        """A tabular part of a stored analysis as a frame (empty when absent)."""
        cache_key = f"{analysis}/{key}"
        if cache_key not in self._frames:
            payload = self.analyses.get(analysis) or {}
            self._frames[cache_key] = pd.DataFrame(payload.get(key) or {})
        return self._frames[cache_key]

    def curve_point(self, scenario: str, metric: str) -> dict[str, Any] | None:
        """The stored curve row (estimate, low, high, value, unit) of a scenario and metric."""
        curves = self.frame("curves")
        if curves.empty:
            return None
        rows = curves[(curves["scenario"] == scenario) & (curves["metric"] == metric)]
        return dict(rows.iloc[0]) if len(rows) else None

    def baseline(self, metric: str) -> float | None:
        """A metric's value without perturbation (from the curves' severity-0 points)."""
        point = self.curve_point("baseline", metric)
        return None if point is None else finite_number(point["estimate"])

    def steps(self, scenario: str) -> list[dict[str, Any]]:
        """The perturbation steps of a scenario."""
        rows = self.scenarios[self.scenarios["scenario"] == scenario]
        return list(rows["steps"].iloc[0]) if len(rows) else []


def finite_number(value: Any) -> float | None:
    """`value` as a float, or None when it is missing, not a number or infinite."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def load_report_data(store: Store, run_id: str) -> ReportData:
    """Read a run and its stored analyses; compute the outcome-only ones if none are stored.

    Args:
        store: the store holding the run.
        run_id: the run (a full id).

    Raises:
        StoreError: no such run, or its outcomes are missing.
    """
    record = store.run(run_id)
    analyses: dict[str, dict[str, Any]] = {}
    for name in ANALYSES:
        payload = store.load_analysis(run_id, name)
        if payload is not None:
            analyses[name] = payload
    computed: tuple[str, ...] = ()
    if "curves" not in analyses:
        from wince.analysis.profile import analyze_run

        profile = analyze_run(store, run_id, regions=False, save=False)
        fresh = profile.payloads()
        computed = tuple(sorted(set(fresh) - set(analyses)))
        analyses.update({name: fresh[name] for name in computed})
    return ReportData(
        run_id=run_id,
        record=record,
        scenarios=store.scenarios(run_id, rejected=True),
        analyses=analyses,
        computed=computed,
        rejected=store.rejections(run_id),
    )
