"""A black-box model behind an HTTP JSON endpoint, using only the standard library.

Protocol: wince POSTs `{"inputs": [...]}` (one entry per sample: nested lists of numbers, or
strings for text) and expects `{"outputs": [...]}` with one entry per input: class
probabilities or logits (n, k), class indices (n,) or regression values (n,).

Trust boundary: the endpoint receives the inputs and the headers; nothing else does. Redirects
are refused (a redirect would send both to an address the plan does not name), and credentials
— header values, `user:password@`, secret-looking query parameters — never reach the store, a
message or a report (`wince.secrets`).
"""

from __future__ import annotations

import http.client
import json
import logging
import math
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from base64 import b64encode
from collections.abc import Mapping, Sequence
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
from wince.secrets import REDACTED, from_environment, is_redacted, looks_secret, redact_url

logger = logging.getLogger("wince.models.http")

#: Status codes worth retrying besides 5xx: the server asks the client to slow down.
RETRY_STATUS = frozenset({408, 429})
#: Samples of the probe batch whose answers identify an endpoint's model.
PROBE_SAMPLES = 32


class _RetryableError(Exception):
    """One failed attempt that may succeed if repeated."""

    def __init__(self, problem: str, advice: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.advice = advice


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """Let every 3xx answer surface as an `HTTPError` instead of following it."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_RefuseRedirects)


class HttpAdapter:
    """A model served over HTTP: POST `{"inputs": batch}`, read `{"outputs": [...]}`.

    Each request carries at most `max_batch` samples and waits at most `timeout_s`. Connection
    errors, timeouts, 5xx, 408 and 429 answers are retried up to `retries` times, waiting
    `backoff_s`, then twice as long each time; each retry is logged on the "wince.models.http"
    logger. Other 4xx answers are not retried. Every failure ends as a `ModelError` naming the
    URL, the problem and what to check.

    Args:
        url: the endpoint, http:// or https://.
        task: classification or regression.
        classes: class names in index order (optional).
        max_batch: largest number of samples per request.
        timeout_s: seconds to wait for the connection and for each read; realistic 1–120.
        retries: extra attempts after a failed one (0 = try once).
        backoff_s: seconds before the first retry; doubled for each further retry.
        headers: extra request headers, e.g. {"Authorization": "env:MY_TOKEN"}; a value
            `env:NAME` is read from the environment variable NAME here. Header values are not
            part of the fingerprint and never logged, stored or shown.
        version: the served model's declared version, hashed into `fingerprint()`. Without
            it the identity is the endpoint's answers on a probe batch (`probe`).
        fingerprint: same as `version` (kept for older code).
        output: what a classifier's output means ("probabilities", "logits", "score" with
            `threshold`, "labels"); default: detected on the first batch, then kept.
        threshold: the score at and above which output "score" means class 1.

    Credentials: `user:password@` in the URL is sent as HTTP Basic authorization. The URL is
    kept as `url` with its credentials replaced by `***` (`wince.secrets.redact_url`): that
    form names the endpoint in messages, logs, the label and the fingerprint, so a rotated
    token does not change the model's identity. Redirects (3xx) are refused with a
    `ModelError` naming the new address: they would send the inputs and the credentials to
    an address nobody chose.

    Identity: a URL names a deployment, not a model: the same URL may serve another model
    tomorrow. The engine calls `probe` at the start of every run on a small fixed batch (the
    first `PROBE_SAMPLES` samples, unperturbed): an endpoint that does not answer fails the run
    with a `ModelError` naming the URL, and, without a declared `version`, the answers are
    hashed into the fingerprint, so a redeployed model is a new model. Before a probe and
    without a version, the fingerprint is unique to this adapter (nothing is reused).

    Raises:
        ParameterError: a malformed URL, a URL whose credentials were redacted, an unset
            `env:` variable, or a non-positive batch size, timeout or backoff.
    """

    trainable = False  # a served model: reports give no training advice

    def __init__(
        self,
        url: str,
        *,
        task: Task | str,
        classes: Sequence[Any] | None = None,
        max_batch: int = 64,
        timeout_s: float = 30.0,
        retries: int = 3,
        backoff_s: float = 0.2,
        headers: Mapping[str, str] | None = None,
        version: str | None = None,
        fingerprint: str | None = None,
        output: Output | str | None = None,
        threshold: float | None = None,
    ) -> None:
        try:
            parts = urllib.parse.urlsplit(url)
            parts.port  # noqa: B018 (a port that is not a number raises)
        except ValueError:  # an unclosed IPv6 bracket, a port that is not a number
            parts = urllib.parse.urlsplit("")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ParameterError(
                f"HttpAdapter: url must be an http:// or https:// address; got "
                f"{redact_url(url)!r}. Try 'http://127.0.0.1:8000/predict'."
            )
        if is_redacted(url):
            raise ParameterError(
                f"HttpAdapter: the url {redact_url(url)!r} holds {REDACTED} where wince removed a "
                "credential before storing it; wince never stores credentials. Give the "
                "credential as a header read from the environment (plan: model.headers: "
                "{Authorization: env:MY_TOKEN}) so the plan can be run again."
            )
        if isinstance(max_batch, bool) or not isinstance(max_batch, int) or max_batch < 1:
            raise ParameterError(
                f"HttpAdapter: max_batch must be a positive number of samples; got {max_batch!r}."
            )
        if not (isinstance(retries, int) and retries >= 0):
            raise ParameterError(
                f"HttpAdapter: retries must be a whole number >= 0; got {retries!r}."
            )
        for name, value in (("timeout_s", timeout_s), ("backoff_s", backoff_s)):
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                raise ParameterError(
                    f"HttpAdapter: {name} must be a finite number of seconds >= 0; got {value!r}."
                )
        if timeout_s == 0:
            raise ParameterError("HttpAdapter: timeout_s must be > 0 seconds; got 0. Try 30.")
        self.headers = {
            name: from_environment(value, f"HttpAdapter: headers[{name!r}]")
            for name, value in (headers or {}).items()
        }
        if parts.username is not None:
            if any(name.lower() == "authorization" for name in self.headers):
                raise ParameterError(
                    f"HttpAdapter: the url {redact_url(url)!r} holds user:password@ and the "
                    "headers hold Authorization too; give the credential once."
                )
            user, password = (
                urllib.parse.unquote(p or "") for p in (parts.username, parts.password)
            )
            basic = b64encode(f"{user}:{password}".encode()).decode()
            self.headers["Authorization"] = f"Basic {basic}"
            host = parts.netloc.rpartition("@")[2]
            parts = parts._replace(netloc=host)
        self._address = urllib.parse.urlunsplit(parts)
        self._secrets = [v for v in self.headers.values() if v] + _query_secrets(url)
        self.url = redact_url(url)
        self.task = Task(task)
        self.classes = tuple(classes) if classes is not None else None
        self.max_batch = max_batch
        self.timeout_s = float(timeout_s)
        self.retries = retries
        self.backoff_s = float(backoff_s)
        self.version = version if version is not None else fingerprint
        self.label = f"HTTP endpoint {self.url}"
        self.reader = OutputReader(output, threshold=threshold, adapter=self.label)
        self._probe_digest: str | None = None
        self._nonce = uuid.uuid4().hex

    def _excerpt(self, body: bytes, limit: int = 200) -> str:
        """The start of a server's answer, for a message, with any credential it echoes hidden."""
        text = body.decode("utf-8", errors="replace").strip()
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return text if len(text) <= limit else text[:limit] + "…"

    def _request(self, payload: bytes) -> bytes:
        """POST once; return the body of a 2xx answer.

        Raises:
            _RetryableError: a failure worth another attempt.
            ModelError: a failure that repeating will not fix.
        """
        request = urllib.request.Request(
            self._address,
            data=payload,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "Accept": "application/json",
                **self.headers,
            },
        )
        try:
            with _OPENER.open(request, timeout=self.timeout_s) as response:
                body: bytes = response.read()
                return body
        except urllib.error.HTTPError as error:
            try:
                body = error.read()
            except OSError:
                body = b""
            finally:
                error.close()
            status = f"{error.code} {error.reason}"
            if 300 <= error.code < 400:
                target = urllib.parse.urljoin(self._address, error.headers.get("Location", ""))
                raise ModelError(
                    f"the endpoint at {self.url} answered {status}, a redirect to "
                    f"{redact_url(target)}; wince does not follow redirects, so the inputs and "
                    "credentials go only to the address the plan names. Set the model's url to "
                    "the new address if you trust it."
                ) from None
            if error.code >= 500 or error.code in RETRY_STATUS:
                raise _RetryableError(f"answered {status}", "check the server's log") from None
            raise ModelError(
                f"the endpoint at {self.url} answered {status} "
                f"({self._excerpt(body) or 'no body'}); check the URL and that it accepts "
                'POST {"inputs": [...]} as JSON.'
            ) from None
        except urllib.error.URLError as error:
            if isinstance(error.reason, TimeoutError):
                raise self._timeout() from None
            raise _RetryableError(
                f"is unreachable ({error.reason})",
                "check that the server is running and the URL is right",
            ) from None
        except TimeoutError:
            raise self._timeout() from None
        except (OSError, http.client.HTTPException) as error:
            raise _RetryableError(
                f"dropped the connection ({type(error).__name__}: {error})",
                "check the server's log",
            ) from None

    def _timeout(self) -> _RetryableError:
        return _RetryableError(
            f"did not answer within the timeout of {self.timeout_s:g} s",
            "raise timeout_s or lower max_batch, or check the server",
        )

    def _post(self, payload: bytes) -> bytes:
        for attempt in range(self.retries + 1):
            try:
                return self._request(payload)
            except _RetryableError as failure:
                if attempt == self.retries:
                    tries = (
                        f"after {self.retries} retr{'y' if self.retries == 1 else 'ies'}"
                        if self.retries
                        else "(no retries)"
                    )
                    raise ModelError(
                        f"the endpoint at {self.url} {failure.problem} {tries}; {failure.advice}."
                    ) from None
                wait_s = self.backoff_s * 2**attempt
                logger.warning(
                    "the endpoint at %s %s; retry %d of %d in %.2f s",
                    self.url,
                    failure.problem,
                    attempt + 1,
                    self.retries,
                    wait_s,
                )
                time.sleep(wait_s)
        raise AssertionError("unreachable")  # pragma: no cover

    def _predict_chunk(self, x: Any) -> Predictions:
        inputs = x.tolist() if isinstance(x, np.ndarray) else list(x)
        try:
            payload = json.dumps({"inputs": inputs}, allow_nan=False).encode()
        except (TypeError, ValueError) as error:
            raise ModelError(
                f"{self.label}: the batch cannot be sent as JSON ({error}); inputs must be "
                "finite numbers or strings (no NaN or infinity)."
            ) from None
        body = self._post(payload)
        try:
            reply = json.loads(body)
        except ValueError as error:
            raise ModelError(
                f"the endpoint at {self.url} answered with invalid JSON ({error}): "
                f'{self._excerpt(body)!r}; it must answer {{"outputs": [...]}}.'
            ) from None
        if not isinstance(reply, dict) or "outputs" not in reply:
            raise ModelError(
                f"the endpoint at {self.url} answered JSON without an 'outputs' field: "
                f'{self._excerpt(body)!r}; it must answer {{"outputs": [...]}}, one entry per '
                "input."
            )
        outputs = reply["outputs"]
        if not isinstance(outputs, list) or len(outputs) != len(inputs):
            received = f"{len(outputs)} outputs" if isinstance(outputs, list) else "no list"
            raise ModelError(
                f"the endpoint at {self.url} returned {received} for {len(inputs)} inputs; "
                "it must answer one output per input, in order."
            )
        try:
            array = np.asarray(outputs)
        except ValueError:
            array = np.asarray(outputs, dtype=object)
        if array.dtype.kind not in "biuf":
            raise ModelError(
                f"the endpoint at {self.url} returned outputs that are not a rectangular array "
                f"of numbers (got {self._excerpt(json.dumps(outputs[:2]).encode())} …); expected "
                "probabilities (n, classes), class indices (n,) or values (n,)."
            )
        return self.reader.read(array, self.task)

    def predict(self, x: Any) -> Predictions:
        """Predict a batch (numpy array or list of str), `max_batch` samples per request."""
        return predict_in_chunks(self._predict_chunk, x, self.max_batch, self.label)

    def probe(self, x: Any) -> None:
        """Ask the endpoint to predict a small fixed batch; its answers identify the model.

        Raises:
            ModelError: the endpoint is unreachable or answers badly (naming the URL).
        """
        predictions = self.predict(x)
        parts = [
            np.ascontiguousarray(getattr(predictions, name)).tobytes()
            for name in ("labels", "scores", "values")
            if getattr(predictions, name) is not None
        ]
        self._probe_digest = hash_bytes(*parts)

    @property
    def identity_stable(self) -> bool:
        """Whether the fingerprint names the served model (a version, or a probe's answers)."""
        return self.version is not None or self._probe_digest is not None

    def fingerprint(self) -> str:
        """Hash of the URL, task, classes, output meaning and the version or probe answers."""
        if self.version is not None:
            identity = f"version:{self.version}"
        elif self._probe_digest is not None:
            identity = f"probe:{self._probe_digest}"
        else:
            identity = f"unprobed:{self._nonce}"
        return hash_bytes(
            self.url.encode(),
            self.task.value.encode(),
            repr(self.classes).encode(),
            identity.encode(),
            self.reader.identity(),
        )

    def close(self) -> None:
        """Nothing to release (each request opens and closes its own connection)."""


def _query_secrets(url: str) -> list[str]:
    """The values of `url`'s secret-looking query parameters and of its user information."""
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    userinfo = [urllib.parse.unquote(part or "") for part in (parts.username, parts.password)]
    return [v for v in [value for name, value in query if looks_secret(name)] + userinfo if v]
