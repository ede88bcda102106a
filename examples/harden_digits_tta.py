"""Harden the demo's digits classifier by test-time augmentation, augmented refit, autocontrast.

`examples/harden_digits.py` walks the retraining loop by hand; this example measures three
kinds of defence side by side with `wince harden`, on the demo's digits classifier (logistic
regression on scikit-learn's 8x8 digits) analysed under sensor noise, lighting, contrast and
camera pose:

- `image.autocontrast` (input side): each image's intensities stretched to the full range;
- `model.tta` (model side): predictions averaged over the image and a few seeded copies
  under mild noise, or under the perturbation given (`model.tta:perturbation=...`);
- `train.augment` (training side): the demo's recipe refitted on its training images plus
  copies augmented with `wince.augment` against the perturbations the run found fragile
  (held-out from the analysed test images, which the defence checks); `wince harden`
  measures it the same way: the same scenarios, seeds and samples, paired.

For each it prints the measured gains (exposure reduction per finding) and costs (clean
accuracy change with its non-inferiority test, latency).

    python examples/harden_digits_tta.py            # all 899 test images, five levels
    python examples/harden_digits_tta.py --quick    # reduced size, as CI runs it

It exits 0 when a defence qualifies (a significant reduction at non-inferior clean accuracy).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
from _hardening import analyze_and_harden, command_line, sweep_plan
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from wince.datasets import ArrayDataset
from wince.defences import Defence, create
from wince.defences.harden import Hardening
from wince.demo.models import SPLIT_SEED, digits_classifier, digits_data

PERTURBATIONS = (
    "image.gaussian_noise",
    "image.exposure",
    "image.contrast",
    "image.rotation",
    "image.translation",
)
QUICK_SAMPLES = 300


def training_images() -> tuple[Any, Any]:
    """The demo's training half of scikit-learn's digits: uint8 (n, 8, 8, 1) images, labels."""
    digits = load_digits()
    images = np.rint(digits.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
    x_train, _, y_train, _ = train_test_split(
        images, digits.target, test_size=0.5, random_state=SPLIT_SEED, stratify=digits.target
    )
    return x_train, y_train


def defences() -> list[str | Defence]:
    """Autocontrast, test-time augmentation, and the demo's recipe retrained on augmented data.

    `train.augment` clones the demo's pipeline and refits it on the training images plus
    `copies` copies augmented with the run's fragile perturbations, with their options, up to
    the magnitude each was found fragile at (`wince harden` aims it at the findings).
    """
    retraining = create("train.augment", {"train_data": training_images(), "copies": 3})
    return ["image.autocontrast", "model.tta", retraining]


def make_plan(quick: bool) -> dict[str, Any]:
    """One sweep per perturbation, no combinations."""
    return sweep_plan(
        "harden-digits-tta",
        "Digits classifier under noise, lighting, contrast and camera pose.",
        PERTURBATIONS,
        quick,
    )


def main(quick: bool = False, store: str | Path | None = None) -> Hardening:
    """Analyse the digits model, harden the run and print each defence's gains and costs.

    Args:
        quick: 300 test images, three levels, one seed (for tests and CI).
        store: folder (or store URL) for the runs; default a temporary folder.
    """
    data = digits_data()
    if quick:
        data = ArrayDataset(
            data.batch(0, QUICK_SAMPLES),
            data.labels[:QUICK_SAMPLES],
            modality="image",
            name=f"{data.name} (first {QUICK_SAMPLES})",
        )
    return analyze_and_harden(
        digits_classifier(), data, make_plan(quick), defences=defences(), store=store
    )


if __name__ == "__main__":
    sys.exit(command_line(__doc__.split("\n\n")[0], main))
