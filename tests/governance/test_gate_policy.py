"""Policy files: validation names the file, the field path and a fix."""

from __future__ import annotations

import textwrap

import pytest

from wince.governance import PolicyError, load_policy, parse_policy
from wince.governance.policy import MaxFlipRate, MinMedianBreakingPoint, NoRegression


def problems(raw):
    with pytest.raises(PolicyError) as raised:
        parse_policy(raw, source="gate.yaml")
    return raised.value.problems


def test_defaults_are_the_strict_bounds():
    policy = parse_policy(
        {
            "rules": [
                {"check": "max_flip_rate", "max": 0.05, "where": {"scenario": "image.jpeg(*)"}},
                {"check": "min_median_breaking_point", "min": 0.4},
                {"check": "no_regression", "baseline": "abc"},
            ]
        }
    )
    flips, breaking, regression = policy.rules
    assert isinstance(flips, MaxFlipRate)
    assert flips.bound == "upper"
    assert flips.where.scenario == ["image.jpeg(*)"]  # one pattern becomes a list
    assert isinstance(breaking, MinMedianBreakingPoint)
    assert breaking.bound == "lower"
    assert isinstance(regression, NoRegression)
    assert regression.margin is None
    assert next(r.label(i) for i, r in enumerate(policy.rules)) == "rules[0] max_flip_rate"


def test_unknown_fields_get_a_did_you_mean_hint_with_their_path():
    found = problems(
        {
            "rules": [
                {"check": "max_flip_rate", "max": 0.1, "bounds": "upper"},
                {"check": "max_flip_rate", "max": 0.1, "where": {"scenarios": "x*"}},
            ]
        }
    )
    assert "gate.yaml rules[0].bounds: unknown field — did you mean 'bound'?" in found
    assert "gate.yaml rules[1].where.scenarios: unknown field — did you mean 'scenario'?" in found


def test_an_unknown_check_names_the_closest_one():
    (problem,) = problems({"rules": [{"check": "max_fliprate", "max": 0.1}]})
    assert (
        problem
        == "gate.yaml rules[0].check: unknown check 'max_fliprate'; did you mean 'max_flip_rate'?"
    )
    (missing,) = problems({"rules": [{"max": 0.1}]})
    assert "rules[0]: a rule needs `check:`" in missing


def test_out_of_range_values_and_bad_bounds_are_reported_together():
    found = problems(
        {
            "rules": [
                {"check": "max_flip_rate", "max": 1.5},
                {"check": "max_accuracy_drop", "max": 0.1, "bound": "middle"},
                {"check": "max_fragile", "max": -1},
            ]
        }
    )
    assert len(found) == 3
    assert found[0].startswith("gate.yaml rules[0].max: Input should be less than or equal to 1")
    assert found[1].startswith("gate.yaml rules[1].bound: Input should be 'upper' or 'lower'")
    assert found[2].startswith("gate.yaml rules[2].max: Input should be greater than or equal to 0")


def test_semantic_problems_say_how_to_fix_them():
    found = problems(
        {
            "rules": [
                {"check": "min_median_breaking_point"},
                {"check": "min_median_breaking_point", "min": 0.2, "where": {"scenario": "x"}},
                {
                    "check": "max_flip_rate",
                    "max": 0.1,
                    "where": {"min_severity": 0.8, "max_severity": 0.2},
                },
                {"check": "max_fragile", "max": 0, "metric": "flip"},
                {"name": "same", "check": "max_fragile", "max": 0},
                {"name": "same", "check": "max_fragile", "max": 1},
            ]
        }
    )
    assert any("rules[0]: give exactly one of min" in p for p in found)
    assert any("rules[1].where: breaking points are per perturbation" in p for p in found)
    assert any("rules[2].where: min_severity 0.8 is above max_severity 0.2" in p for p in found)
    assert any(
        "rules[3].metric: unknown metric 'flip'; did you mean 'flip_rate'?" in p for p in found
    )
    assert any("the name 'same' is used twice" in p for p in found)


def test_yaml_files_load_with_their_stem_as_default_name(tmp_path):
    path = tmp_path / "release.yaml"
    path.write_text("rules:\n  - {check: max_flip_rate, max: 0.05}\n")
    assert load_policy(path).name == "release"
    broken = tmp_path / "broken.yaml"
    broken.write_text(textwrap.dedent("rules:\n  - {check: max_flip_rate, max: 0.05\n"))
    with pytest.raises(PolicyError, match=r"broken.yaml line \d+, column \d+: YAML syntax error"):
        load_policy(broken)
    with pytest.raises(PolicyError, match="cannot read the policy file"):
        load_policy(tmp_path / "missing.yaml")
    with pytest.raises(PolicyError, match="a policy is a mapping with `rules:`"):
        parse_policy(["not", "a", "mapping"])
