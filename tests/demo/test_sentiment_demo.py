"""The sentiment demo: VADER as a real, offline classifier on sentences written for wince."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import wince
from wince.demo.models import (
    SENTIMENT_CLASSES,
    sentiment_classifier,
    sentiment_data,
    vader_probabilities,
)
from wince.demo.run import PLANS, plan_path
from wince.perturbations import base as library
from wince.perturbations.base import DataContext, Modality, Step, compose, sample_keys
from wince.plan import load_plan

HAND_LABELLED = [
    ("I do not like it.", "negative"),
    ("I love it!!!", "positive"),
    ("The parcel arrived on Tuesday.", "neutral"),
    ("It isn't bad at all.", "positive"),
    ("Terrible service, I want my money back.", "negative"),
    ("The staff were friendly and helpful.", "positive"),
    ("The meeting is at 3pm on Friday.", "neutral"),
    ("This is not good.", "negative"),
]


def word_edits(a: list[str], b: list[str]) -> int:
    """Levenshtein distance between two word lists (plain dynamic programming)."""
    previous = list(range(len(b) + 1))
    for i, word in enumerate(a, 1):
        current = [i]
        for j, other in enumerate(b, 1):
            current.append(
                min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (word != other))
            )
        previous = current
    return previous[-1]


@pytest.fixture(scope="module")
def model():
    return sentiment_classifier()


@pytest.mark.parametrize(("text", "expected"), HAND_LABELLED)
def test_vader_labels_hand_checked_sentences(model, text, expected):
    assert model.classes[model.predict([text]).labels[0]] == expected


def test_capitals_and_exclamation_marks_strengthen_the_positive_score(model):
    plain, emphatic = model.predict(["The food was great.", "The food was GREAT!!!"]).scores
    assert emphatic[2] > plain[2] > 0.5


def test_classifier_is_well_above_chance_on_the_written_sentences(model):
    data = sentiment_data()
    predicted = np.asarray(model.classes)[model.predict(data.x).labels]
    accuracy = np.mean(predicted == data.labels)
    majority = max(np.mean(data.labels == c) for c in SENTIMENT_CLASSES)
    assert majority < 0.45
    assert accuracy > 0.7  # chance is 1/3, always answering the majority class 0.39


def test_written_sentences_are_varied_labelled_and_unique():
    data = sentiment_data()
    assert 300 <= len(data) <= 400
    assert set(data.labels) == set(SENTIMENT_CLASSES)
    assert len(set(data.x)) == len(data)
    joined = " ".join(data.x)
    for feature in ("n't", "!!!", "colour", "color", "£", "AWFUL", "not", "really"):
        assert feature in joined


def test_scores_follow_vader_thresholds_and_sum_to_one():
    compound = np.array([-1.0, -0.3, -0.05, -0.0499, 0.0, 0.0499, 0.05, 0.3, 1.0])
    scores = vader_probabilities(compound)
    expected = ["negative"] * 3 + ["neutral"] * 3 + ["positive"] * 3
    assert [SENTIMENT_CLASSES[i] for i in scores.argmax(axis=1)] == expected
    np.testing.assert_allclose(scores.sum(axis=1), 1.0)
    assert np.all(np.diff(scores[:, 2]) > 0)
    assert np.all(np.diff(scores[:, 0]) < 0)


def test_fingerprint_is_stable_across_instances(model):
    assert sentiment_classifier().fingerprint() == model.fingerprint()


def test_classifier_pickles_for_worker_processes(model):
    texts = sentiment_data().x[:50]
    copy = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(copy.predict(texts).scores, model.predict(texts).scores)


def test_bundled_sentiment_plan_is_a_demo_plan_of_registered_text_perturbations():
    assert "sentiment.yaml" in PLANS
    plan = load_plan(plan_path("sentiment.yaml"))
    names = [spec.name for spec in plan.perturbations]
    assert len(names) >= 2
    assert all(library.get(name).modality == Modality.TEXT for name in names)


def test_text_plan_records_word_error_rate_of_the_perturbed_sentences(tmp_path, seed):
    plan = load_plan(plan_path("sentiment.yaml")).model_dump(exclude_none=True)
    plan.update(
        perturbations=[{"name": "text.word_typos", "levels": [5]}],  # 20% of words
        combinations="none",
        repeats=2,
        seed=seed,
    )
    plan["data"]["limit"] = 40
    run = wince.run(plan=plan, store=str(tmp_path))
    outcomes = run.outcomes()
    assert "word_error_rate" in outcomes.columns
    baseline = outcomes[outcomes["scenario"] == "baseline"]
    assert np.all(baseline["word_error_rate"] == 0)

    texts = sentiment_data().x[:40]
    ids = [str(i) for i in range(40)]
    perturbed_rows = outcomes[outcomes["scenario"] == "text.word_typos(word_typo_rate=0.2)"]
    assert set(perturbed_rows["trial"]) == {0, 1}
    context = DataContext(Modality.TEXT)
    for trial, rows in perturbed_rows.groupby("trial"):
        perturbed = compose(
            texts,
            [Step("text.word_typos", 0.2)],
            seed=seed,
            trial=int(trial),
            keys=sample_keys(ids),
            context=context,
        )
        expected = [
            word_edits(a.split(), b.split()) / len(a.split())
            for a, b in zip(texts, perturbed, strict=True)
        ]
        rows = rows.sort_values("sample_index")
        np.testing.assert_allclose(rows["word_error_rate"], expected, rtol=1e-6)
    # one typo in each of a fifth of the words: close to a fifth of the words change
    assert 0.1 < perturbed_rows["word_error_rate"].mean() < 0.3
