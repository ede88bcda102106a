"""scikit-learn estimators (and anything with the same predict API) as wince models."""

from __future__ import annotations

from typing import Any

import numpy as np

from wince.errors import ModelError
from wince.models.base import (
    Predictions,
    Task,
    hash_bytes,
    predict_in_chunks,
    softmax,
)


class SklearnAdapter:
    """A fitted scikit-learn estimator or pipeline.

    Classifiers give probabilities from `predict_proba`; without it, `decision_function`
    margins turned into pseudo-probabilities (logistic for two classes, softmax otherwise);
    without either, labels from `predict`. Regressors give `predict` values. A multi-label
    classifier (fitted on an (n, k) 0/1 target: `MLPClassifier`, a forest,
    `MultiOutputClassifier`, ...) gives its `predict`, one 0/1 decision per label.

    Args:
        estimator: a fitted estimator.
        task: "classification", "regression" or "multilabel"; inferred when omitted
            (multilabel for an estimator fitted on several 0/1 outputs, classification for
            one with `classes_`, else regression).
        max_batch: largest batch passed to the estimator at once.

    An estimator fitted on a DataFrame gets DataFrames with the column names it was fitted
    with (`feature_names_in_`); the data's columns must be those, in that order (checked
    when a run starts, for data with column names).
    """

    trainable = True  # refits on augmented data (reports advise it)

    def __init__(
        self, estimator: Any, *, task: Task | str | None = None, max_batch: int = 8192
    ) -> None:
        self.estimator = estimator
        has_classes = hasattr(estimator, "classes_")
        if task is None:
            if is_multilabel(estimator):
                task = Task.MULTILABEL
            else:
                task = Task.CLASSIFICATION if has_classes else Task.REGRESSION
        self.task = Task(task)
        if self.task not in (Task.CLASSIFICATION, Task.REGRESSION, Task.MULTILABEL):
            raise ModelError(
                f"scikit-learn {type(estimator).__name__}: a scikit-learn model is a "
                f"classifier, regressor or multi-label classifier, not a {self.task.value} "
                "model; wrap your own function in CallableAdapter(fn, task=...)."
            )
        if self.task == Task.MULTILABEL:
            has_classes = False  # one 0/1 output per label: no class names
        if self.task == Task.CLASSIFICATION and not has_classes:
            raise ModelError(
                f"scikit-learn {type(estimator).__name__} has no classes_: is it fitted, "
                "and is it a classifier? Pass task='regression' for a regressor."
            )
        self.classes = tuple(estimator.classes_.tolist()) if has_classes else None
        self.max_batch = max_batch
        self.label = f"scikit-learn {type(estimator).__name__}"
        names = getattr(estimator, "feature_names_in_", None)
        self.feature_names: tuple[str, ...] | None = (
            tuple(str(n) for n in names) if names is not None else None
        )

    def _as_fitted(self, x: Any) -> Any:
        """A 2-D batch as the estimator was fitted: a DataFrame with its column names.

        An estimator fitted on a DataFrame (`feature_names_in_`) warns on every NumPy batch
        ("X does not have valid feature names"); its columns are the batch's, in order.
        """
        if self.feature_names is None or np.ndim(x) != 2:
            return x
        import pandas as pd

        if isinstance(x, pd.DataFrame):  # a table with categorical columns (`TableInputs`)
            return x
        return pd.DataFrame(np.asarray(x), columns=list(self.feature_names))

    def _predict_chunk(self, x: Any) -> Predictions:
        est = self.estimator
        x = self._as_fitted(x)
        if self.task == Task.REGRESSION:
            return Predictions.from_values(est.predict(x))
        if self.task == Task.MULTILABEL:
            # the model's own decision per label (a forest's tie at 0.5 is its to break)
            return Predictions.from_outputs(np.asarray(est.predict(x)), Task.MULTILABEL)
        if hasattr(est, "predict_proba"):
            return Predictions.from_probabilities(est.predict_proba(x))
        if hasattr(est, "decision_function"):
            margin = np.asarray(est.decision_function(x), dtype=np.float64)
            if margin.ndim == 1:
                margin = np.stack([-margin, margin], axis=1) / 2.0
            return Predictions.from_probabilities(softmax(margin))
        labels = np.asarray(est.predict(x))
        index = {c: i for i, c in enumerate(self.classes or ())}
        return Predictions.from_labels([index[v] for v in labels.tolist()])

    def predict(self, x: Any) -> Predictions:
        """Predict a batch."""
        return predict_in_chunks(self._predict_chunk, x, self.max_batch, self.label)

    def fingerprint(self) -> str:
        """SHA-256 of the pickled estimator (its class, parameters and fitted state).

        Pickled by value (`identity.value_pickle`): a tree model's node arrays carry
        uninitialised padding bytes, so a plain pickle of the same model loaded twice
        differed and its runs were never reused. 10x faster than joblib.hash on a 100-tree
        forest, which has the same flaw.
        """
        from wince.models.identity import value_pickle

        return hash_bytes(value_pickle(self.estimator))

    def close(self) -> None:
        """Nothing to release."""


def is_multilabel(estimator: Any) -> bool:
    """Whether a fitted estimator (or a pipeline's last step) predicts several 0/1 labels."""
    final = estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator
    if isinstance(getattr(final, "classes_", None), list):  # one class array per output
        return True
    binarizer = getattr(final, "_label_binarizer", None)  # MLPClassifier on an (n, k) target
    return getattr(binarizer, "y_type_", "") == "multilabel-indicator"
