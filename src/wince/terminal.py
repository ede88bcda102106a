"""Listings for the terminal that never cut a name, and as CSV, TSV or JSON for machines.

A perturbation or scenario name is what a user copies into a plan or a policy, so a table
prints it whole at any width: its column never wraps or shrinks. When the table is wider
than the terminal (80 columns when piped, as in CI logs), the columns a listing marks as
optional are dropped, in order; if it is still too wide, each row is printed as its name on
its own line with the other cells below it. `--wide` prints every column at full width.
"""

from __future__ import annotations

import csv
import io
import json
import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

_CONTROL_CHARACTERS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_DISGUISING_CHARACTERS = re.compile("[\u200b-\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]")


def escape_controls(text: str) -> str:
    r"""`text` with characters that drive or disguise the terminal shown as escapes.

    C0 and C1 control characters (but newline and tab) become `\xNN`: a stored string (a plan
    or run name, a scenario, an error message) may hold an escape sequence such as ESC[2J,
    which would clear the screen of whoever lists the runs. Invisible format characters that
    can make text read as something else become `\uNNNN`: bidirectional embeddings, overrides
    and isolates (U+202A-U+202E, U+2066-U+2069: "Trojan Source"), zero-width characters and
    direction marks (U+200B-U+200F), line and paragraph separators (U+2028, U+2029) and the
    byte order mark (U+FEFF).
    """
    text = _CONTROL_CHARACTERS.sub(lambda match: f"\\x{ord(match.group()):02x}", text)
    return _DISGUISING_CHARACTERS.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


FORMATS = ("table", "csv", "tsv", "json")
"""The values of a listing's `--format`."""


@dataclass
class Listing:
    """Rows of text cells under named columns, printable as a table, CSV, TSV or JSON.

    Attributes:
        title: the table's title (tables only).
        columns: the column headers.
        rows: one cell per column in each row, as printed.
        whole: the columns printed whole at any width (names).
        optional: the columns dropped, first to last, when a table is too wide.
        records: what `--format json` prints, one object per row; default: the cells by header.
    """

    title: str
    columns: Sequence[str]
    rows: Sequence[Sequence[str]] = ()
    whole: Sequence[str] = ()
    optional: Sequence[str] = ()
    records: list[dict[str, Any]] | None = None


def print_listing(console: Console, listing: Listing, *, fmt: str, wide: bool = False) -> None:
    """Print `listing` in `fmt` (one of `FORMATS`); `wide`: a table at full width."""
    if fmt == "json":
        records = listing.records
        if records is None:
            records = [dict(zip(listing.columns, row, strict=True)) for row in listing.rows]
        console.print_json(json.dumps(records, default=str), ensure_ascii=True)
        return
    if fmt in ("csv", "tsv"):
        buffer = io.StringIO()
        dialect = "excel" if fmt == "csv" else "excel-tab"
        writer = csv.writer(buffer, dialect=dialect, lineterminator="\n")
        writer.writerow(listing.columns)
        writer.writerows(listing.rows)
        console.file.write(escape_controls(buffer.getvalue()))  # as is: rich expands tabs
        return
    _print_fitted(console, _table(listing), listing, wide=wide)


def print_table(
    console: Console, table: Table, *, whole: Sequence[str], optional: Sequence[str] = ()
) -> None:
    """Print a rich table with the columns `whole` never cut (see `print_listing`).

    The columns are named by header; cells keep their rich markup.
    """
    cells = [[str(cell) for cell in column.cells] for column in table.columns]
    listing = Listing(
        title=str(table.title or ""),
        columns=[str(column.header) for column in table.columns],
        rows=[list(row) for row in zip(*cells, strict=True)],
        whole=whole,
        optional=optional,
    )
    for column in table.columns:
        if column.header in whole:
            column.no_wrap = True
        else:
            column.overflow = "fold"
    _print_fitted(console, table, listing, wide=False)


def print_more(console: Console, shown: int, total: int, where: str) -> None:
    """Print "… N more (where)" when a listing stopped at `shown` of `total` rows."""
    if total > shown:
        console.print(f"… {total - shown} more ({where})", highlight=False)


NARROWEST_COLUMN = 8
"""Characters below which a folded (non-name) column is not squeezed; else rows are stacked."""


def _table(listing: Listing) -> Table:
    """A rich table of the listing, names unwrapped and other cells folded when too long."""
    table = Table(title=listing.title)
    for header in listing.columns:
        if header in listing.whole:
            table.add_column(header, no_wrap=True)
        else:
            table.add_column(header, overflow="fold")
    for row in listing.rows:
        table.add_row(*row)
    return table


def _print_fitted(console: Console, table: Table, listing: Listing, *, wide: bool) -> None:
    """Print `table` at full width (`wide`), or fitted to the console as the module says."""
    if wide:
        width = sum(_natural_widths(console, table)) + 3 * len(table.columns) + 1
        type(console)(file=console.file, width=max(width, console.width)).print(table)
        return
    for header in [None, *listing.optional]:
        if header is not None:
            table.columns.pop([str(column.header) for column in table.columns].index(header))
        if _fit(console, table, listing.whole, squeeze=False):
            console.print(table)
            return
    if _fit(console, table, listing.whole, squeeze=True):
        console.print(table)
    else:
        _print_stacked(console, listing, [str(column.header) for column in table.columns])


def _natural_widths(console: Console, table: Table) -> list[int]:
    """Each column's width with no line wrapped (its longest line, header included)."""
    options = console.options.update(width=10**6)
    return [
        max(
            Measurement.get(console, options, cell).maximum
            for cell in [column.header, *column.cells]
        )
        for column in table.columns
    ]


def _fit(console: Console, table: Table, whole: Sequence[str], *, squeeze: bool) -> bool:
    """Fix column widths so that the table fits the console with the `whole` columns uncut.

    Without `squeeze`, every column at its natural width. With it, the other columns share
    what is left, the widest narrowed first, none below `NARROWEST_COLUMN` (or its natural
    width). False when the table cannot fit so.
    """
    natural = _natural_widths(console, table)
    names = [str(column.header) in whole for column in table.columns]
    room = console.width - (3 * len(natural) + 1)  # a border and padding either side
    room -= sum(width for width, name in zip(natural, names, strict=True) if name)
    folded = [width for width, name in zip(natural, names, strict=True) if not name]
    narrowest = NARROWEST_COLUMN if squeeze else max(folded, default=0)
    if sum(min(width, narrowest) for width in folded) > room:
        return False
    cap = max(folded, default=0)
    while sum(min(width, cap) for width in folded) > room:
        cap -= 1
    for column, width, name in zip(table.columns, natural, names, strict=True):
        column.width = width if name else min(width, cap)
    return True


def _print_stacked(console: Console, listing: Listing, shown: Sequence[str]) -> None:
    """Each row's first `whole` cell on its own line, then its other cells indented below."""
    if listing.title:
        console.print(listing.title, style="italic", highlight=False)
    indices = [list(listing.columns).index(column) for column in shown]
    first = list(listing.columns).index(next((c for c in listing.whole if c in shown), shown[0]))
    for row in listing.rows:
        console.print(row[first], style="bold", highlight=False, soft_wrap=True)
        others = "; ".join(f"{listing.columns[i]}: {row[i]}" for i in indices if i != first)
        if others:
            indented = textwrap.fill(
                others,
                width=console.width,
                initial_indent="    ",
                subsequent_indent="    ",
                break_long_words=False,
                break_on_hyphens=False,
            )
            console.print(indented, highlight=False, soft_wrap=True)


class ProgressReporter:
    """A progress bar on standard error with the count done, elapsed time and ETA.

    Counts what the user thinks in (samples, by default), not internal batches: call
    `advance(n)` with the number just done. Disabled, it prints nothing: the Python API
    passes `enabled=False` unless asked for progress, the CLI `enabled=sys.stderr.isatty()`.
    The bar is redrawn when work completes rather than by rich's refresh thread: with no
    thread running, the process executor can fork its workers safely.

    Usage (as `wince perturbations --gallery` may):

        with ProgressReporter(len(names), enabled=True, title="gallery", unit="grids") as bar:
            for name in names:
                render(name)
                bar.advance()
    """

    def __init__(
        self,
        total: int,
        *,
        enabled: bool,
        title: str,
        unit: str = "samples",
        console: Console | None = None,
    ) -> None:
        """`total`: units of work (>= 0); `console`: where to draw (default standard error)."""
        self.enabled = enabled and total > 0
        self.total = total
        self.title = title
        self.unit = unit
        self.console = console
        self._progress: Any = None
        self._task: Any = None

    def __enter__(self) -> ProgressReporter:
        if self.enabled:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn(self.unit),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=self.console or Console(stderr=True),
                transient=False,
                auto_refresh=False,
            )
            self._progress.__enter__()
            self._task = self._progress.add_task(self.title, total=self.total)
        return self

    @property
    def completed(self) -> int:
        """Units done so far (0 when disabled)."""
        if self._progress is None:
            return 0
        return int(self._progress.tasks[0].completed)

    def advance(self, units: int = 1) -> None:
        """`units` more units done."""
        if self._progress is not None:
            self._progress.advance(self._task, units)
            self._progress.refresh()

    def describe(self, title: str) -> None:
        """Show `title` instead of the bar's title: the step now under way."""
        if self._progress is not None:
            self._progress.update(self._task, description=title)
            self._progress.refresh()

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)
