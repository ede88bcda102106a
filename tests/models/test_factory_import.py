"""A factory module beside the plan is found when `wince` runs in that folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

FACTORIES = """
import numpy as np


def model():
    return lambda batch: (batch[:, 0] > 0).astype(int)


def data():
    x = np.random.default_rng(0).normal(size=(40, 2))
    return x, (x[:, 0] > 0).astype(int)
"""

PLAN = """
name: beside
model: {factory: "myfactories:model"}
data: {factory: "myfactories:data"}
perturbations:
  - {name: tabular.gaussian_noise, severities: [0.5]}
"""


@pytest.mark.slow
def test_the_wince_command_imports_factories_from_its_working_directory(tmp_path):
    (tmp_path / "myfactories.py").write_text(FACTORIES)
    (tmp_path / "plan.yaml").write_text(PLAN)
    script = Path(sys.executable).with_name("wince")  # the console script, not `python -m`
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    ran = subprocess.run(
        [str(script), "run", "plan.yaml", "--store", "store"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ran.returncode == 0, ran.stderr
    assert "cannot import module" not in ran.stderr
    missing = subprocess.run(
        [str(script), "run", str(tmp_path / "plan.yaml"), "--store", str(tmp_path / "s2")],
        cwd=tmp_path.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert missing.returncode == 2
    assert "cannot import module 'myfactories'" in missing.stderr
    assert "Run wince from the folder that holds it" in missing.stderr
