"""Model adapters."""

from __future__ import annotations

from typing import Any

from wince.errors import ModelError
from wince.models.base import (
    CallableAdapter,
    ModelAdapter,
    Output,
    Predictions,
    Task,
    is_torch_module,
)
from wince.models.sklearn import SklearnAdapter

__all__ = [
    "CallableAdapter",
    "ModelAdapter",
    "Output",
    "Predictions",
    "SklearnAdapter",
    "Task",
    "as_model",
]


def as_model(
    model: Any,
    *,
    task: Task | str | None = None,
    output: Output | str | None = None,
    threshold: float | None = None,
) -> ModelAdapter:
    """Wrap a model object in the matching adapter.

    Accepts an adapter (returned as is), a fitted scikit-learn estimator, a torch module, an
    ONNX Runtime session or a plain callable. `output` and `threshold` declare what a torch,
    ONNX or callable classifier's output means (see `Output`); scikit-learn classifiers give
    probabilities.

    Raises:
        ModelError: the object is none of these.
    """
    if isinstance(model, ModelAdapter):
        return model
    kind = type(model).__module__.split(".")[0]
    if is_torch_module(model):
        from wince.models.torch import TorchAdapter

        return TorchAdapter(
            model, task=task or Task.CLASSIFICATION, output=output, threshold=threshold
        )
    if kind == "onnxruntime":
        from wince.models.onnx import OnnxAdapter

        return OnnxAdapter(
            model, task=task or Task.CLASSIFICATION, output=output, threshold=threshold
        )
    if hasattr(model, "predict") and hasattr(model, "fit"):
        return SklearnAdapter(model, task=task)
    if callable(model):
        return CallableAdapter(
            model, task=task or Task.CLASSIFICATION, output=output, threshold=threshold
        )
    raise ModelError(
        f"cannot use a {type(model).__name__} as a model: pass a fitted scikit-learn estimator, "
        "a torch module, an ONNX Runtime session, a callable batch -> outputs, or a "
        "wince.models adapter."
    )
