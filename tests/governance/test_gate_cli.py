"""`wince gate` and `wince compare` through the command line: exit codes and outputs.

Needs the two commands wired into src/wince/cli.py (they call wince.governance.commands).
Runs are created in-process with built-in perturbations, so the subprocess needs no model.
"""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import wince
from wince.models import CallableAdapter

PLAN = {
    "name": "cli-gov",
    "perturbations": [{"name": "tabular.gaussian_noise", "severities": [0.4, 1.0]}],
    "repeats": 2,
    "analysis": {"bootstrap": 200},
}


def wince_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "wince.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def threshold(x):
    return (x[:, 0] > 0).astype(int)


def tilted(x):
    return (x[:, 0] + 0.5 * x[:, 1] > 0).astype(int)


def data(shift=0.0):
    x = np.random.default_rng(5).normal(size=(150, 2))
    x[0, 0] += shift
    return x, (x[:, 0] > 0).astype(int)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli-gov")
    ids = {
        name: wince.run(CallableAdapter(fn, fingerprint=name), data(), PLAN, store=str(root)).id
        for name, fn in (("threshold", threshold), ("tilted", tilted))
    }
    ids["other-data"] = wince.run(
        CallableAdapter(threshold, fingerprint="threshold"), data(1e-6), PLAN, store=str(root)
    ).id
    return root, ids


def policy_file(tmp_path, body):
    path = tmp_path / "policy.yaml"
    path.write_text(body)
    return path


def assert_user_error(result, *fragments):
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in result.stderr


def test_gate_exits_0_when_every_rule_passes_and_writes_junit(store, tmp_path):
    root, ids = store
    policy = policy_file(tmp_path, "rules:\n  - {check: max_flip_rate, max: 1.0}\n")
    junit = tmp_path / "gate.xml"
    result = wince_cli(
        "gate", ids["threshold"], "--policy", policy, "--store", root, "--junit", junit, "--json"
    )
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["passed"] is True
    assert payload["n_checks"] == 2
    cases = ET.parse(junit).getroot().iter("testcase")
    assert len(list(cases)) == 2


def test_gate_exits_1_when_a_rule_fails_and_names_the_bound(store, tmp_path):
    root, ids = store
    policy = policy_file(tmp_path, "rules:\n  - {check: max_flip_rate, max: 0.0}\n")
    result = wince_cli("gate", ids["threshold"], "--policy", policy, "--store", root)
    assert result.returncode == 1, result.stderr
    assert "FAIL" in result.stdout
    assert "upper" in result.stdout
    assert "gate failed" in result.stdout


def test_an_invalid_policy_exits_2_with_the_field_path(store, tmp_path):
    root, ids = store
    policy = policy_file(tmp_path, "rules:\n  - {check: max_flip_rate, maxx: 0.1}\n")
    result = wince_cli("gate", ids["threshold"], "--policy", policy, "--store", root)
    assert_user_error(result, "PolicyError", "rules[0].maxx: unknown field", "'max'")


def test_compare_prints_json(store):
    root, ids = store
    result = wince_cli("compare", ids["threshold"], ids["tilted"], "--store", root, "--json")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["run_a"] == ids["threshold"]
    assert sum(payload["verdicts"].values()) == 3  # baseline and two noise levels


def test_compare_refuses_runs_on_different_data(store):
    root, ids = store
    result = wince_cli("compare", ids["threshold"], ids["other-data"], "--store", root)
    assert_user_error(result, "StoreError", "cannot be paired", "different data")
