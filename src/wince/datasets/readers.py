"""Dataset readers: npz archives, CSV/Parquet tables, image folders, text/JSONL, WAV folders.

Each `read_<kind>(path, spec)` turns one source of a plan's data section into a `Dataset`;
`wince.datasets.loading.load_dataset` calls it with the plan's `DataSpec`. From Python the
same functions take keywords instead of (or on top of) a spec; a keyword overrides the spec's
field of the same name::

    read_csv("cases.csv", label="diagnosis", id="case_id")
    read_csv("cases.csv", plan.data)

Every reader honours `limit` (the first N samples) and reads no more than it needs. Tables,
npz archives and text are read into memory (`ArrayDataset`); image and WAV folders are read
lazily, one batch of files at a time (`ImageFolderDataset`, `WavFolderDataset`), so memory is
bounded by the batch size. Options that do not apply to a kind of source (`features` for an
image folder) raise `PlanError` rather than being ignored.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import struct
import wave
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, ClassVar

import numpy as np
import numpy.typing as npt

from wince.datasets.base import ArrayDataset, Dataset
from wince.datasets.tables import encode_frame
from wince.errors import DataError, PlanError
from wince.perturbations.base import DataContext, Modality, stack_samples

if TYPE_CHECKING:
    from wince.plan import DataSpec

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
WAV_EXTENSIONS = (".wav",)
_GREY_MODES = frozenset({"1", "L", "LA"})
_CHUNK_BYTES = 1 << 20

# ---------------------------------------------------------------------------------------------
# Shared helpers


def _option(spec: DataSpec | None, field: str, given: Any) -> Any:
    """A keyword argument if given, else the spec's field of the same name, else None."""
    if given is not None:
        return given
    return getattr(spec, field) if spec is not None else None


def _reject(spec: DataSpec | None, kind: str, fields: Sequence[str], why: str) -> None:
    """Raise `PlanError` if the spec sets an option that does not apply to this source."""
    if spec is None:
        return
    for field in fields:
        if getattr(spec, field) is not None:
            raise PlanError(f"data.{field} does not apply to data.{kind}: {why} Remove it.")


def _existing(path: str | Path, kind: str, *, folder: bool) -> Path:
    """`path` as a Path, checked to exist and to be a file (or a folder)."""
    target = Path(path)
    if not target.exists():
        raise DataError(f"no such file: {target}; check data.{kind} in the plan.")
    if folder and not target.is_dir():
        raise DataError(f"{target} is a file; data.{kind} names a folder.")
    if not folder and target.is_dir():
        raise DataError(f"{target} is a folder; data.{kind} names a file.")
    return target


def _check_limit(limit: int | None) -> int | None:
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise PlanError(f"data.limit must be a whole number >= 1; got {limit!r}.")
    return limit


def _no_such(where: str, what: str, name: str, available: Sequence[str], field: str) -> DataError:
    """A DataError for a missing key or column, with the close match and what there is."""
    close = difflib.get_close_matches(name, list(available), n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    listed = ", ".join(repr(a) for a in available) or "none"
    return DataError(f"{where}: no {what} {name!r} (data.{field}); {what}s are {listed}.{hint}")


def _as_text_ids(values: Sequence[Any] | npt.NDArray[Any]) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values]


# ---------------------------------------------------------------------------------------------
# npz


def read_npz(
    path: str | Path,
    spec: DataSpec | None = None,
    *,
    inputs: str | None = None,
    label: str | None = None,
    id: str | None = None,
    limit: int | None = None,
) -> ArrayDataset:
    """Arrays saved with `numpy.savez`: inputs, and optionally labels and sample ids.

    The modality follows the inputs' shape: (n, h, w, c) images, (n, t, channels) time series,
    (n, features) tabular; a 1-D array of str is text.

    Args:
        path: the .npz file.
        spec: the plan's data section (`inputs`, `label`, `id`, `limit`).
        inputs: key of the inputs; default "x".
        label: key of the labels; default "y" if the archive has it, else no labels.
        id: key of the sample ids; default positions "0", "1", ...
        limit: keep the first N samples.

    Returns:
        An in-memory dataset named after the file.

    Raises:
        DataError: missing file or key, not an npz archive, arrays of Python objects, or
            ids/labels whose length differs from the inputs'.
        PlanError: `data.features` is set (npz columns have no names).

    Examples:
        >>> import pathlib, tempfile
        >>> import numpy as np
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     path = pathlib.Path(folder) / "data.npz"
        ...     np.savez(path, x=np.zeros((3, 2)), y=np.array([0, 1, 0]))
        ...     data = read_npz(path)
        >>> data.modality.value, data.labels.tolist(), data.ids
        ('tabular', [0, 1, 0], ['0', '1', '2'])
    """
    _reject(spec, "npz", ["features"], "npz arrays have no column names.")
    target = _existing(path, "npz", folder=False)
    inputs_key = _option(spec, "inputs", inputs) or "x"
    label_key = _option(spec, "label", label)
    id_key = _option(spec, "id", id)
    n = _check_limit(_option(spec, "limit", limit))
    try:
        with target.open("rb") as handle:
            zipped = handle.read(4) == b"PK\x03\x04"
        if zipped and not zipfile.is_zipfile(target):
            # (checked first: numpy leaves the file open when the archive is damaged)
            raise zipfile.BadZipFile("a damaged zip archive")
        archive = np.load(target, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise DataError(
            f"{target}: not a readable .npz archive ({error}); save arrays with numpy.savez."
        ) from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DataError(
            f"{target}: holds a single array, not an .npz archive; save it with "
            "numpy.savez(path, x=inputs, y=labels)."
        )
    with archive:
        keys = list(archive.files)

        def load(key: str, field: str) -> npt.NDArray[Any]:
            if key not in keys:
                raise _no_such(str(target), "key", key, keys, field)
            try:
                return np.asarray(archive[key])
            except ValueError as error:
                if "pickle" not in str(error):
                    raise _damaged_npz(target, key, error) from None
                raise DataError(
                    f"{target}: array {key!r} holds Python objects, which are not loaded "
                    "(unpickling runs code); save numbers or str instead."
                ) from None
            except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as error:
                raise _damaged_npz(target, key, error) from None

        x = load(inputs_key, "inputs")
        if label_key is None and "y" in keys:
            label_key = "y"
        labels = load(label_key, "label") if label_key is not None else None
        ids = load(id_key, "id") if id_key is not None else None
    if x.ndim == 0:
        raise DataError(f"{target}: inputs {inputs_key!r} is a single number, not a batch.")
    data: Any = x[:n]
    modality: Modality | None = None
    if x.dtype.kind in "US" and x.ndim == 1:
        data, modality = _as_text_ids(data), Modality.TEXT
    return ArrayDataset(
        data,
        labels[:n] if labels is not None else None,
        ids=_as_text_ids(ids[:n]) if ids is not None else None,
        modality=modality,
        name=str(target),
    )


def _damaged_npz(target: Path, key: str, error: Exception) -> DataError:
    return DataError(
        f"{target}: array {key!r} cannot be read, the archive is truncated or damaged "
        f"({type(error).__name__}: {error}); save the arrays again with numpy.savez."
    )


# ---------------------------------------------------------------------------------------------
# CSV and Parquet


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

    _reject(spec, "csv", ["inputs"], "a table's inputs are its feature columns (data.features).")
    target = _existing(path, "csv", folder=False)
    id_column = _option(spec, "id", id)
    n = _check_limit(_option(spec, "limit", limit))
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
        label=_option(spec, "label", label),
        id_column=id_column,
        features=_option(spec, "features", features),
        categorical=_option(spec, "categorical", categorical),
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

    _reject(spec, "parquet", ["inputs"], "a table's inputs are its feature columns.")
    target = _existing(path, "parquet", folder=False)
    n = _check_limit(_option(spec, "limit", limit))
    try:
        frame = pd.read_parquet(target)
    except (pa.ArrowException, OSError, ValueError) as error:
        raise DataError(f"{target}: not a readable Parquet file ({error}).") from None
    return _table_dataset(
        frame.iloc[:n].reset_index(drop=True) if n is not None else frame.reset_index(drop=True),
        str(target),
        label=_option(spec, "label", label),
        id_column=_option(spec, "id", id),
        features=_option(spec, "features", features),
        categorical=_option(spec, "categorical", categorical),
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
    import pandas as pd

    columns = [str(c) for c in frame.columns]
    frame.columns = columns

    def row(position: int) -> str:
        return f"line {position + first_line}" if first_line is not None else f"row {position}"

    def column(name: str, field: str) -> Any:
        if name not in columns:
            raise _no_such(where, "column", name, columns, field)
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
        reserved = {label, id_column}
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
        ids=_as_text_ids(ids.tolist()) if ids is not None else None,
        modality=Modality.TABULAR,
        feature_names=chosen,
        column_kinds=schema.kinds,
        schema=schema if schema.needs_frame else None,
        metadata=frame[others] if others else None,
        name=where,
    )


# ---------------------------------------------------------------------------------------------
# Text and JSONL


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """(1-based line number, line) of each non-blank line of a UTF-8 file, without the EOL."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        bad_line = raw.count(b"\n", 0, error.start) + 1
        raise DataError(
            f"{path} line {bad_line}: not valid UTF-8 ({error.reason}); save the file as UTF-8."
        ) from None
    for number, line in enumerate(text.split("\n"), start=1):
        if line.strip():
            yield number, line.removesuffix("\r")


def read_text(
    path: str | Path, spec: DataSpec | None = None, *, limit: int | None = None
) -> ArrayDataset:
    r"""A UTF-8 text file with one sample per line; blank lines are skipped.

    Lines are kept as written except for the line ending. A text file has no labels: use
    JSONL for labelled text.

    Args:
        path: the text file.
        spec: the plan's data section (`limit`).
        limit: keep the first N samples.

    Returns:
        An in-memory text dataset whose ids are the 1-based line numbers in the file.

    Raises:
        DataError: missing file, invalid UTF-8 (with the line) or no non-blank line.
        PlanError: `data.label`, `data.id`, `data.inputs` or `data.features` is set.

    Examples:
        >>> import pathlib, tempfile
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     path = pathlib.Path(folder) / "reviews.txt"
        ...     _ = path.write_text("good film\n\nbad plot\n")
        ...     data = read_text(path)
        >>> data.x, data.ids
        (['good film', 'bad plot'], ['1', '3'])
    """
    _reject(
        spec,
        "text",
        ["label", "id", "inputs", "features"],
        "a text file holds one sample per line and nothing else; use data.jsonl for labels.",
    )
    target = _existing(path, "text", folder=False)
    n = _check_limit(_option(spec, "limit", limit))
    ids: list[str] = []
    texts: list[str] = []
    for number, line in _lines(target):
        if n is not None and len(texts) == n:
            break
        ids.append(str(number))
        texts.append(line)
    if not texts:
        raise DataError(f"{target}: no text; put one sample per line.")
    return ArrayDataset(texts, ids=ids, modality=Modality.TEXT, name=str(target))


def read_jsonl(
    path: str | Path,
    spec: DataSpec | None = None,
    *,
    inputs: str | None = None,
    label: str | None = None,
    id: str | None = None,
    limit: int | None = None,
) -> ArrayDataset:
    r"""JSON Lines: one JSON object per line holding a text, and optionally a label and an id.

    Args:
        path: the .jsonl file (UTF-8); blank lines are skipped.
        spec: the plan's data section (`inputs`, `label`, `id`, `limit`).
        inputs: field holding the text; default "text".
        label: field holding the label; default "label" if any record has it, else no labels.
        id: field holding the sample id; default the 1-based line number.
        limit: keep the first N samples.

    Returns:
        An in-memory text dataset.

    Raises:
        DataError: missing file, a line that is not a JSON object, a record without the text,
            label or id field (or with a null label), a text that is not a string, labels of
            mixed types, or duplicate ids.
        PlanError: `data.features` is set.

    Examples:
        >>> import pathlib, tempfile
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     path = pathlib.Path(folder) / "reviews.jsonl"
        ...     _ = path.write_text('{"text": "good", "label": 1}\n{"text": "bad", "label": 0}\n')
        ...     data = read_jsonl(path)
        >>> data.x, data.labels.tolist(), data.ids
        (['good', 'bad'], [1, 0], ['1', '2'])
    """
    _reject(spec, "jsonl", ["features"], "JSONL records hold text, not feature columns.")
    target = _existing(path, "jsonl", folder=False)
    text_field = _option(spec, "inputs", inputs) or "text"
    label_field = _option(spec, "label", label)
    id_field = _option(spec, "id", id)
    n = _check_limit(_option(spec, "limit", limit))
    records: list[tuple[int, dict[str, Any]]] = []
    for number, line in _lines(target):
        if n is not None and len(records) == n:
            break
        where = f"{target} line {number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise DataError(
                f"{where}: not valid JSON ({error.msg} at column {error.colno}); each line "
                'must be one JSON object, e.g. {"text": "...", "label": "..."}.'
            ) from None
        if not isinstance(record, dict):
            raise DataError(
                f"{where}: each line must be a JSON object; got {type(record).__name__}."
            )
        records.append((number, record))
    if not records:
        raise DataError(f"{target}: no records; put one JSON object per line.")
    if label_field is None and any("label" in record for _, record in records):
        label_field = "label"

    def field(number: int, record: dict[str, Any], name: str, option: str) -> Any:
        if name not in record or (option == "label" and record[name] is None):
            state = "has no" if name not in record else "has a null"
            raise DataError(
                f"{target} line {number}: the record {state} field {name!r} (data.{option}); "
                f"its fields are {', '.join(repr(k) for k in record) or 'none'}."
            )
        return record[name]

    texts, labels, ids = [], [], []
    for number, record in records:
        text = field(number, record, text_field, "inputs")
        if not isinstance(text, str):
            raise DataError(
                f"{target} line {number}: field {text_field!r} must be a string; got {text!r}."
            )
        texts.append(text)
        ids.append(str(field(number, record, id_field, "id")) if id_field else str(number))
        if label_field is not None:
            labels.append(field(number, record, label_field, "label"))
    if labels:
        _check_label_types(labels, [number for number, _ in records], target)
    return ArrayDataset(
        texts,
        labels if label_field is not None else None,
        ids=ids,
        modality=Modality.TEXT,
        name=str(target),
    )


def _check_label_types(labels: list[Any], lines: list[int], where: Path) -> None:
    """Labels must all be text or all numbers; numpy would silently turn 1 into '1'."""
    is_text = [isinstance(v, str) for v in labels]
    if any(is_text) and not all(is_text):
        odd = is_text.index(not is_text[0])
        raise DataError(
            f"{where} line {lines[odd]}: label {labels[odd]!r} is of a different type than "
            f"{labels[0]!r} on line {lines[0]}; make all labels text or all numbers."
        )
    for value, line in zip(labels, lines, strict=True):
        if not isinstance(value, str | int | float):
            raise DataError(
                f"{where} line {line}: a label must be a string or a number; got {value!r}."
            )


# ---------------------------------------------------------------------------------------------
# Folders of files: images and WAV


def _scan_folder(
    folder: Path, extensions: Sequence[str], noun: str
) -> tuple[list[Path], list[str] | None]:
    """Files of a folder and their labels (subfolder names), in a stable order.

    Files directly in `folder` are unlabelled; files anywhere under an immediate subfolder are
    labelled with its name. Hidden files and folders (".name") and other extensions are
    skipped. Order: labels sorted, then relative paths sorted.
    """

    def wanted(path: Path) -> bool:
        parts = path.relative_to(folder).parts
        return (
            path.suffix.lower() in extensions
            and not any(p.startswith(".") for p in parts)
            and path.is_file()
        )

    loose = sorted((p for p in folder.iterdir() if wanted(p)), key=lambda p: p.name)
    classes = sorted(
        (d for d in folder.iterdir() if d.is_dir() and not d.name.startswith(".")),
        key=lambda d: d.name,
    )
    files: list[Path] = []
    labels: list[str] = []
    for directory in classes:
        inside = sorted(
            (p for p in directory.rglob("*") if wanted(p)),
            key=lambda p: p.relative_to(folder).as_posix(),
        )
        files += inside
        labels += [directory.name] * len(inside)
    kinds = "/".join(extensions)
    if loose and files:
        raise DataError(
            f"{folder}: holds {noun} both directly ({loose[0].name}) and in subfolders "
            f"({files[0].relative_to(folder).as_posix()}). Put every file in a class "
            "subfolder (labelled data), or all directly in the folder (unlabelled data)."
        )
    if loose:
        return loose, None
    if not files:
        raise DataError(
            f"{folder}: no {noun} ({kinds}) in the folder or its subfolders; check the path."
        )
    return files, labels


class _FileFolderDataset(Dataset):
    """A folder of files, one sample per file, read lazily one batch at a time."""

    kind: ClassVar[str]
    extensions: ClassVar[tuple[str, ...]]
    noun: ClassVar[str]

    def __init__(self, folder: str | Path, *, limit: int | None = None) -> None:
        self.folder = _existing(folder, self.kind, folder=True)
        self.name = str(self.folder)
        files, labels = _scan_folder(self.folder, self.extensions, self.noun)
        n = _check_limit(limit)
        self.files: tuple[Path, ...] = tuple(files[:n])
        self.ids = [f.relative_to(self.folder).as_posix() for f in self.files]
        self.labels = np.array(labels[:n]) if labels is not None else None
        self._fingerprint: str | None = None

    def _read(self, files: Sequence[Path]) -> Any:
        raise NotImplementedError

    def _variant(self) -> bytes:
        """How the files are read, when that changes the inputs; b"" for the default."""
        return b""

    def batch(self, start: int, stop: int) -> Any:
        """Inputs of samples [start, stop), read from their files now."""
        return self._read(self.files[start:stop])

    def take(self, indices: Sequence[int]) -> Any:
        """Inputs of the samples at `indices` (any order), read from their files now."""
        return self._read([self.files[int(i)] for i in indices])

    def fingerprint(self) -> str:
        """SHA-256 of each file's bytes, relative path and label (computed once, streamed)."""
        if self._fingerprint is None:
            digest = hashlib.sha256()
            digest.update(f"{self.kind}\0{self.labels is not None}\0".encode())
            labels = self.labels.tolist() if self.labels is not None else [""] * len(self)
            digest.update(self._variant())
            for path, sample_id, label in zip(self.files, self.ids, labels, strict=True):
                digest.update(f"{sample_id}\0{label}\0".encode())
                size = 0
                with path.open("rb") as handle:
                    while chunk := handle.read(_CHUNK_BYTES):
                        digest.update(chunk)
                        size += len(chunk)
                digest.update(f"\0{size}\0".encode())
            self._fingerprint = digest.hexdigest()[:16]
        return self._fingerprint


class ImageFolderDataset(_FileFolderDataset):
    """A folder of images (.png .jpg .jpeg .bmp .webp), read lazily one batch at a time.

    Labels are the names of the immediate subfolders (`folder/cat/1.png` is a "cat"); images
    directly in the folder are unlabelled. Ids are paths relative to the folder ("cat/1.png").
    Batches are uint8 (n, height, width, channels): 1 channel (L) if every image is greyscale,
    else 3 (RGB; an alpha channel is dropped, palettes are expanded). Pixels are decoded as
    stored (EXIF rotation is not applied). Images are never resized: a folder of images of
    several sizes gives batches of several sizes (a `RaggedBatch` when a batch mixes them),
    which the engine evaluates one size at a time. Construction reads only the file headers;
    `batch` decodes only the files it returns.

    Args:
        folder: the image folder.
        limit: keep the first N images (in the order above).

    Raises:
        DataError: missing folder, no images, images both loose and in subfolders, an
            unreadable image, or 16-bit or float images.

    Examples:
        >>> import pathlib, tempfile
        >>> from PIL import Image
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     for name in ("cat/a.png", "dog/b.png"):
        ...         (pathlib.Path(folder) / name).parent.mkdir()
        ...         Image.new("RGB", (4, 3), "red").save(pathlib.Path(folder) / name)
        ...     data = ImageFolderDataset(folder)
        ...     x = data.batch(0, 2)
        >>> x.shape, x.dtype.name, data.ids, data.labels.tolist()
        ((2, 3, 4, 3), 'uint8', ['cat/a.png', 'dog/b.png'], ['cat', 'dog'])
    """

    kind = "images"
    extensions = IMAGE_EXTENSIONS
    noun = "images"
    modality = Modality.IMAGE

    def __init__(self, folder: str | Path, *, limit: int | None = None) -> None:
        super().__init__(folder, limit=limit)
        self._sizes: dict[Path, tuple[int, int]] = {}
        grey = True
        for path in self.files:
            with self._open(path) as image:
                if image.mode in ("I", "F") or image.mode.startswith("I;"):
                    raise DataError(
                        f"{path}: {image.mode} images (16-bit or floating-point pixels) are not "
                        "supported; save them with 8 bits per channel."
                    )
                self._sizes[path] = image.size
                grey = grey and image.mode in _GREY_MODES
        self.mode = "L" if grey else "RGB"
        self.channels = 1 if grey else 3

    def _open(self, path: Path) -> Any:
        from PIL import Image, UnidentifiedImageError

        try:
            return Image.open(path)
        except (UnidentifiedImageError, OSError) as error:
            raise DataError(f"{path}: not a readable image ({error}).") from None
        except Image.DecompressionBombError as error:
            raise DataError(
                f"{path}: too many pixels to decode safely, a guard against decompression "
                f"bombs (small files that decode to gigabytes): {str(error).rstrip('.')}. "
                "Downscale the image."
            ) from None

    def _read(self, files: Sequence[Path]) -> Any:
        """The images as one uint8 batch, or a `RaggedBatch` when their sizes differ."""
        sizes = set(self._sizes.values())
        if not files and len(sizes) == 1:
            ((width, height),) = sizes
            return np.empty((0, height, width, self.channels), dtype=np.uint8)
        images = []
        for path in files:
            with self._open(path) as image:
                try:
                    pixels = np.asarray(image.convert(self.mode))
                except (OSError, ValueError) as error:
                    raise DataError(f"{path}: cannot decode the image ({error}).") from None
            pixels = pixels.reshape(pixels.shape[0], pixels.shape[1], -1)
            width, height = self._sizes[path]
            if pixels.shape[:2] != (height, width):
                raise DataError(
                    f"{path}: is now {pixels.shape[1]}x{pixels.shape[0]} px; it was "
                    f"{width}x{height} px when the folder was read. Did it change during the run?"
                )
            images.append(pixels)
        return stack_samples(images)

    def context(self) -> DataContext:
        """Image data need no dataset-level facts."""
        return DataContext(Modality.IMAGE)


@dataclass(frozen=True)
class _WavInfo:
    """What a WAV header says: sample format, channels, rate, frames and where the data are."""

    float_samples: bool
    width_bytes: int
    channels: int
    rate_hz: int
    frames: int
    data_offset: int | None  # None: read through the `wave` module


_WAVE_FORMAT_PCM = 1
_WAVE_FORMAT_IEEE_FLOAT = 3
_WAVE_FORMAT_EXTENSIBLE = 0xFFFE
_FFMPEG_HINT = "convert it to 16-bit PCM, e.g. ffmpeg -i in.wav -c:a pcm_s16le out.wav"


def _wav_info(path: Path, handle: BinaryIO) -> _WavInfo:
    """Read the header of an open WAV file.

    The standard `wave` module reads PCM files; whatever it rejects (IEEE float, and
    WAVE_FORMAT_EXTENSIBLE before Python 3.12) is read by walking the RIFF chunks here, which
    also explains why a damaged or unsupported file cannot be read.
    """
    try:
        with wave.open(handle, "rb") as reader:
            return _WavInfo(
                False,
                reader.getsampwidth(),
                reader.getnchannels(),
                reader.getframerate(),
                reader.getnframes(),
                None,
            )
    except (wave.Error, EOFError):
        pass  # not plain PCM, or damaged: the RIFF walk below says which
    handle.seek(0)
    return _riff_info(path, handle)


def _riff_info(path: Path, handle: BinaryIO) -> _WavInfo:
    head = handle.read(12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:] != b"WAVE":
        raise DataError(f"{path}: not a WAV file (no RIFF/WAVE header).")
    handle.seek(0, 2)
    file_size = handle.tell()
    handle.seek(12)
    fmt: tuple[int, int, int, int, int] | None = None
    while len(chunk := handle.read(8)) == 8:
        chunk_id, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
        start = handle.tell()
        if chunk_id == b"fmt ":
            body = handle.read(size)
            if len(body) < 16:
                break
            tag, channels, rate, _, block, bits = struct.unpack("<HHIIHH", body[:16])
            if tag == _WAVE_FORMAT_EXTENSIBLE and len(body) >= 26:
                tag = struct.unpack("<H", body[24:26])[0]  # first field of the SubFormat GUID
            fmt = (tag, channels, rate, block, bits)
        elif chunk_id == b"data":
            if fmt is None:
                break
            tag, channels, rate, block, bits = fmt
            if tag not in (_WAVE_FORMAT_PCM, _WAVE_FORMAT_IEEE_FLOAT) or channels < 1 or rate < 1:
                raise DataError(
                    f"{path}: WAV sample format {tag} is not supported; {_FFMPEG_HINT}."
                )
            width = bits // 8
            supported = (4, 8) if tag == _WAVE_FORMAT_IEEE_FLOAT else (1, 2, 3, 4)
            if width not in supported or bits % 8 or block != width * channels:
                raise DataError(
                    f"{path}: {bits}-bit {'float' if tag == 3 else 'PCM'} WAV is not "
                    f"supported; {_FFMPEG_HINT}."
                )
            # Streaming writers leave the size at 0 or 0xFFFFFFFF; trust the file instead.
            available = file_size - start
            size = available if size in (0, 0xFFFFFFFF) else min(size, available)
            return _WavInfo(
                tag == _WAVE_FORMAT_IEEE_FLOAT, width, channels, rate, size // block, start
            )
        handle.seek(start + size + (size & 1))
    raise DataError(f"{path}: not a readable WAV file (no fmt or data chunk).")


def _decode(raw: bytes, info: _WavInfo) -> npt.NDArray[np.float64]:
    """Frames as float64 in [-1, 1], averaged over channels (mono)."""
    width = info.width_bytes
    raw = raw[: len(raw) - len(raw) % (width * info.channels)]
    if info.float_samples:
        samples = np.frombuffer(raw, dtype=f"<f{width}").astype(np.float64)
    elif width == 1:  # 8-bit WAV is unsigned, centred on 128
        samples = (np.frombuffer(raw, dtype=np.uint8).astype(np.float64) - 128.0) / 128.0
    elif width == 3:
        triples = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3)
        padded = np.zeros((len(triples), 4), dtype=np.uint8)
        padded[:, 1:] = triples  # little endian: the low byte stays 0, sign lands on top
        samples = padded.view("<i4").ravel().astype(np.float64) / 2.0**31
    else:
        samples = np.frombuffer(raw, dtype=f"<i{width}").astype(np.float64) / 2.0 ** (8 * width - 1)
    mono: npt.NDArray[np.float64] = samples.reshape(-1, info.channels).mean(axis=1)
    return mono


class WavFolderDataset(_FileFolderDataset):
    r"""A folder of WAV files as mono audio, read lazily one batch at a time.

    Labels and ids as for `ImageFolderDataset` (subfolder names; relative paths). Reads 8-bit
    unsigned, 16/24/32-bit PCM and 32/64-bit float WAV. Channels are averaged to mono; samples
    are float32 in [-1, 1]. Every clip keeps its own length: a batch of clips of several
    lengths is a `RaggedBatch`, which the engine evaluates one length at a time, so a clip is
    perturbed and measured over its own samples (padding would add silence: an SNR set over
    the padded clip is higher on the speech). With `pad`, clips shorter than the longest clip
    of the dataset are zero-padded at the end instead, for a model that needs one length. All
    files must share one sample rate. Construction reads only the headers.

    Args:
        folder: the WAV folder.
        limit: keep the first N files.
        pad: zero-pad every clip to the longest (plan: `data.pad: true`).

    Raises:
        DataError: missing folder, no WAV files, an unreadable or unsupported file, sample
            rates that differ, or float samples outside [-1, 1].

    Examples:
        >>> import pathlib, tempfile, wave
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     with wave.open(str(pathlib.Path(folder) / "a.wav"), "wb") as out:
        ...         out.setnchannels(1); out.setsampwidth(2); out.setframerate(8000)
        ...         out.writeframes(b"\x00\x40\x00\xc0")  # 0.5, -0.5
        ...     data = WavFolderDataset(folder)
        ...     x = data.batch(0, 1)
        >>> x.tolist(), data.sample_rate_hz, data.labels is None
        ([[0.5, -0.5]], 8000, True)
    """

    kind = "wav"
    extensions = WAV_EXTENSIONS
    noun = "WAV files"
    modality = Modality.AUDIO

    def __init__(self, folder: str | Path, *, limit: int | None = None, pad: bool = False) -> None:
        super().__init__(folder, limit=limit)
        self.pad = pad
        rates: dict[int, Path] = {}
        self._infos: dict[Path, _WavInfo] = {}
        for path in self.files:
            with path.open("rb") as handle:
                info = _wav_info(path, handle)
            if info.frames == 0:
                raise DataError(
                    f"{path}: the clip holds no samples (0 frames); remove it from the folder "
                    "or replace it with the recording."
                )
            self._infos[path] = info
            rates.setdefault(info.rate_hz, path)
            if len(rates) > 1:
                (first, first_path), (other, other_path) = rates.items()
                raise DataError(
                    f"{self.folder}: WAV files must share one sample rate; "
                    f"{first_path.relative_to(self.folder).as_posix()} is {first} Hz but "
                    f"{other_path.relative_to(self.folder).as_posix()} is {other} Hz. Resample "
                    "them to the rate the model expects."
                )
        (self.sample_rate_hz,) = rates
        self.samples = max(info.frames for info in self._infos.values())

    def _variant(self) -> bytes:
        # Unpadded clips of several lengths are other inputs than the padded ones that this
        # folder gave before clips kept their lengths (and still gives with `pad`).
        lengths = {self._infos[path].frames for path in self.files}
        return b"own lengths\0" if not self.pad and len(lengths) > 1 else b""

    def _read(self, files: Sequence[Path]) -> Any:
        """The clips as one float32 batch, or a `RaggedBatch` when their lengths differ."""
        lengths = {info.frames for info in self._infos.values()}
        if not self.pad and (files or len(lengths) > 1):
            return stack_samples([self._clip(path) for path in files])
        return self._padded(files)  # (an empty batch of one length keeps that length)

    def _padded(self, files: Sequence[Path]) -> npt.NDArray[np.float32]:
        x = np.zeros((len(files), self.samples), dtype=np.float32)
        for i, path in enumerate(files):
            clip = self._clip(path)[: self.samples]
            x[i, : len(clip)] = clip
        return x

    def _clip(self, path: Path) -> npt.NDArray[np.float32]:
        """One file's samples, mono float32."""
        info = self._infos[path]
        with path.open("rb") as handle:
            if info.data_offset is None:
                with wave.open(handle, "rb") as reader:
                    raw = reader.readframes(info.frames)
            else:
                handle.seek(info.data_offset)
                raw = handle.read(info.frames * info.width_bytes * info.channels)
        clip = _decode(raw, info)
        if info.float_samples and not (
            np.all(np.isfinite(clip)) and np.max(np.abs(clip), initial=0.0) <= 1.0
        ):
            raise DataError(
                f"{path}: float samples must be finite and in [-1, 1]; got a peak of "
                f"{np.max(np.abs(clip)):g}. Normalise the file (divide by its peak)."
            )
        return clip.astype(np.float32)

    def context(self) -> DataContext:
        """The sample rate, for perturbations defined in seconds or hertz."""
        return DataContext(Modality.AUDIO, sample_rate_hz=self.sample_rate_hz)


def read_images(
    path: str | Path, spec: DataSpec | None = None, *, limit: int | None = None
) -> ImageFolderDataset:
    """A folder of images, labelled by subfolder, read lazily (see `ImageFolderDataset`).

    Args:
        path: the image folder.
        spec: the plan's data section (`limit`).
        limit: keep the first N images.

    Returns:
        A lazy image dataset.

    Raises:
        DataError: see `ImageFolderDataset`.
        PlanError: `data.label`, `data.id`, `data.inputs` or `data.features` is set.
    """
    _reject(
        spec,
        "images",
        ["label", "id", "inputs", "features"],
        "labels are the subfolder names and ids the relative file paths.",
    )
    return ImageFolderDataset(path, limit=_option(spec, "limit", limit))


def read_wav(
    path: str | Path,
    spec: DataSpec | None = None,
    *,
    limit: int | None = None,
    pad: bool | None = None,
) -> WavFolderDataset:
    """A folder of WAV files, labelled by subfolder, read lazily (see `WavFolderDataset`).

    Args:
        path: the WAV folder.
        spec: the plan's data section (`limit`, `pad`).
        limit: keep the first N files.
        pad: zero-pad every clip to the longest clip; default: each keeps its own length.

    Returns:
        A lazy mono float32 audio dataset with its sample rate.

    Raises:
        DataError: see `WavFolderDataset`.
        PlanError: `data.label`, `data.id`, `data.inputs` or `data.features` is set.
    """
    _reject(
        spec,
        "wav",
        ["label", "id", "inputs", "features"],
        "labels are the subfolder names and ids the relative file paths.",
    )
    return WavFolderDataset(
        path, limit=_option(spec, "limit", limit), pad=bool(_option(spec, "pad", pad))
    )
