"""The ONNX adapter's parts that need no ONNX Runtime: ZipMap rows, and the missing-extra error."""

from __future__ import annotations

import sys

import pytest

from wince.errors import ModelError
from wince.models.onnx import OnnxAdapter, zipmap_to_probabilities


def test_zipmap_rows_naming_different_classes_raise_model_error():
    assert zipmap_to_probabilities([{0: 0.25, 1: 0.75}]).tolist() == [[0.25, 0.75]]
    with pytest.raises(ModelError, match="zipmap"):
        zipmap_to_probabilities([{0: 0.5, 1: 0.5}, {0: 0.5, 2: 0.5}])


def test_missing_onnxruntime_names_the_extra_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(ModelError, match=r"ONNX models need: pip install 'wince\[onnx\]'"):
        OnnxAdapter.from_path("model.onnx", task="classification")
