"""`train.augment`: the model retrained on held-out data augmented against the run's findings."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.linear_model import RidgeClassifier
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer

import wince
from require import require_module
from wince import perturbations
from wince.analysis.data import load_run_data
from wince.datasets import ArrayDataset
from wince.defences import applicable, create, get
from wince.defences.base import FragilePerturbation, clean_data
from wince.defences.harden import fragile_magnitudes, resolve_defences
from wince.defences.lineage import run_model
from wince.defences.training import AugmentedRetraining
from wince.demo.models import digits_data, flatten_pixels
from wince.errors import DataError, ParameterError, StoreError
from wince.models.base import ModelAdapter
from wince.models.sklearn import SklearnAdapter
from wince.perturbations.base import Rngs

CONTRAST = "image.contrast"
CONTRAST_SEVERITY = 0.6  # -48% contrast: a faded print or a washed-out phone photo
N_TEST = 400


def _digits() -> tuple[Any, Any, Any, Any]:
    """Digits as uint8 (n, 8, 8, 1) images: training half, held-out test half."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = np.rint(digits.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
    split: list[Any] = train_test_split(
        images, digits.target, test_size=0.5, random_state=0, stratify=digits.target
    )
    return split[0], split[1][:N_TEST], split[2], split[3][:N_TEST]


def ridge_digits(x: Any, y: Any) -> Pipeline:
    """A fast digits classifier: ridge regression on the flattened pixels."""
    return make_pipeline(FunctionTransformer(flatten_pixels), RidgeClassifier(alpha=1.0)).fit(x, y)


CALLS: list[tuple[int, int]] = []  # (rows of x, rows of y) each time `counting_hook` ran


def counting_hook(model: Any, x: Any, y: Any) -> Any:
    """A user's training function: records what it was given, refits the recipe."""
    CALLS.append((len(x), len(y)))
    return ridge_digits(x, y)


@pytest.fixture(scope="module")
def digits() -> dict[str, Any]:
    x_train, x_test, y_train, y_test = _digits()
    model = SklearnAdapter(ridge_digits(x_train, y_train))
    test = ArrayDataset(x_test, y_test, modality="image", name="digits test half")
    return {"train": (x_train, y_train), "test": test, "model": model}


def _contrast_faded(test: ArrayDataset) -> Any:
    """The test images at the contrast severity, from a stream no training copy used."""
    contrast = perturbations.create(CONTRAST, {})
    keys = np.arange(len(test), dtype=np.uint64)
    return contrast.perturb(
        test.x,
        contrast.at_severity(CONTRAST_SEVERITY),
        Rngs(99, "held-out", 0, keys),
        test.context(),
    )


def _flip_rate(model: ModelAdapter, clean: Any, perturbed: Any) -> float:
    return float(np.mean(model.predict(clean).labels != model.predict(perturbed).labels))


def _fitted(digits: dict[str, Any], **options: Any) -> AugmentedRetraining:
    defence = create(
        "train.augment", {"train_data": digits["train"], "perturbations": CONTRAST} | options
    )
    assert isinstance(defence, AugmentedRetraining)
    defence.fit(digits["model"], clean_data(digits["model"], digits["test"]))
    return defence


@pytest.fixture(scope="module")
def refitted(digits: dict[str, Any]) -> AugmentedRetraining:
    return _fitted(digits, copies=2, seed=0)


def test_refit_on_augmented_training_data_flips_less_on_held_out_faded_digits(digits, refitted):
    test = digits["test"]
    faded = _contrast_faded(test)
    before = _flip_rate(digits["model"], test.x, faded)
    after = _flip_rate(refitted.wrap(digits["model"]), test.x, faded)
    assert before > 0.3  # the ridge classifier is fragile to faded contrast
    assert after < 0.1
    assert after < before / 4
    # the refit keeps the recipe: a clone of the same pipeline, not the fitted one
    retrained = refitted.retrained
    assert isinstance(retrained, SklearnAdapter)
    assert retrained.estimator is not digits["model"].estimator
    assert retrained.estimator.get_params()["ridgeclassifier__alpha"] == 1.0
    clean_accuracy = np.mean(retrained.predict(test.x).labels == test.labels)
    assert clean_accuracy > 0.9


def test_fitted_state_records_what_makes_the_retrained_model(digits, refitted):
    described = refitted.describe()
    assert described["name"] == "train.augment"
    assert described["options"]["train_data"] == "in memory"
    assert described["options"]["copies"] == 2
    fitted = described["fitted"]
    n_train = len(digits["train"][0])
    assert fitted["train_rows"] == n_train
    assert fitted["trained_rows"] == 3 * n_train
    assert fitted["perturbations"] == [CONTRAST]
    assert fitted["train_data"] == ArrayDataset(*digits["train"], modality="image").fingerprint()
    assert fitted["retrained_model"] == refitted.retrained.fingerprint()


@pytest.mark.slow
def test_the_hook_gets_the_augmented_rows_and_its_identity_and_the_seed_change_the_model(
    digits, refitted
):
    CALLS.clear()
    hooked = _fitted(digits, copies=2, train_fn="test_training_defences:counting_hook")
    n_train = len(digits["train"][0])
    (rows,) = CALLS  # called once, with clean × (1 + copies) rows of inputs and labels
    assert rows == (n_train * 3, n_train * 3)
    assert hooked.describe()["options"]["train_fn"] == "test_training_defences:counting_hook"
    assert hooked.describe()["fitted"]["train_fn_source"] is not None
    model = digits["model"]
    by_hook, by_default = hooked.wrap(model).fingerprint(), refitted.wrap(model).fingerprint()
    assert by_hook != by_default
    reseeded = _fitted(digits, copies=2, seed=1)
    assert reseeded.wrap(model).fingerprint() not in (by_hook, by_default)
    # the same recipe, seed and data give the same defended model
    assert _fitted(digits, copies=2, seed=0).wrap(model).fingerprint() == by_default


def test_a_missing_training_set_is_refused_and_so_is_one_that_overlaps_the_run(digits):
    with pytest.raises(ParameterError, match=r"train\.augment retrains the model and needs a"):
        create("train.augment", {"perturbations": CONTRAST})
    # the demo's digits data is the run's own evaluation data here
    leaking = create(
        "train.augment",
        {"train_data": "wince.demo.models:digits_data", "perturbations": CONTRAST},
    )
    demo = digits_data()
    with pytest.raises(DataError, match=r"899 of the 899 training samples are also in the run"):
        leaking.fit(digits["model"], clean_data(digits["model"], demo))


def test_without_findings_or_named_perturbations_there_is_nothing_to_augment_with(digits):
    defence = create("train.augment", {"train_data": digits["train"]})
    with pytest.raises(ParameterError, match="no perturbation to augment with"):
        defence.fit(digits["model"], clean_data(digits["model"], digits["test"]))


def test_it_is_named_on_purpose_only_and_takes_its_options_from_the_command_line():
    assert get("train.augment").applicable("classification", "image")
    assert "train.augment" not in applicable("classification", "image")
    (defence,) = resolve_defences(
        ["train.augment:train_data=wince.demo.models:digits_data,copies=2"],
        "classification",
        "image",
        seed=5,
    )
    assert isinstance(defence, AugmentedRetraining)
    assert (defence.copies, defence.seed, len(defence.train_set)) == (2, 5, 899)
    with pytest.raises(ParameterError, match=r"copies must be a whole number in \[1, 32\]"):
        create("train.augment", {"train_data": "wince.demo.models:digits_data", "copies": 0})


@pytest.mark.slow
def test_harden_aims_the_retraining_at_the_runs_fragile_perturbation(digits, tmp_path):
    plan = {
        "name": "harden-training",
        "perturbations": [{"name": CONTRAST, "levels": [3]}],
        "repeats": 1,
        "seed": 0,
        "analysis": {"bootstrap": 200},
    }
    model, test = digits["model"], digits["test"]
    run = wince.run(model, test, plan, store=tmp_path)
    defence = AugmentedRetraining(train_data=digits["train"], copies=2)
    # 400 samples cannot show non-inferiority at one point: the margin is three
    hardening = run.harden([defence], model=model, data=test, margin=0.03)
    # aimed by harden: the fragile perturbation, up to the magnitude found fragile (level 3)
    fitted = defence.describe()["fitted"]
    assert fitted["perturbations"] == [CONTRAST]
    assert fitted["up_to"] == {CONTRAST: -48.0}
    exposure = hardening.exposure.set_index("metric")
    flips = exposure.loc["flip_rate"]
    assert flips["before"] > 0.2
    assert flips["after"] < flips["before"] / 3
    assert flips["significant"]
    row = hardening.defences.iloc[0]
    assert row["defence"] == "train.augment"
    assert abs(row["clean_change"]) < 0.02
    assert row["clean_low"] > -0.03
    assert row["non_inferior"] is True
    assert row["qualifies"]


def digits_training_half() -> tuple[Any, Any]:
    """The digits training half, as a plan or the command line names it (module:function)."""
    x_train, _, y_train, _ = _digits()
    return x_train, y_train


def test_a_defended_run_aimed_at_findings_is_rebuilt_aimed_at_them(digits):
    model, test = digits["model"], digits["test"]
    defence = create(
        "train.augment", {"train_data": "test_training_defences:digits_training_half", "copies": 1}
    )
    defence.aim([FragilePerturbation(CONTRAST, {}, -48.0)])
    defence.fit(model, clean_data(model, test))
    described = defence.describe()
    assert described["aimed"] == [{"name": CONTRAST, "params": {}, "value": -48.0}]
    record = {"run_id": "defended", "lineage": {"defence": described, "hardens": "original"}}
    rebuilt = run_model(record, model, test)
    assert rebuilt.fingerprint() == defence.wrap(model).fingerprint()
    assert rebuilt.defence.describe()["fitted"]["up_to"] == {CONTRAST: -48.0}


def _torch_digits_module(torch: Any) -> Any:
    """A small torch digits classifier (logits), trained on the clean training half."""

    class Digits(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layers = torch.nn.Sequential(
                torch.nn.Flatten(),
                torch.nn.Linear(64, 32),
                torch.nn.ReLU(),
                torch.nn.Linear(32, 10),
            )

        def forward(self, x: Any) -> Any:
            return self.layers(x / 255.0)

    return Digits()


# a short fine-tune: 6 passes over the clean and one augmented copy, 256 samples a step
TORCH_OPTIONS = {
    "perturbations": CONTRAST,
    "copies": 1,
    "epochs": 6,
    "lr": 0.005,
    "batch_size": 256,
}


@pytest.mark.slow
@pytest.mark.torch
def test_torch_fine_tune_flips_less_on_held_out_faded_digits(digits):
    torch = require_module("torch", "torch")
    from wince.defences.training import fine_tune_torch
    from wince.models.torch import TorchAdapter

    torch.manual_seed(0)
    x_train, y_train = digits["train"]
    untrained = TorchAdapter(_torch_digits_module(torch), classes=tuple(range(10)))
    model = fine_tune_torch(untrained, x_train, y_train, epochs=20, lr=0.02, batch_size=128, seed=0)
    defence = create("train.augment", TORCH_OPTIONS | {"train_data": digits["train"]})
    defence.fit(model, clean_data(model, digits["test"]))
    test = digits["test"]
    faded = _contrast_faded(test)
    before, after = _flip_rate(model, test.x, faded), _flip_rate(defence.wrap(model), test.x, faded)
    assert before > 0.2
    assert after < before / 2
    assert np.mean(defence.retrained.predict(test.x).labels == test.labels) > 0.9
    # seeded on the CPU: the same fine-tune gives the same module
    again = create("train.augment", TORCH_OPTIONS | {"train_data": digits["train"]})
    again.fit(model, clean_data(model, test))
    assert again.retrained.fingerprint() == defence.retrained.fingerprint()


def test_a_run_retrained_on_in_memory_data_says_it_cannot_be_rebuilt_from_its_lineage(
    digits, refitted
):
    record = {
        "run_id": "defended1",
        "lineage": {"defence": refitted.describe(), "hardens": "original1"},
    }
    with pytest.raises(
        StoreError,
        match=r"train\.augment, which used in-memory train_data .* cannot be re-executed from "
        r"its lineage; harden run original1 again from Python",
    ):
        run_model(record, digits["model"], digits["test"])


def _wine_split() -> tuple[Any, ...]:
    from sklearn.datasets import load_wine

    wine = load_wine()
    split: list[Any] = train_test_split(
        wine.data, wine.target, test_size=0.5, random_state=0, stratify=wine.target
    )
    return (*split, list(wine.feature_names))


AUGMENTED: list[Any] = []  # the rows each `recording_hook` call trained on


def recording_hook(model: Any, x: Any, y: Any) -> Any:
    """A user's training function that keeps the augmented rows it was given."""
    from sklearn.base import clone

    AUGMENTED.append(np.asarray(x))
    return clone(model).fit(x, y)


def test_harden_augments_with_each_findings_options_and_records_them(tmp_path):
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    x_train, x_test, y_train, y_test, names = _wine_split()
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000)).fit(x_train, y_train)
    test = ArrayDataset(x_test, y_test, modality="tabular", feature_names=names, name="wine")
    confused = ["proline", "magnesium"]
    plan = {
        "name": "aimed-with-options",
        "perturbations": [
            {"name": "tabular.unit_confusion", "params": {"columns": confused}, "levels": [3]}
        ],
        "repeats": 1,
        "seed": 0,
        "analysis": {"bootstrap": 200},
    }
    run = wince.run(model, test, plan, store=tmp_path)
    (fragile,) = fragile_magnitudes(
        load_run_data(run.store, run.id), run.analyze().fragile().drop_duplicates("scenario")
    )
    assert fragile == FragilePerturbation("tabular.unit_confusion", {"columns": confused}, 0.12)
    train = ArrayDataset(x_train, y_train, modality="tabular", feature_names=names, name="train")
    defence = AugmentedRetraining(train_data=train, copies=2, train_fn=recording_hook)
    AUGMENTED.clear()
    run.harden([defence], model=model, data=test)
    # the augmented copies differ from the training rows in the confused columns only
    (rows,) = AUGMENTED
    changed = np.any(rows.reshape(3, len(x_train), -1) != x_train, axis=(0, 1))
    assert [names[i] for i in np.flatnonzero(changed)] == sorted(confused, key=names.index)
    fitted = defence.describe()["fitted"]
    assert fitted["perturbations"] == [
        {"name": "tabular.unit_confusion", "params": {"columns": confused}}
    ]
    assert fitted["up_to"] == {"tabular.unit_confusion": 0.12}
