"""Gradient analysis of a model that is not a PyTorch module: refused, naming what it needs."""

from __future__ import annotations

import numpy as np
import pytest

from wince.analysis.gradients import input_gradients
from wince.datasets import ArrayDataset
from wince.engine.probe import Probe
from wince.errors import ModelError
from wince.models import CallableAdapter


def tabular_data(n=40, d=3):
    x = np.random.default_rng(2).normal(size=(n, d))
    return ArrayDataset(x, np.zeros(n))


def test_gradients_need_a_torch_model():
    probe = Probe(CallableAdapter(lambda x: x[:, 0], task="regression"), tabular_data(), seed=0)
    with pytest.raises(ModelError, match="PyTorch"):
        input_gradients(probe)
