"""False alarms and power of `compare_runs`, through the whole pipeline.

1. No difference: two models that read the same feature and are equally good, but each flips
   10% of its predictions at random with its own generator (nondeterminism, perturbed or
   not). Over 100 studies (seeds), the share that call any scenario better or worse must be
   <= 5% (Holm controls the family-wise error rate per study).
2. Power: the same, but model B flips 20% of its predictions: B is truly worse everywhere.
   Reports the share of studies that call every scenario worse.

Run: python benchmarks/compare_calibration.py [--studies 100] [--samples 300]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np

import wince
from wince.governance import compare_runs
from wince.models import CallableAdapter

PLAN = {
    "name": "compare-calibration",
    "perturbations": [{"name": "tabular.gaussian_noise", "severities": [0.2, 0.6, 1.0]}],
    "repeats": 3,
    "analysis": {"bootstrap": 1000},
}


def jittery_model(seed: int, rate: float):
    rng = np.random.default_rng(seed)

    def predict(x):
        flip = rng.random(len(x)) < rate
        return ((x[:, 0] > 0) ^ flip).astype(int)

    return predict


def study(seed: int, n: int, rate_b: float, root: str) -> set[str]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2))
    data = (x, (x[:, 0] > 0).astype(int))
    plan = {**PLAN, "seed": seed}
    a = wince.run(
        CallableAdapter(jittery_model(2 * seed, 0.10), fingerprint=f"a{seed}"),
        data,
        plan,
        store=root,
    )
    b = wince.run(
        CallableAdapter(jittery_model(2 * seed + 1, rate_b), fingerprint=f"b{seed}-{rate_b}"),
        data,
        plan,
        store=root,
    )
    comparison = compare_runs(a.store, a.id, b.id)
    return set(comparison.scenarios["verdict"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--studies", type=int, default=100)
    parser.add_argument("--samples", type=int, default=300)
    args = parser.parse_args()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as root:
        alarms = sum(
            bool(study(seed, args.samples, 0.10, root) & {"better", "worse"})
            for seed in range(args.studies)
        )
    print(
        f"no difference: {alarms}/{args.studies} studies called a scenario better or worse "
        f"({alarms / args.studies:.1%}; must be <= 5%)"
    )
    with tempfile.TemporaryDirectory() as root:
        found = [study(10_000 + seed, args.samples, 0.20, root) for seed in range(args.studies)]
    all_worse = sum(v == {"worse"} for v in found)
    any_better = sum("better" in v for v in found)
    print(
        f"power: B flips 20% vs 10%: {all_worse}/{args.studies} studies called every scenario "
        f"worse; {any_better} called any scenario better (wrong direction)"
    )
    print(f"{time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
