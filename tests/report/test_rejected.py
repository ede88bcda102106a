"""Scenarios the model refused are reported under the risks, in plain words."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import GradientBoostingClassifier

import wince
from wince.report import build_report

REFUSAL = "The model refused these inputs: ValueError: Input X contains NaN."


@pytest.fixture(scope="module")
def refused_run(tmp_path_factory):
    """Gradient boosting, which raises on NaN, under noise and missing values."""
    x, y = load_breast_cancer(return_X_y=True)
    model = GradientBoostingClassifier(n_estimators=15, max_depth=2, random_state=0)
    model.fit(x[::2], y[::2])
    plan = {
        "name": "refused",
        "perturbations": [
            {"name": "tabular.gaussian_noise", "levels": [1, 3]},
            {"name": "tabular.missing_values", "levels": [1, 3, 5]},
        ],
        "combinations": "pairwise",
        "batch_size": 50,
    }
    store = str(tmp_path_factory.mktemp("refused"))
    return wince.run(model, (x[1::2][:150], y[1::2][:150]), plan, store=store)


def test_the_html_report_lists_refused_inputs_under_the_risks(refused_run, tmp_path):
    page = refused_run.report(tmp_path / "report.html").read_text()
    summary = page[page.index('<section id="summary">') : page.index('<section id="defences">')]
    risks = summary[summary.index("<h3>Top risks</h3>") : summary.index("<h3>Robust</h3>")]
    assert '<span class="tag refused">refused</span>' in risks
    assert REFUSAL in risks
    # one sentence for the three refused levels and the two refused combinations
    assert risks.count(REFUSAL) == 1
    assert "6% of values missing on every column (and 2 stronger levels), and " in risks
    assert "2 combinations of perturbations, so these scenarios have no results" in risks
    # the headline leads with it: these inputs get no answer at all
    headline = summary[summary.index('<p class="headline') : summary.index("<h3>Top risks</h3>")]
    assert (
        "The model refused some of the perturbed inputs (ValueError: Input X contains NaN): "
        "those scenarios have no results" in headline
    )
    assert "calm" not in headline


def test_markdown_and_json_reports_carry_the_refusal(refused_run):
    report = build_report(refused_run.store, refused_run.id)
    markdown = report.markdown()
    assert "**Inputs the model refused**" in markdown
    assert "Input X contains NaN" in markdown
    summary = json.loads(report.json())["summary"]
    assert len(summary["refused"]) == 1
    assert summary["refused"][0].startswith(REFUSAL)


def test_the_scenarios_that_were_evaluated_are_reported_as_usual(refused_run):
    report = build_report(refused_run.store, refused_run.id)
    curves = report.data.frame("curves")
    scenarios = set(curves["scenario"])
    assert scenarios == {
        "baseline",
        "tabular.gaussian_noise(noise_sd=0.1)",
        "tabular.gaussian_noise(noise_sd=0.3)",
    }
    # every level refused: no curve (a baseline alone would read as "no effect")
    assert set(curves["perturbation"]) == {"tabular.gaussian_noise"}
    flips = curves[curves["metric"] == "flip_rate"].set_index("scenario")["estimate"]
    assert flips["baseline"] == 0.0
    assert np.isfinite(flips.to_numpy(float)).all()
