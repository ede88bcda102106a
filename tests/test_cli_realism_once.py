"""A value beyond a perturbation's realistic range warns once per process, in one wording."""

from __future__ import annotations

import warnings

import pytest
from typer.testing import CliRunner

import wince.errors
from wince import perturbations
from wince.cli import app
from wince.errors import RealismWarning

ROTATED = """\
name: rotated
model: {factory: "wince.demo.models:digits_classifier"}
data: {factory: "wince.demo.models:digits_data", limit: 60}
perturbations:
  - {name: image.rotation, values: [5, 30]}
repeats: 1
"""
ROTATION_TAIL = (
    "degrees lies beyond the realistic range of 0.5 to 15 degrees (angle_deg); reports flag "
    "every finding at this value. Keep the value to test an extreme on purpose, or choose one "
    "inside the range."
)


@pytest.fixture(autouse=True)
def fresh_registry(monkeypatch):
    """Another test may have warned of the same value first."""
    monkeypatch.setattr(wince.errors, "_already_warned", set())


def _realism(caught: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in caught if issubclass(w.category, RealismWarning)]


def test_a_value_beyond_the_range_warns_once_through_load_run_and_report(tmp_path):
    plan = tmp_path / "rotated.yaml"
    plan.write_text(ROTATED)
    store = tmp_path / "store"
    runner = CliRunner()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ran = runner.invoke(app, ["run", str(plan), "--store", str(store)])
        assert ran.exit_code == 0, ran.output
        reported = runner.invoke(
            app, ["report", "latest", "--store", str(store), "--out", str(tmp_path / "r.html")]
        )
        assert reported.exit_code == 0, reported.output
    assert _realism(caught) == [f"{plan} perturbation image.rotation: 30 {ROTATION_TAIL}"]


def test_applying_a_value_beyond_the_range_warns_in_the_same_wording_once():
    rotation = perturbations.create("image.rotation", {})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rotation.validate(30.0)
        rotation.validate(30.0)
        rotation.validate(20.0)
        rotation.validate(10.0)  # inside the range: no warning
    assert _realism(caught) == [
        f"image.rotation: 30 {ROTATION_TAIL}",
        f"image.rotation: 20 {ROTATION_TAIL}",
    ]
