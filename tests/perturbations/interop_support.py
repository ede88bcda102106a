"""Helpers of the interop tests: photos, sample ids and the per-sample seeds the wrappers use."""

from __future__ import annotations

import numpy as np

from wince.perturbations import Magnitude, Rngs

NOISE_SD = Magnitude(
    "noise_sd_pct", unit="% of full scale", off=0.0, mild=1.0, severe=8.0, limits=(0.0, 100.0)
)


def ids(n: int, offset: int = 0) -> list[str]:
    return [f"img-{i + offset}" for i in range(n)]


def rngs_for(sample_ids: list[str], seed: int = 0) -> Rngs:
    return Rngs.for_samples(sample_ids, seed=seed, step="interop")


def photos(n: int = 4, h: int = 16, w: int = 20) -> np.ndarray:
    out: np.ndarray = np.random.default_rng(9).integers(30, 226, (n, h, w, 3), dtype=np.uint8)
    return out


def seeds_of(sample_ids: list[str], seed: int = 0) -> list[int]:
    """The per-sample seeds the wrapper documents: the first draw of 0..2**32-1 from rngs[i]."""
    return [int(g.integers(2**32)) for g in rngs_for(sample_ids, seed)]
