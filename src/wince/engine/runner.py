"""Run a plan: perturb each batch under every trial, predict, compare with the baseline, store.

The unit of work is one batch of samples under all trials of the run. A unit's outcomes are
computed from the samples alone (per-sample random streams), so any batching, order, executor
or worker count gives the same rows; a unit is committed as one Parquet segment, so an
interrupted run resumes at the first unit not yet registered. A model that raises on a
perturbed scenario's inputs is a finding, not a crash (`wince.engine.rejections`).
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import hashlib
import json
import os
import pickle
import platform
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from wince import perturbations
from wince.datasets.base import Dataset
from wince.datasets.tables import TableSchema, table_inputs
from wince.engine import environment as environments
from wince.engine import rejections
from wince.engine.cache import PredictionCache
from wince.engine.cache import sample_keys as content_keys
from wince.engine.scenarios import Scenario, Trial, expand, trial_count, trials
from wince.errors import DataError, ModelError, ParameterError, StaleRunError, StoreError
from wince.metrics import Metric, load_function, outcome_columns, plan_metric_table
from wince.models.base import (
    ModelAdapter,
    OutputReader,
    Predictions,
    SampleContext,
    Task,
    hash_bytes,
    wants_context,
)
from wince.outputs import MASK_FILL, read_outputs, to_arrow
from wince.perturbations.base import (
    LEVELS,
    DataContext,
    Modality,
    RaggedBatch,
    Step,
    compose,
    sample_keys,
    shape_groups,
)
from wince.perturbations.targets import compose_with_targets
from wince.plan import PerturbationSpec, Plan, resolve_sweep
from wince.store.store import Store, now
from wince.version import wince_version

PACKAGES = (
    "numpy",
    "scipy",
    "scikit-learn",
    "pandas",
    "pyarrow",
    "opencv-python-headless",
    "pillow",
    "duckdb",
    "SQLAlchemy",
)


@dataclass(frozen=True)
class UnitJob:
    """Everything needed to evaluate one unit, independent of where it runs."""

    start: int
    stop: int
    x: Any
    ids: list[str]
    labels: npt.NDArray[Any] | None
    metadata: Any = None  # the samples' metadata rows, for models that take a context


@dataclass(frozen=True)
class RunSpec:
    """The trials and settings shared by every unit of a run."""

    trials: tuple[Trial, ...]
    positions: dict[str, int]
    seed: int
    context: DataContext
    task: Task
    keep_scores: bool = False
    # The plan's first perturbation: its `distances` give the distance columns of every
    # unperturbed row, so all segments of a run share a schema, whichever trials a unit holds.
    measured_by: str | None = None
    # Predictions already made (None: every prediction calls the model), and the model's
    # fingerprint that keys them.
    cache: PredictionCache | None = None
    fingerprint: str | None = None
    # A table with categorical columns: models get its rows as a DataFrame (`table_inputs`).
    schema: TableSchema | None = None
    # The per-sample metrics computed from predictions (structured outputs' built-in ones
    # and the plan's own), with their functions.
    metrics: tuple[Metric, ...] = ()


def check_finite(x: Any, ids: Sequence[str], modality: Modality) -> None:
    """Raise `DataError` naming the samples whose inputs hold NaN or infinity."""
    if modality == Modality.TEXT or not np.issubdtype(np.asarray(x).dtype, np.floating):
        return
    flat = np.asarray(x).reshape(len(x), -1)
    bad = ~np.isfinite(flat).all(axis=1)
    if bad.any():
        named = [ids[i] for i in np.flatnonzero(bad)[:10]]
        raise DataError(
            f"inputs of {int(bad.sum())} sample(s) hold NaN or infinite values, e.g. sample ids "
            f"{', '.join(map(repr, named))}. Impute or drop them before the analysis."
        )


def _predict(
    model: ModelAdapter,
    x: Any,
    scenario: Scenario,
    ids: Sequence[str],
    spec: RunSpec,
    context: SampleContext | None = None,
) -> Predictions:
    try:
        if context is not None:  # the model reads sample ids: never served from the cache
            return model.predict(x, context=context)  # type: ignore[call-arg]
        cache = spec.cache
        if cache is None:
            return model.predict(x)
        # Clean inputs are looked up sample by sample (analyses ask for them again); perturbed
        # ones only for slow models (see `dedup_pays`). Identity trials measure the model's
        # own nondeterminism: always the model itself (their outcomes are kept per unit).
        if scenario.kind == "baseline" or (scenario.kind != "identity" and cache.dedup_pays(model)):
            return cache.predict(model, x, fingerprint=spec.fingerprint)
        return cache.call(model, x)
    except ModelError as error:
        raise ModelError(
            f"the model failed in scenario {scenario.key} on samples {ids[0]!r}..{ids[-1]!r} "
            f"({len(ids)} samples): {error}"
        ) from error


def inputs_changed(clean: Any, perturbed: Any) -> npt.NDArray[np.float64]:
    """1.0 for each sample whose perturbed input differs from its clean input, else 0.0.

    Recorded with every outcome (column `changed`): a verdict averages over all inputs, and
    the share a perturbation actually changed (its coverage) tells a rare but harmful
    perturbation from a harmless one. Missing values (NaN) equal each other; a sample whose
    shape changed (a time stretch) changed.
    """
    if isinstance(clean, list):
        return np.array([a != b for a, b in zip(clean, perturbed, strict=True)], np.float64)
    a, b = np.asarray(clean), np.asarray(perturbed)
    if a.shape != b.shape:
        return np.ones(len(a))
    same = a == b
    if a.dtype.kind == "f" and b.dtype.kind == "f":
        same |= np.isnan(a) & np.isnan(b)
    changed: npt.NDArray[np.float64] = (~same.reshape(len(a), -1).all(axis=1)).astype(np.float64)
    return changed


def input_digests(x: Any) -> npt.NDArray[np.int64]:
    """A 64-bit content hash of each sample of a batch (shape and dtype included).

    Recorded with every outcome (column `input_digest`): two levels of a perturbation whose
    inputs are equal for every sample and trial (a blur that rounds to the same kernel on
    small images) test the same thing twice, and the analysis names them.
    """
    try:
        first = [key[0] for key in content_keys(x, "input")]
    except TypeError:  # object arrays: no content bytes to hash
        first = [int.from_bytes(hashlib.blake2b(pickle.dumps(v)).digest()[:8]) for v in x]
    return np.array(first, dtype=np.uint64).view(np.int64)


def _recipe(trial: Trial, spec: RunSpec, context: str) -> str:
    """What, besides a clean sample and its id, determines its perturbed input and distances."""
    steps = ";".join(
        f"{st.name}@{perturbations.get(st.name).version}:{st.value!r}:{st.params!r}"
        for st in trial.scenario.steps
    )
    kind = trial.scenario.kind
    return f"{wince_version()}|{spec.seed}|{kind}|{trial.index}|{context}|{steps}"


# A perturbation's distances that took this long on one trial are measured on a second thread
# while the model predicts (numpy, OpenCV and FFTs release the GIL). Cheaper ones stay inline:
# a thread hand-off and the model's own threads would cost them more than they save.
BACKGROUND_MEASURE_SECONDS = 0.002


class UnitMeasures:
    """Distances of a unit's perturbed batches to its clean inputs.

    A trial's distances are those of its first step's perturbation, against the clean batch
    as that perturbation's `measure_clean` sees it: computed once per unit, and shared by the
    perturbations with the same `measure_clean` (all image perturbations share one, so a
    plan's size does not multiply a unit's memory). Use as a context manager: the second
    thread, started only for a slow measure, ends with the unit.
    """

    def __init__(self, clean: Any, context: DataContext) -> None:
        self.clean = clean
        self.context = context
        self._perturbations: dict[str, perturbations.Perturbation] = {}
        self._measured: dict[Callable[..., Any], Any] = {}
        self._timed: set[str] = set()
        self._slow: set[str] = set()
        self._thread: ThreadPoolExecutor | None = None

    def __enter__(self) -> UnitMeasures:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._thread is not None:
            self._thread.shutdown()

    def start(self, name: str, perturbed: Any) -> Callable[[], dict[str, npt.NDArray[np.float64]]]:
        """Measure `perturbed` by perturbation `name`; returns a call that gives the distances."""
        if name not in self._perturbations:
            self._perturbations[name] = perturbations.get(name)()
        perturbation = self._perturbations[name]
        how = type(perturbation).measure_clean
        if how not in self._measured:
            self._measured[how] = perturbation.measure_clean(self.clean, self.context)
        measure = functools.partial(
            perturbation.distances_to, self._measured[how], context=self.context
        )
        if name in self._slow:
            if self._thread is None:
                self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wince-measure")
            # a copy: a model that writes into its input must not change what is measured
            return self._thread.submit(measure, copy.copy(perturbed)).result
        first = name not in self._timed
        started = time.perf_counter()
        distances = measure(perturbed)
        # a perturbation's first call may include measuring the clean batch: not timed
        if not first and time.perf_counter() - started >= BACKGROUND_MEASURE_SECONDS:
            self._slow.add(name)
        self._timed.add(name)
        return lambda: distances

    def unperturbed(self, name: str | None) -> dict[str, npt.NDArray[np.float64]]:
        """The distances of the clean batch to itself, as perturbation `name` measures them.

        Baseline and identity rows carry the same distance columns as perturbed rows, with the
        values a perturbation's own measure gives at zero change (0 for edit rates, infinity
        for PSNR), so every segment of a run has one schema.
        """
        if name is None:
            return {"distance": np.zeros(len(self.clean))}
        return self.start(name, self.clean)()


def evaluate_unit(model: ModelAdapter, job: UnitJob, spec: RunSpec) -> pa.Table:
    """Outcomes of one batch of samples under every trial of the run, as an Arrow table.

    A batch of samples of different shapes (`RaggedBatch`) is evaluated one same-shape group
    at a time, as a batch of its own, and its rows are put back in sample order: perturbations
    and the model see only ordinary batches, and every outcome is the one the sample has in a
    run of its own size alone.
    """
    if isinstance(job.x, RaggedBatch):
        return _evaluate_groups(model, job, spec)
    with UnitMeasures(job.x, spec.context) as measures:
        return _evaluate_unit(model, job, spec, measures)


def _evaluate_groups(model: ModelAdapter, job: UnitJob, spec: RunSpec) -> pa.Table:
    """`evaluate_unit` of a `RaggedBatch`: each shape as a unit, rows back in sample order."""
    n = len(job.ids)
    tables, targets = [], []
    refused: list[list[rejections.Refusal]] = []
    for index, x in job.x.groups():
        part = UnitJob(
            job.start,
            job.start + len(index),
            x,
            [job.ids[i] for i in index],
            job.labels[index] if job.labels is not None else None,
            job.metadata.iloc[index] if job.metadata is not None else None,
        )
        table = evaluate_unit(model, part, spec)
        refused.append(rejections.read(table))
        rows = np.arange(table.num_rows)
        # a unit's rows are trial-major: row r is trial r // size, sample r % size
        targets.append((rows // len(index)) * n + index[rows % len(index)])
        column = table.schema.get_field_index("sample_index")
        sample_index = np.tile((job.start + index).astype(np.int32), table.num_rows // len(index))
        tables.append(table.set_column(column, "sample_index", pa.array(sample_index)))
    order = np.empty(sum(t.num_rows for t in tables), dtype=np.intp)
    order[np.concatenate(targets)] = np.arange(len(order))
    table = pa.concat_tables(tables).take(pa.array(order)).combine_chunks()
    return rejections.attach(table.replace_schema_metadata(None), rejections.merge(refused))


def _evaluate_unit(
    model: ModelAdapter, job: UnitJob, spec: RunSpec, measures: UnitMeasures
) -> pa.Table:
    check_finite(job.x, job.ids, spec.context.modality)
    keys_of_samples = sample_keys(job.ids)
    sample_index = np.arange(job.start, job.stop, dtype=np.int32)
    baseline: Predictions | None = None
    unperturbed: dict[str, npt.NDArray[Any]] | None = None
    parts: list[dict[str, Any]] = []
    refused: list[tuple[int, str, str]] = []
    cache = spec.cache
    clean = None
    metric_context = SampleContext(tuple(job.ids), job.metadata)
    sample_context = metric_context if wants_context(model) else None
    if cache is not None:
        clean = cache.clean_keys(model, job.x, job.ids, fingerprint=spec.fingerprint)
        context = hash_bytes(pickle.dumps(spec.context, protocol=5))
    for trial in spec.trials:
        scenario = trial.scenario
        predictions: Predictions | None = None
        outcome_key = None
        labels, reference = job.labels, None  # reference: clean outputs moved like the inputs
        # ground truth and clean outputs in pixel coordinates move with the pixels (and are
        # then perturbed again each time: no outcome cache)
        moving = moves_labels(spec.task, scenario.steps)
        if cache is not None and clean is not None and scenario.kind != "baseline" and not moving:
            # a perturbed (or identity) trial of this unit evaluated before: reuse its
            # predictions and distances without perturbing again
            outcome_key = cache.outcome_key(clean, _recipe(trial, spec, context))
            found = cache.outcomes(model, outcome_key, fingerprint=spec.fingerprint)
            if found is not None:
                predictions, distances = found
                outcome_key = None
        if scenario.steps:
            if predictions is None:
                x, labels, reference = _perturbed_inputs(
                    job, trial, spec, baseline, keys_of_samples, moving=moving
                )
                measured = measures.start(scenario.steps[0].name, x)
                try:
                    predictions = _predict(model, x, scenario, job.ids, spec, sample_context)
                except ModelError as error:
                    measured()  # a failure to measure is wince's, and still raises
                    rejections.check_clean_inputs(model, job.x, error=error, context=sample_context)
                    position = spec.positions[scenario.key]
                    refused.append((position, scenario.key, rejections.first_line(error)))
                    continue
                distances = _perturbed_distances(measured(), job.x, x)
        else:
            if unperturbed is None:
                unperturbed = _unperturbed_distances(measures, job, spec.measured_by)
            distances = unperturbed
            if predictions is None:
                predictions = _predict(model, job.x, scenario, job.ids, spec, sample_context)
        if cache is not None and outcome_key is not None:
            stored = distances if scenario.steps else {}
            cache.remember_outcomes(
                model, outcome_key, predictions, stored, fingerprint=spec.fingerprint
            )
        if baseline is None:
            if scenario.kind != "baseline":
                raise AssertionError("the baseline trial must come first")
            baseline = predictions
        parts.append(
            _trial_row(
                trial,
                predictions,
                baseline,
                reference,
                labels,
                distances,
                job=job,
                spec=spec,
                metric_context=metric_context,
            )
        )
    if spec.cache is not None:
        spec.cache.flush()  # the unit's predictions reach the disk tier with its outcomes
    return rejections.attach(_to_table(parts, sample_index, job), rejections.refusals(refused))


def _perturbed_distances(
    measured: dict[str, npt.NDArray[np.float64]], clean: Any, x: Any
) -> dict[str, npt.NDArray[Any]]:
    """A perturbed batch's distance columns: `measured`, `changed` (0 or 1), `input_digest`.

    `measured` is the perturbation's own measures of the change (`UnitMeasures.start`).
    """
    return {**measured, "changed": inputs_changed(clean, x), "input_digest": input_digests(x)}


def _unperturbed_distances(
    measures: UnitMeasures, job: UnitJob, measured_by: str | None
) -> dict[str, npt.NDArray[Any]]:
    """The distance columns of a unit's clean batch, for its baseline and identity trials.

    The measures at zero change (`UnitMeasures.unperturbed`), `changed` 0 for every
    sample, and the inputs' digests.
    """
    return {
        **measures.unperturbed(measured_by),
        "changed": np.zeros(len(job.ids)),
        "input_digest": input_digests(job.x),
    }


def _perturbed_inputs(
    job: UnitJob,
    trial: Trial,
    spec: RunSpec,
    baseline: Predictions | None,
    keys: npt.NDArray[np.uint64],
    *,
    moving: bool,
) -> tuple[Any, npt.NDArray[Any] | None, Predictions | None]:
    """A trial's perturbed batch, its ground truth and the clean outputs it is compared with.

    Under steps that move pixels (`moving`), the ground truth and the clean (baseline)
    outputs move with them (`move_with_pixels`); otherwise they are the unit's labels and
    None (the baseline is the reference).
    """
    scenario = trial.scenario
    if moving:
        assert baseline is not None
        return move_with_pixels(
            job.x,
            scenario.steps,
            job.labels,
            baseline,
            seed=spec.seed,
            trial=trial.index,
            keys=keys,
            context=spec.context,
        )
    x = compose(
        job.x,
        scenario.steps,
        seed=spec.seed,
        trial=trial.index,
        keys=keys,
        context=spec.context,
    )
    return x, job.labels, None


def _trial_row(
    trial: Trial,
    predictions: Predictions,
    baseline: Predictions,
    reference: Predictions | None,
    labels: npt.NDArray[Any] | None,
    distances: dict[str, npt.NDArray[Any]],
    *,
    job: UnitJob,
    spec: RunSpec,
    metric_context: SampleContext,
) -> dict[str, Any]:
    """One trial's row group of a unit: scenario, position, trial, then per-sample columns.

    The per-sample columns are outcomes, metrics, outputs (and scores) and distances.

    `reference` is the clean outputs moved like the inputs (None: the baseline's);
    `labels` the ground truth as this trial saw it (moved or not).
    """
    columns = outcome_columns(predictions, baseline, job.labels)
    for metric in spec.metrics:
        if labels is not None or not metric.needs_labels:
            columns[metric.column] = metric.per_sample(
                reference or baseline, predictions, labels, metric_context
            )
    if predictions.outputs is not None:
        columns["output"] = predictions.outputs
        if labels is not None:  # the ground truth as this trial saw it (moved or not)
            columns["truth"] = labels
    if spec.keep_scores and predictions.scores is not None:
        columns["scores"] = predictions.scores.astype(np.float32)
    columns.update(
        {name: d if d.dtype.kind == "i" else d.astype(np.float32) for name, d in distances.items()}
    )
    key = trial.scenario.key
    return {"scenario": key, "position": spec.positions[key], "trial": trial.index, **columns}


def move_with_pixels(
    x: Any,
    steps: Sequence[Step],
    labels: npt.NDArray[Any] | None,
    clean: Predictions,
    *,
    seed: int,
    trial: int,
    keys: npt.NDArray[np.uint64],
    context: DataContext,
) -> tuple[Any, npt.NDArray[Any] | None, Predictions]:
    """The perturbed batch, with the ground truth and the clean outputs moved like its pixels.

    For a detection or segmentation model under steps that move pixels (`moves_labels`):
    its metrics then compare the perturbed outputs with boxes and masks where the objects
    went (`compose_with_targets`). Labels may be None (no ground truth).
    """
    assert clean.outputs is not None
    truths = [None] * len(clean) if labels is None else list(labels)
    perturbed, moved = compose_with_targets(
        x,
        steps,
        seed=seed,
        trial=trial,
        keys=keys,
        context=context,
        targets=list(zip(truths, clean.outputs, strict=True)),
        mask_fill=MASK_FILL,
    )
    outputs = np.empty(len(moved), dtype=object)
    outputs[:] = [output for _, output in moved]
    if labels is not None:
        labels = np.empty(len(moved), dtype=object)
        labels[:] = [truth for truth, _ in moved]
    return perturbed, labels, Predictions(outputs=outputs)


def moves_labels(task: Task, steps: Sequence[Step]) -> bool:
    """Whether a scenario moves a detection or segmentation model's ground truth.

    Boxes and masks live in pixel coordinates: a step that moves pixels (rotation,
    perspective, elastic, ...) moves them too (`compose_with_targets`).
    """
    return task in (Task.DETECTION, Task.SEGMENTATION) and any(
        perturbations.get(step.name).moves_pixels for step in steps
    )


def _to_table(
    parts: list[dict[str, Any]], sample_index: npt.NDArray[np.int32], job: UnitJob
) -> pa.Table:
    n = len(sample_index)
    k = len(parts)
    data: dict[str, Any] = {
        "scenario": pa.DictionaryArray.from_arrays(
            pa.array(np.repeat(np.arange(k, dtype=np.int32), n)),
            pa.array([p["scenario"] for p in parts]),
        ),
        "position": np.repeat([p["position"] for p in parts], n).astype(np.int32),
        "trial": np.repeat([p["trial"] for p in parts], n).astype(np.int32),
        "sample_index": np.tile(sample_index, k),
        "sample_id": pa.array(job.ids * k, pa.string()),
    }
    if job.labels is not None and job.labels.ndim == 1 and job.labels.dtype != object:
        # class indices or numbers; a structured output's ground truth is per trial ("truth")
        data["label"] = np.tile(job.labels, k)
    for column in parts[0]:
        if column in ("scenario", "position", "trial"):
            continue
        stacked = np.concatenate([p[column] for p in parts])
        data[column] = (
            to_arrow(stacked) if stacked.ndim == 2 or stacked.dtype == object else stacked
        )
    return pa.table(data)


def encode_labels(dataset: Dataset, model: ModelAdapter) -> npt.NDArray[Any] | None:
    """Dataset labels as the run reads them.

    Class indices (classification), floats (regression), or the ground truth of a
    structured output in its plain form (`wince.outputs`).

    Raises:
        DataError: a label is not one of the model's classes, or not the ground truth of the
            model's task.
    """
    if dataset.labels is None:
        return None
    if model.task.structured:
        return _structured_labels(dataset.labels, model.task)
    if model.task == Task.REGRESSION:
        return dataset.labels.astype(np.float64)
    if model.classes is None:
        if dataset.labels.dtype.kind not in "iu":
            raise DataError(
                "labels are not class indices and the model does not name its classes; "
                "give the model's classes (plan: model.classes) or integer labels."
            )
        return dataset.labels.astype(np.int64)
    index = {c: i for i, c in enumerate(model.classes)}
    unknown = [v for v in dataset.labels.tolist() if v not in index]
    if unknown:
        raise DataError(
            f"label {unknown[0]!r} is not one of the model's classes {list(model.classes)[:10]}; "
            "check the data's label column."
        )
    return np.array([index[v] for v in dataset.labels.tolist()], dtype=np.int64)


def _structured_labels(labels: npt.NDArray[Any], task: Task) -> npt.NDArray[Any] | None:
    """Ground truth of a structured task in its plain form; none for embeddings."""
    if task == Task.EMBEDDING:
        return None
    truths = {
        Task.TEXT: "one reference text (str) per sample",
        Task.MULTILABEL: "an (n, k) matrix of 0/1 labels",
        Task.DETECTION: "one Detections (or {boxes, classes}) per image",
        Task.SEGMENTATION: "one (h, w) class map per image",
    }
    try:
        return read_outputs(labels if labels.dtype == object else list(labels), task.value)
    except ModelError as error:
        message = str(error).replace("the model returned", "the labels hold")
        raise DataError(
            f"the labels are not the ground truth of a {task.value} model, "
            f"{truths[task]}: {message}"
        ) from None


def probe(model: ModelAdapter, dataset: Dataset) -> None:
    """Ask a model with a `probe` method (an `HttpAdapter`) to answer the first samples.

    The answers identify the model an endpoint serves now; an endpoint that is down fails
    here, naming its URL.

    Raises:
        ModelError: the probe failed.
    """
    ask = getattr(model, "probe", None)
    if callable(ask) and len(dataset):
        from wince.models.http import PROBE_SAMPLES

        # samples of several shapes: the first shape's (the model sees one shape at a time)
        ((_, first),) = shape_groups(dataset.batch(0, min(PROBE_SAMPLES, len(dataset))))[:1]
        ask(first)


def identify(model: ModelAdapter, dataset: Dataset) -> str:
    """The model's fingerprint; an endpoint without a declared `version` is probed first.

    Raises:
        ModelError: the probe failed.
    """
    if getattr(model, "version", None) is None:
        probe(model, dataset)
    return model.fingerprint()


def run_id_for(
    plan: Plan, model_fingerprint: str, data_fingerprint: str, metrics: Sequence[Metric] = ()
) -> str:
    """Content address of a run: what determines its outcomes (not batch size or executor).

    `metrics`: the run's per-sample metrics; the code and state of one's own metrics count
    (a metric whose function changed measures something else).
    """
    identity = plan.model_copy(update={"batch_size": 0, "analysis": None}).digest()
    versions = {s.name: perturbations.get(s.name).version for s in plan.perturbations}
    parts: list[Any] = [identity, model_fingerprint, data_fingerprint, versions, wince_version()]
    own = [m for m in metrics if m.source != "built-in"]
    if own:
        from wince.models.identity import callable_identity

        parts.append({m.name: callable_identity(m.function).digest for m in own})
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:12]


def lineage(
    plan: Plan,
    model: ModelAdapter,
    dataset: Dataset,
    *,
    fingerprints: tuple[str, str],
    executor: str,
    workers: int,
    environment: dict[str, str | None] | None = None,
) -> dict[str, Any]:
    """What a run needs to be reproduced: plan, fingerprints, versions, seeds, host."""
    versions: dict[str, str | None] = {}
    for package in PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "plan": plan.model_dump(mode="json"),
        "plan_digest": plan.digest(),
        "model_fingerprint": fingerprints[0],
        "model": getattr(model, "label", type(model).__name__),
        "data_fingerprint": fingerprints[1],
        "data": getattr(dataset, "name", type(dataset).__name__),
        "n_samples": len(dataset),
        "modality": str(dataset.modality),
        "classes": None if model.classes is None else [str(c) for c in model.classes],
        # whether the model can be trained (None: not known): reports advise training or not
        "trainable": getattr(model, "trainable", None),
        "seed": plan.seed,
        "repeats": plan.repeats,
        "batch_size": plan.batch_size,
        "perturbation_versions": {
            s.name: perturbations.get(s.name).version for s in plan.perturbations
        },
        "wince_version": wince_version(),
        "python": sys.version.split()[0],
        "packages": versions,
        # the packages that shape this run's outputs (see wince.engine.environment)
        "environment": environment,
        "host": platform.node(),
        "platform": platform.platform(),
        "pid": os.getpid(),
        "executor": executor,
        "workers": workers,
        "started_at": now(),
    }


def pending_ranges(
    n: int, batch_size: int, done: Sequence[tuple[int, int]]
) -> list[tuple[int, int]]:
    """Sample ranges not yet covered by completed units, cut into batches."""
    covered = np.zeros(n, dtype=bool)
    for start, stop in done:
        covered[start:stop] = True
    ranges = []
    start = 0
    while start < n:
        if covered[start]:
            start += 1
            continue
        stop = start
        while stop < n and not covered[stop] and stop - start < batch_size:
            stop += 1
        ranges.append((start, stop))
        start = stop
    return ranges


def jobs(
    dataset: Dataset, labels: npt.NDArray[Any] | None, ranges: Sequence[tuple[int, int]]
) -> Iterator[UnitJob]:
    """Unit jobs for the given ranges, reading one batch at a time."""
    for start, stop in ranges:
        yield UnitJob(
            start,
            stop,
            dataset.batch(start, stop),
            dataset.ids[start:stop],
            labels[start:stop] if labels is not None else None,
            dataset.metadata.iloc[start:stop] if dataset.metadata is not None else None,
        )


def _check_feature_names(model: ModelAdapter, dataset: Dataset) -> None:
    """Refuse data whose named columns are not those the model was fitted on, in order.

    Raises:
        DataError: the names differ (both lists are named, with the differences).
    """
    expected = getattr(model, "feature_names", None)
    found = getattr(dataset, "feature_names", None)
    if expected is None or found is None or dataset.modality != "tabular":
        return
    if tuple(found) != tuple(expected):
        missing = [n for n in expected if n not in found]
        extra = [n for n in found if n not in expected]
        parts = [f"missing {missing}"] * bool(missing) + [f"not expected {extra}"] * bool(extra)
        detail = ", ".join(parts) or "another order"
        raise DataError(
            f"the data's columns {list(found)} are not the columns the model was fitted on "
            f"{list(expected)} ({detail}); select and order them as at fitting "
            "(data.features in the plan)."
        )


def _check_sample_rate(model: ModelAdapter, dataset: Dataset) -> None:
    """Refuse audio recorded at another rate than the one the model takes.

    Raises:
        DataError: the model declares a `sample_rate_hz` and the data another.
    """
    expected = getattr(model, "sample_rate_hz", None)
    if expected is None or dataset.modality != "audio":
        return
    found = dataset.context().sample_rate_hz
    if found is not None and found != expected:
        raise DataError(
            f"the data has {found} samples per second but the model takes {expected} Hz "
            f"audio; resample the data to {expected} Hz."
        )


def prepare(plan: Plan, model: ModelAdapter, dataset: Dataset) -> tuple[list[Scenario], RunSpec]:
    """Scenarios and the shared run spec for a plan on a model and dataset.

    Raises:
        DataError: the dataset holds no samples, or the plan's perturbations do not fit its
            modality.
        ParameterError: a value the plan gives cannot act on the data (a cutoff above the
            Nyquist frequency).
    """
    if len(dataset) == 0:
        source = getattr(dataset, "name", None) or "the dataset"
        raise DataError(
            f"{source} holds no samples, so there is nothing to perturb; check the file or "
            "folder the plan's data section names (a CSV needs rows below its header)."
        )
    for item in plan.perturbations:
        modality = perturbations.get(item.name).modality
        if modality != dataset.modality:
            ambiguous = ""
            if modality == "image" and dataset.modality == "timeseries":
                ambiguous = (
                    " An (n, h, w) array reads as n time series of h steps and w channels; if "
                    "it holds grayscale images, say so: `modality: image` in the plan's data "
                    "section, or ArrayDataset(x, labels, modality='image')."
                )
            raise DataError(
                f"perturbation {item.name} is for {modality} data but the dataset holds "
                f"{dataset.modality} data; choose {dataset.modality}.* perturbations "
                f"(`wince perturbations`).{ambiguous}"
            )
    _check_feature_names(model, dataset)
    _check_sample_rate(model, dataset)
    context = dataset.context()
    for item in plan.perturbations:
        _check_sweep_acts(item, context)
    scenarios = expand(plan)
    spec = RunSpec(
        trials=tuple(trials(scenarios, plan.repeats)),
        positions={s.key: i for i, s in enumerate(scenarios)},
        seed=plan.seed,
        context=context,
        task=model.task,
        keep_scores=plan.store_scores,
        measured_by=plan.perturbations[0].name,
        schema=getattr(dataset, "schema", None),
        metrics=tuple(
            load_function(m)
            for m in plan_metric_table(plan, model.task).values()
            if m.function is not None or m.source != "built-in"
        ),
    )
    return scenarios, spec


def _check_sweep_acts(item: PerturbationSpec, context: DataContext) -> None:
    """Refuse a value, level or severity a plan entry gives that cannot act on the data.

    A level or severity at the perturbation's off value is the baseline, and is allowed. The
    default sweep (neither given: levels 1-5) is checked as those levels.

    Raises:
        ParameterError: naming the entry, the value (or the level mapping to it) and the fix.
    """
    perturbation = perturbations.get(item.name)(**item.params)
    if item.values is not None:
        for value in item.values:
            perturbation.check_value_for(value, context)
        return
    magnitude = perturbation.magnitude
    default = item.levels is None and item.severities is None
    given = {
        "level": list(LEVELS) if default else item.levels,
        "severity": item.severities,
    }
    for word, labels in given.items():
        if labels is None:
            continue
        for label, point in zip(labels, resolve_sweep(item), strict=True):
            if point.value == magnitude.off:
                continue
            try:
                named = f"{word} {label}" + (" of the default sweep" if default else "")
                perturbation.check_value_for(point.value, context, given_as=named)
            except ParameterError as error:
                acting = [
                    str(level)
                    for level, severity in LEVELS.items()
                    if _acts(perturbation, magnitude.value_at(severity), context)
                ]
                raise ParameterError(
                    f"{error} Levels that act on this data: {', '.join(acting) or 'none'}."
                ) from None


def _acts(perturbation: perturbations.Perturbation, value: float, context: DataContext) -> bool:
    """Whether `value` can act on the data (`Perturbation.check_value_for` accepts it)."""
    try:
        perturbation.check_value_for(value, context)
    except ParameterError:
        return False
    return True


def scenario_rows(scenarios: Sequence[Scenario], repeats: int) -> list[dict[str, Any]]:
    """Catalog rows describing scenarios."""
    return [
        {
            "scenario": s.key,
            "kind": s.kind,
            "steps": [
                {
                    "name": st.name,
                    "entry": entry,
                    "param": perturbations.get(st.name).magnitude.name,
                    "value": st.value,
                    "severity": sev,
                    "params": dict(st.params),
                }
                for st, sev, entry in zip(
                    s.steps, s.severities, s.entries or [st.name for st in s.steps], strict=True
                )
            ],
            "severity": s.severity,
            "trials": trial_count(s, repeats),
        }
        for s in scenarios
    ]


def _fix_output_meaning(
    model: ModelAdapter,
    dataset: Dataset,
    first: tuple[int, int],
    baseline: Scenario,
    spec: RunSpec,
) -> None:
    """Let a model that detects its output meaning see the run's first clean batch now.

    The meaning is detected once per adapter; detected here, before worker processes are
    forked or sent the adapter, every worker reads outputs the same way. With a cache, the
    first unit's baseline is then served from it (no extra model call).
    """
    reader = getattr(model, "reader", None)
    if not isinstance(reader, OutputReader) or reader.meaning is not None:
        return
    if model.task != Task.CLASSIFICATION:
        return
    start, stop = first
    # samples of several shapes: the first shape's, as the unit will (see `evaluate_unit`)
    ((index, x),) = shape_groups(dataset.batch(start, stop))[:1]
    positions = [start + i for i in index]
    context = dataset.sample_context(positions) if wants_context(model) else None
    _predict(model, x, baseline, [dataset.ids[i] for i in positions], spec, context)


@dataclass(frozen=True)
class Execution:
    """What `execute_run` did.

    Attributes:
        run_id: the run.
        reused: True when a complete stored run was returned as it was (same plan, data,
            model and environment), without calling the model.
        recomputed: how many of the stored run's units were damaged and evaluated again.
    """

    run_id: str
    reused: bool
    recomputed: int = 0


def _stale_runs(
    store: Store, plan: Plan, identity: str, env: dict[str, str | None]
) -> list[tuple[str, list[str]]]:
    """Stored runs of the same plan, data and model made under other package versions."""
    found = []
    runs = store.list_runs()
    for run_id in runs.loc[runs["name"] == plan.name, "run_id"]:
        recorded = store.run(str(run_id))["lineage"]
        if recorded.get("identity") != identity or recorded.get("environment") is None:
            continue
        changed = environments.changes(recorded["environment"], env)
        if changed:
            found.append((str(run_id), changed))
    return found


def record_analysis_settings(store: Store, run_id: str, plan: Plan) -> None:
    """Store the plan's `analysis` section with the run, for its next analysis.

    Analysis settings are not identity (the run id leaves them out): a run reused with an
    edited `analysis` section keeps its outcomes, and its next analysis uses the new one.
    """
    store.update_lineage(run_id, {"analysis": plan.analysis.model_dump(mode="json")})


def _stored(store: Store, run_id: str) -> dict[str, Any] | None:
    try:
        return store.run(run_id)
    except StoreError:
        return None


def _refuse_stale_runs(store: Store, plan: Plan, identity: str, env: dict[str, str | None]) -> None:
    """Raise `StaleRunError` when a run of this identity was made under other package versions."""
    stale = _stale_runs(store, plan, identity, env)
    if stale:
        old, changed = stale[0]
        raise StaleRunError(
            f"run {old} of plan {plan.name!r} has the same plan, data and model but was "
            f"made under other package versions: {', '.join(changed)}. Its outcomes may "
            "differ under this environment, so it is not reused. Run again with --fresh "
            "(Python: fresh=True) to make a new run under this environment; the stored "
            "run is kept.",
            run_id=old,
            changes=changed,
        )


def _with_cache(
    spec: RunSpec,
    model: ModelAdapter,
    cache: PredictionCache | None,
    *,
    fresh: bool,
    fingerprint: str,
    env: dict[str, str | None],
) -> RunSpec:
    """The run spec with the prediction cache a run uses, keyed by model and environment.

    `fingerprint` is the model's (`identify`).
    """
    return dataclasses.replace(
        spec,
        # fresh: every prediction from the model itself; a model that reads sample ids may
        # answer two samples with the same inputs differently
        cache=None if fresh or wants_context(model) else cache,
        fingerprint=environments.cache_identity(fingerprint, env),
    )


def _create_run(
    store: Store,
    run_id: str,
    plan: Plan,
    model: ModelAdapter,
    dataset: Dataset,
    *,
    scenarios: Sequence[Scenario],
    spec: RunSpec,
    fingerprints: tuple[str, str],
    executor: Any,
    identity: str,
    env: dict[str, str | None],
) -> None:
    """Record a new run in the store: its lineage, identity, own metrics and scenarios."""
    record = lineage(
        plan,
        model,
        dataset,
        fingerprints=fingerprints,
        executor=executor.name,
        workers=executor.workers,
        environment=env,
    )
    record["identity"] = identity
    # metrics of one's own, also those registered in this process only: analyses elsewhere
    # (the CLI, a teammate) read them from the run
    record["metrics"] = [m.declaration() for m in spec.metrics if m.source != "built-in"]
    store.create_run(
        run_id,
        name=plan.name,
        plan_digest=plan.digest(),
        model_fingerprint=fingerprints[0],
        data_fingerprint=fingerprints[1],
        task=str(model.task),
        n_samples=len(dataset),
        lineage=record,
        scenarios=scenario_rows(scenarios, plan.repeats),
    )


def execute_run(
    plan: Plan,
    model: ModelAdapter,
    dataset: Dataset,
    store: Store,
    *,
    executor: Any,
    progress: bool = False,
    cache: PredictionCache | None = None,
    fresh: bool = False,
    loading_s: float | None = None,
    progress_title: str | None = None,
) -> Execution:
    """Run (or resume) a plan, or reuse the stored run of the same identity.

    `progress` shows a bar on standard error counting samples, labelled `progress_title`
    (default the plan's name; `wince harden` gives each defended run its defence's name).
    `loading_s` (seconds the caller took to load the model and data) is recorded with the
    run's timings, as `loading_s` beside the evaluation's `wall_s`.

    A run's id is a content address: the plan (without batch size and analysis settings),
    the model's identity (`identify`: for an endpoint, after its probe), the data, the
    perturbation versions and the environment (`wince.engine.environment`). A complete run
    with that id is reused as it is, once the checksums of its segments are checked: damaged
    units (`Store.damaged_units`) are recomputed, as an unfinished run resumes. A run of the
    same plan, data and model made under other package versions is refused
    (`StaleRunError`), unless `fresh`. `fresh` always makes a new run, calling the model for
    every prediction (the cache is not used).

    Completed units are kept whatever happens; a failure marks the run failed, names the
    scenario and samples, and re-raises. With a `cache`, predictions already made (by this
    run, an earlier one or an analysis) of the same model under the same package versions
    are reused instead of calling the model again. A perturbed scenario whose inputs the
    model raises on is recorded as rejected and the run goes on (`wince.engine.rejections`;
    `Store.rejections` lists them); a model that fails on clean inputs fails the run.

    Raises:
        StaleRunError: a stored run of this plan, data and model was made under other
            package versions, and `fresh` is False.
        ModelError: the model (or its probe) failed on clean inputs.
    """
    from wince.terminal import ProgressReporter

    scenarios, spec = prepare(plan, model, dataset)
    runnable = table_inputs(model, dataset)  # what predicts; `model` is what is identified
    labels = encode_labels(dataset, model)
    # hashing a model can be slow: once per run
    fingerprints = (identify(model, dataset), dataset.fingerprint())
    env = environments.environment(str(dataset.modality), model)
    identity = run_id_for(plan, *fingerprints, spec.metrics)
    digest = environments.environment_digest(env)
    run_id = hashlib.sha256(f"{identity}|{digest}".encode()).hexdigest()[:12]
    stored = _stored(store, run_id)
    recomputed = 0  # damaged units found now or dropped by `wince repair`, evaluated below
    if stored is not None and not fresh:
        store.drop_units(run_id, store.damaged_units(run_id, full=True))
        recomputed = len(store.dropped_ranges(run_id))
        stored = store.run(run_id)  # `running` again when units were dropped
    if fresh and stored is not None:
        run_id = hashlib.sha256(f"{identity}|{digest}|{now()}".encode()).hexdigest()[:12]
    elif stored is not None and stored["status"] == "complete":
        record_analysis_settings(store, run_id, plan)
        return Execution(run_id, reused=True)
    elif stored is None and not fresh:
        _refuse_stale_runs(store, plan, identity, env)
    if getattr(model, "version", None) is not None:
        probe(model, dataset)  # identified by its version, but it must answer before a run
    spec = _with_cache(spec, model, cache, fresh=fresh, fingerprint=fingerprints[0], env=env)
    _create_run(
        store,
        run_id,
        plan,
        model,
        dataset,
        scenarios=scenarios,
        spec=spec,
        fingerprints=fingerprints,
        executor=executor,
        identity=identity,
        env=env,
    )
    record_analysis_settings(store, run_id, plan)
    ranges = pending_ranges(len(dataset), plan.batch_size, store.completed_units(run_id))
    started = time.perf_counter()
    pending = sum(stop - start for start, stop in ranges)
    reporter = ProgressReporter(pending, enabled=progress, title=progress_title or plan.name)
    try:
        if ranges:
            _fix_output_meaning(runnable, dataset, ranges[0], scenarios[0], spec)
        with reporter:
            units = executor.map(runnable, spec, jobs(dataset, labels, ranges))
            for job, table, seconds in units:
                store.write_unit(
                    run_id,
                    job.start,
                    job.stop,
                    table,
                    seconds=seconds,
                    rejected=[r.__dict__ for r in rejections.read(table)],
                )
                reporter.advance(job.stop - job.start)
    except BaseException as error:
        store.finish_run(
            run_id,
            status="failed",
            error=f"{type(error).__name__}: {error}",
            timings=_timings(started, len(ranges), loading_s),
        )
        raise
    if cache is not None and cache.stats.calls + cache.stats.outcome_hits:
        # what the cache saved (counted here for in-process executors only)
        store.update_lineage(run_id, {"prediction_cache": cache.stats.as_dict()})
    store.finish_run(
        run_id,
        status="complete",
        timings=_timings(started, len(ranges), loading_s),
    )
    return Execution(run_id, reused=False, recomputed=recomputed)


def _timings(started: float, units: int, loading_s: float | None) -> dict[str, float]:
    """A run's timings: evaluation seconds since `started`, units, and loading seconds."""
    timings = {"wall_s": time.perf_counter() - started, "units": units}
    if loading_s is not None:
        timings["loading_s"] = loading_s
    return timings
