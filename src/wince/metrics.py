"""Per-sample outcomes and aggregate metrics with bootstrap 95% intervals.

An outcome is one sample's prediction under one trial, with its deltas against the
baseline prediction of the same sample. Aggregates resample *samples* (a sample's trials stay
together), so intervals reflect the population of inputs, not the number of outcomes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from wince.models.base import Predictions

CLASSIFICATION_METRICS = (
    "accuracy",
    "flip_rate",
    "confidence_change",
    "true_class_prob_change",
    "prediction_shift_jsd",
    "ece",
)
REGRESSION_METRICS = ("mae", "rmse", "relative_change")
ECE_BINS = 15

FloatArray = npt.NDArray[np.float64]


def outcome_columns(
    predictions: Predictions,
    baseline: Predictions,
    labels: npt.NDArray[np.int64] | npt.NDArray[np.float64] | None,
) -> dict[str, npt.NDArray[np.generic]]:
    """Per-sample outcome columns of one trial against the baseline.

    Classification columns: `pred`, `confidence` (top probability), `true_prob` (probability
    of the labelled class), `correct`, `flipped` (pred differs from the baseline pred),
    `confidence_delta` and `true_prob_delta` (perturbed minus baseline). Without scores,
    confidence is 1. Regression columns: `value`, `value_delta`, `abs_error`.
    Columns that need labels (`correct`, `true_prob`, `true_prob_delta`, `abs_error`) are
    absent when there are none.
    """
    n = len(predictions)
    if predictions.values is not None:
        assert baseline.values is not None
        values: dict[str, npt.NDArray[np.generic]] = {
            "value": predictions.values,
            "value_delta": predictions.values - baseline.values,
            "baseline_value": baseline.values,
        }
        if labels is not None:
            values["abs_error"] = np.abs(predictions.values - labels.astype(np.float64))
        return values
    assert predictions.labels is not None and baseline.labels is not None
    pred, base = predictions.labels, baseline.labels

    def top(p: Predictions) -> FloatArray:
        if p.scores is None:
            return np.ones(n)
        return p.scores[np.arange(n), p.labels]  # type: ignore[index]

    confidence = top(predictions)
    columns = {
        "pred": pred.astype(np.int32),
        "baseline_pred": base.astype(np.int32),
        "confidence": confidence.astype(np.float32),
        "flipped": pred != base,
        "confidence_delta": (confidence - top(baseline)).astype(np.float32),
    }
    if labels is not None:
        truth = labels.astype(np.intp)

        def true_prob(p: Predictions) -> FloatArray:
            if p.scores is None:
                return (p.labels == truth).astype(np.float64)
            return p.scores[np.arange(n), truth]

        probability = true_prob(predictions)
        columns["correct"] = pred == truth
        columns["true_prob"] = probability.astype(np.float32)
        columns["true_prob_delta"] = (probability - true_prob(baseline)).astype(np.float32)
    return columns


@dataclass(frozen=True)
class Estimate:
    """A metric value with its 95% bootstrap interval."""

    value: float
    low: float
    high: float


def bootstrap_weights(n_samples: int, n_boot: int, seed: int) -> FloatArray:
    """Multinomial resampling weights (n_boot, n_samples); each row sums to n_samples."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0xB007,)))
    return rng.multinomial(n_samples, np.full(n_samples, 1.0 / n_samples), size=n_boot).astype(
        np.float64
    )


def _js_divergence(p: FloatArray, q: FloatArray) -> FloatArray:
    """Jensen-Shannon divergence (base 2, in [0, 1]) between rows of p and q (or a vector q)."""
    p = p / p.sum(axis=-1, keepdims=True)
    q = q / q.sum(axis=-1, keepdims=True)
    m = (p + q) / 2

    def kl(a: FloatArray, b: FloatArray) -> FloatArray:
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(a > 0, a * np.log2(a / b), 0.0)
        return terms.sum(axis=-1)

    return 0.5 * kl(p, m) + 0.5 * kl(q, m)


def _per_sample(frame: pd.DataFrame, column: str, samples: pd.Index) -> FloatArray:
    """Sum of `column` per sample over trials, aligned to `samples` (0 where absent)."""
    sums = frame.groupby("sample_index", sort=False)[column].sum()
    return sums.reindex(samples, fill_value=0.0).to_numpy(np.float64)


def scenario_metrics(
    frame: pd.DataFrame,
    baseline: pd.DataFrame,
    metrics: Sequence[str],
    weights: FloatArray,
    samples: pd.Index,
) -> dict[str, Estimate]:
    """Metrics of one scenario's outcomes with intervals from shared bootstrap weights.

    Args:
        frame: outcomes of the scenario (all its trials).
        baseline: outcomes of the baseline (one trial).
        metrics: metric names to compute (those not applicable to the task are skipped).
        weights: (n_boot, n_samples) resampling weights over `samples`.
        samples: sample indices in the order of the weight columns.
    """
    counts = _per_sample(frame.assign(_one=1.0), "_one", samples)
    full = np.ones((1, len(samples)))
    both = np.vstack([full, weights])
    denominator = both @ counts
    results: dict[str, Estimate] = {}

    def mean_of(column: str) -> FloatArray:
        return (both @ _per_sample(frame, column, samples)) / denominator

    regression = "value" in frame.columns
    needs = {"accuracy": "correct", "true_class_prob_change": "true_prob_delta", "ece": "correct",
             "mae": "abs_error", "rmse": "abs_error"}
    for metric in metrics:
        if metric in needs and needs[metric] not in frame.columns:
            continue
        if regression and metric in REGRESSION_METRICS:
            if metric == "mae":
                values = mean_of("abs_error")
            elif metric == "rmse":
                squared = frame.assign(_sq=frame["abs_error"].to_numpy() ** 2)
                values = np.sqrt((both @ _per_sample(squared, "_sq", samples)) / denominator)
            else:
                absolute = frame.assign(
                    _d=np.abs(frame["value_delta"]), _b=np.abs(frame["baseline_value"])
                )
                values = (both @ _per_sample(absolute, "_d", samples)) / (
                    both @ _per_sample(absolute, "_b", samples)
                )
        elif not regression and metric in CLASSIFICATION_METRICS:
            if metric == "accuracy":
                values = mean_of("correct")
            elif metric == "flip_rate":
                values = mean_of("flipped")
            elif metric == "confidence_change":
                values = mean_of("confidence_delta")
            elif metric == "true_class_prob_change":
                values = mean_of("true_prob_delta")
            elif metric == "ece":
                values = _ece(frame, both, samples, denominator)
            else:
                values = _prediction_shift(frame, baseline, both, samples)
        else:
            continue
        point, replicates = values[0], values[1:]
        replicates = replicates[np.isfinite(replicates)]
        low, high = (
            np.percentile(replicates, [2.5, 97.5]) if len(replicates) else (np.nan, np.nan)
        )
        results[metric] = Estimate(float(point), float(low), float(high))
    return results


def _ece(frame: pd.DataFrame, both: FloatArray, samples: pd.Index, total: FloatArray) -> FloatArray:
    """Expected calibration error with 15 equal-width confidence bins, per weight row."""
    confidence = frame["confidence"].to_numpy(np.float64)
    gap = frame["correct"].to_numpy(np.float64) - confidence
    bins = np.minimum((confidence * ECE_BINS).astype(int), ECE_BINS - 1)
    ece = np.zeros(both.shape[0])
    for b in np.unique(bins):
        in_bin = frame.assign(_g=np.where(bins == b, gap, 0.0))
        ece += np.abs(both @ _per_sample(in_bin, "_g", samples))
    return ece / total


def _prediction_shift(
    frame: pd.DataFrame, baseline: pd.DataFrame, both: FloatArray, samples: pd.Index
) -> FloatArray:
    """JS divergence between the baseline's and the scenario's predicted-class distributions."""
    classes = int(max(frame["pred"].max(), baseline["pred"].max())) + 1

    def class_counts(f: pd.DataFrame) -> FloatArray:
        onehot = np.zeros((len(f), classes))
        onehot[np.arange(len(f)), f["pred"].to_numpy()] = 1.0
        per_sample = (
            pd.DataFrame(onehot, index=f["sample_index"].to_numpy())
            .groupby(level=0)
            .sum()
            .reindex(samples, fill_value=0.0)
        )
        return both @ per_sample.to_numpy()

    return _js_divergence(class_counts(frame), class_counts(baseline))


def error_transitions(frame: pd.DataFrame) -> pd.DataFrame:
    """Counts of baseline class -> perturbed class among flipped outcomes, most frequent first."""
    flipped = frame[frame["flipped"]]
    counts = flipped.groupby(["baseline_pred", "pred"]).size().rename("count").reset_index()
    return counts.sort_values("count", ascending=False, ignore_index=True)


def summarize(
    outcomes: pd.DataFrame,
    metrics: Sequence[str],
    *,
    n_boot: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """Scenario x metric table with point estimates and 95% bootstrap intervals.

    Returns:
        One row per (scenario, metric) with columns `scenario`, `metric`, `value`, `low`,
        `high`, `n_samples`, `n_trials`, in the order scenarios appear in `outcomes`.
    """
    samples = pd.Index(np.sort(outcomes["sample_index"].unique()))
    weights = bootstrap_weights(len(samples), n_boot, seed)
    baseline = outcomes[outcomes["scenario"] == "baseline"]
    rows = []
    for scenario, frame in outcomes.groupby("scenario", sort=False):
        for metric, estimate in scenario_metrics(frame, baseline, metrics, weights, samples).items():
            rows.append(
                {
                    "scenario": scenario,
                    "metric": metric,
                    "value": estimate.value,
                    "low": estimate.low,
                    "high": estimate.high,
                    "n_samples": int(frame["sample_index"].nunique()),
                    "n_trials": int(frame["trial"].nunique()),
                }
            )
    return pd.DataFrame(rows)
