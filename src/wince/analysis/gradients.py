"""Input gradients of differentiable (torch) models: where the output is locally sensitive.

The differentiated output is the probability of the class the model predicts on the clean
input (classification) or the predicted value (regression). For each sample:

- `gradient_norm`: the L2 norm of d output / d input (per unit of input, as the model sees it);
- for each perturbation, the displacement d = perturbed - clean at a mild severity (the
  sample's own random stream, trial 0) gives the directional derivative (gradient · d) —
  the first-order predicted change — next to the actual change of the output, so a large
  gap flags non-linear behaviour;
- per-feature / per-pixel maps |d output / d input| for the samples with the largest
  gradients (pixel maps sum the channels).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from wince import perturbations as library
from wince.engine.probe import Probe
from wince.errors import DataError, ModelError
from wince.models.base import is_torch_module
from wince.perturbations.base import RaggedBatch, Step

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Gradients:
    """Gradient sensitivity of a run's samples.

    Attributes:
        samples: `sample_index`, `sample_id`, `gradient_norm`, output at the clean input.
        directional: `sample_index`, `perturbation`, `severity`, `value`, `directional`
            (gradient · displacement), `actual` (output change), `displacement_norm`.
        maps: |gradient| maps of the worst cases by sample index: (h, w) for images,
            (features,) for tabular data, the input shape otherwise.
    """

    samples: pd.DataFrame
    directional: pd.DataFrame
    maps: dict[int, FloatArray] = field(repr=False)

    def to_payload(self) -> dict[str, Any]:
        """JSON-able form (maps as nested lists)."""
        return {
            "samples": self.samples.to_dict(orient="list"),
            "directional": self.directional.to_dict(orient="list"),
            "maps": {str(k): v.tolist() for k, v in self.maps.items()},
        }


def _torch_module(probe: Probe) -> Any:
    module = getattr(probe.model, "module", None)
    if not is_torch_module(module):
        raise ModelError(
            "gradient analysis needs a differentiable PyTorch model (wince.models.TorchAdapter); "
            f"this run's model is {getattr(probe.model, 'label', type(probe.model).__name__)}."
        )
    return module


def _output_and_gradient(
    module: Any, x: Any, classes: npt.NDArray[np.intp] | None
) -> tuple[FloatArray, FloatArray]:
    import torch

    inputs = torch.tensor(np.asarray(x, dtype=np.float32), requires_grad=True)
    raw = module(inputs)
    if classes is None:
        output = raw.reshape(len(inputs), -1)[:, 0]
    else:
        # the adapter's rule: rows that already are probabilities are not softmaxed again
        rows = raw.detach()
        already = bool((rows >= 0).all()) and bool(
            torch.allclose(rows.sum(dim=1), torch.ones(len(rows)), atol=1e-4)
        )
        probabilities = raw if already else torch.softmax(raw, dim=1)
        output = probabilities[torch.arange(len(inputs)), torch.as_tensor(classes)]
    (gradient,) = torch.autograd.grad(output.sum(), inputs)
    return output.detach().double().numpy(), gradient.double().numpy()


def input_gradients(
    probe: Probe,
    *,
    indices: Sequence[int] | npt.NDArray[np.intp] | None = None,
    perturbations: Sequence[str | tuple[str, str, Mapping[str, Any]]] = (),
    severity: float = 0.2,
    worst: int = 8,
) -> Gradients:
    """Gradient norms, directional derivatives along perturbations and worst-case maps.

    Args:
        probe: evaluations on the run's model (a `TorchAdapter`) and data.
        indices: samples (positions); default all.
        perturbations: the perturbations whose displacement to follow (at `severity`): a
            registry name (default parameters), or a plan entry as (label, name, params),
            followed with its own parameters (a drift of one column moves that column only);
            the `perturbation` column of `directional` holds the name or the label.
        severity: where the displacement is taken, in [0, 1]; default 0.2 (level 1).
        worst: how many per-sample maps to keep (largest gradient norms).

    Raises:
        ModelError: the model is not a torch module.
        DataError: the samples have several sizes (images or clips).
    """
    module = _torch_module(probe)
    entries = [(p, p, {}) if isinstance(p, str) else p for p in perturbations]
    index = np.arange(len(probe.dataset)) if indices is None else np.asarray(indices, np.intp)
    regression = probe.model.task == "regression"
    norms, outputs, rows = [], [], []
    module.eval()
    for start in range(0, len(index), probe.batch_size):
        chunk = index[start : start + probe.batch_size]
        inputs = probe.inputs(chunk)
        if isinstance(inputs, RaggedBatch):
            raise DataError(
                "input gradients are computed over batches of one input size; this data holds "
                f"samples of {len(set(inputs.shapes))} sizes. Leave gradients out, or analyse "
                "each size as its own dataset."
            )
        clean = np.asarray(inputs, dtype=np.float32)
        classes = None if regression else probe.predict_inputs(clean).labels
        output, gradient = _output_and_gradient(
            module, clean, None if classes is None else classes.astype(np.intp)
        )
        flat = gradient.reshape(len(chunk), -1)
        norms.append(np.linalg.norm(flat, axis=1))
        outputs.append(output)
        for label, name, params in entries:
            value = library.get(name).magnitude.value_at(severity)
            step = Step(name, value, params=tuple(sorted(params.items())))
            moved = np.asarray(probe.perturbed(chunk, [step]), dtype=np.float32)
            displacement = (moved - clean).reshape(len(chunk), -1).astype(np.float64)
            moved_output, _ = _output_and_gradient(
                module, moved, None if classes is None else classes.astype(np.intp)
            )
            directional = np.einsum("ij,ij->i", flat, displacement)
            rows += [
                {
                    "sample_index": int(i),
                    "perturbation": label,
                    "severity": severity,
                    "value": value,
                    "directional": float(d),
                    "actual": float(a),
                    "displacement_norm": float(n),
                }
                for i, d, a, n in zip(
                    chunk,
                    directional,
                    moved_output - output,
                    np.linalg.norm(displacement, axis=1),
                    strict=True,
                )
            ]
    norm = np.concatenate(norms)
    samples = pd.DataFrame(
        {
            "sample_index": index,
            "sample_id": [probe.dataset.ids[i] for i in index],
            "gradient_norm": norm,
            "output": np.concatenate(outputs),
        }
    )
    worst_index = index[np.argsort(-norm, kind="stable")[:worst]]
    maps: dict[int, FloatArray] = {}
    if len(worst_index):
        clean = np.asarray(probe.inputs(worst_index), dtype=np.float32)
        labels = None if regression else probe.predict_inputs(clean).labels
        _, gradient = _output_and_gradient(
            module, clean, None if labels is None else labels.astype(np.intp)
        )
        for i, g in zip(worst_index, gradient, strict=True):
            maps[int(i)] = np.abs(g).sum(axis=-1) if g.ndim == 3 else np.abs(g)
    return Gradients(samples, pd.DataFrame(rows), maps)
