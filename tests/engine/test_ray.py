"""The Ray executor: same outcomes as local, one model load per actor, bounded, plain errors."""

from __future__ import annotations

import sys
import threading

import numpy as np
import pandas as pd
import pytest

import wince
from structured_runs import image_run, outcome_frame, text_run
from wince.datasets import ArrayDataset
from wince.engine.executors import RayExecutor
from wince.engine.runner import execute_run, jobs, prepare
from wince.errors import ModelError
from wince.models import CallableAdapter
from wince.plan import Plan
from wince.store import open_store

pytestmark = pytest.mark.ray

PLAN = {
    "name": "ray-test",
    "perturbations": [
        {"name": "image.gaussian_noise", "severities": [0.5, 1.0]},
        {"name": "image.exposure", "severities": [1.0]},
    ],
    "repeats": 2,
    "seed": 11,
    "batch_size": 10,
}


@pytest.fixture(autouse=True)
def _by_value(ray_cluster):
    # Ray workers cannot import the test modules: send their functions and classes by value.
    from ray import cloudpickle

    modules = [sys.modules[__name__], sys.modules[text_run.__module__]]
    for module in modules:
        cloudpickle.register_pickle_by_value(module)
    yield
    for module in modules:
        cloudpickle.unregister_pickle_by_value(module)


def brightness(x):
    mean = x.reshape(len(x), -1).mean(axis=1) / 255.0
    return np.stack([-((mean - c) ** 2) * 200 for c in (0.2, 0.5, 0.8)], axis=1)


def image_data(n=60):
    rng = np.random.default_rng(3)
    x = rng.integers(0, 256, size=(n, 6, 6, 3), dtype=np.uint8)
    return ArrayDataset(x, rng.integers(0, 3, n), modality="image")


class CountedModel(CallableAdapter):
    """Appends a line to a file each time a copy of it is loaded (unpickled)."""

    def __init__(self, log):
        super().__init__(brightness, fingerprint="counted")
        self.log = str(log)

    def __setstate__(self, state):
        self.__dict__.update(state)
        with open(self.log, "a") as f:
            f.write("loaded\n")


def run(tmp_path, name, model, executor, **plan_changes):
    store = open_store(str(tmp_path / name))
    plan = Plan.model_validate({**PLAN, **plan_changes})
    run_id = execute_run(plan, model, image_data(), store, executor=executor).run_id
    return store, run_id


def test_ray_outcomes_equal_local_outcomes(tmp_path):
    model = CallableAdapter(brightness, fingerprint="b")
    local = wince.run(model, image_data(), PLAN, store=str(tmp_path / "local"))
    ray_run = wince.run(
        model, image_data(), PLAN, store=str(tmp_path / "ray"), executor="ray", workers=2
    )
    assert local.id == ray_run.id
    outcomes = ray_run.outcomes()
    # baseline, identity, 2 noise severities x 2 repeats, exposure +-3 EV
    assert len(outcomes) == 60 * (1 + 1 + 2 * 2 + 2)
    pd.testing.assert_frame_equal(local.outcomes(), outcomes)
    assert ray_run.lineage["executor"] == "ray"
    assert ray_run.lineage["workers"] == 2


@pytest.mark.parametrize("task", ["text", "detection"])
def test_ray_outputs_and_metrics_of_structured_runs_equal_local_ones(tmp_path, task):
    def run(store: str, **options: object) -> wince.Run:
        if task == "text":
            return text_run(tmp_path / store, cache=False, **options)
        return image_run(task, tmp_path / store, cache=False, **options)

    local = outcome_frame(run("local"))
    on_ray = outcome_frame(run("ray", executor="ray", workers=2))
    # the plain outputs and the metric columns computed from them in the actors
    metrics = {"text": ["cer", "wer", "output_changed"], "detection": ["recall", "box_drift"]}
    assert {"output", "truth", *metrics[task]} <= set(on_ray.columns)
    pd.testing.assert_frame_equal(local, on_ray)


def refuses_dark(x):
    """The brightness model, refusing batches darker on average than 30% of full scale."""
    if x.mean() / 255.0 < 0.3:
        raise ValueError("input too dark\nsecond line")
    return brightness(x)


def test_scenarios_refused_on_ray_actors_are_those_refused_locally(tmp_path):
    model = CallableAdapter(refuses_dark, fingerprint="dark")
    local = wince.run(model, image_data(), PLAN, store=str(tmp_path / "local"))
    ray_run = wince.run(
        model, image_data(), PLAN, store=str(tmp_path / "ray"), executor="ray", workers=2
    )
    assert ray_run.record["status"] == "complete"
    assert ray_run.rejected == local.rejected
    assert list(ray_run.rejected.values()) == ["ValueError: input too dark"]
    pd.testing.assert_frame_equal(
        local.store.rejections(local.id), ray_run.store.rejections(ray_run.id)
    )
    pd.testing.assert_frame_equal(local.outcomes(), ray_run.outcomes())


def test_each_actor_loads_the_model_once_and_keeps_it_for_the_next_run(tmp_path):
    log = tmp_path / "loads.txt"
    model = CountedModel(log)
    executor = RayExecutor(2)
    store, run_id = run(tmp_path, "s", model, executor, batch_size=5)
    assert len(store.completed_units(run_id)) == 12  # 12 units on 2 actors
    assert log.read_text().splitlines() == ["loaded", "loaded"]
    assert len(set(executor.worker_pids)) == 2
    # the same model again (another plan): the actors hold it already
    run(tmp_path, "t", model, executor, batch_size=7, seed=12)
    assert log.read_text().splitlines() == ["loaded", "loaded"]
    # another model: loaded once per actor again
    run(tmp_path, "u", CountedModel(tmp_path / "other.txt"), executor)
    assert (tmp_path / "other.txt").read_text().splitlines() == ["loaded", "loaded"]


def test_results_stream_in_order_with_bounded_work_in_flight():
    plan = Plan.model_validate({**PLAN, "batch_size": 4})
    dataset = image_data(48)
    model = CallableAdapter(brightness, fingerprint="b")
    _, spec = prepare(plan, model, dataset)
    pulled = 0

    def counted():
        nonlocal pulled
        for job in jobs(dataset, None, [(i, i + 4) for i in range(0, 48, 4)]):
            pulled += 1
            yield job

    executor = RayExecutor(2, max_in_flight=2)
    ahead = []
    starts = []
    for done, (job, table, seconds) in enumerate(executor.map(model, spec, counted()), 1):
        ahead.append(pulled - done)
        starts.append(job.start)
        assert table.num_rows == 4 * len(spec.trials)
        assert seconds > 0
    assert starts == list(range(0, 48, 4))
    # the writer holds at most 2 units per actor plus the one it is handing over
    assert max(ahead) <= 2 * 2
    assert ahead[0] == 4


def exploding(x):
    if (x > 250).all(axis=(1, 2, 3)).any():
        raise ModelError("saturated input")
    return brightness(x)


class RaisingAdapter(CallableAdapter):
    """An adapter whose own code fails with a plain ValueError on white images."""

    def __init__(self):
        super().__init__(brightness, fingerprint="v")

    def predict(self, x):
        if (x > 250).all(axis=(1, 2, 3)).any():
            raise ValueError("cannot handle white images")
        return super().predict(x)


def data_with_white_sample(index):
    dataset = image_data()
    x = dataset.x.copy()
    x[index] = 255
    return ArrayDataset(x, dataset.labels, modality="image")


def test_a_model_error_in_an_actor_names_scenario_and_samples_and_keeps_done_units(tmp_path):
    store = open_store(str(tmp_path / "s"))
    model = CallableAdapter(exploding, fingerprint="e")
    with pytest.raises(ModelError) as info:
        wince.run(model, data_with_white_sample(25), PLAN, store=store, executor="ray", workers=2)
    message = str(info.value)
    assert "scenario baseline" in message
    assert "'20'..'29'" in message
    assert "saturated input" in message
    (run_id,) = store.list_runs()["run_id"]
    assert store.run(run_id)["status"] == "failed"
    assert set(store.completed_units(run_id)) <= {(0, 10), (10, 20), (30, 40), (40, 50)}
    assert (0, 10) in store.completed_units(run_id)


def test_other_errors_in_an_actor_name_the_samples(tmp_path):
    model = RaisingAdapter()
    with pytest.raises(ModelError, match=r"samples '40'\.\.'49' \(rows 40-49\).*ValueError"):
        wince.run(
            model,
            data_with_white_sample(44),
            PLAN,
            store=str(tmp_path / "s"),
            executor="ray",
            workers=2,
        )


def test_a_model_that_cannot_be_serialised_is_named():
    class Locked(CallableAdapter):
        def __init__(self):
            super().__init__(brightness, fingerprint="locked")
            self.lock = threading.Lock()

    plan = Plan.model_validate(PLAN)
    _, spec = prepare(plan, Locked(), image_data())
    executor = RayExecutor(2)
    with pytest.raises(ModelError, match="cannot serialise this model for Ray workers"):
        next(executor.map(Locked(), spec, jobs(image_data(), None, [(0, 10)])))


def test_actors_that_cannot_be_placed_time_out_with_the_resources_named():
    plan = Plan.model_validate(PLAN)
    model = CallableAdapter(brightness, fingerprint="b")
    _, spec = prepare(plan, model, image_data())
    executor = RayExecutor(1, num_gpus=1, ready_timeout_s=1.0)
    with pytest.raises(ModelError, match=r"asks for 0\.9 CPUs and 1 GPUs.*0 GPUs"):
        next(executor.map(model, spec, jobs(image_data(), None, [(0, 10)])))
