"""Plain-language findings and recommended defences, from a run's stored analyses.

Each perturbation gets one headline: its worst realistic level. Perturbations with a fragile
level are *risks*, ranked by effect x realism; the others are *robust* (every level tested is
significantly within tolerance) or *inconclusive*. Realism weighs how often a magnitude meets
a deployed model: it is 1 at severity 0 and falls linearly to 0.5 at the severe end of the
realistic range (severity 1), and is 0.25 beyond it, so a mild distortion that hurts outranks
an extreme one that hurts as much.

Every number in a sentence is a stored value (curve estimates and their 95% intervals,
interaction differences, Sobol indices), formatted by `percent`.

Recommendations are actionable: each carries the code that applies it — the `wince.augment`
call up to the measured breaking magnitude (with its scikit-learn, numpy and torch forms), a
pre-processing call per perturbation family (`FAMILIES`, `DEFENCES`: OpenCV, SciPy ...), and
`wince monitor` and `wince gate` policies.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from string import Template
from typing import Any

import numpy as np
import pandas as pd

from wince.analysis.data import step_entry
from wince.defences import applicable
from wince.defences.lineage import IN_MEMORY
from wince.errors import WinceError
from wince.metrics import Metric
from wince.monitor.estimate import LIVE_INPUTS
from wince.perturbations.base import Modality, registry
from wince.perturbations.tabular import KEYWORDS as COLUMN_KEYWORDS
from wince.report.data import ReportData
from wince.report.phrases import CONTEXTS, EFFECTS, OPTION_WORDS

FRAGILE, ROBUST, INCONCLUSIVE = "fragile", "robust", "inconclusive"
# what a recommendation rests on (`Recommendation.status`)
SUGGESTION = "suggestion (not measured)"
MEASURED = "measured"
NOT_RECOMMENDED = "measured: not recommended"
# the registered defence that calibrates a classifier's confidence after the fact
CALIBRATION_DEFENCE = "model.temperature"


def realism(severity: float) -> float:
    """How plausible a magnitude is in deployment: 1 at off, 0.5 at the severe end, then 0.25."""
    if severity > 1.0 + 1e-9:
        return 0.25
    return 1.0 - 0.5 * max(severity, 0.0)


def percent_digits(value: float) -> int:
    """Decimals for a share: one below 10%, none above."""
    return 1 if abs(value) < 0.1 else 0


def percent(value: float | None, digits: int | None = None) -> str:
    """A share as a percentage for people: 0.057 -> '5.7%', 0.418 -> '42%'.

    Examples:
        >>> percent(0.0567), percent(0.418), percent(0.418, 1), percent(None)
        ('5.7%', '42%', '41.8%', 'n/a')
    """
    if value is None or not math.isfinite(value):
        return "n/a"
    places = percent_digits(value) if digits is None else digits
    return f"{value * 100:.{places}f}%"


def interval(estimate: float, low: float, high: float, *, share: bool = True) -> str:
    """'5.7% (4.1–7.3%)': an estimate and its 95% interval at one precision."""
    if not share:
        return f"{estimate:.3g} ({low:.3g}–{high:.3g})"
    digits = percent_digits(estimate)
    return f"{percent(estimate, digits)} ({percent(low, digits)[:-1]}–{percent(high, digits)})"


# Units quoted as percentages: shares, and error rates (edits per character or word), which
# people read as percentages ("a character error rate of 1.2%").
PERCENT_UNITS = frozenset({"share", "edits per character", "edits per word"})
# A clean value this close to 0 is 0 up to rounding (a change against the clean output).
NEGLIGIBLE = 1e-9
# Units that name nothing a reader could use: values are shown as bare numbers.
BARE_UNITS = frozenset({"value", "output units"})


def in_percent(metric: Metric) -> bool:
    """Whether a metric's values are shown as percentages (`PERCENT_UNITS`)."""
    return metric.unit in PERCENT_UNITS


def metric_value(value: float | None, metric: Metric) -> str:
    """A metric's value as people read it: a percentage, or a number and its unit.

    Examples:
        >>> from wince.metrics import BUILT_IN_METRICS as table
        >>> metric_value(0.012, table["cer"]), metric_value(0.78, table["mean_iou"])
        ('1.2%', '0.78 IoU')
    """
    if in_percent(metric):
        return percent(value)
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value:.3g}{unit_suffix(metric)}"


def unit_suffix(metric: Metric) -> str:
    """The unit written after a number (' IoU').

    Empty for bare units and for those the description already states ('1 - cosine
    similarity with the clean embedding' is in '1 - cosine').
    """
    if metric.unit in BARE_UNITS or metric.description.startswith(metric.unit):
        return ""
    return f" {metric.unit}"


def metric_interval(estimate: float, low: float, high: float, metric: Metric) -> str:
    """An estimate and its 95% interval in the metric's unit.

    E.g. '1.2% (0.8–1.7%)', '0.78 IoU (0.74–0.81)'.
    """
    if in_percent(metric):
        return interval(estimate, low, high)
    return f"{metric_value(estimate, metric)} ({low:.3g}–{high:.3g})"


def metric_label(name: str, data: ReportData) -> str:
    """What a metric measures, in words: its description, or its name with spaces."""
    metric = data.metrics.get(name)
    return metric.description if metric is not None else name.replace("_", " ")


def describe_step(
    name: str,
    value: float,
    unit: str,
    *,
    params: Mapping[str, Any] | None = None,
    context: bool = True,
) -> str:
    """A perturbation at a value as a lower-case phrase a non-specialist reads.

    Its effect in plain words (`wince.report.phrases.EFFECTS`), then, with `context`, where
    such a value happens in real life, when a comparison holds at that value (`CONTEXTS`).
    `params` are the plan entry's other parameters (`columns` and the like): they tell apart
    two entries of one perturbation.

    Examples:
        >>> describe_step("image.jpeg", 70, "libjpeg quality")
        're-saving images as JPEG at quality 70 of 100, as messaging apps do'
        >>> describe_step("text.typos", 0.1, "fraction of characters")
        'typos in 10% of characters'
        >>> describe_step("tabular.gaussian_noise", 1, "sd", params={"columns": ["age"]})
        'measurement noise of 1 standard deviation on column age'
    """
    effect = EFFECTS.get(name)
    core = library_phrase(name, value, unit) if effect is None else effect(value)
    core += params_phrase(name, params or {})
    where = CONTEXTS[name](value) if context and name in CONTEXTS else ""
    return f"{core}, {where}" if where else core


def params_phrase(name: str, params: Mapping[str, Any]) -> str:
    """Where a step applies and its other parameters, as words after its effect.

    Examples:
        >>> params_phrase("tabular.gaussian_noise", {})
        ' on every column'
        >>> params_phrase("text.casing", {"style": "upper"}), params_phrase("x", {"k": 2})
        (' (in capitals)', ' (k 2)')
        >>> params_phrase("tabular.sensor_drift", {"columns": "mean .*"})
        ' on the columns matching "mean .*"'
        >>> params_phrase("tabular.gaussian_noise", {"columns": "numeric"})
        ' on the numeric columns'
    """
    others = {k: v for k, v in params.items() if k != "columns"}
    columns = params.get("columns")
    text = ""
    if isinstance(columns, str):  # a keyword or a regular expression (`check_selector`)
        keyword = columns in COLUMN_KEYWORDS
        text = f" on the {columns} columns" if keyword else f' on the columns matching "{columns}"'
    elif columns:
        names = [str(c) for c in columns]
        text = f" on column{'s' if len(names) > 1 else ''} {', '.join(names)}"
    elif name.startswith("tabular."):
        text = " on every column"
    if others:
        text += " (" + ", ".join(_option_words(k, v) for k, v in sorted(others.items())) + ")"
    return text


def _option_words(key: str, value: Any) -> str:
    """One option in words: its phrase if it has one, else "key value", lists as "a and b".

    Examples:
        >>> _option_words("protect", ["negations", "numbers"])
        'protect negations and numbers'
    """
    if isinstance(value, list | tuple):
        items = [str(v) for v in value]
        value = (
            " and ".join(items) if len(items) < 3 else ", ".join(items[:-1]) + " and " + items[-1]
        )
    return OPTION_WORDS.get(f"{key}={value}", f"{key} {value}")


def amount(value: float, unit: str) -> str:
    """A value in its unit as people say it: shares as percentages.

    Examples:
        >>> amount(0.15, "fraction of words"), amount(12, "% of the reading"), amount(-6, "dB")
        ('15% of words', '12% of the reading', '-6 dB')
    """
    if unit.startswith("fraction of "):
        return f"{value * 100:.3g}% of {unit[12:]}"
    if unit.startswith("% "):
        return f"{value:.4g}% {unit[2:]}"
    return f"{value:.4g} {unit}"


PROPER_WORDS = frozenset({"American", "British", "English", "Latin", "Unicode"})


def library_phrase(name: str, value: float, unit: str) -> str:
    """A perturbation without a hand-written phrase: its effect, as its docstring names it.

    Examples:
        >>> library_phrase("text.speech_errors", 0.3, "fraction of words")
        'speech-to-text errors (30% of words)'
    """
    from wince.perturbations import get

    try:
        summary = get(name).describe()["summary"]
    except WinceError:
        return f"{name} at {amount(value, unit)}"
    effect = re.split(r":|, as |\. ", summary, maxsplit=1)[0].rstrip(".")
    first = effect.split(" ", 1)[0]
    if first not in PROPER_WORDS and not first[1:2].isupper():
        effect = effect[:1].lower() + effect[1:]
    return f"{effect} ({amount(value, unit)})"


def describe_steps(steps: list[dict[str, Any]], units: dict[str, str]) -> str:
    """A scenario's steps as one phrase ('… together with …')."""
    parts = [
        describe_step(
            s["name"],
            float(s["value"]),
            units.get(s["name"], ""),
            params=s.get("params"),
            context=False,
        )
        for s in steps
    ]
    return " together with ".join(parts) or "no perturbation"


def range_flag(name: str, value: float) -> str:
    """The flag of a value beyond its perturbation's realistic range ("" within it).

    Examples:
        >>> range_flag("image.rotation", 30.0)
        'beyond the realistic range: 30 degrees vs at most 15 degrees'
        >>> range_flag("image.rotation", 10.0)
        ''
    """
    from wince.perturbations import get

    try:
        magnitude = get(name).magnitude
    except WinceError:
        return ""
    if not magnitude.beyond_realistic(value):
        return ""
    low, high = magnitude.realistic
    bound = (
        f"at most {amount(high, magnitude.unit)}"
        if value > high
        else (f"at least {amount(low, magnitude.unit)}")
    )
    return f"beyond the realistic range: {amount(value, magnitude.unit)} vs {bound}"


def steps_flag(steps: list[dict[str, Any]]) -> str:
    """The range flags of a scenario's steps, joined ("" when every value is realistic)."""
    flags = [range_flag(str(s["name"]), float(s["value"])) for s in steps]
    return "; ".join(flag for flag in flags if flag)


def _sentence(text: str) -> str:
    text = " ".join(text.split()).replace(",,", ",")
    return text[:1].upper() + text[1:]


@dataclass(frozen=True)
class Finding:
    """One perturbation's headline in plain language.

    Attributes:
        kind: "fragile", "robust" or "inconclusive".
        perturbation: registry name.
        scenario: the headline scenario.
        severity: its severity; value and unit: its physical magnitude.
        metric: the metric stated (`ReportData.primary_metric`: flip_rate, mean_abs_change,
            or a structured output's headline metric such as cer).
        estimate, low, high: the stored curve estimate and its 95% interval.
        realism: the realism weight of the severity; score: harm x realism (the harm is the
            metric's change from clean inputs, in its unit, towards worse).
        sentence: the finding as a sentence.
        baseline: the metric on clean inputs (None when the curves lack it).
        metric_unit: the metric's unit ("share": a fraction shown as a percentage).
        flag: "beyond the realistic range: <value> vs at most <bound>" when the scenario's
            value lies beyond the perturbation's realistic range, else "" (`range_flag`).
    """

    kind: str
    perturbation: str
    scenario: str
    severity: float
    value: float
    unit: str
    metric: str
    estimate: float
    low: float
    high: float
    realism: float
    score: float
    sentence: str
    baseline: float | None = None
    metric_unit: str = ""
    flag: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return dict(self.__dict__)


@dataclass(frozen=True)
class Recommendation:
    """A defence against a finding, in priority order.

    Attributes:
        priority: 1 is first.
        kind: augmentation, normalisation, denoising, deblurring, alignment, validation,
            imputation, review, spell correction, monitoring, gate, calibration, or
            "defence" for a measured defence no advice corresponds to.
        text: what to do, with the measured magnitude.
        because: the finding it answers.
        code: the concrete call or code change that applies it: Python, or a YAML policy
            (`wince monitor`, `wince gate`) when it starts with a `# <file>.yaml` comment.
        status: `SUGGESTION` (advice not measured on this model), `MEASURED` (a defence
            `wince harden` measured and found to qualify) or `NOT_RECOMMENDED` (measured,
            and it did not help or cost too much clean accuracy).
        defence: the registered wince defence that applies it (`wince.defences`), when one
            does and applies to the run's model and data; "" otherwise.
        command: the `wince harden` command that measures a suggestion's defence on this
            run ("" when no registered defence applies it, it was measured, or the run is
            itself a defended run, which `wince harden` does not harden again).
    """

    priority: int
    kind: str
    text: str
    because: str
    code: str = ""
    status: str = SUGGESTION
    defence: str = ""
    command: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return dict(self.__dict__)


@dataclass(frozen=True)
class Narrative:
    """The report's summary: ranked risks, robust and inconclusive perturbations, extras.

    Attributes:
        risks: fragile perturbations, highest effect x realism first.
        robust: perturbations robust at every level tested.
        inconclusive: perturbations neither fragile nor shown robust.
        notes: further plain sentences (synergies, tipping points, where it fails).
        recommendations: defences in priority order.
        headline: one sentence for the top of the report.
        headline_flag: the headline finding's range flag (`Finding.flag`; "" when realistic).
        technical: sentences for the technical section (levels that tested nothing, Sobol'
            indices and their precision), kept out of the plain summary.
        refused: one sentence per error the model raised on perturbed inputs, naming the
            scenarios it refused (a risk above every measured one: those inputs get no
            answer at all).
    """

    risks: list[Finding]
    robust: list[Finding]
    inconclusive: list[Finding]
    notes: list[str]
    recommendations: list[Recommendation]
    headline: str
    refused: list[str] = field(default_factory=list)
    headline_flag: str = ""
    technical: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "headline": self.headline,
            "headline_flag": self.headline_flag,
            "refused": self.refused,
            "risks": [f.to_dict() for f in self.risks],
            "robust": [f.to_dict() for f in self.robust],
            "inconclusive": [f.to_dict() for f in self.inconclusive],
            "notes": self.notes,
            "technical": self.technical,
            "recommendations": [r.to_dict() for r in self.recommendations],
        }


def _change_text(data: ReportData, metric: str, estimate: float, low: float, high: float) -> str:
    """What a scenario does to the metric, as a clause with its own subject.

    E.g. '5.7% (4.1–7.3%) of predictions change', 'the character error rate rises from 0.2%
    on clean inputs to 1.2% (0.8–1.7%)'.
    """
    if metric == "flip_rate":
        return f"{interval(estimate, low, high)} of predictions change"
    spec = data.metrics.get(metric)
    if metric == "mean_abs_change" or spec is None:
        return f"predictions move by {interval(estimate, low, high, share=False)} on average"
    now = metric_interval(estimate, low, high, spec)
    before = data.baseline(metric)
    if before is None or abs(before) < NEGLIGIBLE:  # a change against the clean output
        return f"the {spec.description} reaches {now}"
    verb = "rises" if estimate > before else "falls" if estimate < before else "stays"
    clean = metric_value(before, spec)
    return f"the {spec.description} {verb} from {clean} on clean inputs to {now}"


def _harm(data: ReportData, metric: str, estimate: float) -> float:
    """How much worse than on clean inputs a metric's estimate is (>0: harm), in its unit."""
    spec = data.metrics.get(metric)
    sign = spec.harm_sign if spec is not None else 1.0
    return sign * (estimate - (data.baseline(metric) or 0.0))


def _tolerance_text(data: ReportData, metric: str) -> str:
    """'the 2% tolerance', 'the 0.01 IoU tolerance', or 'the tolerance' when none applies."""
    tolerance = data.settings["tolerance"].get(metric)
    spec = data.metrics.get(metric)
    if tolerance is None:
        return "the tolerance"
    if spec is not None and in_percent(spec):
        return f"the {tolerance * 100:g}% tolerance"
    unit = "" if spec is None else unit_suffix(spec)
    return f"the {tolerance:g}{unit} tolerance"


def _accuracy_clause(data: ReportData, scenario: str) -> str:
    before = data.baseline("accuracy")
    point = data.curve_point(scenario, "accuracy")
    if before is None or point is None:
        return ""
    return f"; accuracy falls from {percent(before, 1)} to {percent(float(point['estimate']), 1)}"


def _finding(data: ReportData, kind: str, row: dict[str, Any], metric: str) -> Finding:
    estimate, low, high = (float(row[k]) for k in ("estimate", "low", "high"))
    name, value, unit = str(row["perturbation"]), float(row["value"]), str(row["unit"])
    weight = realism(float(row["severity"]))
    steps = data.steps(str(row["scenario"]))
    subject = describe_step(
        name, value, unit, params=steps[0].get("params") if len(steps) == 1 else None
    )
    change = _change_text(data, metric, estimate, low, high)
    tolerance_text = _tolerance_text(data, metric)
    decided = _decided_by(data, str(row["scenario"]), metric, kind)
    applied = _where_applied(data, str(row["scenario"]), metric) + decided
    if kind == FRAGILE:
        text = f"{subject}: {change}{_accuracy_clause(data, str(row['scenario']))}.{decided}"
    elif kind == ROBUST:
        text = (
            f"{subject} (the harshest level tested): {change}, within {tolerance_text} at "
            f"every level tested.{applied}"
        )
    else:
        undecided = _undecided(data, str(row["scenario"]), metric, tolerance_text)
        where = _where_applied(data, str(row["scenario"]), metric)
        text = f"{subject}: {change}; {undecided}{where}"
    return Finding(
        kind=kind,
        perturbation=name,
        scenario=str(row["scenario"]),
        severity=float(row["severity"]),
        value=value,
        unit=unit,
        metric=metric,
        estimate=estimate,
        low=low,
        high=high,
        realism=weight,
        score=max(_harm(data, metric, estimate), 0.0) * weight,
        sentence=_sentence(text),
        baseline=data.baseline(metric),
        metric_unit=data.metrics[metric].unit if metric in data.metrics else "",
        flag=steps_flag(steps),
    )


def _where_applied(data: ReportData, scenario: str, metric: str) -> str:
    """A sentence when the scenario is fragile among the inputs it changed, else ""."""
    tests = data.frame("verdicts", "tests")
    if tests.empty or "fragile_where_applied" not in tests:
        return ""
    rows = tests[(tests["scenario"] == scenario) & (tests["metric"] == metric)]
    if rows.empty or not bool(rows["fragile_where_applied"].iloc[0]):
        return ""
    coverage, among = float(rows["coverage"].iloc[0]), float(rows["effect_changed"].iloc[0])
    share = f" But it changed only {percent(coverage, 1)} of the inputs, and "
    if metric == "flip_rate":
        return share + f"{percent(among, 1)} of those flipped: fragile where it applies."
    spec = data.metrics.get(metric)
    effect = f"{among:.3g}" if spec is None else metric_value(among, spec)
    return (
        share
        + f"among those its effect on the {metric_label(metric, data)} is {effect}: "
        + ("fragile where it applies.")
    )


def _decided_by(data: ReportData, scenario: str, metric: str, kind: str) -> str:
    """Which tests gave the verdict, when the sentence's own metric did not ("" otherwise).

    A sentence quotes the report's primary metric (the flip rate), while a scenario is
    fragile when any of its metrics is: a reader must not take the quoted figure for the
    reason.
    """
    tests = data.frame("verdicts", "tests")
    if tests.empty or "verdict" not in tests:
        return ""
    rows = tests[tests["scenario"] == scenario]
    own = rows.loc[rows["metric"] == metric, "verdict"]
    if own.empty or own.iloc[0] == kind:
        return ""
    deciding = rows.loc[rows["verdict"] == kind, "metric"].tolist()
    if not deciding:
        return ""
    names = " and ".join(m.replace("_", " ") for m in deciding)
    return f" The verdict comes from its {names} test, not from this figure."


def _undecided(data: ReportData, scenario: str, metric: str, tolerance_text: str) -> str:
    """Why an inconclusive scenario is undecided, and the samples that would settle it.

    The figure quoted is the sentence's own metric (the flip rate); the scenario may be
    inconclusive because another metric's test is, and every test is corrected across the
    run's grid, so an interval inside the tolerance can still be undecided.
    """
    tests = data.frame("verdicts", "tests")
    if tests.empty or "verdict" not in tests:
        return f"not clearly above or below {tolerance_text}."
    rows = tests[tests["scenario"] == scenario]
    corrected = f"once corrected for the run's {len(tests)} tests" if len(tests) > 1 else ""
    own = rows[rows["metric"] == metric]
    others = rows[(rows["metric"] != metric) & (rows["verdict"] == INCONCLUSIVE)]

    def settle(frame: pd.DataFrame) -> str:
        needed = pd.to_numeric(frame["samples_needed"], errors="coerce").dropna()
        return f"about {int(needed.max()):,} samples would settle it" if len(needed) else ""

    if len(own) and own["verdict"].iloc[0] == ROBUST and len(others):
        names = " and ".join(m.replace("_", " ") for m in others["metric"])
        reason = f"within {tolerance_text}, but its {names} test could not decide {corrected}"
        return f"{reason.strip()}; {settle(others) or 'more samples would settle it'}."
    reason = f"not clearly above or below {tolerance_text} {corrected}".strip()
    advice = settle(own if len(own) else rows)
    also = pd.to_numeric(others["samples_needed"], errors="coerce").dropna()
    if advice and len(own) and len(also):  # the scenario stays undecided until they are too
        names = " and ".join(m.replace("_", " ") for m in others["metric"])
        advice += f" (its {names} test: about {int(also.max()):,})"
    return f"{reason}; {advice}." if advice else f"{reason}."


def findings(data: ReportData) -> tuple[list[Finding], list[Finding], list[Finding]]:
    """Risks (ranked by effect x realism), robust and inconclusive perturbations."""
    curves = data.frame("curves")
    verdicts = data.frame("verdicts", "scenarios")
    metric = data.primary_metric
    if curves.empty:
        return [], [], []
    verdict_of = dict(zip(verdicts.get("scenario", []), verdicts.get("verdict", []), strict=True))
    risks, robust, inconclusive = [], [], []
    # one finding per plan entry (a perturbation listed twice has two)
    entry = "entry" if "entry" in curves.columns else "perturbation"
    for _, rows in curves[curves["metric"] == metric].groupby(entry, sort=False):
        points = rows[rows["scenario"] != "baseline"].to_dict("records")
        if not points:
            continue
        kinds = [verdict_of.get(p["scenario"], INCONCLUSIVE) for p in points]
        harshest = max(points, key=lambda p: float(p["severity"]))
        if FRAGILE in kinds:
            fragile = [p for p, k in zip(points, kinds, strict=True) if k == FRAGILE]
            best = max(
                fragile,
                key=lambda p: (
                    _harm(data, metric, float(p["estimate"])) * realism(float(p["severity"]))
                ),
            )
            risks.append(_finding(data, FRAGILE, best, metric))
        elif all(k == ROBUST for k in kinds):
            robust.append(_finding(data, ROBUST, harshest, metric))
        else:
            inconclusive.append(_finding(data, INCONCLUSIVE, harshest, metric))
    risks.sort(key=lambda f: f.score, reverse=True)
    inconclusive.sort(key=lambda f: f.score, reverse=True)
    return risks, robust, inconclusive


def perturbation_units(data: ReportData) -> dict[str, str]:
    """Each perturbation's magnitude unit, as the stored curves give it."""
    curves = data.frame("curves")
    if curves.empty:
        return {}
    return dict(zip(curves["perturbation"], curves["unit"], strict=True))


def notes(data: ReportData, risks: list[Finding]) -> list[str]:
    """Further plain sentences: synergies, thresholds, where it fails, what drives variance."""
    out: list[str] = []
    metric = data.primary_metric
    table = data.frame("interactions")
    if not table.empty:
        synergies = table[(table["label"] == "synergistic") & (table["metric"] == metric)]
        spec = data.metrics.get(metric)
        for row in synergies.sort_values("difference", ascending=False).head(3).itertuples():
            steps = data.steps(str(row.scenario))
            flag = steps_flag(steps)
            phrase = describe_steps(steps, perturbation_units(data))
            phrase += f" ({flag})" if flag else ""
            if metric == "flip_rate":
                extra = interval(float(row.difference), float(row.low), float(row.high))
                out.append(
                    _sentence(
                        f"{phrase}: {percent(float(row.observed))} of predictions change, "
                        f"{extra} more than expected from each alone "
                        f"({percent(float(row.expected))})."
                    )
                )
            elif spec is not None and data.structured:
                extra = metric_interval(
                    float(row.difference), float(row.low), float(row.high), spec
                )
                out.append(
                    _sentence(
                        f"{phrase}: the {spec.description} reaches "
                        f"{metric_value(float(row.observed), spec)}, {extra} worse than expected "
                        f"from each alone ({metric_value(float(row.expected), spec)})."
                    )
                )
    cliffs = data.frame("cliffs")
    if not cliffs.empty:
        for row in cliffs[cliffs["metric"] == metric].itertuples():
            where = describe_step(
                str(row.perturbation),
                float(row.value),
                perturbation_units(data).get(str(row.perturbation), ""),
                params=_entry_params(data, str(row.entry)),
                context=False,
            )
            flag = range_flag(str(row.perturbation), float(row.value))
            out.append(
                _sentence(
                    f"A tipping point: the {metric_label(metric, data)} climbs sharply beyond "
                    f"{where}" + (f" ({flag})." if flag else ".")
                )
            )
    regions = data.frame("regions", "rules")
    if not regions.empty:
        fragile = regions[regions["kind"] == "fragile"]
        if len(fragile):
            out.append(_where_it_fails(data, fragile.iloc[0]))
    out += _own_metric_notes(data)
    return out


def _entry_params(data: ReportData, entry: str) -> Mapping[str, Any] | None:
    """The parameters of a plan entry (its `columns` and the like), from one of its scenarios."""
    curves = data.frame("curves")
    column = "entry" if "entry" in curves else "perturbation"
    scenarios = curves.loc[curves[column] == entry, "scenario"] if column in curves else []
    for scenario in scenarios:
        steps = data.steps(str(scenario))
        if len(steps) == 1:
            return steps[0].get("params")
    return None


def technical_notes(data: ReportData) -> list[str]:
    """Sentences for the technical section: levels that tested nothing, Sobol' indices."""
    return _no_op_notes(data) + _global_sensitivity_notes(data)


def plain_conditions(conditions: Any, descriptors: Mapping[str, Any]) -> str:
    """A fragile region's conditions in words, confidences as percentages.

    Examples:
        >>> plain_conditions([("baseline_confidence", ">", 0.614)], {})
        "the model's confidence on the unchanged input is above 61%"
        >>> between = [("baseline_confidence", ">", 0.5), ("baseline_confidence", "<=", 0.8)]
        >>> plain_conditions(between, {})
        "the model's confidence on the unchanged input is between 50% and 80%"
        >>> plain_conditions([("brightness", "<=", 0.25)], {})
        'brightness is below 0.25'
    """
    bounds: dict[str, dict[str, float]] = {}
    for feature, operator, value in conditions or []:
        side = "low" if operator in (">", ">=") else "high"
        bounds.setdefault(str(feature), {})[side] = float(value)
    phrases = []
    for feature, bound in bounds.items():
        descriptor = dict(descriptors.get(feature) or {})
        if descriptor.get("category") is not None:
            negated = "" if "low" in bound else "not "
            phrases.append(f"the {descriptor['label']} is {negated}{descriptor['category']}")
            continue
        confidence = feature == "baseline_confidence"
        label = (
            "the model's confidence on the unchanged input"
            if confidence
            else str(descriptor.get("label") or feature.replace("_", " "))
        )
        unit = f" {descriptor['unit']}" if descriptor.get("unit") else ""

        def shown(value: float, confidence: bool = confidence, unit: str = unit) -> str:
            # as many decimals as tell a confidence from certainty (99.95% is not 100%)
            digits = 0 if value < 0.99 else 1 if value < 0.999 else 2
            return percent(value, digits) if confidence else f"{value:.3g}{unit}"

        low, high = bound.get("low"), bound.get("high")
        if confidence and high is not None and high >= 0.99995:  # below certainty: no bound
            high = None
        if low is not None and high is not None:
            phrases.append(f"{label} is between {shown(low)} and {shown(high)}")
        elif high is not None:
            phrases.append(f"{label} is below {shown(high)}")
        elif low is not None:
            phrases.append(f"{label} is above {shown(low)}")
    return " and ".join(phrases)


def _where_it_fails(data: ReportData, rule: pd.Series) -> str:
    """The most fragile region as a plain sentence: who it is, and how often they change."""
    descriptors = (data.analyses.get("regions") or {}).get("descriptors") or {}
    where = plain_conditions(rule.get("conditions"), descriptors)
    if data.primary_metric == "flip_rate":
        rates = (
            f"{percent(float(rule['rate_in']))} of their predictions change, against "
            f"{percent(float(rule['rate_out']))} for the other inputs"
        )
    else:
        rates = (
            f"they are {float(rule['rate_in']) / max(float(rule['rate_out']), 1e-12):.1f} "
            "times as fragile as the other inputs"
        )
    return _sentence(f"Where it fails most: inputs where {where}; {rates}.")


def _own_metric_notes(data: ReportData) -> list[str]:
    """One sentence per metric of the plan's own: its clean value and its worst scenario.

    The worst scenario is the one where it is most harmful against clean inputs, in its unit
    and with its 95% interval.
    """
    curves = data.frame("curves")
    if curves.empty:
        return []
    out = []
    for name, spec in data.metrics.items():
        rows = curves[(curves["metric"] == name) & (curves["scenario"] != "baseline")]
        if spec.source == "built-in" or rows.empty:
            continue
        harms = [_harm(data, name, float(e)) for e in rows["estimate"]]
        worst = rows.iloc[int(np.argmax(harms))]
        steps = describe_steps(data.steps(str(worst["scenario"])), perturbation_units(data))
        now = metric_interval(
            float(worst["estimate"]), float(worst["low"]), float(worst["high"]), spec
        )
        out.append(
            _sentence(
                f"{spec.description} (your metric {name}, {spec.better} is better): "
                f"{metric_value(data.baseline(name), spec)} on clean inputs, at worst {now} "
                f"under {steps}."
            )
        )
    return out


def _global_sensitivity_notes(data: ReportData) -> list[str]:
    """The leading Sobol' factor, how the design perturbs, negative estimates, precision."""
    from wince.analysis.global_sensitivity import JOINT_DESIGN_NOTE

    indices = data.frame("global_sensitivity", "indices")
    if indices.empty or "ST" not in indices:
        return []
    top = indices.sort_values("ST", ascending=False).iloc[0]
    out = [
        f"{top['factor']} accounts for {percent(float(top['ST']), 0)} "
        f"({percent(max(float(top['ST_low']), 0.0), 0)[:-1]}–"
        f"{percent(min(float(top['ST_high']), 1.0), 0)}) of "
        f"the variation in {_sobol_output(data)} across the realistic ranges (total Sobol "
        "index).",
        JOINT_DESIGN_NOTE,
    ]
    negative = [
        f"{row['factor']} {column} {float(row[column]):.2f} "
        f"({float(row[column + '_low']):.2f} to {float(row[column + '_high']):.2f})"
        for _, row in indices.iterrows()
        for column in ("S1", "ST")
        if float(row[column]) < 0
    ]
    if negative:
        out.append(
            f"Estimates below 0 ({'; '.join(negative)}) are sampling noise around a share "
            "of 0: the figure draws them at 0 with their intervals."
        )
    warning = (data.analyses.get("global_sensitivity") or {}).get("warning")
    if warning:
        out.append(f"Warning: {warning}")
    return out


def _sobol_output(data: ReportData) -> str:
    """What the global sensitivity analysis measured, in words (the flip rate by default)."""
    output = str((data.analyses.get("global_sensitivity") or {}).get("output") or "flip_rate")
    return metric_label(output, data) if output in data.metrics else output.replace("_", " ")


def _no_op_notes(data: ReportData) -> list[str]:
    """Sentences on perturbation levels that tested nothing, or nothing new.

    A blur below a pixel on small images, a rounding that leaves integer data alone: such a
    level changed no input and is "robust" without testing anything (coverage 0, from the
    outcomes' `changed`). A level whose inputs equal a lower level's, for every sample and
    trial (`same_inputs_as`), repeats that level's test.
    """
    scenarios = data.frame("verdicts", "scenarios")
    if scenarios.empty or "coverage" not in scenarios:
        return []
    isolation = scenarios[scenarios["kind"] == "isolation"]
    severity = dict(zip(isolation["scenario"], isolation["severity"], strict=True))
    idle: dict[str, list[float]] = {}
    repeats: dict[str, list[tuple[float, float]]] = {}
    for row in isolation.itertuples():
        steps = data.steps(str(row.scenario))
        if not steps:
            continue
        name = step_entry(steps[0])  # the plan entry: one perturbation may be listed twice
        earlier = str(getattr(row, "same_inputs_as", "") or "")
        if row.coverage == 0:
            idle.setdefault(name, []).append(float(row.severity))
        elif earlier in severity:
            repeats.setdefault(name, []).append((float(row.severity), float(severity[earlier])))
    notes = [
        _sentence(
            f"At severity {', '.join(f'{s:g}' for s in sorted(levels))}, {name} changed no "
            "input: on these inputs it does nothing there (too weak for their size or "
            "values), so those levels say nothing about robustness."
        )
        for name, levels in idle.items()
    ]
    notes += [
        _sentence(
            f"Repeated levels: {name} made exactly the same inputs at "
            + "; at ".join(f"severity {high:g} as at {low:g}" for high, low in sorted(pairs))
            + ": on inputs of this size those levels do not differ, so the higher ones test "
            "nothing new."
        )
        for name, pairs in repeats.items()
    ]
    return notes


@dataclass(frozen=True)
class Defence:
    """A defence against a family of perturbations: what to do, and the code that does it.

    Attributes:
        kind: what the defence is (normalisation, denoising, deblurring, alignment ...).
        text: what to do, a `str.format` template: `{value}` is the magnitude at which
            predictions broke (a number in the perturbation's unit), `{level}` the same with
            its unit.
        code: the library call or code change, a `string.Template`: `$name` is the
            perturbation, `$value` the breaking magnitude as a literal, `$run` the run id.
            Python, or YAML when it starts with a `# <file>.yaml` comment.
        registered: the wince defence (`wince.defences`) that applies it, which
            `wince harden` can measure; "" when none does.
    """

    kind: str
    text: str
    code: str
    registered: str = ""


_GREY = (
    "grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.shape[-1] == 3 "
    "else image.reshape(image.shape[:2])\n"
)

# the library's perturbations: their classes declare what the report needs of them
_LIBRARY = {n: c for n, c in registry().items() if c.__module__.startswith("wince.")}
# perturbation family -> its members (`Perturbation.family`); one defence per family (DEFENCES)
FAMILIES: dict[str, tuple[str, ...]] = {
    family: tuple(name for name, cls in _LIBRARY.items() if cls.family == family)
    for family in dict.fromkeys(cls.family for cls in _LIBRARY.values() if cls.family)
}
FAMILY_OF = {name: family for family, names in FAMILIES.items() for name in names}

DEFENCES: dict[str, Defence] = {
    "image.blur": Defence(
        "deblurring",
        "Catch blurred inputs before the model: reject (or ask for a retake of) images whose "
        "Laplacian variance falls below that of nearly all training images, and sharpen mild "
        "blur with an unsharp mask; blur of {level} broke predictions.",
        "import cv2\nimport numpy as np\nfrom wince.monitor.estimate import laplacian_variance\n\n"
        "# variance of the Laplacian per image: lower is blurrier\n"
        "floor = np.quantile(laplacian_variance(train_images), 0.01)\n"
        "keep = laplacian_variance(images) >= floor  # send the others back for a retake\n"
        "# mild blur: unsharp mask (apply it to the training images too)\n"
        "sharpened = cv2.addWeighted(image, 1.5, cv2.GaussianBlur(image, (0, 0), 1.0), -0.5, 0)",
    ),
    "image.resolution": Defence(
        "validation",
        "Keep inputs at the training resolution: reject images that arrive smaller than the "
        "model's input (their detail is gone; {level} broke predictions) and resize training "
        "and live images with the same interpolation.",
        "import cv2\n\nheight, width = train_images.shape[1:3]\n"
        "if image.shape[0] < height or image.shape[1] < width:\n"
        "    reject(image)  # enlarged from a smaller or pixelated source\n"
        "image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)",
    ),
    "image.noise": Defence(
        "denoising",
        "Denoise inputs before the model (non-local means), or reject images whose estimated "
        "noise reaches {level}; denoise the training images the same way.",
        "import cv2\n\n"
        "# 8-bit images; raise h for stronger noise, lower it to keep fine detail\n"
        "denoised = cv2.fastNlMeansDenoisingColored(image, None, h=10, hColor=10)  # colour\n"
        + _GREY
        + "denoised_grey = cv2.fastNlMeansDenoising(grey, None, h=10)  # grey",
        registered="image.denoise",
    ),
    "image.impulse": Defence(
        "denoising",
        "Remove isolated dead and stuck pixels before the model with a 3x3 median filter "
        "({level} broke predictions); filter the training images the same way.",
        "import cv2\n\ncleaned = cv2.medianBlur(image, 3)  # 8-bit images",
    ),
    "image.compression": Defence(
        "normalisation",
        "Soften compression artefacts before the model (an edge-preserving bilateral filter), "
        "or ask upstream services to keep the quality above {value:.0f}.",
        "import cv2\n\n"
        "# smooths 8x8 block edges and ringing while keeping real edges\n"
        "deblocked = cv2.bilateralFilter(image, 5, 25, 5)\n"
        "# where you encode: keep the quality above the breaking level\n"
        "ok, jpeg = cv2.imencode('.jpg', image, [cv2.IMWRITE_JPEG_QUALITY, 90])",
        registered="image.deblock",
    ),
    "image.banding": Defence(
        "validation",
        "Keep more than {value:.0f} bits per channel upstream (predictions broke at {level}); "
        "a light blur smooths the banding that too few bits leave.",
        "import cv2\n\nsmoothed = cv2.GaussianBlur(image, (3, 3), 0)",
    ),
    "image.exposure": Defence(
        "normalisation",
        "Normalise brightness before the model (histogram equalisation, or CLAHE for uneven "
        "light) on training and live images alike, and flag inputs at {level} or worse.",
        "import cv2\n\n"
        + _GREY
        + "equalised = cv2.equalizeHist(grey)  # global: over- and under-exposure\n"
        "clahe = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8))\n"
        "lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB)  # colour: equalise lightness only\n"
        "lab[..., 0] = clahe.apply(lab[..., 0])  # local: vignetting, uneven light\n"
        "normalised = cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)",
    ),
    "image.contrast": Defence(
        "normalisation",
        "Stretch each image's contrast to the full range before the model (min-max "
        "normalisation undoes a flat or hazy image's lost range), on training and live images "
        "alike; {level} broke predictions.",
        "import cv2\n\n"
        "stretched = cv2.normalize(image, None, 0, 255, cv2.NORM_MINMAX)  # per image\n"
        "clahe = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8))  # local contrast, grey\n"
        + _GREY
        + "local = clahe.apply(grey)",
        registered="image.autocontrast",
    ),
    "image.colour": Defence(
        "normalisation",
        "Normalise colour before the model: grey-world white balance removes a colour cast "
        "({level} broke predictions); if colour carries no label information, train and serve "
        "on greyscale.",
        "import cv2\nimport numpy as np\n\n"
        "rgb = image.astype(np.float32)\n"
        "balanced = np.clip(rgb * (rgb.mean() / rgb.mean(axis=(0, 1))), 0, 255).astype(np.uint8)\n"
        "grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)  # or drop colour altogether",
        registered="image.white_balance",
    ),
    "image.optics": Defence(
        "alignment",
        "Correct the lens before the model: calibrate the camera once (a checkerboard and "
        "cv2.calibrateCamera) and undistort every image; {level} broke predictions.",
        "import cv2\n\n"
        "# camera_matrix, dist_coeffs from cv2.calibrateCamera on checkerboard views\n"
        "undistorted = cv2.undistort(image, camera_matrix, dist_coeffs)",
    ),
    "image.geometry": Defence(
        "alignment",
        "Align inputs before the model, as training images are aligned: centre the subject "
        "on the centre of its foreground (the pixels that differ from the tone of most of the "
        "image's border, darker or lighter) and rotate it to a canonical pose ({level} broke "
        "predictions). Leave as they are images without a plain background or whose subject "
        "hardly stands out from it: their subject's centre cannot be told from the "
        "background's.",
        "import cv2\nimport numpy as np\nfrom wince.realism.align import foreground_weights\n\n"
        "# None: no plain background, or too faint a subject: leave the image as it is\n"
        "weights = foreground_weights(image)  # 0 on the background, higher on the subject\n"
        "centred = image\n"
        "if weights is not None:\n"
        "    m = cv2.moments(weights.astype(np.float32))\n"
        '    cx, cy = m["m10"] / m["m00"], m["m01"] / m["m00"]  # the subject\'s centre\n'
        "    h, w = weights.shape\n"
        "    shift = np.float32([[1, 0, (w - 1) / 2 - cx], [0, 1, (h - 1) / 2 - cy]])\n"
        "    centred = cv2.warpAffine(image, shift, (w, h), borderMode=cv2.BORDER_REPLICATE)\n"
        "    # rotation: the subject's principal axis is at 0.5 * atan2(2 mu11, mu20 - mu02)\n"
        '    angle = 0.5 * np.degrees(np.arctan2(2 * m["mu11"], m["mu20"] - m["mu02"]))',
    ),
    "image.obstruction": Defence(
        "review",
        "Send predictions made on obstructed views to review: pick a confidence threshold on "
        "held-out images perturbed this way ({level} broke predictions).",
        "confidence = model.predict_proba(images).max(axis=1)\n"
        "review = confidence < threshold  # chosen on held-out obstructed images",
    ),
    "text.typos": Defence(
        "spell correction",
        "Spell-correct inputs before the model; the model breaks at {level}.",
        "# pip install pyspellchecker\nfrom spellchecker import SpellChecker\n\n"
        "speller = SpellChecker()\n"
        'text = " ".join(speller.correction(word) or word for word in text.split())',
        registered="text.spelling",
    ),
    "text.unicode": Defence(
        "normalisation",
        "Normalise text before the model: Unicode NFKC, strip zero-width characters, map "
        "curly quotes and collapse whitespace ({level} broke predictions).",
        "import re\nimport unicodedata\n\n"
        'text = unicodedata.normalize("NFKC", text)\n'
        'text = re.sub("[\\u200b-\\u200d\\u2060\\ufeff]", "", text)\n'
        'text = text.translate(str.maketrans("\\u2018\\u2019\\u201c\\u201d", "\'\'\\"\\""))\n'
        'text = " ".join(text.split())',
        registered="text.normalize",
    ),
    "audio.noise": Defence(
        "denoising",
        "Denoise audio before the model (an adaptive Wiener filter, or spectral gating), on "
        "training and live clips alike; {level} broke predictions.",
        "from scipy.signal import wiener\n\ndenoised = wiener(clip, mysize=5)  # one 1-D clip",
        registered="audio.denoise",
    ),
    "audio.level": Defence(
        "normalisation",
        "Loudness-normalise audio before the model and flag clipped recordings; {level} broke "
        "predictions.",
        "import numpy as np\n\n"
        "rms = np.sqrt(np.mean(np.square(clip)))\n"
        "normalised = clip * (0.1 / max(rms, 1e-9))  # to -20 dBFS RMS\n"
        "clipped = np.mean(np.abs(clip) >= 0.999) > 0.001",
        registered="audio.loudness",
    ),
    "tabular.noise": Defence(
        "validation",
        "Validate inputs: check each measurement against its expected range and average "
        "repeated measurements, so noise stays below {level}.",
        "import numpy as np\n\n"
        "low, high = np.quantile(x_train, [0.001, 0.999], axis=0)\n"
        "suspect = ((x < low) | (x > high)).any(axis=1)  # rows to check before predicting",
        registered="tabular.clip",
    ),
    "tabular.missing": Defence(
        "imputation",
        "Impute missing values before the model with each column's training median, and "
        "record which values were missing; {level} broke predictions.",
        "from sklearn.impute import SimpleImputer\n\n"
        "# add_indicator: the model also sees which values were missing\n"
        'imputer = SimpleImputer(strategy="median", add_indicator=True).fit(x_train)\n'
        "x = imputer.transform(x)",
        registered="tabular.impute",
    ),
}
MODALITY_DEFENCES: dict[str, Defence] = {
    "image": Defence(
        "normalisation",
        "Normalise images (brightness, contrast, codec) before the model, on training and "
        "live images alike.",
        "import cv2\n\nnormalised = cv2.normalize(image, None, 0, 255, cv2.NORM_MINMAX)",
        registered="image.autocontrast",
    ),
    "text": Defence(
        "spell correction",
        "Normalise and spell-correct text before the model.",
        DEFENCES["text.unicode"].code,
        registered="text.normalize",
    ),
    "audio": Defence(
        "denoising",
        "Denoise and loudness-normalise audio before the model.",
        DEFENCES["audio.noise"].code,
        registered="audio.denoise",
    ),
    "tabular": Defence(
        "validation",
        "Validate feature ranges and units before the model.",
        DEFENCES["tabular.noise"].code,
        registered="tabular.clip",
    ),
    "timeseries": Defence(
        "denoising",
        "Filter and resample signals before the model.",
        "from scipy.signal import resample, savgol_filter\n\n"
        "smoothed = savgol_filter(x, window_length=9, polyorder=2, axis=1)  # (n, t, channels)\n"
        "regular = resample(smoothed, num=length, axis=1)  # to the training length",
    ),
}
VALIDATION = Defence(
    "validation",
    "Validate inputs before the model.",
    "# monitor.yaml, for `wince monitor --reference $run --live LIVE --policy monitor.yaml`\n"
    "max_psi: 0.2\nmax_predicted_flip_rate: 0.05",
)
# perturbations whose magnitude `wince monitor` estimates from live inputs, and from what
# (`Perturbation.monitor_estimate`, `wince.monitor.estimate.LIVE_INPUTS`)
MONITORED: dict[str, str] = {
    name: LIVE_INPUTS[cls.monitor_estimate]
    for name, cls in _LIBRARY.items()
    if cls.monitor_estimate is not None
}


def defence(name: str, modality: str) -> Defence:
    """The defence against a perturbation: its family's, else its modality's.

    Examples:
        >>> defence("image.motion_blur", "image").kind
        'deblurring'
        >>> defence("image.unheard_of", "image") is MODALITY_DEFENCES["image"]
        True
    """
    family = FAMILY_OF.get(name)
    if family is not None:
        return DEFENCES[family]
    return MODALITY_DEFENCES.get(modality, VALIDATION)


def _breaking_value(data: ReportData, finding: Finding) -> tuple[float, str]:
    """The augmentation target: the median magnitude at which predictions broke, if measured."""
    # breaking points are stored per plan entry: the entry of the finding's scenario
    steps = data.steps(finding.scenario)
    entry = str(steps[0].get("entry") or finding.perturbation) if steps else finding.perturbation
    payload = (data.analyses.get("breaking_points") or {}).get(entry)
    if payload:
        table = pd.DataFrame(payload["table"])
        broken = pd.to_numeric(table["breaking_value"], errors="coerce").dropna()
        if len(broken):
            return (
                float(np.median(broken)),
                f"the median magnitude at which the {len(broken)} of {len(table)} predictions "
                "that broke did so",
            )
    return finding.value, "the level found fragile"


def augmentation_target(data: ReportData, finding: Finding) -> float | None:
    """The `augment(up_to=...)` cap recommended against a finding (None: the whole range).

    The median magnitude at which the run's predictions broke under the finding's
    perturbation (the level found fragile when no breaking points are stored), as a valid cap.
    """
    value, _ = _breaking_value(data, finding)
    return augmentation_cap(finding.perturbation, value)


def augmentation_cap(name: str, value: float) -> float | None:
    """`value` as an `augment(up_to=...)` cap for `name`, or None when it is not one.

    Whole-number magnitudes are rounded; a value outside the hard limits, at `off` or on the
    non-perturbing side of it gives None (augment over the whole realistic range instead).

    Examples:
        >>> augmentation_cap("image.jpeg", 37.4), augmentation_cap("image.jpeg", 100.0)
        (37.0, None)
    """
    from wince.perturbations import get

    try:
        magnitude = get(name).magnitude
    except WinceError:
        return None
    if not math.isfinite(value):
        return None
    cap = float(round(value)) if magnitude.integer else value
    low, high = magnitude.limits
    if not low <= cap <= high or not magnitude.severity_of(cap) > 0:
        return None
    return cap


def literal(value: float) -> str:
    """A number as a short Python (and YAML) literal, to three significant digits.

    Examples:
        >>> literal(-68.7654), literal(37.0), literal(12800.0), literal(0.000123456)
        ('-68.8', '37', '12800', '0.000123')
    """
    number = float(f"{value:.3g}")
    return str(int(number)) if number.is_integer() and abs(number) < 1e15 else repr(number)


def augmentation_code(name: str, cap: float | None, run_id: str) -> str:
    """The `wince.augment` call that trains against `name` up to `cap`, in its three forms."""
    if cap is None:
        call = f'wince.augment(["{name}"], seed=0)'
        why = f"# {name} over its whole realistic range"
    else:
        call = f'wince.augment(["{name}"], up_to={{"{name}": {literal(cap)}}}, seed=0)'
        why = f"# {name} up to the magnitude that broke predictions in run {run_id}"
    return (
        "import wince\nfrom sklearn.pipeline import make_pipeline\n\n"
        f"{why}, milder values too\naugmenter = {call}\n\n"
        "# scikit-learn: augments the training rows in fit only\n"
        "model = make_pipeline(augmenter.sklearn(), *steps).fit(x_train, y_train)\n"
        "# numpy: train on x_train plus augmenter(x_train, epoch=e) for a few epochs e\n"
        "# torch: wince.realism.AugmentedDataset(train_set, augmenter), .set_epoch(e) each epoch"
    )


def monitoring_code(name: str, value: float, run_id: str) -> str:
    """A `wince monitor` policy that alerts when live inputs reach `value` of `name`."""
    from wince.perturbations import get

    magnitude = get(name).magnitude
    side = "min" if magnitude.severe < magnitude.off else "max"
    return (
        f"# monitor.yaml, for `wince monitor --reference {run_id} --live LIVE "
        "--policy monitor.yaml`\n"
        f"magnitudes:\n  {name}: {{{side}: {literal(value)}}}"
    )


def gate_code(finding: Finding, run_id: str) -> str:
    """A `wince gate` policy: the retrained model is shown to flip less, and regresses nowhere."""
    return (
        "# gate.yaml, for `wince gate NEW_RUN --policy gate.yaml` in CI after retraining\n"
        "rules:\n"
        f"  - name: {finding.perturbation} flips fewer predictions than in run {run_id}\n"
        "    check: max_flip_rate\n"
        f"    max: {literal(finding.low)}\n"
        f'    where: {{scenario: "{finding.scenario}"}}\n'
        f"  - name: significantly worse than run {run_id} nowhere\n"
        "    check: no_regression\n"
        f"    baseline: {run_id}"
    )


def recommendations(data: ReportData, risks: list[Finding]) -> list[Recommendation]:
    """Defences for each risk in its rank order, then calibration where confidence predicts it.

    A defence that helps against several risks (Unicode normalisation, spell correction) is
    given once, at its first risk, naming them all. A model that cannot be trained (a lexicon
    or rule model, an HTTP endpoint: `ReportData.trainable`) gets no training advice: no
    augmentation and no refitted calibration.

    Each defence carries the code that applies it (`Recommendation.code`): the
    `wince.augment` call up to the measured breaking magnitude, a library call (OpenCV,
    SciPy ...) for the pre-processing defences, and `wince monitor` and `wince gate`
    policies. Each is a `SUGGESTION`; one that a registered defence applies, and that applies
    to the run's model and data, names it with the `wince harden` command that measures it
    (`wince.report.measured` puts the measured ones first).
    """
    advice = _risk_advice(data, risks) + _gate_advice(data, risks) + _region_calibration(data)
    classification = data.task == "classification"
    if risks and not any(a.kind == "calibration" for a in advice) and classification:
        advice.append(_calibration_check(data.run_id, risks[0]))
    defences = registered_defences(data)
    # `wince harden` tries defences on an undefended run only
    measurable = data.lineage.get("hardens") is None
    out: list[Recommendation] = []
    for priority, item in enumerate(advice, start=1):
        defence = item.registered if item.registered in defences else ""
        command = measure_command(data.run_id, defence) if defence and measurable else ""
        out.append(
            Recommendation(
                priority,
                item.kind,
                item.text,
                item.because,
                item.code,
                defence=defence,
                command=command,
            )
        )
    return out


@dataclass(frozen=True)
class _Advice:
    """A recommendation before it is ranked: see `Recommendation` for the fields.

    `registered` is the wince defence that applies it, kept only when it applies to the run.
    """

    kind: str
    text: str
    because: str
    code: str
    registered: str = ""


def _risk_advice(data: ReportData, risks: list[Finding]) -> list[_Advice]:
    """Per risk in rank order: augmentation, its defence, and monitoring.

    Augmentation only for a model that can be trained; a defence once, at the first risk it
    helps, naming every risk it helps; monitoring where live inputs show the magnitude.
    """
    run_id = data.run_id
    chosen_for = _defences(data, risks)
    helped: dict[Defence, list[str]] = {}  # each defence once, naming every risk it helps
    for finding in risks:
        names = helped.setdefault(chosen_for[finding.perturbation], [])
        names += [finding.perturbation] * (finding.perturbation not in names)
    out: list[_Advice] = []
    for finding in risks:
        value, source = _breaking_value(data, finding)
        subject = finding.perturbation
        level = amount(float(f"{value:.3g}"), finding.unit)
        if data.trainable is not False:
            out.append(
                _Advice(
                    "augmentation",
                    f"Train with {subject} augmentation up to {level} ({source}), sampling "
                    "milder values too.",
                    finding.sentence,
                    augmentation_code(subject, augmentation_target(data, finding), run_id),
                )
            )
        chosen = chosen_for[subject]
        if chosen in helped:
            names = helped.pop(chosen)
            also = f" It helps against {_and(names)}." if len(names) > 1 else ""
            out.append(
                _Advice(
                    chosen.kind,
                    chosen.text.format(value=value, level=level) + also,
                    finding.sentence,
                    Template(chosen.code).safe_substitute(
                        name=subject, value=literal(value), run=run_id
                    ),
                    chosen.registered,
                )
            )
        if subject in MONITORED:
            out.append(
                _Advice(
                    "monitoring",
                    f"Alert when live inputs reach {level} of {subject}: `wince monitor` "
                    f"estimates this magnitude from {MONITORED[subject]}.",
                    finding.sentence,
                    monitoring_code(subject, value, run_id),
                )
            )
    return out


def _gate_advice(data: ReportData, risks: list[Finding]) -> list[_Advice]:
    """A `wince gate` policy guarding the top risk of a classifier (none without risks)."""
    if not risks or data.task != "classification":
        return []
    top = risks[0]
    return [
        _Advice(
            "gate",
            f"Guard the fix in CI: the next model version's run must flip fewer than "
            f"{percent(top.low)} of predictions under {top.perturbation} at "
            f"{amount(top.value, top.unit)} (this run's lower 95% bound) and be significantly "
            "worse than this run nowhere.",
            top.sentence,
            gate_code(top, data.run_id),
        )
    ]


def _region_calibration(data: ReportData) -> list[_Advice]:
    """Calibration with a review threshold from the first fragile region bounding confidence.

    None for a model that is not a classifier or cannot be refitted.
    """
    regions = data.frame("regions", "rules")
    # calibrating refits the model (CalibratedClassifierCV): not for a model that cannot be
    if regions.empty or data.task != "classification" or data.trainable is False:
        return []
    for row in regions[regions["kind"] == "fragile"].itertuples():
        threshold = _confidence_threshold(row.conditions)
        if threshold is not None:
            return [
                _Advice(
                    "calibration",
                    f"Calibrate the model's confidence and send predictions below "
                    f"{threshold:.2f} to review: {row.text}.",
                    str(row.text),
                    "from sklearn.calibration import CalibratedClassifierCV\n\n"
                    "# fit on held-out data, perturbed as in this run (see wince.augment)\n"
                    'calibrated = CalibratedClassifierCV(model, method="isotonic", cv=5)\n'
                    "calibrated.fit(x_calibration, y_calibration)\n"
                    f"review = calibrated.predict_proba(x).max(axis=1) < {threshold:.2f}",
                    CALIBRATION_DEFENCE,
                )
            ]
    return []


def _calibration_check(run_id: str, top: Finding) -> _Advice:
    """Checking the expected calibration error under the run's perturbations."""
    return _Advice(
        "calibration",
        "Check calibration under the perturbations above (expected calibration error), so "
        "confidence drops when inputs degrade.",
        top.sentence,
        f"# `wince show {run_id}` prints the same table\n"
        "import wince\n\n"
        "# the store `wince run` wrote (.wince, or $WINCE_STORE)\n"
        f'summary = wince.open(run="{run_id}").summary()\n'
        'ece = summary.query("metric == \'ece\'")[["scenario", "value", "low", "high"]]',
        CALIBRATION_DEFENCE,
    )


def registered_defences(data: ReportData) -> list[str]:
    """The registered defences (`wince.defences`) that apply to the run's model and data."""
    if data.modality not in {m.value for m in Modality}:
        return []
    return applicable(data.task, data.modality)


def measure_command(run_id: str, defence: str) -> str:
    """The `wince harden` command that measures a registered defence on a run."""
    return f"wince harden {run_id} --defence {defence}"


def _defences(data: ReportData, risks: list[Finding]) -> dict[str, Defence]:
    """The defence against each risk's perturbation (`defence`).

    A perturbation without a family of its own gets its modality's generic defence, unless a
    family defence of the same kind is already recommended against another risk: that one
    serves it too (spell correction against speech-to-text errors as against typos).
    """
    chosen = {f.perturbation: defence(f.perturbation, data.modality) for f in risks}
    generic = set(MODALITY_DEFENCES.values()) | {VALIDATION}
    specific = [d for d in dict.fromkeys(chosen.values()) if d not in generic]
    for name, item in chosen.items():
        same = [d for d in specific if d.kind == item.kind]
        if item in generic and same:
            chosen[name] = same[0]
    return chosen


def _and(items: list[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    return ", ".join(items[:-1]) + " and " * (len(items) > 1) + items[-1]


def _confidence_threshold(conditions: Any) -> float | None:
    """The confidence below which a fragile region's predictions should go to review.

    Only a region of low confidence (an upper bound, no lower bound) calls for review below a
    threshold; a region of high confidence is a calibration problem of another kind.

    Examples:
        >>> _confidence_threshold([("baseline_confidence", "<", 0.61)])
        0.61
        >>> high = [("baseline_confidence", ">", 0.61), ("baseline_confidence", "<", 1.0)]
        >>> _confidence_threshold(high) is None
        True
    """
    upper = None
    for feature, operator, value in conditions or []:
        if feature != "baseline_confidence":
            continue
        if operator in (">", ">="):
            return None
        if operator in ("<=", "<"):
            upper = float(value)
    return upper


def refusals(data: ReportData) -> list[str]:
    """One sentence per error the model raised on perturbed inputs, saying what it refused.

    Scenarios refused with the same error share a sentence: each perturbation refused on its
    own is described at its mildest refused level, with the count of stronger ones; refused
    combinations are counted.
    """
    if data.rejected.empty:
        return []
    from wince import perturbations as library

    known = library.registry()
    by_error: dict[str, list[tuple[float, list[dict[str, Any]]]]] = {}
    for row in data.rejected.itertuples():
        steps = data.steps(str(row.scenario))
        severity = max((float(s.get("severity") or 0.0) for s in steps), default=0.0)
        by_error.setdefault(str(row.error), []).append((severity, steps))
    out = []
    for error, scenarios in by_error.items():
        alone: dict[str, list[tuple[float, list[dict[str, Any]]]]] = {}
        combined = 0
        for severity, steps in sorted(scenarios, key=lambda item: item[0]):
            if len(steps) == 1:
                alone.setdefault(str(steps[0].get("entry") or steps[0]["name"]), []).append(
                    (severity, steps)
                )
            else:
                combined += 1
        parts = []
        for levels in alone.values():
            steps = levels[0][1]
            units = {
                str(s["name"]): known[str(s["name"])].magnitude.unit
                for s in steps
                if str(s["name"]) in known
            }
            stronger = len(levels) - 1
            parts.append(
                describe_steps(steps, units)
                + (f" (and {stronger} stronger level{'s' * (stronger > 1)})" if stronger else "")
            )
        listing = "; ".join(parts)
        if combined:
            listing += ", and " * bool(parts)
            listing += f"{combined} combination{'s' * (combined > 1)} of perturbations"
        out.append(
            _sentence(
                f"The model refused these inputs: {error.rstrip('.')}. It gave no answer for "
                f"{listing}, so these scenarios have no results; make the model accept such "
                "inputs (or guard it against them) before it meets them in use."
            )
        )
    return out


def narrative(data: ReportData) -> Narrative:
    """The whole plain-language summary of a run."""
    risks, robust, inconclusive = findings(data)
    refused = refusals(data)
    if refused:
        errors = list(dict.fromkeys(data.rejected["error"].astype(str)))
        said = errors[0].rstrip(".") + (f", and {len(errors) - 1} other errors" * (len(errors) > 1))
        headline = (
            f"The model refused some of the perturbed inputs ({said}): those scenarios have no "
            "results, and it would give no answer to such inputs in use."
        )
    elif risks:
        headline = risks[0].sentence
    elif robust and not inconclusive:
        headline = "The model is robust to every perturbation tested, at every level tested."
    else:
        headline = "No perturbation was found fragile; some results are inconclusive."
    return Narrative(
        risks=risks,
        robust=robust,
        inconclusive=inconclusive,
        notes=notes(data, risks),
        technical=technical_notes(data),
        recommendations=recommendations(data, risks),
        headline=headline,
        refused=refused,
        headline_flag=risks[0].flag if risks and not refused else "",
    )


def not_recommended_reason(clean_change: float, margin: float) -> str:
    """Why a defence that helped, with clean accuracy not shown non-inferior, is not advised.

    Args:
        clean_change: the defence's estimated clean-accuracy change, a fraction (0.01 = 1
            point).
        margin: the non-inferiority margin, a fraction.

    Returns:
        A cost when the estimate itself lies beyond the margin; otherwise the interval is
        what failed (a +0.0 change with a wide interval: too few samples to tell).
    """
    if clean_change > -margin:
        return "clean accuracy not shown non-inferior (interval too wide at this sample size)"
    return "it may cost more clean accuracy than it saves"


def defence_code(
    run_id: str, defended_run_id: str, name: str, options: Mapping[str, Any] | None
) -> str:
    """The commands that compare a defended run with its run and apply its defence to a model.

    Public names only (`wince.defences.create` and `clean_data`, `wince.datasets.ArrayDataset`,
    `wince.models.as_model`). The options are written as the defended run's lineage records
    them; one given as a Python object (recorded `IN_MEMORY`) becomes a placeholder name with
    a comment to pass the same object. A harden result stored before it recorded the options
    (`options` None) gets code that reads them from the defended run's lineage.

    Args:
        run_id: the hardened run.
        defended_run_id: the run made behind the defence.
        name: the defence's registry name.
        options: the defence's recorded options (`Defence.options()`), or None.
    """
    head = (
        "# the defended run against this one, scenario by scenario:\n"
        f"#   wince compare {run_id} {defended_run_id}\n"
    )
    imports = (
        "from wince.datasets import ArrayDataset\n"
        "from wince.defences import clean_data, create\n"
        "from wince.models import as_model\n"
    )
    if options is None:
        imports = "import wince\n" + imports
        created = (
            f'recorded = wince.open(run="{defended_run_id}").lineage["defence"]  # or '
            "wince.open(your_store, ...)\n"
            f'defence = create("{name}", recorded["options"])\n'
        )
    else:
        created = f'defence = create(\n    "{name}",\n    {{\n'
        created += "".join(
            f"        {option!r}: {_option_literal(option, value)}\n"
            for option, value in options.items()
        )
        created += "    },\n)\n"
    return (
        head
        + imports
        + "\nmodel = as_model(model)  # your model, as wince wraps it\n"
        + created
        + "# learns from clean inputs and labels what it needs, if anything\n"
        + "defence.fit(model, clean_data(model, ArrayDataset(x_clean, y_clean)))\n"
        + "defended = defence.wrap(model)  # predicts as the model does, behind the defence"
    )


def _option_literal(option: str, value: Any) -> str:
    """A recorded option value as Python source, then a comma; an in-memory object a name."""
    if value == IN_MEMORY:
        return f"{option}_object,  # given in memory: pass the same object"
    if isinstance(value, list) and IN_MEMORY in value:
        items = [
            f"{option}_object_{i}" if item == IN_MEMORY else repr(item)
            for i, item in enumerate(value, start=1)
        ]
        return f"[{', '.join(items)}],  # given in memory: pass the same objects"
    return f"{value!r},"
