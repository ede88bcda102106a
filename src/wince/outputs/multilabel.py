"""Per-sample metrics and error modes of multi-label outputs: which of k labels apply.

A batch of outputs is an (n, k) bool array, one row per sample (`to_multilabel` reads a
model's probabilities or 0/1 scores into one). The per-sample metrics compare two such arrays
row by row: a sample's value never depends on the other rows. With k = 0 labels nothing can
differ: the rates are 0.0 and subset accuracy is 1.0.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from wince.errors import DataError, ModelError, ParameterError

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


def to_multilabel(output: Any, threshold: float = 0.5) -> BoolArray:
    """An (n, k) bool array of a model's multi-label output.

    Args:
        output: (n, k) bool, 0/1 or probabilities in [0, 1] (array-like).
        threshold: probability from which a label applies (`>= threshold`), in (0, 1].

    Raises:
        ModelError: not two-dimensional, or holding NaN or values outside [0, 1] (logits:
            apply a sigmoid first).
        ParameterError: a threshold outside (0, 1].

    >>> to_multilabel([[0.9, 0.5, 0.1], [0, 1, 0]]).tolist()
    [[True, True, False], [False, True, False]]
    """
    if not 0.0 < threshold <= 1.0:
        raise ParameterError(f"threshold must be in (0, 1]; got {threshold}.")
    values = np.asarray(output)
    if values.ndim != 2:
        raise ModelError(
            "a multi-label output is an (n, k) array, one row of k labels per sample; got "
            f"shape {values.shape}."
        )
    if values.dtype == np.bool_:
        return values
    if not np.issubdtype(values.dtype, np.number):
        raise ModelError(
            f"a multi-label output holds bools, 0/1 or probabilities; got dtype {values.dtype}."
        )
    if np.isnan(values).any():
        raise ModelError("the multi-label output holds NaN; the model must score every label.")
    if values.min(initial=0.0) < 0.0 or values.max(initial=0.0) > 1.0:
        raise ModelError(
            "a multi-label output holds probabilities in [0, 1] or 0/1; got values in "
            f"[{values.min()}, {values.max()}]. If these are logits, apply a sigmoid first."
        )
    labels: BoolArray = values >= threshold
    return labels


def label_flip_rate(clean: BoolArray, perturbed: BoolArray) -> FloatArray:
    """The share of the k labels that changed, per sample: (n,) float64 in [0, 1].

    >>> label_flip_rate(np.array([[1, 0, 0, 1]], bool), np.array([[1, 1, 0, 0]], bool)).tolist()
    [0.5]
    """
    return _row_mean(_changed(clean, perturbed))


def hamming_loss(predicted: BoolArray, truth: BoolArray) -> FloatArray:
    """The share of the k labels predicted wrongly, per sample: (n,) float64 in [0, 1].

    >>> hamming_loss(np.array([[1, 0, 1]], bool), np.array([[1, 1, 1]], bool)).tolist()
    [0.3333333333333333]
    """
    return _row_mean(_changed(predicted, truth))


def subset_accuracy(predicted: BoolArray, truth: BoolArray) -> FloatArray:
    """1.0 where all k labels of a sample are right, else 0.0: (n,) float64.

    >>> subset_accuracy(np.array([[1, 0], [1, 1]], bool), np.array([[1, 0], [1, 0]], bool)).tolist()
    [1.0, 0.0]
    """
    wrong_labels = _changed(predicted, truth).sum(axis=1)
    exact: FloatArray = (wrong_labels == 0).astype(np.float64)
    return exact


def per_label_flip_rate(clean: BoolArray, perturbed: BoolArray) -> FloatArray:
    """The share of the n samples whose label j changed, per label: (k,) float64 in [0, 1].

    Unlike the functions above it summarises the batch: the lead aggregates it per scenario.
    With n = 0 samples every rate is 0.0.

    >>> clean, perturbed = np.array([[1, 0], [1, 1]], bool), np.array([[0, 0], [1, 1]], bool)
    >>> per_label_flip_rate(clean, perturbed).tolist()
    [0.5, 0.0]
    """
    changed = _changed(clean, perturbed)
    rates: FloatArray = changed.sum(axis=0) / max(len(changed), 1)
    return rates


def _changed(a: BoolArray, b: BoolArray) -> BoolArray:
    """Where two (n, k) bool arrays differ; DataError unless both are (n, k) bool of one shape."""
    for name, array in (("first", a), ("second", b)):
        if not isinstance(array, np.ndarray) or array.dtype != np.bool_ or array.ndim != 2:
            raise DataError(
                f"multi-label metrics compare (n, k) bool arrays; the {name} argument is "
                f"{getattr(array, 'dtype', type(array).__name__)} of shape "
                f"{np.shape(array)}. Read model outputs with to_multilabel first."
            )
    if a.shape != b.shape:
        raise DataError(
            f"multi-label metrics compare arrays of one shape; got {a.shape} and {b.shape}."
        )
    changed: BoolArray = a != b
    return changed


def _row_mean(flags: BoolArray) -> FloatArray:
    """The share of True per row, 0.0 for rows of length 0."""
    shares: FloatArray = flags.sum(axis=1) / max(flags.shape[1], 1)
    return shares
