"""The hardening example runs offline at reduced size and its retrained model is better."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import sys
from pathlib import Path
from types import ModuleType

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "harden_digits.py"


def load_example() -> ModuleType:
    """examples/ is not a package: import the script from its path."""
    spec = importlib.util.spec_from_file_location("harden_digits", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while defining
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def example() -> ModuleType:
    return load_example()


@pytest.fixture(scope="module")
def run_quick(example: ModuleType, tmp_path_factory: pytest.TempPathFactory):
    """`main(quick=True)` in a fresh store, with what it printed."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        result = example.main(quick=True, store=tmp_path_factory.mktemp("harden"))
    return result, printed.getvalue()


@pytest.fixture(scope="module")
def hardening(run_quick):
    return run_quick[0]


@pytest.mark.slow
def test_targeted_perturbation_is_the_reports_top_risk_and_gets_better(hardening):
    assert hardening.target.startswith("image.")
    assert hardening.scenario.startswith(hardening.target + "(")
    assert hardening.verdict == "better"
    table = hardening.comparison.scenarios.set_index("scenario")
    row = table.loc[hardening.scenario]
    assert row["accuracy_b"] > row["accuracy_a"]
    assert "flip_rate" in row["better_on"]


def test_clean_accuracy_is_not_significantly_worse(hardening):
    assert hardening.clean_verdict != "worse"
    tests = hardening.comparison.tests
    clean = tests[(tests["scenario"] == "baseline") & (tests["metric"] == "accuracy")].iloc[0]
    assert not (clean["significant"] and clean["direction"] == "worse")
    assert hardening.ok


def test_augmentation_stays_within_the_measured_breaking_magnitude(hardening):
    from wince.perturbations import get

    magnitude = get(hardening.target).magnitude
    assert hardening.up_to is not None
    assert 0 < magnitude.severity_of(hardening.up_to) <= 1


def test_the_example_says_what_it_did_in_plain_words(run_quick):
    result, printed = run_quick
    for step in ("1. Trained", "2. Analysed", "3. Top risk", "4. Retrained", "6. Compared"):
        assert step in printed
    assert 'wince.augment(["' + result.target in printed
    assert f"wince compare {result.run_a} {result.run_b}" in printed
    assert "Hardening worked" in printed


def test_command_line_takes_store_quick_and_samples(example):
    arguments = example._arguments(["--quick", "--store", "runs", "--samples", "150"])
    assert (arguments.quick, arguments.store, arguments.samples) == (True, "runs", 150)
    assert not example._arguments([]).quick
