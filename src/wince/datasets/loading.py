"""Build a dataset from a plan's data section."""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from wince.datasets.base import ArrayDataset, Dataset
from wince.errors import DataError, PlanError
from wince.plan import DataSpec


def as_dataset(data: Any, labels: Any = None) -> Dataset:
    """A `Dataset` from a Dataset, an (x, y) tuple, an array, a DataFrame or a list of str.

    A pandas DataFrame is read as a table (`wince.datasets.readers.read_frame`): its text and
    `category` columns stay categorical, and the model gets rows as a DataFrame of them.
    """
    if isinstance(data, Dataset):
        return data
    if isinstance(data, tuple) and len(data) == 2 and labels is None:
        data, labels = data
    if _is_frame(data):
        from wince.datasets.readers import read_frame

        return read_frame(data, labels)
    return ArrayDataset(data, labels)


def _is_frame(data: Any) -> bool:
    pandas = sys.modules.get("pandas")
    return pandas is not None and isinstance(data, pandas.DataFrame)


def load_dataset(spec: DataSpec) -> Dataset:
    """Read the data a plan names.

    Raises:
        PlanError: factory not importable.
        DataError: missing file or unreadable content, or the factory raised or exited.
    """
    from wince.models.loading import call_factory

    kind, target = spec.source()
    if spec.pad is not None and kind != "wav":
        raise PlanError(
            f"data.pad does not apply to data.{kind}: it pads WAV clips to one length. Remove it."
        )
    if kind == "factory":
        built = call_factory(target, "data.factory", DataError)
        try:
            dataset = as_dataset(built)
        except DataError as error:
            raise DataError(
                f"data.factory {target!r} returned a {type(built).__name__}, which is not a "
                f"dataset: {error}"
            ) from None
    else:
        from wince.datasets import readers

        reader = getattr(readers, f"read_{kind}")
        dataset = reader(target, spec)
    if spec.modality is not None and dataset.modality != spec.modality:
        dataset = _declared(dataset, spec.modality)
    if spec.limit is not None and spec.limit < len(dataset):
        dataset = _first(dataset, spec.limit)
    return dataset


def _declared(dataset: Dataset, modality: str) -> Dataset:
    """An in-memory dataset read as the modality the plan declares."""
    if not isinstance(dataset, ArrayDataset):
        raise DataError(
            f"data.modality: the data holds {dataset.modality} data and cannot be read "
            f"as {modality}; remove data.modality or give data of that kind."
        )
    return ArrayDataset(
        dataset.x,
        dataset.labels,
        ids=dataset.ids,
        modality=modality,
        feature_names=dataset.feature_names,
        sample_rate_hz=dataset.sample_rate_hz,
        name=dataset.name,
    )


def _first(dataset: Dataset, n: int) -> Dataset:
    if not isinstance(dataset, ArrayDataset):
        raise DataError(f"data.limit works on in-memory datasets; {type(dataset).__name__} is not.")
    labels = dataset.labels[:n] if dataset.labels is not None else None
    x = dataset.x[:n]
    return ArrayDataset(
        x if not isinstance(x, np.ndarray) else x.copy(),
        labels,
        ids=dataset.ids[:n],
        modality=dataset.modality,
        feature_names=dataset.feature_names,
        sample_rate_hz=dataset.sample_rate_hz,
        column_kinds=dataset.column_kinds,
        schema=dataset.schema,
        name=dataset.name,
    )
