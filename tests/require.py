"""What a test needs beyond the runtime dependencies: an extra, a reference, or a service.

On a developer's machine a test whose extra or service is missing skips, saying what to install.
Under CI (the `CI` environment variable set to any non-empty value; `.ci/run` sets it) it fails
instead: CI installs every extra and starts every service, so a skip there would mean the run
passed without testing what it claims.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import NoReturn

import pytest


def under_ci() -> bool:
    """Whether missing extras and services fail tests instead of skipping them."""
    return bool(os.environ.get("CI"))


def missing(reason: str) -> NoReturn:
    """Skip the test (or the whole module, at import time), or fail it under CI."""
    if under_ci():
        pytest.fail(f"CI={os.environ['CI']} must run this test, but it {reason}", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


def require_module(name: str, extra: str) -> ModuleType:
    """Import `name`, installed by wince's extra `extra`; skip or fail when it is missing.

    Example: `torch = require_module("torch", "torch")` at the top of a test module.
    """
    try:
        return importlib.import_module(name)
    except ImportError as error:
        missing(f"needs {name}: pip install -e '.[{extra}]' ({error})")


def require_service(name: str, problem: str | None) -> None:
    """Skip or fail unless `problem` (why the service `name` is unusable here) is None."""
    if problem is not None:
        missing(f"needs {name}: {problem}")


# Where `make test` installs requirements-references.lock: beside the environment, not in it.
REFERENCES = Path(sys.prefix) / "test-references"


def require_reference(name: str) -> ModuleType:
    """Import the reference implementation `name` from `REFERENCES`; skip or fail if missing.

    Example: `imagecorruptions = require_reference("imagecorruptions")`.
    """
    if str(REFERENCES) not in sys.path:
        sys.path.append(str(REFERENCES))
    try:
        return importlib.import_module(name)
    except ImportError as error:
        missing(
            f"needs {name} in {REFERENCES}: make test installs it (pip install --no-deps "
            f"--require-hashes --target {REFERENCES} -r requirements-references.lock) ({error})"
        )
