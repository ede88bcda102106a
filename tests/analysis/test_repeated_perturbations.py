"""A plan may list one perturbation several times with different parameters: each entry runs.

Before entries had names, the scenarios of a perturbation were keyed by its registry name, so
only the last entry ran, and the profile of the run raised IndexError.
"""

from __future__ import annotations

import numpy as np
import pytest

import wince
from wince.analysis.global_sensitivity import factors_from_plan
from wince.engine.scenarios import expand
from wince.errors import ParameterError, PlanError
from wince.plan import parse_plan


def problems_of(raw):
    with pytest.raises(PlanError) as info:
        parse_plan(raw, source="p.yaml")
    return info.value.problems


def column_plan():
    return {
        "name": "per-column",
        "perturbations": [
            {"name": "tabular.gaussian_noise", "severities": [0.5, 1.0], "params": {"columns": c}}
            for c in (["x0"], ["x1"])
        ],
        "repeats": 2,
        "analysis": {"bootstrap": 200},
    }


@pytest.mark.slow
def test_a_perturbation_listed_once_per_column_runs_both_entries(tmp_path, seed):
    """The model reads x0 only: noise on x0 flips predictions, noise on x1 never does."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(300, 2))
    y = (x[:, 0] > 0).astype(int)
    run = wince.run(
        lambda b: (b[:, 0] > 0).astype(int), (x, y), column_plan(), store=str(tmp_path / "s")
    )
    scenarios = run.scenarios()
    isolation = scenarios[scenarios["kind"] == "isolation"]
    entries = [steps[0]["entry"] for steps in isolation["steps"]]
    x0, x1 = "tabular.gaussian_noise[columns=x0]", "tabular.gaussian_noise[columns=x1]"
    assert entries == [x0, x0, x1, x1]
    entry_of = dict(zip(isolation["scenario"], entries, strict=True))

    summary = run.summary().query("metric == 'flip_rate' and kind == 'isolation'")
    flips = {x0: [], x1: []}
    for scenario, value in zip(summary["scenario"], summary["value"], strict=True):
        flips[entry_of[scenario]].append(value)
    assert min(flips[x0]) > 0.05
    assert flips[x1] == [0.0, 0.0]

    profile = run.analyze(regions=False)
    curves = profile.curves.table
    assert set(curves["entry"]) == {x0, x1}
    assert set(curves["perturbation"]) == {"tabular.gaussian_noise"}
    verdicts = {x0: set(), x1: set()}
    for scenario, verdict in profile.verdicts.scenarios[["scenario", "verdict"]].itertuples(
        index=False
    ):
        verdicts[entry_of[scenario]].add(verdict)
    assert verdicts[x0] == {"fragile"}
    assert "fragile" not in verdicts[x1]
    local = profile.local.set_index(["entry", "metric"])["slope_per_severity"]
    assert local[(x0, "flip_rate")] > 0
    assert local[(x1, "flip_rate")] == 0
    # the plain-language findings say which column each entry perturbs
    text = run.report(tmp_path / "r.md", fmt="markdown").read_text()
    assert "standard deviations on column x0" in text
    assert "standard deviations on column x1" in text
    assert "on every column" not in text


@pytest.mark.slow
def test_casing_lower_and_upper_both_run(tmp_path):
    """A model that reads shouting: upper-casing flips it, lower-casing never does."""
    texts = ["the cat sat on the mat today", "a quiet and calm afternoon walk"] * 20
    labels = np.zeros(len(texts), dtype=int)

    def shouting(batch):
        return np.array([int(sum(c.isupper() for c in t) > 3) for t in batch])

    plan = {
        "name": "casing",
        "perturbations": [
            {"name": "text.casing", "severities": [1.0], "params": {"style": "lower"}},
            {"name": "text.casing", "severities": [1.0], "params": {"style": "upper"}},
        ],
        "repeats": 2,
        "analysis": {"bootstrap": 200},
    }
    run = wince.run(shouting, (texts, labels), plan, store=str(tmp_path / "s"))
    flips = run.summary().query("metric == 'flip_rate' and kind == 'isolation'")
    by_style = {("upper" if "style=upper" in s else "lower"): v
                for s, v in zip(flips["scenario"], flips["value"], strict=True)}  # fmt: skip
    assert by_style["lower"] == 0.0
    assert by_style["upper"] > 0.5
    profile = run.analyze(regions=False)
    assert set(profile.curves.table["entry"]) == {
        "text.casing[style=lower]",
        "text.casing[style=upper]",
    }
    # the report charts and states each entry on its own
    html = run.report(tmp_path / "r.html").read_text()
    assert "text.casing[style=lower]" in html
    assert "text.casing[style=upper]" in html


def test_a_true_duplicate_is_rejected_with_the_entry_it_repeats():
    entry = {"name": "text.casing", "params": {"style": "upper"}}
    (problem,) = problems_of({"name": "x", "perturbations": [entry, {**entry, "levels": [2]}]})
    assert problem.startswith("p.yaml perturbations[1]: repeats perturbations[0]")
    assert "same parameters" in problem
    assert "Merge their sweeps" in problem


def test_entries_are_named_by_label_and_combinations_use_the_names():
    plan = parse_plan(
        {
            "name": "x",
            "perturbations": [
                {"name": "text.casing", "label": "shouting", "params": {"style": "upper"}},
                {"name": "text.casing", "params": {"style": "lower"}},
                {"name": "text.typos"},
            ],
            "combinations": [["shouting", "text.typos"]],
        }
    )
    assert plan.labels() == ["shouting", "text.casing[style=lower]", "text.typos"]
    combos = [s for s in expand(plan) if s.kind == "combination"]
    assert combos
    assert {s.entries for s in combos} == {("shouting", "text.typos")}
    assert all(dict(s.steps[0].params) == {"style": "upper"} for s in combos)


def test_a_combination_naming_a_repeated_perturbation_is_ambiguous():
    (problem,) = problems_of(
        {
            "name": "x",
            "perturbations": [
                {"name": "text.casing", "params": {"style": "upper"}},
                {"name": "text.casing", "params": {"style": "lower"}},
                {"name": "text.typos"},
            ],
            "combinations": [["text.casing", "text.typos"]],
        }
    )
    assert "combinations[0]" in problem
    assert "text.casing[style=upper]" in problem


def test_labels_must_be_unique():
    (problem,) = problems_of(
        {
            "name": "x",
            "perturbations": [
                {"name": "text.casing", "label": "case"},
                {"name": "text.typos", "label": "case"},
            ],
        }
    )
    assert "perturbations[1]" in problem
    assert "'case'" in problem


def test_global_sensitivity_refuses_a_repeated_perturbation_by_name():
    plan = parse_plan(column_plan())
    with pytest.raises(ParameterError, match="listed more than once") as info:
        factors_from_plan(plan)
    assert "tabular.gaussian_noise[columns=x1]" in str(info.value)


@pytest.mark.slow
def test_a_plan_global_sensitivity_cannot_take_fails_before_the_breaking_point_search(tmp_path):
    # the refusal came only after minutes of breaking-point searches
    x = np.random.default_rng(0).normal(size=(50, 2))
    calls = []

    def model(batch):
        calls.append(len(batch))
        return (batch[:, 0] > 0).astype(int)

    data = (x, (x[:, 0] > 0).astype(int))
    run = wince.run(model, data, column_plan(), store=str(tmp_path / "s"))
    calls.clear()
    with pytest.raises(ParameterError, match="listed more than once"):
        run.analyze(model=model, data=data, breaking_points=True, global_sensitivity=True)
    assert calls == []


@pytest.mark.slow
def test_report_notes_name_the_plan_entry_of_a_repeated_perturbation(tmp_path):
    # x1 is constant, so noise scaled by its spread changes nothing: the note must say which
    # of the two noise entries did nothing
    x = np.column_stack([np.random.default_rng(1).normal(size=80), np.ones(80)])
    data = (x, (x[:, 0] > 0).astype(int))
    run = wince.run(
        lambda b: (b[:, 0] > 0).astype(int), data, column_plan(), store=str(tmp_path / "s")
    )
    text = run.report(out=tmp_path / "r.md", fmt="markdown", data=data).read_text()
    (line,) = [line for line in text.splitlines() if "changed no input" in line]
    assert "columns=x1" in line
    assert "columns=x0" not in line
