"""`Run.harden` and `wince harden`: defended reruns paired with the run, measured and ranked."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from dataclasses import replace

import numpy as np
import pytest
from rich.console import Console

import wince
from wince.datasets.base import ArrayDataset
from wince.defences import create
from wince.defences.base import Defence
from wince.defences.harden import (
    LATENCY_REPEATS,
    LATENCY_SAMPLES,
    parse_defence,
    print_hardening,
    rank,
    resolve_defences,
    seconds_per_sample,
    timing_batches,
)
from wince.demo.models import sentiment_classifier, sentiment_data
from wince.errors import ModelError, ParameterError
from wince.report import build_report
from wince.report.measured import duration

PLAN = {
    "name": "harden-test",
    "perturbations": [
        {"name": "text.zero_width", "levels": [3]},
        {"name": "text.unicode_variants", "levels": [3]},
        {"name": "text.typos", "levels": [3]},
    ],
    "repeats": 1,
    "seed": 0,
}
N_SAMPLES = 150
TABLE_PLAN = {
    "name": "harden-table",
    "perturbations": [{"name": "tabular.sentinel_values", "levels": [3]}],
    "repeats": 1,
    "seed": 0,
}
UNICODE_FINDINGS = ("text.zero_width", "text.unicode_variants")


def _sentences() -> ArrayDataset:
    data = sentiment_data()
    return ArrayDataset(
        data.batch(0, N_SAMPLES), data.labels[:N_SAMPLES], modality="text", name="sentences"
    )


def _table_model():
    """A small tabular classifier and its data (sentinel values make it fragile)."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x = rng.normal(size=(80, 3))
    y = (x[:, 0] + x[:, 1] > 0).astype(int)
    return LogisticRegression().fit(x, y), ArrayDataset(x, y, modality="tabular", name="rows")


@pytest.fixture(scope="module")
def hardened(tmp_path_factory):
    model, data = sentiment_classifier(), _sentences()
    run = wince.run(model, data, PLAN, store=tmp_path_factory.mktemp("store"))
    hardening = run.harden(["text.normalize", "model.temperature"], model=model, data=data)
    return run, hardening, model, data


def _outcomes(run: wince.Run):
    frame = run.outcomes()
    frame = frame[~frame["scenario"].isin(["baseline", "identity"])]
    return frame.sort_values(["scenario", "sample_index", "trial"], ignore_index=True)


def test_defended_runs_reuse_the_same_perturbed_inputs(hardened):
    run, hardening, _, _ = hardened
    before = _outcomes(run)
    for defended_id in hardening.defences["run_id"]:
        after = _outcomes(wince.open(run.store, defended_id))
        assert len(after) == len(before) == 3 * N_SAMPLES
        for column in ("scenario", "sample_id", "trial", "distance", "word_error_rate"):
            np.testing.assert_array_equal(after[column], before[column])
        np.testing.assert_array_equal(after["input_digest"], before["input_digest"])


def test_normalization_significantly_reduces_unicode_and_zero_width_exposure(hardened):
    _, hardening, _, _ = hardened
    normalized = hardening.exposure[hardening.exposure["defence"] == "text.normalize"]
    unicode_rows = normalized[normalized["scenario"].str.startswith(UNICODE_FINDINGS)]
    assert set(unicode_rows["metric"]) == {"flip_rate", "accuracy"}
    assert unicode_rows["significant"].all()
    assert (unicode_rows["after"] == 0).all()
    assert (unicode_rows["reduction"] > 0.1).all()
    assert (unicode_rows["low"] > 0).all()
    assert (unicode_rows["p_adjusted"] < 0.05).all()
    # typos are not a Unicode matter: the same exposure before and after
    typos = normalized[normalized["scenario"].str.startswith("text.typos")]
    assert len(typos) == 2
    assert (typos["reduction"] == 0).all()
    assert not typos["significant"].any()


def test_normalization_keeps_clean_accuracy_non_inferior_and_ranks_first(hardened):
    _, hardening, _, _ = hardened
    table = hardening.defences.set_index("defence")
    normalize = table.loc["text.normalize"]
    assert normalize["non_inferior"] is True
    assert normalize["qualifies"]
    assert normalize["clean_low"] > -hardening.margin
    assert normalize["rank"] == 1
    # temperature scaling never changes a decision: no flip or accuracy exposure is reduced
    temperature = table.loc["model.temperature"]
    assert temperature["significant_findings"] == 0
    assert not temperature["qualifies"]
    assert temperature["clean_change"] == 0
    assert (table["latency_ratio"] > 0).all()


def test_defended_run_lineage_records_the_defence_and_a_second_harden_reuses_it(hardened):
    run, hardening, model, data = hardened
    row = hardening.defences.set_index("defence").loc["text.normalize"]
    defended = wince.open(run.store, row["run_id"])
    assert defended.lineage["hardens"] == run.id
    assert defended.lineage["defence"]["name"] == "text.normalize"
    assert defended.lineage["defence"]["version"] == 1
    assert defended.record["model_fingerprint"] != run.record["model_fingerprint"]
    assert defended.plan == run.plan
    again = run.harden(["text.normalize"], model=model, data=data)
    # the defence's row is replaced (the same defended run), the other kept, not duplicated
    assert again.defences["defence"].tolist() == ["text.normalize", "model.temperature"]
    assert again.defences["run_id"].tolist() == hardening.defences["run_id"].tolist()
    assert again.exposure["defence"].value_counts().to_dict() == {
        "text.normalize": len(hardening.findings),
        "model.temperature": len(hardening.findings),
    }
    assert again.notes == ("kept from an earlier harden of this run: model.temperature.",)
    stored = run.store.load_analysis(run.id, "harden")
    assert [d["defence"] for d in stored["defences"]] == ["text.normalize", "model.temperature"]


def test_harden_table_ranks_the_defences_and_names_the_best(hardened):
    _, hardening, _, _ = hardened
    console = Console(width=240, record=True)
    print_hardening(hardening, console)
    text = console.export_text()
    assert text.index("text.normalize v1") < text.index("model.temperature v1")
    assert "Best: text.normalize" in text
    assert "text.zero_width(zero_width_rate=0.06)" in text  # the exposure table


def test_harden_table_gives_the_time_per_sample_next_to_the_latency_ratio(hardened):
    _, hardening, _, _ = hardened
    console = Console(width=240, record=True)
    print_hardening(hardening, console)
    lines = console.export_text().splitlines()
    for row in hardening.defences.itertuples():
        (line,) = [line for line in lines if f"{row.defence} v1" in line]
        assert f"{row.latency_ratio:.2f}× ({duration(row.seconds_per_sample)})" in line
    assert re.search(r"\d\.\d\d× \(\d[\d.]* (µs|ms)\)", "\n".join(lines))


def test_each_defended_run_progress_bar_is_labelled_with_its_defence(tmp_path, monkeypatch):
    import wince.terminal

    titles = []

    class Recorded(wince.terminal.ProgressReporter):
        def __init__(self, total, *, enabled, title, **options):
            titles.append(title)
            super().__init__(total, enabled=False, title=title, **options)

    model, data = _table_model()
    run = wince.run(model, data, TABLE_PLAN, store=tmp_path)
    monkeypatch.setattr(wince.terminal, "ProgressReporter", Recorded)
    run.harden(["tabular.clip"], model=model, data=data, progress=True)
    assert titles == ["tabular.clip"]


def test_a_second_harden_adds_its_defences_to_the_stored_ranking(tmp_path):
    model, data = _table_model()
    run = wince.run(model, data, TABLE_PLAN, store=tmp_path)
    first = run.harden(["model.temperature"], model=model, data=data)
    assert first.notes == ()
    second = run.harden(["tabular.clip"], model=model, data=data)
    ranked = second.defences.set_index("defence")
    assert sorted(ranked.index) == ["model.temperature", "tabular.clip"]
    assert ranked["rank"].sort_values().tolist() == [1, 2]
    temperature = first.defences.iloc[0]
    assert ranked.loc["model.temperature", "run_id"] == temperature["run_id"]
    assert ranked.loc["model.temperature", "mean_reduction"] == temperature["mean_reduction"]
    assert "kept from an earlier harden of this run: model.temperature." in second.notes
    markdown = build_report(run.store, run.id, data=data).markdown()
    section = markdown[markdown.index("**Measured defences**") :]
    assert "`tabular.clip v1`" in section
    assert "`model.temperature v1`" in section
    # clip again: its row replaced, not duplicated
    third = run.harden(["tabular.clip"], model=model, data=data)
    assert sorted(third.defences["defence"]) == ["model.temperature", "tabular.clip"]
    assert sorted(third.exposure["defence"]) == sorted(second.exposure["defence"])
    # at another margin the stored result cannot be ranked with the new one: replaced
    other = run.harden(["tabular.clip"], model=model, data=data, margin=0.05)
    assert other.defences["defence"].tolist() == ["tabular.clip"]
    (note,) = other.notes
    assert note.startswith("replaced the stored harden result of ")
    assert "at another margin" in note
    assert run.store.load_analysis(run.id, "harden")["notes"] == [note]


class FailsOnUnseen(Defence):
    """A defended model that answers only inputs fitted on: the timing noise makes it fail."""

    name = "test.fails_on_unseen"
    version = 1

    def fit(self, model, clean) -> None:
        self.seen = {row.tobytes() for row in np.asarray(clean.x)}

    def predict(self, model, x):
        if any(row.tobytes() not in self.seen for row in np.asarray(x)):
            raise ModelError("the defended model refuses inputs it was not fitted on")
        return model.predict(x)


def test_a_failing_defence_is_listed_with_its_stage_and_the_others_are_measured(tmp_path):
    model, data = _table_model()
    run = wince.run(model, data, TABLE_PLAN, store=tmp_path)
    hardening = run.harden([FailsOnUnseen(), "tabular.clip"], model=model, data=data)
    assert hardening.defences["defence"].tolist() == ["tabular.clip"]
    assert set(hardening.exposure["defence"]) == {"tabular.clip"}
    (failure,) = hardening.failed.to_dict(orient="records")
    assert failure == {
        "defence": "test.fails_on_unseen",
        "version": 1,
        "stage": "latency timing",
        "message": "the defended model refuses inputs it was not fitted on",
    }
    assert run.store.load_analysis(run.id, "harden")["failed"] == [failure]
    console = Console(width=80, record=True)
    print_hardening(hardening, console)
    assert (
        "test.fails_on_unseen failed during latency timing: the defended model refuses inputs"
        in " ".join(console.export_text().split())
    )
    with pytest.raises(ModelError, match=r"every defence tried on run .* failed: test\.fails_on"):
        run.harden([FailsOnUnseen()], model=model, data=data)


def test_harden_output_keeps_defence_and_scenario_names_whole_at_80_columns(hardened):
    _, hardening, _, _ = hardened
    console = Console(width=80, record=True)
    print_hardening(hardening, console)
    text = console.export_text()
    for name in hardening.defences["defence"]:
        assert f"{name} v1" in text  # never cut into "text.…" or folded over two lines
    assert "text.zero_width(zero_width_rate=0.06)" in text  # the qualifying defence's rows
    assert "`--json`" in text  # where the other defences' exposure is
    # each criterion a defence fails is said in words, whichever columns the width dropped
    said = " ".join(text.split())
    assert "model.temperature does not qualify: no finding reduced significantly." in said
    assert "text.normalize does not qualify" not in said
    worse = rank(hardening.defences.assign(non_inferior=False, clean_low=-0.044))
    console = Console(width=80, record=True)
    print_hardening(replace(hardening, defences=worse), console)
    said = " ".join(console.export_text().split())
    assert (
        "text.normalize does not qualify: clean accuracy not shown non-inferior "
        "(lower bound -4.4 pt < -1 pt margin)." in said
    )
    assert (
        "model.temperature does not qualify: no finding reduced significantly; clean accuracy "
        "not shown non-inferior (lower bound -4.4 pt < -1 pt margin)." in said
    )


def test_harden_refuses_an_inapplicable_defence_and_a_bad_margin(hardened):
    run, _, model, data = hardened
    with pytest.raises(ParameterError, match=r"tabular\.clip does not apply to a classification"):
        run.harden(["tabular.clip"], model=model, data=data)
    with pytest.raises(ParameterError, match="margin must be a fraction"):
        run.harden(["text.normalize"], model=model, data=data, margin=1.5)


def test_wince_harden_prints_json_for_a_run_of_a_plan_and_refuses_a_defended_run(tmp_path):
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        textwrap.dedent(
            """\
            name: harden-cli
            model: {factory: "wince.demo.models:sentiment_classifier"}
            data: {factory: "wince.demo.models:sentiment_data", limit: 80}
            perturbations:
              - {name: text.zero_width, levels: [4]}
            repeats: 1
            """
        )
    )
    store = tmp_path / "store"

    def wince_cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "wince.cli", *args, "--store", str(store)],
            capture_output=True,
            text=True,
            timeout=120,
        )

    run_id = wince.run(plan=plan, store=store).id
    result = wince_cli("harden", run_id, "--defence", "text.normalize", "--json")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    (defence,) = payload["defences"]
    assert defence["defence"] == "text.normalize"
    assert defence["qualifies"] is True
    assert {row["scenario"] for row in payload["exposure"]} == {
        "text.zero_width(zero_width_rate=0.08)"
    }
    # the Markdown summary for a pull request holds the same ranking and exposure
    summary = tmp_path / "harden.md"
    written = wince_cli("harden", run_id, "--defence", "text.normalize", "--markdown", str(summary))
    assert written.returncode == 0, written.stderr
    assert f"Markdown summary for a pull request: {summary}" in written.stdout
    markdown = summary.read_text()
    assert markdown.startswith(f"### Hardening `{run_id}` (harden-cli)")
    ranked = next(line for line in markdown.splitlines() if "`text.normalize v1`" in line)
    assert ranked.startswith("| 1 |")
    assert ranked.endswith("| yes |")
    assert "text.zero\\_width(zero\\_width\\_rate=0.08)" in markdown
    # hardening the defended run again is refused, naming the run it hardens
    refused = wince_cli("harden", defence["run_id"], "--defence", "text.normalize")
    assert refused.returncode == 2
    assert f"defended run of run {run_id}" in refused.stderr
    badly_written = wince_cli("harden", run_id, "--defence", "model.tta:copies")
    assert badly_written.returncode == 2
    assert "write each option as OPTION=VALUE" in badly_written.stderr


def test_default_defences_are_those_that_apply_to_the_model_and_data():
    names = [d.name for d in resolve_defences(None, "classification", "text", seed=3)]
    assert names == ["model.temperature", "model.tta", "text.normalize", "text.spelling"]
    assert {d.seed for d in resolve_defences(None, "regression", "tabular", seed=3)} == {3}
    with pytest.raises(ParameterError, match=r"defence text\.normalize is given twice"):
        resolve_defences(["text.normalize", "text.normalize"], "classification", "text", seed=0)
    with pytest.raises(ParameterError, match="no defence of wince's library applies"):
        resolve_defences(None, "embedding", "timeseries", seed=0)


def test_defence_options_are_read_from_name_colon_option_equals_value():
    (tta,) = resolve_defences(
        ["model.tta:severity=0.1, copies=2"], "classification", "text", seed=3
    )
    assert (tta.name, tta.severity, tta.copies, tta.seed) == ("model.tta", 0.1, 2, 3)
    (seeded,) = resolve_defences(["model.tta:seed=7"], "classification", "text", seed=3)
    assert seeded.seed == 7
    assert parse_defence("text.normalize") == ("text.normalize", {})
    assert parse_defence("model.tta:perturbation=text.typos") == (
        "model.tta",
        {"perturbation": "text.typos"},
    )
    with pytest.raises(ParameterError, match=r"write each option as OPTION=VALUE.*'copies'"):
        parse_defence("model.tta:copies")
    with pytest.raises(ParameterError, match="option 'copies' is given twice"):
        parse_defence("model.tta:copies=2,copies=3")
    with pytest.raises(ParameterError, match=r"model\.tta: severity must be in \(0, 1\]"):
        resolve_defences(["model.tta:severity=3"], "classification", "text", seed=0)
    with pytest.raises(ParameterError, match="unknown option 'severty' — did you mean"):
        resolve_defences(["model.tta:severty=0.1"], "classification", "text", seed=0)


def test_imputation_answers_the_scenarios_a_model_refused_for_missing_values(tmp_path):
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 3))
    y = (x[:, 0] + x[:, 1] > 0).astype(int)
    model = LogisticRegression().fit(x, y)  # refuses NaN
    plan = {
        "name": "impute",
        "perturbations": [{"name": "tabular.missing_values", "levels": [3]}],
        "repeats": 1,
    }
    run = wince.run(model, (x, y), plan, store=tmp_path)
    assert list(run.rejected) == ["tabular.missing_values(missing_rate=0.18)"]
    hardening = run.harden(["tabular.impute", "tabular.clip"], model=model, data=(x, y))
    assert hardening.refused == ("tabular.missing_values(missing_rate=0.18)",)
    assert hardening.findings.empty
    table = hardening.defences.set_index("defence")
    assert table.loc["tabular.impute", "answered_refused"] == 1
    assert table.loc["tabular.impute", "qualifies"]
    assert table.loc["tabular.impute", "rank"] == 1
    assert table.loc["tabular.clip", "answered_refused"] == 0  # NaN stays NaN
    assert not table.loc["tabular.clip", "qualifies"]
    console = Console(width=80, record=True)
    print_hardening(hardening, console)
    said = " ".join(console.export_text().split())
    assert "no fragile finding" in said
    assert (
        "tabular.impute qualifies only by answering 1 of the 1 scenario(s) the model refused; "
        "it reduced no finding significantly." in said
    )
    assert (
        "tabular.clip does not qualify: no finding reduced significantly and no refused "
        "scenario answered." in said
    )


def test_latency_is_timed_on_inputs_a_memoising_model_has_not_answered():
    # VADER memoises each text it scores: timed on texts it has answered, it would time a
    # dictionary; each timed model gets texts no one has answered, even once normalised
    model, data = sentiment_classifier(), _sentences()
    scorer = model.fn
    model.predict(data.batch(0, N_SAMPLES))  # the run answered every clean text
    normalized = create("text.normalize").wrap(model)
    computed = []
    for timed_model, timed in enumerate((model, normalized)):
        before = len(scorer.seen)
        seconds_per_sample(timed, timing_batches(data, 0, timed_model))
        computed.append(len(scorer.seen) - before)
    # short texts may escape the typos: at least nine in ten texts are new
    assert min(computed) >= 0.9 * LATENCY_REPEATS * LATENCY_SAMPLES
    first, second = timing_batches(data, 0, 1), timing_batches(data, 0, 1)
    assert first == second  # seeded
