"""Statistical validity of wince's analysis, checked against known truth (issue #18).

Each check prints its figures next to their targets and ends with PASS or FAIL; the script
exits 1 when any target fails. The checks:

- `coverage`: the 95% interval of a flip rate (`proportion_interval`, as summaries, curves and
  gates compute it) covers the true rate in >= 93% of studies at rates 0.005, 0.02, 0.05 and
  n = 50, 200, 1000, one trial per sample (zero observed events included) and three
  correlated trials per sample;
- `untouched`: a model that a perturbation never changes is inconclusive at n = 200 and
  robust at the sample size that verdict names, on a grid of several tests;
- `interactions`: two perturbations acting independently and at random are called
  synergistic or antagonistic in <= 5% of 100 runs (flip rate and accuracy);
- `gradients`: the directional derivative along a drift of one column equals the exact
  change of a linear model;
- `breaking`, `sobol`, `regions`, `imagenet_c`: the checks in `validity_*.py` beside this
  script (narrow flip windows; Sobol' indices of the Ishigami function at the default
  design; the false-rule rate of fragile regions and the false-cliff rate without
  structure; ImageNet-C's reference mode against `imagecorruptions`).

Run: .venv/bin/python benchmarks/statistical_validity.py [--only coverage,untouched] [--quick]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

import wince
from wince.analysis.data import load_run_data
from wince.analysis.interactions import interactions
from wince.analysis.significance import verdicts
from wince.datasets import ArrayDataset
from wince.metrics import proportion_interval
from wince.models import CallableAdapter

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent / "tests" / "analysis"))
# the tests' stochastic perturbations (each knocks its own column in a share of samples) and
# the model they are independent for
from test_curves_and_interactions import knocked_out  # noqa: E402


def verdict(passed: bool) -> str:
    return "PASS" if passed else "FAIL"


# -- coverage of proportion intervals ----------------------------------------------------------
def covered_share(rate: float, n: int, trials: int, studies: int, seed: int) -> tuple[float, int]:
    """Share of studies whose interval covers `rate`, and the number with zero events.

    With several trials, each sample has its own flip probability (Beta around `rate`,
    intra-sample correlation 0.2), so a sample's trials are correlated as repeated seeds are.
    """
    rng = np.random.default_rng(seed)
    hits, empty = 0, 0
    for _ in range(studies):
        if trials == 1:
            events = (rng.random(n) < rate).astype(float)
        else:
            concentration = 4.0  # intra-sample correlation 1 / (1 + 4) = 0.2
            own = rng.beta(rate * concentration, (1 - rate) * concentration, n)
            events = (rng.random((n, trials)) < own[:, None]).sum(axis=1).astype(float)
        low, high = proportion_interval(events, np.full(n, trials))
        hits += low <= rate <= high
        empty += events.sum() == 0
    return hits / studies, empty


def check_coverage(quick: bool) -> bool:
    studies = 400 if quick else 2000
    print(f"coverage of the 95% flip-rate interval over {studies} studies each (target >= 93%)")
    worst = 1.0
    for trials in (1, 3):
        for rate in (0.005, 0.02, 0.05):
            cells = []
            for n in (50, 200, 1000):
                share, empty = covered_share(rate, n, trials, studies, seed=n * 7 + trials)
                worst = min(worst, share)
                cells.append(f"n={n}: {share:6.1%} ({empty} with no event)")
            print(f"  rate {rate:<5} x {trials} trial(s)  " + "; ".join(cells))
    print(f"  lowest coverage {worst:.1%}  {verdict(worst >= 0.93)}")
    return worst >= 0.93


# -- an untouched model is robust at the size the verdict names ----------------------------------
def untouched_verdicts(n: int, severities: list[float], store: str) -> pd.DataFrame:
    """Verdicts of a model that reads only column 0 under noise that reaches only column 1."""
    rng = np.random.default_rng(n)
    x = np.column_stack([rng.normal(size=n), np.zeros(n)])

    class Data(ArrayDataset):
        def context(self):
            ctx = super().context()
            ctx.column_sd[:] = [0.0, 1.0]  # the noise reaches only column 1
            return ctx

    model = CallableAdapter(lambda v: (v[:, 0] > 0).astype(int), fingerprint="column-0")
    plan = {
        "name": "untouched",
        "perturbations": [{"name": "tabular.gaussian_noise", "severities": severities}],
        "analysis": {"tolerance": {"flip_rate": 0.01}},
    }
    run = wince.run(model, Data(x, (x[:, 0] > 0).astype(int)), plan, store=store)
    return verdicts(load_run_data(run.store, run.id)).tests


def check_untouched(quick: bool) -> bool:
    print("an untouched model: inconclusive at n = 200, robust at the size it names (target)")
    passed = True
    grids = (
        [[1.0], [0.25, 0.5, 1.0]]
        if quick
        else [[1.0], [0.25, 0.5, 1.0], [0.1 * k for k in range(1, 11)]]
    )
    for severities in grids:
        with tempfile.TemporaryDirectory() as store:
            small = untouched_verdicts(200, severities, store + "/a")
            needed = int(small["samples_needed"].max())
            enough = untouched_verdicts(needed, severities, store + "/b")
        ok = set(small["verdict"]) == {"inconclusive"} and set(enough["verdict"]) == {"robust"}
        print(
            f"  {len(small)} test(s): n = 200 {sorted(set(small['verdict']))}, names {needed}; "
            f"n = {needed} {sorted(set(enough['verdict']))}  {verdict(ok)}"
        )
        passed &= ok
    return passed


# -- independent stochastic pairs are additive ------------------------------------------------
def false_interactions(runs: int, tolerance: float | None) -> dict[str, int]:
    """Runs (of `runs` seeds) whose pair is called an interaction, per metric."""
    data = ArrayDataset(np.zeros((300, 2)), np.zeros(300, int))
    analysis: dict[str, object] = {"bootstrap": 400}
    if tolerance is not None:
        analysis["tolerance"] = {"flip_rate": tolerance, "accuracy": tolerance}
    called = {"flip_rate": 0, "accuracy": 0}
    with tempfile.TemporaryDirectory() as store:
        for seed in range(runs):
            plan = {
                "name": "independent",
                "seed": seed,
                "perturbations": [
                    {"name": "tabular.test_knock_col0", "values": [0.3]},
                    {"name": "tabular.test_knock_col1", "values": [0.3]},
                ],
                "combinations": "pairwise",
                "repeats": 6,
                "analysis": analysis,
            }
            run = wince.run(knocked_out, data, plan, store=f"{store}/{seed}")
            table = interactions(load_run_data(run.store, run.id)).table.set_index("metric")
            for metric in called:
                called[metric] += table.loc[metric, "label"] != "additive"
    return called


def check_interactions(quick: bool) -> bool:
    from scipy import stats

    runs = 20 if quick else 100
    # the test alone (tolerance 0) has nominal size 5%: over `runs` runs its count of false
    # calls is consistent with that up to the binomial's 97.5% quantile (9 of 100)
    consistent = int(stats.binom.ppf(0.975, runs, 0.05))
    print(
        f"independent stochastic pairs (each knocks 30% of samples) over {runs} seeds: share "
        f"called an interaction (target <= 5% at the default tolerances; the test alone, "
        f"nominal 5%: <= {consistent}/{runs})"
    )
    passed = True
    for tolerance, limit in ((None, 0.05 * runs), (0.0, consistent)):
        called = false_interactions(runs, tolerance)
        where = "the default tolerances" if tolerance is None else "tolerance 0 (test alone)"
        for metric, count in called.items():
            ok = count <= limit
            print(f"  {where}, {metric}: {count}/{runs} = {count / runs:.1%}  {verdict(ok)}")
            passed &= ok
    return passed


# -- gradients along a single-column drift ---------------------------------------------------------
def check_gradients(quick: bool) -> bool:
    import torch

    from wince.models.torch import TorchAdapter

    print("directional derivative along a drift of x0 alone: exact for a linear model (rel 1e-4)")
    weights = [2.0, -1.0, 0.5]
    module = torch.nn.Linear(3, 1)
    with torch.no_grad():
        module.weight.copy_(torch.tensor([weights]))
        module.bias.fill_(0.5)
    model = TorchAdapter(module, task="regression")
    x = np.random.default_rng(2).normal(size=(40, 3))
    data = ArrayDataset(x, np.zeros(40))
    plan = {
        "name": "drift-x0",
        "perturbations": [
            {"name": "tabular.sensor_drift", "params": {"columns": ["x0"]}, "levels": [1]}
        ],
        "analysis": {"tolerance": {"mean_abs_change": 0.1}},
    }
    with tempfile.TemporaryDirectory() as store:
        run = wince.run(model, data, plan, store=store)
        moves = run.analyze(model=model, data=data, gradients=True).extras["gradients"].directional
    drift = wince.perturbations.get("tabular.sensor_drift").magnitude.value_at(0.2)
    exact = weights[0] * drift * x[:, 0].std()
    error = float(np.max(np.abs(moves["directional"].to_numpy() / exact - 1)))
    ok = error <= 1e-4
    print(f"  exact {exact:+.4f}, largest relative error {error:.1e}  {verdict(ok)}")
    return ok


# -- the checks kept beside this script ------------------------------------------------------------
def external(script: str) -> Callable[[bool], bool]:
    """A check in its own script: its output is shown, its exit status is the verdict."""

    def check(quick: bool) -> bool:
        command = [sys.executable, str(HERE / script)] + (["--quick"] if quick else [])
        return subprocess.run(command, check=False).returncode == 0

    return check


CHECKS: dict[str, Callable[[bool], bool]] = {
    "coverage": check_coverage,
    "untouched": check_untouched,
    "interactions": check_interactions,
    "gradients": check_gradients,
    "breaking": external("validity_breaking.py"),
    "sobol": external("validity_sobol.py"),
    "imagenet_c": external("validity_imagenet_c.py"),
    "regions": external("validity_regions.py"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated checks: " + ", ".join(CHECKS))
    parser.add_argument("--quick", action="store_true", help="fewer studies, for a smoke run")
    args = parser.parse_args()
    chosen = args.only.split(",") if args.only else list(CHECKS)
    unknown = [c for c in chosen if c not in CHECKS]
    if unknown:
        parser.error(f"unknown check(s) {unknown}; choose from {', '.join(CHECKS)}")
    results = {}
    for name in chosen:
        started = time.perf_counter()
        results[name] = CHECKS[name](args.quick)
        print(f"  ({time.perf_counter() - started:.1f} s)\n")
    failed = [name for name, ok in results.items() if not ok]
    print("all targets hold" if not failed else f"targets missed: {', '.join(failed)}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
