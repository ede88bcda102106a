"""Tabular perturbations: batches are float arrays of shape (n, features).

Sizes are given in units of each column's standard deviation over the whole dataset
(`DataContext.column_sd`), never of the batch, so a result does not depend on batching.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import numpy.typing as npt

from wince.errors import DataError
from wince.perturbations.base import (
    Batch,
    DataContext,
    Magnitude,
    Modality,
    Perturbation,
    Rngs,
    register,
)


def column_sd(context: DataContext, n_features: int, owner: str) -> npt.NDArray[np.float64]:
    """The dataset's column standard deviations, checked against the batch width.

    NaN marks an unknown sd (an all-missing column); perturbations that scale by it must reject
    it where the batch holds values.

    Raises:
        DataError: `column_sd` is missing, does not hold one value per column, or holds a
            negative or infinite value.
    """
    fix = (
        "run it through a tabular dataset (wince.datasets) or pass "
        "DataContext(Modality.TABULAR, column_sd=x.std(axis=0)) computed over the whole dataset."
    )
    if context.column_sd is None:
        raise DataError(
            f"{owner}: needs the standard deviation of each of the {n_features} columns and "
            f"the data context has none; {fix}"
        )
    sd = np.asarray(context.column_sd, dtype=np.float64)
    if sd.shape != (n_features,):
        raise DataError(
            f"{owner}: needs the standard deviation of each of the {n_features} columns; "
            f"got column_sd of shape {sd.shape}; {fix}"
        )
    if np.any((sd < 0) | np.isinf(sd)):
        raise DataError(
            f"{owner}: column standard deviations must be finite and >= 0; got {sd.tolist()}. "
            "Constant columns have sd 0 and are left unchanged."
        )
    return sd


class TabularPerturbation(Perturbation):
    """Shared batch checks and distance for tabular perturbations."""

    modality = Modality.TABULAR
    distance_unit: ClassVar[str] = "standardised L2 (column sd units)"

    def check_batch(self, x: Batch) -> None:
        """Raise `DataError` unless `x` is a 2-D float array."""
        if not isinstance(x, np.ndarray) or x.ndim != 2 or x.dtype.kind != "f":
            shape = getattr(x, "shape", type(x).__name__)
            raise DataError(
                f"{self.name}: tabular batches are float arrays of shape (n, features); "
                f"got {shape} {getattr(x, 'dtype', '')}. Use x.astype(float)."
            )

    def distance(
        self, original: Batch, perturbed: Batch, context: DataContext
    ) -> npt.NDArray[np.float64]:
        """Euclidean distance after dividing each column by its dataset sd."""
        sd = column_sd(context, original.shape[1], self.name)
        safe = np.where(sd > 0, sd, 1.0)
        diff = (np.asarray(perturbed, np.float64) - original) / safe
        per_row: npt.NDArray[np.float64] = np.sqrt(np.nansum(diff * diff, axis=1))
        return per_row


@register
class GaussianNoise(TabularPerturbation):
    """Measurement noise on every numeric column, sized in each column's standard deviations.

    Noise is given in sd units so that one number means the same for a column in millimetres
    and one in kilograms: 0.1 sd is a careful instrument, 0.5 sd a noisy one.
    """

    name = "tabular.gaussian_noise"
    version = 1
    stochastic = True
    magnitude = Magnitude(
        "noise_sd",
        unit="column standard deviations",
        off=0.0,
        mild=0.02,
        severe=0.5,
        limits=(0.0, 10.0),
    )

    def apply(self, x: Batch, value: float, rngs: Rngs, context: DataContext) -> Batch:
        """Add N(0, (value * column sd)^2) to every cell."""
        sd = column_sd(context, x.shape[1], self.name)
        unknown = np.isnan(sd) & ~np.all(np.isnan(x), axis=0)
        if unknown.any():
            raise DataError(
                f"{self.name}: the dataset sd of columns {np.flatnonzero(unknown).tolist()} is "
                "NaN but the batch holds values there; compute column_sd with np.nanstd."
            )
        if len(x) == 0:
            return x.copy()
        noise = np.stack([g.standard_normal(x.shape[1]) for g in rngs])
        return (x + noise * (value * sd)).astype(x.dtype, copy=False)
