"""Prediction cache: a second identical run of the demo digits plan (issue #9).

Each repetition runs the demo digits plan twice, each time into a fresh store, sharing one
fresh cache folder: the first run fills the cache, the second (a new `PredictionCache`, as a
new process would have: nothing in memory) finds every prediction and every perturbed
trial's distances on disk. The model is built once, outside the timings (the demo factory
trains it), and wrapped to count the samples that reach it. Outcomes of both runs must be
identical, and the second must make no model call. Reported: median ratio of first to second
run time over the repetitions (target >= 5x).

Run: python benchmarks/cache.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

import wince
from wince.datasets.loading import load_dataset
from wince.demo.run import plan_path
from wince.models.base import Predictions
from wince.models.loading import load_model
from wince.plan import load_plan


class Counted:
    """A model adapter that counts the samples it predicts."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.task = model.task
        self.classes = model.classes
        self.samples = 0

    def predict(self, x: Any) -> Predictions:
        self.samples += len(x)
        return self.model.predict(x)

    def fingerprint(self) -> str:
        return self.model.fingerprint()

    def close(self) -> None:
        self.model.close()


def timed(model: Counted, data: Any, plan: Any, store: Path, cache: Path) -> tuple[float, Any]:
    started = time.perf_counter()
    run = wince.run(model, data, plan, store=str(store), cache=cache)
    return time.perf_counter() - started, run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--plan", default="digits.yaml")
    args = parser.parse_args()
    plan = load_plan(plan_path(args.plan))
    model, data = load_model(plan.model), load_dataset(plan.data)
    with tempfile.TemporaryDirectory() as root:  # warm-up: imports, codecs
        timed(Counted(model), data, plan, Path(root) / "s", Path(root) / "c")
    ratios, firsts, seconds = [], [], []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as root:
            folder = Path(root)
            cold, warm = Counted(model), Counted(model)
            first, run_a = timed(cold, data, plan, folder / "a", folder / "cache")
            second, run_b = timed(warm, data, plan, folder / "b", folder / "cache")
            pd.testing.assert_frame_equal(run_a.outcomes(), run_b.outcomes())
            assert warm.samples == 0, f"the second run predicted {warm.samples} samples"
            size = sum(p.stat().st_size for p in (folder / "cache").rglob("*.arrow"))
        ratios.append(first / second)
        firsts.append(first)
        seconds.append(second)
        print(
            f"first {first:.3f} s ({cold.samples} samples predicted), second {second:.3f} s "
            f"(0 predicted, outcomes identical), {first / second:.2f}x; cache {size / 1e6:.1f} MB"
        )
    print(
        f"median: first {statistics.median(firsts):.3f} s, second "
        f"{statistics.median(seconds):.3f} s; median ratio {statistics.median(ratios):.2f}x "
        "(target >= 5x)"
    )


if __name__ == "__main__":
    main()
