"""Tabular defences: values clipped to the training range, missing values imputed."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from wince.defences.base import CleanData, InputDefence, register
from wince.errors import DataError
from wince.models.base import ModelAdapter
from wince.perturbations.base import Batch, Modality


def _columns(x: Batch, owner: str) -> npt.NDArray[np.float64]:
    """A table batch as an (n, features) float array.

    Raises:
        DataError: not a 2-D numeric batch.
    """
    array = np.asarray(x)
    if array.ndim != 2 or array.dtype.kind not in "biuf":
        raise DataError(
            f"{owner} takes a numeric table (n, features); got an array of shape "
            f"{array.shape} and dtype {array.dtype}. Use it on tabular data."
        )
    return array.astype(np.float64)


class _FittedColumns(InputDefence):
    """An input defence that learns one number (or two) per column from clean data."""

    def _check_fitted(
        self, fitted: npt.NDArray[np.float64] | None, x: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.float64]:
        """`fitted` (a per-column array) if it is set and as wide as `x`, else `DataError`."""
        if fitted is None:
            raise DataError(f"{self.name} is not fitted: call fit(model, clean) first.")
        if x.shape[1] != len(fitted):
            raise DataError(
                f"{self.name} was fitted on {len(fitted)} columns but got {x.shape[1]}; fit "
                "it on the data the model reads."
            )
        return fitted


@register
class ClipToTrainingRange(_FittedColumns):
    """Each column clipped to the range it spans in the clean data (fitted).

    A value beyond the clean minimum or maximum (a sensor saturating, a unit read wrongly, a
    sentinel such as -999) becomes that bound, so the model never extrapolates. Missing
    values (NaN) stay missing. Values in the clean range are unchanged.
    """

    name = "tabular.clip"
    version = 1
    modalities = frozenset({Modality.TABULAR})

    def __init__(self, *, seed: int = 0) -> None:
        super().__init__(seed=seed)
        self.low: npt.NDArray[np.float64] | None = None
        self.high: npt.NDArray[np.float64] | None = None

    def fit(self, model: ModelAdapter, clean: CleanData) -> None:
        """Learn each column's minimum and maximum over the clean data (NaN left out)."""
        x = _columns(clean.x, self.name)
        self.low, self.high = np.nanmin(x, axis=0), np.nanmax(x, axis=0)

    def fitted_state(self) -> dict[str, Any]:
        """The columns' bounds."""
        return {
            "low": None if self.low is None else self.low.tolist(),
            "high": None if self.high is None else self.high.tolist(),
        }

    def transform(self, x: Batch) -> Batch:
        """Each column clipped to [low, high]; NaN stays NaN."""
        array = _columns(x, self.name)
        low = self._check_fitted(self.low, array)
        clipped = np.clip(array, low, self.high)
        return clipped.astype(np.asarray(x).dtype, copy=False)


@register
class ImputeMedians(_FittedColumns):
    """Missing values (NaN) replaced by their column's median over the clean data (fitted).

    A model that cannot take NaN answers again, and one that can sees a typical value
    instead of an unseen pattern. Present values are unchanged.
    """

    name = "tabular.impute"
    version = 1
    modalities = frozenset({Modality.TABULAR})

    def __init__(self, *, seed: int = 0) -> None:
        super().__init__(seed=seed)
        self.medians: npt.NDArray[np.float64] | None = None

    def fit(self, model: ModelAdapter, clean: CleanData) -> None:
        """Learn each column's median over the clean data (NaN left out; 0 for all-NaN)."""
        x = _columns(clean.x, self.name)
        present = np.isfinite(x).any(axis=0)
        medians = np.zeros(x.shape[1])
        medians[present] = np.nanmedian(x[:, present], axis=0)
        self.medians = medians

    def fitted_state(self) -> dict[str, Any]:
        """The columns' medians."""
        return {"medians": None if self.medians is None else self.medians.tolist()}

    def transform(self, x: Batch) -> Batch:
        """NaN replaced by the column's median."""
        array = _columns(x, self.name)
        medians = self._check_fitted(self.medians, array)
        filled = np.where(np.isnan(array), medians, array)
        return filled.astype(np.asarray(x).dtype, copy=False)
