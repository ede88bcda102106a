from __future__ import annotations

import textwrap

import pytest

from wince.engine.scenarios import expand, trials
from wince.errors import PlanError
from wince.plan import load_plan, parse_plan, resolve_sweep


def write(tmp_path, text):
    path = tmp_path / "plan.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def problems_of(raw):
    with pytest.raises(PlanError) as info:
        parse_plan(raw, source="p.yaml")
    return info.value.problems


def test_unknown_perturbation_names_field_and_suggests_registered_name():
    (problem,) = problems_of({"name": "x", "perturbations": [{"name": "jpg"}]})
    assert problem.startswith("p.yaml perturbations[0]:")
    assert "unknown perturbation 'jpg'" in problem
    assert "image.jpeg" in problem


def test_every_problem_is_listed_with_its_field_path():
    problems = problems_of(
        {
            "name": "x",
            "perturbations": [
                {"name": "image.jpeg", "values": [150]},
                {"name": "text.typos", "severities": [1.5]},
            ],
            "metrics": ["flip_rat"],
        }
    )
    assert len(problems) == 3
    assert "perturbations[0]" in problems[0]
    assert "jpeg_quality" in problems[0]
    assert "[1, 100]" in problems[0]
    assert "150" in problems[0]
    assert "perturbations[1]" in problems[1]
    assert "severity" in problems[1]
    assert "did you mean 'flip_rate'" in problems[2]


def test_unknown_field_suggests_the_close_field():
    (problem,) = problems_of(
        {"name": "x", "perturbations": [{"name": "image.jpeg", "severites": [0.2]}]}
    )
    assert "perturbations[0].severites" in problem
    assert "did you mean 'severities'" in problem


def test_yaml_syntax_error_reports_the_line(tmp_path):
    path = write(
        tmp_path,
        """\
        name: x
        perturbations:
          - {name: image.jpeg, levels: [1, 2}
        """,
    )
    with pytest.raises(PlanError) as info:
        load_plan(path)
    assert "line 3" in str(info.value)
    assert str(path) in str(info.value)


def test_model_section_needs_exactly_one_source():
    (problem,) = problems_of(
        {
            "name": "x",
            "model": {"factory": "a:b", "pickle": "m.joblib"},
            "perturbations": [{"name": "image.jpeg"}],
        }
    )
    assert problem.startswith("p.yaml model:")
    assert "exactly one" in problem


def test_relative_paths_resolve_against_the_plan_folder(tmp_path):
    path = write(
        tmp_path,
        """\
        name: x
        model: {pickle: models/m.joblib}
        data: {csv: data.csv, label: y}
        perturbations: [{name: tabular.gaussian_noise}]
        """,
    )
    plan = load_plan(path)
    assert plan.model.pickle == str(tmp_path / "models" / "m.joblib")
    assert plan.data.csv == str(tmp_path / "data.csv")


def test_levels_severities_and_values_resolve_to_physical_units():
    plan = parse_plan(
        {
            "name": "x",
            "perturbations": [
                {"name": "image.exposure", "levels": [5]},
                {"name": "image.jpeg", "values": 70},
                {"name": "text.typos", "severities": [0.5]},
            ],
        }
    )
    exposure, jpeg, typos = (resolve_sweep(p) for p in plan.perturbations)
    assert exposure[0].value == -3.0
    assert exposure[0].severity == 1.0
    # jpeg: off 100, severe 20 on a linear scale -> quality 70 is severity 30/80
    assert jpeg[0].value == 70
    assert jpeg[0].severity == pytest.approx(30 / 80)
    assert typos[0].value == pytest.approx(0.05)


def test_expansion_gives_baseline_isolation_and_matched_pairs():
    plan = parse_plan(
        {
            "name": "x",
            "perturbations": [
                {"name": "image.exposure", "severities": [0.0, 0.5, 1.0]},
                {"name": "image.gaussian_noise", "severities": [0.0, 0.5, 1.0]},
            ],
            "combinations": "pairwise",
            "repeats": 4,
        }
    )
    scenarios = expand(plan)
    kinds = [s.kind for s in scenarios]
    # severity 0 is the baseline: not repeated as isolation nor as an all-off combination
    assert kinds == ["baseline", "identity"] + ["isolation"] * 4 + ["combination"] * 2
    pair = scenarios[-1]
    assert [s.name for s in pair.steps] == ["image.exposure", "image.gaussian_noise"]
    assert pair.severities == (1.0, 1.0)
    counts = {}
    for trial in trials(scenarios, plan.repeats):
        counts[trial.scenario.key] = counts.get(trial.scenario.key, 0) + 1
    # deterministic exposure: one trial; anything with noise: one per repeat
    assert counts["baseline"] == 1
    assert counts["identity"] == 4
    assert counts["image.exposure(exposure_ev=-1.5)"] == 1
    assert counts["image.gaussian_noise(noise_sd_pct=4)"] == 4
    assert counts[pair.key] == 4


def test_explicit_combination_must_name_plan_perturbations():
    (problem,) = problems_of(
        {
            "name": "x",
            "perturbations": [{"name": "image.jpeg"}],
            "combinations": [["image.jpeg", "image.exposure"]],
        }
    )
    assert "combinations[0]" in problem
    assert "image.exposure" in problem


def test_global_sensitivity_distributions_are_validated_at_load():
    problems = problems_of(
        {
            "name": "x",
            "perturbations": [{"name": "image.jpeg"}],
            "analysis": {
                "global_sensitivity": {
                    "distributions": {
                        "image.jpeg": {"kind": "normal", "mean": 50},
                        "image.exposure": {"low": -1, "high": 0},
                    }
                }
            },
        }
    )
    assert len(problems) == 2
    assert "distributions.image.jpeg" in problems[0]
    assert "sd" in problems[0]
    assert "distributions.image.exposure" in problems[1]
    assert "not a perturbation of the plan" in problems[1]


def test_factorial_combinations_cover_every_pair_of_sweep_points():
    plan = parse_plan(
        {
            "name": "x",
            "perturbations": [
                {"name": "image.exposure", "severities": [0.5, 1.0]},
                {"name": "image.jpeg", "severities": [0.25, 0.5, 1.0]},
            ],
            "combinations": "factorial",
        }
    )
    combos = [s for s in expand(plan) if s.kind == "combination"]
    assert sorted(s.severities for s in combos) == sorted(
        (a, b) for a in (0.5, 1.0) for b in (0.25, 0.5, 1.0)
    )


def test_a_plan_built_in_python_takes_numpy_numbers_but_never_booleans():
    # plan sections are strict (repeats: true is refused), which refused np.int64 too
    import numpy as np

    plan = parse_plan(
        {
            "name": "np",
            "perturbations": [{"name": "image.jpeg", "levels": list(np.arange(1, 4))}],
            "seed": np.int64(3),
            "repeats": np.int32(2),
        }
    )
    assert (plan.seed, plan.repeats, plan.perturbations[0].levels) == (3, 2, [1, 2, 3])
    assert type(plan.seed) is int
    with pytest.raises(PlanError, match="a number is expected, not true"):
        parse_plan({"name": "b", "perturbations": [{"name": "image.jpeg"}], "repeats": True})
    with pytest.raises(PlanError, match="repeats"):
        parse_plan(
            {"name": "b", "perturbations": [{"name": "image.jpeg"}], "repeats": np.bool_(True)}
        )


def test_load_plan_lists_schema_name_range_and_file_problems_together(tmp_path):
    path = write(
        tmp_path,
        """\
        name: x
        repeats: many
        model: {pickle: model.pkl}
        perturbations:
          - {name: jpg}
          - {name: text.typos, severities: [1.5]}
        """,
    )
    with pytest.raises(PlanError) as info:
        load_plan(path, check_files=True)
    fields = [problem.split(" ")[1].rstrip(":") for problem in info.value.problems]
    assert fields == ["repeats", "perturbations[0]", "perturbations[1]", "model.pickle"]
    with pytest.raises(PlanError) as without_files:
        load_plan(path)
    assert len(without_files.value.problems) == 3
