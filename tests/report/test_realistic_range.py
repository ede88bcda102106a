"""Findings at values beyond a perturbation's realistic range carry a flag; plans warn of them."""

from __future__ import annotations

import html
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

import wince
from wince.api import Run
from wince.cli import app
from wince.datasets import ArrayDataset
from wince.demo.models import digits_classifier, digits_data
from wince.errors import RealismWarning
from wince.plan import load_plan
from wince.report import Report, build_report
from wince.report.narrative import range_flag

ROTATION_FLAG = "beyond the realistic range: 30 degrees vs at most 15 degrees"


@pytest.fixture(scope="module")
def beyond_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """Digits rotated by 30 degrees (twice the realistic maximum) and darkened by 1 EV."""
    full = digits_data()
    assert full.labels is not None
    data = ArrayDataset(full.x[:120], full.labels[:120], modality="image")
    plan = {
        "name": "beyond-range",
        "perturbations": [
            {"name": "image.rotation", "values": [30.0]},
            {"name": "image.exposure", "values": [-1.0]},
        ],
        "repeats": 1,
        "analysis": {"bootstrap": 200},
    }
    return wince.run(digits_classifier(), data, plan, store=str(tmp_path_factory.mktemp("beyond")))


@pytest.fixture(scope="module")
def beyond_report(beyond_run: Run) -> Report:
    return build_report(beyond_run.store, beyond_run.id)


def test_range_flag_names_the_value_and_the_bound_on_its_side():
    assert range_flag("image.rotation", 30.0) == ROTATION_FLAG
    assert range_flag("image.rotation", 15.0) == ""
    assert range_flag("image.rotation", 0.2) == ""  # milder than the range: still plausible
    assert range_flag("image.exposure", 1.0) == (
        "beyond the realistic range: 1 EV vs at most -0.3 EV"
    )
    assert range_flag("image.exposure", -4.0) == (
        "beyond the realistic range: -4 EV vs at least -3 EV"
    )


def test_every_finding_beyond_the_range_carries_the_flag_and_no_other(beyond_report):
    found = beyond_report.narrative
    findings = {f.perturbation: f for f in [*found.risks, *found.robust, *found.inconclusive]}
    assert sorted(findings) == ["image.exposure", "image.rotation"]
    assert findings["image.rotation"].flag == ROTATION_FLAG
    assert findings["image.exposure"].flag == ""
    assert findings["image.rotation"].to_dict()["flag"] == ROTATION_FLAG


def test_html_flags_the_finding_the_verdict_row_and_the_worst_cases_beyond_the_range(
    beyond_report,
):
    page = html.unescape(beyond_report.html())
    summary = page[page.index('<section id="summary">') : page.index('<section id="defences">')]
    verdicts = page[page.index('<section id="verdicts">') : page.index('<section id="lineage">')]
    gallery = page[page.index('<section id="gallery">') : page.index('<section id="verdicts">')]
    flag = f'<span class="tag beyond">{ROTATION_FLAG}</span>'
    # one finding, plus the headline when the rotation is the top risk
    top_is_rotation = beyond_report.narrative.headline_flag == ROTATION_FLAG
    assert summary.count(flag) == 1 + top_is_rotation
    assert summary.count('class="tag beyond"') == summary.count(flag)
    rows = [row for row in verdicts.split("<tr>") if "image." in row]
    assert len(rows) == 2
    assert [flag in row for row in rows] == ["image.rotation" in row for row in rows]
    rotated_cases = gallery.count("<h4>image.rotation")
    assert gallery.count(flag) == rotated_cases
    assert gallery.count('class="tag beyond"') == rotated_cases


def test_markdown_flags_the_finding_beyond_the_range(beyond_report):
    lines = beyond_report.markdown().splitlines()
    flagged = [line for line in lines if "beyond the realistic range" in line]
    assert len(flagged) == 2  # the headline and the top risk it repeats
    for line in flagged:
        sentence, flag = line.split(" **[")
        assert "30 degrees" in sentence
        assert flag == f"{ROTATION_FLAG}]**"


def _plan_file(folder: Path) -> Path:
    path = folder / "rotated.yaml"
    plan = {
        "name": "rotated",
        "perturbations": [{"name": "image.rotation", "values": [5.0, 30.0]}],
    }
    path.write_text(yaml.safe_dump(plan), encoding="utf-8")
    return path


def test_loading_a_plan_warns_of_each_entry_value_beyond_the_range(tmp_path):
    path = _plan_file(tmp_path)
    expected = (
        f"{path} perturbation image.rotation: 30 degrees lies beyond the realistic range of "
        "0.5 to 15 degrees"
    )
    with pytest.warns(RealismWarning) as caught:
        load_plan(path)
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1
    assert messages[0].startswith(expected)


def test_plan_validate_reports_the_plan_valid_and_warns_of_the_value_beyond_the_range(tmp_path):
    path = _plan_file(tmp_path)
    with pytest.warns(RealismWarning, match="30 degrees lies beyond the realistic range"):
        result = CliRunner().invoke(app, ["plan", "validate", str(path)])
    assert result.exit_code == 0, result.output
    assert "valid — 1 perturbation(s)" in result.output


def test_figures_flag_each_point_beyond_the_range_in_data_and_heatmap_cell(beyond_report):
    figures = {figure.key: figure for figure in beyond_report.figures}
    for key in ("heatmap", "curves"):
        perturbed = [r for r in figures[key].rows if r["scenario"] != "baseline"]
        assert perturbed, key
        for row in perturbed:
            expected = ROTATION_FLAG if row["perturbation"] == "image.rotation" else ""
            assert row["realism"] == expected, (key, row["scenario"])
    cells = {r["perturbation"]: r["label"] for r in figures["heatmap"].rows}
    assert cells["image.rotation"].startswith("30 degrees (!)")
    assert "(!)" not in cells["image.exposure"]


def test_every_scenario_beyond_the_range_is_flagged_wherever_the_page_names_it(beyond_report):
    page = html.unescape(beyond_report.html())
    main = page[page.index("<main>") : page.index('<section id="lineage">')]
    flag = f'<span class="tag beyond">{ROTATION_FLAG}</span>'
    # each card or row that names the rotated scenario carries its flag
    rows = [part.split("</tr>")[0] for part in main.split("<tr>")[1:]]
    cards = [part.split("</article>")[0] for part in main.split('<article class="case"')[1:]]
    naming = [block for block in [*rows, *cards] if "image.rotation(" in block]
    assert naming
    assert all(flag in block for block in naming)
