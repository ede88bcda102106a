"""Engine fixtures: one local Ray for every Ray test of the session.

Starting Ray takes 5-12 s and holds about 0.7 GB, so it is started once, on first use, and
stopped when the session ends. A machine without the `ray` extra skips the Ray tests, except
under CI (`CI` set to anything), where a missing extra fails them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from typing import Any

import pytest

from require import require_module


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[Any]:
    """A local Ray with 2 CPUs, loopback only, a small object store, no dashboard."""
    ray = require_module("ray", "ray")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if ray.is_initialized():
        ray.shutdown()
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        _node_ip_address="127.0.0.1",
        object_store_memory=128 * 1024**2,
        logging_level=logging.ERROR,
    )
    yield ray
    from wince.engine.executors import release_ray_workers

    release_ray_workers()
    ray.shutdown()
