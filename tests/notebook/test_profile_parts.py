"""Profile parts are attributes: `verdicts.fragile` and `verdicts.counts` beside the tables."""

from __future__ import annotations

import pandas as pd
import pytest
from notebook_support import NotebookRun

from wince.errors import MissingAnalysisError


def test_fragile_holds_the_fragile_tests_largest_effect_first(notebook_run: NotebookRun) -> None:
    verdicts = notebook_run.profile.verdicts
    fragile = verdicts.fragile
    expected = verdicts.tests[verdicts.tests["verdict"] == "fragile"]
    assert len(fragile) == len(expected) > 0
    assert set(fragile["verdict"]) == {"fragile"}
    assert fragile["effect"].tolist() == sorted(expected["effect"], reverse=True)
    pd.testing.assert_frame_equal(notebook_run.profile.fragile(), fragile)


def test_counts_are_the_scenarios_per_verdict(notebook_run: NotebookRun) -> None:
    verdicts = notebook_run.profile.verdicts
    counts = verdicts.counts
    assert list(counts) == ["fragile", "robust", "inconclusive"]
    assert counts == {v: int((verdicts.scenarios["verdict"] == v).sum()) for v in counts}
    assert sum(counts.values()) == len(verdicts.scenarios) > 0


def test_optional_analyses_are_attributes(notebook_run: NotebookRun) -> None:
    profile = notebook_run.profile
    assert profile.data_quality is profile.extras["data_quality"]
    with_regions = notebook_run.run.analyze(data=notebook_run.data, save=False)
    assert with_regions.regions is with_regions.extras["regions"]
    searched = notebook_run.run.analyze(
        model=notebook_run.model,
        data=notebook_run.data,
        regions=False,
        breaking_points=True,
        save=False,
    )
    assert set(searched.breaking_points.items) == {"tabular.gaussian_noise", "tabular.sensor_gain"}


@pytest.mark.parametrize(
    ("part", "option", "flag"),
    [
        ("regions", "regions", "--regions"),
        ("breaking_points", "breaking_points", "--breaking-points"),
        ("global_sensitivity", "global_sensitivity", "--global"),
    ],
)
def test_an_analysis_not_computed_names_the_option_that_computes_it(
    notebook_run: NotebookRun, part: str, option: str, flag: str
) -> None:
    with pytest.raises(MissingAnalysisError) as raised:
        getattr(notebook_run.profile, part)
    message = str(raised.value)
    assert f"run.analyze({option}=True)" in message
    assert f"wince analyze RUN {flag}" in message
    assert "data_quality" in message  # what the profile has instead
