"""Fragile and robust regions of the input space, and data-quality signals.

**Fragility per sample.** A sample's fragility is its flip frequency: the share of its
perturbed trials (every trial of every isolation and combination scenario; the baseline and
identity scenarios are left out) whose prediction differs from the baseline prediction. For a
regressor it is the mean absolute change of the output over the same trials.

**Regions.** A shallow regression tree (scikit-learn `DecisionTreeRegressor`) predicts
fragility from readable sample descriptors (`wince.analysis.descriptors`: tabular columns,
image brightness, text length, audio loudness ...) plus the model's baseline confidence and
class. It is fitted on a seeded random part of the samples only. Each leaf is a rule — the
conjunction of the splits on its path, merged to at most one lower and one upper bound per
descriptor — and is then judged on the *held-out* samples alone: its fragility inside vs
outside the leaf, with a two-sided permutation test of the difference in mean per-sample
fragility (exact in level despite the many ties of flip frequencies) and a Holm correction
across every leaf of the tree. A leaf is judged only if it holds at least `min_region` (30)
and `min_leaf_share` (5%) of the held-out samples; a smaller leaf still counts in the
correction, as not significant, so the family is fixed by the training samples before the
held-out ones are looked at. A leaf significantly more fragile than the rest becomes a
"fragile" rule, significantly less fragile a "robust" rule; other leaves are dropped, and
sibling rules of one kind merge into their parent (never smaller than either). Thresholds
are midpoints between training values and are printed to 3 significant digits, so rule text
writes the tree's `<=` as `<`; the `conditions` keep the exact operator.

**What this guarantees.** When fragility depends on none of the features (descriptors,
baseline confidence and class), the chance that a run shows any rule at all is at most
`alpha` (5%). It does not say that a rule's boundaries are the true ones (the tree cuts
where the training half suggests), that a region without a rule is uniform (a real region
smaller than the minimum, or one the tree did not cut out, goes unreported), or anything
about features the tree was not given.

**Data quality.** A sample that flips already under the *mildest* magnitude of some
perturbation sits on the decision boundary; if its baseline prediction also disagrees with
its label, the label (or its preprocessing) is a candidate error. Per-class fragility is the
mean per-sample flip frequency of each true class (the baseline predicted class when there
are no labels), with a 95% percentile bootstrap interval resampling the class's samples (a
sample's trials stay together). A class whose samples never flip gets the interval [0, 0].
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.tree import DecisionTreeRegressor

from wince.analysis.data import RunData
from wince.analysis.descriptors import Descriptor, describe_samples, descriptors_of
from wince.analysis.stats import holm, percentile_interval
from wince.datasets.base import Dataset
from wince.engine.scenarios import BASELINE
from wince.errors import DataError, ParameterError
from wince.metrics import bootstrap_weights, primary_metric

FloatArray = npt.NDArray[np.float64]
Condition = tuple[str, str, float]
FRAGILE, ROBUST, NONE = "fragile", "robust", "none"
PERTURBED_KINDS = ("isolation", "combination")
RULE_COLUMNS = [
    "kind",
    "text",
    "conditions",
    "n_holdout",
    "rate_in",
    "rate_out",
    "p_value",
    "p_adjusted",
    "n_train",
    "rate_train",
]
SUSPECT_COLUMNS = [
    "sample_index",
    "sample_id",
    "label",
    "baseline_pred",
    "baseline_confidence",
    "mild_flips",
    "mild_flip_frequency",
    "mild_scenarios",
]
CLASS_COLUMNS = ["class", "class_name", "n", "flip_rate", "low", "high", "any_flip"]


# fragility per sample -----------------------------------------------------------------------
def _target(run_data: RunData) -> tuple[str, str]:
    """(column of `fragility_scores`, name of the measure in rule text)."""
    if run_data.task == "regression":
        return "mean_abs_change", "mean |change|"
    if run_data.task != "classification":
        primary = primary_metric(run_data.task, run_data.metrics)
        assert primary is not None
        return "metric_harm", f"mean harmful change of {primary.name}"
    return "flip_frequency", "flip rate"


def perturbed_scenarios(run_data: RunData) -> list[str]:
    """Isolation and combination scenarios with outcomes, in plan order."""
    rows = run_data.scenarios[run_data.scenarios["kind"].isin(PERTURBED_KINDS)]
    return [str(s) for s in rows["scenario"] if run_data.has(str(s))]


def fragility_scores(run_data: RunData, *, breaking: pd.DataFrame | None = None) -> pd.DataFrame:
    """How fragile each sample is: flip frequency over all perturbed trials, with its baseline.

    Args:
        run_data: the run's outcomes.
        breaking: optional breaking points, one row per (sample_index, perturbation) with a
            `breaking_severity`; joined as one `breaking_severity[<perturbation>]` column per
            perturbation plus `breaking_severity` (the lowest over perturbations).

    Returns:
        One row per sample in `run_data.samples` order: `sample_index`, `sample_id`, `label`
        (when labelled), `n_trials` (perturbed trials) and, for a classifier,
        `baseline_pred`, `baseline_confidence`, `flip_frequency`, `any_flip`; for a
        regressor `baseline_value`, `mean_abs_change`; for a structured output (text,
        detection, ...) `metric_harm`, the mean harmful change of its headline metric
        (`wince.metrics.primary_metric`) against the baseline. Fragility is NaN for a sample
        without perturbed outcomes.

    Raises:
        DataError: `breaking` lacks one of its columns.
    """
    index = pd.Index(run_data.samples, name="sample_index")
    base = run_data.frame(BASELINE).drop_duplicates("sample_index").set_index("sample_index")
    base = base.reindex(index)
    out = pd.DataFrame(index=index)
    out["sample_id"] = base["sample_id"]
    if "label" in base.columns:
        out["label"] = base["label"]
    if run_data.task == "regression":
        out["baseline_value"] = base["value"].astype(np.float64)
        change = _per_sample_over_perturbed(run_data, lambda frame: frame["abs_value_delta"])
        out["n_trials"], out["mean_abs_change"] = change.count, change.mean
    elif run_data.task != "classification":
        column, _ = _target(run_data)
        primary = primary_metric(run_data.task, run_data.metrics)
        assert primary is not None
        clean = base[primary.column].astype(np.float64)

        def harm(frame: pd.DataFrame) -> npt.NDArray[np.float64]:
            values = frame[primary.column].to_numpy(np.float64)
            before = clean.reindex(frame["sample_index"]).to_numpy(np.float64)
            return np.asarray(primary.harm_sign * (values - before), dtype=np.float64)

        change = _per_sample_over_perturbed(run_data, harm)
        out["n_trials"], out[column] = change.count, change.mean
    else:
        out["baseline_pred"] = base["pred"].astype(np.int64)
        out["baseline_confidence"] = base["confidence"].astype(np.float64)
        flips = _per_sample_over_perturbed(run_data, lambda frame: frame["flipped"])
        out["n_trials"], out["flip_frequency"] = flips.count, flips.mean
        out["any_flip"] = flips.mean > 0  # NaN (no perturbed trial) is not a flip
    if breaking is not None:
        missing = {"sample_index", "perturbation", "breaking_severity"} - set(breaking.columns)
        if missing:
            raise DataError(
                f"breaking points need columns sample_index, perturbation, breaking_severity; "
                f"missing {sorted(missing)}."
            )
        wide = breaking.pivot_table(
            index="sample_index",
            columns="perturbation",
            values="breaking_severity",
            aggfunc="min",
        ).reindex(index)
        for name in wide.columns:
            out[f"breaking_severity[{name}]"] = wide[name].astype(np.float64)
        out["breaking_severity"] = wide.min(axis=1, skipna=True).astype(np.float64)
    return out.reset_index()


@dataclass(frozen=True)
class _PerSample:
    """A per-outcome value summarised per sample over all perturbed trials."""

    count: npt.NDArray[np.int64]  # perturbed outcomes
    mean: npt.NDArray[np.float64]  # over the finite values; NaN without any


def _per_sample_over_perturbed(
    run_data: RunData, value: Callable[[pd.DataFrame], npt.ArrayLike]
) -> _PerSample:
    """Outcomes and mean of `value` per sample over every perturbed scenario's outcomes.

    In `run_data.samples` order; one scenario in memory at a time.
    """
    n = len(run_data.samples)
    count, finite, total = np.zeros(n, np.int64), np.zeros(n), np.zeros(n)
    for scenario in perturbed_scenarios(run_data):
        frame = run_data.frame(scenario)
        rows = np.searchsorted(run_data.samples, frame["sample_index"].to_numpy())
        values = np.asarray(value(frame), dtype=np.float64)
        present = np.isfinite(values)
        count += np.bincount(rows, minlength=n)
        finite += np.bincount(rows, weights=present, minlength=n)
        total += np.bincount(rows, weights=np.where(present, values, 0.0), minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(finite > 0, total / finite, np.nan)
    return _PerSample(count, mean)


# regions ------------------------------------------------------------------------------------
def _class_names(run_data: RunData) -> dict[int, str]:
    """Class names by index: the model's as the run recorded them, else the plan's."""
    model = run_data.plan.model
    classes = run_data.classes or (model.classes if model is not None else None)
    if not classes:
        return {}
    return {i: str(c) for i, c in enumerate(classes)}


def region_features(
    run_data: RunData,
    dataset: Dataset,
    scores: pd.DataFrame,
    *,
    descriptors: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, dict[str, Descriptor]]:
    """Features the region tree may split on, one row per sample of `scores`.

    The dataset's descriptors (or the given `descriptors` frame, indexed by sample index),
    plus the model's baseline confidence and one 0/1 indicator per baseline class (a
    regressor: its baseline output). Constant and non-finite columns are dropped.

    Raises:
        DataError: the dataset has fewer samples than the run.
    """
    samples = scores["sample_index"].to_numpy()
    if len(samples) and int(samples.max()) >= len(dataset):
        raise DataError(
            f"the run has outcomes for sample index {int(samples.max())} but the dataset has "
            f"{len(dataset)} samples; pass the dataset the run was made on."
        )
    frame = describe_samples(dataset, samples) if descriptors is None else descriptors
    info = descriptors_of(frame)
    features = frame.reindex(samples).reset_index(drop=True).astype(np.float64)

    def add(name: str, values: npt.ArrayLike, descriptor: Descriptor) -> None:
        while name in features.columns:
            name = f"model {name}"
        features[name] = np.asarray(values, dtype=np.float64)
        info[name] = Descriptor(
            name, descriptor.label, descriptor.unit, descriptor.description, descriptor.category
        )

    # a structured output (text, boxes, ...) has no one baseline number to describe a sample
    if run_data.task == "regression":
        add(
            "baseline_value",
            scores["baseline_value"],
            Descriptor("baseline_value", "baseline prediction", "", "model output on the input"),
        )
    elif run_data.task == "classification":
        add(
            "baseline_confidence",
            scores["baseline_confidence"],
            Descriptor("baseline_confidence", "baseline confidence", "", "top class probability"),
        )
        names = _class_names(run_data)
        predicted = scores["baseline_pred"].to_numpy()
        for k in np.unique(predicted):
            category = names.get(int(k), str(int(k)))
            add(
                f"baseline_class={category}",
                predicted == k,
                Descriptor("", "baseline class", "", "class predicted on the input", category),
            )
    values = features.to_numpy(np.float64)
    usable = np.all(np.isfinite(values), axis=0) & (
        np.ptp(values, axis=0) > 0 if len(values) else False
    )
    kept = [c for c, ok in zip(features.columns, usable, strict=True) if ok]
    return features[kept], {c: info[c] for c in kept}


@dataclass(frozen=True)
class _Node:
    """A node of the fitted tree: its path and children (-1 for a leaf)."""

    path: list[Condition]
    left: int
    right: int

    @property
    def leaf(self) -> bool:
        return self.left < 0


def _nodes(tree: Any, names: list[str]) -> dict[int, _Node]:
    """Every node of a fitted tree with the conditions along its path (feature names)."""
    structure = tree.tree_
    nodes: dict[int, _Node] = {}
    stack: list[tuple[int, list[Condition]]] = [(0, [])]
    while stack:
        node, path = stack.pop()
        left, right = int(structure.children_left[node]), int(structure.children_right[node])
        nodes[node] = _Node(path, left, right)
        if left != right:
            feature = names[int(structure.feature[node])]
            threshold = float(structure.threshold[node])
            stack.append((right, [*path, (feature, ">", threshold)]))
            stack.append((left, [*path, (feature, "<=", threshold)]))
    return nodes


def simplify(conditions: list[Condition]) -> list[Condition]:
    """Merge repeated splits on a feature into at most one lower and one upper bound.

    Examples:
        >>> simplify([("x", "<=", 3.0), ("y", ">", 1.0), ("x", "<=", 2.0), ("x", ">", 0.5)])
        [('x', '>', 0.5), ('x', '<=', 2.0), ('y', '>', 1.0)]
    """
    bounds: dict[str, list[float]] = {}
    for feature, op, threshold in conditions:
        low, high = bounds.setdefault(feature, [-math.inf, math.inf])
        if op == "<=":
            bounds[feature][1] = min(high, threshold)
        else:
            bounds[feature][0] = max(low, threshold)
    out: list[Condition] = []
    for feature, (low, high) in bounds.items():
        if low > -math.inf:
            out.append((feature, ">", low))
        if high < math.inf:
            out.append((feature, "<=", high))
    return out


def matches(conditions: list[Condition], features: pd.DataFrame) -> npt.NDArray[np.bool_]:
    """Which rows of `features` satisfy every condition of a rule."""
    mask = np.ones(len(features), dtype=bool)
    for feature, op, threshold in conditions:
        column = features[feature].to_numpy(np.float64)
        mask &= column <= threshold if op == "<=" else column > threshold
    return mask


def _number(value: float) -> str:
    return str(np.format_float_positional(value, precision=3, fractional=False, trim="-"))


def describe_conditions(conditions: list[Condition], descriptors: dict[str, Descriptor]) -> str:
    """Rule conditions in words, e.g. "baseline confidence < 0.7 and brightness < 0.3"."""
    phrases = []
    seen: dict[str, list[Condition]] = {}
    for condition in conditions:
        seen.setdefault(condition[0], []).append(condition)
    for feature, bounds in seen.items():
        d = descriptors.get(feature, Descriptor(feature, feature))
        unit = f" {d.unit}" if d.unit else ""
        if d.category is not None:
            present = any(op == ">" for _, op, _ in bounds)
            phrases.append(f"{d.label} is {'' if present else 'not '}{d.category}")
            continue
        low = next((t for _, op, t in bounds if op == ">"), None)
        high = next((t for _, op, t in bounds if op == "<="), None)
        if low is not None and high is not None:
            phrases.append(f"{_number(low)} < {d.label} < {_number(high)}{unit}")
        elif high is not None:
            phrases.append(f"{d.label} < {_number(high)}{unit}")
        elif low is not None:
            phrases.append(f"{d.label} > {_number(low)}{unit}")
    return " and ".join(phrases) or "always"


def _rate(value: float, metric: str) -> str:
    if metric == "flip rate":
        return f"{value:.0%}"
    return _number(value)


def rule_text(
    kind: str, conditions: str, n: int, rate_in: float, rate_out: float, metric: str
) -> str:
    """Rule text: "fragile when <conditions>: n = 120, flip rate 41% vs 6%" (held-out)."""
    return (
        f"{kind} when {conditions}: n = {n}, {metric} {_rate(rate_in, metric)} vs "
        f"{_rate(rate_out, metric)}"
    )


@dataclass(frozen=True)
class Regions:
    """Readable rules for where the model is fragile or robust, validated on held-out samples.

    Attributes:
        rules: kept rules, fragile first (most fragile first), then robust: `kind`
            ("fragile" or "robust"), `text`, `conditions` (list of (feature, op, threshold),
            op "<=" or ">"), `n_holdout` (held-out samples in the region), `rate_in` and
            `rate_out` (mean held-out fragility inside and outside), `p_value`, `p_adjusted`
            (Holm across every leaf of the tree; NaN for a leaf too small to judge),
            `n_train`, `rate_train` (training figures).
        leaves: every leaf of the tree with the same columns, `kind` "none" when dropped.
        metric: the fragility measure ("flip rate" or "mean |change|").
        descriptors: what each feature in the conditions means.
        n_train: samples the tree was fitted on.
        n_holdout: samples the rules were judged on.
        alpha: significance level of the held-out tests.
    """

    rules: pd.DataFrame
    leaves: pd.DataFrame
    metric: str
    descriptors: dict[str, Descriptor] = field(default_factory=dict)
    n_train: int = 0
    n_holdout: int = 0
    alpha: float = 0.05

    def to_payload(self) -> dict[str, Any]:
        """JSON-able form."""

        def table(frame: pd.DataFrame) -> dict[str, list[Any]]:
            out = {c: frame[c].tolist() for c in RULE_COLUMNS}
            out["conditions"] = [[list(c) for c in conds] for conds in frame["conditions"]]
            return out

        return {
            "metric": self.metric,
            "n_train": self.n_train,
            "n_holdout": self.n_holdout,
            "alpha": self.alpha,
            "descriptors": {k: d.to_payload() for k, d in self.descriptors.items()},
            "rules": table(self.rules),
            "leaves": table(self.leaves),
        }

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Regions:
        """Rebuild from `to_payload()` output."""

        def table(columns: dict[str, list[Any]]) -> pd.DataFrame:
            frame = pd.DataFrame({c: columns[c] for c in RULE_COLUMNS})
            frame["conditions"] = [
                [(str(f), str(op), float(t)) for f, op, t in conds]
                for conds in columns["conditions"]
            ]
            return frame.astype({"n_holdout": np.int64, "n_train": np.int64})

        return cls(
            rules=table(payload["rules"]),
            leaves=table(payload["leaves"]),
            metric=payload["metric"],
            descriptors={k: Descriptor(**v) for k, v in payload["descriptors"].items()},
            n_train=int(payload["n_train"]),
            n_holdout=int(payload["n_holdout"]),
            alpha=float(payload["alpha"]),
        )


def _empty_rules() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in RULE_COLUMNS})


def _check(value: float, name: str, low: float, high: float, hint: str) -> None:
    if not (isinstance(value, int | float) and low < value < high):
        raise ParameterError(
            f"fragile_regions: {name} must be in ({low:g}, {high:g}); got {value!r}. Try {hint}."
        )


def fragile_regions(
    run_data: RunData,
    dataset: Dataset,
    *,
    max_depth: int = 3,
    min_leaf_share: float = 0.05,
    min_region: int = 30,
    holdout: float = 0.5,
    alpha: float = 0.05,
    seed: int = 0,
    n_permutations: int = 9999,
    descriptors: pd.DataFrame | None = None,
) -> Regions:
    """Readable rules for where the model is fragile or robust, kept only if they hold out.

    Args:
        run_data: the run's outcomes.
        dataset: the dataset the run was made on (for the sample descriptors).
        max_depth: depth of the tree; a rule has at most this many conditions.
        min_leaf_share: smallest leaf, as a share of the training samples; a leaf is also
            judged only if it holds at least this share of the held-out samples.
        min_region: fewest held-out samples a leaf must hold to be judged (a rule about 3
            samples is an anecdote, and small leaves multiply the false rules).
        holdout: share of samples held out to judge the rules (the rest fit the tree).
        alpha: family-wise significance level across every leaf of the tree (Holm).
        seed: seed of the train / held-out split, the tree and the permutation tests.
        n_permutations: permutations of each held-out test (smallest p-value
            1 / (n_permutations + 1)).
        descriptors: precomputed descriptors indexed by sample index (default: computed
            from `dataset` with `describe_samples`).

    Raises:
        ParameterError: a setting is out of range.
        DataError: the dataset does not match the run.
    """
    if not (isinstance(max_depth, int) and max_depth >= 1):
        raise ParameterError(
            f"fragile_regions: max_depth must be a whole number >= 1; got {max_depth!r}. Try 3."
        )
    if not (isinstance(n_permutations, int) and n_permutations >= 99):
        raise ParameterError(
            f"fragile_regions: n_permutations must be a whole number >= 99; got "
            f"{n_permutations!r}. Try 9999."
        )
    _check(min_leaf_share, "min_leaf_share", 0.0, 0.5, "0.05")
    if not (isinstance(min_region, int) and min_region >= 1):
        raise ParameterError(
            f"fragile_regions: min_region must be a whole number >= 1; got {min_region!r}. Try 30."
        )
    _check(holdout, "holdout", 0.0, 1.0, "0.5")
    _check(alpha, "alpha", 0.0, 1.0, "0.05")
    target_column, metric = _target(run_data)
    scores = fragility_scores(run_data)
    scores = scores[np.isfinite(scores[target_column].to_numpy(np.float64))]
    features, info = region_features(run_data, dataset, scores, descriptors=descriptors)
    target = scores[target_column].to_numpy(np.float64)
    n = len(target)
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0x5E610,)))
    order = rng.permutation(n)
    n_holdout = round(holdout * n)
    held, train = np.sort(order[:n_holdout]), np.sort(order[n_holdout:])
    empty = Regions(_empty_rules(), _empty_rules(), metric, info, len(train), len(held), alpha)
    min_leaf = max(1, math.ceil(min_leaf_share * len(train)))
    if features.shape[1] == 0 or len(train) < 2 * min_leaf or len(held) < 2:
        return empty
    tree = DecisionTreeRegressor(
        max_depth=max_depth, min_samples_leaf=min_leaf, random_state=seed
    ).fit(features.to_numpy(np.float64)[train], target[train])
    nodes = _nodes(tree, list(features.columns))
    if len(nodes) == 1:
        return empty
    train_frame, held_frame = features.iloc[train], features.iloc[held]
    y_held, y_train = target[held], target[train]
    rows: dict[int, dict[str, Any]] = {}
    for k, node in nodes.items():
        if k == 0:
            continue
        conditions = simplify(node.path)
        inside = matches(conditions, held_frame)
        in_train = matches(conditions, train_frame)
        rows[k] = {
            "node": k,
            "conditions": conditions,
            "n_holdout": int(inside.sum()),
            "sum_in": float(y_held[inside].sum()),
            "rate_in": float(y_held[inside].mean()) if inside.any() else math.nan,
            "rate_out": float(y_held[~inside].mean()) if (~inside).any() else math.nan,
            "n_train": int(in_train.sum()),
            "rate_train": float(y_train[in_train].mean()),
        }
    pvalues = permutation_pvalues(
        y_held,
        [r["n_holdout"] for r in rows.values()],
        [r["sum_in"] for r in rows.values()],
        n_permutations=n_permutations,
        seed=seed,
    )
    smallest = max(min_region, math.ceil(min_leaf_share * len(held)))
    for row, p in zip(rows.values(), pvalues, strict=True):
        row["p_value"] = float(p) if row["n_holdout"] >= smallest else math.nan
    leaves = pd.DataFrame([rows[k] for k, node in nodes.items() if node.leaf])
    p_values = leaves["p_value"].to_numpy(np.float64)
    tested = np.isfinite(p_values)
    # the family is every leaf the tree proposed, fixed by the training samples alone; a leaf
    # too small to judge enters as not significant (p = 1) rather than leaving the family
    adjusted = np.where(tested, holm(np.where(tested, p_values, 1.0)), math.nan)
    leaves["p_adjusted"] = adjusted
    significant = tested & (np.nan_to_num(adjusted, nan=1.0) < alpha)
    higher = leaves["rate_in"].to_numpy() > leaves["rate_out"].to_numpy()
    leaves["kind"] = np.where(significant, np.where(higher, FRAGILE, ROBUST), NONE)
    regions = _merge_siblings(nodes, rows, leaves)
    leaves = _finish(leaves, info, metric)
    rules = _finish(regions[regions["kind"] != NONE], info, metric)
    return Regions(rules, leaves, metric, info, len(train), len(held), alpha)


def permutation_pvalues(
    values: FloatArray,
    sizes: Sequence[int],
    sums: Sequence[float],
    *,
    n_permutations: int = 9999,
    seed: int = 0,
) -> FloatArray:
    """Two-sided permutation p-values that a subset's mean differs from the rest's.

    For each subset (given by its size and the sum of its `values`), the statistic is
    |sum - size * mean(values)|, a monotone function of |mean inside - mean outside| at a
    fixed size; its null distribution comes from random subsets of the same size (prefixes
    of seeded random permutations, shared by all subsets). p = (1 + exceedances) / (1 +
    permutations), exact in level whatever the ties (Mann-Whitney's normal approximation is
    not, with mostly-zero flip frequencies). NaN for an empty or full subset.

    Args:
        values: per-sample values (e.g. held-out flip frequencies).
        sizes: number of samples in each subset.
        sums: sum of `values` over each subset.
        n_permutations: random permutations; the smallest p-value is 1 / (n_permutations + 1).
        seed: seed of the permutations.
    """
    n = len(values)
    k = np.asarray(sizes, dtype=np.int64)
    centre = float(values.mean()) if n else 0.0
    observed = np.abs(np.asarray(sums, dtype=np.float64) - k * centre)
    # a relative tolerance so that float rounding never hides a permutation equal to the data
    threshold = observed - 1e-9 * (1.0 + float(np.abs(values).sum()))
    valid = (k >= 1) & (k < n)
    exceed = np.zeros(len(k))
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0x5E610, 1)))
    chunk = max(1, min(n_permutations, 2_000_000 // max(n, 1)))
    done = 0
    while done < n_permutations and valid.any():
        b = min(chunk, n_permutations - done)
        prefix = np.cumsum(rng.permuted(np.tile(values, (b, 1)), axis=1), axis=1)
        deviation = np.abs(prefix[:, k[valid] - 1] - k[valid] * centre)
        exceed[valid] += np.count_nonzero(deviation >= threshold[valid], axis=0)
        done += b
    p = (1.0 + exceed) / (1.0 + n_permutations)
    p[~valid] = np.nan
    return p


def _merge_siblings(
    nodes: dict[int, _Node], rows: dict[int, dict[str, Any]], leaves: pd.DataFrame
) -> pd.DataFrame:
    """Replace sibling regions of the same kind by their parent, bottom-up (not the root).

    The parent's held-out figures are its own; its adjusted p-value is the largest of the
    merged leaves' (each leaf of the union is significantly more, or less, fragile than the
    rest, so the union is too).
    """
    by_node: dict[int, dict[str, Any]] = {
        int(row["node"]): dict(row) for row in leaves.to_dict(orient="records")
    }

    def collapse(node: int) -> list[dict[str, Any]]:
        if nodes[node].leaf:
            return [by_node[node]]
        left, right = collapse(nodes[node].left), collapse(nodes[node].right)
        if (
            node != 0
            and len(left) == len(right) == 1
            and left[0]["node"] == nodes[node].left
            and right[0]["node"] == nodes[node].right
            and left[0]["kind"] == right[0]["kind"] != NONE
        ):
            merged = dict(rows[node])
            merged["p_adjusted"] = max(left[0]["p_adjusted"], right[0]["p_adjusted"])
            merged["kind"] = left[0]["kind"]
            return [merged]
        return left + right

    return pd.DataFrame(collapse(0))


def _finish(frame: pd.DataFrame, info: dict[str, Descriptor], metric: str) -> pd.DataFrame:
    """Add rule text and order: fragile (most fragile first), robust, then the rest."""
    if frame.empty:
        return _empty_rules()
    frame = frame.copy()
    frame["text"] = [
        rule_text(
            row.kind if row.kind != NONE else "no clear effect",
            describe_conditions(row.conditions, info),
            row.n_holdout,
            row.rate_in,
            row.rate_out,
            metric,
        )
        for row in frame.itertuples()
    ]
    rank = frame["kind"].map({FRAGILE: 0, ROBUST: 1, NONE: 2})
    sign = np.where(frame["kind"] == FRAGILE, -1.0, 1.0) * frame["rate_in"]
    return (
        frame.assign(_rank=rank, _sign=sign)
        .sort_values(["_rank", "_sign"], kind="stable")[RULE_COLUMNS]
        .reset_index(drop=True)
    )


# data quality -------------------------------------------------------------------------------
def mild_scenarios(run_data: RunData) -> list[str]:
    """The lowest-severity isolation scenario of each perturbation that has outcomes."""
    out = []
    for name in run_data.perturbations():
        points = [p for p in run_data.sweep(name) if p.scenario != BASELINE]
        points = [p for p in points if run_data.has(p.scenario)]
        if points:
            out.append(min(points, key=lambda p: p.severity).scenario)
    return out


@dataclass(frozen=True)
class DataQuality:
    """Samples whose labels look wrong, and how fragile each class is.

    Attributes:
        suspects: samples that flip under the mildest magnitude of some perturbation and
            whose baseline prediction disagrees with their label, most often flipped first:
            `sample_index`, `sample_id`, `label`, `baseline_pred`, `baseline_confidence`,
            `mild_flips` (mild scenarios in which any trial flipped), `mild_flip_frequency`
            (share of mild trials that flipped), `mild_scenarios` (their names). Empty
            without labels or for a regressor.
        per_class: `class` (index), `class_name`, `n` (samples), `flip_rate` (mean
            per-sample flip frequency over perturbed trials), `low`, `high` (95% bootstrap
            interval over the class's samples), `any_flip` (share of samples flipping at
            least once). Empty for a regressor.
        basis: what `class` means: "label" or "baseline prediction" ("" for a regressor).
        mild: the mildest scenario of each perturbation.
    """

    suspects: pd.DataFrame
    per_class: pd.DataFrame
    basis: str
    mild: tuple[str, ...] = ()

    def to_payload(self) -> dict[str, Any]:
        """JSON-able form."""
        suspects = {c: self.suspects[c].tolist() for c in SUSPECT_COLUMNS}
        suspects["mild_scenarios"] = [list(s) for s in self.suspects["mild_scenarios"]]
        return {
            "basis": self.basis,
            "mild": list(self.mild),
            "suspects": suspects,
            "per_class": {c: self.per_class[c].tolist() for c in CLASS_COLUMNS},
        }

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> DataQuality:
        """Rebuild from `to_payload()` output."""
        suspects = pd.DataFrame(payload["suspects"], columns=SUSPECT_COLUMNS)
        suspects["mild_scenarios"] = [list(s) for s in payload["suspects"]["mild_scenarios"]]
        return cls(
            suspects=suspects,
            per_class=pd.DataFrame(payload["per_class"], columns=CLASS_COLUMNS),
            basis=str(payload["basis"]),
            mild=tuple(payload["mild"]),
        )


def _class_intervals(
    values: FloatArray, *, n_boot: int, seed: int, key: int
) -> tuple[float, float]:
    resample = bootstrap_weights(len(values), n_boot, seed, stream=(0xC1A55, key))
    return percentile_interval(resample.dot(values) / len(values))


def data_quality(run_data: RunData, *, n_boot: int | None = None) -> DataQuality:
    """Candidate label errors and per-class fragility.

    Args:
        run_data: the run's outcomes.
        n_boot: bootstrap replicates of the per-class intervals (default: the plan's).
    """
    suspects = pd.DataFrame({c: pd.Series(dtype=object) for c in SUSPECT_COLUMNS})
    per_class = pd.DataFrame({c: pd.Series(dtype=object) for c in CLASS_COLUMNS})
    if run_data.task != "classification":
        return DataQuality(suspects, per_class, "")
    scores = fragility_scores(run_data).set_index("sample_index")
    labelled = "label" in scores.columns
    mild = mild_scenarios(run_data)
    if labelled and mild:
        matrices = [run_data.matrix(s, "flipped") for s in mild]  # (n, trials) each
        any_flip = np.stack([np.nan_to_num(m, nan=0.0).max(axis=1) > 0 for m in matrices])
        trials = np.concatenate(matrices, axis=1)
        counted = np.isfinite(trials).sum(axis=1)
        mild_frequency = np.nansum(trials, axis=1) / np.maximum(counted, 1)
        wrong = scores["baseline_pred"].to_numpy() != scores["label"].to_numpy()
        flagged = np.flatnonzero(any_flip.any(axis=0) & wrong)
        suspects = pd.DataFrame(
            {
                "sample_index": run_data.samples[flagged],
                "sample_id": scores["sample_id"].to_numpy()[flagged],
                "label": scores["label"].to_numpy()[flagged],
                "baseline_pred": scores["baseline_pred"].to_numpy()[flagged],
                "baseline_confidence": scores["baseline_confidence"].to_numpy()[flagged],
                "mild_flips": any_flip[:, flagged].sum(axis=0).astype(np.int64),
                "mild_flip_frequency": mild_frequency[flagged],
                "mild_scenarios": [
                    [mild[k] for k in np.flatnonzero(any_flip[:, i])] for i in flagged
                ],
            }
        )
        suspects = suspects.sort_values(
            ["mild_flips", "mild_flip_frequency", "sample_index"],
            ascending=[False, False, True],
            kind="stable",
            ignore_index=True,
        )
    basis = "label" if labelled else "baseline prediction"
    classes = scores["label" if labelled else "baseline_pred"].to_numpy()
    frequency = scores["flip_frequency"].to_numpy(np.float64)
    names = _class_names(run_data)
    boot = n_boot or run_data.plan.analysis.bootstrap
    rows = []
    for k in np.unique(classes):
        values = frequency[(classes == k) & np.isfinite(frequency)]
        if len(values) == 0:
            continue
        low, high = _class_intervals(values, n_boot=boot, seed=run_data.plan.seed, key=int(k))
        rows.append(
            {
                "class": int(k),
                "class_name": names.get(int(k), str(int(k))),
                "n": len(values),
                "flip_rate": float(values.mean()),
                "low": low,
                "high": high,
                "any_flip": float(np.mean(values > 0)),
            }
        )
    if rows:
        per_class = pd.DataFrame(rows, columns=CLASS_COLUMNS)
    return DataQuality(suspects, per_class, basis, tuple(mild))
