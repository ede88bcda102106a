"""Per-sample outcomes and aggregate metrics with bootstrap 95% intervals.

An outcome is one sample's prediction under one trial, with its deltas against the
baseline prediction of the same sample. Aggregates resample *samples* (a sample's trials stay
together), so intervals reflect the population of inputs, not the number of outcomes.

Every metric is a ratio of sums over outcomes (or, for ECE and the prediction shift, a
function of such sums), so one scenario's metrics come from a single (samples x columns)
table of per-sample sums: the point estimate uses every sample once, and each bootstrap
replicate is one matrix product of its resampling weights with that table.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
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
# The metrics verdicts test against a tolerance (the keys of a plan's `analysis.tolerance`),
# each the mean of one per-outcome column; `mean_abs_change` is the mean absolute change of a
# regression output, `mae` the change of its absolute error.
VERDICT_METRICS: dict[str, str] = {
    "flip_rate": "flipped",
    "accuracy": "correct",
    "confidence_change": "confidence_delta",
    "true_class_prob_change": "true_prob_delta",
    "mean_abs_change": "abs_value_delta",
    "mae": "abs_error",
}
# which direction of change is harm, for cliffs and verdicts
HARM_SIGN: dict[str, float] = {
    "flip_rate": 1.0,
    "accuracy": -1.0,
    "confidence_change": -1.0,
    "true_class_prob_change": -1.0,
    "mean_abs_change": 1.0,
    "mae": 1.0,
}
ECE_BINS = 15
SUMMARY_COLUMNS = ("scenario", "metric", "value", "low", "high", "n_samples", "n_trials")

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]

# Outcome columns each metric reads; a metric whose columns are absent (no labels, or the
# other task) is skipped.
_NEEDS: dict[str, tuple[str, ...]] = {
    "accuracy": ("correct",),
    "flip_rate": ("flipped",),
    "confidence_change": ("confidence_delta",),
    "true_class_prob_change": ("true_prob_delta",),
    "prediction_shift_jsd": ("pred",),
    "ece": ("correct", "confidence"),
    "mae": ("abs_error",),
    "rmse": ("abs_error",),
    "relative_change": ("value_delta", "baseline_value"),
}


def outcome_columns(
    predictions: Predictions,
    baseline: Predictions,
    labels: npt.NDArray[np.int64] | npt.NDArray[np.float64] | None,
) -> dict[str, npt.NDArray[np.generic]]:
    """Per-sample outcome columns of one trial against the baseline.

    Classification columns: `pred`, `baseline_pred`, `confidence` (top probability),
    `true_prob` (probability of the labelled class), `correct`, `flipped` (pred differs from
    the baseline pred), `confidence_delta` and `true_prob_delta` (perturbed minus baseline).
    Without scores, confidence is 1 and the true-class probability is 1 when correct, else 0.
    Regression columns: `value`, `baseline_value`, `value_delta`, `abs_error`.
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
    assert predictions.labels is not None
    assert baseline.labels is not None
    pred, base = predictions.labels, baseline.labels
    rows = np.arange(n)

    def top(p: Predictions) -> FloatArray:
        if p.scores is None:
            return np.ones(n)
        return np.asarray(p.scores[rows, p.labels], dtype=np.float64)

    confidence = top(predictions)
    columns: dict[str, npt.NDArray[np.generic]] = {
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
                return np.asarray(p.labels == truth, dtype=np.float64)
            return np.asarray(p.scores[rows, truth], dtype=np.float64)

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
    if n_samples == 0:
        return np.zeros((n_boot, 0))
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0xB007,)))
    return rng.multinomial(n_samples, np.full(n_samples, 1.0 / n_samples), size=n_boot).astype(
        np.float64
    )


def _js_divergence(p: FloatArray, q: FloatArray) -> FloatArray:
    """Jensen-Shannon divergence (base 2, in [0, 1]) between rows of p and q (or a vector q)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        p = p / p.sum(axis=-1, keepdims=True)
        q = q / q.sum(axis=-1, keepdims=True)
        m = (p + q) / 2

        def kl(a: FloatArray, b: FloatArray) -> FloatArray:
            terms = np.where(a > 0, a * np.log2(a / b), 0.0)
            return np.asarray(terms.sum(axis=-1), dtype=np.float64)

        # Rows with no mass (a replicate that drew none of the scenario's samples) stay NaN.
        empty = ~(np.isfinite(p).all(axis=-1) & np.isfinite(q).all(axis=-1))
        divergence = 0.5 * kl(p, m) + 0.5 * kl(q, m)
    return np.where(empty, np.nan, divergence)


def _positions(frame: pd.DataFrame, samples: pd.Index) -> IntArray:
    """Column of each outcome's sample in `samples` (-1 for samples not in it)."""
    return np.asarray(samples.get_indexer(frame["sample_index"].to_numpy()), dtype=np.intp)


def _sample_sums(
    position: IntArray,
    n_samples: int,
    values: npt.ArrayLike,
    width: int = 1,
    slot: IntArray | None = None,
) -> FloatArray:
    """Sums of `values` per sample (and per `slot` in [0, width)), shape (n_samples, width)."""
    index = position if slot is None else position * width + slot
    sums = np.bincount(
        index, weights=np.asarray(values, dtype=np.float64), minlength=n_samples * width
    )
    return np.asarray(sums, dtype=np.float64).reshape(n_samples, width)


def _ratio(numerator: FloatArray, denominator: FloatArray) -> FloatArray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(numerator / denominator, dtype=np.float64)


# Metrics that are shares of 0/1 outcomes: their intervals are `proportion_interval`.
PROPORTIONS = ("accuracy", "flip_rate")
# Metrics whose plug-in estimate overestimates the truth (ECE sums absolute values of noisy
# per-bin gaps, and is above 0 for a perfectly calibrated model): their interval is the
# bias-corrected (basic) bootstrap interval, which may sit below the estimate.
BIASED_UPWARDS = ("ece",)


def proportion_interval(
    successes: npt.ArrayLike, trials: npt.ArrayLike, confidence: float = 0.95
) -> tuple[float, float]:
    """Interval of a share of 0/1 outcomes that keeps its coverage for rare and absent events.

    A percentile bootstrap collapses there (zero flips gave [0, 0]; coverage was 67% at a true
    rate of 0.02 and n = 50). This is the Clopper-Pearson interval at an effective sample
    size: the trials of one sample are correlated (repeated seeds of one input), so the
    effective size is the binomial variance over the cluster variance of the share
    (Kish's design effect), between the number of samples and the number of trials; with
    no event (or only events) the trials of a sample count as one, the conservative reading.

    Args:
        successes: events (flips, correct predictions) per sample.
        trials: outcomes per sample (samples with none are left out).
        confidence: the interval's level, in (0, 1).

    Returns:
        (low, high), within [0, 1]; (nan, nan) without outcomes.

    Examples:
        >>> low, high = proportion_interval(np.zeros(94), np.ones(94))
        >>> low, round(high, 4)  # zero events in 94: at most 3.9% at 95%
        (0.0, 0.0385)
    """
    from scipy import stats

    s = np.asarray(successes, dtype=np.float64)
    m = np.asarray(trials, dtype=np.float64)
    present = m > 0
    s, m = s[present], m[present]
    n = len(m)
    if n == 0:
        return (float("nan"), float("nan"))
    share = float(s.sum() / m.sum())
    size = float(n)
    if 0.0 < share < 1.0 and n > 1:
        mean_trials = float(m.mean())
        cluster_variance = float(np.sum((s - share * m) ** 2) / (n * (n - 1) * mean_trials**2))
        if cluster_variance > 0:
            size = share * (1.0 - share) / cluster_variance
        size = float(np.clip(size, n, m.sum())) if cluster_variance > 0 else float(m.sum())
    events = share * size
    tail = (1.0 - confidence) / 2.0
    low = float(stats.beta.ppf(tail, events, size - events + 1)) if events > 0 else 0.0
    high = float(stats.beta.ppf(1.0 - tail, events + 1, size - events)) if events < size else 1.0
    return (low, high)


def _interval(values: FloatArray, *, bias_corrected: bool = False) -> Estimate:
    """Point estimate (first entry) with a 95% interval from the finite replicates.

    The percentile interval (the 2.5-97.5 percentiles of the replicates), or with
    `bias_corrected` the basic bootstrap interval [2 t - q97.5, 2 t - q2.5], clipped at 0: for
    a statistic biased upwards (ECE, an absolute value of noisy sums) the replicates sit above
    the estimate as the estimate sits above the truth, and the percentile interval then
    misses the truth: 48% coverage of a true ECE of 0.05 at n = 200 in simulation, 95% for
    this one. At a perfectly calibrated model (true ECE 0, which the plug-in never reaches) it
    covers 0 only about half the time.
    """
    point, replicates = values[0], values[1:]
    replicates = replicates[np.isfinite(replicates)]
    if len(replicates) == 0:
        return Estimate(float(point), np.nan, np.nan)
    low, high = np.percentile(replicates, [2.5, 97.5])
    if bias_corrected:
        low, high = max(2 * point - high, 0.0), max(2 * point - low, 0.0)
    return Estimate(float(point), float(low), float(high))


def scenario_metrics(
    frame: pd.DataFrame,
    baseline: pd.DataFrame,
    metrics: Sequence[str],
    weights: FloatArray,
    samples: pd.Index,
) -> dict[str, Estimate]:
    """Metrics of one scenario's outcomes with intervals from shared bootstrap weights.

    Each metric is a plain mean over the scenario's outcomes (for ECE and the prediction
    shift, a function of per-bin and per-class means); a bootstrap replicate reweights whole
    samples, all trials of a sample together.

    Args:
        frame: outcomes of the scenario (all its trials).
        baseline: outcomes of the baseline (one trial); only the prediction shift reads it.
        metrics: metric names to compute; those not applicable to the task, or needing
            columns absent from `frame` (labels), are skipped.
        weights: (n_boot, n_samples) resampling weights over `samples`.
        samples: sample indices in the order of the weight columns; outcomes of other
            samples are ignored.

    Raises:
        ValueError: `weights` does not have one column per sample.
    """
    n = len(samples)
    if weights.ndim != 2 or weights.shape[1] != n:
        raise ValueError(
            f"bootstrap weights must have shape (n_boot, {n}), one column per sample; "
            f"got {weights.shape}."
        )
    regression = "value" in frame.columns
    applicable = REGRESSION_METRICS if regression else CLASSIFICATION_METRICS
    wanted = [
        m
        for m in dict.fromkeys(metrics)
        if m in applicable and all(c in frame.columns for c in _NEEDS[m])
    ]
    if "prediction_shift_jsd" in wanted and len(baseline) == 0:
        wanted.remove("prediction_shift_jsd")
    if not wanted:
        return {}

    position = _positions(frame, samples)
    kept = position >= 0
    if not kept.all():
        frame, position = frame[kept], position[kept]

    def column(name: str) -> FloatArray:
        return np.asarray(frame[name].to_numpy(np.float64), dtype=np.float64)

    # Per-sample sums, as named blocks of columns of one (n_samples, m) table.
    blocks: dict[str, FloatArray] = {"count": _sample_sums(position, n, np.ones(len(frame)))}
    simple = {
        "accuracy": "correct",
        "flip_rate": "flipped",
        "confidence_change": "confidence_delta",
        "true_class_prob_change": "true_prob_delta",
        "mae": "abs_error",
    }
    for metric in wanted:
        if metric in simple:
            blocks[metric] = _sample_sums(position, n, column(simple[metric]))
        elif metric == "rmse":
            blocks[metric] = _sample_sums(position, n, column("abs_error") ** 2)
        elif metric == "relative_change":
            blocks["abs_delta"] = _sample_sums(position, n, np.abs(column("value_delta")))
            blocks["abs_baseline"] = _sample_sums(position, n, np.abs(column("baseline_value")))
        elif metric == "ece":
            confidence = column("confidence")
            bins = np.minimum((confidence * ECE_BINS).astype(np.intp), ECE_BINS - 1)
            gap = column("correct") - confidence
            blocks[metric] = _sample_sums(position, n, gap, ECE_BINS, bins)
        else:  # prediction_shift_jsd
            base_position = _positions(baseline, samples)
            base_kept = base_position >= 0
            base_pred = baseline["pred"].to_numpy(np.intp)[base_kept]
            pred = frame["pred"].to_numpy(np.intp)
            classes = int(max(pred.max(initial=0), base_pred.max(initial=0))) + 1
            blocks["classes"] = _sample_sums(position, n, np.ones(len(pred)), classes, pred)
            blocks["baseline_classes"] = _sample_sums(
                base_position[base_kept], n, np.ones(len(base_pred)), classes, base_pred
            )

    names = list(blocks)
    table = np.hstack([blocks[b] for b in names])
    # Row 0: every sample once (the point estimate); rows 1..: bootstrap replicates.
    totals = np.vstack([table.sum(axis=0), weights @ table])
    offsets = np.cumsum([0] + [blocks[b].shape[1] for b in names])
    total = {b: totals[:, offsets[i] : offsets[i + 1]] for i, b in enumerate(names)}
    count = total["count"][:, 0]

    def mean(block: str) -> FloatArray:
        return _ratio(total[block][:, 0], count)

    compute: dict[str, Callable[[], FloatArray]] = {
        "accuracy": lambda: mean("accuracy"),
        "flip_rate": lambda: mean("flip_rate"),
        "confidence_change": lambda: mean("confidence_change"),
        "true_class_prob_change": lambda: mean("true_class_prob_change"),
        "ece": lambda: _ratio(np.abs(total["ece"]).sum(axis=1), count),
        "prediction_shift_jsd": lambda: _js_divergence(total["classes"], total["baseline_classes"]),
        "mae": lambda: mean("mae"),
        "rmse": lambda: np.sqrt(mean("rmse")),
        "relative_change": lambda: _ratio(total["abs_delta"][:, 0], total["abs_baseline"][:, 0]),
    }
    found = {
        metric: _interval(compute[metric](), bias_corrected=metric in BIASED_UPWARDS)
        for metric in wanted
    }
    for metric in PROPORTIONS:
        if metric in found:
            low, high = proportion_interval(blocks[metric][:, 0], blocks["count"][:, 0])
            found[metric] = Estimate(found[metric].value, low, high)
    return found


def error_transitions(frame: pd.DataFrame) -> pd.DataFrame:
    """Counts of baseline class -> perturbed class among flipped outcomes, most frequent first.

    Ties are ordered by baseline class, then perturbed class.

    Raises:
        ValueError: `frame` lacks the classification columns `baseline_pred`, `pred`, `flipped`.
    """
    missing = [c for c in ("baseline_pred", "pred", "flipped") if c not in frame.columns]
    if missing:
        raise ValueError(
            f"error transitions need classification outcomes; columns {missing} are missing."
        )
    flipped = frame[frame["flipped"].to_numpy(bool)]
    counts = flipped.groupby(["baseline_pred", "pred"]).size().rename("count").reset_index()
    counts["count"] = counts["count"].astype(np.int64)
    return counts.sort_values(
        ["count", "baseline_pred", "pred"],
        ascending=[False, True, True],
        kind="stable",
        ignore_index=True,
    )


def summarize(
    outcomes: pd.DataFrame,
    metrics: Sequence[str],
    *,
    n_boot: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """Scenario x metric table with point estimates and 95% intervals.

    All scenarios share the same resampling weights over samples, so their bootstrap
    intervals come from the same populations; accuracy and flip rate, shares of 0/1
    outcomes, get `proportion_interval` instead (it keeps its coverage for rare events), and
    ECE, biased upwards, the bias-corrected bootstrap interval (which may sit below it).

    Returns:
        One row per (scenario, metric) with columns `scenario`, `metric`, `value`, `low`,
        `high`, `n_samples`, `n_trials`, in the order scenarios appear in `outcomes`.
    """
    if len(outcomes) == 0:
        return pd.DataFrame(columns=list(SUMMARY_COLUMNS))
    # Only the columns metrics read: grouping then copies far less (no ids, no scores).
    used = {"scenario", "trial", "sample_index"} | {c for m in _NEEDS.values() for c in m}
    used |= {"value"}
    outcomes = outcomes[[c for c in outcomes.columns if c in used]]
    samples = pd.Index(np.sort(outcomes["sample_index"].unique()))
    weights = bootstrap_weights(len(samples), n_boot, seed)
    baseline = outcomes[outcomes["scenario"] == "baseline"]
    rows: list[tuple[object, ...]] = []
    for scenario, frame in outcomes.groupby("scenario", sort=False, observed=True):
        estimates = scenario_metrics(frame, baseline, metrics, weights, samples)
        n_samples = int(frame["sample_index"].nunique())
        n_trials = int(frame["trial"].nunique())
        rows.extend(
            (scenario, metric, e.value, e.low, e.high, n_samples, n_trials)
            for metric, e in estimates.items()
        )
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))
