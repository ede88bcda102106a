"""The API's verbs are the CLI's: `wince.run` runs a plan, `Run.analyze` computes a profile.

The names before them, `wince.analyze` and `Run.profile`, still work for one release: they
warn (`DeprecationWarning`, naming the new name and the release that removes them) and give
the same results.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import wince
from wince.analysis.profile import Profile
from wince.api import Run
from wince.deprecation import REMOVED_IN

X = np.random.default_rng(0).normal(size=(40, 3))
Y = (X[:, 0] > 0).astype(int)
PLAN = {"name": "names", "perturbations": [{"name": "tabular.gaussian_noise"}]}


def model(batch: Any) -> Any:
    return (batch[:, 0] > 0).astype(int)


def payload(profile: Profile) -> str:
    """A profile's analyses as one comparable text (NaN compares equal as text)."""
    return json.dumps(profile.payloads(), sort_keys=True, default=str)


def test_the_new_names_are_public_and_typed() -> None:
    assert {"run", "perturb"} <= set(wince.__all__)
    assert wince.run.__annotations__["return"] == "Run"
    assert Run.analyze.__annotations__["return"] == "Profile"
    assert Run.profile.__annotations__["return"] == "Profile"
    assert REMOVED_IN == "0.7"


def test_run_then_analyze(tmp_path: Path) -> None:
    done = wince.run(model, (X, Y), PLAN, store=tmp_path)
    assert isinstance(done, Run)
    assert not done.reused
    profile = done.analyze(regions=False)
    assert isinstance(profile, Profile)
    assert profile.run_id == done.id
    judged = set(profile.verdicts.scenarios["scenario"])
    assert judged == set(done.scenarios()["scenario"]) - {"baseline", "identity"}
    assert len(judged) == 5  # the default sweep: levels 1-5


def test_the_old_names_warn_and_give_the_same_results(tmp_path: Path) -> None:
    new = wince.run(model, (X, Y), PLAN, store=tmp_path / "new")
    with pytest.warns(
        DeprecationWarning,
        match=r"wince\.analyze is deprecated and will be removed in wince 0\.7: use wince\.run",
    ) as caught:
        old = wince.analyze(model, (X, Y), PLAN, store=tmp_path / "old")
    assert caught[0].filename == __file__  # points at the caller's line
    assert old.id == new.id
    assert not old.reused
    assert (
        old.outcomes()
        .drop(columns="latency_s", errors="ignore")
        .equals(new.outcomes().drop(columns="latency_s", errors="ignore"))
    )
    with pytest.warns(
        DeprecationWarning,
        match=r"Run\.profile is deprecated and will be removed in wince 0\.7: use Run\.analyze",
    ):
        old_profile = old.profile(regions=False)
    assert payload(old_profile) == payload(new.analyze(regions=False))
