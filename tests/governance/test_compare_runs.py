"""compare_runs against oracles: models with known flips, identical models, equal jitter."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from governance_support import PLAN, SHIFT_A, SHIFT_B, grid_data, key, model_a, model_b, run
from scipy import stats

from wince.analysis.data import RunData
from wince.errors import ParameterError, StoreError
from wince.governance import compare_runs
from wince.governance.compare import compare_data, mcnemar_exact
from wince.plan import Plan
from wince.store.by_scenario import ScenarioOutcomes


def verdicts(comparison):
    return dict(zip(comparison.scenarios["scenario"], comparison.scenarios["verdict"], strict=True))


def test_b_is_better_where_a_breaks_and_worse_where_b_breaks(runs):
    store, a, b = runs
    comparison = compare_runs(store, a, b)
    expected = {
        "baseline": "no difference",
        key(SHIFT_A, 0.2): "better",
        key(SHIFT_A, 0.6): "better",
        key(SHIFT_B, 0.2): "worse",
        key(SHIFT_B, 0.6): "worse",
        # each model flips the same samples under its own half of the pair
        f"{key(SHIFT_A, 0.2)}+{key(SHIFT_B, 0.2)}": "no difference",
        f"{key(SHIFT_A, 0.6)}+{key(SHIFT_B, 0.6)}": "no difference",
    }
    assert verdicts(comparison) == expected
    tests = comparison.tests.set_index(["scenario", "metric"])
    # flip rates of A and B are known exactly: 0.30 under a shift of 0.6 for the model it moves
    row = tests.loc[(key(SHIFT_A, 0.6), "flip_rate")]
    assert (row["value_a"], row["value_b"], row["difference"]) == pytest.approx((0.30, 0.0, -0.30))
    assert row["low"] <= -0.30 <= row["high"]
    # accuracy drop 0.20: 50 samples correct under B only, 10 under A only
    row = tests.loc[(key(SHIFT_B, 0.6), "accuracy")]
    assert (row["a_only"], row["b_only"]) == (50, 10)
    assert row["p_value"] == pytest.approx(stats.binomtest(10, 60, 0.5).pvalue)
    assert row["direction"] == "worse"
    # at a shift of 0.2, accuracy does not move (10 gained, 10 lost): McNemar cannot tell,
    # yet the flip rate can, so the scenario is still worse
    row = tests.loc[(key(SHIFT_B, 0.2), "accuracy")]
    assert (row["a_only"], row["b_only"]) == (10, 10)
    assert not row["significant"]
    scenarios = comparison.scenarios.set_index("scenario")
    assert scenarios.loc[key(SHIFT_B, 0.2), "worse_on"] == "flip_rate"


def test_non_inferiority_uses_the_upper_bound_of_the_accuracy_loss(runs):
    store, a, b = runs
    comparison = compare_runs(store, a, b, margins={"accuracy": 0.05})
    scenarios = comparison.scenarios.set_index("scenario")
    # B loses 0.20 accuracy under shift_b(0.6): not non-inferior at any small margin
    assert scenarios.loc[key(SHIFT_B, 0.6), "ni_bound"] > 0.15
    assert scenarios.loc[key(SHIFT_B, 0.6), "non_inferior"] is False
    # B gains 0.20 under shift_a(0.6): non-inferior
    assert scenarios.loc[key(SHIFT_A, 0.6), "non_inferior"] is True
    assert scenarios.loc["baseline", "ni_bound"] == pytest.approx(0.0)
    assert comparison.non_inferior is False


def test_identical_predictions_give_no_difference_everywhere(shifts, tmp_path):
    store = str(tmp_path / "s")
    first = run(store, model_a, "a-1")
    second = run(store, model_a, "a-2")
    assert first.id != second.id
    comparison = compare_runs(first.store, first.id, second.id)
    assert set(comparison.scenarios["verdict"]) == {"no difference"}
    assert (comparison.tests["difference"] == 0).all()
    assert (comparison.tests["p_adjusted"] == 1).all()
    assert comparison.non_inferior is True
    payload = comparison.to_payload()
    assert payload["verdicts"]["no difference"] == len(comparison.scenarios)
    assert "| scenario |" in comparison.to_markdown()


def steady(x):
    """Never changes its prediction; a sharp logistic curve in x0, shifted by column 2."""
    p = 1 / (1 + np.exp(-50 * (x[:, 0] - x[:, 2])))
    return np.column_stack([1 - p, p])


def hesitant(x):
    """The same clean predictions, never flipped: the shifts only pull them towards 1/2."""
    p = 0.5 + (1 / (1 + np.exp(-50 * x[:, 0])) - 0.5) * (1 - x[:, 1] - x[:, 2])
    return np.column_stack([1 - p, p])


def test_verdicts_follow_flip_rate_and_accuracy_not_confidence(shifts, tmp_path):
    plan = {**PLAN, "perturbations": [{"name": n, "values": [0.2]} for n in shifts]}
    plan["combinations"] = "none"
    store = str(tmp_path / "s")
    a = run(store, steady, "steady", plan=plan)
    b = run(store, hesitant, "hesitant", plan=plan)
    comparison = compare_runs(a.store, a.id, b.id)
    assert comparison.decisive == ("flip_rate", "accuracy")
    scenarios = comparison.scenarios.set_index("scenario")
    tests = comparison.tests.set_index(["scenario", "metric"])
    # shift_a: B loses ~10 points of confidence, predicts the same: no difference
    alone = key(SHIFT_A, 0.2)
    assert tests.loc[(alone, "confidence_change"), "difference"] < -0.05
    assert tests.loc[(alone, "confidence_change"), "matters"]
    assert scenarios.loc[alone, "worse_on"] == "confidence_change"
    assert scenarios.loc[alone, "verdict"] == "no difference"
    # shift_b: A flips the 20 samples with x0 in (0, 0.2] to wrong, B keeps them right
    # while losing confidence: better, the confidence loss reported
    mixed = key(SHIFT_B, 0.2)
    assert tests.loc[(mixed, "accuracy"), "difference"] == pytest.approx(0.10)
    assert tests.loc[(mixed, "flip_rate"), "difference"] == pytest.approx(-0.10)
    assert scenarios.loc[mixed, "better_on"] == "accuracy, flip_rate"
    assert scenarios.loc[mixed, "worse_on"] == "confidence_change"
    assert scenarios.loc[mixed, "verdict"] == "better"
    assert "Verdicts follow flip_rate and accuracy" in comparison.to_markdown()


def test_different_data_fingerprints_are_refused(shifts, tmp_path):
    store = str(tmp_path / "s")
    first = run(store, model_a, "m")
    changed = grid_data()
    changed.x[0, 0] += 1e-9
    second = run(store, model_a, "m", data=changed)
    with pytest.raises(StoreError, match="different data"):
        compare_runs(first.store, first.id, second.id)


def test_different_seeds_are_refused(shifts, tmp_path):
    store = str(tmp_path / "s")
    first = run(store, model_a, "m")
    second = run(store, model_a, "m", plan={**PLAN, "seed": 1})
    with pytest.raises(StoreError, match=r"different seeds: plan.seed is 0 \(A\) and 1 \(B\)"):
        compare_runs(first.store, first.id, second.id)


def test_different_scenarios_are_refused_by_name_unless_intersection(shifts, tmp_path):
    store = str(tmp_path / "s")
    first = run(store, model_a, "m")
    smaller = {**PLAN, "perturbations": [{"name": SHIFT_A, "values": [0.2, 0.6]}]}
    second = run(store, model_b, "m2", plan={**smaller, "combinations": "none"})
    with pytest.raises(StoreError, match="different scenarios") as raised:
        compare_runs(first.store, first.id, second.id)
    assert key(SHIFT_B, 0.6) in str(raised.value)
    assert "--intersection" in str(raised.value)
    comparison = compare_runs(first.store, first.id, second.id, intersection=True)
    assert list(comparison.scenarios["scenario"]) == [
        "baseline",
        key(SHIFT_A, 0.2),
        key(SHIFT_A, 0.6),
    ]
    assert key(SHIFT_B, 0.2) in comparison.excluded


def test_a_margin_must_be_positive_and_name_a_compared_metric(runs):
    store, a, b = runs
    with pytest.raises(ParameterError, match=r"margin of accuracy: a positive number") as error:
        compare_runs(store, a, b, margins={"accuracy": -0.01, "acuracy": 0.01})
    assert "margin of 'acuracy': the runs have no such metric" in str(error.value)
    assert "accuracy, flip_rate, confidence_change" in str(error.value)


def test_mcnemar_matches_the_chi_square_free_exact_definition():
    # exact two-sided: 2 * P(X <= min(b, c)) for X ~ Bin(b + c, 1/2), capped at 1
    b, c = 3, 12
    by_hand = min(1.0, 2 * sum(stats.binom.pmf(k, b + c, 0.5) for k in range(min(b, c) + 1)))
    assert mcnemar_exact(b, c) == pytest.approx(by_hand)
    assert mcnemar_exact(0, 0) == 1.0


# ---------------------------------------------------------------------------------------------
# False alarms: two models that are equally good but each flips 10% of its predictions at
# random with its own generator. The runs are simulated (outcomes written directly), so 60
# studies take a second; benchmarks/compare_calibration.py runs 100 through the whole engine.

SCENARIOS = ["baseline", "p(x=1)", "p(x=2)", "q(x=1)", "q(x=2)"]


def jittery_run(rng, truth, run_id, repeats=2):
    """Outcomes of a model correct on `truth`, flipping each call's label with prob. 0.1."""
    n = len(truth)
    frames = []
    base_pred = base_conf = None
    for position, scenario in enumerate(SCENARIOS):
        trials = 1 if scenario == "baseline" else repeats
        for trial in range(trials):
            pred = np.where(rng.random(n) < 0.1, 1 - truth, truth)
            confidence = rng.uniform(0.5, 1.0, n)
            if base_pred is None:
                base_pred, base_conf = pred, confidence
            frames.append(
                pd.DataFrame(
                    {
                        "scenario": scenario,
                        "position": position,
                        "trial": trial,
                        "sample_index": np.arange(n),
                        "pred": pred,
                        "correct": pred == truth,
                        "flipped": pred != base_pred,
                        "confidence": confidence,
                        "confidence_delta": confidence - base_conf,
                    }
                )
            )
    scenario_rows = pd.DataFrame(
        {
            "scenario": SCENARIOS,
            "kind": ["baseline"] + ["isolation"] * 4,
            "severity": [0.0, 0.5, 1.0, 0.5, 1.0],
        }
    )
    plan = Plan.model_validate(
        {"name": "sim", "perturbations": [{"name": "tabular.gaussian_noise"}]}
    )
    return RunData(
        run_id=run_id,
        plan=plan,
        task="classification",
        scenarios=scenario_rows,
        outcomes=ScenarioOutcomes.from_frame(pd.concat(frames, ignore_index=True)),
    )


def test_equal_jittery_models_are_called_different_in_at_most_five_percent_of_studies():
    studies, alarms = 60, 0
    for seed in range(studies):
        truth = np.random.default_rng(10_000 + seed).integers(0, 2, 300)
        a = jittery_run(np.random.default_rng([seed, 1]), truth, "a")
        b = jittery_run(np.random.default_rng([seed, 2]), truth, "b")
        comparison = compare_data(a, b, n_boot=400, seed=seed)
        alarms += bool(set(comparison.scenarios["verdict"]) & {"better", "worse"})
        assert len(comparison.tests) == 1 + 4 * 3  # baseline: accuracy only
    assert alarms / studies <= 0.05


def scripted_run(correct: np.ndarray, run_id: str) -> RunData:
    """A run whose perturbed scenario has `correct` (samples x trials); the baseline all right."""
    n, repeats = correct.shape
    frames = [
        pd.DataFrame(
            {
                "scenario": "baseline",
                "position": 0,
                "trial": 0,
                "sample_index": np.arange(n),
                "pred": np.ones(n, int),
                "correct": True,
                "flipped": False,
                "confidence": 0.9,
                "confidence_delta": 0.0,
            }
        )
    ]
    frames += [
        pd.DataFrame(
            {
                "scenario": "p(x=1)",
                "position": 1,
                "trial": trial,
                "sample_index": np.arange(n),
                "pred": correct[:, trial].astype(int),
                "correct": correct[:, trial],
                "flipped": ~correct[:, trial],
                "confidence": 0.9,
                "confidence_delta": 0.0,
            }
        )
        for trial in range(repeats)
    ]
    scenarios = pd.DataFrame(
        {
            "scenario": ["baseline", "p(x=1)"],
            "kind": ["baseline", "isolation"],
            "severity": [0, 0.5],
        }
    )
    plan = Plan.model_validate(
        {"name": "sim", "perturbations": [{"name": "tabular.gaussian_noise"}]}
    )
    return RunData(
        run_id=run_id,
        plan=plan,
        task="classification",
        scenarios=scenarios,
        outcomes=ScenarioOutcomes.from_frame(pd.concat(frames, ignore_index=True)),
    )


def test_accuracy_over_several_trials_is_tested_on_the_data_of_its_interval():
    # B fixes one of three trials on 20% of the samples: no sample's majority changes, so
    # McNemar on majorities would see no discordant pair (p = 1) beside an interval above 0
    n = 300
    correct_a = np.ones((n, 3), dtype=bool)
    correct_a[: n // 5, 2] = False
    correct_b = np.ones((n, 3), dtype=bool)
    comparison = compare_data(
        scripted_run(correct_a, "a"), scripted_run(correct_b, "b"), n_boot=400, seed=0
    )
    tests = comparison.tests.set_index(["scenario", "metric"])
    accuracy = tests.loc[("p(x=1)", "accuracy")]
    assert accuracy["test"] == "paired bootstrap"
    assert accuracy["difference"] == pytest.approx(0.2 / 3)
    assert accuracy["low"] > 0
    assert accuracy["p_value"] < 0.01
    assert tests.loc[("baseline", "accuracy"), "test"] == "mcnemar exact"  # one trial
