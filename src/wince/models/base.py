"""Model adapters: one `Predictions` type whatever the framework.

An adapter takes a numpy batch (or a list of str) and returns frozen `Predictions`; it batches
internally (`max_batch`), never perturbs or scores, and maps every backend failure to a
`ModelError` naming the adapter and the sample range.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from wince.errors import ModelError


class Task(StrEnum):
    """What the model predicts.

    Classification and regression answer with class probabilities or labels, and numbers;
    the other tasks answer with structured outputs, one per sample in the plain form
    `wince.outputs` describes: text (str), multi-label (a row of k booleans), detection
    (`Detections`), segmentation (an (h, w) class map) and embedding (a row of d numbers).
    """

    CLASSIFICATION = "classification"
    REGRESSION = "regression"
    TEXT = "text"
    MULTILABEL = "multilabel"
    DETECTION = "detection"
    SEGMENTATION = "segmentation"
    EMBEDDING = "embedding"

    @property
    def structured(self) -> bool:
        """Whether the model answers with structured outputs (`Predictions.outputs`)."""
        return self not in (Task.CLASSIFICATION, Task.REGRESSION)


def is_torch_module(obj: Any) -> bool:
    """Whether `obj` is a `torch.nn.Module`, a user's own subclass included.

    Never imports torch: an object can only be a module once torch is imported.
    """
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(obj, torch.nn.Module)


@dataclass(frozen=True)
class Predictions:
    """Model outputs for a batch.

    Attributes:
        labels: classification: predicted class index per sample, shape (n,).
        scores: classification: class probabilities, shape (n, k), rows summing to 1; None
            when the model gives labels only.
        values: regression: predicted value per sample, shape (n,).
        outputs: structured tasks (`Task.structured`): one output per sample in its plain
            form (`wince.outputs`): an object array (n,) of str (text), `Detections`
            (detection) or (h, w) int64 class maps (segmentation); an (n, k) bool array
            (multi-label) or an (n, d) float64 array (embedding).
    """

    labels: npt.NDArray[np.int64] | None = None
    scores: npt.NDArray[np.float64] | None = None
    values: npt.NDArray[np.float64] | None = None
    outputs: npt.NDArray[Any] | None = None

    def __len__(self) -> int:
        for field in (self.labels, self.values, self.outputs):
            if field is not None:
                return len(field)
        return 0

    @classmethod
    def from_probabilities(cls, probabilities: npt.ArrayLike) -> Predictions:
        """Classification predictions from an (n, k) array of class probabilities.

        Raises:
            ModelError: not two-dimensional, or a NaN or infinite probability.
        """
        p = np.asarray(probabilities, dtype=np.float64)
        if p.ndim != 2:
            raise ModelError(f"class probabilities must have shape (n, classes); got {p.shape}.")
        _check_finite(p, "class probabilities")
        return cls(labels=np.argmax(p, axis=1).astype(np.int64), scores=p)

    @classmethod
    def from_labels(cls, labels: npt.ArrayLike) -> Predictions:
        """Classification predictions from class indices only.

        Raises:
            ModelError: a NaN or infinite label.
        """
        array = np.asarray(labels).reshape(-1)
        if array.dtype.kind in "fc":
            _check_finite(array.astype(np.float64), "class labels")
        return cls(labels=array.astype(np.int64))

    @classmethod
    def from_values(cls, values: npt.ArrayLike) -> Predictions:
        """Regression predictions.

        Raises:
            ModelError: a NaN or infinite value.
        """
        array = np.asarray(values, dtype=np.float64).reshape(-1)
        _check_finite(array, "predicted values")
        return cls(values=array)

    @classmethod
    def from_outputs(cls, outputs: Any, task: Task | str) -> Predictions:
        """Predictions of a structured task from its raw outputs, one per sample.

        Text: a sequence of str. Multi-label: an (n, k) array of probabilities (a label
        applies from 0.5 on), 0/1 or booleans. Detection: a sequence of `Detections` or
        mappings with `boxes`, `scores` and `classes`. Segmentation: an (n, h, w) integer
        array or a sequence of (h, w) integer arrays. Embedding: an (n, d) array of numbers.

        Raises:
            ModelError: an output that does not have the task's form, or is not finite.
        """
        from wince.outputs import read_outputs

        return cls(outputs=read_outputs(outputs, Task(task).value))

    def take(self, rows: npt.ArrayLike) -> Predictions:
        """The predictions of the samples at positions `rows`, in that order."""
        index = np.asarray(rows, dtype=np.intp)

        def pick(field: Any) -> Any:
            return None if field is None else field[index]

        return Predictions(
            labels=pick(self.labels),
            scores=pick(self.scores),
            values=pick(self.values),
            outputs=pick(self.outputs),
        )

    @classmethod
    def concatenate(cls, parts: Sequence[Predictions]) -> Predictions:
        """Join predictions of consecutive chunks."""

        def join(name: str) -> Any:
            arrays = [getattr(p, name) for p in parts]
            return None if arrays[0] is None else np.concatenate(arrays)

        return cls(
            labels=join("labels"),
            scores=join("scores"),
            values=join("values"),
            outputs=join("outputs"),
        )

    @classmethod
    def assemble(
        cls, parts: Sequence[tuple[npt.NDArray[np.intp], Predictions]], n: int
    ) -> Predictions:
        """Predictions of `n` samples, in sample order, from parts (positions, predictions).

        The parts are the predictions of the same-shape groups of a `RaggedBatch`.
        """
        joined = cls.concatenate([p for _, p in parts])
        order = np.empty(n, dtype=np.intp)
        order[np.concatenate([index for index, _ in parts])] = np.arange(n)
        return joined.take(order)


def _check_finite(outputs: npt.NDArray[np.float64], what: str) -> None:
    """Refuse NaN or infinite model outputs, naming how many samples and the first.

    Such an output has no label or value to compare: on perturbed inputs the run records the
    scenario as one the model does not answer (a finding), on clean inputs it fails.
    """
    bad = ~np.isfinite(outputs.reshape(len(outputs), -1)).all(axis=1)
    if bad.any():
        raise ModelError(
            f"the model returned NaN or infinite {what} for {int(bad.sum())} of "
            f"{len(outputs)} samples (the first at position {int(np.argmax(bad))} of the "
            "batch): an overflow, a division by zero or a missing feature inside the model."
        )


@dataclass(frozen=True)
class SampleContext:
    """Who the samples of a batch are, for a model that needs more than their inputs.

    A `CallableAdapter` whose function has a parameter named `context`
    (`def predict(batch, context)`) gets one with every batch.

    Attributes:
        ids: the samples' ids, in batch order.
        metadata: the samples' metadata (a pandas DataFrame, one row per sample in batch
            order: a table's columns that are not features, or `ArrayDataset(metadata=...)`),
            or None when the data has none.
    """

    ids: tuple[str, ...]
    metadata: Any = None

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, rows: slice) -> SampleContext:
        """The context of a slice of the batch."""
        metadata = None if self.metadata is None else self.metadata.iloc[rows]
        return SampleContext(self.ids[rows], metadata)


def wants_context(model: Any) -> bool:
    """Whether a model takes a `SampleContext` with each batch (`predict(x, context=...)`)."""
    return bool(getattr(model, "wants_context", False))


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


class Output(StrEnum):
    """What a classifier's raw output means, fixed once per model.

    PROBABILITIES: class probabilities (n, k), or the probability of class 1 as one column.
    LOGITS: class logits (n, k) (softmaxed), or the logit of class 1 as one column (sigmoid).
    SCORE: one score per sample; class 1 when the score is >= the model's threshold.
    LABELS: class indices (n,).
    """

    PROBABILITIES = "probabilities"
    LOGITS = "logits"
    SCORE = "score"
    LABELS = "labels"


def check_output(output: Output | str | None, threshold: float | None, adapter: str) -> None:
    """Validate a declared output meaning and its threshold.

    Raises:
        ParameterError: an unknown meaning, a threshold without `score`, or `score` without a
            finite threshold.
    """
    from wince.errors import ParameterError

    choices = ", ".join(repr(o.value) for o in Output)
    if output is not None and output not in {o.value for o in Output}:
        raise ParameterError(f"{adapter}: output must be one of {choices}; got {output!r}.")
    if output == Output.SCORE:
        if isinstance(threshold, bool) or not isinstance(threshold, int | float):
            raise ParameterError(
                f"{adapter}: output 'score' needs the threshold above which a score means "
                f"class 1; got threshold={threshold!r}. Try threshold=0.5."
            )
        if not np.isfinite(threshold):
            raise ParameterError(f"{adapter}: threshold must be finite; got {threshold!r}.")
    elif threshold is not None:
        raise ParameterError(
            f"{adapter}: a threshold applies to output 'score' only; got output={output!r} "
            f"with threshold={threshold!r}. Declare output='score' or drop the threshold."
        )


def detect_output(array: npt.NDArray[Any]) -> tuple[Output | None, bool]:
    """The meaning of a classifier's first batch of outputs, and whether it is a guess.

    Class indices (integer (n,)) and (n, k >= 2) matrices are read without doubt: rows of
    non-negative values summing to 1 are probabilities, other rows logits. A single column is
    ambiguous: values all in [0, 1] are read as the probability of class 1 (a guess: they may
    be logits or scores that happened to fall there); other values cannot be probabilities
    and are read as its logit (class 1 from 0 on, as for any margin).
    None when the array fits no meaning (a float (n,) vector, an empty batch).
    """
    if array.ndim == 1 and array.dtype.kind in "iub":
        return Output.LABELS, False
    if array.ndim != 2 or array.dtype.kind not in "fiu" or len(array) == 0:
        return None, False
    p = array.astype(np.float64)
    if array.shape[1] == 1:
        in_unit = bool(np.all(p >= 0) and np.all(p <= 1))
        return (Output.PROBABILITIES, True) if in_unit else (Output.LOGITS, False)
    rows_are_probabilities = np.all(p >= 0) and np.allclose(p.sum(axis=1), 1.0, atol=1e-4)
    return (Output.PROBABILITIES if rows_are_probabilities else Output.LOGITS), False


class OutputReader:
    """Reads a classifier's raw outputs with one meaning for the model's whole life.

    The meaning is the declared `output`, else the one detected on the first batch read
    (`detect_output`), kept for every later batch so that a sample's label never depends on
    the batch it came in; a guessed meaning warns once (`OutputWarning`).

    Args:
        output: the declared meaning, or None to detect it.
        threshold: the class-1 threshold of output "score".
        adapter: the adapter's label, for messages.

    Raises:
        ParameterError: see `check_output`.
    """

    def __init__(
        self, output: Output | str | None = None, *, threshold: float | None = None, adapter: str
    ) -> None:
        check_output(output, threshold, adapter)
        self.declared = Output(output) if output is not None else None
        self.meaning = self.declared
        self.threshold = float(threshold) if threshold is not None else None
        self.adapter = adapter

    def identity(self) -> bytes:
        """The declared meaning and threshold, for fingerprints (they change the labels)."""
        declared = self.declared.value if self.declared is not None else ""
        return f"output={declared}|threshold={self.threshold!r}".encode()

    def read(self, output: Any, task: Task) -> Predictions:
        """Predictions from one batch of raw outputs."""
        if self.meaning is None and task == Task.CLASSIFICATION:
            meaning, guess = detect_output(np.asarray(output))
            if meaning is not None:
                self.meaning = meaning
                if guess:
                    import warnings

                    from wince.errors import OutputWarning

                    other = "logits" if meaning == Output.PROBABILITIES else "probabilities"
                    warnings.warn(
                        f"{self.adapter}: its one output column is read as class-1 "
                        f"{meaning.value} from the first batch, for every batch from now on; "
                        f"if they are {other} or scores, declare output= (plan: "
                        "model.output: probabilities|logits|score with threshold).",
                        OutputWarning,
                        stacklevel=4,
                    )
        return to_predictions(
            output, task, self.adapter, meaning=self.meaning, threshold=self.threshold
        )


def to_predictions(
    output: Any,
    task: Task,
    adapter: str,
    *,
    meaning: Output | None = None,
    threshold: float | None = None,
) -> Predictions:
    """Interpret a raw model output array as `Predictions` for the task.

    Classification reads the output with `meaning` (see `Output`); without one, with the
    meaning `detect_output` finds in this array alone, so callers that read several batches
    keep one meaning with an `OutputReader`. Regression: an (n,) or (n, 1) array of values.
    """
    if task.structured:
        try:
            return Predictions.from_outputs(output, task)
        except ModelError as error:
            raise ModelError(f"{adapter}: {error}") from None
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
    if meaning is None:
        meaning, _ = detect_output(array)
    one_column = (array.ndim == 2 and array.shape[1] == 1) or array.ndim == 1
    if array.dtype.kind in "fiub" and array.ndim in (1, 2):
        if meaning == Output.LABELS and one_column:
            labels = array.reshape(-1)
            if array.dtype.kind == "f" and not np.all(labels == np.round(labels)):
                raise ModelError(
                    f"{adapter}: declared output 'labels' but returned non-integer values; "
                    "declare the output it returns (probabilities, logits or score)."
                )
            return Predictions.from_labels(labels)
        if meaning == Output.SCORE and one_column:
            assert threshold is not None  # checked by check_output
            score = array.reshape(-1).astype(np.float64)
            return Predictions.from_labels(score >= threshold)
        if meaning in (Output.PROBABILITIES, Output.LOGITS):
            if one_column:
                column = array.reshape(-1).astype(np.float64)
                if meaning == Output.LOGITS:
                    column = 1.0 / (1.0 + np.exp(-np.clip(column, -500, 500)))
                elif not (np.all(column >= 0) and np.all(column <= 1)):
                    raise ModelError(
                        f"{adapter}: its output is read as class-1 probabilities but holds "
                        f"values outside [0, 1] (min {column.min():g}, max {column.max():g}); "
                        "declare output='logits' or output='score' with its threshold."
                    )
                return Predictions.from_probabilities(np.stack([1.0 - column, column], axis=1))
            if array.ndim == 2:
                p = array.astype(np.float64)
                return Predictions.from_probabilities(
                    p if meaning == Output.PROBABILITIES else softmax(p)
                )
    raise ModelError(
        f"{adapter}: a classifier must return class probabilities (n, classes) or class "
        f"indices (n,) (or logits, or one class-1 column (n, 1)); got shape {array.shape} of "
        f"{array.dtype}"
        + (f" for declared output {meaning.value!r}." if meaning is not None else ".")
        + " A float score per sample needs output='score' with its threshold."
    )


def predict_in_chunks(
    fn: Callable[..., Predictions],
    x: Any,
    max_batch: int,
    adapter: str,
    context: SampleContext | None = None,
) -> Predictions:
    """Call `fn` on chunks of at most `max_batch` samples, mapping failures to `ModelError`.

    With a `context`, `fn` gets each chunk's context as its second argument.
    """
    n = len(x)
    parts = []
    for start in range(0, n, max_batch):
        stop = min(start + max_batch, n)
        try:
            chunk = x[start:stop]
            part = fn(chunk) if context is None else fn(chunk, context[start:stop])
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


def _has_context_parameter(fn: Callable[..., Any]) -> bool:
    import inspect

    try:
        parameters = inspect.signature(fn).parameters
    except (TypeError, ValueError):  # a builtin without a signature
        return False
    return "context" in parameters


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
        fingerprint: the model's identity, used as is (the function and its state are then
            not hashed): name it when the state cannot be hashed.
        max_batch: largest batch passed to `fn` at once.
        output: what a classifier's output means: "probabilities", "logits", "score" (with
            `threshold`) or "labels"; default: detected on the first batch, then kept.
        threshold: the score at and above which output "score" means class 1.
        version: the model's declared version, hashed with the function's code instead of
            its state (for state that cannot be hashed, or is too large to hash per run).
        trainable: whether the model can be trained (False: a lexicon or rule model, a
            fixed service), so reports give training advice or not; None: not known.

    The default fingerprint hashes the function's code and the state it closes over or is
    bound to (`wince.models.identity`): two functions with the same code and other state
    are two models. When the state cannot be hashed deterministically, the fingerprint is
    unique to this adapter, so no run or prediction is ever reused for it, and an
    `IdentityWarning` says what to name.

    Examples:
        >>> import numpy as np
        >>> model = CallableAdapter(lambda x: (x[:, 0] > 0).astype(int), classes=("neg", "pos"))
        >>> model.predict(np.array([[1.0], [-1.0]])).labels.tolist()
        [1, 0]
        >>> def by_id(batch, context):
        ...     return [int(i.startswith("b")) for i in context.ids]
        >>> CallableAdapter(by_id).predict(np.zeros((2, 1)), SampleContext(("a1", "b2"))).labels
        array([0, 1])
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        task: Task | str = Task.CLASSIFICATION,
        classes: Sequence[Any] | None = None,
        fingerprint: str | None = None,
        max_batch: int = 4096,
        output: Output | str | None = None,
        threshold: float | None = None,
        version: str | None = None,
        trainable: bool | None = None,
    ) -> None:
        self.fn = fn
        self.version = version
        self.trainable = trainable
        self._nonce: str | None = None
        self._modules: frozenset[str] | None = None
        self.task = Task(task)
        self.classes = tuple(classes) if classes is not None else None
        self._fingerprint = fingerprint
        self.max_batch = max_batch
        self.label = f"callable {getattr(fn, '__qualname__', type(fn).__name__)}"
        self.reader = OutputReader(output, threshold=threshold, adapter=self.label)
        self.wants_context = _has_context_parameter(fn)

    def predict(self, x: Any, context: SampleContext | None = None) -> Predictions:
        """Predict a batch through the wrapped function (with its context, if it takes one).

        Raises:
            ModelError: the function takes a context and none was given, or it failed.
        """
        if not self.wants_context:
            return predict_in_chunks(
                lambda chunk: self.reader.read(self.fn(chunk), self.task),
                x,
                self.max_batch,
                self.label,
            )
        if context is None or len(context) != len(x):
            raise ModelError(
                f"{self.label} takes a context: call predict(x, SampleContext(ids)) with one "
                "id per sample."
            )
        return predict_in_chunks(
            lambda chunk, part: self.reader.read(self.fn(chunk, context=part), self.task),
            x,
            self.max_batch,
            self.label,
            context,
        )

    @property
    def identity_stable(self) -> bool:
        """Whether the fingerprint is the same in every process for the same code and state."""
        return self._fingerprint is not None or self.version is not None or self._nonce is None

    def fingerprint(self) -> str:
        """The given fingerprint, else a hash of the code with the version or with the state.

        Computed on each call: state that changed since (a threshold attribute set anew) is a
        new model.
        """
        if self._fingerprint is not None:
            return self._fingerprint
        task = f"{self.task.value}|{self.classes!r}".encode()
        if self.version is not None:
            call = vars(type(self.fn)).get("__call__")  # a callable object's own method
            code = getattr(self.fn, "__code__", None) or getattr(call, "__code__", None)
            from wince.models.identity import code_digest

            parts = (code_digest(code).encode(),) if code is not None else ()
            return hash_bytes(
                b"version", self.version.encode(), *parts, task, self.reader.identity()
            )
        from wince.models.identity import callable_identity

        identity = callable_identity(self.fn)
        self._modules = identity.modules
        if not identity.stable:
            if self._nonce is None:
                import uuid
                import warnings

                from wince.errors import IdentityWarning

                self._nonce = uuid.uuid4().hex
                warnings.warn(
                    f"{self.label}: its state cannot be hashed deterministically "
                    f"({'; '.join(identity.problems[:3])}), so its runs and predictions are "
                    "never reused; name the model with CallableAdapter(fn, fingerprint=...) "
                    "or version=... to allow reuse.",
                    IdentityWarning,
                    stacklevel=2,
                )
            return hash_bytes(b"unstable", self._nonce.encode())
        self._nonce = None
        return hash_bytes(identity.digest.encode(), task, self.reader.identity())

    def runtime_modules(self) -> frozenset[str]:
        """Top-level modules of the objects the function holds (their versions matter)."""
        if self._fingerprint is not None or self.version is not None:
            return frozenset()
        if self._modules is None:
            from wince.models.identity import callable_identity

            self._modules = callable_identity(self.fn).modules
        return self._modules

    def close(self) -> None:
        """Nothing to release."""
