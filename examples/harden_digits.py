"""Harden a digits classifier against its most fragile perturbation, offline, end to end.

The loop a team runs after a wince report:

1. train the demo's digits classifier (logistic regression on scikit-learn's 8x8 digits);
2. run it with `wince.run` under lighting, sensor noise, compression and camera-pose
   perturbations, and search each sample's breaking point;
3. read the top fragile finding and the augmentation the report recommends against it;
4. harden the run with the training-side defence `train.augment` (`Run.harden`): it refits
   a clone of the model on the training images plus copies augmented with
   `wince.augment(..., up_to={perturbation: breaking magnitude})`, and reruns the plan with
   the refitted model (same samples, same random streams; the training images are held out
   of the analysed ones, which the defence checks);
5. read what the defence bought and cost (exposure reduction, clean accuracy, latency);
6. compare the two runs as `wince compare` does: the targeted perturbation should be
   significantly better and clean accuracy not significantly worse.

Run it with `python examples/harden_digits.py` (about half a minute on 2 cores; `--quick`
for a reduced size, `--store DIR` to keep the runs for `wince report` and `wince compare`).
It exits 0 when the targeted perturbation's verdict is "better" and clean accuracy shows no
significant loss, 1 otherwise.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer

import wince
from wince.datasets import ArrayDataset
from wince.defences.training import AugmentedRetraining
from wince.demo.models import SPLIT_SEED, flatten_pixels
from wince.governance.compare import BETTER, WORSE, Comparison, compare_runs
from wince.report.data import load_report_data
from wince.report.narrative import Finding, augmentation_target, narrative

# Perturbations that plausibly meet a digit scanner or phone camera. Blurs are left out: at
# 8x8 pixels their whole realistic range is a fraction of a pixel.
PERTURBATIONS = (
    "image.gaussian_noise",
    "image.jpeg",
    "image.exposure",
    "image.contrast",
    "image.rotation",
    "image.translation",
)


@dataclass(frozen=True)
class Size:
    """How much work one pass does: test samples, levels, seeds, bootstrap, augmented copies."""

    samples: int | None
    levels: tuple[int, ...]
    repeats: int
    bootstrap: int
    copies: int


FULL = Size(samples=None, levels=(1, 2, 3, 4, 5), repeats=3, bootstrap=1000, copies=4)
QUICK = Size(samples=300, levels=(1, 3, 5), repeats=1, bootstrap=200, copies=3)


@dataclass(frozen=True)
class Hardening:
    """What the example did and found.

    Attributes:
        target: the perturbation retrained against (the report's top risk).
        scenario: its headline scenario (the worst realistic fragile level).
        up_to: the augmentation cap in the perturbation's unit (None: its realistic range).
        run_a: the original model's run; run_b: the retrained model's run (the defended run
            of `Run.harden`).
        comparison: the paired comparison of B against A, per scenario.
        verdict: B's verdict against A at `scenario`.
        clean_verdict: B's verdict against A without perturbation (accuracy only).
    """

    target: str
    scenario: str
    up_to: float | None
    run_a: str
    run_b: str
    comparison: Comparison
    verdict: str
    clean_verdict: str

    @property
    def ok(self) -> bool:
        """The targeted perturbation is better and clean accuracy not significantly worse."""
        return self.verdict == BETTER and self.clean_verdict != WORSE


def digits_split() -> tuple[Any, Any, Any, Any]:
    """The demo's split of scikit-learn's digits: uint8 (n, 8, 8, 1) images, halves."""
    digits = load_digits()
    images = np.rint(digits.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
    split: list[Any] = train_test_split(
        images, digits.target, test_size=0.5, random_state=SPLIT_SEED, stratify=digits.target
    )
    return split[0], split[1], split[2], split[3]


def train(x: Any, y: Any) -> Pipeline:
    """The demo's recipe (`wince.demo.models.digits_classifier`) on the images given."""
    model = make_pipeline(
        FunctionTransformer(flatten_pixels), LogisticRegression(max_iter=2000, C=0.5)
    )
    return model.fit(x, y)


def make_plan(size: Size) -> dict[str, Any]:
    """One sweep per perturbation, no combinations: the comparison is per perturbation."""
    return {
        "name": "harden-digits",
        "description": "Digits classifier before and after augmentation against its top risk.",
        "perturbations": [{"name": name, "levels": list(size.levels)} for name in PERTURBATIONS],
        "repeats": size.repeats,
        "seed": 0,
        "analysis": {"bootstrap": size.bootstrap},
    }


def say(text: str) -> None:
    """Print one step for people, flushed so that it shows while the next step runs."""
    print(text, flush=True)


def main(
    samples: int | None = None,
    *,
    quick: bool = False,
    store: str | Path | None = None,
) -> Hardening:
    """Train, analyse, retrain against the top risk, analyse again and compare.

    Args:
        samples: test images analysed (default: all 899, or 300 with `quick`).
        quick: reduced size (fewer levels, one seed, smaller bootstrap) for tests and CI.
        store: folder (or store URL) for the runs; default a temporary folder.

    Returns:
        What was targeted and the comparison; `ok` says whether hardening worked.
    """
    if store is None:
        with tempfile.TemporaryDirectory(prefix="wince-harden-") as folder:
            return _harden(samples, quick=quick, store=folder, temporary=True)
    return _harden(samples, quick=quick, store=str(store), temporary=False)


def _harden(samples: int | None, *, quick: bool, store: str, temporary: bool) -> Hardening:
    started = time.perf_counter()
    size = QUICK if quick else FULL
    count = samples if samples is not None else size.samples
    x_train, x_test, y_train, y_test = digits_split()
    if count is not None:
        x_test, y_test = x_test[:count], y_test[:count]
    data = ArrayDataset(x_test, y_test, modality="image", name="sklearn digits (test half)")
    plan = make_plan(size)

    model_a = train(x_train, y_train)
    say(
        f"1. Trained the demo's digits classifier on {len(x_train)} images "
        f"(clean test accuracy {model_a.score(x_test, y_test):.1%} on {len(x_test)} images)."
    )

    run_a = wince.run(model_a, data, plan, store=store)
    run_a.analyze(breaking_points=True, regions=False, model=model_a, data=data)
    report = load_report_data(run_a.store, run_a.id)
    story = narrative(report)
    say(
        f"2. Analysed it under {len(PERTURBATIONS)} perturbations at levels "
        f"{', '.join(map(str, size.levels))} (run {run_a.id}): {len(story.risks)} fragile, "
        f"{len(story.robust)} robust, {len(story.inconclusive)} inconclusive."
    )
    if not story.risks:
        raise SystemExit("No perturbation was found fragile: nothing to harden against.")
    top: Finding = story.risks[0]
    cap = augmentation_target(report, top)
    advice = next(
        r for r in story.recommendations if r.kind == "augmentation" and top.sentence == r.because
    )
    say(f"3. Top risk: {top.sentence}\n   The report recommends:\n")
    say("\n".join(f"     {line}" for line in advice.code.splitlines()) + "\n")

    retraining = AugmentedRetraining(
        train_data=(x_train, y_train),
        perturbations=[top.perturbation],
        up_to={top.perturbation: cap} if cap else None,
        copies=size.copies,
    )
    hardened = run_a.harden([retraining], model=model_a, data=data)
    run_b = wince.open(run_a.store, str(hardened.defences["run_id"].iloc[0]))
    reach = f"up to {cap:.3g} {top.unit}" if cap is not None else "over its realistic range"
    say(
        f"4. Retrained the same recipe with train.augment (Run.harden) on the {len(x_train)} "
        f"clean training images plus {size.copies} copies augmented with {top.perturbation} "
        f"{reach} ({retraining.trained_rows} images), and reran the plan with it "
        f"(run {run_b.id})."
    )
    row = hardened.defences.iloc[0]
    say(
        f"5. It reduced {row['significant_findings']} of {len(hardened.findings)} fragile "
        f"finding(s) significantly; clean accuracy changed by {row['clean_change']:+.1%}."
    )

    comparison = compare_runs(run_a.store, run_a.id, run_b.id)
    table = comparison.scenarios.set_index("scenario")
    verdict = str(table.loc[top.scenario, "verdict"])
    clean = str(table.loc["baseline", "verdict"])
    say(
        f"6. Compared B {run_b.id} with A {run_a.id} on the same {comparison.n_samples} "
        "samples (paired tests, Holm-adjusted):"
    )
    for scenario, row in table.iterrows():
        if scenario == "baseline" or str(scenario).startswith(top.perturbation + "("):
            say(
                f"   {scenario:<40} accuracy {row['accuracy_a']:.1%} -> "
                f"{row['accuracy_b']:.1%}: {row['verdict']}"
            )
    counts = ", ".join(f"{n} {v}" for v, n in comparison.counts().items() if n)
    say(f"   All {len(table)} scenarios: {counts}.")
    if not temporary:
        say(f"   See the whole table with: wince compare {run_a.id} {run_b.id} --store {store}")

    result = Hardening(
        target=top.perturbation,
        scenario=top.scenario,
        up_to=cap,
        run_a=run_a.id,
        run_b=run_b.id,
        comparison=comparison,
        verdict=verdict,
        clean_verdict=clean,
    )
    outcome = "worked" if result.ok else "did not work"
    say(
        f"Hardening {outcome}: against {top.perturbation} at its headline level the retrained "
        f"model is '{verdict}'; on clean images it is '{clean}' "
        f"({time.perf_counter() - started:.0f} s)."
    )
    return result


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", help="folder or store URL for the runs (default: temporary)")
    parser.add_argument("--quick", action="store_true", help="reduced size, for CI")
    parser.add_argument("--samples", type=int, help="test images analysed (default: all)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    arguments = _arguments(sys.argv[1:])
    outcome = main(arguments.samples, quick=arguments.quick, store=arguments.store)
    sys.exit(0 if outcome.ok else 1)
