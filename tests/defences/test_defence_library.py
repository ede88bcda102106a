"""Each defence's own behaviour, and the registry that offers only the applicable ones."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from wince.defences import CleanData, applicable, create, registry
from wince.defences.text import normalize_text
from wince.errors import DataError, ModelError, ParameterError
from wince.models import CallableAdapter
from wince.models.base import Predictions, softmax
from wince.perturbations import DataContext, Modality, RaggedBatch


def _context(modality: str = "tabular") -> DataContext:
    return DataContext(Modality(modality))


class _Identity:
    """A model that answers each row's first two columns as class probabilities."""

    task = "classification"
    classes = (0, 1)

    def __init__(self) -> None:
        self.seen: list[object] = []

    def predict(self, x):
        self.seen.append(x)
        return Predictions.from_probabilities(softmax(np.asarray(x, dtype=float)[:, :2]))

    def fingerprint(self) -> str:
        return "identity"

    def close(self) -> None:
        pass


def test_registry_offers_only_defences_applicable_to_the_task_and_modality():
    assert set(registry()) == {
        "audio.bandlimit",
        "audio.denoise",
        "audio.loudness",
        "image.autocontrast",
        "image.deblock",
        "image.denoise",
        "image.validate",
        "image.white_balance",
        "model.abstain",
        "model.ensemble",
        "model.temperature",
        "model.tta",
        "tabular.clip",
        "tabular.impute",
        "tabular.robust_scale",
        "tabular.units",
        "tabular.validate",
        "text.normalize",
        "text.spelling",
        "text.validate",
        "train.augment",
    }
    # tried by default: applicable, and not one to try only when named (abstaining,
    # retraining, ensembles, per-batch recalibration)
    assert applicable("classification", "text") == [
        "model.temperature",
        "model.tta",
        "text.normalize",
        "text.spelling",
    ]
    assert applicable("regression", "tabular") == [
        "model.tta",
        "tabular.clip",
        "tabular.impute",
        "tabular.units",
    ]
    assert applicable("classification", "image") == [
        "image.autocontrast",
        "image.deblock",
        "image.denoise",
        "image.white_balance",
        "model.temperature",
        "model.tta",
    ]
    assert "model.temperature" not in applicable("regression", "image")
    named_only = {n for n, cls in registry().items() if not cls.by_default}
    assert named_only == {
        "image.validate",
        "model.abstain",
        "model.ensemble",
        "tabular.robust_scale",
        "tabular.validate",
        "text.validate",
        "train.augment",
    }


def test_unknown_defence_or_option_names_the_closest():
    with pytest.raises(ParameterError, match=r"did you mean 'text\.normalize'"):
        create("text.normalise")
    with pytest.raises(ParameterError, match="did you mean 'copies'"):
        create("model.tta", {"copy": 3})
    with pytest.raises(ParameterError, match="copies must be a whole number"):
        create("model.tta", {"copies": 0})


def test_nfkc_folds_fullwidth_letters_ligatures_and_removes_zero_width_and_bidi():
    assert normalize_text("ｇｒｅａｔ ﬁlm") == "great film"
    assert normalize_text("gr\u200be\u200ca\u200dt\u2060\ufeff") == "great"
    assert normalize_text("\u202egood\u202c") == "good"
    assert normalize_text("cafe\u0301") == "café"  # decomposed accents composed again


def test_homoglyphs_fold_in_mixed_script_words_only():
    # Cyrillic а, е, о inside Latin words
    assert normalize_text("gre\u0430t m\u043ev\u0435") == "great move"
    assert normalize_text("привет world") == "привет world"


def test_whitespace_runs_collapse_and_ends_are_stripped():
    assert normalize_text("  so\t\tvery \n good\u00a0 ") == "so very good"


def test_text_normalize_transforms_each_text_before_the_model():
    defence = create("text.normalize")
    assert defence.transform(["ｏｋ", "a\u200bb"]) == ["ok", "ab"]


def test_clip_keeps_values_in_the_training_range_and_missing_values_missing():
    clean = np.array([[0.0, 10.0], [1.0, 20.0], [0.5, 15.0]])
    defence = create("tabular.clip")
    defence.fit(_Identity(), CleanData(clean, None, _context()))
    x = np.array([[-5.0, 12.0], [3.0, 999.0], [np.nan, 11.0]])
    clipped = defence.transform(x)
    assert clipped[:2].tolist() == [[0.0, 12.0], [1.0, 20.0]]
    assert np.isnan(clipped[2, 0])
    assert clipped[2, 1] == 11.0
    assert defence.fitted_state() == {"low": [0.0, 10.0], "high": [1.0, 20.0]}
    assert x[0, 0] == -5.0  # the input is not changed


def test_impute_fills_missing_values_with_the_training_medians():
    clean = np.array([[1.0, 10.0], [2.0, np.nan], [9.0, 30.0]])
    defence = create("tabular.impute")
    defence.fit(_Identity(), CleanData(clean, None, _context()))
    filled = defence.transform(np.array([[np.nan, np.nan], [4.0, 5.0]]))
    assert filled.tolist() == [[2.0, 20.0], [4.0, 5.0]]


def test_tabular_defences_refuse_use_before_fitting_and_other_widths():
    defence = create("tabular.impute")
    with pytest.raises(DataError, match="not fitted"):
        defence.transform(np.zeros((2, 2)))
    defence.fit(_Identity(), CleanData(np.zeros((3, 2)), None, _context()))
    with pytest.raises(DataError, match="fitted on 2 columns but got 3"):
        defence.transform(np.zeros((2, 3)))


def _ece(probabilities: np.ndarray, labels: np.ndarray, bins: int = 10) -> float:
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    return float(
        sum(
            abs(correct[which == b].mean() - confidence[which == b].mean()) * np.mean(which == b)
            for b in range(bins)
            if np.any(which == b)
        )
    )


def test_temperature_scaling_reduces_ece_of_an_overconfident_model_on_held_out_data(seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(1200, 4))
    y = (x @ np.array([1.0, -0.5, 0.3, 0.0]) + rng.normal(scale=1.0, size=1200) > 0).astype(int)
    fitted = LogisticRegression().fit(x[:400], y[:400])
    # logits scaled by 4: the same decisions, far too confident
    model = CallableAdapter(
        lambda b: softmax(
            4.0 * np.stack([-fitted.decision_function(b), fitted.decision_function(b)], axis=1) / 2
        ),
        classes=(0, 1),
        fingerprint="overconfident",
    )
    defence = create("model.temperature")
    defence.fit(model, CleanData(x[400:800], y[400:800], _context()))
    held_out, truth = x[800:], y[800:]
    before = model.predict(held_out)
    after = defence.wrap(model).predict(held_out)
    assert 2.0 < defence.fitted_state()["temperature"] < 8.0
    assert _ece(after.scores, truth) < _ece(before.scores, truth) / 2
    np.testing.assert_array_equal(after.labels, before.labels)  # decisions unchanged


def test_temperature_scaling_needs_labels_and_probabilities():
    defence = create("model.temperature")
    with pytest.raises(DataError, match="labelled clean data"):
        defence.fit(_Identity(), CleanData(np.zeros((3, 2)), None, _context()))
    labels_only = CallableAdapter(
        lambda b: np.zeros(len(b), dtype=int), classes=(0, 1), output="labels", fingerprint="l"
    )
    with pytest.raises(ModelError, match="class labels only"):
        defence.fit(labels_only, CleanData(np.zeros((3, 2)), np.zeros(3, int), _context()))


def _tta(seed: int, copies: int = 4):
    x = np.random.default_rng(0).normal(size=(20, 3))
    context = DataContext(Modality.TABULAR, column_sd=np.ones(3))
    defence = create("model.tta", {"seed": seed, "copies": copies, "severity": 1.0})
    model = _Identity()
    defence.fit(model, CleanData(x, None, context))
    return defence, model, x


def test_tta_is_deterministic_by_seed_and_depends_on_a_sample_alone():
    defence, model, x = _tta(seed=1)
    first = defence.predict(model, x).scores
    again = defence.predict(model, x).scores
    np.testing.assert_array_equal(first, again)
    alone = defence.predict(model, x[5:6]).scores  # in a batch of its own
    np.testing.assert_array_equal(alone[0], first[5])
    other_seed, other_model, _ = _tta(seed=2)
    assert not np.allclose(other_seed.predict(other_model, x).scores, first)
    # three predictions, each of the input itself and its 4 augmented copies
    assert len(model.seen) == 3 * (1 + 4)
    assert model.seen[0] is x
    assert not np.array_equal(model.seen[1], x)


def test_tta_averages_the_answers_to_the_input_and_its_copies():
    defence, model, x = _tta(seed=0, copies=2)
    averaged = defence.predict(model, x).scores
    answers = [softmax(np.asarray(seen)[:, :2]) for seen in model.seen]
    np.testing.assert_allclose(averaged, np.mean(answers, axis=0))


def test_autocontrast_stretches_each_image_to_the_full_range_and_keeps_flat_images():
    rng = np.random.default_rng(0)
    dim = rng.integers(40, 90, size=(2, 8, 8, 1)).astype(np.uint8)
    flat = np.full((1, 8, 8, 1), 77, dtype=np.uint8)
    out = create("image.autocontrast", {"cutoff_pct": 0.0}).transform(np.concatenate([dim, flat]))
    assert out.dtype == np.uint8
    assert [int(out[i].min()) for i in range(2)] == [0, 0]
    assert [int(out[i].max()) for i in range(2)] == [255, 255]
    np.testing.assert_array_equal(out[2], flat[0])
    # the order of levels is kept
    order = np.argsort(dim[0].ravel(), kind="stable")
    assert np.all(np.diff(out[0].ravel()[order].astype(int)) >= 0)


def test_defended_model_identity_holds_the_defence_and_its_fitted_state():
    model = _Identity()
    low = create("tabular.clip")
    low.fit(model, CleanData(np.array([[0.0, 0.0], [1.0, 1.0]]), None, _context()))
    high = create("tabular.clip")
    high.fit(model, CleanData(np.array([[0.0, 0.0], [2.0, 1.0]]), None, _context()))
    fingerprints = {low.wrap(model).fingerprint(), high.wrap(model).fingerprint(), "identity"}
    assert len(fingerprints) == 3
    assert low.wrap(model).fingerprint() == low.wrap(model).fingerprint()
    assert low.describe() == {
        "name": "tabular.clip",
        "version": 1,
        "options": {"seed": 0},
        "fitted": {"low": [0.0, 0.0], "high": [1.0, 1.0]},
    }


def test_tta_averages_a_regressors_values():
    x = np.random.default_rng(0).normal(size=(6, 2))
    model = CallableAdapter(
        lambda b: np.asarray(b)[:, 0] * 2.0, task="regression", fingerprint="linear"
    )
    defence = create("model.tta", {"copies": 3, "severity": 1.0})
    defence.fit(model, CleanData(x, None, DataContext(Modality.TABULAR, column_sd=np.ones(2))))
    values = defence.wrap(model).predict(x).values
    assert values.shape == (6,)
    assert not np.allclose(values, 2.0 * x[:, 0])  # the noisy copies count
    np.testing.assert_allclose(values, 2.0 * x[:, 0], atol=1.5)


def test_tta_refuses_a_perturbation_of_another_modality():
    defence = create("model.tta", {"perturbation": "image.gaussian_noise"})
    with pytest.raises(ParameterError, match=r"choose a tabular\.\* perturbation"):
        defence.fit(_Identity(), CleanData(np.zeros((2, 2)), None, _context()))


def test_autocontrast_stretches_images_of_several_sizes_one_by_one():
    small = np.array([[[10], [20]], [[30], [40]]], dtype=np.uint8)
    large = np.full((3, 3, 1), 50, dtype=np.uint8)
    large[0, 0, 0] = 100
    out = create("image.autocontrast", {"cutoff_pct": 0.0}).transform(
        RaggedBatch([small, large, small])
    )
    assert isinstance(out, RaggedBatch)
    assert out.shapes == [(2, 2, 1), (3, 3, 1), (2, 2, 1)]
    assert out[0].ravel().tolist() == [0, 85, 170, 255]
    assert sorted(set(out[1].ravel().tolist())) == [0, 255]
