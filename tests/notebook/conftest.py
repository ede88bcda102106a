"""A small stored run and its profile, shared by the notebook tests (one run per session)."""

from __future__ import annotations

import numpy as np
import pytest
from notebook_support import PLAN_NAME, NotebookRun, threshold_model

import wince
from wince.datasets import ArrayDataset
from wince.models import CallableAdapter


@pytest.fixture(scope="session")
def notebook_run(tmp_path_factory: pytest.TempPathFactory) -> NotebookRun:
    x = np.random.default_rng(0).normal(size=(120, 3))
    data = ArrayDataset(x, threshold_model(x))
    model = CallableAdapter(threshold_model, fingerprint="threshold")
    plan = {
        "name": PLAN_NAME,
        "perturbations": [
            {"name": "tabular.gaussian_noise", "severities": [0.5, 1.0]},
            {"name": "tabular.sensor_gain", "severities": [0.5, 1.0]},
        ],
        "combinations": "pairwise",
        "repeats": 1,
    }
    folder = tmp_path_factory.mktemp("notebook") / "store"
    run = wince.run(model, data, plan, store=str(folder))
    profile = run.analyze(regions=False)
    return NotebookRun(folder, run, profile, data, model)
