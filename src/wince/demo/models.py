"""Demo models and data, built offline from scikit-learn's bundled datasets.

Each factory is deterministic (fixed splits and seeds), so worker processes that rebuild the
model get the same fingerprint.
"""

from __future__ import annotations

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
    data = load_breast_cancer()
    x_train, x_test, y_train, y_test = train_test_split(
        data.data, data.target, test_size=0.4, random_state=SPLIT_SEED, stratify=data.target
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
