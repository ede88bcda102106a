"""Tables: CSV and Parquet files, and pandas DataFrames."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from wince.datasets.base import ArrayDataset
from wince.datasets.readers.common import (
    as_text_ids,
    check_limit,
    existing,
    no_such,
    option,
    reject,
)
from wince.datasets.tables import encode_frame
from wince.errors import DataError
from wince.perturbations.base import Modality

if TYPE_CHECKING:
    from wince.plan import DataSpec


def read_csv(
    path: str | Path,
    spec: DataSpec | None = None,
    *,
    label: str | None = None,
    id: str | None = None,
    features: Sequence[str] | None = None,
    categorical: Sequence[str] | None = None,
    limit: int | None = None,
) -> ArrayDataset:
    r"""A table in a CSV file (header row, comma separated, UTF-8) as tabular data.

    Args:
        path: the CSV file.
        spec: the plan's data section (`label`, `id`, `features`, `categorical`, `limit`).
        label: label column; default "label" if the table has one, else no labels.
        id: sample id column, read as text (so "007" stays "007"); default row positions
            "0", "1", ...
        features: feature columns in this order; default every column except the label and
            id columns (and date columns).
        categorical: columns of numbers to read as categories (zip codes, product codes);
            text columns are categorical anyway.
        limit: read the first N rows only.

    Returns:
        An in-memory float64 dataset with `feature_names`; text columns hold category codes
        (`wince.datasets.tables`), and models get the rows as a DataFrame of the original
        columns. Columns that are neither features, label nor id are the samples'
        `metadata` (for models that take a `SampleContext`).

    Raises:
        DataError: missing file or column, unparsable CSV, a column of numbers with stray
            text cells, an empty label or id cell, or duplicate ids.
        PlanError: `data.inputs` is set.

    Examples:
        >>> import pathlib, tempfile
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     path = pathlib.Path(folder) / "data.csv"
        ...     _ = path.write_text("a,b,label\n1,2,x\n3,4.5,y\n")
        ...     data = read_csv(path)
        >>> data.feature_names, data.x.tolist(), data.labels.tolist()
        (('a', 'b'), [[1.0, 2.0], [3.0, 4.5]], ['x', 'y'])
    """
    import pandas as pd

    reject(spec, "csv", ["inputs"], "a table's inputs are its feature columns (data.features).")
    target = existing(path, "csv", folder=False)
    id_column = option(spec, "id", id)
    n = check_limit(option(spec, "limit", limit))
    try:
        header = list(pd.read_csv(target, nrows=0).columns)
        dtype = {id_column: str} if id_column in header else None
        frame = pd.read_csv(target, nrows=n, dtype=dtype)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise DataError(
            f"{target}: not a readable CSV table ({error}); it needs a header row, comma "
            "separators and UTF-8 text."
        ) from None
    _check_header(header, target)
    return _table_dataset(
        frame,
        str(target),
        label=option(spec, "label", label),
        id_column=id_column,
        features=option(spec, "features", features),
        categorical=option(spec, "categorical", categorical),
        first_line=2,
    )


def _check_header(header: list[str], target: Path) -> None:
    """Refuse a CSV whose first row is data, not column names.

    A first row of numbers is data, unless it is 0, 1, 2, ...: the names `DataFrame.to_csv`
    writes for unnamed columns.

    Raises:
        DataError: naming the file and the row.
    """

    def is_number(name: str) -> bool:
        try:
            float(name)
        except ValueError:
            return False
        return True

    positions = [str(i) for i in range(len(header))]
    if header and header != positions and all(is_number(name) for name in header):
        raise DataError(
            f"{target}: the first row ({','.join(header)}) holds numbers, not column names; "
            "add a header row naming the columns (e.g. a,b,label) above the data."
        )


def read_parquet(
    path: str | Path,
    spec: DataSpec | None = None,
    *,
    label: str | None = None,
    id: str | None = None,
    features: Sequence[str] | None = None,
    categorical: Sequence[str] | None = None,
    limit: int | None = None,
) -> ArrayDataset:
    """A table in a Parquet file as tabular data; options as for `read_csv`.

    Args:
        path: the Parquet file.
        spec: the plan's data section (`label`, `id`, `features`, `categorical`, `limit`).
        label: label column; default "label" if the table has one, else no labels.
        id: sample id column; default row positions "0", "1", ...
        features: feature columns in this order; default every column except the label and
            id columns (and date columns).
        categorical: columns of numbers to read as categories; text and `category` columns
            are categorical anyway.
        limit: keep the first N rows.

    Returns:
        An in-memory float64 dataset with `feature_names`; categorical columns hold category
        codes (`wince.datasets.tables`), and models get the rows as a DataFrame of the
        original columns. Columns that are neither features, label nor id are the samples'
        `metadata` (for models that take a `SampleContext`).

    Raises:
        DataError: missing file or column, not a Parquet file, a column of numbers with
            stray text cells, an empty label or id cell, or duplicate ids.
        PlanError: `data.inputs` is set.

    Examples:
        >>> import pathlib, tempfile
        >>> import pandas as pd
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     path = pathlib.Path(folder) / "data.parquet"
        ...     pd.DataFrame({"id": ["a", "b"], "f": [0.5, 1.5]}).to_parquet(path)
        ...     data = read_parquet(path, id="id")
        >>> data.ids, data.feature_names, data.labels is None
        (['a', 'b'], ('f',), True)
    """
    import pandas as pd
    import pyarrow as pa

    reject(spec, "parquet", ["inputs"], "a table's inputs are its feature columns.")
    target = existing(path, "parquet", folder=False)
    n = check_limit(option(spec, "limit", limit))
    try:
        frame = pd.read_parquet(target)
    except (pa.ArrowException, OSError, ValueError) as error:
        raise DataError(f"{target}: not a readable Parquet file ({error}).") from None
    return _table_dataset(
        frame.iloc[:n].reset_index(drop=True) if n is not None else frame.reset_index(drop=True),
        str(target),
        label=option(spec, "label", label),
        id_column=option(spec, "id", id),
        features=option(spec, "features", features),
        categorical=option(spec, "categorical", categorical),
        first_line=None,
    )


def read_frame(
    frame: Any,
    labels: Sequence[Any] | npt.NDArray[Any] | None = None,
    *,
    label: str | None = None,
    id: str | None = None,
    features: Sequence[str] | None = None,
    categorical: Sequence[str] | None = None,
    name: str = "DataFrame",
) -> ArrayDataset:
    """A pandas DataFrame as tabular data, read as `read_csv` reads a file.

    Args:
        frame: the table; its index gives the sample ids unless it is the default
            0, 1, ... (then row positions) or `id` names a column.
        labels: true labels, one per row; or name a column with `label`.
        label: label column; default "label" if the frame has one and `labels` is None.
        id: sample id column; default row positions "0", "1", ...
        features: feature columns in this order; default every column except the label and
            id columns (and date columns).
        categorical: columns of numbers to read as categories; text and `category` columns
            are categorical anyway.
        name: what the frame is, for messages.

    Examples:
        >>> import pandas as pd
        >>> frame = pd.DataFrame({"size": [1.5, 2.0], "colour": ["red", "blue"]})
        >>> data = read_frame(frame, labels=[0, 1])
        >>> data.feature_names, data.column_kinds, data.x.tolist()
        (('size', 'colour'), ('float', 'categorical'), [[1.5, 1.0], [2.0, 0.0]])
    """
    import pandas as pd

    default_index = isinstance(frame.index, pd.RangeIndex) and frame.index.equals(
        pd.RangeIndex(len(frame))
    )
    if id is None and not default_index:
        id = "_id"
        while id in frame.columns:
            id = f"_{id}"
        frame = frame.assign(**{id: [str(i) for i in frame.index]})
    frame = frame.reset_index(drop=True)
    if labels is not None:
        if label is not None:
            raise DataError(f"{name}: give labels or a label column, not both.")
        given = np.asarray(labels)
        if len(given) != len(frame):
            raise DataError(f"{name}: {len(given)} labels for {len(frame)} rows.")
        reserved = "label"
        while reserved in frame.columns:
            reserved = f"_{reserved}"
        frame = frame.assign(**{reserved: given})
        label = reserved
    return _table_dataset(
        frame,
        name,
        label=label,
        id_column=id,
        features=features,
        categorical=categorical,
        first_line=None,
    )


def _default_features(frame: Any, where: str, *, reserved: set[str | None]) -> list[str]:
    """Every column but the `reserved` (label and id) and complex or date columns.

    Raises:
        DataError: no such column is left.
    """
    import pandas as pd

    columns = list(frame.columns)
    chosen = [
        c
        for c in columns
        if c not in reserved
        and not pd.api.types.is_complex_dtype(frame[c])
        and not pd.api.types.is_datetime64_any_dtype(frame[c])
    ]
    if not chosen:
        raise DataError(
            f"{where}: no feature columns besides the label and id; columns are "
            f"{', '.join(repr(c) for c in columns)}."
        )
    return chosen


def _table_dataset(
    frame: Any,
    where: str,
    *,
    label: str | None,
    id_column: str | None,
    features: Sequence[str] | None,
    categorical: Sequence[str] | None = None,
    first_line: int | None,
) -> ArrayDataset:
    """An ArrayDataset from a pandas frame; `first_line` is the file line of row 0 (CSV)."""
    columns = [str(c) for c in frame.columns]
    frame.columns = columns

    def row(position: int) -> str:
        return f"line {position + first_line}" if first_line is not None else f"row {position}"

    def column(name: str, field: str) -> Any:
        if name not in columns:
            raise no_such(where, "column", name, columns, field)
        values = frame[name]
        empty = np.flatnonzero(values.isna().to_numpy())
        if field in ("label", "id") and empty.size:
            raise DataError(
                f"{where}: {field} column {name!r} is empty in {row(int(empty[0]))}; every "
                f"sample needs a{'n' if field == 'id' else ''} {field}."
            )
        return values

    if label is None and "label" in columns:
        label = "label"
    labels = column(label, "label") if label is not None else None
    ids = column(id_column, "id") if id_column is not None else None
    declared = list(categorical or ())
    for name in declared:
        column(name, "categorical")
    if features is None:
        chosen = _default_features(frame, where, reserved={label, id_column})
    else:
        chosen = list(features)
        for name in chosen:
            column(name, "features")
    undeclared = [c for c in declared if c not in chosen]
    if undeclared:
        raise DataError(
            f"{where}: data.categorical names {undeclared[0]!r}, which is not a feature column "
            f"({', '.join(repr(c) for c in chosen)})."
        )
    x, schema = encode_frame(frame, chosen, declared, where, row)
    others = [c for c in columns if c not in chosen and c not in (label, id_column)]
    label_values = None
    if labels is not None:
        label_values = labels.to_numpy()
        if label_values.dtype == object and all(isinstance(v, str) for v in label_values):
            label_values = label_values.astype(str)
    return ArrayDataset(
        x,
        label_values,
        ids=as_text_ids(ids.tolist()) if ids is not None else None,
        modality=Modality.TABULAR,
        feature_names=chosen,
        column_kinds=schema.kinds,
        schema=schema if schema.needs_frame else None,
        metadata=frame[others] if others else None,
        name=where,
    )
