"""The exception tree of wince.

Every error a user can cause is a `WinceError`; the CLI turns it into a one-paragraph message
and a stable exit code, never a traceback::

    WinceError
    ├── PlanError(ValueError)       plan file or plan object is invalid
    ├── PolicyError(ValueError)     gate policy is invalid or does not fit the run
    ├── LockDriftError              a locked plan's perturbation versions or data changed
    ├── ParameterError(ValueError)  a value violates a declared constraint
    ├── DataError(ValueError)       batch has the wrong shape, dtype or range
    ├── ModelError                  the model or its backend failed
    ├── StaleRunError               a stored run was made under other package versions
    └── StoreError                  results store unreachable or inconsistent

Warnings: `RealismWarning` (a magnitude outside its realistic range), `ResolutionWarning` (a
perturbation runs on inputs far from the size its published parameters are for), `OutputWarning`
(a model's output meaning was guessed), `IdentityWarning` (a model's state cannot be hashed, so
its runs and predictions are never reused), `PrecisionWarning` (an estimate less precise than
its target, e.g. a global-sensitivity design stopped by its time budget).

Messages say where (file, field path, object), what was expected, what was received, and how
to fix it.
"""

from __future__ import annotations

import difflib
import warnings
from collections.abc import Iterable


class WinceError(Exception):
    """Base class of every error wince raises on purpose."""


class PlanError(WinceError, ValueError):
    """The plan file or plan object is invalid."""

    def __init__(self, message: str, *, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems if problems is not None else [message]


class PolicyError(WinceError, ValueError):
    """The gate policy is invalid, or does not fit the run it is applied to.

    Attributes:
        problems: one line per problem, each naming the file and field path.
    """

    def __init__(self, message: str, *, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems if problems is not None else [message]


class LockDriftError(WinceError):
    """A locked plan no longer matches the installed perturbations or its data.

    Attributes:
        drifts: one line per drift, naming the perturbation (or the data) and both values.
    """

    def __init__(self, message: str, *, drifts: list[str]) -> None:
        super().__init__(message)
        self.drifts = drifts


class ParameterError(WinceError, ValueError):
    """A value violates a declared constraint (limits, type, unit)."""


class DataError(WinceError, ValueError):
    """A batch or dataset has the wrong shape, dtype, range or content."""


class ModelError(WinceError):
    """The model or its backend failed."""


class StoreError(WinceError):
    """The results store is unreachable or inconsistent."""


class MissingAnalysisError(WinceError, LookupError):
    """An analysis was asked for that was not computed, or that has nothing to show."""


class StaleRunError(WinceError):
    """A stored run of the same plan, data and model was made under other package versions.

    Attributes:
        run_id: the stored run.
        changes: one line per package whose version differs ("scipy 1.16.0 → 1.17.1").
    """

    def __init__(self, message: str, *, run_id: str, changes: list[str]) -> None:
        super().__init__(message)
        self.run_id = run_id
        self.changes = changes


class OutputWarning(UserWarning):
    """A model's output meaning (probabilities, logits, score) was guessed from its outputs."""


class IdentityWarning(UserWarning):
    """A model's state cannot be hashed deterministically: its runs are never reused."""


class RealismWarning(UserWarning):
    """A magnitude lies inside the hard limits but outside the declared realistic range."""


class PrecisionWarning(UserWarning):
    """An estimate is less precise than its target (its interval is wider than asked)."""


class ResolutionWarning(UserWarning):
    """Inputs are far from the size a perturbation's published parameters are for.

    E.g. ImageNet-C's pixel sizes are for 224-px images: on 28-px images some levels change
    nothing and others coincide.
    """


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """A hint naming the closest of `known` to a mistyped `name`, else listing them all.

    Returns " — did you mean 'x'? Valid: x, y." or ". Valid: x, y." (`known` must not be
    empty), to append to a message that names the unknown `name`.
    """
    known = list(known)
    close = difflib.get_close_matches(name, known, n=1)
    guess = f" — did you mean {close[0]!r}?" if close else "."
    return f"{guess} Valid: {', '.join(known)}."


def typo_of(name: str, known: Iterable[str]) -> str | None:
    """The one of `known` that `name` is most likely a typo of.

    A character or two off, or the start of exactly one of them (`flip` for `flip_rate`).
    Stricter than `did_you_mean`: for names that may also be legitimate (a metric of the
    plan's own), so that `confidence_drop` is not taken for `confidence_change`.
    """
    known = list(known)
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.85)
    if close:
        return close[0]
    started = [k for k in known if k.startswith(name)]
    return started[0] if len(started) == 1 else None


_already_warned: set[str] = set()


def warn_once(message: str, category: type[Warning], *, stacklevel: int = 3) -> None:
    """Warn once per distinct message in a process (later repeats stay silent)."""
    if message not in _already_warned:
        _already_warned.add(message)
        warnings.warn(message, category, stacklevel=stacklevel)
