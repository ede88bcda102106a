"""Wrapping transforms of a library that is not installed: the error says what to install."""

from __future__ import annotations

import re
import sys
from typing import Any

import pytest

from wince.perturbations.interop import from_albumentations, from_torchvision


@pytest.mark.parametrize(
    ("factory", "module", "fix"),
    [
        (from_albumentations, "albumentations", "pip install albumentations"),
        (from_torchvision, "torch", "pip install 'wince[torch]'"),
    ],
)
def test_a_missing_library_says_what_to_install(
    factory: Any, module: str, fix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` fail
    with pytest.raises(ImportError, match=re.escape(fix)):
        factory(object())
