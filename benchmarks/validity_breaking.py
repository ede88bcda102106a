"""Breaking points at the edges: flip windows narrower than the coarse step, and breaks
beyond the realistic range (#18 part 4).

Narrow windows: each sample is a row (shift, centre); the tests' perturbation
`tabular.test_shift` adds the severity to the shift, and a logistic classifier of the distance
to the window says class 1 only while the shift lies within 0.025 of the sample's centre. So
sample i changes only inside a window 0.05 wide (the coarse step is 0.25) and first changes
at centre_i - 0.025, the oracle. Centres are drawn around 0.62. A window is *found* when the
reported breaking severity lies within the stated resolution above the oracle. The same
samples with a labels-only model show the resolution the search then states.

Beyond the realistic range: grey images and a "dark" classifier under `image.exposure`,
with the run's sweep reaching -6 EV (severity 2, twice the realistic maximum); the sRGB
oracle gives each grey's breaking severity, censored beyond 2.

Run: python benchmarks/validity_breaking.py [--samples 400] [--quick]
(exit status 1 when a target is missed; `--quick`: 100 samples)
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parents[1] / "tests" / "analysis"))
from test_breaking import Shift

from wince.analysis.breaking import BreakingPoints, breaking_points
from wince.datasets import ArrayDataset
from wince.engine.probe import Probe
from wince.models import CallableAdapter

WINDOW = 0.05  # width of every flip window, in severity
CENTRE = 0.62  # the windows' centres are drawn around this severity
FOUND_TARGET = 0.95  # share of narrow windows found within the stated resolution
DARK = 0.05  # grey level below which the exposure oracle's classifier says "dark"
SEVERE_EV = -3.0  # image.exposure at severity 1


def window_scores(x):
    """Logistic classifier of the distance to the sample's window (class 1 inside it)."""
    distance = np.abs(x[:, 0] - x[:, 1]) - WINDOW / 2
    p0 = 1 / (1 + np.exp(-40.0 * distance))
    return np.column_stack([p0, 1 - p0])


def window_labels(x):
    return np.argmax(window_scores(x), axis=1)


def tabular_probe(model, x):
    adapter = CallableAdapter(model, fingerprint=model.__name__)
    return Probe(adapter, ArrayDataset(x, modality="tabular"), seed=0)


@dataclass(frozen=True)
class Figures:
    """What one search recovered against its oracle."""

    found: float  # share of breaking severities within the stated resolution above the oracle
    median_error: float  # |median found - median oracle|, in severity
    result: BreakingPoints
    seconds: float


def recovered(result: BreakingPoints, oracle: np.ndarray, seconds: float) -> Figures:
    found = result.table["breaking_severity"].to_numpy()
    width = max(result.resolution, result.tolerance)
    hit = np.where(
        np.isfinite(oracle),
        (found >= oracle - 1e-6) & (found <= oracle + width + 1e-6),
        np.isinf(found),
    )
    error = abs(float(np.median(found)) - float(np.median(oracle)))
    return Figures(float(hit.mean()), error, result, seconds)


def timed_search(probe: Probe, name: str, **kwargs) -> tuple[BreakingPoints, float]:
    started = time.perf_counter()
    result = breaking_points(probe, name, **kwargs)
    return result, time.perf_counter() - started


def narrow_windows(samples: int, *, scores: bool, seed: int = 0) -> Figures:
    centres = np.random.default_rng(seed).uniform(CENTRE - 0.15, CENTRE + 0.15, samples)
    x = np.column_stack([np.zeros(samples), centres])
    probe = tabular_probe(window_scores if scores else window_labels, x)
    result, seconds = timed_search(probe, Shift.name)
    return recovered(result, centres - WINDOW / 2, seconds)


def srgb_to_linear(v):
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def beyond_realistic(samples: int) -> Figures:
    levels = np.linspace(0.06, 0.95, samples).astype(np.float32)
    x = levels[:, None, None, None] * np.ones((samples, 8, 8, 3), np.float32)

    def dark(batch):
        return (batch.reshape(len(batch), -1).mean(axis=1) < DARK).astype(int)

    adapter = CallableAdapter(dark, fingerprint="dark")
    probe = Probe(adapter, ArrayDataset(x, modality="image"), seed=0)
    grey = levels.astype(np.float64)
    oracle = np.log2(srgb_to_linear(DARK) / srgb_to_linear(grey)) / SEVERE_EV
    oracle[oracle > 2] = np.inf
    result, seconds = timed_search(probe, "image.exposure", severities=[0.2, 1.0, 2.0])
    return recovered(result, oracle, seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=400)
    parser.add_argument("--quick", action="store_true", help="100 samples")
    args = parser.parse_args()
    if args.quick:
        args.samples = 100
    scored = narrow_windows(args.samples, scores=True)
    r = scored.result
    print(
        f"narrow windows ({WINDOW} wide, coarse step 0.25, centres {CENTRE} +- 0.15, "
        f"{args.samples} samples, model with scores): stated resolution {r.resolution:.4f}"
    )
    print(
        f"  windows found within the resolution: {scored.found:.1%} (target >= {FOUND_TARGET:.0%})"
    )
    print(
        f"  median error: {scored.median_error:.4f} (target <= resolution {r.resolution:.4f}); "
        f"median {r.median_breaking_severity:.4f}"
    )
    print(
        f"  evaluations: {r.evaluation_ratio:.3f} of a dense 64-point grid (sensible <= 0.25), "
        f"{scored.seconds:.1f} s"
    )
    labels = narrow_windows(args.samples, scores=False)
    r = labels.result
    print(
        f"same windows, labels only: stated resolution {r.resolution:.4f} (warning given: "
        f"{'yes' if r.warning else 'NO'}); found {labels.found:.1%} (no target: narrower than "
        "the resolution, as stated)"
    )
    beyond = beyond_realistic(args.samples)
    r = beyond.result
    print(
        f"beyond the realistic range (exposure swept to -6 EV, severity 2): search ends at "
        f"severity {r.search_end:g} (target 2)"
    )
    print(
        f"  breaking points within tolerance of the oracle (or censored beyond 2): "
        f"{beyond.found:.1%} (target 100%); evaluations {r.evaluation_ratio:.3f} of the dense grid"
    )
    met = (
        scored.found >= FOUND_TARGET
        and scored.median_error <= scored.result.resolution
        and r.search_end == 2
        and beyond.found == 1.0
    )
    sys.exit(0 if met else 1)


if __name__ == "__main__":
    main()
