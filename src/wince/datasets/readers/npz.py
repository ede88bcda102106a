"""Arrays saved with `numpy.savez`."""

from __future__ import annotations

import zipfile
import zlib
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
from wince.errors import DataError
from wince.perturbations.base import Modality

if TYPE_CHECKING:
    from wince.plan import DataSpec


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
    reject(spec, "npz", ["features"], "npz arrays have no column names.")
    target = existing(path, "npz", folder=False)
    inputs_key = option(spec, "inputs", inputs) or "x"
    label_key = option(spec, "label", label)
    id_key = option(spec, "id", id)
    n = check_limit(option(spec, "limit", limit))
    with _open_archive(target) as archive:
        keys = list(archive.files)
        x = _load(archive, target, inputs_key, "inputs")
        if label_key is None and "y" in keys:
            label_key = "y"
        labels = _load(archive, target, label_key, "label") if label_key is not None else None
        ids = _load(archive, target, id_key, "id") if id_key is not None else None
    if x.ndim == 0:
        raise DataError(f"{target}: inputs {inputs_key!r} is a single number, not a batch.")
    data: Any = x[:n]
    modality: Modality | None = None
    if x.dtype.kind in "US" and x.ndim == 1:
        data, modality = as_text_ids(data), Modality.TEXT
    return ArrayDataset(
        data,
        labels[:n] if labels is not None else None,
        ids=as_text_ids(ids[:n]) if ids is not None else None,
        modality=modality,
        name=str(target),
    )


def _open_archive(target: Path) -> np.lib.npyio.NpzFile:
    """The .npz archive at `target`, open (use it as a context manager to close it).

    Raises:
        DataError: not a readable archive, or a single array saved with `numpy.save`.
    """
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
    return archive


def _load(archive: np.lib.npyio.NpzFile, target: Path, key: str, field: str) -> npt.NDArray[Any]:
    """The array `key` of the archive; `field` is the plan option that named it.

    Raises:
        DataError: no such key (with the keys there are), an array of Python objects, or a
            damaged array.
    """
    keys = list(archive.files)
    if key not in keys:
        raise no_such(str(target), "key", key, keys, field)
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


def _damaged_npz(target: Path, key: str, error: Exception) -> DataError:
    return DataError(
        f"{target}: array {key!r} cannot be read, the archive is truncated or damaged "
        f"({type(error).__name__}: {error}); save the arrays again with numpy.savez."
    )
