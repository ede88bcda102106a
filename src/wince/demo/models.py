"""Demo models and data, built offline from data the dependencies ship or the project writes.

Digits and breast cancer come with scikit-learn; the sentiment demo runs VADER (the
`vaderSentiment` package's lexicon and rules) on review sentences written for wince. Each
factory is deterministic (fixed splits and seeds), so worker processes that rebuild the model
get the same fingerprint.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from importlib import resources
from importlib.metadata import version
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from wince.datasets.base import ArrayDataset
from wince.extras import missing_extra
from wince.models.base import CallableAdapter, hash_bytes, softmax

SPLIT_SEED = 0


def _digit_images() -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    digits = load_digits()
    # 0-16 grey levels -> uint8 images (n, 8, 8, 1)
    images = np.rint(digits.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
    return images, digits.target


def flatten_pixels(x: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
    """Image batch (n, h, w, c) in uint8 -> (n, h*w*c) floats in [0, 1]."""
    return np.asarray(x, dtype=np.float64).reshape(len(x), -1) / 255.0


def _digits_split() -> tuple[Any, Any, Any, Any]:
    images, target = _digit_images()
    x_train, x_test, y_train, y_test = train_test_split(
        images, target, test_size=0.5, random_state=SPLIT_SEED, stratify=target
    )
    return x_train, x_test, y_train, y_test


def digits_classifier() -> Any:
    """Logistic regression on the pixels of the digits training half."""
    x_train, _, y_train, _ = _digits_split()
    model = make_pipeline(
        FunctionTransformer(flatten_pixels), LogisticRegression(max_iter=2000, C=0.5)
    )
    return model.fit(x_train, y_train)


def digits_data() -> ArrayDataset:
    """The held-out half of scikit-learn's digits: 899 grey 8x8 images with labels."""
    _, x_test, _, y_test = _digits_split()
    return ArrayDataset(x_test, y_test, modality="image", name="sklearn digits (test half)")


def _cancer_split() -> tuple[Any, Any, Any, Any, list[str]]:
    """Train and test splits, labelled by class name (malignant, benign), and feature names."""
    data = load_breast_cancer()
    labels = data.target_names[data.target]  # the class names reports and tables show
    x_train, x_test, y_train, y_test = train_test_split(
        data.data, labels, test_size=0.4, random_state=SPLIT_SEED, stratify=labels
    )
    return x_train, x_test, y_train, y_test, list(data.feature_names)


def breast_cancer_classifier() -> Any:
    """A random forest on the breast-cancer training split."""
    x_train, _, y_train, _, _ = _cancer_split()
    model = RandomForestClassifier(n_estimators=100, random_state=SPLIT_SEED, n_jobs=1)
    return model.fit(x_train, y_train)


def breast_cancer_logistic() -> Any:
    """A standardised logistic regression on the breast-cancer training split."""
    x_train, _, y_train, _, _ = _cancer_split()
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)).fit(x_train, y_train)


def breast_cancer_data() -> ArrayDataset:
    """The held-out 40% of scikit-learn's breast-cancer table: 228 rows, 30 features."""
    _, x_test, _, y_test, names = _cancer_split()
    return ArrayDataset(
        x_test, y_test, feature_names=names, name="sklearn breast cancer (test split)"
    )


SENTIMENT_CLASSES = ("negative", "neutral", "positive")
# VADER's documented cut-offs are compound >= 0.05 positive and <= -0.05 negative. Compound
# scores come rounded to 4 decimals, so a threshold halfway between grid steps reproduces
# them with no ties.
VADER_THRESHOLD = 0.04995
# Temperature of the softmax over the three logits below, in compound units: 0.1 makes a
# compound of 0.3 (about one clearly positive word) a 0.99 positive score.
VADER_TEMPERATURE = 0.1


def vader_probabilities(compound: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Class scores (negative, neutral, positive) from VADER compound scores in [-1, 1].

    The scores are the softmax of the logits (-c, 2t - |c|, c) / T, with t the decision
    threshold and T the temperature. Their arg-max is VADER's documented rule (positive
    from 0.05, negative from -0.05, neutral between); the positive-negative log-odds grow
    linearly with the compound score, and a compound of 0 gives neutral 0.58. They are a
    monotone reading of one score, not calibrated probabilities.

    Examples:
        >>> vader_probabilities([-0.5, 0.0, 0.05]).argmax(axis=1).tolist()
        [0, 1, 2]
    """
    c = np.asarray(compound, dtype=np.float64).reshape(-1)
    logits = np.stack([-c, 2 * VADER_THRESHOLD - np.abs(c), c], axis=1) / VADER_TEMPERATURE
    return softmax(logits)


class VaderScores:
    """VADER's sentiment analyser as a batch function: list of str -> (n, 3) class scores."""

    cache_size = 1 << 16

    def __init__(self) -> None:
        try:
            from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
        except ImportError as error:
            raise missing_extra("vaderSentiment", "the demo's sentiment model") from error

        self.analyzer = SentimentIntensityAnalyzer()
        # VADER is deterministic and low perturbation levels leave many texts unchanged, so
        # a text seen before is not scored again.
        self.seen: dict[str, float] = {}

    def compound(self, texts: Sequence[str]) -> npt.NDArray[np.float64]:
        """VADER's compound score of each text, in [-1, 1]."""
        out = np.empty(len(texts), dtype=np.float64)
        for i, text in enumerate(texts):
            score = self.seen.get(text)
            if score is None:
                if len(self.seen) >= self.cache_size:
                    self.seen.clear()
                score = self.seen[text] = float(self.analyzer.polarity_scores(text)["compound"])
            out[i] = score
        return out

    def __call__(self, texts: Sequence[str]) -> npt.NDArray[np.float64]:
        """Scores (negative, neutral, positive) per text; see `vader_probabilities`."""
        return vader_probabilities(self.compound(texts))


def vader_fingerprint() -> str:
    """Hash of the vaderSentiment version, its lexicons and wince's score mapping."""
    try:
        package = resources.files("vaderSentiment")
    except ImportError as error:
        raise missing_extra("vaderSentiment", "the demo's sentiment model") from error
    return hash_bytes(
        version("vaderSentiment").encode(),
        (package / "vader_lexicon.txt").read_bytes(),
        (package / "emoji_utf8_lexicon.txt").read_bytes(),
        f"{VADER_THRESHOLD} {VADER_TEMPERATURE} {SENTIMENT_CLASSES}".encode(),
    )


def sentiment_classifier() -> CallableAdapter:
    """VADER (lexicon and rules, from `vaderSentiment`) as a three-class sentiment classifier.

    Nothing is trained: the valence lexicon and the rules for negation, intensifiers, capitals
    and "!!!" ship with the package, so the model runs offline and never changes.
    """
    return CallableAdapter(
        VaderScores(),
        classes=SENTIMENT_CLASSES,
        fingerprint=f"vader-{vader_fingerprint()}",
        trainable=False,
    )


@lru_cache(maxsize=1)
def _sentences() -> tuple[tuple[str, ...], tuple[str, ...]]:
    lines = (resources.files("wince.demo") / "sentences.tsv").read_text(encoding="utf-8")
    rows = [line.split("\t") for line in lines.splitlines() if line and not line.startswith("#")]
    return tuple(text for _, text in rows), tuple(label for label, _ in rows)


def sentiment_data() -> ArrayDataset:
    """370 short customer reviews and messages written for wince, labelled by their writers.

    Positive, negative and neutral (144, 144, 82), with negations, intensifiers, numbers, names,
    contractions, British and American spellings, capitals and "!!!".
    """
    texts, labels = _sentences()
    return ArrayDataset(
        list(texts), list(labels), modality="text", name="wince demo sentiment sentences"
    )
