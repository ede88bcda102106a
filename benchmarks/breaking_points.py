"""Breaking-point search against a dense 64-point severity grid, on an exposure oracle.

Each sample is a constant grey image; the model says "dark" when the mean pixel value is
below 0.2. Exposure at EV e maps grey g to srgb(lin(g) * 2**e), so sample g flips exactly at
EV = log2(lin(0.2) / lin(g)), severity EV / -3 (censored beyond severity 1). The benchmark
reports the model evaluations of the search as a share of a dense 64-point grid's
(samples x 64), the largest error of the recovered severities against the oracle, and the
median wall time of the search and of the dense grid over the repeats.

Run: python benchmarks/breaking_points.py [--samples 500] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from wince.analysis.breaking import breaking_points
from wince.datasets import ArrayDataset
from wince.engine.probe import Probe
from wince.models import CallableAdapter
from wince.perturbations.base import Step
from wince.perturbations.image.lighting import Exposure

THRESHOLD = 0.2
SEVERE_EV = -3.0


def srgb_to_linear(v):
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def darkness_model(x):
    return (x.reshape(len(x), -1).mean(axis=1) < THRESHOLD).astype(int)


def make_probe(levels, size):
    x = levels.astype(np.float32)[:, None, None, None] * np.ones(
        (len(levels), size, size, 3), np.float32
    )
    model = CallableAdapter(darkness_model, fingerprint="darkness")
    return Probe(model, ArrayDataset(x, modality="image"), seed=0)


def dense_grid(probe):
    """The reference: every sample at severities k/64, k = 1..64, plus the clean input."""
    index = np.arange(len(probe.dataset))
    magnitude = Exposure.magnitude
    clean = probe.predict(index, ()).labels
    first = np.full(len(index), np.inf)
    for k in range(64, 0, -1):
        severity = k / 64
        labels = probe.predict(index, [Step(Exposure.name, magnitude.value_at(severity))]).labels
        first[labels != clean] = severity
    return first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--size", type=int, default=32, help="image side in pixels")
    args = parser.parse_args()
    levels = np.linspace(0.25, 0.9, args.samples).astype(np.float32)
    oracle = np.log2(srgb_to_linear(THRESHOLD) / srgb_to_linear(levels.astype(np.float64)))
    oracle = oracle / SEVERE_EV
    oracle[oracle > 1] = np.inf
    search_seconds, grid_seconds = [], []
    for _ in range(args.repeats):
        probe = make_probe(levels, args.size)
        started = time.perf_counter()
        result = breaking_points(probe, Exposure.name)
        search_seconds.append(time.perf_counter() - started)
        probe = make_probe(levels, args.size)
        started = time.perf_counter()
        grid = dense_grid(probe)
        grid_seconds.append(time.perf_counter() - started)
    found = result.table["breaking_severity"].to_numpy()
    finite = np.isfinite(oracle)
    assert np.array_equal(np.isfinite(found), finite), "censoring differs from the oracle"
    error = np.abs(found[finite] - oracle[finite])
    grid_error = np.abs(grid[finite] - oracle[finite])
    print(
        f"samples: {args.samples} ({finite.sum()} break within severity 1), "
        f"images {args.size}x{args.size}x3, tolerance {result.tolerance:g}"
    )
    print(
        f"search evaluations: {result.evaluations} "
        f"(dense 64-point grid: {result.dense_grid_evaluations}; "
        f"ratio {result.evaluation_ratio:.3f})"
    )
    print(
        f"max |severity error|: search {error.max():.6f}, dense grid {grid_error.max():.6f} "
        f"(tolerance {result.tolerance:.6f})"
    )
    print(
        f"median wall time over {args.repeats} repeats: search "
        f"{statistics.median(search_seconds) * 1e3:.1f} ms, dense grid "
        f"{statistics.median(grid_seconds) * 1e3:.1f} ms"
    )


if __name__ == "__main__":
    main()
