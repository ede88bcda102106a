"""Model adapters."""

from __future__ import annotations

from typing import Any

from wince.errors import ModelError
from wince.models.base import (
    CallableAdapter,
    ModelAdapter,
    Output,
    Predictions,
    SampleContext,
    Task,
    is_torch_module,
)
from wince.models.http import HttpAdapter
from wince.models.onnx import OnnxAdapter
from wince.models.sklearn import SklearnAdapter
from wince.models.torch import TorchAdapter

__all__ = [
    "CallableAdapter",
    "HttpAdapter",
    "ModelAdapter",
    "OnnxAdapter",
    "Output",
    "Predictions",
    "SampleContext",
    "SklearnAdapter",
    "Task",
    "TorchAdapter",
    "as_model",
]


def as_model(
    model: Any,
    *,
    task: Task | str | None = None,
    output: Output | str | None = None,
    threshold: float | None = None,
    device: str | None = None,
) -> ModelAdapter:
    """Wrap a model object in the matching adapter.

    Accepts an adapter (returned as is), a fitted scikit-learn estimator, a torch module, an
    ONNX Runtime session or a plain callable. `output` and `threshold` declare what a torch,
    ONNX or callable classifier's output means (see `Output`); scikit-learn classifiers give
    probabilities. `device` ("cpu", "cuda:0", ...) is where a torch module runs (any
    `torch.nn.Module`, a user's own subclass included; default "cpu").

    Raises:
        ModelError: the object is none of these, or a device was given for a model that is
            not a torch module.
    """
    if isinstance(model, ModelAdapter):
        return model
    kind = type(model).__module__.split(".")[0]
    if is_torch_module(model):
        return TorchAdapter(
            model,
            task=task or Task.CLASSIFICATION,
            output=output,
            threshold=threshold,
            device=device or "cpu",
        )
    if device is not None:
        raise ModelError(
            f"device {device!r} applies to torch modules; a {type(model).__name__} runs where "
            "its own library puts it. Remove the device."
        )
    if kind == "onnxruntime":
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
