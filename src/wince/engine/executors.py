"""Executors: where units are evaluated.

`local` runs in-process; `process` uses a pool of worker processes and `ray` a set of Ray
actors, each loading the model once. Outcomes always return to one writer (the caller) in
submission order, so the store sees a single, ordered stream of commits, and at most a few
units per worker are in flight, so the writer's memory stays bounded by the batch size.
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import os
import pickle
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

import pyarrow as pa

from wince.datasets.tables import table_inputs
from wince.engine.runner import RunSpec, UnitJob, evaluate_unit
from wince.errors import ModelError, ParameterError, WinceError
from wince.models.base import ModelAdapter

UnitResult = tuple[UnitJob, pa.Table, float]

# Libraries whose thread pools or device state do not survive `fork` in the child; with one of
# them imported the process executor starts its workers from a fresh forkserver instead.
FORK_UNSAFE_MODULES = ("torch", "tensorflow", "jax", "cupy")


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


def _limit_threads() -> None:
    """One BLAS/OpenMP thread per worker: the workers already use every core.

    This must come first in a forked worker: GNU OpenMP's thread pool does not survive
    `fork`, and a parallel region entered with more than one thread would hang for ever.
    """
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)


def _init_worker(load_model: Callable[[], ModelAdapter], spec: RunSpec) -> None:
    global _worker_model, _worker_spec
    _limit_threads()
    _worker_model = table_inputs(load_model(), spec)  # a plan's model, built here: as in the run
    _worker_spec = spec


def _evaluate_in_worker(job: UnitJob) -> tuple[pa.Table, float]:
    assert _worker_model is not None
    assert _worker_spec is not None
    started = time.perf_counter()
    table = evaluate_unit(_worker_model, job, _worker_spec)
    return table, time.perf_counter() - started


class _Loaded:
    """A loader that returns an adapter already built (inherited by forked workers)."""

    def __init__(self, model: ModelAdapter) -> None:
        self.model = model

    def __call__(self) -> ModelAdapter:
        return self.model


class _Pickled:
    """A loader holding the pickled adapter, unpickled inside the worker's initializer.

    Sending bytes rather than the adapter matters for start-up: a worker reads its start-up
    arguments from a pipe the parent writes synchronously, and unpickling a model there
    imports its libraries while the parent waits, so workers would start one after another.
    """

    def __init__(self, payload: bytes) -> None:
        self.payload = payload

    def __call__(self) -> ModelAdapter:
        model: ModelAdapter = pickle.loads(self.payload)
        return model


def fork_is_safe() -> bool:
    """Whether worker processes can be forked from this process without risk of a hang.

    Forking copies only the calling thread: a lock another thread held at that moment stays
    locked in the child for ever. So `fork` is used only on Linux (macOS system frameworks
    are not fork-safe), with no other Python thread running, and without libraries whose
    runtime state breaks in a forked child (torch, TensorFlow, JAX, CuPy).
    """
    return (
        sys.platform == "linux"
        and threading.active_count() == 1
        and not any(name in sys.modules for name in FORK_UNSAFE_MODULES)
    )


class ProcessExecutor:
    """Evaluate units on a pool of worker processes, results returned in submission order.

    On Linux the workers are forked from this process when that is safe (see
    `fork_is_safe`): they inherit the imported modules and the model already built, so a
    worker starts in milliseconds and the model needs no pickling. Otherwise they come from
    a forkserver that has `wince` imported, and each unpickles the model once.

    Args:
        workers: number of worker processes (default: CPU count).
        load_model: picklable function building the model inside each worker, used when the
            adapter given to `map` cannot be pickled and workers cannot be forked (sending
            the built model is cheaper than rebuilding it: a factory may train it).
        max_in_flight: units submitted ahead of the writer (bounds memory); default 2 per
            worker, which keeps every worker busy until the last unit.
        start_method: "fork", "forkserver" or "spawn"; default: fork when safe, else
            forkserver.
    """

    name = "process"

    def __init__(
        self,
        workers: int | None = None,
        *,
        load_model: Callable[[], ModelAdapter] | None = None,
        max_in_flight: int | None = None,
        start_method: str | None = None,
    ) -> None:
        self.workers = multiprocessing.cpu_count() if workers is None else workers
        if self.workers < 1:
            raise ParameterError(f"workers must be at least 1; got {self.workers}.")
        methods = multiprocessing.get_all_start_methods()
        if start_method is not None and start_method not in methods:
            raise ParameterError(
                f"start_method must be one of {', '.join(methods)}; got {start_method!r}."
            )
        self.load_model = load_model
        self.max_in_flight = max_in_flight or 2 * self.workers
        self.start_method = start_method
        self.started_with: str | None = None  # the start method of the last pool

    def _loader(self, model: ModelAdapter) -> Callable[[], ModelAdapter]:
        try:
            return _Pickled(pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL))
        except (pickle.PicklingError, AttributeError, TypeError) as error:
            if self.load_model is None:
                raise ModelError(
                    f"the process executor cannot send this model to worker processes "
                    f"({error}); define the model at module level, load it from the plan's "
                    "model section, or use --executor local."
                ) from None
            return self.load_model

    def map(
        self, model: ModelAdapter, spec: RunSpec, jobs: Iterable[UnitJob]
    ) -> Iterator[UnitResult]:
        """Evaluate jobs in parallel, keeping at most `max_in_flight` pending."""
        method = self.start_method or ("fork" if fork_is_safe() else "forkserver")
        # forked workers inherit the built model: nothing to pickle
        loader = _Loaded(model) if method == "fork" else self._loader(model)
        context = multiprocessing.get_context(method)
        if method == "forkserver":
            # Takes effect when this process starts its forkserver: every worker forked from
            # it then has wince (and the main module) imported already.
            context.set_forkserver_preload(["__main__", "wince.engine.runner"])
        self.started_with = method
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


# --- Ray ------------------------------------------------------------------------------------

RAY_MISSING = "the ray executor needs Ray: pip install 'wince[ray]'"


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ParameterError(f"{RAY_MISSING}.") from None
    return ray


class RayModelWorker:
    """A Ray actor body: holds one model, loaded once per run, and evaluates whole units.

    Actors outlive a run (starting one costs a new interpreter and wince's imports, 1-3 s),
    and keep the model they hold: a later run of the same model (same pickled bytes) loads
    nothing.
    """

    def __init__(self) -> None:
        _limit_threads()
        self.model: ModelAdapter | None = None
        self.digest: str | None = None
        self.spec: RunSpec | None = None

    def load(
        self,
        digest: str | None,
        payload: bytes | None,
        load_model: Callable[[], ModelAdapter] | None,
        spec: RunSpec,
    ) -> int:
        """Load the model unless it is the one already held; return the process id.

        Args:
            digest: SHA-256 of `payload`, or None to load in any case (a `load_model` call).
            payload: the adapter pickled with cloudpickle, or None to call `load_model`.
            load_model: picklable function building the model (used when `payload` is None).
            spec: the run's shared trials and settings.
        """
        if digest is None or digest != self.digest:
            self.model = None  # free the previous model before loading the next one
            if payload is not None:
                from ray import cloudpickle

                self.model = cloudpickle.loads(payload)
            else:
                assert load_model is not None
                self.model = table_inputs(load_model(), spec)
            self.digest = digest
        self.spec = spec
        return os.getpid()

    def evaluate(self, job: UnitJob) -> tuple[pa.Table, float]:
        """One unit's outcomes and the seconds spent on them."""
        assert self.model is not None
        assert self.spec is not None
        started = time.perf_counter()
        table = evaluate_unit(self.model, job, self.spec)
        return table, time.perf_counter() - started


def _samples(job: UnitJob) -> str:
    return f"samples {job.ids[0]!r}..{job.ids[-1]!r} (rows {job.start}-{job.stop - 1})"


# Live model actors of this driver, by (Ray job, CPUs per actor, GPUs per actor).
_actor_pools: dict[tuple[str, float, float], list[Any]] = {}


def release_ray_workers() -> None:
    """Stop the Ray model actors this process started (they otherwise live until it exits)."""
    if not _actor_pools:
        return
    ray = _import_ray()
    for actors in _actor_pools.values():
        _kill(ray, actors)
    _actor_pools.clear()


class RayExecutor:
    """Evaluate units on Ray actors, one per worker, each holding the model.

    The model is serialised once into Ray's object store and loaded once by each actor;
    every unit (a whole batch under all trials, so the per-call overhead of about 1.5 ms stays
    negligible) is one actor call, sent to the actor with the fewest calls outstanding.
    Results come back to the caller in submission order, with at most `max_in_flight` calls
    per actor outstanding, so the driver holds a bounded number of batches whatever the
    dataset size. The actors are kept for later runs of this process (see `RayModelWorker`;
    `release_ray_workers` stops them).

    Args:
        workers: number of model actors (default: the cluster's CPUs).
        address: a running Ray cluster ("auto", "ray://host:10001", ...); default: the Ray
            this process is connected to, or else a new local Ray with this machine's CPUs.
        num_gpus: GPUs per actor (fractions share a GPU); default none.
        cpus_per_worker: CPUs each actor reserves. Slightly under one so that a cluster
            filled with model actors still schedules other Ray tasks instead of waiting for
            ever.
        load_model: picklable function building the model inside each actor, used when the
            adapter given to `map` cannot be serialised.
        max_in_flight: calls queued per actor (2 keeps every actor busy between calls).
        ready_timeout_s: seconds to wait for the actors to be placed and load the model.

    Raises:
        ParameterError: a setting is out of range.
    """

    name = "ray"

    def __init__(
        self,
        workers: int | None = None,
        *,
        address: str | None = None,
        num_gpus: float | None = None,
        cpus_per_worker: float = 0.9,
        load_model: Callable[[], ModelAdapter] | None = None,
        max_in_flight: int = 2,
        ready_timeout_s: float = 300.0,
    ) -> None:
        if workers is not None and workers < 1:
            raise ParameterError(f"workers must be at least 1; got {workers}.")
        if num_gpus is not None and num_gpus < 0:
            raise ParameterError(f"num_gpus must be a number of GPUs >= 0; got {num_gpus}.")
        if cpus_per_worker <= 0:
            raise ParameterError(f"cpus_per_worker must be > 0 CPUs; got {cpus_per_worker}.")
        if max_in_flight < 1:
            raise ParameterError(f"max_in_flight must be at least 1; got {max_in_flight}.")
        self._workers = workers
        self.address = address
        self.num_gpus = num_gpus
        self.cpus_per_worker = cpus_per_worker
        self.load_model = load_model
        self.max_in_flight = max_in_flight
        self.ready_timeout_s = ready_timeout_s
        self.worker_pids: list[int] = []  # the actors' process ids in the last `map`

    def connect(self) -> Any:
        """Connect to Ray (starting a local one if needed) and return the `ray` module.

        Raises:
            ParameterError: Ray is not installed.
            ModelError: the cluster at `address` cannot be reached.
        """
        ray = _import_ray()
        if ray.is_initialized():
            return ray
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        options: dict[str, Any] = {
            "include_dashboard": False,
            "log_to_driver": False,
            "logging_level": logging.WARNING,
        }
        try:
            if self.address is None:
                ray.init(_node_ip_address="127.0.0.1", **options)
            else:
                ray.init(address=self.address, **options)
        except (ConnectionError, RuntimeError, ValueError) as error:
            where = self.address or "a new local Ray"
            raise ModelError(
                f"cannot connect to Ray at {where}: {error}. Check --ray-address "
                "(e.g. 'auto' or 'ray://host:10001'), or omit it to start a local Ray."
            ) from None
        return ray

    @property
    def workers(self) -> int:
        """Number of model actors (connects to Ray to count CPUs when not given)."""
        if self._workers is None:
            ray = self.connect()
            self._workers = max(1, int(ray.cluster_resources().get("CPU", 1)))
        return self._workers

    def _payload(self, model: ModelAdapter) -> bytes | None:
        from ray import cloudpickle

        try:
            payload: bytes = cloudpickle.dumps(model)  # type: ignore[no-untyped-call]
        except Exception as error:  # cloudpickle raises whatever the object raises
            if self.load_model is None:
                raise ModelError(
                    f"the ray executor cannot serialise this model for Ray workers "
                    f"({type(error).__name__}: {error}); load it from the plan's model "
                    "section, or use --executor process or local."
                ) from None
            return None
        return payload

    def _pool_key(self, ray: Any) -> tuple[str, float, float]:
        job = str(ray.get_runtime_context().get_job_id())
        return job, self.cpus_per_worker, float(self.num_gpus or 0)

    def _start(
        self, ray: Any, model: ModelAdapter, spec: RunSpec, *, retry: bool = True
    ) -> list[Any]:
        """The run's actors, started or reused, each holding the model."""
        payload = self._payload(model)
        digest = hashlib.sha256(payload).hexdigest() if payload is not None else None
        key = self._pool_key(ray)
        pool = _actor_pools.setdefault(key, [])
        n = self.workers
        actor_class = ray.remote(RayModelWorker).options(
            num_cpus=self.cpus_per_worker, num_gpus=self.num_gpus or 0
        )
        pool.extend(actor_class.remote() for _ in range(n - len(pool)))
        actors = pool[:n]
        payload_ref = ray.put(payload)
        spec_ref = ray.put(spec)
        loader = self.load_model if payload is None else None
        calls = [a.load.remote(digest, payload_ref, loader, spec_ref) for a in actors]
        try:
            self.worker_pids = ray.get(calls, timeout=self.ready_timeout_s)
        except ray.exceptions.GetTimeoutError:
            _kill(ray, _actor_pools.pop(key))
            raise ModelError(
                f"Ray did not start {n} model workers within {self.ready_timeout_s:g} s; each "
                f"asks for {self.cpus_per_worker:g} CPUs and {self.num_gpus or 0:g} GPUs and "
                f"the cluster has {_resources(ray)}. Lower --workers or --num-gpus."
            ) from None
        except ray.exceptions.RayActorError as error:
            _kill(ray, _actor_pools.pop(key))
            if retry:  # a kept actor may have died since the last run: start new ones once
                return self._start(ray, model, spec, retry=False)
            raise ModelError(f"a Ray worker died while loading the model: {error}") from None
        except ray.exceptions.RayTaskError as error:
            raise ModelError(
                f"loading the model on a Ray worker failed: {type(error.cause).__name__}: "
                f"{error.cause}"
            ) from error
        return actors

    def map(
        self, model: ModelAdapter, spec: RunSpec, jobs: Iterable[UnitJob]
    ) -> Iterator[UnitResult]:
        """Evaluate jobs on the actors; yield results in submission order.

        Raises:
            ModelError: the model cannot be sent to Ray, the actors cannot be placed, an
                actor died, or evaluating a unit failed (naming its samples; wince errors,
                which name them already, are re-raised as they are).
        """
        ray = self.connect()
        actors = self._start(ray, model, spec)
        window = self.max_in_flight * len(actors)
        pending: deque[tuple[UnitJob, Any, int]] = deque()  # (job, result ref, actor)
        unfinished: list[set[Any]] = [set() for _ in actors]
        try:
            for job in jobs:
                if len(pending) >= window:
                    yield self._collect(ray, pending.popleft(), unfinished)
                # learn which calls are done so the next unit goes to the least busy actor
                busy = [ref for refs in unfinished for ref in refs]
                if busy:
                    done, _ = ray.wait(busy, num_returns=len(busy), timeout=0)
                    for refs in unfinished:
                        refs.difference_update(done)
                target = min(range(len(actors)), key=lambda i: len(unfinished[i]))
                ref = actors[target].evaluate.remote(job)
                unfinished[target].add(ref)
                pending.append((job, ref, target))
            while pending:
                yield self._collect(ray, pending.popleft(), unfinished)
        finally:
            for _, ref, _ in pending:  # a failed or abandoned run leaves no queued calls
                ray.cancel(ref)

    def _collect(
        self, ray: Any, item: tuple[UnitJob, Any, int], unfinished: list[set[Any]]
    ) -> UnitResult:
        job, ref, target = item
        try:
            table, seconds = ray.get(ref)
        except ray.exceptions.RayTaskError as error:
            cause = error.cause
            if isinstance(cause, WinceError):  # already names the scenario and samples
                raise cause from None
            raise ModelError(
                f"a Ray worker failed on {_samples(job)}: {type(cause).__name__}: {cause}"
            ) from error
        except ray.exceptions.RayActorError as error:
            _kill(ray, _actor_pools.pop(self._pool_key(ray), []))
            raise ModelError(
                f"the Ray worker evaluating {_samples(job)} died: {error}. A worker that runs "
                "out of memory is killed: lower batch_size or --workers."
            ) from error
        unfinished[target].discard(ref)
        return job, table, seconds


def _kill(ray: Any, actors: list[Any]) -> None:
    for actor in actors:
        ray.kill(actor, no_restart=True)


def _resources(ray: Any) -> str:
    available = ray.cluster_resources()
    return f"{available.get('CPU', 0):g} CPUs and {available.get('GPU', 0):g} GPUs"


def make_executor(
    name: str,
    *,
    workers: int | None = None,
    load_model: Callable[[], ModelAdapter] | None = None,
    ray_address: str | None = None,
    num_gpus: float | None = None,
) -> LocalExecutor | ProcessExecutor | RayExecutor:
    """An executor by name: `local`, `process` or `ray`.

    Args:
        name: the executor.
        workers: worker processes or Ray actors (default: CPU count).
        load_model: picklable model loader for workers, when the model cannot be sent.
        ray_address: a running Ray cluster for `ray` (default: start a local one).
        num_gpus: GPUs per Ray actor.

    Raises:
        ParameterError: unknown executor name, or Ray options given to another executor.
    """
    if name != "ray" and (ray_address is not None or num_gpus is not None):
        raise ParameterError(
            f"--ray-address and --num-gpus apply to --executor ray; got --executor {name}."
        )
    if name == "local":
        return LocalExecutor()
    if name == "process":
        return ProcessExecutor(workers, load_model=load_model)
    if name == "ray":
        _import_ray()  # fail before any work when Ray is missing
        return RayExecutor(workers, address=ray_address, num_gpus=num_gpus, load_model=load_model)
    raise ParameterError(f"executor must be 'local', 'process' or 'ray'; got {name!r}.")
