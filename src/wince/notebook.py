"""HTML summaries of runs and analyses, as notebooks show them (`_repr_html_`).

Every value is escaped: a plan, scenario or metric name holding markup shows as text and
never runs. Tables show their first rows; the object's DataFrame attributes hold them all.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

import pandas as pd

MAX_ROWS = 10
"""Rows of a table shown in a summary."""

FRAGILE_COLUMNS = ("scenario", "metric", "effect", "tolerance", "p_fragile")
"""The columns of a fragile test a summary shows (`Verdicts.fragile`)."""


def _number(value: float) -> str:
    return f"{value:.4g}"


def html_table(
    frame: pd.DataFrame, *, columns: Sequence[str] | None = None, max_rows: int = MAX_ROWS
) -> str:
    """A frame's first `max_rows` rows as an escaped HTML table, then "… N more rows".

    Args:
        frame: the table.
        columns: the columns to show, those the frame has, in this order; default all.
        max_rows: rows shown, at least 1.
    """
    shown = frame if columns is None else frame[[c for c in columns if c in frame.columns]]
    if shown.empty:
        return "<p><em>none</em></p>"
    table = str(
        shown.head(max_rows).to_html(
            index=False, escape=True, border=0, na_rep="", float_format=_number
        )
    )
    more = len(frame) - max_rows
    return table + (f"<p>… {more} more rows</p>" if more > 0 else "")


def html_card(
    title: str, facts: Sequence[tuple[str, Any]], sections: Sequence[tuple[str, str]] = ()
) -> str:
    """A titled summary: escaped facts (label, value), then sections (heading, HTML body).

    Section bodies are HTML made by `html_table` or `html_text`; titles, labels, values
    and headings are escaped here.
    """
    rows = "".join(
        f"<tr><th style='text-align:left'>{html.escape(str(label))}</th>"
        f"<td style='text-align:left'>{html.escape(str(value))}</td></tr>"
        for label, value in facts
    )
    parts = [f"<div class='wince-summary'><h4>{html.escape(title)}</h4><table>{rows}</table>"]
    for heading, body in sections:
        parts.append(f"<h5>{html.escape(heading)}</h5>{body}")
    parts.append("</div>")
    return "".join(parts)


def html_text(text: str) -> str:
    """A paragraph of plain text, escaped."""
    return f"<p>{html.escape(text)}</p>"


def counts_text(counts: dict[str, int]) -> str:
    """Counts by label in words, e.g. "2 fragile, 0 robust, 4 inconclusive"."""
    return ", ".join(f"{count} {label}" for label, count in counts.items()) or "none"
