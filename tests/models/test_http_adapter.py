from __future__ import annotations

import base64
import contextlib
import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pytest

from wince.errors import ModelError, ParameterError
from wince.models.http import HttpAdapter

Reply = tuple[int, bytes]


def _json(payload: Any, status: int = 200) -> Reply:
    return status, json.dumps(payload).encode()


def _probabilities(inputs: list[list[float]]) -> list[list[float]]:
    """The served model: P(class 1) is the logistic of the row sum."""
    p = 1 / (1 + np.exp(-np.sum(inputs, axis=1)))
    return np.stack([1 - p, p], axis=1).tolist()


@dataclass
class Endpoint:
    """A real HTTP server on 127.0.0.1 whose answers the test chooses."""

    url: str = ""
    respond: Callable[[dict[str, Any], int], Reply] = lambda body, attempt: _json(
        {"outputs": _probabilities(body["inputs"])}
    )
    delay_s: float = 0.0
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    reply_headers: dict[str, str] = field(default_factory=dict)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Server(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # a client that timed out has closed its end: nothing to report


@pytest.fixture
def endpoint(monkeypatch) -> Iterator[Endpoint]:
    """A server at 127.0.0.1."""
    with _serve(monkeypatch, "127.0.0.1") as state:
        yield state


@pytest.fixture
def other_host(monkeypatch) -> Iterator[Endpoint]:
    """Another server, addressed as localhost: another host than 127.0.0.1 for a client."""
    with _serve(monkeypatch, "localhost") as state:
        yield state


@contextlib.contextmanager
def _serve(monkeypatch, host: str) -> Iterator[Endpoint]:
    for name in (
        "http_proxy",
        "HTTP_PROXY",
        "https_proxy",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
    ):
        monkeypatch.delenv(name, raising=False)
    state = Endpoint()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # what a client following a 301/302/303 sends
            with state.lock:
                state.headers.append(dict(self.headers))
                state.paths.append(self.path)
            self.send_error(405)

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with state.lock:
                state.requests.append(body)
                state.headers.append(dict(self.headers))
                state.paths.append(self.path)
                attempt = len(state.requests)
            status, reply = state.respond(body, attempt)
            if state.delay_s:
                state.release.wait(state.delay_s)
            try:
                self.send_response(status)
                for name, value in state.reply_headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def log_message(self, format, *args):
            pass

    server = _Server(("127.0.0.1", 0), Handler)
    state.url = f"http://{host}:{server.server_address[1]}/predict"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01})
    thread.start()
    try:
        yield state
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()
        thread.join()


def _adapter(url: str, **kwargs: Any) -> HttpAdapter:
    options: dict[str, Any] = {"task": "classification", "timeout_s": 2.0, "backoff_s": 0.001}
    return HttpAdapter(url, **(options | kwargs))


def test_predictions_are_fetched_in_batches_of_max_batch(endpoint, seed):
    x = np.random.default_rng(seed).normal(size=(10, 3))
    predictions = _adapter(endpoint.url, max_batch=4).predict(x)
    assert [len(r["inputs"]) for r in endpoint.requests] == [4, 4, 2]
    expected = np.asarray(_probabilities(x.tolist()))
    np.testing.assert_allclose(predictions.scores, expected, rtol=1e-12)
    np.testing.assert_array_equal(predictions.labels, expected.argmax(axis=1))
    assert endpoint.headers[0]["Content-Type"] == "application/json"


def test_text_is_sent_as_strings_and_class_indices_come_back(endpoint):
    endpoint.respond = lambda body, attempt: _json(
        {"outputs": [len(t) % 2 for t in body["inputs"]]}
    )
    predictions = _adapter(endpoint.url).predict(["a", "bb", "ccc"])
    assert endpoint.requests == [{"inputs": ["a", "bb", "ccc"]}]
    assert predictions.labels.tolist() == [1, 0, 1]


def test_regression_values_come_back(endpoint):
    endpoint.respond = lambda body, attempt: _json({"outputs": [sum(r) for r in body["inputs"]]})
    predictions = _adapter(endpoint.url, task="regression").predict(np.array([[1, 2], [3, 4]]))
    assert predictions.values.tolist() == [3.0, 7.0]


def test_extra_headers_are_sent(endpoint):
    _adapter(endpoint.url, headers={"Authorization": "Bearer t0ken"}).predict(np.zeros((1, 2)))
    assert endpoint.headers[0]["Authorization"] == "Bearer t0ken"


def test_server_errors_are_retried_with_logged_backoff_then_raise(endpoint, caplog):
    endpoint.respond = lambda body, attempt: _json({"error": "kaput"}, status=500)
    model = _adapter(endpoint.url, retries=2)
    with (
        caplog.at_level(logging.WARNING, logger="wince.models.http"),
        pytest.raises(ModelError) as info,
    ):
        model.predict(np.zeros((3, 2)))
    assert len(endpoint.requests) == 3
    assert str(info.value).startswith(
        f"the endpoint at {endpoint.url} answered 500 Internal Server Error after 2 retries; "
        "check the server's log."
    )
    retries = [r for r in caplog.records if r.name == "wince.models.http"]
    assert [r.levelno for r in retries] == [logging.WARNING, logging.WARNING]
    assert "retry 1 of 2" in retries[0].getMessage()
    assert "retry 2 of 2" in retries[1].getMessage()


def test_a_transient_server_error_is_recovered_by_a_retry(endpoint):
    def respond(body, attempt):
        if attempt == 1:
            return _json({"error": "warming up"}, status=503)
        return _json({"outputs": _probabilities(body["inputs"])})

    endpoint.respond = respond
    predictions = _adapter(endpoint.url, retries=1).predict(np.zeros((2, 2)))
    assert len(endpoint.requests) == 2
    np.testing.assert_allclose(predictions.scores, 0.5)


def test_too_many_requests_is_retried(endpoint):
    endpoint.respond = lambda body, attempt: _json({"error": "slow down"}, status=429)
    with pytest.raises(ModelError, match="answered 429 Too Many Requests after 1 retry"):
        _adapter(endpoint.url, retries=1).predict(np.zeros((2, 2)))
    assert len(endpoint.requests) == 2


def test_client_errors_are_not_retried(endpoint):
    endpoint.respond = lambda body, attempt: _json({"error": "inputs must be images"}, status=400)
    with pytest.raises(ModelError, match=r"answered 400 Bad Request \(.*inputs must be images.*\)"):
        _adapter(endpoint.url, retries=3).predict(np.zeros((2, 2)))
    assert len(endpoint.requests) == 1


@pytest.mark.slow
def test_a_slow_endpoint_times_out(endpoint):
    endpoint.delay_s = 5.0
    model = _adapter(endpoint.url, timeout_s=0.2, retries=1)
    started = time.monotonic()
    with pytest.raises(
        ModelError,
        match=r"did not answer within the timeout of 0\.2 s after 1 retry; raise timeout_s",
    ):
        model.predict(np.zeros((2, 2)))
    assert time.monotonic() - started < 2.0
    assert len(endpoint.requests) == 2


def test_nothing_listening_is_reported_as_unreachable():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/predict"
    expected = (
        rf"the endpoint at {url} is unreachable \(.*refused.*\) after 1 retry; "
        "check that the server is running"
    )
    with pytest.raises(ModelError, match=expected):
        _adapter(url, retries=1).predict(np.zeros((2, 2)))


def test_a_malformed_json_reply_raises_model_error(endpoint):
    endpoint.respond = lambda body, attempt: (200, b"<html>oops</html>")
    with pytest.raises(ModelError, match=r"answered with invalid JSON .*'<html>oops</html>'"):
        _adapter(endpoint.url).predict(np.zeros((2, 2)))
    assert len(endpoint.requests) == 1


def test_a_reply_without_outputs_raises_model_error(endpoint):
    endpoint.respond = lambda body, attempt: _json({"predictions": [0, 1]})
    with pytest.raises(ModelError, match="answered JSON without an 'outputs' field"):
        _adapter(endpoint.url).predict(np.zeros((2, 2)))


def test_the_wrong_number_of_outputs_raises_model_error(endpoint):
    def respond(body, attempt):
        n = len(body["inputs"]) - (attempt == 2)  # the second request gets one output short
        return _json({"outputs": [0] * n})

    endpoint.respond = respond
    with pytest.raises(
        ModelError, match=r"returned 3 outputs for 4 inputs;.*\(samples 4-7 of the batch\)"
    ):
        _adapter(endpoint.url, max_batch=4).predict(np.zeros((10, 2)))


def test_ragged_outputs_raise_model_error(endpoint):
    endpoint.respond = lambda body, attempt: _json({"outputs": [[0.5, 0.5], [1.0]]})
    with pytest.raises(ModelError, match="not a rectangular array of numbers"):
        _adapter(endpoint.url).predict(np.zeros((2, 2)))


def test_non_finite_inputs_are_refused_before_sending(endpoint):
    with pytest.raises(ModelError, match="cannot be sent as JSON"):
        _adapter(endpoint.url).predict(np.array([[np.nan, 1.0]]))
    assert endpoint.requests == []


def test_fingerprint_hashes_url_task_classes_and_the_given_identity():
    base = _adapter("http://127.0.0.1:1/predict", classes=("a", "b"), fingerprint="v1")
    assert (
        base.fingerprint()
        == _adapter(
            "http://127.0.0.1:1/predict", classes=("a", "b"), fingerprint="v1", headers={"X": "y"}
        ).fingerprint()
    )
    others = [
        _adapter("http://127.0.0.1:2/predict", classes=("a", "b"), fingerprint="v1"),
        _adapter("http://127.0.0.1:1/predict", classes=("b", "a"), fingerprint="v1"),
        _adapter("http://127.0.0.1:1/predict", classes=("a", "b"), fingerprint="v2"),
        _adapter(
            "http://127.0.0.1:1/predict", classes=("a", "b"), task="regression", fingerprint="v1"
        ),
    ]
    assert len({base.fingerprint(), *(o.fingerprint() for o in others)}) == 5


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"url": "127.0.0.1:8000/predict"}, "http:// or https://"),
        ({"url": "ftp://host/predict"}, "http:// or https://"),
        ({"max_batch": 0}, "max_batch"),
        ({"timeout_s": 0}, "timeout_s"),
        ({"timeout_s": float("inf")}, "timeout_s"),
        ({"retries": -1}, "retries"),
        ({"backoff_s": -1.0}, "backoff_s"),
    ],
)
def test_invalid_settings_raise_parameter_error(kwargs, expected):
    options = {"url": "http://127.0.0.1:8000/predict"} | kwargs
    with pytest.raises(ParameterError, match=expected):
        _adapter(options.pop("url"), **options)


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_to_another_host_is_refused_and_gets_no_credentials(
    endpoint, other_host, status
):
    endpoint.respond = lambda body, attempt: (status, b"")
    endpoint.reply_headers = {"Location": other_host.url}
    model = _adapter(endpoint.url, headers={"Authorization": "Bearer t0ken"}, retries=2)
    with pytest.raises(ModelError) as info:
        model.predict(np.zeros((2, 2)))
    assert endpoint.headers[0]["Authorization"] == "Bearer t0ken"  # the named host has it
    assert other_host.headers == []  # the other host got nothing: no request, no header
    assert len(endpoint.requests) == 1  # a redirect is no transient failure
    message = str(info.value)
    assert f"a redirect to {other_host.url}" in message
    assert "does not follow redirects" in message
    assert "t0ken" not in message


def test_user_information_in_the_url_is_sent_as_basic_authorization(endpoint):
    url = endpoint.url.replace("http://", "http://alice:s%40cret@")
    model = _adapter(url)
    model.predict(np.zeros((1, 2)))
    expected = "Basic " + base64.b64encode(b"alice:s@cret").decode()
    assert endpoint.headers[0]["Authorization"] == expected
    assert model.url == endpoint.url.replace("http://", "http://***@")
    assert "cret" not in model.label


def test_a_query_token_is_sent_but_never_shown(endpoint, caplog):
    endpoint.respond = lambda body, attempt: _json({"error": "down"}, status=503)
    model = _adapter(f"{endpoint.url}?api_key=qk-123&model=m2", retries=1)
    with (
        caplog.at_level(logging.WARNING, logger="wince.models.http"),
        pytest.raises(ModelError) as info,
    ):
        model.predict(np.zeros((1, 2)))
    assert endpoint.paths[0] == "/predict?api_key=qk-123&model=m2"
    shown = f"{endpoint.url}?api_key=***&model=m2"
    assert model.url == shown
    assert shown in str(info.value)
    assert "qk-123" not in str(info.value) + caplog.text


def test_a_credential_the_server_echoes_is_hidden_in_the_message(endpoint):
    endpoint.respond = lambda body, attempt: (401, b"bad token Bearer t0ken for api_key=qk-1")
    model = _adapter(f"{endpoint.url}?api_key=qk-1", headers={"Authorization": "Bearer t0ken"})
    with pytest.raises(ModelError, match="401") as info:
        model.predict(np.zeros((1, 2)))
    assert "t0ken" not in str(info.value)
    assert "qk-1" not in str(info.value)


def test_header_values_are_read_from_the_environment(endpoint, monkeypatch):
    monkeypatch.setenv("WINCE_TEST_TOKEN", "Bearer from-env")
    _adapter(endpoint.url, headers={"Authorization": "env:WINCE_TEST_TOKEN"}).predict(
        np.zeros((1, 2))
    )
    assert endpoint.headers[0]["Authorization"] == "Bearer from-env"
    monkeypatch.delenv("WINCE_TEST_TOKEN")
    with pytest.raises(ParameterError, match="environment variable WINCE_TEST_TOKEN is not set"):
        _adapter(endpoint.url, headers={"Authorization": "env:WINCE_TEST_TOKEN"})


def test_the_fingerprint_names_the_endpoint_not_its_credentials():
    def fingerprint(url: str) -> str:
        return _adapter(url, version="v1").fingerprint()

    rotated = {
        fingerprint("http://u:old@127.0.0.1:1/predict?token=old&m=1"),
        fingerprint("http://u:new@127.0.0.1:1/predict?token=new&m=1"),
    }
    assert len(rotated) == 1
    for other in (
        "http://u:old@127.0.0.1:2/predict?token=old&m=1",
        "http://u:old@127.0.0.1:1/other?token=old&m=1",
        "http://u:old@127.0.0.1:1/predict?token=old&m=2",
    ):
        assert fingerprint(other) not in rotated


def test_a_url_whose_credentials_were_removed_asks_for_a_header():
    with pytest.raises(ParameterError, match=r"removed a credential.*env:MY_TOKEN"):
        _adapter("http://127.0.0.1:1/predict?api_key=***")


def _digit_probabilities(inputs: list[Any]) -> list[list[float]]:
    """A 10-class model: most of the mass on the class of the image's summed pixels mod 10."""
    guesses = np.asarray(inputs).reshape(len(inputs), -1).sum(axis=1).astype(int) % 10
    return [[0.91 if k == g else 0.01 for k in range(10)] for g in guesses]


PASSWORD, QUERY_KEY, HEADER_KEY = "pw-7e1f0c", "qk-93ab2d", "hk-5c0d44"


def secret_plan(tmp_path, endpoint, monkeypatch, *, query: str, model: str, levels: str) -> str:
    """plan.yaml in `tmp_path` (the working folder) with every kind of credential planted.

    The URL holds a password and a query token (`query` adds parameters), a header reads a
    token from the environment; `model` adds model fields. Returns the endpoint's address.
    """
    monkeypatch.setenv("WINCE_TEST_API_KEY", HEADER_KEY)
    monkeypatch.chdir(tmp_path)
    address = endpoint.url.removeprefix("http://")
    (tmp_path / "plan.yaml").write_text(
        "name: secrets\n"
        f'model: {{url: "http://alice:{PASSWORD}@{address}?api_key={QUERY_KEY}{query}", '
        f"headers: {{X-Api-Key: env:WINCE_TEST_API_KEY}}, {model}}}\n"
        'data: {factory: "wince.demo.models:digits_data", limit: 20}\n'
        f"perturbations: [{{name: image.jpeg, levels: {levels}}}]\n"
    )
    return address


@pytest.mark.slow
def test_planted_credentials_reach_the_endpoint_and_nothing_else(endpoint, tmp_path, monkeypatch):
    """Userinfo, a query token and an env header: sent, and in no stored, shown or reported byte."""
    from typer.testing import CliRunner

    from wince.cli import app

    endpoint.respond = lambda body, attempt: _json(
        {"outputs": _digit_probabilities(body["inputs"])}
    )
    password, query_key, header_key = PASSWORD, QUERY_KEY, HEADER_KEY
    basic = base64.b64encode(f"alice:{password}".encode()).decode()
    planted = [password, query_key, header_key, basic]
    address = secret_plan(
        tmp_path, endpoint, monkeypatch, query="&model=m2", model="version: v1", levels="[1, 5]"
    )
    store = tmp_path / "store"
    printed = []

    def wince(*args: Any) -> str:
        result = CliRunner().invoke(app, [*map(str, args), "--store", str(store)])
        printed.append(result.output)
        assert result.exit_code == 0, result.output
        return result.output

    run_id = json.loads(wince("run", "plan.yaml", "--json"))["run_id"]
    # the credentials were delivered with every request
    assert {h["Authorization"] for h in endpoint.headers} == {f"Basic {basic}"}
    assert {h["X-Api-Key"] for h in endpoint.headers} == {header_key}
    assert set(endpoint.paths) == {f"/predict?api_key={query_key}&model=m2"}
    wince("show", run_id)
    wince("analyze", run_id, "--no-regions")
    wince("runs")
    for name, form in (("r.html", "html"), ("r.md", "markdown"), ("r.json", "json")):
        wince("report", run_id, "--format", form, "--out", tmp_path / name)
    wince("export", run_id, "--parquet", tmp_path / "export")

    # the endpoint is still named, without its credentials
    assert f"http://***@{address}?api_key=***&model=m2" in (tmp_path / "r.json").read_text()
    files = [p for p in tmp_path.rglob("*") if p.is_file() and p.name != "plan.yaml"]
    assert {p.suffix for p in files} >= {".db", ".parquet", ".html", ".md", ".json"}
    for path in files:
        content = path.read_bytes()
        for secret in planted:
            assert secret.encode() not in content, f"{secret} in {path}"
    for secret in planted:
        assert secret not in "".join(printed), secret

    # a rotated token is the same model: the run is found again, not recomputed
    monkeypatch.setenv("WINCE_TEST_API_KEY", "hk-rotated")
    plan = (tmp_path / "plan.yaml").read_text().replace(query_key, "qk-rotated")
    (tmp_path / "plan.yaml").write_text(plan)
    assert json.loads(wince("run", "plan.yaml", "--json"))["run_id"] == run_id


@pytest.mark.parametrize(
    ("status", "says"),
    [(302, "does not follow redirects"), (401, "answered 401"), (503, "answered 503")],
)
def test_a_failing_run_names_the_endpoint_but_prints_no_credential(
    endpoint, other_host, tmp_path, monkeypatch, status, says
):
    from typer.testing import CliRunner

    from wince.cli import app

    password, query_key, header_key = PASSWORD, QUERY_KEY, HEADER_KEY
    echo = f"denied {password} {query_key} {header_key}".encode()
    endpoint.respond = lambda body, attempt: (status, echo)
    endpoint.reply_headers = {"Location": f"{other_host.url}?api_key={query_key}"}
    address = secret_plan(
        tmp_path, endpoint, monkeypatch, query="", model="retries: 0", levels="[1]"
    )
    result = CliRunner().invoke(app, ["run", "plan.yaml", "--store", str(tmp_path / "store")])
    assert result.exit_code == 2
    message = " ".join(result.output.split())
    assert f"the endpoint at http://***@{address}?api_key=*** answered {status}" in message
    assert says in message
    stored = b"".join(p.read_bytes() for p in (tmp_path / "store").rglob("*") if p.is_file())
    for secret in (password, query_key, header_key):
        assert secret not in result.output
        assert secret.encode() not in stored
