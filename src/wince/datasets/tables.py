"""Tables with named, typed columns: numbers for the perturbations, a DataFrame for the model.

Tabular perturbations work on float arrays (`wince.perturbations.tabular`), so a table's
categorical columns (text, pandas `category` or columns the plan names) are held as category
codes: 0, 1, ... in the order of `TableSchema.categories`. A model fitted on the original
table needs those columns back as they were: `TableInputs` hands it a pandas DataFrame with
the original column names and dtypes, every categorical cell decoded to its category.

What a perturbed categorical cell becomes for the model:

- a code of the vocabulary: that category;
- NaN (`tabular.missing_values`): a missing cell (NaN, as pandas reads an empty CSV cell);
- any other code (`tabular.category_typos` gives -1, `tabular.sentinel_values` 9999): a
  value outside the vocabulary, like every misspelling an encoder fitted on the clean
  vocabulary meets: the code written as text ("-1", "9999") in a text column, the number
  itself in a column of numbers read as categories, NaN in a `category` column (pandas'
  reading of a value outside the categories).

Integer and boolean columns come back with their dtype while they hold whole numbers (0/1
for booleans) and no missing cell; otherwise as float64, as pandas reads a column with an
empty cell.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from wince.errors import DataError
from wince.models.base import ModelAdapter, Predictions, SampleContext


@dataclass(frozen=True)
class TableSchema:
    """Names, dtypes and categories of a table's columns, in the order of the array's columns.

    `to_frame` decodes encoded rows for the model: a category code gives its category, NaN a
    missing cell, any other code (a typo's -1, a sentinel's 9999) a value outside the
    vocabulary: the code as text ("-1") in a text column, the number itself in a column of
    numbers read as categories, NaN in a `category` column.
    Integer and boolean columns keep their dtype while whole and complete, else float64.

    Attributes:
        names: column names.
        dtypes: pandas dtype of each column as read ("float64", "int64", "bool", "object",
            "category", ...).
        categories: for each categorical column its categories in code order (code 0 first);
            None for numeric columns.
    """

    names: tuple[str, ...]
    dtypes: tuple[str, ...]
    categories: tuple[tuple[Any, ...] | None, ...]

    @property
    def kinds(self) -> tuple[str, ...]:
        """Column kinds for `wince.perturbations.tabular`: float, integer or categorical."""
        return tuple(
            "categorical" if cats is not None else ("integer" if _whole(dtype) else "float")
            for cats, dtype in zip(self.categories, self.dtypes, strict=True)
        )

    @property
    def needs_frame(self) -> bool:
        """Whether a model must see the table as a DataFrame (it has categorical columns)."""
        return any(cats is not None for cats in self.categories)

    def digest(self) -> bytes:
        """Bytes that identify the schema, for the dataset's fingerprint."""
        described = [self.names, self.dtypes, [c and [repr(v) for v in c] for c in self.categories]]
        return hashlib.sha256(json.dumps(described).encode()).digest()

    def to_frame(self, x: npt.NDArray[Any]) -> Any:
        """The rows of an encoded (n, columns) array as a DataFrame of the original columns."""
        import pandas as pd

        columns: dict[str, Any] = {}
        for j, (name, dtype, cats) in enumerate(
            zip(self.names, self.dtypes, self.categories, strict=True)
        ):
            values = np.asarray(x[:, j], dtype=np.float64)
            if cats is None:
                columns[name] = _numeric(values, dtype)
            elif dtype == "category":
                codes = np.where(_in_vocabulary(values, len(cats)), values, -1).astype(np.int64)
                columns[name] = pd.Categorical.from_codes(codes, categories=list(cats))
            elif _is_number_dtype(dtype):  # codes declared categorical (data.categorical)
                known = _in_vocabulary(values, len(cats))
                numbers = values.copy()
                numbers[known] = np.asarray(cats, dtype=np.float64)[values[known].astype(np.intp)]
                columns[name] = _numeric(numbers, dtype)
            else:
                columns[name] = pd.Series(_decoded(values, cats), dtype=dtype)
        return pd.DataFrame(columns)


def _whole(dtype: str) -> bool:
    """Whether a pandas dtype holds whole numbers (integers, nullable integers, booleans)."""
    return dtype.lower().startswith(("int", "uint", "bool"))


def _is_number_dtype(dtype: str) -> bool:
    return _whole(dtype) or dtype.lower().startswith("float")


def _in_vocabulary(codes: npt.NDArray[np.float64], size: int) -> npt.NDArray[np.bool_]:
    with np.errstate(invalid="ignore"):
        known: npt.NDArray[np.bool_] = (codes >= 0) & (codes < size) & (codes == np.floor(codes))
    return known


def _decoded(codes: npt.NDArray[np.float64], categories: tuple[Any, ...]) -> npt.NDArray[Any]:
    """Category codes as the column's values; codes outside the vocabulary as text."""
    known = _in_vocabulary(codes, len(categories))
    vocabulary = np.empty(len(categories), dtype=object)
    vocabulary[:] = categories
    out = np.empty(len(codes), dtype=object)
    out[known] = vocabulary[codes[known].astype(np.intp)]
    for i in np.flatnonzero(~known):
        code = float(codes[i])
        out[i] = math.nan if math.isnan(code) else f"{code:.15g}"
    return out


def _numeric(values: npt.NDArray[np.float64], dtype: str) -> Any:
    """A numeric column with its dtype, while it holds whole numbers and no missing cell."""
    if not _whole(dtype) or not np.all(np.isfinite(values)) or np.any(values != np.round(values)):
        return values
    if dtype.lower().startswith("bool"):
        return values.astype(bool) if np.isin(values, (0.0, 1.0)).all() else values
    return values.astype(dtype.lower())


def encode_frame(
    frame: Any,
    columns: Sequence[str],
    categorical: Sequence[str],
    where: str,
    row: Callable[[int], str] = "row {}".format,
) -> tuple[npt.NDArray[np.float64], TableSchema]:
    """A float64 array of `columns` of `frame` and their schema.

    `row` describes a row position in messages ("line 3" for a CSV file).

    Numeric and boolean columns are kept as numbers; text, pandas `category` columns and the
    columns named in `categorical` become category codes (categories in the column's own
    order for `category` columns, else sorted).

    Raises:
        DataError: a column of mixed types, or a text column that holds mostly numbers (a
            numeric column with a stray text cell), naming the column and a cell.
    """
    import pandas as pd

    encoded = np.empty((len(frame), len(columns)), dtype=np.float64)
    dtypes: list[str] = []
    vocabularies: list[tuple[Any, ...] | None] = []
    for j, name in enumerate(columns):
        values = frame[name]
        is_category = isinstance(values.dtype, pd.CategoricalDtype)
        numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_complex_dtype(
            values
        )
        if name not in categorical and numeric and not is_category:
            encoded[:, j] = values.to_numpy(dtype=np.float64, na_value=np.nan)
            dtypes.append(str(values.dtype))
            vocabularies.append(None)
            continue
        if is_category:
            cats = tuple(values.cat.categories.tolist())
            codes = values.cat.codes.to_numpy().astype(np.float64)
            dtype = "category"
        else:
            if name not in categorical:
                _check_categories(values, name, where, row)
            cats = tuple(sorted(set(values.dropna().tolist())))
            index = {v: float(i) for i, v in enumerate(cats)}
            codes = np.array([index.get(v, math.nan) for v in values.tolist()], dtype=np.float64)
            codes[values.isna().to_numpy()] = math.nan
            dtype = str(values.dtype)
        encoded[:, j] = np.where(codes < 0, math.nan, codes)
        dtypes.append(dtype)
        vocabularies.append(cats)
    return encoded, TableSchema(tuple(columns), tuple(dtypes), tuple(vocabularies))


def _check_categories(values: Any, name: str, where: str, row: Callable[[int], str]) -> None:
    """Refuse a column read as categories that holds mixed types, or mostly numbers."""
    import pandas as pd

    present = values.notna().to_numpy()
    kinds = [type(v) for v in values.tolist()]
    counted = Counter(k for k, keep in zip(kinds, present, strict=True) if keep)
    if len(counted) > 1:
        usual = counted.most_common(1)[0][0]
        odd = present & np.array([k is not usual for k in kinds])
        found = ", ".join(sorted(k.__name__ for k in counted))
        raise DataError(
            f"{where}: column {name!r} mixes values of types {found} (mostly {usual.__name__}; "
            f"{_cells(values, odd, row)}); give it one type (text for categories, numbers "
            "otherwise)."
        )
    if set(counted) != {str}:
        return
    numbers = pd.to_numeric(values, errors="coerce").astype(np.float64)
    parsed = np.isfinite(numbers.to_numpy())
    text = ~parsed & present
    if text.any() and parsed.sum() >= text.sum():  # numbers with a few stray text cells
        raise DataError(
            f"{where}: column {name!r} holds numbers and {int(text.sum())} text cell(s) "
            f"({_cells(values, text, row)}); correct those cells, or leave them empty if "
            "missing, so that it reads as numbers, or list it in data.categorical if its "
            "values are categories."
        )


def _cells(values: Any, where: npt.NDArray[np.bool_], row: Callable[[int], str]) -> str:
    """The first three cells of `values` at `where`, as "line 3: 'x', ..." ("and N more")."""
    positions = np.flatnonzero(where)
    shown = ", ".join(f"{row(int(i))}: {values.iloc[int(i)]!r}" for i in positions[:3])
    more = f" and {positions.size - 3} more" if positions.size > 3 else ""
    return shown + more


class TableInputs:
    """A model that takes a table's rows as a DataFrame of its original columns.

    The engine perturbs encoded tables (category codes); this adapter decodes each batch with
    the table's schema before the model sees it (see the module docstring). Everything else
    (task, classes, fingerprint, ...) is the wrapped model's.

    Args:
        model: the model adapter.
        schema: the table's schema.
    """

    def __init__(self, model: ModelAdapter, schema: TableSchema) -> None:
        self.model = model
        self.schema = schema

    def __getattr__(self, name: str) -> Any:
        if name in ("model", "schema"):  # not set yet (unpickling)
            raise AttributeError(name)
        return getattr(self.model, name)

    def predict(self, x: Any, context: SampleContext | None = None) -> Predictions:
        """Predict a batch of encoded rows, given to the model as a DataFrame."""
        frame = self.schema.to_frame(np.asarray(x))
        if context is None:
            return self.model.predict(frame)
        return self.model.predict(frame, context=context)  # type: ignore[call-arg]

    def fingerprint(self) -> str:
        """The wrapped model's fingerprint (the schema is part of the data's)."""
        return self.model.fingerprint()

    def close(self) -> None:
        """Close the wrapped model."""
        self.model.close()


def table_inputs(model: ModelAdapter, dataset: Any) -> ModelAdapter:
    """`model` as it must meet `dataset`: wrapped in `TableInputs` for tables with categories."""
    schema: TableSchema | None = getattr(dataset, "schema", None)
    if schema is None or not schema.needs_frame or isinstance(model, TableInputs):
        return model
    return TableInputs(model, schema)
