"""The catalog: runs, scenarios, completed work units and analyses, through SQLAlchemy Core.

SQLite by default; any SQLAlchemy URL (PostgreSQL through psycopg 3) for a team. A work unit
is done exactly when its row is here; its outcomes live in the Parquet segment it names.

Schema versions. `schema_version` holds one row per version the catalog has been at; the
highest is the current one. Opening a catalog upgrades it, one step at a time
(`MIGRATIONS[k]` takes version k to k + 1), inside one transaction that holds the catalog's
write lock (SQLite `BEGIN IMMEDIATE`; a PostgreSQL advisory transaction lock), so concurrent
openers wait for each other and an interrupted upgrade leaves the old version intact. A
catalog newer than this library is refused. Migrations use DDL frozen at their version, never
the current `metadata`, so an old catalog upgrades to exactly what a new one is created as.

Version history:
    1. runs, scenarios, units, analyses.
    2. `settings` (key/value: where the segments live, so every client finds them),
       `units.bytes` (segment size), an index on `runs.name` (history of a plan).
    3. `rejections`: per unit, the scenarios whose inputs the model refused, with the first
       line of its error (`wince.engine.rejections`).
    4. `units.checksum`: the SHA-256 of the segment's bytes as written, so `wince verify`
       finds a segment changed after it was written (null for units written before).

Transactions. SQLite runs in WAL mode with a 60 s busy timeout; write transactions start
with `BEGIN IMMEDIATE`, so two writers queue for the lock instead of failing when a read
transaction tries to become a write one. `transact` retries transient failures (a locked
SQLite file, a PostgreSQL serialization failure or deadlock) with jittered backoff.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import sqlalchemy as sa

from wince.errors import StoreError

SCHEMA_VERSION = 4

# Any constant fixed for wince: the PostgreSQL advisory lock that serialises schema changes.
ADVISORY_LOCK = 0x77696E6365  # "wince"
SQLITE_BUSY_TIMEOUT_S = 60.0

metadata = sa.MetaData()

schema_version = sa.Table(
    "schema_version",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True),
)

settings = sa.Table(
    "settings",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("run_id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, index=True),
    sa.Column("status", sa.String(16), nullable=False),  # running | complete | failed
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("finished_at", sa.String(40)),
    sa.Column("plan_digest", sa.String(32), nullable=False),
    sa.Column("model_fingerprint", sa.String(64), nullable=False),
    sa.Column("data_fingerprint", sa.String(64), nullable=False),
    sa.Column("task", sa.String(16), nullable=False),
    sa.Column("n_samples", sa.Integer, nullable=False),
    sa.Column("lineage", sa.JSON, nullable=False),
    sa.Column("error", sa.Text),
)

scenarios = sa.Table(
    "scenarios",
    metadata,
    sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.run_id"), primary_key=True),
    sa.Column("position", sa.Integer, primary_key=True),
    sa.Column("scenario", sa.Text, nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("steps", sa.JSON, nullable=False),
    sa.Column("severity", sa.Float, nullable=False),
    sa.Column("trials", sa.Integer, nullable=False),
)

units = sa.Table(
    "units",
    metadata,
    sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.run_id"), primary_key=True),
    sa.Column("start", sa.Integer, primary_key=True),
    sa.Column("stop", sa.Integer, nullable=False),
    sa.Column("segment", sa.Text, nullable=False),
    sa.Column("rows", sa.Integer, nullable=False),
    sa.Column("seconds", sa.Float, nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("bytes", sa.BigInteger),
    sa.Column("checksum", sa.String(64)),  # SHA-256 (hex) of the segment file
)

# One row per (unit, scenario) the model refused; registered with its unit, in one transaction.
rejections = sa.Table(
    "rejections",
    metadata,
    sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.run_id"), primary_key=True),
    sa.Column("start", sa.Integer, primary_key=True),  # the unit
    sa.Column("position", sa.Integer, primary_key=True),  # the scenario
    sa.Column("scenario", sa.Text, nullable=False),
    sa.Column("trials", sa.Integer, nullable=False),  # trials refused on this unit
    sa.Column("samples", sa.Integer, nullable=False),  # the unit's samples
    sa.Column("error", sa.Text, nullable=False),  # first line of the model's error
)

analyses = sa.Table(
    "analyses",
    metadata,
    sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.run_id"), primary_key=True),
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("payload", sa.JSON, nullable=False),
)

T = TypeVar("T")


# migrations ------------------------------------------------------------------------------------
def _upgrade_1_to_2(conn: sa.Connection) -> None:
    frozen = sa.MetaData()
    sa.Table(
        "settings",
        frozen,
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    frozen.create_all(conn)
    conn.execute(sa.text("ALTER TABLE units ADD COLUMN bytes BIGINT"))
    conn.execute(sa.text("CREATE INDEX IF NOT EXISTS ix_runs_name ON runs (name)"))


def _upgrade_2_to_3(conn: sa.Connection) -> None:
    frozen = sa.MetaData()
    sa.Table("runs", frozen, sa.Column("run_id", sa.String(32), primary_key=True))
    sa.Table(
        "rejections",
        frozen,
        sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.run_id"), primary_key=True),
        sa.Column("start", sa.Integer, primary_key=True),
        sa.Column("position", sa.Integer, primary_key=True),
        sa.Column("scenario", sa.Text, nullable=False),
        sa.Column("trials", sa.Integer, nullable=False),
        sa.Column("samples", sa.Integer, nullable=False),
        sa.Column("error", sa.Text, nullable=False),
    )
    frozen.create_all(conn, tables=[frozen.tables["rejections"]])


def _upgrade_3_to_4(conn: sa.Connection) -> None:
    conn.execute(sa.text("ALTER TABLE units ADD COLUMN checksum VARCHAR(64)"))


Migration = Callable[[sa.Connection], None]

# MIGRATIONS[k] upgrades a catalog from version k to k + 1, inside the caller's transaction.
MIGRATIONS: dict[int, Migration] = {
    1: _upgrade_1_to_2,
    2: _upgrade_2_to_3,
    3: _upgrade_3_to_4,
}


def current_version(conn: sa.Connection) -> int | None:
    """The catalog's schema version, or None for an empty database."""
    names = set(sa.inspect(conn).get_table_names())
    if "schema_version" not in names:
        if "runs" in names:
            return 1  # created before the version table existed: version 1's tables
        return None
    found = conn.execute(sa.select(sa.func.max(schema_version.c.version))).scalar()
    return 1 if found is None else int(found)


def prepare(engine: sa.Engine, url: str) -> tuple[int | None, int]:
    """Create or upgrade the catalog's schema; returns (version found, version now).

    Raises:
        StoreError: the catalog was written by a newer wince (its schema version is higher).
    """

    def work(conn: sa.Connection) -> tuple[int | None, int]:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(ADVISORY_LOCK)))
        found = current_version(conn)
        if found is None:
            metadata.create_all(conn)
            conn.execute(sa.insert(schema_version).values(version=SCHEMA_VERSION))
            return None, SCHEMA_VERSION
        if found > SCHEMA_VERSION:
            raise StoreError(
                f"the results store at {safe_url(url)} has catalog schema version {found}, "
                f"newer than this wince understands (version {SCHEMA_VERSION}). Upgrade wince "
                "(pip install -U wince) on this machine, or use a store of your version."
            )
        for version in range(found, SCHEMA_VERSION):
            MIGRATIONS[version](conn)
            conn.execute(sa.insert(schema_version).values(version=version + 1))
        return found, SCHEMA_VERSION

    return transact(engine, work)


# engines and transactions ---------------------------------------------------------------------
def create_engine(url: str) -> sa.Engine:
    """A SQLAlchemy engine for the catalog at `url`, set up for concurrent writers."""
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})
        sa.event.listen(engine, "connect", _sqlite_connect)
        sa.event.listen(engine, "begin", _sqlite_begin)
        return engine
    return sa.create_engine(url, pool_pre_ping=True)


def _sqlite_connect(connection: Any, _record: Any) -> None:
    # Take transactions out of pysqlite's hands: `_sqlite_begin` emits BEGIN itself, and
    # DDL stays inside transactions (migrations are all-or-nothing).
    connection.isolation_level = None
    cursor = connection.cursor()
    for attempt in range(20):
        try:
            # Switching to WAL needs a moment of exclusive access; another process opening
            # the same new file at the same time can make it fail once.
            cursor.execute("PRAGMA journal_mode=WAL")
            break
        except Exception:
            if attempt == 19:
                raise
            time.sleep(0.05 * (attempt + 1))
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=OFF")
    cursor.close()


def _sqlite_begin(conn: sa.Connection) -> None:
    immediate = conn.get_execution_options().get("wince_write", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


@contextmanager
def writing(engine: sa.Engine) -> Iterator[sa.Connection]:
    """One write transaction (SQLite: `BEGIN IMMEDIATE`), committed on exit; no retries."""
    with engine.connect() as conn:
        conn.execution_options(wince_write=True)
        with conn.begin():
            yield conn


def transact(
    engine: sa.Engine,
    work: Callable[[sa.Connection], T],
    *,
    attempts: int = 10,
    retry_on: tuple[type[Exception], ...] = (),
) -> T:
    """Run `work(conn)` in one write transaction, retrying transient failures.

    Args:
        engine: the catalog's engine.
        work: the transaction's body; it may run more than once, so it must not have side
            effects outside the connection.
        attempts: tries before the last error is raised.
        retry_on: further exception types to retry (e.g. IntegrityError when a concurrent
            writer may have inserted the same row first).
    """
    for attempt in range(attempts):
        try:
            with writing(engine) as conn:
                return work(conn)
        except sa.exc.DBAPIError as error:
            if attempt == attempts - 1 or not (is_transient(error) or isinstance(error, retry_on)):
                raise
        except retry_on:
            if attempt == attempts - 1:
                raise
        # Jitter keeps two writers that collided from colliding again in lock step.
        time.sleep(min(2.0, 0.02 * 2**attempt) * (0.5 + random.random()))
    raise AssertionError("unreachable")


def is_transient(error: sa.exc.DBAPIError) -> bool:
    """Whether a database error goes away on retry (lock contention, serialisation)."""
    original = error.orig
    sqlstate = getattr(original, "sqlstate", None)
    if sqlstate in ("40001", "40P01", "55P03"):  # serialization, deadlock, lock not available
        return True
    text = str(original).lower()
    return "database is locked" in text or "database table is locked" in text or "busy" in text


def safe_url(url: str) -> str:
    """`url` without its password, for messages."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return url
