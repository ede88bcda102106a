"""The PyTorch adapter where torch is not installed: the error names the extra to install."""

from __future__ import annotations

import sys

import pytest

from wince.errors import ModelError
from wince.models.torch import TorchAdapter


def test_missing_torch_names_the_extra_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(ModelError, match=r"PyTorch models need: pip install 'wince\[torch\]'"):
        TorchAdapter(object())
