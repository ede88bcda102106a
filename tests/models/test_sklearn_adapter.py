from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.datasets import make_classification, make_regression
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.svm import LinearSVC

from wince.errors import ModelError
from wince.models import SklearnAdapter, Task, as_model


class MajorityOfSigns(ClassifierMixin, BaseEstimator):
    """A classifier with `predict` only (no probabilities, no decision function)."""

    def fit(self, x, y):
        self.classes_ = np.unique(y)
        return self

    def predict(self, x):
        return self.classes_[(np.asarray(x)[:, 0] > 0).astype(int)]


def _data(seed, n_classes=3, n=60):
    x, y = make_classification(
        n_samples=n,
        n_features=5,
        n_informative=3,
        n_classes=n_classes,
        n_clusters_per_class=1,
        random_state=seed,
    )
    names = np.array(["ant", "bee", "cat", "dog"])[:n_classes]
    return x, names[y]


def _indices(estimator, x):
    lookup = {c: i for i, c in enumerate(estimator.classes_)}
    return np.array([lookup[v] for v in estimator.predict(x)])


def test_predict_proba_gives_scores_and_labels_match_predict(seed):
    x, y = _data(seed)
    estimator = LogisticRegression(max_iter=1000).fit(x, y)
    model = SklearnAdapter(estimator)
    predictions = model.predict(x)
    assert model.task == Task.CLASSIFICATION
    assert model.classes == ("ant", "bee", "cat")
    np.testing.assert_allclose(predictions.scores, estimator.predict_proba(x))
    np.testing.assert_array_equal(predictions.labels, _indices(estimator, x))


@pytest.mark.parametrize("n_classes", [2, 3], ids=["binary", "multiclass"])
def test_decision_function_only_classifiers_give_probabilities_agreeing_with_predict(
    seed, n_classes
):
    x, y = _data(seed, n_classes=n_classes)
    estimator = LinearSVC().fit(x, y)
    assert not hasattr(estimator, "predict_proba")
    predictions = SklearnAdapter(estimator).predict(x)
    assert predictions.scores.shape == (len(x), n_classes)
    assert np.all(predictions.scores >= 0)
    np.testing.assert_allclose(predictions.scores.sum(axis=1), 1.0)
    np.testing.assert_array_equal(predictions.scores.argmax(axis=1), _indices(estimator, x))
    np.testing.assert_array_equal(predictions.labels, _indices(estimator, x))


def test_binary_margins_become_the_logistic_of_the_margin(seed):
    x, y = _data(seed, n_classes=2)
    estimator = LinearSVC().fit(x, y)
    predictions = SklearnAdapter(estimator).predict(x)
    margin = estimator.decision_function(x)
    np.testing.assert_allclose(predictions.scores[:, 1], 1 / (1 + np.exp(-margin)))


def test_predict_only_classifiers_give_class_indices_without_scores():
    x = np.array([[1.0], [-1.0], [2.0], [-3.0]])
    estimator = MajorityOfSigns().fit(x, np.array(["no", "yes", "no", "yes"]))
    predictions = SklearnAdapter(estimator).predict(x)
    assert predictions.scores is None
    assert predictions.labels.tolist() == [1, 0, 1, 0]  # classes_ = ("no", "yes")


def test_regressors_give_predict_values(seed):
    x, y = make_regression(n_samples=40, n_features=4, random_state=seed)
    estimator = Ridge().fit(x, y)
    model = SklearnAdapter(estimator, max_batch=7)
    predictions = model.predict(x)
    assert model.task == Task.REGRESSION
    assert model.classes is None
    np.testing.assert_allclose(predictions.values, estimator.predict(x))


def test_asking_classification_of_a_regressor_raises_model_error():
    x, y = make_regression(n_samples=20, n_features=2, random_state=0)
    with pytest.raises(ModelError, match=r"Ridge has no classes_.*task='regression'"):
        SklearnAdapter(Ridge().fit(x, y), task="classification")


def test_small_max_batch_gives_the_same_predictions(seed):
    x, y = _data(seed)
    estimator = LogisticRegression(max_iter=1000).fit(x, y)
    whole = SklearnAdapter(estimator).predict(x)
    chunked = SklearnAdapter(estimator, max_batch=7).predict(x)
    np.testing.assert_array_equal(whole.scores, chunked.scores)
    np.testing.assert_array_equal(whole.labels, chunked.labels)


def test_scikit_learn_errors_become_model_errors_naming_the_estimator():
    x, y = _data(0)
    model = SklearnAdapter(LogisticRegression(max_iter=1000).fit(x, y))
    with pytest.raises(
        ModelError, match=r"scikit-learn LogisticRegression failed on samples 0-2 .*ValueError"
    ) as info:
        model.predict(np.zeros((3, 2)))
    assert isinstance(info.value.__cause__, ValueError)


def test_fingerprint_is_stable_and_changes_with_the_fitted_state():
    x, y = _data(0)
    first = LogisticRegression(max_iter=1000).fit(x, y)
    same = LogisticRegression(max_iter=1000).fit(x, y)
    other = LogisticRegression(max_iter=1000, C=0.01).fit(x, y)
    assert SklearnAdapter(first).fingerprint() == SklearnAdapter(same).fingerprint()
    assert SklearnAdapter(first).fingerprint() != SklearnAdapter(other).fingerprint()


def test_as_model_wraps_estimators():
    x, y = _data(0)
    assert isinstance(as_model(LogisticRegression(max_iter=1000).fit(x, y)), SklearnAdapter)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["mlp_pipeline", "multi_output", "forest"])
def test_multilabel_estimators_are_read_as_multilabel_models(kind, tmp_path):
    from sklearn.datasets import make_multilabel_classification
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import hamming_loss
    from sklearn.multioutput import MultiOutputClassifier
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    import wince
    from wince.models import as_model

    x, y = make_multilabel_classification(n_samples=120, n_features=5, n_classes=3, random_state=0)
    estimator = {
        "mlp_pipeline": lambda: make_pipeline(
            StandardScaler(), MLPClassifier(max_iter=3000, random_state=0)
        ),
        "multi_output": lambda: MultiOutputClassifier(LogisticRegression(max_iter=500)),
        "forest": lambda: RandomForestClassifier(n_estimators=7, random_state=0),
    }[kind]().fit(x[:80], y[:80])
    assert as_model(estimator).task == "multilabel"
    plan = {"name": kind, "perturbations": [{"name": "tabular.gaussian_noise", "severities": [1]}]}
    summary = wince.run(estimator, (x[80:], y[80:]), plan, store=tmp_path).summary()
    clean = summary[(summary["metric"] == "hamming_loss") & (summary["scenario"] == "baseline")]
    assert float(clean["value"].iloc[0]) == pytest.approx(
        hamming_loss(y[80:], estimator.predict(x[80:]))
    )


TEXT_PIPELINE = """
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline, make_union
from wince.models import SklearnAdapter
texts = ["good film", "bad film", "great plot", "awful acting", "fine work", "poor show"]
features = make_union(TfidfVectorizer(), CountVectorizer(stop_words="english"))
model = make_pipeline(features, LogisticRegression()).fit(texts, [1, 0, 1, 0, 1, 0])
print(SklearnAdapter(model).fingerprint())
"""


@pytest.mark.slow
def test_a_text_pipeline_has_the_same_fingerprint_in_every_process():
    """CountVectorizer keeps id(stop_words), a memory address: it must not reach the hash."""
    fingerprints = {
        subprocess.run(
            [sys.executable, "-c", TEXT_PIPELINE], check=True, capture_output=True, text=True
        ).stdout.strip()
        for _ in range(3)
    }
    assert len(fingerprints) == 1
    assert len(next(iter(fingerprints))) == 16
