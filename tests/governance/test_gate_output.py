"""Gate and compare output: JUnit XML structure, JSON, tables and Markdown, exit codes."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import xmlschema
from governance_support import SHIFT_A, SHIFT_B, key
from rich.console import Console

from wince.errors import PolicyError, StoreError
from wince.governance import evaluate_gate
from wince.governance.commands import compare_command, gate_command

JUNIT_SCHEMA = xmlschema.XMLSchema(str(Path(__file__).with_name("junit.xsd")))

POLICY = """\
name: release
rules:
  - name: flips
    check: max_flip_rate
    max: 0.2
    where: {kind: isolation}
  - name: drop
    check: max_accuracy_drop
    max: 0.5
    where: {perturbation: "tabular.test_gov_*"}
"""


def console():
    return Console(file=io.StringIO(), width=250, color_system=None)


def text(c):
    return c.file.getvalue()


def test_junit_has_one_testcase_per_rule_and_scenario_with_consistent_counts(runs, tmp_path):
    store, a, _ = runs
    result = evaluate_gate(store, a, {"name": "release", "rules": _rules()})
    path = result.write_junit(tmp_path / "out" / "gate.xml")
    JUNIT_SCHEMA.validate(str(path))  # raises with the offending element and reason
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["flips", "drop"]
    total = failures = 0
    for suite in suites:
        cases = suite.findall("testcase")
        failed = [c for c in cases if c.find("failure") is not None]
        assert int(suite.get("tests")) == len(cases)
        assert int(suite.get("failures")) == len(failed)
        assert suite.get("errors") == "0"
        for case in cases:
            assert case.get("classname")
            assert case.get("name")
        for case in failed:
            assert case.find("failure").get("message")
        total += len(cases)
        failures += len(failed)
    assert (int(root.get("tests")), int(root.get("failures"))) == (total, failures)
    # flips: four isolation scenarios, only shift by 0.6 (30% flips) exceeds 0.2
    flips = {c.get("name"): c.find("failure") for c in suites[0].findall("testcase")}
    assert set(flips) == {
        key(SHIFT_A, 0.2),
        key(SHIFT_A, 0.6),
        key(SHIFT_B, 0.2),
        key(SHIFT_B, 0.6),
    }
    failed = flips[key(SHIFT_A, 0.6)]
    assert failed is not None
    assert "upper bound" in failed.get("message")
    assert flips[key(SHIFT_B, 0.6)] is None
    assert failures == 1
    assert total == 4 + 6


def _rules():
    import yaml

    return yaml.safe_load(POLICY)["rules"]


def test_gate_command_prints_the_bound_and_returns_1_on_failure(runs, tmp_path):
    store, a, _ = runs
    policy = tmp_path / "release.yaml"
    policy.write_text(POLICY)
    out = console()
    code = gate_command(
        a,
        policy=policy,
        store=str(store.root),
        junit=tmp_path / "j.xml",
        json_output=False,
        console=out,
    )
    assert code == 1
    printed = text(out)
    assert "gate failed" in printed
    assert "1 of 10 checks failed" in printed
    assert "upper" in printed
    assert "FAIL" in printed
    assert (tmp_path / "j.xml").exists()
    passing = tmp_path / "loose.yaml"
    passing.write_text(POLICY.replace("max: 0.2", "max: 0.6"))
    out = console()
    code = gate_command(
        a, policy=passing, store=str(store.root), junit=None, json_output=True, console=out
    )
    assert code == 0
    payload = json.loads(text(out))
    assert payload["passed"] is True
    assert payload["n_checks"] == 10
    assert {c["bound"] for c in payload["checks"]} == {"upper"}


def test_the_terminal_numbers_each_failed_check_and_prints_its_reason(runs, tmp_path):
    store, a, b = runs
    policy = tmp_path / "regression.yaml"
    policy.write_text(
        "rules:\n"
        "  - {name: flips, check: max_flip_rate, max: 0.2, where: {kind: isolation}}\n"
        f"  - name: no regression\n    check: no_regression\n    baseline: {a}\n"
        f"    margin: 0.05\n    where: {{scenario: '{key(SHIFT_B, 0.2)}'}}\n"
    )
    out = console()
    code = gate_command(
        b, policy=policy, store=str(store.root), junit=None, json_output=False, console=out
    )
    assert code == 1
    lines = text(out).splitlines()
    rows = {line.split("│")[1].strip(): line for line in lines if "FAIL" in line}
    assert "FAIL (1)" in rows["flips"]
    # accuracy is non-inferior (the compared bound is below the margin), the flip rate
    # is worse by more than its margin: the row shows the relation that holds
    assert "FAIL (2)" in rows["no regression"]
    assert "< 0.05" in rows["no regression"]
    assert ">= 0.05" not in text(out)
    reasons = [line for line in lines if line.startswith("(")]
    assert len(reasons) == 2
    assert reasons[0].startswith(f"(1) flips · {key(SHIFT_B, 0.6)}: flip rate 0.3000, 95% ")
    assert reasons[1].startswith(
        f"(2) no regression · {key(SHIFT_B, 0.2)}: flip_rate worse than baseline run {a} "
        "by at least its margin 0.01: run - baseline +0.1000"
    )


def test_gate_command_with_an_invalid_policy_raises_a_policy_error(runs, tmp_path):
    store, a, _ = runs
    policy = tmp_path / "bad.yaml"
    policy.write_text("rules:\n  - {check: max_flip_rate, maxx: 0.2}\n")
    with pytest.raises(PolicyError, match=r"bad.yaml rules\[0\].maxx: unknown field"):
        gate_command(
            a,
            policy=policy,
            store=str(store.root),
            junit=None,
            json_output=False,
            console=console(),
        )


def test_compare_command_prints_table_markdown_and_json(runs):
    store, a, b = runs
    common = {"store": str(store.root), "margin": 0.01, "intersection": False}
    out = console()
    assert compare_command(a, b, json_output=False, markdown=False, console=out, **common) == 0
    printed = text(out)
    assert "better" in printed
    assert "worse" in printed
    assert "no difference" in printed
    assert "verdicts follow flip_rate and accuracy" in printed
    assert "accuracy 0.01, flip_rate 0.01, confidence_change 0.02" in printed
    out = console()
    compare_command(a, b, json_output=False, markdown=True, console=out, **common)
    markdown = text(out)
    assert markdown.startswith("## Comparison")
    assert f"| `{key(SHIFT_B, 0.6)}` |" in markdown
    assert "**worse**" in markdown
    out = console()
    compare_command(a[:6], b[:6], json_output=True, markdown=False, console=out, **common)
    payload = json.loads(text(out))
    assert payload["run_a"] == a
    assert payload["verdicts"]["worse"] == 2
    assert payload["non_inferior"] is False
    assert payload["decisive"] == ["flip_rate", "accuracy"]
    assert payload["margins"] == {"accuracy": 0.01, "flip_rate": 0.01, "confidence_change": 0.02}


def test_compare_command_refuses_unpaired_runs(runs, tmp_path, shifts):
    from governance_support import PLAN, model_a, run

    store, a, _ = runs
    other = run(store, model_a, "model-a", plan={**PLAN, "seed": 3})
    with pytest.raises(StoreError, match="different seeds"):
        compare_command(
            a,
            other.id,
            store=str(store.root),
            margin=0.01,
            intersection=True,
            json_output=False,
            markdown=False,
            console=console(),
        )


def test_the_junit_schema_rejects_a_testcase_without_classname(tmp_path):
    broken = tmp_path / "broken.xml"
    broken.write_text(
        '<testsuites><testsuite name="r" tests="1"><testcase name="x"/></testsuite></testsuites>'
    )
    assert not JUNIT_SCHEMA.is_valid(str(broken))
