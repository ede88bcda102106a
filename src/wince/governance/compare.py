"""Compare two runs of the same plan on the same data: is model B better or worse than A?

Both runs perturb the same samples with the same random streams (the streams depend on the
plan seed, scenario, trial and sample id — not on the model), so every scenario pairs the two
models sample by sample. Per scenario:

- **accuracy**: with one trial per sample (deterministic scenarios, the baseline), the exact
  McNemar test (a binomial test on the discordant pairs) on per-sample correctness. With
  several trials a sample's share of correct trials can move without changing which model
  is correct in most of them, so the test is the paired bootstrap below, on the per-sample
  mean correctness over trials, the data of the difference B - A and its interval.
- **flip rate** and **confidence change** (each relative to the model's own clean
  prediction): a paired bootstrap that resamples samples (a sample's trials travel with it,
  the same weights for both models). The interval is the 95% percentile interval of B - A;
  the two-sided p-value uses the bootstrap standard error with a normal approximation.

The clean baseline is tested on accuracy only (flip rate and confidence change are zero
there by construction); the noise-floor (identity) scenario is left out. All p-values are
adjusted together with Holm's method.

**Margins.** Every metric has a practical margin (`Metric.margin`, in its unit: one point
for accuracy and flip rate, two probability points for confidence; `margins` replaces them
per metric). A difference **matters** when it is significant *and* at least the margin: a
retrain that moves confidence by 0.3 points is no difference, however many samples make it
significant. `better_on` and `worse_on` list every metric whose difference matters.

**Verdicts** follow the *decisive* metrics only: the task's headline metric
(`wince.metrics.primary_metric`, the flip rate for classifiers) and accuracy. The others
(confidence change, the plan's own metrics) are reported, in `better_on` / `worse_on` and
the tests, but never decide: a model that gains accuracy and loses confidence is better, and
one that loses only confidence is not worse. Per scenario:

- **better** / **worse**: B's difference matters on at least one decisive metric, better
  (worse), and on none the other way;
- **no difference**: no decisive difference matters and each decisive metric's 95% interval
  lies inside (-margin, margin): the two are shown equivalent at those margins;
- **inconclusive**: too uncertain to call equivalent, or decisive metrics that matter in
  opposite directions (`better_on` and `worse_on` say which).

A scenario tested on no decisive metric (the baseline of a run without labels, which only
the plan's own metrics measure) is judged on all of its metrics the same way.

**Non-inferiority** of B: the upper bound of the 95% interval of accuracy_A - accuracy_B is
below accuracy's margin (per scenario, not adjusted for multiplicity: a one-sided 97.5%
bound each).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats

from wince.analysis.data import RunData, load_run_data
from wince.analysis.stats import adjust, bootstrap_means, percentile_interval
from wince.engine.scenarios import BASELINE, IDENTITY
from wince.errors import ParameterError, StoreError
from wince.metrics import Resampling, bootstrap_weights, primary_metric
from wince.store.store import Store, strict_json

FloatArray = npt.NDArray[np.float64]
BETTER, WORSE, NO_DIFFERENCE, INCONCLUSIVE = "better", "worse", "no difference", "inconclusive"
VERDICTS = (BETTER, WORSE, NO_DIFFERENCE, INCONCLUSIVE)
METRICS = ("accuracy", "flip_rate", "confidence_change")
MCNEMAR, BOOTSTRAP = "mcnemar exact", "paired bootstrap"
TEST_COLUMNS = (
    "scenario",
    "kind",
    "severity",
    "metric",
    "test",
    "value_a",
    "value_b",
    "difference",
    "low",
    "high",
    "a_only",
    "b_only",
    "p_value",
    "p_adjusted",
    "significant",
    "direction",
    "margin",
    "matters",
    "n_samples",
)
SCENARIO_COLUMNS = (
    "scenario",
    "kind",
    "severity",
    "verdict",
    "better_on",
    "worse_on",
    "accuracy_a",
    "accuracy_b",
    "ni_bound",
    "non_inferior",
)


@dataclass(frozen=True)
class Comparison:
    """Paired comparison of run B against run A, per scenario.

    Attributes:
        run_a: the reference run (A).
        run_b: the run compared with it (B).
        margins: the practical margin of each compared metric, in its unit: smaller
            differences are no difference (equivalence); accuracy's is also the
            non-inferiority margin.
        decisive: the metrics the verdicts follow (the task's headline metric and
            accuracy, those the runs hold).
        alpha: family-wise error rate of the Holm-adjusted tests.
        tests: one row per (scenario, metric): `scenario`, `kind`, `severity`, `metric`,
            `test` ("mcnemar exact" or "paired bootstrap"), `value_a`, `value_b`,
            `difference` (B - A in metric units), `low`, `high` (its 95% paired bootstrap
            interval), `a_only`, `b_only` (McNemar: samples correct under one model only),
            `p_value`, `p_adjusted` (Holm, over every test), `significant`, `direction`
            ("better", "worse" or "same": B relative to A, whatever the significance),
            `margin` (the metric's), `matters` (significant and |difference| >= margin),
            `n_samples`.
        scenarios: one row per scenario: `scenario`, `kind`, `severity`, `verdict` (better,
            worse, no difference, inconclusive), `better_on`, `worse_on` (the metrics whose
            difference matters, comma separated), `accuracy_a`, `accuracy_b`, `ni_bound`
            (upper bound of accuracy_A - accuracy_B), `non_inferior` (None without labels).
        excluded: scenarios left out: held by only one run (intersection only), or whose
            inputs a model refused in either run (`Store.rejections`: no outcomes to pair).
        n_samples: samples paired in every scenario.
    """

    run_a: str
    run_b: str
    margins: dict[str, float]
    decisive: tuple[str, ...]
    alpha: float
    tests: pd.DataFrame
    scenarios: pd.DataFrame
    excluded: tuple[str, ...] = ()
    n_samples: int = 0

    @property
    def non_inferior(self) -> bool | None:
        """B non-inferior to A in accuracy in every scenario (None without labels)."""
        flags = [f for f in self.scenarios["non_inferior"] if f is not None]
        if not flags:
            return None
        return bool(all(flags))

    def counts(self) -> dict[str, int]:
        """Number of scenarios per verdict."""
        found = self.scenarios["verdict"].value_counts().to_dict()
        return {v: int(found.get(v, 0)) for v in VERDICTS}

    def to_payload(self) -> dict[str, Any]:
        """JSON-able form (non-finite numbers as None)."""
        payload = {
            "run_a": self.run_a,
            "run_b": self.run_b,
            "margins": self.margins,
            "decisive": list(self.decisive),
            "alpha": self.alpha,
            "n_samples": self.n_samples,
            "non_inferior": self.non_inferior,
            "verdicts": self.counts(),
            "excluded": list(self.excluded),
            "scenarios": self.scenarios.to_dict(orient="records"),
            "tests": self.tests.to_dict(orient="records"),
        }
        return dict(strict_json(payload))

    def to_markdown(self) -> str:
        """A Markdown section: one row per scenario, differences B - A with intervals."""
        lines = [
            f"## Comparison: B `{self.run_b}` against A `{self.run_a}`",
            "",
            f"Differences are B - A with 95% paired bootstrap intervals over {self.n_samples} "
            f"samples; p-values are Holm-adjusted over {len(self.tests)} tests "
            f"(alpha = {self.alpha:g}). Accuracy is tested with the exact McNemar test where "
            "each sample has one trial, otherwise, as flip rate and confidence change, with "
            f"the paired bootstrap. A difference matters when it is significant and at least its "
            f"metric's margin ({margins_text(self.margins)}). Verdicts follow "
            f"{' and '.join(self.decisive)}; the other metrics are reported only.",
            "",
        ]
        metrics = list(dict.fromkeys(self.tests["metric"]))
        header = ["scenario", *(f"Δ {m.replace('_', ' ')} [95%] (p)" for m in metrics)]
        header += ["verdict", "non-inferior"]
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "|".join(["---"] + ["---:"] * len(metrics) + ["---", "---"]) + "|")
        for row in self.scenarios.itertuples():
            cells = [f"`{row.scenario}`"]
            cells += [difference_text(self.tests, row.scenario, metric=m) for m in metrics]
            cells.append(f"**{row.verdict}**" if row.verdict in (BETTER, WORSE) else row.verdict)
            cells.append(_yes_no(row.non_inferior))
            lines.append("| " + " | ".join(cells) + " |")
        counts = ", ".join(f"{n} {v}" for v, n in self.counts().items())
        ni = self.non_inferior
        lines += ["", f"Scenarios: {counts}."]
        if ni is not None:
            lines.append(
                f"B is {'non-inferior' if ni else 'not shown non-inferior'} to A in accuracy "
                f"at margin {self.margins['accuracy']:g} "
                f"{'in every scenario' if ni else ''}".rstrip()
                + "."
            )
        if self.excluded:
            lines.append(
                f"Left out (held by one run only, or refused by a model): "
                f"{', '.join(self.excluded)}."
            )
        return "\n".join(lines) + "\n"


def difference_text(tests: pd.DataFrame, scenario: str, *, metric: str) -> str:
    """`+0.012 [-0.003, 0.027] (p 0.41)` for one test, or `-` when not tested."""
    rows = tests[(tests["scenario"] == scenario) & (tests["metric"] == metric)]
    if rows.empty:
        return "-"
    row = rows.iloc[0]
    return (
        f"{row['difference']:+.3f} [{row['low']:+.3f}, {row['high']:+.3f}] "
        f"(p {row['p_adjusted']:.2g})"
    )


def margins_text(margins: Mapping[str, float]) -> str:
    """`accuracy 0.01, flip_rate 0.01, confidence_change 0.02`: each metric's margin."""
    return ", ".join(f"{metric} {margin:g}" for metric, margin in margins.items())


def _yes_no(flag: Any) -> str:
    if flag is None or (isinstance(flag, float) and np.isnan(flag)):
        return "-"
    return "yes" if flag else "no"


def compare_runs(
    store: Store,
    run_a: str,
    run_b: str,
    *,
    margins: Mapping[str, float] | None = None,
    alpha: float = 0.05,
    intersection: bool = False,
    n_boot: int | None = None,
) -> Comparison:
    """Compare run B with run A scenario by scenario, pairing samples.

    Args:
        store: the store holding both runs.
        run_a: the reference run: id, unique prefix or 'latest'.
        run_b: the run compared with it.
        margins: practical margins replacing the metrics' own (`Metric.margin`), per metric
            in its unit (accuracy as a fraction: 0.01 is one percentage point), each > 0.
        alpha: family-wise error rate of the Holm-adjusted tests, in (0, 1).
        intersection: compare only the scenarios both runs hold; otherwise differing
            scenario sets are refused.
        n_boot: bootstrap replicates (default: run A's plan, analysis.bootstrap).

    Returns:
        The per-scenario tests and verdicts.

    Raises:
        StoreError: a run is missing or unfinished, or the runs cannot be paired: different
            data, seeds, repeats or perturbation versions, or different scenarios (without
            `intersection`).
        ParameterError: a margin that is not a positive number or names no compared
            metric, alpha outside (0, 1), or regression runs.

    Examples:
        >>> import numpy as np, tempfile, wince
        >>> x = np.random.default_rng(0).normal(size=(60, 2)); y = (x[:, 0] > 0).astype(int)
        >>> plan = {"name": "doc", "perturbations": [{"name": "tabular.gaussian_noise"}]}
        >>> store = tempfile.mkdtemp()
        >>> a = wince.run(lambda b: (b[:, 0] > 0).astype(int), (x, y), plan, store=store)
        >>> b = wince.run(lambda b: (b[:, 0] > 0.0).astype(int), (x, y), plan, store=store)
        >>> comparison = compare_runs(a.store, a.id, b.id)
        >>> sorted(set(comparison.scenarios["verdict"]))
        ['no difference']
    """
    _check_alpha(alpha)
    a_id, b_id = store.resolve(run_a), store.resolve(run_b)
    shared, excluded = check_pairing(store, a_id, b_id, intersection=intersection)
    a, b = load_run_data(store, a_id), load_run_data(store, b_id)
    if not np.array_equal(a.samples, b.samples):
        raise StoreError(
            f"runs {a_id} and {b_id} hold outcomes of different samples "
            f"({len(a.samples)} and {len(b.samples)}); finish both runs (`wince run PLAN` "
            "resumes one) and compare again."
        )
    return compare_data(
        a,
        b,
        scenarios=shared,
        margins=margins,
        alpha=alpha,
        n_boot=n_boot or a.plan.analysis.bootstrap,
        seed=a.plan.seed,
        excluded=excluded,
    )


def check_pairing(
    store: Store, run_a: str, run_b: str, *, intersection: bool = False
) -> tuple[list[str], tuple[str, ...]]:
    """The scenarios two runs can be compared on, or a `StoreError` saying why they cannot.

    Scenarios whose inputs a model refused (in either run) have no outcomes to pair: they
    are left out, and do not count as a difference between the plans.

    Returns:
        The shared scenarios in run A's order (identity left out) and those left out.

    Raises:
        StoreError: unfinished runs, different data fingerprints, seeds, repeats or
            perturbation versions; different scenario sets unless `intersection`.
        ParameterError: regression runs (compare supports classifiers).
    """
    record_a, record_b = store.run(run_a), store.run(run_b)
    for record in (record_a, record_b):
        if record["status"] != "complete":
            raise StoreError(
                f"run {record['run_id']} is {record['status']}, not complete; finish it "
                "(`wince run PLAN` resumes it) before comparing."
            )
        if record["task"] != "classification":
            raise ParameterError(
                f"compare supports classification runs; run {record['run_id']} is a "
                f"{record['task']} run."
            )
    lineage_a, lineage_b = record_a["lineage"], record_b["lineage"]
    problems = []
    if record_a["data_fingerprint"] != record_b["data_fingerprint"]:
        problems.append(
            f"different data: fingerprint {record_a['data_fingerprint']} (A) and "
            f"{record_b['data_fingerprint']} (B); run both models on the same data."
        )
    for field in ("seed", "repeats"):
        value_a, value_b = lineage_a["plan"].get(field), lineage_b["plan"].get(field)
        if value_a != value_b:
            problems.append(
                f"different {field}s: plan.{field} is {value_a} (A) and {value_b} (B); the "
                "perturbed inputs differ. Run both with the same plan."
            )
    versions_a = lineage_a.get("perturbation_versions", {})
    versions_b = lineage_b.get("perturbation_versions", {})
    changed = sorted(
        name for name in set(versions_a) & set(versions_b) if versions_a[name] != versions_b[name]
    )
    problems += [
        f"different versions of {name}: {versions_a[name]} (A) and {versions_b[name]} (B); "
        "re-run the older one with the current library."
        for name in changed
    ]
    keys_a = [s for s in store.scenarios(run_a, rejected=True)["scenario"] if s != IDENTITY]
    keys_b = [s for s in store.scenarios(run_b, rejected=True)["scenario"] if s != IDENTITY]
    refused = {*store.rejections(run_a)["scenario"], *store.rejections(run_b)["scenario"]}
    only_a = [s for s in keys_a if s not in set(keys_b)]
    only_b = [s for s in keys_b if s not in set(keys_a)]
    shared = [s for s in keys_a if s in set(keys_b) and s not in refused]
    unpaired = [s for s in keys_a if s in set(keys_b) and s in refused]
    if (only_a or only_b) and not intersection:
        problems.append(
            f"different scenarios: only in A: {_names(only_a)}; only in B: {_names(only_b)} "
            f"({len(shared)} shared). Compare the shared ones with --intersection "
            "(intersection=True), or run both models with the same plan."
        )
    if not shared:
        problems.append("no scenario is held by both runs.")
    if problems:
        lines = "\n".join(f"  - {p}" for p in problems)
        raise StoreError(f"runs {run_a} (A) and {run_b} (B) cannot be paired:\n{lines}")
    return shared, tuple(only_a + only_b + unpaired)


def _names(keys: Sequence[str], limit: int = 8) -> str:
    if not keys:
        return "none"
    shown = ", ".join(keys[:limit])
    return shown + (f" and {len(keys) - limit} more" if len(keys) > limit else "")


def _check_alpha(alpha: float) -> None:
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0 < alpha < 1:
        raise ParameterError(
            f"compare: alpha must be a fraction in (0, 1); got {alpha!r}. Try 0.05."
        )


def resolve_margins(
    a: RunData, b: RunData, overrides: Mapping[str, float] | None = None
) -> dict[str, float]:
    """The practical margin of every metric a comparison of two runs tests.

    Args:
        a: the reference run's data.
        b: the compared run's data.
        overrides: margins replacing the metrics' own (`Metric.margin`), per metric.

    Raises:
        ParameterError: an override that names no compared metric, or is not a positive
            finite number.
    """
    metrics = compared_metrics(a, b, baseline=False)  # the baseline's are among them
    chosen = dict(overrides or {})
    problems = [
        f"compare: margin of {name!r}: the runs have no such metric; they compare "
        f"{', '.join(metrics)}."
        for name in chosen
        if name not in metrics
    ]
    problems += [
        f"compare: margin of {name}: a positive number in the metric's unit; got {value!r}. "
        f"Try {a.metrics[name].margin:g}."
        for name, value in chosen.items()
        if name in metrics
        and (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not (math.isfinite(value) and value > 0)
        )
    ]
    if problems:
        raise ParameterError("\n".join(problems))
    return {m: float(chosen.get(m, a.metrics[m].margin)) for m in metrics}


def compare_data(
    a: RunData,
    b: RunData,
    *,
    scenarios: Sequence[str] | None = None,
    margins: Mapping[str, float] | None = None,
    alpha: float = 0.05,
    n_boot: int = 1000,
    seed: int = 0,
    excluded: Sequence[str] = (),
) -> Comparison:
    """Paired tests of B against A on already loaded, already checked runs.

    Args:
        a: the reference run's data.
        b: the compared run's data: the same samples, scenarios and trials.
        scenarios: scenarios to compare (default: A's, identity left out).
        margins: practical margins replacing the metrics' own, per metric (see
            `resolve_margins`).
        alpha: family-wise error rate, in (0, 1).
        n_boot: bootstrap replicates.
        seed: seed of the bootstrap weights.
        excluded: scenarios left out before (reported only).
    """
    _check_alpha(alpha)
    chosen = resolve_margins(a, b, margins)
    decisive = decisive_metrics(a)
    if scenarios is None:
        scenarios = [s for s in a.scenarios["scenario"] if s != IDENTITY]
    resample = bootstrap_weights(len(a.samples), n_boot, seed)
    info = a.scenarios.set_index("scenario")
    rows: list[dict[str, Any]] = []
    for scenario in scenarios:
        kind = str(info.loc[scenario, "kind"])
        metrics = compared_metrics(a, b, baseline=kind == BASELINE)
        rows.extend(
            {
                "scenario": scenario,
                "kind": kind,
                "severity": float(info.loc[scenario, "severity"]),
                **paired_test(a, b, scenario=scenario, metric=metric, resample=resample),
            }
            for metric in metrics
        )
    tests = pd.DataFrame(rows, columns=list(TEST_COLUMNS))
    if len(tests):
        tests["p_adjusted"] = adjust(tests["p_value"].to_numpy(np.float64), "holm")
        tests["significant"] = tests["p_adjusted"] < alpha
        tests["margin"] = tests["metric"].map(chosen).astype(float)
        tests["matters"] = tests["significant"].astype(bool) & (
            tests["difference"].abs() >= tests["margin"]
        )
    table = pd.DataFrame(
        [_scenario_row(group, decisive) for _, group in tests.groupby("scenario", sort=False)],
        columns=list(SCENARIO_COLUMNS),
    )
    # Python bools and None (no labels), not numpy bools: `is True` / JSON read naturally
    table["non_inferior"] = pd.Series(
        [None if v is None else bool(v) for v in table["non_inferior"]],
        index=table.index,
        dtype=object,
    )
    return Comparison(
        run_a=a.run_id,
        run_b=b.run_id,
        margins=chosen,
        decisive=decisive,
        alpha=alpha,
        tests=tests,
        scenarios=table,
        excluded=tuple(excluded),
        n_samples=len(a.samples),
    )


def decisive_metrics(data: RunData) -> tuple[str, ...]:
    """The metrics a comparison's verdicts follow: the task's headline metric and accuracy.

    Those of them the run holds (accuracy needs labels).
    """
    primary = primary_metric(data.task, data.metrics)
    names = [primary.name] if primary is not None else []
    return tuple(dict.fromkeys([*names, *(m for m in ("accuracy",) if m in data.metrics)]))


def compared_metrics(a: RunData, b: RunData, *, baseline: bool) -> list[str]:
    """The metrics both runs hold that a comparison tests.

    Classifiers: accuracy, flip rate and confidence change; structured outputs and the
    plan's own metrics: all of them. On the baseline only those measured against the labels
    (a change against the clean output is 0 there) and the plan's own.
    """
    shared = [m for m in a.metrics if m in b.metrics]
    own = [
        m for m in shared if a.metrics[m].function is not None or a.metrics[m].source != "built-in"
    ]
    metrics = [m for m in METRICS if m in shared] + own
    if baseline:
        metrics = [
            m for m in metrics if a.metrics[m].needs_labels or a.metrics[m].source != "built-in"
        ]
    return metrics


def paired_test(
    a: RunData, b: RunData, *, scenario: str, metric: str, resample: Resampling
) -> dict[str, Any]:
    """One metric of one scenario: values, B - A with its interval, unadjusted p-value.

    Args:
        a: the reference run's data.
        b: the compared run's data (same samples and trials).
        scenario: the scenario key.
        metric: one of `compared_metrics` (in its own unit). A share of correct samples
            (accuracy, exact match) with one trial per sample is tested with the exact
            McNemar test; with several trials, and for other metrics, the p-value is the
            paired bootstrap's, from the same replicates as the interval.
        resample: bootstrap weights over the samples, shared by both runs.
    """
    spec = a.metrics[metric]
    column = spec.column
    per_a, per_b = a.per_sample(scenario, column), b.per_sample(scenario, column)
    difference = per_b - per_a
    replicates = bootstrap_means(difference[:, None], resample)
    low, high = percentile_interval(replicates)
    mean = float(np.nanmean(difference)) if np.isfinite(difference).any() else float("nan")
    a_only = b_only = None
    trials_a, trials_b = a.matrix(scenario, column), b.matrix(scenario, column)
    # a share of correct samples with one trial per sample: each sample is correct or not, the
    # exact McNemar test's data; with several trials a sample's share of correct trials moves
    # in steps McNemar cannot see, so the p-value comes from the bootstrap, as the interval
    one_trial = trials_a.shape[1] == 1 and trials_b.shape[1] == 1
    mcnemar = spec.proportion and spec.better == "higher" and one_trial
    if mcnemar:
        correct_a = _majority(trials_a)
        correct_b = _majority(trials_b)
        a_only = int(np.sum(correct_a & ~correct_b))
        b_only = int(np.sum(correct_b & ~correct_a))
        p_value = mcnemar_exact(a_only, b_only)
        gain = float(b_only - a_only)
    else:
        p_value = bootstrap_pvalue(mean, replicates)
        gain = -spec.harm_sign * mean
    return {
        "metric": metric,
        "test": MCNEMAR if mcnemar else BOOTSTRAP,
        "value_a": _mean(per_a),
        "value_b": _mean(per_b),
        "difference": mean,
        "low": low,
        "high": high,
        "a_only": a_only,
        "b_only": b_only,
        "p_value": p_value,
        "p_adjusted": p_value,
        "significant": False,
        "direction": BETTER if gain > 0 else WORSE if gain < 0 else "same",
        "n_samples": int(np.isfinite(difference).sum()),
    }


def _mean(values: FloatArray) -> float:
    return float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")


def _majority(correct: FloatArray) -> npt.NDArray[np.bool_]:
    """Correct in more than half of a sample's trials (missing trials left out)."""
    with np.errstate(invalid="ignore"):
        share = np.nanmean(correct, axis=1)
    return np.asarray(share > 0.5, dtype=np.bool_)


def mcnemar_exact(a_only: int, b_only: int) -> float:
    """Two-sided exact McNemar p-value: a binomial test of the discordant pairs at 1/2.

    Args:
        a_only: samples correct under A and wrong under B.
        b_only: samples correct under B and wrong under A.
    """
    discordant = a_only + b_only
    if discordant == 0:
        return 1.0
    return float(stats.binomtest(b_only, discordant, 0.5, alternative="two-sided").pvalue)


def bootstrap_pvalue(difference: float, replicates: FloatArray) -> float:
    """Two-sided p-value that a paired mean difference is zero, from its bootstrap spread.

    Uses the bootstrap standard error with a normal approximation (smooth, unlike counting
    replicates beyond zero, whose resolution 1/n_boot is too coarse for a Holm correction).
    """
    finite = replicates[np.isfinite(replicates)]
    if not np.isfinite(difference) or len(finite) < 2:
        return 1.0
    se = float(finite.std(ddof=1))
    if se == 0:
        return 1.0 if difference == 0 else 0.0
    return float(2 * stats.norm.sf(abs(difference) / se))


def _scenario_row(group: pd.DataFrame, decisive: Sequence[str]) -> dict[str, Any]:
    matters = group[group["matters"].astype(bool)]
    better = matters.loc[matters["direction"] == BETTER, "metric"].tolist()
    worse = matters.loc[matters["direction"] == WORSE, "metric"].tolist()
    judged = group[group["metric"].isin(decisive)]
    if judged.empty:  # only the plan's own metrics: judged on all of them
        judged = group
    better_decisive = any(m in better for m in judged["metric"])
    worse_decisive = any(m in worse for m in judged["metric"])
    inside = bool(((judged["low"] > -judged["margin"]) & (judged["high"] < judged["margin"])).all())
    if better_decisive and not worse_decisive:
        verdict = BETTER
    elif worse_decisive and not better_decisive:
        verdict = WORSE
    elif not better_decisive and not worse_decisive and inside:
        verdict = NO_DIFFERENCE
    else:
        verdict = INCONCLUSIVE
    accuracy = group[group["metric"] == "accuracy"]
    first = group.iloc[0]
    row: dict[str, Any] = {
        "scenario": first["scenario"],
        "kind": first["kind"],
        "severity": first["severity"],
        "verdict": verdict,
        "better_on": ", ".join(better),
        "worse_on": ", ".join(worse),
        "accuracy_a": float("nan"),
        "accuracy_b": float("nan"),
        "ni_bound": float("nan"),
        "non_inferior": None,
    }
    if len(accuracy):
        acc = accuracy.iloc[0]
        bound = -float(acc["low"])  # upper bound of accuracy_A - accuracy_B
        row.update(
            accuracy_a=float(acc["value_a"]),
            accuracy_b=float(acc["value_b"]),
            ni_bound=bound,
            non_inferior=bool(bound < float(acc["margin"])),
        )
    return row
