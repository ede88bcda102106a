"""Global sensitivity progress counts samples (design points x samples); the API draws nothing."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys

import numpy as np
import pytest

import wince
from wince.analysis.global_sensitivity import Factor, morris, sobol
from wince.errors import PrecisionWarning

FACTORS = [Factor("a", 0.0, 1.0), Factor("b", 0.0, 1.0)]


def unchanged(points):
    """An output no factor moves: every index is 0, exactly, and no precision warning."""
    return np.zeros(len(points))


def test_sobol_bar_counts_samples_per_design_point(capfd):
    sobol(unchanged, FACTORS, n_base=4, n_boot=20, progress=True, samples_per_point=10)
    # n_base 4 with second order: 4 * (2 * 2 + 2) = 24 design points of 10 samples each
    assert "240/240 samples" in capfd.readouterr().err


def test_sobol_bar_counts_design_points_without_samples(capfd):
    sobol(unchanged, FACTORS, n_base=4, n_boot=20, progress=True)
    assert "24/24 points" in capfd.readouterr().err


def test_morris_bar_counts_samples_per_design_point(capfd):
    morris(unchanged, FACTORS, trajectories=3, n_boot=20, progress=True, samples_per_point=10)
    # 3 trajectories of 2 + 1 points, 10 samples each
    assert "90/90 samples" in capfd.readouterr().err


PLAN = """\
name: global-progress
model: {factory: "wince.demo.models:digits_classifier"}
data: {factory: "wince.demo.models:digits_data", limit: 40}
perturbations:
  - {name: image.exposure, levels: [1, 3]}
  - {name: image.gaussian_noise, levels: [1, 3]}
repeats: 1
analysis:
  bootstrap: 100
  global_sensitivity: {n_base: 4, samples: 20}
"""
# n_base 4, two perturbations, second order: 4 * (2 * 2 + 2) = 24 points of 20 samples
GLOBAL_SAMPLES = "480/480 samples"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    folder = tmp_path_factory.mktemp("global-progress")
    plan = folder / "plan.yaml"
    plan.write_text(PLAN)
    ran = subprocess.run(
        [sys.executable, "-m", "wince", "run", str(plan), "--store", str(folder / "store")],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=300,
    )
    assert ran.returncode == 0, ran.stderr
    return folder / "store"


@pytest.mark.slow
def test_analyze_global_on_a_terminal_shows_a_bar_counting_samples(store):
    main, terminal = pty.openpty()  # standard error is a terminal: the CLI draws its bars
    env = {**os.environ, "COLUMNS": "120", "TERM": "xterm"}
    command = [sys.executable, "-m", "wince", "analyze", "latest", "--global", "--store", store]
    with subprocess.Popen(
        [str(part) for part in command],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=terminal,
        env=env,
    ) as process:
        os.close(terminal)
        drawn = b""
        while True:
            try:
                chunk = os.read(main, 4096)
            except OSError:  # the process closed the terminal
                break
            if not chunk:
                break
            drawn += chunk
        assert process.wait(timeout=300) == 0, drawn.decode(errors="replace")
    os.close(main)
    shown = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", drawn.decode(errors="replace"))  # colours
    assert "Sobol' n_base 4" in shown
    assert GLOBAL_SAMPLES in shown


@pytest.mark.slow
def test_the_python_api_draws_no_bar_unless_asked(store, capfd):
    run = wince.open(store)
    with pytest.warns(PrecisionWarning):  # n_base 4 is far from the default precision
        profile = run.analyze(global_sensitivity=True)
    outcomes = run.outcomes()
    assert profile.global_sensitivity.design_points == 24
    assert len(outcomes) > 0
    assert capfd.readouterr().err == ""
    with run.store.connect() as conn:  # DuckDB draws its own bar on reads past 2 s otherwise
        setting = conn.execute("SELECT current_setting('enable_progress_bar')").fetchone()
    assert setting == (False,)


@pytest.mark.slow
def test_the_python_api_draws_the_bar_when_asked(store, capfd):
    run = wince.open(store)
    with pytest.warns(PrecisionWarning):
        run.analyze(global_sensitivity=True, progress=True)
    assert GLOBAL_SAMPLES in capfd.readouterr().err
