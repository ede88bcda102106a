"""Coverage of the 95% interval of accuracy, as `wince.metrics.summarize` computes it.

Each repetition draws Bernoulli(p) correctness for n samples (one trial each), computes the
interval with fresh resampling weights, and records whether it covers p. The tests run the
400-repetition check for one seed; this runs it for several seeds (and more repetitions) and
prints the coverage with its binomial standard error.

Run: python benchmarks/bootstrap_coverage.py [--repetitions 400] [--seeds 0-9] [--n 200]
     [--p 0.3] [--n-boot 500]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from wince.metrics import bootstrap_weights, scenario_metrics


def covers(n: int, p: float, n_boot: int, seed: int, repetition: int) -> bool:
    rng = np.random.default_rng([seed, repetition])
    correct = rng.random(n) < p
    frame = pd.DataFrame({"sample_index": np.arange(n), "correct": correct})
    samples = pd.Index(np.arange(n))
    weights = bootstrap_weights(n, n_boot, seed * 100_003 + repetition)
    estimate = scenario_metrics(frame, frame.iloc[:0], ["accuracy"], weights, samples)["accuracy"]
    return estimate.low <= p <= estimate.high


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repetitions", type=int, default=400)
    parser.add_argument("--seeds", default="0-9", help="a range like 0-9")
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--p", type=float, default=0.3)
    parser.add_argument("--n-boot", type=int, default=500)
    args = parser.parse_args()
    low, _, high = args.seeds.partition("-")
    seeds = range(int(low), int(high or low) + 1)
    started = time.perf_counter()
    shares = []
    for seed in seeds:
        hits = sum(covers(args.n, args.p, args.n_boot, seed, r) for r in range(args.repetitions))
        shares.append(hits / args.repetitions)
        print(f"seed {seed}: coverage {shares[-1]:.3f}")
    total = len(shares) * args.repetitions
    mean = float(np.mean(shares))
    print(
        f"overall coverage {mean:.4f} ± {np.sqrt(mean * (1 - mean) / total):.4f} (1 SE) over "
        f"{total} intervals (n={args.n}, p={args.p}, n_boot={args.n_boot}); target 0.95 ± 0.03; "
        f"{time.perf_counter() - started:.1f} s"
    )
    outside = [s for s, c in zip(seeds, shares, strict=True) if not 0.92 <= c <= 0.98]
    print("seeds outside 0.95 ± 0.03:", outside or "none")


if __name__ == "__main__":
    main()
