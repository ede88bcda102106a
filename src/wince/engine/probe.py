"""New model evaluations for analyses (breaking points, global sensitivity, derivatives).

Analyses never call a model directly: they ask a `Probe`, which applies perturbations with
the run's per-sample random streams (seed, perturbation, trial, sample id), batches the
model calls and counts evaluations.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from wince.datasets.base import Dataset
from wince.datasets.tables import table_inputs
from wince.engine.cache import PredictionCache, cache_for
from wince.errors import ModelError
from wince.metrics import Metric, load_function
from wince.models.base import ModelAdapter, Predictions, wants_context
from wince.perturbations.base import RaggedBatch, Step, compose, sample_keys


class Probe:
    """Evaluate a model on perturbed samples of a dataset, batched and counted.

    Args:
        model: the model adapter.
        dataset: the run's dataset (sample ids must match the run's).
        seed: the run seed, so perturbations draw the run's random streams.
        batch_size: largest batch per model call.
        cache: predictions already made (by the run or earlier analyses), reused for
            identical inputs; None calls the model for every evaluation.
        fingerprint: the model's fingerprint, when known (else asked once from the model).

    Attributes:
        evaluations: number of (sample, input) predictions asked for so far (served by the
            cache or the model).
        calls: number of predict requests made so far (see `cache.stats` for the calls that
            reached the model).
    """

    def __init__(
        self,
        model: ModelAdapter,
        dataset: Dataset,
        *,
        seed: int,
        batch_size: int = 256,
        cache: PredictionCache | None = None,
        fingerprint: str | None = None,
    ) -> None:
        self.model = table_inputs(model, dataset)
        self.adapter = model
        self.dataset = dataset
        self.seed = seed
        self.batch_size = batch_size
        self.context = dataset.context()
        self.evaluations = 0
        self.calls = 0
        # a model that reads sample ids may answer equal inputs differently: no cache
        self.cache = None if wants_context(self.model) else cache
        self.fingerprint = fingerprint
        if self.cache is not None:
            # whatever is still pending reaches the disk tier when the probe goes away
            weakref.finalize(self, self.cache.flush)

    def inputs(self, indices: Sequence[int] | npt.NDArray[np.intp]) -> Any:
        """The clean inputs of the samples at `indices` (positions in the dataset)."""
        return self.dataset.take(list(np.asarray(indices, dtype=np.intp)))

    def predict_inputs(
        self, x: Any, indices: Sequence[int] | npt.NDArray[np.intp] | None = None
    ) -> Predictions:
        """Predict raw inputs in batches of at most `batch_size`.

        A `RaggedBatch` is predicted one same-shape group at a time (the model sees ordinary
        batches), and the predictions come back in sample order.

        Args:
            x: inputs, batch-first.
            indices: the dataset position of each input's sample; needed by a model that
                takes a `SampleContext`.

        Raises:
            ModelError: the model takes a context and `indices` is not given.
        """
        if isinstance(x, RaggedBatch):
            positions = None if indices is None else np.asarray(indices, dtype=np.intp)
            groups = [
                (index, self.predict_inputs(group, None if positions is None else positions[index]))
                for index, group in x.groups()
            ]
            return Predictions.assemble(groups, len(x))
        context = None
        if wants_context(self.model):
            if indices is None:
                raise ModelError(
                    "this analysis cannot tell the model which samples it predicts, and the "
                    "model takes a context (sample ids)."
                )
            context = self.dataset.sample_context(indices)
        parts = []
        for start in range(0, len(x), self.batch_size):
            chunk = x[start : start + self.batch_size]
            if context is not None:
                part = context[start : start + self.batch_size]
                parts.append(self.model.predict(chunk, context=part))  # type: ignore[call-arg]
            elif self.cache is not None:
                parts.append(self.cache.predict(self.model, chunk, fingerprint=self.fingerprint))
            else:
                parts.append(self.model.predict(chunk))
            self.calls += 1
            self.evaluations += len(chunk)
        return parts[0] if len(parts) == 1 else Predictions.concatenate(parts)

    def perturbed(
        self,
        indices: Sequence[int] | npt.NDArray[np.intp],
        steps: Sequence[Step],
        *,
        trial: int = 0,
    ) -> Any:
        """Inputs of the samples at `indices` under `steps`, with the run's random streams."""
        index = np.asarray(indices, dtype=np.intp)
        x = self.inputs(index)
        keys = sample_keys([self.dataset.ids[i] for i in index])
        return compose(x, steps, seed=self.seed, trial=trial, keys=keys, context=self.context)

    def predict(
        self,
        indices: Sequence[int] | npt.NDArray[np.intp],
        steps: Sequence[Step],
        *,
        trial: int = 0,
    ) -> Predictions:
        """Predictions for the samples at `indices` under `steps` (all at the same values)."""
        index = np.asarray(indices, dtype=np.intp)
        parts = []
        for start in range(0, len(index), self.batch_size):
            chunk = index[start : start + self.batch_size]
            parts.append(self.predict_inputs(self.perturbed(chunk, steps, trial=trial), chunk))
        if self.cache is not None:
            self.cache.flush(min_bytes=_FLUSH_BYTES)
        return parts[0] if len(parts) == 1 else Predictions.concatenate(parts)

    @functools.cached_property
    def labels(self) -> npt.NDArray[Any] | None:
        """The dataset's labels as the run reads them (`encode_labels`), or None."""
        from wince.engine.runner import encode_labels

        return encode_labels(self.dataset, self.adapter)

    def measure(
        self,
        metric: Metric,
        indices: Sequence[int] | npt.NDArray[np.intp],
        clean: Predictions,
        perturbed: Predictions,
        steps: Sequence[Step] = (),
        *,
        trial: int = 0,
    ) -> npt.NDArray[np.float64]:
        """A per-sample metric of the samples at `indices` from their predictions.

        From their clean and perturbed predictions under `steps`, as the run computes it
        (`Metric.per_sample`): a detection or segmentation model's ground truth and clean
        outputs move with the pixels of steps that move them (`compose_with_targets`).

        Raises:
            PlanError: the metric's function cannot be imported or fails.
        """
        from wince.engine.runner import move_with_pixels, moves_labels

        index = np.asarray(indices, dtype=np.intp)
        labels = None if self.labels is None else self.labels[index]
        context = self.dataset.sample_context(index)
        if moves_labels(self.adapter.task, steps):
            _, labels, clean = move_with_pixels(
                self.inputs(index),
                steps,
                labels,
                clean,
                seed=self.seed,
                trial=trial,
                keys=sample_keys([self.dataset.ids[i] for i in index]),
                context=self.context,
            )
        return load_function(metric).per_sample(clean, perturbed, labels, context)

    def flush(self) -> None:
        """Write the cache's pending predictions to its disk tier now."""
        if self.cache is not None:
            self.cache.flush()


# Analyses predict in many small steps (one per bisection step): their predictions go to
# disk in files of at least this size, and the rest when the probe is dropped.
_FLUSH_BYTES = 4 * 2**20


def probe_for_run(
    store: Any,
    run_id: str,
    *,
    model: Any = None,
    data: Any = None,
    batch_size: int | None = None,
    cache: bool | str | Any = True,
) -> Probe:
    """A probe on the model and data of a stored run.

    The model and data default to the run's plan sections; either way their fingerprints must
    match the run's, so new evaluations extend the same experiment. A defended run's model
    (`wince harden`) is the model behind the run's defence, fitted again on the data
    (`wince.defences.lineage.run_model`): give the undefended model, as for its original run.
    With `cache` (as in `wince.run`: True uses the store's cache) evaluations the run or
    earlier analyses already made are not repeated.

    Raises:
        ModelError: no model given and the plan has no model section, or the model changed.
        DataError: no data given and the plan has no data section, or the data changed.
        StoreError: the run's defence is installed at another version (or not at all).
    """
    from wince.datasets.loading import as_dataset, load_dataset
    from wince.defences.lineage import run_model
    from wince.errors import DataError, ModelError
    from wince.models import as_model
    from wince.models.loading import load_model
    from wince.plan import Plan

    record = store.run(run_id)
    plan = Plan.model_validate(record["lineage"]["plan"])
    if model is not None:
        adapter = as_model(model)
    elif plan.model is not None:
        adapter = load_model(plan.model)
    else:
        raise ModelError(
            f"run {run_id}: this analysis needs new model evaluations, and the plan has no "
            "model section; pass the model (Python: model=...)."
        )
    if data is not None:
        dataset = as_dataset(data)
    elif plan.data is not None:
        dataset = load_dataset(plan.data)
    else:
        raise DataError(
            f"run {run_id}: this analysis needs the run's data, and the plan has no data "
            "section; pass the data (Python: data=...)."
        )
    from wince.engine import environment as environments
    from wince.engine.runner import identify
    from wince.errors import StaleRunError

    if dataset.fingerprint() != record["data_fingerprint"]:
        raise DataError(
            f"run {run_id}: the data's fingerprint {dataset.fingerprint()} differs from the "
            f"run's {record['data_fingerprint']}; analyse with the data the run used."
        )
    adapter = run_model(record, adapter, dataset)  # the defended model fits on the run's data
    fingerprint = identify(adapter, dataset)
    if fingerprint != record["model_fingerprint"]:
        raise ModelError(
            f"run {run_id}: the model's fingerprint {fingerprint} differs from the "
            f"run's {record['model_fingerprint']}; analyse with the model the run used."
        )
    recorded = record["lineage"].get("environment")
    cache_key = record["model_fingerprint"]
    if recorded is not None:
        env = environments.environment(str(dataset.modality), adapter)
        changed = environments.changes(recorded, env)
        if changed:
            raise StaleRunError(
                f"run {run_id} was made under other package versions ({', '.join(changed)}); "
                "new evaluations would not match its outcomes. Analyse it under its "
                "environment, or run the plan again with --fresh and analyse the new run.",
                run_id=run_id,
                changes=changed,
            )
        cache_key = environments.cache_identity(fingerprint, env)
    return Probe(
        adapter,
        dataset,
        seed=plan.seed,
        batch_size=batch_size or plan.batch_size,
        cache=cache_for(cache, store),
        fingerprint=cache_key,
    )
