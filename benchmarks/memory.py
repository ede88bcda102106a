"""Peak memory against run size: of a run (issue #9) and of reading one (issue #20).

`--part run` (issue #9): 10x the samples, <= 1.2x the peak of `wince.run`.

Each size runs in a fresh interpreter: an imputer and a logistic regression on a synthetic
table of 30 columns, a plan of noise, drift, quantisation and missing values (with pairs and
3 repeats),
batch size 256, into a fresh store, with the prediction cache on (its default memory bound)
or off. The child reports its peak resident set (VmHWM from /proc/self/status) after the run;
imports and the model are loaded before, so the figure includes them, as a user's process would.

`--part read` (issue #20): peak RSS of `wince show`, `analyze`, `report` and `export` (each
in a fresh interpreter, the CLI in-process) on a run and on one with ~10x the outcomes: the same
samples, 10x the perturbation levels and the repeats (target <= 1.3x); then both commands on
a run of 10 million outcomes (target: within 2 GB). Memory that grows with the *samples*
(the bootstrap's resampling weights, one byte per sample and replicate; one scenario's
outcomes) is the summary's own size and is printed, not part of the target.

Run: python benchmarks/memory.py [--part run|read|all] [--samples 2000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time

CHILD = textwrap.dedent(
    """
    import json, sys, tempfile, time
    import numpy as np
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    import wince

    n, cache = int(sys.argv[1]), sys.argv[2] == "on"
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 30))
    y = (x[:, :5].sum(axis=1) > 0).astype(int)
    model = make_pipeline(SimpleImputer(), LogisticRegression()).fit(x[:500], y[:500])
    plan = {
        "name": "memory",
        "perturbations": [
            {"name": "tabular.gaussian_noise", "levels": [1, 3, 5]},
            {"name": "tabular.sensor_drift", "levels": [1, 3, 5]},
            {"name": "tabular.quantisation", "levels": [1, 3, 5]},
            {"name": "tabular.missing_values", "levels": [1, 3, 5]},
        ],
        "combinations": "pairwise",
        "repeats": 3,
        "batch_size": 256,
    }
    with tempfile.TemporaryDirectory() as root:
        started = time.perf_counter()
        run = wince.run(model, (x, y), plan, store=root, cache=cache)
        seconds = time.perf_counter() - started
        rows = run.store.completed_units(run.id)
    status = open("/proc/self/status").read().split("\\n")
    peak_kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM"))
    print(json.dumps({"peak_mb": peak_kb / 1024, "seconds": seconds, "units": len(rows)}))
    """
)


def peak(n: int, cache: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(n), cache], capture_output=True, text=True, check=True
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


READ_PLAN = """
import json, sys
import numpy as np
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
import wince

n, levels, repeats, root = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
rng = np.random.default_rng(0)
x = rng.normal(size=(n, 10))
y = (x[:, :5].sum(axis=1) > 0).astype(int)
model = make_pipeline(SimpleImputer(), LogisticRegression()).fit(x[:500], y[:500])
plan = {
    "name": "memory-read",
    "perturbations": [
        {"name": "tabular.gaussian_noise", "values": np.linspace(0.1, 3, levels).tolist()},
        {"name": "tabular.missing_values", "values": np.linspace(0.02, 0.5, levels).tolist()},
    ],
    "combinations": "none",
    "repeats": repeats,
    "batch_size": 4096,
}
run = wince.run(model, (x, y), plan, store=root)
print(json.dumps({"outcomes": int(run.store.outcome_values(run.id, "count(*)")[0])}))
"""

READ_COMMAND = """
import json, sys
from wince.cli import app
try:
    app(sys.argv[1:], standalone_mode=False)
except SystemExit:
    pass
status = open("/proc/self/status").read().split("\\n")
peak_kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM"))
print(json.dumps({"peak_mb": peak_kb / 1024}))
"""


def child(code: str, *args: object) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, check=True
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def read_peaks(samples: int, levels: int, repeats: int) -> dict[str, float]:
    """Outcomes of a fresh run and the peak RSS (MB) of `show` and `analyze` on it."""
    with tempfile.TemporaryDirectory() as root:
        made = child(READ_PLAN, samples, levels, repeats, root)
        figures = {"outcomes": made["outcomes"]}
        commands = {
            "show": ["show", "latest"],
            "analyze": ["analyze", "latest"],
            "report": ["report", "latest", "--out", f"{root}/report.html"],
            "export": ["export", "latest", "--parquet", f"{root}/export"],
        }
        for command, args in commands.items():
            started = time.perf_counter()
            figures[command] = child(READ_COMMAND, *args, "--store", root)["peak_mb"]
            figures[f"{command}_s"] = time.perf_counter() - started
    return figures


def reading(samples: int, repeats: int) -> None:
    for _ in range(repeats):
        small, large = read_peaks(samples, 3, 3), read_peaks(samples, 10, 10)
        print(
            f"{samples} samples: {small['outcomes']:,.0f} vs {large['outcomes']:,.0f} outcomes "
            f"({large['outcomes'] / small['outcomes']:.1f}x): "
            + ", ".join(
                f"{c} {small[c]:.0f} vs {large[c]:.0f} MB = {large[c] / small[c]:.3f}x "
                f"({small[c + '_s']:.1f} s vs {large[c + '_s']:.1f} s)"
                for c in ("show", "analyze", "report", "export")
            )
            + " (target <= 1.3 for show and analyze)"
        )
    huge = read_peaks(50_000, 10, 10)
    print(
        f"{huge['outcomes']:,.0f} outcomes (50,000 samples): "
        + ", ".join(
            f"{c} {huge[c]:.0f} MB ({huge[c + '_s']:.0f} s)"
            for c in ("show", "analyze", "report", "export")
        )
        + " (target <= 2048 MB for show and analyze)"
    )


def running(samples: int, repeats: int) -> None:
    small, large = samples, 10 * samples
    for cache in ("on", "off"):
        ratios, peaks_small, peaks_large = [], [], []
        for _ in range(repeats):
            a, b = peak(small, cache), peak(large, cache)
            ratios.append(b["peak_mb"] / a["peak_mb"])
            peaks_small.append(a["peak_mb"])
            peaks_large.append(b["peak_mb"])
            print(
                f"cache {cache}: {small} samples {a['peak_mb']:.1f} MB ({a['seconds']:.1f} s), "
                f"{large} samples {b['peak_mb']:.1f} MB ({b['seconds']:.1f} s): "
                f"{ratios[-1]:.3f}x"
            )
        print(
            f"cache {cache}: median peak {statistics.median(peaks_small):.1f} MB vs "
            f"{statistics.median(peaks_large):.1f} MB, median ratio "
            f"{statistics.median(ratios):.3f} (target <= 1.2)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--part", choices=("run", "read", "all"), default="all")
    parser.add_argument("--samples", type=int, default=None, help="run: 2000; read: 20000")
    parser.add_argument("--repeats", type=int, default=None, help="run: 5; read: 3")
    args = parser.parse_args()
    if args.part in ("run", "all"):
        running(args.samples or 2000, args.repeats or 5)
    if args.part in ("read", "all"):
        reading(args.samples or 20_000, args.repeats or 3)


if __name__ == "__main__":
    main()
