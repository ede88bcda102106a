"""Report content: sentences carry the stored numbers; Markdown, JSON, figures, escaping."""

from __future__ import annotations

import json

import numpy as np
import pytest
from report_support import PARITY_CLASSES, SECTIONS, TEXTS, XSS, parity, text_data

from wince.report import build_report, write_report
from wince.report.commands import report_command
from wince.report.narrative import interval, percent, realism

MAX_BYTES = 3_000_000


def _stored_curve(run, scenario, metric="flip_rate"):
    curves = run.store.load_analysis(run.id, "curves")["table"]
    rows = [
        {k: curves[k][i] for k in curves}
        for i in range(len(curves["scenario"]))
        if curves["scenario"][i] == scenario and curves["metric"][i] == metric
    ]
    assert len(rows) == 1
    return rows[0]


def test_top_risk_sentence_states_the_stored_estimate_and_interval(digits_run, digits_report):
    report = digits_report
    top = report.narrative.risks[0]
    stored = _stored_curve(digits_run, top.scenario)
    assert (top.estimate, top.low, top.high) == (stored["estimate"], stored["low"], stored["high"])
    assert interval(stored["estimate"], stored["low"], stored["high"]) in top.sentence
    verdicts = digits_run.store.load_analysis(digits_run.id, "verdicts")["scenarios"]
    assert verdicts["verdict"][verdicts["scenario"].index(top.scenario)] == "fragile"
    assert report.narrative.headline == top.sentence


def test_risks_are_ranked_by_effect_times_realism(digits_report):
    risks = digits_report.narrative.risks
    scores = [f.estimate * realism(f.severity) for f in risks]
    assert scores == sorted(scores, reverse=True)
    assert realism(0.0) == 1.0
    assert realism(1.0) == 0.5
    assert realism(1.5) == 0.25


def test_every_perturbation_is_a_risk_robust_or_inconclusive(digits_run, digits_report):
    found = digits_report.narrative
    named = [f.perturbation for f in [*found.risks, *found.robust, *found.inconclusive]]
    assert sorted(named) == sorted(p.name for p in digits_run.plan.perturbations)


def test_defences_follow_the_risks_and_state_the_measured_breaking_magnitude(digits_report):
    found = digits_report.narrative
    assert [r.priority for r in found.recommendations] == list(
        range(1, len(found.recommendations) + 1)
    )
    augmentation = [r for r in found.recommendations if r.kind == "augmentation"]
    assert len(augmentation) == len(found.risks)
    assert found.risks[0].perturbation in augmentation[0].text
    assert "broke" in augmentation[0].text


def test_html_report_is_self_contained_has_every_section_and_fits_the_budget(digits_html):
    html = digits_html.read_text()
    size = len(html.encode())
    print(f"\ndemo-digits HTML report: {size / 1e6:.2f} MB ({size} bytes)")
    assert size <= MAX_BYTES
    for section in SECTIONS:
        assert f'id="{section}"' in html
    assert "http://" not in html.split("<script>")[0]  # no external stylesheet or image
    assert 'src="http' not in html
    assert 'href="http' not in html
    assert html.count("window.vegaEmbed=") == 1  # the bundle is embedded once
    assert "default-src &#39;none&#39;" in html  # CSP: no request can leave the page
    assert html.count('class="case"') >= 3
    assert html.count("data:image/png;base64,") >= 9  # before, after, difference


def test_markdown_summary_carries_the_top_finding(digits_run, digits_report, tmp_path):
    report = digits_report
    markdown = report.markdown()
    top = report.narrative.risks[0]
    assert interval(top.estimate, top.low, top.high) in markdown
    assert digits_run.id in markdown
    assert markdown.index("Top risks") < markdown.index("Recommended defences")
    path = write_report(digits_run.store, digits_run.id, out=tmp_path / "r.md", fmt="markdown")
    assert path.read_text() == markdown


def test_json_report_carries_the_top_finding_and_every_figures_data(digits_run, digits_report):
    payload = json.loads(digits_report.json())
    top = payload["summary"]["risks"][0]
    stored = _stored_curve(digits_run, top["scenario"])
    assert (top["estimate"], top["low"], top["high"]) == (
        stored["estimate"],
        stored["low"],
        stored["high"],
    )
    figures = payload["figures"]
    assert set(figures) == {
        "heatmap",
        "curves",
        "survival",
        "interactions",
        "interaction_plots",
        "global_sensitivity",
        "per_class",
    }
    assert all(figure["data"] for figure in figures.values())
    assert payload["lineage"]["seed"] == digits_run.plan.seed


def test_tabular_worst_cases_highlight_changed_cells(cancer_run):
    report = build_report(cancer_run.store, cancer_run.id)
    assert report.cases
    case = report.cases[0]
    assert case.modality == "tabular"
    assert case.cells
    assert all(cell["before"] != cell["after"] for cell in case.cells)
    assert case.baseline_pred != case.perturbed_pred
    assert not any(c["feature"].startswith("column ") for c in case.cells)  # named columns


def test_figures_export_as_png_and_svg(cancer_run, tmp_path):
    written = report_command(
        cancer_run.id,
        store=str(cancer_run.store.root),
        out=tmp_path / "cancer.html",
        fmt="html",
        figures=tmp_path / "figures",
        console=_quiet(),
    )
    assert written is not None
    assert written.exists()
    names = sorted(p.name for p in (tmp_path / "figures").iterdir())
    assert "heatmap.png" in names
    assert "heatmap.svg" in names
    assert len(names) == 2 * len(build_report(cancer_run.store, cancer_run.id).figures)
    assert (tmp_path / "figures" / "heatmap.png").read_bytes()[:4] == b"\x89PNG"


def test_markdown_without_out_prints_to_the_console(cancer_run, capsys):
    from rich.console import Console

    result = report_command(
        cancer_run.id[:6],  # a unique prefix resolves
        store=str(cancer_run.store.root),
        out=None,
        fmt="markdown",
        figures=None,
        console=Console(width=200),
    )
    assert result is None
    assert "### wince: demo-breast-cancer" in capsys.readouterr().out


def test_unknown_format_is_a_plain_error(cancer_run):
    from wince.errors import WinceError

    with pytest.raises(WinceError, match="--format must be one of html, markdown, json"):
        report_command(
            cancer_run.id,
            store=str(cancer_run.store.root),
            out=None,
            fmt="pdf",
            figures=None,
            console=_quiet(),
        )


def test_sample_text_is_escaped_in_html_and_markdown(text_run, text_html):
    html = text_html.read_text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert XSS not in html
    report = build_report(text_run.store, text_run.id, data=text_data())
    assert report.cases
    assert report.cases[0].modality == "text"
    assert any(kind in ("removed", "added") for kind, _ in report.cases[0].text)
    assert XSS not in report.markdown()


def test_without_data_the_gallery_says_how_to_get_it(text_run):
    report = build_report(text_run.store, text_run.id)
    assert report.cases == []
    assert "data=" in report.gallery_note


def test_percent_keeps_one_decimal_below_ten_percent():
    assert percent(0.057) == "5.7%"
    assert percent(0.22) == "22%"
    assert interval(0.057, 0.041, 0.073) == "5.7% (4.1–7.3%)"


def _quiet():
    import io

    from rich.console import Console

    return Console(file=io.StringIO())


def test_worst_cases_name_classes_as_the_model_does(text_run):
    report = build_report(text_run.store, text_run.id, data=text_data())
    cases = report.to_dict()["worst_cases"]
    assert cases
    for case in cases:
        text = TEXTS[int(case["sample_id"])]  # ids default to positions
        assert case["label"] == PARITY_CLASSES[parity([text])[0]]
        assert case["baseline_pred"] == PARITY_CLASSES[parity([text])[0]]
        assert case["perturbed_pred"] in PARITY_CLASSES


def test_a_value_lost_counts_as_the_largest_change_of_a_row():
    from wince.report.gallery import table_cells

    cells, note = table_cells(
        np.array([1.0, 2.0, 3.0, np.nan]),
        np.array([1.0, np.nan, 3.5, np.nan]),
        names=["a", "b", "c", "d"],
        column_sd=np.array([1.0, 1.0, 0.25, 1.0]),
    )
    assert [c["feature"] for c in cells] == ["b", "c"]  # d was missing before and after
    assert cells[0]["after"] is None
    assert cells[0]["change"] is None
    assert cells[1]["change"] == 2.0  # 0.5 / 0.25 column sds
    assert note.startswith("2 of 4 cells changed")


def test_global_sensitivity_notes_say_every_perturbation_applies_at_once_and_how_precise(
    digits_run, digits_report, digits_html
):
    from wince.analysis.global_sensitivity import JOINT_DESIGN_NOTE

    stored = digits_run.store.load_analysis(digits_run.id, "global_sensitivity")
    # the demo's quick design (n_base 64) is short of the default target: the stored warning
    # names the half-width reached, and the report carries it with the joint-design sentence
    assert stored["design"]["n_base"] == 64
    assert stored["half_width"] > 0.05
    assert f"±{stored['half_width']:.2f}, above the target ±0.05" in stored["warning"]
    notes = digits_report.narrative.technical  # statistics stay out of the plain summary
    assert JOINT_DESIGN_NOTE in notes
    assert not any("Sobol" in note for note in digits_report.narrative.notes)
    assert f"Warning: {stored['warning']}" in notes
    html = digits_html.read_text()
    assert "applies every perturbation at once" in html
    assert "less precise than asked" in html
    indices = stored["indices"]
    negative = [f for f, s1 in zip(indices["factor"], indices["S1"], strict=True) if s1 < 0]
    if negative:  # a negative estimate is named as noise, not hidden
        assert any(n.startswith("Estimates below 0") and negative[0] in n for n in notes)
