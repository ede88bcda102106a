"""`verify`: re-executed outcomes are bit-identical, and a tampered segment is caught."""

from __future__ import annotations

import shutil

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from rich.console import Console

import wince
import wince.demo.models
from wince.datasets import ArrayDataset
from wince.errors import DataError, ParameterError, PlanError
from wince.governance.reproduce_commands import verify_command
from wince.governance.verify import compare_outcomes, verify_run
from wince.models import CallableAdapter
from wince.store import catalog
from wince.store.store import Store

PLAN = {
    "name": "verify-digits",
    "model": {"factory": "wince.demo.models:digits_classifier"},
    "data": {"factory": "wince.demo.models:digits_data", "limit": 60},
    "perturbations": [
        {"name": "image.gaussian_noise", "levels": [2, 5]},
        {"name": "image.exposure", "levels": [4]},
    ],
    "repeats": 2,
    "batch_size": 25,
}


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """A folder holding a closed store with one digits run (3 units), and the run id."""
    root = tmp_path_factory.mktemp("verify-store")
    store = Store(root=root)
    run_id = wince.run(plan=PLAN, store=store).id
    store.close()
    return root, run_id


def copy_of(stored, tmp_path):
    root, run_id = stored
    shutil.copytree(root, tmp_path / "store")
    return Store(root=tmp_path / "store"), run_id


def verify(store, run_id, **options):
    console = Console(record=True, width=240)
    code = verify_command(
        run_id, store=str(store.root), json_output=False, console=console, **options
    )
    return code, console.export_text()


def test_verify_passes_on_an_untouched_run(stored, tmp_path):
    store, run_id = copy_of(stored, tmp_path)
    result = verify_run(store, run_id, fraction=1.0)
    assert result.passed
    assert result.units == [(0, 25), (25, 50), (50, 60)]
    assert result.rows == len(store.outcomes(run_id))  # fraction 1: every outcome
    code, text = verify(store, run_id, fraction=0.1, seed=3)
    assert code == 0, text
    assert "verified" in text


def test_sample_is_seeded_and_always_holds_the_baseline(stored, tmp_path):
    store, run_id = copy_of(stored, tmp_path)
    first = verify_run(store, run_id, fraction=0.3, seed=1)
    again = verify_run(store, run_id, fraction=0.3, seed=1)
    assert (first.units, first.trials) == (again.units, again.trials)
    assert first.trials[0] == ("baseline", 0)
    assert len(first.units) == 1
    assert first.passed


def test_verify_fails_when_a_stored_segment_is_tampered_with(stored, tmp_path):
    store, run_id = copy_of(stored, tmp_path)
    segment = store.segment_paths(run_id)[1]  # samples 25..49
    table = pq.read_table(segment)
    scenarios = table.column("scenario").to_pylist()
    row = next(i for i, s in enumerate(scenarios) if s.startswith("image.exposure")) + 3
    pred = table.column("pred").to_numpy().copy()
    pred[row] = (pred[row] + 1) % 10
    index = table.schema.get_field_index("pred")
    table = table.set_column(index, "pred", pa.array(pred, table.schema.field("pred").type))
    pq.write_table(table, segment)
    code, text = verify(store, run_id, fraction=1.0)
    assert code == 1, text
    assert "samples 25-49" in " ".join(text.split())  # its checksum differs
    assert "checksum" in text
    # As if the segment had been written so (a model answering differently on re-execution):
    # the checksum matches, and re-executing finds the differing value.
    with store.engine.begin() as conn:
        conn.execute(
            sa.update(catalog.units)
            .where(catalog.units.c.run_id == run_id)
            .where(catalog.units.c.start == 25)
            .values(checksum=store.segments.checksum(store.segment_names(run_id)[1]))
        )
    code, text = verify(store, run_id, fraction=1.0)
    assert code == 1, text
    assert "verify failed: outcomes differ" in text
    assert "environment differs" not in text
    assert scenarios[row] in text
    result = verify_run(store, run_id, fraction=1.0)
    assert set(result.mismatches["column"]) == {"pred"}
    (mismatch,) = result.mismatches.itertuples()
    assert (mismatch.scenario, mismatch.sample_index) == (scenarios[row], 25 + row % 25)


def test_missing_rows_are_mismatches():
    frame = {
        "scenario": ["baseline", "baseline"],
        "position": [0, 0],
        "trial": [0, 0],
        "sample_index": [0, 1],
        "pred": np.array([1, 2]),
    }
    import pandas as pd

    full = pd.DataFrame(frame)
    found = compare_outcomes(full, full.iloc[:1])
    assert found[["sample_index", "column"]].values.tolist() == [[1, "<row>"]]
    assert compare_outcomes(full, full).empty


def test_verify_refuses_when_the_data_changed(stored, tmp_path, monkeypatch):
    store, run_id = copy_of(stored, tmp_path)
    x = np.zeros((60, 8, 8, 1), dtype=np.uint8)
    changed = ArrayDataset(x, np.zeros(60, dtype=int), modality="image")
    monkeypatch.setattr(wince.demo.models, "digits_data", lambda: changed)
    with pytest.raises(DataError, match="fingerprint"):
        verify_run(store, run_id)


def test_verify_refuses_plans_without_model_or_bad_fraction(tmp_path):
    x = np.linspace(-1, 1, 30)[:, None]
    run = wince.run(
        CallableAdapter(lambda b: (b[:, 0] > 0).astype(int), fingerprint="t"),
        (x, (x[:, 0] > 0).astype(int)),
        {"name": "no-model", "perturbations": [{"name": "tabular.gaussian_noise"}]},
        store=str(tmp_path),
    )
    with pytest.raises(PlanError, match="no model section"):
        verify_run(run.store, run.id)
    with pytest.raises(ParameterError, match="fraction"):
        verify_run(run.store, run.id, fraction=0)


def test_verify_reports_a_changed_environment_apart_from_the_outcomes(
    stored, tmp_path, monkeypatch
):
    from wince.engine import environment

    store, run_id = copy_of(stored, tmp_path)
    recorded = store.run(run_id)["lineage"]["environment"]
    opencv = recorded["opencv-python-headless"]
    installed = environment.installed_version
    monkeypatch.setattr(
        environment,
        "installed_version",
        lambda name: "5.1.0" if name == "opencv-python-headless" else installed(name),
    )
    result = verify_run(store, run_id, fraction=0.1)
    assert result.environment_changes == [f"opencv-python-headless {opencv} → 5.1.0"]
    assert result.passed  # the outcomes themselves still reproduce
    code, text = verify(store, run_id, fraction=0.1)
    assert code == 0, text
    assert f"environment differs: opencv-python-headless {opencv} → 5.1.0" in text
    assert "verified" in text
    assert "outcomes differ" not in text


def test_verify_reproduces_a_run_with_scenarios_refused_on_some_units(tmp_path):
    plan = {
        "name": "verify-refused",
        "model": {"factory": "governance_support:nan_refusing_model"},
        "data": {"factory": "governance_support:small_table"},
        "perturbations": [
            {"name": "tabular.gaussian_noise", "levels": [2]},
            {"name": "tabular.missing_values", "values": [0.03]},
        ],
        "batch_size": 4,
    }
    store = Store(root=tmp_path)
    run = wince.run(plan=plan, store=store)
    refused = store.rejections(run.id)
    assert refused["scenario"].tolist() == ["tabular.missing_values(missing_rate=0.03)"]
    assert 0 < refused["units"].iloc[0] < 10  # some units held no missing cell
    result = verify_run(store, run.id, fraction=1.0)
    assert result.passed, result.mismatches
    assert result.rows == len(store.outcomes(run.id, rejected=True)) > len(run.outcomes())
