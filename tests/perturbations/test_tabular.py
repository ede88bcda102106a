"""Tabular perturbations: noise measured in each column's dataset standard deviations."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from wince.errors import DataError
from wince.perturbations import DataContext, Modality, Rngs
from wince.perturbations.tabular import GaussianNoise

SD = np.array([0.5, 3.0, 120.0, 0.001, 7.0])
MEAN = np.array([10.0, -4.0, 5e3, 0.02, 0.0])


def table(n: int, seed: int = 11) -> np.ndarray:
    x: np.ndarray = MEAN + np.random.default_rng(seed).standard_normal((n, len(SD))) * SD
    return x


def rngs_for(n: int, seed: int) -> Rngs:
    return Rngs.for_samples([f"row-{i}" for i in range(n)], seed=seed, step="test")


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
