"""Time-series perturbations: sizes in channel sds, timing in steps or %, measured effects."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from wince.datasets import ArrayDataset
from wince.errors import DataError, ParameterError
from wince.perturbations import DataContext, Modality, Rngs
from wince.perturbations.timeseries import (
    ChannelLag,
    Drift,
    Dropouts,
    Jitter,
    SamplingJitter,
    Spikes,
    TimeWarp,
)

SD = np.array([1.5, 20.0, 0.05])
NAMES = ("accel_x", "temp_c", "strain")


def series(n: int, t: int, seed: int = 9) -> np.ndarray:
    """Random walks scaled per channel: smooth enough to interpolate, never repeating a value."""
    steps = np.random.default_rng(seed).standard_normal((n, t, len(SD)))
    x: np.ndarray = np.cumsum(steps, axis=1) * SD / np.sqrt(t)
    return x


def context(sd: np.ndarray = SD) -> DataContext:
    return DataContext(Modality.TIMESERIES, column_sd=sd, feature_names=NAMES)


def rngs_for(n: int, seed: int) -> Rngs:
    return Rngs.for_samples([f"series-{i}" for i in range(n)], seed=seed, step="test")


def ramp(n: int, t: int) -> np.ndarray:
    """Every channel holds its own time index: reading it back gives the time map."""
    return np.broadcast_to(np.arange(t, dtype=np.float64)[None, :, None], (n, t, 3)).copy()


def test_jitter_sd_is_noise_sd_times_channel_sd(seed: int) -> None:
    n, t = 200, 100
    x = series(n, t)
    out = Jitter().perturb(x, 0.2, rngs_for(n, seed), context())
    measured = (out - x).reshape(-1, 3).std(axis=0)
    cells = n * t
    np.testing.assert_allclose(measured, 0.2 * SD, rtol=4 / np.sqrt(2 * cells))


@pytest.mark.parametrize("drift_sd", [0.4, -1.0])
def test_drift_ramp_starts_at_zero_and_ends_at_d_sd(drift_sd: float, seed: int) -> None:
    x = series(5, 50)
    out = Drift().perturb(x, drift_sd, rngs_for(5, seed), context())
    offset = out - x
    np.testing.assert_array_equal(offset[:, 0], 0.0)
    np.testing.assert_allclose(offset[:, -1], np.broadcast_to(drift_sd * SD, (5, 3)))
    np.testing.assert_allclose(np.diff(offset, 2, axis=1), 0.0, atol=1e-12 * SD.max())


@pytest.mark.parametrize(
    "warp_pct",
    [
        1.0,
        10.0,
        pytest.param(15.0, marks=pytest.mark.filterwarnings("ignore::wince.errors.RealismWarning")),
    ],
)
def test_time_warp_is_monotone_keeps_endpoints_and_peaks_at_the_requested_displacement(
    warp_pct: float, seed: int
) -> None:
    n, t = 40, 201
    out = TimeWarp().perturb(ramp(n, t), warp_pct, rngs_for(n, seed), context())
    time_map = out[..., 0]
    assert np.all(np.diff(time_map, axis=1) > 0), "time never stands still or runs back"
    np.testing.assert_array_equal(time_map[:, 0], 0.0)
    np.testing.assert_array_equal(time_map[:, -1], t - 1.0)
    peak = np.abs(time_map - np.arange(t)).max(axis=1)
    np.testing.assert_allclose(peak, warp_pct / 100 * (t - 1), rtol=0.01)
    np.testing.assert_array_equal(out[..., 1], time_map)  # channels share the time map
    ahead = (time_map > np.arange(t)).any(axis=1)
    assert 0 < ahead.sum() < n, "some series run ahead, others behind"


@pytest.mark.parametrize("lag_steps", [2, 8])
def test_lag_shifts_the_cross_correlation_peak_by_a_lag_within_the_bound(
    lag_steps: int, seed: int
) -> None:
    n, t = 30, 120
    x = series(n, t)
    out = ChannelLag(edge="nan").perturb(x, lag_steps, rngs_for(n, seed), context())
    found = []
    for i in range(n):
        for c in range(3):
            a = x[i, :, c] - x[i, :, c].mean()
            valid = ~np.isnan(out[i, :, c])
            scores = {}
            for lag in range(-lag_steps - 3, lag_steps + 4):  # correlate out[k] with x[k - lag]
                k = np.arange(t)
                ok = valid & (k - lag >= 0) & (k - lag < t)
                scores[lag] = np.corrcoef(out[i, ok, c], a[k[ok] - lag])[0, 1]
            lag = max(scores, key=lambda s: scores[s])
            found.append(lag)
            k = np.arange(max(lag, 0), t + min(lag, 0))
            np.testing.assert_array_equal(out[i, k, c], x[i, k - lag, c])
            assert np.isnan(out[i, :, c]).sum() == abs(lag), "edges left without data are NaN"
    assert max(np.abs(found)) == lag_steps
    assert len(set(found)) > lag_steps, "lags spread over the range"


def test_lag_with_hold_repeats_the_edge_reading(seed: int) -> None:
    n, t = 10, 60
    x = series(n, t)
    out = ChannelLag().perturb(x, 5, rngs_for(n, seed), context())
    assert np.isfinite(out).all()
    middle = t // 2
    for i in range(n):
        for c in range(3):
            (lag,) = [s for s in range(-5, 6) if out[i, middle, c] == x[i, middle - s, c]]
            if lag > 0:  # late: the first reading is repeated until data arrive
                np.testing.assert_array_equal(out[i, : lag + 1, c], x[i, 0, c])
            elif lag < 0:  # early: the last reading is repeated at the end
                np.testing.assert_array_equal(out[i, t + lag - 1 :, c], x[i, -1, c])


@pytest.mark.parametrize("burst_steps", [1, 5])
def test_dropouts_with_hold_repeat_the_last_value_at_the_rate(burst_steps: int, seed: int) -> None:
    n, t, rate = 200, 200, 0.1
    x = series(n, t)
    out = Dropouts(burst_steps=burst_steps).perturb(x, rate, rngs_for(n, seed), context())
    lost = (out != x).any(axis=2)
    assert np.array_equal(lost, (out != x).all(axis=2)), "channels drop out together"
    # Gap starts are correlated within a burst; allow for bursts as the unit of chance.
    assert abs(lost.mean() - rate) < 4 * np.sqrt(rate * burst_steps / (n * t))
    rows, steps = np.nonzero(lost)
    later = steps > 0
    np.testing.assert_array_equal(
        out[rows[later], steps[later]], out[rows[later], steps[later] - 1]
    )
    starts = lost[:, 1:] & ~lost[:, :-1]
    lengths = lost.sum() / max(starts.sum() + lost[:, 0].sum(), 1)
    assert lengths >= burst_steps * 0.9, "gaps come in bursts"


def test_dropouts_at_the_start_hold_the_first_reading_after_the_gap(seed: int) -> None:
    x = series(300, 20)
    out = Dropouts(burst_steps=3).perturb(x, 0.2, rngs_for(300, seed), context())
    starts_lost = out[:, 0, 0] != x[:, 0, 0]
    assert starts_lost.any()
    for i in np.flatnonzero(starts_lost):
        first = int(np.argmax(out[i, :, 0] == x[i, :, 0]))
        np.testing.assert_array_equal(out[i, :first], np.repeat(x[i, first][None], first, axis=0))


def test_dropouts_with_nan_fill_leave_gaps_missing(seed: int) -> None:
    x = series(100, 100)
    out = Dropouts(fill="nan").perturb(x, 0.1, rngs_for(100, seed), context())
    gaps = np.isnan(out)
    assert abs(gaps.mean() - 0.1) < 0.01
    np.testing.assert_array_equal(out[~gaps], x[~gaps])
    distance = Dropouts().distance(x, out, context())
    np.testing.assert_allclose(distance, np.sqrt(gaps.mean(axis=(1, 2))), rtol=1e-12)


def test_spikes_hit_readings_at_the_rate_with_the_stated_amplitude(seed: int) -> None:
    n, t, rate = 100, 200, 0.02
    x = series(n, t)
    out = Spikes(amplitude_sd=4.0).perturb(x, rate, rngs_for(n, seed), context())
    size = np.abs(out - x) / SD
    hit = size > 0
    assert abs(hit.mean() - rate) < 4 * np.sqrt(rate / hit.size)
    np.testing.assert_allclose(size[hit], 4.0)
    signs = np.sign((out - x)[hit])
    assert abs(signs.mean()) < 4 / np.sqrt(hit.sum()), "spikes go up and down alike"


def test_sampling_jitter_reads_at_instants_off_by_the_requested_sd(seed: int) -> None:
    n, t = 100, 400
    out = SamplingJitter().perturb(ramp(n, t), 20.0, rngs_for(n, seed), context())
    timing = out[:, 1:-1, 0] - np.arange(1, t - 1)
    np.testing.assert_allclose(timing.std(), 0.2, rtol=4 / np.sqrt(2 * timing.size) + 0.01)
    assert np.all((out >= 0) & (out <= t - 1)), "instants stay inside the recording"


def test_channel_selection_changes_only_the_named_channels(seed: int) -> None:
    x = series(6, 40)
    selections: list[tuple[str | list[str], list[int]]] = [
        (["temp_c"], [1]),
        ("accel_.*|strain", [0, 2]),
    ]
    for channels, touched in selections:
        out = Jitter(channels=channels).perturb(x, 0.3, rngs_for(6, seed), context())
        changed = [c for c in range(3) if not np.array_equal(out[..., c], x[..., c])]
        assert changed == touched


def test_dataset_context_holds_channel_sds_over_samples_and_steps() -> None:
    x = series(8, 30)
    got = ArrayDataset(x, feature_names=NAMES).context()
    assert got.modality == Modality.TIMESERIES
    assert got.column_sd is not None
    np.testing.assert_allclose(got.column_sd, x.reshape(-1, 3).std(axis=0), rtol=1e-12)
    assert got.feature_names == NAMES


@pytest.mark.parametrize(
    "bad",
    [np.zeros((3, 4)), np.zeros((3, 4, 2), dtype=np.int64), [[[1.0]]]],
    ids=["2-d", "int", "list"],
)
def test_non_float_or_flat_batches_raise_data_error(bad: Any) -> None:
    with pytest.raises(DataError, match=r"time steps, channels"):
        Jitter().perturb(bad, 0.1, rngs_for(len(bad), 0), context())


def test_missing_channel_sd_raises_data_error_with_the_fix() -> None:
    with pytest.raises(DataError, match=r"3 channels.*column_sd=x\.reshape"):
        Jitter().perturb(series(2, 5), 0.1, rngs_for(2, 0), DataContext(Modality.TIMESERIES))


@pytest.mark.parametrize(
    ("cls", "options"),
    [
        (Dropouts, {"burst_steps": 0}),
        (Dropouts, {"burst_steps": 2.5}),
        (Dropouts, {"fill": "zero"}),
        (ChannelLag, {"edge": "wrap"}),
        (Spikes, {"amplitude_sd": -1.0}),
        (Jitter, {"channels": 7}),
    ],
    ids=["burst-zero", "burst-fraction", "fill", "edge", "amplitude", "channels"],
)
def test_bad_options_raise_parameter_error_naming_the_option(
    cls: type[Any], options: dict[str, Any]
) -> None:
    (option,) = options
    with pytest.raises(ParameterError, match=f"{cls.name}: {option}"):
        cls(**options)
