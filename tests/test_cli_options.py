"""Global options, `plan validate --json` and its file checks, unknown modalities (issue #21)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap


def wince(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "wince", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


def test_store_before_the_command_is_the_commands_default(tmp_path):
    listed = wince("--store", "team", "runs", "--json", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == []
    assert (tmp_path / "team").is_dir()
    assert not (tmp_path / ".wince").exists()
    overridden = wince("--store", "team", "runs", "--store", "own", "--json", cwd=tmp_path)
    assert overridden.returncode == 0, overridden.stderr
    assert (tmp_path / "own").is_dir()


def test_plan_validate_json_counts_the_scenarios_of_a_valid_plan(tmp_path):
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        textwrap.dedent(
            """\
            name: valid
            model: {factory: "wince.demo.models:digits_classifier"}
            data: {factory: "wince.demo.models:digits_data"}
            perturbations:
              - {name: image.jpeg, levels: [1, 5]}
              - {name: image.exposure, values: [-0.5, 0.5]}
            """
        )
    )
    result = wince("plan", "validate", plan, "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["valid"] is True
    assert report["problems"] == []
    assert report["perturbations"] == 2
    assert report["scenarios"] == 6  # baseline, identity and four isolation scenarios


def test_plan_validate_reports_every_missing_model_and_data_file(tmp_path):
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        textwrap.dedent(
            """\
            name: missing-files
            model: {pickle: model.pkl}
            data: {csv: data/table.csv, label: y}
            perturbations:
              - {name: tabular.gaussian_noise, values: [0.1]}
            """
        )
    )
    result = wince("plan", "validate", plan, "--json")
    assert result.returncode == 2
    report = json.loads(result.stdout)
    assert report["valid"] is False
    assert [problem.split(" ")[1].rstrip(":") for problem in report["problems"]] == [
        "model.pickle",
        "data.csv",
    ]
    assert str(tmp_path / "model.pkl") in report["problems"][0]
    printed = wince("plan", "validate", plan)
    assert printed.returncode == 2
    assert "2 problem(s)" in printed.stderr
    assert "data.csv" in printed.stderr
    assert "valid" not in printed.stdout


def test_plan_validate_lists_a_schema_error_a_name_a_range_and_a_file_in_one_pass(tmp_path):
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        textwrap.dedent(
            """\
            name: four-problems
            repeats: many
            data: {npz: nowhere.npz}
            perturbations:
              - {name: image.gausian_noise, severities: [0.5]}
              - {name: image.gaussian_noise, severities: [1.5]}
            """
        )
    )
    result = wince("plan", "validate", plan, "--json")
    assert result.returncode == 2
    problems = json.loads(result.stdout)["problems"]
    assert [problem.split(" ")[1].rstrip(":") for problem in problems] == [
        "repeats",
        "perturbations[0]",
        "perturbations[1]",
        "data.npz",
    ]
    assert "unknown perturbation 'image.gausian_noise'" in problems[1]
    assert "got 1.5" in problems[2]
    printed = wince("plan", "validate", plan)
    assert "4 problem(s)" in printed.stderr


def test_plan_validate_json_carries_the_realism_warnings(tmp_path):
    plan = tmp_path / "plan.yaml"
    plan.write_text("name: extreme\nperturbations:\n  - {name: image.jpeg, values: [3, 50]}\n")
    result = wince("plan", "validate", plan, "--json")
    assert result.returncode == 0, result.stderr
    (warning,) = json.loads(result.stdout)["warnings"]
    assert warning["category"] == "RealismWarning"
    assert "image.jpeg: 3 libjpeg quality lies beyond the realistic range" in warning["message"]


def test_an_unknown_modality_is_an_error_with_a_suggestion():
    result = wince("perturbations", "--modality", "imag")
    assert result.returncode == 2
    assert "did you mean 'image'?" in result.stderr
    assert "Traceback" not in result.stderr
