"""Fragile regions and cliffs where there is nothing to find, and a planted region (#18).

A tabular model whose predictions flip at random under noise on one column (x2), with a
flip probability per trial that depends on x0 or on nothing, through the whole pipeline
(`wince.run`, 600 samples, noise at 10 severities):

1. No structure (flip probability 5% for every sample, every severity): the share of runs
   in which `fragile_regions` keeps any rule must be <= 5% (the rules are judged on held-out
   samples with Holm's correction across every leaf of the tree).
2. The same runs' flip-rate and accuracy curves are flat and noisy: the share of runs in
   which `cliffs` reports any cliff must be <= 5%, judged on significance alone (no
   tolerance); the share with the run's default tolerances is printed too.
3. Power (reported, no target): flip probability 60% where x0 > 0.5 and 5% elsewhere; the
   share of runs with a fragile rule whose lower bound on x0 is within 0.1 of 0.5.

Prints each figure next to its target and PASS or FAIL; exits 1 when a target fails.

Run: python benchmarks/validity_regions.py [--seeds 100] [--power-seeds 10] [--quick]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

import wince
from wince.analysis.curves import cliffs, sensitivity_curves
from wince.analysis.data import RunData, load_run_data
from wince.analysis.regions import Regions, fragile_regions
from wince.analysis.settings import AnalysisSettings, run_settings
from wince.datasets import ArrayDataset
from wince.models import CallableAdapter

N_SAMPLES = 600
TARGET = 0.05
Rate = Callable[[npt.NDArray[np.float64]], npt.NDArray[np.float64]]


def flipping_model(rate: Rate) -> Callable[[npt.NDArray[np.float64]], npt.NDArray[np.int64]]:
    """Class x1 > 0.5, flipped with probability `rate(x)` once noise has moved x2.

    x2 sits at 0.8 of a 1/1000 grid cell; noise of 0.1 sd or more lands it anywhere in a
    cell, so the fractional part of 1000 x2 is uniform: a flip is a coin with that rate,
    independent of every other column and of the severity.
    """

    def predict(x: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
        base = (x[:, 1] > 0.5).astype(np.int64)
        flipped = (1000.0 * x[:, 2]) % 1.0 < rate(x)
        return np.where(flipped, 1 - base, base)

    return predict


def no_structure(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return np.full(len(x), 0.05)


def planted(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return np.where(x[:, 0] > 0.5, 0.6, 0.05)


def dataset(seed: int) -> ArrayDataset:
    """Five columns: x0, x1, x3, x4 uniform on (0, 1); x2 on a grid, see `flipping_model`."""
    rng = np.random.default_rng(seed)
    x = rng.random((N_SAMPLES, 5))
    x[:, 2] = (np.floor(1000.0 * rng.normal(size=N_SAMPLES)) + 0.8) / 1000.0
    return ArrayDataset(x, (x[:, 1] > 0.5).astype(int))


@dataclass(frozen=True)
class Study:
    run: RunData
    data: ArrayDataset


def study(rate: Rate, seed: int, root: str) -> Study:
    plan = {
        "name": "validity-regions",
        "perturbations": [
            {
                "name": "tabular.gaussian_noise",
                "severities": [round(0.1 * k, 1) for k in range(1, 11)],
                "params": {"columns": ["x2"]},
            }
        ],
        "repeats": 1,
        "seed": seed,
    }
    data = dataset(seed)
    model = CallableAdapter(flipping_model(rate), fingerprint=f"{rate.__name__}-{seed}")
    run = wince.run(model, data, plan, store=f"{root}/{rate.__name__}-{seed}")
    return Study(load_run_data(run.store, run.id), data)


def regions_of(found: Study, seed: int) -> Regions:
    return fragile_regions(found.run, found.data, seed=seed)


def finds_the_planted_rule(regions: Regions) -> bool:
    """A fragile rule bounded below by x0 within 0.1 of 0.5."""
    for rule in regions.rules[regions.rules["kind"] == "fragile"].itertuples():
        lower = [t for f, op, t in rule.conditions if f == "x0" and op == ">"]
        if lower and abs(lower[0] - 0.5) <= 0.1:
            return True
    return False


def share(count: int, runs: int) -> str:
    return f"{count}/{runs} = {count / runs:.1%}"


def check(seeds: int, power_seeds: int) -> bool:
    """Run the three checks, print each figure beside its target; True when targets hold."""
    significance_alone = AnalysisSettings(tolerance={}, tolerance_source={})
    false_rules = false_cliffs = false_cliffs_tolerant = found = 0
    with tempfile.TemporaryDirectory() as root:
        for seed in range(seeds):
            null = study(no_structure, seed, root)
            false_rules += not regions_of(null, seed).rules.empty
            curves = sensitivity_curves(null.run)
            false_cliffs += not cliffs(curves, significance_alone).empty
            false_cliffs_tolerant += not cliffs(curves, run_settings(null.run)).empty
        for seed in range(power_seeds):
            found += finds_the_planted_rule(regions_of(study(planted, seed, root), seed))
    rules_ok = false_rules / seeds <= TARGET
    cliffs_ok = false_cliffs / seeds <= TARGET
    print(f"regions, no structure: runs with a rule {share(false_rules, seeds)}")
    print(f"  target <= {TARGET:.0%}  {'PASS' if rules_ok else 'FAIL'}")
    print(f"cliffs, flat noisy curves: runs with a cliff {share(false_cliffs, seeds)}")
    print(f"  (significance alone) target <= {TARGET:.0%}  {'PASS' if cliffs_ok else 'FAIL'}")
    print(f"  with the default tolerances: {share(false_cliffs_tolerant, seeds)} (report)")
    print(
        f"regions, planted rule (60% vs 5% flips where x0 > 0.5): found in "
        f"{share(found, power_seeds)} (report)"
    )
    return rules_ok and cliffs_ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=100, help="runs without structure")
    parser.add_argument("--power-seeds", type=int, default=10, help="runs with a planted rule")
    parser.add_argument("--quick", action="store_true", help="20 and 5 runs, for a smoke run")
    args = parser.parse_args()
    seeds, power_seeds = (20, 5) if args.quick else (args.seeds, args.power_seeds)
    started = time.perf_counter()
    passed = check(seeds, power_seeds)
    print(f"({time.perf_counter() - started:.1f} s)")
    sys.exit(0 if passed else 1)


if __name__ == "__main__":
    main()
