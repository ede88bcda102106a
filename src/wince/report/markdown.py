"""A compact Markdown summary of a report, sized for a pull-request comment."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from wince.errors import MissingAnalysisError
from wince.report.data import ReportData
from wince.report.measured import HardeningSection, hardening_section

if TYPE_CHECKING:
    from wince.report.build import Report


def _escape(text: str) -> str:
    """Keep sample-derived text from turning into Markdown or HTML in a comment."""
    for char in ("\\", "`", "*", "_", "[", "]", "<", ">", "|"):
        text = text.replace(char, "\\" + char)
    return text


def _flagged(flag: str) -> str:
    """A finding's range flag after its sentence, in bold ("" when the value is realistic)."""
    return f" **[{_escape(flag)}]**" if flag else ""


def _code_block(code: str) -> list[str]:
    """A recommendation's code as a folded, fenced block inside its list item.

    Folded (`<details>`), so a pull-request comment stays short; indented to belong to the item.
    """
    first = code.split("\n", 1)[0]
    language = "yaml" if first.startswith("# ") and ".yaml" in first else "python"
    longest = max((len(run) for run in re.findall("`+", code)), default=0)
    fence = "`" * max(3, longest + 1)
    block = ["<details><summary>code</summary>", "", f"{fence}{language}", *code.split("\n")]
    block += [fence, "", "</details>"]
    return [f"   {line}".rstrip() for line in block]


def hardening_summary(data: ReportData) -> str:
    """The stored `wince harden` result of a run alone, as Markdown for a pull request.

    Raises:
        MissingAnalysisError: the run was never hardened.
    """
    section = hardening_section(data)
    if section is None:
        raise MissingAnalysisError(
            f"run {data.run_id} has no stored harden result; run wince harden {data.run_id} first."
        )
    title = f"### Hardening `{data.run_id}` ({_escape(str(data.record.get('name') or ''))})"
    return "\n".join([title, "", *hardening_markdown(section)]).rstrip() + "\n"


def hardening_markdown(section: HardeningSection) -> list[str]:
    """The `wince harden` ranking as a Markdown table, its exposure per finding folded.

    With an abstaining defence, a `rejected clean / perturbed` column, and the exposure after
    it is over the inputs it accepts, with the share it rejects.
    """
    refused = section.refused > 0
    abstaining = section.abstaining
    header = ["rank", "defence", "defended run", "significant", "mean reduction (pt)"]
    header += ["refused answered"] * refused
    header += ["clean accuracy Δ pt [95%]", "non-inferior", "latency", "memory / sample"]
    header += ["rejected clean / perturbed"] * abstaining + ["qualifies"]
    cap = (
        f"; at most {section.reject_cap} of clean traffic rejected (out of sample)"
        if abstaining
        else ""
    )
    lines = [
        f"**Measured defences** (`wince harden`: {section.findings} finding(s), "
        f"{section.correction}-corrected; non-inferiority margin {section.margin}{cap})",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    for d in section.ranking:
        cells = [d["rank"], f"`{d['defence']}`", f"`{d['run']}`", d["significant"]]
        cells += [d["mean_reduction"], *[d["answered"]] * refused, d["clean"]]
        cells += [d["non_inferior"], f"{d['latency']} ({d['per_sample']})", d["memory"]]
        cells += [*[d["rejected"]] * abstaining, d["qualifies"]]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    if section.exposure:
        columns = ["defence", "scenario", "metric", "before", "after"]
        columns += ["rejected"] * abstaining + ["reduction pt [95%]", "p"]
        lines += ["<details><summary>Exposure per finding</summary>", ""]
        lines += ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
        for defence, rows in section.exposure:
            for e in rows:
                cells = [f"`{defence}`", _escape(e["scenario"]), e["metric"], e["before"]]
                cells += [e["after"], *[e["rejected"]] * abstaining, e["reduction"], e["p"]]
                lines.append("| " + " | ".join(cells) + " |")
        lines += ["", "</details>", ""]
    return lines


def render_markdown(report: Report) -> str:
    """Headline, ranked risks, robust and inconclusive perturbations, defences, lineage line.

    Defences measured with `wince harden` lead the recommendations, and their ranking follows
    as a table: the summary to paste into a pull request after hardening a run.
    """
    data, found = report.data, report.narrative
    record = data.record
    lines = [
        f"### wince: {_escape(str(record.get('name')))} (run `{data.run_id}`)",
        "",
        f"**{_escape(found.headline)}**" + _flagged(found.headline_flag),
        "",
    ]
    if found.refused:
        lines.append("**Inputs the model refused**")
        lines += [f"- {_escape(sentence)}" for sentence in found.refused]
        lines.append("")
    if found.risks:
        lines.append(
            "**Top risks** (worst first, weighting harm by how common the distortion is; "
            "brackets: 95% confidence)"
        )
        lines += [
            f"{i}. {_escape(f.sentence)}{_flagged(f.flag)}" for i, f in enumerate(found.risks, 1)
        ]
        lines.append("")
    if found.robust:
        lines.append("**Robust**")
        lines += [f"- {_escape(f.sentence)}{_flagged(f.flag)}" for f in found.robust]
        lines.append("")
    if found.inconclusive:
        lines.append("**Inconclusive**")
        lines += [f"- {_escape(f.sentence)}{_flagged(f.flag)}" for f in found.inconclusive]
        lines.append("")
    if found.notes:
        lines.append("**Also**")
        lines += [f"- {_escape(note)}" for note in found.notes]
        lines.append("")
    if found.technical:
        lines += ["<details><summary>Technical notes</summary>", ""]
        lines += [f"- {_escape(note)}" for note in found.technical]
        lines += ["", "</details>", ""]
    if found.recommendations:
        lines.append("**Recommended defences** (measured with `wince harden` first)")
        for r in found.recommendations:
            named = f" ({_escape(r.defence)})" if r.defence else ""
            lines.append(f"{r.priority}. **[{r.status}]** *{r.kind}*{named}: {_escape(r.text)}")
            if r.command:
                lines += ["", f"   Measure it on this model: `{r.command}`"]
            if r.code:
                lines += ["", *_code_block(r.code)]
        lines.append("")
    section = hardening_section(data)
    if section is not None:
        lines += hardening_markdown(section)
    lines.append(f"<sub>Verdicts against tolerances: {_escape(data.tolerance_text())}</sub>")
    lines.append("")
    lineage = data.lineage
    lines.append(
        f"<sub>{record.get('n_samples')} samples · model `{record.get('model_fingerprint')}` · "
        f"data `{record.get('data_fingerprint')}` · seed {lineage.get('seed')} · "
        f"wince {lineage.get('wince_version')}</sub>"
    )
    return "\n".join(lines) + "\n"
