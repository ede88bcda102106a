"""Model adapters: one `Predictions` type whatever the framework.

An adapter takes a numpy batch (or a list of str) and returns frozen `Predictions`; it batches
internally (`max_batch`), never perturbs or scores, and maps every backend failure to a
`ModelError` naming the adapter and the sample range.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from wince.errors import ModelError


class Task(StrEnum):
    """What the model predicts."""

    CLASSIFICATION = "classification"
    REGRESSION = "regression"


@dataclass(frozen=True)
class Predictions:
    """Model outputs for a batch.

    Attributes:
        labels: classification: predicted class index per sample, shape (n,).
        scores: classification: class probabilities, shape (n, k), rows summing to 1; None
            when the model gives labels only.
        values: regression: predicted value per sample, shape (n,).
    """

    labels: npt.NDArray[np.int64] | None = None
    scores: npt.NDArray[np.float64] | None = None
    values: npt.NDArray[np.float64] | None = None

    def __len__(self) -> int:
        for field in (self.labels, self.values):
            if field is not None:
                return len(field)
        return 0

    @classmethod
    def from_probabilities(cls, probabilities: npt.ArrayLike) -> Predictions:
        """Classification predictions from an (n, k) array of class probabilities."""
        p = np.asarray(probabilities, dtype=np.float64)
        if p.ndim != 2:
            raise ModelError(f"class probabilities must have shape (n, classes); got {p.shape}.")
        return cls(labels=np.argmax(p, axis=1).astype(np.int64), scores=p)

    @classmethod
    def from_labels(cls, labels: npt.ArrayLike) -> Predictions:
        """Classification predictions from class indices only."""
        return cls(labels=np.asarray(labels).astype(np.int64).reshape(-1))

    @classmethod
    def from_values(cls, values: npt.ArrayLike) -> Predictions:
        """Regression predictions."""
        return cls(values=np.asarray(values, dtype=np.float64).reshape(-1))

    @classmethod
    def concatenate(cls, parts: Sequence[Predictions]) -> Predictions:
        """Join predictions of consecutive chunks."""

        def join(name: str) -> Any:
            arrays = [getattr(p, name) for p in parts]
            return None if arrays[0] is None else np.concatenate(arrays)

        return cls(labels=join("labels"), scores=join("scores"), values=join("values"))


@runtime_checkable
class ModelAdapter(Protocol):
    """What the engine needs from a model."""

    task: Task
    classes: tuple[Any, ...] | None

    def predict(self, x: Any) -> Predictions:
        """Predict a batch (numpy array or list of str)."""
        ...

    def fingerprint(self) -> str:
        """Stable content hash of weights and configuration, for lineage and caching."""
        ...

    def close(self) -> None:
        """Release resources (sessions, connections)."""
        ...


def softmax(z: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Row-wise softmax, numerically stable."""
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    probabilities: npt.NDArray[np.float64] = e / e.sum(axis=1, keepdims=True)
    return probabilities


def to_predictions(output: Any, task: Task, adapter: str) -> Predictions:
    """Interpret a raw model output array as `Predictions` for the task.

    Classification: an (n, k) array is class probabilities (or logits, when rows do not sum to
    1, turned into probabilities by softmax); an (n, 1) array is the probability (or logit)
    of class 1 of a binary classifier; an (n,) integer array is class indices.
    Regression: an (n,) or (n, 1) array of values.
    """
    array = np.asarray(output)
    if task == Task.REGRESSION:
        if array.ndim == 2 and array.shape[1] == 1:
            array = array[:, 0]
        if array.ndim != 1 or array.dtype.kind not in "fiu":
            raise ModelError(
                f"{adapter}: a regression model must return n numbers; got shape {array.shape} "
                f"of {array.dtype}."
            )
        return Predictions.from_values(array)
    if array.ndim == 1 and array.dtype.kind in "iu":
        return Predictions.from_labels(array)
    if array.ndim == 2 and array.shape[1] == 1 and array.dtype.kind in "fiu":
        # one column: the probability of class 1 when in [0, 1], else its logit
        column = array[:, 0].astype(np.float64)
        if not (np.all(column >= 0) and np.all(column <= 1)):
            column = 1.0 / (1.0 + np.exp(-np.clip(column, -500, 500)))
        return Predictions.from_probabilities(np.stack([1.0 - column, column], axis=1))
    if array.ndim == 2 and array.dtype.kind in "fiu":
        p = array.astype(np.float64)
        rows_are_probabilities = np.all(p >= 0) and np.allclose(p.sum(axis=1), 1.0, atol=1e-4)
        return Predictions.from_probabilities(p if rows_are_probabilities else softmax(p))
    raise ModelError(
        f"{adapter}: a classifier must return class probabilities (n, classes) or class "
        f"indices (n,); got shape {array.shape} of {array.dtype}."
    )


def predict_in_chunks(
    fn: Callable[[Any], Predictions], x: Any, max_batch: int, adapter: str
) -> Predictions:
    """Call `fn` on chunks of at most `max_batch` samples, mapping failures to `ModelError`."""
    n = len(x)
    parts = []
    for start in range(0, n, max_batch):
        stop = min(start + max_batch, n)
        try:
            part = fn(x[start:stop])
        except ModelError as error:
            raise ModelError(f"{error} (samples {start}-{stop - 1} of the batch)") from error
        except Exception as error:
            raise ModelError(
                f"{adapter} failed on samples {start}-{stop - 1} of the batch: "
                f"{type(error).__name__}: {error}"
            ) from error
        if len(part) != stop - start:
            raise ModelError(
                f"{adapter} returned {len(part)} predictions for {stop - start} samples."
            )
        parts.append(part)
    if not parts:
        raise ModelError(f"{adapter}: asked to predict an empty batch.")
    return parts[0] if len(parts) == 1 else Predictions.concatenate(parts)


def hash_bytes(*parts: bytes) -> str:
    """Hex SHA-256 of the concatenated parts (first 16 hex digits)."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part)
    return digest.hexdigest()[:16]


class CallableAdapter:
    """Wraps a plain function `fn(batch) -> array` as a model.

    Args:
        fn: takes a batch, returns probabilities (n, k), class indices (n,) or values (n,).
        task: classification or regression.
        classes: class names in index order (optional).
        fingerprint: a stable identity for lineage; default hashes the function's code.
        max_batch: largest batch passed to `fn` at once.

    Examples:
        >>> import numpy as np
        >>> model = CallableAdapter(lambda x: (x[:, 0] > 0).astype(int), classes=("neg", "pos"))
        >>> model.predict(np.array([[1.0], [-1.0]])).labels.tolist()
        [1, 0]
    """

    def __init__(
        self,
        fn: Callable[[Any], Any],
        *,
        task: Task | str = Task.CLASSIFICATION,
        classes: Sequence[Any] | None = None,
        fingerprint: str | None = None,
        max_batch: int = 4096,
    ) -> None:
        self.fn = fn
        self.task = Task(task)
        self.classes = tuple(classes) if classes is not None else None
        self._fingerprint = fingerprint
        self.max_batch = max_batch
        self.label = f"callable {getattr(fn, '__qualname__', type(fn).__name__)}"

    def predict(self, x: Any) -> Predictions:
        """Predict a batch through the wrapped function."""
        return predict_in_chunks(
            lambda chunk: to_predictions(self.fn(chunk), self.task, self.label),
            x,
            self.max_batch,
            self.label,
        )

    def fingerprint(self) -> str:
        """The given fingerprint, else a hash of the function's bytecode, constants and name."""
        if self._fingerprint is not None:
            return self._fingerprint
        code = getattr(self.fn, "__code__", None)
        if code is None:
            return hash_bytes(repr(self.fn).encode())
        return hash_bytes(code.co_code, repr(code.co_consts).encode(), self.label.encode())

    def close(self) -> None:
        """Nothing to release."""
