"""Credentials of an HTTP model: read from the environment, never stored, printed or reported.

A plan names a credential by the environment variable that holds it (`env:MY_TOKEN`), so the
plan file, the catalog and the reports hold only that name. A credential written into the
model's URL — `user:password@` or a query parameter whose name looks secret — is replaced by
`***` (`redact_url`) in everything wince keeps or shows: the stored plan, the lineage, the
model's label, messages and reports.

A query parameter "looks secret" when its name, in lower case, contains one of
`SECRET_WORDS` (`api_key`, `access_token`, `X-Amz-Signature`, `sig`, `password`, …). Erring
on the side of redaction costs nothing but a `***` in a displayed URL.
"""

from __future__ import annotations

import os
import urllib.parse

from wince.errors import ParameterError

#: What replaces a credential in a URL that is stored, printed or reported.
REDACTED = "***"
#: Parts of a name (query parameter or header, in lower case) that mark its value as secret.
SECRET_WORDS = (
    "key",
    "token",
    "secret",
    "passw",
    "pwd",
    "auth",
    "sig",
    "credential",
    "session",
    "cookie",
    "jwt",
)
#: The prefix of a value read from the environment: `env:NAME`.
ENV_PREFIX = "env:"


def looks_secret(name: str) -> bool:
    """Whether a query parameter or header named `name` probably carries a credential.

    Examples:
        >>> looks_secret("api_key"), looks_secret("Authorization"), looks_secret("X-Amz-Signature")
        (True, True, True)
        >>> looks_secret("model"), looks_secret("Content-Type")
        (False, False)
    """
    lowered = name.lower()
    return any(word in lowered for word in SECRET_WORDS)


def redact_url(url: str) -> str:
    """`url` with its user information and secret-looking query values replaced by `***`.

    Scheme, host, port, path and the other query parameters stay: the result still names the
    endpoint.

    Examples:
        >>> redact_url("https://bob:hunter2@api.example.com/v1/predict?api_key=abc&model=m2")
        'https://***@api.example.com/v1/predict?api_key=***&model=m2'
    """
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:  # unreadable (an unclosed IPv6 bracket): hide all but the scheme
        return url.partition("://")[0] + f"://{REDACTED}"
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{REDACTED}@{netloc.rpartition('@')[2]}"
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    if any(looks_secret(name) for name, _ in query):
        kept = [(name, REDACTED if looks_secret(name) else value) for name, value in query]
        new_query = urllib.parse.urlencode(kept, safe="*")
    else:
        new_query = parts.query
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, new_query, parts.fragment))


def is_redacted(url: str) -> bool:
    """Whether `url` holds a `***` that `redact_url` put in place of a credential."""
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    return parts.username == REDACTED or any(
        value == REDACTED and looks_secret(name) for name, value in query
    )


def from_environment(value: str, where: str) -> str:
    """`value`, or the value of the environment variable it names when it is `env:NAME`.

    Raises:
        ParameterError: the variable is not set (the message names it and `where`).
    """
    if not value.startswith(ENV_PREFIX):
        return value
    name = value.removeprefix(ENV_PREFIX)
    found = os.environ.get(name)
    if found is None:
        raise ParameterError(
            f"{where}: the environment variable {name} is not set; set it before running "
            f"wince (export {name}=...), or name another variable."
        )
    return found
