"""Engine overhead on the demo workload: wince run time / (same perturbations + raw predicts).

For each demo plan, the reference does exactly the model work of a run — every trial's
perturbations on every batch (same per-sample random streams) and one batched predict call
per trial and batch — with no bookkeeping, no outcome columns and no store. The ratio is
the wall time of `wince.run` into a fresh store divided by that reference time; the
median of 5 alternating repetitions is reported. `wince.run` runs as users get it: with
the prediction cache on (a fresh cache folder in each fresh store, so it saves nothing and
costs its hashing and writes); `--no-cache` measures the engine without it.

Run: python benchmarks/engine_overhead.py [--repeats 5] [--no-cache]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import wince
from wince.datasets.loading import load_dataset
from wince.demo.run import PLANS, plan_path
from wince.engine.runner import prepare
from wince.models.loading import load_model
from wince.perturbations.base import compose, sample_keys
from wince.plan import load_plan


def reference_seconds(plan, model, dataset) -> float:
    _, spec = prepare(plan, model, dataset)
    started = time.perf_counter()
    for start in range(0, len(dataset), plan.batch_size):
        stop = min(start + plan.batch_size, len(dataset))
        x = dataset.batch(start, stop)
        keys = sample_keys(dataset.ids[start:stop])
        for trial in spec.trials:
            steps = trial.scenario.steps
            perturbed = (
                compose(
                    x, steps, seed=plan.seed, trial=trial.index, keys=keys, context=spec.context
                )
                if steps
                else x
            )
            model.predict(perturbed)
    return time.perf_counter() - started


def wince_seconds(plan, model, dataset, cache: bool = True) -> float:
    with tempfile.TemporaryDirectory() as root:
        started = time.perf_counter()
        wince.run(model, dataset, plan, store=root, cache=cache)
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-cache", action="store_true", help="run wince without its cache")
    args = parser.parse_args()
    cache = not args.no_cache
    workloads = []
    for name in PLANS:
        plan = load_plan(plan_path(name))
        workloads.append((plan, load_model(plan.model), load_dataset(plan.data)))
    for plan, model, dataset in workloads:  # warm-up: imports, caches, codecs
        reference_seconds(plan, model, dataset)
        wince_seconds(plan, model, dataset, cache)
    ratios, totals_wince, totals_ref = [], [], []
    for _ in range(args.repeats):
        ours = sum(wince_seconds(*w, cache) for w in workloads)
        ref = sum(reference_seconds(*w) for w in workloads)
        ratios.append(ours / ref)
        totals_wince.append(ours)
        totals_ref.append(ref)
    print(
        f"wince run:  median {statistics.median(totals_wince):.3f} s "
        f"(cache {'on' if cache else 'off'})"
    )
    print(f"reference:  median {statistics.median(totals_ref):.3f} s (perturb + predict only)")
    print(f"ratios:     {', '.join(f'{r:.3f}' for r in ratios)}")
    print(f"median overhead ratio: {statistics.median(ratios):.3f} (target <= 1.05)")


if __name__ == "__main__":
    main()
