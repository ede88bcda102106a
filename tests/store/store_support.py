"""Helpers of the store tests (importable by the worker processes they start)."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import sqlalchemy as sa

# Every table wince has created in any schema version, children first.
TABLES = ("analyses", "rejections", "units", "scenarios", "runs", "settings", "schema_version")


def postgres_url() -> str:
    """The test server's URL; a failure under CI, a skip elsewhere, when it is missing."""
    from require import require_service

    url = os.environ.get("WINCE_TEST_POSTGRES_URL", "")
    require_service("PostgreSQL", None if url else "set WINCE_TEST_POSTGRES_URL (.ci/run does)")
    return url


def empty_postgres() -> str:
    """The test server's URL after dropping wince's tables (a clean catalog per test)."""
    url = postgres_url()
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for table in TABLES:
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {table} CASCADE"))
    engine.dispose()
    return url


def linear_model(x: np.ndarray) -> np.ndarray:
    """Two-class scores from the first feature (the model of every store test)."""
    return np.stack([x[:, 0], -x[:, 0]], axis=1)


class MeetingModel:
    """`linear_model` that waits for the other writer's model at its `meet_at`-th call.

    Each worker has written units before the meeting and writes more after it, so the two
    runs' writes surely overlap in time, however busy the machine.
    """

    def __init__(self, barrier: Any, meet_at: int) -> None:
        self.barrier = barrier
        self.meet_at = meet_at
        self.calls = 0

    def __call__(self, x: np.ndarray) -> np.ndarray:
        self.calls += 1
        if self.calls == self.meet_at:
            self.barrier.wait(timeout=120)
        return linear_model(x)


def tabular_data(n: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """`n` samples of 3 standard-normal features, labelled by the sign of the first."""
    x = np.random.default_rng(0).normal(size=(n, 3))
    return x, (x[:, 0] < 0).astype(int)


def plan(name: str, *, batch_size: int = 32, repeats: int = 2) -> dict[str, object]:
    """A small tabular plan: Gaussian noise at two severities."""
    return {
        "name": name,
        "perturbations": [{"name": "tabular.gaussian_noise", "severities": [0.5, 1.0]}],
        "repeats": repeats,
        "batch_size": batch_size,
    }


def analyze_in_process(
    store_url: str, segments: str | None, name: str, n: int, batch_size: int, barrier: Any
) -> None:
    """Worker process: wait for the other writer, open the store, run a plan into it.

    With `segments` None only the catalog URL is given: the location comes from the catalog.
    The model is `linear_model` (same fingerprint and outputs) meeting the other writer's
    model halfway through the run, so the two runs write concurrently.
    """
    import wince
    from wince.models import CallableAdapter
    from wince.store import open_store

    barrier.wait(timeout=120)
    store = open_store(store_url, segments=segments)
    wince.run(
        CallableAdapter(MeetingModel(barrier, meet_at=n // batch_size * 5 // 2), fingerprint="m"),
        tabular_data(n),
        plan(name, batch_size=batch_size),
        store=store,
    )
    store.close()
