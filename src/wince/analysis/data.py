"""A run's outcomes arranged for analysis: per-sample, per-trial matrices by scenario."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from wince.analysis.settings import run_analysis_spec
from wince.engine.scenarios import BASELINE, IDENTITY
from wince.metrics import Metric, plan_metric_table
from wince.plan import AnalysisSpec, Plan
from wince.store.by_scenario import ScenarioOutcomes
from wince.store.store import Store

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class SweepPoint:
    """One isolation scenario of a perturbation's sweep (the baseline at severity 0)."""

    scenario: str
    value: float
    severity: float


@dataclass(frozen=True)
class RunData:
    """Outcomes and scenarios of one run, read once from the store.

    Attributes:
        run_id: the run.
        plan: the plan as resolved when the run started.
        task: "classification" or "regression".
        scenarios: scenario rows in plan order (scenario, kind, steps, severity, trials).
        outcomes: the outcomes (one row per sample and trial) by scenario, read from the
            store one scenario at a time (`ScenarioOutcomes`).
        analysis: the run's current analysis section: that of the last plan it was run with
            (analysis settings are not part of a run's identity); None: the plan's.
        rejected: the scenarios whose inputs the model refused (scenario rows, as
            `scenarios`, plus `error`); they are in neither `scenarios` nor `outcomes`.
        recorded_metrics: the metrics of one's own the run recorded (`Metric.declaration`),
            so that those registered only in the process that ran it are known here too.
        classes: the model's class names in index order, as the run recorded them (None:
            the model names none).
    """

    run_id: str
    plan: Plan
    task: str
    scenarios: pd.DataFrame
    outcomes: ScenarioOutcomes
    analysis: AnalysisSpec | None = None
    rejected: pd.DataFrame = field(default_factory=pd.DataFrame)
    recorded_metrics: tuple[Metric, ...] = ()
    classes: tuple[str, ...] | None = None

    @property
    def samples(self) -> npt.NDArray[np.int64]:
        """Sorted sample indices; rows of every matrix follow this order."""
        return self.outcomes.samples

    @functools.cached_property
    def metrics(self) -> dict[str, Metric]:
        """The run's per-sample metrics whose outcome column it holds, by name.

        The built-in metrics of its task (without labels, those that need none) and the
        plan's own (`wince.metrics.plan_metric_table`, and as the run recorded them:
        `recorded_metrics`).
        """
        table = plan_metric_table(self.plan, self.task)
        for metric in self.recorded_metrics:  # one registered in the process that ran it
            table.setdefault(metric.name, metric)
        return {n: m for n, m in table.items() if m.column in self.outcomes.columns}

    def frame(self, scenario: str) -> pd.DataFrame:
        """Outcomes of one scenario (`ScenarioOutcomes.frame`)."""
        return self.outcomes.frame(scenario)

    def has(self, scenario: str) -> bool:
        """Whether the run holds outcomes of `scenario`."""
        return scenario in self.outcomes

    def matrix(self, scenario: str, column: str) -> FloatArray:
        """(n_samples, n_trials) values of `column` under `scenario`; NaN where missing."""
        frame = self.frame(scenario)
        trials = np.sort(frame["trial"].unique())
        out = np.full((len(self.samples), len(trials)), np.nan)
        rows = np.searchsorted(self.samples, frame["sample_index"].to_numpy())
        cols = np.searchsorted(trials, frame["trial"].to_numpy())
        out[rows, cols] = frame[column].to_numpy(np.float64)
        return out

    def per_sample(self, scenario: str, column: str) -> FloatArray:
        """Mean of `column` over the trials of `scenario`, one value per sample."""
        with np.errstate(invalid="ignore"):
            means: FloatArray = np.nanmean(self.matrix(scenario, column), axis=1)
        return means

    def steps(self, scenario: str) -> list[dict[str, Any]]:
        """The perturbation steps of a scenario (name, param, value, severity, params)."""
        row = self.scenarios[self.scenarios["scenario"] == scenario]
        return list(row["steps"].iloc[0]) if len(row) else []

    def perturbations(self) -> list[str]:
        """The plan's perturbation entries by name (`Plan.labels`), in plan order.

        An entry's name is its perturbation's registry name unless the plan lists that
        perturbation more than once (then `text.casing[style=upper]`, or the entry's label).
        """
        return self.plan.labels()

    def perturbation_name(self, entry: str) -> str:
        """The registry name of the perturbation of a plan entry."""
        return self.plan.entry(entry).name

    def sweep(self, entry: str) -> list[SweepPoint]:
        """The baseline plus the isolation scenarios of a plan entry, by severity."""
        from wince import perturbations as library

        off = library.get(self.perturbation_name(entry)).magnitude.off
        points = [SweepPoint(BASELINE, off, 0.0)]
        for row in self.scenarios.itertuples():
            if row.kind == "isolation" and step_entry(row.steps[0]) == entry:
                step = row.steps[0]
                points.append(SweepPoint(row.scenario, step["value"], step["severity"]))
        return sorted(points, key=lambda p: p.severity)

    def refused_entries(self) -> list[str]:
        """Plan entries the model refused on their own (an isolation scenario was rejected).

        Analyses that ask the model for new evaluations of a perturbation (breaking points,
        global sensitivity) leave these out: the model raises on what they make.
        """
        if self.rejected.empty:
            return []
        refused = {
            step_entry(row.steps[0])
            for row in self.rejected.itertuples()
            if row.kind == "isolation"
        }
        return [entry for entry in self.perturbations() if entry in refused]

    @property
    def noise_floor_scenario(self) -> str | None:
        """The identity scenario if the run measured one."""
        return IDENTITY if self.has(IDENTITY) else None


def step_entry(step: dict[str, Any]) -> str:
    """The plan entry of a stored scenario step (its perturbation's name for older runs)."""
    return str(step.get("entry") or step["name"])


def load_run_data(store: Store, run_id: str) -> RunData:
    """Read a run's plan, scenarios and outcomes from the store."""
    record = store.run(run_id)
    refusals = store.rejections(run_id)
    every = store.scenarios(run_id, rejected=True)
    rejected = every.merge(refusals[["scenario", "error"]], on="scenario", how="inner")
    return RunData(
        run_id=run_id,
        plan=Plan.model_validate(record["lineage"]["plan"]),
        task=record["task"],
        scenarios=store.scenarios(run_id),
        outcomes=ScenarioOutcomes.from_store(store, run_id),
        analysis=run_analysis_spec(record["lineage"]),
        rejected=rejected,
        recorded_metrics=tuple(
            Metric.from_declaration(m) for m in record["lineage"].get("metrics", [])
        ),
        classes=tuple(classes) if (classes := record["lineage"].get("classes")) else None,
    )
