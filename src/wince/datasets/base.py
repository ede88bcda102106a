"""Datasets: batches with stable sample ids, optional labels and a content fingerprint."""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from wince.datasets.tables import TableSchema
from wince.errors import DataError
from wince.models.base import SampleContext
from wince.perturbations.base import DataContext, Modality, RaggedBatch, stack_samples


class Dataset:
    """Samples addressed by position, each with a stable id and an optional label.

    Subclasses implement `batch`; the engine asks for consecutive ranges, so a dataset that
    reads from disk only ever holds one batch in memory.

    Attributes:
        modality: what the samples are.
        ids: stable sample ids (str), unique; they seed the per-sample random streams.
        labels: true labels in sample order (class names or numbers), or None.
        metadata: facts about each sample that are not model inputs (a pandas DataFrame, one
            row per sample in sample order), given to models that take a `SampleContext`;
            None when there are none.
    """

    modality: Modality
    ids: list[str]
    labels: npt.NDArray[Any] | None
    metadata: Any = None

    def __len__(self) -> int:
        return len(self.ids)

    def batch(self, start: int, stop: int) -> Any:
        """Inputs of samples [start, stop) as a batch of this modality."""
        raise NotImplementedError

    def take(self, indices: Sequence[int]) -> Any:
        """Inputs of the samples at `indices` (any order) as one batch.

        Samples of different shapes come as a `RaggedBatch`.
        """
        parts = [self.batch(i, i + 1) for i in indices]
        if self.modality == Modality.TEXT:
            return [text for part in parts for text in part]
        if not parts:
            return self.batch(0, 0)
        if len({np.shape(part[0]) for part in parts}) > 1:
            return stack_samples([part[0] for part in parts])
        return np.concatenate(parts)

    def context(self) -> DataContext:
        """Dataset-level facts perturbations may need (column sds, sample rate)."""
        return DataContext(self.modality)

    def sample_context(self, indices: Sequence[int] | npt.NDArray[np.intp]) -> SampleContext:
        """Ids and metadata of the samples at `indices`, for models that take them."""
        positions = np.asarray(indices, dtype=np.intp)
        metadata = None
        if self.metadata is not None:
            metadata = self.metadata.iloc[positions].reset_index(drop=True)
        return SampleContext(tuple(self.ids[i] for i in positions), metadata)

    def fingerprint(self) -> str:
        """Content hash of inputs, ids and labels (first 16 hex digits of SHA-256)."""
        raise NotImplementedError


def _check_ids(ids: Sequence[Any], n: int, where: str) -> list[str]:
    text_ids = [str(i) for i in ids]
    if len(text_ids) != n:
        raise DataError(f"{where}: {len(text_ids)} ids for {n} samples; give one id per sample.")
    if len(set(text_ids)) != n:
        seen: set[str] = set()
        duplicate = next(i for i in text_ids if i in seen or seen.add(i))  # type: ignore[func-returns-value]
        raise DataError(f"{where}: sample ids must be unique; {duplicate!r} appears twice.")
    return text_ids


def _check_metadata(metadata: Any, n: int, where: str) -> Any:
    """Metadata as a DataFrame with one row per sample (positions as index), or None."""
    if metadata is None:
        return None
    import pandas as pd

    frame = pd.DataFrame(metadata).reset_index(drop=True)
    if len(frame) != n:
        raise DataError(f"{where}: metadata has {len(frame)} rows for {n} samples.")
    return frame


COLUMN_KINDS = ("float", "integer", "categorical")


def _check_kinds(
    kinds: Sequence[str] | None, x: Any, modality: Modality, where: str
) -> tuple[str, ...] | None:
    """Validated tabular column kinds (one per column) or None."""
    if kinds is None:
        return None
    if modality != Modality.TABULAR:
        raise DataError(f"{where}: column_kinds describe tabular columns; this is {modality} data.")
    found = tuple(kinds) if not isinstance(kinds, str) else (kinds,)
    width = np.shape(x)[1] if np.ndim(x) == 2 else 0
    bad = [k for k in found if k not in COLUMN_KINDS]
    if bad or len(found) != width:
        problem = f"unknown kind {bad[0]!r}" if bad else f"{len(found)} kinds"
        raise DataError(
            f"{where}: column_kinds must give one of {list(COLUMN_KINDS)} for each of the "
            f"{width} columns; got {problem}."
        )
    return found


def require_one_size(x: Any, *, where: str, which: str, purpose: str) -> None:
    """Refuse a batch of samples of several sizes for work that compares samples of one size.

    Args:
        x: the batch.
        where: the command, for the message ("monitor").
        which: which data ("reference", "live").
        purpose: what needs one size ("magnitude estimates compare").

    Raises:
        DataError: `x` is a `RaggedBatch`, naming how many sizes and how to fix it.
    """
    if isinstance(x, RaggedBatch):
        raise DataError(
            f"{where}: the {which} data hold samples of {len(set(x.shapes))} sizes; "
            f"{purpose} samples of one size (images of one size, clips of one length). "
            "Resize the images, or cut the clips to one length, first."
        )


def infer_modality(x: Any) -> Modality:
    """Guess the modality from the container shape.

    A list of str is text, 4-D arrays are images, 3-D time series, 2-D tabular; audio must be
    named explicitly.
    """
    if isinstance(x, list):
        return Modality.TEXT
    ndim = np.ndim(x)
    guess = {4: Modality.IMAGE, 3: Modality.TIMESERIES, 2: Modality.TABULAR}.get(ndim)
    if guess is None:
        raise DataError(
            f"cannot tell the modality of an array of shape {np.shape(x)}: images are "
            "(n, h, w, c), tabular (n, features), time series (n, t, channels); text is a list "
            "of str. Name it: modality='audio'."
        )
    return guess


def _is_sample_list(x: Any) -> bool:
    """True for a list or tuple of arrays (samples of possibly different shapes)."""
    return (
        isinstance(x, list | tuple)
        and len(x) > 0
        and all(isinstance(sample, np.ndarray) for sample in x)
    )


def _ragged_modality(samples: Sequence[npt.NDArray[Any]], name: str) -> Modality:
    """The modality of samples of different shapes: 3-D samples are images; else name it."""
    ndims = {sample.ndim for sample in samples}
    if ndims == {3}:
        return Modality.IMAGE
    shapes = ", ".join(str(shape) for shape in dict.fromkeys(s.shape for s in samples[:50]))
    raise DataError(
        f"{name}: cannot tell the modality of samples of shapes {shapes}: (h, w, c) arrays are "
        "images; name the others: modality='audio' for clips (samples,), modality='image' for "
        "grayscale images (h, w)."
    )


def ragged_samples(
    samples: Sequence[npt.NDArray[Any]], modality: Modality, name: str
) -> RaggedBatch:
    """Images of several sizes or clips of several lengths, checked and converted alike.

    Images are (h, w) grayscale or (h, w, c), converted as `image_array` converts a batch;
    audio clips are 1-D (samples,).

    Raises:
        DataError: another modality, another number of axes, an empty clip, non-numeric or
            mixed dtypes.
    """
    if modality not in (Modality.IMAGE, Modality.AUDIO):
        raise DataError(
            f"{name}: samples of different shapes are supported for images and audio; this is "
            f"{modality} data. Give one array (n, ...) of a single shape."
        )
    arrays = [np.asarray(sample) for sample in samples]
    for i, sample in enumerate(arrays):
        if sample.dtype.kind not in "fiub":
            raise DataError(f"{name}: sample {i} is not numeric (dtype {sample.dtype}).")
        if modality == Modality.AUDIO and sample.ndim != 1:
            raise DataError(
                f"{name}: audio clips are 1-D arrays (samples,); sample {i} has shape "
                f"{sample.shape}. Average the channels to mono: clip.mean(axis=1)."
            )
        if modality == Modality.AUDIO and sample.size == 0:
            raise DataError(f"{name}: audio clip {i} holds no samples; remove it.")
    if modality == Modality.IMAGE:
        arrays = [
            image_array(sample[None], f"{name}: sample {i}")[0] for i, sample in enumerate(arrays)
        ]
    return RaggedBatch(arrays)


def image_array(x: npt.NDArray[Any], name: str) -> npt.NDArray[Any]:
    """Images as wince's perturbations take them: (n, h, w, c), uint8 or float32 in [0, 1].

    (n, h, w) arrays are grayscale images (a channel axis is added); float64 (or float16)
    values in [0, 1] become float32; integer arrays of 0-255 levels become uint8.

    Raises:
        DataError: another shape, or values outside those ranges (with the conversion to use).
    """
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4:
        raise DataError(
            f"{name}: images are (n, height, width) grayscale or (n, height, width, channels); "
            f"got shape {x.shape}."
        )
    if x.dtype in (np.uint8, np.float32) or x.size == 0:
        return x
    low, high = float(np.min(x)), float(np.max(x))
    if x.dtype.kind == "f":
        if low >= 0.0 and high <= 1.0:
            return x.astype(np.float32)
        raise DataError(
            f"{name}: {x.dtype} images must hold values in [0, 1]; got [{low:g}, {high:g}]. "
            "For 0-255 levels pass (x / 255).astype(np.float32), or x.astype(np.uint8) if they "
            "are whole numbers."
        )
    if low >= 0 and high <= 255:
        return x.astype(np.uint8)
    raise DataError(
        f"{name}: integer images must hold 0-255 levels; got {x.dtype} values in "
        f"[{low:g}, {high:g}]. For 16-bit images pass (x / 65535).astype(np.float32)."
    )


class ArrayDataset(Dataset):
    """A dataset held in memory: an array, a list of str or of arrays, labels and ids.

    Args:
        x: inputs, batch-first; a list of str for text. Images of several sizes or audio clips
            of several lengths: a list of arrays, one per sample ((h, w, c) or (h, w) images,
            (samples,) clips), held as a `RaggedBatch` (the engine evaluates each size as a
            batch of its own; see `wince.perturbations.base.RaggedBatch`).
        labels: true labels, one per sample.
        ids: stable sample ids; default "0", "1", ... (positions).
        modality: default inferred from `x` ((n, h, w) arrays read as time series: pass
            "image" for grayscale images, see `image_array`).
        feature_names: tabular column names; time-series channel names.
        sample_rate_hz: audio sample rate.
        column_kinds: tabular column schema, one of "float", "integer" or "categorical" (category
            codes) per column; default every column "float" (or the kinds `schema` gives). See
            `wince.perturbations.tabular`.
        metadata: facts about each sample that are not inputs (a DataFrame or a mapping of
            column name to values, one row per sample), for models that take a
            `SampleContext`.
        schema: the names, dtypes and categories of a table read from a DataFrame, CSV or
            Parquet file (`wince.datasets.tables`); models then get the rows as a DataFrame
            of those columns when the table has categorical columns.
        name: where the data came from, for messages.

    Examples:
        >>> import numpy as np
        >>> data = ArrayDataset(np.zeros((3, 2)), labels=[0, 1, 0])
        >>> len(data), data.modality.value, data.ids
        (3, 'tabular', ['0', '1', '2'])
        >>> x, y = data
        >>> x.shape, y.tolist()
        ((3, 2), [0, 1, 0])
    """

    def __init__(
        self,
        x: Any,
        labels: Sequence[Any] | npt.NDArray[Any] | None = None,
        *,
        ids: Sequence[Any] | None = None,
        modality: Modality | str | None = None,
        feature_names: Sequence[str] | None = None,
        sample_rate_hz: int | None = None,
        column_kinds: Sequence[str] | None = None,
        metadata: Any = None,
        schema: TableSchema | None = None,
        name: str = "array data",
    ) -> None:
        self.name = name
        if isinstance(x, RaggedBatch):
            x = list(x)
        ragged = _is_sample_list(x) and len({np.shape(sample) for sample in x}) > 1
        if _is_sample_list(x) and not ragged:
            x = np.stack(x)  # one shape: an ordinary batch
        if modality is not None:
            self.modality = Modality(modality)
        else:
            self.modality = _ragged_modality(x, name) if ragged else infer_modality(x)
        if ragged:
            self.x: Any = ragged_samples(x, self.modality, name)
        elif self.modality == Modality.TEXT:
            if not isinstance(x, list | tuple) or not all(isinstance(s, str) for s in x):
                raise DataError(f"{name}: text data must be a list of str.")
            self.x = list(x)
        else:
            self.x = np.asarray(x)
            if self.x.dtype.kind not in "fiub":
                raise DataError(f"{name}: inputs must be numeric; got dtype {self.x.dtype}.")
            if self.modality == Modality.TABULAR and self.x.dtype.kind != "f":
                self.x = self.x.astype(np.float64)
            if self.modality == Modality.IMAGE:
                self.x = image_array(self.x, name)
        n = len(self.x)
        self.ids = _check_ids(ids if ids is not None else range(n), n, name)
        if labels is not None:
            self.labels = label_array(labels)
            if len(self.labels) != n:
                raise DataError(f"{name}: {len(self.labels)} labels for {n} samples.")
        else:
            self.labels = None
        if schema is not None:
            if self.modality != Modality.TABULAR or len(schema.names) != np.shape(self.x)[1]:
                raise DataError(f"{name}: a table schema needs tabular data with one column each.")
            feature_names = schema.names if feature_names is None else feature_names
            column_kinds = schema.kinds if column_kinds is None else column_kinds
        self.schema = schema
        self.metadata = _check_metadata(metadata, n, name)
        self.feature_names = tuple(feature_names) if feature_names is not None else None
        self.sample_rate_hz = sample_rate_hz
        self.column_kinds = _check_kinds(column_kinds, self.x, self.modality, name)

    def __iter__(self) -> Iterator[Any]:
        """The inputs and the labels, so that `x, y = dataset` unpacks them.

        `x` as held (an array, a list of str or a `RaggedBatch`), `y` the labels array or
        None without labels. `len(dataset)` stays the number of samples.
        """
        return iter((self.x, self.labels))

    def batch(self, start: int, stop: int) -> Any:
        """Inputs of samples [start, stop)."""
        return self.x[start:stop]

    def take(self, indices: Sequence[int]) -> Any:
        """Inputs of the samples at `indices`."""
        if self.modality == Modality.TEXT:
            return [self.x[i] for i in indices]
        if isinstance(self.x, RaggedBatch):
            return self.x.take(indices)
        return self.x[np.asarray(indices, dtype=np.intp)]

    def context(self) -> DataContext:
        """Dataset-level facts perturbations size their effects by.

        Tabular: column sds, percentiles (0th..100th) and kinds; time series: channel sds over
        all samples and time steps; audio: the sample rate. Missing values are ignored.
        """
        sd = quantiles = None
        if self.modality == Modality.TABULAR:
            values = self.x.astype(np.float64)
            with warnings.catch_warnings():  # an all-missing column has unknown (NaN) statistics
                warnings.simplefilter("ignore", RuntimeWarning)
                sd = np.nanstd(values, axis=0)
                quantiles = np.nanpercentile(values, np.arange(101), axis=0)
        elif (
            self.modality == Modality.TIMESERIES
            and isinstance(self.x, np.ndarray)
            and self.x.ndim == 3
        ):
            channels = self.x.reshape(-1, self.x.shape[2]).astype(np.float64)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                sd = np.nanstd(channels, axis=0)
        return DataContext(
            self.modality,
            column_sd=sd,
            feature_names=self.feature_names,
            sample_rate_hz=self.sample_rate_hz,
            column_kinds=self.column_kinds,
            column_quantiles=quantiles,
        )

    def fingerprint(self) -> str:
        """SHA-256 of inputs (with each sample's shape, when they differ), ids and labels."""
        digest = hashlib.sha256()
        if self.modality == Modality.TEXT:
            for text in self.x:
                digest.update(text.encode())
                digest.update(b"\0")
        elif isinstance(self.x, RaggedBatch):
            digest.update(str(("ragged", len(self.x), self.x.dtype.str)).encode())
            for sample in self.x:
                digest.update(str(sample.shape).encode())
                digest.update(np.ascontiguousarray(sample).tobytes())
        else:
            digest.update(str((self.x.shape, self.x.dtype.str)).encode())
            digest.update(np.ascontiguousarray(self.x).tobytes())
        digest.update("\0".join(self.ids).encode())
        if self.schema is not None:
            digest.update(self.schema.digest())
        if self.metadata is not None:  # a model may read it (`SampleContext`)
            import pandas as pd

            digest.update(repr(list(self.metadata.columns)).encode())
            digest.update(pd.util.hash_pandas_object(self.metadata, index=False).to_numpy())
        if self.labels is not None:
            digest.update(label_bytes(self.labels))
        return digest.hexdigest()[:16]


def label_array(labels: Sequence[Any] | npt.NDArray[Any]) -> npt.NDArray[Any]:
    """Labels as one array: an object array (n,) when they are structured.

    Ground truth of a structured output (`Detections`, mappings of boxes, (h, w) masks,
    possibly of several sizes) is kept one object per sample; other labels (class names,
    numbers, rows of a multi-label matrix) as numpy reads them.
    """
    if isinstance(labels, np.ndarray):
        return labels
    items = list(labels)
    if any(isinstance(v, np.ndarray | dict) or hasattr(v, "boxes") for v in items):
        out = np.empty(len(items), dtype=object)
        for i, v in enumerate(items):
            out[i] = v
        return out
    return np.asarray(items)


def label_bytes(labels: npt.NDArray[Any]) -> bytes:
    """The labels' content as bytes, for fingerprints: every value, however large."""
    if labels.dtype != object:
        return repr(labels.tolist()).encode()
    parts = []
    for v in labels.tolist():
        if hasattr(v, "boxes"):  # Detections
            parts += [b"D", v.boxes.tobytes(), v.scores.tobytes(), v.classes.tobytes()]
        elif isinstance(v, np.ndarray):
            parts += [
                b"A",
                repr((v.shape, v.dtype.str)).encode(),
                np.ascontiguousarray(v).tobytes(),
            ]
        else:
            parts += [b"R", repr(v).encode()]
        parts.append(b"\0")
    return b"".join(parts)
