from __future__ import annotations

import numpy as np
import pytest

import wince
from wince.analysis.data import load_run_data
from wince.analysis.significance import decide, verdicts
from wince.analysis.stats import (
    adjust,
    benjamini_hochberg,
    bootstrap_means,
    holm,
    one_sided_pvalue,
    percentile_interval,
    required_samples,
)
from wince.datasets import ArrayDataset
from wince.metrics import bootstrap_weights
from wince.models import CallableAdapter
from wince.perturbations.base import Rngs

ALPHA = 0.05


def test_holm_and_bh_match_their_textbook_definitions():
    p = np.array([0.01, 0.04, 0.03, 0.005])
    # Holm: sorted p * (m - rank), running max
    assert holm(p) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    # BH: sorted p * m / rank, running min from the top
    assert benjamini_hochberg(p) == pytest.approx([0.02, 0.04, 0.04, 0.02])
    assert adjust(p, "bh") == pytest.approx(benjamini_hochberg(p))


def false_alarms(tolerance):
    """A stochastic model flips 10% of predictions at random, perturbed or not."""
    fragile = 0
    for seed in range(100):
        rng = np.random.default_rng(seed)
        floor = (rng.random(300) < 0.1).astype(float)
        perturbed = (rng.random(300) < 0.1).astype(float)
        p_fragile, _, _ = decide(perturbed - floor, tolerance, alpha=ALPHA)
        fragile += p_fragile < ALPHA
    return fragile / 100


@pytest.mark.slow
def test_no_effect_is_called_fragile_in_at_most_five_percent_of_studies():
    assert false_alarms(0.02) <= 0.05  # the default flip-rate tolerance
    # even against a zero tolerance the one-sided test stays near its nominal level
    assert false_alarms(0.0) <= 0.10


def test_a_real_effect_is_detected_at_the_predicted_sample_size():
    effect, tolerance = 0.10, 0.02
    observed = np.r_[np.ones(10), np.zeros(90)]  # flips at the rate 0.10
    n = required_samples(observed, tolerance, alpha=ALPHA)
    assert n is not None
    assert 50 < n < 500

    def detection_rate(size):
        hits = 0
        for seed in range(200):
            flips = (np.random.default_rng(seed).random(size) < effect).astype(float)
            hits += one_sided_pvalue(flips, tolerance, "greater") < ALPHA
        return hits / 200

    assert detection_rate(n) >= 0.78
    assert detection_rate(n // 4) < 0.6


def test_a_model_untouched_by_a_perturbation_is_robust_at_the_size_it_is_told():
    # no flips at all: the exact test says robust once 0.99^n < 0.05, at n = 299; before,
    # the verdict said "about 1 samples would settle it"
    tolerance = 0.01
    needed = required_samples(np.zeros(200), tolerance, alpha=ALPHA)
    assert needed == 299
    assert 0.99**299 < ALPHA <= 0.99**298
    _, p_robust, _ = decide(np.zeros(200), tolerance, alpha=ALPHA)
    assert p_robust >= ALPHA
    _, p_robust, left = decide(np.zeros(needed), tolerance, alpha=ALPHA)
    assert p_robust < ALPHA
    assert left == 299  # the same size, whatever n is now


def test_effects_that_never_vary_are_decided_and_need_no_more_samples():
    # a stochastic model's flip frequencies all 0.25 (repeats of 4), tolerance 0.3: robust
    constant = np.full(50, 0.25)
    p_fragile, p_robust, needed = decide(constant, 0.3, alpha=ALPHA)
    assert (p_fragile, p_robust, needed) == (1.0, 0.0, None)
    assert required_samples(np.full(50, 0.3), 0.3, alpha=ALPHA) is None  # at the margin


@pytest.mark.slow
def test_cluster_bootstrap_interval_reaches_nominal_coverage():
    """Per-sample flip probabilities vary (random effects); three seeds per sample."""
    truth = 0.3
    covered = 0
    reps = 300
    for seed in range(reps):
        rng = np.random.default_rng(1000 + seed)
        p_sample = rng.beta(3, 7, size=150)  # mean 0.3
        values = (rng.random((150, 3)) < p_sample[:, None]).astype(float)
        low, high = percentile_interval(bootstrap_means(values, bootstrap_weights(150, 500, seed)))
        covered += low <= truth <= high
    assert abs(covered / reps - 0.95) <= 0.03


def noisy_model(effect_rate):
    """Flips a fixed share of samples under noise, and nothing else."""

    def predict(x):
        noisy = np.abs(x[:, 1]) > 0  # column 1 is zero on clean data
        unstable = x[:, 2] < effect_rate
        return (noisy & unstable).astype(int)

    return predict


def noisy_run(tmp_path, effect_rate, n=400, tolerance=0.02, severities=(1.0,)):
    """A run of `noisy_model`; `tolerance`: the flip-rate tolerance (the data then has no
    labels, so the flip rate is the only metric tested), or all tolerances."""
    rng = np.random.default_rng(1)
    x = np.column_stack([rng.normal(size=n), np.zeros(n), rng.random(n)])
    x[:, 1] = 0.0
    plan = {
        "name": "v",
        "perturbations": [{"name": "tabular.gaussian_noise", "severities": list(severities)}],
        "repeats": 1,
        "analysis": {
            "tolerance": tolerance if isinstance(tolerance, dict) else {"flip_rate": tolerance}
        },
    }

    class Data(ArrayDataset):
        def context(self):
            ctx = super().context()
            ctx.column_sd[:] = [0.0, 1.0, 0.0]  # noise reaches only the all-zero column
            return ctx

    return wince.run(
        CallableAdapter(noisy_model(effect_rate), fingerprint=f"m{effect_rate}"),
        Data(x, np.zeros(n, int) if isinstance(tolerance, dict) else None),
        plan,
        store=str(tmp_path / f"s{effect_rate}-{n}-{len(severities)}"),
    )


def run_verdicts(tmp_path, effect_rate, **settings):
    run = noisy_run(tmp_path, effect_rate, **settings)
    return verdicts(load_run_data(run.store, run.id))


def inconclusive_sentences(run, tmp_path):
    text = run.report(out=tmp_path / "r.md", fmt="markdown").read_text()
    return [line for line in text.splitlines() if "would settle it" in line]


@pytest.mark.slow
def test_an_inconclusive_sentence_names_the_correction_and_the_size_its_own_test_needs(tmp_path):
    # no flip in 200 samples, three levels at a 1% tolerance: the interval's upper end is
    # below 2%, and the corrected test needs 408 samples (0.99^408 < 0.05 / 3)
    run = noisy_run(tmp_path, 0.0, n=200, tolerance=0.01, severities=(0.25, 0.5, 1.0))
    (line,) = inconclusive_sentences(run, tmp_path)
    assert "not clearly above or below the 1% tolerance once corrected for the run's 3 tests" in (
        line
    )
    assert line.endswith("about 408 samples would settle it.")


@pytest.mark.slow
def test_an_inconclusive_sentence_says_which_test_is_undecided_when_its_figure_is_within(
    tmp_path,
):
    # no flip, no accuracy drop in 200 samples: the flip rate is robust at 5% (0.95^200 is
    # tiny) while the accuracy test at 1% is undecided (0.99^200 = 0.13) and needs 0.99^n <
    # 0.05 / 2, n = 368; the sentence quotes the flip rate, so it must say so
    tolerance = {"flip_rate": 0.05, "accuracy": 0.01}
    run = noisy_run(tmp_path, 0.0, n=200, tolerance=tolerance)
    (line,) = inconclusive_sentences(run, tmp_path)
    assert "within the 5% tolerance, but its accuracy test could not decide once corrected" in (
        line
    )
    assert line.endswith("about 368 samples would settle it.")


@pytest.mark.slow
def test_verdicts_follow_the_effect_size(tmp_path):
    fragile = run_verdicts(tmp_path, 0.2).scenarios
    assert fragile["verdict"].tolist() == ["fragile"]
    robust = run_verdicts(tmp_path, 0.0).scenarios
    assert robust["verdict"].tolist() == ["robust"]
    borderline = run_verdicts(tmp_path, 0.04, n=100).tests
    assert borderline["verdict"].tolist() == ["inconclusive"]
    assert borderline["samples_needed"].iloc[0] > 100


@pytest.mark.slow
def test_an_untouched_model_is_robust_at_the_sample_size_the_inconclusive_verdict_names(tmp_path):
    # The noise never flips this model. At n = 200 no test can prove a flip rate below 1%;
    # the verdict names the size that would (after the grid's correction), and a run of that
    # size says robust on every test of its grid.
    grid = {"tolerance": 0.01, "severities": (0.25, 0.5, 1.0)}
    small = run_verdicts(tmp_path, 0.0, n=200, **grid).tests
    assert set(small["verdict"]) == {"inconclusive"}
    tests = len(small)
    assert tests == 3
    needed = int(small["samples_needed"].max())
    # exact: zero flips in n prove the rate below 1% once 0.99^n < 0.05 / tests
    assert 0.99**needed < ALPHA / tests <= 0.99 ** (needed - 1)
    enough = run_verdicts(tmp_path, 0.0, n=needed, **grid).tests
    assert set(enough["verdict"]) == {"robust"}
    assert len(enough) == tests


def missing_means_positive(x):
    """Class of x1's sign, but class 1 whenever x0 is missing."""
    return np.where(np.isnan(x[:, 0]), 1, (x[:, 1] > 0).astype(int))


def rare_missing_run(tmp_path):
    """3% of 600 rows lose x0, and `missing_means_positive` flips half of those."""
    rng = np.random.default_rng(4)
    x = np.column_stack([rng.normal(size=600), rng.normal(size=600)])
    data = ArrayDataset(x, (x[:, 1] > 0).astype(int))
    plan = {
        "name": "rare",
        "perturbations": [
            {"name": "tabular.missing_values", "values": [0.03], "params": {"columns": ["x0"]}}
        ],
        "repeats": 1,
        "analysis": {"tolerance": {"flip_rate": 0.05}},
    }
    return wince.run(missing_means_positive, data, plan, store=str(tmp_path / "s")), data


@pytest.mark.slow
def test_a_rare_perturbation_that_breaks_what_it_touches_is_fragile_where_it_applies(tmp_path):
    # 3% of rows lose x0 and half of those flip: 1.5% overall is within a 5% tolerance
    # (a spelling perturbation once touched 1.5% of tweets and flipped 13-25% of them, and
    # the verdict only said "robust")
    run, _ = rare_missing_run(tmp_path)
    result = verdicts(load_run_data(run.store, run.id))
    row = result.tests.set_index("metric").loc["flip_rate"]
    touched = run.outcomes().query("scenario != 'baseline' and scenario != 'identity'")
    lost = touched["changed"].to_numpy() > 0
    assert row["coverage"] == pytest.approx(lost.mean())
    assert 0.01 < row["coverage"] < 0.06
    assert row["n_changed"] == lost.sum()
    # among the changed rows, those with x1 <= 0 flip (class 1 instead of 0)
    assert row["effect_changed"] == pytest.approx(touched["flipped"].to_numpy()[lost].mean())
    assert row["effect"] < 0.05
    assert row["verdict"] != "fragile"
    assert bool(row["fragile_where_applied"])
    scenario = result.scenarios.iloc[0]
    assert bool(scenario["fragile_where_applied"])
    assert scenario["coverage"] == pytest.approx(row["coverage"])


@pytest.mark.slow
def test_a_perturbation_that_changes_every_input_has_full_coverage_and_no_second_test(tmp_path):
    result = run_verdicts(tmp_path, 0.5)
    tests = result.tests
    assert (tests["coverage"] == 1.0).all()
    assert tests["p_fragile_changed"].isna().all()
    assert not tests["fragile_where_applied"].any()


@pytest.mark.slow
def test_the_report_says_fragile_where_it_applies(tmp_path):
    run, data = rare_missing_run(tmp_path)
    run.analyze(data=data)
    text = run.report(out=tmp_path / "report.md", fmt="markdown", data=data).read_text()
    assert "of the inputs, and" in text
    assert "of those flipped: fragile where it applies." in text


@pytest.mark.slow
def test_the_report_names_the_test_that_decided_when_it_is_not_the_quoted_figure(tmp_path):
    # flips within a lenient 50% flip-rate tolerance, accuracy beyond its 1%: the sentence
    # quotes the flip rate, so it must say the verdict came from the accuracy test
    x = np.random.default_rng(5).normal(size=(300, 2))
    data = ArrayDataset(x, (x[:, 0] > 0).astype(int))
    plan = {
        "name": "decided",
        "perturbations": [
            {"name": "tabular.sensor_drift", "values": [0.5], "params": {"columns": ["x0"]}}
        ],
        "repeats": 1,
        "analysis": {"tolerance": {"flip_rate": 0.5, "accuracy": 0.01}},
    }
    run = wince.run(lambda b: (b[:, 0] > 0).astype(int), data, plan, store=str(tmp_path))
    profile = run.analyze(data=data)
    tests = profile.verdicts.tests.set_index("metric")
    assert tests.loc["accuracy", "verdict"] == "fragile"
    assert tests.loc["flip_rate", "verdict"] != "fragile"
    text = run.report(out=tmp_path / "r.md", fmt="markdown", data=data).read_text()
    assert "The verdict comes from its accuracy test, not from this figure." in text


@pytest.mark.slow
def test_levels_that_change_no_input_are_reported_as_no_ops(tmp_path):
    # blurring a uniform grey image changes nothing: "robust" there tests nothing
    levels = np.linspace(0.1, 0.9, 60).astype(np.float32)
    x = levels[:, None, None, None] * np.ones((60, 6, 6, 1), np.float32)
    data = ArrayDataset(x, (levels < 0.5).astype(int), modality="image")
    plan = {
        "name": "no-op",
        "perturbations": [
            {"name": "image.gaussian_blur", "severities": [0.2, 0.6]},
            {"name": "image.exposure", "severities": [0.6]},
        ],
        "repeats": 1,
    }

    def dark(batch):
        return (batch.reshape(len(batch), -1).mean(axis=1) < 0.5).astype(int)

    run = wince.run(dark, data, plan, store=str(tmp_path))
    profile = run.analyze(data=data)
    coverage = profile.verdicts.scenarios.set_index("scenario")["coverage"]
    blurred = [s for s in coverage.index if s.startswith("image.gaussian_blur")]
    assert len(blurred) == 2
    assert (coverage[blurred] == 0).all()
    assert (coverage.drop(blurred) == 1).all()
    text = run.report(out=tmp_path / "r.md", fmt="markdown", data=data).read_text()
    (line,) = [line for line in text.splitlines() if "changed no input" in line]
    assert line.startswith("- At severity 0.2, 0.6, image.gaussian")  # markdown escapes "_"
    assert "exposure" not in line


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::wince.errors.ResolutionWarning")  # its own test warns
def test_imagenet_c_levels_that_do_nothing_or_repeat_a_level_on_28_px_digits_are_named(tmp_path):
    # ImageNet-C's defocus radii are for 224 px: scaled to 28 px (1/8), levels 1-3 leave
    # every digit as it was and levels 4 and 5 make the same blur
    import cv2
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = np.stack(
        [cv2.resize((im * 255 / 16).astype(np.uint8), (28, 28)) for im in digits.images[:40]]
    )[..., None]
    data = ArrayDataset(x, digits.target[:40], modality="image")
    plan = {
        "name": "defocus-28",
        "perturbations": [{"name": "image.imagenet_c_defocus_blur", "levels": [1, 2, 3, 4, 5]}],
        "repeats": 1,
    }

    def bright(batch):
        return (batch.reshape(len(batch), -1).mean(axis=1) > 40).astype(int)

    run = wince.run(bright, data, plan, store=str(tmp_path))
    scenarios = run.analyze(data=data).verdicts.scenarios.set_index("severity")
    # independent truth: the blurred inputs themselves
    blur = wince.perturbations.get("image.imagenet_c_defocus_blur")()
    rngs = Rngs.for_samples([str(i) for i in range(40)])
    made = {level: blur.perturb(x, level, rngs) for level in range(1, 6)}
    for level in (1, 2, 3):
        assert np.array_equal(made[level], x)
        assert scenarios.loc[level / 5, "coverage"] == 0
    assert np.array_equal(made[5], made[4])
    assert not np.array_equal(made[4], x)
    assert scenarios.loc[1.0, "same_inputs_as"] == scenarios.loc[0.8, "scenario"]
    assert scenarios.loc[0.8, "same_inputs_as"] == ""
    text = run.report(out=tmp_path / "r.md", fmt="markdown", data=data).read_text()
    (line,) = [line for line in text.splitlines() if "made exactly the same inputs" in line]
    assert line.startswith("- Repeated levels: image.imagenet\\_c\\_defocus\\_blur made exactly")
    assert "same inputs at severity 1 as at 0.8: on inputs of this size" in line


@pytest.mark.slow
def test_an_inconclusive_sentence_names_the_other_tests_that_keep_it_undecided(tmp_path):
    # zero flips and drops in 200 samples: the flip test (1%) needs 0.99^n < 0.05 / 2,
    # n = 368, the accuracy test (0.5%) 0.995^n < 0.025, n = 736; the scenario stays
    # inconclusive until both are decided, so the sentence gives both
    tolerance = {"flip_rate": 0.01, "accuracy": 0.005}
    run = noisy_run(tmp_path, 0.0, n=200, tolerance=tolerance)
    (line,) = inconclusive_sentences(run, tmp_path)
    assert line.endswith("about 368 samples would settle it (its accuracy test: about 736).")
