"""The behaviour of `wince lock`, `wince verify` and `wince history`, kept out of cli.py.

Each function prints to the console it is given and returns the command's exit code:
0 ok, 1 a check found a failure (verify: an outcome differs). Bad input raises a
`WinceError`, which the CLI turns into a message and exit code 2.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from rich.console import Console
from rich.table import Table

from wince.errors import ParameterError
from wince.governance.history import history
from wince.governance.lock import write_lock, write_run_lock
from wince.governance.verify import verify_run

EXIT_OK, EXIT_CHECK_FAILED = 0, 1
SHOWN_MISMATCHES = 20


def lock_command(
    plan: Path | None,
    *,
    run: str | None = None,
    store: str | None = None,
    out: Path | None,
    json_output: bool,
    console: Console,
) -> int:
    """Write the lock file of a plan, or of a stored run, and print what it pins.

    Args:
        plan: the plan file (YAML); None with `run`.
        run: a stored run to lock instead (id, unique prefix or 'latest'): its plan, data
            and model, a defended run's defence with its options and fitted state.
        store: the store holding `run` (default `$WINCE_STORE`, else `.wince`).
        out: the lock file; default `<plan file>.lock`, or `<run id>.lock`.
        json_output: print the lock as JSON.
        console: where output goes.

    Returns:
        0.

    Raises:
        ParameterError: both or neither of a plan and a run.
        PlanError: invalid plan, or a plan without a data section.
        ModelError, DataError, StoreError: the run cannot be rebuilt (`write_run_lock`).
    """
    from wince.store import open_store

    if (plan is None) == (run is None):
        raise ParameterError(
            "wince lock: give a plan file (wince lock PLAN) or a stored run (wince lock "
            "--run RUN), one of the two."
        )
    if run is not None:
        target, lock = write_run_lock(open_store(store), run, out)
        checked = f"`wince verify {lock.run} --lock {target}` checks the run against it."
    else:
        assert plan is not None
        target, lock = write_lock(plan, out)
        checked = "`wince run` checks it whenever it sits next to the plan."
    if json_output:
        console.print_json(json.dumps({"lock": str(target), **lock.model_dump(mode="json")}))
        return EXIT_OK
    pinned = ", ".join(f"{name} v{version}" for name, version in lock.perturbations.items())
    pinned += "".join(f", defence {name} v{version}" for name, version in lock.defences.items())
    packages = ", ".join(f"{name} {version}" for name, version in lock.environment.items())
    console.print(
        f"wrote {target}: wince {lock.wince_version}, data {lock.data_fingerprint}, {pinned}; "
        f"environment {packages}. {checked}",
        highlight=False,
    )
    return EXIT_OK


def verify_command(
    run_ref: str,
    *,
    store: str | None,
    fraction: float = 0.1,
    seed: int = 0,
    lock: Path | None = None,
    json_output: bool,
    console: Console,
) -> int:
    """Re-execute a random sample of a run's outcomes and compare them bit for bit.

    Args:
        run_ref: run id, unique prefix or 'latest'.
        store: store URL or folder (default `$WINCE_STORE`, else `.wince`).
        fraction: share of units and of trials re-executed, in (0, 1].
        seed: seed of the random choice.
        lock: a lock file (`wince lock --run`) the rebuilt run must match first.
        json_output: print the result as JSON.
        console: where output goes.

    Environment differences (packages installed at other versions than the run's) are
    printed apart from the outcomes ("environment differs: …"): they are a likely cause of
    differing outcomes, not a failure in themselves.

    Returns:
        0 when every compared outcome is identical, 1 when any differs or a segment of the
        run is damaged (named, with the fix).

    Raises:
        PlanError, ModelError, DataError, StoreError, ParameterError: the run cannot be
            verified (see `wince.governance.verify.verify_run`).
        LockDriftError: the run drifted from `lock`.
    """
    from wince.store import open_store

    opened = open_store(store)
    result = verify_run(opened, opened.resolve(run_ref), fraction=fraction, seed=seed, lock=lock)
    if json_output:
        console.print_json(json.dumps(result.to_payload()))
        return EXIT_OK if result.passed else EXIT_CHECK_FAILED
    if result.damaged:
        console.print("[bold red]verify failed[/]: damaged segments: ", end="")
        console.print(
            opened.damage_message(result.run_id, result.damaged), markup=False, highlight=False
        )
        return EXIT_CHECK_FAILED
    if result.environment_changes:
        console.print(
            f"[yellow]environment differs[/]: {'; '.join(result.environment_changes)} "
            f"(run {result.run_id} was made under other package versions).",
            highlight=False,
        )
    scope = (
        f"{result.rows} outcomes ({len(result.units)} unit(s), {len(result.trials)} trial(s), "
        f"seed {seed})"
    )
    if result.passed:
        console.print(f"[bold green]verified[/]: run {result.run_id}, {scope} identical.")
        return EXIT_OK
    mismatches = result.mismatches
    table = Table(title=f"outcomes of run {result.run_id} that differ when re-executed")
    for column in ("scenario", "trial", "sample", "column", "stored", "recomputed"):
        table.add_column(column, overflow="fold")
    for row in mismatches.head(SHOWN_MISMATCHES).itertuples():
        table.add_row(
            str(row.scenario),
            str(row.trial),
            str(row.sample_index),
            str(row.column),
            str(row.stored),
            str(row.recomputed),
        )
    console.print(table)
    samples = mismatches[["scenario", "sample_index"]].drop_duplicates()
    console.print(
        f"[bold red]verify failed[/]: outcomes differ: run {result.run_id}: "
        f"{len(mismatches)} value(s) in {len(samples)} (scenario, sample) pair(s) differ "
        f"among {scope}."
        + (
            " The environment differs too (above), which may explain it."
            if result.environment_changes
            else ""
        )
    )
    return EXIT_CHECK_FAILED


def history_command(
    plan_name: str,
    *,
    store: str | None,
    metric: str,
    json_output: bool,
    console: Console,
) -> int:
    """Print a metric across the successive runs of a plan name, oldest first.

    Args:
        plan_name: the plan's `name` field.
        store: store URL or folder (default `$WINCE_STORE`, else `.wince`).
        metric: the metric shown.
        json_output: print JSON.
        console: where output goes.

    Returns:
        0.

    Raises:
        ParameterError: unknown metric.
        StoreError: no run of that plan name.
    """
    from wince.store import open_store

    frame = history(open_store(store), plan_name, metric)
    if json_output:
        records = [
            {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
            for r in frame.to_dict(orient="records")
        ]
        console.print_json(json.dumps({"plan": plan_name, "metric": metric, "runs": records}))
        return EXIT_OK
    table = Table(title=f"{metric} of plan {plan_name} across {len(frame)} run(s), oldest first")
    for column in ("run", "created", "status", "model", "mean (perturbed)", "worst [95%]"):
        table.add_column(column, overflow="fold")
    for row in frame.itertuples():
        worst = (
            f"{row.worst_scenario}: {_fmt(row.worst)} [{_fmt(row.worst_low)}, "
            f"{_fmt(row.worst_high)}]"
            if row.worst_scenario is not None
            else "-"
        )
        table.add_row(
            str(row.run_id),
            str(row.created_at)[:19],
            str(row.status),
            str(row.model_fingerprint)[:12],
            _fmt(row.mean),
            worst,
        )
    console.print(table)
    return EXIT_OK


def _fmt(value: object) -> str:
    if not isinstance(value, int | float) or math.isnan(value):
        return "-"
    return f"{value:.3f}"
