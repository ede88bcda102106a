"""evaluate_gate against runs whose flip rates, accuracy drops and breaking points are known."""

from __future__ import annotations

import numpy as np
import pytest
from governance_support import SHIFT_A, SHIFT_B, key, model_a, run
from scipy import stats

from wince.analysis.profile import analyze_run
from wince.datasets import ArrayDataset
from wince.errors import StoreError
from wince.governance import PolicyError, evaluate_gate
from wince.models import CallableAdapter

A2, A6, B2, B6 = key(SHIFT_A, 0.2), key(SHIFT_A, 0.6), key(SHIFT_B, 0.2), key(SHIFT_B, 0.6)
PAIR2, PAIR6 = f"{A2}+{B2}", f"{A6}+{B6}"


def gate(store, run_id, *rules):
    return evaluate_gate(store, run_id, {"name": "t", "rules": list(rules)})


def outcome(result):
    return dict(zip(result.checks["subject"], result.checks["passed"], strict=True))


def test_max_flip_rate_passes_below_and_fails_above_the_known_rate(runs):
    store, a, _ = runs
    rule = {"check": "max_flip_rate", "max": 0.2, "where": {"perturbation": SHIFT_A}}
    result = gate(store, a, rule)
    assert outcome(result) == {A2: True, A6: False}  # true flip rates 0.10 and 0.30
    assert not result.passed
    assert gate(store, a, {**rule, "max": 0.45}).passed


def test_the_upper_bound_is_strict_and_the_lower_bound_lenient(runs):
    store, a, _ = runs
    # threshold at the true flip rate 0.10 (20 of 200): the interval straddles it
    rule = {"check": "max_flip_rate", "max": 0.10, "where": {"scenario": A2}}
    strict = gate(store, a, rule).checks.iloc[0]
    lenient = gate(store, a, {**rule, "bound": "lower"}).checks.iloc[0]
    assert (strict["bound"], strict["passed"]) == ("upper", False)
    assert (lenient["bound"], lenient["passed"]) == ("lower", True)
    assert strict["compared"] == strict["high"]
    assert lenient["compared"] == lenient["low"]
    assert "upper bound" in strict["message"]
    assert "lower bound" in lenient["message"]
    # the 95% interval is close to the exact (Clopper-Pearson) binomial interval for 20/200
    exact = stats.binomtest(20, 200).proportion_ci(0.95)
    assert strict["low"] == pytest.approx(exact.low, abs=0.02)
    assert strict["high"] == pytest.approx(exact.high, abs=0.02)


def test_max_accuracy_drop_is_the_paired_drop_not_the_flip_rate(runs):
    store, a, _ = runs
    rule = {"check": "max_accuracy_drop", "max": 0.1, "where": {"perturbation": SHIFT_A}}
    result = gate(store, a, rule)
    checks = result.checks.set_index("subject")
    # 0.2 flips 20 samples but 10 of them were wrong before: drop 0; 0.6: drop 0.20
    assert checks.loc[A2, "estimate"] == pytest.approx(0.0)
    assert checks.loc[A6, "estimate"] == pytest.approx(0.20)
    assert outcome(result) == {A2: True, A6: False}
    assert checks.loc[A6, "low"] > 0.1
    assert gate(store, a, {**rule, "max": 0.3}).passed


def test_combinations_are_computed_from_the_run_and_isolations_read_from_curves(runs):
    store, a, _ = runs
    rule = {"check": "max_flip_rate", "max": 0.5}
    before = gate(store, a, rule).checks.set_index("subject")
    assert set(before["source"]) == {"run outcomes"}
    analyze_run(store, a, regions=False)
    after = gate(store, a, rule).checks.set_index("subject")
    assert after.loc[A2, "source"] == "curves"
    assert after.loc[PAIR2, "source"] == "run outcomes"
    # same resampling either way: the stored curve and the computed interval agree
    for column in ("estimate", "low", "high"):
        assert after.loc[A6, column] == pytest.approx(before.loc[A6, column])
    assert after.loc[PAIR6, "estimate"] == pytest.approx(0.30)


def test_wildcards_select_scenarios_by_key_perturbation_kind_and_severity(runs):
    store, a, _ = runs

    def subjects(where):
        rule = {"check": "max_flip_rate", "max": 1.0, "where": where}
        return set(gate(store, a, rule).checks["subject"])

    # `*` spans the `+` of a combination whose key starts with the pattern
    assert subjects({"scenario": "tabular.test_gov_shift_a(*)"}) == {A2, A6, PAIR2, PAIR6}
    assert subjects({"scenario": "tabular.test_gov_shift_a(*)", "kind": "isolation"}) == {A2, A6}
    assert subjects({"scenario": ["*shift_b(shift_x=0.2)", "*=0.6)"]}) == {B2, PAIR2, A6, B6, PAIR6}
    # a perturbation pattern must match every step of a combination
    assert subjects({"perturbation": SHIFT_A}) == {A2, A6}
    assert subjects({"perturbation": "tabular.test_gov_*"}) == {A2, A6, B2, B6, PAIR2, PAIR6}
    assert subjects({"perturbation": "tabular.test_gov_*", "min_severity": 0.5}) == {
        A6,
        B6,
        PAIR6,
    }
    assert subjects({"max_severity": 0.2, "kind": ["combination"]}) == {PAIR2}


def test_a_rule_that_matches_nothing_is_a_policy_error_listing_the_scenarios(runs):
    store, a, _ = runs
    rule = {"name": "typo", "check": "max_flip_rate", "max": 0.1, "where": {"scenario": "jpeg*"}}
    with pytest.raises(PolicyError, match="rule 'typo' matches no scenario") as raised:
        gate(store, a, rule)
    assert A2 in str(raised.value)


def test_no_regression_fails_where_the_run_is_worse_than_the_baseline_by_the_margin(runs):
    store, a, b = runs
    rule = {"check": "no_regression", "baseline": a}
    result = gate(store, b, rule)  # B against baseline A
    assert outcome(result) == {
        "baseline": True,
        A2: True,
        A6: True,
        B2: False,
        B6: False,
        PAIR2: True,
        PAIR6: True,
    }
    failed = result.failures.set_index("subject")
    assert failed.loc[B2, "message"].startswith(
        f"flip_rate worse than baseline run {a} by at least its margin 0.01: run - baseline +0.1000"
    )
    only_a = gate(store, b, {**rule, "where": {"perturbation": SHIFT_A}})
    assert only_a.passed


def test_no_regression_with_a_margin_also_requires_non_inferior_accuracy(runs):
    store, a, b = runs
    rule = {"check": "no_regression", "baseline": a, "margin": 0.05, "where": {"kind": "baseline"}}
    result = gate(store, b, rule)
    assert result.passed  # identical clean predictions: B - A = 0 exactly
    assert result.checks.iloc[0]["compared"] == pytest.approx(0.0)
    worse = gate(store, b, {**rule, "where": {"scenario": B6}}).checks.iloc[0]
    assert not worse["passed"]
    assert "not shown non-inferior" in worse["message"]


def test_max_fragile_counts_the_stored_verdicts(runs):
    store, a, b = runs
    rule = {"check": "max_fragile", "max": 1, "where": {"perturbation": SHIFT_A}}
    with pytest.raises(StoreError, match=f"Run `wince analyze {b}` first"):
        gate(store, b, rule)  # run B is never analysed in this module
    analyze_run(store, a, regions=False)
    # both shift_a scenarios flip 10% and 30% of predictions (tolerance 2%): fragile
    flips = gate(store, a, rule).checks.iloc[0]
    assert (flips["estimate"], flips["passed"]) == (2.0, False)
    assert A2 in flips["message"]
    assert A6 in flips["message"]
    # on accuracy only shift 0.6 is fragile (drop 0.20; at 0.2 the drop is 0)
    on_accuracy = gate(store, a, {**rule, "metric": "accuracy"}).checks.iloc[0]
    assert (on_accuracy["estimate"], on_accuracy["passed"]) == (1.0, True)
    # shift_b never changes model A
    assert gate(store, a, {**rule, "max": 0, "where": {"perturbation": SHIFT_B}}).passed


# ---------------------------------------------------------------------------------------------
# Breaking points: every sample has x0 < 0 and breaks exactly at shift -x0, so the breaking
# severities are uniform on (0, 1) and their median is 0.5.


@pytest.fixture(scope="module")
def breaking_run(shifts, tmp_path_factory):
    n = 200
    x0 = -(np.arange(n) + 0.5) / n
    data = ArrayDataset(np.column_stack([x0, np.zeros(n), np.zeros(n)]), np.zeros(n, int))
    store = str(tmp_path_factory.mktemp("bp"))
    plan = {
        "name": "bp",
        "perturbations": [{"name": SHIFT_A, "values": [0.5]}, {"name": SHIFT_B, "values": [0.5]}],
        "repeats": 1,
    }
    result = run(store, model_a, "bp-model", data=data, plan=plan)
    return result.store, result.id, data


def test_breaking_point_rule_without_the_stored_analysis_names_the_command(runs):
    store, _, b = runs  # run B is never analysed in this module
    rule = {"check": "min_median_breaking_point", "min": 0.3}
    with pytest.raises(StoreError, match=f"Run `wince analyze {b} --breaking-points` first"):
        gate(store, b, rule)


def test_min_median_breaking_point_compares_the_median_interval(breaking_run):
    store, run_id, data = breaking_run
    analyze_run(
        store,
        run_id,
        model=CallableAdapter(model_a, fingerprint="bp-model"),
        data=data,
        regions=False,
        breaking_points=True,
    )

    def check(**rule):
        result = gate(store, run_id, {"check": "min_median_breaking_point", **rule})
        return result.checks.set_index("subject")

    passing = check(min=0.3, where={"perturbation": SHIFT_A})
    row = passing.loc[SHIFT_A]
    assert bool(row["passed"])
    assert row["bound"] == "lower"
    assert row["estimate"] == pytest.approx(0.5, abs=1 / 64 + 0.01)
    assert row["low"] < 0.5 < row["high"] + 1 / 64
    assert not check(min=0.7, where={"perturbation": SHIFT_A}).loc[SHIFT_A, "passed"]
    # at the median itself the strict lower bound fails and the lenient upper bound passes
    assert not check(min=0.5, where={"perturbation": SHIFT_A}).loc[SHIFT_A, "passed"]
    assert check(min=0.5, bound="upper", where={"perturbation": SHIFT_A}).loc[SHIFT_A, "passed"]
    # physical units: shift_x is linear from 0 (off) to 1 (severe), so 0.3 is severity 0.3
    assert check(min_value=0.3, where={"perturbation": SHIFT_A}).loc[SHIFT_A, "threshold"] == 0.3
    # shift_b never changes model A: the median is infinite and passes any minimum
    never = check(min=1.0, where={"perturbation": SHIFT_B}).loc[SHIFT_B]
    assert bool(never["passed"])
    assert np.isinf(never["estimate"])
