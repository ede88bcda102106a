"""Deprecated names: kept for one release after a rename, warning that they go away."""

from __future__ import annotations

import warnings

REMOVED_IN = "0.7"
"""The release that removes the deprecated names (`wince.analyze`, `Run.profile`,
`wince.realism.breaking_points`)."""


def deprecated(old: str, new: str) -> None:
    """Warn (`DeprecationWarning`, at the caller's caller) that `old` is now `new`."""
    warnings.warn(
        f"{old} is deprecated and will be removed in wince {REMOVED_IN}: use {new}, which "
        "takes the same arguments and returns the same result.",
        DeprecationWarning,
        stacklevel=3,
    )
