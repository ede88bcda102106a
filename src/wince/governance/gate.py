"""Gate a run against a policy: every rule becomes checks that pass or fail, for CI.

Each rule is evaluated on the scenarios (or perturbations) it selects; every (rule, matched
scenario) pair is one check, and one JUnit test case.

Where the numbers come from:

- **flip rate**: the stored curves analysis (`wince analyze`) for isolation scenarios; for
  combinations, or when the run was not analysed, the same estimate computed from the run's
  outcomes the same way (`wince.metrics.proportion_interval`), so both give identical
  intervals.
- **accuracy drop**: computed from the outcomes, paired: per sample, baseline correctness
  minus the mean correctness over the scenario's trials, with the 95% cluster-bootstrap
  interval over samples (tighter than subtracting two separate intervals).
- **median breaking point**: the stored breaking-points analysis
  (`wince analyze RUN --breaking-points`) and its 95% bootstrap interval.
- **regression against a baseline run**: `compare_runs` (McNemar and paired bootstrap,
  Holm-corrected). A scenario regresses when some metric is worse by a difference that
  matters: significant *and* at least the metric's practical margin (`Metric.margin`: one
  point of accuracy or flip rate, two points of confidence; the rule's `margin` replaces
  accuracy's). Significant differences inside the margin are named in the passing message.
  Every metric counts here, unlike `compare`'s verdicts, which follow the decisive ones.
- **fragile count**: the stored verdicts (`wince analyze RUN`).

A scenario whose inputs the model refused (`Store.rejections`) has no outcomes: every
`max_flip_rate`, `max_accuracy_drop` or `no_regression` rule that selects it gets a failing
check for it, saying "the model refused these inputs" with the model's error.

Which end of an interval a threshold is compared with is the rule's `bound` (see
`wince.governance.policy`); it is printed with every check.
"""

from __future__ import annotations

import math
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from wince.analysis.data import RunData, load_run_data
from wince.analysis.stats import bootstrap_means, percentile_interval
from wince.engine.scenarios import BASELINE
from wince.errors import PolicyError, StoreError
from wince.files import write_file
from wince.governance.compare import Comparison, compare_runs
from wince.governance.policy import (
    MaxAccuracyDrop,
    MaxChange,
    MaxFlipRate,
    MaxFragile,
    MinMedianBreakingPoint,
    NoRegression,
    Policy,
    as_policy,
)
from wince.metrics import Resampling, bootstrap_weights, proportion_interval
from wince.plan import Plan
from wince.store.store import Store, strict_json

if TYPE_CHECKING:
    from wince.analysis.breaking import BreakingPoints

CHECK_COLUMNS = (
    "rule",
    "check",
    "subject",
    "passed",
    "estimate",
    "low",
    "high",
    "bound",
    "compared",
    "operator",
    "threshold",
    "source",
    "message",
    "seconds",
)
PERTURBED = ("isolation", "combination")
REFUSED_SOURCE = "rejections"  # the source of a check on inputs the model refused
METRIC_NAMES = {"flip_rate": "flip rate", "accuracy_drop": "accuracy drop"}


@dataclass(frozen=True)
class GateResult:
    """The outcome of gating one run with one policy.

    Attributes:
        run_id: the gated run.
        policy: the policy's name.
        checks: one row per (rule, matched scenario or perturbation): `rule` (its name),
            `check` (its kind), `subject` (scenario key, perturbation, or "fragile
            scenarios"), `passed`, `estimate`, `low`, `high` (the 95% interval, in the
            metric's units: fractions for rates, severity for breaking points, the accuracy
            loss baseline - run for no_regression, a count for fragile findings), `bound`
            ("upper", "lower", "tests" or "count": which number was compared), `compared`
            (that number), `operator` ("<=", ">=" or "<": what passing requires),
            `threshold`, `source` (where the numbers came from), `message`, `seconds`.
    """

    run_id: str
    policy: str
    checks: pd.DataFrame

    @property
    def passed(self) -> bool:
        """Whether every check passed."""
        return bool(self.checks["passed"].all())

    @property
    def failures(self) -> pd.DataFrame:
        """The failed checks."""
        return self.checks[~self.checks["passed"].astype(bool)].reset_index(drop=True)

    def to_payload(self) -> dict[str, Any]:
        """JSON-able form (non-finite numbers as None)."""
        payload = {
            "run_id": self.run_id,
            "policy": self.policy,
            "passed": self.passed,
            "n_checks": len(self.checks),
            "n_failed": len(self.failures),
            "checks": self.checks.to_dict(orient="records"),
        }
        return dict(strict_json(payload))

    def to_junit(self) -> str:
        """JUnit XML: a `testsuites` root, one `testsuite` per rule, one `testcase` per check.

        Failed checks carry a `failure` element whose `message` says what was compared.
        """
        checks = self.checks
        root = ET.Element(
            "testsuites",
            name=f"wince gate {self.policy}",
            tests=str(len(checks)),
            failures=str(len(self.failures)),
            errors="0",
            time=f"{checks['seconds'].sum():.3f}",
        )
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
        for rule, group in checks.groupby("rule", sort=False):
            failed = int((~group["passed"].astype(bool)).sum())
            suite = ET.SubElement(
                root,
                "testsuite",
                name=str(rule),
                tests=str(len(group)),
                failures=str(failed),
                errors="0",
                skipped="0",
                time=f"{group['seconds'].sum():.3f}",
                timestamp=stamp,
            )
            properties = ET.SubElement(suite, "properties")
            first = group.iloc[0]
            for name, value in (
                ("run_id", self.run_id),
                ("policy", self.policy),
                ("check", first["check"]),
                ("bound", first["bound"]),
            ):
                ET.SubElement(properties, "property", name=name, value=str(value))
            for row in group.itertuples():
                case = ET.SubElement(
                    suite,
                    "testcase",
                    classname=f"wince.gate.{self.policy}.{rule}",
                    name=str(row.subject),
                    time=f"{row.seconds:.3f}",
                )
                if not row.passed:
                    failure = ET.SubElement(
                        case, "failure", message=str(row.message), type=str(row.check)
                    )
                    failure.text = f"run {self.run_id}, {row.source}: {row.message}"
                else:
                    ET.SubElement(case, "system-out").text = str(row.message)
        ET.indent(root)
        return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"

    def write_junit(self, path: str | Path) -> Path:
        """Write `to_junit()` to a file (creating its folder) and return the path."""
        target = Path(path)
        write_file(target, self.to_junit(), what="--junit")
        return target


@dataclass
class _Context:
    """What rules read about the gated run, each loaded at most once."""

    store: Store
    run_id: str
    record: dict[str, Any]
    scenarios: pd.DataFrame  # the rejected ones included
    rejected: dict[str, str]  # scenario -> the first line of the model's error
    _cache: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def open(cls, store: Store, run_id: str) -> _Context:
        record = store.run(run_id)
        if record["status"] != "complete":
            raise StoreError(
                f"run {run_id} is {record['status']}, not complete; finish it (`wince run PLAN` "
                "resumes it) before gating."
            )
        scenarios = store.scenarios(run_id, rejected=True)
        scenarios["names"] = [[s["name"] for s in steps] for steps in scenarios["steps"]]
        refused = store.rejections(run_id)
        rejected = dict(zip(refused["scenario"], refused["error"], strict=True))
        return cls(store, run_id, record, scenarios, rejected)

    def data(self) -> RunData:
        if "data" not in self._cache:
            self._cache["data"] = load_run_data(self.store, self.run_id)
        data: RunData = self._cache["data"]
        return data

    def resample(self) -> Resampling:
        if "resample" not in self._cache:
            data = self.data()
            self._cache["resample"] = bootstrap_weights(
                len(data.samples), data.plan.analysis.bootstrap, data.plan.seed
            )
        resample: Resampling = self._cache["resample"]
        return resample

    def curves(self) -> pd.DataFrame | None:
        if "curves" not in self._cache:
            payload = self.store.load_analysis(self.run_id, "curves")
            table = pd.DataFrame(payload["table"]) if payload else None
            if table is not None:
                for column in ("estimate", "low", "high"):
                    table[column] = pd.to_numeric(table[column], errors="coerce").astype(float)
            self._cache["curves"] = table
        curves: pd.DataFrame | None = self._cache["curves"]
        return curves

    def select(self, rule: Any, label: str, *, kinds: tuple[str, ...]) -> pd.DataFrame:
        """Scenario rows a rule's `where` selects; a `PolicyError` when there are none."""
        keep = [
            rule.where.matches(
                row.scenario,
                kind=row.kind,
                severity=float(row.severity),
                steps=row.names,
                kinds=kinds,
            )
            for row in self.scenarios.itertuples()
        ]
        chosen = self.scenarios[keep]
        if chosen.empty:
            available = [
                s
                for s, k in zip(self.scenarios["scenario"], self.scenarios["kind"], strict=True)
                if k in kinds
            ]
            raise PolicyError(
                f"rule {label!r} matches no scenario of run {self.run_id}; check its `where`. "
                f"The run's scenarios: {', '.join(available[:12]) or 'none'}"
                + (f" and {len(available) - 12} more." if len(available) > 12 else ".")
            )
        return chosen

    def interval(self, scenario: str, metric: str, label: str) -> tuple[float, float, float, str]:
        """Estimate and 95% interval of a metric in one scenario, with its source."""
        curves = self.curves()
        if metric == "flip_rate" and curves is not None:
            rows = curves[(curves["metric"] == metric) & (curves["scenario"] == scenario)]
            if len(rows):
                row = rows.iloc[0]
                return float(row["estimate"]), float(row["low"]), float(row["high"]), "curves"
        data = self.data()
        if metric not in METRIC_NAMES:
            return self.change_interval(scenario, metric, label)
        needed = "flipped" if metric == "flip_rate" else "correct"
        if needed not in data.outcomes.columns:
            why = "is not a classification run" if needed == "flipped" else "has no labels"
            raise PolicyError(
                f"rule {label!r}: run {self.run_id} {why}, so its {METRIC_NAMES[metric]} is "
                "unknown; remove the rule or gate a run that has it."
            )
        if metric == "flip_rate":  # a share of 0/1 outcomes: as the curves compute it
            values = data.matrix(scenario, "flipped")
            present = np.isfinite(values)
            successes = np.where(present, values, 0.0).sum(axis=1)
            low, high = proportion_interval(successes, present.sum(axis=1))
        else:
            values = data.per_sample(BASELINE, "correct")[:, None] - data.matrix(
                scenario, "correct"
            )
            low, high = percentile_interval(bootstrap_means(values, self.resample()))
        with np.errstate(invalid="ignore"):
            estimate = float(np.nanmean(values))
        return estimate, low, high, "run outcomes"

    def change_interval(
        self, scenario: str, metric: str, label: str
    ) -> tuple[float, float, float, str]:
        """Estimate and 95% interval of a metric's harmful change against the baseline.

        A share of 0/1 changes against the clean output (output changed) is 0 on the
        baseline: its interval is `proportion_interval`'s, as the flip rate's.
        """
        data = self.data()
        spec = data.metrics.get(metric)
        if spec is None:
            raise PolicyError(
                f"rule {label!r}: run {self.run_id} has no metric {metric!r}; its metrics: "
                f"{', '.join(data.metrics) or 'none'}."
            )
        base = data.per_sample(BASELINE, spec.column)
        values = spec.harm_sign * (data.matrix(scenario, spec.column) - base[:, None])
        present = np.isfinite(values)
        if spec.proportion and np.all(base[np.isfinite(base)] == 0):
            successes = np.where(present, values, 0.0).sum(axis=1)
            low, high = proportion_interval(successes, present.sum(axis=1))
        else:
            low, high = percentile_interval(bootstrap_means(values, self.resample()))
        with np.errstate(invalid="ignore"):
            estimate = float(np.nanmean(values))
        return estimate, low, high, "run outcomes"

    def comparison(self, rule: NoRegression) -> Comparison:
        key = f"compare:{rule.baseline}:{rule.margin}:{rule.intersection}:{rule.alpha}"
        if key not in self._cache:
            self._cache[key] = compare_runs(
                self.store,
                rule.baseline,
                self.run_id,
                margins={"accuracy": rule.margin} if rule.margin is not None else None,
                alpha=rule.alpha,
                intersection=rule.intersection,
            )
        comparison: Comparison = self._cache[key]
        return comparison


def evaluate_gate(
    store: Store, run: str, policy: Policy | dict[str, Any] | str | Path
) -> GateResult:
    """Check a stored run against every rule of a policy.

    Args:
        store: the store holding the run (and any baseline run the policy names).
        run: run id, unique prefix or 'latest'.
        policy: a `Policy`, a mapping or a YAML file path.

    Returns:
        One check per (rule, matched scenario or perturbation); `passed` is True when all
        pass.

    Raises:
        PolicyError: an invalid policy, a rule that matches nothing, or a rule the run
            cannot answer (accuracy without labels).
        StoreError: the run is missing or unfinished, an analysis a rule needs is not stored
            (the message names the `wince analyze` command), or a baseline run cannot be
            paired with it.

    Examples:
        >>> import numpy as np, tempfile, wince
        >>> x = np.random.default_rng(0).normal(size=(80, 2)); y = (x[:, 0] > 0).astype(int)
        >>> plan = {"name": "doc", "perturbations": [{"name": "tabular.gaussian_noise"}]}
        >>> run = wince.run(lambda b: (b[:, 0] > 0).astype(int), (x, y), plan,
        ...                     store=tempfile.mkdtemp())
        >>> result = evaluate_gate(run.store, run.id,
        ...                        {"rules": [{"check": "max_flip_rate", "max": 0.5}]})
        >>> result.passed, len(result.checks)
        (True, 5)
    """
    resolved = as_policy(policy)
    run_id = store.resolve(run)
    context = _Context.open(store, run_id)
    rows: list[dict[str, Any]] = []
    for index, rule in enumerate(resolved.rules):
        label = rule.label(index)
        started = time.perf_counter()
        evaluate = _EVALUATORS[type(rule)]
        found = evaluate(context, rule, label)
        seconds = (time.perf_counter() - started) / max(len(found), 1)
        rows += [{"rule": label, "check": rule.check, **r, "seconds": seconds} for r in found]
    return GateResult(run_id, resolved.name, pd.DataFrame(rows, columns=list(CHECK_COLUMNS)))


def _refused(context: _Context, scenario: str, *, bound: str, operator: str) -> dict[str, Any]:
    """The failing check of a scenario whose inputs the model refused: it has no value."""
    nan = float("nan")
    return {
        "subject": scenario,
        "passed": False,
        "estimate": nan,
        "low": nan,
        "high": nan,
        "bound": bound,
        "compared": nan,
        "operator": operator,
        "threshold": nan,
        "source": REFUSED_SOURCE,
        "message": f"the model refused these inputs: {context.rejected[scenario]}",
    }


def _max_metric(metric: str) -> Callable[[_Context, Any, str], list[dict[str, Any]]]:
    def evaluate(context: _Context, rule: Any, label: str) -> list[dict[str, Any]]:
        rows = []
        for scenario in context.select(rule, label, kinds=PERTURBED)["scenario"]:
            if scenario in context.rejected:
                refused = _refused(context, scenario, bound=rule.bound, operator="<=")
                rows.append({**refused, "threshold": float(rule.max)})
                continue
            estimate, low, high, source = context.interval(scenario, metric, label)
            compared = high if rule.bound == "upper" else low
            passed = bool(compared <= rule.max)  # NaN fails: no interval, no pass
            verb = "<=" if passed else ">"
            if math.isnan(compared):
                verb = "is unknown, not <="
            rows.append(
                {
                    "subject": scenario,
                    "passed": passed,
                    "estimate": estimate,
                    "low": low,
                    "high": high,
                    "bound": rule.bound,
                    "compared": compared,
                    "operator": "<=",
                    "threshold": float(rule.max),
                    "source": source,
                    "message": (
                        f"{METRIC_NAMES.get(metric, f'change of {metric}')} {estimate:.4f}, "
                        "95% interval "
                        f"[{low:.4f}, {high:.4f}]: {rule.bound} bound {compared:.4f} {verb} "
                        f"max {rule.max:g}"
                    ),
                }
            )
        return rows

    return evaluate


def _breaking_point(
    context: _Context, rule: MinMedianBreakingPoint, label: str
) -> list[dict[str, Any]]:
    from wince.analysis.breaking import BreakingPoints

    run_id = context.run_id
    command = f"`wince analyze {run_id} --breaking-points`"
    payload = context.store.load_analysis(run_id, "breaking_points")
    if payload is None:
        raise StoreError(
            f"rule {label!r} needs the breaking points of run {run_id}, which are not stored. "
            f"Run {command} first."
        )
    rows = []
    for entry, name in _matched_plan_entries(context, rule, label):
        scenario = _refused_isolation(context, entry)
        if entry not in payload and scenario is not None:
            # no breaking point was searched: the model refused this perturbation's inputs
            refused = _refused(context, scenario, bound=rule.bound, operator=">=")
            rows.append({**refused, "subject": entry})
            continue
        if entry not in payload:
            raise StoreError(
                f"rule {label!r}: the stored breaking points of run {run_id} lack {entry}. "
                f"Run {command} again."
            )
        points = BreakingPoints.from_payload(payload[entry])
        rows.append(_breaking_point_check(rule, entry, name, points))
    return rows


def _matched_plan_entries(
    context: _Context, rule: MinMedianBreakingPoint, label: str
) -> list[tuple[str, str]]:
    """(plan entry label, perturbation name) pairs the rule selects; a `PolicyError` if none.

    Breaking points are stored per plan entry (a perturbation listed twice has two).
    """
    plan = Plan.model_validate(context.record["lineage"]["plan"])
    entries = list(zip(plan.labels(), (spec.name for spec in plan.perturbations), strict=True))
    chosen = [
        (entry, name)
        for entry, name in entries
        if rule.where.matches_perturbation(name) or rule.where.matches_perturbation(entry)
    ]
    if not chosen:
        raise PolicyError(
            f"rule {label!r} matches no perturbation of run {context.run_id}; check its "
            f"`where.perturbation`. The run's perturbations: "
            f"{', '.join(entry for entry, _ in entries)}."
        )
    return chosen


def _refused_isolation(context: _Context, entry: str) -> str | None:
    """The refused isolation scenario of a plan entry, or None when the model took them all."""
    return next(
        (
            row.scenario
            for row in context.scenarios.itertuples()
            if row.scenario in context.rejected
            and row.kind == "isolation"
            and (row.steps[0].get("entry") or row.steps[0]["name"]) == entry
        ),
        None,
    )


def _breaking_point_check(
    rule: MinMedianBreakingPoint, entry: str, name: str, points: BreakingPoints
) -> dict[str, Any]:
    """The check of one plan entry's median breaking severity against the rule's minimum."""
    from wince import perturbations as library

    magnitude = library.get(name).magnitude
    if rule.min is not None:
        threshold, asked = float(rule.min), f"min severity {rule.min:g}"
    else:
        assert rule.min_value is not None
        threshold = float(magnitude.severity_of(rule.min_value))
        asked = f"min {magnitude.name} {rule.min_value:g} (severity {threshold:.3f})"
    low, high = points.median_interval
    compared = low if rule.bound == "lower" else high
    passed = bool(compared >= threshold)
    estimate = points.median_breaking_severity
    value = (
        f" ({magnitude.name} {magnitude.value_at(estimate):g} {magnitude.unit})"
        if 0 <= estimate <= points.search_end
        else f" (most samples never change up to severity {points.search_end:g})"
        if math.isinf(estimate)
        else ""
    )
    return {
        "subject": entry,
        "passed": passed,
        "estimate": estimate,
        "low": low,
        "high": high,
        "bound": rule.bound,
        "compared": compared,
        "operator": ">=",
        "threshold": threshold,
        "source": "breaking_points analysis",
        "message": (
            f"median breaking severity {estimate:.3f}{value}, 95% interval "
            f"[{low:.3f}, {high:.3f}]: {rule.bound} bound {compared:.3f} "
            f"{'>=' if passed else '<'} {asked}"
        ),
    }


def _no_regression(context: _Context, rule: NoRegression, label: str) -> list[dict[str, Any]]:
    comparison = context.comparison(rule)
    chosen = _compared_scenarios(context, rule, comparison)
    refused = _refused_selected(context, rule)
    if chosen.empty and not refused:
        raise PolicyError(
            f"rule {label!r} matches no scenario shared with baseline run "
            f"{comparison.run_a}; check its `where`."
        )
    rows = [_regression_check(rule, label, comparison, row) for row in chosen.itertuples()]
    bound = "upper" if rule.margin is not None else "tests"
    operator = "<" if rule.margin is not None else ""
    return rows + [_refused(context, s, bound=bound, operator=operator) for s in refused]


def _compared_scenarios(
    context: _Context, rule: NoRegression, comparison: Comparison
) -> pd.DataFrame:
    """The rows of `comparison.scenarios` (both runs' shared scenarios) the rule selects."""
    names = dict(zip(context.scenarios["scenario"], context.scenarios["names"], strict=True))
    keep = [
        rule.where.matches(
            row.scenario,
            kind=row.kind,
            severity=float(row.severity),
            steps=names.get(row.scenario, []),
            kinds=("baseline", *PERTURBED),
        )
        for row in comparison.scenarios.itertuples()
    ]
    return comparison.scenarios[keep]


def _refused_selected(context: _Context, rule: NoRegression) -> list[str]:
    """The perturbed scenarios the rule selects whose inputs the model refused."""
    return [
        row.scenario
        for row in context.scenarios.itertuples()
        if row.scenario in context.rejected
        and rule.where.matches(
            row.scenario,
            kind=row.kind,
            severity=float(row.severity),
            steps=row.names,
            kinds=PERTURBED,
        )
    ]


def _regression_check(
    rule: NoRegression, label: str, comparison: Comparison, row: Any
) -> dict[str, Any]:
    """The check of one shared scenario: no metric worse than the baseline run's by its margin."""
    tests = comparison.tests
    mine = tests[tests["scenario"] == row.scenario]
    harmed = mine[mine["significant"].astype(bool) & (mine["direction"] == "worse")]
    worse = harmed[harmed["matters"].astype(bool)]
    reasons = [
        f"{t.metric} worse than baseline run {comparison.run_a} by at least its margin "
        f"{t.margin:g}: run - baseline {t.difference:+.4f} [{t.low:+.4f}, {t.high:+.4f}], "
        f"Holm p {t.p_adjusted:.2g}"
        for t in worse.itertuples()
    ]
    within = [
        f"{t.metric} {t.difference:+.4f} (margin {t.margin:g})"
        for t in harmed[~harmed["matters"].astype(bool)].itertuples()
    ]
    compared = threshold = float("nan")
    if rule.margin is not None:
        if row.non_inferior is None:
            raise PolicyError(
                f"rule {label!r}: non-inferiority (margin) needs accuracy, and the runs "
                "have no labels; remove `margin`."
            )
        compared, threshold = float(row.ni_bound), float(rule.margin)
        if not row.non_inferior:
            reasons.append(
                f"accuracy not shown non-inferior: upper bound of baseline - run "
                f"{compared:.4f} >= margin {rule.margin:g}"
            )
    estimate, low, high = _accuracy_loss(mine)
    return {
        "subject": row.scenario,
        "passed": not reasons,
        "estimate": estimate,
        "low": low,
        "high": high,
        "bound": "upper" if rule.margin is not None else "tests",
        "compared": compared,
        "operator": "<" if rule.margin is not None else "",
        "threshold": threshold,
        "source": f"compare with run {comparison.run_a}",
        "message": "; ".join(reasons)
        or f"no metric worse than baseline run {comparison.run_a} by its margin or more "
        f"(verdict: {row.verdict})"
        + (f"; significant but within the margin: {', '.join(within)}" if within else ""),
    }


def _accuracy_loss(tests: pd.DataFrame) -> tuple[float, float, float]:
    """Accuracy loss against the baseline (baseline - run) and its 95% interval; NaN if none.

    Its upper bound is what non-inferiority compares with the margin.
    """
    accuracy = tests[tests["metric"] == "accuracy"]
    loss = (float("nan"),) * 3
    if len(accuracy):
        acc = accuracy.iloc[0]
        loss = (-float(acc["difference"]), -float(acc["high"]), -float(acc["low"]))
    estimate, low, high = (v + 0.0 for v in loss)  # no negative zeros
    return estimate, low, high


def _fragile(context: _Context, rule: MaxFragile, label: str) -> list[dict[str, Any]]:
    run_id = context.run_id
    payload = context.store.load_analysis(run_id, "verdicts")
    if payload is None:
        raise StoreError(
            f"rule {label!r} counts the stored verdicts of run {run_id}, which are not stored. "
            f"Run `wince analyze {run_id}` first."
        )
    if rule.metric is not None:
        tests = pd.DataFrame(payload["tests"])
        if tests.empty or rule.metric not in set(tests["metric"]):
            raise PolicyError(
                f"rule {label!r}: the stored verdicts of run {run_id} do not test "
                f"{rule.metric}; the analysis's tolerances name the metrics tested (the plan's "
                "analysis.tolerance, or `wince analyze --tolerance`)."
            )
        picked = tests[(tests["metric"] == rule.metric) & (tests["verdict"] == "fragile")]
    else:
        picked = pd.DataFrame(payload["scenarios"])
        picked = picked[picked["verdict"] == "fragile"] if len(picked) else picked
    fragile = set(picked["scenario"]) if len(picked) else set()
    chosen = context.select(rule, label, kinds=PERTURBED)["scenario"].tolist()
    found = [s for s in chosen if s in fragile]
    passed = len(found) <= rule.max
    what = f"fragile on {rule.metric}" if rule.metric else "fragile"
    listed = f": {', '.join(found)}" if found else ""
    return [
        {
            "subject": f"{what} scenarios",
            "passed": passed,
            "estimate": float(len(found)),
            "low": float("nan"),
            "high": float("nan"),
            "bound": "count",
            "compared": float(len(found)),
            "operator": "<=",
            "threshold": float(rule.max),
            "source": "verdicts analysis",
            "message": (
                f"{len(found)} of {len(chosen)} matched scenarios are {what} "
                f"({'<=' if passed else '>'} max {rule.max}){listed}"
            ),
        }
    ]


_EVALUATORS: dict[type, Callable[[_Context, Any, str], list[dict[str, Any]]]] = {
    MaxFlipRate: _max_metric("flip_rate"),
    MaxAccuracyDrop: _max_metric("accuracy_drop"),
    MaxChange: lambda context, rule, label: _max_metric(rule.metric)(context, rule, label),
    MinMedianBreakingPoint: _breaking_point,
    NoRegression: _no_regression,
    MaxFragile: _fragile,
}
