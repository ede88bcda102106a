"""`wince repair`: damaged units dropped (set aside, never deleted) and recomputed; a deleted or
emptied catalog noticed and rebuilt from the segments alone, identical to the original."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from store_support import empty_postgres, tabular_data
from typer.testing import CliRunner

import wince
from wince.cli import app
from wince.store import Store, catalog, open_store
from wince.store.repair import rebuild_catalog

PLAN = """\
name: repairable
model: {factory: "wince.demo.models:digits_classifier"}
data: {factory: "wince.demo.models:digits_data", limit: 40}
perturbations:
  - {name: image.jpeg, levels: [5]}
repeats: 1
batch_size: 10
"""
TABLES = ("runs", "scenarios", "units", "rejections")


def wince_cli(*args: object) -> tuple[int, str]:
    result = CliRunner().invoke(app, [str(a) for a in args])
    escaped = result.exception if not isinstance(result.exception, SystemExit) else None
    assert escaped is None, f"wince {args} raised {escaped!r}"
    return result.exit_code, " ".join(result.output.split())


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, pd.DataFrame, str]:
    """A clean run of 4 units: (folder, run id, its outcomes, `wince show --json`)."""
    folder = tmp_path_factory.mktemp("clean")
    (folder / "plan.yaml").write_text(PLAN)
    code, output = wince_cli("run", folder / "plan.yaml", "--store", folder / "store")
    assert code == 0, output
    store = open_store(folder / "store")
    run_id = store.resolve("latest")
    outcomes = store.outcomes(run_id)
    store.close()
    code, shown = wince_cli("show", run_id, "--json", "--store", folder / "store")
    assert code == 0, shown
    return folder, run_id, outcomes, shown


def copy_of(clean: tuple[Path, str, pd.DataFrame, str], tmp_path: Path) -> tuple[Path, list[Path]]:
    """A copy of the clean store: (store folder, the run's 4 segments by sample index)."""
    folder, run_id, _, _ = clean
    shutil.copytree(folder, tmp_path, dirs_exist_ok=True)
    segments = sorted((tmp_path / "store" / "segments" / run_id).glob("*.parquet"))
    assert len(segments) == 4
    return tmp_path / "store", segments


def truncate(segment: Path) -> None:
    segment.write_bytes(segment.read_bytes()[: segment.stat().st_size // 2])


def flip_data_bit(segment: Path) -> None:
    content = bytearray(segment.read_bytes())
    content[len(content) // 2] ^= 0x10  # inside the data: only the checksum tells
    segment.write_bytes(bytes(content))


def delete(segment: Path) -> None:
    segment.unlink()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("damage", "problem"),
    [(truncate, "not a readable parquet file"), (flip_data_bit, "checksum"), (delete, "missing")],
)
def test_repair_drops_a_damaged_unit_keeps_its_file_and_recomputes_it(
    clean, tmp_path, damage, problem
):
    _, run_id, outcomes, _ = clean
    store, segments = copy_of(clean, tmp_path)
    damage(segments[1])
    damaged = segments[1].read_bytes() if segments[1].exists() else None

    code, said = wince_cli("repair", "--store", store)
    assert code == 1, said  # dropped, not recomputed: damage remains
    assert f"run {run_id}: 1 of 4 units damaged (samples 10-19: " in said
    assert problem in said.lower()
    assert f"wince repair {run_id} --recompute" in said
    aside = segments[1].with_name(segments[1].name + ".damaged")
    assert not segments[1].exists()
    assert (aside.read_bytes() if aside.exists() else None) == damaged  # kept as it was
    opened = open_store(store)
    assert opened.completed_units(run_id) == [(0, 10), (20, 30), (30, 40)]
    assert opened.run(run_id)["status"] == "running"
    opened.close()
    code, said = wince_cli("repair", run_id[:6], "--store", store)
    assert code == 1, said  # still not recomputed
    assert "1 unit(s) dropped as damaged are not recomputed yet (samples 10-19)" in said

    code, said = wince_cli("repair", "latest", "--recompute", "--store", store)
    assert code == 0, said
    assert f"run {run_id}: recomputed 1 units" in said
    repaired = open_store(store)
    pd.testing.assert_frame_equal(repaired.outcomes(run_id), outcomes)
    assert repaired.run(run_id)["status"] == "complete"
    assert repaired.damaged_units(run_id, full=True) == []
    repaired.close()
    code, said = wince_cli("repair", "--store", store)
    assert (code, said) == (0, f"run {run_id}: all 4 units sound")


@pytest.mark.slow
def test_wince_run_says_how_many_damaged_units_it_recomputed(clean, tmp_path):
    _, run_id, outcomes, _ = clean
    store, segments = copy_of(clean, tmp_path)
    truncate(segments[0])
    delete(segments[3])
    code, said = wince_cli("run", tmp_path / "plan.yaml", "--store", store)
    assert code == 0, said
    assert "recomputed 2 damaged units" in said
    assert segments[0].with_name(segments[0].name + ".damaged").exists()
    repaired = open_store(store)
    pd.testing.assert_frame_equal(repaired.outcomes(run_id), outcomes)
    repaired.close()
    code, said = wince_cli("run", tmp_path / "plan.yaml", "--store", store)
    assert code == 0, said
    assert "reused" in said
    assert "recomputed" not in said


@pytest.mark.slow
def test_a_deleted_catalog_is_named_by_runs_show_and_verify(clean, tmp_path):
    _, run_id, _, _ = clean
    store, _ = copy_of(clean, tmp_path)
    for file in store.glob("wince.db*"):
        file.unlink()
    for command, expected in (["runs"], 1), (["show", "latest"], 2), (["verify", run_id], 2):
        code, said = wince_cli(*command, "--store", store)
        assert code == expected, (command, said)
        assert f"holds the outcomes of 1 run(s) that the catalog at sqlite:///{store}" in said
        assert f"({run_id})" in said
        assert "wince repair --rebuild-catalog" in said
        assert "Start with `wince run`" not in said  # the runs are there: no misleading fix


@pytest.mark.slow
def test_a_rebuilt_catalog_shows_the_run_as_the_original(clean, tmp_path):
    _, run_id, _, shown = clean
    store, _ = copy_of(clean, tmp_path)
    original = open_store(store)
    rows = catalog_rows(original)
    original.close()
    for file in store.glob("wince.db*"):
        file.unlink()

    code, said = wince_cli("repair", "--rebuild-catalog", "--store", store)
    assert code == 0, said
    assert (
        said == f"run {run_id}: rebuilt from its segments (4 units) run {run_id}: all 4 units sound"
    )
    rebuilt = open_store(store)
    assert catalog_rows(rebuilt) == rows
    rebuilt.close()
    assert wince_cli("show", "latest", "--json", "--store", store) == (0, shown)
    assert wince_cli("verify", "latest", "--fraction", "1", "--store", store)[0] == 0
    code, said = wince_cli("repair", "--rebuild-catalog", "--store", store)
    assert (code, said) == (0, f"run {run_id}: all 4 units sound")  # nothing left to rebuild


@pytest.mark.slow
def test_a_rebuild_sets_lost_segments_aside_and_run_recomputes_them(clean, tmp_path):
    _, run_id, outcomes, shown = clean
    store, segments = copy_of(clean, tmp_path)
    for file in store.glob("wince.db*"):
        file.unlink()
    truncate(segments[1])
    delete(segments[2])

    code, said = wince_cli("repair", "--rebuild-catalog", "--store", store)
    assert code == 1, said
    assert f"run {run_id}: rebuilt from its segments (2 units)" in said
    assert f"run {run_id}: 1 of 3 units damaged (samples 10-19: it is not a readable" in said
    assert "(samples 10-19, 20-29)" in said  # dropped and not recomputed: set aside, missing
    assert segments[1].with_name(segments[1].name + ".damaged").exists()
    opened = open_store(store)
    assert opened.run(run_id)["status"] == "running"  # so that `wince run` does not reuse it
    assert opened.dropped_ranges(run_id) == [(10, 20), (20, 30)]
    opened.close()

    code, said = wince_cli("run", tmp_path / "plan.yaml", "--store", store)
    assert code == 0, said
    assert "recomputed 2 damaged units" in said
    repaired = open_store(store)
    pd.testing.assert_frame_equal(repaired.outcomes(run_id), outcomes)
    repaired.close()
    assert wince_cli("show", "latest", "--json", "--store", store) == (0, shown)


def test_a_run_folder_without_its_record_is_named_not_rebuilt(tmp_path):
    (tmp_path / "store" / "segments" / "0123456789ab").mkdir(parents=True)
    code, said = wince_cli("repair", "--rebuild-catalog", "--store", tmp_path / "store")
    assert code == 1, said
    assert "run 0123456789ab: not rebuilt: its folder has no run.json" in said
    code, said = wince_cli("repair", "--store", tmp_path / "store")
    assert code == 1, said
    assert "wince repair --rebuild-catalog" in said


def refusing_model(x: np.ndarray) -> np.ndarray:
    """`linear_model` that refuses missing values, as many estimators do."""
    if np.isnan(x).any():
        raise ValueError("Input X contains NaN.")
    return np.stack([x[:, 0], -x[:, 0]], axis=1)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def catalog_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgresql":
        return empty_postgres()
    return f"sqlite:///{tmp_path / 'team.db'}"


@pytest.mark.slow
def test_an_emptied_catalog_is_rebuilt_with_its_refusals_on_every_catalog(catalog_url, tmp_path):
    plan = {
        "name": "refusals",
        "perturbations": [
            {"name": "tabular.gaussian_noise", "severities": [0.5]},
            {"name": "tabular.missing_values", "severities": [0.5]},
        ],
        "batch_size": 32,
    }
    store = open_store(catalog_url, segments=tmp_path / "segments")
    run = wince.run(refusing_model, tabular_data(), plan, store=store)
    assert list(run.rejected) == ["tabular.missing_values(missing_rate=0.15)"]
    rows = catalog_rows(store)
    summary = run.summary()
    with store.engine.begin() as conn:  # emptied: the tables are there, their rows are not
        for table in ("rejections", "units", "scenarios", "runs"):
            conn.execute(sa.delete(catalog.metadata.tables[table]))
    assert store.orphan_runs() == [run.id]

    (rebuilt,) = rebuild_catalog(store)
    assert (rebuilt.run_id, rebuilt.units, rebuilt.set_aside, rebuilt.problem) == (
        run.id,
        4,
        [],
        None,
    )
    assert catalog_rows(store) == rows
    assert store.orphan_runs() == []
    pd.testing.assert_frame_equal(wince.Run(store, run.id).summary(), summary)
    store.close()


def catalog_rows(store: Store) -> dict[str, list[dict[str, Any]]]:
    """Every row of the tables a rebuild restores, in primary-key order."""
    found = {}
    with store.engine.connect() as conn:
        for name in TABLES:
            table = catalog.metadata.tables[name]
            query = sa.select(table).order_by(*table.primary_key.columns)
            found[name] = [json.loads(json.dumps(dict(r._mapping))) for r in conn.execute(query)]
    return found


@pytest.mark.slow
def test_repair_rewrites_a_damaged_run_record_so_a_lost_catalog_can_still_be_rebuilt(
    clean, tmp_path
):
    store, _ = copy_of(clean, tmp_path)
    run_id, shown = clean[1], clean[3]
    record = store / "segments" / run_id / "run.json"
    original = json.loads(record.read_text())
    record.write_text("")
    code, said = wince_cli("repair", run_id, "--store", store)
    assert code == 0, said
    assert f"run {run_id}: its run.json does not read" in said
    assert "rewritten from the catalog" in said
    assert json.loads(record.read_text()) == original
    (store / "wince.db").unlink()  # the catalog is lost: the rewritten record rebuilds it
    code, said = wince_cli("repair", "--rebuild-catalog", "--store", store)
    assert code == 0, said
    assert wince_cli("show", run_id, "--json", "--store", store) == (0, shown)
