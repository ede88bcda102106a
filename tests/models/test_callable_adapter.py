from __future__ import annotations

import numpy as np
import pytest
from scipy.special import softmax as scipy_softmax

from wince.errors import ModelError
from wince.models import CallableAdapter, Task, as_model


def test_probabilities_are_kept_and_labels_are_their_argmax(seed):
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.ones(4), size=7)
    model = CallableAdapter(lambda x: p[x[:, 0].astype(int)])
    predictions = model.predict(np.arange(7.0)[:, None])
    np.testing.assert_allclose(predictions.scores, p)
    np.testing.assert_array_equal(predictions.labels, p.argmax(axis=1))
    assert predictions.values is None


def test_logits_are_turned_into_probabilities_by_softmax(seed):
    logits = np.random.default_rng(seed).normal(scale=3.0, size=(6, 3))
    model = CallableAdapter(lambda x: logits)
    predictions = model.predict(np.zeros((6, 2)))
    np.testing.assert_allclose(predictions.scores, scipy_softmax(logits, axis=1), rtol=1e-12)
    np.testing.assert_array_equal(predictions.labels, logits.argmax(axis=1))


def test_integer_outputs_are_class_indices_without_scores():
    model = CallableAdapter(lambda x: (x[:, 0] > 0).astype(np.int64))
    predictions = model.predict(np.array([[1.0], [-2.0], [3.0]]))
    assert predictions.labels.tolist() == [1, 0, 1]
    assert predictions.labels.dtype == np.int64
    assert predictions.scores is None


@pytest.mark.parametrize("column", [False, True], ids=["flat", "column"])
def test_regression_values_accept_n_and_n_by_1(column):
    def fn(x):
        y = x.sum(axis=1) * 2.0
        return y[:, None] if column else y

    model = CallableAdapter(fn, task="regression")
    predictions = model.predict(np.array([[1.0, 2.0], [3.0, 4.0]]))
    assert model.task == Task.REGRESSION
    assert predictions.values.tolist() == [6.0, 14.0]
    assert predictions.labels is None


def test_batches_larger_than_max_batch_are_split_and_joined():
    sizes = []

    def fn(x):
        sizes.append(len(x))
        return x[:, 0].astype(np.int64) % 3

    model = CallableAdapter(fn, max_batch=3)
    predictions = model.predict(np.arange(10)[:, None])
    assert sizes == [3, 3, 3, 1]
    assert predictions.labels.tolist() == [i % 3 for i in range(10)]


def test_text_batches_are_passed_as_lists_of_str():
    model = CallableAdapter(lambda texts: np.array([len(t) % 2 for t in texts]), max_batch=2)
    assert model.predict(["a", "bb", "ccc"]).labels.tolist() == [1, 0, 1]


@pytest.mark.parametrize(
    ("task", "output", "expected"),
    [
        ("classification", np.zeros(3), r"class probabilities \(n, classes\) or class indices"),
        ("classification", np.zeros((3, 2, 2)), r"got shape \(3, 2, 2\)"),
        ("classification", np.array(["a", "b", "c"]), r"classifier must return"),
        ("regression", np.zeros((3, 2)), r"regression model must return n numbers"),
        ("regression", np.array(["a", "b", "c"]), r"regression model must return n numbers"),
    ],
    ids=["float-vector", "3d", "strings", "regression-2-columns", "regression-strings"],
)
def test_outputs_of_the_wrong_shape_or_type_raise_model_error(task, output, expected):
    model = CallableAdapter(lambda x: output, task=task)
    with pytest.raises(ModelError, match=expected):
        model.predict(np.zeros((3, 1)))


def test_wrong_number_of_outputs_raises_model_error():
    model = CallableAdapter(lambda x: np.zeros(len(x) - 1, dtype=int))
    with pytest.raises(ModelError, match="returned 2 predictions for 3 samples"):
        model.predict(np.zeros((3, 1)))


def test_exceptions_of_the_function_become_model_errors_naming_the_sample_range():
    def fn(x):
        raise ValueError("boom")

    model = CallableAdapter(fn, max_batch=4)
    with pytest.raises(
        ModelError, match=r"callable .*fn failed on samples 0-3 .*ValueError: boom"
    ) as info:
        model.predict(np.zeros((6, 1)))
    assert isinstance(info.value.__cause__, ValueError)


def test_an_empty_batch_raises_model_error():
    with pytest.raises(ModelError, match="empty batch"):
        CallableAdapter(lambda x: x).predict(np.zeros((0, 2)))


def test_fingerprint_is_the_given_one_or_a_stable_hash_of_the_code():
    def double(x):
        return x * 2

    def triple(x):
        return x * 3

    assert CallableAdapter(double, fingerprint="v1").fingerprint() == "v1"
    assert CallableAdapter(double).fingerprint() == CallableAdapter(double).fingerprint()
    assert CallableAdapter(double).fingerprint() != CallableAdapter(triple).fingerprint()


def test_as_model_wraps_plain_callables_and_returns_adapters_unchanged():
    model = as_model(lambda x: x[:, 0].astype(int))
    assert isinstance(model, CallableAdapter)
    assert as_model(model) is model
    with pytest.raises(ModelError, match="cannot use a int as a model"):
        as_model(3)
