"""Breaking points against oracles: exposure thresholds computed from sRGB by hand, bands,
integer magnitudes and regressions with a known flip point."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

import wince
from wince.analysis.breaking import BreakingPoints, breaking_points
from wince.datasets import ArrayDataset
from wince.engine.probe import Probe
from wince.errors import ParameterError
from wince.models import CallableAdapter
from wince.perturbations.base import Magnitude, Step, register, registry
from wince.perturbations.tabular import TabularPerturbation

THRESHOLD = 0.2  # the darkness model's grey threshold
SEVERE_EV = -3.0  # image.exposure at severity 1
TOLERANCE = 1 / 64
SLACK = 1e-6  # float32 images move the exact flip point by ~1e-7 severity


def srgb_to_linear(v):
    v = np.asarray(v, dtype=np.float64)
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(v):
    v = np.clip(np.asarray(v, dtype=np.float64), 0, 1)
    return np.where(v <= 0.0031308, 12.92 * v, 1.055 * v ** (1 / 2.4) - 0.055)


def exposed(grey, severity):
    """Oracle: a grey level after exposure at a severity (EV = -3 x severity)."""
    return linear_to_srgb(srgb_to_linear(grey) * 2.0 ** (SEVERE_EV * severity))


def severity_reaching(grey, target):
    """Oracle: the severity at which exposure takes `grey` to `target` (inf beyond 1)."""
    s = np.log2(srgb_to_linear(target) / srgb_to_linear(grey)) / SEVERE_EV
    return np.where(s <= 1.0, s, np.inf)


def grey_images(levels):
    levels = np.asarray(levels, dtype=np.float32)
    return levels[:, None, None, None] * np.ones((len(levels), 4, 4, 1), np.float32)


def image_mean(x):
    return x.reshape(len(x), -1).mean(axis=1)


def darkness_model(x):
    return (image_mean(x) < THRESHOLD).astype(int)


def probe_for(model, x, *, task="classification", batch_size=256, modality="image"):
    adapter = CallableAdapter(model, task=task, fingerprint="test")
    return Probe(adapter, ArrayDataset(x, modality=modality), seed=0, batch_size=batch_size)


@pytest.fixture(scope="module")
def exposure_case():
    levels = np.linspace(0.25, 0.7, 120).astype(np.float32)
    probe = probe_for(darkness_model, grey_images(levels))
    result = breaking_points(probe, "image.exposure")
    oracle = severity_reaching(levels.astype(np.float64), THRESHOLD)
    return result, oracle


def test_exposure_breaking_points_match_the_srgb_oracle_within_tolerance(exposure_case):
    result, oracle = exposure_case
    table = result.table
    flips = np.isfinite(oracle)
    assert 0 < flips.sum() < len(oracle)  # both breaking and censored samples are exercised
    found = table["breaking_severity"].to_numpy()
    assert np.all(found[flips] >= oracle[flips] - SLACK)
    assert np.all(found[flips] <= oracle[flips] + TOLERANCE + SLACK)
    assert np.all(table["unchanged_severity"].to_numpy()[flips] <= oracle[flips] + SLACK)
    assert set(table["method"][flips]) == {"bisection"}
    assert np.all(np.isinf(found[~flips]))
    assert set(table["method"][~flips]) == {"none"}
    # breaking values are in EV: -3 x severity
    assert np.allclose(table["breaking_value"][flips], SEVERE_EV * found[flips])


def test_search_uses_at_most_a_quarter_of_a_dense_64_point_grid(exposure_case):
    result, oracle = exposure_case
    assert result.dense_grid_evaluations == 64 * len(oracle)
    assert result.evaluations <= 0.25 * result.dense_grid_evaluations
    assert result.evaluation_ratio == result.evaluations / result.dense_grid_evaluations


def test_survival_curve_is_the_share_past_each_severity_with_covering_intervals(exposure_case):
    result, oracle = exposure_case
    survival = result.survival
    assert np.allclose(survival["severity"], np.arange(65) / 64)
    expected = (oracle[:, None] > survival["severity"].to_numpy()[None, :]).mean(axis=0)
    assert np.array_equal(survival["survival"].to_numpy(), expected)
    assert np.all(survival["low"] <= expected)
    assert np.all(expected <= survival["high"])
    assert survival["survival"].iloc[0] == 1.0
    assert survival["survival"].is_monotonic_decreasing
    # the median breaking point is within tolerance of the oracle's, inside its interval
    true_median = float(np.median(oracle))
    assert math.isfinite(true_median)
    assert abs(result.median_breaking_severity - true_median) <= TOLERANCE + SLACK
    low, high = result.median_interval
    assert low <= result.median_breaking_severity <= high


def test_coarse_grids_that_do_not_divide_64_still_meet_a_finer_tolerance():
    levels = np.linspace(0.3, 0.5, 9).astype(np.float32)
    probe = probe_for(darkness_model, grey_images(levels))
    result = breaking_points(probe, "image.exposure", coarse=3, tolerance=0.01)
    oracle = severity_reaching(levels.astype(np.float64), THRESHOLD)
    found = result.table["breaking_severity"].to_numpy()
    assert np.all(np.isfinite(oracle))
    assert np.all((found >= oracle - SLACK) & (found <= oracle + 0.01 + SLACK))
    assert result.dense_grid_evaluations == 100 * len(levels)  # the grid follows tolerance
    assert len(result.survival) == 101


def band_model(low, high):
    """Class 1 while the image mean lies strictly between two grey levels."""

    def model(x):
        mean = image_mean(x)
        return ((mean > low) & (mean < high)).astype(int)

    return model


def test_a_response_that_flips_only_in_a_middle_band_is_searched_below_its_first_change():
    # the band (0.4, 0.7) in severity for grey 0.8: changed at coarse 0.5, unchanged at 0.75
    low, high = exposed(0.8, 0.7), exposed(0.8, 0.4)
    levels = [0.8, 0.5, 0.3]
    probe = probe_for(band_model(low, high), grey_images(levels))
    result = breaking_points(probe, "image.exposure")
    table = result.table.set_index("sample_index")
    assert table.loc[0, "method"] == "window"
    assert table.loc[0, "breaking_severity"] == math.ceil(0.4 * 64) / 64  # first grid point
    assert table.loc[0, "unchanged_severity"] == (math.ceil(0.4 * 64) - 1) / 64
    # grey 0.5 starts in the band and leaves it once darker than `low`: monotone
    oracle = float(severity_reaching(np.float64(np.float32(0.5)), low))
    assert table.loc[1, "method"] == "bisection"
    assert oracle - SLACK <= table.loc[1, "breaking_severity"] <= oracle + TOLERANCE + SLACK
    # grey 0.3 is darker than the band throughout
    assert table.loc[2, "method"] == "none"
    # survival counts the grid sample as changed from its first change on
    survival = result.survival.set_index("severity")["survival"]
    assert survival.loc[1.0] == pytest.approx(1 / 3)


def test_a_model_that_never_flips_is_censored_and_survival_stays_one():
    probe = probe_for(lambda x: np.zeros(len(x), int), grey_images([0.2, 0.5, 0.9]))
    result = breaking_points(probe, "image.exposure")
    assert np.all(np.isinf(result.table["breaking_severity"]))
    assert np.all(np.isnan(result.table["breaking_value"]))
    assert set(result.table["method"]) == {"none"}
    assert np.all(result.survival["survival"] == 1.0)
    assert np.all(result.survival[["low", "high"]] == 1.0)
    assert math.isinf(result.median_breaking_severity)
    assert result.evaluations == 3 * (1 + 4)  # the clean prediction and the coarse grid


def test_regression_breaks_when_the_value_moves_beyond_the_value_tolerance():
    levels = np.linspace(0.3, 0.9, 13).astype(np.float32)
    delta = 0.05
    probe = probe_for(image_mean, grey_images(levels), task="regression")
    result = breaking_points(probe, "image.exposure", value_tolerance=delta)
    grey = levels.astype(np.float64)
    oracle = severity_reaching(grey, grey - delta)  # exposure only darkens
    found = result.table["breaking_severity"].to_numpy()
    assert np.all(np.isfinite(oracle))
    assert np.all((found >= oracle - SLACK) & (found <= oracle + TOLERANCE + SLACK))
    assert result.value_tolerance == delta


def test_regression_needs_a_value_tolerance_and_classifiers_refuse_one():
    x = grey_images([0.5, 0.6])
    with pytest.raises(ParameterError, match="value_tolerance"):
        breaking_points(probe_for(image_mean, x, task="regression"), "image.exposure")
    with pytest.raises(ParameterError, match="regressors only"):
        breaking_points(probe_for(darkness_model, x), "image.exposure", value_tolerance=0.1)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"tolerance": 0}, "tolerance"),
        ({"coarse": 0}, "coarse"),
        ({"indices": [0, 0]}, "repeat"),
        ({"indices": [5]}, "positions"),
        ({"indices": []}, "no samples"),
        ({"trial": -1}, "trial"),
        ({"n_boot": 0}, "n_boot"),
    ],
)
def test_invalid_arguments_raise_parameter_errors(kwargs, match):
    probe = probe_for(darkness_model, grey_images([0.5, 0.6]))
    with pytest.raises(ParameterError, match=match):
        breaking_points(probe, "image.exposure", **kwargs)


def pixel_model(x):
    """Class 1 when the first pixel is brighter than mid-grey: sensitive to noise draws."""
    return (x[:, 0, 0, 0] > 0.5).astype(int)


@pytest.mark.slow
def test_results_do_not_depend_on_batch_size_or_sample_order(seed):
    levels = np.linspace(0.42, 0.58, 30)
    x = grey_images(levels)
    runs = []
    for batch_size, indices in [(256, None), (7, None), (5, np.arange(30)[::-1])]:
        probe = probe_for(pixel_model, x, batch_size=batch_size)
        runs.append(breaking_points(probe, "image.gaussian_noise", indices=indices, seed=seed))
    reference = runs[0]
    assert (reference.table["method"] == "bisection").sum() > 5  # the noise makes flips
    for other in runs[1:]:
        pd.testing.assert_frame_equal(reference.table, other.table)
        pd.testing.assert_frame_equal(reference.survival, other.survival)
        assert reference.median_interval == other.median_interval
        assert reference.evaluations == other.evaluations
    # another trial draws other noise, so some breaking points move
    other_trial = breaking_points(
        probe_for(pixel_model, x), "image.gaussian_noise", trial=1, seed=seed
    )
    assert not np.array_equal(
        reference.table["breaking_severity"], other_trial.table["breaking_severity"]
    )


class QualityShift(TabularPerturbation):
    """Test-only: adds (100 - quality) to the first column; quality is a whole number."""

    name = "tabular.test_quality_shift"
    version = 1
    stochastic = False
    magnitude = Magnitude(
        "quality", unit="quality", off=100.0, mild=90.0, severe=20.0, limits=(1, 100), integer=True
    )

    def apply(self, x, value, rngs, context):
        out = x.copy()
        out[:, 0] += 100.0 - value
        return out


if QualityShift.name not in registry():
    register(QualityShift)


def test_integer_magnitudes_give_the_exact_first_whole_value_that_flips():
    start = np.array([1.3, 7.5, 12.0, 20.25, 33.7, 41.9, 48.6])
    x = np.column_stack([start, np.zeros_like(start)])
    probe = probe_for(lambda b: (b[:, 0] > 50).astype(int), x, modality="tabular")
    result = breaking_points(probe, QualityShift.name)
    table = result.table
    # oracle: flips once start + 100 - q > 50, i.e. at the largest whole q < 50 + start
    first_quality = np.ceil(50 + start) - 1
    assert np.array_equal(table["breaking_value"], first_quality)
    assert set(table["method"]) == {"bisection"}
    # the smallest severity rounding to that quality: round(100 - 80 s) <= q from s*
    infimum = (100 - (first_quality + 0.5)) / 80
    found = table["breaking_severity"].to_numpy()
    assert np.all((found >= infimum) & (found <= infimum + TOLERANCE))
    magnitude = QualityShift.magnitude
    unchanged = [magnitude.value_at(s) for s in table["unchanged_severity"]]
    assert np.array_equal(unchanged, first_quality + 1)  # adjacent whole values


def test_jpeg_breaking_values_are_whole_qualities_seen_to_flip():
    rng = np.random.default_rng(0)
    amplitude = np.linspace(10, 60, 8)[:, None, None, None]
    x = np.clip(128 + rng.standard_normal((8, 16, 16, 1)) * amplitude, 0, 255).astype(np.uint8)

    def roughness(b):
        return np.abs(np.diff(b.astype(float)[..., 0], axis=1)).mean(axis=(1, 2))

    probe = probe_for(lambda b: (roughness(b) < 25).astype(int), x)
    result = breaking_points(probe, "image.jpeg")
    table = result.table[result.table["method"] != "none"]
    assert len(table) > 0
    clean = (roughness(x) < 25).astype(int)
    for row in table.itertuples():
        quality = row.breaking_value
        assert quality == round(quality)
        flipped = probe.predict([row.sample_index], [Step("image.jpeg", quality)]).labels
        assert flipped[0] != clean[row.sample_index]
        if row.method == "bisection":
            above = quality + 1
            kept = probe.predict([row.sample_index], [Step("image.jpeg", above)]).labels
            assert kept[0] == clean[row.sample_index]


def test_payload_round_trips_through_strict_json(exposure_case):
    result, _ = exposure_case
    text = json.dumps(result.to_payload(), allow_nan=False)
    back = BreakingPoints.from_payload(json.loads(text))
    pd.testing.assert_frame_equal(back.table, result.table)
    pd.testing.assert_frame_equal(back.survival, result.survival)
    assert back.median_interval == result.median_interval
    assert back.evaluations == result.evaluations
    assert back.perturbation == "image.exposure"
    assert back.parameter == "exposure_ev"


def test_a_narrow_window_the_run_saw_is_found_when_its_severities_are_searched():
    # grey 0.8 changes only for severities in (0.58, 0.62): between the coarse points 0.5
    # and 0.75, so a search on them alone calls it "never breaks"; the run swept 0.6
    low, high = exposed(0.8, 0.62), exposed(0.8, 0.58)
    probe = probe_for(band_model(low, high), grey_images([0.8]))
    blind = breaking_points(probe, "image.exposure").table.iloc[0]
    assert blind["method"] == "none"
    seen = breaking_points(probe, "image.exposure", severities=[0.2, 0.6, 1.0]).table.iloc[0]
    assert seen["method"] == "window"
    assert 0.58 < seen["breaking_severity"] <= 0.58 + TOLERANCE


class Shift(TabularPerturbation):
    """Test-only: adds the value to the first column; severity equals the value."""

    name = "tabular.test_shift"
    version = 1
    stochastic = False
    magnitude = Magnitude("shift", unit="units", off=0.0, mild=0.1, severe=1.0, limits=(0, 3))

    def apply(self, x, value, rngs, context):
        out = x.copy()
        out[:, 0] += value
        return out


if Shift.name not in registry():
    register(Shift)

WINDOW = 0.05  # width of the oracle's flip window, in severity


def window_samples(centres):
    """Columns: the shifted one (starts at 0), the window's centre; severity = column 0."""
    centres = np.asarray(centres, dtype=np.float64)
    return np.column_stack([np.zeros_like(centres), centres])


def window_scores(x):
    """Oracle: class 1 only while the shift lies within WINDOW/2 of the sample's centre.

    A logistic classifier of the distance to the window: its confidence in class 0 stays
    near 1 far from the window and drops steeply across it.
    """
    distance = np.abs(x[:, 0] - x[:, 1]) - WINDOW / 2
    p0 = 1 / (1 + np.exp(-40.0 * distance))
    return np.column_stack([p0, 1 - p0])


def window_labels(x):
    return np.argmax(window_scores(x), axis=1)


def test_windows_narrower_than_the_coarse_step_are_found_from_the_scores():
    # windows 0.05 wide centred around 0.62 (the coarse step is 0.25): the first changed
    # severity is the window's start, centre - 0.025
    centres = np.random.default_rng(0).uniform(0.52, 0.72, 60)
    probe = probe_for(window_scores, window_samples(centres), modality="tabular")
    result = breaking_points(probe, Shift.name)
    truth = centres - WINDOW / 2
    found = result.table["breaking_severity"].to_numpy()
    assert result.resolution == TOLERANCE
    assert result.warning == ""
    assert np.all((found >= truth) & (found <= truth + result.resolution))
    assert set(result.table["method"]) == {"window"}
    assert abs(result.median_breaking_severity - np.median(truth)) <= TOLERANCE
    assert result.evaluations <= 0.25 * result.dense_grid_evaluations


def test_labels_only_state_the_coarse_resolution_and_warn_that_windows_can_hide():
    centres = np.array([0.62, 0.5])  # the second window covers the coarse point 0.5
    probe = probe_for(window_labels, window_samples(centres), modality="tabular")
    result = breaking_points(probe, Shift.name)
    assert result.resolution == 0.25
    assert "0.25" in result.warning
    assert "missed" in result.warning
    found = result.table["breaking_severity"].to_numpy()
    assert math.isinf(found[0])  # narrower than the resolution: missed, as stated
    assert 0.475 < found[1] <= 0.475 + TOLERANCE
    # a sweep every 0.025 puts a searched severity in every window 0.05 wide
    swept = breaking_points(probe, Shift.name, severities=np.arange(1, 41) / 40)
    assert swept.resolution == pytest.approx(0.025)
    found = swept.table["breaking_severity"].to_numpy()
    truth = centres - WINDOW / 2
    assert np.all((found >= truth) & (found <= truth + TOLERANCE))


def test_the_search_reaches_the_largest_severity_the_run_swept_beyond_the_realistic_range():
    # the run swept exposure to -6 EV, twice the realistic maximum (-3 EV): severity 2
    threshold = 0.05  # darker than this grey is "dark": some greys need more than -6 EV
    levels = np.linspace(0.06, 0.95, 40).astype(np.float32)
    probe = probe_for(lambda x: (image_mean(x) < threshold).astype(int), grey_images(levels))
    result = breaking_points(probe, "image.exposure", severities=[0.5, 1.0, 2.0])
    grey = levels.astype(np.float64)
    oracle = np.log2(srgb_to_linear(threshold) / srgb_to_linear(grey)) / SEVERE_EV
    beyond = (oracle > 1) & (oracle <= 2)
    assert (oracle <= 1).sum() > 5
    assert beyond.sum() > 5
    assert (oracle > 2).sum() > 5
    table = result.table
    found = table["breaking_severity"].to_numpy()
    within = oracle <= 2
    assert np.all(found[within] >= oracle[within] - SLACK)
    assert np.all(found[within] <= oracle[within] + TOLERANCE + SLACK)
    assert np.all(np.isinf(found[~within]))
    assert np.allclose(table["breaking_value"][within], SEVERE_EV * found[within])
    assert not table["realistic"][beyond].any()  # beyond -3 EV: flagged unrealistic
    assert result.search_end == 2.0
    assert result.survival["severity"].iloc[-1] == 2.0
    assert result.dense_grid_evaluations == 128 * len(levels)
    assert result.evaluations <= 0.25 * result.dense_grid_evaluations


def test_severities_beyond_the_hard_limit_are_refused_naming_it():
    # exposure's hard limit is -10 EV: severity 10/3
    probe = probe_for(darkness_model, grey_images([0.5]))
    with pytest.raises(ParameterError, match=r"severities must be finite and at most 3\.33333"):
        breaking_points(probe, "image.exposure", severities=[4.0])


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::wince.errors.RealismWarning")  # the sweep goes beyond
def test_a_run_swept_beyond_the_realistic_range_is_searched_to_its_end(tmp_path):
    # the plan sweeps the shift to 2, twice the realistic maximum; sample i breaks at t_i
    thresholds = np.linspace(0.05, 2.5, 50)
    x = np.column_stack([np.zeros_like(thresholds), thresholds])
    plan = {
        "name": "beyond",
        "perturbations": [{"name": Shift.name, "values": [0.5, 1.0, 2.0]}],
        "repeats": 1,
    }
    data = (x, np.zeros(len(x), int))
    model = CallableAdapter(lambda b: (b[:, 0] > b[:, 1]).astype(int), fingerprint="past")
    run = wince.run(model, data, plan, store=str(tmp_path / "s"))
    run.analyze(regions=False, breaking_points=True, model=model, data=data)
    payload = run.store.load_analysis(run.id, "breaking_points")[Shift.name]
    result = BreakingPoints.from_payload(payload)
    assert result.search_end == 2.0
    found = result.table["breaking_severity"].to_numpy()
    inside = thresholds < 2.0
    assert np.all(found[inside] > thresholds[inside])
    assert np.all(found[inside] <= thresholds[inside] + TOLERANCE)
    assert np.all(np.isinf(found[~inside]))


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::wince.errors.RealismWarning")  # the sweep goes beyond
def test_the_search_shows_its_progress_when_asked(tmp_path, capsys):
    # a search can take minutes on a slow model: a bar counts the samples searched, per perturbation
    x = np.column_stack([np.zeros(20), np.linspace(0.1, 0.9, 20)])
    plan = {"name": "bar", "perturbations": [{"name": Shift.name, "values": [0.5, 1.0]}]}
    data = (x, np.zeros(len(x), int))
    model = CallableAdapter(lambda b: (b[:, 0] > b[:, 1]).astype(int), fingerprint="bar")
    run = wince.run(model, data, plan, store=str(tmp_path / "s"))
    capsys.readouterr()
    run.analyze(regions=False, breaking_points=True, model=model, data=data, progress=True)
    shown = capsys.readouterr()
    assert "Breaking points" in shown.out + shown.err
    assert "20/20 samples" in shown.out + shown.err
    run.analyze(regions=False, breaking_points=True, model=model, data=data)
    quiet = capsys.readouterr()
    assert "Breaking points" not in quiet.out + quiet.err
