"""Metrics against independent references (sklearn, scipy, pandas, hand loops).

Outcome frames are built the way the engine builds them (`outcome_columns` per trial, stacked
with scenario/position/trial/sample_index/sample_id/label), but every expected number is
computed from the raw predictions, never from wince's own columns or aggregates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import jensenshannon
from sklearn.metrics import (
    accuracy_score,
    mean_absolute_error,
    root_mean_squared_error,
)

import wince.metrics as metrics_module
from wince.metrics import (
    CLASSIFICATION_METRICS,
    REGRESSION_METRICS,
    bootstrap_weights,
    error_transitions,
    outcome_columns,
    scenario_metrics,
    summarize,
)
from wince.models.base import Predictions

ALL_METRICS = list(CLASSIFICATION_METRICS + REGRESSION_METRICS)
LABEL_METRICS = {"accuracy", "ece", "true_class_prob_change", "mae", "rmse"}


# -- building outcome frames like the engine ---------------------------------------------------
def outcomes_frame(
    scenarios: dict[str, list[Predictions]],
    labels: np.ndarray | None,
    sample_index: np.ndarray | None = None,
) -> pd.DataFrame:
    """Rows as `engine.runner._to_table` lays them out; the first scenario is the baseline."""
    baseline = next(iter(scenarios.values()))[0]
    n = len(baseline)
    index = np.arange(n, dtype=np.int32) if sample_index is None else sample_index
    parts = []
    for position, (scenario, trials) in enumerate(scenarios.items()):
        for trial, predictions in enumerate(trials):
            part = {
                "scenario": scenario,
                "position": np.int32(position),
                "trial": np.int32(trial),
                "sample_index": index,
                "sample_id": [f"s{i}" for i in index],
            }
            if labels is not None:
                part["label"] = labels
            part.update(outcome_columns(predictions, baseline, labels))
            parts.append(pd.DataFrame(part))
    return pd.concat(parts, ignore_index=True)


def random_probabilities(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    return rng.dirichlet(np.full(k, 0.7), size=n)


@dataclass
class Classification:
    labels: np.ndarray
    baseline: np.ndarray  # (n, k) probabilities
    trials: list[np.ndarray]  # per trial (n, k) probabilities of the perturbed scenario
    frame: pd.DataFrame


def classification_case(seed: int, n: int = 80, k: int = 4, n_trials: int = 3) -> Classification:
    rng = np.random.default_rng(seed)
    baseline = random_probabilities(rng, n, k)
    # labels agree with the baseline's top class about 70% of the time
    labels = np.where(rng.random(n) < 0.7, baseline.argmax(1), rng.integers(0, k, n))
    trials = [0.5 * baseline + 0.5 * random_probabilities(rng, n, k) for _ in range(n_trials)]
    frame = outcomes_frame(
        {
            "baseline": [Predictions.from_probabilities(baseline)],
            "noise": [Predictions.from_probabilities(p) for p in trials],
        },
        labels,
    )
    return Classification(labels, baseline, trials, frame)


def table(summary: pd.DataFrame) -> dict[tuple[str, str], pd.Series]:
    return {(r.scenario, r.metric): r for r in summary.itertuples(index=False)}


def ece_reference(confidence: np.ndarray, correct: np.ndarray, bins: int = 15) -> float:
    """Guo et al. (2017): sum over equal-width bins of (bin share) * |accuracy - confidence|."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    total = 0.0
    for b in range(bins):
        low, high = edges[b], edges[b + 1]
        last = b == bins - 1
        in_bin = (confidence >= low) & ((confidence <= high) if last else (confidence < high))
        if in_bin.any():
            share = in_bin.sum() / len(confidence)
            total += share * abs(correct[in_bin].mean() - confidence[in_bin].mean())
    return total


# -- outcome columns ---------------------------------------------------------------------------
def test_outcome_columns_match_hand_computation_for_probabilities():
    base = np.array([[0.7, 0.2, 0.1], [0.1, 0.6, 0.3], [0.3, 0.3, 0.4]])
    pert = np.array([[0.4, 0.5, 0.1], [0.2, 0.7, 0.1], [0.5, 0.1, 0.4]])
    labels = np.array([0, 1, 2])
    columns = outcome_columns(
        Predictions.from_probabilities(pert), Predictions.from_probabilities(base), labels
    )
    assert columns["pred"].tolist() == [1, 1, 0]
    assert columns["baseline_pred"].tolist() == [0, 1, 2]
    assert columns["flipped"].tolist() == [True, False, True]
    assert columns["correct"].tolist() == [False, True, False]
    assert columns["confidence"] == pytest.approx([0.5, 0.7, 0.5])
    assert columns["confidence_delta"] == pytest.approx([0.5 - 0.7, 0.7 - 0.6, 0.5 - 0.4])
    assert columns["true_prob"] == pytest.approx([0.4, 0.7, 0.4])
    assert columns["true_prob_delta"] == pytest.approx([0.4 - 0.7, 0.7 - 0.6, 0.4 - 0.4])


def test_outcome_columns_without_scores_use_unit_confidence_and_hit_probability():
    columns = outcome_columns(
        Predictions.from_labels([1, 0, 2]), Predictions.from_labels([1, 1, 2]), np.array([0, 0, 2])
    )
    assert columns["confidence"].tolist() == [1, 1, 1]
    assert columns["confidence_delta"].tolist() == [0, 0, 0]
    assert columns["true_prob"].tolist() == [0, 1, 1]
    assert columns["true_prob_delta"].tolist() == [0, 1, 0]
    assert columns["flipped"].tolist() == [False, True, False]


def test_outcome_columns_without_labels_omit_the_label_columns():
    classification = outcome_columns(
        Predictions.from_labels([1, 0]), Predictions.from_labels([1, 1]), None
    )
    assert not {"correct", "true_prob", "true_prob_delta"} & set(classification)
    regression = outcome_columns(
        Predictions.from_values([1.0, 2.0]), Predictions.from_values([0.5, 2.5]), None
    )
    assert "abs_error" not in regression


def test_outcome_columns_for_regression_match_hand_computation():
    columns = outcome_columns(
        Predictions.from_values([1.0, 2.0, -1.0]),
        Predictions.from_values([0.5, 2.5, -1.0]),
        np.array([1.5, 1.0, 0.0]),
    )
    assert columns["value_delta"] == pytest.approx([0.5, -0.5, 0.0])
    assert columns["baseline_value"] == pytest.approx([0.5, 2.5, -1.0])
    assert columns["abs_error"] == pytest.approx([0.5, 1.0, 1.0])


# -- point estimates against references --------------------------------------------------------
def test_classification_point_estimates_match_independent_references(seed):
    case = classification_case(seed)
    result = table(summarize(case.frame, ALL_METRICS, n_boot=200, seed=seed))
    n_trials = len(case.trials)
    truth = np.tile(case.labels, n_trials)
    perturbed = np.concatenate(case.trials)
    baseline = np.tile(case.baseline, (n_trials, 1))
    pred, base_pred = perturbed.argmax(1), baseline.argmax(1)
    rows = np.arange(len(truth))

    expected = {
        "accuracy": accuracy_score(truth, pred),
        "flip_rate": np.mean(pred != base_pred),
        "confidence_change": np.mean(perturbed.max(1) - baseline.max(1)),
        "true_class_prob_change": np.mean(perturbed[rows, truth] - baseline[rows, truth]),
        "prediction_shift_jsd": jensenshannon(
            np.bincount(pred, minlength=4),
            np.bincount(case.baseline.argmax(1), minlength=4),
            base=2,
        )
        ** 2,
        "ece": ece_reference(perturbed.max(1), (pred == truth).astype(float)),
    }
    for metric, value in expected.items():
        assert result["noise", metric].value == pytest.approx(value, abs=1e-6), metric

    assert result["baseline", "accuracy"].value == pytest.approx(
        accuracy_score(case.labels, case.baseline.argmax(1))
    )
    assert result["baseline", "ece"].value == pytest.approx(
        ece_reference(case.baseline.max(1), (case.baseline.argmax(1) == case.labels) * 1.0),
        abs=1e-6,
    )
    for metric in ("flip_rate", "confidence_change", "true_class_prob_change"):
        assert result["baseline", metric].value == 0
    assert result["baseline", "prediction_shift_jsd"].value == pytest.approx(0, abs=1e-12)
    assert not any(m in REGRESSION_METRICS for _, m in result)


def test_trials_are_averaged_and_the_point_estimate_is_the_plain_mean_over_outcomes(seed):
    case = classification_case(seed, n_trials=4)
    result = table(summarize(case.frame, ["accuracy", "confidence_change"], n_boot=100))
    per_trial = [accuracy_score(case.labels, p.argmax(1)) for p in case.trials]
    assert result["noise", "accuracy"].value == pytest.approx(np.mean(per_trial))
    noise = case.frame[case.frame["scenario"] == "noise"]
    assert result["noise", "accuracy"].value == pytest.approx(noise["correct"].mean())
    per_sample = np.mean([p.max(1) - case.baseline.max(1) for p in case.trials], axis=0)
    assert result["noise", "confidence_change"].value == pytest.approx(per_sample.mean(), abs=1e-6)
    assert result["noise", "accuracy"].n_trials == 4
    assert result["noise", "accuracy"].n_samples == len(case.labels)


def test_ece_of_a_label_only_model_is_its_error_rate():
    # confidence is 1 for every prediction, so all outcomes sit in the top bin
    labels = np.array([0, 1, 1, 0, 2, 2])
    predictions = Predictions.from_labels([0, 1, 0, 0, 1, 2])
    frame = outcomes_frame({"baseline": [predictions]}, labels)
    result = table(summarize(frame, ["ece", "accuracy"], n_boot=100))
    assert result["baseline", "ece"].value == pytest.approx(2 / 6)
    assert result["baseline", "accuracy"].value == pytest.approx(4 / 6)


@pytest.mark.slow
def test_ece_interval_covers_the_true_calibration_error_though_the_estimate_is_biased():
    # An overconfident binary model: right with probability confidence - 0.05 everywhere,
    # so its true ECE is 0.05 (no bin reaches the clip at 0). At n = 200 the plug-in ECE
    # sits well above 0.05 (seven bins of ~28 samples) and the percentile interval around it
    # covered the truth in 48% of these studies; the bias-corrected interval in 95%.
    truth, studies, covered = 0.05, 60, 0
    for seed in range(studies):
        rng = np.random.default_rng(seed)
        confidence = rng.uniform(0.55, 1.0, 200)  # no ties at 0.5
        right = rng.random(200) < confidence - truth
        first = np.where(right, confidence, 1 - confidence)  # the label is class 0
        predictions = Predictions.from_probabilities(np.column_stack([first, 1 - first]))
        frame = outcomes_frame({"baseline": [predictions]}, np.zeros(200, int))
        estimate = table(summarize(frame, ["ece"], n_boot=400, seed=seed))["baseline", "ece"]
        # confidences are stored as float32
        assert estimate.value == pytest.approx(ece_reference(confidence, right * 1.0), abs=1e-6)
        covered += estimate.low <= truth <= estimate.high
    assert covered / studies >= 0.85


def test_prediction_shift_is_zero_for_equal_and_one_for_disjoint_class_distributions():
    base = Predictions.from_labels([0, 0, 1, 1])
    frame = outcomes_frame(
        {
            "baseline": [base],
            "swap": [Predictions.from_labels([1, 1, 0, 0])],  # same histogram
            "moved": [Predictions.from_labels([2, 2, 3, 3])],  # disjoint support
        },
        None,
    )
    result = table(summarize(frame, ["prediction_shift_jsd"], n_boot=100))
    assert result["swap", "prediction_shift_jsd"].value == pytest.approx(0, abs=1e-12)
    assert result["moved", "prediction_shift_jsd"].value == pytest.approx(1)


# Confidences away from the bin edges (where float32 storage may move a value across), and
# exactly 1.0, which belongs to the top bin.
bin_confidences = st.tuples(st.integers(3, 14), st.floats(0.01, 0.99)).map(
    lambda b: (b[0] + b[1]) / 15
)


@pytest.mark.slow
@settings(max_examples=30, deadline=None)
@given(
    confidence=st.lists(bin_confidences | st.just(1.0), min_size=1, max_size=60).map(np.array),
    data=st.data(),
)
def test_ece_matches_a_loop_reference_for_any_confidences(confidence, data):
    correct = np.array(
        data.draw(st.lists(st.booleans(), min_size=len(confidence), max_size=len(confidence)))
    )
    n = len(confidence)
    frame = pd.DataFrame(
        {
            "scenario": "baseline",
            "trial": 0,
            "sample_index": np.arange(n),
            "pred": np.zeros(n, dtype=np.int32),
            "confidence": confidence.astype(np.float32),
            "correct": correct,
        }
    )
    result = table(summarize(frame, ["ece"], n_boot=0))
    expected = ece_reference(confidence.astype(np.float32).astype(np.float64), correct * 1.0)
    assert result["baseline", "ece"].value == pytest.approx(expected, abs=1e-9)


def test_regression_point_estimates_match_sklearn(seed):
    rng = np.random.default_rng(seed)
    n, n_trials = 70, 3
    labels = rng.normal(5, 2, n)
    baseline = labels + rng.normal(0, 0.5, n)
    trials = [baseline + rng.normal(0, 1.0, n) for _ in range(n_trials)]
    frame = outcomes_frame(
        {
            "baseline": [Predictions.from_values(baseline)],
            "noise": [Predictions.from_values(v) for v in trials],
        },
        labels,
    )
    result = table(summarize(frame, ALL_METRICS, n_boot=200, seed=seed))
    truth, perturbed = np.tile(labels, n_trials), np.concatenate(trials)
    assert result["noise", "mae"].value == pytest.approx(mean_absolute_error(truth, perturbed))
    assert result["noise", "rmse"].value == pytest.approx(root_mean_squared_error(truth, perturbed))
    change = np.mean(np.abs(perturbed - np.tile(baseline, n_trials))) / np.mean(np.abs(baseline))
    assert result["noise", "relative_change"].value == pytest.approx(change)
    assert result["baseline", "mae"].value == pytest.approx(mean_absolute_error(labels, baseline))
    assert result["baseline", "relative_change"].value == 0
    assert not any(m in CLASSIFICATION_METRICS for _, m in result)


# -- labels absent -----------------------------------------------------------------------------
def test_without_labels_label_metrics_are_skipped_and_the_others_computed(seed):
    case = classification_case(seed)
    unlabelled = outcomes_frame(
        {
            "baseline": [Predictions.from_probabilities(case.baseline)],
            "noise": [Predictions.from_probabilities(p) for p in case.trials],
        },
        None,
    )
    labelled = table(summarize(case.frame, ALL_METRICS, n_boot=100, seed=seed))
    result = table(summarize(unlabelled, ALL_METRICS, n_boot=100, seed=seed))
    assert {m for _, m in result} == set(CLASSIFICATION_METRICS) - LABEL_METRICS
    for key, row in result.items():
        assert row == labelled[key]  # same data, same weights: the same estimates

    rng = np.random.default_rng(seed)
    values = rng.normal(size=30)
    regression = outcomes_frame(
        {
            "baseline": [Predictions.from_values(values)],
            "noise": [Predictions.from_values(values + rng.normal(size=30))],
        },
        None,
    )
    assert set(summarize(regression, ALL_METRICS, n_boot=100)["metric"]) == {"relative_change"}


def test_summary_has_its_columns_even_when_no_metric_applies():
    frame = outcomes_frame({"baseline": [Predictions.from_labels([0, 1])]}, None)
    summary = summarize(frame, ["mae", "accuracy"], n_boot=100)
    assert summary.empty
    assert list(summary.columns) == [
        "scenario",
        "metric",
        "value",
        "low",
        "high",
        "n_samples",
        "n_trials",
    ]


def test_scenarios_keep_their_order_of_appearance_and_a_missing_baseline_skips_the_shift():
    base = Predictions.from_labels([0, 1, 1, 0])
    frame = outcomes_frame(
        {"baseline": [base], "zeta": [base], "alpha": [Predictions.from_labels([1, 1, 1, 0])]},
        np.array([0, 1, 1, 1]),
    )
    summary = summarize(frame, ["accuracy", "prediction_shift_jsd"], n_boot=100)
    assert list(dict.fromkeys(summary["scenario"])) == ["baseline", "zeta", "alpha"]
    without_baseline = summarize(
        frame[frame["scenario"] != "baseline"], ["accuracy", "prediction_shift_jsd"], n_boot=100
    )
    assert set(without_baseline["metric"]) == {"accuracy"}


# -- error transitions -------------------------------------------------------------------------
def test_error_transitions_match_a_crosstab_of_flipped_outcomes(seed):
    case = classification_case(seed, n=200, k=5)
    noise = case.frame[case.frame["scenario"] == "noise"]
    base_pred = np.tile(case.baseline.argmax(1), len(case.trials))
    pred = np.concatenate(case.trials).argmax(1)
    flipped = base_pred != pred
    crosstab = pd.crosstab(base_pred[flipped], pred[flipped])
    expected = {
        (int(b), int(p)): int(crosstab.loc[b, p])
        for b in crosstab.index
        for p in crosstab.columns
        if crosstab.loc[b, p] > 0
    }
    transitions = error_transitions(noise)
    assert list(transitions.columns) == ["baseline_pred", "pred", "count"]
    got = {(int(r.baseline_pred), int(r.pred)): int(r.count) for r in transitions.itertuples()}
    assert got == expected
    order = list(
        zip(-transitions["count"], transitions["baseline_pred"], transitions["pred"], strict=True)
    )
    assert order == sorted(order)  # most frequent first, ties by class


def test_error_transitions_are_empty_without_flips_and_refuse_regression_outcomes():
    base = Predictions.from_labels([0, 1])
    frame = outcomes_frame({"baseline": [base]}, None)
    assert error_transitions(frame).empty
    regression = outcomes_frame({"baseline": [Predictions.from_values([1.0, 2.0])]}, None)
    with pytest.raises(ValueError, match="classification"):
        error_transitions(regression)


# -- bootstrap ---------------------------------------------------------------------------------
def test_bootstrap_weights_are_multinomial_counts_summing_to_n(seed):
    weights = bootstrap_weights(37, 250, seed).counts
    assert weights.shape == (250, 37)
    assert np.all(weights.sum(axis=1) == 37)
    assert np.array_equal(weights, bootstrap_weights(37, 250, seed).counts)
    assert not np.array_equal(weights, bootstrap_weights(37, 250, seed + 1).counts)
    # each sample is drawn once per replicate on average
    assert weights.mean() == pytest.approx(1.0)


def test_bootstrap_weights_drawn_and_multiplied_in_blocks_equal_one_dense_draw(monkeypatch):
    """Blocks bound memory (a block of rows expanded to floats at a time); they change nothing:
    the draws are numpy's multinomial stream in order, the products the dense product."""
    n, n_boot, seed = 50, 300, 7
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0xB007,)))
    dense = rng.multinomial(n, np.full(n, 1 / n), size=n_boot)
    values = np.random.default_rng(1).normal(size=(n, 3))
    monkeypatch.setattr(metrics_module, "_PRODUCT_BLOCK_BYTES", 8 * n * 7)  # 7 rows a block
    blocked = bootstrap_weights(n, n_boot, seed)
    assert blocked.counts.dtype == np.uint8
    assert np.array_equal(blocked.counts, dense)
    np.testing.assert_allclose(blocked.dot(values), dense @ values, rtol=1e-12)
    np.testing.assert_allclose(blocked.dot(values[:, 0]), dense @ values[:, 0], rtol=1e-12)


def test_interval_is_the_percentile_interval_of_sample_level_resamples(seed):
    """Reference: resample samples with the same weights, all their trials together."""
    rng = np.random.default_rng(seed)
    n, n_trials = 50, 3
    values = rng.normal(size=(n_trials, n))
    frame = pd.DataFrame(
        {
            "scenario": "noise",
            "trial": np.repeat(np.arange(n_trials), n),
            "sample_index": np.tile(np.arange(n), n_trials),
            "pred": 0,
            "confidence_delta": values.reshape(-1),
        }
    )
    weights = bootstrap_weights(n, 400, seed)
    samples = pd.Index(np.arange(n))
    estimate = scenario_metrics(frame, frame.iloc[:0], ["confidence_change"], weights, samples)[
        "confidence_change"
    ]
    replicates = []
    for row in weights.counts:
        drawn = np.repeat(np.arange(n), row.astype(int))  # sample i drawn row[i] times
        replicates.append(values[:, drawn].mean())
    low, high = np.percentile(replicates, [2.5, 97.5])
    assert estimate.value == pytest.approx(values.mean())
    assert estimate.low == pytest.approx(low)
    assert estimate.high == pytest.approx(high)


def test_interval_resamples_samples_so_repeated_identical_trials_do_not_narrow_it(seed):
    rng = np.random.default_rng(seed)
    n = 120
    labels = rng.integers(0, 3, n)
    probabilities = random_probabilities(rng, n, 3)
    once = outcomes_frame(
        {"baseline": [Predictions.from_probabilities(probabilities)]},
        labels,
    )
    thrice = outcomes_frame(
        {"baseline": [Predictions.from_probabilities(probabilities)] * 3},
        labels,
    )
    metrics = ["accuracy", "ece"]
    a = table(summarize(once, metrics, n_boot=500, seed=seed))
    b = table(summarize(thrice, metrics, n_boot=500, seed=seed))
    for metric in metrics:
        one, three = a["baseline", metric], b["baseline", metric]
        assert three.n_trials == 3
        assert (three.value, three.low, three.high) == pytest.approx((one.value, one.low, one.high))
    accuracy = a["baseline", "accuracy"]
    assert accuracy.low <= accuracy.value <= accuracy.high
    assert accuracy.high - accuracy.low > 0.05  # 120 samples, not 360 outcomes


def coverage(repetitions: int, *, n: int, p: float, n_boot: int, seed: int) -> float:
    """Share of 95% accuracy intervals covering p for Bernoulli(p) correctness.

    Fresh data and fresh resampling weights per repetition; `scenario_metrics` with
    `bootstrap_weights` is exactly what `summarize` does per scenario, minus the grouping.
    """
    samples = pd.Index(np.arange(n))
    covered = 0
    for repetition in range(repetitions):
        rng = np.random.default_rng([seed, repetition])
        frame = pd.DataFrame({"sample_index": np.arange(n), "correct": rng.random(n) < p})
        weights = bootstrap_weights(n, n_boot, seed * 100_003 + repetition)
        accuracy = scenario_metrics(frame, frame.iloc[:0], ["accuracy"], weights, samples)
        covered += int(accuracy["accuracy"].low <= p <= accuracy["accuracy"].high)
    return covered / repetitions


@pytest.mark.slow
def test_accuracy_interval_covers_the_true_rate_about_95_percent_of_the_time(seed):
    # About 3 s. benchmarks/bootstrap_coverage.py repeats this over many seeds: 0.9515 ± 0.0024
    # over 8000 intervals, every one of seeds 0-19 inside 0.95 ± 0.03.
    share = coverage(400, n=200, p=0.3, n_boot=500, seed=seed)
    assert 0.92 <= share <= 0.98


def test_proportion_interval_of_one_trial_per_sample_is_clopper_pearson():
    from scipy.stats import binomtest

    from wince.metrics import proportion_interval

    for events, n in ((0, 94), (1, 50), (7, 200), (200, 200)):
        outcomes = np.r_[np.ones(events), np.zeros(n - events)]
        exact = binomtest(events, n).proportion_ci(confidence_level=0.95, method="exact")
        low, high = proportion_interval(outcomes, np.ones(n))
        assert (low, high) == pytest.approx((exact.low, exact.high), abs=1e-12)


@pytest.mark.slow
def test_zero_flips_get_an_interval_above_zero_in_summaries_and_curves(tmp_path):
    import wince
    from wince.analysis.curves import sensitivity_curves
    from wince.analysis.data import load_run_data

    x = np.random.default_rng(0).normal(size=(94, 2))
    y = (x[:, 0] > 0).astype(int)
    plan = {"name": "untouched", "perturbations": [{"name": "tabular.quantisation"}]}
    run = wince.run(lambda b: (b[:, 0] > 0).astype(int), (x, y), plan, store=str(tmp_path))
    summary = run.summary().set_index(["scenario", "metric"])
    accuracy = summary.loc[("baseline", "accuracy")]
    assert accuracy["value"] == 1.0
    # Clopper-Pearson for 94 of 94: [0.025^(1/94), 1], never [1, 1]
    assert accuracy["low"] == pytest.approx(0.025 ** (1 / 94), abs=1e-9)
    assert accuracy["high"] == 1.0
    curves = sensitivity_curves(load_run_data(run.store, run.id)).table
    flips = curves[curves["metric"] == "flip_rate"]
    zero = flips[flips["estimate"] == 0.0]
    assert len(zero) > 0
    assert zero["high"].tolist() == pytest.approx([1 - 0.025 ** (1 / 94)] * len(zero), abs=1e-9)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(0, 3), min_size=1, max_size=40),
    st.integers(1, 3),
)
def test_proportion_interval_contains_its_share_and_stays_in_the_unit_range(counts, trials):
    from wince.metrics import proportion_interval

    successes = np.minimum(np.asarray(counts, dtype=float), trials)
    low, high = proportion_interval(successes, np.full(len(successes), trials))
    share = successes.sum() / (trials * len(successes))
    assert 0.0 <= low <= share <= high <= 1.0
