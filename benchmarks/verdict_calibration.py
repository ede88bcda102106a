"""False alarms and power of the fragile verdict, through the whole pipeline.

1. No effect: a model that flips 10% of its predictions at random (its own nondeterminism,
   perturbed or not) under a perturbation it ignores. Over 100 studies (seeds), the share
   that call the perturbation fragile must be <= 5%.
2. Power: a deterministic model whose predictions flip for a known share (10%) of samples
   under the perturbation, tolerance 2%. At the sample size `required_samples` predicts for
   80% power, the share of studies calling it fragile should be about 80% or more.

Run: python benchmarks/verdict_calibration.py [--studies 100]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np

import wince
from wince.analysis.data import load_run_data
from wince.analysis.significance import verdicts
from wince.analysis.stats import required_samples
from wince.models import CallableAdapter

PLAN = {
    "name": "calibration",
    "perturbations": [{"name": "tabular.gaussian_noise", "severities": [0.5]}],
    "repeats": 1,
    "analysis": {"tolerance": {"flip_rate": 0.02}},
}


def jittery_model(seed: int):
    rng = np.random.default_rng(seed)

    def predict(x):
        # ignores its input entirely: nothing the perturbation does can matter
        flip = rng.random(len(x)) < 0.10
        return flip.astype(int)

    return predict


def fragile_share_model(share: float):
    def predict(x):
        unstable = x[:, 1] < share  # column 1 ~ U(0, 1) fixed per sample
        moved = np.abs(x[:, 0] - np.round(x[:, 0], 6)) > 0  # noise moved column 0
        return (unstable & moved).astype(int)

    return predict


def verdict_of(model, x, seed, root, tolerance=0.02) -> str:
    plan = {**PLAN, "seed": seed, "analysis": {"tolerance": {"flip_rate": tolerance}}}
    run = wince.run(
        CallableAdapter(model, fingerprint=f"m{seed}-{tolerance}"),
        (x, np.zeros(len(x), int)),
        plan,
        store=root,
    )
    result = verdicts(load_run_data(run.store, run.id)).scenarios
    return str(result["verdict"].iloc[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--studies", type=int, default=100)
    args = parser.parse_args()
    started = time.perf_counter()
    for tolerance in (0.02, 0.0):
        fragile = 0
        with tempfile.TemporaryDirectory() as root:
            for seed in range(args.studies):
                rng = np.random.default_rng(seed)
                x = np.column_stack([rng.normal(size=300), rng.random(300)])
                model = jittery_model(seed)
                fragile += verdict_of(model, x, seed, root, tolerance) == "fragile"
        print(
            f"no effect, tolerance {tolerance:.0%}: {fragile}/{args.studies} studies called it "
            f"fragile ({fragile / args.studies:.1%}; must be <= 5%)"
        )

    effect, tolerance = 0.10, 0.02
    n = required_samples(effect, float(np.sqrt(effect * (1 - effect))), tolerance, alpha=0.05)
    detected = 0
    with tempfile.TemporaryDirectory() as root:
        for seed in range(args.studies):
            rng = np.random.default_rng(10_000 + seed)
            x = np.column_stack([np.round(rng.normal(size=n), 6), rng.random(n)])
            detected += verdict_of(fragile_share_model(effect), x, seed, root) == "fragile"
    print(
        f"power: effect {effect:.0%} vs tolerance {tolerance:.0%}, predicted n = {n}: "
        f"{detected}/{args.studies} studies called it fragile ({detected / args.studies:.0%})"
    )
    print(f"{time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
