"""Abstaining defences: selective prediction, low-confidence and out-of-range inputs rejected.

An abstaining defence does not change what the model answers; it says which inputs it would
not answer (defer to a person, a fallback or a retry). The defended model therefore predicts
exactly as the model does (the engine stores an answer for every sample, so the defended run
is paired with the undefended one like any other), and `AbstainingDefence.rejects` gives one
boolean per input, recomputed from the input (and the model's answer) whenever it is asked.

`wince harden` measures such a defence as selective prediction is measured:

- **coverage cost**: the share of clean traffic it rejects, estimated out of sample (fitted on
  one half of the clean data, counted on the other: a range fitted on the very data it is
  checked on would reject nothing by construction), and the share of each finding's
  perturbed inputs it rejects;
- **exposure on the accepted inputs**: a finding's effect over the inputs the defence accepts,
  against the undefended model's effect over all inputs. A defence that rejects what the
  model gets wrong lowers it; one that rejects at random does not;
- a defence rejecting more than `wince.defences.harden.REJECT_CAP` of clean traffic does not
  qualify, whatever it buys: rejecting everything would otherwise remove every exposure.

The defences here: `model.abstain` (top-class probability below a threshold, set directly or
fitted to reject a target share of clean traffic) and the input validators `tabular.validate`,
`image.validate` and `text.validate` (a per-input statistic outside the range the clean data
spans, widened by `margin` spreads). `wince harden` tries them only when named: rejecting
inputs needs a fallback for them (a person, a retry) that only the model's owner can provide.
"""

from __future__ import annotations

import math
import unicodedata
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from wince.defences.base import CleanData, Defence, register
from wince.defences.tabular import table_columns
from wince.errors import DataError, ModelError, ParameterError
from wince.models.base import ModelAdapter, Predictions, Task
from wince.perturbations.base import Batch, Modality, RaggedBatch, check_number

DEFAULT_CLEAN_REJECT_SHARE = 0.05  # `model.abstain` without a threshold: 5% of clean traffic
# Top-class probabilities within this relative distance of the threshold count as at it
# (answered): a model's probabilities tied up to floating-point noise (0.8807970779778823 and
# ...824) must not fall on both sides of a threshold fitted on one of them.
TIE_TOLERANCE = 1e-9


class AbstainingDefence(Defence):
    """A defence that answers as the model does and rejects some inputs (`rejects`).

    Tried only when named (`by_default` False): rejecting inputs needs a fallback for them (a
    person, a retry) that only the model's owner can say exists.
    """

    by_default = False

    def rejects(self, model: ModelAdapter, x: Batch) -> npt.NDArray[np.bool_]:
        """One boolean per input of `x`: True where the defence would not answer it."""
        raise NotImplementedError

    def predict(self, model: ModelAdapter, x: Batch) -> Predictions:
        """The model's own predictions: an abstention is a flag, not another answer."""
        return model.predict(x)


def _not_fitted(owner: str) -> DataError:
    return DataError(f"{owner} is not fitted: call fit(model, clean) first.")


@register
class LowConfidenceAbstention(AbstainingDefence):
    """Inputs whose top-class probability is below a threshold rejected (deferred).

    The threshold is `min_confidence` when given; otherwise it is fitted on clean data so that
    `clean_reject_share` of the clean samples fall below it (the sample at that quantile of
    the clean top-class probabilities). A probability within `TIE_TOLERANCE` (1e-9, relative)
    of the threshold counts as at it and is answered, so probabilities tied up to
    floating-point noise fall on one side: with ties at the threshold a little fewer than the
    target share are rejected, never more. Without either option the target share is
    `DEFAULT_CLEAN_REJECT_SHARE` (0.05: 5% of clean traffic). The model must give class
    probabilities.

    Args:
        min_confidence: the lowest top-class probability answered, in [0, 1].
        clean_reject_share: the share of clean samples to reject, in [0, 1]; not with
            `min_confidence`. Default (neither option given) 0.05, 5% of clean traffic.
        seed: unused (the defence draws no random numbers).
    """

    name = "model.abstain"
    version = 1
    tasks = frozenset({Task.CLASSIFICATION})

    def __init__(
        self,
        *,
        min_confidence: float | None = None,
        clean_reject_share: float | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(seed=seed)
        if min_confidence is not None and clean_reject_share is not None:
            raise ParameterError(
                f"{self.name}: give min_confidence (a fixed threshold) or clean_reject_share "
                "(a threshold fitted on clean data), not both."
            )
        self.min_confidence = (
            None
            if min_confidence is None
            else check_number(
                self.name, "min_confidence", min_confidence, unit="probability", low=0.0, high=1.0
            )
        )
        self.clean_reject_share = (
            None
            if clean_reject_share is None
            else check_number(
                self.name,
                "clean_reject_share",
                clean_reject_share,
                unit="fraction of samples",
                low=0.0,
                high=1.0,
            )
        )
        self.threshold: float | None = self.min_confidence

    def fit(self, model: ModelAdapter, clean: CleanData) -> None:
        """Set the threshold: `min_confidence`, or the clean quantile of the target share."""
        if self.min_confidence is not None:
            self.threshold = self.min_confidence
            return
        share = (
            DEFAULT_CLEAN_REJECT_SHARE
            if self.clean_reject_share is None
            else self.clean_reject_share
        )
        confidence = np.sort(self.confidence(model, clean.x))
        rejected = round(share * len(confidence))
        if rejected < len(confidence):
            # rejecting "below the threshold": the rejected-th smallest is the first answered
            self.threshold = float(confidence[rejected])
        else:  # everything: above the largest by more than the tie tolerance
            largest = float(confidence[-1])
            self.threshold = float(
                np.nextafter(largest + 2 * TIE_TOLERANCE * abs(largest), math.inf)
            )

    def fitted_state(self) -> dict[str, Any]:
        """The threshold."""
        return {"threshold": self.threshold}

    def confidence(self, model: ModelAdapter, x: Batch) -> npt.NDArray[np.float64]:
        """The model's top-class probability per input.

        Raises:
            ModelError: the model gives class labels only.
        """
        scores = model.predict(x).scores
        if scores is None:
            raise ModelError(
                f"{self.name} rejects inputs by the model's top-class probability, and the "
                "model gives class labels only; give the model's probabilities or logits (see "
                "wince.models.Output), or validate the inputs instead (tabular.validate, ...)."
            )
        top: npt.NDArray[np.float64] = scores.max(axis=1)
        return top

    def rejects(self, model: ModelAdapter, x: Batch) -> npt.NDArray[np.bool_]:
        """True where the top-class probability is below the threshold beyond `TIE_TOLERANCE`."""
        if self.threshold is None:
            raise _not_fitted(self.name)
        confidence = self.confidence(model, x)
        tied = np.isclose(confidence, self.threshold, rtol=TIE_TOLERANCE, atol=0.0)
        rejected: npt.NDArray[np.bool_] = (confidence < self.threshold) & ~tied
        return rejected


class RangeValidator(AbstainingDefence):
    """Inputs whose statistics fall outside the range the clean data spans rejected.

    Subclasses give `statistics`: k numbers per input. Fitting learns each statistic's clean
    minimum, maximum and standard deviation; an input is rejected when a statistic lies more
    than `margin` standard deviations below the minimum or above the maximum, or is not
    finite (a missing value cannot be checked). The model is not called.

    Args:
        margin: how far beyond the clean range a statistic may lie, in standard deviations
            of that statistic over the clean data, in [0, 100]; 0 accepts exactly the clean
            range. Every input the validator is fitted on is accepted, so `wince harden`
            counts its clean rejection out of sample: fitted on one half of the clean data,
            counted on the other. New clean inputs fall outside a range fitted on few rows
            more often (the extremes of 50 rows are narrower than those of 5000), so on a
            small table the default 0.5 may reject noticeably more clean traffic than the
            fitted rows suggest; widen it there.
        seed: unused (the defence draws no random numbers).
    """

    statistic_names: ClassVar[tuple[str, ...]] = ()

    def __init__(self, *, margin: float = 0.5, seed: int = 0) -> None:
        super().__init__(seed=seed)
        self.margin = check_number(
            self.name, "margin", margin, unit="standard deviations", low=0.0, high=100.0
        )
        self.low: npt.NDArray[np.float64] | None = None
        self.high: npt.NDArray[np.float64] | None = None

    def statistics(self, x: Batch) -> npt.NDArray[np.float64]:
        """(n, k) statistics of the inputs, the columns named by `statistic_names`."""
        raise NotImplementedError

    def fit(self, model: ModelAdapter, clean: CleanData) -> None:
        """Learn the accepted range of each statistic from the clean inputs (NaN left out).

        Raises:
            DataError: a statistic has no finite value on the clean data.
        """
        values = self.statistics(clean.x)
        finite = np.isfinite(values)
        if not finite.any(axis=0).all():
            empty = int(np.argmin(finite.any(axis=0)))
            raise DataError(
                f"{self.name}: {self.describe_statistic(empty)} has no finite value on the "
                "clean data, so there is no range to check it against; fit it on data that "
                "holds values there."
            )
        values = np.where(finite, values, np.nan)
        spread = np.nanstd(values, axis=0) * self.margin
        self.low = np.nanmin(values, axis=0) - spread
        self.high = np.nanmax(values, axis=0) + spread

    def describe_statistic(self, index: int) -> str:
        """A statistic's name for messages: its `statistic_names` entry or 'column i'."""
        names = self.statistic_names
        return names[index] if index < len(names) else f"column {index}"

    def fitted_state(self) -> dict[str, Any]:
        """Each statistic's accepted range."""
        return {
            "low": None if self.low is None else self.low.tolist(),
            "high": None if self.high is None else self.high.tolist(),
        }

    def rejects(self, model: ModelAdapter, x: Batch) -> npt.NDArray[np.bool_]:
        """True where a statistic is outside its accepted range or not finite."""
        if self.low is None or self.high is None:
            raise _not_fitted(self.name)
        values = self.statistics(x)
        if values.shape[1] != len(self.low):
            raise DataError(
                f"{self.name} was fitted on {len(self.low)} statistics per input but got "
                f"{values.shape[1]}; fit it on the data the model reads."
            )
        with np.errstate(invalid="ignore"):
            inside = (values >= self.low) & (values <= self.high)
        return np.logical_not(inside.all(axis=1))


@register
class TabularValidation(RangeValidator):
    """Rows with a value beyond the clean range of its column (by `margin` spreads) rejected.

    A sentinel (-999, 9999), a unit read wrongly, a saturated sensor or a missing value (NaN)
    makes the row rejected; every clean row is accepted by the validator fitted on it.
    """

    name = "tabular.validate"
    version = 1
    modalities = frozenset({Modality.TABULAR})

    def statistics(self, x: Batch) -> npt.NDArray[np.float64]:
        """The row's values themselves.

        Raises:
            DataError: not a 2-D numeric batch.
        """
        return table_columns(x, self.name)


@register
class ImageValidation(RangeValidator):
    """Images whose exposure, contrast or fine detail is beyond the clean range rejected.

    Per image, on levels scaled to [0, 1] (uint8 / 255, float as it is) over all channels:
    `exposure` (mean level), `contrast` (standard deviation of the levels) and `detail` (mean
    absolute difference of horizontally neighbouring pixels: noise raises it, blur lowers
    it). An image outside the range the clean images span (widened by `margin` spreads) is
    rejected: an over- or under-exposed, washed-out, noisy or blurred frame.
    """

    name = "image.validate"
    version = 1
    modalities = frozenset({Modality.IMAGE})
    statistic_names = ("exposure", "contrast", "detail")

    def statistics(self, x: Batch) -> npt.NDArray[np.float64]:
        """(n, 3): exposure, contrast and detail of each image."""
        if isinstance(x, RaggedBatch):
            return np.stack([self._image_statistics(image) for image in x])
        return self._levels_statistics(np.asarray(x))

    def _image_statistics(self, image: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
        statistics: npt.NDArray[np.float64] = self._levels_statistics(image[None])[0]
        return statistics

    def _levels_statistics(self, images: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
        if images.dtype.kind not in "uf" or images.ndim < 3:
            raise DataError(
                f"{self.name} takes uint8 or float images (n, height, width[, channels]); got "
                f"shape {images.shape} and dtype {images.dtype}."
            )
        levels = images.astype(np.float64) / (255.0 if images.dtype == np.uint8 else 1.0)
        flat = levels.reshape(len(levels), -1)
        detail = np.abs(np.diff(levels, axis=2)).reshape(len(levels), -1).mean(axis=1)
        return np.stack([flat.mean(axis=1), flat.std(axis=1), detail], axis=1)


@register
class TextValidation(RangeValidator):
    """Texts whose share of non-ASCII or invisible characters is beyond the clean range rejected.

    Per text: `non_ascii` (share of its characters outside ASCII: homoglyphs, full-width
    forms, accents) and `invisible` (share of Unicode format characters, category Cf:
    zero-width spaces and joiners, bidirectional controls). A text outside the clean range
    (widened by `margin` spreads) is rejected; on clean English text with no such characters
    the range is 0, so any one rejects it. An empty text has shares 0.
    """

    name = "text.validate"
    version = 1
    modalities = frozenset({Modality.TEXT})
    statistic_names = ("non_ascii", "invisible")

    def statistics(self, x: Batch) -> npt.NDArray[np.float64]:
        """(n, 2): the non-ASCII and the invisible share of each text's characters."""
        rows = [
            (
                sum(ord(c) > 127 for c in text) / max(len(text), 1),
                sum(unicodedata.category(c) == "Cf" for c in text) / max(len(text), 1),
            )
            for text in x
        ]
        return np.asarray(rows, dtype=np.float64).reshape(len(rows), 2)
