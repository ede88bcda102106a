"""Plain-language findings and recommended defences, from a run's stored analyses.

Each perturbation gets one headline: its worst realistic level. Perturbations with a fragile
level are *risks*, ranked by effect x realism; the others are *robust* (every level tested is
significantly within tolerance) or *inconclusive*. Realism weighs how often a magnitude meets
a deployed model: it is 1 at severity 0 and falls linearly to 0.5 at the severe end of the
realistic range (severity 1), and is 0.25 beyond it, so a mild distortion that hurts outranks
an extreme one that hurts as much.

Every number in a sentence is a stored value (curve estimates and their 95% intervals,
interaction differences, Sobol indices), formatted by `percent`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from wince.errors import WinceError
from wince.report.data import ReportData

FRAGILE, ROBUST, INCONCLUSIVE = "fragile", "robust", "inconclusive"


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


def _exposure(value: float) -> str:
    if value < 0:
        return f"under-exposing photos by {abs(value):.1f} stops"
    return f"over-exposing photos by {value:.1f} stops"


# perturbation -> (what it does at a value, where it happens in real life)
PHRASES: dict[str, tuple[Callable[[float], str], str]] = {
    "image.exposure": (_exposure, "as in a dim room or with a wrong light meter"),
    "image.gaussian_noise": (
        lambda v: f"sensor noise of {v:g}% of full scale",
        "as from a small camera at high gain",
    ),
    "image.jpeg": (
        lambda v: f"re-saving images as JPEG at quality {v:g}",
        "as messaging apps do",
    ),
    "tabular.gaussian_noise": (
        lambda v: f"measurement noise of {v:.2g} standard deviations on every column",
        "as from imprecise instruments",
    ),
    "text.typos": (
        lambda v: f"a typo rate of {v:.1%} of characters",
        "as when typing on a phone",
    ),
}


def describe_step(name: str, value: float, unit: str, *, context: bool = True) -> str:
    """A perturbation at a value as a lower-case phrase a non-specialist reads.

    Examples:
        >>> describe_step("image.jpeg", 70, "libjpeg quality")
        're-saving images as JPEG at quality 70, as messaging apps do,'
        >>> describe_step("image.jpeg", 70, "libjpeg quality", context=False)
        're-saving images as JPEG at quality 70'
    """
    phrase = PHRASES.get(name)
    if phrase is None:
        return library_phrase(name, value, unit)
    core, where = phrase
    return f"{core(value)}, {where}," if context else core(value)


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
        describe_step(s["name"], float(s["value"]), units.get(s["name"], ""), context=False)
        for s in steps
    ]
    return " together with ".join(parts) or "no perturbation"


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
        metric: the metric stated (flip_rate, or mean_abs_change for regression).
        estimate, low, high: the stored curve estimate and its 95% interval.
        realism: the realism weight of the severity; score: effect x realism.
        sentence: the finding as a sentence.
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

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return dict(self.__dict__)


@dataclass(frozen=True)
class Recommendation:
    """A defence against a finding, in priority order.

    Attributes:
        priority: 1 is first.
        kind: augmentation, normalisation, denoising, validation, spell correction,
            calibration.
        text: what to do, with the measured magnitude.
        because: the finding it answers.
    """

    priority: int
    kind: str
    text: str
    because: str

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
        notes: further sentences (synergies, thresholds, where it fails, variance shares).
        recommendations: defences in priority order.
        headline: one sentence for the top of the report.
    """

    risks: list[Finding]
    robust: list[Finding]
    inconclusive: list[Finding]
    notes: list[str]
    recommendations: list[Recommendation]
    headline: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "headline": self.headline,
            "risks": [f.to_dict() for f in self.risks],
            "robust": [f.to_dict() for f in self.robust],
            "inconclusive": [f.to_dict() for f in self.inconclusive],
            "notes": self.notes,
            "recommendations": [r.to_dict() for r in self.recommendations],
        }


def _change_text(metric: str, estimate: float, low: float, high: float) -> str:
    if metric == "flip_rate":
        return f"changes {interval(estimate, low, high)} of predictions"
    return f"moves predictions by {interval(estimate, low, high, share=False)} on average"


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
    subject = describe_step(name, value, unit)
    change = _change_text(metric, estimate, low, high)
    tolerance = (data.plan.get("analysis") or {}).get("tolerance", {}).get(metric)
    tolerance_text = "the tolerance"
    if tolerance is not None:
        tolerance_text = f"the {tolerance * 100:g}% tolerance"
    if metric != "flip_rate" and tolerance is not None:
        tolerance_text = f"the {tolerance:g} tolerance"
    if kind == FRAGILE:
        text = f"{subject} {change}{_accuracy_clause(data, str(row['scenario']))}."
    elif kind == ROBUST:
        text = (
            f"Even at its harshest tested level, {subject} {change}: within {tolerance_text} "
            "at every level tested."
        )
    else:
        needed = _samples_needed(data, str(row["scenario"]))
        settle = f" About {needed:,} samples would settle it." if needed else ""
        text = f"{subject} {change}: not clearly above or below {tolerance_text}.{settle}"
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
        score=max(estimate, 0.0) * weight,
        sentence=_sentence(text),
    )


def _samples_needed(data: ReportData, scenario: str) -> int | None:
    tests = data.frame("verdicts", "tests")
    if tests.empty or "samples_needed" not in tests:
        return None
    needed = pd.to_numeric(tests.loc[tests["scenario"] == scenario, "samples_needed"])
    needed = needed[np.isfinite(needed)]
    return int(needed.max()) if len(needed) else None


def findings(data: ReportData) -> tuple[list[Finding], list[Finding], list[Finding]]:
    """Risks (ranked by effect x realism), robust and inconclusive perturbations."""
    curves = data.frame("curves")
    verdicts = data.frame("verdicts", "scenarios")
    metric = data.primary_metric
    if curves.empty:
        return [], [], []
    verdict_of = dict(zip(verdicts.get("scenario", []), verdicts.get("verdict", []), strict=True))
    risks, robust, inconclusive = [], [], []
    for _, rows in curves[curves["metric"] == metric].groupby("perturbation", sort=False):
        points = rows[rows["scenario"] != "baseline"].to_dict("records")
        if not points:
            continue
        kinds = [verdict_of.get(p["scenario"], INCONCLUSIVE) for p in points]
        harshest = max(points, key=lambda p: float(p["severity"]))
        if FRAGILE in kinds:
            fragile = [p for p, k in zip(points, kinds, strict=True) if k == FRAGILE]
            best = max(fragile, key=lambda p: float(p["estimate"]) * realism(float(p["severity"])))
            risks.append(_finding(data, FRAGILE, best, metric))
        elif all(k == ROBUST for k in kinds):
            robust.append(_finding(data, ROBUST, harshest, metric))
        else:
            inconclusive.append(_finding(data, INCONCLUSIVE, harshest, metric))
    risks.sort(key=lambda f: f.score, reverse=True)
    inconclusive.sort(key=lambda f: f.score, reverse=True)
    return risks, robust, inconclusive


def _units(data: ReportData) -> dict[str, str]:
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
        for row in synergies.sort_values("difference", ascending=False).head(3).itertuples():
            phrase = describe_steps(data.steps(str(row.scenario)), _units(data))
            if metric == "flip_rate":
                extra = interval(float(row.difference), float(row.low), float(row.high))
                out.append(
                    _sentence(
                        f"{phrase} changes {percent(float(row.observed))} of predictions, "
                        f"{extra} more than expected from each alone "
                        f"({percent(float(row.expected))})."
                    )
                )
    cliffs = data.frame("cliffs")
    if not cliffs.empty:
        for row in cliffs[cliffs["metric"] == metric].itertuples():
            unit = _units(data).get(str(row.perturbation), "")
            out.append(
                f"Threshold: the {metric.replace('_', ' ')} under {row.perturbation} climbs "
                f"sharply beyond {float(row.value):.3g} {unit} "
                f"(severity {float(row.severity):.1f})."
            )
    regions = data.frame("regions", "rules")
    if not regions.empty:
        fragile = regions[regions["kind"] == "fragile"]
        if len(fragile):
            out.append(_sentence(f"Where it fails: {fragile['text'].iloc[0]}."))
    indices = data.frame("global_sensitivity", "indices")
    if not indices.empty:
        top = indices.sort_values("ST", ascending=False).iloc[0]
        out.append(
            f"{top['factor']} accounts for {percent(float(top['ST']), 0)} "
            f"({percent(max(float(top['ST_low']), 0.0), 0)[:-1]}–"
            f"{percent(min(float(top['ST_high']), 1.0), 0)}) of "
            "the variation in flip rate across the realistic ranges (total Sobol index)."
        )
    return out


DEFENCES: dict[str, tuple[str, str]] = {
    "image.exposure": (
        "normalisation",
        "Normalise brightness before the model (auto-exposure or histogram equalisation) and "
        "flag inputs exposed {value:+.1f} EV or worse.",
    ),
    "image.gaussian_noise": (
        "denoising",
        "Denoise inputs before the model (a light bilateral or non-local-means filter), or "
        "reject images whose estimated noise exceeds {value:.2g}% of full scale.",
    ),
    "image.jpeg": (
        "normalisation",
        "Remove blocking artefacts before the model (a deblocking filter), or ask upstream "
        "services to keep JPEG quality above {value:.0f}.",
    ),
    "tabular.gaussian_noise": (
        "validation",
        "Validate inputs: check each measurement against its expected range and average "
        "repeated measurements, so noise stays below {value:.2g} standard deviations.",
    ),
    "text.typos": (
        "spell correction",
        "Spell-correct inputs before the model; the model breaks at a typo rate of {value:.1%}.",
    ),
}
MODALITY_DEFENCES = {
    "image": ("normalisation", "Normalise images (brightness, contrast, codec) before the model."),
    "text": ("spell correction", "Normalise and spell-correct text before the model."),
    "audio": ("denoising", "Denoise and loudness-normalise audio before the model."),
    "tabular": ("validation", "Validate feature ranges and units before the model."),
    "timeseries": ("denoising", "Filter and resample signals before the model."),
}


def _breaking_value(data: ReportData, finding: Finding) -> tuple[float, str]:
    """The augmentation target: the median magnitude at which predictions broke, if measured."""
    payload = (data.analyses.get("breaking_points") or {}).get(finding.perturbation)
    if payload:
        table = pd.DataFrame(payload["table"])
        broken = pd.to_numeric(table["breaking_value"], errors="coerce").dropna()
        if len(broken):
            return (
                float(np.median(broken)),
                f"the median magnitude at which {len(broken)} of {len(table)} predictions broke",
            )
    return finding.value, "the level found fragile"


def recommendations(data: ReportData, risks: list[Finding]) -> list[Recommendation]:
    """Defences for each risk in its rank order, then calibration where confidence predicts it."""
    out: list[Recommendation] = []

    def add(kind: str, text: str, because: str) -> None:
        out.append(Recommendation(len(out) + 1, kind, text, because))

    for finding in risks:
        value, source = _breaking_value(data, finding)
        subject = finding.perturbation
        add(
            "augmentation",
            f"Train with {subject} augmentation up to {value:.3g} {finding.unit} ({source}), "
            "sampling milder values too.",
            finding.sentence,
        )
        kind, template = DEFENCES.get(
            subject, MODALITY_DEFENCES.get(data.modality, ("validation", "Validate inputs."))
        )
        add(kind, template.format(value=value), finding.sentence)
    regions = data.frame("regions", "rules")
    if not regions.empty and data.task == "classification":
        fragile = regions[regions["kind"] == "fragile"]
        for row in fragile.itertuples():
            threshold = _confidence_threshold(row.conditions)
            if threshold is not None:
                add(
                    "calibration",
                    f"Calibrate the model's confidence and send predictions below "
                    f"{threshold:.2f} to review: {row.text}.",
                    str(row.text),
                )
                break
    if risks and not any(r.kind == "calibration" for r in out) and data.task == "classification":
        add(
            "calibration",
            "Check calibration under the perturbations above (expected calibration error), so "
            "confidence drops when inputs degrade.",
            risks[0].sentence,
        )
    return out


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


def narrative(data: ReportData) -> Narrative:
    """The whole plain-language summary of a run."""
    risks, robust, inconclusive = findings(data)
    if risks:
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
        recommendations=recommendations(data, risks),
        headline=headline,
    )
