"""`requirements.lock` pins every dependency pyproject.toml declares, inside its range.

`make demo`, `make test` and CI install the lock, so a dependency missing from it, or pinned
outside the range pyproject.toml states, would be installed untested (or not at all).
"""

from __future__ import annotations

import re
import tomllib
from collections import Counter
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).parents[1]
LOCK = ROOT / "requirements.lock"
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s;#]+)")  # as tests/contract/golden_outputs.py reads it


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared() -> list[Requirement]:
    """Runtime dependencies and every extra's, as pyproject.toml states them."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        lines.extend(extra)
    return [Requirement(line) for line in lines]


def pins(text: str) -> list[tuple[str, str]]:
    """Every `name==version` line of a lock, in order; anything else but comments is an error."""
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        match = PIN.match(line)
        assert match is not None, f"requirements.lock:{number}: not a name==version line: {line!r}"
        found.append((match[1], match[2]))
    return found


def unmet(requirements: list[Requirement], locked: list[tuple[str, str]]) -> list[str]:
    """The declared requirements the lock leaves out or pins outside their range."""
    versions = {normalise(name): version for name, version in locked}
    problems = []
    for requirement in requirements:
        version = versions.get(normalise(requirement.name))
        if version is None:
            problems.append(f"{requirement} is not in requirements.lock")
        elif not requirement.specifier.contains(version, prereleases=True):
            problems.append(f"{requirement}: requirements.lock pins {version}")
        problems.extend(  # psycopg[binary] brings psycopg-binary
            f"{requirement}: {requirement.name}-{extra} is not locked"
            for extra in sorted(requirement.extras)
            if normalise(f"{requirement.name}-{extra}") not in versions
        )
    return problems


@pytest.fixture(scope="module")
def locked() -> list[tuple[str, str]]:
    return pins(LOCK.read_text())


def test_every_declared_dependency_is_pinned_inside_its_range(locked):
    assert unmet(declared(), locked) == [], "run `make lock` (and commit requirements.lock)"


def test_the_lock_lists_each_distribution_once_and_not_wince(locked):
    names = [normalise(name) for name, _ in locked]
    assert "wince" not in names
    assert [name for name, count in Counter(names).items() if count > 1] == []
    assert names == sorted(names), "requirements.lock is sorted by name: regenerate it"


def test_the_lock_says_how_it_was_generated():
    assert "make lock" in LOCK.read_text().split("\n\n")[0].split("==")[0]


def test_torch_is_pinned_to_the_version_whose_cpu_build_is_tested(locked):
    assert dict((normalise(n), v) for n, v in locked)["torch"] == "2.13.0"


@pytest.mark.parametrize(
    ("requirement", "lock", "problem"),
    [
        ("numpy>=1.26,<3", "scipy==1.17.1\n", "numpy<3,>=1.26 is not in requirements.lock"),
        ("numpy>=1.26,<3", "numpy==3.0.0\n", "numpy<3,>=1.26: requirements.lock pins 3.0.0"),
        ("torch==2.13.0", "torch==2.12.0\n", "torch==2.13.0: requirements.lock pins 2.12.0"),
        ("psycopg[binary]>=3.1", "psycopg==3.3.9\n", "psycopg-binary is not locked"),
    ],
)
def test_a_missing_or_out_of_range_pin_is_reported(requirement, lock, problem):
    problems = unmet([Requirement(requirement)], pins(lock))
    assert len(problems) == 1
    assert problem in problems[0]


def test_a_local_build_satisfies_its_public_version():
    assert unmet([Requirement("torch==2.13.0")], pins("torch==2.13.0+cpu\n")) == []


def test_lines_that_are_not_pins_are_refused():
    with pytest.raises(AssertionError, match="not a name==version line"):
        pins("numpy>=2\n")
