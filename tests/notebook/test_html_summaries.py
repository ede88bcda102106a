"""`_repr_html_` of Run, Profile and its parts: the facts, escaped, and tables of real rows."""

from __future__ import annotations

import html
import re

import numpy as np
import pandas as pd
from notebook_support import PLAN_NAME, NotebookRun, threshold_model

import wince
from wince.datasets import ArrayDataset
from wince.models import CallableAdapter
from wince.notebook import html_table

ESCAPED_NAME = html.escape(PLAN_NAME)


def cells(fragment: str) -> list[str]:
    """The text of every <td> in an HTML fragment, in order."""
    return re.findall(r"<td[^>]*>(.*?)</td>", fragment, flags=re.S)


def test_run_summary_holds_its_facts_and_headline_findings(notebook_run: NotebookRun) -> None:
    run, profile = notebook_run.run, notebook_run.profile
    page = run._repr_html_()
    facts = cells(page)
    assert facts[:7] == [
        run.id,
        ESCAPED_NAME,
        run.record["status"],
        "classification",
        "120",
        str(len(run.scenarios())),
        "0",
    ]
    counts = profile.verdicts.counts
    assert f"{counts['fragile']} fragile, {counts['robust']} robust" in page
    assert profile.fragile()["scenario"].iloc[0] in page


def test_a_plan_name_with_markup_is_inert_text(notebook_run: NotebookRun) -> None:
    for page in (notebook_run.run._repr_html_(), notebook_run.profile._repr_html_()):
        assert "<script" not in page
        assert ESCAPED_NAME in page
        assert "&lt;script&gt;alert(&#x27;plan&#x27;)&lt;/script&gt; &amp; co" in page


def test_a_run_never_analysed_says_how_to_analyse_it(tmp_path) -> None:
    x = np.random.default_rng(1).normal(size=(30, 3))
    run = wince.run(
        CallableAdapter(threshold_model, fingerprint="threshold"),
        ArrayDataset(x, threshold_model(x)),
        {"name": "plain", "perturbations": [{"name": "tabular.gaussian_noise"}], "repeats": 1},
        store=str(tmp_path / "s"),
    )
    page = run._repr_html_()
    assert "Not analysed yet: run.analyze() computes the verdicts." in page
    assert "verdicts</th>" not in page


def test_profile_summary_lists_its_fragile_tests_largest_first(notebook_run: NotebookRun) -> None:
    profile = notebook_run.profile
    page = profile._repr_html_()
    assert cells(page)[0] == profile.run_id
    fragile = profile.fragile()
    table = page.split("Fragile, largest effect first")[1]
    rows = [cells(row) for row in table.split("<tr")[2:]]  # after the header row
    assert [row[0] for row in rows] == fragile["scenario"].tolist()
    assert [float(row[2]) for row in rows] == [
        float(f"{effect:.4g}") for effect in fragile["effect"]
    ]


def test_curves_summary_shows_ten_rows_and_counts_the_rest(notebook_run: NotebookRun) -> None:
    curves = notebook_run.profile.curves
    page = curves._repr_html_()
    table = curves.table
    metrics = "flip_rate, accuracy, confidence_change, true_class_prob_change, "
    metrics += "prediction_shift_jsd, ece"
    assert cells(page)[:3] == ["2", metrics, "36"]
    points = page.split("<h5>Points</h5>")[1]
    rows = [cells(row) for row in points.split("<tr")[2:]]
    assert len(rows) == 10
    assert [row[0] for row in rows] == table["entry"].head(10).tolist()
    assert [row[5] for row in rows] == [f"{v:.4g}" for v in table["estimate"].head(10)]
    assert f"… {len(table) - 10} more rows" in page


def test_verdicts_and_interactions_summaries_count_their_labels(
    notebook_run: NotebookRun,
) -> None:
    profile = notebook_run.profile
    counts = profile.verdicts.counts
    verdicts_page = profile.verdicts._repr_html_()
    assert cells(verdicts_page)[0] == (
        f"{counts['fragile']} fragile, {counts['robust']} robust, "
        f"{counts['inconclusive']} inconclusive"
    )
    labels = profile.interactions.table["label"].value_counts()
    interactions_page = profile.interactions._repr_html_()
    assert cells(interactions_page)[0] == ", ".join(f"{n} {label}" for label, n in labels.items())
    for label, n in labels.items():
        assert interactions_page.count(f"<td>{label}</td>") == n


def test_tables_escape_their_cells_and_headers() -> None:
    frame = pd.DataFrame({"<i>name</i>": ["<img src=x onerror=alert(1)>"], "value": [0.123456]})
    fragment = html_table(frame)
    assert "<img" not in fragment
    assert "<i>" not in fragment
    assert "&lt;img src=x onerror=alert(1)&gt;" in fragment
    assert "&lt;i&gt;name&lt;/i&gt;" in fragment
    assert cells(fragment)[1] == "0.1235"
