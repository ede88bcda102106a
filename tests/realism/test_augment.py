"""Training-time augmentation: one seeded draw per (seed, epoch, sample id), in every form."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from require import require_module
from wince import errors
from wince.analysis.breaking import BreakingPoints
from wince.demo.models import flatten_pixels
from wince.errors import DataError, ParameterError, RealismWarning, StoreError
from wince.perturbations.base import Rngs, get, sample_keys
from wince.realism import (
    AugmentedDataset,
    AugmentTransformer,
    augment,
    augmentation_caps,
    breaking_points,
)
from wince.store.store import Store

IMAGE_PERTURBATIONS = ["image.gaussian_noise", "image.exposure", "image.jpeg"]


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    data = load_digits()
    images = np.rint(data.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
    return images, data.target


@pytest.fixture
def images(digits) -> np.ndarray:
    return digits[0][:60]


def grey_images(n: int) -> np.ndarray:
    """Float images strictly inside (0, 1), so any noise changes every one of them."""
    return np.full((n, 6, 6, 1), 0.5, dtype=np.float32)


@pytest.mark.torch
def test_same_seed_gives_the_same_batch_in_numpy_torch_and_sklearn(images, seed):
    torch = require_module("torch", "torch")
    from torch.utils.data import DataLoader, TensorDataset

    augmenter = augment(IMAGE_PERTURBATIONS, seed=seed, probability=0.8)
    labels = np.arange(len(images))

    from_numpy = augmenter(images, epoch=2)

    dataset = AugmentedDataset(
        TensorDataset(torch.from_numpy(images), torch.from_numpy(labels)), augmenter
    )
    dataset.set_epoch(2)
    batches = list(DataLoader(dataset, batch_size=7, shuffle=False))
    from_torch = torch.cat([b[0] for b in batches]).numpy()
    torch_labels = torch.cat([b[1] for b in batches]).numpy()

    from_sklearn = AugmentTransformer(augmenter, epoch=2).fit_transform(images)

    assert from_numpy.dtype == from_torch.dtype == from_sklearn.dtype == np.uint8
    np.testing.assert_array_equal(from_torch, from_numpy)
    np.testing.assert_array_equal(from_sklearn, from_numpy)
    np.testing.assert_array_equal(torch_labels, labels)  # labels pass through untouched
    changed = [not np.array_equal(a, b) for a, b in zip(from_numpy, images, strict=True)]
    assert 0.5 < np.mean(changed) <= 0.8 + 0.15


@pytest.mark.torch
def test_torch_transform_keeps_tensor_type_and_handles_channels_first(images):
    torch = require_module("torch", "torch")
    augmenter = augment(IMAGE_PERTURBATIONS, seed=5)
    expected = augmenter(images[:4], epoch=1)
    transform = augmenter.torch_transform(epoch=1, channels_first=True)
    chw = torch.from_numpy(images[:4]).permute(0, 3, 1, 2)
    for i in range(4):
        out = transform(chw[i], i)
        assert isinstance(out, torch.Tensor)
        assert out.dtype == torch.uint8
        assert tuple(out.shape) == (1, 8, 8)
        np.testing.assert_array_equal(out.permute(1, 2, 0).numpy(), expected[i])
    # a float tensor (as after ToTensor) stays float32 in [0, 1]
    as_float = torch.from_numpy(images[:1].astype(np.float32) / 255).permute(0, 3, 1, 2)[0]
    out = transform(as_float, 0)
    assert out.dtype == torch.float32
    assert 0.0 <= float(out.min()) <= float(out.max()) <= 1.0


def test_different_seed_or_epoch_gives_a_different_batch(seed):
    x = grey_images(8)
    base = augment(["image.gaussian_noise"], seed=seed)(x, epoch=0)
    assert not np.array_equal(base, augment(["image.gaussian_noise"], seed=seed + 1)(x, epoch=0))
    assert not np.array_equal(base, augment(["image.gaussian_noise"], seed=seed)(x, epoch=1))
    np.testing.assert_array_equal(base, augment(["image.gaussian_noise"], seed=seed)(x, epoch=0))


def test_result_does_not_depend_on_batch_split_or_order(images, seed):
    augmenter = augment(IMAGE_PERTURBATIONS, seed=seed, probability=0.7)
    whole = augmenter(images, epoch=3)
    halves = np.concatenate(
        [augmenter(images[:23], epoch=3), augmenter(images[23:], start=23, epoch=3)]
    )
    np.testing.assert_array_equal(halves, whole)
    order = np.random.default_rng(seed).permutation(len(images))
    permuted = augmenter(images[order], ids=order, epoch=3)
    np.testing.assert_array_equal(permuted, whole[order])
    # integer ids and their string forms are the same sample
    as_text = [str(i) for i in range(len(images))]
    np.testing.assert_array_equal(augmenter(images, ids=as_text, epoch=3), whole)


def test_input_is_never_mutated(images):
    before = images.copy()
    out = augment(IMAGE_PERTURBATIONS, seed=0)(images)
    np.testing.assert_array_equal(images, before)
    assert out is not images


def test_probability_zero_leaves_every_sample_unchanged():
    x = grey_images(20)
    augmenter = augment(["image.gaussian_noise"], seed=0, probability=0)
    out = augmenter(x)
    np.testing.assert_array_equal(out, x)
    assert out is not x
    assert augmenter.draws(range(20)) == [None] * 20


def test_probability_one_changes_every_sample():
    x = grey_images(50)
    out = augment(["image.gaussian_noise"], seed=0, probability=1.0)(x)
    assert all(not np.array_equal(a, b) for a, b in zip(out, x, strict=True))


def test_partial_probability_perturbs_exactly_the_drawn_samples(seed):
    x = grey_images(400)
    augmenter = augment(["image.gaussian_noise"], seed=seed, probability=0.3)
    draws = augmenter.draws(range(400))
    out = augmenter(x)
    changed = np.array([not np.array_equal(a, b) for a, b in zip(out, x, strict=True)])
    np.testing.assert_array_equal(changed, [d is not None for d in draws])
    assert abs(changed.mean() - 0.3) < 0.08  # binomial sd 0.023
    # a higher probability perturbs a superset, with the same draws for the shared samples
    more = augment(["image.gaussian_noise"], seed=seed, probability=0.6).draws(range(400))
    assert all(m == d for d, m in zip(draws, more, strict=True) if d is not None)


def test_draws_lie_in_the_realistic_range_and_cover_it(seed):
    names = ["image.gaussian_noise", "image.exposure", "image.haze", "image.jpeg"]
    augmenter = augment(names, seed=seed)
    draws = augmenter.draws(range(4000))
    assert all(d is not None for d in draws)
    for name in names:
        magnitude = get(name).magnitude
        mine = [d for d in draws if d is not None and d.perturbation == name]
        assert abs(len(mine) / 4000 - 0.25) < 0.035  # uniform choice; binomial sd 0.007
        low, high = sorted((magnitude.off, magnitude.severe))
        values = np.array([d.value for d in mine])
        severities = np.array([d.severity for d in mine])
        assert values.min() >= low
        assert values.max() <= high
        assert severities.min() >= 0
        assert severities.max() <= 1
        assert abs(severities.mean() - 0.5) < 0.05  # uniform in severity; sd of mean 0.012
        assert severities.min() < 0.02
        assert severities.max() > 0.98
        if magnitude.integer:
            assert np.array_equal(values, np.round(values))
    # haze is on a log scale: its median value is the geometric mean of off and severe
    haze = np.median([d.value for d in draws if d is not None and d.perturbation == "image.haze"])
    assert haze == pytest.approx(math.sqrt(100.0 * 10.0), rel=0.1)


def test_applied_perturbation_is_the_drawn_one(images, seed):
    # exposure is deterministic, so the drawn value alone fixes the expected output
    augmenter = augment(["image.exposure", "image.gaussian_blur"], seed=seed)
    out = augmenter(images, epoch=4)
    draws = augmenter.draws(range(len(images)), epoch=4)
    rngs = Rngs.for_samples(["unused"])
    for i, draw in enumerate(draws):
        assert draw is not None
        expected = get(draw.perturbation)().perturb(images[i : i + 1], draw.value, rngs)
        np.testing.assert_array_equal(out[i], expected[0])


def test_stochastic_stream_is_keyed_by_seed_epoch_and_sample(seed):
    # the noise a sample gets equals the perturbation applied alone with that sample's stream
    x = grey_images(5)
    augmenter = augment(["image.gaussian_noise"], seed=seed)
    out = augmenter(x, ids=["a", "b", "c", "d", "e"], epoch=7)
    draws = augmenter.draws(["a", "b", "c", "d", "e"], epoch=7)
    keys = sample_keys(["a", "b", "c", "d", "e"])
    noise = get("image.gaussian_noise")()
    for i, draw in enumerate(draws):
        assert draw is not None
        rngs = Rngs(seed, "augment/image.gaussian_noise#0", 7, keys[[i]])
        np.testing.assert_array_equal(out[i], noise.perturb(x[i : i + 1], draw.value, rngs)[0])


def test_up_to_caps_the_drawn_magnitudes(seed):
    augmenter = augment(
        ["image.gaussian_noise", "image.exposure"],
        seed=seed,
        up_to={"image.gaussian_noise": 3.0},
    )
    assert augmenter.ranges == {"image.gaussian_noise": (0.0, 3.0), "image.exposure": (0.0, -3.0)}
    draws = [d for d in augmenter.draws(range(2000)) if d is not None]
    noise = np.array([d.value for d in draws if d.perturbation == "image.gaussian_noise"])
    exposure = np.array([d.value for d in draws if d.perturbation == "image.exposure"])
    assert noise.min() >= 0
    assert noise.max() <= 3.0
    assert noise.max() > 2.9
    assert exposure.min() < -2.9  # the other perturbation keeps its realistic range


def test_up_to_beyond_the_realistic_range_warns_once_and_extends_the_scale(seed):
    errors._already_warned.clear()  # another test may have used the same value first
    with pytest.warns(RealismWarning, match="up_to"):
        augmenter = augment(["image.haze"], seed=seed, up_to={"image.haze": 2.0})
    draws = [d for d in augmenter.draws(range(1000)) if d is not None]
    values = np.array([d.value for d in draws])
    assert values.min() >= 2.0
    assert values.max() <= 100.0
    assert values.min() < 3.0  # past the severe end (10 %)
    expected_top = get("image.haze").magnitude.severity_of(2.0)
    assert max(d.severity for d in draws) == pytest.approx(expected_top, rel=0.01)
    augmenter(grey_images(50))  # applying draws beyond severe warns no more (warnings are errors)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"source": ["image.gausian_noise"]}, "did you mean 'image.gaussian_noise'"),
        ({"source": "image.gausian_noise"}, "did you mean"),
        ({"source": []}, "non-empty list"),
        ({"source": [{"name": "image.jpeg", "levels": [1]}]}, r"source\[0\].*'levels'"),
        ({"source": [{"name": "image.jpeg", "params": {"colour": 1}}]}, "options"),
        ({"source": ["image.jpeg", "text.typos"]}, "one modality"),
        ({"source": ["audio.tempo"]}, "changes the shape"),
        ({"probability": 1.5}, r"probability must be a number in \[0, 1\]"),
        ({"probability": -0.1}, "probability"),
        ({"probability": math.nan}, "probability"),
        ({"probability": True}, "probability"),
        ({"seed": -1}, "seed"),
        (
            {"up_to": {"image.gaussian_noise": 150.0}},
            r"up_to\['image.gaussian_noise'\].*\[0, 100\]",
        ),
        ({"up_to": {"image.exposure": 1.0}}, r"up_to\['image.exposure'\].*beyond off"),
        ({"up_to": {"image.exposure": 0.0}}, "beyond off"),
        ({"up_to": {"image.blur": 1.0}}, "not one of the augmenter's perturbations"),
    ],
)
def test_invalid_arguments_raise_parameter_error_naming_the_field(kwargs, match):
    arguments = {"source": ["image.gaussian_noise", "image.exposure"], **kwargs}
    with pytest.raises(ParameterError, match=match):
        augment(**arguments)


def test_bad_batch_ids_or_epoch_are_rejected():
    augmenter = augment(["image.gaussian_noise"])
    with pytest.raises(DataError, match="3 ids for 2 samples"):
        augmenter(grey_images(2), ids=[0, 1, 2])
    with pytest.raises(DataError, match="image batches"):
        augmenter(np.zeros((6, 6, 1), dtype=np.float32))
    with pytest.raises(ParameterError, match="epoch"):
        augmenter(grey_images(2), epoch=-1)


@pytest.mark.slow
def test_pipeline_with_the_transformer_fits_and_predicts_on_digits(digits):
    images, target = digits
    x_train, x_test, y_train, y_test = train_test_split(
        images, target, test_size=0.5, random_state=0, stratify=target
    )
    augmenter = augment(["image.gaussian_noise", "image.exposure", "image.gaussian_blur"], seed=0)
    pipeline = make_pipeline(
        AugmentTransformer(augmenter),
        FunctionTransformer(flatten_pixels),
        LogisticRegression(max_iter=2000, C=0.5),
    )
    pipeline.fit(x_train, y_train)
    accuracy = pipeline.score(x_test, y_test)
    assert accuracy > 0.8
    # predicting does not augment: the steps before the model only flatten
    np.testing.assert_array_equal(pipeline[:-1].transform(x_test), flatten_pixels(x_test))
    # fitting did augment: the model differs from one fitted on the clean images
    plain = LogisticRegression(max_iter=2000, C=0.5).fit(flatten_pixels(x_train), y_train)
    assert not np.allclose(pipeline[-1].coef_, plain.coef_)
    # clone-able, with the same parameters, and refitting gives the same model
    twin = clone(pipeline)
    assert twin.get_params()["augmenttransformer__epoch"] == 0
    twin.fit(x_train, y_train)
    np.testing.assert_array_equal(twin[-1].coef_, pipeline[-1].coef_)


def test_sklearn_form_keeps_dataframes_and_changes_with_epoch(seed):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(30, 3)), columns=["a", "b", "c"], index=range(10, 40))
    augmenter = augment(["tabular.gaussian_noise"], seed=seed, context=_tabular_context(frame))
    out = augmenter.sklearn().fit_transform(frame)
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == ["a", "b", "c"]
    assert list(out.index) == list(range(10, 40))
    np.testing.assert_array_equal(out.to_numpy(), augmenter(frame.to_numpy()))
    later = augmenter.sklearn().set_params(epoch=1).fit_transform(frame)
    assert not np.array_equal(later.to_numpy(), out.to_numpy())


def _tabular_context(frame: pd.DataFrame):
    from wince.datasets.base import ArrayDataset

    return ArrayDataset(frame.to_numpy())


def test_text_is_augmented_in_every_form(seed):
    texts = [f"the quick brown fox number {i} jumps over the lazy dog" for i in range(60)]
    augmenter = augment(["text.typos"], seed=seed)
    out = augmenter(texts, epoch=1)
    assert isinstance(out, list)
    assert len(out) == 60
    # a typo rate drawn uniformly in [0, 0.1] misses all ~50 characters about 19 % of the time
    assert sum(a != b for a, b in zip(out, texts, strict=True)) > 36
    dataset = AugmentedDataset(texts, augmenter, epoch=1)
    assert [dataset[i] for i in range(60)] == out
    assert augmenter.sklearn(epoch=1).fit_transform(texts) == out
    assert texts[0] == "the quick brown fox number 0 jumps over the lazy dog"


def test_plans_and_plan_files_are_sources(tmp_path):
    plan = {
        "name": "augment me",
        "perturbations": [
            {"name": "image.gaussian_noise", "levels": [1, 2]},
            {"name": "image.jpeg", "severities": [0.5]},
        ],
    }
    path = tmp_path / "plan.yaml"
    path.write_text(
        "name: augment me\nperturbations:\n"
        "  - {name: image.gaussian_noise, levels: [1, 2]}\n"
        "  - {name: image.jpeg, severities: [0.5]}\n"
    )
    x = grey_images(10)
    from_dict = augment(plan, seed=4)(x)
    np.testing.assert_array_equal(augment(path, seed=4)(x), from_dict)
    np.testing.assert_array_equal(augment(str(path), seed=4)(x), from_dict)
    np.testing.assert_array_equal(
        augment(["image.gaussian_noise", "image.jpeg"], seed=4)(x), from_dict
    )


def test_augmenter_survives_pickling_for_dataloader_workers(images):
    augmenter = augment(IMAGE_PERTURBATIONS, seed=2)
    copy = pickle.loads(pickle.dumps(augmenter))
    np.testing.assert_array_equal(copy(images), augmenter(images))


def test_augmented_dataset_passes_labels_and_uses_given_ids(images):
    augmenter = augment(["image.gaussian_noise"], seed=1)
    pairs = list(zip(images[:5], range(5), strict=True))
    ids = ["a", "b", "c", "d", "e"]
    dataset = AugmentedDataset(pairs, augmenter, ids=ids)
    expected = augmenter(images[:5], ids=ids)
    assert len(dataset) == 5
    for i in range(5):
        sample, label = dataset[i]
        np.testing.assert_array_equal(sample, expected[i])
        assert label == i
    np.testing.assert_array_equal(dataset[-1][0], expected[4])
    with pytest.raises(IndexError):
        dataset[5]
    with pytest.raises(DataError, match="2 ids"):
        AugmentedDataset(pairs, augmenter, ids=["a", "b"])


def _store_with_breaking_points(tmp_path, payload) -> tuple[Store, str]:
    store = Store(root=tmp_path / "store")
    store.create_run(
        "run1",
        name="digits",
        plan_digest="0",
        model_fingerprint="m",
        data_fingerprint="d",
        task="classification",
        n_samples=4,
        lineage={},
        scenarios=[
            {"scenario": "baseline", "kind": "baseline", "steps": [], "severity": 0.0, "trials": 1}
        ],
    )
    if payload is not None:
        store.save_analysis("run1", "breaking_points", payload)
    return store, "run1"


def _breaking(name: str, severities: list[float]) -> dict:
    magnitude = get(name).magnitude
    n = len(severities)
    table = pd.DataFrame(
        {
            "sample_index": np.arange(n),
            "sample_id": [str(i) for i in range(n)],
            "breaking_severity": severities,
            "breaking_value": [
                magnitude.value_at(s) if math.isfinite(s) else math.nan for s in severities
            ],
            "unchanged_severity": [0.0] * n,
            "method": ["bisection"] * n,
            "realistic": [True] * n,
        }
    )
    survival = pd.DataFrame({c: [0.0] for c in ("severity", "value", "survival", "low", "high")})
    return BreakingPoints(
        perturbation=name,
        parameter=magnitude.name,
        unit=magnitude.unit,
        table=table,
        survival=survival,
        evaluations=1,
        dense_grid_evaluations=1,
        median_breaking_severity=0.5,
        median_interval=(0.25, 0.75),
        tolerance=1 / 64,
    ).to_payload()


def test_augmentation_caps_are_read_from_a_runs_breaking_points_and_cap_the_augmentation(tmp_path):
    payload = {
        "image.gaussian_noise": _breaking("image.gaussian_noise", [0.75, 0.25, math.inf, 0.5]),
        "image.exposure": _breaking("image.exposure", [math.inf, math.inf, 0.5, math.inf]),
    }
    store, run_id = _store_with_breaking_points(tmp_path, payload)
    try:
        # median of 0.25, 0.5, 0.75, inf (an observed sample, not interpolated): 0.5 -> 4 %
        assert augmentation_caps(store, run_id) == {"image.gaussian_noise": pytest.approx(4.0)}
        assert augmentation_caps(store, "latest", quantile=0.25) == {
            "image.gaussian_noise": pytest.approx(2.0),
            "image.exposure": pytest.approx(-1.5),
        }
        up_to = augmentation_caps(store, run_id)
        augmenter = augment(["image.gaussian_noise", "image.exposure"], seed=0, up_to=up_to)
        values = [
            d.value
            for d in augmenter.draws(range(500))
            if d is not None and d.perturbation == "image.gaussian_noise"
        ]
        assert 3.9 < max(values) <= 4.0
        with pytest.raises(ParameterError, match="quantile"):
            augmentation_caps(store, run_id, quantile=0)
        # the old name still answers, warning that it goes away
        with pytest.warns(DeprecationWarning, match=r"use wince.realism.augmentation_caps"):
            assert breaking_points(store, run_id) == augmentation_caps(store, run_id)
    finally:
        store.close()


def test_breaking_points_of_an_unanalysed_run_say_how_to_compute_them(tmp_path):
    store, run_id = _store_with_breaking_points(tmp_path, None)
    try:
        with pytest.raises(StoreError, match="--breaking-points"):
            augmentation_caps(store, run_id)
    finally:
        store.close()
