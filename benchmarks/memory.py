"""Peak memory of a run against dataset size (issue #9): 10x the samples, <= 1.2x the peak.

Each size runs in a fresh interpreter: an imputer and a logistic regression on a synthetic
table of 30 columns, a plan of noise, drift, quantisation and missing values (with pairs and
3 repeats),
batch size 256, into a fresh store, with the prediction cache on (its default memory bound)
or off. The child reports its peak resident set (VmHWM from /proc/self/status) after the run;
imports and the model are loaded before, so the figure includes them, as a user's process would.

Run: python benchmarks/memory.py [--samples 2000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import textwrap

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
        run = wince.analyze(model, (x, y), plan, store=root, cache=cache)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    small, large = args.samples, 10 * args.samples
    for cache in ("on", "off"):
        ratios, peaks_small, peaks_large = [], [], []
        for _ in range(args.repeats):
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


if __name__ == "__main__":
    main()
