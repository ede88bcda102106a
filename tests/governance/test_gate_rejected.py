"""A scenario whose inputs the model refused fails every gate rule that selects it."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
from rich.console import Console

import wince
from wince.governance.commands import gate_command
from wince.governance.compare import compare_runs
from wince.governance.gate import evaluate_gate
from wince.models import CallableAdapter

NOISE = "tabular.gaussian_noise"
MISSING = "tabular.missing_values"
PLAN = {
    "name": "gate-refused",
    "perturbations": [
        {"name": NOISE, "levels": [1]},
        {"name": MISSING, "levels": [2]},
    ],
    "batch_size": 25,
    "seed": 1,
}
REFUSED = f"{MISSING}(missing_rate=0.12)"
ERROR = "ValueError: Input contains NaN."


def scores(x):
    """Two-class scores from the first feature, NaN read as 0."""
    first = np.nan_to_num(x[:, 0])
    return np.stack([first, -first], axis=1)


def nan_refusing(x):
    if np.isnan(x).any():
        raise ValueError("Input contains NaN.")
    return scores(x)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """(store, id of a run refusing NaN, id of the same plan on a model taking NaN)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(100, 3))
    y = (x[:, 0] < 0).astype(int)
    store = wince.open_store(str(tmp_path_factory.mktemp("gate")))
    taking = wince.run(CallableAdapter(scores, fingerprint="a"), (x, y), PLAN, store=store)
    refusing = wince.run(CallableAdapter(nan_refusing, fingerprint="b"), (x, y), PLAN, store=store)
    assert refusing.rejected == {REFUSED: ERROR}
    return store, refusing.id, taking.id


def test_max_flip_rate_fails_on_the_refused_scenario_only(runs):
    store, refusing, _ = runs
    result = evaluate_gate(store, refusing, {"rules": [{"check": "max_flip_rate", "max": 0.9}]})
    checks = result.checks.set_index("subject")
    assert set(checks.index) == {f"{NOISE}(noise_sd=0.1)", REFUSED}
    assert bool(checks.loc[f"{NOISE}(noise_sd=0.1)", "passed"])
    assert not bool(checks.loc[REFUSED, "passed"])
    assert checks.loc[REFUSED, "message"] == f"the model refused these inputs: {ERROR}"
    assert checks.loc[REFUSED, "source"] == "rejections"
    assert math.isnan(checks.loc[REFUSED, "estimate"])
    assert not result.passed
    noise_only = {"check": "max_flip_rate", "max": 0.9, "where": {"perturbation": NOISE}}
    assert evaluate_gate(store, refusing, {"rules": [noise_only]}).passed


def test_accuracy_drop_rule_selecting_only_the_refused_scenario_fails_it(runs):
    store, refusing, _ = runs
    rule = {"check": "max_accuracy_drop", "max": 0.5, "where": {"perturbation": MISSING}}
    result = evaluate_gate(store, refusing, {"rules": [rule]})
    assert result.checks["subject"].tolist() == [REFUSED]
    assert result.checks["passed"].tolist() == [False]


def test_no_regression_fails_where_the_new_model_refuses_what_the_old_one_took(runs):
    store, refusing, taking = runs
    comparison = compare_runs(store, taking, refusing)  # no error: refused is left out
    assert REFUSED in comparison.excluded
    assert REFUSED not in set(comparison.scenarios["scenario"])
    rule = {"check": "no_regression", "baseline": taking}
    result = evaluate_gate(store, refusing, {"rules": [rule]})
    checks = result.checks.set_index("subject")
    assert not bool(checks.loc[REFUSED, "passed"])
    assert "refused these inputs" in checks.loc[REFUSED, "message"]
    assert bool(checks.loc[f"{NOISE}(noise_sd=0.1)", "passed"])


def test_breaking_points_leave_out_the_refused_perturbation_and_its_gate_rule_fails(runs):
    from wince.analysis.profile import analyze_run

    store, refusing, _ = runs
    rng = np.random.default_rng(0)
    x = rng.normal(size=(100, 3))
    data = (x, (x[:, 0] < 0).astype(int))
    profile = analyze_run(
        store,
        refusing,
        model=CallableAdapter(nan_refusing, fingerprint="b"),
        data=data,
        regions=False,
        breaking_points=True,
        global_sensitivity=True,
    )
    assert list(profile.extras["breaking_points"].items) == [NOISE]
    assert list(store.load_analysis(refusing, "breaking_points")) == [NOISE]
    sobol = store.load_analysis(refusing, "global_sensitivity")
    assert MISSING not in str(sobol)
    assert NOISE in str(sobol)
    rule = {"check": "min_median_breaking_point", "min": 0.1}
    checks = evaluate_gate(store, refusing, {"rules": [rule]}).checks.set_index("subject")
    assert set(checks.index) == {NOISE, MISSING}
    assert not bool(checks.loc[MISSING, "passed"])
    assert checks.loc[MISSING, "message"] == f"the model refused these inputs: {ERROR}"


def test_the_terminal_says_a_refused_scenario_was_refused_and_why(runs, tmp_path):
    store, refusing, _ = runs
    policy = tmp_path / "flips.yaml"
    policy.write_text("rules:\n  - {name: flips, check: max_flip_rate, max: 0.9}\n")
    out = Console(file=io.StringIO(), width=250, color_system=None)
    code = gate_command(
        refusing, policy=policy, store=str(store.root), junit=None, json_output=False, console=out
    )
    printed = out.file.getvalue()
    assert code == 1
    row = next(line for line in printed.splitlines() if REFUSED in line and "│" in line)
    assert "inputs refused" in row
    assert "FAIL (1)" in row
    assert "> 0.9" not in row
    assert f"(1) flips · {REFUSED}: the model refused these inputs: {ERROR}" in printed
