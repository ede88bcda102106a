"""Never a stale answer: a stored run or a cached prediction is reused only for the same model
(code and state; an endpoint's version or probe), data, plan and package versions.

Each test reproduces a case where an incomplete identity once returned another model's (or
another environment's) results, and checks the right answer against an independent count.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import wince
from wince.engine import environment
from wince.errors import IdentityWarning, ModelError, StaleRunError
from wince.models import CallableAdapter

PLAN: dict[str, Any] = {
    "name": "identity",
    "perturbations": [{"name": "tabular.gaussian_noise", "severities": [0.5]}],
    "repeats": 1,
    "seed": 3,
    "batch_size": 50,
}


def data(n: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    return x, (x[:, 0] > 0).astype(np.int64)


def baseline_accuracy(run: wince.Run) -> float:
    outcomes = run.outcomes()
    baseline = outcomes[outcomes["scenario"] == "baseline"]
    return float((baseline["pred"] == baseline["label"]).mean())


def wrap(score_fn: Any) -> Any:
    return lambda x: (score_fn(x) > 0).astype(np.int64)


def test_two_scorers_behind_one_wrapper_are_two_models(tmp_path: Path) -> None:
    x, y = data()
    good = wrap(lambda b: b[:, 0])
    poor = wrap(lambda b: b[:, 0] + 2 * b[:, 1])
    first = wince.run(good, (x, y), PLAN, store=str(tmp_path))
    second = wince.run(poor, (x, y), PLAN, store=str(tmp_path))
    assert first.id != second.id
    assert not second.reused
    assert baseline_accuracy(first) == pytest.approx(1.0)
    truth = float(((x[:, 0] + 2 * x[:, 1] > 0) == y).mean())
    assert truth < 0.9
    assert baseline_accuracy(second) == pytest.approx(truth)


def test_the_same_model_again_reuses_the_stored_run(tmp_path: Path) -> None:
    x, y = data()
    first = wince.run(wrap(lambda b: b[:, 0]), (x, y), PLAN, store=str(tmp_path))
    again = wince.run(wrap(lambda b: b[:, 0]), (x, y), PLAN, store=str(tmp_path))
    assert (again.id, again.reused) == (first.id, True)
    fresh = wince.run(wrap(lambda b: b[:, 0]), (x, y), PLAN, store=str(tmp_path), fresh=True)
    assert fresh.id != first.id
    assert not fresh.reused
    assert baseline_accuracy(fresh) == baseline_accuracy(first)


def test_a_bound_method_is_identified_by_its_object_state(tmp_path: Path) -> None:
    class Scorer:
        def __init__(self, threshold: float) -> None:
            self.threshold = threshold

        def predict(self, b: np.ndarray) -> np.ndarray:
            return (b[:, 0] > self.threshold).astype(np.int64)

    x, y = data()
    model = Scorer(0.0)
    first = wince.run(model.predict, (x, y), PLAN, store=str(tmp_path))
    model.threshold = 1.0  # the same object, changed in place
    second = wince.run(model.predict, (x, y), PLAN, store=str(tmp_path))
    assert first.id != second.id
    assert baseline_accuracy(second) == pytest.approx(float(((x[:, 0] > 1.0) == y).mean()))


SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import wince

    class Model:
        def __init__(self, threshold):
            self.threshold = threshold

        def __call__(self, x):
            return (x[:, 0] > self.threshold).astype(np.int64)

    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    y = (x[:, 0] > 0).astype(np.int64)
    plan = {"name": "process", "batch_size": 50, "repeats": 1, "seed": 3,
            "perturbations": [{"name": "tabular.gaussian_noise", "severities": [0.5]}]}
    run = wince.run(Model(float(sys.argv[2])), (x, y), plan, store=sys.argv[1])
    out = run.outcomes()
    base = out[out["scenario"] == "baseline"]
    print(json.dumps({"id": run.id, "reused": run.reused,
                      "accuracy": float((base["pred"] == base["label"]).mean()),
                      "truth": float(((x[:, 0] > float(sys.argv[2])) == y).mean())}))
    """
)


def test_a_model_changed_between_processes_is_not_reused(tmp_path: Path) -> None:
    script = tmp_path / "model_run.py"
    script.write_text(SCRIPT)

    def run(threshold: float, hash_seed: str) -> dict[str, Any]:
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        done = subprocess.run(
            [sys.executable, str(script), str(tmp_path / "store"), str(threshold)],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        return result

    first = run(0.0, "1")
    changed = run(0.8, "2")
    assert changed["id"] != first["id"]
    assert not changed["reused"]
    assert changed["accuracy"] == pytest.approx(changed["truth"])
    assert changed["truth"] < first["truth"]
    # the same state in a third process (another hash seed): the same model, reused
    again = run(0.0, "3")
    assert (again["id"], again["reused"]) == (first["id"], True)


def test_state_that_cannot_be_hashed_is_never_reused_and_warns(tmp_path: Path) -> None:
    stream = (i for i in range(10))  # a generator: no state to read, no pickle

    def score(b: np.ndarray) -> np.ndarray:
        assert stream is not None
        return (b[:, 0] > 0).astype(np.int64)

    x, y = data()
    with pytest.warns(IdentityWarning, match="generator.*fingerprint="):
        first = wince.run(score, (x, y), PLAN, store=str(tmp_path))
    with pytest.warns(IdentityWarning):
        second = wince.run(score, (x, y), PLAN, store=str(tmp_path))
    assert first.id != second.id
    assert not second.reused
    named = CallableAdapter(score, version="v1")
    third = wince.run(named, (x, y), PLAN, store=str(tmp_path))
    assert wince.run(named, (x, y), PLAN, store=str(tmp_path)).id == third.id


# -- HTTP endpoints ------------------------------------------------------------------------


class Served:
    """A real HTTP server on 127.0.0.1 whose model the test swaps."""

    def __init__(self) -> None:
        self.weights = np.array([1.0, 0.0, 0.0])
        self.requests = 0
        served = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                served.requests += 1
                labels = (np.asarray(body["inputs"]) @ served.weights > 0).astype(int)
                reply = json.dumps({"outputs": labels.tolist()}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/predict"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.01}
        )
        self.thread.start()

    def stop(self) -> None:
        if self.thread.is_alive():
            self.server.shutdown()
            self.server.server_close()
            self.thread.join()


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    server = Served()
    try:
        yield server
    finally:
        server.stop()


def http_plan(url: str, **model: Any) -> dict[str, Any]:
    return {**PLAN, "model": {"url": url, "timeout_s": 2, "retries": 0, **model}}


def test_an_endpoint_redeployed_at_one_url_is_a_new_model(tmp_path: Path, served: Served) -> None:
    x, y = data()
    first = wince.run(data=(x, y), plan=http_plan(served.url), store=str(tmp_path))
    assert baseline_accuracy(first) == pytest.approx(1.0)
    served.weights = np.array([-1.0, 1.0, 0.0])  # another model behind the same URL
    second = wince.run(data=(x, y), plan=http_plan(served.url), store=str(tmp_path))
    assert second.id != first.id
    assert not second.reused
    truth = float(((x @ served.weights > 0) == y).mean())
    assert baseline_accuracy(second) == pytest.approx(truth)
    assert truth < 0.6


def test_a_declared_version_is_the_endpoints_identity(tmp_path: Path, served: Served) -> None:
    x, y = data()
    plan = http_plan(served.url, version="2026-01")
    first = wince.run(data=(x, y), plan=plan, store=str(tmp_path))
    again = wince.run(data=(x, y), plan=plan, store=str(tmp_path))
    assert (again.id, again.reused) == (first.id, True)
    bumped = wince.run(
        data=(x, y), plan=http_plan(served.url, version="2026-02"), store=str(tmp_path)
    )
    assert bumped.id != first.id


def test_an_endpoint_that_is_down_fails_the_run(tmp_path: Path, served: Served) -> None:
    x, y = data()
    wince.run(data=(x, y), plan=http_plan(served.url), store=str(tmp_path))
    served.stop()
    with pytest.raises(ModelError, match=f"endpoint at {served.url}.*unreachable"):
        wince.run(data=(x, y), plan=http_plan(served.url), store=str(tmp_path))


def test_a_stored_run_of_a_declared_version_needs_no_endpoint(
    tmp_path: Path, served: Served
) -> None:
    x, y = data()
    plan = http_plan(served.url, version="2026-01")
    first = wince.run(data=(x, y), plan=plan, store=str(tmp_path))
    served.stop()
    again = wince.run(data=(x, y), plan=plan, store=str(tmp_path))
    assert (again.id, again.reused) == (first.id, True)
    with pytest.raises(ModelError, match="unreachable"):  # a new run still needs the endpoint
        wince.run(data=(x, y), plan=plan, store=str(tmp_path), fresh=True)


def test_fresh_calls_the_model_even_when_its_identity_cannot_see_the_change(
    tmp_path: Path, served: Served
) -> None:
    # Redeployed under the same declared version: identity and cache keys are unchanged, so
    # only --fresh can tell; it must not serve the old model's cached predictions.
    x, y = data()
    plan = http_plan(served.url, version="2026-01")
    first = wince.run(data=(x, y), plan=plan, store=str(tmp_path))
    assert baseline_accuracy(first) == pytest.approx(1.0)
    served.weights = np.array([-1.0, 1.0, 0.0])
    fresh = wince.run(data=(x, y), plan=plan, store=str(tmp_path), fresh=True)
    truth = float(((x @ served.weights > 0) == y).mean())
    assert baseline_accuracy(fresh) == pytest.approx(truth)
    assert truth < 0.6


# -- environment ---------------------------------------------------------------------------


def test_a_run_made_under_other_package_versions_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    x, y = data()
    calls: list[int] = []

    def score(b: np.ndarray) -> np.ndarray:
        calls.append(len(b))
        return (b[:, 0] > 0).astype(np.int64)

    model = CallableAdapter(score, fingerprint="scorer-1")
    options = {"store": str(tmp_path / "store"), "cache": tmp_path / "cache"}
    first = wince.run(model, (x, y), PLAN, **options)
    installed = environment.installed_version
    numpy = installed("numpy")
    monkeypatch.setattr(
        environment,
        "installed_version",
        lambda name: "99.0.0" if name == "numpy" else installed(name),
    )
    with pytest.raises(StaleRunError) as caught:
        wince.run(model, (x, y), PLAN, **options)
    message = str(caught.value)
    assert f"numpy {numpy} → 99.0.0" in message
    assert "--fresh" in message
    assert first.id in message
    calls.clear()
    fresh = wince.run(model, (x, y), PLAN, fresh=True, **options)
    assert fresh.id != first.id
    assert sum(calls) >= 2 * len(x)  # the disk cache did not serve the other versions' answers
    assert fresh.lineage["environment"]["numpy"] == "99.0.0"
    again = wince.run(model, (x, y), PLAN, **options)
    assert (again.id, again.reused) == (fresh.id, True)


def test_the_environment_counts_only_the_models_own_runtime() -> None:
    from sklearn.linear_model import LogisticRegression

    from wince.models import SklearnAdapter

    x, y = data()
    sklearn_model = SklearnAdapter(LogisticRegression().fit(x, y))
    packages = environment.environment("tabular", sklearn_model)
    assert "scikit-learn" in packages
    assert "torch" not in packages
    assert "onnxruntime" not in packages
    image = environment.environment("image", CallableAdapter(lambda b: b[:, 0] > 0))
    assert {"numpy", "opencv-python-headless", "pillow"} <= set(image)
    assert "scikit-learn" not in image
    estimator = LogisticRegression().fit(x, y)
    wrapped = CallableAdapter(lambda b: estimator.predict(b))
    assert "scikit-learn" in environment.environment("tabular", wrapped)


def test_new_evaluations_for_a_run_made_under_other_versions_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from wince.engine.probe import probe_for_run

    x, y = data()
    model = CallableAdapter(wrap(lambda b: b[:, 0]), fingerprint="scorer")
    run = wince.run(model, (x, y), PLAN, store=str(tmp_path))
    assert probe_for_run(run.store, run.id, model=model, data=(x, y)) is not None
    installed = environment.installed_version
    monkeypatch.setattr(
        environment, "installed_version", lambda name: "0.1" if name == "numpy" else installed(name)
    )
    with pytest.raises(StaleRunError, match=r"numpy .* → 0\.1"):
        probe_for_run(run.store, run.id, model=model, data=(x, y))
