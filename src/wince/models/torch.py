"""PyTorch modules (eager or TorchScript) as wince models.

torch is imported only when a torch model is used; it is the `torch` extra.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from wince.errors import ModelError, ParameterError
from wince.models.base import (
    Output,
    OutputReader,
    Predictions,
    Task,
    hash_bytes,
    predict_in_chunks,
)


def import_torch() -> Any:
    """The torch module.

    Raises:
        ModelError: torch is not installed.
    """
    try:
        import torch
    except ImportError:
        raise ModelError("PyTorch models need: pip install 'wince[torch]'") from None
    return torch


class TorchAdapter:
    """A `torch.nn.Module` (or TorchScript module) run on numpy batches.

    The module is put in eval mode and run under `torch.inference_mode()`. Each chunk of the
    batch is converted to a float32 tensor as is: uint8 images `(n, h, w, c)` arrive as float32
    values in [0, 255], channels last. The module is responsible for its own normalisation and
    layout (scaling, `permute` to channels first), so that perturbations act on the data as
    stored. Outputs are read by `to_predictions`: an (n, k) output whose rows are not
    probabilities is treated as logits and softmaxed; an (n,) integer output as class indices;
    regression takes (n,) or (n, 1) values.

    Args:
        module: the model; `module.eval()` is called on it.
        task: classification or regression.
        classes: class names in index order (optional).
        max_batch: largest number of samples passed to the module at once.
        device: torch device the module runs on, e.g. "cpu" or "cuda:0"; the module is moved
            there. Outputs always come back as numpy arrays.
        output: what a classifier's output means ("probabilities", "logits", "score" with
            `threshold`, "labels"); default: detected on the first batch, then kept.
        threshold: the score at and above which output "score" means class 1.

    Raises:
        ModelError: torch is not installed.
        ParameterError: `max_batch` is not a positive integer.

    Examples:
        >>> import numpy as np
        >>> import torch
        >>> _ = torch.manual_seed(0)
        >>> model = TorchAdapter(torch.nn.Linear(4, 3), classes=("a", "b", "c"))
        >>> predictions = model.predict(np.zeros((5, 4), dtype=np.float32))
        >>> predictions.scores.shape, bool(np.allclose(predictions.scores.sum(axis=1), 1.0))
        ((5, 3), True)
    """

    trainable = True  # trains on augmented batches (reports advise it)

    def __init__(
        self,
        module: Any,
        *,
        task: Task | str = Task.CLASSIFICATION,
        classes: Sequence[Any] | None = None,
        max_batch: int = 1024,
        device: str = "cpu",
        output: Output | str | None = None,
        threshold: float | None = None,
    ) -> None:
        torch = import_torch()
        if not isinstance(module, torch.nn.Module):
            raise ModelError(
                f"TorchAdapter needs a torch.nn.Module; got a {type(module).__name__}. "
                "Wrap plain functions in wince.models.CallableAdapter."
            )
        if isinstance(max_batch, bool) or not isinstance(max_batch, int) or max_batch < 1:
            raise ParameterError(
                f"TorchAdapter: max_batch must be a positive number of samples; got {max_batch!r}."
            )
        self.task = Task(task)
        self.classes = tuple(classes) if classes is not None else None
        self.max_batch = max_batch
        try:
            self.device = torch.device(device)
            self.module = module.to(self.device).eval()
        except (RuntimeError, AssertionError) as error:
            raise ModelError(
                f"TorchAdapter: cannot run the module on device {device!r} ({error}); "
                "use device='cpu' or a device this machine has."
            ) from error
        name = getattr(module, "original_name", None) or type(module).__name__
        self.label = f"PyTorch {name}"
        self.reader = OutputReader(output, threshold=threshold, adapter=self.label)

    @classmethod
    def from_torchscript(
        cls,
        path: str | Path,
        *,
        task: Task | str = Task.CLASSIFICATION,
        classes: Sequence[Any] | None = None,
        max_batch: int = 1024,
        output: Output | str | None = None,
        threshold: float | None = None,
        device: str = "cpu",
    ) -> TorchAdapter:
        """Load a TorchScript file (saved with `torch.jit.save`) and run it on `device`.

        Args:
            path: the `.pt` file.
            task: classification or regression.
            classes: class names in index order (optional).
            max_batch: largest number of samples passed to the module at once.
            output: what a classifier's output means (see `TorchAdapter`).
            threshold: the class-1 threshold of output "score".
            device: where the module runs, e.g. "cpu" or "cuda:0" (loaded onto the CPU first).

        Raises:
            ModelError: torch is missing, there is no file, it is not TorchScript, or the
                device is not available.
        """
        torch = import_torch()
        path = Path(path)
        if not path.is_file():
            raise ModelError(f"TorchScript model: no file at {path}; check the path.")
        try:
            with warnings.catch_warnings():
                # torch 2.13 deprecates TorchScript in favour of torch.export; loading an
                # existing file is still supported and the user chose the format.
                warnings.filterwarnings(
                    "ignore", message=r".*torch\.jit\.load.*", category=DeprecationWarning
                )
                module = torch.jit.load(str(path), map_location="cpu")
        except Exception as error:
            reason = (str(error).strip().splitlines() or [""])[0]
            raise ModelError(
                f"TorchScript model: cannot load {path} ({type(error).__name__}: {reason}); "
                "it must be a file written by torch.jit.save."
            ) from error
        return cls(
            module,
            task=task,
            classes=classes,
            max_batch=max_batch,
            output=output,
            threshold=threshold,
            device=device,
        )

    def _predict_chunk(self, x: Any) -> Predictions:
        torch = import_torch()
        array = np.asarray(x)
        if array.dtype.kind not in "biuf":
            raise ModelError(
                f"{self.label}: PyTorch models take numeric arrays; got {array.dtype} "
                f"of shape {array.shape}. Text needs a model that tokenises its own input "
                "(a callable or an HTTP endpoint)."
            )
        # a copy: a module with in-place first layers (ReLU(inplace=True)) must not write
        # into the caller's batch
        inputs = torch.tensor(array, dtype=torch.float32, device=self.device)
        with torch.inference_mode():
            output = self.module(inputs)
        if not isinstance(output, torch.Tensor):
            raise ModelError(
                f"{self.label}: the module must return one tensor; got a "
                f"{type(output).__name__}. Wrap it in a module that returns the logits, "
                "probabilities or values."
            )
        output = output.detach().cpu()
        if output.is_floating_point():
            output = output.double()
        return self.reader.read(output.numpy(), self.task)

    def predict(self, x: Any) -> Predictions:
        """Predict a batch (numpy array, converted to float32)."""
        return predict_in_chunks(self._predict_chunk, x, self.max_batch, self.label)

    def fingerprint(self) -> str:
        """Hash of the module's structure and state (names, dtypes, shapes and bytes)."""
        torch = import_torch()
        # original_name: a TorchScript module hashes like the eager module it was made from
        parts = [
            f"{name}:{getattr(m, 'original_name', None) or type(m).__qualname__}\n".encode()
            for name, m in self.module.named_modules()
        ]
        for name, tensor in self.module.state_dict().items():
            data = tensor.detach().cpu().contiguous().reshape(-1)
            parts.append(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}\n".encode())
            parts.append(data.view(torch.uint8).numpy().tobytes())
        if self.reader.declared is not None:
            parts.append(self.reader.identity())
        return hash_bytes(*parts)

    def close(self) -> None:
        """Nothing to release (the module stays usable)."""
