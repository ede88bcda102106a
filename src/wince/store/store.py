"""The results store: a catalog (SQLAlchemy) plus Parquet outcome segments.

Outcome segments are written to a temporary name, renamed into place, then registered in the
catalog, so a crash at any point leaves either a registered, complete segment or nothing that
counts. Re-running skips registered units and overwrites unregistered leftovers.

Where the segments live is recorded in the catalog (`settings.segments`) the first time a
store is opened with an explicit location, so every client of a team store finds them from the
catalog URL alone. A folder store (`.wince/`) keeps its segments beside its SQLite file and
records nothing, so the folder can be moved or copied.

The segments location can stand in for a lost catalog. Each run's folder holds `run.json`,
the run's catalog row and scenarios, rewritten (atomically) whenever the row changes: on
creation, on each lineage update, when it finishes and when units are dropped; a few small
writes per run. Each segment carries what its unit's catalog row adds to the segment itself:
its sample range (the file name and `sample_index` statistics), its refusals
(`wince.engine.rejections`) and its timing (`UNIT_KEY`). A deleted or emptied catalog is then
noticed (run folders that no catalog row names: `orphan_runs`) and rebuilt from the segments
(`wince.store.repair`). Stored analyses are not kept there: `wince analyze` recomputes them.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa

from wince.errors import StoreError
from wince.store import catalog
from wince.store.segments import SegmentLocation

DEFAULT_ROOT = ".wince"
SEGMENTS_KEY = "segments"
MISSING = "the file is missing"  # the problem of a unit whose segment is absent
RUN_RECORD = "run.json"  # in each run's segments folder: its catalog row and scenarios
UNIT_KEY = b"wince.unit"  # a segment's key-value metadata: its unit's seconds and created_at


# DuckDB's memory while exporting a run; a larger sort spills to its temporary folder.
EXPORT_MEMORY = "256MB"


def now() -> str:
    """Current UTC time in ISO 8601."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


class Store:
    """Catalog and outcome segments of many runs.

    Args:
        url: SQLAlchemy URL of the catalog (`sqlite:///…`, `postgresql+psycopg://…`); default
            a SQLite file `<root>/wince.db`.
        root: folder for the default catalog and segments.
        segments: folder or fsspec URL of the outcome segments. Default: the location recorded
            in the catalog, else `<root>/segments`. Given explicitly, it is recorded in the
            catalog if none is yet (except beside a folder store's own SQLite file), and
            otherwise used by this client only (e.g. the same share mounted elsewhere).

    Attributes:
        url: the catalog URL.
        segments: where the outcome segments live (`SegmentLocation`).
        upgraded_from: the catalog's schema version when opened (None: created now); lower
            than `schema_version` when this open upgraded it.
        schema_version: the catalog's schema version now.

    Raises:
        StoreError: the catalog cannot be reached, or was written by a newer wince.

    Examples:
        >>> import tempfile
        >>> store = Store(root=tempfile.mkdtemp())
        >>> store.list_runs().empty
        True
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        root: str | Path = DEFAULT_ROOT,
        segments: str | Path | None = None,
    ) -> None:
        self.root = Path(root)
        folder_store = url is None
        if url is None:
            try:
                self.root.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise StoreError(
                    f"cannot open the results store folder {self.root}: "
                    f"{'it is not a folder' if self.root.exists() else error.strerror}. "
                    "Give --store (or $WINCE_STORE) a folder that can be created or written, "
                    "or a catalog URL."
                ) from None
            url = f"sqlite:///{self.root / 'wince.db'}"
        self.url = url
        try:
            self.engine = catalog.create_engine(url)
        except (sa.exc.SQLAlchemyError, ImportError) as error:
            raise StoreError(
                f"cannot open the results store at {catalog.safe_url(url)}: {error}. Check the "
                "--store URL (e.g. postgresql+psycopg://user@host/db needs "
                "pip install 'wince[postgres]')."
            ) from None
        try:
            self.upgraded_from, self.schema_version = catalog.prepare(self.engine, url)
            self.segments = self._segment_location(segments, record=not folder_store)
        except StoreError:
            self.engine.dispose()
            raise
        except sa.exc.SQLAlchemyError as error:
            self.engine.dispose()
            raise StoreError(
                f"cannot open the results store at {catalog.safe_url(url)}: "
                f"{error.__class__.__name__}: "
                f"{error.orig if hasattr(error, 'orig') else error}. Check the --store URL."
            ) from None

    def _segment_location(self, given: str | Path | None, *, record: bool) -> SegmentLocation:
        recorded = self.setting(SEGMENTS_KEY)
        if given is None:
            return SegmentLocation(recorded or self.root / "segments")
        location = SegmentLocation(given)
        if record and recorded is None:
            table = catalog.settings

            def work(conn: sa.Connection) -> None:
                present = conn.execute(
                    sa.select(table.c.value).where(table.c.key == SEGMENTS_KEY)
                ).first()
                if present is None:
                    conn.execute(sa.insert(table).values(key=SEGMENTS_KEY, value=location.url))

            catalog.transact(self.engine, work, retry_on=(sa.exc.IntegrityError,))
        return location

    def setting(self, key: str) -> str | None:
        """A value of the catalog's `settings` table, or None."""
        table = catalog.settings
        with self.engine.connect() as conn:
            value = conn.execute(sa.select(table.c.value).where(table.c.key == key)).scalar()
        return None if value is None else str(value)

    def close(self) -> None:
        """Release database connections."""
        self.engine.dispose()

    # runs ------------------------------------------------------------------------------------
    def create_run(
        self,
        run_id: str,
        *,
        name: str,
        plan_digest: str,
        model_fingerprint: str,
        data_fingerprint: str,
        task: str,
        n_samples: int,
        lineage: dict[str, Any],
        scenarios: list[dict[str, Any]],
    ) -> bool:
        """Register a run and its scenarios; returns False if the run already exists.

        Safe against a concurrent writer registering the same run: the loser of the race
        retries and finds the run there.
        """
        runs = catalog.runs

        def work(conn: sa.Connection) -> bool:
            exists = conn.execute(sa.select(runs.c.run_id).where(runs.c.run_id == run_id)).first()
            if exists:
                conn.execute(
                    sa.update(runs)
                    .where(runs.c.run_id == run_id)
                    .where(runs.c.status != "complete")
                    .values(status="running", error=None)
                )
                return False
            conn.execute(
                sa.insert(runs).values(
                    run_id=run_id,
                    name=name,
                    status="running",
                    created_at=now(),
                    plan_digest=plan_digest,
                    model_fingerprint=model_fingerprint,
                    data_fingerprint=data_fingerprint,
                    task=task,
                    n_samples=n_samples,
                    lineage=lineage,
                )
            )
            if scenarios:
                conn.execute(
                    sa.insert(catalog.scenarios),
                    [{"run_id": run_id, "position": i, **s} for i, s in enumerate(scenarios)],
                )
            return True

        created = catalog.transact(self.engine, work, retry_on=(sa.exc.IntegrityError,))
        self.save_run_record(run_id)
        return created

    def save_run_record(self, run_id: str) -> None:
        """Write a run's catalog row and scenarios as `<run_id>/run.json` beside its segments.

        What `wince.store.repair.rebuild_catalog` rebuilds the run from when the catalog is
        lost; written atomically, so a reader sees the previous record or this one.
        """
        runs, table = catalog.runs, catalog.scenarios
        with self.engine.connect() as conn:
            run = conn.execute(sa.select(runs).where(runs.c.run_id == run_id)).one()
            scenarios = conn.execute(
                sa.select(*(c for c in table.c if c.name != "run_id"))
                .where(table.c.run_id == run_id)
                .order_by(table.c.position)
            )
            record = {
                "run": dict(run._mapping),
                "scenarios": [dict(row._mapping) for row in scenarios],
            }
        content = json.dumps(strict_json(record), allow_nan=False).encode()
        self.segments.write_bytes(f"{run_id}/{RUN_RECORD}", content)

    def finish_run(
        self, run_id: str, *, status: str, error: str | None = None, timings: dict[str, Any]
    ) -> None:
        """Mark a run complete or failed and record its timings in the lineage."""
        self.update_lineage(
            run_id, {"timings": timings}, status=status, error=error, finished_at=now()
        )

    def update_lineage(self, run_id: str, extra: dict[str, Any], **values: Any) -> None:
        """Merge `extra` into a stored run's lineage (one transaction, row locked).

        Args:
            run_id: the run.
            extra: keys to add to or replace in the lineage.
            **values: other columns of the run to set in the same transaction.
        """
        table = catalog.runs
        extra = strict_json(extra)

        def work(conn: sa.Connection) -> None:
            lineage = conn.execute(
                sa.select(table.c.lineage).where(table.c.run_id == run_id).with_for_update()
            ).scalar_one()
            conn.execute(
                sa.update(table)
                .where(table.c.run_id == run_id)
                .values(lineage={**lineage, **extra}, **values)
            )

        catalog.transact(self.engine, work)
        self.save_run_record(run_id)

    def run(self, run_id: str) -> dict[str, Any]:
        """The catalog row of a run (lineage included)."""
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(catalog.runs).where(catalog.runs.c.run_id == run_id)
            ).first()
        if row is None:
            raise StoreError(f"no run {run_id!r} in the store at {self.url}. See `wince runs`.")
        return dict(row._mapping)

    def list_runs(self) -> pd.DataFrame:
        """All runs, newest first: id, name, status, created, samples, fingerprints.

        Also `hardens` and `defence`: for a run `wince harden` made, the run it hardens and
        the name of the defence it ran behind (from its lineage); None for any other run.
        """
        lineage = catalog.runs.c.lineage
        columns = [
            catalog.runs.c.run_id,
            catalog.runs.c.name,
            catalog.runs.c.status,
            catalog.runs.c.created_at,
            catalog.runs.c.finished_at,
            catalog.runs.c.task,
            catalog.runs.c.n_samples,
            catalog.runs.c.model_fingerprint,
            catalog.runs.c.data_fingerprint,
            lineage["hardens"].as_string().label("hardens"),
            lineage[("defence", "name")].as_string().label("defence"),
        ]
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(*columns).order_by(catalog.runs.c.created_at.desc()))
            return pd.DataFrame(rows.fetchall(), columns=[c.name for c in columns])

    def resolve(self, ref: str) -> str:
        """A run id from an id, a unique id prefix, or `latest`.

        `latest` (or `last`) is the newest run that is not a defended run of `wince harden`:
        hardening a run leaves `latest` on the run it hardened (name a defended run by its
        id). A store holding defended runs only resolves it to the newest of them.

        Raises:
            StoreError: an empty reference, no run, or an ambiguous prefix.
        """
        if not ref.strip():
            raise StoreError(
                "the run id is empty; give a run id, a unique prefix of one, or `latest`. See "
                "`wince runs`."
            )
        runs = self.list_runs()
        if runs.empty:
            raise StoreError(
                self._no_such_run(
                    f"the store at {self.url} holds no runs yet.", "Start with `wince run`."
                )
            )
        if ref in ("latest", "last"):
            undefended = runs[runs["hardens"].isna()]
            return str((undefended if len(undefended) else runs)["run_id"].iloc[0])
        matches = runs[runs["run_id"].str.startswith(ref)]["run_id"].tolist()
        if len(matches) == 1:
            return str(matches[0])
        if not matches:
            raise StoreError(
                self._no_such_run(
                    f"no run {ref!r} in the store at {self.url}.", "See `wince runs`."
                )
            )
        raise StoreError(f"run prefix {ref!r} is ambiguous: {', '.join(matches)}.")

    def orphan_runs(self) -> list[str]:
        """Runs whose folder is in the segments location but which the catalog does not name.

        Any means the catalog was deleted, emptied or replaced (`orphans_message`); one
        listing of the location's top level.
        """
        folders = self.segments.run_folders()
        if not folders:
            return []
        with self.engine.connect() as conn:
            known = {str(r) for (r,) in conn.execute(sa.select(catalog.runs.c.run_id))}
        return [folder for folder in folders if folder not in known]

    def orphans_message(self, orphans: Sequence[str]) -> str:
        """One paragraph: runs with segments but no catalog row (`orphan_runs`), and the fix."""
        shown = ", ".join(orphans[:5]) + (f" and {len(orphans) - 5} more" * (len(orphans) > 5))
        return (
            f"the segments location {self.segments.url} holds the outcomes of {len(orphans)} "
            f"run(s) that the catalog at {catalog.safe_url(self.url)} does not name ({shown}): "
            "the catalog was deleted, emptied or replaced. Fix: `wince repair "
            "--rebuild-catalog` (with the same --store and --segments) rebuilds their runs from "
            "the segments."
        )

    def _no_such_run(self, message: str, fix: str) -> str:
        """`message` and its fix: rebuilding the catalog when it lost runs, else `fix`."""
        orphans = self.orphan_runs()
        return f"{message} But {self.orphans_message(orphans)}" if orphans else f"{message} {fix}"

    def scenarios(self, run_id: str, *, rejected: bool = False) -> pd.DataFrame:
        """Scenarios of a run in plan order.

        Args:
            run_id: the run.
            rejected: also list the scenarios whose inputs the model refused (`rejections`);
                by default they are left out, as their outcomes are.
        """
        table = catalog.scenarios
        query = sa.select(table).where(table.c.run_id == run_id)
        if not rejected:
            refused = catalog.rejections
            query = query.where(
                table.c.position.not_in(
                    sa.select(refused.c.position).where(refused.c.run_id == run_id)
                )
            )
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(table.c.position))
            return pd.DataFrame(rows.fetchall(), columns=list(rows.keys()))

    def rejections(self, run_id: str) -> pd.DataFrame:
        """The scenarios whose inputs the model refused, in plan order.

        A scenario is rejected when the model raised on its inputs in any unit (see
        `wince.engine.rejections`); its outcomes are left out of `outcomes`, `scenarios` and
        `aggregate`.

        Returns:
            One row per rejected scenario: `position`, `scenario`, `error` (the first line of
            the model's error in the first unit, by sample index, that refused it), `units`
            and `samples` (the units refused, and their samples), `trials` (trials refused,
            summed over units).
        """
        table = catalog.rejections
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(table)
                .where(table.c.run_id == run_id)
                .order_by(table.c.position, table.c.start)
            ).fetchall()
        frame = pd.DataFrame(
            rows, columns=["run_id", "start", "position", "scenario", "trials", "samples", "error"]
        )
        by_scenario = frame.groupby(["position", "scenario"], sort=True)
        summary = by_scenario.agg(
            error=("error", "first"),
            units=("start", "size"),
            samples=("samples", "sum"),
            trials=("trials", "sum"),
        ).reset_index()
        return summary.astype({"position": int, "units": int, "samples": int, "trials": int})

    def _rejected_positions(self, run_id: str) -> list[int]:
        table = catalog.rejections
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(table.c.position).where(table.c.run_id == run_id).distinct()
            )
            return sorted(int(p) for (p,) in rows)

    def rejected_condition(self, run_id: str) -> str | None:
        """A DuckDB condition on outcome rows leaving out rejected scenarios (None: none)."""
        positions = self._rejected_positions(run_id)
        if not positions:
            return None
        return f"position NOT IN ({', '.join(map(str, positions))})"

    # units -----------------------------------------------------------------------------------
    def completed_units(self, run_id: str) -> list[tuple[int, int]]:
        """(start, stop) sample ranges of the registered units of a run."""
        table = catalog.units
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(table.c.start, table.c.stop)
                .where(table.c.run_id == run_id)
                .order_by(table.c.start)
            )
            return [(int(a), int(b)) for a, b in rows]

    def dropped_ranges(self, run_id: str) -> list[tuple[int, int]]:
        """(start, stop) sample ranges of units dropped as damaged and not recomputed yet.

        The units in the run's lineage `repaired_units` (`drop_units`, `wince repair
        --rebuild-catalog`) whose samples no registered unit covers; empty once resuming the
        run has evaluated them again.
        """
        registered = self.completed_units(run_id)
        dropped = self.run(run_id)["lineage"].get("repaired_units", [])
        ranges = dict.fromkeys((int(u["start"]), int(u["stop"])) for u in dropped)
        return [
            (start, stop)
            for start, stop in ranges
            if sum(max(0, min(b, stop) - max(a, start)) for a, b in registered) < stop - start
        ]

    def write_unit(
        self,
        run_id: str,
        start: int,
        stop: int,
        table: pa.Table,
        *,
        seconds: float,
        rejected: Sequence[dict[str, Any]] = (),
    ) -> None:
        """Write a unit's outcomes as a Parquet segment, atomically, then register it.

        A unit registered meanwhile by a concurrent writer of the same run is left as it is
        (its outcomes are the same: runs are deterministic).

        Args:
            run_id: the run.
            start: the unit's first sample index.
            stop: one past its last sample index.
            table: its outcomes.
            seconds: time spent evaluating it.
            rejected: the scenarios the model refused in this unit, each with `position`,
                `scenario`, `trials` and `error` (`wince.engine.rejections.Refusal`);
                registered with the unit, in the same transaction.
        """
        name = f"{run_id}/{start:010d}-{stop:010d}.parquet"
        created_at = now()
        timing = json.dumps({"seconds": seconds, "created_at": created_at}).encode()
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), UNIT_KEY: timing})
        size, checksum = self.segments.write(name, table)
        row = {
            "run_id": run_id,
            "start": start,
            "stop": stop,
            "segment": name,
            "rows": table.num_rows,
            "seconds": seconds,
            "created_at": created_at,
            "bytes": size,
            "checksum": checksum,
        }
        units = catalog.units

        def work(conn: sa.Connection) -> None:
            present = conn.execute(
                sa.select(units.c.start)
                .where(units.c.run_id == run_id)
                .where(units.c.start == start)
            ).first()
            if present is None:
                conn.execute(sa.insert(units).values(**row))
                if rejected:
                    conn.execute(
                        sa.insert(catalog.rejections),
                        [
                            {
                                "run_id": run_id,
                                "start": start,
                                "position": int(r["position"]),
                                "scenario": str(r["scenario"]),
                                "trials": int(r["trials"]),
                                "samples": stop - start,
                                "error": str(r["error"]),
                            }
                            for r in rejected
                        ],
                    )

        catalog.transact(self.engine, work, retry_on=(sa.exc.IntegrityError,))

    def segment_names(self, run_id: str) -> list[str]:
        """Names (relative to the segments location) of the registered segments of a run."""
        table = catalog.units
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(table.c.segment).where(table.c.run_id == run_id).order_by(table.c.start)
            )
            return [str(segment) for (segment,) in rows]

    def segment_paths(self, run_id: str) -> list[str]:
        """Paths (local location) or URLs (fsspec location) of a run's registered segments."""
        return [self.segments.path(name) for name in self.segment_names(run_id)]

    def checked_segment_paths(self, run_id: str) -> list[str]:
        """`segment_paths`, after the cheap check of every segment (`damaged_units`).

        Raises:
            StoreError: no outcomes yet, or a registered segment is missing, unreadable or
                not its unit's (`damage_message`).
        """
        names = self.segment_names(run_id)
        if not names:
            raise StoreError(f"run {run_id} has no stored outcomes yet.")
        self.check_segments(run_id)
        return [self.segments.path(name) for name in names]

    def check_segments(self, run_id: str, *, full: bool = False) -> None:
        """Raise when any registered segment of a run is damaged (`damaged_units`).

        Raises:
            StoreError: one paragraph naming the damaged units, what is wrong and the fix.
        """
        damaged = self.damaged_units(run_id, full=full)
        if damaged:
            raise StoreError(self.damage_message(run_id, damaged))

    def damaged_units(self, run_id: str, *, full: bool = False) -> list[DamagedUnit]:
        """The registered units of a run whose segment does not hold what the catalog says.

        Cheap check (every read): the segment is present, its Parquet footer is readable, its
        row count is the unit's and its `sample_index` statistics lie in the unit's sample
        range (a segment copied over another unit's is caught here). With `full`, also the
        SHA-256 of its bytes against the one registered when it was written (units written
        before catalog version 4 have none); this reads every segment whole.

        Returns:
            The damaged units, by sample index; empty when every segment is sound.
        """
        table = catalog.units
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(
                    table.c.start, table.c.stop, table.c.segment, table.c.rows, table.c.checksum
                )
                .where(table.c.run_id == run_id)
                .order_by(table.c.start)
            ).fetchall()
        damaged = []
        for start, stop, segment, count, checksum in rows:
            unit = (int(start), int(stop), str(segment))
            problem = self._segment_problem(*unit, int(count), checksum if full else None)
            if problem is not None:
                damaged.append(DamagedUnit(*unit, problem))
        return damaged

    def _segment_problem(
        self, start: int, stop: int, segment: str, rows: int, checksum: str | None
    ) -> str | None:
        """What is wrong with a unit's segment (None: nothing the check can see)."""
        try:
            footer = self.segments.footer(segment)
        except FileNotFoundError:
            return MISSING
        except (OSError, pa.ArrowException) as error:
            return f"it is not a readable Parquet file ({str(error).splitlines()[0]})"
        if footer.num_rows != rows:
            return f"it holds {footer.num_rows} outcome rows, the unit has {rows}"
        low, high = sample_range(footer)
        if low is not None and high is not None and (low < start or high >= stop):
            return (
                f"it holds samples {low}-{high}, not this unit's: it is another unit's segment "
                "copied over this one"
            )
        if checksum is not None and self.segments.checksum(segment) != checksum:
            return "its bytes changed after it was written (its SHA-256 checksum differs)"
        return None

    def damage_message(self, run_id: str, damaged: Sequence[DamagedUnit]) -> str:
        """One paragraph naming a run's damaged units, what is wrong and the fix."""
        shown = "; ".join(
            f"samples {u.start}-{u.stop - 1} ({self.segments.path(u.segment)}): {u.problem}"
            for u in damaged[:3]
        )
        more = f"; and {len(damaged) - 3} more" if len(damaged) > 3 else ""
        recorded = self.setting(SEGMENTS_KEY)
        elsewhere = (
            f" The catalog records the segments at {recorded}; this store was opened with "
            f"{self.segments.url}: open it there (--segments) if that is the cause."
            if self.opened_elsewhere()
            else ""
        )
        return (
            f"run {run_id}: {len(damaged)} registered segment(s) of its outcomes cannot be "
            f"trusted, so nothing was read: {shown}{more}.{elsewhere} Fix: `wince repair {run_id} "
            "--recompute` sets them aside and evaluates their samples again (or run the run's "
            "plan again: `wince run PLAN`, same plan, data and model, recomputes damaged units)."
        )

    def opened_elsewhere(self) -> bool:
        """Whether this client reads segments from another location than the catalog records."""
        recorded = self.setting(SEGMENTS_KEY)
        return recorded is not None and recorded != self.segments.url

    def drop_units(self, run_id: str, damaged: Sequence[DamagedUnit]) -> None:
        """Unregister damaged units, so the next resume recomputes them; nothing is deleted.

        Each segment file is set aside as `<name>.damaged` (for inspection), the units and
        their rejections leave the catalog, the run is marked `running` again and the units
        are added to its lineage's `repaired_units` (start, stop, problem, set_aside).

        Raises:
            StoreError: a segment cannot be set aside, or the segments are all missing and
                the store was opened with another segments location than the catalog
                records: rather the wrong location than lost segments, so nothing is dropped
                (the message names both locations).
        """
        if not damaged:
            return
        if self.opened_elsewhere() and all(unit.problem == MISSING for unit in damaged):
            raise StoreError(self.damage_message(run_id, damaged))
        set_aside = []
        for unit in damaged:
            try:
                set_aside.append(self.segments.set_aside(unit.segment))
            except OSError as error:
                raise StoreError(
                    f"run {run_id}: cannot set the damaged segment "
                    f"{self.segments.path(unit.segment)} aside: {error}. Check that the "
                    "segments location is writable."
                ) from None
        starts = [unit.start for unit in damaged]
        units, refused, runs = catalog.units, catalog.rejections, catalog.runs

        def work(conn: sa.Connection) -> None:
            for table in (units, refused):
                conn.execute(
                    sa.delete(table)
                    .where(table.c.run_id == run_id)
                    .where(table.c.start.in_(list(starts)))
                )
            conn.execute(sa.update(runs).where(runs.c.run_id == run_id).values(status="running"))

        catalog.transact(self.engine, work)
        earlier = self.run(run_id)["lineage"].get("repaired_units", [])
        dropped = [
            {"start": u.start, "stop": u.stop, "problem": u.problem, "set_aside": aside}
            for u, aside in zip(damaged, set_aside, strict=True)
        ]
        self.update_lineage(run_id, {"repaired_units": [*earlier, *dropped]})

    def connect(self) -> duckdb.DuckDBPyConnection:
        """A DuckDB connection that can read this store's segments (close it after use)."""
        # Large aggregations spill here instead of into the working directory.
        spill = os.path.join(tempfile.gettempdir(), "wince-duckdb")
        conn = duckdb.connect(config={"temp_directory": spill})
        # DuckDB's own progress bar would draw inside Python (Run.outcomes) and CLI output.
        conn.execute("SET enable_progress_bar = false")
        self.segments.register(conn)
        return conn

    def outcomes(
        self,
        run_id: str,
        *,
        where: str | None = None,
        columns: Sequence[str] | None = None,
        rejected: bool = False,
    ) -> pd.DataFrame:
        """All outcomes of a run as one frame, ordered by scenario, trial and sample.

        Args:
            run_id: the run.
            where: optional SQL condition on outcome columns (DuckDB dialect).
            columns: only these outcome columns (DuckDB reads no others); default all.
            rejected: also the rows of scenarios the model refused on some units (those of
                the units that accepted them); by default a rejected scenario has no rows
                (`rejections`).

        Raises:
            StoreError: no outcomes yet, or a registered segment is missing or damaged (named,
                with the fix; `check_segments`).
        """
        selected = "*" if columns is None else ", ".join(_quoted(c) for c in columns)
        query = self._outcomes_query(run_id, selected, where=where, rejected=rejected)
        ordered = query + " ORDER BY position, trial, sample_index"
        frame: pd.DataFrame = self._read(run_id, ordered, lambda result: result.df())
        return frame

    def export_outcomes(self, run_id: str, target: str | Path) -> int:
        """Write a run's outcomes as one Parquet file; returns the number written.

        Each row gets `run_id` and its scenario's kind, severity, `perturbation` (the plan
        entries it applies, joined by "+"; empty for the baseline and identity) and `value`
        (the physical magnitude of a single-perturbation scenario, in its unit; null
        otherwise). DuckDB streams the segments into the file (sorting past `EXPORT_MEMORY`
        on disk), so memory does not grow with the run. Ordered as `outcomes`; rejected
        scenarios left out.
        """
        scenarios = self.scenarios(run_id)
        kinds = scenarios[["scenario", "kind", "severity"]].assign(
            perturbation=[
                "+".join(str(step.get("entry", step["name"])) for step in steps)
                for steps in scenarios["steps"]
            ],
            value=[
                float(steps[0]["value"]) if len(steps) == 1 else None
                for steps in scenarios["steps"]
            ],
        )
        query = self._outcomes_query(run_id, "*", where=None, rejected=False)
        copy = (
            "COPY (SELECT ? AS run_id, o.*, k.kind, k.severity, k.perturbation, k.value "
            f"FROM ({query}) AS o "
            "LEFT JOIN kinds AS k ON o.scenario = k.scenario "
            "ORDER BY o.position, o.trial, o.sample_index) "
            f"TO '{_sql_text(os.fspath(target))}' (FORMAT parquet, COMPRESSION zstd)"
        )
        paths = self.checked_segment_paths(run_id)
        with self.connect() as conn:
            conn.execute(f"SET memory_limit = '{EXPORT_MEMORY}'")
            conn.register("kinds", kinds)
            try:
                written = conn.execute(copy, [run_id, paths]).fetchone()
            except duckdb.Error as error:
                self.check_segments(run_id, full=True)
                raise StoreError(f"run {run_id}: exporting its outcomes failed: {error}") from None
        return int(written[0]) if written else 0

    def outcome_values(self, run_id: str, expression: str) -> npt.NDArray[Any]:
        """Values of one SQL expression over a run's outcomes, e.g. `DISTINCT sample_index`.

        Rejected scenarios are left out, as in `outcomes`. Computed by DuckDB: only the
        values are loaded.
        """
        query = self._outcomes_query(run_id, f"{expression} AS value", where=None, rejected=False)
        values: npt.NDArray[Any] = self._read(run_id, query, lambda r: r.fetchnumpy()["value"])
        return values

    def outcome_columns(self, run_id: str) -> list[str]:
        """The names of a run's outcome columns, in stored order."""
        query = self._outcomes_query(run_id, "*", where=None, rejected=True) + " LIMIT 0"
        names: list[str] = self._read(
            run_id, query, lambda result: [d[0] for d in result.description]
        )
        return names

    def _outcomes_query(
        self, run_id: str, selected: str, *, where: str | None, rejected: bool
    ) -> str:
        """`SELECT selected` over a run's segments (the `?` parameter), filtered."""
        query = f"SELECT {selected} FROM read_parquet(?)"
        conditions = [f"({where})"] if where else []
        refused = None if rejected else self.rejected_condition(run_id)
        if refused is not None:
            conditions.append(refused)
        if conditions:
            query += f" WHERE {' AND '.join(conditions)}"
        return query

    def _read(
        self, run_id: str, query: str, fetch: Callable[[duckdb.DuckDBPyConnection], Any]
    ) -> Any:
        """`fetch` of a query over a run's checked segments (the query's `?` is their paths)."""
        paths = self.checked_segment_paths(run_id)
        with self.connect() as conn:
            try:
                return fetch(conn.execute(query, [paths]))
            except duckdb.Error as error:
                # a damaged data page passes the footer check: the checksums name its unit
                self.check_segments(run_id, full=True)
                raise StoreError(f"run {run_id}: reading its outcomes failed: {error}") from None

    def aggregate(
        self,
        runs: str | Sequence[str],
        metric: str,
        *,
        by: str | Sequence[str] = "scenario",
        interval: str = "normal",
        level: float = 0.95,
        where: str | None = None,
    ) -> pd.DataFrame:
        """Mean of an outcome metric over the outcomes of many runs, by group, with intervals.

        Computed by DuckDB straight from the Parquet segments (out of core: nothing but the
        result is loaded into memory). See `wince.store.queries.aggregate` for the intervals.

        Args:
            runs: run ids, unique id prefixes or `latest`.
            metric: a plan metric that is a mean of one outcome column (`flip_rate`,
                `accuracy`, `confidence_change`, `true_class_prob_change`, `mae`) or a
                numeric outcome column (`flipped`, `confidence_delta`, `value_delta` …).
            by: grouping columns: outcome columns and `run_id`.
            interval: `normal` (clustered by sample, default) or `wilson` (0/1 metrics).
            level: confidence level of the interval, in (0, 1).
            where: optional SQL condition on outcome columns (DuckDB dialect).

        Returns:
            One row per group: the `by` columns, `n` (outcomes), `n_clusters` (samples),
            `mean`, `low`, `high`, sorted by the `by` columns.
        """
        from wince.store.queries import aggregate

        return aggregate(self, runs, metric, by=by, interval=interval, level=level, where=where)

    # analyses --------------------------------------------------------------------------------
    def save_analysis(self, run_id: str, name: str, payload: dict[str, Any]) -> None:
        """Store (or replace) a named analysis result of a run as strict JSON.

        NaN and infinities become null (PostgreSQL's JSON type refuses them); numpy scalars
        become Python numbers.
        """
        table = catalog.analyses
        payload = strict_json(payload)

        def work(conn: sa.Connection) -> None:
            conn.execute(
                sa.delete(table).where(table.c.run_id == run_id).where(table.c.name == name)
            )
            conn.execute(
                sa.insert(table).values(run_id=run_id, name=name, created_at=now(), payload=payload)
            )

        catalog.transact(self.engine, work, retry_on=(sa.exc.IntegrityError,))

    def list_analyses(self, run_id: str, *, prefix: str = "") -> list[tuple[str, dict[str, Any]]]:
        """(name, payload) of a run's stored analyses whose name starts with `prefix`, by name."""
        table = catalog.analyses
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(table.c.name, table.c.payload)
                .where(table.c.run_id == run_id)
                .where(table.c.name.startswith(prefix, autoescape=True))
                .order_by(table.c.name)
            ).fetchall()
        return [(str(name), dict(payload)) for name, payload in rows]

    def load_analysis(self, run_id: str, name: str) -> dict[str, Any] | None:
        """A stored analysis result, or None."""
        table = catalog.analyses
        with self.engine.connect() as conn:
            payload = conn.execute(
                sa.select(table.c.payload)
                .where(table.c.run_id == run_id)
                .where(table.c.name == name)
            ).scalar()
        return dict(payload) if payload is not None else None


@dataclass(frozen=True)
class DamagedUnit:
    """A registered unit whose segment does not hold what the catalog says.

    Attributes:
        start: the unit's first sample index.
        stop: one past its last sample index.
        segment: the segment's name, relative to the segments location.
        problem: what is wrong, as a clause ("the file is missing").
    """

    start: int
    stop: int
    segment: str
    problem: str


def sample_range(footer: pq.FileMetaData) -> tuple[int | None, int | None]:
    """Lowest and highest `sample_index` in a segment, from its footer's statistics."""
    lows, highs = [], []
    for group in range(footer.num_row_groups):
        row_group = footer.row_group(group)
        for column in range(row_group.num_columns):
            chunk = row_group.column(column)
            if chunk.path_in_schema == "sample_index":
                stats = chunk.statistics
                if stats is None or not stats.has_min_max:
                    return None, None
                lows.append(int(stats.min))
                highs.append(int(stats.max))
    if not lows:
        return None, None
    return min(lows), max(highs)


def _sql_text(text: str) -> str:
    """`text` inside a single-quoted SQL string literal."""
    return text.replace("'", "''")


def _quoted(column: str) -> str:
    return '"' + column.replace('"', '""') + '"'


def strict_json(value: Any) -> Any:
    """`value` with non-finite floats as None and numpy scalars and arrays as Python values."""
    if isinstance(value, dict):
        return {str(k): strict_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [strict_json(v) for v in value]
    if isinstance(value, np.ndarray):
        return strict_json(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def open_store(
    url: str | Path | None = None,
    *,
    root: str | Path | None = None,
    segments: str | Path | None = None,
) -> Store:
    """Open (or create) a results store.

    Args:
        url: SQLAlchemy URL of the catalog, or a folder path; default `$WINCE_STORE`, else the
            folder `.wince` in the working directory.
        root: folder for the default SQLite catalog and segments.
        segments: folder or fsspec URL of the outcome segments; default `$WINCE_SEGMENTS`,
            else the location recorded in the catalog, else `<root>/segments`.

    Raises:
        StoreError: the catalog cannot be reached or is newer than this wince, or the
            segments URL's protocol is not installed.

    Examples:
        >>> import tempfile
        >>> store = open_store(
        ...     f"sqlite:///{tempfile.mkdtemp()}/team.db", segments="memory://doc-team/segments"
        ... )
        >>> store.segments.url, store.setting("segments")
        ('memory://doc-team/segments', 'memory://doc-team/segments')
    """
    url = os.fspath(url) if url else os.environ.get("WINCE_STORE")
    segments = segments or os.environ.get("WINCE_SEGMENTS") or None
    if url and "://" not in url:
        return Store(root=url, segments=segments)
    return Store(url, root=root or DEFAULT_ROOT, segments=segments)
