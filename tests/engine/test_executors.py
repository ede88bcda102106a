"""The process executor: forked workers when safe, same outcomes whatever the start method."""

from __future__ import annotations

import subprocess
import sys
import threading

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier

import wince
from wince.datasets import ArrayDataset
from wince.engine.executors import (
    LocalExecutor,
    ProcessExecutor,
    fork_is_safe,
    make_executor,
)
from wince.engine.runner import execute_run
from wince.errors import ModelError, ParameterError
from wince.models import CallableAdapter, as_model
from wince.plan import Plan
from wince.store import open_store
from wince.terminal import ProgressReporter

PLAN = {
    "name": "process-test",
    "perturbations": [{"name": "tabular.gaussian_noise", "severities": [0.5, 1.0]}],
    "repeats": 2,
    "seed": 5,
    "batch_size": 25,
}


def tabular(n=200):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(n, 4))
    return x, (x[:, 0] + 0.5 * x[:, 1] > 0).astype(int)


def linear(x):
    return np.stack([x[:, 0], -x[:, 0]], axis=1)


def outcomes(tmp_path, name, model, executor):
    store = open_store(str(tmp_path / name))
    run_id = execute_run(
        Plan.model_validate(PLAN),
        as_model(model),
        ArrayDataset(*tabular()),
        store,
        executor=executor,
    ).run_id
    return store.outcomes(run_id)


@pytest.mark.torch
def test_a_fresh_process_may_fork_until_a_fork_unsafe_library_is_imported():
    check = "from wince.engine.executors import fork_is_safe; print(fork_is_safe(), end='')"
    fresh = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True)
    assert fresh.stdout == "True", fresh.stderr
    with_torch = subprocess.run(
        [sys.executable, "-c", "import torch; " + check], capture_output=True, text=True
    )
    assert with_torch.stdout == "False", with_torch.stderr


def test_workers_are_forked_when_that_is_safe(tmp_path):
    # earlier tests of a session may have started Ray's threads or imported torch
    alone = fork_is_safe()
    executor = ProcessExecutor(2)
    model = CallableAdapter(linear, fingerprint="l")
    result = outcomes(tmp_path, "p", model, executor)
    assert executor.started_with == ("fork" if alone else "forkserver")
    pd.testing.assert_frame_equal(outcomes(tmp_path, "l", model, LocalExecutor()), result)


def test_a_running_thread_makes_workers_start_from_a_forkserver(tmp_path):
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert not fork_is_safe()
        executor = ProcessExecutor(2)
        model = CallableAdapter(linear, fingerprint="l")
        result = outcomes(tmp_path, "p", model, executor)
        assert executor.started_with == "forkserver"
    finally:
        stop.set()
        thread.join()
    pd.testing.assert_frame_equal(outcomes(tmp_path, "l", model, LocalExecutor()), result)


def test_forked_workers_survive_openmp_used_in_the_parent(tmp_path):
    # GNU OpenMP's pool does not survive fork: a worker entering a parallel region with more
    # than one thread would hang. Workers limit themselves to one thread first.
    x, y = tabular(2000)
    model = HistGradientBoostingClassifier(max_iter=10, random_state=0).fit(x, y)
    model.predict_proba(x)  # an OpenMP parallel region in this process
    executor = ProcessExecutor(2, start_method="fork")
    result = outcomes(tmp_path, "p", model, executor)
    assert len(result) == 200 * 7  # baseline, identity and 2 severities, x2 repeats but baseline
    pd.testing.assert_frame_equal(outcomes(tmp_path, "l", model, LocalExecutor()), result)


def test_an_unpicklable_model_needs_no_pickling_when_forked_but_is_named_otherwise(tmp_path):
    lock = threading.Lock()

    def guarded(x):
        with lock:
            return linear(x)

    model = CallableAdapter(guarded, fingerprint="g")
    forked = outcomes(tmp_path, "f", model, ProcessExecutor(2, start_method="fork"))
    assert len(forked) == 1400
    with pytest.raises(ModelError, match="cannot send this model to worker processes"):
        outcomes(tmp_path, "s", model, ProcessExecutor(2, start_method="forkserver"))


def test_unknown_start_method_is_refused():
    with pytest.raises(ParameterError, match="start_method must be one of"):
        ProcessExecutor(2, start_method="teleport")
    with pytest.raises(ParameterError, match="'local', 'process' or 'ray'"):
        make_executor("threads")


def test_the_progress_bar_runs_no_thread():
    before = threading.active_count()
    with ProgressReporter(3, enabled=True, title="t") as reporter:
        assert threading.active_count() == before
        reporter.advance()
    assert threading.active_count() == before


def test_progress_counts_samples_on_a_terminal_and_the_python_api_prints_nothing(
    tmp_path, monkeypatch, capfd
):
    import io

    from rich.console import Console

    from wince import terminal

    x = np.random.default_rng(0).normal(size=(50, 2))
    data = (x, (x[:, 0] > 0).astype(int))
    plan = {**PLAN, "batch_size": 20}
    wince.run(lambda b: (b[:, 0] > 0).astype(int), data, plan, store=str(tmp_path / "a"))
    assert capfd.readouterr().err == ""  # no progress bar unless asked
    drawn = io.StringIO()
    monkeypatch.setattr(
        terminal,
        "Console",
        lambda stderr: Console(file=drawn, force_terminal=True, color_system=None, width=120),
    )
    wince.run(
        lambda b: (b[:, 0] > 0.1).astype(int), data, plan, store=str(tmp_path / "b"), progress=True
    )
    assert "50/50 samples" in drawn.getvalue()  # three batches of up to 20, counted as samples
    assert "20/50 samples" in drawn.getvalue()
