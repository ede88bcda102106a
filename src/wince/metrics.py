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

import dataclasses
import functools
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa

from wince.models.base import Predictions, SampleContext
from wince.outputs import DETECTIONS_TYPE, MASK_FILL

if TYPE_CHECKING:
    from wince.plan import Plan
    from wince.store.by_scenario import ScenarioOutcomes

CLASSIFICATION_METRICS = (
    "accuracy",
    "flip_rate",
    "confidence_change",
    "true_class_prob_change",
    "prediction_shift_jsd",
    "ece",
)
REGRESSION_METRICS = ("mae", "rmse", "relative_change")
Better = Literal["lower", "higher"]
# A per-sample metric function: (clean predictions, perturbed predictions, labels, context)
# -> one finite number per sample. `labels` are the dataset's labels as the run encodes them
# (class indices, numbers, or the plain forms of `wince.outputs`), None without labels.
PerSample = Callable[[Predictions, Predictions, Any, SampleContext], npt.ArrayLike]
# The practical margin of a comparison (`Metric.margin`) of a metric that sets none.
DEFAULT_MARGIN = 0.01


@dataclass(frozen=True)
class Metric:
    """A per-sample metric: its mean over samples and trials is what wince estimates.

    Every metric is one outcome column (one number per sample and trial), so each gets the
    same treatment: intervals, verdicts against its tolerance, curves, breaking points,
    interactions, global sensitivity, gates, comparisons and the report.

    Attributes:
        name: how plans, tolerances, gates and reports name it.
        column: the outcome column holding its per-sample values.
        better: "lower" (an error, a change) or "higher" (an accuracy, a recall).
        tasks: the tasks whose runs it applies to; empty: any (a declared metric).
        description: what one sample's value means, for reports ("share of samples whose
            predicted class changed").
        unit: the unit of its values; "share" for fractions in [0, 1], shown as percentages.
        proportion: values are 0 or 1, so its interval is the exact binomial one
            (`proportion_interval`).
        needs_labels: computed against the labels; absent from runs without them.
        tolerance: its default tolerance (the largest harmful change of its mean that still
            counts as robust), or None: tested only when the analysis names a tolerance.
        margin: the practical margin of comparisons between two runs (`wince compare`, the
            gate's `no_regression`), in its unit: a difference of its mean smaller than this
            is no difference, however significant. 0.01 (one point of a share) unless set;
            two points for the probability changes.
        function: computes its per-sample values (`PerSample`); None for the classification
            and regression columns `outcome_columns` computes.
        source: "built-in", or where a declared metric comes from ("module:function").
    """

    name: str
    column: str
    better: Better
    description: str
    tasks: tuple[str, ...] = ()
    unit: str = "share"
    proportion: bool = False
    needs_labels: bool = False
    tolerance: float | None = None
    margin: float = DEFAULT_MARGIN
    function: PerSample | None = None
    source: str = "built-in"

    @property
    def harm_sign(self) -> float:
        """+1 when a rise is harm (lower is better), -1 when a fall is."""
        return 1.0 if self.better == "lower" else -1.0

    def declaration(self) -> dict[str, Any]:
        """What a run records of a metric of one's own (`from_declaration` reads it back)."""
        return {
            "name": self.name,
            "function": self.source,
            "better": self.better,
            "tolerance": self.tolerance,
            "unit": self.unit,
            "description": self.description,
            "proportion": self.proportion,
        }

    @classmethod
    def from_declaration(cls, recorded: Mapping[str, Any]) -> Metric:
        """A recorded metric of one's own (`declaration`), its function by path."""
        return declare_metric(
            str(recorded["name"]),
            str(recorded["function"]),
            better=recorded["better"],
            tolerance=recorded.get("tolerance"),
            unit=str(recorded.get("unit", "value")),
            description=recorded.get("description"),
            proportion=bool(recorded.get("proportion", False)),
        )

    def applies_to(self, task: str) -> bool:
        """Whether the metric is measured on runs of `task`."""
        return not self.tasks or task in self.tasks

    def per_sample(
        self,
        clean: Predictions,
        perturbed: Predictions,
        labels: Any,
        context: SampleContext,
    ) -> FloatArray:
        """The metric's value for each sample of a batch, as float64.

        Raises:
            PlanError: the function failed, or did not return one finite number per sample.
        """
        from wince.errors import PlanError

        assert self.function is not None
        n = len(perturbed)
        where = f"metric {self.name!r} ({self.source})"
        try:
            values = np.asarray(self.function(clean, perturbed, labels, context))
        except Exception as error:  # a user's function: any failure is theirs, said plainly
            raise PlanError(f"{where} failed: {type(error).__name__}: {error}") from error
        if values.shape != (n,) or values.dtype.kind not in "fiub":
            raise PlanError(
                f"{where} must return one number per sample ({n}); got shape {values.shape} "
                f"of {values.dtype}."
            )
        values = values.astype(np.float64)
        if not np.isfinite(values).all():
            bad = int(np.argmax(~np.isfinite(values)))
            raise PlanError(
                f"{where} returned NaN or infinity for sample {context.ids[bad]!r}; a metric "
                "gives every sample a finite value (decide what an empty case scores)."
            )
        return values


def _outputs(predictions: Predictions) -> npt.NDArray[Any]:
    assert predictions.outputs is not None
    return predictions.outputs


def _pairwise(
    module: str,
    measure: str,
    against: str,
    key: str | None = None,
    *,
    output_first: bool = False,
    complement: bool = False,
    **options: Any,
) -> PerSample:
    return functools.partial(
        _pairwise_metric, module, measure, against, key, output_first, complement, **options
    )


def _pairwise_metric(
    module: str,
    measure: str,
    against: str,
    key: str | None,
    output_first: bool,
    complement: bool,
    clean: Predictions,
    perturbed: Predictions,
    labels: Any,
    _: Any,
    **options: Any,
) -> FloatArray:
    """`wince.outputs.<module>.<measure>` of the perturbed outputs and a reference ([key]).

    The reference is the labels (`against` "label") or the clean outputs ("clean"). The
    functions take (clean, perturbed) against clean outputs, (predicted, truth) against
    labels, and text ones always (hypotheses, references): `output_first`. `complement`:
    1 minus the value (a share of changes from a share of matches).
    """
    import importlib

    functions = importlib.import_module(f"wince.outputs.{module}")
    outputs = _outputs(perturbed)
    reference = labels if against == "label" else _outputs(clean)
    first_output = output_first or against == "label"
    pair: tuple[Any, Any] = (outputs, reference) if first_output else (reference, outputs)
    if module == "text":
        pair = (list(pair[0]), list(pair[1]))
    found = getattr(functions, measure)(*pair, **options)
    values = np.asarray(found[key] if key is not None else found, dtype=np.float64)
    return 1.0 - values if complement else values


def _text(measure: str, against: str, *, complement: bool = False) -> PerSample:
    return _pairwise("text", measure, against, output_first=True, complement=complement)


def _built_in() -> dict[str, Metric]:
    c, r = ("classification",), ("regression",)
    text, multilabel, detection = ("text",), ("multilabel",), ("detection",)
    segmentation, embedding = ("segmentation",), ("embedding",)
    metrics = [
        Metric("flip_rate", "flipped", "lower", "share of samples whose predicted class "
               "changed", c, proportion=True, tolerance=0.02),
        Metric("accuracy", "correct", "higher", "share of samples classified correctly", c,
               proportion=True, needs_labels=True, tolerance=0.01),
        Metric("confidence_change", "confidence_delta", "higher", "change of the top class "
               "probability", c, unit="probability", margin=0.02),
        Metric("true_class_prob_change", "true_prob_delta", "higher", "change of the "
               "probability of the true class", c, unit="probability", needs_labels=True,
               margin=0.02),
        Metric("mean_abs_change", "abs_value_delta", "lower", "absolute change of the "
               "predicted value", r, unit="output units"),
        Metric("mae", "abs_error", "lower", "absolute error against the label", r,
               unit="output units", needs_labels=True),
        Metric("cer", "cer", "lower", "character error rate against the reference text",
               text, unit="edits per character", needs_labels=True, tolerance=0.01,
               function=_text("character_error_rate", "label")),
        Metric("wer", "wer", "lower", "word error rate against the reference text", text,
               unit="edits per word", needs_labels=True,
               function=_text("word_error_rate", "label")),
        Metric("exact_match", "exact_match", "higher", "share of outputs equal to the "
               "reference text", text, proportion=True, needs_labels=True,
               function=_text("exact_match", "label")),
        Metric("cer_vs_clean", "cer_vs_clean", "lower", "character error rate against the "
               "output on the clean input", text, unit="edits per character", tolerance=0.01,
               function=_text("character_error_rate", "clean")),
        Metric("wer_vs_clean", "wer_vs_clean", "lower", "word error rate against the "
               "output on the clean input", text, unit="edits per word",
               function=_text("word_error_rate", "clean")),
        Metric("output_changed", "output_changed", "lower", "share of samples whose output "
               "text changed", text, proportion=True, tolerance=0.02,
               function=_text("exact_match", "clean", complement=True)),
        Metric("label_flip_rate", "label_flip_rate", "lower", "share of the labels that "
               "changed", multilabel, tolerance=0.01,
               function=_pairwise("multilabel", "label_flip_rate", "clean")),
        Metric("hamming_loss", "hamming_loss", "lower", "share of the labels that are wrong",
               multilabel, needs_labels=True,
               function=_pairwise("multilabel", "hamming_loss", "label")),
        Metric("subset_accuracy", "subset_accuracy", "higher", "share of samples whose "
               "labels are all right", multilabel, proportion=True, needs_labels=True,
               tolerance=0.01, function=_pairwise("multilabel", "subset_accuracy", "label")),
        Metric("objects_lost", "objects_lost", "lower", "share of the objects found on the "
               "clean image that are no longer found", detection, tolerance=0.02,
               function=_pairwise("detection", "detection_changes", "clean", "objects_lost")),
        Metric("objects_gained", "objects_gained", "lower", "objects found that the clean "
               "image did not have", detection, unit="objects per image",
               function=_pairwise("detection", "detection_changes", "clean",
                                  "objects_gained")),
        Metric("class_changed", "class_changed", "lower", "share of the objects found on "
               "the clean image found with another class", detection,
               function=_pairwise("detection", "detection_changes", "clean",
                                  "class_changed")),
        Metric("box_drift", "box_drift", "lower", "1 - IoU of each object's box with its "
               "clean box", detection, unit="1 - IoU",
               function=_pairwise("detection", "detection_changes", "clean", "box_drift")),
        Metric("recall", "recall", "higher", "share of the true objects found", detection,
               needs_labels=True, tolerance=0.02,
               function=_pairwise("detection", "detection_accuracy", "label", "recall")),
        Metric("precision", "precision", "higher", "share of the objects found that are "
               "true", detection, needs_labels=True,
               function=_pairwise("detection", "detection_accuracy", "label", "precision")),
        Metric("pixels_changed", "pixels_changed", "lower", "share of pixels whose class "
               "changed", segmentation, tolerance=0.01,
               function=_pairwise("segmentation", "pixels_changed", "clean",
                                  ignore_index=MASK_FILL)),
        Metric("mean_iou", "mean_iou", "higher", "mean intersection over union of the "
               "classes against the true map", segmentation, unit="IoU", needs_labels=True,
               tolerance=0.01, function=_pairwise("segmentation", "mean_iou", "label",
                                                    ignore_index=MASK_FILL)),
        Metric("cosine_change", "cosine_change", "lower", "1 - cosine similarity with the "
               "clean embedding", embedding, unit="1 - cosine", tolerance=0.01,
               function=_pairwise("embeddings", "cosine_change", "clean")),
        Metric("l2_change", "l2_change", "lower", "distance to the clean embedding relative "
               "to its length", embedding, unit="relative L2",
               function=_pairwise("embeddings", "relative_l2_change", "clean")),
    ]  # fmt: skip
    return {m.name: m for m in metrics}


BUILT_IN_METRICS: dict[str, Metric] = _built_in()
ECE_BINS = 15
SUMMARY_COLUMNS = ("scenario", "metric", "value", "low", "high", "n_samples", "n_trials")

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]

# Outcome columns each summary metric that is not a plain mean reads; a metric whose columns
# are absent (no labels, or the other task) is skipped.
_NEEDS: dict[str, tuple[str, ...]] = {
    "prediction_shift_jsd": ("pred",),
    "ece": ("correct", "confidence"),
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
    absent when there are none. Structured outputs have none of these: their columns are
    their metrics' (`Metric.per_sample`).
    """
    if predictions.outputs is not None:
        return {}
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


# Bytes of float64 weights a product with `Resampling` expands at a time.
_PRODUCT_BLOCK_BYTES = 16 * 2**20


@dataclass(frozen=True)
class Resampling:
    """Bootstrap weights shared by every scenario of a run, so comparisons are paired.

    Multinomial counts over samples, one row per replicate, each row summing to the number of
    samples. They are held as bytes (a sample is drawn a handful of times at most), so 1,000
    replicates of 100,000 samples take 100 MB rather than 800 MB of floats, and products with
    them expand a block of rows at a time (`dot`): memory grows with samples x replicates,
    never with outcomes.

    Attributes:
        counts: (n_boot, n_samples) draws of each sample in each replicate.
    """

    counts: npt.NDArray[np.uint8]

    @property
    def n_boot(self) -> int:
        """Number of bootstrap replicates."""
        return int(self.counts.shape[0])

    @property
    def n_samples(self) -> int:
        """Number of samples resampled."""
        return int(self.counts.shape[1])

    def dot(self, values: npt.ArrayLike) -> FloatArray:
        """`counts @ values` in float64: (n_boot,) or (n_boot, k) for `values` of n_samples rows.

        Rows are the replicates' weighted sums of the samples' values.
        """
        values = np.asarray(values, dtype=np.float64)
        rows = max(1, _PRODUCT_BLOCK_BYTES // (8 * max(self.n_samples, 1)))
        blocks = [
            self.counts[start : start + rows].astype(np.float64) @ values
            for start in range(0, self.n_boot, rows)
        ]
        if not blocks:
            return np.zeros((0, *values.shape[1:]))
        return np.concatenate(blocks)


def bootstrap_weights(
    n_samples: int, n_boot: int, seed: int, stream: tuple[int, ...] = (0xB007,)
) -> Resampling:
    """Deterministic multinomial resampling of `n_samples` samples, `n_boot` replicates.

    The same seed gives the same weights for any number of samples drawn per block. `stream`
    (the seed sequence's spawn key) separates resamplings of one seed: the default is that
    shared by every scenario of a run.

    Raises:
        ValueError: a sample drawn more than 255 times in one replicate (never seen: at one
            draw per sample on average, the chance is below 1e-500).
    """
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=stream))
    counts = np.zeros((n_boot, n_samples), dtype=np.uint8)
    if n_samples == 0:
        return Resampling(counts)
    uniform = np.full(n_samples, 1.0 / n_samples)
    rows = max(1, _PRODUCT_BLOCK_BYTES // (8 * n_samples))
    for start in range(0, n_boot, rows):
        block = rng.multinomial(n_samples, uniform, size=min(rows, n_boot - start))
        if block.max(initial=0) > 255:
            raise ValueError("a bootstrap replicate drew one sample more than 255 times.")
        counts[start : start + len(block)] = block
    return Resampling(counts)


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
    weights: Resampling,
    samples: pd.Index,
    table: Mapping[str, Metric] = BUILT_IN_METRICS,
) -> dict[str, Estimate]:
    """Metrics of one scenario's outcomes with intervals from shared bootstrap weights.

    Each metric is a plain mean over the scenario's outcomes (for ECE and the prediction
    shift, a function of per-bin and per-class means); a bootstrap replicate reweights whole
    samples, all trials of a sample together.

    Args:
        frame: outcomes of the scenario (all its trials).
        baseline: outcomes of the baseline (one trial); only the prediction shift reads it.
        metrics: metric names to compute; those whose columns are absent from `frame` (the
            other task, no labels) are skipped.
        weights: resampling weights over `samples` (`bootstrap_weights`).
        samples: sample indices in the order of the weight columns; outcomes of other
            samples are ignored.
        table: the per-sample metrics by name (`metric_table`): their means.

    Raises:
        ValueError: `weights` does not have one column per sample.
    """
    n = len(samples)
    if weights.n_samples != n:
        raise ValueError(
            f"bootstrap weights must have one column per sample ({n}); got {weights.n_samples}."
        )

    def available(metric: str) -> bool:
        if metric in table:
            return table[metric].column in frame.columns
        return metric in _NEEDS and all(c in frame.columns for c in _NEEDS[metric])

    wanted = [m for m in dict.fromkeys(metrics) if available(m)]
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
    for metric in wanted:
        if metric in table:
            blocks[metric] = _sample_sums(position, n, column(table[metric].column))
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
    sums = np.hstack([blocks[b] for b in names])
    # Row 0: every sample once (the point estimate); rows 1..: bootstrap replicates.
    totals = np.vstack([sums.sum(axis=0), weights.dot(sums)])
    offsets = np.cumsum([0] + [blocks[b].shape[1] for b in names])
    total = {b: totals[:, offsets[i] : offsets[i + 1]] for i, b in enumerate(names)}
    count = total["count"][:, 0]

    def compute(metric: str) -> FloatArray:
        if metric in table:
            return _ratio(total[metric][:, 0], count)
        if metric == "ece":
            return _ratio(np.abs(total["ece"]).sum(axis=1), count)
        if metric == "prediction_shift_jsd":
            return _js_divergence(total["classes"], total["baseline_classes"])
        if metric == "rmse":
            return np.sqrt(_ratio(total["rmse"][:, 0], count))
        return _ratio(total["abs_delta"][:, 0], total["abs_baseline"][:, 0])

    found = {
        metric: _interval(compute(metric), bias_corrected=metric in BIASED_UPWARDS)
        for metric in wanted
    }
    for metric in wanted:
        if metric in table and table[metric].proportion:
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
    outcomes: pd.DataFrame | ScenarioOutcomes,
    metrics: Sequence[str],
    *,
    table: Mapping[str, Metric] = BUILT_IN_METRICS,
    n_boot: int = 1000,
    seed: int = 0,
    scenarios: Collection[str] | None = None,
) -> pd.DataFrame:
    """Scenario x metric table with point estimates and 95% intervals.

    All scenarios share the same resampling weights over samples, so their bootstrap
    intervals come from the same populations; shares of 0/1 outcomes (accuracy, flip rate,
    exact match, ...) get `proportion_interval` instead (it keeps its coverage for rare
    events), and ECE, biased upwards, the bias-corrected bootstrap interval (which may sit
    below it).

    Args:
        outcomes: a run's outcomes: a frame, or by scenario (`ScenarioOutcomes`: one
            scenario in memory at a time).
        metrics: the classification and regression metrics to summarise (a plan's
            `metrics`).
        table: the run's per-sample metrics (`metric_table`); those of structured outputs
            and declared ones are summarised always, after `metrics`.
        n_boot: bootstrap replicates.
        seed: seed of the resampling.
        scenarios: only these scenarios (default all).

    Returns:
        One row per (scenario, metric) with columns `scenario`, `metric`, `value`, `low`,
        `high`, `n_samples`, `n_trials`, in the order scenarios appear in `outcomes`.
    """
    by_scenario = _by_scenario(outcomes)
    if not by_scenario.names:
        return pd.DataFrame(columns=list(SUMMARY_COLUMNS))
    own = [m.name for m in table.values() if m.function is not None or m.source != "built-in"]
    metrics = list(dict.fromkeys([*metrics, *own]))
    samples = pd.Index(by_scenario.samples)
    weights = bootstrap_weights(len(samples), n_boot, seed)
    baseline = by_scenario.frame("baseline") if "baseline" in by_scenario else None
    rows: list[tuple[object, ...]] = []
    for scenario in by_scenario.names:
        if scenarios is not None and scenario not in scenarios:
            continue
        frame = by_scenario.frame(scenario)
        empty = frame.iloc[:0]
        estimates = scenario_metrics(
            frame, empty if baseline is None else baseline, metrics, weights, samples, table
        )
        n_samples = int(frame["sample_index"].nunique())
        n_trials = int(frame["trial"].nunique())
        rows.extend(
            (scenario, metric, e.value, e.low, e.high, n_samples, n_trials)
            for metric, e in estimates.items()
        )
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))


def _by_scenario(outcomes: pd.DataFrame | ScenarioOutcomes) -> ScenarioOutcomes:
    from wince.store.by_scenario import ScenarioOutcomes

    if isinstance(outcomes, ScenarioOutcomes):
        return outcomes
    return ScenarioOutcomes.from_frame(outcomes)


# Metrics registered in Python (`register_metric`), which plans may name in `metrics`.
_REGISTERED: dict[str, Metric] = {}
DECLARED_PREFIX = "metric_"


def declare_metric(
    name: str,
    function: PerSample | str,
    *,
    better: Better,
    tolerance: float | None = None,
    unit: str = "value",
    description: str | None = None,
    proportion: bool = False,
) -> Metric:
    """A metric of your own, computed per sample from the model's outputs.

    Args:
        name: how plans, tolerances, gates and reports name it: lower case letters, digits
            and underscores, not a built-in metric's name.
        function: `fn(clean, perturbed, labels, context) -> one number per sample`, or its
            'module:function' path. `clean` and `perturbed` are the `Predictions` of the same
            samples on the clean and on the perturbed inputs (`labels`, `scores`, `values`
            or `outputs`), `labels` the dataset's labels as the run reads them (None
            without), `context` the samples' `SampleContext` (ids, metadata). It is called
            once per batch and must give each sample a finite value that does not depend
            on the batch's other samples. On the baseline, `perturbed` is `clean`.
        better: "lower" or "higher".
        tolerance: the largest harmful change of its mean that still counts as robust
            (verdicts, cliffs, breaking points), in its own unit; None: tested only when
            an analysis names one.
        unit: the unit of its values ("share" for fractions in [0, 1]).
        description: what one sample's value means, for reports.
        proportion: its values are 0 or 1 (its interval is then the exact binomial one).

    Raises:
        ParameterError: a name that is taken or malformed, `better` not lower or higher, or
            a negative or non-finite tolerance.

    Examples:
        >>> def length_change(clean, perturbed, labels, context):
        ...     return [abs(len(a) - len(b)) for a, b in zip(clean.outputs, perturbed.outputs)]
        >>> metric = declare_metric("length_change", length_change, better="lower",
        ...                         unit="characters")
        >>> metric.column, metric.harm_sign
        ('metric_length_change', 1.0)
    """
    from wince.errors import ParameterError

    problems = metric_name_problems(name)
    if better not in ("lower", "higher"):
        problems.append(f"better must be 'lower' or 'higher'; got {better!r}.")
    if tolerance is not None and not (np.isfinite(tolerance) and tolerance >= 0):
        problems.append(f"tolerance must be a non-negative number; got {tolerance!r}.")
    if problems:
        raise ParameterError(f"metric {name!r}: " + " ".join(problems))
    source = function if isinstance(function, str) else _qualified_name(function)
    return Metric(
        name=name,
        column=DECLARED_PREFIX + name,
        better=better,
        description=description or name.replace("_", " "),
        unit=unit,
        proportion=proportion,
        tolerance=tolerance,
        function=None if isinstance(function, str) else function,
        source=source,
    )


def metric_name_problems(name: object) -> list[str]:
    """Why `name` cannot name a metric of one's own (empty: it can)."""
    import re

    if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9_]{0,39}", name):
        return [
            f"a metric name is 1-40 lower case letters, digits or underscores, starting with a "
            f"letter; got {name!r}."
        ]
    if name in BUILT_IN_METRICS or name in CLASSIFICATION_METRICS + REGRESSION_METRICS:
        return [f"{name!r} is a built-in metric; give yours another name."]
    return []


def _qualified_name(function: Callable[..., Any]) -> str:
    module = getattr(function, "__module__", None) or "?"
    return f"{module}:{getattr(function, '__qualname__', type(function).__name__)}"


def register_metric(metric: Metric) -> Metric:
    """Make a metric of your own (`declare_metric`) one that plans can name in `metrics`.

    A run in worker processes (`--executor process` or `ray`) sends the function to them by
    reference: define it at module level in a module they can import.

    Raises:
        ParameterError: the metric has no function, or another metric has its name.
    """
    from wince.errors import ParameterError

    if metric.function is None:
        raise ParameterError(
            f"metric {metric.name!r}: register a function, not a path; a plan names a path "
            f"itself: metrics: [{{name: {metric.name}, function: '{metric.source}', ...}}]."
        )
    known = _REGISTERED.get(metric.name)
    if known is not None and known != metric:
        raise ParameterError(
            f"metric {metric.name!r} is already registered ({known.source}); choose another name."
        )
    _REGISTERED[metric.name] = metric
    return metric


def registered_metric(name: str) -> Metric | None:
    """The metric registered in Python under `name`, if any."""
    return _REGISTERED.get(name)


def load_function(metric: Metric) -> Metric:
    """The metric with its function imported from its 'module:function' source.

    Raises:
        PlanError: the module or function cannot be imported, or is not callable.
    """
    if metric.function is not None:
        return metric
    from wince.errors import PlanError
    from wince.models.loading import import_object

    function = import_object(metric.source, f"metrics.{metric.name}.function")
    if not callable(function):
        raise PlanError(
            f"metrics.{metric.name}.function: {metric.source!r} is not a function; give "
            "'module:function' of fn(clean, perturbed, labels, context)."
        )
    return dataclasses.replace(metric, function=function)


def metric_table(task: str, declared: Sequence[Metric] = ()) -> dict[str, Metric]:
    """The per-sample metrics of a run of `task`: the built-in ones, then `declared`."""
    table = {m.name: m for m in BUILT_IN_METRICS.values() if m.applies_to(task)}
    table.update((m.name, m) for m in declared)
    return table


def summary_names(plan: Plan) -> list[str]:
    """The classification and regression metrics a plan's `metrics` names."""
    return [m for m in plan.metrics if isinstance(m, str) and registered_metric(m) is None]


def declared_metrics(plan: Plan) -> list[Metric]:
    """The metrics of one's own a plan declares or names (registered), in plan order.

    Declared ones carry their 'module:function' (`load_function` imports it).

    Raises:
        ParameterError: a declaration is invalid (see `declare_metric`).
    """
    found = []
    for m in plan.metrics:
        if isinstance(m, str):
            registered = registered_metric(m)
            if registered is not None:
                found.append(registered)
            continue
        found.append(
            declare_metric(
                m.name,
                m.function,
                better=m.better,
                tolerance=m.tolerance,
                unit=m.unit,
                description=m.description,
                proportion=m.proportion,
            )
        )
    return found


def plan_metric_table(plan: Plan, task: str) -> dict[str, Metric]:
    """The per-sample metrics of a run of `plan` on a model of `task` (`metric_table`)."""
    return metric_table(task, declared_metrics(plan))


def summarize_run(
    outcomes: pd.DataFrame | ScenarioOutcomes, plan: Plan, task: str, *, n_boot: int | None = None
) -> pd.DataFrame:
    """`summarize` a run's outcomes with its plan's metrics and its task's (`metric_table`).

    A detection run adds each scenario's mAP (`detection_map`).
    """
    table = summarize(
        outcomes,
        summary_names(plan),
        table=plan_metric_table(plan, task),
        n_boot=n_boot or plan.analysis.bootstrap,
        seed=plan.seed,
    )
    if task == "detection":
        table = pd.concat([table, detection_map(outcomes)], ignore_index=True)
    return table


def detection_map(outcomes: pd.DataFrame | ScenarioOutcomes) -> pd.DataFrame:
    """Each scenario's COCO mAP@0.5 (`map_50`) and mAP@[.5:.95] (`map_50_95`).

    Every (sample, trial) outcome is one image, its detections scored against the ground
    truth that trial saw (`truth`: moved with the pixels by a geometric perturbation);
    through pycocotools (`wince.outputs.detection.mean_average_precision`). A point estimate:
    its interval is left out (NaN), as a bootstrap would evaluate COCO's matching a thousand
    times per scenario; the per-image `recall` and `precision` carry intervals.

    Returns:
        `SUMMARY_COLUMNS` rows; none without ground truth.
    """
    by_scenario = _by_scenario(outcomes)
    if "truth" not in by_scenario.columns:
        return pd.DataFrame(columns=list(SUMMARY_COLUMNS))
    from wince.outputs import detection, from_arrow

    def decode(column: pd.Series[Any]) -> list[Any]:
        return list(from_arrow(pa.array(column.tolist(), type=DETECTIONS_TYPE)))

    rows = []
    for scenario, frame in by_scenario:
        predicted, truth = decode(frame["output"]), decode(frame["truth"])
        for name, thresholds in detection.IOU_THRESHOLDS.items():
            value = detection.mean_average_precision(predicted, truth, iou_thresholds=thresholds)
            rows.append(
                (
                    scenario,
                    name,
                    value,
                    np.nan,
                    np.nan,
                    int(frame["sample_index"].nunique()),
                    int(frame["trial"].nunique()),
                )
            )
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))


# The headline metric of each task, first available: what reports lead with, breaking points
# search and fragility scores rank by. Against the labels when there are some.
PRIMARY: dict[str, tuple[str, ...]] = {
    "classification": ("flip_rate",),
    "regression": ("mean_abs_change",),
    "text": ("cer", "cer_vs_clean"),
    "multilabel": ("hamming_loss", "label_flip_rate"),
    "detection": ("recall", "objects_lost"),
    "segmentation": ("mean_iou", "pixels_changed"),
    "embedding": ("cosine_change",),
}


def primary_metric(task: str, table: Mapping[str, Metric]) -> Metric | None:
    """The headline metric of a run of `task` among those it holds (`table`), if any."""
    for name in PRIMARY.get(task, ()):
        if name in table:
            return table[name]
    return None
