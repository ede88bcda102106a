"""Monitor live data against a run: output drift, perturbation magnitudes, predicted harm.

`monitor_run` compares a batch of production inputs (and optionally the model's outputs on
them) with the run's reference data:

1. **Output distribution.** Predicted classes (or binned regression values) and top-class
   confidences of the live batch against the run's stored baseline outcomes: population
   stability index (PSI) and Jensen-Shannon divergence (bits).
2. **Magnitudes.** Each known perturbation's magnitude is estimated from the live inputs
   (`wince.monitor.estimate`), in its physical unit.
3. **Predicted degradation.** Each estimate is read off the run's sensitivity curves of that
   perturbation (linear interpolation between sweep points, clamped and flagged outside the
   swept range), one per per-sample metric of the run (flip rate and accuracy, those of
   structured outputs such as the character error rate, the plan's own): the harmful change
   of the metric from the baseline, in its unit. The predicted interval is the envelope of
   the curve's 95% interval over the magnitude's 95% interval, so it carries both
   uncertainties.

Alerts follow a `MonitorPolicy`; the result is stored under the run as the analysis
`monitor/<UTC timestamp>`, so `monitor_history` can report trends.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from wince.datasets.base import ArrayDataset, Dataset, require_one_size
from wince.defences.lineage import run_model
from wince.errors import DataError, StoreError
from wince.metrics import Metric, plan_metric_table
from wince.models.base import Predictions
from wince.monitor.estimate import (
    Estimate,
    exposure_ev,
    image_noise_pct,
    jpeg_quality,
    loudness_change_db,
    not_estimable,
    sharpness_ratio,
    snr_db,
    tabular_drift_sd,
    tabular_noise_sd,
    typo_rate,
)
from wince.monitor.policy import MonitorPolicy, check_change_limits
from wince.perturbations.base import Modality, shape_groups
from wince.plan import DataSpec, Plan
from wince.store.store import Store

FloatArray = npt.NDArray[np.float64]
PREFIX = "monitor/"
EPSILON = 1e-4  # share given to empty bins in PSI and JS, so neither is infinite
CONFIDENCE_BINS = np.linspace(0.0, 1.0, 11)
OUTPUT_SHIFT_TASKS = ("classification", "regression")  # outputs whose distribution is compared
SUFFIX_KIND = {
    ".npz": "npz",
    ".csv": "csv",
    ".parquet": "parquet",
    ".jsonl": "jsonl",
    ".txt": "text",
}


# distribution distances ----------------------------------------------------------------------
def _shares(counts: FloatArray) -> FloatArray:
    p = counts / max(float(counts.sum()), 1.0)
    p = np.maximum(p, EPSILON)
    out: FloatArray = p / p.sum()
    return out


def psi(reference_counts: npt.ArrayLike, live_counts: npt.ArrayLike) -> float:
    """Population stability index between two binned distributions.

    PSI = sum over bins of (p_live - p_ref) * ln(p_live / p_ref), with empty bins given a
    share of 1e-4. Rules of thumb: below 0.1 stable, 0.1-0.25 moderate shift, above 0.25
    major shift.
    """
    p = _shares(np.asarray(reference_counts, dtype=np.float64))
    q = _shares(np.asarray(live_counts, dtype=np.float64))
    return float(np.sum((q - p) * np.log(q / p)))


def js_divergence(reference_counts: npt.ArrayLike, live_counts: npt.ArrayLike) -> float:
    """Jensen-Shannon divergence in bits (0 identical, 1 disjoint) between binned counts."""
    p = np.asarray(reference_counts, dtype=np.float64)
    q = np.asarray(live_counts, dtype=np.float64)
    p, q = p / max(p.sum(), 1.0), q / max(q.sum(), 1.0)
    m = 0.5 * (p + q)

    def kl(a: FloatArray, b: FloatArray) -> float:
        keep = a > 0
        return float(np.sum(a[keep] * np.log2(a[keep] / b[keep])))

    return max(0.5 * kl(p, m) + 0.5 * kl(q, m), 0.0)


@dataclass(frozen=True)
class LiveOutputs:
    """Model outputs on the live batch.

    Attributes:
        labels: predicted class indices (classification), or None.
        confidence: top-class probability per sample, or None.
        values: predicted values (regression), or None.
    """

    labels: npt.NDArray[np.int64] | None = None
    confidence: FloatArray | None = None
    values: FloatArray | None = None

    @classmethod
    def from_array(cls, outputs: Any, task: str) -> LiveOutputs:
        """From `Predictions`, (n, k) probabilities, or (n,) labels / values."""
        if hasattr(outputs, "labels") and hasattr(outputs, "values"):
            if outputs.values is not None:
                return cls(values=np.asarray(outputs.values, dtype=np.float64))
            scores = outputs.scores
            conf = np.max(scores, axis=1) if scores is not None else None
            return cls(labels=np.asarray(outputs.labels, dtype=np.int64), confidence=conf)
        array = np.asarray(outputs)
        if task == "regression":
            return cls(values=array.astype(np.float64).reshape(-1))
        if array.ndim == 2:
            return cls(
                labels=np.argmax(array, axis=1).astype(np.int64),
                confidence=np.max(array, axis=1).astype(np.float64),
            )
        if array.ndim == 1:
            return cls(labels=array.astype(np.int64))
        raise DataError(
            f"monitor: outputs are (n,) labels or values, or (n, classes) probabilities; "
            f"got shape {array.shape}."
        )


def output_shift(reference: pd.DataFrame, live: LiveOutputs) -> dict[str, Any]:
    """PSI and JS of the live outputs against the run's baseline outcomes.

    Classification compares predicted-class shares and top-class confidence (10 bins on
    [0, 1]); regression compares values binned at the reference's deciles.

    Args:
        reference: baseline outcomes (columns `pred`, `confidence` or `value`).
        live: the live outputs.

    Returns:
        `psi`, `js` (bits), `confidence_psi` (or None), the binned shares and `n_live`.
    """
    if live.values is not None:
        ref_values = reference["value"].to_numpy(np.float64)
        edges = np.unique(np.quantile(ref_values, np.linspace(0, 1, 11)))
        edges[0], edges[-1] = -np.inf, np.inf
        ref_counts = np.histogram(ref_values, edges)[0].astype(np.float64)
        live_counts = np.histogram(live.values, edges)[0].astype(np.float64)
        conf_psi = None
        n_live = len(live.values)
    else:
        assert live.labels is not None
        ref_labels = reference["pred"].to_numpy().astype(np.int64)
        k = int(max(ref_labels.max(initial=0), live.labels.max(initial=0))) + 1
        ref_counts = np.bincount(ref_labels, minlength=k).astype(np.float64)
        live_counts = np.bincount(live.labels, minlength=k).astype(np.float64)
        conf_psi = None
        if live.confidence is not None and "confidence" in reference.columns:
            ref_conf = reference["confidence"].to_numpy(np.float64)
            if np.isfinite(ref_conf).any():
                conf_psi = psi(
                    np.histogram(ref_conf[np.isfinite(ref_conf)], CONFIDENCE_BINS)[0],
                    np.histogram(np.clip(live.confidence, 0, 1), CONFIDENCE_BINS)[0],
                )
        n_live = len(live.labels)
    return {
        "psi": psi(ref_counts, live_counts),
        "js": js_divergence(ref_counts, live_counts),
        "confidence_psi": conf_psi,
        "reference_shares": (ref_counts / max(ref_counts.sum(), 1)).tolist(),
        "live_shares": (live_counts / max(live_counts.sum(), 1)).tolist(),
        "n_live": n_live,
    }


# reading curves ----------------------------------------------------------------------------
def interpolate_curve(curve: pd.DataFrame, value: float) -> dict[str, Any]:
    """A curve's estimate and 95% interval at a physical value.

    Linear interpolation between sweep points (baseline included); outside the swept range the
    nearest end is used and `clamped` is set.

    Args:
        curve: rows of one (perturbation, metric) curve with `value`, `estimate`, `low`, `high`.
        value: the magnitude in the curve's physical unit.

    Returns:
        `estimate`, `low`, `high` and `clamped`.
    """
    rows = curve.sort_values("value")
    xs = rows["value"].to_numpy(np.float64)
    lo, hi = float(xs.min()), float(xs.max())
    clamped = not lo <= value <= hi
    at = min(max(value, lo), hi)
    return {
        "estimate": float(np.interp(at, xs, rows["estimate"].to_numpy(np.float64))),
        "low": float(np.interp(at, xs, rows["low"].to_numpy(np.float64))),
        "high": float(np.interp(at, xs, rows["high"].to_numpy(np.float64))),
        "clamped": clamped,
    }


def _envelope(curve: pd.DataFrame, estimate: Estimate) -> dict[str, Any]:
    """Curve at the estimate; interval enveloped over the estimate's own interval.

    `clamped` is set only when the whole magnitude interval lies outside the swept range, so
    an unperturbed batch whose estimate scatters just past the `off` end is not flagged.
    """
    point = interpolate_curve(curve, estimate.value)
    lo, hi = estimate.low, estimate.high
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return point
    xs = curve["value"].to_numpy(np.float64)
    probes = [lo, hi, estimate.value, *[x for x in xs if lo <= x <= hi]]
    found = [interpolate_curve(curve, x) for x in probes]
    return point | {
        "low": min(f["low"] for f in found),
        "high": max(f["high"] for f in found),
        "clamped": hi < float(xs.min()) or lo > float(xs.max()),
    }


def predict_degradation(
    curves: pd.DataFrame, estimate: Estimate, metrics: Collection[str]
) -> list[dict[str, Any]]:
    """Harmful change of each per-sample metric at an estimated magnitude, from the curves.

    Each metric's curve of the estimate's perturbation is read at the magnitude and compared
    with its baseline: the prediction is the rise of a metric for which lower is better, the
    fall of one for which higher is better (the curves' `harm_sign`), in the metric's unit. So
    for `flip_rate` (0 on the baseline) it is the curve's value, and for `accuracy` the drop
    from the baseline accuracy, reported as `accuracy_drop`. The interval treats the baseline
    as fixed (the curve's interval shifted by it), which is wider than a paired interval.

    Args:
        curves: the run's curves table (`wince.analysis.curves.sensitivity_curves`).
        estimate: an estimated magnitude.
        metrics: the run's per-sample metrics to predict (built-in and the plan's own);
            curves of other metrics (ECE, RMSE, ...) are left out.

    Returns:
        One row per metric, in the curves' order: `perturbation`, `metric`, `magnitude`,
        `unit` (of the magnitude), `estimate`, `low`, `high` (the harmful change, positive:
        harm), `clamped`, `baseline_value` and `predicted_value` (the metric itself on the
        baseline and at the magnitude).
    """
    from wince.analysis.curves import harm_signs

    out: list[dict[str, Any]] = []
    if not estimate.estimable or not math.isfinite(estimate.value):
        return out
    mine = curves[curves["perturbation"] == estimate.perturbation]
    mine = mine[mine["metric"].isin(list(metrics))]
    for metric, curve in mine.groupby("metric", sort=False):
        baseline = curve[curve["scenario"] == "baseline"]
        if baseline.empty:
            continue
        base = float(baseline["estimate"].iloc[0])
        sign = float(harm_signs(curve).iloc[0])
        at = _envelope(curve, estimate)
        ends = sorted((sign * (at["low"] - base), sign * (at["high"] - base)))
        out.append(
            {
                "perturbation": estimate.perturbation,
                "metric": "accuracy_drop" if metric == "accuracy" else str(metric),
                "magnitude": estimate.value,
                "unit": estimate.unit,
                "estimate": sign * (at["estimate"] - base),
                "low": ends[0],
                "high": ends[1],
                "clamped": at["clamped"],
                "baseline_value": base,
                "predicted_value": at["estimate"],
            }
        )
    return out


# reading data ------------------------------------------------------------------------------
def read_live(path: str | Path, reference_spec: DataSpec | None) -> Dataset:
    """Read live inputs with the reader of the run's data section, the path swapped.

    When the run's data came from a factory (or the path's type differs), the reader follows
    the path: a folder is images (or WAV files), `.npz`, `.csv`, `.parquet`, `.jsonl` and
    `.txt` their readers. Labels are not needed.

    Raises:
        DataError: missing or unreadable file.
    """
    from wince.datasets import readers

    path = Path(path)
    if not path.exists():
        raise DataError(f"monitor: no live data at {path}; check --live.")
    if path.is_dir():
        kind = "wav" if any(path.rglob("*.wav")) else "images"
    else:
        kind = SUFFIX_KIND.get(path.suffix.lower(), "")
        if not kind:
            raise DataError(
                f"monitor: cannot tell how to read {path}; use a folder of images or WAV "
                f"files, or one of {', '.join(SUFFIX_KIND)}."
            )
    same = reference_spec is not None and reference_spec.source()[0] == kind
    spec = (
        reference_spec.model_copy(update={kind: str(path), "limit": None})
        if same and reference_spec is not None
        else DataSpec.model_validate({kind: str(path)})
    )
    reader = getattr(readers, f"read_{kind}")
    try:
        dataset: Dataset = reader(path, spec)
    except DataError:
        if spec.label is None:
            raise
        dataset = reader(path, spec.model_copy(update={"label": None}))
    return dataset


def _all_inputs(dataset: Dataset) -> Any:
    return dataset.batch(0, len(dataset))


def estimate_magnitudes(
    reference: Dataset,
    live: Dataset,
    *,
    seed: int = 0,
) -> tuple[list[Estimate], dict[str, Estimate]]:
    """Every magnitude estimable for the reference's modality.

    Returns:
        The perturbation estimates, and per-column tabular drift (empty for other modalities).

    Raises:
        DataError: live and reference modalities differ, or the modality has no estimators.
    """
    if live.modality != reference.modality:
        raise DataError(
            f"monitor: live data are {live.modality.value}, the run's reference "
            f"{reference.modality.value}."
        )
    ref_x, live_x = _all_inputs(reference), _all_inputs(live)
    for which, x in (("reference", ref_x), ("live", live_x)):
        require_one_size(x, where="monitor", which=which, purpose="magnitude estimates compare")
    drift: dict[str, Estimate] = {}
    if reference.modality == Modality.IMAGE:
        files = getattr(live, "files", None)
        jpeg = (
            jpeg_quality(files)
            if files
            else not_estimable(
                "image.jpeg", "libjpeg quality", "live images are arrays, not JPEG files"
            )
        )
        estimates = [
            exposure_ev(ref_x, live_x, seed=seed),
            image_noise_pct(ref_x, live_x, seed=seed),
            sharpness_ratio(ref_x, live_x, seed=seed),
            jpeg,
        ]
    elif reference.modality == Modality.TEXT:
        estimates = [typo_rate(ref_x, live_x, seed=seed)]
    elif reference.modality == Modality.AUDIO:
        estimates = [
            loudness_change_db(ref_x, live_x, seed=seed),
            snr_db(live_x, seed=seed),
        ]
    elif reference.modality == Modality.TABULAR:
        names = getattr(reference, "feature_names", None)
        drift = tabular_drift_sd(ref_x, live_x, feature_names=names)
        estimates = [tabular_noise_sd(ref_x, live_x, seed=seed)]
    else:
        raise DataError(
            f"monitor: no magnitude estimators for {reference.modality.value} data yet "
            "(images, audio, text and tabular are supported)."
        )
    return estimates, drift


# the monitor -----------------------------------------------------------------------------
@dataclass
class MonitorResult:
    """One monitoring check of a live batch against a run.

    Attributes:
        run_id: the reference run.
        checked_at: UTC time of the check (ISO 8601).
        n_live: live samples.
        estimates: estimated magnitudes (physical units).
        drift: per-column tabular drift (sd units).
        predictions: predicted degradation per (perturbation, metric).
        outputs: output-distribution shift (PSI, JS), or None without live outputs.
        alerts: the policy checks that failed: `check`, `value`, `limit`, `message`.
        policy: the policy's name.
        summary: plain-language lines ("live images are about 0.8 EV darker ...").
        name: the analysis name it is stored under, or None when not saved.
    """

    run_id: str
    checked_at: str
    n_live: int
    estimates: list[Estimate]
    drift: dict[str, Estimate]
    predictions: list[dict[str, Any]]
    outputs: dict[str, Any] | None
    alerts: list[dict[str, Any]]
    policy: str
    summary: list[str] = field(default_factory=list)
    name: str | None = None

    @property
    def fired(self) -> bool:
        """Whether any alert fired."""
        return bool(self.alerts)

    def to_payload(self) -> dict[str, Any]:
        """JSON-able form (what is stored and sent to `--on-alert`)."""
        return {
            "run_id": self.run_id,
            "checked_at": self.checked_at,
            "n_live": self.n_live,
            "policy": self.policy,
            "alert": self.fired,
            "alerts": self.alerts,
            "estimates": [e.to_payload() for e in self.estimates],
            "drift": {k: e.to_payload() for k, e in self.drift.items()},
            "predictions": self.predictions,
            "outputs": self.outputs,
            "summary": self.summary,
        }


def _bounded(row: dict[str, Any], bound: str) -> float:
    key = {"estimate": "estimate", "upper": "high", "lower": "low"}[bound]
    return float(row[key])


def evaluate_alerts(
    policy: MonitorPolicy,
    *,
    estimates: Sequence[Estimate],
    drift: dict[str, Estimate],
    predictions: Sequence[dict[str, Any]],
    outputs: dict[str, Any] | None,
    n_live: int,
    metrics: Mapping[str, Metric],
) -> list[dict[str, Any]]:
    """The policy checks that fail; none when the live batch is smaller than `min_samples`.

    `metrics` are the run's per-sample metrics by name (`predict_degradation`), whose units
    the messages of `max_predicted_change` give.
    """
    if n_live < policy.min_samples:
        return []
    alerts: list[dict[str, Any]] = []

    def check(name: str, value: float | None, limit: float | None, message: str) -> None:
        if value is not None and limit is not None and math.isfinite(value) and value > limit:
            alerts.append({"check": name, "value": value, "limit": limit, "message": message})

    if outputs is not None:
        check("max_psi", outputs["psi"], policy.max_psi, "output distribution shifted (PSI)")
        check("max_js", outputs["js"], policy.max_js, "output distribution shifted (JS)")
        check(
            "max_confidence_psi",
            outputs.get("confidence_psi"),
            policy.max_confidence_psi,
            "confidence distribution shifted (PSI)",
        )
    own_limits = {
        "flip_rate": ("max_predicted_flip_rate", policy.max_predicted_flip_rate),
        "accuracy_drop": ("max_predicted_accuracy_drop", policy.max_predicted_accuracy_drop),
    }
    for row in predictions:
        where = f"{row['perturbation']} at {row['magnitude']:.3g} {row['unit']}: predicted"
        if row["metric"] in own_limits:
            name, limit = own_limits[row["metric"]]
            message = (
                f"{where} {row['metric']} {row['estimate']:.3f} "
                f"({row['low']:.3f}-{row['high']:.3f})"
            )
        else:
            name = f"max_predicted_change {row['metric']}"
            limit = policy.max_predicted_change.get(row["metric"])
            unit = metrics[row["metric"]].unit
            change = _in_unit([row["estimate"]], unit, signed=True)
            interval = _in_unit([row["low"], row["high"]], unit, signed=True)
            message = f"{where} harmful change of {row['metric']} {change} ({interval})"
        check(name, _bounded(row, policy.bound), limit, message)
    for column, estimate in drift.items():
        check(
            "max_drift_sd",
            abs(estimate.value),
            policy.max_drift_sd,
            f"column {column} drifted {estimate.value:+.2f} sd",
        )
    for estimate in estimates:
        limit_spec = policy.magnitudes.get(estimate.perturbation)
        if limit_spec is None or not estimate.estimable:
            continue
        v = estimate.value
        if limit_spec.max is not None:
            check(f"magnitude {estimate.perturbation}", v, limit_spec.max, "magnitude above max")
        if limit_spec.min is not None:
            check(
                f"magnitude {estimate.perturbation}",
                -v,
                -limit_spec.min,
                f"magnitude {v:.3g} below min {limit_spec.min:g}",
            )
    return alerts


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def _in_unit(values: Sequence[float], unit: str, *, signed: bool = False) -> str:
    """Values of a metric in its unit: "0.012 to 0.055 edits per character".

    Shares read as percentages, their changes (`signed`) as percentage points.
    """
    sign = "+" if signed else ""
    if unit == "share":
        numbers = [f"{100 * v:{sign}.1f}" for v in values]
        suffix = " percentage points" if signed else "%"
    else:
        numbers = [f"{v:{sign}.3g}" for v in values]
        suffix = f" {unit}"
    return " to ".join(numbers) + suffix


def _metric_line(row: dict[str, Any], metric: Metric) -> str:
    """A predicted change in words: "the character error rate ... rises from 0.012 to ..."."""
    before, after = row["baseline_value"], row["predicted_value"]
    verb = "rises" if after > before else "falls" if after < before else "stays"
    return (
        f"the {metric.description} {verb} from {_in_unit([before, after], metric.unit)} "
        f"(harmful change {_in_unit([row['estimate']], metric.unit, signed=True)}, 95% "
        f"interval {_in_unit([row['low'], row['high']], metric.unit, signed=True)})"
    )


def _describe(
    estimate: Estimate, predictions: Sequence[dict[str, Any]], metrics: Mapping[str, Metric]
) -> str | None:
    """One plain-language line per estimate and its predicted harm, in each metric's words."""
    if not estimate.estimable or not math.isfinite(estimate.value):
        return None
    v = estimate.value
    interval = f"95% interval {estimate.low:.3g} to {estimate.high:.3g} {estimate.unit}"
    if estimate.perturbation == "image.exposure":
        side = "darker" if v < 0 else "brighter"
        what = f"live images are about {abs(v):.2f} EV {side} than the reference ({interval})"
    elif estimate.perturbation == "image.jpeg":
        what = f"live images are JPEG at quality about {v:.0f} ({interval})"
    elif estimate.perturbation == "text.typos":
        what = f"live texts carry about {_pct(v)} typos per character ({interval})"
    else:
        what = f"{estimate.perturbation} estimated at {v:.3g} {estimate.unit} ({interval})"
    for row in predictions:
        if row["perturbation"] != estimate.perturbation:
            continue
        ends = f"{_pct(row['low'])} to {_pct(row['high'])}"
        if row["metric"] == "accuracy_drop":
            what += (
                f"; at that magnitude this model loses {_pct(row['estimate'])} ({ends}) accuracy"
            )
        elif row["metric"] == "flip_rate":
            what += f"; at that magnitude {_pct(row['estimate'])} ({ends}) of predictions flip"
        else:
            what += f"; at that magnitude {_metric_line(row, metrics[row['metric']])}"
        if row["clamped"]:
            what += " (outside the swept range: read at its end)"
    return what


def run_curves(store: Store, run_id: str) -> pd.DataFrame:
    """The run's stored curves table, computed (and stored) when missing."""
    stored = store.load_analysis(run_id, "curves")
    if stored is None:
        from wince.analysis.curves import sensitivity_curves
        from wince.analysis.data import load_run_data

        curves = sensitivity_curves(load_run_data(store, run_id))
        store.save_analysis(run_id, "curves", curves.to_payload())
        return curves.table
    return pd.DataFrame(stored["table"])


def _timestamp() -> tuple[str, str]:
    now = dt.datetime.now(dt.UTC)
    return now.isoformat(timespec="milliseconds"), now.strftime("%Y%m%dT%H%M%S.%fZ")


def monitor_run(
    store: Store,
    run_id: str,
    live: Any,
    *,
    outputs: Any = None,
    model: Any = None,
    predict: bool = True,
    reference: Any = None,
    policy: MonitorPolicy | None = None,
    save: bool = True,
    seed: int = 0,
) -> MonitorResult:
    """Check a batch of live inputs against a run.

    Args:
        store: the store holding the run.
        run_id: the reference run.
        live: live inputs: a `Dataset`, an array or list of str, or a path (read like the
            run's data, see `read_live`).
        outputs: the model's outputs on the live inputs (`Predictions`, probabilities, labels
            or values) of a classification or regression run; default: predicted with `model`
            (runs of other outputs compare no output distribution).
        model: the model, when `outputs` are not given (default: the plan's model section,
            behind the run's defence for a run of `wince harden`, fitted on the reference
            data).
        predict: run the model on the live inputs when no outputs are given.
        reference: the reference data (default: the plan's data section).
        policy: alert thresholds (default `MonitorPolicy()`).
        save: store the result as the analysis `monitor/<timestamp>` of the run.
        seed: bootstrap seed of the magnitude intervals.

    Returns:
        The check, with alerts.

    Raises:
        StoreError: unknown run or no outcomes.
        DataError: unreadable or incompatible live data, or `outputs` given for a run whose
            outputs are not classes or values (text, detections, ...).
        PlanError: the plan has no data section and no `reference` is given.
        PolicyError: the policy's `max_predicted_change` names a metric the run lacks.
    """
    policy = policy or MonitorPolicy()
    record = store.run(run_id)
    plan = Plan.model_validate(record["lineage"]["plan"])
    reference_data = _reference_data(plan, run_id, reference)
    live_data = _live_data(live, plan, reference_data.modality)
    task = str(record["task"])
    curves = run_curves(store, run_id)
    with_curves = set(curves["metric"])
    metrics = {n: m for n, m in plan_metric_table(plan, task).items() if n in with_curves}
    check_change_limits(policy, metrics, run_id)
    estimates, drift = estimate_magnitudes(reference_data, live_data, seed=seed)
    predictions = [row for e in estimates for row in predict_degradation(curves, e, metrics)]

    compares_outputs = task in OUTPUT_SHIFT_TASKS
    if outputs is not None and not compares_outputs:
        raise DataError(
            f"monitor: run {run_id} is a {task} run; the distribution of live outputs is "
            f"compared for {' and '.join(OUTPUT_SHIFT_TASKS)} runs only, so leave out the "
            "outputs."
        )
    live_outputs: LiveOutputs | None = None
    if outputs is not None:
        live_outputs = LiveOutputs.from_array(outputs, task)
    elif predict and compares_outputs and (model is not None or plan.model is not None):
        live_outputs = _predicted_outputs(record, plan, model, live_data, reference_data)
    shift = None
    if live_outputs is not None:
        baseline = store.outcomes(run_id, where="scenario = 'baseline' AND trial = 0")
        shift = output_shift(baseline, live_outputs)

    alerts = evaluate_alerts(
        policy,
        estimates=estimates,
        drift=drift,
        predictions=predictions,
        outputs=shift,
        n_live=len(live_data),
        metrics=metrics,
    )
    summary = [s for e in estimates if (s := _describe(e, predictions, metrics)) is not None]
    if len(live_data) < policy.min_samples:
        summary.append(
            f"only {len(live_data)} live samples (policy min_samples {policy.min_samples}): "
            "estimates stored, no alert checked"
        )
    checked_at, stamp = _timestamp()
    result = MonitorResult(
        run_id=run_id,
        checked_at=checked_at,
        n_live=len(live_data),
        estimates=estimates,
        drift=drift,
        predictions=predictions,
        outputs=shift,
        alerts=alerts,
        policy=policy.name,
        summary=summary,
    )
    if save:
        result.name = PREFIX + stamp
        store.save_analysis(run_id, result.name, result.to_payload())
    return result


def _reference_data(plan: Plan, run_id: str, reference: Any) -> Dataset:
    """The reference inputs: `reference` when given, else the plan's data section."""
    from wince.datasets.loading import as_dataset, load_dataset

    if reference is not None:
        return as_dataset(reference)
    if plan.data is None:
        raise StoreError(
            f"run {run_id}: the plan has no data section, so the reference inputs are "
            "unknown; pass reference=..."
        )
    return load_dataset(plan.data)


def _live_data(live: Any, plan: Plan, modality: Modality) -> Dataset:
    """The live inputs as a dataset.

    A path is read like the run's data, a dataset kept, an array or list of str taken in
    the reference's modality.
    """
    if isinstance(live, str | Path):
        return read_live(live, plan.data)
    if isinstance(live, Dataset):
        return live
    return ArrayDataset(live, modality=modality, name="live data")


def _predicted_outputs(
    record: dict[str, Any], plan: Plan, model: Any, live_data: Dataset, reference_data: Dataset
) -> LiveOutputs:
    """The model's outputs on the live inputs.

    The model is `model`, else the plan's model, behind the run's defence for a run of
    `wince harden`.
    """
    from wince.datasets.tables import table_inputs
    from wince.models import as_model
    from wince.models.loading import load_model

    adapter = as_model(model) if model is not None else load_model(plan.model)  # type: ignore[arg-type]
    try:
        if model is None:  # a defended run's model is the plan's behind its defence
            adapter = run_model(record, adapter, reference_data)
        live_model = table_inputs(adapter, live_data)
        x = _all_inputs(live_data)
        # samples of several sizes: one size at a time, as the engine predicts them
        parts = [(index, live_model.predict(group)) for index, group in shape_groups(x)]
        answer = parts[0][1] if len(parts) == 1 else Predictions.assemble(parts, len(x))
        return LiveOutputs.from_array(answer, str(record["task"]))
    finally:
        adapter.close()


def monitor_history(store: Store, run_id: str) -> pd.DataFrame:
    """Stored monitoring checks of a run, oldest first: one row per check and estimate.

    Columns: `name`, `checked_at`, `alert`, `n_alerts`, `perturbation`, `value`, `low`,
    `high`, `unit` (for trend reports).
    """
    rows = store.list_analyses(run_id, prefix=PREFIX)
    records = [
        {
            "name": name,
            "checked_at": payload.get("checked_at"),
            "alert": bool(payload.get("alert")),
            "n_alerts": len(payload.get("alerts", [])),
            **{k: estimate.get(k) for k in ("perturbation", "value", "low", "high")},
            "unit": estimate.get("unit"),
        }
        for name, payload in rows
        for estimate in payload.get("estimates", [])
    ]
    columns = ["name", "checked_at", "alert", "n_alerts", "perturbation", "value", "low"]
    return pd.DataFrame(records, columns=[*columns, "high", "unit"])
