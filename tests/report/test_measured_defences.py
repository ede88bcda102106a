"""The report after `wince harden`: measured defences first, the rest labelled as suggestions."""

from __future__ import annotations

import joblib
import pytest

import wince
from wince.datasets.base import ArrayDataset
from wince.defences import get
from wince.defences.lineage import IN_MEMORY
from wince.demo.models import sentiment_classifier, sentiment_data
from wince.report import Report, build_report
from wince.report.measured import measured_defences, measured_text
from wince.report.narrative import (
    DEFENCES,
    MEASURED,
    MODALITY_DEFENCES,
    NOT_RECOMMENDED,
    SUGGESTION,
    defence,
    defence_code,
    percent,
)

N_SAMPLES = 60
PLAN = {
    "name": "harden-report",
    "perturbations": [
        {"name": "text.zero_width", "levels": [3]},
        {"name": "text.typos", "levels": [3]},
    ],
    "repeats": 1,
    "seed": 0,
}


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> tuple[wince.Run, Report, Report]:
    """The demo sentiment model on 60 sentences: its report before and after hardening."""
    data = sentiment_data()
    sentences = ArrayDataset(
        data.batch(0, N_SAMPLES), data.labels[:N_SAMPLES], modality="text", name="sentences"
    )
    model = sentiment_classifier()
    run = wince.run(model, sentences, PLAN, store=tmp_path_factory.mktemp("store"))
    before = build_report(run.store, run.id, data=sentences)
    run.harden(["text.normalize", "model.temperature"], model=model, data=sentences)
    return run, before, build_report(run.store, run.id, data=sentences)


def test_without_harden_every_recommendation_is_a_suggestion_with_its_measuring_command(reports):
    run, before, _ = reports
    found = before.narrative.recommendations
    assert {r.status for r in found} == {SUGGESTION}
    (normalising,) = [r for r in found if "Unicode NFKC" in r.text]
    assert normalising.defence == "text.normalize"
    assert normalising.command == f"wince harden {run.id} --defence text.normalize"
    (spelling,) = [r for r in found if r.kind == "spell correction"]
    assert spelling.defence == "text.spelling"
    assert spelling.command == f"wince harden {run.id} --defence text.spelling"
    markdown = before.markdown()
    assert f"**[{SUGGESTION}]** *normalisation* (text.normalize)" in markdown
    assert f"`wince harden {run.id} --defence text.normalize`" in markdown
    assert "Measured defences" not in markdown
    html = before.html()
    assert f'<span class="tag suggestion">{SUGGESTION}</span>' in html
    assert 'id="hardening"' not in html
    assert before.to_dict()["hardening"] is None


def test_measured_defences_come_first_in_the_harden_ranking_with_effect_and_cost(reports):
    run, _, after = reports
    first, second = after.narrative.recommendations[:2]
    assert (first.status, first.defence, first.kind) == (
        MEASURED,
        "text.normalize",
        "normalisation",
    )
    exposure = after.data.frame("harden", "exposure").set_index(["defence", "metric"])
    zero_width = exposure[exposure["scenario"].str.startswith("text.zero_width")]
    flips = zero_width.loc[("text.normalize", "flip_rate")]
    assert flips["significant"]
    assert flips["after"] == 0
    assert (
        "text.normalize v1 cuts the flip rate under invisible characters inserted (0.06 per "
        f"character) from {percent(flips['before'])} to {percent(0.0)} (by "
        f"{100 * flips['reduction']:.1f} points, 95% interval {100 * flips['low']:.1f} to "
        f"{100 * flips['high']:.1f})"
    ) in first.text
    assert "Clean accuracy changes by +0.0 points" in first.text
    assert "non-inferior at the 1-point margin" in first.text
    assert "the undefended model's time per sample" in first.text
    ranking = after.data.frame("harden", "defences").set_index("defence")
    defended = ranking.loc["text.normalize", "run_id"]
    assert first.text.endswith(f"It qualifies (rank 1 of 2) in defended run {defended}.")
    # temperature scaling changes no decision: measured, and it says it did not help
    assert (second.status, second.defence, second.kind) == (
        NOT_RECOMMENDED,
        "model.temperature",
        "calibration",
    )
    assert "model.temperature v1 did not help: it cut none of the 4 findings" in second.text
    assert second.text.endswith("Not recommended.")
    assert run.id in first.code
    assert f"wince compare {run.id} {defended}" in first.code


def test_measured_advice_is_not_repeated_and_unmeasured_advice_stays_a_suggestion(reports):
    _, _, after = reports
    found = after.narrative.recommendations
    assert [r.priority for r in found] == list(range(1, len(found) + 1))
    assert [r.defence for r in found if r.status != SUGGESTION] == [
        "text.normalize",
        "model.temperature",
    ]
    assert not [r for r in found if "Unicode NFKC" in r.text]  # the measured one replaces it
    # the one named defence left a suggestion is the one harden was not asked to try
    (spelling,) = [r for r in found if r.status == SUGGESTION and r.defence]
    assert (spelling.kind, spelling.defence) == ("spell correction", "text.spelling")
    assert spelling.because.startswith("Typos in 6% of characters")


def test_markdown_summary_holds_the_ranking_table(reports):
    _, _, after = reports
    markdown = after.markdown()
    ranking = after.data.frame("harden", "defences")
    normalize, temperature = (row for row in ranking.itertuples())
    assert normalize.defence == "text.normalize"
    header = (
        "| rank | defence | defended run | significant | mean reduction (pt) | "
        "clean accuracy Δ pt [95%] | non-inferior | latency | memory / sample | qualifies |"
    )
    assert header in markdown
    assert (
        f"| 1 | `text.normalize v1` | `{normalize.run_id}` | 2/4 | "
        f"{100 * normalize.mean_reduction:.1f} | +0.0 [+0.0, +0.0] | yes | "
    ) in markdown
    assert f"| 2 | `model.temperature v1` | `{temperature.run_id}` | 0/4 | 0.0 |" in markdown
    assert markdown.index(f"1. **[{MEASURED}]** *normalisation* (text.normalize)") < (
        markdown.index(f"2. **[{NOT_RECOMMENDED}]** *calibration* (model.temperature)")
    )
    assert markdown.index("**Recommended defences**") < markdown.index("**Measured defences**")


def test_html_has_its_own_measured_defences_section_and_the_json_the_stored_result(reports):
    _, _, after = reports
    html = after.html()
    assert '<a href="#hardening">Measured defences</a>' in html
    section = html[html.index('<section id="hardening">') :]
    section = section[: section.index("</section>")]
    assert section.index("text.normalize v1") < section.index("model.temperature v1")
    assert "Exposure per finding" in section
    assert f'<span class="tag measured">{MEASURED}</span>' in html
    assert f'<span class="tag not-recommended">{NOT_RECOMMENDED}</span>' in html
    stored = after.to_dict()["hardening"]
    assert [d["defence"] for d in stored["defences"]] == ["text.normalize", "model.temperature"]
    statuses = [r["status"] for r in after.to_dict()["summary"]["recommendations"]]
    assert statuses[:2] == [MEASURED, NOT_RECOMMENDED]


def test_advice_names_registered_defences_that_apply_to_its_modality():
    advice = {**DEFENCES, **{f"{m}.*": d for m, d in MODALITY_DEFENCES.items()}}
    named = {key: d.registered for key, d in advice.items() if d.registered}
    assert named == {
        "image.noise": "image.denoise",
        "image.compression": "image.deblock",
        "image.contrast": "image.autocontrast",
        "image.colour": "image.white_balance",
        "text.typos": "text.spelling",
        "text.unicode": "text.normalize",
        "audio.noise": "audio.denoise",
        "audio.level": "audio.loudness",
        "tabular.noise": "tabular.clip",
        "tabular.missing": "tabular.impute",
        "image.*": "image.autocontrast",
        "text.*": "text.normalize",
        "audio.*": "audio.denoise",
        "tabular.*": "tabular.clip",
    }
    for key, name in named.items():
        assert get(name).applicable("classification", key.split(".")[0])
    assert defence("tabular.missing_values", "tabular").registered == "tabular.impute"


def test_a_defended_run_report_offers_no_harden_command(reports):
    run, _, after = reports
    ranking = after.data.frame("harden", "defences").set_index("defence")
    defended = build_report(run.store, ranking.loc["text.normalize", "run_id"])
    found = defended.narrative.recommendations
    assert "model.temperature" in [r.defence for r in found]  # still named
    assert [r.command for r in found] == [""] * len(found)  # harden refuses a defended run


def test_the_code_of_a_measured_defence_runs_with_its_recorded_options_and_public_names(reports):
    _, _, after = reports
    first = after.narrative.recommendations[0]
    assert "wince.defences.harden" not in first.code
    assert "wince.datasets.loading" not in first.code
    data = sentiment_data()
    namespace = {
        "model": sentiment_classifier(),
        "x_clean": data.batch(0, N_SAMPLES),
        "y_clean": data.labels[:N_SAMPLES],
    }
    exec(first.code, namespace)
    defended = namespace["defended"]
    assert defended.defence.name == "text.normalize"
    ranking = after.data.frame("harden", "defences").set_index("defence")
    assert defended.defence.options() == ranking.loc["text.normalize", "options"]
    assert defended.predict(["good\u200b film"]).labels.tolist() == (
        namespace["model"].predict(["good film"]).labels.tolist()
    )


def test_the_code_of_an_ensemble_writes_its_members_and_a_placeholder_for_objects(tmp_path):
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    from sklearn.tree import DecisionTreeClassifier

    x, y = load_iris(return_X_y=True)
    member = tmp_path / "tree.joblib"
    joblib.dump(DecisionTreeClassifier(random_state=0).fit(x, y), member)
    options = {"models": [str(member), IN_MEMORY], "weights": [0.5, 0.25, 0.25], "seed": 0}
    code = defence_code("run1", "run2", "model.ensemble", options)
    assert f"[{str(member)!r}, models_object_2],  # given in memory: pass the same obj" in code
    other = LogisticRegression(max_iter=1000).fit(x, y)
    namespace = {"model": other, "x_clean": x, "y_clean": y, "models_object_2": other}
    exec(code, namespace)
    assert namespace["defence"].options()["models"] == [str(member), IN_MEMORY]
    assert namespace["defended"].predict(x).scores.shape == (150, 3)


def test_a_helpful_defence_not_shown_non_inferior_says_whether_it_costs_or_is_undecided(reports):
    _, _, after = reports
    payload = after.data.analyses["harden"]
    ranking = measured_defences(after.data)
    exposure = after.data.frame("harden", "exposure")
    row = next(ranking.itertuples())
    assert row.defence == "text.normalize"
    rows = exposure[exposure["defence"] == row.defence]
    margin = float(payload["margin"])
    wide = row._replace(clean_change=0.0, clean_low=-0.06, non_inferior=False, qualifies=False)
    assert measured_text(after.data, wide, rows).endswith(
        "Not recommended as it is: clean accuracy not shown non-inferior (interval too wide "
        "at this sample size)."
    )
    costly = wide._replace(clean_change=-2 * margin)
    assert measured_text(after.data, costly, rows).endswith(
        "Not recommended as it is: it may cost more clean accuracy than it saves."
    )
