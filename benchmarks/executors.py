"""Speed-up of the `process` executor over `local` on a CPU-bound plan (issue #9).

Plan: the demo digits images, a 300-tree random forest, JPEG and Gaussian noise sweeps,
batch size 64 — model calls and JPEG codecs dominate. Each repetition runs both executors
into fresh stores (alternating order) and checks that their outcomes are identical.

Run: python benchmarks/executors.py [--repeats 5] [--workers 2]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import pandas as pd

from wince.api import analyze

PLAN = {
    "name": "executor-bench",
    "model": {"factory": "benchmarks_support:forest"},
    "data": {"factory": "wince.demo.models:digits_data"},
    "perturbations": [
        {"name": "image.jpeg", "levels": [1, 2, 3, 4, 5]},
        {"name": "image.gaussian_noise", "levels": [1, 3, 5]},
    ],
    "repeats": 10,
    "batch_size": 64,
    "noise_floor": False,
}


def timed(executor: str, workers: int) -> tuple[float, pd.DataFrame]:
    with tempfile.TemporaryDirectory() as root:
        started = time.perf_counter()
        run = analyze(plan=PLAN, store=root, executor=executor, workers=workers)
        seconds = time.perf_counter() - started
        return seconds, run.outcomes()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    timed("local", 1)  # warm-up: imports, model training cache
    speedups = []
    for i in range(args.repeats):
        order = ("local", "process") if i % 2 == 0 else ("process", "local")
        results = {name: timed(name, args.workers) for name in order}
        pd.testing.assert_frame_equal(results["local"][1], results["process"][1])
        speedups.append(results["local"][0] / results["process"][0])
        print(
            f"local {results['local'][0]:.2f} s, process {results['process'][0]:.2f} s, "
            f"speed-up {speedups[-1]:.2f}x (outcomes identical)"
        )
    print(
        f"median speed-up of process over local: {statistics.median(speedups):.2f}x "
        "(target >= 1.7x on 2 cores)"
    )


if __name__ == "__main__":
    main()
