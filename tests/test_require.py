"""Under CI a missing extra or service fails its tests; elsewhere it skips them.

Each case runs pytest in a subprocess on a small test module that needs a module which does not
exist (at import time and inside a test) and a service that is missing.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).parent

NEEDS_NOTHING_THAT_EXISTS = """
from require import require_module, require_service

def test_inside_a_test():
    require_module("a_module_that_does_not_exist", "x")

def test_a_missing_service():
    require_service("a service", "it is not running here")

def test_needs_nothing():
    assert require_module("json", "x").loads("1") == 1
"""

AT_IMPORT = """
from require import require_module

absent = require_module("a_module_that_does_not_exist", "x")

def test_never_runs():
    pass
"""


def outcomes(tmp_path: Path, ci: str | None) -> tuple[int, str]:
    (tmp_path / "test_needs.py").write_text(NEEDS_NOTHING_THAT_EXISTS)
    (tmp_path / "test_at_import.py").write_text(AT_IMPORT)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS), env.get("PYTHONPATH")]))
    # a module that fails at import stops collection; carry on to see every other outcome too
    command = [sys.executable, "-m", "pytest", "-rfEs", "-p", "no:cacheprovider"]
    command += ["--continue-on-collection-errors", str(tmp_path)]
    done = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    summary = done.stdout.strip().splitlines()[-1]
    return done.returncode, summary + "\n" + done.stdout


@pytest.mark.parametrize("ci", ["true", "1", "yes"])
def test_under_ci_a_missing_module_or_service_fails(tmp_path, ci):
    code, output = outcomes(tmp_path, ci)
    summary = output.splitlines()[0]
    assert code != 0
    assert re.search(r"\b2 failed\b", summary), output
    assert re.search(r"\b1 passed\b", summary), output
    assert re.search(r"\b1 error\b", summary), output  # the module that needs it at import
    assert "skipped" not in summary, output
    assert f"CI={ci} must run this test, but it needs a_module_that_does_not_exist" in output


@pytest.mark.parametrize("ci", [None, ""])
def test_elsewhere_a_missing_module_or_service_skips_saying_why(tmp_path, ci):
    code, output = outcomes(tmp_path, ci)
    summary = output.splitlines()[0]
    assert code == 0, output
    assert re.search(r"\b3 skipped\b", summary), output
    assert re.search(r"\b1 passed\b", summary), output
    assert "needs a_module_that_does_not_exist: pip install -e '.[x]'" in output
    assert "needs a service: it is not running here" in output


def test_a_missing_reference_names_the_file_that_installs_it():
    from require import REFERENCES, require_reference

    with pytest.raises(
        (pytest.skip.Exception, pytest.fail.Exception), match=r"requirements-references\.lock"
    ):
        require_reference("a_reference_that_does_not_exist")
    assert str(REFERENCES) in sys.path


def test_a_required_module_is_imported_when_a_public_attribute_is_first_read(monkeypatch):
    from require import require_module

    monkeypatch.delitem(sys.modules, "colorsys", raising=False)  # restored afterwards
    colorsys = require_module("colorsys", "x")
    assert "colorsys" not in sys.modules  # collecting a test module imports nothing
    with pytest.raises(AttributeError, match="'_mock_name' does not import it"):
        colorsys._mock_name  # noqa: B018 - what pytest reads while it collects
    assert "colorsys" not in sys.modules
    assert colorsys.rgb_to_hsv(1.0, 0.0, 0.0) == (0.0, 1.0, 1.0)
    assert "colorsys" in sys.modules
    assert colorsys.__name__ == "colorsys"
