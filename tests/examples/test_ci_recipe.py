"""examples/ci: the CI recipe's plan runs at reduced size and its policy gates the run."""

from __future__ import annotations

import io
import json
from pathlib import Path

import yaml
from rich.console import Console

from wince.governance.commands import gate_command
from wince.governance.lock import run_locked

CI = Path(__file__).resolve().parents[2] / "examples" / "ci"


def test_the_recipe_plan_runs_small_and_every_policy_rule_gets_a_verdict(tmp_path):
    plan = yaml.safe_load((CI / "plan.yaml").read_text())
    plan["data"]["limit"] = 60
    plan["repeats"] = 1
    plan["analysis"]["bootstrap"] = 200
    for entry in plan["perturbations"]:
        entry["levels"] = [1, 3]
    small = tmp_path / "plan.yaml"
    small.write_text(yaml.safe_dump(plan))
    store = str(tmp_path / "store")
    run = run_locked(small, store=store)
    console = Console(file=io.StringIO(), width=200)
    junit = tmp_path / "gate.xml"
    code = gate_command(
        run.id, policy=CI / "policy.yaml", store=store, junit=junit, json_output=True,
        console=console,
    )  # fmt: skip
    assert code in (0, 1), console.file.getvalue()  # pass or fail; 2 would be a broken policy
    verdict = json.loads(console.file.getvalue())
    policy = yaml.safe_load((CI / "policy.yaml").read_text())
    assert {c["rule"] for c in verdict["checks"]} == {r["name"] for r in policy["rules"]}
    assert verdict["passed"] == (code == 0)
    assert junit.read_text().count("<testcase") == verdict["n_checks"]
