"""Defence base: a named, versioned, seeded transform of a model's input path or output.

A defence is a registered class, like a perturbation. An input defence rewrites each batch
before the model sees it (`InputDefence.transform`: text normalisation, clipping, imputation,
contrast normalisation); a model-side defence changes what the model answers
(`Defence.predict`: temperature scaling, test-time augmentation). Defences that learn
something (a column's range, a temperature) are fitted once on clean data (`fit`), the run's
baseline inputs; `wrap` then gives the defended model, an adapter like any other, whose
fingerprint holds the model's, the defence's name, version, options and fitted state.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from wince.datasets.base import Dataset
from wince.errors import ParameterError, did_you_mean
from wince.models.base import ModelAdapter, Predictions, Task
from wince.perturbations.base import Batch, DataContext, Modality


@dataclass(frozen=True)
class CleanData:
    """The clean data a defence is fitted on: the run's baseline inputs.

    Attributes:
        x: the inputs, as the model takes them (an array batch, or a list of str for text).
        labels: class indices (classification) or values (regression) per sample; None
            when the data has no labels.
        context: the dataset's facts (column spreads, sample rate) perturbations need.
    """

    x: Batch
    labels: npt.NDArray[Any] | None
    context: DataContext


@dataclass(frozen=True)
class FragilePerturbation:
    """A perturbation a run found fragile, as `wince harden` aims a defence at it (`aim`).

    Attributes:
        name: the perturbation's registry name.
        params: its options as the run's fragile scenario gave them (e.g. `{"columns":
            ["proline", "magnesium"]}`), JSON-able; empty for its defaults.
        value: the largest magnitude found fragile with these options, in the
            perturbation's physical unit (at most the realistic range's severe end).
    """

    name: str
    params: Mapping[str, Any]
    value: float


def clean_data(model: ModelAdapter, dataset: Dataset) -> CleanData:
    """A dataset's inputs, labels (as the run encodes them) and context, for fitting."""
    from wince.engine.runner import encode_labels

    return CleanData(
        x=dataset.batch(0, len(dataset)),
        labels=encode_labels(dataset, model),
        context=dataset.context(),
    )


class Defence:
    """A named, versioned, seeded defence; subclasses set the class constants.

    Class constants:
        name: registry name, `<modality or "model">.<what>` (e.g. `text.normalize`).
        version: bumped whenever its output for the same input and fitted state changes.
        modalities: the input modalities it applies to; empty: any.
        tasks: the model tasks it applies to; empty: any.
        batch_dependent: True when a sample's answer depends on the other samples of the
            batch (a defence that recalibrates on each batch: `tabular.robust_scale`); such a
            model's predictions are not cached per sample, which would answer a sample from
            whatever batch it first came in. False by default, which
            `wince.testing.check_defence` checks.
        by_default: tried when `wince harden` is given no defence names (`applicable`);
            False for one to try only when named: one that needs an option only its user can
            give (`train.augment`'s training data, `model.ensemble`'s other models), or whose
            premise only its user can vouch for (`tabular.robust_scale`: each batch comes
            from one source).

    Args:
        seed: the seed of its randomness (test-time augmentation draws); defences without
            randomness ignore it.
    """

    name: ClassVar[str]
    version: ClassVar[int]
    modalities: ClassVar[frozenset[Modality]] = frozenset()
    tasks: ClassVar[frozenset[Task]] = frozenset()
    batch_dependent: ClassVar[bool] = False
    by_default: ClassVar[bool] = True

    def __init__(self, *, seed: int = 0) -> None:
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ParameterError(f"{self.name}: seed must be a non-negative integer; got {seed!r}.")
        self.seed = seed

    @classmethod
    def applicable(cls, model_kind: Task | str, modality: Modality | str) -> bool:
        """Whether the defence applies to a model of this task on data of this modality."""
        task_ok = not cls.tasks or Task(model_kind) in cls.tasks
        return task_ok and (not cls.modalities or Modality(modality) in cls.modalities)

    @classmethod
    def summary(cls) -> str:
        """The first line of the class docstring ("" without one)."""
        lines = (cls.__doc__ or "").strip().splitlines()
        return lines[0] if lines else ""

    def options(self) -> dict[str, Any]:
        """The constructor's keyword options as this instance holds them (JSON-able)."""
        names = [
            name
            for name, p in inspect.signature(type(self).__init__).parameters.items()
            if p.kind is inspect.Parameter.KEYWORD_ONLY
        ]
        return {name: _plain(getattr(self, name)) for name in names}

    def aim(self, fragile: Sequence[FragilePerturbation]) -> None:
        """Take the run's findings before `fit`; by default ignored.

        Args:
            fragile: each perturbation of the run's fragile scenarios with its options and the
                largest magnitude (physical units) at which it was found fragile (see
                `wince.defences.harden.fragile_magnitudes`); a training defence augments with
                them.
        """
        return None

    def aimed_at(self) -> list[FragilePerturbation]:
        """The findings from `aim` this defence uses; none by default.

        Recorded in `describe()` (as "aimed"), so that a defended run's model is rebuilt
        aimed at the same findings (`wince.defences.lineage.run_model`).
        """
        return []

    def fit(self, model: ModelAdapter, clean: CleanData) -> None:
        """Learn what the defence needs from clean data; by default nothing."""
        return None

    def fitted_state(self) -> dict[str, Any]:
        """What `fit` learned, JSON-able (part of the defended model's identity)."""
        return {}

    def predict(self, model: ModelAdapter, x: Batch) -> Predictions:
        """The defended model's predictions of a batch."""
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """Name, version, options and fitted state: what a defended run's lineage records.

        With "aimed" too for a defence aimed at the run's findings (`aimed_at`).
        """
        described = {
            "name": self.name,
            "version": self.version,
            "options": self.options(),
            "fitted": self.fitted_state(),
        }
        aimed = self.aimed_at()
        if aimed:
            described["aimed"] = [
                {"name": f.name, "params": dict(f.params), "value": f.value} for f in aimed
            ]
        return described

    def wrap(self, model: ModelAdapter) -> DefendedModel:
        """The model behind this defence (fit it first when it learns from data)."""
        return DefendedModel(model, self)


class InputDefence(Defence):
    """A defence that rewrites the inputs before the model sees them."""

    def transform(self, x: Batch) -> Batch:
        """The batch as the model should see it; never mutates `x`."""
        raise NotImplementedError

    def predict(self, model: ModelAdapter, x: Batch) -> Predictions:
        """The model's predictions of the transformed batch."""
        return model.predict(self.transform(x))


class DefendedModel:
    """A model adapter whose predictions pass through a defence.

    Its fingerprint hashes the model's with the defence's `describe()`, so a defended run is
    a run of another model: it has its own id, its own cached predictions, and is reused
    when the same defence with the same fitted state is tried again.
    """

    def __init__(self, model: ModelAdapter, defence: Defence) -> None:
        self.model = model
        self.defence = defence
        self.task = model.task
        self.classes = model.classes
        self.label = f"{getattr(model, 'label', type(model).__name__)} + {defence.name}"
        self.trainable = getattr(model, "trainable", None)

    def predict(self, x: Batch) -> Predictions:
        """The defence's predictions of a batch."""
        return self.defence.predict(self.model, x)

    def fingerprint(self) -> str:
        """SHA-256 of the model's fingerprint and the defence's description."""
        description = json.dumps(self.defence.describe(), sort_keys=True)
        return hashlib.sha256(f"{self.model.fingerprint()}|{description}".encode()).hexdigest()

    def runtime_packages(self) -> tuple[str, ...]:
        """The packages that shape the model's outputs (see `wince.engine.environment`)."""
        from wince.engine.environment import model_packages

        return model_packages(self.model)

    def close(self) -> None:
        """Release the model's resources."""
        self.model.close()


def _plain(value: Any) -> Any:
    """A value as JSON holds it: tuples as lists, numpy scalars and arrays as Python."""
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


_REGISTRY: dict[str, type[Defence]] = {}


def register(cls: type[Defence]) -> type[Defence]:
    """Class decorator adding a defence to the registry under its `name`."""
    if cls.name in _REGISTRY:
        raise ValueError(f"defence {cls.name!r} is registered twice")
    _REGISTRY[cls.name] = cls
    return cls


def registry() -> dict[str, type[Defence]]:
    """All registered defences by name (a copy)."""
    from wince.defences import (  # noqa: F401  (registers classes)
        abstain,
        audio,
        ensemble,
        image,
        model,
        tabular,
        text,
        training,
    )

    return dict(sorted(_REGISTRY.items()))


def applicable(model_kind: Task | str, modality: Modality | str) -> list[str]:
    """The names of the defences tried by default on a model of this task on this modality.

    A defence to try only when named (`Defence.by_default` False) is left out.
    """
    return [
        n
        for n, cls in registry().items()
        if cls.by_default and cls.applicable(model_kind, modality)
    ]


def get(name: str) -> type[Defence]:
    """The defence class registered under `name`.

    Raises:
        ParameterError: unknown name, with the closest registered names as a hint.
    """
    known = registry()
    if name in known:
        return known[name]
    raise ParameterError(f"unknown defence {name!r}{did_you_mean(name, known)}")


def create(name: str, params: Mapping[str, Any] | None = None) -> Defence:
    """The defence registered under `name`, built with keyword options `params`.

    Raises:
        ParameterError: unknown name, an option the defence does not take (naming the valid
            ones) or an invalid option value.
    """
    cls = get(name)
    valid = [
        option
        for option, p in inspect.signature(cls.__init__).parameters.items()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    ]
    for option in params or {}:
        if option not in valid:
            raise ParameterError(f"{name}: unknown option {option!r}{did_you_mean(option, valid)}")
    return cls(**dict(params or {}))
