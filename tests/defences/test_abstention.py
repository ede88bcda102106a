"""Abstaining defences: low-confidence and out-of-range inputs rejected, measured by harden."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from rich.console import Console
from sklearn.linear_model import LogisticRegression

import wince
from wince.datasets.base import ArrayDataset
from wince.defences import CleanData, create
from wince.defences.abstain import AbstainingDefence
from wince.defences.harden import (
    REJECT_CAP,
    clean_halves,
    clean_reject_share,
    exposure_table,
    print_hardening,
    resolve_defences,
)
from wince.errors import ModelError, ParameterError
from wince.models.base import Predictions, Task
from wince.perturbations.base import DataContext, Modality
from wince.report import build_report


class ProbabilitiesModel:
    """A classifier whose inputs are its own class probabilities."""

    task = Task.CLASSIFICATION
    classes = None

    def predict(self, x: np.ndarray) -> Predictions:
        return Predictions.from_probabilities(x)


class LabelsModel:
    """A classifier that gives labels only."""

    task = Task.CLASSIFICATION
    classes = None

    def predict(self, x: np.ndarray) -> Predictions:
        return Predictions.from_labels(np.zeros(len(x)))


def _clean(x, modality: Modality = Modality.TABULAR) -> CleanData:
    return CleanData(x=x, labels=None, context=DataContext(modality=modality))


def _probabilities(top: np.ndarray) -> np.ndarray:
    """Two-class probabilities whose top class has probability `top`."""
    return np.stack([top, 1 - top], axis=1)


def test_low_confidence_abstention_rejects_exactly_the_samples_below_the_threshold():
    model = ProbabilitiesModel()
    x = _probabilities(np.array([0.9, 0.69, 0.7, 0.5, 0.71]))
    defence = create("model.abstain", {"min_confidence": 0.7})
    defence.fit(model, _clean(x))
    assert defence.fitted_state() == {"threshold": 0.7}
    np.testing.assert_array_equal(defence.rejects(model, x), [False, True, False, True, False])
    # the answers are the model's own: an abstention is a flag
    np.testing.assert_array_equal(defence.wrap(model).predict(x).scores, x)


@pytest.mark.parametrize(("share", "n"), [(0.1, 201), (0.05, 97), (0.33, 50)])
def test_fitted_threshold_rejects_the_target_share_of_clean_samples(share, n):
    model = ProbabilitiesModel()
    x = _probabilities(np.random.default_rng(n).uniform(0.5, 1.0, size=n))
    defence = create("model.abstain", {"clean_reject_share": share})
    defence.fit(model, _clean(x))
    assert abs(int(defence.rejects(model, x).sum()) - share * n) <= 1
    default = create("model.abstain")  # neither option: the default target share
    default.fit(model, _clean(x))
    assert abs(int(default.rejects(model, x).sum()) - 0.05 * n) <= 1
    everything = create("model.abstain", {"clean_reject_share": 1.0})
    everything.fit(model, _clean(x))
    assert everything.rejects(model, x).all()


def test_probabilities_tied_up_to_floating_point_noise_are_answered_together():
    model = ProbabilitiesModel()
    low, tie, noisy_tie = 0.6, 0.8807970779778824, 0.8807970779778823
    # 8 clearly low, 2 a hair below the tie, 190 at it: the 5% quantile (sample 10) is the tie
    fitted_on = _probabilities(np.array([low] * 8 + [noisy_tie] * 2 + [tie] * 190))
    default = create("model.abstain")
    default.fit(model, _clean(fitted_on))
    assert default.fitted_state() == {"threshold": tie}
    # with ties at the threshold a little fewer than the target share: only the clearly low
    np.testing.assert_array_equal(np.flatnonzero(default.rejects(model, fitted_on)), range(8))
    # clean traffic whose probabilities differ from the fitted ones in the last digit only
    traffic = _probabilities(np.array([noisy_tie] * 100 + [tie] * 100))
    assert not default.rejects(model, traffic).any()
    fixed = create("model.abstain", {"min_confidence": tie})
    fixed.fit(model, _clean(fitted_on))
    assert not fixed.rejects(model, traffic).any()
    assert fixed.rejects(model, _probabilities(np.array([tie * (1 - 1e-6)]))).all()


def test_low_confidence_abstention_refuses_conflicting_options_and_labels_only_models():
    with pytest.raises(ParameterError, match=r"give min_confidence .* not both"):
        create("model.abstain", {"min_confidence": 0.6, "clean_reject_share": 0.1})
    with pytest.raises(ParameterError, match=r"min_confidence must be .* in \[0, 1\]"):
        create("model.abstain", {"min_confidence": 1.5})
    defence = create("model.abstain", {"min_confidence": 0.6})
    with pytest.raises(ModelError, match="gives class labels only"):
        defence.rejects(LabelsModel(), np.zeros((3, 2)))


def test_tabular_validation_rejects_rows_beyond_the_clean_range_and_accepts_the_rest():
    rng = np.random.default_rng(0)
    clean = rng.normal(size=(200, 3))
    defence = create("tabular.validate", {"margin": 0.5})
    defence.fit(ProbabilitiesModel(), _clean(clean))
    assert not defence.rejects(ProbabilitiesModel(), clean).any()
    high = clean.max(axis=0) + 0.5 * clean.std(axis=0)
    low = clean.min(axis=0) - 0.5 * clean.std(axis=0)
    rows = np.array(
        [
            clean.mean(axis=0),  # typical
            high - 1e-9,  # just inside the widened range, in every column
            low + 1e-9,
            [high[0] + 1e-6, 0.0, 0.0],  # just beyond in one column
            [0.0, low[1] - 1e-6, 0.0],
            [0.0, 0.0, 9999.0],  # a sentinel
            [0.0, np.nan, 0.0],  # missing: cannot be checked
        ]
    )
    np.testing.assert_array_equal(
        defence.rejects(ProbabilitiesModel(), rows), [False, False, False, True, True, True, True]
    )
    with pytest.raises(ParameterError, match=r"margin must be .* in \[0, 100\]"):
        create("tabular.validate", {"margin": -1})


def test_image_validation_rejects_exposure_contrast_and_noise_beyond_the_clean_range():
    rng = np.random.default_rng(1)
    gradient = np.linspace(60, 190, 16)[None, None, :] * np.ones((40, 16, 1))
    clean = np.clip(gradient + rng.normal(0, 4, size=(40, 16, 16)), 0, 255).astype(np.uint8)
    defence = create("image.validate")
    defence.fit(ProbabilitiesModel(), _clean(clean, Modality.IMAGE))
    assert not defence.rejects(ProbabilitiesModel(), clean).any()
    over_exposed = np.full((1, 16, 16), 250, dtype=np.uint8)
    flat = np.full((1, 16, 16), 125, dtype=np.uint8)  # typical exposure, no contrast
    noisy = np.clip(clean[:1] + rng.normal(0, 60, size=(1, 16, 16)), 0, 255).astype(np.uint8)
    images = np.concatenate([clean[:2], over_exposed, flat, noisy])
    np.testing.assert_array_equal(
        defence.rejects(ProbabilitiesModel(), images), [False, False, True, True, True]
    )


def test_text_validation_rejects_invisible_and_look_alike_characters():
    clean = ["a fine film", "the plot is thin", "I loved it!", ""]
    defence = create("text.validate")
    defence.fit(ProbabilitiesModel(), _clean(clean, Modality.TEXT))
    texts = [*clean, "a fi\u200bne film", "a fine f\u0456lm", "ａ fine film"]
    np.testing.assert_array_equal(
        defence.rejects(ProbabilitiesModel(), texts),
        [False, False, False, False, True, True, True],
    )
    statistics = defence.statistics(["ab\u200bc"])
    np.testing.assert_allclose(statistics, [[0.25, 0.25]])


N_SAMPLES = 300
THRESHOLD = 0.8
PLAN = {
    "name": "abstention",
    "perturbations": [
        {"name": "tabular.sentinel_values", "levels": [3]},
        {"name": "tabular.gaussian_noise", "levels": [4]},
    ],
    "repeats": 2,
    "seed": 0,
}


def _table_run(store) -> tuple[wince.Run, LogisticRegression, ArrayDataset]:
    """A run of `PLAN` on a small tabular classifier, in a store of its own."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N_SAMPLES, 3))
    y = (x[:, 0] + x[:, 1] > 0).astype(int)
    model = LogisticRegression().fit(x, y)
    data = ArrayDataset(x, y, modality="tabular", name="table")
    return wince.run(model, data, PLAN, store=store), model, data


@pytest.fixture(scope="module")
def abstained(tmp_path_factory):
    run, model, data = _table_run(tmp_path_factory.mktemp("store"))
    defences = ["tabular.validate", f"model.abstain:min_confidence={THRESHOLD}"]
    return run, run.harden(defences, model=model, data=data), model, data


def test_harden_reports_the_rejected_share_of_each_finding_as_counted_independently(abstained):
    run, hardening, _, _ = abstained
    assert set(hardening.findings["scenario"].str.split("(").str[0]) == {
        "tabular.sentinel_values",
        "tabular.gaussian_noise",
    }
    outcomes = run.outcomes()
    exposure = hardening.exposure
    # model.abstain rejects the inputs the model answers with confidence below the threshold;
    # tabular.validate the rows a sentinel (9999) changed: unchanged rows are clean, in range
    counted = exposure[
        (exposure["defence"] == "model.abstain") | exposure["scenario"].str.contains("sentinel")
    ]
    assert len(counted) == 6  # 2 findings' metrics x 2 scenarios + 2 for the sentinel
    for row in counted.itertuples():
        scenario = outcomes[outcomes["scenario"] == row.scenario]
        assert len(scenario) == 2 * N_SAMPLES  # two trials
        if row.defence == "model.abstain":
            rejected = scenario["confidence"] < THRESHOLD
        else:
            rejected = scenario["changed"] == 1
        assert row.rejected == pytest.approx(rejected.mean(), abs=1e-12)
        if row.metric == "flip_rate":  # exposure on the accepted inputs (no noise floor)
            assert row.after == pytest.approx(scenario[~rejected]["flipped"].mean())
            assert row.before == pytest.approx(scenario["flipped"].mean())
    sentinel = counted[counted["defence"] == "tabular.validate"]
    assert (sentinel["after"] == 0).all()
    assert sentinel["significant"].all()
    assert (sentinel["rejected"] > 0.1).all()


def test_harden_reports_the_clean_rejected_share_out_of_sample(abstained):
    run, hardening, model, data = abstained
    table = hardening.defences.set_index("defence")
    baseline = run.outcomes()
    baseline = baseline[baseline["scenario"] == "baseline"]
    assert table.loc["model.abstain", "clean_rejected"] == pytest.approx(
        (baseline["confidence"] < THRESHOLD).mean()
    )
    # the validator fitted on one random half of the clean rows, counted on the other, and back
    x = data.batch(0, N_SAMPLES)
    first, second = clean_halves(N_SAMPLES, PLAN["seed"])
    rejected = 0
    for fitted_on, counted_on in ((x[first], x[second]), (x[second], x[first])):
        fold = create("tabular.validate")
        fold.fit(model, _clean(fitted_on))
        rejected += int(fold.rejects(model, counted_on).sum())
    assert table.loc["tabular.validate", "clean_rejected"] == rejected / N_SAMPLES
    assert 0 < rejected < 0.05 * N_SAMPLES  # in-sample it would be 0 by construction
    assert table["abstains"].all()
    assert (table["clean_rejected"] <= REJECT_CAP).all()
    assert table.loc["tabular.validate", "qualifies"]
    payload = hardening.to_payload()
    assert payload["reject_cap"] == REJECT_CAP
    assert {d["defence"]: d["clean_rejected"] for d in payload["defences"]} == {
        name: table.loc[name, "clean_rejected"] for name in table.index
    }


def test_rejecting_most_clean_traffic_does_not_qualify_and_the_tables_say_why(tmp_path):
    run, model, data = _table_run(tmp_path)  # no defence stored before (harden merges them)
    hardening = run.harden(["model.abstain:clean_reject_share=0.6"], model=model, data=data)
    (row,) = hardening.defences.itertuples()
    assert row.clean_rejected == pytest.approx(0.6, abs=0.05)
    # the cap alone stops it: its exposure on the few inputs it answers did drop
    assert row.significant_findings > 0
    assert row.non_inferior is True
    assert not row.qualifies
    console = Console(width=240, record=True)
    print_hardening(hardening, console)
    text = console.export_text()
    assert "(over the 20% cap)" in text
    assert "rejecting at most 20% of clean traffic" in text
    assert (
        f"model.abstain does not qualify: rejects {100 * row.clean_rejected:.1f}% of clean "
        "traffic, over the 20% cap." in text
    )
    report = build_report(run.store, run.id, data=data)
    markdown = report.markdown()
    assert "rejected clean / perturbed" in markdown
    assert "(over the 20% cap)" in markdown
    assert "at most 20.0% of clean traffic rejected" in markdown
    assert "That is more than the 20% of clean traffic a defence may reject." in markdown
    html = report.html()
    assert '<th class="n">rejected clean / perturbed</th>' in html
    assert "(over the 20% cap)" in html


def test_defences_that_never_abstain_report_no_rejection(tmp_path):
    run, model, data = _table_run(tmp_path)  # no abstaining defence stored before
    hardening = run.harden(["tabular.clip"], model=model, data=data)
    (row,) = hardening.defences.itertuples()
    assert (row.abstains, row.clean_rejected, row.perturbed_rejected) == (False, 0.0, 0.0)
    assert (hardening.exposure["rejected"] == 0).all()
    console = Console(width=240, record=True)
    print_hardening(hardening, console)
    assert "rejected" not in console.export_text()


def test_harden_tries_abstaining_defences_only_when_named():
    defaults = [d.name for d in resolve_defences(None, "classification", "tabular", seed=0)]
    assert "tabular.clip" in defaults
    assert not {"model.abstain", "tabular.validate"} & set(defaults)
    (named,) = resolve_defences(["tabular.validate:margin=2"], "classification", "tabular", seed=0)
    assert (named.name, named.margin) == ("tabular.validate", 2.0)


def test_clean_halves_are_a_seeded_random_split_not_even_and_odd_positions():
    first, second = clean_halves(101, 7)
    assert (len(first), len(second)) == (50, 51)
    np.testing.assert_array_equal(np.sort(np.concatenate([first, second])), np.arange(101))
    np.testing.assert_array_equal(clean_halves(101, 7)[0], first)  # the run's seed: stable
    assert not np.array_equal(clean_halves(101, 8)[0], first)
    # alternating labels land in both halves, about evenly
    for half in (first, second):
        assert 0.35 < np.mean(half % 2 == 0) < 0.65


class ParityValidation:
    """A stand-in abstaining defence that rejects an input unless its parity was fitted on."""

    def __init__(self) -> None:
        self.parities: set[int] = set()

    def fit(self, model, clean) -> None:
        self.parities = {int(v) % 2 for v in clean.x[:, 0]}

    def rejects(self, model, x) -> np.ndarray:
        return np.array([int(v) % 2 not in self.parities for v in x[:, 0]])


def test_clean_rejection_is_not_biased_by_alternating_rows():
    # rows alternate between two kinds (as labels alternating would); an even/odd split would
    # fit each fold on one kind only and reject every clean row
    x = np.arange(40, dtype=float)[:, None]
    data = ArrayDataset(x, np.arange(40) % 2, modality="tabular", name="alternating")
    clean = CleanData(x, np.arange(40) % 2, DataContext(modality=Modality.TABULAR))
    share = clean_reject_share(ParityValidation(), ProbabilitiesModel(), data, clean, 0)
    assert share == 0.0


class RejectAll(AbstainingDefence):
    """An abstaining defence that rejects every input (defers all of them)."""

    name = "test.reject_all"
    version = 1

    def rejects(self, model, x) -> np.ndarray:
        return np.ones(len(x), dtype=bool)


def test_a_finding_whose_inputs_are_all_rejected_is_fully_covered(abstained):
    run, before, model, data = abstained
    hardening = run.harden([RejectAll()], model=model, data=data)
    exposure = hardening.exposure[hardening.exposure["defence"] == "test.reject_all"]
    assert len(exposure) == len(hardening.findings) == 4
    assert (exposure["rejected"] == 1).all()
    assert (exposure["after"] == 0).all()
    np.testing.assert_allclose(exposure["reduction"], exposure["before"])
    assert (exposure["low"] > 0).all()
    assert (exposure["low"] < exposure["before"]).all()
    assert (exposure["high"] > exposure["before"]).all()
    assert exposure["significant"].all()
    # the before side is the undefended model's, as for any defence
    validated = before.exposure[before.exposure["defence"] == "tabular.validate"]
    sentinel = exposure[exposure["scenario"].str.contains("sentinel")].set_index("metric")
    for row in validated[validated["scenario"].str.contains("sentinel")].itertuples():
        assert row.rejected < 1  # a validator rejects the changed rows only
        assert sentinel.loc[row.metric, "before"] == pytest.approx(row.before)
    defence = hardening.defences.set_index("defence").loc["test.reject_all"]
    assert defence.significant_findings == 4
    assert defence.clean_rejected == 1.0
    assert not defence.qualifies  # over the cap
    console = Console(width=240, record=True)
    console.print(exposure_table(replace(hardening, exposure=exposure)))
    assert console.export_text().count("+0.0 pt (all rejected)") == 4
    markdown = build_report(run.store, run.id, data=data).markdown()
    assert "(all rejected)" in markdown
    assert "it rejects every such input, deferring it to the fallback" in markdown
