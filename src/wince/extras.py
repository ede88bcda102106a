"""Optional extras: the packages only some features need, and the error naming what to install.

`pip install wince` installs the core: plans, runs, stores, analyses and the terminal. The HTML
report's figures need Altair and vl-convert (`wince[report]`, 84 MB), and the demo's text model
needs vaderSentiment (`wince[demo]`); `make demo` installs both. A feature whose extra is
missing raises `MissingExtraError` naming the extra, never a bare `ModuleNotFoundError`.
"""

from __future__ import annotations

from wince.errors import WinceError

# The packages of each extra a feature imports, by import name: the distribution and the extra.
EXTRA_OF: dict[str, tuple[str, str]] = {
    "altair": ("altair", "report"),
    "vl_convert": ("vl-convert-python", "report"),
    "vaderSentiment": ("vaderSentiment", "demo"),
}


class MissingExtraError(WinceError, ImportError):
    """A feature needs a package of an optional extra that is not installed."""


def missing_extra(module: str, purpose: str) -> MissingExtraError:
    """The error for `purpose` needing the import `module` of an optional extra.

    Args:
        module: the import name, a key of `EXTRA_OF` (e.g. "altair").
        purpose: what needs it, as the subject of "needs" (e.g. "the HTML report").
    """
    distribution, extra = EXTRA_OF[module]
    return MissingExtraError(
        f"{distribution} is not installed, and {purpose} needs it: "
        f"pip install 'wince[{extra}]' (make demo installs it)."
    )
