"""What every reader shares: options from keywords or the plan, checks of paths and limits."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy.typing as npt

from wince.errors import DataError, PlanError

if TYPE_CHECKING:
    from wince.plan import DataSpec


def option(spec: DataSpec | None, field: str, given: Any) -> Any:
    """A keyword argument if given, else the spec's field of the same name, else None."""
    if given is not None:
        return given
    return getattr(spec, field) if spec is not None else None


def reject(spec: DataSpec | None, kind: str, fields: Sequence[str], why: str) -> None:
    """Raise `PlanError` if the spec sets an option that does not apply to this source."""
    if spec is None:
        return
    for field in fields:
        if getattr(spec, field) is not None:
            raise PlanError(f"data.{field} does not apply to data.{kind}: {why} Remove it.")


def existing(path: str | Path, kind: str, *, folder: bool) -> Path:
    """`path` as a Path, checked to exist and to be a file (or a folder)."""
    target = Path(path)
    if not target.exists():
        raise DataError(f"no such file: {target}; check data.{kind} in the plan.")
    if folder and not target.is_dir():
        raise DataError(f"{target} is a file; data.{kind} names a folder.")
    if not folder and target.is_dir():
        raise DataError(f"{target} is a folder; data.{kind} names a file.")
    return target


def check_limit(limit: int | None) -> int | None:
    """`limit` (keep the first N samples, or None for all), checked to be a whole number >= 1."""
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise PlanError(f"data.limit must be a whole number >= 1; got {limit!r}.")
    return limit


def no_such(where: str, what: str, name: str, available: Sequence[str], field: str) -> DataError:
    """A DataError for a missing key or column, with the close match and what there is."""
    close = difflib.get_close_matches(name, list(available), n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    listed = ", ".join(repr(a) for a in available) or "none"
    return DataError(f"{where}: no {what} {name!r} (data.{field}); {what}s are {listed}.{hint}")


def as_text_ids(values: Sequence[Any] | npt.NDArray[Any]) -> list[str]:
    """Sample ids as text (bytes decoded as UTF-8)."""
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values]
