"""Outcomes read a scenario at a time hold what one read of the whole run holds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import wince
import wince.store.by_scenario as by_scenario
from wince.analysis.profile import analyze_run
from wince.metrics import summarize_run
from wince.store import open_store
from wince.store.by_scenario import ScenarioOutcomes


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A run of 300 samples, two stochastic perturbations at three levels, three repeats."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(3)
    x = rng.normal(size=(300, 4))
    y = (x.sum(axis=1) > 0).astype(int)
    model = LogisticRegression().fit(x, y)
    plan = {
        "name": "by-scenario",
        "perturbations": [
            {"name": "tabular.gaussian_noise", "values": [0.2, 0.6, 1.5]},
            {"name": "tabular.missing_values", "values": [0.1, 0.3, 0.6]},
        ],
        "combinations": "pairwise",
        "repeats": 3,
        "batch_size": 64,
    }
    root = tmp_path_factory.mktemp("store")
    run = wince.run(model, (x, y), plan, store=root)
    return root, run.id


def by_scenario_reads(monkeypatch: pytest.MonkeyPatch, budget: int) -> None:
    """Make `from_store` read every run a scenario at a time, keeping `budget` bytes."""
    monkeypatch.setattr(by_scenario, "WHOLE_RUN", 0)
    monkeypatch.setattr(by_scenario, "BUDGET", budget)


@pytest.mark.slow
def test_each_scenario_read_alone_equals_its_rows_of_the_whole_run(stored, monkeypatch):
    root, run_id = stored
    store = open_store(root)
    whole = store.outcomes(run_id)
    by_scenario_reads(monkeypatch, budget=0)
    outcomes = ScenarioOutcomes.from_store(store, run_id)
    assert list(outcomes.names) == list(dict.fromkeys(whole["scenario"]))
    assert np.array_equal(outcomes.samples, np.arange(300))
    for name, frame in outcomes:
        expected = whole[whole["scenario"] == name].reset_index(drop=True)
        if name != "baseline":  # a perturbed scenario read alone leaves the ids out
            expected = expected.drop(columns="sample_id")
        got = frame.assign(scenario=frame["scenario"].astype(str))
        pd.testing.assert_frame_equal(got, expected, check_dtype=False)


@pytest.mark.slow
def test_frames_beyond_the_budget_are_forgotten_and_read_again(stored, monkeypatch):
    root, run_id = stored
    by_scenario_reads(monkeypatch, budget=1)  # nothing but the baseline and the last read
    outcomes = ScenarioOutcomes.from_store(open_store(root), run_id)
    reads: list[str] = []
    load = outcomes._load
    outcomes._load = lambda name: reads.append(name) or load(name)
    first, second = outcomes.names[2], outcomes.names[3]
    for name in ("baseline", first, second, first, "baseline"):
        outcomes.frame(name)
    assert reads == ["baseline", first, second, first]
    assert set(outcomes._kept) == {"baseline", first}


@pytest.mark.slow
def test_summaries_and_analyses_are_the_same_read_either_way(stored, monkeypatch):
    root, run_id = stored
    store = open_store(root)
    run = wince.api.Run(store, run_id)
    summary = summarize_run(store.outcomes(run_id), run.plan, "classification")
    profile = analyze_run(store, run_id, save=False)
    by_scenario_reads(monkeypatch, budget=1)
    streamed = summarize_run(ScenarioOutcomes.from_store(store, run_id), run.plan, "classification")
    pd.testing.assert_frame_equal(streamed, summary)
    streamed_profile = analyze_run(store, run_id, save=False)
    pd.testing.assert_frame_equal(streamed_profile.curves.table, profile.curves.table)
    pd.testing.assert_frame_equal(streamed_profile.interactions.table, profile.interactions.table)
    pd.testing.assert_frame_equal(streamed_profile.verdicts.scenarios, profile.verdicts.scenarios)
    assert streamed_profile.extras["data_quality"].per_class.equals(
        profile.extras["data_quality"].per_class
    )
