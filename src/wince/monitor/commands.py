"""The behaviour of `wince monitor`, kept out of cli.py (a thin shell).

`monitor_command` prints to the console it is given and returns the exit code: 0 no alert,
1 an alert fired. Bad input raises a `WinceError`, which the CLI turns into exit code 2.
"""

from __future__ import annotations

import json
import math
import shlex
import subprocess
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from wince.errors import DataError
from wince.monitor.monitor import MonitorResult, monitor_run
from wince.monitor.policy import load_monitor_policy
from wince.store.store import strict_json

EXIT_OK, EXIT_ALERT = 0, 1
ON_ALERT_TIMEOUT_S = 600.0


def read_outputs(path: Path) -> Any:
    """Model outputs saved as .npy, .npz (first array, or key `outputs`) or .csv (numbers).

    Raises:
        DataError: missing or unreadable file.
    """
    if not path.is_file():
        raise DataError(f"monitor: no outputs file at {path}; check --outputs.")
    try:
        if path.suffix == ".npy":
            return np.load(path, allow_pickle=False)
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as archive:
                key = "outputs" if "outputs" in archive.files else archive.files[0]
                return archive[key]
        if path.suffix == ".csv":
            return np.loadtxt(path, delimiter=",", ndmin=1)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as error:
        raise DataError(
            f"monitor: cannot read outputs from {path}, the file is damaged or not what its "
            f"name says ({type(error).__name__}: {error})."
        ) from None
    raise DataError(f"monitor: outputs are .npy, .npz or .csv files; got {path.name}.")


def run_on_alert(command: str, payload: dict[str, Any], console: Console) -> int | None:
    """Run `command` (split like a shell, no shell) with the alert JSON on stdin.

    Returns:
        The command's exit code, or None when it could not be started or timed out.
    """
    argv = shlex.split(command)
    if not argv:
        return None
    try:
        done = subprocess.run(
            argv,
            input=json.dumps(payload),
            text=True,
            check=False,
            timeout=ON_ALERT_TIMEOUT_S,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        console.print(f"[yellow]warning:[/] --on-alert command failed to run: {error}")
        return None
    if done.returncode:
        console.print(f"[yellow]warning:[/] --on-alert command exited with {done.returncode}.")
    return done.returncode


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{value:.3g}"


def result_table(result: MonitorResult) -> Table:
    """Estimates and predicted degradation as a rich table."""
    table = Table(title=f"wince monitor — run {result.run_id}, {result.n_live} live samples")
    for column in ("perturbation", "magnitude", "95% interval", "unit", "predicted harm"):
        table.add_column(column)
    for e in result.estimates:
        harm = [
            f"{r['metric']} {_fmt(r['estimate'])} ({_fmt(r['low'])}-{_fmt(r['high'])})"
            + (" clamped" if r["clamped"] else "")
            for r in result.predictions
            if r["perturbation"] == e.perturbation
        ]
        table.add_row(
            e.perturbation,
            _fmt(e.value) if e.estimable else "not estimable",
            f"{_fmt(e.low)} .. {_fmt(e.high)}",
            e.unit,
            "; ".join(harm) or "-",
        )
    for column, e in result.drift.items():
        table.add_row(
            f"drift {column}", _fmt(e.value), f"{_fmt(e.low)} .. {_fmt(e.high)}", "sd", "-"
        )
    return table


def monitor_command(
    run_ref: str,
    *,
    live: Path,
    outputs: Path | None,
    policy: Path | None,
    store: str | None,
    on_alert: str | None,
    predict: bool,
    json_output: bool,
    console: Console,
) -> int:
    """Check live data against a run, store the check, alert per the policy.

    Args:
        run_ref: run id, unique prefix or 'latest'.
        live: live inputs (read like the run's data, or by file type).
        outputs: the model's outputs on the live inputs (.npy/.npz/.csv), optional.
        policy: monitor policy YAML (its own, or a `monitor:` section); default thresholds.
        store: store URL or folder (default `$WINCE_STORE`, else `.wince`).
        on_alert: command run when an alert fires, with the alert JSON on stdin.
        predict: run the plan's model on the live inputs when no outputs are given.
        json_output: print the result as JSON.
        console: where output goes.

    Returns:
        0 when no alert fires, 1 when one does.

    Raises:
        PolicyError: invalid policy.
        StoreError: unknown run.
        DataError: unreadable or incompatible live data or outputs.
    """
    from wince.store import open_store

    loaded = load_monitor_policy(policy)
    opened = open_store(store)
    run_id = opened.resolve(run_ref)
    given = read_outputs(outputs) if outputs is not None else None
    result = monitor_run(
        opened, run_id, live, outputs=given, predict=predict, policy=loaded, save=True
    )
    payload = strict_json(result.to_payload() | {"stored_as": result.name})  # NaN -> null
    if json_output:
        console.print_json(json.dumps(payload, default=str))
    else:
        console.print(result_table(result))
        if result.outputs is not None:
            o = result.outputs
            console.print(
                f"outputs: PSI {_fmt(o['psi'])}, JS {_fmt(o['js'])} bits, confidence PSI "
                f"{_fmt(o['confidence_psi'])}"
            )
        for line in result.summary:
            console.print(f"- {line}", markup=False, highlight=False)
        for alert in result.alerts:
            console.print(
                f"[bold red]alert[/] {alert['check']}: {_fmt(alert['value'])} > "
                f"{_fmt(alert['limit'])} — {alert['message']}"
            )
        if not result.fired:
            console.print(f"[green]no alert[/] (policy {result.policy}); stored as {result.name}.")
    if result.fired and on_alert:
        run_on_alert(on_alert, payload, console)
    return EXIT_ALERT if result.fired else EXIT_OK
