"""Scenarios the model rejects: inputs it raises on are a finding, not a crash.

A model may refuse what a perturbation makes of its inputs: scikit-learn's gradient boosting
raises on NaN (`tabular.missing_values`), a network on a shape it was not built for. That is
something to learn about the model, so the run goes on and records, per unit, which
scenarios the model refused and the first line of what it said. What counts:

- Only the model call of a *perturbed* trial (isolation or combination). A model that fails
  on the clean inputs (baseline, identity) still fails the run; so does one that, after
  refusing a perturbed batch, fails on that unit's clean batch too (an endpoint that went
  down is not a finding about the inputs).
- Only `ModelError`, which adapters raise for every failure of the model or its backend
  (`wince.models.base.predict_in_chunks` maps the user's own exceptions to it). A bug in
  wince (a perturbation, a distance) is not caught and still stops the run.

A scenario is *rejected* when the model refused any of its trials on any unit. Its outcomes
are then left out of every read (`Store.outcomes`, `Store.scenarios`, `Store.aggregate`,
hence every analysis, report and gate), also the rows of the units that did accept it: a
scenario measured on some samples only would speak for a part of the data chosen by the
model's failures, and would mislead. Per-sample retries could tell which samples the model
refused, at one model call per sample; wince keeps it simple instead and rejects whole
batches. So whether a scenario is rejected does not depend on batch size or executor (a model
that refuses a batch because of some of its samples refuses every batch holding them), but
the number of samples and units recorded as refused does, and the error line kept is that of
the first unit (lowest sample index) that refused it.

The refusals of a unit travel with its outcomes (the Arrow table's schema metadata, so they
come back from worker processes and Ray actors alike) and are registered in the catalog with
the unit, in one transaction: a resumed run keeps them, and the prediction cache never holds
a refused prediction (it stores only what the model returned).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from wince.errors import ModelError
from wince.models.base import ModelAdapter, SampleContext

# Schema metadata key of a unit's outcome table that lists the scenarios its model refused.
METADATA_KEY = b"wince.rejected"
# Longest error line kept: a first line is usually short; some libraries write a paragraph.
MAX_ERROR_CHARS = 300


@dataclass(frozen=True)
class Refusal:
    """One unit's refusal of one scenario.

    Attributes:
        position: the scenario's position in the run.
        scenario: the scenario's key.
        trials: how many of the scenario's trials the model refused on this unit.
        error: the first line of the model's error on the first refused trial.
    """

    position: int
    scenario: str
    trials: int
    error: str


def first_line(error: BaseException) -> str:
    r"""The first line of what the model said, without wince's where-it-failed prefixes.

    Adapters wrap the model's own exception in `ModelError`s naming the adapter, scenario and
    sample range (which depend on batching); the innermost cause is what the model said.

    Examples:
        >>> try:
        ...     try:
        ...         raise ValueError("Input X contains NaN.\nMore advice.")
        ...     except ValueError as cause:
        ...         raise ModelError("model failed on samples 0-63: ...") from cause
        ... except ModelError as error:
        ...     first_line(error)
        'ValueError: Input X contains NaN.'
    """
    root: BaseException = error
    while isinstance(root, ModelError) and root.__cause__ is not None:
        root = root.__cause__
    text = str(root).strip()
    line = text.split("\n", 1)[0].strip()
    if not isinstance(root, ModelError):
        line = f"{type(root).__name__}: {line}" if line else type(root).__name__
    if len(line) > MAX_ERROR_CHARS:
        line = line[: MAX_ERROR_CHARS - 1] + "…"
    return line


def check_clean_inputs(
    model: ModelAdapter,
    clean: Any,
    *,
    error: ModelError,
    context: SampleContext | None = None,
) -> None:
    """Re-raise `error` unless the model still answers the unit's clean inputs.

    Called after the model refused a perturbed batch: a model that now fails on clean inputs
    too is broken (or unreachable), not refusing these inputs, and the run must stop. The
    model is asked directly, not through the prediction cache, which would answer for it.

    Raises:
        ModelError: `error`, when the clean batch fails as well.
    """
    try:
        if context is None:
            model.predict(clean)
        else:
            model.predict(clean, context=context)  # type: ignore[call-arg]
    except ModelError:
        raise error from None


def refusals(records: Sequence[tuple[int, str, str]]) -> list[Refusal]:
    """One `Refusal` per scenario from (position, scenario, error) per refused trial."""
    found: dict[int, Refusal] = {}
    for position, scenario, error in records:
        seen = found.get(position)
        found[position] = Refusal(
            position, scenario, 1 + (seen.trials if seen else 0), seen.error if seen else error
        )
    return list(found.values())


def merge(groups: Sequence[Sequence[Refusal]]) -> list[Refusal]:
    """The refusals of one unit evaluated in groups of one sample shape each.

    A scenario refused by several groups keeps the first group's error and the most trials
    any group refused (each group ran every trial).
    """
    found: dict[int, Refusal] = {}
    for refusal in (r for group in groups for r in group):
        seen = found.get(refusal.position)
        if seen is None:
            found[refusal.position] = refusal
        elif refusal.trials > seen.trials:
            found[refusal.position] = Refusal(
                seen.position, seen.scenario, refusal.trials, seen.error
            )
    return sorted(found.values(), key=lambda r: r.position)


def attach(table: pa.Table, refused: Sequence[Refusal]) -> pa.Table:
    """`table` with `refused` in its schema metadata (unchanged when nothing was refused)."""
    if not refused:
        return table
    payload = json.dumps([r.__dict__ for r in refused]).encode()
    return table.replace_schema_metadata({**(table.schema.metadata or {}), METADATA_KEY: payload})


def read(table: pa.Table) -> list[Refusal]:
    """The refusals a unit's outcome table carries (see `attach`)."""
    payload = (table.schema.metadata or {}).get(METADATA_KEY)
    if payload is None:
        return []
    return [Refusal(**item) for item in json.loads(payload)]
