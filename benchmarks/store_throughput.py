"""Outcome rows written per second into a store: segments plus catalog (issue #9).

Each repetition writes one run of `--units` work units through `Store.write_unit` — the
runner's path: an atomic Parquet segment, then its registration in the catalog, one
transaction per unit — plus `create_run` and `finish_run`. Units hold `--batch` samples under
`--trials` trials (default 256 x 81 = 20,736 rows: a plan of 40 scenarios x 2 repeats plus the
baseline at the default batch size) with the columns the runner writes for a classifier with
labels: scenario (dictionary), position, trial, sample_index, sample_id, label, pred,
baseline_pred, confidence, flipped, confidence_delta, correct, true_prob, true_prob_delta,
distance, changed_cell_rate. Tables are built before the clock starts (the engine makes them
while predicting); the clock covers writing and registering.

Catalogs: SQLite (always) and PostgreSQL when `--postgres URL` or `$WINCE_TEST_POSTGRES_URL`
is set. Segments go to a temporary local folder.

Run: PYTHONPATH=benchmarks python benchmarks/store_throughput.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid

import numpy as np
import pyarrow as pa
import sqlalchemy as sa

from wince.store import Store

TARGET_ROWS_PER_S = 500_000


def scenario_names(trials: int) -> list[str]:
    """The baseline, then one scenario per two trials (2 repeats): 5 severities each."""
    count = (trials - 1) // 2
    return ["baseline"] + [
        f"image.perturbation_{p // 5}(severity={0.2 * (1 + p % 5):.1f})" for p in range(count)
    ]


def outcome_table(
    start: int, stop: int, *, trials: int, rng: np.random.Generator, n_classes: int = 10
) -> pa.Table:
    """A unit's outcomes as the runner lays them out (classifier with labels, no scores)."""
    n = stop - start
    k = trials
    rows = n * k
    names = scenario_names(k)
    # Trials in the runner's order: the baseline, then each scenario's repeats.
    position = np.concatenate([[0], 1 + np.arange(k - 1) // 2]).astype(np.int32)
    trial = np.concatenate([[0], np.arange(k - 1) % 2]).astype(np.int32)
    label = rng.integers(0, n_classes, n)
    baseline_pred = np.where(rng.random(n) < 0.9, label, rng.integers(0, n_classes, n))
    flip = rng.random(rows) < 0.1
    pred = np.where(flip, rng.integers(0, n_classes, rows), np.tile(baseline_pred, k))
    confidence = rng.random(rows, dtype=np.float32)
    base_conf = np.tile(confidence[:n], k)
    true_prob = rng.random(rows, dtype=np.float32)
    ids = [str(i) for i in range(start, stop)]
    return pa.table(
        {
            "scenario": pa.DictionaryArray.from_arrays(
                pa.array(np.repeat(position, n)), pa.array(names)
            ),
            "position": np.repeat(position, n),
            "trial": np.repeat(trial, n),
            "sample_index": np.tile(np.arange(start, stop, dtype=np.int32), k),
            "sample_id": pa.array(ids * k, pa.string()),
            "label": np.tile(label, k),
            "pred": pred.astype(np.int32),
            "baseline_pred": np.tile(baseline_pred, k).astype(np.int32),
            "confidence": confidence,
            "flipped": pred != np.tile(baseline_pred, k),
            "confidence_delta": confidence - base_conf,
            "correct": pred == np.tile(label, k),
            "true_prob": true_prob,
            "true_prob_delta": true_prob - np.tile(true_prob[:n], k),
            "distance": rng.random(rows, dtype=np.float32) * 40,
            "changed_cell_rate": rng.random(rows, dtype=np.float32),
        }
    )


def write_run(store: Store, tables: list[pa.Table], batch: int) -> float:
    """Seconds to register a run, write and register every unit, and finish the run."""
    run_id = uuid.uuid4().hex[:12]
    started = time.perf_counter()
    store.create_run(
        run_id,
        name="store-throughput",
        plan_digest="0" * 32,
        model_fingerprint="m",
        data_fingerprint="d",
        task="classification",
        n_samples=batch * len(tables),
        lineage={"plan": {}},
        scenarios=[
            {
                "scenario": name,
                "kind": "isolation" if p else "baseline",
                "steps": [],
                "severity": 0.0,
                "trials": 2 if p else 1,
            }
            for p, name in enumerate(scenario_names(tables[0].num_rows // batch))
        ],
    )
    for i, table in enumerate(tables):
        store.write_unit(run_id, i * batch, (i + 1) * batch, table, seconds=0.1)
    store.finish_run(run_id, status="complete", timings={"total_s": 0.0})
    return time.perf_counter() - started


def clean_postgres(url: str) -> None:
    """Drop wince's tables so each benchmark starts from an empty catalog."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for table in ("analyses", "units", "scenarios", "runs", "settings", "schema_version"):
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {table} CASCADE"))
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--units", type=int, default=60)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--trials", type=int, default=81)
    parser.add_argument("--postgres", default=os.environ.get("WINCE_TEST_POSTGRES_URL"))
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    tables = [
        outcome_table(i * args.batch, (i + 1) * args.batch, trials=args.trials, rng=rng)
        for i in range(args.units)
    ]
    rows = sum(t.num_rows for t in tables)
    catalogs = {"sqlite": None} | ({"postgresql": args.postgres} if args.postgres else {})
    print(f"{args.units} units x {tables[0].num_rows:,} rows = {rows:,} rows per run")
    times: dict[str, list[float]] = {name: [] for name in catalogs}
    with tempfile.TemporaryDirectory() as folder:
        stores: dict[str, Store] = {}
        for name, url in catalogs.items():
            if url is not None:
                clean_postgres(url)
            stores[name] = Store(url, root=f"{folder}/{name}", segments=f"{folder}/{name}/segments")
        for _ in range(args.repeats):  # alternate catalogs within each repetition
            for name, store in stores.items():
                times[name].append(write_run(store, tables, args.batch))
        for store in stores.values():
            store.close()
    for name, seconds in times.items():
        median = statistics.median(seconds)
        spread = ", ".join(f"{rows / s:,.0f}" for s in seconds)
        verdict = "ok" if rows / median >= TARGET_ROWS_PER_S else "BELOW TARGET"
        print(
            f"{name:10s} median {rows / median:,.0f} rows/s ({median:.3f} s per run; "
            f"runs: {spread}) target >= {TARGET_ROWS_PER_S:,}: {verdict}"
        )
    print(f"load average: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
