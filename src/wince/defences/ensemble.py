"""An ensemble of the user's models: the run's model averaged with others of the same task.

From Python, give the other models as adapters, fitted estimators (anything `wince.as_model`
wraps), plan model sections (`{"pickle": "b.joblib"}`, `ModelSpec`) or paths; from the
command line as paths separated by semicolons, quoted for the shell:

    wince harden RUN --defence 'model.ensemble:models=models/b.joblib;models/c.onnx'

A path is read by its form (`member_spec`): `.joblib`, `.pkl`, `.pickle` files are
unpickled (only files you trust), `.onnx` run in ONNX Runtime, `.pt`, `.pth`, `.torchscript`
loaded as TorchScript, a folder as a saved transformers classifier, `http(s)://...` called as
an endpoint, and `module:function` called as a factory.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from pydantic import ValidationError

from wince.defences.base import CleanData, Defence, register
from wince.defences.lineage import IN_MEMORY
from wince.defences.model import class_probabilities, regression_values
from wince.errors import ModelError, ParameterError
from wince.models import as_model
from wince.models.base import ModelAdapter, Predictions, Task
from wince.perturbations.base import Batch
from wince.plan import ModelSpec

# Separates the members (and the weights) written as one command-line option value.
MEMBER_SEPARATOR = ";"
PICKLE_SUFFIXES = (".joblib", ".pkl", ".pickle")
TORCHSCRIPT_SUFFIXES = (".pt", ".pth", ".torchscript")


def member_spec(text: str) -> ModelSpec:
    """The plan model section a member written as text names (see the module docstring).

    Raises:
        ParameterError: a form none of these.
    """
    suffix = Path(text).suffix.lower()
    if text.startswith(("http://", "https://")):
        return ModelSpec(url=text)
    if suffix in PICKLE_SUFFIXES:
        return ModelSpec(pickle=text)
    if suffix == ".onnx":
        return ModelSpec(onnx=text)
    if suffix in TORCHSCRIPT_SUFFIXES:
        return ModelSpec(torchscript=text)
    if Path(text).is_dir():
        return ModelSpec(transformers=text)
    module, colon, function = text.partition(":")
    if colon and module and function and "/" not in text:
        return ModelSpec(factory=text)
    raise ParameterError(
        f"model.ensemble: cannot tell what model {text!r} is; give a {', '.join(PICKLE_SUFFIXES)}, "
        f".onnx or {', '.join(TORCHSCRIPT_SUFFIXES)} file, a saved transformers folder, an "
        "http(s):// endpoint or a 'module:function' factory, members separated by "
        f"'{MEMBER_SEPARATOR}'."
    )


def load_member(member: Any) -> ModelAdapter:
    """A member as a model adapter: from a path or factory text, a model section or a model.

    Raises:
        ParameterError: text of no known form, or a model section that is not valid.
        PlanError, ModelError: the model cannot be found or loaded.
    """
    from wince.models.loading import load_model

    if isinstance(member, str):
        return load_model(member_spec(member))
    if isinstance(member, Mapping):
        try:
            member = ModelSpec.model_validate(dict(member))
        except ValidationError as error:
            raise ParameterError(
                f"model.ensemble: member {dict(member)!r} is not a valid model section "
                f"({error.errors()[0]['msg']}); write it as a plan's model section, e.g. "
                '{"pickle": "models/b.joblib"}.'
            ) from None
    if isinstance(member, ModelSpec):
        return load_model(member)
    return as_model(member)


def recorded_member(member: Any) -> str | dict[str, Any]:
    """A member as a defended run's lineage records it, to load it again (`load_member`).

    A path or factory text as given, a plan model section as a mapping; a model given as an
    object (an adapter, a fitted estimator) is `IN_MEMORY`: nothing on disk rebuilds it.
    """
    if isinstance(member, str):
        return member
    if isinstance(member, ModelSpec):
        return member.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
    if isinstance(member, Mapping):
        return dict(member)
    return IN_MEMORY


def _listed(value: Any) -> list[Any]:
    """The items of a sequence or array, of text separated by `MEMBER_SEPARATOR`, or one."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(MEMBER_SEPARATOR) if part.strip()]
    if isinstance(value, Sequence | np.ndarray):
        return list(value)
    return [value]


@register
class ModelEnsemble(Defence):
    """The run's model averaged with the user's other models of the same task and classes.

    Classifiers average class probabilities (one-hot rows for a model that gives labels
    only: a vote), regressors their values, weighted by `weights` (default equal). The run's
    model comes first: weights[0] is its weight, weights[i] that of models[i - 1]. A defended
    run's lineage records each member as given (a path, a factory or a model section, which
    `wince verify` loads again; a model given as an object as "in memory", which nothing
    rebuilds: harden again from Python) and, in its fitted state, each member's label and
    fingerprint, so the defended model is another model whenever a member changes. It costs
    one call of each member per batch.

    Args:
        models: the other models, at least one: adapters, fitted estimators, plan model
            sections or paths (a str: paths separated by ';'; see the module docstring).
        weights: one non-negative weight per model, the run's first, not all 0 (a str:
            numbers separated by ';'); default equal. Normalised to sum to 1.
        seed: unused (the ensemble draws nothing).
    """

    name = "model.ensemble"
    version = 1
    tasks = frozenset({Task.CLASSIFICATION, Task.REGRESSION})
    by_default = False  # needs the user's other models

    def __init__(
        self,
        *,
        models: Any = None,
        weights: Sequence[float] | str | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(seed=seed)
        given = _listed([] if models is None else models)
        self.members = [load_member(m) for m in given]
        self.models = [recorded_member(m) for m in given]
        if not self.members:
            raise ParameterError(
                f"{self.name}: models must name at least one other model (paths separated by "
                f"'{MEMBER_SEPARATOR}', e.g. models=b.joblib{MEMBER_SEPARATOR}c.onnx)."
            )
        tasks = {member.task for member in self.members}
        if len(tasks) > 1:
            raise ModelError(
                f"{self.name}: the models answer different tasks "
                f"({', '.join(sorted(Task(t).value for t in tasks))}); an ensemble averages "
                "models of one task."
            )
        self.weights = self._weights(weights)

    def _weights(self, weights: Sequence[float] | str | None) -> tuple[float, ...]:
        """The weights normalised to sum to 1, one per model (the run's first)."""
        n = len(self.members) + 1
        if weights is None:
            return (1 / n,) * n
        written = _listed(weights)
        try:
            numbers = [float(w) for w in written if not isinstance(w, bool)]
        except (TypeError, ValueError):
            numbers = []
        if (
            len(numbers) != n
            or len(written) != n
            or not all(math.isfinite(w) and w >= 0 for w in numbers)
            or sum(numbers) == 0
        ):
            raise ParameterError(
                f"{self.name}: weights must be {n} non-negative numbers, not all 0, one for the "
                f"run's model and one per other model in order (e.g. weights="
                f"{MEMBER_SEPARATOR.join(['1'] * n)}); got {weights!r}."
            )
        total = sum(numbers)
        return tuple(w / total for w in numbers)

    def options(self) -> dict[str, Any]:
        """The members as given (`recorded_member`), the normalised weights and the seed."""
        return {"models": list(self.models), "weights": list(self.weights), "seed": self.seed}

    def fitted_state(self) -> dict[str, Any]:
        """Each member's label and fingerprint: the defended model changes when one does."""
        return {
            "members": [
                {"label": getattr(m, "label", type(m).__name__), "fingerprint": m.fingerprint()}
                for m in self.members
            ]
        }

    def check_members(self, model: ModelAdapter) -> None:
        """Refuse members of another task or other classes than the run's model.

        Raises:
            ModelError: a member answers another task, or lists other classes (or another
                order).
        """
        for index, member in enumerate(self.members, start=1):
            label = getattr(member, "label", type(member).__name__)
            if member.task != model.task:
                raise ModelError(
                    f"{self.name}: model {index} ({label}) is a {Task(member.task).value} "
                    f"model and the run's is a {Task(model.task).value} model; an ensemble "
                    "averages models of one task."
                )
            if (
                model.task == Task.CLASSIFICATION
                and member.classes is not None
                and model.classes is not None
                and list(member.classes) != list(model.classes)
            ):
                raise ModelError(
                    f"{self.name}: model {index} ({label}) has classes {list(member.classes)} "
                    f"and the run's model {list(model.classes)}; ensemble models trained on "
                    "the same classes, in the same order."
                )

    def fit(self, model: ModelAdapter, clean: CleanData) -> None:
        """Nothing to learn; checks that the members suit the run's model."""
        self.check_members(model)

    def predict(self, model: ModelAdapter, x: Batch) -> Predictions:
        """The weighted mean of the run's model's and the members' answers to `x`."""
        self.check_members(model)
        answers = [model.predict(x)] + [member.predict(x) for member in self.members]
        if model.task == Task.REGRESSION:
            values = [regression_values(a, self.name) for a in answers]
            return Predictions.from_values(self._weighted_mean(values))
        probabilities = [
            class_probabilities(a, m) for a, m in zip(answers, [model, *self.members], strict=True)
        ]
        widths = sorted({p.shape[1] for p in probabilities})
        if len(widths) > 1:
            raise ModelError(
                f"{self.name}: the models give probabilities of {widths} classes; ensemble "
                "models trained on the same classes, in the same order."
            )
        return Predictions.from_probabilities(self._weighted_mean(probabilities))

    def _weighted_mean(self, answers: Sequence[npt.NDArray[np.float64]]) -> npt.NDArray[np.float64]:
        """The answers averaged with the weights, over the models."""
        mean: npt.NDArray[np.float64] = np.tensordot(
            np.asarray(self.weights), np.stack(answers), axes=1
        )
        return mean
