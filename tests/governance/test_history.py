"""`history`: a metric across successive runs of one plan name, checked against plain pandas."""

from __future__ import annotations

import json

import pytest
from rich.console import Console

import wince
from wince.errors import ParameterError, StoreError
from wince.governance.history import history
from wince.governance.reproduce_commands import history_command
from wince.store.store import Store


def plan(model):
    return {
        "name": "cancer-history",
        "model": {"factory": f"wince.demo.models:{model}"},
        "data": {"factory": "wince.demo.models:breast_cancer_data", "limit": 60},
        "perturbations": [{"name": "tabular.gaussian_noise", "severities": [0.5, 1.0]}],
        "repeats": 2,
        "analysis": {"bootstrap": 200},
    }


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    store = Store(root=tmp_path_factory.mktemp("history-store"))
    forest = wince.run(plan=plan("breast_cancer_classifier"), store=store)
    logistic = wince.run(plan=plan("breast_cancer_logistic"), store=store)
    other = {**plan("breast_cancer_logistic"), "name": "another-plan"}
    wince.run(plan=other, store=store)
    return store, [forest, logistic]


def flip_rates(run):
    """Per perturbed scenario: plain mean of `flipped` over its samples and trials."""
    outcomes = run.outcomes()
    kinds = run.scenarios().set_index("scenario")["kind"]
    outcomes = outcomes.assign(scenario=outcomes["scenario"].astype(str))
    perturbed = outcomes[outcomes["scenario"].map(kinds).isin(["isolation", "combination"])]
    return perturbed.groupby("scenario")["flipped"].mean()


def test_history_lists_runs_in_creation_order_with_their_metric(runs):
    store, created = runs
    frame = history(store, "cancer-history", "flip_rate")
    assert frame["run_id"].tolist() == [r.id for r in created]
    assert frame["created_at"].is_monotonic_increasing
    assert frame["model_fingerprint"].nunique() == 2
    for row, run in zip(frame.itertuples(), created, strict=True):
        expected = flip_rates(run)
        assert row.n_scenarios == len(expected) == 2
        assert row.mean == pytest.approx(expected.mean(), abs=1e-12)
        assert row.worst == pytest.approx(expected.max(), abs=1e-12)
        assert row.worst_scenario == expected.idxmax()
        assert row.worst_low <= row.worst <= row.worst_high


def test_accuracy_worst_is_the_lowest(runs):
    store, created = runs
    frame = history(store, "cancer-history", "accuracy")
    outcomes = created[0].outcomes()
    outcomes = outcomes[outcomes["scenario"].astype(str).str.startswith("tabular")]
    accuracy = outcomes.groupby(outcomes["scenario"].astype(str))["correct"].mean()
    assert frame["worst"].iloc[0] == pytest.approx(accuracy.min(), abs=1e-12)


def test_history_command_prints_a_table_and_json(runs):
    store, created = runs
    console = Console(record=True, width=240)
    code = history_command(
        "cancer-history",
        store=str(store.root),
        metric="flip_rate",
        json_output=False,
        console=console,
    )
    text = console.export_text()
    assert code == 0
    assert text.index(created[0].id) < text.index(created[1].id)
    console = Console(record=True, width=240)
    history_command(
        "cancer-history",
        store=str(store.root),
        metric="flip_rate",
        json_output=True,
        console=console,
    )
    payload = json.loads(console.export_text())
    assert [r["run_id"] for r in payload["runs"]] == [r.id for r in created]


def test_unknown_plan_name_or_metric_is_a_usage_error(runs):
    store, _ = runs
    with pytest.raises(StoreError, match="another-plan"):
        history(store, "no-such-plan")
    with pytest.raises(ParameterError, match="flip_rate"):
        history(store, "cancer-history", "flip_rat")
