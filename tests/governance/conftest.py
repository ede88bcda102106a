"""Fixtures of the governance tests: test-only perturbations and two runs with known flips."""

from __future__ import annotations

import pytest
from governance_support import SHIFT_A, SHIFT_B, ShiftA, ShiftB, model_a, model_b, run

from wince.perturbations import base
from wince.perturbations.base import register, registry
from wince.store.store import Store


@pytest.fixture(scope="module")
def shifts():
    registry()  # load the built-in perturbations into the real registry first
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(base, "_REGISTRY", dict(base._REGISTRY))
        register(ShiftA)
        register(ShiftB)
        yield SHIFT_A, SHIFT_B


@pytest.fixture(scope="module")
def runs(shifts, tmp_path_factory):
    """Store with run A (fragile to shift_a) and run B (fragile to shift_b)."""
    store = Store(root=tmp_path_factory.mktemp("gov-store"))
    a = run(store, model_a, "model-a")
    b = run(store, model_b, "model-b")
    return store, a.id, b.id
