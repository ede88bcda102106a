"""The defences `wince harden` measured on a run, as the report states them: measured first.

`wince harden` stores its result as the run's "harden" analysis (`wince.defences.harden`):
one row per defence, ranked, and one per defence and finding. The report's recommendations
start with every measured defence, in that ranking, in plain words: what it cut, by how much
with its 95% interval, its clean-accuracy change and non-inferiority verdict, its latency and
memory cost, the traffic an abstaining defence rejects, and whether it qualifies
(`MEASURED`), or that it did not help (`NOT_RECOMMENDED`). The
advice a measured defence stands for (`Recommendation.defence`) is then dropped, so nothing is
said twice; the advice no defence measured stays, labelled `SUGGESTION`.

`hardening_section` gives the same result as tables: the ranking and the exposure per finding.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd

from wince.defences import get, registry
from wince.defences.abstain import AbstainingDefence
from wince.defences.harden import after_text, rejected_text
from wince.report.data import ReportData, finite_number
from wince.report.narrative import (
    CALIBRATION_DEFENCE,
    DEFENCES,
    MEASURED,
    MODALITY_DEFENCES,
    NOT_RECOMMENDED,
    SUGGESTION,
    Narrative,
    Recommendation,
    defence_code,
    describe_steps,
    metric_label,
    metric_value,
    not_recommended_reason,
    percent,
    perturbation_units,
)

# each recommendation status's tag style in the HTML report
STATUS_CLASSES = {
    MEASURED: "measured",
    NOT_RECOMMENDED: "not-recommended",
    SUGGESTION: "suggestion",
}
FINDINGS_NAMED = 3  # reductions named in a measured defence's sentence; the section has all
HARDEN = "harden"  # the stored analysis `wince harden` writes


@dataclass(frozen=True)
class HardeningSection:
    """A stored harden result as the report's tables show it (every cell formatted).

    Attributes:
        margin: the clean-accuracy non-inferiority margin, in points ("1 pt").
        findings: how many fragile findings each defence was measured against.
        correction: the multiple-comparison correction across findings ("holm", "bh").
        refused: how many scenarios the undefended model refused (0: no such column).
        abstaining: whether a defence abstains (False: no rejected column).
        reject_cap: the largest share of clean traffic a qualifying defence rejects ("20%").
        ranking: one row per defence, best first: rank, defence, run, significant,
            mean_reduction, answered, clean, non_inferior, latency (ratio, "1.02×"),
            per_sample (defended time per sample, "12.3 µs"), memory (extra peak
            memory per sample, "+1.2 MB"), rejected (clean / perturbed, "4.0% / 31.2%"),
            qualifies.
        exposure: per defence ("name vN"), in ranking order, one row per finding: scenario,
            metric, before, after (over the inputs the defence accepts; "(all rejected)"
            when it rejects every one, deferred, so none is answered wrong), rejected (share of
            the scenario's inputs), reduction, p (adjusted, with " *" when significant).
    """

    margin: str
    findings: int
    correction: str
    refused: int
    abstaining: bool
    reject_cap: str
    ranking: list[dict[str, str]]
    exposure: list[tuple[str, list[dict[str, str]]]]


def _number(value: Any) -> float:
    """A stored number as a float; NaN when missing (stored JSON holds NaN as null)."""
    number = finite_number(value)
    return math.nan if number is None else number


def _verdict(value: Any) -> bool | None:
    """A stored yes/no verdict as a bool; None when it is missing (no labels)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return bool(value)


def ratio(value: Any) -> str:
    """A latency ratio: 1.234 -> "1.23×"; "n/a" when missing."""
    number = _number(value)
    return "n/a" if math.isnan(number) else f"{number:.2f}×"


def points(value: Any, *, signed: bool = False) -> str:
    """A share as percentage points: 0.193 -> "19.3", signed: "+19.3"; "n/a" when missing.

    Examples:
        >>> points(0.193), points(-0.004, signed=True), points(None)
        ('19.3', '-0.4', 'n/a')
    """
    number = _number(value)
    if math.isnan(number):
        return "n/a"
    return f"{100 * number:+.1f}" if signed else f"{100 * number:.1f}"


def share(value: Any) -> str:
    """A share of traffic as a percentage with one decimal: 0.0467 -> "4.7%"."""
    return percent(finite_number(value), 1)


def _reject_cap(payload: dict[str, Any]) -> float:
    """The stored cap on clean traffic rejected; NaN in results stored before abstention."""
    return _number(payload.get("reject_cap"))


def _abstains(row: Any) -> bool:
    """Whether a stored defence row is an abstaining defence (older results: none is)."""
    return bool(getattr(row, "abstains", False))


def duration(seconds: float) -> str:
    """A time per sample for people: 1.2e-05 -> "12 µs".

    Examples:
        >>> duration(1.234e-05), duration(0.0042), duration(2.5), duration(math.nan)
        ('12.3 µs', '4.2 ms', '2.5 s', 'n/a')
    """
    if not math.isfinite(seconds):
        return "n/a"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.3g} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.3g} ms"
    return f"{seconds:.3g} s"


def byte_size(value: Any, *, signed: bool = False) -> str:
    """A memory size in bytes for people (decimal units): 1.5e6 -> "1.5 MB".

    Examples:
        >>> byte_size(1_536_000), byte_size(-2048, signed=True), byte_size(12), byte_size(None)
        ('1.54 MB', '-2.05 kB', '12 B', 'n/a')
    """
    number = _number(value)
    if math.isnan(number):
        return "n/a"
    sign = ("+" if number >= 0 else "-") if signed else ("-" if number < 0 else "")
    size = abs(number)
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"{sign}{size / scale:.3g} {unit}"
    return f"{sign}{size:.0f} B"


def measured_defences(data: ReportData) -> pd.DataFrame:
    """The stored harden ranking, best first (empty when the run was never hardened)."""
    table = data.frame(HARDEN, "defences")
    return table.sort_values("rank", kind="stable") if len(table) else table


def _effect(data: ReportData, metric: str, value: float) -> str:
    """An effect (the harm beyond the noise floor) in its metric's unit."""
    known = data.metrics.get(metric)
    return metric_value(value, known) if known is not None else percent(value)


def _effect_name(data: ReportData, metric: str) -> str:
    """What a finding's effect is, in words: 'the flip rate', 'the accuracy drop'."""
    if metric == "flip_rate":
        return "the flip rate"
    if metric == "accuracy":
        return "the accuracy drop"
    return f"the harm to the {metric_label(metric, data)}"


def _cut(data: ReportData, row: Any) -> str:
    """One significant reduction: 'the flip rate under <scenario> from 19% to 0% (...)'."""
    scenario = describe_steps(data.steps(str(row.scenario)), perturbation_units(data))
    if _number(getattr(row, "rejected", 0.0)) >= 1:
        return (
            f"{_effect_name(data, str(row.metric))} under {scenario}, from "
            f"{_effect(data, str(row.metric), _number(row.before))} to none: it rejects every "
            f"such input, deferring it to the fallback (by {points(row.reduction)} points, "
            f"95% interval {points(row.low)} to {points(row.high)})"
        )
    return (
        f"{_effect_name(data, str(row.metric))} under {scenario} from "
        f"{_effect(data, str(row.metric), _number(row.before))} to "
        f"{_effect(data, str(row.metric), _number(row.after))} (by {points(row.reduction)} "
        f"points, 95% interval {points(row.low)} to {points(row.high)})"
    )


def _cuts(data: ReportData, rows: pd.DataFrame) -> str:
    """The significant reductions of one defence, the primary metric's first, largest first."""
    significant = rows[[bool(_verdict(v)) for v in rows["significant"]]]
    if significant.empty:
        return ""
    ordered = significant.assign(
        _primary=significant["metric"] != data.primary_metric,
        _reduction=-pd.to_numeric(significant["reduction"], errors="coerce"),
    ).sort_values(["_primary", "_reduction"], kind="stable")
    named = [_cut(data, row) for row in ordered.head(FINDINGS_NAMED).itertuples()]
    more = len(ordered) - len(named)
    listed = "; ".join(named)
    if more:
        listed += f"; and {more} more finding{'s' * (more > 1)} (see Measured defences)"
    return listed


def _clean_accuracy(row: Any, margin: float) -> str:
    """The clean-accuracy change with its interval and the non-inferiority verdict."""
    if math.isnan(_number(row.clean_change)):
        return "Clean accuracy was not measured (the data has no labels), so it cannot qualify."
    verdict = (
        "non-inferior"
        if _verdict(row.non_inferior)
        else "not shown non-inferior, it may cost more than"
    )
    return (
        f"Clean accuracy changes by {points(row.clean_change, signed=True)} points (95% "
        f"interval {points(row.clean_low, signed=True)} to {points(row.clean_high, signed=True)}"
        f"): {verdict} at the {100 * margin:g}-point margin."
    )


def _rejection(row: Any, cap: float) -> str:
    """What an abstaining defence rejects, and the cap on clean traffic it must keep within."""
    said = (
        f"It rejects {share(row.clean_rejected)} of clean traffic (out of sample) and "
        f"{share(row.perturbed_rejected)} of the findings' perturbed inputs."
    )
    if _number(row.clean_rejected) <= cap:
        return said
    return f"{said} That is more than the {100 * cap:g}% of clean traffic a defence may reject."


def _latency(row: Any) -> str:
    """The latency and memory cost against the undefended model, per sample.

    The memory sentence is left out for a harden result stored before memory was measured.
    """
    said = (
        f"It takes {ratio(row.latency_ratio)} the undefended model's time per sample "
        f"({duration(_number(row.seconds_per_sample))} per sample)"
    )
    extra = _number(getattr(row, "extra_bytes_per_sample", None))
    if math.isnan(extra):
        return said + "."
    return f"{said} and its prediction's peak memory changes by {_memory(row)} per sample."


def _memory(row: Any) -> str:
    """The extra peak memory per sample of a ranking row ("+1.2 MB"), "n/a" if unmeasured."""
    return byte_size(getattr(row, "extra_bytes_per_sample", None), signed=True)


def measured_text(data: ReportData, row: Any, rows: pd.DataFrame) -> str:
    """A measured defence in plain words: what it cut, clean-accuracy and latency cost, verdict.

    Args:
        data: the hardened run.
        row: the defence's row of the stored ranking.
        rows: its rows of the stored exposure table (one per finding).
    """
    payload = data.analyses[HARDEN]
    margin = float(payload["margin"])
    findings = len(payload.get("findings") or [])
    refused = len(payload.get("refused") or [])
    name = f"{row.defence} v{row.version}"
    cuts = _cuts(data, rows)
    answered = int(row.answered_refused or 0)
    benefit = cuts or answered
    if cuts:
        accepted = ", on the inputs it accepts," if _abstains(row) else ""
        said = f"{name}{accepted} cuts {cuts}."
    elif findings:
        said = f"{name} did not help: it cut none of the {findings} findings significantly."
    else:
        said = f"{name} had no exposure to cut: the run has no fragile finding."
    if answered:
        said += f" It answers {answered} of the {refused} scenarios the model refused."
    if _abstains(row):
        said += " " + _rejection(row, _reject_cap(payload))
    said += " " + _clean_accuracy(row, margin) + " " + _latency(row)
    if row.qualifies:
        total = len(measured_defences(data))
        return f"{said} It qualifies (rank {row.rank} of {total}) in defended run {row.run_id}."
    if benefit and _verdict(row.non_inferior) is False:
        reason = not_recommended_reason(_number(row.clean_change), margin)
        return f"{said} Not recommended as it is: {reason}."
    return f"{said} Not recommended."


def _kind(name: str) -> str:
    """The recommendation kind a registered defence applies (normalisation, calibration ...)."""
    if name == CALIBRATION_DEFENCE:
        return "calibration"
    if name in registry() and issubclass(get(name), AbstainingDefence):
        return "abstention"
    advice = [*DEFENCES.values(), *MODALITY_DEFENCES.values()]
    return next((a.kind for a in advice if a.registered == name), "defence")


def _code(data: ReportData, row: Any) -> str:
    """The commands that compare the defended run and apply the defence to the model."""
    options = getattr(row, "options", None)  # None in a harden result stored before them
    recorded = options if isinstance(options, Mapping) else None
    return defence_code(data.run_id, str(row.run_id), str(row.defence), recorded)


def measured_first(found: Narrative, data: ReportData) -> Narrative:
    """The narrative with every measured defence first, in the harden ranking.

    Advice whose registered defence was measured is dropped (the measured entry says what it
    did, or that it did not help); the rest keeps its order after the measured entries.
    Without a stored harden result the narrative is returned as it is.
    """
    table = measured_defences(data)
    if table.empty:
        return found
    exposure = data.frame(HARDEN, "exposure")
    measured = []
    for row in table.itertuples():
        rows = exposure[exposure["defence"] == row.defence] if len(exposure) else exposure
        measured.append(
            Recommendation(
                0,
                _kind(str(row.defence)),
                measured_text(data, row, rows),
                f"`wince harden` measured it against run {data.run_id}'s findings.",
                _code(data, row),
                status=MEASURED if row.qualifies else NOT_RECOMMENDED,
                defence=str(row.defence),
            )
        )
    names = set(table["defence"])
    advice = [r for r in found.recommendations if r.defence not in names]
    ordered = [replace(r, priority=i) for i, r in enumerate([*measured, *advice], 1)]
    return replace(found, recommendations=ordered)


def hardening_section(data: ReportData) -> HardeningSection | None:
    """The stored harden result as tables (None when the run was never hardened)."""
    table = measured_defences(data)
    if table.empty:
        return None
    payload = data.analyses[HARDEN]
    findings = len(payload.get("findings") or [])
    refused = len(payload.get("refused") or [])
    cap = _reject_cap(payload)
    ranking = [
        {
            "rank": str(row.rank),
            "defence": f"{row.defence} v{row.version}",
            "run": str(row.run_id),
            "significant": f"{row.significant_findings}/{findings}",
            "mean_reduction": points(row.mean_reduction),
            "answered": f"{row.answered_refused}/{refused}",
            "clean": (
                f"{points(row.clean_change, signed=True)} [{points(row.clean_low, signed=True)}, "
                f"{points(row.clean_high, signed=True)}]"
                if finite_number(row.clean_change) is not None
                else "n/a (no labels)"
            ),
            "non_inferior": {True: "yes", False: "no", None: "n/a"}[_verdict(row.non_inferior)],
            "latency": ratio(row.latency_ratio),
            "per_sample": duration(_number(row.seconds_per_sample)),
            "memory": _memory(row),
            "rejected": (
                rejected_text(_number(row.clean_rejected), _number(row.perturbed_rejected), cap)
                if _abstains(row)
                else "none"
            ),
            "qualifies": "yes" if row.qualifies else "no",
        }
        for row in table.itertuples()
    ]
    stored = data.frame(HARDEN, "exposure")
    exposure = [
        (
            f"{defence.defence} v{defence.version}",
            [
                {
                    "scenario": str(row.scenario),
                    "metric": str(row.metric).replace("_", " "),
                    "before": _effect(data, str(row.metric), _number(row.before)),
                    "after": after_text(
                        _effect(data, str(row.metric), _number(row.after)),
                        _number(getattr(row, "rejected", 0.0)),
                    ),
                    "rejected": share(getattr(row, "rejected", 0.0)),
                    "reduction": f"{points(row.reduction)} [{points(row.low)}, {points(row.high)}]",
                    "p": f"{_number(row.p_adjusted):.1e}"
                    + (" *" if _verdict(row.significant) else ""),
                }
                for row in stored[stored["defence"] == defence.defence].itertuples()
            ],
        )
        for defence in table.itertuples()
        if len(stored)
    ]
    return HardeningSection(
        margin=f"{100 * float(payload['margin']):g} pt",
        findings=findings,
        correction=str(payload.get("correction", "holm")),
        refused=refused,
        abstaining=any(_abstains(row) for row in table.itertuples()),
        reject_cap=share(cap),
        ranking=ranking,
        exposure=exposure,
    )
