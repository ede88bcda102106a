"""The behaviour of `wince report`, kept out of cli.py so the CLI stays a thin shell."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console

from wince.errors import WinceError
from wince.files import write_file
from wince.report.build import FORMATS, build_report, default_path
from wince.terminal import ProgressReporter


def report_command(
    run_ref: str,
    *,
    store: str | None,
    out: Path | None,
    fmt: str,
    figures: Path | None,
    console: Console,
    data: Any = None,
    progress: bool = False,
) -> Path | None:
    """Write a run's report; print where it went (or, for Markdown/JSON without --out, it).

    Args:
        run_ref: a run id, a unique prefix or `latest`.
        store: the store URL or folder (default `$WINCE_STORE`, else `.wince`).
        out: the report file; HTML defaults to `wince-report-<run id>.html`, Markdown and JSON
            print to standard output without it.
        fmt: html, markdown or json.
        figures: a folder to write every figure to as PNG and SVG.
        console: where messages go.
        data: the run's data for the worst cases (default: the plan's data section).
        progress: a progress bar on standard error counting the steps (reading the run and
            assembling the report, rendering it, writing the figures), each named as it runs.

    Returns:
        The written report's path, or None when it was printed.

    Raises:
        WinceError: an unknown format, or the store cannot give the run.
    """
    from wince.report.figures import write_figures
    from wince.store import open_store

    if fmt not in FORMATS:
        raise WinceError(f"--format must be one of {', '.join(FORMATS)}; got {fmt!r}.")
    opened = open_store(store)
    run_id = opened.resolve(run_ref)
    steps = 3 if figures is not None else 2
    with ProgressReporter(steps, enabled=progress, title="report", unit="steps") as bar:
        bar.describe(f"report: reading run {run_id}")
        report = build_report(opened, run_id, data=data)
        bar.advance()
        bar.describe(f"report: rendering {fmt}")
        text = report.render(fmt)
        bar.advance()
        written: list[Path] = []
        if figures is not None:
            bar.describe("report: writing figures")
            written = write_figures(report.figures, figures)
            bar.advance()
    target: Path | None = out
    if target is None and fmt == "html":
        target = default_path(run_id, fmt)
    if target is None:
        console.print(text, markup=False, highlight=False, soft_wrap=True, end="")
    else:
        size = write_file(target, text, what="report --out")
        console.print(f"report of run {run_id} written to {target} ({size / 1e6:.2f} MB)")
    if figures is not None:
        console.print(f"{len(written)} figure files (PNG and SVG) written to {figures}")
    return target
