"""The behaviour of `wince gate` and `wince compare`, kept out of cli.py (a thin shell).

Each function prints to the console it is given and returns the command's exit code:
0 ok, 1 a gate rule failed. Bad input raises a `WinceError`, which the CLI turns into a
message and exit code 2.
"""

from __future__ import annotations

import json
import math
import operator
import textwrap
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.table import Table

from wince.governance.compare import (
    BETTER,
    METRICS,
    NO_DIFFERENCE,
    WORSE,
    Comparison,
    compare_runs,
    difference_text,
    margins_text,
)
from wince.governance.gate import REFUSED_SOURCE, GateResult, evaluate_gate
from wince.governance.policy import load_policy
from wince.terminal import print_table

EXIT_OK, EXIT_CHECK_FAILED = 0, 1
_NEGATED = {"<=": ">", ">=": "<", "<": ">="}
_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "<": operator.lt,
}
_VERDICT_STYLE = {BETTER: "green", WORSE: "red", NO_DIFFERENCE: "cyan"}


def gate_command(
    run_ref: str,
    *,
    policy: Path,
    store: str | None,
    junit: Path | None,
    json_output: bool,
    console: Console,
) -> int:
    """Gate a run with a policy file; print a table (or JSON) and optionally write JUnit XML.

    Args:
        run_ref: run id, unique prefix or 'latest'.
        policy: the policy YAML file.
        store: store URL or folder (default `$WINCE_STORE`, else `.wince`).
        junit: where to write JUnit XML (one test case per rule and matched scenario).
        json_output: print the result as JSON instead of a table.
        console: where output goes.

    Returns:
        0 when every check passes, 1 when any fails.

    Raises:
        PolicyError: invalid policy, or a rule that does not fit the run.
        StoreError: missing run or analysis, or a baseline that cannot be paired.
    """
    from wince.store import open_store

    loaded = load_policy(policy)
    opened = open_store(store)
    result = evaluate_gate(opened, opened.resolve(run_ref), loaded)
    written = result.write_junit(junit) if junit is not None else None
    if json_output:
        payload = result.to_payload()
        if written is not None:
            payload["junit"] = str(written)
        console.print_json(json.dumps(payload))
    else:
        print_table(console, gate_table(result), whole=("subject", "rule"))
        failed = len(result.failures)
        if failed:
            console.print("[bold]failed checks[/], numbered as in the table:")
            for reason in failure_reasons(result):
                # wrapped between words only: a scenario name (no spaces) stays whole
                wrapped = textwrap.fill(
                    reason,
                    width=console.width,
                    subsequent_indent="    ",
                    break_long_words=False,
                    break_on_hyphens=False,
                )
                console.print(wrapped, markup=False, highlight=False)
            console.print(
                f"[bold red]gate failed[/]: {failed} of {len(result.checks)} checks failed "
                f"(policy {result.policy}, run {result.run_id})."
            )
        else:
            console.print(
                f"[bold green]gate passed[/]: {len(result.checks)} checks "
                f"(policy {result.policy}, run {result.run_id})."
            )
        if written is not None:
            console.print(f"JUnit XML written to {written}")
    return EXIT_OK if result.passed else EXIT_CHECK_FAILED


def gate_table(result: GateResult) -> Table:
    """The checks as a rich table: interval, which bound was compared, threshold, result.

    A failed check's result is `FAIL (n)`, where n numbers its reason in `failure_reasons`.
    """
    table = Table(
        title=f"gate {result.policy} on run {result.run_id} (95% intervals)",
        caption="bound: the end of the interval compared with the threshold "
        "(upper = strict for max rules, lower = strict for min rules)",
    )
    for column in ("rule", "subject", "estimate [95%]", "bound", "compared", "result"):
        table.add_column(column, overflow="fold")
    failed = 0
    for row in result.checks.itertuples():
        if row.passed:
            verdict = "[green]pass[/]"
        else:
            failed += 1
            verdict = f"[bold red]FAIL ({failed})[/]"
        if row.source == REFUSED_SOURCE:
            table.add_row(row.rule, row.subject, "-", str(row.bound), "inputs refused", verdict)
            continue
        counted = row.bound == "count"
        interval = (
            f"{_number(row.estimate)} [{_number(row.low)}, {_number(row.high)}]"
            if not math.isnan(row.low)
            else _number(row.estimate, count=counted)
        )
        compared = _relation(row.compared, row.operator, row.threshold, count=counted)
        table.add_row(row.rule, row.subject, interval, str(row.bound), compared, verdict)
    return table


def failure_reasons(result: GateResult) -> list[str]:
    """`(n) rule · subject: why it failed`, one per failed check, numbered as in the table."""
    return [
        f"({n}) {row.rule} · {row.subject}: {row.message}"
        for n, row in enumerate(result.failures.itertuples(), start=1)
    ]


def _relation(compared: float, required: str, threshold: float, *, count: bool) -> str:
    """`0.0312 <= 0.05`: the compared number, the relation that holds, the threshold.

    `required` is the relation passing requires ("<=", ">=", "<"; empty: none).
    """
    if not required or math.isnan(threshold):
        return "-"
    limit = f"{int(threshold)}" if count else f"{threshold:g}"
    if math.isnan(compared):
        return f"unknown, not {required} {limit}"
    holds = _OPERATORS[required](compared, threshold)
    shown = required if holds else _NEGATED[required]
    return f"{_number(compared, count=count)} {shown} {limit}"


def _number(value: float, *, count: bool = False) -> str:
    if value is None or math.isnan(value):
        return "-"
    if count:
        return f"{int(value)}"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    value += 0.0  # no negative zero
    return f"{value:.4f}" if abs(value) < 10 else f"{value:g}"


def compare_command(
    run_a: str,
    run_b: str,
    *,
    store: str | None,
    margin: float | None,
    intersection: bool,
    json_output: bool,
    markdown: bool,
    console: Console,
) -> int:
    """Compare run B with run A; print a table, Markdown or JSON.

    Args:
        run_a: the reference run (id, unique prefix or 'latest').
        run_b: the run compared with it.
        store: store URL or folder (default `$WINCE_STORE`, else `.wince`).
        margin: accuracy's equivalence and non-inferiority margin (a fraction, e.g. 0.01);
            None: its practical margin. The other metrics keep theirs (`Metric.margin`).
        intersection: compare only the scenarios both runs hold.
        json_output: print JSON.
        markdown: print Markdown.
        console: where output goes.

    Returns:
        0 (a comparison reports; it does not fail).

    Raises:
        StoreError: missing runs, or runs that cannot be paired (named in the message).
        ParameterError: a margin that is not a positive number, or regression runs.
    """
    from wince.store import open_store

    opened = open_store(store)
    margins = {"accuracy": margin} if margin is not None else None
    comparison = compare_runs(opened, run_a, run_b, margins=margins, intersection=intersection)
    if json_output:
        console.print_json(json.dumps(comparison.to_payload()))
    elif markdown:
        console.print(comparison.to_markdown(), markup=False, highlight=False, end="")
    else:
        console.print(compare_table(comparison))
        console.print(compare_summary(comparison))
    return EXIT_OK


def compare_table(comparison: Comparison) -> Table:
    """One row per scenario: differences B - A with intervals and Holm p, verdict, NI."""
    table = Table(
        title=f"B {comparison.run_b} against A {comparison.run_a}: B - A, 95% paired "
        f"intervals, Holm-adjusted p ({comparison.n_samples} samples)"
    )
    metrics = [m for m in METRICS if m in set(comparison.tests["metric"])]
    table.add_column("scenario", overflow="fold")
    for metric in metrics:
        table.add_column(f"Δ {metric.replace('_', ' ')}", justify="right")
    table.add_column("verdict")
    table.add_column("non-inferior")
    for row in comparison.scenarios.itertuples():
        style = _VERDICT_STYLE.get(row.verdict)
        verdict = f"[{style}]{row.verdict}[/]" if style else row.verdict
        flag = "-" if row.non_inferior is None else ("yes" if row.non_inferior else "no")
        cells = [difference_text(comparison.tests, row.scenario, metric=m) for m in metrics]
        table.add_row(row.scenario, *cells, verdict, flag)
    table.caption = (
        f"verdicts follow {' and '.join(comparison.decisive)}; a difference matters when "
        f"significant and at least its margin: {margins_text(comparison.margins)}"
    )
    return table


def compare_summary(comparison: Comparison) -> str:
    """One line: verdict counts, non-inferiority, scenarios left out."""
    counts = ", ".join(f"{n} {v}" for v, n in comparison.counts().items() if n)
    parts = [f"scenarios: {counts}."]
    ni = comparison.non_inferior
    if ni is not None:
        parts.append(
            f"B is {'non-inferior' if ni else 'not shown non-inferior'} to A in accuracy at "
            f"margin {comparison.margins['accuracy']:g}."
        )
    if comparison.excluded:
        parts.append(f"Left out (one run only): {len(comparison.excluded)} scenario(s).")
    return " ".join(parts)
