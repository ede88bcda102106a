"""Checks for a defence: what `wince harden` relies on when it wraps a model with one.

`check_defence(MyDefence, model=..., clean=...)` fits the defence on the clean data, wraps the
model and checks, each failure an `AssertionError` naming the check:

- **metadata**: a dotted name, a positive integer version, known modalities and tasks, a
  one-line summary;
- **options**: `options()` is JSON-able and, with the objects you passed, rebuilds the
  same defence;
- **fit**: fitting twice on the same data learns the same state, and it is JSON-able (the
  defended run's identity holds it);
- **identity**: the defended model's fingerprint differs from the model's and is the same for
  two defences fitted alike;
- **predictions**: one prediction per sample, in the field of the model's task;
- **determinism**: two defences with the same seed answer alike, bit for bit;
- **no mutation**: predicting leaves the batch as it was;
- **sample independence**: a sample's answer does not depend on the batch around it (halves
  and a reversed batch answer alike), unless the class declares `batch_dependent = True`.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import numpy as np

from wince.defences.base import CleanData, Defence, InputDefence
from wince.models.base import ModelAdapter, Predictions, Task
from wince.perturbations.base import Batch, Modality
from wince.testing.perturbations import same

DefenceCheck = Callable[[type[Defence], dict[str, Any], ModelAdapter, CleanData, Batch], None]


def _expect(condition: bool, message: str) -> None:
    """Raise `AssertionError(message)` unless `condition` (kept under `python -O`)."""
    if not condition:
        raise AssertionError(message)


def _fitted(
    cls: type[Defence], options: dict[str, Any], model: ModelAdapter, clean: CleanData
) -> Defence:
    """A new defence of `cls` with `options`, fitted on `clean`."""
    defence = cls(**options)
    defence.fit(model, clean)
    return defence


def _take(x: Batch, indices: np.ndarray) -> Batch:
    """The samples of a batch at `indices` (a list for text, an array otherwise)."""
    if isinstance(x, list):
        return [x[i] for i in indices]
    return np.asarray(x)[indices]


def _fields(predictions: Predictions) -> dict[str, Any]:
    """The set fields of a `Predictions`, by name."""
    fields = ("labels", "scores", "values", "outputs")
    return {f: getattr(predictions, f) for f in fields if getattr(predictions, f) is not None}


def _rows(predictions: Predictions, indices: np.ndarray) -> dict[str, Any]:
    """The set fields of `predictions` at the sample `indices`."""
    return {name: np.asarray(value)[indices] for name, value in _fields(predictions).items()}


def _concatenated(parts: list[Predictions]) -> dict[str, Any]:
    """The set fields of several `Predictions` joined sample-wise."""
    return {
        name: np.concatenate([np.asarray(_fields(p)[name]) for p in parts])
        for name in _fields(parts[0])
    }


def _close(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two predictions agree (numbers within 1e-9 relative: batched BLAS may differ)."""
    if a.keys() != b.keys():
        return False
    for name in a:
        left, right = np.asarray(a[name]), np.asarray(b[name])
        if left.dtype.kind == "f":
            if left.shape != right.shape or not np.allclose(left, right, rtol=1e-9, atol=1e-12):
                return False
        elif not same(left, right):
            return False
    return True


def check_metadata(
    cls: type[Defence], options: dict[str, Any], model: ModelAdapter, clean: CleanData, x: Batch
) -> None:
    """A dotted name, a positive int version, known modalities and tasks, a summary."""
    name = getattr(cls, "name", None)
    _expect(
        isinstance(name, str) and "." in name,
        f"{cls.__name__}: name must be '<modality or model>.<what>'; got {name!r}",
    )
    version = getattr(cls, "version", None)
    _expect(
        isinstance(version, int) and not isinstance(version, bool) and version >= 1,
        f"{name}: version must be an int >= 1; got {version!r}",
    )
    _expect(
        all(isinstance(m, Modality) for m in cls.modalities),
        f"{name}: modalities must be Modality members; got {set(cls.modalities)}",
    )
    _expect(
        all(isinstance(t, Task) for t in cls.tasks),
        f"{name}: tasks must be Task members; got {set(cls.tasks)}",
    )
    _expect(bool(cls.summary()), f"{name}: the class needs a docstring; its first line is shown")


def check_options(
    cls: type[Defence], options: dict[str, Any], model: ModelAdapter, clean: CleanData, x: Batch
) -> None:
    """`options()` is JSON-able and rebuilds a defence with the same description.

    Options you passed as objects (a dataset, a function) are held by name in `options()`;
    the rebuild passes them again.
    """
    defence = cls(**options)
    held = defence.options()
    try:
        json.dumps(held)
    except TypeError as error:
        raise AssertionError(f"{cls.name}: options() must be JSON-able: {error}") from None
    rebuilt = cls(**{**held, **options})
    _expect(
        rebuilt.describe() == defence.describe(),
        f"{cls.name}: rebuilt from options() it describes itself as {rebuilt.describe()}, "
        f"not {defence.describe()}",
    )


def check_fit(
    cls: type[Defence], options: dict[str, Any], model: ModelAdapter, clean: CleanData, x: Batch
) -> None:
    """Two fits on the same data learn the same JSON-able state."""
    first = _fitted(cls, options, model, clean).describe()
    second = _fitted(cls, options, model, clean).describe()
    try:
        json.dumps(first)
    except TypeError as error:
        raise AssertionError(f"{cls.name}: describe() must be JSON-able: {error}") from None
    _expect(first == second, f"{cls.name}: two fits on the same data differ: {first} vs {second}")


def check_identity(
    cls: type[Defence], options: dict[str, Any], model: ModelAdapter, clean: CleanData, x: Batch
) -> None:
    """The defended fingerprint is not the model's, and is the same for two like fits."""
    one = _fitted(cls, options, model, clean).wrap(model).fingerprint()
    two = _fitted(cls, options, model, clean).wrap(model).fingerprint()
    _expect(
        one != model.fingerprint(),
        f"{cls.name}: the defended model has the model's fingerprint; its runs would be "
        "mistaken for the undefended model's",
    )
    _expect(one == two, f"{cls.name}: two defences fitted alike have different fingerprints")


def check_predictions(
    cls: type[Defence], options: dict[str, Any], model: ModelAdapter, clean: CleanData, x: Batch
) -> None:
    """One prediction per sample, in the field of the model's task; transforms keep length."""
    defence = _fitted(cls, options, model, clean)
    if isinstance(defence, InputDefence):
        transformed = defence.transform(x)
        _expect(
            len(transformed) == len(x),
            f"{cls.name}: transform() gave {len(transformed)} samples for {len(x)}",
        )
    predictions = defence.wrap(model).predict(x)
    _expect(
        isinstance(predictions, Predictions),
        f"{cls.name}: predict() must return Predictions; got {type(predictions).__name__}",
    )
    task = Task(model.task)
    field = "outputs" if task.structured else {Task.REGRESSION: "values"}.get(task, "labels")
    answer = getattr(predictions, field)
    _expect(
        answer is not None,
        f"{cls.name}: a {task.value} model answers in Predictions.{field}, which is not set",
    )
    _expect(
        len(answer) == len(x),
        f"{cls.name}: {len(answer)} Predictions.{field} for a batch of {len(x)} samples",
    )


def check_determinism(
    cls: type[Defence], options: dict[str, Any], model: ModelAdapter, clean: CleanData, x: Batch
) -> None:
    """Two defences with the same options and seed answer alike, bit for bit."""
    one = _fields(_fitted(cls, options, model, clean).wrap(model).predict(x))
    two = _fields(_fitted(cls, options, model, clean).wrap(model).predict(x))
    _expect(
        one.keys() == two.keys() and all(same(one[k], two[k]) for k in one),
        f"{cls.name}: two defences with the same seed answer differently",
    )


def check_no_mutation(
    cls: type[Defence], options: dict[str, Any], model: ModelAdapter, clean: CleanData, x: Batch
) -> None:
    """Predicting leaves the batch unchanged."""
    before = copy.deepcopy(x)
    _fitted(cls, options, model, clean).wrap(model).predict(x)
    _expect(same(before, x), f"{cls.name}: predicting changed the input batch in place")


def check_sample_independence(
    cls: type[Defence], options: dict[str, Any], model: ModelAdapter, clean: CleanData, x: Batch
) -> None:
    """Halves and a reversed batch answer like the whole (unless `batch_dependent`)."""
    if cls.batch_dependent:
        return
    defended = _fitted(cls, options, model, clean).wrap(model)
    n = len(x)
    whole = defended.predict(x)
    halves = [defended.predict(_take(x, part)) for part in np.array_split(np.arange(n), 2)]
    _expect(
        _close(_concatenated(halves), _fields(whole)),
        f"{cls.name}: a sample's answer changes with the batch it is in (two halves answer "
        "unlike the whole); set batch_dependent = True if that is the design",
    )
    backwards = np.arange(n)[::-1]
    reversed_answers = _fields(defended.predict(_take(x, backwards)))
    _expect(
        _close(reversed_answers, _rows(whole, backwards)),
        f"{cls.name}: a sample's answer changes with its position in the batch",
    )


CHECKS: dict[str, DefenceCheck] = {
    "metadata": check_metadata,
    "options": check_options,
    "fit": check_fit,
    "identity": check_identity,
    "predictions": check_predictions,
    "determinism": check_determinism,
    "no_mutation": check_no_mutation,
    "sample_independence": check_sample_independence,
}
DEFENCE_CHECK_NAMES = tuple(CHECKS)


def check_defence(
    defence: type[Defence],
    *,
    model: ModelAdapter,
    clean: CleanData,
    batch: Batch | None = None,
    options: dict[str, Any] | None = None,
    checks: tuple[str, ...] = DEFENCE_CHECK_NAMES,
) -> None:
    """Check a defence class against what `wince harden` relies on (see the module docstring).

    Args:
        defence: the defence class (a `wince.defences.Defence` subclass).
        model: a model the defence applies to (a `wince.models` adapter).
        clean: the clean data to fit it on (`wince.defences.CleanData`).
        batch: the inputs to predict (at least 2 samples); default the clean inputs.
        options: keyword options to build it with; default none.
        checks: the checks to run, by name (`DEFENCE_CHECK_NAMES`).

    Raises:
        AssertionError: a check failed; the message names the check and what differed.
    """
    x = clean.x if batch is None else batch
    _expect(len(x) >= 2, f"{defence.__name__}: give a batch of at least 2 samples")
    for name in checks:
        try:
            CHECKS[name](defence, dict(options or {}), model, clean, x)
        except AssertionError as error:
            raise AssertionError(f"check_defence[{name}]: {error}") from None
