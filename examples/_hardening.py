"""Shared by the harden examples: analyse a demo model, harden the run, print what it found.

Not an example itself (the leading underscore keeps it out of tests/examples' list).
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

import wince
from wince.defences import Defence
from wince.defences.harden import Hardening, print_hardening

Defences = Sequence[str | Defence] | Callable[[wince.Run], Sequence[str | Defence]] | None
# wide enough for the ranking table's columns on one line each
CONSOLE_WIDTH = 180


def sweep_plan(
    name: str, description: str, perturbations: Sequence[str], quick: bool
) -> dict[str, Any]:
    """One sweep per perturbation, no combinations: levels 1, 3, 5 and one seed when `quick`."""
    levels = [1, 3, 5] if quick else [1, 2, 3, 4, 5]
    return {
        "name": name,
        "description": description,
        "perturbations": [{"name": p, "levels": levels} for p in perturbations],
        "repeats": 1 if quick else 2,
        "seed": 0,
        "analysis": {"bootstrap": 200 if quick else 1000},
    }


def analyze_and_harden(
    model: Any,
    data: Any,
    plan: dict[str, Any],
    *,
    defences: Defences = None,
    store: str | Path | None = None,
) -> Hardening:
    """Analyse `model` on `data` under `plan`, then try each defence on the run (`Run.harden`).

    Args:
        model: the demo model.
        data: its data.
        plan: the plan (a mapping).
        defences: defence names or objects, or a function of the analysed run giving them
            (to aim a defence at the run's findings); default every applicable defence.
        store: folder (or store URL) for the runs; default a temporary folder, removed
            afterwards.

    Prints the run's id, then the ranking and exposure tables `wince harden` prints.
    """
    if store is None:
        with tempfile.TemporaryDirectory(prefix="wince-harden-") as folder:
            return analyze_and_harden(model, data, plan, defences=defences, store=folder)
    run = wince.run(model, data, plan, store=str(store))
    print(f"Analysed {plan['name']}: run {run.id}, {run.record['n_samples']} samples.", flush=True)
    chosen = defences(run) if callable(defences) else defences
    hardening = run.harden(chosen, model=model, data=data)
    print(
        f"Hardened it: {len(hardening.defences)} defence(s) tried against "
        f"{len(hardening.findings)} fragile finding(s) (each a defended rerun of the same "
        "scenarios, seeds and samples).",
        flush=True,
    )
    print_hardening(hardening, Console(width=CONSOLE_WIDTH))
    return hardening


def qualifying(hardening: Hardening) -> list[str]:
    """The defences that qualify, best first."""
    table = hardening.defences
    return [str(name) for name in table.loc[table["qualifies"], "defence"]]


def command_line(description: str, main: Callable[..., Hardening]) -> int:
    """Parse `--quick` and `--store`, run `main`, and return 0 when a defence qualifies."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="reduced size, as CI runs it")
    parser.add_argument("--store", help="folder or store URL for the runs (default: temporary)")
    arguments = parser.parse_args()
    hardening = main(quick=arguments.quick, store=arguments.store)
    return 0 if qualifying(hardening) else 1
