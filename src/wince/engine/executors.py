"""Executors: where units are evaluated.

`local` runs in-process; `process` uses a pool of worker processes, each loading the model
once. Outcomes always return to one writer (the caller), so the store sees a single, ordered
stream of commits.
"""

from __future__ import annotations

import multiprocessing
import pickle
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

import pyarrow as pa

from wince.engine.runner import RunSpec, UnitJob, evaluate_unit
from wince.errors import ModelError, ParameterError
from wince.models.base import ModelAdapter

UnitResult = tuple[UnitJob, pa.Table, float]


class LocalExecutor:
    """Evaluate units one after another in this process."""

    name = "local"
    workers = 1

    def map(
        self, model: ModelAdapter, spec: RunSpec, jobs: Iterable[UnitJob]
    ) -> Iterator[UnitResult]:
        """Evaluate each job in order."""
        for job in jobs:
            started = time.perf_counter()
            table = evaluate_unit(model, job, spec)
            yield job, table, time.perf_counter() - started


_worker_model: ModelAdapter | None = None
_worker_spec: RunSpec | None = None


def _init_worker(load_model: Callable[[], ModelAdapter], spec: RunSpec) -> None:
    global _worker_model, _worker_spec
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)  # one BLAS thread per worker: the pool already uses every core
    _worker_model = load_model()
    _worker_spec = spec


def _evaluate_in_worker(job: UnitJob) -> tuple[pa.Table, float]:
    assert _worker_model is not None
    assert _worker_spec is not None
    started = time.perf_counter()
    table = evaluate_unit(_worker_model, job, _worker_spec)
    return table, time.perf_counter() - started


class _Loaded:
    """A picklable loader that returns an already built adapter (unpickled in the worker)."""

    def __init__(self, model: ModelAdapter) -> None:
        self.model = model

    def __call__(self) -> ModelAdapter:
        return self.model


class ProcessExecutor:
    """Evaluate units on a pool of worker processes, results returned in submission order.

    Args:
        workers: number of worker processes (default: CPU count).
        load_model: picklable function building the model inside each worker, used when the
            adapter given to `map` cannot be pickled (sending the built model is cheaper than
            rebuilding it: a factory may train it).
        max_in_flight: units submitted ahead of the writer (bounds memory); default 2 per worker.
    """

    name = "process"

    def __init__(
        self,
        workers: int | None = None,
        *,
        load_model: Callable[[], ModelAdapter] | None = None,
        max_in_flight: int | None = None,
    ) -> None:
        self.workers = workers or multiprocessing.cpu_count()
        if self.workers < 1:
            raise ParameterError(f"workers must be at least 1; got {self.workers}.")
        self.load_model = load_model
        self.max_in_flight = max_in_flight or 2 * self.workers

    def map(
        self, model: ModelAdapter, spec: RunSpec, jobs: Iterable[UnitJob]
    ) -> Iterator[UnitResult]:
        """Evaluate jobs in parallel, keeping at most `max_in_flight` pending."""
        loader: Callable[[], ModelAdapter]
        try:
            pickle.dumps(model)
            loader = _Loaded(model)
        except (pickle.PicklingError, AttributeError, TypeError) as error:
            if self.load_model is None:
                raise ModelError(
                    f"the process executor cannot send this model to worker processes "
                    f"({error}); define the model at module level, load it from the plan's "
                    "model section, or use --executor local."
                ) from None
            loader = self.load_model
        context = multiprocessing.get_context("forkserver")
        with ProcessPoolExecutor(
            self.workers, mp_context=context, initializer=_init_worker, initargs=(loader, spec)
        ) as pool:
            pending: deque[tuple[UnitJob, Future[tuple[pa.Table, float]]]] = deque()
            try:
                for job in jobs:
                    pending.append((job, pool.submit(_evaluate_in_worker, job)))
                    if len(pending) >= self.max_in_flight:
                        done_job, future = pending.popleft()
                        yield (done_job, *future.result())
                while pending:
                    done_job, future = pending.popleft()
                    yield (done_job, *future.result())
            finally:
                for _, future in pending:
                    future.cancel()


def make_executor(
    name: str, *, workers: int | None = None, load_model: Callable[[], ModelAdapter] | None = None
) -> LocalExecutor | ProcessExecutor:
    """An executor by name: `local` or `process`.

    Raises:
        ParameterError: unknown executor name.
    """
    if name == "local":
        return LocalExecutor()
    if name == "process":
        return ProcessExecutor(workers, load_model=load_model)
    raise ParameterError(f"executor must be 'local' or 'process'; got {name!r}.")


class ProgressReporter:
    """A rich progress bar over units with ETA, or nothing when disabled."""

    def __init__(self, total: int, *, enabled: bool, title: str) -> None:
        self.enabled = enabled and total > 0
        self.total = total
        self.title = title
        self._progress: Any = None
        self._task: Any = None

    def __enter__(self) -> ProgressReporter:
        if self.enabled:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("batches"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                transient=False,
            )
            self._progress.__enter__()
            self._task = self._progress.add_task(self.title, total=self.total)
        return self

    def advance(self) -> None:
        """One unit done."""
        if self._progress is not None:
            self._progress.advance(self._task)

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)
