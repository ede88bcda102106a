from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pandas as pd
import pytest

import wince
from wince.analysis.data import load_run_data
from wince.analysis.descriptors import describe_samples, descriptors_of
from wince.analysis.regions import (
    DataQuality,
    Regions,
    data_quality,
    describe_conditions,
    fragile_regions,
    fragility_scores,
    permutation_pvalues,
    simplify,
)
from wince.datasets import ArrayDataset
from wince.errors import ParameterError
from wince.models import CallableAdapter


def run_data(tmp_path, model, data, plan):
    run = wince.run(model, data, plan, store=str(tmp_path / "s"))
    return load_run_data(run.store, run.id)


def noise_plan(severities, repeats, seed):
    return {
        "name": "regions",
        "perturbations": [{"name": "tabular.gaussian_noise", "severities": severities}],
        "repeats": repeats,
        "seed": seed,
    }


# fragile regions ----------------------------------------------------------------------------
def fragile_left(x):
    """Class of x1's sign, except left of x0 = 0 where the decision hangs on x2's last digits."""
    robust = (x[:, 1] > 0).astype(np.int64)
    chaotic = (np.sin(1000.0 * x[:, 2]) > 0).astype(np.int64)
    return np.where(x[:, 0] < 0, chaotic, robust)


def everywhere_chaotic(x):
    """Every sample is equally fragile: noise flips it with probability 1/2 whatever x is."""
    return (np.sin(1000.0 * x[:, 2]) > 0).astype(np.int64)


def three_columns(seed, n=600):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    # keep x1 a full sd from 0 so the robust branch never flips under mild noise
    x[:, 1] = np.sign(x[:, 1]) * (1 + np.abs(x[:, 1]))
    return ArrayDataset(x, (x[:, 1] > 0).astype(int))


def bounds_on(rule, feature):
    return {op: t for f, op, t in rule.conditions if f == feature}


@pytest.mark.slow
def test_tree_finds_the_fragile_half_and_the_robust_half_on_held_out_samples(tmp_path, seed):
    data = three_columns(seed)
    model = CallableAdapter(fragile_left, fingerprint="fragile-left")
    runs = run_data(tmp_path, model, data, noise_plan([0.1, 0.2], 3, seed))
    regions = fragile_regions(runs, data, seed=seed)
    fragile = [r for r in regions.rules.itertuples() if r.kind == "fragile"]
    robust = [r for r in regions.rules.itertuples() if r.kind == "robust"]
    assert any(abs(bounds_on(r, "x0").get("<=", math.inf)) < 0.2 for r in fragile)
    assert any(abs(bounds_on(r, "x0").get(">", math.inf)) < 0.2 for r in robust)
    # every kept fragile region lies left of x0 ~ 0, every robust one right of it
    assert all(bounds_on(r, "x0").get("<=", math.inf) < 0.2 for r in fragile)
    assert all(bounds_on(r, "x0").get(">", -math.inf) > -0.2 for r in robust)
    best = regions.rules.iloc[0]
    assert best["kind"] == "fragile"
    # noise flips the chaotic branch with probability 1/2 per trial, the other branch never
    assert best["rate_in"] == pytest.approx(0.5, abs=0.12)
    assert min(r.rate_in for r in robust) < 0.03
    assert best["text"].startswith("fragile when x0 < ")
    assert f"n = {best['n_holdout']}, flip rate " in best["text"]
    assert (regions.rules["p_adjusted"] < 0.05).all()
    assert regions.n_train + regions.n_holdout == len(data)


@pytest.mark.slow
def test_fragility_independent_of_the_inputs_yields_no_rules(tmp_path, seed):
    """A 5%-level family-wise guarantee: about 1 seed in 20 may keep one false rule (seeds
    0-19 keep none; 29 and 57 of 0-59 keep one)."""
    data = three_columns(seed)
    model = CallableAdapter(everywhere_chaotic, fingerprint="chaotic")
    runs = run_data(tmp_path, model, data, noise_plan([0.1, 0.2], 3, seed))
    regions = fragile_regions(runs, data, seed=seed)
    assert regions.rules.empty
    # the tree did split (on noise); held-out validation is what removed its leaves
    assert len(regions.leaves) > 1
    assert set(regions.leaves["kind"]) == {"none"}


def coin_flip_model(rate):
    """Class x1 > 0.5, flipped with probability `rate(x)` once noise has moved x2.

    x2 sits at 0.8 of a 1/1000 grid cell and the noise is far wider than a cell, so the
    fractional part of 1000 x2 is uniform: each trial flips with exactly that probability,
    whatever the other columns (`grid_columns`).
    """

    def predict(x):
        base = (x[:, 1] > 0.5).astype(np.int64)
        return np.where((1000.0 * x[:, 2]) % 1.0 < rate(x), 1 - base, base)

    return predict


def grid_columns(seed, n=600):
    rng = np.random.default_rng(seed)
    x = rng.random((n, 5))
    x[:, 2] = (np.floor(1000.0 * rng.normal(size=n)) + 0.8) / 1000.0
    return ArrayDataset(x, (x[:, 1] > 0.5).astype(int))


def x2_noise_plan(seed):
    plan = noise_plan([0.5, 1.0], 3, seed)
    plan["perturbations"][0]["params"] = {"columns": ["x2"]}
    return plan


@pytest.mark.slow
def test_flips_independent_of_every_column_give_no_rule_for_ten_seeds(tmp_path):
    # every sample flips with probability 0.3 per trial; the tree still splits on noise and
    # in 3 of these 10 seeds a leaf looks different on the held-out half (unadjusted
    # p < 0.05), but Holm's correction across all leaves of the tree keeps no rule
    model = CallableAdapter(coin_flip_model(lambda x: np.full(len(x), 0.3)), fingerprint="coin")
    smallest_p = []
    for seed in range(10):
        data = grid_columns(seed, 1500)
        runs = run_data(tmp_path / str(seed), model, data, x2_noise_plan(seed))
        regions = fragile_regions(runs, data, seed=seed)
        assert regions.rules.empty, (seed, regions.rules)
        smallest_p.append(regions.leaves["p_value"].min())
    assert sum(p < 0.05 for p in smallest_p) == 3


@pytest.mark.slow
def test_a_planted_fragile_region_is_found_with_its_rates(tmp_path):
    # flips with probability 0.6 per trial where x0 > 0.5, 0.05 elsewhere
    planted = coin_flip_model(lambda x: np.where(x[:, 0] > 0.5, 0.6, 0.05))
    data = grid_columns(0)
    runs = run_data(
        tmp_path, CallableAdapter(planted, fingerprint="planted"), data, x2_noise_plan(0)
    )
    regions = fragile_regions(runs, data, seed=0)
    fragile = regions.rules[regions.rules["kind"] == "fragile"]
    robust = regions.rules[regions.rules["kind"] == "robust"]
    assert len(fragile) >= 1
    assert len(robust) >= 1
    # the tree may cut the region further (on noise), but every fragile rule lies inside it
    # and every robust rule outside it, with the planted rates
    lower = [bounds_on(rule, "x0").get(">", -math.inf) for rule in fragile.itertuples()]
    assert min(lower) == pytest.approx(0.5, abs=0.05)
    upper = [bounds_on(rule, "x0").get("<=", math.inf) for rule in robust.itertuples()]
    assert max(upper) == pytest.approx(0.5, abs=0.05)
    assert fragile["rate_in"].to_numpy() == pytest.approx(0.6, abs=0.1)
    assert robust["rate_in"].to_numpy() == pytest.approx(0.05, abs=0.03)
    assert (regions.rules["p_adjusted"] < 0.05).all()


def darkness_model(x):
    """Class 1 when the image is darker than 0.2, softly, so that dark images flip first."""
    mean = x.reshape(len(x), -1).mean(axis=1)
    p1 = 1 / (1 + np.exp(np.clip((mean - 0.2) * 200, -50, 50)))
    return np.stack([1 - p1, p1], axis=1)


@pytest.mark.slow
def test_image_rules_speak_of_brightness(tmp_path):
    levels = np.linspace(0.3, 0.95, 800)
    x = np.ones((len(levels), 4, 4, 1), np.float32) * levels[:, None, None, None].astype(np.float32)
    data = ArrayDataset(x, np.zeros(len(levels), int), modality="image")
    plan = {
        "name": "grey",
        "perturbations": [{"name": "image.exposure", "severities": [0.2, 0.4, 0.6, 0.8, 1.0]}],
        "repeats": 1,
    }
    regions = fragile_regions(run_data(tmp_path, CallableAdapter(darkness_model), data, plan), data)
    fragile = regions.rules[regions.rules["kind"] == "fragile"]
    assert len(fragile) >= 1
    assert all(
        f in ("brightness", "baseline_confidence") for c in fragile["conditions"] for f, _, _ in c
    )
    assert fragile["text"].str.contains("brightness <").any()


@pytest.mark.slow
def test_regression_regions_use_the_mean_absolute_change(tmp_path):
    data = three_columns(1, n=400)

    def wobbly_left(x):
        return np.where(x[:, 0] < 0, np.sin(1000.0 * x[:, 2]), x[:, 1])

    model = CallableAdapter(wobbly_left, task="regression", fingerprint="wobbly")
    runs = run_data(tmp_path, model, data, noise_plan([0.1], 2, 1))
    regions = fragile_regions(runs, data, seed=1)
    assert regions.metric == "mean |change|"
    fragile = regions.rules[regions.rules["kind"] == "fragile"]
    assert any(abs(bounds_on(r, "x0").get("<=", math.inf)) < 0.2 for r in fragile.itertuples())
    assert "mean |change|" in fragile["text"].iloc[0]
    quality = data_quality(runs)
    assert quality.suspects.empty
    assert quality.per_class.empty


@pytest.mark.slow
def test_regions_payload_round_trips_through_json(tmp_path):
    data = three_columns(0, n=300)
    runs = run_data(tmp_path, CallableAdapter(fragile_left), data, noise_plan([0.1], 3, 0))
    regions = fragile_regions(runs, data)
    assert not regions.rules.empty
    again = Regions.from_payload(json.loads(json.dumps(regions.to_payload())))
    pd.testing.assert_frame_equal(again.rules, regions.rules, check_dtype=False)
    assert again.rules["conditions"].tolist() == regions.rules["conditions"].tolist()
    assert again.descriptors == regions.descriptors
    assert again.metric == regions.metric


@pytest.mark.slow
def test_bad_settings_raise_parameter_errors(tmp_path):
    data = three_columns(0, n=50)
    runs = run_data(tmp_path, CallableAdapter(fragile_left), data, noise_plan([0.1], 1, 0))
    with pytest.raises(ParameterError, match="holdout"):
        fragile_regions(runs, data, holdout=1.0)
    with pytest.raises(ParameterError, match="max_depth"):
        fragile_regions(runs, data, max_depth=0)


def exact_pvalue(values, inside):
    """Share of all same-size subsets whose mean is at least as far from the overall mean."""
    k, centre = len(inside), values.mean()
    observed = abs(values[list(inside)].sum() - k * centre)
    deviations = [
        abs(values[list(c)].sum() - k * centre)
        for c in itertools.combinations(range(len(values)), k)
    ]
    return np.mean(np.array(deviations) >= observed - 1e-12)


def test_permutation_pvalues_match_full_enumeration_despite_ties():
    values = np.array([0, 0, 0, 0, 0, 0, 0, 0, 1 / 3, 1 / 3, 2 / 3, 1.0])
    subsets = [(8, 9, 10, 11), (0, 1, 2), (7, 8), (10,), (0, 1, 2, 3, 4, 5, 6, 7)]
    p = permutation_pvalues(
        values,
        [len(s) for s in subsets],
        [values[list(s)].sum() for s in subsets],
        n_permutations=20000,
        seed=3,
    )
    truth = [exact_pvalue(values, s) for s in subsets]
    assert p == pytest.approx(truth, abs=0.01)


def test_a_single_flipped_sample_in_a_small_leaf_is_no_evidence():
    # 1 of 33 samples flips; a leaf of 3 holds it by chance with probability 3/33
    # (Mann-Whitney's normal approximation would claim p = 0.002)
    values = np.zeros(33)
    values[0] = 1 / 3
    p = permutation_pvalues(values, [3], [1 / 3], n_permutations=20000, seed=0)
    assert p[0] == pytest.approx(3 / 33, abs=0.01)


def test_repeated_splits_merge_into_one_bound_per_side():
    conditions = [("b", "<=", 0.7), ("a", "<=", 0.5), ("b", "<=", 0.9), ("a", "<=", 0.3)]
    assert simplify(conditions) == [("b", "<=", 0.7), ("a", "<=", 0.3)]
    frame = describe_samples(ArrayDataset(np.zeros((2, 2)), feature_names=["a", "b"]))
    text = describe_conditions(simplify([*conditions, ("a", ">", 0.1)]), descriptors_of(frame))
    assert text == "b < 0.7 and 0.1 < a < 0.3"


# fragility scores ---------------------------------------------------------------------------
@pytest.mark.slow
def test_flip_frequency_counts_every_perturbed_trial_and_joins_breaking_points(tmp_path):
    x = np.array([[-1e-6, 0.0], [3.0, 1.0], [-3.0, 2.0]])
    data = ArrayDataset(x, [0, 1, 0])
    plan = {**noise_plan([0.1, 1.0], 4, 0), "noise_floor": True}
    runs = run_data(tmp_path, CallableAdapter(lambda b: (b[:, 0] > 0).astype(int)), data, plan)
    breaking = pd.DataFrame(
        {
            "sample_index": [0, 0, 1],
            "perturbation": ["p", "q", "p"],
            "breaking_severity": [0.1, 0.3, 0.9],
        }
    )
    scores = fragility_scores(runs, breaking=breaking).set_index("sample_index")
    flips = pd.concat(f for name, f in runs.outcomes if name.startswith("tabular"))
    truth = flips.groupby("sample_index")["flipped"].mean()
    assert scores["n_trials"].tolist() == [8, 8, 8]
    assert scores["flip_frequency"].to_numpy() == pytest.approx(truth.to_numpy())
    assert scores.loc[1, "flip_frequency"] == 0.0
    assert scores.loc[0, "flip_frequency"] > 0
    assert scores.loc[0, "breaking_severity"] == 0.1
    assert scores.loc[1, "breaking_severity"] == 0.9
    assert math.isnan(scores.loc[2, "breaking_severity"])
    assert scores.loc[0, "breaking_severity[q]"] == 0.3


# data quality -------------------------------------------------------------------------------
def boundary_model(x):
    p1 = 1 / (1 + np.exp(-10.0 * x[:, 0]))
    return np.stack([1 - p1, p1], axis=1)


@pytest.mark.slow
def test_mislabelled_samples_on_the_boundary_are_suspects_and_stable_ones_are_not(tmp_path, seed):
    rng = np.random.default_rng(seed)
    side = np.where(np.arange(126) % 2 == 0, 1.0, -1.0)
    far = side[:100] * rng.uniform(1, 3, 100)  # stable, correctly labelled
    near_wrong = side[100:106] * 1e-6  # on the boundary, label disagrees with the model
    near_right = side[106:112] * 1e-6  # on the boundary, label agrees
    far_wrong = side[112:126] * rng.uniform(1, 1.5, 14)  # mislabelled but flips only when severe
    x0 = np.concatenate([far, near_wrong, near_right, far_wrong])
    labels = (x0 > 0).astype(int)
    labels[100:106] = 1 - labels[100:106]
    labels[112:] = 1 - labels[112:]
    data = ArrayDataset(np.stack([x0, rng.normal(size=len(x0))], axis=1), labels)
    runs = run_data(
        tmp_path, CallableAdapter(boundary_model), data, noise_plan([0.1, 1.0], 16, seed)
    )
    quality = data_quality(runs)
    assert set(quality.suspects["sample_index"]) == set(range(100, 106))
    assert (quality.suspects["mild_flips"] == 1).all()
    assert quality.mild == ("tabular.gaussian_noise(noise_sd=0.05)",)
    # the far mislabelled samples do flip, but only beyond the mildest level
    scores = fragility_scores(runs).set_index("sample_index")
    assert scores.loc[112:, "any_flip"].any()
    again = DataQuality.from_payload(json.loads(json.dumps(quality.to_payload())))
    assert again.suspects["sample_index"].tolist() == quality.suspects["sample_index"].tolist()
    assert again.suspects["mild_scenarios"].tolist() == quality.suspects["mild_scenarios"].tolist()


@pytest.mark.slow
def test_a_class_made_fragile_has_a_higher_flip_rate_with_separate_intervals(tmp_path, seed):
    rng = np.random.default_rng(seed)
    x0 = np.concatenate([rng.uniform(0.0, 0.1, 60), rng.uniform(-3, -1, 90)])
    labels = (x0 > 0).astype(int)
    data = ArrayDataset(np.stack([x0, rng.normal(size=len(x0))], axis=1), labels)
    runs = run_data(
        tmp_path, CallableAdapter(boundary_model), data, noise_plan([0.2, 0.5], 4, seed)
    )
    per_class = data_quality(runs).per_class.set_index("class")
    assert per_class.loc[1, "n"] == 60
    assert per_class.loc[0, "n"] == 90
    assert per_class.loc[1, "flip_rate"] > per_class.loc[0, "flip_rate"]
    assert per_class.loc[1, "low"] > per_class.loc[0, "high"]
    for row in per_class.itertuples():
        assert row.low <= row.flip_rate <= row.high
    assert data_quality(runs).basis == "label"


@pytest.mark.slow
def test_without_labels_classes_are_the_baseline_predictions(tmp_path):
    x = np.array([[0.01, 0.0], [0.02, 0.0], [-2.0, 0.0], [-3.0, 0.0]])
    runs = run_data(
        tmp_path, CallableAdapter(boundary_model), ArrayDataset(x), noise_plan([0.5], 2, 0)
    )
    quality = data_quality(runs)
    assert quality.basis == "baseline prediction"
    assert quality.suspects.empty
    assert quality.per_class["class"].tolist() == [0, 1]
    assert quality.per_class["n"].tolist() == [2, 2]


# descriptors --------------------------------------------------------------------------------
def images(*planes):
    return np.stack(planes).astype(np.float32)


def test_brightness_contrast_and_sharpness_match_hand_computations():
    constant = np.full((6, 6, 1), 0.4)
    two_level = np.full((6, 6, 1), 0.2)
    two_level[:, 3:] = 0.8
    dot = np.zeros((6, 6, 1))
    dot[2, 2] = 1.0
    frame = describe_samples(ArrayDataset(images(constant, two_level, dot), modality="image"))
    assert frame["brightness"].to_numpy() == pytest.approx([0.4, 0.5, 1 / 36])
    assert frame["contrast"].to_numpy()[:2] == pytest.approx([0.0, 0.3])
    # Laplacian of a unit dot: -4 at the dot, +1 at its 4 neighbours, 0 elsewhere (36 pixels)
    assert frame["sharpness"].to_numpy() == pytest.approx([0.0, 0.6**2 * 12 / 36, 20 / 36])
    assert frame["pixels"].tolist() == [36.0] * 3
    assert "colourfulness" not in frame.columns


def test_uint8_images_give_the_same_brightness_as_float_images():
    x = np.full((1, 3, 3, 1), 102, np.uint8)
    assert describe_samples(ArrayDataset(x, modality="image"))["brightness"].iloc[0] == 0.4


def test_colourfulness_of_pure_red_and_of_grey():
    red = np.zeros((1, 4, 4, 3), np.uint8)
    red[..., 0] = 255
    grey = np.full((1, 4, 4, 3), 128, np.uint8)
    frame = describe_samples(ArrayDataset(np.concatenate([red, grey]), modality="image"))
    # rg = 255, yb = 127.5 everywhere: M = 0 + 0.3 * sqrt(255^2 + 127.5^2)
    assert frame["colourfulness"].to_numpy() == pytest.approx([0.3 * math.hypot(255, 127.5), 0.0])
    assert frame["brightness"].iloc[0] == pytest.approx(0.299)


def test_text_descriptors_of_known_strings():
    texts = ["Hello world", "the cat saw the dog", "café", ""]
    frame = describe_samples(ArrayDataset(texts))
    assert frame["length"].tolist() == [11, 19, 4, 0]
    assert frame["words"].tolist() == [2, 5, 1, 0]
    assert frame["non_ascii"].tolist() == [0.0, 0.0, 0.25, 0.0]
    assert frame["uppercase"].tolist() == [0.1, 0.0, 0.0, 0.0]
    assert frame["type_token_ratio"].tolist() == [1.0, 0.8, 1.0, 0.0]
    assert descriptors_of(frame)["length"].unit == "chars"


def test_audio_levels_in_dbfs_and_zero_crossings():
    t = np.arange(800)
    square = np.where(t % 2 == 0, 1.0, -1.0)
    sine = 0.5 * np.sin(2 * np.pi * t / 80)
    silence = np.zeros(800)
    x = np.stack([square, sine, silence]).astype(np.float32)
    frame = describe_samples(ArrayDataset(x, modality="audio"))
    assert frame["loudness"].to_numpy() == pytest.approx(
        [0.0, 20 * np.log10(0.5 / np.sqrt(2)), -120.0], abs=1e-3
    )
    assert frame["peak"].to_numpy() == pytest.approx([0.0, 20 * np.log10(0.5), -120.0], abs=1e-3)
    assert frame["zero_crossing_rate"].iloc[0] == 1.0
    assert frame["zero_crossing_rate"].iloc[1] == pytest.approx(20 / 799, abs=2 / 799)


def test_time_series_and_tabular_descriptors():
    series = np.array([[[0.0, 1.0], [2.0, 1.0], [4.0, 1.0]]])
    frame = describe_samples(ArrayDataset(series, modality="timeseries"))
    assert frame.iloc[0].to_dict() == pytest.approx(
        {
            "mean[0]": 2.0,
            "sd[0]": math.sqrt(8 / 3),
            "range[0]": 4.0,
            "mean[1]": 1.0,
            "sd[1]": 0.0,
            "range[1]": 0.0,
        }
    )
    assert descriptors_of(frame)["sd[1]"].label == "standard deviation of channel 1"
    table = describe_samples(
        ArrayDataset(np.arange(6.0).reshape(3, 2), feature_names=["age", "bmi"]),
        [2, 0],
        batch_size=1,
    )
    assert table.index.tolist() == [2, 0]
    assert table.to_dict(orient="list") == {"age": [4.0, 0.0], "bmi": [5.0, 1.0]}


def fragile_corner(x):
    """Robust, except in a corner of x0 > 1.9 (about 3% of samples) where noise decides."""
    robust = (x[:, 1] > 0).astype(np.int64)
    chaotic = (np.sin(1000.0 * x[:, 2]) > 0).astype(np.int64)
    return np.where(x[:, 0] > 1.9, chaotic, robust)


@pytest.mark.slow
def test_a_region_is_a_rule_only_with_enough_held_out_samples(tmp_path):
    # the corner is real but holds ~9 of 300 held-out samples: a rule about it would rest
    # on a handful (a report once showed a region of n = 3); asked for, with a smaller
    # minimum, it is found
    data = three_columns(3)
    runs = run_data(tmp_path, CallableAdapter(fragile_corner), data, noise_plan([0.5], 2, 1))
    default = fragile_regions(runs, data, max_depth=2, min_leaf_share=0.01)
    small_leaves = default.leaves[default.leaves["n_holdout"] < 30]
    assert len(small_leaves) > 0
    assert small_leaves["p_value"].isna().all()  # not judged
    assert all(row.n_holdout >= 30 for row in default.rules.itertuples())
    assert (default.rules["kind"] != "fragile").all()
    small = fragile_regions(runs, data, max_depth=2, min_leaf_share=0.01, min_region=5)
    corner = small.rules[small.rules["kind"] == "fragile"]
    assert len(corner) >= 1
    assert (corner["n_holdout"] < 30).all()
    with pytest.raises(ParameterError, match="min_region must be a whole number >= 1"):
        fragile_regions(runs, data, min_region=0)
