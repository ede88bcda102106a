"""The installed wince version, readable without importing the rest of wince."""

from __future__ import annotations

import functools
from importlib import metadata


@functools.cache
def wince_version() -> str:
    """Installed wince version ("0+unknown" when running from a source tree not installed)."""
    try:
        return metadata.version("wince")
    except metadata.PackageNotFoundError:
        return "0+unknown"
