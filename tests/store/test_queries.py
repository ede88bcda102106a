"""Aggregates over many runs computed by DuckDB, against independent references."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from store_support import plan, tabular_data

import wince
from wince.errors import ParameterError
from wince.models import CallableAdapter
from wince.store import Store

Z95 = stats.norm.ppf(0.975)


def noisy_model(x):
    return np.stack([x[:, 0] + 0.3 * x[:, 1], -x[:, 0]], axis=1)


def other_model(x):
    return np.stack([x[:, 0] - 0.5 * x[:, 2], -x[:, 0]], axis=1)


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """A store with two runs of the same plan on two models; their outcomes with run ids."""
    store = Store(root=tmp_path_factory.mktemp("queries"))
    frames = []
    for fn, fingerprint in ((noisy_model, "a"), (other_model, "b")):
        run = wince.run(
            CallableAdapter(fn, fingerprint=fingerprint),
            tabular_data(150),
            plan("queries", repeats=3),
            store=store,
        )
        frames.append(run.outcomes().assign(run_id=run.id))
    yield store, pd.concat(frames, ignore_index=True)
    store.close()


def clustered_reference(outcomes, column, by):
    """Mean and normal interval from per-sample means (equal trials per sample), by scipy."""
    rows = []
    for key, frame in outcomes.groupby(by, observed=True, sort=True):
        means = frame.groupby(["run_id", "sample_index"])[column].mean().to_numpy(float)
        mean, sem = means.mean(), stats.sem(means)
        rows.append((key, len(frame), len(means), mean, mean - Z95 * sem, mean + Z95 * sem))
    return rows


def test_flip_rate_by_scenario_over_two_runs_matches_a_clustered_reference(two_runs):
    store, outcomes = two_runs
    ids = sorted(outcomes["run_id"].unique())
    table = store.aggregate(ids, "flip_rate", by="scenario")
    expected = clustered_reference(outcomes.astype({"scenario": str}), "flipped", "scenario")
    assert table["scenario"].tolist() == [row[0] for row in expected]
    assert table["n"].tolist() == [row[1] for row in expected]
    assert table["n_clusters"].tolist() == [row[2] for row in expected] == [300] * len(expected)
    for column, index in (("mean", 3), ("low", 4), ("high", 5)):
        np.testing.assert_allclose(table[column], [row[index] for row in expected], rtol=1e-9)
    perturbed = table[table["scenario"].str.startswith("tabular.gaussian_noise")]
    assert len(perturbed) == 2
    assert (perturbed["mean"] > 0).all()
    assert (perturbed["high"] - perturbed["low"] > 0).all()


def test_a_continuous_metric_by_run_and_scenario_matches_the_reference(two_runs):
    store, outcomes = two_runs
    ids = sorted(outcomes["run_id"].unique())
    table = store.aggregate(ids, "confidence_change", by=["run_id", "scenario"], level=0.95)
    expected = clustered_reference(
        outcomes.astype({"scenario": str}), "confidence_delta", ["run_id", "scenario"]
    )
    assert list(zip(table["run_id"], table["scenario"], strict=True)) == [r[0] for r in expected]
    np.testing.assert_allclose(table["mean"], [r[3] for r in expected], rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(table["low"], [r[4] for r in expected], rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(table["high"], [r[5] for r in expected], rtol=1e-6, atol=1e-12)


def test_the_wilson_interval_matches_scipy(two_runs):
    store, outcomes = two_runs
    ids = sorted(outcomes["run_id"].unique())
    table = store.aggregate(ids, "accuracy", by="scenario", interval="wilson", where="trial = 0")
    first = outcomes[outcomes["trial"] == 0].astype({"scenario": str})
    for row in table.itertuples():
        correct = first.loc[first["scenario"] == row.scenario, "correct"]
        interval = stats.binomtest(int(correct.sum()), len(correct)).proportion_ci(
            confidence_level=0.95, method="wilson"
        )
        assert row.n == len(correct) == 300
        assert row.mean == pytest.approx(correct.mean(), rel=1e-12)
        assert (row.low, row.high) == pytest.approx((interval.low, interval.high), rel=1e-9)


def test_one_group_for_no_grouping_columns(two_runs):
    store, outcomes = two_runs
    table = store.aggregate(sorted(outcomes["run_id"].unique()), "flipped", by=[])
    assert table["n"].tolist() == [len(outcomes)]
    assert table["mean"].iloc[0] == pytest.approx(outcomes["flipped"].mean(), rel=1e-12)


@pytest.mark.parametrize(
    ("metric", "options", "message"),
    [
        ("ece", {}, "not a mean metric or numeric outcome column.*flip_rate"),
        ("sample_id", {}, "not a mean metric"),
        ("flip_rate", {"by": "colour"}, "cannot group by 'colour'"),
        ("flip_rate", {"interval": "exact"}, "interval must be one of normal, wilson"),
        ("flip_rate", {"level": 95}, r"level must be in \(0, 1\)"),
        ("confidence_change", {"interval": "wilson"}, "Wilson interval is for 0/1 metrics"),
    ],
)
def test_bad_aggregates_say_what_to_use(two_runs, metric, options, message):
    store, outcomes = two_runs
    with pytest.raises(ParameterError, match=message):
        store.aggregate(sorted(outcomes["run_id"].unique()), metric, **options)


def test_outcomes_can_be_read_column_by_column(two_runs):
    store, outcomes = two_runs
    run_id = outcomes["run_id"].iloc[0]
    picked = store.outcomes(run_id, columns=["scenario", "flipped"], where="trial = 1")
    full = store.outcomes(run_id, where="trial = 1")
    assert list(picked.columns) == ["scenario", "flipped"]
    pd.testing.assert_frame_equal(picked, full[["scenario", "flipped"]])
