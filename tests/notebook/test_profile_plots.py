"""`profile.plot`: the report's figures as Altair charts, on the profile's own numbers."""

from __future__ import annotations

import altair as alt
import numpy as np
import pytest
from notebook_support import NotebookRun, threshold_model

import wince
from wince.datasets import ArrayDataset
from wince.errors import MissingAnalysisError
from wince.models import CallableAdapter
from wince.report import figures
from wince.report.data import load_report_data


def chart_rows(chart: alt.TopLevelMixin) -> list[dict]:
    """The rows a chart draws (its one inline data set)."""
    spec = chart.to_dict()
    (rows,) = spec["datasets"].values()
    return rows


def test_curves_chart_draws_the_curves_table(notebook_run: NotebookRun) -> None:
    table = notebook_run.profile.curves.table
    chart = notebook_run.profile.plot.curves()
    assert isinstance(chart, alt.ConcatChart)  # a panel per perturbation
    drawn = [
        (r["perturbation"], r["metric"], r["severity"], r["estimate"], r["low"], r["high"])
        for r in chart_rows(chart)
    ]
    expected = [
        (r.entry, r.metric, r.severity, r.estimate, r.low, r.high) for r in table.itertuples()
    ]
    assert drawn == expected


def test_charts_are_the_report_figures_of_the_stored_run(notebook_run: NotebookRun) -> None:
    stored = load_report_data(notebook_run.run.store, notebook_run.run.id)
    plot = notebook_run.profile.plot
    pairs = [
        (plot.curves(), figures.sensitivity_curves(stored)),
        (plot.heatmap(), figures.heatmap(stored)),
        (plot.interactions(), figures.interaction_heatmap(stored)),
    ]
    for chart, figure in pairs:
        assert figure is not None
        spec = chart.to_dict()
        assert chart_rows(chart) == figure.rows
        marks = "concat" if "concat" in spec else "layer"
        assert spec[marks] == figure.spec[marks]
        assert spec["params"] == figure.spec["params"]
        assert spec["config"]["range"]["category"] == figures.OKABE_ITO


def test_interactions_chart_has_a_row_per_combination_and_metric(
    notebook_run: NotebookRun,
) -> None:
    table = notebook_run.profile.interactions.table
    rows = chart_rows(notebook_run.profile.plot.interactions())
    assert [(r["scenario"], r["metric"], r["difference"]) for r in rows] == list(
        zip(table["scenario"], table["metric"], table["difference"], strict=True)
    )


def test_breaking_points_need_the_search_and_say_how_to_run_it(
    notebook_run: NotebookRun,
) -> None:
    with pytest.raises(MissingAnalysisError, match=r"run.analyze\(breaking_points=True\)"):
        notebook_run.profile.plot.breaking_points()
    searched = notebook_run.run.analyze(
        regions=False,
        breaking_points=True,
        save=False,
        model=notebook_run.model,
        data=notebook_run.data,
    )
    rows = chart_rows(searched.plot.breaking_points())
    results = searched.extras["breaking_points"].items
    assert {r["perturbation"] for r in rows} == set(results)
    for entry, result in results.items():
        survival = [r["survival"] for r in rows if r["perturbation"] == entry]
        assert survival == result.survival["survival"].tolist()
        assert survival[0] == 1.0
        assert survival == sorted(survival, reverse=True)


def test_a_plan_without_combinations_has_no_interactions_chart(tmp_path) -> None:
    x = np.random.default_rng(2).normal(size=(30, 3))
    run = wince.run(
        CallableAdapter(threshold_model, fingerprint="threshold"),
        ArrayDataset(x, threshold_model(x)),
        {"name": "single", "perturbations": [{"name": "tabular.gaussian_noise"}], "repeats": 1},
        store=str(tmp_path / "s"),
    )
    profile = run.analyze(regions=False)
    assert profile.interactions.table.empty
    with pytest.raises(MissingAnalysisError, match=r"combines no perturbations.*combinations"):
        profile.plot.interactions()
    assert isinstance(profile.plot.heatmap(), alt.LayerChart)
