"""Profile parts are attributes: `verdicts.fragile` and `verdicts.counts` beside the tables."""

from __future__ import annotations

import pandas as pd
from notebook_support import NotebookRun


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
