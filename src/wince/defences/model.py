"""Model-side defences: temperature scaling and test-time augmentation."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import optimize

from wince import perturbations
from wince.defences.base import CleanData, Defence, register
from wince.errors import DataError, ModelError, ParameterError
from wince.models.base import ModelAdapter, Predictions, Task, softmax
from wince.perturbations.base import Batch, DataContext, Modality, Rngs

# Temperatures searched by `model.temperature`, as (low, high): 1/20 to 20.
TEMPERATURE_RANGE = (0.05, 20.0)
_SMALLEST_PROBABILITY = 1e-12


def _log_probabilities(predictions: Predictions, owner: str) -> npt.NDArray[np.float64]:
    """Log class probabilities of a classifier's predictions.

    Raises:
        ModelError: the model gives labels only.
    """
    if predictions.scores is None:
        raise ModelError(
            f"{owner} rescales class probabilities, and the model gives class labels only; "
            "give the model's probabilities or logits (see wince.models.Output)."
        )
    return np.log(np.clip(predictions.scores, _SMALLEST_PROBABILITY, 1.0))


@register
class TemperatureScaling(Defence):
    """Class probabilities recalibrated by one temperature fitted on clean data.

    The probabilities p become softmax(log p / T), with T minimising the negative
    log-likelihood of the clean data's labels (Guo et al. 2017, "On calibration of modern
    neural networks"); fit it on held-out clean data. T > 1 softens an over-confident
    model, T < 1 sharpens an under-confident one. The predicted class never changes, so
    flips and accuracy are untouched: it reduces exposure measured on confidence.
    """

    name = "model.temperature"
    version = 1
    tasks = frozenset({Task.CLASSIFICATION})

    def __init__(self, *, seed: int = 0) -> None:
        super().__init__(seed=seed)
        self.temperature: float | None = None

    def fit(self, model: ModelAdapter, clean: CleanData) -> None:
        """Find the temperature in `TEMPERATURE_RANGE` minimising the labels' NLL.

        Raises:
            DataError: the clean data has no labels.
            ModelError: the model gives labels only.
        """
        if clean.labels is None:
            raise DataError(
                f"{self.name} is fitted on labelled clean data; the run's data has no labels."
            )
        log_p = _log_probabilities(model.predict(clean.x), self.name)
        labels = np.asarray(clean.labels, dtype=np.intp)

        def nll(log_t: float) -> float:
            scaled = log_p / math.exp(log_t)
            scaled -= scaled.max(axis=1, keepdims=True)
            log_norm = np.log(np.exp(scaled).sum(axis=1))
            return float(np.mean(log_norm - scaled[np.arange(len(labels)), labels]))

        low, high = (math.log(t) for t in TEMPERATURE_RANGE)
        found = optimize.minimize_scalar(nll, bounds=(low, high), method="bounded")
        self.temperature = float(math.exp(found.x))

    def fitted_state(self) -> dict[str, Any]:
        """The temperature."""
        return {"temperature": self.temperature}

    def predict(self, model: ModelAdapter, x: Batch) -> Predictions:
        """The model's probabilities at the fitted temperature."""
        if self.temperature is None:
            raise DataError(f"{self.name} is not fitted: call fit(model, clean) first.")
        log_p = _log_probabilities(model.predict(x), self.name)
        return Predictions.from_probabilities(softmax(log_p / self.temperature))


# A benign perturbation per modality, for test-time augmentation's copies.
TTA_PERTURBATIONS = {
    Modality.IMAGE: "image.gaussian_noise",
    Modality.TABULAR: "tabular.gaussian_noise",
    Modality.TEXT: "text.whitespace",
    Modality.AUDIO: "audio.additive_noise",
    Modality.TIMESERIES: "timeseries.jitter",
}


def content_keys(x: Batch) -> npt.NDArray[np.uint64]:
    """A 64-bit key per sample from its content, so its augmented copies depend on it alone."""
    from wince.engine.runner import input_digests

    return input_digests(x).view(np.uint64)


@register
class AugmentationAverage(Defence):
    """Predictions averaged over the input and a few seeded copies under a benign perturbation.

    The copies are drawn by `perturbation` (default: mild noise of the data's modality,
    `TTA_PERTURBATIONS`) at `severity` (0.2 = level 1), each sample's copies from random
    streams keyed on the run seed, the copy's index and the sample's content: the same input
    always gets the same answer. Classifiers average class probabilities (one-hot labels for
    a model without them), regressors their values. It costs `copies` + 1 model calls per
    sample. Fitting only records the data's context (column spreads, sample rate).

    Args:
        perturbation: the registered perturbation of the copies; default by modality.
        severity: its severity, in (0, 1].
        copies: augmented copies per sample, in [1, 32].
        seed: the seed of the copies' random streams.
    """

    name = "model.tta"
    version = 1
    tasks = frozenset({Task.CLASSIFICATION, Task.REGRESSION})

    def __init__(
        self,
        *,
        perturbation: str | None = None,
        severity: float = 0.2,
        copies: int = 4,
        seed: int = 0,
    ) -> None:
        super().__init__(seed=seed)
        if perturbation is not None:
            perturbations.get(perturbation)  # an unknown name fails here
        self.perturbation = perturbation
        if isinstance(severity, bool) or not isinstance(severity, int | float):
            severity = math.nan
        if not 0 < severity <= 1:
            raise ParameterError(f"{self.name}: severity must be in (0, 1]; got {severity!r}.")
        self.severity = float(severity)
        if isinstance(copies, bool) or not isinstance(copies, int) or not 1 <= copies <= 32:
            raise ParameterError(
                f"{self.name}: copies must be a whole number in [1, 32]; got {copies!r}."
            )
        self.copies = copies
        self.context: DataContext | None = None

    def fit(self, model: ModelAdapter, clean: CleanData) -> None:
        """Record the data's context and settle the perturbation for its modality."""
        self.context = clean.context
        chosen = self.perturbation or TTA_PERTURBATIONS[clean.context.modality]
        if perturbations.get(chosen).modality != clean.context.modality:
            raise ParameterError(
                f"{self.name}: perturbation {chosen} is for {perturbations.get(chosen).modality} "
                f"data, the data is {clean.context.modality}; choose a "
                f"{clean.context.modality}.* perturbation."
            )
        self.perturbation = chosen

    def predict(self, model: ModelAdapter, x: Batch) -> Predictions:
        """The mean of the model's answers to `x` and its augmented copies."""
        if self.context is None or self.perturbation is None:
            raise DataError(f"{self.name} is not fitted: call fit(model, clean) first.")
        augmenter = perturbations.create(self.perturbation, {})
        value = augmenter.at_severity(self.severity)
        keys = content_keys(x)
        answers = [model.predict(x)]
        for copy in range(self.copies):
            rngs = Rngs(self.seed, f"tta:{self.perturbation}", copy, keys)
            answers.append(model.predict(augmenter.perturb(x, value, rngs, self.context)))
        if model.task == Task.REGRESSION:
            return Predictions.from_values(
                np.mean([regression_values(a, self.name) for a in answers], axis=0)
            )
        return Predictions.from_probabilities(
            np.mean([class_probabilities(a, model) for a in answers], axis=0)
        )


def class_probabilities(answer: Predictions, model: ModelAdapter) -> npt.NDArray[np.float64]:
    """A classifier's class probabilities; one-hot rows for a model that gives labels only."""
    if answer.scores is not None:
        return answer.scores
    labels = np.asarray(answer.labels)
    k = len(model.classes) if model.classes is not None else int(labels.max()) + 1
    one_hot: npt.NDArray[np.float64] = np.eye(k)[labels]
    return one_hot


def regression_values(answer: Predictions, owner: str) -> npt.NDArray[np.float64]:
    """A regressor's values.

    Raises:
        ModelError: the answer has none.
    """
    if answer.values is None:
        raise ModelError(f"{owner}: a regressor answered without values.")
    return answer.values
