"""ONNX models run with ONNX Runtime, e.g. scikit-learn pipelines converted by skl2onnx.

onnxruntime is imported only when an ONNX model is used; it is the `onnx` extra.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from wince.errors import ModelError, ParameterError
from wince.models.base import (
    Output,
    OutputReader,
    Predictions,
    Task,
    hash_bytes,
    predict_in_chunks,
)

#: Output names of class probabilities, as skl2onnx writes them (tensor or ZipMap).
PROBABILITY_OUTPUTS = ("probabilities", "output_probability")

_INPUT_DTYPES: dict[str, type[Any]] = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(float16)": np.float16,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(int16)": np.int16,
    "tensor(int8)": np.int8,
    "tensor(uint8)": np.uint8,
    "tensor(bool)": np.bool_,
    "tensor(string)": np.object_,
}


def import_onnxruntime() -> Any:
    """The onnxruntime module.

    Raises:
        ModelError: onnxruntime is not installed.
    """
    try:
        import onnxruntime
    except ImportError:
        raise ModelError("ONNX models need: pip install 'wince[onnx]'") from None
    return onnxruntime


def zipmap_to_probabilities(rows: list[dict[Any, float]]) -> npt.NDArray[np.float64]:
    """An (n, k) array from skl2onnx ZipMap output: one {class: probability} dict per sample.

    Columns follow the key order of the first row (ONNX Runtime sorts the keys, as
    scikit-learn sorts `classes_`).

    Raises:
        ModelError: rows do not all have the same classes.
    """
    keys = list(rows[0])
    if any(list(row) != keys for row in rows):
        raise ModelError(
            "ZipMap output rows name different classes; convert the model with "
            "options={'zipmap': False} to get a probability tensor."
        )
    return np.array([[row[k] for k in keys] for row in rows], dtype=np.float64)


class OnnxAdapter:
    """An ONNX Runtime `InferenceSession`.

    The batch is cast to the element type the session's input declares (float32 for most
    converted models). For classification the output named "probabilities" or
    "output_probability" (skl2onnx) is read when present, as a tensor or as a ZipMap list of
    dicts; otherwise the first output, read by `to_predictions` (probabilities, logits or class
    indices). Regression reads the first output.

    Args:
        session: an `onnxruntime.InferenceSession`.
        task: classification or regression.
        classes: class names in index order (optional).
        max_batch: largest number of samples passed to the session at once.
        input_name: the input fed the batch; required when the model has several inputs.
        output_name: the output read; default as described above.
        output: what a classifier's output means ("probabilities", "logits", "score" with
            `threshold`, "labels"); default: detected on the first batch, then kept.
        threshold: the score at and above which output "score" means class 1.

    Raises:
        ModelError: onnxruntime is missing, `session` is not a session, or the input or output
            cannot be chosen.
        ParameterError: `max_batch` is not a positive integer.
    """

    def __init__(
        self,
        session: Any,
        *,
        task: Task | str,
        classes: Sequence[Any] | None = None,
        max_batch: int = 4096,
        input_name: str | None = None,
        output_name: str | None = None,
        output: Output | str | None = None,
        threshold: float | None = None,
    ) -> None:
        ort = import_onnxruntime()
        if not isinstance(session, ort.InferenceSession):
            raise ModelError(
                f"OnnxAdapter needs an onnxruntime.InferenceSession; got a "
                f"{type(session).__name__}. Use OnnxAdapter.from_path for a .onnx file."
            )
        if isinstance(max_batch, bool) or not isinstance(max_batch, int) or max_batch < 1:
            raise ParameterError(
                f"OnnxAdapter: max_batch must be a positive number of samples; got {max_batch!r}."
            )
        self.session = session
        self.task = Task(task)
        self.classes = tuple(classes) if classes is not None else None
        self.max_batch = max_batch
        meta = session.get_modelmeta()
        self.label = f"ONNX model {meta.graph_name or meta.producer_name or 'graph'}"
        self.reader = OutputReader(output, threshold=threshold, adapter=self.label)
        inputs = {node.name: node for node in session.get_inputs()}
        outputs = [node.name for node in session.get_outputs()]
        if input_name is None:
            if len(inputs) != 1:
                raise ModelError(
                    f"{self.label} has {len(inputs)} inputs {sorted(inputs)}; pass "
                    "input_name= to say which one takes the batch."
                )
            input_name = next(iter(inputs))
        if input_name not in inputs:
            raise ModelError(
                f"{self.label} has no input {input_name!r}; its inputs are {sorted(inputs)}."
            )
        if output_name is None:
            preferred = [name for name in PROBABILITY_OUTPUTS if name in outputs]
            classifying = self.task == Task.CLASSIFICATION
            output_name = preferred[0] if classifying and preferred else outputs[0]
        if output_name not in outputs:
            raise ModelError(
                f"{self.label} has no output {output_name!r}; its outputs are {outputs}."
            )
        node = inputs[input_name]
        if node.type not in _INPUT_DTYPES:
            raise ModelError(
                f"{self.label}: input {input_name!r} takes {node.type}; wince feeds numeric or "
                f"string tensors ({', '.join(_INPUT_DTYPES)})."
            )
        self.input_name = input_name
        self.output_name = output_name
        self._input_dtype = _INPUT_DTYPES[node.type]
        self._input_rank = len(node.shape) if isinstance(node.shape, list) else None
        self._fingerprint: str | None = None

    @classmethod
    def from_path(
        cls,
        path: str | Path,
        *,
        task: Task | str,
        classes: Sequence[Any] | None = None,
        max_batch: int = 4096,
        output: Output | str | None = None,
        threshold: float | None = None,
        providers: Sequence[str] = ("CPUExecutionProvider",),
    ) -> OnnxAdapter:
        """Open a `.onnx` file in an ONNX Runtime session.

        `providers` are ONNX Runtime execution providers in order of preference (default the
        CPU; e.g. ["CUDAExecutionProvider", "CPUExecutionProvider"]).

        Raises:
            ModelError: onnxruntime is missing, there is no file, it is not a valid model, or
                a provider is not available in this onnxruntime build.
        """
        ort = import_onnxruntime()
        path = Path(path)
        if not path.is_file():
            raise ModelError(f"ONNX model: no file at {path}; check the path.")
        available = ort.get_available_providers()
        unknown = [p for p in providers if p not in available]
        if unknown or not providers:
            raise ModelError(
                f"ONNX model: execution providers {unknown or list(providers)} are not "
                f"available in this onnxruntime; available: {available}."
            )
        try:
            session = ort.InferenceSession(str(path), providers=list(providers))
        except Exception as error:
            raise ModelError(
                f"ONNX model: cannot load {path} ({type(error).__name__}: {error}); it must be "
                "an ONNX model file, e.g. written by skl2onnx or torch.onnx.export."
            ) from error
        return cls(
            session,
            task=task,
            classes=classes,
            max_batch=max_batch,
            output=output,
            threshold=threshold,
        )

    def _prepare(self, x: Any) -> Any:
        if self._input_dtype is np.object_:
            array = np.asarray(x, dtype=object)
        else:
            array = np.asarray(x)
            if array.dtype.kind not in "biuf":
                raise ModelError(
                    f"{self.label}: input {self.input_name!r} takes numbers; got "
                    f"{array.dtype} of shape {array.shape}."
                )
            array = array.astype(self._input_dtype, copy=False)
        if self._input_rank == 2 and array.ndim == 1:
            # a (n,) batch for an (n, 1) input: one string or one feature per sample
            array = array.reshape(-1, 1)
        return array

    def _predict_chunk(self, x: Any) -> Predictions:
        (output,) = self.session.run([self.output_name], {self.input_name: self._prepare(x)})
        if isinstance(output, list):
            output = zipmap_to_probabilities(output)
        return self.reader.read(output, self.task)

    def predict(self, x: Any) -> Predictions:
        """Predict a batch (cast to the input's element type)."""
        return predict_in_chunks(self._predict_chunk, x, self.max_batch, self.label)

    def fingerprint(self) -> str:
        """Hash of the model bytes and the output read.

        The serialized model when the session was built from bytes, else the model file (read
        once, on first call); failing both, the graph's metadata and signature.
        """
        if self._fingerprint is None:
            model = getattr(self.session, "_model_bytes", None)
            path = getattr(self.session, "_model_path", None)
            if not model and path and Path(path).is_file():
                model = Path(path).read_bytes()
            if not model:
                meta = self.session.get_modelmeta()
                model = repr(
                    (
                        meta.producer_name,
                        meta.graph_name,
                        meta.domain,
                        meta.version,
                        sorted(meta.custom_metadata_map.items()),
                        [(n.name, n.type, n.shape) for n in self.session.get_inputs()],
                        [(n.name, n.type, n.shape) for n in self.session.get_outputs()],
                    )
                ).encode()
            declared = self.reader.identity() if self.reader.declared is not None else b""
            self._fingerprint = hash_bytes(bytes(model), self.output_name.encode(), declared)
        return self._fingerprint

    def close(self) -> None:
        """Nothing to release (ONNX Runtime frees the session with the adapter)."""
