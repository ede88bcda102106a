"""Perturbed inputs the model raises on are findings (rejected scenarios), not crashes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import GradientBoostingClassifier

import wince
from wince.errors import ModelError
from wince.models import CallableAdapter
from wince.perturbations.tabular import GaussianNoise

NOISE = {"name": "tabular.gaussian_noise", "levels": [1, 3]}
MISSING = {"name": "tabular.missing_values", "levels": [1, 3]}
NAN_MESSAGE = "ValueError: Input X contains NaN."


def gb_plan(*perturbations, **changes):
    plan = {
        "name": "rejects",
        "perturbations": list(perturbations),
        "combinations": "pairwise",
        "repeats": 2,
        "batch_size": 32,
        "seed": 3,
    }
    return {**plan, **changes}


@pytest.fixture(scope="module")
def cancer():
    """Gradient boosting (which raises on NaN) fitted on half the breast-cancer table."""
    x, y = load_breast_cancer(return_X_y=True)
    model = GradientBoostingClassifier(n_estimators=15, max_depth=2, random_state=0)
    model.fit(x[::2], y[::2])
    return model, x[1::2][:120], y[1::2][:120]


def missing_scenarios(run):
    return sorted(
        s for s in run.store.scenarios(run.id, rejected=True)["scenario"] if "missing" in s
    )


def shared_outcomes(run, keys):
    frame = run.outcomes()
    frame = frame[frame["scenario"].astype(str).isin(keys)].drop(columns="position")
    frame["scenario"] = frame["scenario"].astype(str)
    return frame.sort_values(["scenario", "trial", "sample_index"]).reset_index(drop=True)


def test_gradient_boosting_under_missing_values_completes_with_the_scenario_rejected(
    cancer, tmp_path
):
    model, x, y = cancer
    run = wince.run(model, (x, y), gb_plan(NOISE, MISSING), store=str(tmp_path / "a"))
    assert run.record["status"] == "complete"
    refused = missing_scenarios(run)
    # two isolation levels and two combinations with the noise
    assert len(refused) == 4
    assert sum("+" in s for s in refused) == 2
    assert run.rejected == dict.fromkeys(refused, NAN_MESSAGE)
    table = run.store.rejections(run.id)
    assert table["units"].tolist() == [4] * 4  # 120 samples in units of 32
    assert table["samples"].tolist() == [120] * 4
    assert table["trials"].tolist() == [4 * 2] * 4  # two trials refused in every unit
    # rejected scenarios have no outcomes and are not listed as evaluated
    assert not set(refused) & set(run.outcomes()["scenario"].astype(str))
    assert not set(refused) & set(run.scenarios()["scenario"])
    # the other scenarios are exactly those of a run without missing values
    alone = wince.run(model, (x, y), gb_plan(NOISE), store=str(tmp_path / "b"))
    assert alone.rejected == {}
    keys = list(alone.scenarios()["scenario"])
    assert set(keys) == set(run.scenarios()["scenario"])
    assert len(keys) == 4  # baseline, identity, two noise levels
    pd.testing.assert_frame_equal(shared_outcomes(run, keys), shared_outcomes(alone, keys))
    summary = run.summary()
    assert not set(refused) & set(summary["scenario"])
    accuracy = summary.query("scenario == 'baseline' and metric == 'accuracy'")["value"]
    assert 0.85 < float(accuracy.iloc[0]) <= 1.0


def test_rejections_do_not_depend_on_executor_or_batch_size(cancer, tmp_path):
    model, x, y = cancer
    local = wince.run(model, (x, y), gb_plan(NOISE, MISSING), store=str(tmp_path / "local"))
    process = wince.run(
        model,
        (x, y),
        gb_plan(NOISE, MISSING, batch_size=7),
        store=str(tmp_path / "process"),
        executor="process",
        workers=2,
    )
    assert process.rejected == local.rejected
    assert len(local.rejected) == 4
    assert process.store.rejections(process.id)["units"].tolist() == [18] * 4  # 120 / 7
    keys = list(local.scenarios()["scenario"])
    pd.testing.assert_frame_equal(shared_outcomes(process, keys), shared_outcomes(local, keys))


def nan_refusing(x):
    """Scores from the first feature; raises on any NaN, as many estimators do."""
    if np.isnan(x).any():
        raise ValueError("Input contains NaN.\nA second line of advice.")
    return np.stack([x[:, 0], -x[:, 0]], axis=1)


def table_data(n=60, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    return x, (x[:, 0] < 0).astype(int)


def test_a_scenario_refused_on_some_units_only_is_rejected_and_its_rows_left_out(tmp_path):
    x, y = table_data()
    plan = gb_plan(
        {"name": "tabular.missing_values", "values": [0.02]},
        combinations="none",
        repeats=1,
        batch_size=4,
    )
    run = wince.run(
        CallableAdapter(nan_refusing, fingerprint="m"), (x, y), plan, store=str(tmp_path)
    )
    key = "tabular.missing_values(missing_rate=0.02)"
    assert run.rejected == {key: "ValueError: Input contains NaN."}
    refused = run.store.rejections(run.id).iloc[0]
    everything = run.store.outcomes(run.id, rejected=True)
    partial = everything[everything["scenario"].astype(str) == key]
    # units that held no missing cell were accepted: their rows are stored, not read
    assert 0 < refused["units"] < 15
    assert len(partial) == 60 - refused["samples"] > 0
    assert key not in set(run.outcomes()["scenario"].astype(str))
    flips = run.store.aggregate([run.id], "flip_rate")
    assert key not in set(flips["scenario"].astype(str))
    assert list(run.store.scenarios(run.id, rejected=True)["scenario"]) == [
        "baseline",
        "identity",
        key,
    ]


def test_a_model_failing_on_clean_inputs_still_fails_the_run(tmp_path):
    x, y = table_data()

    def broken(batch):
        raise ValueError("weights not loaded")

    with pytest.raises(ModelError, match=r"scenario baseline.*weights not loaded"):
        wince.run(
            CallableAdapter(broken, fingerprint="broken"),
            (x, y),
            gb_plan(NOISE),
            store=str(tmp_path),
        )
    store = wince.open_store(str(tmp_path))
    assert store.list_runs()["status"].tolist() == ["failed"]


def test_a_model_that_stops_answering_midway_fails_the_run(tmp_path):
    """After refusing a perturbed batch, a model that fails on clean inputs too is broken."""
    x, y = table_data()
    calls = []

    def dying(batch):
        perturbed = not np.isin(batch[:, 0], x[:, 0]).all()
        calls.append("perturbed" if perturbed else "clean")
        if "perturbed" in calls:  # goes down at the first perturbed batch, for good
            raise ConnectionError("endpoint unreachable")
        return np.stack([batch[:, 0], -batch[:, 0]], axis=1)

    with pytest.raises(ModelError, match=r"gaussian_noise.*endpoint unreachable"):
        wince.run(
            CallableAdapter(dying, fingerprint="dying"),
            (x, y),
            gb_plan(NOISE, repeats=1),
            store=str(tmp_path),
            cache=False,
        )
    assert calls[-2:] == ["perturbed", "clean"]  # the refused batch, then the clean re-check
    store = wince.open_store(str(tmp_path))
    assert store.list_runs()["status"].tolist() == ["failed"]


def test_a_failing_perturbation_is_a_bug_and_still_crashes(tmp_path, monkeypatch):
    x, y = table_data()

    def bug(self, *args, **kwargs):
        raise ZeroDivisionError("a bug in wince")

    monkeypatch.setattr(GaussianNoise, "apply", bug)
    with pytest.raises(ZeroDivisionError, match="a bug in wince"):
        wince.run(
            CallableAdapter(nan_refusing, fingerprint="m"),
            (x, y),
            gb_plan(NOISE),
            store=str(tmp_path),
        )


def test_an_interrupted_run_resumes_with_its_rejections(tmp_path):
    x, y = table_data(n=40)
    plan = gb_plan(MISSING, batch_size=10, repeats=1)
    seen = []

    def interrupted(batch):
        seen.append(len(batch))
        if len(seen) == 8:  # in the second of four units
            raise KeyboardInterrupt
        return nan_refusing(batch)

    store = str(tmp_path / "resumed")
    with pytest.raises(KeyboardInterrupt):
        wince.run(CallableAdapter(interrupted, fingerprint="m"), (x, y), plan, store=store)
    first = wince.open_store(store)
    run_id = first.list_runs()["run_id"].iloc[0]
    assert len(first.completed_units(run_id)) == 1
    assert first.rejections(run_id)["units"].tolist() == [1, 1]
    resumed = wince.run(CallableAdapter(nan_refusing, fingerprint="m"), (x, y), plan, store=store)
    whole = wince.run(
        CallableAdapter(nan_refusing, fingerprint="m"), (x, y), plan, store=str(tmp_path / "whole")
    )
    assert resumed.id == run_id
    assert resumed.record["status"] == "complete"
    pd.testing.assert_frame_equal(
        resumed.store.rejections(resumed.id), whole.store.rejections(whole.id)
    )
    assert resumed.store.rejections(resumed.id)["units"].tolist() == [4, 4]


def test_refused_predictions_are_not_cached(tmp_path):
    x, y = table_data()
    refused = []

    def counting(batch):
        if np.isnan(batch).any():
            refused.append(len(batch))
        return nan_refusing(batch)

    cache = tmp_path / "cache"
    plan = gb_plan(MISSING, repeats=1)
    first = wince.run(
        CallableAdapter(counting, fingerprint="m"),
        (x, y),
        plan,
        store=str(tmp_path / "a"),
        cache=cache,
    )
    calls = len(refused)
    assert calls > 0
    second = wince.run(
        CallableAdapter(counting, fingerprint="m"),
        (x, y),
        plan,
        store=str(tmp_path / "b"),
        cache=cache,
    )
    assert len(refused) == 2 * calls  # asked again: nothing was remembered for them
    assert second.rejected == first.rejected != {}


def nan_when_perturbed(batch):
    """Probabilities from column 0, NaN for any sample whose column 1 moved off 0."""
    p = 1 / (1 + np.exp(-batch[:, 0]))
    p = np.where(batch[:, 1] == 0, p, np.nan)
    return np.column_stack([1 - p, p])


def test_nan_outputs_on_perturbed_inputs_are_a_refusal_and_on_clean_inputs_an_error(tmp_path):
    # a model answering NaN was recorded as complete, and `wince show` then crashed on ECE
    x = np.column_stack([np.linspace(-2, 2, 60), np.zeros(60)])
    y = (x[:, 0] > 0).astype(int)

    class Data(wince.datasets.ArrayDataset):
        def context(self):
            ctx = super().context()
            ctx.column_sd[:] = [0.0, 1.0]  # the noise moves column 1 only
            return ctx

    model = CallableAdapter(nan_when_perturbed, fingerprint="nan", output="probabilities")
    run = wince.run(model, Data(x, y), gb_plan(NOISE), store=str(tmp_path / "a"))
    assert run.record["status"] == "complete"
    messages = set(run.rejected.values())
    assert len(run.rejected) == 2
    assert len(messages) == 1
    assert "NaN or infinite class probabilities for 32 of 32 samples" in messages.pop()
    summary = run.summary()
    assert set(summary["scenario"]) == {"baseline", "identity"}
    assert np.isfinite(summary["value"]).all()
    moved = x.copy()
    moved[:, 1] = 1.0  # NaN on the clean inputs themselves
    with pytest.raises(ModelError, match=r"scenario baseline.*NaN or infinite"):
        wince.run(model, Data(moved, y), gb_plan(NOISE), store=str(tmp_path / "b"))
