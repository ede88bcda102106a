"""Sobol' indices at the default design against the Ishigami function's analytic indices.

Ishigami (a = 7, b = 0.1, x uniform on [-pi, pi]^3; Ishigami & Homma 1990, indices from Sobol'
& Levitan 1999): S1 = 0.3139, 0.4424, 0; ST = 0.5576, 0.4424, 0.2437; S13 = 0.2437, the other
S2 = 0. For each seed, `sobol` runs with its defaults (n_base "auto": doubled from 64 until the
widest 95% half-width of the total indices is at most 0.05; 1000 bootstrap resamples) and
the largest absolute error over every S1, ST and S2 is printed next to the target 0.05,
with the half-width reached (target <= 0.05), the n_base and the time. For contrast, the
former plan default (n_base 64) is run once, with its warning.

Run: python benchmarks/validity_sobol.py [--seeds 0-2] [--n-boot 1000] [--quick]
(exit status 1 when a target is missed; `--quick`: seed 0 only)
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import warnings
from dataclasses import dataclass

import numpy as np

from wince.analysis.global_sensitivity import TARGET_HALF_WIDTH, Factor, sobol
from wince.errors import PrecisionWarning

A, B = 7.0, 0.1
V1 = 0.5 * (1 + B * math.pi**4 / 5) ** 2
V2 = A**2 / 8
V13 = B**2 * math.pi**8 * (1 / 18 - 1 / 50)
V = V1 + V2 + V13
S1 = np.array([V1 / V, V2 / V, 0.0])
ST = np.array([(V1 + V13) / V, V2 / V, V13 / V])
S2 = np.array([0.0, V13 / V, 0.0])  # pairs (x1, x2), (x1, x3), (x2, x3)
FACTORS = [Factor(f"x{i}", -math.pi, math.pi) for i in (1, 2, 3)]


def ishigami(x: np.ndarray) -> np.ndarray:
    return np.sin(x[:, 0]) + A * np.sin(x[:, 1]) ** 2 + B * x[:, 2] ** 4 * np.sin(x[:, 0])


@dataclass(frozen=True)
class IshigamiCheck:
    """One Sobol' run on Ishigami: its largest index error and the precision it reached."""

    seed: int
    n_base: int
    max_abs_error: float
    half_width: float
    seconds: float
    warning: str


def ishigami_check(seed: int, *, n_base: int | str = "auto", n_boot: int = 1000) -> IshigamiCheck:
    """Run `sobol` on Ishigami (default design unless `n_base` is given) against the truth."""
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PrecisionWarning)  # the result carries it
        result = sobol(ishigami, FACTORS, n_base=n_base, seed=seed, n_boot=n_boot)  # type: ignore[arg-type]
    seconds = time.perf_counter() - started
    estimates = np.concatenate(
        [result.indices["S1"], result.indices["ST"], result.second_order["S2"]]
    )
    error = float(np.max(np.abs(estimates - np.concatenate([S1, ST, S2]))))
    assert result.half_width is not None
    return IshigamiCheck(
        seed, result.design["n_base"], error, result.half_width, seconds, result.warning
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0-2", help="a range like 0-2")
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="seed 0 only")
    args = parser.parse_args()
    low, _, high = ("0", "", "0") if args.quick else args.seeds.partition("-")
    checks = [
        ishigami_check(seed, n_boot=args.n_boot) for seed in range(int(low), int(high or low) + 1)
    ]
    for check in checks:
        print(
            f"seed {check.seed}: n_base {check.n_base}; Ishigami max abs error "
            f"{check.max_abs_error:.4f} (target <= {TARGET_HALF_WIDTH}); widest ST 95% "
            f"half-width {check.half_width:.4f} (target <= {TARGET_HALF_WIDTH}); "
            f"{check.seconds:.1f} s"
        )
    worst = max(c.max_abs_error for c in checks)
    widest = max(c.half_width for c in checks)
    met = worst <= TARGET_HALF_WIDTH and widest <= TARGET_HALF_WIDTH
    print(
        f"default design: max abs error {worst:.4f} vs 0.05, half-width {widest:.4f} vs 0.05, "
        f"{sum(c.seconds for c in checks) / len(checks):.1f} s per run: "
        f"{'target met' if met else 'TARGET MISSED'}"
    )
    old = ishigami_check(0, n_base=64, n_boot=args.n_boot)
    print(
        f"former default n_base 64: max abs error {old.max_abs_error:.4f}, half-width "
        f"{old.half_width:.4f}; warning: {old.warning or 'none'}"
    )
    sys.exit(0 if met else 1)


if __name__ == "__main__":
    main()
