"""Speed of the `process` and `ray` executors against `local` on a CPU-bound plan (issue #9).

Plan: the demo digits images (899), a 300-tree random forest, JPEG and Gaussian noise sweeps,
10 repeats, batch size 64 (15 units of 81 trials) — model calls and JPEG codecs dominate.

1. `process` (2 workers) against `local`: each repetition runs both into fresh stores
   (alternating order) and checks that their outcomes are identical. Targets >= 1.7x.
2. With `--ray`: `ray` against `process` at batch sizes >= 64 (alternating order, outcomes
   checked identical). Starting Ray is timed once and reported apart; the timed runs
   include everything else (actors, loading the model in each, the run). Ray's threads
   would stop the process executor from forking, so `process` runs in a fresh interpreter
   here (timed inside it, after its imports). Target: ray time / process time <= 1.3.

"cores used" is CPU seconds (this process and its worker processes) per wall second. The
kernel shares CPU between sessions (autogroup), not processes: while other sessions are
busy, two workers get no more CPU than one process, and no speed-up can show; a run is
only meaningful when "cores used" by `process` approaches the worker count.

The model comes from a joblib file written once before timing (`--model file`, the default),
as a user's plan would load it. `--model factory` trains the forest inside every run instead
(as the first version of this benchmark did): 2.5 s of serial training in the parent, paid by
every executor alike, which caps the possible speed-up at about 1.5x.

Run: PYTHONPATH=benchmarks python benchmarks/executors.py [--repeats 5] [--workers 2]
     [--model file|factory] [--ray] [--ray-batch-sizes 64 128] [--skip-local]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import joblib
import pandas as pd

import wince

PLAN: dict[str, Any] = {
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


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.1f}/{five:.1f}"


def timed(plan: dict[str, Any], executor: str, workers: int) -> tuple[float, pd.DataFrame]:
    """Wall seconds of one run into a fresh store, and its outcomes.

    With Ray running in this process (threads), the process executor would fall back from
    fork to a forkserver; `process` is then timed in a fresh interpreter (`isolated`).
    """
    if executor == "process" and threading.active_count() > 1:
        return isolated(plan, workers)
    with tempfile.TemporaryDirectory() as root:
        cpu = os.times()
        started = time.perf_counter()
        run = wince.run(plan=plan, store=root, executor=executor, workers=workers)
        seconds = time.perf_counter() - started
        used = os.times()
        if executor == "ray":  # actors are not this process's children: not counted
            return seconds, run.outcomes()
        CORES[executor] = (
            used.user
            + used.system
            + used.children_user
            + used.children_system
            - cpu.user
            - cpu.system
            - cpu.children_user
            - cpu.children_system
        ) / seconds
        return seconds, run.outcomes()


CORES: dict[str, float] = {}  # CPU seconds per wall second of the last run, by executor


def isolated(plan: dict[str, Any], workers: int) -> tuple[float, pd.DataFrame]:
    """`timed(plan, "process", workers)` in a fresh interpreter, imports and model warm."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "outcomes.pkl"
        (Path(folder) / "plan.json").write_text(json.dumps(plan))
        done = subprocess.run(
            [sys.executable, __file__, "--child", folder, "--workers", str(workers)],
            check=True,
            capture_output=True,
            text=True,
        )
        seconds, CORES["process"] = map(float, done.stdout.split()[-2:])
        return seconds, pd.read_pickle(out)


def child(folder: Path, workers: int) -> None:
    plan = json.loads((folder / "plan.json").read_text())
    timed({**plan, "repeats": 1}, "local", 1)  # warm: imports, as in the parent
    seconds, outcomes = timed(plan, "process", workers)
    outcomes.to_pickle(folder / "outcomes.pkl")
    print(seconds, CORES["process"])


def compare(
    plan: dict[str, Any], names: tuple[str, str], repeats: int, workers: int
) -> list[float]:
    """Ratios time(names[0]) / time(names[1]), alternating the order of the two runs."""
    ratios = []
    for i in range(repeats):
        order = names if i % 2 == 0 else names[::-1]
        results = {name: timed(plan, name, workers) for name in order}
        pd.testing.assert_frame_equal(results[names[0]][1], results[names[1]][1])
        ratios.append(results[names[0]][0] / results[names[1]][0])
        cores = ", ".join(f"{name} {CORES.pop(name):.2f}" for name in names if name in CORES)
        print(
            f"  {names[0]} {results[names[0]][0]:.2f} s, {names[1]} {results[names[1]][0]:.2f} s, "
            f"ratio {ratios[-1]:.2f} (outcomes identical; {load()}"
            + (f"; cores used: {cores}" if cores else "")
            + ")",
            flush=True,
        )
    return ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--model", choices=("file", "factory"), default="file")
    parser.add_argument("--ray", action="store_true", help="also time the ray executor")
    parser.add_argument("--ray-batch-sizes", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--skip-local", action="store_true", help="only ray against process")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.workers)
        return
    with tempfile.TemporaryDirectory() as folder:
        plan = dict(PLAN)
        if args.model == "file":
            from benchmarks_support import forest

            path = Path(folder) / "forest.joblib"
            joblib.dump(forest(), path)
            plan["model"] = {"pickle": str(path)}
        timed(plan, "local", 1)  # warm-up: imports, caches
        if not args.skip_local:
            print(f"process ({args.workers} workers) against local, model from {args.model}:")
            speedups = compare(plan, ("local", "process"), args.repeats, args.workers)
            print(
                f"median speed-up of process over local: {statistics.median(speedups):.2f}x "
                f"over {len(speedups)} (range {min(speedups):.2f}-{max(speedups):.2f}; "
                "target >= 1.7x on 2 cores)",
                flush=True,
            )
        if args.ray:
            import ray

            os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
            started = time.perf_counter()
            ray.init(
                num_cpus=args.workers,
                include_dashboard=False,
                log_to_driver=False,
                _node_ip_address="127.0.0.1",
            )
            print(f"Ray started in {time.perf_counter() - started:.1f} s (not in the timings)")
            for batch_size in args.ray_batch_sizes:
                print(f"ray against process, batch size {batch_size}:")
                ratios = compare(
                    {**plan, "batch_size": batch_size},
                    ("ray", "process"),
                    args.repeats,
                    args.workers,
                )
                print(
                    f"median ray/process time at batch size {batch_size}: "
                    f"{statistics.median(ratios):.2f} over {len(ratios)} "
                    f"(range {min(ratios):.2f}-{max(ratios):.2f}; target <= 1.3)",
                    flush=True,
                )
            ray.shutdown()


if __name__ == "__main__":
    main()
