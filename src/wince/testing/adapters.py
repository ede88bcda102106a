"""Checks for a model adapter: what the engine relies on when it calls a model."""

from __future__ import annotations

from typing import Any

from wince.models.base import ModelAdapter, Predictions, SampleContext, Task, wants_context


def _expect(condition: bool, message: str) -> None:
    """Raise `AssertionError(message)` unless `condition` (kept under `python -O`)."""
    if not condition:
        raise AssertionError(message)


def _predict(adapter: ModelAdapter, batch: Any) -> Any:
    """The adapter's predictions of `batch`, with a `SampleContext` if it takes one."""
    if wants_context(adapter):
        ids = tuple(f"sample-{i}" for i in range(len(batch)))
        return adapter.predict(batch, SampleContext(ids))  # type: ignore[call-arg]
    return adapter.predict(batch)


def check_adapter(adapter: ModelAdapter, batch: Any, *, other: ModelAdapter | None = None) -> None:
    """Check a model adapter against what the engine relies on.

    `predict(batch)` returns (frozen) `Predictions` with one prediction per sample in the
    field of the adapter's task (`labels`, `values` or `outputs`); `fingerprint()` is a
    non-empty str, the same on every call, before and after predicting; `close()` may be
    called twice. With `other`, an adapter of another model (other weights or settings), the
    two fingerprints must differ, or runs of one would be reused for the other.

    Args:
        adapter: the adapter to check (`wince.models.as_model` wraps a plain model).
        batch: a batch of at least one sample, as the engine passes it (array or list of str).
        other: an adapter of a different model, to check that fingerprints tell them apart.

    Raises:
        AssertionError: a check failed; the message names the adapter and what differed.

    Examples:
        >>> import numpy as np
        >>> from wince.models import CallableAdapter
        >>> def positive(x):
        ...     return (x[:, 0] > 0).astype(int)
        >>> check_adapter(CallableAdapter(positive), np.array([[1.0], [-1.0]]))
    """
    name = getattr(adapter, "label", None) or type(adapter).__name__
    _expect(
        isinstance(adapter, ModelAdapter),
        f"{name}: not a model adapter (it needs task, classes, predict, fingerprint and close); "
        "wrap a plain model with wince.models.as_model",
    )
    _expect(len(batch) > 0, f"{name}: give a batch of at least one sample to check it on")
    fingerprint = adapter.fingerprint()
    _expect(
        isinstance(fingerprint, str) and bool(fingerprint),
        f"{name}: fingerprint() must be a non-empty str; got {fingerprint!r}",
    )
    again = adapter.fingerprint()
    _expect(again == fingerprint, f"{name}: fingerprint() changed between calls: {again!r}")
    predictions = _predict(adapter, batch)
    _expect(
        isinstance(predictions, Predictions),
        f"{name}: predict() must return wince.models.Predictions; got {type(predictions).__name__}",
    )
    _expect(
        len(predictions) == len(batch),
        f"{name}: {len(predictions)} predictions for a batch of {len(batch)}",
    )
    task = Task(adapter.task)
    field = "outputs" if task.structured else {Task.REGRESSION: "values"}.get(task, "labels")
    answer = getattr(predictions, field)
    _expect(
        answer is not None and len(answer) == len(batch),
        f"{name}: a {task.value} model answers in Predictions.{field}, one per sample; got "
        f"{answer!r}",
    )
    after = adapter.fingerprint()
    _expect(after == fingerprint, f"{name}: predicting changed the fingerprint to {after!r}")
    if other is not None:
        _expect(
            other.fingerprint() != fingerprint,
            f"{name}: another model has the same fingerprint {fingerprint!r}; the fingerprint "
            "must hash the weights and settings",
        )
    adapter.close()
    adapter.close()
