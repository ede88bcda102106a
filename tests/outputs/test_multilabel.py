"""Multi-label metrics against scikit-learn (one row at a time) and against hand counts."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.metrics import accuracy_score
from sklearn.metrics import hamming_loss as sklearn_hamming_loss

from wince.errors import DataError, ModelError, ParameterError
from wince.outputs.multilabel import (
    hamming_loss,
    label_flip_rate,
    per_label_flip_rate,
    subset_accuracy,
    to_multilabel,
)

CLEAN = np.array([[1, 0, 0, 1], [1, 1, 1, 1], [0, 0, 0, 0]], bool)
PERTURBED = np.array([[1, 1, 0, 0], [1, 1, 1, 1], [1, 1, 1, 0]], bool)


@st.composite
def pairs_of_label_sets(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    n, k = draw(st.integers(1, 8)), draw(st.integers(1, 6))
    return draw(arrays(np.bool_, (n, k))), draw(arrays(np.bool_, (n, k)))


def test_metrics_by_hand():
    # row 0: labels 1 and 3 changed; row 1: none; row 2: three of four
    np.testing.assert_array_equal(label_flip_rate(CLEAN, PERTURBED), [2 / 4, 0.0, 3 / 4])
    np.testing.assert_array_equal(hamming_loss(PERTURBED, CLEAN), [2 / 4, 0.0, 3 / 4])
    np.testing.assert_array_equal(subset_accuracy(PERTURBED, CLEAN), [0.0, 1.0, 0.0])
    # label 0 changed in row 2, label 1 in rows 0 and 2, label 2 in row 2, label 3 in row 0
    np.testing.assert_array_equal(
        per_label_flip_rate(CLEAN, PERTURBED), [1 / 3, 2 / 3, 1 / 3, 1 / 3]
    )


@pytest.mark.slow
@settings(max_examples=200, deadline=None)
@given(pairs_of_label_sets())
def test_per_sample_values_equal_sklearn_row_by_row(pair):
    predicted, truth = pair
    expected_loss = [
        sklearn_hamming_loss(t[None], p[None]) for p, t in zip(predicted, truth, strict=True)
    ]
    expected_exact = [
        accuracy_score(t[None], p[None]) for p, t in zip(predicted, truth, strict=True)
    ]
    np.testing.assert_allclose(hamming_loss(predicted, truth), expected_loss)
    np.testing.assert_allclose(label_flip_rate(truth, predicted), expected_loss)
    np.testing.assert_array_equal(subset_accuracy(predicted, truth), expected_exact)
    # the batch means are sklearn's batch measures
    assert hamming_loss(predicted, truth).mean() == pytest.approx(
        sklearn_hamming_loss(truth, predicted)
    )
    assert subset_accuracy(predicted, truth).mean() == pytest.approx(
        accuracy_score(truth, predicted)
    )
    # per label: sklearn's loss of column j is the share of samples whose label j differs
    np.testing.assert_allclose(
        per_label_flip_rate(truth, predicted),
        [sklearn_hamming_loss(truth[:, j], predicted[:, j]) for j in range(truth.shape[1])],
    )


def test_empty_cases_are_finite():
    no_labels = np.zeros((2, 0), bool)
    np.testing.assert_array_equal(label_flip_rate(no_labels, no_labels), [0.0, 0.0])
    np.testing.assert_array_equal(hamming_loss(no_labels, no_labels), [0.0, 0.0])
    np.testing.assert_array_equal(subset_accuracy(no_labels, no_labels), [1.0, 1.0])
    no_samples = np.zeros((0, 3), bool)
    assert label_flip_rate(no_samples, no_samples).shape == (0,)
    np.testing.assert_array_equal(per_label_flip_rate(no_samples, no_samples), [0.0, 0.0, 0.0])


def test_to_multilabel_reads_bools_zero_one_and_probabilities():
    bools = np.array([[True, False]])
    assert to_multilabel(bools) is bools
    np.testing.assert_array_equal(to_multilabel([[0, 1], [1, 0]]), [[False, True], [True, False]])
    probabilities = np.array([[0.49, 0.5, 0.51, 1.0, 0.0]])
    np.testing.assert_array_equal(to_multilabel(probabilities), [[False, True, True, True, False]])
    np.testing.assert_array_equal(
        to_multilabel(probabilities, threshold=0.9), [[False, False, False, True, False]]
    )
    assert to_multilabel(np.zeros((3, 0))).shape == (3, 0)


@pytest.mark.parametrize(
    ("output", "message"),
    [
        (np.zeros(4), r"\(n, k\) array.*shape \(4,\)"),
        (np.zeros((2, 2, 2)), r"shape \(2, 2, 2\)"),
        (np.array([[0.2, np.nan]]), "NaN"),
        (np.array([[-1.5, 2.0]]), "apply a sigmoid"),
        (np.array([["a", "b"]]), "dtype <U1"),
    ],
)
def test_to_multilabel_rejects_other_outputs(output, message):
    with pytest.raises(ModelError, match=message):
        to_multilabel(output)


def test_to_multilabel_rejects_a_threshold_outside_the_unit_interval():
    with pytest.raises(ParameterError, match=r"threshold must be in \(0, 1\]"):
        to_multilabel([[0.5]], threshold=0.0)


def test_metrics_reject_mismatched_or_unread_arrays():
    with pytest.raises(DataError, match=r"one shape; got \(3, 4\) and \(3, 3\)"):
        hamming_loss(CLEAN, CLEAN[:, :3])
    with pytest.raises(DataError, match=r"second argument is float64.*to_multilabel"):
        label_flip_rate(CLEAN, CLEAN.astype(float))
