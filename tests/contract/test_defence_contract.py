"""Every registered defence passes `wince.testing.check_defence` on each modality it serves.

The model is a small classifier written here (class scores from simple statistics of the
input), so the checks exercise the defences, not a library's model.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from wince.defences import CleanData, Defence, registry
from wince.models import CallableAdapter, as_model
from wince.models.base import softmax
from wince.perturbations.base import Modality
from wince.testing import check_defence
from wince.testing.examples import EXAMPLES, Example

# The modalities a defence that serves any modality (model-side defences) is checked on.
ANY_MODALITY = (Modality.IMAGE, Modality.TABULAR, Modality.TEXT)
# Defences that retrain the model are checked on tabular data with a scikit-learn model.
RETRAINS = {"train.augment"}
# Checked in more than about 0.1 s (retraining, loading a dictionary): `make test-fast` skips them.
SLOW = {"train.augment", "text.spelling"}


def statistics(x: Any) -> np.ndarray:
    """Three numbers per sample: for text its length, vowels and spaces; else mean, sd, max."""
    if isinstance(x, list):
        return np.array(
            [[len(t), sum(c in "aeiou" for c in t), t.count(" ")] for t in x], dtype=np.float64
        ).reshape(len(x), 3)
    flat = np.nan_to_num(np.asarray(x, dtype=np.float64).reshape(len(x), -1))
    return np.stack([flat.mean(axis=1), flat.std(axis=1), flat.max(axis=1)], axis=1)


def toy_classifier(example: Example) -> CallableAdapter:
    """Three classes scored from the batch's statistics, scaled by the example's own."""
    reference = statistics(example.x)
    centre, spread = reference.mean(axis=0), reference.std(axis=0) + 1e-9

    def scores(x: Any) -> np.ndarray:
        return softmax(3.0 * (statistics(x) - centre) / spread)

    return CallableAdapter(scores, classes=["a", "b", "c"], fingerprint=f"toy-{example.label}")


def sharper_classifier(example: Example) -> CallableAdapter:
    """Another model of the same classes: the toy classifier's scores, more confident."""
    toy = toy_classifier(example)

    def scores(x: Any) -> np.ndarray:
        return softmax(2.0 * np.log(toy.predict(x).scores))

    return CallableAdapter(scores, classes=["a", "b", "c"], fingerprint=f"sharp-{example.label}")


def cases() -> list[Any]:
    """(defence, example) pairs: each registered defence on each example it applies to."""
    return [
        pytest.param(
            cls,
            example,
            id=f"{name}-{example.label}",
            marks=[pytest.mark.slow] if name in SLOW else [],
        )
        for name, cls in registry().items()
        if cls.__module__.startswith("wince.")
        for modality in (
            [Modality.TABULAR] if name in RETRAINS else sorted(cls.modalities or ANY_MODALITY)
        )
        for example in EXAMPLES[modality]()
    ]


@pytest.mark.parametrize(("defence", "example"), cases())
def test_registered_defence_passes_the_contract(defence: type[Defence], example: Example):
    labels = np.arange(len(example.x)) % 3
    clean = CleanData(example.x, labels, example.context)
    if defence.name in RETRAINS:
        model, options = retrainable(example)
    elif defence.name == "model.ensemble":
        model, options = toy_classifier(example), {"models": [sharper_classifier(example)]}
    else:
        model, options = toy_classifier(example), {}
    check_defence(defence, model=model, clean=clean, options=options)


def retrainable(example: Example) -> tuple[Any, dict[str, Any]]:
    """A logistic regression fitted on other rows like the example's, and its retraining options."""
    x = np.asarray(example.x, dtype=np.float64)
    rng = np.random.default_rng(5)
    train_x = x.mean(axis=0) + rng.standard_normal((60, x.shape[1])) * x.std(axis=0)
    train_y = np.arange(60) % 3
    scaled = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
    model = as_model(scaled.fit(train_x, train_y))
    options = {
        "train_data": (train_x, train_y),
        "perturbations": ["tabular.gaussian_noise"],
        "copies": 1,
    }
    return model, options


class DoublesTheBatch(Defence):
    """Answers twice as many samples as it is given (a broken defence)."""

    name = "test.doubles"
    version = 1

    def predict(self, model, x):
        return model.predict(list(x) + list(x) if isinstance(x, list) else np.concatenate([x, x]))


class BatchMean(Defence):
    """Centres each batch on its own mean (its answers depend on the batch around a sample)."""

    name = "test.batch_mean"
    version = 1

    def predict(self, model, x):
        array = np.asarray(x, dtype=np.float64)
        return model.predict(array - array.mean(axis=0))


def _tabular() -> tuple[CallableAdapter, CleanData]:
    example = EXAMPLES[Modality.TABULAR]()[0]
    labels = np.arange(len(example.x)) % 3
    return toy_classifier(example), CleanData(example.x, labels, example.context)


def test_check_defence_names_the_failing_check():
    model, clean = _tabular()
    expected = r"check_defence\[predictions\]: test.doubles: 12 Predictions.labels for a batch of 6"
    with pytest.raises(AssertionError, match=expected):
        check_defence(DoublesTheBatch, model=model, clean=clean)


def test_a_batch_dependent_defence_fails_unless_it_says_so():
    model, clean = _tabular()
    with pytest.raises(AssertionError, match=r"sample_independence.*batch_dependent = True"):
        check_defence(BatchMean, model=model, clean=clean)

    class DeclaredBatchMean(BatchMean):
        """Centres each batch on its own mean, and says so."""

        batch_dependent = True

    check_defence(DeclaredBatchMean, model=model, clean=clean)
