"""The team store: segments on fsspec locations, schema upgrades, concurrent writers."""

from __future__ import annotations

import multiprocessing
import uuid

import fsspec
import pandas as pd
import pyarrow as pa
import pytest
import sqlalchemy as sa
from store_support import analyze_in_process, empty_postgres, linear_model, plan, tabular_data

import wince
from wince.errors import StoreError
from wince.models import CallableAdapter
from wince.store import Store, catalog, open_store


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def catalog_url(request, tmp_path):
    """An empty catalog: a new SQLite file, or the PostgreSQL test database emptied."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'catalog.db'}"
    return empty_postgres()


# Version 1 of the catalog, as wince created it before schema upgrades existed.
V1_TABLES = (
    "CREATE TABLE schema_version (version INTEGER NOT NULL PRIMARY KEY)",
    "CREATE TABLE runs (run_id VARCHAR(32) NOT NULL PRIMARY KEY, name VARCHAR(200) NOT NULL, "
    "status VARCHAR(16) NOT NULL, created_at VARCHAR(40) NOT NULL, finished_at VARCHAR(40), "
    "plan_digest VARCHAR(32) NOT NULL, model_fingerprint VARCHAR(64) NOT NULL, "
    "data_fingerprint VARCHAR(64) NOT NULL, task VARCHAR(16) NOT NULL, "
    "n_samples INTEGER NOT NULL, lineage JSON NOT NULL, error TEXT)",
    "CREATE TABLE scenarios (run_id VARCHAR(32) NOT NULL REFERENCES runs (run_id), "
    "position INTEGER NOT NULL, scenario TEXT NOT NULL, kind VARCHAR(16) NOT NULL, "
    "steps JSON NOT NULL, severity FLOAT NOT NULL, trials INTEGER NOT NULL, "
    "PRIMARY KEY (run_id, position))",
    "CREATE TABLE units (run_id VARCHAR(32) NOT NULL REFERENCES runs (run_id), "
    "start INTEGER NOT NULL, stop INTEGER NOT NULL, segment TEXT NOT NULL, "
    "rows INTEGER NOT NULL, seconds FLOAT NOT NULL, created_at VARCHAR(40) NOT NULL, "
    "PRIMARY KEY (run_id, start))",
    "CREATE TABLE analyses (run_id VARCHAR(32) NOT NULL REFERENCES runs (run_id), "
    "name VARCHAR(64) NOT NULL, created_at VARCHAR(40) NOT NULL, payload JSON NOT NULL, "
    "PRIMARY KEY (run_id, name))",
)
V1_COLUMNS = {
    "runs": [c.name for c in catalog.runs.columns],
    "scenarios": [c.name for c in catalog.scenarios.columns],
    "units": ["run_id", "start", "stop", "segment", "rows", "seconds", "created_at"],
    "analyses": [c.name for c in catalog.analyses.columns],
}


def model():
    return CallableAdapter(linear_model, fingerprint="m")


def reference(tmp_path, name="team", **options):
    """The same plan run into a private folder store: the outcomes every store must hold."""
    return wince.run(model(), tabular_data(), plan(name, **options), store=str(tmp_path / name))


# segments on fsspec locations -------------------------------------------------------------------
@pytest.mark.slow
def test_segments_on_an_fsspec_location_are_found_from_the_catalog_url_alone(catalog_url, tmp_path):
    location = f"memory://wince-{uuid.uuid4().hex}/segments"
    store = open_store(catalog_url, segments=location)
    run = wince.run(model(), tabular_data(), plan("team"), store=store)
    assert store.setting("segments") == location
    assert all(p.startswith(f"{location}/{run.id}/") for p in store.segment_paths(run.id))
    store.close()
    fs = fsspec.filesystem("memory")
    files = sorted(fs.ls(f"{location}/{run.id}", detail=False))
    assert [f.rsplit("/", 1)[1] for f in files] == [
        *(f"{a:010d}-{b:010d}.parquet" for a, b in [(0, 32), (32, 64), (64, 96), (96, 100)]),
        "run.json",  # the run's catalog record, for a rebuild
    ]  # no temporary files left
    client = open_store(catalog_url)  # another client: only the catalog URL
    assert client.segments.url == location
    pd.testing.assert_frame_equal(client.outcomes(run.id), reference(tmp_path).outcomes())
    aggregated = client.aggregate(run.id, "flip_rate", by=[])
    assert int(aggregated["n"].iloc[0]) == len(client.outcomes(run.id))
    client.close()


@pytest.mark.slow
def test_a_file_url_location_holds_the_segments_on_disk(tmp_path):
    shared = tmp_path / "shared"
    store = open_store(f"sqlite:///{tmp_path / 'team.db'}", segments=f"file://{shared}")
    run = wince.run(model(), tabular_data(), plan("team"), store=store)
    assert store.setting("segments") == str(shared)
    assert sorted(p.name for p in (shared / run.id).iterdir()) == [
        "0000000000-0000000032.parquet",
        "0000000032-0000000064.parquet",
        "0000000064-0000000096.parquet",
        "0000000096-0000000100.parquet",
        "run.json",
    ]
    pd.testing.assert_frame_equal(store.outcomes(run.id), reference(tmp_path).outcomes())


def test_a_folder_store_records_no_location_so_it_can_be_moved(tmp_path):
    store = Store(root=tmp_path / "folder")
    assert store.setting("segments") is None
    assert store.segments.url == str((tmp_path / "folder" / "segments").resolve())


def test_an_unknown_segments_protocol_names_the_missing_package(tmp_path):
    with pytest.raises(StoreError, match=r"nosuchfs://bucket.*Install the fsspec package"):
        open_store(f"sqlite:///{tmp_path / 'team.db'}", segments="nosuchfs://bucket/wince")


def test_a_client_pointed_at_the_wrong_folder_is_told_where_the_catalog_says(tmp_path):
    url = f"sqlite:///{tmp_path / 'team.db'}"
    store = open_store(url, segments=tmp_path / "shared")
    run = wince.run(model(), tabular_data(), plan("team"), store=store)
    elsewhere = open_store(url, segments=tmp_path / "elsewhere")
    with pytest.raises(StoreError, match=r"4 registered segment.*records the segments at"):
        elsewhere.outcomes(run.id)
    # Nothing is missing where the catalog says: running again recomputes nothing here.
    with pytest.raises(StoreError, match=r"4 registered segment.*records the segments at"):
        wince.run(model(), tabular_data(), plan("team"), store=elsewhere)
    assert len(store.completed_units(run.id)) == 4
    assert not (tmp_path / "elsewhere").exists()


# atomic writes ----------------------------------------------------------------------------------
def _register_run(store: Store, run_id: str) -> None:
    store.create_run(
        run_id,
        name="atomic",
        plan_digest="p",
        model_fingerprint="m",
        data_fingerprint="d",
        task="classification",
        n_samples=4,
        lineage={},
        scenarios=[],
    )


TABLE = pa.table(
    {
        "scenario": ["baseline"] * 4,
        "position": [0] * 4,
        "trial": [0] * 4,
        "sample_index": [0, 1, 2, 3],
    }
)


@pytest.mark.parametrize("location", ["folder", "memory"])
def test_a_writer_failing_mid_segment_leaves_no_segment_visible(tmp_path, monkeypatch, location):
    segments = tmp_path / "segments" if location == "folder" else f"memory://{uuid.uuid4().hex}"
    store = Store(root=tmp_path, segments=segments)
    _register_run(store, "r1")

    real_open = store.segments.fs.open

    def fail_half_way(path, mode="rb", **options):
        handle = real_open(path, mode, **options)
        if "w" in mode:
            handle.write(b"PAR1 half a segment")
            handle.close()
            raise OSError(28, "No space left on device")
        return handle

    monkeypatch.setattr(store.segments.fs, "open", fail_half_way)
    with pytest.raises(StoreError, match="No space left on device"):
        store.write_unit("r1", 0, 4, TABLE, seconds=0.1)
    assert store.completed_units("r1") == []
    listed = store.segments.fs.ls(f"{store.segments.root}/r1", detail=False)
    assert [name.rsplit("/", 1)[1] for name in listed] == ["run.json"]  # the run's record only
    with pytest.raises(StoreError, match="no stored outcomes yet"):
        store.outcomes("r1")


def test_leftovers_of_a_killed_writer_are_never_read(tmp_path):
    store = Store(root=tmp_path)
    _register_run(store, "r1")
    folder = tmp_path / "segments" / "r1"  # holds the run's record already
    # Killed mid-write: a hidden temporary file; killed after the rename but before the
    # catalog commit: a complete-looking file the catalog does not list.
    (folder / ".0000000000-0000000004.parquet.dead.tmp").write_bytes(b"PAR1 garbage")
    (folder / "0000000004-0000000008.parquet").write_bytes(b"PAR1 unregistered")
    store.write_unit("r1", 0, 4, TABLE, seconds=0.1)
    assert store.completed_units("r1") == [(0, 4)]
    assert store.outcomes("r1")["sample_index"].tolist() == [0, 1, 2, 3]
    second = TABLE.set_column(3, "sample_index", pa.array([4, 5, 6, 7]))
    store.write_unit("r1", 4, 8, second, seconds=0.1)  # the resumed writer overwrites it
    assert len(store.outcomes("r1")) == 8


# schema versions --------------------------------------------------------------------------------
def _build_version_1(url: str, source: Store) -> None:
    """A version-1 catalog at `url`, by hand, holding the rows of `source`'s catalog."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for ddl in V1_TABLES:
            conn.execute(sa.text(ddl))
        conn.execute(sa.text("INSERT INTO schema_version (version) VALUES (1)"))
        with source.engine.connect() as old:
            for table, columns in V1_COLUMNS.items():
                rows = [
                    dict(r._mapping)
                    for r in old.execute(
                        sa.select(*(catalog.metadata.tables[table].c[c] for c in columns))
                    )
                ]
                if rows:
                    conn.execute(sa.insert(catalog.metadata.tables[table]), rows)
    engine.dispose()


def _tables_and_version(url: str) -> tuple[set[str], list[int], set[str]]:
    engine = sa.create_engine(url)
    inspector = sa.inspect(engine)
    names = set(inspector.get_table_names())
    unit_columns = {c["name"] for c in inspector.get_columns("units")}
    with engine.connect() as conn:
        versions = [v for (v,) in conn.execute(sa.text("SELECT version FROM schema_version"))]
    engine.dispose()
    return names, sorted(versions), unit_columns


@pytest.mark.slow
def test_a_version_1_catalog_is_upgraded_on_open_and_keeps_its_data(catalog_url, tmp_path):
    original = reference(tmp_path)
    original.analyze(regions=False)  # stores analyses too
    _build_version_1(catalog_url, original.store)
    names, versions, unit_columns = _tables_and_version(catalog_url)
    assert ("settings" in names, versions, "bytes" in unit_columns) == (False, [1], False)

    upgraded = Store(catalog_url, segments=original.store.segments.url)
    assert (upgraded.upgraded_from, upgraded.schema_version) == (1, catalog.SCHEMA_VERSION)
    names, versions, unit_columns = _tables_and_version(catalog_url)
    assert ("settings" in names, versions, "bytes" in unit_columns) == (True, [1, 2, 3, 4], True)
    assert "rejections" in names
    assert upgraded.setting("segments") == original.store.segments.url
    assert upgraded.list_runs().equals(original.store.list_runs())
    assert upgraded.run(original.id)["lineage"] == original.store.run(original.id)["lineage"]
    verdicts = original.store.load_analysis(original.id, "verdicts")
    assert verdicts is not None
    assert upgraded.load_analysis(original.id, "verdicts") == verdicts
    pd.testing.assert_frame_equal(upgraded.outcomes(original.id), original.outcomes())
    # Upgraded stores take new runs like new ones, with the version-2 columns filled.
    second = wince.run(model(), tabular_data(), plan("second"), store=upgraded)
    with upgraded.engine.connect() as conn:
        sizes = conn.execute(
            sa.select(catalog.units.c.bytes).where(catalog.units.c.run_id == second.id)
        ).scalars()
        assert all(size > 0 for size in sizes)
    upgraded.close()
    reopened = Store(catalog_url)
    assert reopened.upgraded_from == catalog.SCHEMA_VERSION  # nothing more to do
    reopened.close()


@pytest.mark.slow
def test_a_failed_upgrade_step_leaves_the_catalog_at_its_old_version(
    catalog_url, tmp_path, monkeypatch
):
    _build_version_1(catalog_url, reference(tmp_path).store)

    def broken(conn):
        upgrade(conn)  # the step's changes, then a failure before the step is recorded
        raise sa.exc.OperationalError("ALTER", {}, Exception("disk I/O error"))

    upgrade = catalog.MIGRATIONS[1]
    monkeypatch.setitem(catalog.MIGRATIONS, 1, broken)
    with pytest.raises(StoreError, match="disk I/O error"):
        Store(catalog_url, root=tmp_path / "unused")
    names, versions, unit_columns = _tables_and_version(catalog_url)
    assert ("settings" in names, versions, "bytes" in unit_columns) == (False, [1], False)


def test_a_catalog_newer_than_the_library_is_refused_with_the_fix(catalog_url, tmp_path):
    Store(catalog_url, root=tmp_path).close()
    engine = sa.create_engine(catalog_url)  # a newer wince has been here
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO schema_version (version) VALUES (7)"))
    engine.dispose()
    with pytest.raises(StoreError) as raised:
        Store(catalog_url, root=tmp_path)
    message = str(raised.value)
    assert "schema version 7" in message
    assert f"(version {catalog.SCHEMA_VERSION})" in message
    assert "Upgrade wince" in message


# concurrent writers -----------------------------------------------------------------------------
@pytest.mark.slow
def test_two_runs_written_concurrently_both_complete_intact(catalog_url, tmp_path):
    # Both workers open the new catalog at once (schema creation and the recording of the
    # segments location race), then write 40 units each. Their models meet halfway (a worker
    # that waits in vain exits non-zero), so both runs are under way at the same time. Unit
    # timestamps need not interleave: SQLite serialises writers, and a busy writer may hold
    # the lock until the other's run is done.
    shared = str(tmp_path / "shared")
    n, batch = 240, 6  # 40 units each: many interleaved commits
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    workers = [
        context.Process(
            target=analyze_in_process, args=(catalog_url, shared, name, n, batch, barrier)
        )
        for name in ("alpha", "beta")
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=240)
    assert [w.exitcode for w in workers] == [0, 0]

    store = open_store(catalog_url)  # a third client finds the segments from the catalog
    assert store.segments.url == str((tmp_path / "shared").resolve())
    runs = store.list_runs()
    assert sorted(runs["name"]) == ["alpha", "beta"]
    assert set(runs["status"]) == {"complete"}
    for name in ("alpha", "beta"):
        expected = wince.run(
            model(), tabular_data(n), plan(name, batch_size=batch), store=str(tmp_path / name)
        )
        assert store.completed_units(expected.id) == [
            (a, min(a + batch, n)) for a in range(0, n, batch)
        ]
        pd.testing.assert_frame_equal(store.outcomes(expected.id), expected.outcomes())
        assert len(store.scenarios(expected.id)) == len(expected.store.scenarios(expected.id))
    with store.engine.connect() as conn:
        versions = conn.execute(sa.text("SELECT version FROM schema_version")).scalars().all()
    assert versions == [catalog.SCHEMA_VERSION]  # created once, not twice
    store.close()
