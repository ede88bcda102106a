"""Repairing a store: damaged units dropped, a lost catalog rebuilt from the segments alone.

`wince repair` uses both. A damaged unit (`Store.damaged_units`: missing, unreadable, another
unit's, or changed since it was written) is dropped from the catalog with its file set aside
as `<name>.damaged` (`Store.drop_units`), so the next `wince run` of the plan recomputes it.

A catalog can be lost while the segments survive: a deleted `wince.db`, an emptied or
replaced database. The segments location then holds run folders that no catalog row names
(`Store.orphan_runs`), and `rebuild_catalog` rebuilds each such run: its catalog row and
scenarios from the `run.json` the store writes beside its segments whenever the row changes
(`Store.save_run_record`), and one unit per sound segment, from the segment itself: the sample
range from its name (checked against its `sample_index` statistics), the row count from its
footer, the checksum and size from its bytes, the refusals and timing from its key-value
metadata. A segment that does not read is set aside as damaged, and a run whose segments do not
cover all its samples is left `running`, so the next `wince run` recomputes what is missing.
Stored analyses are not rebuilt: `wince analyze` recomputes them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import sqlalchemy as sa

from wince.store import catalog
from wince.store.store import MISSING, RUN_RECORD, UNIT_KEY, DamagedUnit, Store, sample_range

# `<start>-<stop>.parquet`, as `Store.write_unit` names a unit's segment.
SEGMENT_NAME = re.compile(r"(\d+)-(\d+)\.parquet")


@dataclass(frozen=True)
class RebuiltRun:
    """What `rebuild_catalog` made of one run folder that no catalog row named.

    Attributes:
        run_id: the run (its folder's name).
        units: units registered again, one per sound segment.
        set_aside: segments that did not read or overlap another, set aside as `.damaged`.
            They, and the samples of a run recorded complete that no segment holds, are
            added to the run's lineage `repaired_units` and the run is left `running`, so
            the next `wince run` recomputes them (`Store.dropped_ranges`).
        problem: why the run was not rebuilt (None: it was).
    """

    run_id: str
    units: int = 0
    set_aside: list[DamagedUnit] = field(default_factory=list)
    problem: str | None = None


def rebuild_catalog(store: Store) -> list[RebuiltRun]:
    """Rebuild the catalog rows of every run whose folder the catalog does not name.

    Runs already in the catalog are left as they are; a run is registered in one transaction
    (its row, scenarios, units and refusals), so an interrupted rebuild can be run again.

    Returns:
        One entry per orphan run folder (`Store.orphan_runs`), by run id.
    """
    return [_rebuild_run(store, run_id) for run_id in store.orphan_runs()]


def read_run_record(store: Store, run_id: str) -> tuple[dict[str, Any], list[Any]] | str:
    """A run's `run.json`: its catalog row and scenarios, or what is wrong with it."""
    try:
        record = json.loads(store.segments.read_bytes(f"{run_id}/{RUN_RECORD}"))
        return dict(record["run"]), list(record["scenarios"])
    except FileNotFoundError:
        return f"its folder has no {RUN_RECORD} (a run stored by a wince older than `wince repair`)"
    except (OSError, ValueError, KeyError, TypeError) as error:
        return f"its {RUN_RECORD} does not read ({error})"


CHECKED_FIELDS = ("run_id", "n_samples", "plan_digest", "model_fingerprint", "data_fingerprint")
"""The fields of run.json that must agree with the catalog's row of the run."""


def record_problem(store: Store, run_id: str) -> str | None:
    """What is wrong with a run's `run.json`: unreadable, or disagreeing with the catalog."""
    record = read_run_record(store, run_id)
    if isinstance(record, str):
        return record
    stored, catalog = record[0], store.run(run_id)
    differing = [f for f in CHECKED_FIELDS if f in stored and stored[f] != catalog.get(f)]
    if differing:
        return f"its {RUN_RECORD} disagrees with the catalog on {', '.join(differing)}"
    return None


def _rebuild_run(store: Store, run_id: str) -> RebuiltRun:
    record = read_run_record(store, run_id)
    if isinstance(record, str):
        return RebuiltRun(
            run_id,
            problem=f"{record}: its plan and scenarios are lost with the catalog; run its plan "
            "again",
        )
    run, scenarios = record
    n_samples = int(run["n_samples"])
    units: list[dict[str, Any]] = []
    refusals: list[dict[str, Any]] = []
    damaged: list[DamagedUnit] = []
    covered = 0  # units are taken by start; the next must start at or after this
    for name in store.segments.segment_names(run_id):
        matched = SEGMENT_NAME.fullmatch(name.rpartition("/")[2])
        if matched is None:
            continue  # not a unit's segment
        start, stop = int(matched[1]), int(matched[2])
        unit = _read_unit(store, run, name, start, stop)
        if isinstance(unit, _Unit) and start < covered:
            unit = "it overlaps the samples of another segment of the run"
        if isinstance(unit, str):
            damaged.append(DamagedUnit(start, stop, name, unit))
            continue
        covered = stop
        units.append(unit.row)
        refusals += unit.refusals
    registered = [(u["start"], u["stop"]) for u in units]
    lost = [
        {
            "start": u.start,
            "stop": u.stop,
            "problem": u.problem,
            "set_aside": store.segments.set_aside(u.segment),
        }
        for u in damaged
    ]
    if run["status"] == "complete":  # then any sample without a segment lost it
        known = registered + [(u.start, u.stop) for u in damaged]
        lost += [
            {"start": start, "stop": stop, "problem": MISSING, "set_aside": None}
            for start, stop in _gaps(known, n_samples)
        ]
    if lost:  # `running`, so that the next `wince run` recomputes them (`dropped_ranges`)
        lineage = dict(run["lineage"])
        run["lineage"] = {**lineage, "repaired_units": [*lineage.get("repaired_units", []), *lost]}
        run["status"] = "running"

    def work(conn: sa.Connection) -> None:
        runs = catalog.runs
        if conn.execute(sa.select(runs.c.run_id).where(runs.c.run_id == run_id)).first():
            return  # rebuilt meanwhile by another client
        conn.execute(sa.insert(runs).values(**run))
        for table, rows in (
            (catalog.scenarios, [{"run_id": run_id, **s} for s in scenarios]),
            (catalog.units, units),
            (catalog.rejections, refusals),
        ):
            if rows:
                conn.execute(sa.insert(table), rows)

    catalog.transact(store.engine, work, retry_on=(sa.exc.IntegrityError,))
    store.save_run_record(run_id)
    return RebuiltRun(run_id, units=len(units), set_aside=damaged)


@dataclass(frozen=True)
class _Unit:
    """A unit's catalog rows: its `units` row and its `rejections` rows."""

    row: dict[str, Any]
    refusals: list[dict[str, Any]]


def _gaps(ranges: Sequence[tuple[int, int]], n_samples: int) -> list[tuple[int, int]]:
    """The (start, stop) ranges of samples 0 to `n_samples` - 1 that no range covers."""
    gaps, covered = [], 0
    for start, stop in sorted(ranges):
        if start > covered:
            gaps.append((covered, start))
        covered = max(covered, stop)
    return gaps + [(covered, n_samples)] * (covered < n_samples)


def _read_unit(store: Store, run: dict[str, Any], name: str, start: int, stop: int) -> _Unit | str:
    """A unit's catalog rows from its segment alone, or what is wrong with the segment."""
    from wince.engine import rejections

    run_id, n_samples = run["run_id"], int(run["n_samples"])
    if not 0 <= start < stop <= n_samples:
        return f"its name's samples {start}-{stop - 1} are not among the run's {n_samples}"
    try:
        footer = store.segments.footer(name)
        checksum, size = store.segments.checksum(name), store.segments.size(name)
    except (OSError, pa.ArrowException) as error:
        return f"it is not a readable Parquet file ({str(error).splitlines()[0]})"
    low, high = sample_range(footer)
    if low is not None and high is not None and (low < start or high >= stop):
        return f"it holds samples {low}-{high}, not those of its name ({start}-{stop - 1})"
    schema = footer.schema.to_arrow_schema()
    # segments written before UNIT_KEY existed carry no timing: the run's creation then
    timing = json.loads((schema.metadata or {}).get(UNIT_KEY, b"{}"))
    row = {
        "run_id": run_id,
        "start": start,
        "stop": stop,
        "segment": name,
        "rows": footer.num_rows,
        "seconds": float(timing.get("seconds", 0.0)),
        "created_at": str(timing.get("created_at", run["created_at"])),
        "bytes": size,
        "checksum": checksum,
    }
    refusals = [
        {
            "run_id": run_id,
            "start": start,
            "position": r.position,
            "scenario": r.scenario,
            "trials": r.trials,
            "samples": stop - start,
            "error": r.error,
        }
        for r in rejections.read(schema.empty_table())
    ]
    return _Unit(row, refusals)


def dropped_message(run_id: str, units: int, damaged: Sequence[DamagedUnit]) -> str:
    """`run abc: 2 of 40 units damaged (samples 10-19, 30-39: <problem>); dropped; …`."""
    by_problem: dict[str, list[str]] = {}
    for unit in damaged:
        by_problem.setdefault(unit.problem, []).append(f"{unit.start}-{unit.stop - 1}")
    reasons = "; ".join(
        f"samples {', '.join(ranges)}: {problem}" for problem, ranges in by_problem.items()
    )
    return (
        f"run {run_id}: {len(damaged)} of {units} units damaged ({reasons}); dropped from the "
        "catalog, their files set aside as *.damaged"
    )
