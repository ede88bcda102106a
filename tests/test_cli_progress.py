"""`wince report` and `wince calibrate` count their steps on standard error only when asked."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

import wince
from wince.realism.calibrate_commands import EXIT_OK, calibrate_command
from wince.report.commands import report_command


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    folder = tmp_path_factory.mktemp("progress")
    x = np.random.default_rng(0).normal(size=(40, 3))
    wince.run(
        lambda batch: (batch[:, 0] > 0).astype(int),
        (x, (x[:, 0] > 0).astype(int)),
        {"name": "progress", "perturbations": [{"name": "tabular.gaussian_noise"}]},
        store=folder,
    )
    return folder


def quiet() -> Console:
    return Console(file=io.StringIO())


@pytest.mark.parametrize("figures", [False, True])
def test_report_counts_its_steps_when_asked(store, tmp_path, capfd, figures):
    report_command(
        "latest",
        store=str(store),
        out=tmp_path / "report.md",
        fmt="markdown",
        figures=tmp_path / "figures" if figures else None,
        console=quiet(),
        progress=True,
    )
    drawn = capfd.readouterr().err
    if figures:
        assert "report: writing figures" in drawn
        assert "3/3 steps" in drawn
    else:
        assert "report: rendering markdown" in drawn
        assert "2/2 steps" in drawn


def test_report_draws_nothing_unless_asked(store, tmp_path, capfd):
    report_command(
        "latest",
        store=str(store),
        out=tmp_path / "report.md",
        fmt="markdown",
        figures=None,
        console=quiet(),
    )
    assert (tmp_path / "report.md").read_text().strip()
    assert capfd.readouterr().err == ""


@pytest.fixture
def tables(tmp_path):
    rng = np.random.default_rng(0)
    reference = pd.DataFrame(rng.normal(size=(300, 2)), columns=["a", "b"])
    production = reference.assign(a=reference["a"] + 0.5 * reference["a"].std())
    paths = tmp_path / "reference.csv", tmp_path / "production.csv"
    reference.to_csv(paths[0], index=False)
    production.to_csv(paths[1], index=False)
    return paths


def test_calibrate_counts_reading_both_data_sets_and_measuring_them(tables, tmp_path, capfd):
    reference, production = tables
    code = calibrate_command(
        reference, production, tmp_path / "plan.yaml", console=quiet(), progress=True
    )
    assert code == EXIT_OK
    drawn = capfd.readouterr().err
    assert "calibrate: measuring 600 samples" in drawn
    assert "3/3 steps" in drawn


def test_calibrate_draws_nothing_unless_asked(tables, tmp_path, capfd):
    reference, production = tables
    assert calibrate_command(reference, production, tmp_path / "plan.yaml", console=quiet()) == 0
    assert capfd.readouterr().err == ""
