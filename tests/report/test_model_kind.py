"""Recommendations fit the model: each defence once, no training advice for a fixed model;
classes are named as the model names them."""

from __future__ import annotations

import pytest
from report_support import PARITY_CLASSES, parity, text_data

import wince
from wince.api import Run
from wince.models.base import CallableAdapter
from wince.models.http import HttpAdapter
from wince.models.sklearn import SklearnAdapter
from wince.report import Report, build_report

# two perturbations of the Unicode family, two of the typing family (`narrative.FAMILIES`)
# and one of no family, whose generic text defence is spell correction too
TYPING = ("text.typos", "text.word_typos", "text.speech_errors")
PERTURBATIONS = ("text.homoglyphs", "text.zero_width", *TYPING)


@pytest.fixture(scope="module")
def fixed_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """A rule 'model' that cannot be trained, flipping under every change to its text."""
    plan = {
        "name": "fixed-rule-model",
        "perturbations": [{"name": name, "severities": [1.0]} for name in PERTURBATIONS],
        "repeats": 2,
        "analysis": {"bootstrap": 200},
    }
    model = CallableAdapter(
        parity, fingerprint="parity-fixed", classes=PARITY_CLASSES, trainable=False
    )
    return wince.run(model, text_data(), plan, store=str(tmp_path_factory.mktemp("fixed")))


@pytest.fixture(scope="module")
def fixed_report(fixed_run: Run) -> Report:
    return build_report(fixed_run.store, fixed_run.id, data=text_data())


def test_adapters_declare_whether_their_model_can_be_trained():
    assert HttpAdapter.trainable is False
    assert SklearnAdapter.trainable is True
    assert CallableAdapter(parity).trainable is None
    assert CallableAdapter(parity, trainable=False).trainable is False


def test_the_run_records_that_its_model_cannot_be_trained(fixed_run, fixed_report):
    assert fixed_run.store.run(fixed_run.id)["lineage"]["trainable"] is False
    assert fixed_report.data.trainable is False


def test_a_model_that_cannot_be_trained_gets_no_training_advice(fixed_report):
    found = fixed_report.narrative
    assert sorted(f.perturbation for f in found.risks) == sorted(PERTURBATIONS)
    kinds = [r.kind for r in found.recommendations]
    assert "augmentation" not in kinds
    assert not any("wince.augment" in r.code for r in found.recommendations)
    assert not any("CalibratedClassifierCV" in r.code for r in found.recommendations)


def test_each_defence_is_recommended_once_naming_every_risk_it_helps(fixed_report):
    found = fixed_report.narrative
    rank = [f.perturbation for f in found.risks]
    normalising = [r for r in found.recommendations if "Unicode NFKC" in r.text]
    spelling = [r for r in found.recommendations if r.kind == "spell correction"]
    assert len(normalising) == 1
    assert len(spelling) == 1
    unicode_risks = [n for n in rank if n in ("text.homoglyphs", "text.zero_width")]
    typing_risks = [n for n in rank if n in TYPING]
    assert normalising[0].text.endswith(
        f" It helps against {unicode_risks[0]} and {unicode_risks[1]}."
    )
    first, second, third = typing_risks
    assert spelling[0].text.endswith(f" It helps against {first}, {second} and {third}.")
    assert [r.priority for r in found.recommendations] == list(
        range(1, len(found.recommendations) + 1)
    )


def test_classes_are_named_as_the_model_names_them(fixed_report):
    per_class = fixed_report.data.frame("data_quality", "per_class")
    assert sorted(per_class["class_name"]) == sorted(PARITY_CLASSES)
    for case in fixed_report.cases:
        assert case.baseline_pred in PARITY_CLASSES
        assert case.perturbed_pred in PARITY_CLASSES
