"""Noise floor, significance and verdicts: fragile, robust or inconclusive.

Each perturbed scenario is compared with the baseline sample by sample. The effect of a
sample is its change under the scenario (flip frequency, accuracy drop, ...) minus the same
change under the identity scenario — the model's own nondeterminism, the noise floor (zero
for a deterministic model). Repeated seeds enter through the per-sample mean over trials.

Two one-sided tests per (scenario, metric) against the plan's tolerance, with a Holm (or
Benjamini-Hochberg) correction across the grid:

- **fragile**: the mean effect is significantly above the tolerance;
- **robust**: the mean effect is significantly below the tolerance;
- **inconclusive**: neither — reported with the sample size that would decide it at the
  observed effect (80% power) after the grid's correction.

A verdict averages over every input, also those the perturbation left unchanged (a spelling
variant touches only the texts that hold such a word). Beside it: the perturbation's
**coverage** (the share of inputs it changed, from the outcomes' `changed` column), the
effect **among changed inputs**, and the same fragile test on those inputs alone, corrected
across the grid: a scenario within tolerance overall but fragile among the inputs it changed
is flagged *fragile where it applies*.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from wince.analysis.data import RunData
from wince.analysis.settings import AnalysisSettings, run_settings
from wince.analysis.stats import adjust, one_sided_pvalue, required_samples
from wince.engine.scenarios import BASELINE

FloatArray = npt.NDArray[np.float64]
FRAGILE, ROBUST, INCONCLUSIVE = "fragile", "robust", "inconclusive"


@dataclass(frozen=True)
class Verdicts:
    """Per-scenario verdicts.

    Attributes:
        tests: one row per (scenario, metric): `scenario`, `kind`, `severity`, `metric`,
            `effect` (mean per-sample effect beyond the noise floor, harmful direction
            positive), `noise_floor`, `tolerance`, `tolerance_source` (plan, override or
            the default it came from), `p_fragile`, `p_robust` (adjusted),
            `verdict`, `samples_needed` (inconclusive only: the sample size at which the test
            would decide at the observed effect with 80% power, at alpha divided by the
            number of tests, so that it holds after the grid's correction), `coverage`
            (share of inputs the scenario changed in at least one trial; NaN for runs
            recorded before wince 0.3), `n_changed`,
            `effect_changed` (mean effect among changed inputs), `p_fragile_changed`
            (adjusted), `fragile_where_applied` (fragile among changed inputs, not overall).
        scenarios: one row per scenario: `scenario`, `kind`, `severity`, `verdict` (fragile if
            any metric is fragile, robust if all are robust, else inconclusive), `coverage`,
            `fragile_where_applied` (for any metric), `same_inputs_as` (an earlier scenario
            whose inputs were the same for every sample and trial, or "": `same_inputs`).
    """

    tests: pd.DataFrame
    scenarios: pd.DataFrame

    @property
    def fragile(self) -> pd.DataFrame:
        """The fragile tests (rows of `tests`), largest effect first."""
        if self.tests.empty:
            return self.tests
        fragile = self.tests[self.tests["verdict"] == FRAGILE]
        return fragile.sort_values("effect", ascending=False, ignore_index=True)

    @property
    def counts(self) -> dict[str, int]:
        """How many scenarios are fragile, robust and inconclusive (in that order)."""
        found = self.scenarios["verdict"].value_counts() if len(self.scenarios) else {}
        return {verdict: int(found.get(verdict, 0)) for verdict in (FRAGILE, ROBUST, INCONCLUSIVE)}

    def _repr_html_(self) -> str:
        from wince.notebook import FRAGILE_COLUMNS, counts_text, html_card, html_table

        return html_card(
            "Verdicts",
            [("scenarios", counts_text(self.counts))],
            [
                (
                    "Fragile, largest effect first",
                    html_table(self.fragile, columns=FRAGILE_COLUMNS),
                ),
                (
                    "Scenarios",
                    html_table(
                        self.scenarios, columns=("scenario", "severity", "verdict", "coverage")
                    ),
                ),
            ],
        )

    def to_payload(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "tests": self.tests.to_dict(orient="list"),
            "scenarios": self.scenarios.to_dict(orient="list"),
        }


def sample_effects(data: RunData, scenario: str, metric: str) -> tuple[FloatArray, float]:
    """Per-sample effect of a scenario beyond the noise floor, and the floor's mean.

    The effect is the harmful change against the baseline: flip frequency, accuracy drop,
    confidence drop, mean absolute change of a regression output.
    """
    column = data.metrics[metric].column
    sign = data.metrics[metric].harm_sign
    base = data.per_sample(BASELINE, column)

    def change(name: str) -> FloatArray:
        return sign * (data.per_sample(name, column) - base)

    effect = change(scenario)
    floor_scenario = data.noise_floor_scenario
    floor = change(floor_scenario) if floor_scenario is not None else np.zeros_like(effect)
    return effect - floor, float(np.nanmean(floor))


def decide(
    effects: FloatArray, tolerance: float, *, alpha: float
) -> tuple[float, float, int | None]:
    """Unadjusted p-values (fragile, robust) and the samples needed at the observed effect.

    `alpha` is the level the sample size is computed for (`verdicts` passes alpha divided by
    the number of tests of the grid).
    """
    p_fragile = one_sided_pvalue(effects, tolerance, "greater")
    p_robust = one_sided_pvalue(effects, tolerance, "less")
    return p_fragile, p_robust, required_samples(effects, tolerance, alpha=alpha)


def _where_changed(
    effects: FloatArray, changed: npt.NDArray[np.bool_] | None, tolerance: float
) -> dict[str, Any]:
    """Coverage, the effect among changed inputs and its unadjusted fragile p-value.

    The p-value is left out (NaN) when every input changed (the overall test says it all)
    or none did.
    """
    if changed is None:
        nan = float("nan")
        return {"coverage": nan, "n_changed": 0, "effect_changed": nan, "p_fragile_changed": nan}
    among = effects[changed]
    partial = 0 < int(changed.sum()) < len(changed)
    return {
        "coverage": float(changed.mean()),
        "n_changed": int(changed.sum()),
        "effect_changed": float(np.nanmean(among)) if len(among) else float("nan"),
        "p_fragile_changed": (
            one_sided_pvalue(among, tolerance, "greater") if partial else float("nan")
        ),
    }


def same_inputs(data: RunData, scenarios: list[str]) -> dict[str, str]:
    """Scenarios whose inputs equal an earlier scenario's, for every sample and trial.

    From the outcomes' `input_digest` (a content hash of each perturbed input): such a level
    tests exactly what the earlier one tested, as ImageNet-C's defocus levels 4 and 5 do on
    28 px images. Empty for runs recorded before wince 0.4 (no digest).

    Returns:
        scenario -> the first of `scenarios` (in their order) with the same inputs.
    """
    if "input_digest" not in data.outcomes.columns:
        return {}
    first: dict[bytes, str] = {}
    found = {}
    for scenario in scenarios:
        rows = data.frame(scenario).sort_values(["sample_index", "trial"])
        # a digest of the inputs' digests: the keys of all scenarios would be the size of the run
        key = hashlib.sha256(
            rows[["sample_index", "trial", "input_digest"]].to_numpy(np.int64).tobytes()
        ).digest()
        if key in first:
            found[scenario] = first[key]
        else:
            first[key] = scenario
    return found


def verdicts(data: RunData, settings: AnalysisSettings | None = None) -> Verdicts:
    """Test every perturbed scenario of the run against the tolerances of `settings`.

    Args:
        data: the run.
        settings: tolerances, alpha and correction; default the run's current analysis
            section (`run_settings`).
    """
    settings = settings or run_settings(data)
    metrics = [m for m in settings.tolerance if m in data.metrics]
    perturbed = [
        row
        for row in data.scenarios.itertuples()
        if row.kind in ("isolation", "combination") and data.has(row.scenario)
    ]
    tests = _uncorrected_tests(data, settings, perturbed, metrics)
    if tests.empty:
        return Verdicts(tests, pd.DataFrame(columns=_SCENARIO_COLUMNS))
    _correct_and_decide(tests, settings)
    per_scenario = _scenario_verdicts(tests)
    repeated = same_inputs(data, [row.scenario for row in perturbed])
    per_scenario["same_inputs_as"] = [repeated.get(s, "") for s in per_scenario["scenario"]]
    return Verdicts(tests, per_scenario)


_SCENARIO_COLUMNS = [
    "scenario",
    "kind",
    "severity",
    "coverage",
    "fragile_where_applied",
    "verdict",
    "same_inputs_as",
]


def _uncorrected_tests(
    data: RunData, settings: AnalysisSettings, perturbed: list[Any], metrics: list[str]
) -> pd.DataFrame:
    """One row per perturbed scenario and metric: its effect and uncorrected p-values."""
    # The sample size an inconclusive test needs is stated at alpha / (number of tests): a
    # p-value below it is rejected by Holm and by BH whatever the other tests give, so a
    # run at that size reaches the verdict (the uncorrected size fell short on any grid).
    alpha_per_test = settings.alpha / max(len(perturbed) * len(metrics), 1)
    rows = []
    for row in perturbed:
        changed = (
            data.per_sample(row.scenario, "changed") > 0
            if "changed" in data.outcomes.columns
            else None
        )
        for metric in metrics:
            tolerance = settings.tolerance[metric]
            effects, floor = sample_effects(data, row.scenario, metric)
            p_fragile, p_robust, needed = decide(effects, tolerance, alpha=alpha_per_test)
            rows.append(
                _where_changed(effects, changed, tolerance)
                | {
                    "scenario": row.scenario,
                    "kind": row.kind,
                    "severity": float(row.severity),
                    "metric": metric,
                    "effect": float(np.nanmean(effects)),
                    "noise_floor": floor,
                    "tolerance": tolerance,
                    "tolerance_source": settings.tolerance_source.get(metric, "plan"),
                    "p_fragile": p_fragile,
                    "p_robust": p_robust,
                    "samples_needed": needed,
                    "n_samples": int(np.isfinite(effects).sum()),
                }
            )
    return pd.DataFrame(rows)


def _correct_and_decide(tests: pd.DataFrame, settings: AnalysisSettings) -> None:
    """Correct the p-values for multiple testing and add each test's verdict, in place.

    `samples_needed` is kept for inconclusive tests only; `fragile_where_applied` marks a
    test not fragile overall but fragile on the samples the perturbation changed.
    """
    tests["p_fragile"] = adjust(tests["p_fragile"], settings.correction)
    tests["p_robust"] = adjust(tests["p_robust"], settings.correction)
    tests["verdict"] = np.where(
        tests["p_fragile"] < settings.alpha,
        FRAGILE,
        np.where(tests["p_robust"] < settings.alpha, ROBUST, INCONCLUSIVE),
    )
    tests.loc[tests["verdict"] != INCONCLUSIVE, "samples_needed"] = None
    tested = tests["p_fragile_changed"].notna()
    if tested.any():
        tests.loc[tested, "p_fragile_changed"] = adjust(
            tests.loc[tested, "p_fragile_changed"].to_numpy(np.float64), settings.correction
        )
    tests["fragile_where_applied"] = (tests["verdict"] != FRAGILE) & (
        tests["p_fragile_changed"].fillna(1.0) < settings.alpha
    )


def _scenario_verdicts(tests: pd.DataFrame) -> pd.DataFrame:
    """One verdict per scenario: fragile on any metric, robust on all, else inconclusive."""
    per_scenario = (
        tests.groupby("scenario", sort=False)
        .agg(
            kind=("kind", "first"),
            severity=("severity", "first"),
            coverage=("coverage", "first"),
            fragile_where_applied=("fragile_where_applied", "any"),
            verdicts=("verdict", list),
        )
        .reset_index()
    )
    per_scenario["verdict"] = [
        FRAGILE if FRAGILE in v else ROBUST if all(x == ROBUST for x in v) else INCONCLUSIVE
        for v in per_scenario.pop("verdicts")
    ]
    return per_scenario
