"""Shared fixtures.

`seed` is 0 by default. Set `WINCE_TEST_SEEDS` to sweep seeds, e.g. `WINCE_TEST_SEEDS=0-19`
(a range), `WINCE_TEST_SEEDS=3,7,11` (a list) or both (`0-4,10`); every test that takes `seed`
then runs once per seed.
"""

from __future__ import annotations

import os

import pytest


def _seeds(spec: str) -> list[int]:
    seeds: list[int] = []
    for part in spec.replace(" ", "").split(","):
        if not part:
            continue
        low, _, high = part.partition("-")
        try:
            seeds.extend(range(int(low), int(high or low) + 1))
        except ValueError:
            raise pytest.UsageError(
                f"WINCE_TEST_SEEDS must look like '0-19' or '0,3,7'; got {spec!r}."
            ) from None
    return seeds or [0]


@pytest.fixture(params=_seeds(os.environ.get("WINCE_TEST_SEEDS", "0")), ids=lambda s: f"seed{s}")
def seed(request: pytest.FixtureRequest) -> int:
    """The base random seed of a test (0 unless WINCE_TEST_SEEDS sweeps several)."""
    return int(request.param)
