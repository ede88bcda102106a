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
from wince.models.huggingface import (
    SentenceTransformerAdapter,
    TransformersAdapter,
    is_sentence_transformer,
    is_transformers_model,
    is_transformers_pipeline,
)
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
    "SentenceTransformerAdapter",
    "SklearnAdapter",
    "Task",
    "TorchAdapter",
    "TransformersAdapter",
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

    Accepts an adapter (returned as is), a fitted scikit-learn estimator, a torch module, a
    `transformers` text, image or audio classification pipeline, an ONNX Runtime session or
    a plain callable. `output` and `threshold` declare what a torch, ONNX or callable
    classifier's output means (see `Output`); scikit-learn classifiers and pipelines give
    probabilities. `device` ("cpu", "cuda:0", ...) is where a torch module or a pipeline's
    model runs (any `torch.nn.Module`, a user's own subclass included; default "cpu" for a
    module, the pipeline's own device for a pipeline).

    Raises:
        ModelError: the object is none of these (a `transformers` model without its
            pipeline, or a SentenceTransformer without a head, says which adapter to use),
            or a device was given for a model that is neither a torch module nor a pipeline.
    """
    if isinstance(model, ModelAdapter):
        if task is not None and Task(task) != model.task:
            raise ModelError(
                f"the model is declared a {Task(task).value} model (model.task) but its adapter "
                f"says {model.task.value}; make them agree (e.g. CallableAdapter(fn, "
                f"task={Task(task).value!r}))."
            )
        return model
    kind = type(model).__module__.split(".")[0]
    if is_transformers_pipeline(model):
        if output is not None or threshold is not None:
            raise ModelError(
                "a transformers pipeline gives class probabilities (softmax of its logits); "
                "remove output and threshold."
            )
        return TransformersAdapter(model, device=device)
    if is_sentence_transformer(model):
        raise ModelError(
            "a SentenceTransformer gives embeddings, not predictions: pair it with a head "
            "fitted on its embeddings, SentenceTransformerAdapter(encoder, head)."
        )
    if is_transformers_model(model):
        raise ModelError(
            f"a transformers {type(model).__name__} needs its preprocessor: pass "
            "pipeline(task, model=model, tokenizer=...) or TransformersAdapter(model, "
            "tokenizer_or_processor)."
        )
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
            f"device {device!r} applies to torch modules and transformers pipelines; a "
            f"{type(model).__name__} runs where its own library puts it. Remove the device."
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
