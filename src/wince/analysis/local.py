"""One-at-a-time partial derivatives of a tabular model, per column, in column-sd units.

For each column j, every sample is moved by ±h column standard deviations (central
difference) and the model output is compared: the regression value, or for a classifier the
probability of the class it predicts on the clean input. The derivative is "output change per
one standard deviation of the column"; for a linear model it equals the coefficient times
the column's sd.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from wince.analysis.stats import percentile_interval
from wince.engine.probe import Probe
from wince.errors import DataError, ModelError
from wince.metrics import bootstrap_weights
from wince.models.base import Predictions
from wince.perturbations.base import Modality

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class ColumnSensitivity:
    """Per-column partial derivatives, ranked by mean absolute value.

    Attributes:
        table: `column`, `sd` (the column's standard deviation), `mean` (mean signed
            derivative per column sd), `low`, `high` (95% interval of the mean),
            `mean_abs` (mean absolute derivative), `rank` (1 = most sensitive).
        output: what was differentiated ("value" or "probability of the predicted class").
    """

    table: pd.DataFrame
    output: str

    def to_payload(self) -> dict[str, Any]:
        """JSON-able form."""
        return {"output": self.output, "table": self.table.to_dict(orient="list")}


def _output(predictions: Predictions, classes: npt.NDArray[np.intp] | None) -> FloatArray:
    if predictions.values is not None:
        return predictions.values
    if predictions.scores is None or classes is None:
        raise ModelError(
            "column sensitivity of a classifier needs class probabilities; this model gives "
            "labels only."
        )
    return predictions.scores[np.arange(len(classes)), classes]


def column_sensitivity(
    probe: Probe,
    *,
    indices: npt.ArrayLike | None = None,
    step_sd: float = 0.01,
    n_boot: int = 1000,
    seed: int = 0,
) -> ColumnSensitivity:
    """Central-difference derivative of the model output for each numeric tabular column.

    Categorical columns (`DataContext.column_kinds`) have no derivative: a code moved by a
    small step is no category at all. `tabular.category_typos` and `tabular.missing_values`
    measure how they matter.

    Args:
        probe: evaluations on the run's model and tabular dataset.
        indices: samples to use (positions); default all.
        step_sd: half-step h in column standard deviations (default 0.01).
        n_boot: bootstrap replicates for the intervals (resampling samples).
        seed: seed of the bootstrap.

    Raises:
        DataError: the dataset is not tabular.
    """
    context = probe.context
    if context.modality != Modality.TABULAR or context.column_sd is None:
        raise DataError("column sensitivity needs a tabular dataset.")
    index = np.arange(len(probe.dataset)) if indices is None else np.asarray(indices, np.intp)
    x = np.asarray(probe.inputs(index), dtype=np.float64)
    n, width = x.shape
    kinds = context.column_kinds or ("float",) * width
    numeric = [j for j in range(width) if kinds[j] != "categorical"]
    if not numeric:
        raise DataError("column sensitivity needs a numeric column; every column is categorical.")
    d = len(numeric)
    sd = context.column_sd[numeric]
    clean = probe.predict_inputs(x, index)
    classes = clean.labels.astype(np.intp) if clean.labels is not None else None
    derivatives = np.empty((n, d))
    for k, j in enumerate(numeric):
        shift = np.zeros(width)
        shift[j] = step_sd * sd[k]
        both = probe.predict_inputs(
            np.concatenate([x + shift, x - shift]), np.concatenate([index, index])
        )
        out = _output(both, np.concatenate([classes, classes]) if classes is not None else None)
        derivatives[:, k] = (out[:n] - out[n:]) / (2 * step_sd) if sd[k] > 0 else 0.0
    replicates = bootstrap_weights(n, n_boot, seed).dot(derivatives) / n
    names = context.feature_names or tuple(f"x{j}" for j in range(width))
    intervals = [percentile_interval(replicates[:, k]) for k in range(d)]
    table = pd.DataFrame(
        {
            "column": [names[j] for j in numeric],
            "sd": sd,
            "mean": derivatives.mean(axis=0),
            "low": [i[0] for i in intervals],
            "high": [i[1] for i in intervals],
            "mean_abs": np.abs(derivatives).mean(axis=0),
        }
    )
    table = table.sort_values("mean_abs", ascending=False, ignore_index=True)
    table["rank"] = np.arange(1, d + 1)
    output = "value" if clean.values is not None else "probability of the predicted class"
    return ColumnSensitivity(table, output)
