"""Aggregate over 10 million stored outcomes: a metric by scenario with 95% intervals (#9).

Builds once, in a temporary store (SQLite catalog, local segments), `--runs` runs whose units
have the runner's columns (see `store_throughput.outcome_table`: 256 samples x 81 trials per
unit), at least `--rows` outcomes in all. Then times only `Store.aggregate` over all runs:
flip rate (and confidence change) by scenario with the cluster-robust normal interval, and
the flip rate with the Wilson interval; DuckDB reads the Parquet segments out of core, with
as many threads as there are cores. Median of `--repeats` timings each.

Run: PYTHONPATH=benchmarks python benchmarks/store_aggregate.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import numpy as np
from store_throughput import outcome_table, write_run

from wince.store import Store

TARGET_S = 5.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--trials", type=int, default=81)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    unit_rows = args.batch * args.trials
    units = -(-args.rows // (unit_rows * args.runs))
    with tempfile.TemporaryDirectory() as folder:
        store = Store(root=folder)
        started = time.perf_counter()
        for _ in range(args.runs):
            tables = [
                outcome_table(i * args.batch, (i + 1) * args.batch, trials=args.trials, rng=rng)
                for i in range(units)
            ]
            write_run(store, tables, args.batch)
        run_ids = store.list_runs()["run_id"].tolist()
        rows = args.runs * units * unit_rows
        print(
            f"stored {rows:,} outcomes: {args.runs} runs x {units} units x {unit_rows:,} rows "
            f"in {time.perf_counter() - started:.1f} s"
        )
        queries = {
            "flip_rate by scenario, normal (clustered)": ("flip_rate", "normal"),
            "confidence_change by scenario, normal (clustered)": ("confidence_change", "normal"),
            "flip_rate by scenario, Wilson": ("flip_rate", "wilson"),
        }
        for label, (metric, interval) in queries.items():
            seconds = []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                table = store.aggregate(run_ids, metric, by="scenario", interval=interval)
                seconds.append(time.perf_counter() - t0)
            assert int(table["n"].sum()) == rows, (int(table["n"].sum()), rows)
            median = statistics.median(seconds)
            verdict = "ok" if median <= TARGET_S else "ABOVE TARGET"
            print(
                f"{label}: median {median:.2f} s of {args.repeats} "
                f"({', '.join(f'{s:.2f}' for s in seconds)}), {len(table)} groups; "
                f"target <= {TARGET_S} s: {verdict}"
            )
        store.close()
    print(f"cores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
