"""The `wince` command.

Exit codes are stable: 0 ok, 1 a check found a failure (or an internal error), 2 usage or
input error (a model that fails on clean inputs included), 3 the run is complete but the model
rejected the inputs of some perturbed scenarios (`wince run`; they are listed, and the report
shows them as risks).

No error ends in a traceback: every exception becomes a one-paragraph message (`--debug` shows
the traceback too), and control characters in printed strings (a run name holding a terminal
escape sequence, say) are shown escaped, never sent to the terminal.

The module does not use `from __future__ import annotations`: typer would evaluate every
string annotation of every command at start-up (a third of `wince --help`'s own time).
"""

import functools
import json
import math
import sys
import textwrap
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.text import Text

from wince.errors import PlanError, WinceError, did_you_mean
from wince.files import write_file
from wince.terminal import (
    FORMATS,
    Listing,
    escape_controls,
    print_listing,
    print_more,
)

if TYPE_CHECKING:
    import pandas as pd

    from wince.analysis.profile import Profile
    from wince.store import Store

EXIT_OK, EXIT_CHECK_FAILED, EXIT_USAGE, EXIT_REJECTED = 0, 1, 2, 3

app = typer.Typer(
    name="wince",
    help="Systematic perturbation analysis: how your model reacts to small, realistic changes.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # typer's rich help imports Markdown and Pygments: 0.15 s at start
)
plan_app = typer.Typer(
    help="Check and inspect plan files.", no_args_is_help=True, rich_markup_mode=None
)
app.add_typer(plan_app, name="plan")


class TerminalConsole(Console):
    """A rich console that escapes control characters in every string it prints.

    Rich renders each printed string, table cell and title through `render_str`; its own
    styling is added later, as segments, so escaping here leaves colours intact.
    """

    def render_str(self, text: str, *args: Any, **kwargs: Any) -> Text:
        """The string as rich text, its control characters escaped first."""
        return super().render_str(escape_controls(text), *args, **kwargs)

    def on_broken_pipe(self) -> None:
        """The reader closed the output (`wince show | head`): stop quietly (`OutputClosed`)."""
        try:
            super().on_broken_pipe()  # sends the rest to /dev/null, then exits
        except SystemExit:
            raise OutputClosed(EXIT_OUTPUT_CLOSED) from None


class OutputClosed(SystemExit):
    """The reader of wince's output closed it before the end; nothing more to say."""


# As a shell reports a process ended by SIGPIPE (128 + 13).
EXIT_OUTPUT_CLOSED = 141


out = TerminalConsole(soft_wrap=True)
err = TerminalConsole(stderr=True, soft_wrap=True)

F = TypeVar("F", bound=Callable[..., Any])

StoreOption = Annotated[
    str | None,
    typer.Option(
        "--store",
        help="Store: a folder or a SQLAlchemy catalog URL (default $WINCE_STORE, else .wince); "
        "its outcome segments are where the catalog records them (or $WINCE_SEGMENTS).",
    ),
]
SegmentsOption = Annotated[
    str | None,
    typer.Option(
        "--segments",
        envvar="WINCE_SEGMENTS",
        help="Where outcome segments live: a folder or an fsspec URL (file:///shared/wince; "
        "s3://bucket/wince needs s3fs). Default: the location recorded in the store's "
        "catalog, else <store folder>/segments. A team's first run records it.",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]
FormatOption = Annotated[
    str,
    typer.Option(
        "--format",
        help="table (fitted to the terminal, names never cut), csv, tsv or json (as --json).",
    ),
]
WideOption = Annotated[
    bool, typer.Option("--wide", help="Print the table with every column at full width.")
]
RunArgument = Annotated[
    str, typer.Argument(metavar="RUN", help="Run id, unique prefix or 'latest'.")
]


SHOWN_ROWS, SHOWN_LINES = 10, 5
"""Rows of `wince analyze`'s fragile table, and lines of each finding it lists after it."""

INPUT_ERRORS = (OSError, ValueError, EOFError, RecursionError)
"""Unforeseen exceptions that mostly mean a bad file, folder or value (exit 2, not 1)."""


class GlobalOptions:
    """The options given before the command, for the current invocation."""

    debug = False


def _print_version(given: bool) -> None:
    """Print the installed wince version and stop (the `--version` option)."""
    if given:
        from wince.version import wince_version

        out.print(f"wince {wince_version()}", highlight=False)
        raise typer.Exit()


@app.callback()
def main_options(
    context: typer.Context,
    debug: Annotated[
        bool,
        typer.Option("--debug", help="On an error, also show its Python traceback."),
    ] = False,
    store: StoreOption = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print the installed wince version and exit.",
        ),
    ] = False,
) -> None:
    """Record the options given before the command (the app's help is its own).

    A `--store` given here is the default of every command's own `--store`, which wins.
    """
    GlobalOptions.debug = debug
    if not debug:  # where in wince a warning was raised means nothing to its reader
        warnings.formatwarning = _format_warning
    if store is not None:
        commands = getattr(context.command, "commands", {})
        context.default_map = {name: {"store": store} for name in commands}


def _format_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    line: str | None = None,
) -> str:
    """A warning as one line, `warning: RealismWarning: ...`, without its source line."""
    return f"warning: {category.__name__}: {escape_controls(str(message))}\n"


def _unforeseen(error: BaseException) -> int:
    """Print an exception wince did not convert itself as one paragraph; its exit code."""
    if isinstance(error, OutputClosed):
        return EXIT_OUTPUT_CLOSED
    if isinstance(error, SystemExit):
        err.print(
            f"[bold red]error:[/] code that wince ran (a model, a factory or a plugin) called "
            f"sys.exit({error.code!r}), which would have ended wince without a word. Rerun "
            "with --debug to see where.",
            highlight=False,
        )
        return EXIT_CHECK_FAILED
    detail = f"{type(error).__name__}: {str(error).rstrip('.') or 'no detail'}"
    if isinstance(error, INPUT_ERRORS):
        err.print("[bold red]error:[/] ", end="")
        err.print(
            f"{detail}. This is likely a problem with an input (a file, folder, store or "
            "value named on the command line or in the plan): check it. Rerun with --debug "
            "to see the traceback.",
            markup=False,
            highlight=False,
        )
        return EXIT_USAGE
    err.print("[bold red]internal error:[/] ", end="")
    err.print(
        f"{detail}. This is a bug in wince or in code it ran; rerun with --debug to see the "
        "traceback, and report it with that traceback.",
        markup=False,
        highlight=False,
    )
    return EXIT_CHECK_FAILED


def user_errors(command: F) -> F:
    """Turn every error into a one-paragraph message and an exit code, never a traceback.

    Wince's own errors exit 2; anything else exits 2 when it is likely a bad input
    (`INPUT_ERRORS`), else 1. With `--debug` the traceback is printed first.
    """

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise
        except BaseException as error:
            if GlobalOptions.debug:
                err.print(traceback.format_exc(), markup=False, highlight=False)
            code = _explain(error)
            raise typer.Exit(code) from None

    return wrapper  # type: ignore[return-value]


def _explain(error: BaseException) -> int:
    """Print `error` as a one-paragraph message; the exit code."""
    if isinstance(error, PlanError):
        err.print(f"[bold red]error:[/] the plan is invalid ({len(error.problems)} problem(s)):")
        for problem in error.problems:
            err.print(f"  - {problem}", markup=False, highlight=False)
        return EXIT_USAGE
    if isinstance(error, WinceError):
        err.print(f"[bold red]error:[/] {type(error).__name__}: ", end="")
        err.print(str(error), markup=False, highlight=False)
        return EXIT_USAGE
    if isinstance(error, KeyboardInterrupt):
        err.print("interrupted: completed work is kept; run the same command to resume.")
        return 130
    return _unforeseen(error)


def _json(data: Any) -> None:
    r"""Print `data` as JSON in ASCII: every other character as a `\uNNNN` escape.

    Escaped, a stored string cannot drive the terminal (C1 controls, direction overrides)
    and the output stays valid JSON that decodes to the same strings.
    """
    out.print_json(json.dumps(data, default=str), ensure_ascii=True)


def _listing_format(fmt: str, json_output: bool) -> str:
    """The listing format asked for: `--json` is `--format json`; an unknown one is an error."""
    if json_output:
        return "json"
    if fmt not in FORMATS:
        raise WinceError(f"--format {fmt!r} is not a listing format{did_you_mean(fmt, FORMATS)}")
    return fmt


def _fmt(value: float) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.3f}"


@app.command()
@user_errors
def perturbations(
    modality: Annotated[
        str | None, typer.Option(help="Only this modality: image, text, audio, tabular, ...")
    ] = None,
    fmt: FormatOption = "table",
    wide: WideOption = False,
    json_output: JsonOption = False,
    gallery: Annotated[
        Path | None,
        typer.Option(
            help="Instead of listing, render the galleries into this folder (--modality picks "
            "one): a PNG grid per image perturbation (severities 0.2-1.0 on scikit-learn's "
            "sample photos); text.html, the text perturbations on demo sentences with changes "
            "marked; audio.html, WAV clips and spectrograms of the audio perturbations (mild, "
            "moderate, severe).",
        ),
    ] = None,
    gallery_examples: Annotated[
        int | None,
        typer.Option(help="With --gallery: sentences per text perturbation (1-370; default 30)."),
    ] = None,
    realistic: Annotated[
        bool,
        typer.Option(
            "--realistic",
            help="Only perturbations whose realistic range a source supports: leave out the "
            "stress tests (marked 'stress test' in a table, the stress column of CSV and TSV).",
        ),
    ] = False,
) -> None:
    """List the perturbation library: names, versions, units, realistic ranges and options.

    Stress tests are marked (in the realistic column of a table, a `stress` column in CSV
    and TSV, a flag in JSON): perturbations whose range no published source supports as what
    real data shows (usable in a plan, never in a preset); --realistic leaves them out.

    With --gallery, render galleries to judge realism by eye instead: image grids, a text page
    with every change marked, audio clips with spectrograms.
    """
    from wince.perturbations import Modality, registry

    fmt = _listing_format(fmt, json_output)
    modalities = [str(known) for known in Modality]
    if modality is not None and modality not in modalities:
        raise WinceError(
            f"--modality {modality!r} is not a modality{did_you_mean(modality, modalities)}"
        )
    if gallery_examples is not None and gallery is None:
        raise WinceError("--gallery-examples sizes a gallery: give --gallery DIR too.")
    if gallery is not None:
        from wince.perturbations.gallery import render_galleries

        written = render_galleries(
            gallery,
            None if modality is None else Modality(modality),
            text_examples=gallery_examples,
            progress=sys.stderr.isatty(),
        )
        pages = [str(path) for path in written if path.suffix == ".html"]
        files = "file" if len(written) == 1 else "files"
        out.print(f"{len(written)} gallery {files} written to {gallery}", *pages, sep="\n  ")
        return

    described = [
        cls.describe()
        for cls in registry().values()
        if (modality is None or str(cls.modality) == modality) and not (realistic and cls.stress)
    ]
    # A table marks a stress test in its range cell (a column of its own would not fit 80
    # columns); CSV and TSV give it a yes/no column, JSON the `stress` flag.
    in_table = fmt == "table"
    rows = []
    for d in described:
        p = d["params"][0]
        realistic_range = f"{p['realistic'][0]:g} .. {p['realistic'][1]:g}"
        stress = ["yes" if d["stress"] else "no"]
        if in_table:
            realistic_range += " (stress test)" if d["stress"] else ""
            stress = []
        rows.append(
            [
                d["name"],
                str(d["version"]),
                p["name"],
                p["unit"],
                f"{p['off']:g}",
                realistic_range,
                *stress,
                f"{p['limits'][0]:g} .. {p['limits'][1]:g}",
                ", ".join(f"{k}={v!r}" for k, v in d["options"].items()),
                d["summary"],
            ]
        )
    listing = Listing(
        title="wince perturbations",
        columns=(
            "name",
            "v",
            "parameter",
            "unit",
            "off",
            "realistic",
            *([] if in_table else ["stress"]),
            "limits",
            "options",
            "effect",
        ),
        rows=rows,
        whole=("name", "parameter"),
        optional=("options", "effect", "limits", "v", "off"),
        records=described,
    )
    print_listing(out, listing, fmt=fmt, wide=wide)


@plan_app.command("validate")
@user_errors
def plan_validate(
    path: Annotated[Path, typer.Argument(help="Plan file (YAML).")],
    json_output: JsonOption = False,
) -> None:
    """Check a plan file and list every problem with its field path and a hint.

    Checks the fields, perturbation names and magnitudes, and that the model and data files
    exist (it does not load them), all in one pass. Exit 2 when the plan is invalid. With
    --json, the warnings (values beyond the realistic range) are listed too.
    """
    from wince.engine.scenarios import expand, trials
    from wince.plan import load_plan

    with warnings.catch_warnings(record=json_output) as caught:
        if json_output:
            warnings.simplefilter("always")
        try:
            plan = load_plan(path, check_files=True)
            scenarios = expand(plan)
        except PlanError as error:
            if not json_output:
                raise
            _json(
                {
                    "plan": str(path),
                    "valid": False,
                    "problems": error.problems,
                    "warnings": _warning_records(caught or []),
                }
            )
            raise typer.Exit(EXIT_USAGE) from None
    n_trials = len(trials(scenarios, plan.repeats))
    if json_output:
        _json(
            {
                "plan": str(path),
                "valid": True,
                "problems": [],
                "warnings": _warning_records(caught or []),
                "perturbations": len(plan.perturbations),
                "scenarios": len(scenarios),
                "trials_per_sample": n_trials,
            }
        )
        return
    out.print(
        f"{path}: valid — {len(plan.perturbations)} perturbation(s), {len(scenarios)} "
        f"scenarios, {n_trials} trials per sample."
    )


def _warning_records(caught: list[warnings.WarningMessage]) -> list[dict[str, str]]:
    """Recorded warnings as JSON records: their category and message."""
    return [
        {"category": record.category.__name__, "message": str(record.message)} for record in caught
    ]


@app.command()
@user_errors
def run(
    plan_path: Annotated[Path, typer.Argument(metavar="PLAN", help="Plan file (YAML).")],
    store: StoreOption = None,
    segments: SegmentsOption = None,
    executor: Annotated[
        str,
        typer.Option(
            help="Where to evaluate: local (in-process), process (worker pool) or ray (Ray "
            "actors; pip install 'wince[ray]')."
        ),
    ] = "local",
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Worker processes (--executor process) or Ray actors (--executor ray); "
            "default: CPU count.",
        ),
    ] = None,
    ray_address: Annotated[
        str | None,
        typer.Option(
            "--ray-address",
            help="Ray cluster for --executor ray ('auto' or 'ray://host:10001'); default: a "
            "local Ray, started with this machine's CPUs.",
        ),
    ] = None,
    num_gpus: Annotated[
        float | None,
        typer.Option(
            "--num-gpus", help="GPUs per Ray actor with --executor ray (fractions share a GPU)."
        ),
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
    cache: Annotated[
        bool,
        typer.Option(
            "--cache/--no-cache",
            help="Reuse predictions already made for identical inputs by the same model (in "
            "memory, and on disk next to the store or in --cache-dir).",
        ),
    ] = True,
    cache_dir: Annotated[
        Path | None,
        typer.Option(
            "--cache-dir",
            help="Folder of the prediction cache's disk tier (default: <store>/cache); one "
            "folder can serve several stores.",
        ),
    ] = None,
    lock: Annotated[
        Path | None,
        typer.Option(
            "--lock", help="Lock file to check first (default: PLAN.lock when it exists)."
        ),
    ] = None,
    allow_version_drift: Annotated[
        bool,
        typer.Option(
            "--allow-version-drift",
            help="Run a locked plan despite changed perturbation versions or data; the "
            "drift is recorded in the run's lineage.",
        ),
    ] = False,
    fresh: Annotated[
        bool,
        typer.Option(
            "--fresh",
            help="Run again even when a stored run of the same plan, data, model and "
            "environment exists, or one made under other package versions, calling the model "
            "for every prediction (the prediction cache is not read).",
        ),
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Run a plan (or resume it where it stopped) and store every outcome.

    A complete stored run of the same plan, data, model and package versions is reused.
    Exit codes: 0 complete; 3 complete, but the model rejected (raised on) the inputs of some
    perturbed scenarios, which are listed and have no outcomes; 2 the run failed (a model
    that fails on clean inputs, a plan or data error).
    """
    from wince.governance.lock import run_locked
    from wince.store import open_store

    result = run_locked(
        plan_path,
        lock=lock,
        allow_version_drift=allow_version_drift,
        store=open_store(store, segments=segments) if segments else store,
        executor=executor,
        workers=workers,
        ray_address=ray_address,
        num_gpus=num_gpus,
        progress=progress and not json_output and sys.stderr.isatty(),
        cache=(cache_dir or True) if cache else False,
        fresh=fresh,
    )
    record = result.record
    rejected = result.rejected
    drifts = record["lineage"].get("version_drift") or []
    for drift in drifts:
        err.print(f"[yellow]warning:[/] version drift allowed: {drift}", highlight=False)
    if json_output:
        _json(
            {
                "run_id": result.id,
                "status": record["status"],
                "reused": result.reused,
                "recomputed": result.recomputed,
                "store": result.store.url,
                "version_drift": drifts,
                "rejected": rejected,
            }
        )
    elif result.reused:
        out.print(
            f"reused stored run [bold]{result.id}[/] (same plan, data, model and environment); "
            f"--fresh runs again. Next: wince show {result.id}"
        )
    else:
        if result.recomputed:
            out.print(f"recomputed {result.recomputed} damaged units")
        timings = record["lineage"].get("timings", {})
        loading = timings.get("loading_s")
        out.print(
            f"run [bold]{result.id}[/] {record['status']}: {record['n_samples']} samples; "
            + ("" if loading is None else f"loading the model and data {loading:.1f} s, ")
            + f"evaluation {timings.get('wall_s', 0):.1f} s. Next: wince show {result.id}"
        )
    if rejected:
        if not json_output:
            _print_rejected(rejected)
        raise typer.Exit(EXIT_REJECTED)


def _print_rejected(rejected: dict[str, str], *, code: bool = True, to: Console = err) -> None:
    """Name the scenarios whose inputs the model refused, grouped by its error."""
    by_error: dict[str, list[str]] = {}
    for scenario, error in rejected.items():
        by_error.setdefault(error, []).append(scenario)
    to.print(
        f"[yellow]warning:[/] the model rejected the inputs of {len(rejected)} scenario(s); "
        "they have no outcomes" + (" (exit code 3):" if code else ":")
    )
    for error, scenarios in by_error.items():
        shown = ", ".join(scenarios[:6]) + (
            f" and {len(scenarios) - 6} more" * (len(scenarios) > 6)
        )
        to.print(f"  - {shown}: {error}", markup=False, highlight=False)


@app.command()
@user_errors
def runs(
    store: StoreOption = None,
    fmt: FormatOption = "table",
    wide: WideOption = False,
    json_output: JsonOption = False,
) -> None:
    """List stored runs, newest first.

    A store holding defended runs (`wince harden`) shows a `hardens` column: "RUN with
    DEFENCE" for each defended run, empty for the others; to keep it in a narrow terminal,
    the sample count and status go before it (--wide shows every column).

    Exit 1 when the segments location holds runs the catalog does not name (a deleted or
    emptied catalog; `wince repair --rebuild-catalog` rebuilds them).
    """
    from wince.store import open_store
    from wince.store.store import strict_json

    fmt = _listing_format(fmt, json_output)
    opened = open_store(store)
    frame = opened.list_runs()
    columns = ["run_id", "name", "status", "created_at", "task", "n_samples"]
    rows = [
        [row.run_id, row.name, row.status, row.created_at[:19], row.task, str(row.n_samples)]
        for row in frame.itertuples()
    ]
    optional = ["created_at", "task"]
    if frame["hardens"].notna().any():
        columns.append("hardens")
        optional += ["n_samples", "status"]
        for cells, hardens, defence in zip(rows, frame["hardens"], frame["defence"], strict=True):
            cells.append(f"{hardens} with {defence}" if isinstance(hardens, str) else "")
    listing = Listing(
        title=f"runs ({len(frame)})",
        columns=columns,
        rows=rows,
        whole=("run_id", "name", "hardens"),
        optional=optional,
        records=strict_json(frame.to_dict(orient="records")),  # missing values as null
    )
    print_listing(out, listing, fmt=fmt, wide=wide)
    orphans = opened.orphan_runs()
    if orphans:
        err.print("[yellow]warning:[/] ", end="")
        err.print(opened.orphans_message(orphans), markup=False, highlight=False)
        raise typer.Exit(EXIT_CHECK_FAILED)


@app.command()
@user_errors
def show(
    run_ref: RunArgument,
    store: StoreOption = None,
    metric: Annotated[
        list[str] | None, typer.Option(help="Metrics to show (default: the plan's).")
    ] = None,
    fmt: FormatOption = "table",
    wide: WideOption = False,
    json_output: JsonOption = False,
) -> None:
    """Show a run's scenario x metric table with 95% intervals.

    With --format csv or tsv, one row per scenario and metric (value, low, high); with
    --format json (or --json), those rows with the run id and the rejected scenarios.
    """
    from wince.api import Run
    from wince.store import open_store

    fmt = _listing_format(fmt, json_output)
    opened = open_store(store)
    result = Run(opened, opened.resolve(run_ref))
    summary = result.summary()
    if metric:
        summary = summary[summary["metric"].isin(metric)]
    if fmt == "json":
        _json(
            {
                "run_id": result.id,
                "rows": summary.to_dict(orient="records"),
                "rejected": result.rejected,
            }
        )
        return
    if fmt in ("csv", "tsv"):
        columns = [str(column) for column in summary.columns]
        rows = [[_cell(value) for value in row] for row in summary.itertuples(index=False)]
        print_listing(out, Listing(title="", columns=columns, rows=rows), fmt=fmt)
        return
    wide_summary = summary.pivot_table(
        index=["scenario"], columns="metric", values=["value", "low", "high"], sort=False
    )
    metrics = list(dict.fromkeys(summary["metric"]))
    rows = []
    for scenario in dict.fromkeys(summary["scenario"]):
        cells = [
            f"{_fmt(wide_summary.loc[scenario, ('value', m)])} "
            f"[{_fmt(wide_summary.loc[scenario, ('low', m)])}, "
            f"{_fmt(wide_summary.loc[scenario, ('high', m)])}]"
            if ("value", m) in wide_summary.columns
            else "-"
            for m in metrics
        ]
        rows.append([scenario, *cells])
    listing = Listing(
        title=f"run {result.id} — {result.record['name']} (95% intervals)",
        columns=("scenario", *metrics),
        rows=rows,
        whole=("scenario",),
    )
    print_listing(out, listing, fmt=fmt, wide=wide)
    rejected = result.rejected
    if rejected:  # part of what the run holds: with the table, on stdout
        _print_rejected(rejected, code=False, to=out)


def _cell(value: Any) -> str:
    """A value as a CSV cell: numbers in full precision, missing ones empty."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


@app.command()
@user_errors
def export(
    run_ref: RunArgument,
    parquet: Annotated[Path, typer.Option("--parquet", help="Folder to write outcomes.parquet.")],
    store: StoreOption = None,
) -> None:
    """Export a run's outcomes as one tidy Parquet dataset (with scenario kind and severity)."""
    from wince.api import Run
    from wince.store import open_store

    opened = open_store(store)
    result = Run(opened, opened.resolve(run_ref))
    if parquet.exists() and not parquet.is_dir():
        raise WinceError(f"--parquet: {parquet} is not a folder; give a folder to write into.")
    target = parquet / "outcomes.parquet"
    opened.checked_segment_paths(result.id)  # a damaged run fails before the folder is made
    written: list[int] = []
    write_file(
        target,
        lambda path: written.append(opened.export_outcomes(result.id, path)),
        what="--parquet",
    )
    out.print(f"wrote {written[0]} outcomes to {target}")


@app.command()
@user_errors
def analyze(
    run_ref: RunArgument,
    store: StoreOption = None,
    breaking_points: Annotated[
        bool, typer.Option(help="Search each sample's breaking point (new model evaluations).")
    ] = False,
    breaking_metric: Annotated[
        str | None,
        typer.Option(
            help="The metric whose crossing of its tolerance breaks a sample (e.g. cer, or "
            "the plan's own); default: the label, the value, or a structured output's "
            "headline metric."
        ),
    ] = None,
    global_sensitivity: Annotated[
        bool,
        typer.Option(
            "--global",
            help="Sobol indices over the plan's perturbations (new model evaluations; each "
            "design point applies all of them at once).",
        ),
    ] = False,
    columns: Annotated[
        bool, typer.Option(help="Per-column derivatives of a tabular model.")
    ] = False,
    gradients: Annotated[bool, typer.Option(help="Input gradients of a PyTorch model.")] = False,
    regions: Annotated[bool, typer.Option(help="Describe fragile and robust regions.")] = True,
    plan_path: Annotated[
        Path | None,
        typer.Option(
            "--plan",
            metavar="PLAN",
            help="Use this plan's analysis section (tolerances, alpha, correction, bootstrap) "
            "instead of the run's: that of the plan it was last run with.",
        ),
    ] = None,
    tolerance: Annotated[
        list[str] | None,
        typer.Option(
            "--tolerance",
            metavar="METRIC=VALUE",
            help="Override one tolerance, e.g. --tolerance flip_rate=0.05 or cer=0.02 "
            "(repeatable), for any per-sample metric of the run: docs/reference/metrics.md, "
            "or one of the plan's own.",
        ),
    ] = None,
    alpha: Annotated[
        float | None, typer.Option(help="Override the significance level, in (0, 1).")
    ] = None,
    correction: Annotated[
        str | None,
        typer.Option(help="Override the multiple-comparison correction: holm or bh."),
    ] = None,
    mlflow: Annotated[
        str | None,
        typer.Option(
            "--mlflow",
            metavar="URI",
            help="Also log metrics, verdicts and the report to this MLflow tracking location "
            "(a URI or a local folder; extra 'mlflow').",
        ),
    ] = None,
    progress: Annotated[
        bool,
        typer.Option(help="Progress bars with ETA for --breaking-points and --global."),
    ] = True,
    json_output: JsonOption = False,
) -> None:
    """Compute a run's sensitivity profile (curves, cliffs, interactions, verdicts, regions).

    Verdicts use the tolerances, alpha and correction of the plan the run was last run with
    (analysis settings are not part of a run's identity), or of --plan, with the overrides
    given here; the stored analysis records them.
    """
    from wince.analysis.profile import analyze_run
    from wince.analysis.settings import parse_tolerances
    from wince.errors import PrecisionWarning
    from wince.plan import load_plan
    from wince.store import open_store

    opened = open_store(store)
    run_id = opened.resolve(run_ref)
    with warnings.catch_warnings():
        # a design short of its precision is reported below, with the result
        warnings.simplefilter("ignore", PrecisionWarning)
        profile = analyze_run(
            opened,
            run_id,
            regions=regions,
            breaking_points=breaking_points,
            breaking_metric=breaking_metric,
            global_sensitivity=global_sensitivity,
            columns=columns,
            gradients=gradients,
            plan=None if plan_path is None else load_plan(plan_path),
            tolerance=parse_tolerances(tolerance),
            alpha=alpha,
            correction=correction,
            progress=progress and not json_output and sys.stderr.isatty(),
        )
    shown = _analysis_listings(profile, opened.scenarios(run_id))
    if mlflow is not None:
        from wince.governance.tracking import log_run

        mlflow_run = log_run(opened, run_id, mlflow)
        err.print(f"logged to MLflow at {mlflow} (run {mlflow_run})")
    if json_output:
        _json(_analysis_payload(run_id, profile, shown))
        return
    _print_analysis(run_id, profile, shown)


@dataclass(frozen=True)
class _AnalysisListings:
    """What `wince analyze` shows of a profile beyond its findings, computed once."""

    counts: dict[str, int]  # scenarios per verdict: fragile, robust, inconclusive
    settings: dict[str, Any]  # the analysis settings used; empty when none are recorded
    tolerances: Listing
    fragile: Listing  # the first SHOWN_ROWS fragile scenarios
    cliffs: Listing
    asked: dict[str, Listing]  # the analyses asked for by option, by name


def _analysis_listings(profile: "Profile", scenarios: "pd.DataFrame") -> _AnalysisListings:
    """The listings `wince analyze` prints (or writes as JSON) for a profile of a run."""
    from wince.analysis import listings

    extras = profile.extras
    global_result = extras.get("global_sensitivity")
    breaking = extras.get("breaking_points")
    settings = profile.settings.to_payload() if profile.settings is not None else {}
    tests = profile.verdicts.tests
    asked = {
        "breaking_points": None if breaking is None else listings.breaking_listing(breaking.items),
        "global_sensitivity": None
        if global_result is None
        else listings.global_listing(global_result),
        "gradients": None
        if "gradients" not in extras
        else listings.gradients_listing(extras["gradients"]),
        "columns": None if "columns" not in extras else listings.columns_listing(extras["columns"]),
    }
    return _AnalysisListings(
        counts=profile.verdicts.scenarios["verdict"].value_counts().to_dict(),
        settings=settings,
        tolerances=listings.tolerance_listing(
            settings, set(tests["metric"]) if not tests.empty else set()
        ),
        fragile=listings.fragile_listing(profile.fragile(), scenarios, SHOWN_ROWS),
        cliffs=listings.cliffs_listing(profile.cliffs),
        asked={name: listing for name, listing in asked.items() if listing is not None},
    )


def _analysis_payload(run_id: str, profile: "Profile", shown: _AnalysisListings) -> dict[str, Any]:
    """The JSON document of `wince analyze --json`."""
    from wince.analysis.global_sensitivity import JOINT_DESIGN_NOTE

    global_result = profile.extras.get("global_sensitivity")
    return {
        "run_id": run_id,
        "verdicts": shown.counts,
        "tolerances": shown.tolerances.records,
        "fragile": shown.fragile.records,
        "cliffs": shown.cliffs.records,
        **{name: listing.records for name, listing in shown.asked.items()},
        **(
            {}
            if global_result is None
            else {
                "global_sensitivity": {
                    **global_result.to_payload(),
                    "indices": shown.asked["global_sensitivity"].records,
                    "note": JOINT_DESIGN_NOTE,
                }
            }
        ),
        "seconds": profile.seconds,
        "settings": shown.settings,
        "stored": sorted(profile.payloads()),
    }


def _print_analysis(run_id: str, profile: "Profile", shown: _AnalysisListings) -> None:
    """Print `wince analyze`'s summary of a profile for a reader at a terminal."""
    from wince.analysis.global_sensitivity import JOINT_DESIGN_NOTE

    counts = shown.counts
    out.print(
        f"run [bold]{run_id}[/]: {counts.get('fragile', 0)} fragile, "
        f"{counts.get('robust', 0)} robust, {counts.get('inconclusive', 0)} inconclusive scenarios"
    )
    if shown.tolerances.rows:
        print_listing(out, shown.tolerances, fmt="table")
    else:
        out.print(f"tolerances: none tested; {shown.tolerances.title}", highlight=False)
    if shown.fragile.rows:
        print_listing(out, shown.fragile, fmt="table")
        print_more(out, SHOWN_ROWS, len(shown.fragile.records or []), "all in wince report")
    if shown.cliffs.rows:
        print_listing(out, shown.cliffs, fmt="table")
    _print_synergies_and_regions(profile)
    global_result = profile.extras.get("global_sensitivity")
    for name, listing in shown.asked.items():
        print_listing(out, listing, fmt="table")
        if name == "global_sensitivity":
            out.print(_global_precision(global_result), highlight=False)
            out.print(JOINT_DESIGN_NOTE, highlight=False)
    if global_result is not None and global_result.warning:
        err.print(f"[yellow]warning:[/] {global_result.warning}", highlight=False)
    out.print(f"stored {len(profile.payloads())} analyses in {sum(profile.seconds.values()):.1f} s")


def _print_synergies_and_regions(profile: "Profile") -> None:
    """Print the first SHOWN_LINES synergistic interactions and fragile or robust regions."""
    synergies = profile.interactions.table
    if not synergies.empty:
        synergistic = synergies[synergies["label"] == "synergistic"]
        for row in synergistic.head(SHOWN_LINES).itertuples():
            _print_wrapped(
                f"synergy: {row.scenario} {row.metric} {row.observed:.3f} vs expected "
                f"{row.expected:.3f} ({row.model})"
            )
        print_more(out, SHOWN_LINES, len(synergistic), "synergies; all in wince report")
    found = profile.extras.get("regions")
    if found is not None:
        for text in found.rules["text"].head(SHOWN_LINES):
            _print_wrapped(f"region: {text}")
        print_more(out, SHOWN_LINES, len(found.rules), "regions; all in wince report")


def _print_wrapped(text: str) -> None:
    """Print `text` wrapped between words at the terminal's width (a name is never cut)."""
    out.print(
        textwrap.fill(
            text,
            width=out.width,
            subsequent_indent="    ",
            break_long_words=False,
            break_on_hyphens=False,
        ),
        highlight=False,
    )


def _global_precision(result: Any) -> str:
    """The design of a global-sensitivity result and, for Sobol', the precision it reached."""
    if result.method == "morris":
        return f"global sensitivity: Morris, {result.design_points} design points"
    return (
        f"global sensitivity: Sobol' n_base {result.design['n_base']}, "
        f"{result.design_points} design points, widest 95% interval of a total index "
        f"±{result.half_width:.2f} (target ±{result.design['target_half_width']:.2f})"
    )


@app.command()
@user_errors
def report(
    run_ref: RunArgument,
    store: StoreOption = None,
    out_file: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Report file (default: wince-report-<run id>.html; Markdown and JSON print "
            "to standard output without it).",
        ),
    ] = None,
    fmt: Annotated[
        str, typer.Option("--format", help="html (self-contained), markdown (PR comment) or json.")
    ] = "html",
    figures: Annotated[
        Path | None, typer.Option("--figures", help="Folder to write every figure as PNG and SVG.")
    ] = None,
) -> None:
    """Write a run's report from the store: self-contained HTML, Markdown or JSON."""
    from wince.report.commands import report_command

    report_command(
        run_ref,
        store=store,
        out=out_file,
        fmt=fmt,
        figures=figures,
        console=out,
        progress=sys.stderr.isatty(),
    )


@app.command()
@user_errors
def gate(
    run_ref: RunArgument,
    policy: Annotated[Path, typer.Option("--policy", help="Gate policy file (YAML).")],
    junit: Annotated[
        Path | None,
        typer.Option("--junit", help="Write JUnit XML: one test case per rule and scenario."),
    ] = None,
    store: StoreOption = None,
    json_output: JsonOption = False,
) -> None:
    """Check a run against a policy's rules; exit 1 when any rule fails (for CI)."""
    from wince.governance.commands import gate_command

    code = gate_command(
        run_ref, policy=policy, store=store, junit=junit, json_output=json_output, console=out
    )
    if code:
        raise typer.Exit(code)


@app.command()
@user_errors
def compare(
    run_a: Annotated[
        str, typer.Argument(metavar="RUN_A", help="Reference run: id, unique prefix or 'latest'.")
    ],
    run_b: Annotated[str, typer.Argument(metavar="RUN_B", help="Run compared with RUN_A.")],
    margin: Annotated[
        float | None,
        typer.Option(
            help="Accuracy's equivalence and non-inferiority margin, a fraction (0.01 = 1 "
            "point); default its practical margin. Other metrics keep theirs."
        ),
    ] = None,
    intersection: Annotated[
        bool, typer.Option("--intersection", help="Compare only the scenarios both runs hold.")
    ] = False,
    markdown: Annotated[bool, typer.Option("--markdown", help="Print Markdown.")] = False,
    store: StoreOption = None,
    json_output: JsonOption = False,
) -> None:
    """Compare two runs of the same plan and data, scenario by scenario (paired tests)."""
    from wince.governance.commands import compare_command

    compare_command(
        run_a,
        run_b,
        store=store,
        margin=margin,
        intersection=intersection,
        json_output=json_output,
        markdown=markdown,
        console=out,
    )


@app.command()
@user_errors
def harden(
    run_ref: RunArgument,
    defence: Annotated[
        list[str] | None,
        typer.Option(
            "--defence",
            metavar="NAME[:OPTION=VALUE,...]",
            help="A defence to try, e.g. text.normalize or model.tta:severity=0.1,copies=2 "
            "(repeatable); default every one that applies to the run's model and data.",
        ),
    ] = None,
    margin: Annotated[
        float,
        typer.Option(help="Clean accuracy's non-inferiority margin, a fraction (0.01 = 1 point)."),
    ] = 0.01,
    progress: Annotated[bool, typer.Option(help="A progress bar per defended run.")] = True,
    markdown: Annotated[
        Path | None,
        typer.Option(
            "--markdown",
            metavar="FILE",
            help="Also write the ranking and the exposure per finding as Markdown (for a pull "
            "request).",
        ),
    ] = None,
    store: StoreOption = None,
    json_output: JsonOption = False,
) -> None:
    """Rerun a run's scenarios behind each defence (same seeds); rank what each buys and costs."""
    from wince.defences.harden import harden_command

    harden_command(
        run_ref,
        defences=defence,
        margin=margin,
        store=store,
        json_output=json_output,
        progress=progress,
        console=out,
        markdown=markdown,
    )


@app.command()
@user_errors
def lock(
    plan_path: Annotated[
        Path | None, typer.Argument(metavar="PLAN", help="Plan file (YAML); or --run.")
    ] = None,
    run_ref: Annotated[
        str | None,
        typer.Option(
            "--run",
            help="Lock a stored run instead (id, prefix or latest): its plan, data and model, "
            "a defended run's defence with its options and fitted state.",
        ),
    ] = None,
    store: StoreOption = None,
    out_file: Annotated[
        Path | None,
        typer.Option("--out", help="Lock file (default: PLAN.lock next to the plan, RUN.lock)."),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Pin a plan's (or a run's) perturbation and defence versions, data and environment."""
    from wince.governance.reproduce_commands import lock_command

    code = lock_command(
        plan_path,
        run=run_ref,
        store=store,
        out=out_file,
        json_output=json_output,
        console=out,
    )
    if code:
        raise typer.Exit(code)


@app.command()
@user_errors
def verify(
    run_ref: RunArgument,
    fraction: Annotated[
        float, typer.Option(help="Share of units and of trials to re-execute, in (0, 1].")
    ] = 0.1,
    seed: Annotated[int, typer.Option(help="Seed of the random choice of units and trials.")] = 0,
    lock_file: Annotated[
        Path | None,
        typer.Option(
            "--lock", help="Lock file (wince lock --run) the run must match first; exit 2 if not."
        ),
    ] = None,
    store: StoreOption = None,
    json_output: JsonOption = False,
) -> None:
    """Re-execute a random sample of a run's outcomes; exit 1 unless they are bit-identical.

    Also checks the run's run.json (what a lost catalog is rebuilt from) reads and agrees
    with the catalog; exit 1 when it does not.
    """
    from wince.governance.reproduce_commands import verify_command
    from wince.store import open_store
    from wince.store.repair import record_problem

    opened = open_store(store)
    run_id = opened.resolve(run_ref)
    code = verify_command(
        run_id,
        store=store,
        fraction=fraction,
        seed=seed,
        lock=lock_file,
        json_output=json_output,
        console=out,
    )
    problem = record_problem(opened, run_id)
    if problem is not None:
        err.print("[bold red]verify failed:[/] ", end="")
        err.print(
            f"run {run_id}: {problem}; `wince repair {run_id}` rewrites it from the catalog.",
            markup=False,
            highlight=False,
        )
        code = EXIT_CHECK_FAILED
    if code:
        raise typer.Exit(code)


@app.command()
@user_errors
def repair(
    run_refs: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[RUN]...",
            help="Runs to check: ids, unique prefixes or 'latest' (default: all).",
        ),
    ] = None,
    store: StoreOption = None,
    segments: SegmentsOption = None,
    recompute: Annotated[
        bool,
        typer.Option(
            "--recompute",
            help="Evaluate the dropped units again now (runs whose plan has a model and a data "
            "section), instead of at the next `wince run`.",
        ),
    ] = False,
    rebuild_catalog: Annotated[
        bool,
        typer.Option(
            "--rebuild-catalog",
            help="First rebuild the runs, scenarios and units of every run the catalog does not "
            "name (a deleted or emptied catalog) from its segments.",
        ),
    ] = False,
) -> None:
    """Drop the damaged or missing units of stored runs (checksums included) and say what next.

    A damaged segment is set aside as <name>.damaged, never deleted. Exit codes: 0 nothing was
    damaged, or all was repaired; 1 damage remains (units dropped but not recomputed, runs
    not rebuilt); 2 bad input.
    """
    from wince.store import open_store
    from wince.store import repair as repairs

    opened = open_store(store, segments=segments)
    remaining = False
    if rebuild_catalog:
        for rebuilt in repairs.rebuild_catalog(opened):
            if rebuilt.problem is not None:
                err.print(f"run {rebuilt.run_id}: not rebuilt: {rebuilt.problem}.", highlight=False)
                remaining = True
                continue
            out.print(
                f"run {rebuilt.run_id}: rebuilt from its segments ({rebuilt.units} units)",
                highlight=False,
            )
            if rebuilt.set_aside:
                out.print(
                    repairs.dropped_message(
                        rebuilt.run_id, rebuilt.units + len(rebuilt.set_aside), rebuilt.set_aside
                    ),
                    highlight=False,
                )
    else:
        orphans = opened.orphan_runs()
        if orphans:
            err.print("[yellow]warning:[/] ", end="")
            err.print(opened.orphans_message(orphans), markup=False, highlight=False)
            remaining = True
    if run_refs:
        run_ids = list(dict.fromkeys(opened.resolve(ref) for ref in run_refs))
    else:
        run_ids = opened.list_runs()["run_id"].tolist()
        if not run_ids:
            out.print(f"the store at {opened.url} holds no runs: nothing to check", highlight=False)
    for run_id in run_ids:
        record = repairs.read_run_record(opened, run_id)
        if isinstance(record, str):  # what a lost catalog would be rebuilt from
            opened.save_run_record(run_id)
            out.print(f"run {run_id}: {record}: rewritten from the catalog", highlight=False)
        units = len(opened.completed_units(run_id))
        damaged = opened.damaged_units(run_id, full=True)
        opened.drop_units(run_id, damaged)
        dropped = opened.dropped_ranges(run_id)
        if damaged:
            out.print(repairs.dropped_message(run_id, units, damaged), highlight=False)
        elif dropped:
            shown = ", ".join(f"{start}-{stop - 1}" for start, stop in dropped)
            out.print(
                f"run {run_id}: {len(dropped)} unit(s) dropped as damaged are not recomputed yet "
                f"(samples {shown})",
                highlight=False,
            )
        else:
            out.print(f"run {run_id}: all {units} units sound", highlight=False)
        if dropped:
            remaining |= not _recompute(opened, run_id, now=recompute)
    if remaining:
        raise typer.Exit(EXIT_CHECK_FAILED)


def _recompute(store: "Store", run_id: str, *, now: bool) -> bool:
    """Evaluate a run's missing units (`now`), or say how; whether they were evaluated."""
    from wince import api
    from wince.api import Run

    plan = Run(store, run_id).plan
    runnable = plan.model is not None and plan.data is not None
    if not runnable:
        out.print(
            f"run {run_id}: its plan {plan.name!r} names no model or data to load, so "
            "`wince.run(model, data, plan)` with the run's model, data and plan recomputes "
            "its missing units.",
            highlight=False,
        )
        return False
    if not now:
        out.print(
            f"run {run_id}: `wince repair {run_id} --recompute` recomputes its missing units, "
            f"as does `wince run PLAN` with the plan {plan.name!r} it was run with.",
            highlight=False,
        )
        return False
    before = len(store.completed_units(run_id))
    result = api.run(plan=plan, store=store)
    if result.id != run_id:
        raise WinceError(
            f"run {run_id}: its plan now makes another run, {result.id} (its model, data or "
            f"package versions changed), so run {run_id}'s missing units cannot be recomputed "
            "here. Recompute them where it was made, or use the new run."
        )
    recomputed = len(store.completed_units(run_id)) - before
    out.print(f"run {run_id}: recomputed {recomputed} units", highlight=False)
    return True


@app.command()
@user_errors
def history(
    plan_name: Annotated[str, typer.Argument(metavar="PLAN_NAME", help="The plan's name field.")],
    metric: Annotated[str, typer.Option(help="Metric to follow.")] = "flip_rate",
    store: StoreOption = None,
    json_output: JsonOption = False,
) -> None:
    """Show a metric across the successive runs of a plan, oldest first."""
    from wince.governance.reproduce_commands import history_command

    code = history_command(
        plan_name, store=store, metric=metric, json_output=json_output, console=out
    )
    if code:
        raise typer.Exit(code)


@app.command()
@user_errors
def demo(
    store: StoreOption = None,
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the demo's outputs.")] = Path(
        "wince-demo"
    ),
    executor: Annotated[str, typer.Option(help="local, process or ray.")] = "local",
) -> None:
    """Run the offline demo: digit images, breast-cancer tables, review sentiment, DTMF audio."""
    from wince.demo.run import run_demo

    run_demo(store=store, out_dir=out_dir, executor=executor, console=out)


@app.command()
@user_errors
def monitor(
    run_ref: Annotated[
        str, typer.Option("--reference", metavar="RUN", help="Run id, unique prefix or 'latest'.")
    ],
    live: Annotated[
        Path,
        typer.Option(
            "--live",
            help="Live inputs: read like the run's data (path swapped), or a folder of images, "
            ".npz, .csv, .parquet, .jsonl or .txt file.",
        ),
    ],
    outputs: Annotated[
        Path | None,
        typer.Option(
            "--outputs",
            help="The model's outputs on the live inputs (.npy/.npz/.csv: labels, "
            "probabilities or values); default: predicted with the plan's model.",
        ),
    ] = None,
    policy: Annotated[
        Path | None,
        typer.Option("--policy", help="Monitor policy (YAML, or a `monitor:` section)."),
    ] = None,
    on_alert: Annotated[
        str | None,
        typer.Option(
            "--on-alert",
            metavar="CMD",
            help="Command run when an alert fires (no shell), with the alert JSON on stdin.",
        ),
    ] = None,
    predict: Annotated[
        bool,
        typer.Option("--predict/--no-predict", help="Run the plan's model on the live inputs."),
    ] = True,
    store: StoreOption = None,
    json_output: JsonOption = False,
) -> None:
    """Check live data against a run: output drift, perturbation magnitudes, predicted harm.

    Exit 1 when an alert fires; estimates and alerts are stored under the run.
    """
    from wince.monitor.commands import monitor_command

    code = monitor_command(
        run_ref,
        live=live,
        outputs=outputs,
        policy=policy,
        store=store,
        on_alert=on_alert,
        predict=predict,
        json_output=json_output,
        console=out,
    )
    if code:
        raise typer.Exit(code)


@app.command()
@user_errors
def calibrate(
    reference: Annotated[
        Path,
        typer.Option(
            "--reference",
            help="Reference data (what the model was built and tested on): a folder of images "
            "or WAV files, or a .npz, .csv, .parquet, .jsonl or .txt file.",
        ),
    ],
    plan_out: Annotated[
        Path, typer.Option("--out", help="The plan to write (YAML, evidence in comments).")
    ],
    production: Annotated[
        Path | None,
        typer.Option(
            "--production",
            help="Production data to compare with the reference; default: calibrate the "
            "reference against its own variation (drift, blur, typos, casing, punctuation and "
            "bandwidth need it).",
        ),
    ] = None,
    template: Annotated[
        Path | None,
        typer.Option(
            "--plan",
            help="Template plan whose model and data sections the written plan keeps.",
        ),
    ] = None,
    id_column: Annotated[
        str | None,
        typer.Option(
            "--id-column",
            help="Tables: column whose repeated values are repeated measurements of one thing "
            "(measurement noise).",
        ),
    ] = None,
    modality: Annotated[
        str | None,
        typer.Option(help="Expected modality: image, text, audio or tabular; default as read."),
    ] = None,
    name: Annotated[str | None, typer.Option(help="The plan's name.")] = None,
    seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 0,
    json_output: JsonOption = False,
) -> None:
    """Estimate the perturbation magnitudes real data shows and write them as a plan.

    Values are each magnitude's observed p50, p90 and p99; exit 1 when none shows (no plan).
    """
    from wince.realism.calibrate_commands import calibrate_command

    code = calibrate_command(
        reference,
        production,
        plan_out,
        plan=template,
        id_column=id_column,
        modality=modality,
        name=name,
        seed=seed,
        json_output=json_output,
        console=out,
        progress=sys.stderr.isatty(),
    )
    if code:
        raise typer.Exit(code)


def main() -> None:
    """Entry point of the `wince` console script."""
    app()


if __name__ == "__main__":
    main()
