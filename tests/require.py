"""What a test needs beyond the runtime dependencies: an extra, a reference, or a service.

On a developer's machine a test whose extra or service is missing skips, saying what to install.
Under CI (the `CI` environment variable set to any non-empty value; `.ci/run` sets it) it fails
instead: CI installs every extra and starts every service, so a skip there would mean the run
passed without testing what it claims.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, NoReturn

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
    """`name`, installed by wince's extra `extra`, imported on first use; skip or fail if missing.

    Example: `torch = require_module("torch", "torch")` at the top of a test module. Whether the
    module is installed is checked here (its top-level package, so nothing is imported); it is
    imported when the test first reads one of its attributes, so collecting the tests (`pytest
    --collect-only`) never pays for importing torch, transformers or onnxruntime.
    """
    package = name.partition(".")[0]
    if importlib.util.find_spec(package) is None:
        missing(f"needs {name}: pip install -e '.[{extra}]' (No module named {package!r})")
    return _ImportedOnFirstUse(name, extra)


class _ImportedOnFirstUse(ModuleType):
    """Stands for the module `name` and imports it when one of its public attributes is read.

    A private name (`_x`, `__x__`) read before the import raises AttributeError instead of
    importing: pytest reads such names from every object of a test module while it collects
    (`_mock_name`, `__test__`), and answering them must not import torch.
    """

    def __init__(self, name: str, extra: str) -> None:
        super().__init__(name)
        self._extra = extra

    def __getattr__(self, attribute: str) -> Any:
        # only called for what the stand-in lacks: everything but its name and extra
        if attribute.startswith("_") and self.__name__ not in sys.modules:
            raise AttributeError(
                f"{self.__name__} is not imported yet, and reading its private attribute "
                f"{attribute!r} does not import it; read a public attribute first"
            )
        try:
            module = importlib.import_module(self.__name__)
        except ImportError as error:  # installed, but broken: skip or fail as when it is absent
            missing(f"needs {self.__name__}: pip install -e '.[{self._extra}]' ({error})")
        return getattr(module, attribute)


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
