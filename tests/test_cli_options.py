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
    assert [problem.split(":")[0] for problem in report["problems"]] == [
        "model.pickle",
        "data.csv",
    ]
    assert str(tmp_path / "model.pkl") in report["problems"][0]
    printed = wince("plan", "validate", plan)
    assert printed.returncode == 2
    assert "2 problem(s)" in printed.stderr
    assert "data.csv" in printed.stderr
    assert "valid" not in printed.stdout


def test_an_unknown_modality_is_an_error_with_a_suggestion():
    result = wince("perturbations", "--modality", "imag")
    assert result.returncode == 2
    assert "did you mean 'image'?" in result.stderr
    assert "Traceback" not in result.stderr
