"""The store on SQLite (default) and on PostgreSQL (started by .ci/run)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from store_support import empty_postgres

import wince
from wince.models import CallableAdapter
from wince.store import Store

PLAN = {
    "name": "catalog-test",
    "perturbations": [{"name": "tabular.gaussian_noise", "severities": [0.5, 1.0]}],
    "repeats": 2,
    "batch_size": 32,
}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request, tmp_path):
    if request.param == "sqlite":
        opened = Store(root=tmp_path / "sqlite")
    else:
        opened = Store(
            empty_postgres(), root=tmp_path / "pg", segments=tmp_path / "pg" / "segments"
        )
    yield opened
    opened.close()


def model(x):
    return np.stack([x[:, 0], -x[:, 0]], axis=1)


def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(100, 3))
    return x, (x[:, 0] < 0).astype(int)


@pytest.mark.slow
def test_a_run_stores_the_same_outcomes_on_every_catalog(store, tmp_path):
    reference = wince.run(
        CallableAdapter(model, fingerprint="m"), data(), PLAN, store=str(tmp_path / "ref")
    )
    run = wince.run(CallableAdapter(model, fingerprint="m"), data(), PLAN, store=store)
    assert run.id == reference.id
    pd.testing.assert_frame_equal(run.outcomes(), reference.outcomes())
    record = store.run(run.id)
    assert record["status"] == "complete"
    assert record["lineage"]["perturbation_versions"] == {"tabular.gaussian_noise": 1}
    assert store.completed_units(run.id) == [(0, 32), (32, 64), (64, 96), (96, 100)]
    assert store.resolve(run.id[:5]) == run.id


@pytest.mark.slow
def test_analysis_payloads_are_strict_json(store):
    run = wince.run(CallableAdapter(model, fingerprint="m"), data(), PLAN, store=store)
    payload = {"a": [1.0, math.nan, math.inf], "b": np.float32(0.5), "c": np.arange(2)}
    store.save_analysis(run.id, "test", payload)
    assert store.load_analysis(run.id, "test") == {"a": [1.0, None, None], "b": 0.5, "c": [0, 1]}
    profile = run.analyze(regions=False)
    stored = store.load_analysis(run.id, "verdicts")
    assert stored["scenarios"]["verdict"] == profile.verdicts.scenarios["verdict"].tolist()
