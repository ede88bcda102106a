"""Choosing an executor by name, without Ray installed or started."""

from __future__ import annotations

import sys

import pytest

from wince.engine.executors import make_executor
from wince.errors import ParameterError


def test_missing_ray_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    with pytest.raises(ParameterError, match=r"pip install 'wince\[ray\]'"):
        make_executor("ray")


def test_ray_options_are_refused_for_other_executors():
    with pytest.raises(ParameterError, match="apply to --executor ray"):
        make_executor("process", ray_address="auto")
