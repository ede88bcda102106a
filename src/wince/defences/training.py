"""Training-side defence: the model retrained on held-out data augmented against the findings.

`train.augment` retrains a copy of the model on a training set the user gives, plus
`copies` augmented copies of it drawn by `wince.augment` with the perturbations the run
found fragile, up to the largest magnitude found fragile (or the ones named in
`perturbations`, over their realistic range or up to `up_to`). The defended model is the
retrained one.

Honest measurement. A defence is fitted on the run's clean data, which is also what the
defended run is evaluated on; a model retrained on those samples would be graded on what it
was trained on. So the training data is a separate, required option (`train_data`), and
`fit` refuses a training set that shares any sample (same content) with the run's data:
`wince harden` then measures the retrained model on samples it never saw, as the
undefended one was.

How it retrains:

- a scikit-learn estimator or pipeline: `sklearn.base.clone` (same hyper-parameters, no
  fitted state) fitted on the augmented set;
- a torch classifier or regressor: a copy of the module fine-tuned on the CPU for `epochs`
  passes of Adam at learning rate `lr` over seeded shuffles of the augmented set
  (cross-entropy on logits or probabilities; squared error for a regressor);
- anything else, or to use your own recipe: `train_fn(model, x, y) -> fitted model`, given
  the original model (the estimator, torch module or adapter), the augmented inputs and
  their labels as the training data holds them; from a plan or the command line, a
  'module:function' name.

Identity. The defended model's description records the training data's fingerprint, the
perturbations and magnitude caps, the copies, the seed, the hook's qualified name and a hash
of its source, and the retrained model's own fingerprint: changing any of them gives another
defended run.

What it trained on. A defended run's lineage (`wince.open(store, run_id).lineage["defence"]
["fitted"]`) records the perturbations it augmented with, each with the options of the
fragile scenario it was aimed at (`{"name": "tabular.unit_confusion", "params": {"columns":
["proline"]}}`), their magnitude caps (`up_to`), and the rows it trained on.
"""

from __future__ import annotations

import copy
import hashlib
import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from wince import perturbations as library
from wince.datasets.base import Dataset
from wince.defences.base import CleanData, Defence, FragilePerturbation, register
from wince.defences.lineage import IN_MEMORY
from wince.errors import DataError, ModelError, ParameterError
from wince.models.base import ModelAdapter, Output, Predictions, Task
from wince.perturbations.base import Batch

TrainFn = Callable[[Any, Any, Any], Any]
_DATA_HINT = (
    "give train_data= the data the model is trained on, held out from the run's data: a "
    "wince Dataset or an (x, y) tuple in Python, a 'module:function' returning one from a "
    "plan or the command line (--defence train.augment:train_data=mymodule:training_set)"
)


@register
class AugmentedRetraining(Defence):
    """The model retrained on held-out training data plus copies augmented against the findings.

    Args:
        train_data: the training set, disjoint from the run's data (required): a `Dataset`,
            an (x, y) tuple, or a 'module:function' that returns one.
        perturbations: the perturbations to augment with (registry names or
            `{"name": ..., "params": {...}}`); default the run's fragile perturbations with
            the options of their fragile scenarios, as `wince harden` passes them (`aim`);
            the defended run's lineage records them in `defence.fitted.perturbations`.
        up_to: physical cap of the magnitude per perturbation name; default the largest
            magnitude found fragile (aimed), else the realistic range's severe end.
        copies: augmented copies of the training set, in [1, 32]; the model trains on
            (1 + copies) × the training rows.
        train_fn: your training function `train_fn(model, x, y) -> fitted model`, or its
            'module:function' name; default a scikit-learn refit or a torch fine-tune.
        epochs: torch fine-tune passes over the augmented set, in [1, 100].
        lr: torch fine-tune Adam learning rate, in (0, 1].
        batch_size: torch fine-tune samples per step, in [1, 65536].
        seed: the seed of the augmentation draws and of the fine-tune's shuffles.
    """

    name = "train.augment"
    version = 1
    tasks = frozenset({Task.CLASSIFICATION, Task.REGRESSION})
    by_default = False

    def __init__(
        self,
        *,
        train_data: Any = None,
        perturbations: str | Sequence[str | Mapping[str, Any]] | None = None,
        up_to: Mapping[str, float] | None = None,
        copies: int = 4,
        train_fn: TrainFn | str | None = None,
        epochs: int = 5,
        lr: float = 1e-3,
        batch_size: int = 64,
        seed: int = 0,
    ) -> None:
        super().__init__(seed=seed)
        if train_data is None:
            raise ParameterError(
                f"{self.name} retrains the model and needs a training set: {_DATA_HINT}. It "
                "never trains on the run's own samples, which the defended run is graded on."
            )
        self.train_set = _training_set(train_data)
        self.train_data = train_data if isinstance(train_data, str) else IN_MEMORY
        if isinstance(perturbations, str):
            perturbations = [perturbations]
        self.perturbations = list(perturbations) if perturbations is not None else None
        self.up_to = dict(up_to) if up_to is not None else None
        self.copies = _whole(copies, 1, 32, f"{self.name}: copies")
        self.train_fn = train_fn
        self.hook = _hook(train_fn, self.name) if train_fn is not None else None
        self.epochs = _whole(epochs, 1, 100, f"{self.name}: epochs")
        if isinstance(lr, bool) or not isinstance(lr, int | float) or not 0 < lr <= 1:
            raise ParameterError(f"{self.name}: lr must be in (0, 1]; got {lr!r}. Try 0.001.")
        self.lr = float(lr)
        self.batch_size = _whole(batch_size, 1, 65536, f"{self.name}: batch_size")
        self.fragile: list[FragilePerturbation] = []
        self.retrained: ModelAdapter | None = None
        self.trained_rows = 0

    def options(self) -> dict[str, Any]:
        """The options, the training data and hook by name (their content is in `fitted`)."""
        return super().options() | {
            "train_data": self.train_data,
            "train_fn": _qualified_name(self.hook) if self.hook is not None else None,
        }

    def aim(self, fragile: Sequence[FragilePerturbation]) -> None:
        """Augment with the run's fragile perturbations, unless `perturbations` names some.

        Each with the options its fragile scenario gave it (the columns, the style, ...).
        """
        self.fragile = [f for f in fragile if library.get(f.name).preserves_shape]

    def aimed_at(self) -> list[FragilePerturbation]:
        """The fragile perturbations it augments with when none are named."""
        return [] if self.perturbations is not None else list(self.fragile)

    def augmentation(self) -> tuple[list[str | Mapping[str, Any]], dict[str, float]]:
        """The perturbations augmented with and their magnitude caps (physical units).

        Aimed at the findings: each fragile perturbation with its options, capped at the
        largest magnitude found fragile (the strongest over its options, as `augment` caps by
        name), unless `up_to` caps it.

        Raises:
            ParameterError: none named and none aimed at (the run has no fragile finding a
                same-shape perturbation can reproduce).
        """
        if self.perturbations is not None:
            return self.perturbations, dict(self.up_to or {})
        if not self.fragile:
            raise ParameterError(
                f"{self.name}: no perturbation to augment with: the run has no fragile "
                "finding of a perturbation that keeps the input's shape. Name them with "
                "perturbations= (e.g. image.gaussian_noise)."
            )
        specs: list[str | Mapping[str, Any]] = [
            {"name": f.name, "params": dict(f.params)} if f.params else f.name for f in self.fragile
        ]
        caps: dict[str, float] = {}
        for f in self.fragile:
            severity = library.get(f.name).magnitude.severity_of
            if f.name not in caps or severity(f.value) > severity(caps[f.name]):
                caps[f.name] = f.value
        return specs, caps | dict(self.up_to or {})

    def fit(self, model: ModelAdapter, clean: CleanData) -> None:
        """Retrain the model on the augmented training set.

        The run's clean data is read only to refuse a training set that overlaps it.

        Raises:
            DataError: the training set shares samples with the run's data, has no labels,
                or is of another modality.
            ParameterError: no perturbation to augment with.
            ModelError: the model cannot be retrained without a `train_fn`, or the
                retrained model has other classes.
        """
        from wince.engine.runner import encode_labels, input_digests
        from wince.realism.augment import augment

        train = self.train_set
        if train.labels is None:
            raise DataError(f"{self.name}: the training set has no labels; {_DATA_HINT}.")
        if train.modality != clean.context.modality:
            raise DataError(
                f"{self.name}: the training set holds {train.modality} data and the run's "
                f"data is {clean.context.modality}; give training data of the run's kind."
            )
        x = train.batch(0, len(train))
        shared = np.isin(input_digests(x), input_digests(clean.x)).sum()
        if shared:
            raise DataError(
                f"{self.name}: {shared} of the {len(train)} training samples are also in the "
                "run's data, which the defended model is evaluated on; retraining on them "
                "would grade the model on what it learnt. Hold them out of train_data."
            )
        names, caps = self.augmentation()
        augmenter = augment(names, seed=self.seed, up_to=caps or None, context=train)
        copies = [augmenter(x, ids=train.ids, epoch=epoch) for epoch in range(self.copies)]
        x_augmented = _concatenate([x, *copies])
        repeat = self.copies + 1
        y_augmented = np.concatenate([train.labels] * repeat)
        encoded = encode_labels(train, model)
        assert encoded is not None  # the training set has labels
        self.retrained = self._retrain(
            model, x_augmented, y_augmented, np.concatenate([encoded] * repeat)
        )
        self.trained_rows = len(x_augmented)
        if model.classes is not None and self.retrained.classes != model.classes:
            raise ModelError(
                f"{self.name}: the retrained model's classes {self.retrained.classes} are not "
                f"the model's {model.classes}; train on data with every class of the model."
            )

    def _retrain(
        self, model: ModelAdapter, x: Batch, y: npt.NDArray[Any], encoded: npt.NDArray[Any]
    ) -> ModelAdapter:
        """The model retrained on (x, y): by the hook, a scikit-learn refit or a fine-tune.

        `y` holds the labels as the training data does (for the hook and scikit-learn),
        `encoded` as the model's outputs index them (class indices; for the fine-tune).
        """
        from wince.models.sklearn import SklearnAdapter
        from wince.models.torch import TorchAdapter

        if self.hook is not None:
            original = next(
                (
                    getattr(model, attribute)
                    for attribute in ("estimator", "module")
                    if getattr(model, attribute, None) is not None
                ),
                model,
            )
            fitted = self.hook(original, x, y)
            return _adapted(fitted, model)
        if isinstance(model, SklearnAdapter):
            return SklearnAdapter(refit_sklearn(model.estimator, x, y), task=model.task)
        if isinstance(model, TorchAdapter):
            return fine_tune_torch(
                model,
                x,
                encoded,
                epochs=self.epochs,
                lr=self.lr,
                batch_size=self.batch_size,
                seed=self.seed,
            )
        raise ModelError(
            f"{self.name}: wince retrains scikit-learn and torch models itself; this is a "
            f"{getattr(model, 'label', type(model).__name__)}. Pass train_fn= your training "
            "function (model, x, y) -> fitted model."
        )

    def fitted_state(self) -> dict[str, Any]:
        """What makes the retrained model: data, augmentation, hook and its fingerprint."""
        if self.retrained is None:
            return {}
        names, caps = self.augmentation()
        return {
            "train_data": self.train_set.fingerprint(),
            "train_rows": len(self.train_set),
            "trained_rows": self.trained_rows,
            "perturbations": [n if isinstance(n, str) else dict(n) for n in names],
            "up_to": caps,
            "train_fn_source": _source_hash(self.hook) if self.hook is not None else None,
            "retrained_model": self.retrained.fingerprint(),
        }

    def predict(self, model: ModelAdapter, x: Batch) -> Predictions:
        """The retrained model's predictions."""
        if self.retrained is None:
            raise DataError(f"{self.name} is not fitted: call fit(model, clean) first.")
        return self.retrained.predict(x)


def refit_sklearn(estimator: Any, x: Batch, y: npt.NDArray[Any]) -> Any:
    """A clone of a scikit-learn estimator (same hyper-parameters) fitted on (x, y)."""
    from sklearn.base import clone

    names = getattr(estimator, "feature_names_in_", None)
    if names is not None and np.ndim(x) == 2:
        import pandas as pd

        x = pd.DataFrame(np.asarray(x), columns=list(names))
    return clone(estimator).fit(x, y)


def fine_tune_torch(
    model: Any,
    x: Batch,
    targets: npt.NDArray[Any],
    *,
    epochs: int,
    lr: float,
    batch_size: int = 64,
    seed: int,
) -> ModelAdapter:
    """A copy of a `TorchAdapter`'s module fine-tuned on the CPU on (x, targets).

    `epochs` passes of Adam at `lr` over shuffles of the samples (`batch_size` per step)
    seeded by `seed`. Classifiers minimise the cross-entropy of their logits or probabilities
    against class indices; regressors the squared error of their values.

    Raises:
        ModelError: a classifier whose output is a score or labels (no loss to descend).
    """
    from wince.models.torch import TorchAdapter, import_torch

    torch = import_torch()
    inputs = torch.tensor(np.asarray(x), dtype=torch.float32)
    if model.task == Task.CLASSIFICATION:
        model.predict(np.asarray(x)[:1])  # settles what the output means when not declared
        meaning = model.reader.meaning
        if meaning not in (Output.LOGITS, Output.PROBABILITIES):
            raise ModelError(
                f"train.augment fine-tunes a torch classifier on its logits or probabilities; "
                f"this one outputs {meaning}. Pass train_fn= your training function."
            )
        answers = torch.tensor(targets, dtype=torch.long)
    else:
        meaning = None
        answers = torch.tensor(targets, dtype=torch.float32)
    module = copy.deepcopy(model.module).to("cpu").train()
    torch.manual_seed(seed)
    optimiser = torch.optim.Adam(module.parameters(), lr=lr)
    order = np.random.default_rng(seed)
    batches = max(1, math.ceil(len(inputs) / batch_size))
    for _ in range(epochs):
        for batch in np.array_split(order.permutation(len(inputs)), batches):
            index = torch.from_numpy(batch)
            output = module(inputs[index])
            if meaning == Output.PROBABILITIES:
                loss = torch.nn.functional.nll_loss(output.clamp_min(1e-12).log(), answers[index])
            elif meaning == Output.LOGITS:
                loss = torch.nn.functional.cross_entropy(output, answers[index])
            else:
                loss = torch.nn.functional.mse_loss(output.reshape(-1), answers[index])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    return TorchAdapter(
        module.eval(),
        task=model.task,
        classes=model.classes,
        max_batch=model.max_batch,
        output=model.reader.declared,
        threshold=model.reader.threshold,
    )


def _training_set(data: Any) -> Dataset:
    """The training set from a Dataset, an (x, y) tuple or a 'module:function' factory."""
    from wince.datasets.loading import as_dataset
    from wince.models.loading import call_factory

    where = "train.augment train_data"
    built = call_factory(data, where, DataError) if isinstance(data, str) else data
    try:
        return as_dataset(built)
    except DataError as error:
        raise DataError(f"{where}: not a dataset ({error}); {_DATA_HINT}.") from None


def _hook(train_fn: TrainFn | str, owner: str) -> TrainFn:
    """The training function, imported when named 'module:function'."""
    from wince.models.loading import import_object

    hook = import_object(train_fn, f"{owner} train_fn") if isinstance(train_fn, str) else train_fn
    if not callable(hook):
        raise ParameterError(
            f"{owner}: train_fn must be a function (model, x, y) -> fitted model, or its "
            f"'module:function' name; got a {type(hook).__name__}."
        )
    return hook


def _qualified_name(function: Callable[..., Any]) -> str:
    """'module:qualified.name' of a function (its type's for a callable object)."""
    target = function if hasattr(function, "__qualname__") else type(function)
    return f"{target.__module__}:{target.__qualname__}"


def _source_hash(function: Callable[..., Any]) -> str | None:
    """SHA-256 of a function's source (first 16 hex digits); None when it has none."""
    try:
        source = inspect.getsource(function)
    except (OSError, TypeError):
        return None
    return hashlib.sha256(source.encode()).hexdigest()[:16]


def _adapted(fitted: Any, model: ModelAdapter) -> ModelAdapter:
    """What a training hook returned, as an adapter like the model's.

    Raises:
        ModelError: the hook returned something that is not a model.
    """
    from wince.models import as_model
    from wince.models.sklearn import SklearnAdapter
    from wince.models.torch import TorchAdapter

    if isinstance(model, TorchAdapter) and not isinstance(fitted, TorchAdapter):
        return TorchAdapter(
            fitted,
            task=model.task,
            classes=model.classes,
            max_batch=model.max_batch,
            output=model.reader.declared,
            threshold=model.reader.threshold,
        )
    if isinstance(model, SklearnAdapter) and not isinstance(fitted, SklearnAdapter):
        return SklearnAdapter(fitted, task=model.task)
    try:
        return as_model(fitted, task=model.task)
    except ModelError as error:
        raise ModelError(f"train.augment: train_fn returned no model: {error}") from None


def _concatenate(batches: list[Batch]) -> Batch:
    """Batches one after the other: a list for text, an array otherwise."""
    if isinstance(batches[0], list):
        return [sample for batch in batches for sample in batch]
    return np.concatenate([np.asarray(b) for b in batches])


def _whole(value: object, low: int, high: int, owner: str) -> int:
    """A whole number in [low, high].

    Raises:
        ParameterError: anything else.
    """
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ParameterError(f"{owner} must be a whole number in [{low}, {high}]; got {value!r}.")
    return value
