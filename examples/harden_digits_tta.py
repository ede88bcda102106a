"""Harden the demo's digits classifier by test-time augmentation, augmented refit, autocontrast.

`examples/harden_digits.py` walks the retraining loop by hand; this example measures three
kinds of defence side by side with `wince harden`, on the demo's digits classifier (logistic
regression on scikit-learn's 8x8 digits) analysed under sensor noise, lighting, contrast and
camera pose:

- `image.autocontrast` (input side): each image's intensities stretched to the full range;
- `model.tta` (model side): predictions averaged over the image and a few seeded copies
  under mild noise, or under the perturbation given (`model.tta:perturbation=...`);
- `AugmentedRefit` (training side, defined here): the model refitted by the demo's recipe on
  its training images plus copies augmented with `wince.augment` against the perturbations
  the run found fragile. It is a `wince.defences.Defence` like the library's, so `wince
  harden` measures it the same way: the same scenarios, seeds and samples, paired.

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
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer

import wince
from wince.analysis.data import load_run_data
from wince.analysis.significance import verdicts
from wince.datasets import ArrayDataset
from wince.defences import CleanData, Defence
from wince.defences.harden import Hardening
from wince.demo.models import SPLIT_SEED, digits_classifier, digits_data, flatten_pixels
from wince.models import as_model
from wince.models.base import ModelAdapter, Predictions, Task
from wince.perturbations.base import Batch, Modality

PERTURBATIONS = (
    "image.gaussian_noise",
    "image.exposure",
    "image.contrast",
    "image.rotation",
    "image.translation",
)
QUICK_SAMPLES = 300


def train(x: Any, y: Any) -> Pipeline:
    """The demo's recipe (`wince.demo.models.digits_classifier`) on the images given."""
    model = make_pipeline(
        FunctionTransformer(flatten_pixels), LogisticRegression(max_iter=2000, C=0.5)
    )
    return model.fit(x, y)


def training_images() -> tuple[Any, Any]:
    """The demo's training half of scikit-learn's digits: uint8 (n, 8, 8, 1) images, labels."""
    digits = load_digits()
    images = np.rint(digits.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
    x_train, _, y_train, _ = train_test_split(
        images, digits.target, test_size=0.5, random_state=SPLIT_SEED, stratify=digits.target
    )
    return x_train, y_train


class AugmentedRefit(Defence):
    """The model refitted on its training images plus copies augmented against the findings.

    `fit` trains the demo's recipe (`train`, the hook a team replaces with its own training
    function) on the training images and `copies` copies of them, each copy drawn by
    `wince.augment(perturbations)` at a severity uniform over the realistic range; the
    refitted model then answers in the original's place. Its identity is the refitted
    model's fingerprint.

    Args:
        perturbations: the registered perturbations to augment with.
        copies: augmented copies of the training images, at least 1.
        seed: the augmentation's seed.
    """

    name = "example.augmented_refit"
    version = 1
    modalities = frozenset({Modality.IMAGE})
    tasks = frozenset({Task.CLASSIFICATION})

    def __init__(
        self, *, perturbations: tuple[str, ...] = PERTURBATIONS, copies: int = 3, seed: int = 0
    ) -> None:
        super().__init__(seed=seed)
        self.perturbations = tuple(perturbations)
        self.copies = copies
        self.refitted: ModelAdapter | None = None

    def fit(self, model: ModelAdapter, clean: CleanData) -> None:
        """Refit the recipe on the training images and their augmented copies."""
        x_train, y_train = training_images()
        augmenter = wince.augment(list(self.perturbations), seed=self.seed)
        copies = [augmenter(x_train, epoch=epoch) for epoch in range(self.copies)]
        x = np.concatenate([x_train, *copies])
        y = np.concatenate([y_train] * (self.copies + 1))
        self.refitted = as_model(train(x, y))

    def fitted_state(self) -> dict[str, Any]:
        """The refitted model's fingerprint."""
        return {"model": None if self.refitted is None else self.refitted.fingerprint()}

    def predict(self, model: ModelAdapter, x: Batch) -> Predictions:
        """The refitted model's predictions."""
        if self.refitted is None:
            raise RuntimeError(f"{self.name} is not fitted: call fit(model, clean) first.")
        return self.refitted.predict(x)


def aimed_at_findings(run: wince.Run) -> list[str | Defence]:
    """Autocontrast, test-time augmentation, and a refit augmented with what the run found.

    The refit augments with the perturbations of the run's fragile scenarios (keys such as
    `image.rotation(angle_deg=15)`), all of the plan's when none is fragile.
    """
    fragile = verdicts(load_run_data(run.store, run.id)).fragile
    targets = sorted({str(key).partition("(")[0] for key in fragile["scenario"]})
    targets = targets or list(PERTURBATIONS)
    return ["image.autocontrast", "model.tta", AugmentedRefit(perturbations=tuple(targets))]


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
        digits_classifier(), data, make_plan(quick), defences=aimed_at_findings, store=store
    )


if __name__ == "__main__":
    sys.exit(command_line(__doc__.split("\n\n")[0], main))
