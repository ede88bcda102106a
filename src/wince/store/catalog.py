"""The catalog: runs, scenarios, completed work units and analyses, through SQLAlchemy Core.

SQLite by default; any SQLAlchemy URL (PostgreSQL through psycopg 3) for a team. A work unit
is done exactly when its row is here; its outcomes live in the Parquet segment it names.
"""

from __future__ import annotations

import sqlalchemy as sa

SCHEMA_VERSION = 1

metadata = sa.MetaData()

schema_version = sa.Table(
    "schema_version",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True),
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("run_id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
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
)

analyses = sa.Table(
    "analyses",
    metadata,
    sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.run_id"), primary_key=True),
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("payload", sa.JSON, nullable=False),
)
