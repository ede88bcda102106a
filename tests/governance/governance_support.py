"""Runs with known behaviour for the gate and compare tests (helpers; fixtures in conftest).

Two test-only perturbations shift one column each by a fixed amount (deterministic). Column 0
holds x0 on an even grid; columns 1 and 2 are zero on clean data. Model A predicts
x0 + column1 > 0 and model B x0 + column2 > 0: on clean data both predict x0 > 0, under
`shift_a` by v model A changes its prediction exactly for x0 in (-v, 0] and model B never,
and the reverse under `shift_b`.

Labels are x0 > -0.1, so the ten samples with x0 in (-0.1, 0] are wrong at baseline and
become right when they flip. With n = 200 and x0 = -0.995, -0.985, ..., 0.995:

- shift by 0.2 flips 20 samples (flip rate 0.10): 10 become right and 10 wrong, accuracy drop 0;
- shift by 0.6 flips 60 samples (flip rate 0.30): 10 right, 50 wrong, accuracy drop 0.20.
"""

from __future__ import annotations

import numpy as np

import wince
from wince.datasets import ArrayDataset
from wince.models import CallableAdapter
from wince.perturbations.base import Magnitude
from wince.perturbations.tabular import TabularPerturbation

N = 200
SHIFT_A = "tabular.test_gov_shift_a"
SHIFT_B = "tabular.test_gov_shift_b"


class _Shift(TabularPerturbation):
    column = 1
    version = 1
    stochastic = False
    magnitude = Magnitude(
        "shift_x", unit="column units", off=0.0, mild=0.1, severe=1.0, limits=(-5, 5)
    )

    def apply(self, x, value, rngs, context):
        out = x.copy()
        out[:, self.column] += value
        return out


class ShiftA(_Shift):
    """Test-only: adds a fixed amount to column 1."""

    name = SHIFT_A
    column = 1


class ShiftB(_Shift):
    """Test-only: adds a fixed amount to column 2."""

    name = SHIFT_B
    column = 2


def key(name, value):
    return f"{name}(shift_x={value:g})"


def grid_data(n=N):
    x0 = -1 + (2 * np.arange(n) + 1) / n
    x = np.column_stack([x0, np.zeros(n), np.zeros(n)])
    return ArrayDataset(x, (x0 > -0.1).astype(int))


def model_a(x):
    return (x[:, 0] + x[:, 1] > 0).astype(int)


def model_b(x):
    return (x[:, 0] + x[:, 2] > 0).astype(int)


PLAN = {
    "name": "gov",
    "perturbations": [
        {"name": SHIFT_A, "values": [0.2, 0.6]},
        {"name": SHIFT_B, "values": [0.2, 0.6]},
    ],
    "combinations": "pairwise",
    "repeats": 1,
    "analysis": {"bootstrap": 1000},
}


def run(store, fn, fingerprint, data=None, plan=None):
    return wince.run(
        CallableAdapter(fn, fingerprint=fingerprint),
        data if data is not None else grid_data(),
        plan or PLAN,
        store=store,
    )


def nan_refusing(x):
    """Scores from the first column; raises on any NaN, as many estimators do."""
    if np.isnan(x).any():
        raise ValueError("Input contains NaN.")
    return np.stack([x[:, 0], -x[:, 0]], axis=1)


def nan_refusing_model():
    """A plan factory: the model above, as an adapter with a stable fingerprint."""
    return CallableAdapter(nan_refusing, fingerprint="nan-refusing")


def small_table():
    """A plan factory: 40 rows of 3 standard normal columns, labelled by the first's sign."""
    x = np.random.default_rng(5).normal(size=(40, 3))
    return ArrayDataset(x, (x[:, 0] < 0).astype(int))
