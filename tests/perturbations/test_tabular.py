"""Tabular perturbations: sizes in column sds, column schema and selection, measured effects."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from wince.datasets import ArrayDataset
from wince.errors import DataError, ParameterError
from wince.perturbations import DataContext, Modality, Rngs
from wince.perturbations.tabular import (
    CategoryTypos,
    GaussianNoise,
    MissingValues,
    Quantisation,
    Saturation,
    SensorDrift,
    SensorGain,
    SentinelValues,
    TabularPerturbation,
    UnitConfusion,
)

SD = np.array([0.5, 3.0, 120.0, 0.001, 7.0])
MEAN = np.array([10.0, -4.0, 5e3, 0.02, 0.0])


def table(n: int, seed: int = 11) -> np.ndarray:
    x: np.ndarray = MEAN + np.random.default_rng(seed).standard_normal((n, len(SD))) * SD
    return x


def rngs_for(n: int, seed: int) -> Rngs:
    return Rngs.for_samples([f"row-{i}" for i in range(n)], seed=seed, step="test")


@pytest.mark.slow
@pytest.mark.parametrize("noise_sd", [0.02, 0.1, 0.5])
def test_measured_noise_sd_is_noise_sd_times_column_sd(noise_sd: float, seed: int) -> None:
    n = 20_000
    x = table(n)
    out = GaussianNoise().perturb(
        x, noise_sd, rngs_for(n, seed), DataContext(Modality.TABULAR, column_sd=SD)
    )
    noise = out - x
    measured = np.sqrt(np.mean(noise**2, axis=0))  # the noise has mean 0 by construction
    # The sample sd of n normal draws has relative sd 1/sqrt(2n) = 0.5%; allow 4 of them.
    np.testing.assert_allclose(measured, noise_sd * SD, rtol=4 / np.sqrt(2 * n))
    assert np.all(np.abs(noise.mean(axis=0)) < 4 * noise_sd * SD / np.sqrt(n))
    off_diagonal = np.corrcoef(noise.T)[~np.eye(len(SD), dtype=bool)]
    assert np.all(np.abs(off_diagonal) < 4 / np.sqrt(n)), "columns get independent noise"


def test_noise_size_comes_from_the_dataset_not_the_batch(seed: int) -> None:
    x = table(8)
    context = DataContext(Modality.TABULAR, column_sd=SD)
    whole = GaussianNoise().perturb(x, 0.3, rngs_for(8, seed), context)
    rngs = rngs_for(8, seed)
    rows = [GaussianNoise().perturb(x[i : i + 1], 0.3, rngs[i : i + 1], context) for i in range(8)]
    np.testing.assert_array_equal(np.concatenate(rows), whole)


def test_constant_columns_and_missing_cells_stay_as_they_are(seed: int) -> None:
    x = table(50)
    x[:, 1] = 4.0
    x[::7, 2] = np.nan
    sd = SD.copy()
    sd[1] = 0.0
    out = GaussianNoise().perturb(
        x, 0.5, rngs_for(50, seed), DataContext(Modality.TABULAR, column_sd=sd)
    )
    assert np.all(out[:, 1] == 4.0)
    np.testing.assert_array_equal(np.isnan(out), np.isnan(x))


def test_all_missing_column_with_unknown_sd_is_allowed(seed: int) -> None:
    x = table(5)
    x[:, 0] = np.nan
    sd = SD.copy()
    sd[0] = np.nan  # what np.nanstd gives for an all-missing column
    out = GaussianNoise().perturb(
        x, 0.5, rngs_for(5, seed), DataContext(Modality.TABULAR, column_sd=sd)
    )
    assert np.all(np.isnan(out[:, 0]))
    assert np.all(np.isfinite(out[:, 1:]))


def test_float32_tables_stay_float32(seed: int) -> None:
    x = table(10).astype(np.float32)
    out = GaussianNoise().perturb(
        x, 0.1, rngs_for(10, seed), DataContext(Modality.TABULAR, column_sd=SD)
    )
    assert out.dtype == np.float32


@pytest.mark.parametrize("context", [None, DataContext(Modality.TABULAR)], ids=["none", "no-sd"])
def test_missing_column_sd_raises_data_error_with_the_fix(context: DataContext | None) -> None:
    with pytest.raises(DataError) as info:
        GaussianNoise().perturb(table(4), 0.1, rngs_for(4, 0), context)
    message = str(info.value)
    assert "tabular.gaussian_noise" in message
    assert "5 columns" in message
    assert "column_sd=" in message
    assert "DataContext(" in message


@pytest.mark.parametrize(
    ("sd", "words"),
    [
        (SD[:3], "shape (3,)"),
        (SD[None, :], "shape (1, 5)"),
        (np.array([0.5, -3.0, 120.0, 0.001, 7.0]), ">= 0"),
        (np.array([0.5, np.inf, 120.0, 0.001, 7.0]), ">= 0"),
        (np.array([0.5, np.nan, 120.0, 0.001, 7.0]), "np.nanstd"),
    ],
    ids=["too-few", "two-dimensional", "negative", "infinite", "nan-with-values"],
)
def test_bad_column_sd_raises_data_error(sd: np.ndarray, words: str) -> None:
    with pytest.raises(DataError, match=r"tabular\.gaussian_noise") as info:
        GaussianNoise().perturb(
            table(4), 0.1, rngs_for(4, 0), DataContext(Modality.TABULAR, column_sd=sd)
        )
    assert words in str(info.value)


@pytest.mark.parametrize(
    "bad",
    [np.zeros((3, 2), dtype=np.int64), np.zeros(3), [[1.0, 2.0]]],
    ids=["int", "1-d", "list"],
)
def test_non_float_tables_raise_data_error(bad: Any) -> None:
    with pytest.raises(DataError, match=r"astype\(float\)"):
        GaussianNoise().perturb(
            bad,
            0.1,
            rngs_for(len(bad), 0),
            DataContext(Modality.TABULAR, column_sd=SD),
        )


# ---------------------------------------------------------------------------------------------
# Column schema, selection and the other tabular perturbations.

NAMES = ("length_mm", "temp_c", "count", "region", "weight_kg")
KINDS = ("float", "float", "integer", "categorical", "float")
SCHEMA_SD = np.array([2.0, 5.0, 3.0, 1.0, 10.0])


def schema_table(n: int, seed: int = 3) -> np.ndarray:
    """Float columns, a count (whole numbers) and category codes 0..3."""
    rng = np.random.default_rng(seed)
    return np.column_stack(
        [
            50 + 2 * rng.standard_normal(n),
            20 + 5 * rng.standard_normal(n),
            rng.poisson(6, n).astype(float),
            rng.integers(0, 4, n).astype(float),
            70 + 10 * rng.standard_normal(n),
        ]
    )


def schema_context(x: np.ndarray | None = None) -> DataContext:
    """The context a dataset gives: sds, names, kinds and percentiles of the table."""
    quantiles = None if x is None else np.percentile(x, np.arange(101), axis=0)
    return DataContext(
        Modality.TABULAR,
        column_sd=SCHEMA_SD if x is None else x.std(axis=0),
        feature_names=NAMES,
        column_kinds=KINDS,
        column_quantiles=quantiles,
    )


def binomial_tolerance(p: float, trials: int) -> float:
    """Four standard errors of a measured proportion."""
    return float(4 * np.sqrt(p * (1 - p) / trials))


NUMERIC: list[tuple[type[TabularPerturbation], float]] = [
    (GaussianNoise, 0.5),
    (SensorDrift, 0.7),
    (SensorGain, 8.0),
    (Quantisation, 0.8),
    (Saturation, 0.2),
    (UnitConfusion, 0.2),
]


@pytest.mark.parametrize(("cls", "value"), NUMERIC, ids=[c.name for c, _ in NUMERIC])
def test_numeric_perturbations_keep_integers_whole_and_category_codes_unchanged(
    cls: type[TabularPerturbation], value: float, seed: int
) -> None:
    x = schema_table(400)
    out = cls().perturb(x, value, rngs_for(400, seed), schema_context(x))
    assert not np.array_equal(out[:, 2], x[:, 2]), "the integer column is perturbed"
    np.testing.assert_array_equal(out[:, 2], np.round(out[:, 2]))
    np.testing.assert_array_equal(out[:, 3], x[:, 3])


@pytest.mark.parametrize(
    ("columns", "touched"),
    [
        (["temp_c"], {"temp_c"}),
        (["temp_c", "count"], {"temp_c", "count"}),
        (r".*_(mm|kg)", {"length_mm", "weight_kg"}),
        ("integer", {"count"}),
        ("float", {"length_mm", "temp_c", "weight_kg"}),
        ("numeric", {"length_mm", "temp_c", "count", "weight_kg"}),
        ("all", {"length_mm", "temp_c", "count", "weight_kg"}),  # codes get no numeric noise
    ],
    ids=["name", "names", "regex", "integer", "float", "numeric", "all"],
)
def test_column_selection_touches_only_the_selected_columns(
    columns: str | list[str], touched: set[str], seed: int
) -> None:
    x = schema_table(200)
    out = GaussianNoise(columns=columns).perturb(x, 0.5, rngs_for(200, seed), schema_context())
    changed = {name for j, name in enumerate(NAMES) if not np.array_equal(out[:, j], x[:, j])}
    assert changed == touched


def test_selection_does_not_change_the_noise_a_column_gets(seed: int) -> None:
    x = schema_table(50)
    alone = GaussianNoise(columns=["temp_c"]).perturb(x, 0.3, rngs_for(50, seed), schema_context())
    everywhere = GaussianNoise().perturb(x, 0.3, rngs_for(50, seed), schema_context())
    np.testing.assert_array_equal(alone[:, 1], everywhere[:, 1])


def test_missing_values_and_sentinels_may_touch_category_codes(seed: int) -> None:
    x = schema_table(500)
    context = schema_context(x)
    missing = MissingValues(columns=["region"]).perturb(x, 0.2, rngs_for(500, seed), context)
    assert np.isnan(missing[:, 3]).any()
    sentinel = SentinelValues(columns=["region"], sentinel=-1).perturb(
        x, 0.2, rngs_for(500, seed), context
    )
    assert (sentinel[:, 3] == -1).any()


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"columns": ["temp"]}, "Did you mean 'temp_c'"),
        ({"columns": ["region"]}, "'region' is categorical"),
        ({"columns": "pressure_.*"}, "selects no column"),
        ({"columns": "([a-z"}, "valid regular expression"),
        ({"columns": []}, "list of column names"),
        ({"columns": 3}, "list of column names"),
    ],
    ids=["unknown-name", "categorical-name", "regex-matches-nothing", "bad-regex", "empty", "int"],
)
def test_bad_column_selection_raises_parameter_error(options: dict[str, Any], words: str) -> None:
    with pytest.raises(ParameterError, match=r"tabular\.gaussian_noise") as info:
        GaussianNoise(**options).perturb(schema_table(4), 0.1, rngs_for(4, 0), schema_context())
    assert words in str(info.value)


def test_feature_names_must_match_the_columns() -> None:
    context = DataContext(Modality.TABULAR, column_sd=SD, feature_names=("a", "b"))
    with pytest.raises(DataError, match="5 columns but the data context names 2"):
        GaussianNoise().perturb(table(4), 0.1, rngs_for(4, 0), context)


def test_unknown_column_kind_raises_data_error() -> None:
    context = DataContext(Modality.TABULAR, column_sd=SD, column_kinds=("float",) * 4 + ("text",))
    with pytest.raises(DataError, match="unknown kinds"):
        GaussianNoise().perturb(table(4), 0.1, rngs_for(4, 0), context)


@pytest.mark.slow
def test_sd_override_sizes_noise_in_the_columns_own_units(seed: int) -> None:
    n = 20_000
    x = schema_table(n)
    noise = GaussianNoise(sd_override={"temp_c": 1.0}, columns=["temp_c", "length_mm"])
    out = noise.perturb(x, 0.25, rngs_for(n, seed), schema_context())
    measured = (out - x).std(axis=0)
    assert abs(measured[1] - 0.25) < 4 * 0.25 / np.sqrt(2 * n), "0.25 °C, not 0.25 sd"
    assert abs(measured[0] - 0.25 * SCHEMA_SD[0]) < 4 * 0.5 / np.sqrt(2 * n)


def test_sd_override_of_an_unknown_column_raises() -> None:
    with pytest.raises(ParameterError, match="'tempc', which is not a column"):
        GaussianNoise(sd_override={"tempc": 1.0}).perturb(
            schema_table(4), 0.1, rngs_for(4, 0), schema_context()
        )
    with pytest.raises(ParameterError, match="sd_override"):
        GaussianNoise(sd_override={"temp_c": -1.0})


@pytest.mark.parametrize("drift_sd", [0.3, -0.7, 1.0])
def test_drift_of_d_sd_shifts_the_column_mean_by_d_sd(drift_sd: float, seed: int) -> None:
    x = schema_table(1000)
    out = SensorDrift(columns="float").perturb(x, drift_sd, rngs_for(1000, seed), schema_context())
    shift = out.mean(axis=0) - x.mean(axis=0)
    float_columns = [0, 1, 4]
    np.testing.assert_allclose(shift[float_columns], drift_sd * SCHEMA_SD[float_columns])
    np.testing.assert_allclose(out.std(axis=0), x.std(axis=0), rtol=1e-9)


@pytest.mark.filterwarnings("ignore::wince.errors.RealismWarning")
def test_negative_drift_warns_only_beyond_the_mirrored_realistic_range() -> None:
    import warnings

    from wince.errors import RealismWarning

    with warnings.catch_warnings():
        warnings.simplefilter("error", RealismWarning)
        SensorDrift().validate(-0.5)  # as realistic as +0.5
    with pytest.warns(RealismWarning, match="realistic range"):
        SensorDrift().validate(-3.3)


@pytest.mark.parametrize("gain_pct", [5.0, -10.0])
def test_gain_scales_every_reading_and_the_mean_by_the_stated_percentage(
    gain_pct: float, seed: int
) -> None:
    x = schema_table(500)
    out = SensorGain(columns=["weight_kg"]).perturb(
        x, gain_pct, rngs_for(500, seed), schema_context()
    )
    np.testing.assert_allclose(out[:, 4] / x[:, 4], 1 + gain_pct / 100)
    np.testing.assert_allclose(out[:, 4].mean(), x[:, 4].mean() * (1 + gain_pct / 100))
    np.testing.assert_array_equal(out[:, :4], x[:, :4])


@pytest.mark.parametrize("resolution_sd", [0.05, 0.5, 1.0])
def test_quantisation_error_is_at_most_half_a_step_and_values_sit_on_the_grid(
    resolution_sd: float, seed: int
) -> None:
    x = schema_table(2000)
    out = Quantisation(columns="float").perturb(
        x, resolution_sd, rngs_for(2000, seed), schema_context()
    )
    step = resolution_sd * SCHEMA_SD[[0, 1, 4]]
    error = np.abs(out[:, [0, 1, 4]] - x[:, [0, 1, 4]])
    assert np.all(error <= step / 2 * (1 + 1e-9))
    assert error.max() > 0.4 * step.min(), "errors span the half step"
    multiples = out[:, [0, 1, 4]] / step
    np.testing.assert_allclose(multiples, np.round(multiples), atol=1e-6)


def test_quantisation_with_an_absolute_resolution_rounds_to_that_resolution(seed: int) -> None:
    x = schema_table(300)
    out = Quantisation(columns=["temp_c"], sd_override={"temp_c": 1.0}).perturb(
        x, 0.5, rngs_for(300, seed), schema_context()
    )
    np.testing.assert_allclose(out[:, 1] * 2, np.round(x[:, 1] * 2))


@pytest.mark.parametrize("rate", [0.02, 0.3])
def test_mcar_missing_rate_matches_within_binomial_tolerance(rate: float, seed: int) -> None:
    n = 4000
    x = table(n)
    out = MissingValues().perturb(
        x, rate, rngs_for(n, seed), DataContext(Modality.TABULAR, column_sd=SD)
    )
    missing = np.isnan(out)
    assert abs(missing.mean() - rate) < binomial_tolerance(rate, missing.size)
    for j in range(x.shape[1]):  # completely at random: the lost values look like the kept ones
        lost, kept = x[missing[:, j], j], x[~missing[:, j], j]
        assert abs(lost.mean() - kept.mean()) < 5 * SD[j] / np.sqrt(len(lost))


@pytest.mark.slow
@pytest.mark.parametrize("mechanism", ["mnar_high", "mnar_low"])
def test_mnar_removes_values_at_one_end_at_the_same_overall_rate(mechanism: str, seed: int) -> None:
    n, rate = 4000, 0.1
    x = table(n)
    context = DataContext(
        Modality.TABULAR,
        column_sd=x.std(axis=0),
        column_quantiles=np.percentile(x, np.arange(101), axis=0),
    )
    out = MissingValues(mechanism=mechanism).perturb(x, rate, rngs_for(n, seed), context)
    missing = np.isnan(out)
    assert abs(missing.mean() - rate) < binomial_tolerance(rate, missing.size) + 0.005
    median = np.median(x, axis=0)
    high = (missing & (x > median)).sum()
    low = (missing & (x < median)).sum()
    assert high > 5 * low if mechanism == "mnar_high" else low > 5 * high


def test_mnar_needs_the_dataset_percentiles() -> None:
    with pytest.raises(DataError, match=r"column_quantiles=np\.nanpercentile"):
        MissingValues(mechanism="mnar_high").perturb(
            table(4), 0.1, rngs_for(4, 0), DataContext(Modality.TABULAR, column_sd=SD)
        )


def test_a_higher_missing_rate_keeps_the_cells_a_lower_rate_removed(seed: int) -> None:
    x = table(300)
    context = DataContext(Modality.TABULAR, column_sd=SD)
    low = np.isnan(MissingValues().perturb(x, 0.05, rngs_for(300, seed), context))
    high = np.isnan(MissingValues().perturb(x, 0.2, rngs_for(300, seed), context))
    assert np.all(high[low])


def test_sentinel_replaces_cells_at_the_rate_with_the_sentinel(seed: int) -> None:
    n, rate = 3000, 0.05
    x = table(n)
    out = SentinelValues(sentinel=-1).perturb(
        x, rate, rngs_for(n, seed), DataContext(Modality.TABULAR, column_sd=SD)
    )
    replaced = out != x
    assert np.all(out[replaced] == -1)
    assert abs(replaced.mean() - rate) < binomial_tolerance(rate, replaced.size)


@pytest.mark.parametrize(
    ("side", "high_share", "low_share"),
    [("high", 0.1, 0.0), ("low", 0.0, 0.1), ("both", 0.05, 0.05)],
)
def test_saturation_pins_the_stated_share_of_values_at_the_sensor_limit(
    side: str, high_share: float, low_share: float, seed: int
) -> None:
    n = 5000
    x = table(n)
    context = DataContext(
        Modality.TABULAR,
        column_sd=x.std(axis=0),
        column_quantiles=np.percentile(x, np.arange(101), axis=0),
    )
    out = Saturation(side=side).perturb(x, 0.1, rngs_for(n, seed), context)
    top, bottom = out.max(axis=0), out.min(axis=0)
    at_top = (out == top).mean(axis=0)
    at_bottom = (out == bottom).mean(axis=0)
    tolerance = 0.003  # percentiles interpolated over n values
    if high_share:
        np.testing.assert_allclose(at_top, high_share, atol=tolerance)
        np.testing.assert_allclose(top, np.quantile(x, 1 - high_share, axis=0), rtol=1e-9)
    if low_share:
        np.testing.assert_allclose(at_bottom, low_share, atol=tolerance)
    inside = (out > bottom) & (out < top)
    np.testing.assert_array_equal(out[inside], x[inside])


@pytest.mark.parametrize(
    ("options", "convert"),
    [
        ({"conversion": "c_to_f"}, lambda c: c * 9 / 5 + 32),
        ({}, lambda mm: mm * 10),
        ({"factor": 0.001, "offset": 1.0}, lambda v: v * 0.001 + 1.0),
    ],
    ids=["c_to_f", "default-x10", "custom"],
)
def test_unit_confusion_converts_whole_rows_at_the_rate(
    options: dict[str, Any], convert: Any, seed: int
) -> None:
    n, rate = 3000, 0.1
    x = schema_table(n)
    out = UnitConfusion(columns=["temp_c", "weight_kg"], **options).perturb(
        x, rate, rngs_for(n, seed), schema_context()
    )
    rows = out[:, 1] != x[:, 1]
    assert abs(rows.mean() - rate) < binomial_tolerance(rate, n)
    np.testing.assert_allclose(out[rows][:, [1, 4]], convert(x[rows][:, [1, 4]]))
    np.testing.assert_array_equal(out[~rows], x[~rows])
    np.testing.assert_array_equal(out[:, [0, 2, 3]], x[:, [0, 2, 3]])


def test_unit_confusion_refuses_both_a_named_and_a_custom_conversion() -> None:
    with pytest.raises(ParameterError, match="either conversion"):
        UnitConfusion(conversion="c_to_f", factor=2.0)
    with pytest.raises(ParameterError, match="'c_to_f'"):
        UnitConfusion(conversion="celsius")


def test_category_codes_become_the_unknown_code_at_the_rate(seed: int) -> None:
    n, rate = 4000, 0.1
    x = schema_table(n)
    out = CategoryTypos().perturb(x, rate, rngs_for(n, seed), schema_context())
    changed = out != x
    assert not changed[:, [0, 1, 2, 4]].any(), "only the categorical column changes"
    assert np.all(out[changed] == -1)
    assert abs(changed[:, 3].mean() - rate) < binomial_tolerance(rate, n)


def test_category_typos_need_a_categorical_column() -> None:
    with pytest.raises(DataError, match="column_kinds"):
        CategoryTypos().perturb(
            table(4), 0.1, rngs_for(4, 0), DataContext(Modality.TABULAR, column_sd=SD)
        )
    with pytest.raises(ParameterError, match="'temp_c' holds numbers"):
        CategoryTypos(columns=["temp_c"]).perturb(
            schema_table(4), 0.1, rngs_for(4, 0), schema_context()
        )


def osa_distance(a: str, b: str) -> int:
    """Edit distance with adjacent transpositions (an independent reference)."""
    d = np.zeros((len(a) + 1, len(b) + 1), dtype=int)
    d[:, 0], d[0, :] = np.arange(len(a) + 1), np.arange(len(b) + 1)
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            d[i, j] = min(
                d[i - 1, j] + 1, d[i, j - 1] + 1, d[i - 1, j - 1] + (a[i - 1] != b[j - 1])
            )
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i, j] = min(d[i, j], d[i - 2, j - 2] + 1)
    return int(d[-1, -1])


def labelled_table(n: int) -> np.ndarray:
    labels = np.array(["Male", "female", "Non-binary", "UNKNOWN"], dtype=object)
    x = np.empty((n, 3), dtype=object)
    x[:, 0] = labels[np.arange(n) % 4]
    x[:, 1] = np.arange(n, dtype=float)
    x[:, 2] = labels[(np.arange(n) + 1) % 4]
    return x


def test_category_typos_on_text_are_one_edit_another_capitalisation_or_a_stray_space(
    seed: int,
) -> None:
    n = 400
    x = labelled_table(n)
    context = DataContext(Modality.TABULAR, column_sd=np.array([np.nan, 100.0, np.nan]))
    out = CategoryTypos(variants=["typo"]).perturb(x, 0.2, rngs_for(n, seed), context)
    text = np.array([[isinstance(v, str) for v in row] for row in x])
    changed = out != x
    assert not changed[:, 1].any(), "numbers are untouched"
    assert abs(changed[text].mean() - 0.2) < binomial_tolerance(0.2, int(text.sum()))
    assert all(osa_distance(a, b) == 1 for a, b in zip(x[changed], out[changed], strict=True))
    cased = CategoryTypos(variants=["case"]).perturb(x, 0.2, rngs_for(n, seed), context)
    recased = cased != x
    assert abs(recased[text].mean() - 0.2) < binomial_tolerance(0.2, int(text.sum()))
    assert all(a.lower() == b.lower() for a, b in zip(x[recased], cased[recased], strict=True))
    spaced = CategoryTypos(variants=["whitespace"]).perturb(x, 0.2, rngs_for(n, seed), context)
    respaced = spaced != x
    assert respaced[text].any()
    assert all(
        a.split() == b.split() and len(b) == len(a) + 1
        for a, b in zip(x[respaced], spaced[respaced], strict=True)
    )
    assert x.tolist() == labelled_table(n).tolist(), "the input is not mutated"


def test_changed_cells_and_missing_values_count_in_the_distances() -> None:
    x = np.array([[0.0, 1.0, 2.0, 3.0], [4.0, 5.0, 6.0, 7.0]])
    out = x.copy()
    out[0, 0] = np.nan  # became missing: 1 sd
    out[0, 1] = 1.0 + 3 * 2.0  # moved 3 sd
    out[1, 3] = 2.0  # another category code: 1
    context = DataContext(
        Modality.TABULAR,
        column_sd=np.array([1.0, 2.0, 1.0, 1.0]),
        column_kinds=("float", "float", "float", "categorical"),
    )
    d = MissingValues().distances(x, out, context)
    np.testing.assert_allclose(d["distance"], [np.sqrt(1 + 9), 1.0])
    np.testing.assert_allclose(d["changed_cell_rate"], [0.5, 0.25])
    same = MissingValues().distances(out, out, context)
    np.testing.assert_array_equal(same["distance"], [0.0, 0.0])
    np.testing.assert_array_equal(same["changed_cell_rate"], [0.0, 0.0])


def test_dataset_context_carries_kinds_and_percentiles() -> None:
    x = schema_table(200)
    context = ArrayDataset(x, feature_names=NAMES, column_kinds=KINDS).context()
    assert context.column_kinds == KINDS
    assert context.column_quantiles is not None
    np.testing.assert_allclose(context.column_quantiles, np.percentile(x, np.arange(101), axis=0))
    with pytest.raises(DataError, match="unknown kind 'text'"):
        ArrayDataset(x, column_kinds=("float", "float", "integer", "text", "float"))
    with pytest.raises(DataError, match="4 kinds"):
        ArrayDataset(x, column_kinds=KINDS[:4])


@pytest.mark.parametrize(
    ("cls", "options"),
    [
        (MissingValues, {"mechanism": "mar"}),
        (Saturation, {"side": "top"}),
        (SentinelValues, {"sentinel": float("nan")}),
        (CategoryTypos, {"variants": ["typos"]}),
        (CategoryTypos, {"layout": "dvorak"}),
    ],
    ids=["mechanism", "side", "sentinel", "variants", "layout"],
)
def test_bad_options_raise_parameter_error_naming_the_option(
    cls: type[TabularPerturbation], options: dict[str, Any]
) -> None:
    (option,) = options
    with pytest.raises(ParameterError, match=f"{cls.name}: {option}"):
        cls(**options)
