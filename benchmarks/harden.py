"""Harden overhead: wall time of `Run.harden` / wall time of the defended reruns it makes.

A harden run reruns the run's plan once per defence, behind the defended model; what it adds
on top is fitting each defence on the clean data, timing each model's latency, reading the
runs back and the exposure statistics (bootstrap intervals per finding, the clean-accuracy
test). The reference is the reruns alone: each defence fitted (untimed), then
`wince.run` of the defended model on the same plan and data into a fresh store. The
ratio harden / reference is the extra cost of hardening over the model calls it needs
(target <= 1.2). Each repeat analyses the original run into a fresh store first (untimed),
so no defended run or cached prediction is reused; repeats alternate harden and reference,
and the median ratio is reported.

Run: python benchmarks/harden.py [--plan digits.yaml] [--repeats 3]
     [--defence image.autocontrast --defence model.temperature --defence model.tta]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import wince
from wince.datasets.loading import load_dataset
from wince.defences.base import clean_data
from wince.defences.harden import LATENCY_REPEATS, LATENCY_SAMPLES, resolve_defences
from wince.demo.run import PLANS, plan_path
from wince.models.loading import load_model
from wince.plan import load_plan

DEFAULT_DEFENCES = ("image.autocontrast", "model.temperature", "model.tta")


def harden_seconds(plan, model, dataset, defences: list[str]) -> tuple[float, float]:
    """Wall times of the original run and of `Run.harden` on it, in a fresh store."""
    with tempfile.TemporaryDirectory() as root:
        started = time.perf_counter()
        run = wince.run(model, dataset, plan, store=root)
        original = time.perf_counter() - started
        started = time.perf_counter()
        run.harden(defences, model=model, data=dataset)
        return original, time.perf_counter() - started


def reruns_seconds(plan, model, dataset, defences: list[str]) -> float:
    """Wall time of `wince.run` of each defended model (fitted first, untimed)."""
    total = 0.0
    chosen = resolve_defences(defences, str(model.task), str(dataset.modality), seed=plan.seed)
    clean = clean_data(model, dataset)
    for defence in chosen:
        defence.fit(model, clean)
        with tempfile.TemporaryDirectory() as root:
            started = time.perf_counter()
            wince.run(defence.wrap(model), dataset, plan, store=root)
            total += time.perf_counter() - started
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--plan", default="digits.yaml", choices=PLANS)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--defence", action="append", help="default: " + ", ".join(DEFAULT_DEFENCES)
    )
    args = parser.parse_args()
    defences = args.defence or list(DEFAULT_DEFENCES)
    plan = load_plan(plan_path(args.plan))
    assert plan.model is not None  # the demo plans name their model and data
    assert plan.data is not None
    model, dataset = load_model(plan.model), load_dataset(plan.data)
    print(
        f"{plan.name}: {len(dataset)} samples, defences {', '.join(defences)}; latency timed "
        f"on {LATENCY_REPEATS} x {min(len(dataset), LATENCY_SAMPLES)} samples per model",
        flush=True,
    )
    ratios, hardens, reruns, originals = [], [], [], []
    for repeat in range(args.repeats):
        original, ours = harden_seconds(plan, model, dataset, defences)
        originals.append(original)
        reference = reruns_seconds(plan, model, dataset, defences)
        ratios.append(ours / reference)
        hardens.append(ours)
        reruns.append(reference)
        print(
            f"repeat {repeat + 1}: original run {original:.2f} s, harden {ours:.2f} s, "
            f"defended reruns {reference:.2f} s, ratio {ours / reference:.3f}",
            flush=True,
        )
    print(
        f"original run: median {statistics.median(originals):.2f} s; "
        f"harden: median {statistics.median(hardens):.2f} s; defended reruns: median "
        f"{statistics.median(reruns):.2f} s; ratio: median {statistics.median(ratios):.3f} "
        f"(range {min(ratios):.3f}-{max(ratios):.3f}; target <= 1.2)"
    )


if __name__ == "__main__":
    main()
