"""A plan's `imports` make perturbations of the user's own nameable in every command."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

PERTURBATION_MODULE = '''
from wince.perturbations import Magnitude, register
from wince.perturbations.tabular import TabularPerturbation


@register
class ReadingOffset(TabularPerturbation):
    """A constant offset on every reading, in column standard deviations."""

    name = "tabular.trial_reading_offset"
    version = 1
    stochastic = False
    magnitude = Magnitude(
        "offset_sd", unit="column standard deviations", off=0.0, mild=0.1, severe=1.0,
        limits=(0.0, 10.0),
    )

    def apply(self, x, value, rngs, context):
        """Shift every cell by `value` column standard deviations."""
        return (x + value * context.column_sd).astype(x.dtype)
'''

PLAN = """\
name: own-perturbation
imports: [trial_perturbations]
model: {factory: "wince.demo.models:breast_cancer_classifier"}
data: {factory: "wince.demo.models:breast_cancer_data", limit: 40}
perturbations:
  - {name: tabular.trial_reading_offset, levels: [1, 5]}
repeats: 1
"""


def wince(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "wince.cli", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


@pytest.mark.slow
def test_validate_run_analyze_and_report_know_a_perturbation_a_plan_imports(tmp_path):
    (tmp_path / "trial_perturbations.py").write_text(textwrap.dedent(PERTURBATION_MODULE))
    (tmp_path / "plan.yaml").write_text(PLAN)
    assert wince("plan", "validate", "plan.yaml", cwd=tmp_path).returncode == 0
    ran = wince("run", "plan.yaml", "--store", "s", "--json", cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    run_id = json.loads(ran.stdout)["run_id"]
    # later commands read the stored plan, which imports the module again
    analyzed = wince("analyze", run_id, "--store", "s", cwd=tmp_path)
    assert analyzed.returncode == 0, analyzed.stderr
    reported = wince("report", run_id, "--store", "s", "--out", "r.html", cwd=tmp_path)
    assert reported.returncode == 0, reported.stderr
    assert "tabular.trial_reading_offset" in (tmp_path / "r.html").read_text(encoding="utf-8")


@pytest.mark.slow
def test_a_module_that_does_not_import_is_named_with_its_position(tmp_path):
    (tmp_path / "plan.yaml").write_text(PLAN.replace("trial_perturbations", "no_such_module"))
    result = wince("plan", "validate", "plan.yaml", cwd=tmp_path)
    assert result.returncode == 2
    assert "imports[0]: cannot import module 'no_such_module'" in result.stderr
    assert "Traceback" not in result.stderr
