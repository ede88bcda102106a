"""`wince demo`: run the bundled plans, print a summary, write a JSON summary."""

from __future__ import annotations

import json
import time
from importlib import resources
from pathlib import Path
from typing import Any

from rich.console import Console

from wince.api import Run, analyze
from wince.plan import load_plan
from wince.store.store import open_store

PLANS = ("digits.yaml", "breast_cancer.yaml")


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
        run = analyze(plan=plan, store=opened, executor=executor, progress=console.is_terminal)
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
        result["runs"].append(
            {"plan": plan.name, "run_id": run.id, "seconds": round(seconds, 2), "summary": rows}
        )
    target = out_dir / "summary.json"
    target.write_text(json.dumps(result, indent=2))
    console.print(f"summary written to {target}; see `wince show <run id>` for every metric")
    return result
