"""Analysis settings are not identity: edited tolerances apply to the stored outcomes.

Before, editing `analysis.tolerance` and running again returned the same run analysed with
the old settings; misspelt or negative tolerances passed validation and gave empty verdict
tables; a regressor got no verdicts at all.
"""

from __future__ import annotations

import numpy as np
import pytest

import wince
from wince.analysis.settings import resolve
from wince.errors import ParameterError, PlanError
from wince.plan import AnalysisSpec, parse_plan


def reads_first_column(batch):
    return (batch[:, 0] > 0).astype(int)


def noise_plan(tolerance):
    return {
        "name": "settings",
        "perturbations": [{"name": "tabular.gaussian_noise", "severities": [1.0]}],
        "repeats": 2,
        "analysis": {"tolerance": tolerance, "bootstrap": 200},
    }


@pytest.fixture
def data(seed):
    x = np.random.default_rng(seed).normal(size=(400, 2))
    return x, (x[:, 0] > 0).astype(int)


def flip_verdict(profile):
    tests = profile.verdicts.tests
    (row,) = tests[tests["metric"] == "flip_rate"].to_dict("records")
    return row


@pytest.mark.slow
def test_an_edited_tolerance_applies_when_the_plan_runs_again(tmp_path, data):
    """About 13% of predictions flip: robust under a 0.5 tolerance, fragile under 0.01."""
    store = str(tmp_path / "s")
    lenient = wince.run(reads_first_column, data, noise_plan({"flip_rate": 0.5}), store=store)
    before = flip_verdict(lenient.analyze(regions=False))
    assert 0.05 < before["effect"] < 0.3
    assert (before["tolerance"], before["verdict"]) == (0.5, "robust")

    strict = wince.run(reads_first_column, data, noise_plan({"flip_rate": 0.01}), store=store)
    assert strict.id == lenient.id  # same outcomes, not run again
    after = flip_verdict(strict.analyze(regions=False))
    assert (after["tolerance"], after["tolerance_source"], after["verdict"]) == (
        0.01,
        "plan",
        "fragile",
    )
    stored = strict.store.load_analysis(strict.id, "settings")
    assert stored["tolerance"] == {"flip_rate": 0.01, "accuracy": 0.01}  # its default kept
    assert stored["tolerance_source"] == {"flip_rate": "plan", "accuracy": "default"}


@pytest.mark.slow
def test_profile_overrides_apply_and_are_recorded(tmp_path, data):
    run = wince.run(
        reads_first_column, data, noise_plan({"flip_rate": 0.5}), store=str(tmp_path / "s")
    )
    profile = run.analyze(regions=False, tolerance={"flip_rate": 0.01}, alpha=0.01)
    row = flip_verdict(profile)
    assert (row["tolerance"], row["tolerance_source"], row["verdict"]) == (
        0.01,
        "override",
        "fragile",
    )
    stored = run.store.load_analysis(run.id, "settings")
    assert stored["alpha"] == 0.01
    assert stored["tolerance_source"] == {"flip_rate": "override", "accuracy": "default"}
    # the override does not stick: the next analysis uses the plan's settings again
    assert flip_verdict(run.analyze(regions=False))["verdict"] == "robust"


@pytest.mark.slow
def test_a_regressor_gets_verdicts_with_the_default_tolerance(tmp_path):
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import LinearRegression

    x, y = load_diabetes(return_X_y=True)
    model = LinearRegression().fit(x, y)
    plan = {
        "name": "diabetes",
        "perturbations": [{"name": "tabular.gaussian_noise", "severities": [0.1, 1.0]}],
        "repeats": 2,
        "analysis": {"bootstrap": 200},
    }
    run = wince.run(model, (x, y), plan, store=str(tmp_path / "s"))
    profile = run.analyze(regions=False)
    tests = profile.verdicts.tests
    tested = tests[tests["metric"] == "mean_abs_change"]
    assert len(tested) == 2
    expected = 0.1 * np.std(model.predict(x), ddof=1)
    assert tested["tolerance"].to_numpy() == pytest.approx([expected] * 2, rel=1e-5)
    assert all(s.startswith("default: 0.1 x sd of baseline predictions") for s in
               tested["tolerance_source"])  # fmt: skip
    # mild noise moves predictions far less than the tolerance, severe noise far more
    assert tested["verdict"].tolist() == ["robust", "fragile"]
    stored = run.store.load_analysis(run.id, "settings")
    assert stored["tolerance"]["mean_abs_change"] == pytest.approx(expected, rel=1e-5)
    text = run.report(tmp_path / "r.md", fmt="markdown").read_text()
    assert "mean abs change" in text
    assert "default: 0.1 x sd of baseline predictions" in text


def problems_of(raw):
    with pytest.raises(PlanError) as info:
        parse_plan(raw, source="p.yaml")
    return info.value.problems


def test_a_misspelt_tolerance_key_is_rejected_with_a_hint():
    (problem,) = problems_of(noise_plan({"flip_rat": 0.02}))
    assert problem.startswith("p.yaml analysis.tolerance.flip_rat: unknown verdict metric")
    assert "did you mean 'flip_rate'?" in problem


def test_a_negative_or_non_numeric_tolerance_is_rejected():
    (problem,) = problems_of(noise_plan({"flip_rate": 0.02, "accuracy": -0.01}))
    assert problem.startswith("p.yaml analysis.tolerance.accuracy:")
    assert "non-negative" in problem
    assert "-0.01" in problem


def test_overrides_are_validated_like_the_plan():
    with pytest.raises(ParameterError, match=r"--tolerance\.flip_rat.*did you mean 'flip_rate'"):
        resolve(AnalysisSpec(), task="classification", tolerance={"flip_rat": 0.1})
    with pytest.raises(ParameterError, match="alpha"):
        resolve(AnalysisSpec(), task="classification", alpha=1.5)
    with pytest.raises(ParameterError, match="correction"):
        resolve(AnalysisSpec(), task="classification", correction="bonferroni")


def test_an_override_for_the_other_task_is_rejected_not_ignored():
    # The trial: `--tolerance mae=3` on a classifier was accepted and changed nothing.
    with pytest.raises(ParameterError, match=r"--tolerance mae: a regression metric, and this"):
        resolve(AnalysisSpec(), task="classification", tolerance={"mae": 3.0})
    with pytest.raises(ParameterError, match=r"use one of mean_abs_change, mae"):
        resolve(AnalysisSpec(), task="regression", tolerance={"flip_rate": 0.1})
    settings = resolve(AnalysisSpec(), task="regression", tolerance={"mae": 3.0})
    assert settings.tolerance["mae"] == 3.0


def test_a_plan_naming_one_tolerance_keeps_the_other_defaults_labelled_default():
    settings = resolve(AnalysisSpec(tolerance={"flip_rate": 0.05}), task="classification")
    assert dict(settings.tolerance) == {"flip_rate": 0.05, "accuracy": 0.01}
    assert dict(settings.tolerance_source) == {"flip_rate": "plan", "accuracy": "default"}


def test_a_plan_without_tolerances_gets_the_defaults_labelled_default_not_plan():
    settings = resolve(AnalysisSpec(), task="classification")
    assert dict(settings.tolerance) == {"flip_rate": 0.02, "accuracy": 0.01}
    assert set(settings.tolerance_source.values()) == {"default"}
