"""The results store: a catalog (SQLAlchemy) plus Parquet outcome segments.

Outcome segments are written to a temporary name, renamed into place, then registered in the
catalog, so a crash at any point leaves either a registered, complete segment or nothing that
counts. Re-running skips registered units and overwrites unregistered leftovers.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import time
import uuid
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa

from wince.errors import StoreError
from wince.store import catalog

DEFAULT_ROOT = ".wince"


def now() -> str:
    """Current UTC time in ISO 8601."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


class Store:
    """Catalog and outcome segments of many runs.

    Args:
        url: SQLAlchemy URL of the catalog; default a SQLite file `<root>/wince.db`.
        root: folder for the default catalog and the segments.
        segments: folder for outcome segments; default `<root>/segments`.

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
        self.segments = Path(segments) if segments is not None else self.root / "segments"
        if url is None:
            self.root.mkdir(parents=True, exist_ok=True)
            url = f"sqlite:///{self.root / 'wince.db'}"
        self.url = url
        try:
            self.engine = sa.create_engine(url, **_engine_options(url))
            if url.startswith("sqlite"):
                sa.event.listen(self.engine, "connect", _sqlite_pragmas)
            self._create_schema()
        except sa.exc.SQLAlchemyError as error:
            raise StoreError(
                f"cannot open the results store at {url}: {error.__class__.__name__}: "
                f"{error.orig if hasattr(error, 'orig') else error}. Check the --store URL."
            ) from None

    def _create_schema(self, attempts: int = 5) -> None:
        """Create missing tables; another process may be creating them at the same time."""
        for attempt in range(attempts):
            try:
                catalog.metadata.create_all(self.engine)
                with self.engine.begin() as conn:
                    if conn.execute(sa.select(catalog.schema_version)).first() is None:
                        conn.execute(
                            sa.insert(catalog.schema_version).values(version=catalog.SCHEMA_VERSION)
                        )
                return
            except (sa.exc.OperationalError, sa.exc.IntegrityError, sa.exc.ProgrammingError):
                if attempt == attempts - 1:
                    raise
                time.sleep(0.05 * (attempt + 1))  # the other creator wins; check again

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
        """Register a run and its scenarios; returns False if the run already exists."""
        with self.engine.begin() as conn:
            exists = conn.execute(
                sa.select(catalog.runs.c.run_id).where(catalog.runs.c.run_id == run_id)
            ).first()
            if exists:
                conn.execute(
                    sa.update(catalog.runs)
                    .where(catalog.runs.c.run_id == run_id)
                    .where(catalog.runs.c.status != "complete")
                    .values(status="running", error=None)
                )
                return False
            conn.execute(
                sa.insert(catalog.runs).values(
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
            conn.execute(
                sa.insert(catalog.scenarios),
                [{"run_id": run_id, "position": i, **s} for i, s in enumerate(scenarios)],
            )
        return True

    def finish_run(
        self, run_id: str, *, status: str, error: str | None = None, timings: dict[str, Any]
    ) -> None:
        """Mark a run complete or failed and record its timings in the lineage."""
        self.update_lineage(run_id, {"timings": timings})
        with self.engine.begin() as conn:
            conn.execute(
                sa.update(catalog.runs)
                .where(catalog.runs.c.run_id == run_id)
                .values(status=status, error=error, finished_at=now())
            )

    def update_lineage(self, run_id: str, extra: dict[str, Any]) -> None:
        """Merge `extra` into a stored run's lineage (one transaction)."""
        table = catalog.runs
        with self.engine.begin() as conn:
            lineage = conn.execute(
                sa.select(table.c.lineage).where(table.c.run_id == run_id)
            ).scalar_one()
            conn.execute(
                sa.update(table)
                .where(table.c.run_id == run_id)
                .values(lineage={**lineage, **strict_json(extra)})
            )

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
        """All runs, newest first: id, name, status, created, samples, fingerprints."""
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
        ]
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(*columns).order_by(catalog.runs.c.created_at.desc()))
            return pd.DataFrame(rows.fetchall(), columns=[c.name for c in columns])

    def resolve(self, ref: str) -> str:
        """A run id from an id, a unique id prefix, or `latest`.

        Raises:
            StoreError: no run, or an ambiguous prefix.
        """
        runs = self.list_runs()
        if runs.empty:
            raise StoreError(f"the store at {self.url} holds no runs yet. Start with `wince run`.")
        if ref in ("latest", "last"):
            return str(runs["run_id"].iloc[0])
        matches = runs[runs["run_id"].str.startswith(ref)]["run_id"].tolist()
        if len(matches) == 1:
            return str(matches[0])
        if not matches:
            raise StoreError(f"no run {ref!r} in the store at {self.url}. See `wince runs`.")
        raise StoreError(f"run prefix {ref!r} is ambiguous: {', '.join(matches)}.")

    def scenarios(self, run_id: str) -> pd.DataFrame:
        """Scenarios of a run in plan order."""
        table = catalog.scenarios
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(table).where(table.c.run_id == run_id).order_by(table.c.position)
            )
            return pd.DataFrame(rows.fetchall(), columns=list(rows.keys()))

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

    def write_unit(
        self, run_id: str, start: int, stop: int, table: pa.Table, *, seconds: float
    ) -> None:
        """Write a unit's outcomes as a Parquet segment, atomically, then register it."""
        folder = self.segments / run_id
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{start:010d}-{stop:010d}.parquet"
        temporary = folder / f".{name}.{uuid.uuid4().hex}.tmp"
        try:
            pq.write_table(table, temporary, compression="zstd")
            os.replace(temporary, folder / name)
        except OSError as error:
            temporary.unlink(missing_ok=True)
            raise StoreError(f"cannot write outcomes to {folder}: {error.strerror}.") from None
        with self.engine.begin() as conn:
            conn.execute(
                sa.insert(catalog.units).values(
                    run_id=run_id,
                    start=start,
                    stop=stop,
                    segment=f"{run_id}/{name}",
                    rows=table.num_rows,
                    seconds=seconds,
                    created_at=now(),
                )
            )

    def segment_paths(self, run_id: str) -> list[str]:
        """Paths of the registered segments of a run."""
        table = catalog.units
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(table.c.segment).where(table.c.run_id == run_id).order_by(table.c.start)
            )
            return [str(self.segments / segment) for (segment,) in rows]

    def outcomes(self, run_id: str, *, where: str | None = None) -> pd.DataFrame:
        """All outcomes of a run as one frame, ordered by scenario, trial and sample.

        Args:
            run_id: the run.
            where: optional SQL condition on outcome columns (DuckDB dialect).
        """
        paths = self.segment_paths(run_id)
        if not paths:
            raise StoreError(f"run {run_id} has no stored outcomes yet.")
        missing = [p for p in paths if not Path(p).exists()]
        if missing:
            raise StoreError(
                f"run {run_id}: {len(missing)} registered segment(s) are missing, e.g. "
                f"{missing[0]}. The segments folder was moved or deleted."
            )
        query = "SELECT * FROM read_parquet(?)"
        if where:
            query += f" WHERE {where}"
        query += " ORDER BY position, trial, sample_index"
        with duckdb.connect() as conn:
            return conn.execute(query, [paths]).df()

    # analyses --------------------------------------------------------------------------------
    def save_analysis(self, run_id: str, name: str, payload: dict[str, Any]) -> None:
        """Store (or replace) a named analysis result of a run as strict JSON.

        NaN and infinities become null (PostgreSQL's JSON type refuses them); numpy scalars
        become Python numbers.
        """
        table = catalog.analyses
        payload = strict_json(payload)
        with self.engine.begin() as conn:
            conn.execute(
                sa.delete(table).where(table.c.run_id == run_id).where(table.c.name == name)
            )
            conn.execute(
                sa.insert(table).values(run_id=run_id, name=name, created_at=now(), payload=payload)
            )

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


def _engine_options(url: str) -> dict[str, Any]:
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 60}}
    return {"pool_pre_ping": True}


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def open_store(
    url: str | None = None, *, root: str | Path | None = None, segments: str | Path | None = None
) -> Store:
    """Open (or create) a results store.

    Args:
        url: SQLAlchemy URL of the catalog, or a folder path; default `$WINCE_STORE`, else the
            folder `.wince` in the working directory.
        root: folder for the default SQLite catalog and segments.
        segments: folder for outcome segments.
    """
    url = url or os.environ.get("WINCE_STORE")
    if url and "://" not in url:
        return Store(root=url, segments=segments)
    return Store(url, root=root or DEFAULT_ROOT, segments=segments)
