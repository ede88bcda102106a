"""The sensitivity profile of a run: every analysis, computed from the store and saved back.

Curves, local slopes, cliffs, interactions, verdicts and data-quality signals need only the
stored outcomes. Fragile regions also read the run's data (for sample descriptors). Breaking
points, global sensitivity and column derivatives need new model evaluations and run only
when asked, through a `Probe` on the run's model and data.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from wince.analysis.curves import Curves, cliffs, local_sensitivity, sensitivity_curves
from wince.analysis.data import RunData, load_run_data
from wince.analysis.interactions import Interactions, interactions
from wince.analysis.settings import AnalysisSettings, run_settings
from wince.analysis.significance import Verdicts, verdicts
from wince.errors import MissingAnalysisError
from wince.metrics import bootstrap_weights
from wince.plan import Plan
from wince.store.store import Store
from wince.terminal import ProgressReporter

if TYPE_CHECKING:
    from wince.plots import ProfilePlots


@dataclass(frozen=True)
class Profile:
    """Everything wince knows about a run's sensitivity.

    Every part is an attribute, none needs a call; the optional analyses are attributes too
    (`regions`, `data_quality`, `breaking_points`, `global_sensitivity`), raising
    `MissingAnalysisError` with the option that computes them when they were not computed.
    An analysis with a result type of its own
    is an object whose tables are DataFrame attributes: `curves.table`, `interactions.table`,
    `verdicts.tests`, `verdicts.scenarios` and `verdicts.fragile`, and the extras' own
    (`extras["breaking_points"].items[entry].survival`, ...). The tables read off the curves
    are DataFrames themselves: `local` and `cliffs`.

    Attributes:
        run_id: the run.
        curves: sensitivity curves with intervals.
        local: finite-difference slopes at the mild end of each realistic range.
        cliffs: threshold effects.
        interactions: combinations against their additive / independence expectation.
        verdicts: fragile / robust / inconclusive per scenario.
        extras: optional analyses by name (regions, data_quality, breaking_points,
            global_sensitivity, columns), each with a `to_payload()`.
        seconds: time per analysis.
        settings: the tolerances (with where each came from), alpha, correction and
            bootstrap size the analysis ran with; stored as the "settings" analysis.
        record: the run's catalog row (name, status, task, lineage), for the summary a
            notebook shows and for `plot`.
    """

    run_id: str
    curves: Curves
    local: pd.DataFrame
    cliffs: pd.DataFrame
    interactions: Interactions
    verdicts: Verdicts
    extras: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    settings: AnalysisSettings | None = None
    record: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def fragile(self) -> pd.DataFrame:
        """Fragile scenarios, most severe effect first: `verdicts.fragile`."""
        return self.verdicts.fragile

    def _extra(self, name: str, option: str, flag: str) -> Any:
        if name not in self.extras:
            computed = ", ".join(self.extras) or "none"
            raise MissingAnalysisError(
                f"run {self.run_id}: this profile has no {name.replace('_', ' ')} analysis "
                f"(it has: {computed}). Compute it with run.analyze({option}=True) or "
                f"`wince analyze RUN {flag}`."
            )
        return self.extras[name]

    @property
    def regions(self) -> Any:
        """Fragile and robust regions as readable rules (`wince.analysis.regions`).

        Raises:
            MissingAnalysisError: regions were not computed (they need the run's data).
        """
        return self._extra("regions", "regions", "--regions")

    @property
    def data_quality(self) -> Any:
        """Possible label errors and per-class accuracy of the clean data.

        Raises:
            MissingAnalysisError: the profile has no data-quality analysis (profiles made
                before it existed).
        """
        return self._extra("data_quality", "regions", "--regions")

    @property
    def breaking_points(self) -> Any:
        """Each perturbation's breaking points (`items[name]`), searched per sample.

        Raises:
            MissingAnalysisError: breaking points were not searched for this profile.
        """
        return self._extra("breaking_points", "breaking_points", "--breaking-points")

    @property
    def global_sensitivity(self) -> Any:
        """Sobol indices over the plan's perturbations.

        Raises:
            MissingAnalysisError: global sensitivity was not computed for this profile.
        """
        return self._extra("global_sensitivity", "global_sensitivity", "--global")

    @property
    def plot(self) -> ProfilePlots:
        """The report's figures of this profile as Altair charts (`wince.plots.ProfilePlots`).

        `plot.curves()`, `plot.heatmap()`, `plot.interactions()`, `plot.breaking_points()`.
        """
        from wince.plots import ProfilePlots

        return ProfilePlots(self)

    def _repr_html_(self) -> str:
        from wince.notebook import FRAGILE_COLUMNS, counts_text, html_card, html_table

        labels = self.interactions.table.get("label", pd.Series(dtype=str)).value_counts()
        facts = [
            ("run", self.run_id),
            ("plan", self.record.get("name", "")),
            ("scenarios", counts_text(self.verdicts.counts)),
            ("interactions", counts_text(labels.to_dict())),
            ("cliffs", len(self.cliffs)),
            ("also computed", ", ".join(self.extras) or "none"),
        ]
        return html_card(
            "Sensitivity profile",
            facts,
            [
                (
                    "Fragile, largest effect first",
                    html_table(self.fragile(), columns=FRAGILE_COLUMNS),
                )
            ],
        )

    def payloads(self) -> dict[str, dict[str, Any]]:
        """JSON-able payload of each analysis, by name."""
        out = {
            "curves": self.curves.to_payload(),
            "local_sensitivity": {"table": self.local.to_dict(orient="list")},
            "cliffs": {"table": self.cliffs.to_dict(orient="list")},
            "interactions": self.interactions.to_payload(),
            "verdicts": self.verdicts.to_payload(),
        }
        if self.settings is not None:
            out["settings"] = self.settings.to_payload()
        out.update({name: extra.to_payload() for name, extra in self.extras.items()})
        return out


def analyze_run(
    store: Store,
    run_id: str,
    *,
    model: Any = None,
    data: Any = None,
    regions: bool = True,
    breaking_points: bool = False,
    breaking_metric: str | None = None,
    global_sensitivity: bool = False,
    columns: bool = False,
    gradients: bool = False,
    save: bool = True,
    plan: Plan | None = None,
    tolerance: dict[str, float] | None = None,
    alpha: float | None = None,
    correction: str | None = None,
    progress: bool = False,
) -> Profile:
    """Compute a run's sensitivity profile and store each analysis under the run.

    Analysis settings are not part of a run's identity: they come from the run's current
    plan (the last one it was run with), or `plan`, merged with the overrides, and the
    stored analysis records them (the "settings" analysis).

    Args:
        store: the store holding the run.
        run_id: the run.
        model: the run's model, for analyses that need new evaluations (default: the plan's
            model section).
        data: the run's data, for regions and new evaluations (default: the plan's data
            section).
        regions: describe fragile and robust regions (needs the data).
        breaking_points: search each sample's breaking point per perturbation (needs model);
            perturbations the model refused in the run (`Store.rejections`) are left out.
        breaking_metric: the per-sample metric whose crossing of its tolerance breaks a
            sample (e.g. "cer", or one of the plan's own); default a classifier's label, a
            regressor's value, a structured output's headline metric (`primary_metric`).
        global_sensitivity: Sobol indices over the plan's perturbations (needs model), those
            the model refused in the run left out.
        columns: per-column derivatives of a tabular model (needs model).
        gradients: input gradients and directional derivatives (needs a torch model).
        save: store the results in the catalog.
        plan: a plan whose `analysis` section to use instead of the run's (only that
            section is read).
        tolerance: tolerances replacing or adding to the plan's, per verdict metric.
        alpha: significance level replacing the plan's, in (0, 1).
        correction: "holm" or "bh", replacing the plan's.
        progress: show progress bars with ETA while breaking points are searched (one step
            per perturbation) and while the global-sensitivity design runs.

    Raises:
        ParameterError: an unknown or negative tolerance, alpha outside (0, 1) or an unknown
            correction.
    """
    timed = _Stopwatch()
    run_data: RunData = timed("load", load_run_data, store, run_id)
    settings = run_settings(
        run_data,
        spec=None if plan is None else plan.analysis,
        tolerance=tolerance,
        alpha=alpha,
        correction=correction,
    )
    resample = bootstrap_weights(len(run_data.samples), settings.bootstrap, run_data.plan.seed)
    curves = timed("curves", sensitivity_curves, run_data, resample=resample)
    extras: dict[str, Any] = {}
    extras.update(timed("data_quality", _data_quality, run_data))
    needs_data = regions or breaking_points or global_sensitivity or columns or gradients
    dataset = timed("data", _dataset, store, run_id, data) if needs_data else None
    if regions and dataset is not None:
        extras.update(timed("regions", _regions, run_data, dataset, settings))
    if breaking_points or global_sensitivity or columns or gradients:
        extras.update(
            _model_analyses(
                store,
                run_data,
                settings,
                timed,
                model=model,
                dataset=dataset,
                breaking_points=breaking_points,
                breaking_metric=breaking_metric,
                global_sensitivity=global_sensitivity,
                columns=columns,
                gradients=gradients,
                progress=progress,
            )
        )
    profile = Profile(
        run_id=run_id,
        curves=curves,
        local=timed("local", local_sensitivity, curves),
        cliffs=timed("cliffs", cliffs, curves, settings),
        interactions=timed(
            "interactions", interactions, run_data, resample=resample, settings=settings
        ),
        verdicts=timed("verdicts", verdicts, run_data, settings),
        extras=extras,
        seconds=timed.seconds,
        settings=settings,
        record=store.run(run_id),
    )
    if save:
        for name, payload in profile.payloads().items():
            store.save_analysis(run_id, name, payload)
        store.save_analysis(run_id, "timings", {"seconds": timed.seconds})
    return profile


class _Stopwatch:
    """Calls analyses and records each one's wall time by name (`seconds`, to the ms)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def __call__(self, name: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        result = fn(*args, **kwargs)
        self.seconds[name] = round(time.perf_counter() - started, 3)
        return result


def _model_analyses(
    store: Store,
    run_data: RunData,
    settings: AnalysisSettings,
    timed: _Stopwatch,
    *,
    model: Any,
    dataset: Any,
    breaking_points: bool,
    breaking_metric: str | None,
    global_sensitivity: bool,
    columns: bool,
    gradients: bool,
    progress: bool,
) -> dict[str, Any]:
    """The analyses that evaluate the model anew, by name, as `analyze_run` asks for them."""
    from wince.engine.probe import probe_for_run

    if global_sensitivity:
        from wince.analysis.global_sensitivity import factors_from_plan

        factors_from_plan(run_data.plan)  # a plan it cannot take fails before any search
    probe = probe_for_run(store, run_data.run_id, model=model, data=dataset)
    extras: dict[str, Any] = {}
    if breaking_points:
        extras.update(
            timed(
                "breaking_points",
                _breaking_points,
                run_data,
                probe,
                settings,
                metric=breaking_metric,
                progress=progress,
            )
        )
    if global_sensitivity:
        extras.update(
            timed("global_sensitivity", _global, run_data, probe, settings, progress=progress)
        )
    if columns:
        from wince.analysis.local import column_sensitivity

        extras["columns"] = timed("columns", column_sensitivity, probe, seed=run_data.plan.seed)
    if gradients:
        from wince.analysis.gradients import input_gradients

        # gradients follow each plan entry with its own parameters
        plan = run_data.plan
        entries = [
            (label, spec.name, spec.params)
            for label, spec in zip(plan.labels(), plan.perturbations, strict=True)
        ]
        extras["gradients"] = timed("gradients", input_gradients, probe, perturbations=entries)
    return extras


def _dataset(store: Store, run_id: str, data: Any) -> Any:
    from wince.datasets.loading import as_dataset, load_dataset
    from wince.plan import Plan

    if data is not None:
        return as_dataset(data)
    plan = Plan.model_validate(store.run(run_id)["lineage"]["plan"])
    return load_dataset(plan.data) if plan.data is not None else None


def _data_quality(run_data: RunData) -> dict[str, Any]:
    from wince.analysis.regions import data_quality

    return {"data_quality": data_quality(run_data)}


def _regions(run_data: RunData, dataset: Any, settings: AnalysisSettings) -> dict[str, Any]:
    from wince.analysis.regions import fragile_regions

    regions = fragile_regions(run_data, dataset, alpha=settings.alpha, seed=run_data.plan.seed)
    return {"regions": regions}


def _breaking_points(
    run_data: RunData,
    probe: Any,
    settings: AnalysisSettings,
    *,
    metric: str | None,
    progress: bool,
) -> dict[str, Any]:
    from wince.analysis.breaking import breaking_points
    from wince.errors import ParameterError, PlanError
    from wince.metrics import primary_metric

    plan = run_data.plan
    value_tolerance = None
    searched_metric = None
    if metric is not None:
        searched_metric = run_data.metrics.get(metric)
        if searched_metric is None:
            raise ParameterError(
                f"--breaking-metric: run {run_data.run_id} has no metric {metric!r}; its "
                f"metrics: {', '.join(run_data.metrics)}."
            )
    elif run_data.task not in ("classification", "regression"):
        searched_metric = primary_metric(run_data.task, run_data.metrics)
    if searched_metric is not None:
        value_tolerance = settings.tolerance.get(searched_metric.name, searched_metric.tolerance)
        if value_tolerance is None:
            raise PlanError(
                f"breaking points on {searched_metric.name} need the change that counts as "
                f"broken: set analysis.tolerance.{searched_metric.name} in the plan (or "
                f"--tolerance {searched_metric.name}=...)."
            )
    elif run_data.task == "regression":
        value_tolerance = settings.tolerance.get("mean_abs_change")
        if value_tolerance is None:
            raise PlanError(
                "breaking points of a regression model need the output change that counts as "
                "broken: set analysis.tolerance.mean_abs_change in the plan."
            )
    # keyed by plan entry: a perturbation listed twice has a breaking point per entry; those
    # the model refused in the run are left out (it would raise on the search's inputs)
    refused = set(run_data.refused_entries())
    searched = [
        (label, spec)
        for label, spec in zip(plan.labels(), plan.perturbations, strict=True)
        if label not in refused
    ]
    results = {}
    samples = len(run_data.samples)
    with ProgressReporter(
        samples * len(searched), enabled=progress, title="Breaking points"
    ) as bar:
        for label, spec in searched:
            results[label] = breaking_points(
                probe,
                spec.name,
                params=spec.params,
                severities=[point.severity for point in run_data.sweep(label)],
                value_tolerance=value_tolerance,
                metric=searched_metric,
                n_boot=settings.bootstrap,
                seed=plan.seed,
            )
            bar.advance(samples)  # each sample's breaking point of this entry
    return {"breaking_points": _Collection(results)}


def _global(
    run_data: RunData, probe: Any, settings: AnalysisSettings, *, progress: bool
) -> dict[str, Any]:
    from wince.analysis.global_sensitivity import global_sensitivity
    from wince.errors import PlanError

    design = settings.global_sensitivity
    plan = run_data.plan
    analysis = plan.analysis.model_copy(update={"global_sensitivity": design})
    # the perturbations the model refused in the run are left out of the design: it would
    # raise on every point that applies them
    refused = set(run_data.refused_entries())
    kept = [
        s
        for label, s in zip(plan.labels(), plan.perturbations, strict=True)
        if label not in refused
    ]
    if not kept:
        return {}
    output = None
    if design.metric is not None:
        output = run_data.metrics.get(design.metric)
        if output is None:
            raise PlanError(
                f"analysis.global_sensitivity.metric: run {run_data.run_id} has no metric "
                f"{design.metric!r}; its metrics: {', '.join(run_data.metrics)}."
            )
    result = global_sensitivity(
        probe,
        plan.model_copy(update={"analysis": analysis, "perturbations": kept}),
        method=design.method,
        samples=design.samples,
        output=output,
        n_base=design.n_base,
        target_half_width=design.target_half_width,
        time_budget_s=design.time_budget_s,
        second_order=design.second_order,
        trajectories=design.trajectories,
        n_boot=settings.bootstrap,
        progress=progress,
    )
    return {"global_sensitivity": result}


@dataclass(frozen=True)
class _Collection:
    """Several results of one analysis keyed by perturbation."""

    items: dict[str, Any]

    def to_payload(self) -> dict[str, Any]:
        return {name: item.to_payload() for name, item in self.items.items()}
