"""`wince demo`: run the bundled plans (images, a table, text, audio), print and save a summary."""

from __future__ import annotations

import json
import time
import warnings
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console

from wince import api
from wince.api import Run
from wince.errors import PrecisionWarning
from wince.plan import load_plan
from wince.report import write_report
from wince.report.narrative import amount
from wince.store.store import open_store

PLANS = ("digits.yaml", "breast_cancer.yaml", "sentiment.yaml", "dtmf.yaml")


def plan_path(name: str) -> Path:
    """Path of a bundled demo plan."""
    return Path(str(resources.files("wince.demo") / "plans" / name))


def headline(run: Run) -> list[dict[str, Any]]:
    """Flip rate and accuracy per scenario, the demo's printed summary."""
    summary = run.summary()
    rows = summary[summary["metric"].isin(["accuracy", "flip_rate"])]
    return [
        {k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}
        for row in rows[["scenario", "kind", "metric", "value", "low", "high"]].to_dict("records")
    ]


def key_findings(profile: Any) -> list[str]:
    """A few plain sentences: where each perturbation starts to hurt, breaking points, regions."""
    lines = []
    tests = profile.verdicts.tests
    isolation = tests[(tests["kind"] == "isolation") & (tests["metric"] == "flip_rate")]
    for name, points in profile.curves.table.groupby("perturbation", sort=False):
        flips = points[points["metric"] == "flip_rate"]
        fragile = isolation[
            isolation["scenario"].isin(flips["scenario"]) & (isolation["verdict"] == "fragile")
        ]
        if fragile.empty:
            lines.append(f"{name}: no fragile level within the realistic range")
            continue
        first = flips[flips["scenario"] == fragile.sort_values("severity")["scenario"].iloc[0]]
        row = first.iloc[0]
        lines.append(
            f"{name}: fragile from {amount(row['value'], row['unit'])} on (severity "
            f"{row['severity']:.1f}): {row['estimate']:.1%} of predictions change "
            f"({row['low']:.1%}-{row['high']:.1%})"
        )
    breaking = profile.extras.get("breaking_points")
    if breaking is not None:
        for name, result in breaking.items.items():
            severities = result.table["breaking_severity"]
            broken = severities[np.isfinite(severities)]
            if broken.empty:
                lines.append(f"{name}: no prediction changes anywhere in the realistic range")
                continue
            share = len(broken) / len(severities)
            # one decimal below 10%, so that a handful of changes does not read as 0%
            percent = f"{share:.0%}" if share >= 0.1 else f"{share:.1%}"
            lines.append(
                f"{name}: {percent} of predictions change somewhere in the realistic range; "
                f"half of those by severity {broken.median():.2f}"
            )
    found = profile.extras.get("global_sensitivity")
    if found is not None:
        shares = ", ".join(
            f"{row.factor} {row.ST:.0%}"
            for row in found.indices.sort_values("ST", ascending=False).itertuples()
        )
        lines.append(f"share of flip-rate variance (total Sobol index): {shares}")
        if found.warning:
            lines.append(found.warning)
    regions = profile.extras.get("regions")
    if regions is not None and not regions.rules.empty:
        lines.append(f"region: {regions.rules['text'].iloc[0]}")
    return lines


def run_demo(
    *, store: str | None, out_dir: Path, executor: str = "local", console: Console
) -> dict[str, Any]:
    """Run every demo plan into the store and write `<out_dir>/summary.json`."""
    opened = open_store(store)
    out_dir.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {"store": opened.url, "runs": []}
    for name in PLANS:
        plan = load_plan(plan_path(name))
        started = time.perf_counter()
        run = api.run(plan=plan, store=opened, executor=executor, progress=console.is_terminal)
        seconds = time.perf_counter() - started
        rows = headline(run)
        worst = max(
            (r for r in rows if r["metric"] == "flip_rate"), key=lambda r: r["value"], default=None
        )
        console.print(
            f"[bold]{plan.name}[/]: run {run.id}, {run.record['n_samples']} samples, "
            f"{len(run.scenarios())} scenarios, {seconds:.1f} s"
        )
        if worst is not None:
            console.print(
                f"  largest flip rate: {worst['value']:.1%} ({worst['low']:.1%}-"
                f"{worst['high']:.1%}) under {worst['scenario']}"
            )
        started = time.perf_counter()
        with warnings.catch_warnings():
            # a global-sensitivity design short of its precision is among the findings
            warnings.simplefilter("ignore", PrecisionWarning)
            profile = run.analyze(
                breaking_points=True, global_sensitivity=len(plan.perturbations) > 1
            )
        analysis_seconds = time.perf_counter() - started
        findings = key_findings(profile)
        for line in findings:
            console.print(f"  {line}")
        console.print(f"  analysis: {analysis_seconds:.1f} s (`wince analyze {run.id}` again)")
        report_path = write_report(opened, run.id, out=out_dir / f"report-{run.id}.html")
        console.print(f"  report: {report_path}")
        result["runs"].append(
            {
                "plan": plan.name,
                "run_id": run.id,
                "seconds": round(seconds, 2),
                "analysis_seconds": round(analysis_seconds, 2),
                "report": str(report_path),
                "verdicts": profile.verdicts.scenarios["verdict"].value_counts().to_dict(),
                "findings": findings,
                "summary": rows,
            }
        )
    target = out_dir / "summary.json"
    target.write_text(json.dumps(result, indent=2))
    console.print(f"summary written to {target}; see `wince show <run id>` for every metric")
    return result
