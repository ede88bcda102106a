"""Verify a stored run: check its segments, re-execute a sample of its outcomes, compare.

`verify_run(store, run)` first checks every segment of the run against the catalog (footer,
row count, sample range and SHA-256 checksum: `Store.damaged_units`); a damaged one fails
the verification before anything is re-executed. Then it rebuilds the model and the data
from the plan stored in the run's lineage (a defended run's model behind its defence, refitted
on the data: `wince.defences.lineage`), refuses when their fingerprints (or the perturbation
or defence versions) differ from the run's, notes the packages of the run's environment
installed at other versions now (`environment_changes`: a possible cause, reported apart
from the outcomes), picks a seeded random subset of the run's units (sample ranges) and of
its trials, re-evaluates those trials on those units with `evaluate_unit` and compares every
outcome column of the same (scenario, trial, sample) rows exactly. Outcomes depend only on
the samples, the seed and the trial (per-sample random streams), so a faithful store
reproduces them exactly, whatever the batching of the original run. Verify never reads the
prediction cache: every compared outcome is computed again by the model.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa

from wince import perturbations
from wince.defences.lineage import defence_drift, run_model
from wince.errors import (
    DataError,
    LockDriftError,
    ModelError,
    ParameterError,
    PlanError,
    StoreError,
)
from wince.plan import Plan
from wince.store.store import DamagedUnit, Store

if TYPE_CHECKING:
    from wince.datasets.base import Dataset
    from wince.models.base import ModelAdapter

KEYS = ["scenario", "trial", "sample_index"]
MISMATCH_COLUMNS = ["scenario", "trial", "sample_index", "column", "stored", "recomputed"]


@dataclass(frozen=True)
class VerifyResult:
    """What `verify_run` re-executed and what it found.

    Attributes:
        run_id: the verified run.
        units: the (start, stop) sample ranges re-executed.
        trials: the (scenario, trial) pairs re-executed (the baseline always).
        rows: outcome rows compared.
        mismatches: one row per differing value: scenario, trial, sample_index, column,
            stored and recomputed value (a missing row has column `<row>`).
        environment_changes: packages that shape the run's outputs installed now at another
            version than the run's ("scipy 1.16.0 → 1.17.1"); outcomes may differ because
            of them. Empty when the environment is the same (or the run recorded none).
        damaged: the units whose segment is damaged (nothing is re-executed then).
    """

    run_id: str
    units: list[tuple[int, int]]
    trials: list[tuple[str, int]]
    rows: int
    mismatches: pd.DataFrame
    environment_changes: list[str] = dataclasses.field(default_factory=list)
    damaged: list[DamagedUnit] = dataclasses.field(default_factory=list)

    @property
    def passed(self) -> bool:
        """True when every segment is sound and every compared value is identical."""
        return not self.damaged and bool(self.mismatches.empty)

    def to_payload(self) -> dict[str, Any]:
        """JSON-ready result."""
        return {
            "run_id": self.run_id,
            "passed": self.passed,
            "units": [list(u) for u in self.units],
            "trials": [list(t) for t in self.trials],
            "rows": self.rows,
            "environment_changes": list(self.environment_changes),
            "damaged": [dataclasses.asdict(unit) for unit in self.damaged],
            "mismatches": [
                {k: _plain(v) for k, v in row.items()}
                for row in self.mismatches.to_dict(orient="records")
            ],
        }


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def _subset(n: int, fraction: float, rng: np.random.Generator) -> list[int]:
    """A sorted random subset of range(n) of size ceil(fraction * n), at least one."""
    if n == 0:
        return []
    k = min(n, max(1, math.ceil(fraction * n)))
    return sorted(int(i) for i in rng.choice(n, size=k, replace=False))


def _check_reproducible(record: dict[str, Any], plan: Plan) -> None:
    run_id = record["run_id"]
    for section in ("model", "data"):
        if getattr(plan, section) is None:
            raise PlanError(
                f"run {run_id}: its plan has no {section} section, so verify cannot rebuild "
                f"the {section}; only runs of plans naming their model and data can be verified."
            )
    locked = record["lineage"].get("perturbation_versions", {})
    drifts = [
        f"{name} (run: v{version}, installed: v{perturbations.get(name).version})"
        for name, version in locked.items()
        if perturbations.get(name).version != version
    ]
    drifts += defence_drift(record)
    if drifts:
        raise StoreError(
            f"run {run_id} used other perturbation or defence versions than those installed: "
            f"{', '.join(drifts)}; its outcomes are not expected to reproduce."
        )


def _run_model_checked(
    record: dict[str, Any],
    plan: Plan,
    model: ModelAdapter,
    dataset: Dataset,
    lock: str | Path | None,
) -> ModelAdapter:
    """The run's model rebuilt (behind its defence), checked against the run and the lock.

    Raises:
        ModelError: the rebuilt model's fingerprint differs from the run's.
        LockDriftError: the rebuilt run drifted from `lock` (each drift named).
    """
    from wince.engine.runner import identify
    from wince.governance.lock import check_lock, drift_message, load_lock

    run_id = record["run_id"]
    model = run_model(record, model, dataset)
    fingerprint = identify(model, dataset)
    if fingerprint != record["model_fingerprint"]:
        raise ModelError(
            f"run {run_id}: the plan's model now has fingerprint {fingerprint}, the "
            f"run used {record['model_fingerprint']}; the model changed, so the run cannot "
            "be verified."
        )
    if lock is not None:
        drifts = check_lock(plan, load_lock(lock), dataset, model)
        if drifts:
            fix = f"Re-lock with `wince lock --run {run_id}` if the change is intended."
            raise LockDriftError(drift_message(plan.name, str(lock), drifts, fix), drifts=drifts)
    return model


def verify_run(
    store: Store,
    run_id: str,
    *,
    fraction: float = 0.1,
    seed: int = 0,
    lock: str | Path | None = None,
) -> VerifyResult:
    """Re-execute a seeded random sample of a run's units and trials and compare outcomes.

    A fraction `fraction` of the units (at least one) and of the non-baseline trials (at
    least one) is re-executed; the baseline trial always is, as every outcome is measured
    against it.

    Args:
        store: the store holding the run.
        run_id: the run's id.
        fraction: share of units and of trials re-executed, in (0, 1].
        seed: seed of the random choice of units and trials.
        lock: a lock file (`wince lock --run`) the rebuilt run must match first: its
            perturbation and defence versions, data, environment, and the defences the
            model runs behind with their options and fitted state (`check_lock`).

    Returns:
        The `VerifyResult`; `passed` is False when a segment is damaged (then nothing is
        re-executed), or any value differs or a row is missing.

    Raises:
        ParameterError: fraction outside (0, 1].
        PlanError: the run's plan has no model or data section.
        ModelError: the rebuilt model's fingerprint differs from the run's.
        DataError: the rebuilt data's fingerprint differs from the run's.
        StoreError: missing run, no stored units, or other perturbation or defence versions.
        LockDriftError: the rebuilt run drifted from `lock` (each drift named).
    """
    from wince.datasets.loading import load_dataset
    from wince.engine import environment
    from wince.engine.runner import encode_labels, evaluate_unit, jobs, prepare
    from wince.governance.lock import load_lock
    from wince.models.loading import load_model

    if not 0 < fraction <= 1:
        raise ParameterError(f"verify: fraction is a share in (0, 1]; got {fraction!r}.")
    if lock is not None:
        load_lock(lock)  # a bad lock fails before any work
    record = store.run(run_id)
    damaged = store.damaged_units(run_id, full=True)
    if damaged:
        nothing = pd.DataFrame(columns=MISMATCH_COLUMNS)
        return VerifyResult(
            run_id, units=[], trials=[], rows=0, mismatches=nothing, damaged=damaged
        )
    plan = Plan.model_validate(record["lineage"]["plan"])
    _check_reproducible(record, plan)
    units = store.completed_units(run_id)
    if not units:
        raise StoreError(f"run {run_id} has no stored units to verify.")
    assert plan.model is not None  # checked above
    assert plan.data is not None
    dataset = load_dataset(plan.data)
    if dataset.fingerprint() != record["data_fingerprint"]:
        raise DataError(
            f"run {run_id}: the plan's data now has fingerprint {dataset.fingerprint()}, the run "
            f"used {record['data_fingerprint']}; the data changed, so the run cannot be verified."
        )
    recorded = record["lineage"].get("environment") or {}
    changes = environment.changes(
        recorded, {name: environment.installed_version(name) for name in recorded}
    )
    model = load_model(plan.model)
    try:
        model = _run_model_checked(record, plan, model, dataset, lock)
        _, spec = prepare(plan, model, dataset)
        labels = encode_labels(dataset, model)
        rng = np.random.default_rng(seed)
        chosen_units = [units[i] for i in _subset(len(units), fraction, rng)]
        baseline, *others = spec.trials
        chosen_trials = (baseline, *(others[i] for i in _subset(len(others), fraction, rng)))
        subset = dataclasses.replace(spec, trials=chosen_trials)
        wanted = {(t.scenario.key, t.index) for t in chosen_trials}
        mismatches = []
        rows = 0
        for job in jobs(dataset, labels, chosen_units):
            recomputed = _decoded(evaluate_unit(model, job, subset)).to_pandas()
            stored = store.outcomes(
                run_id,
                where=f"sample_index >= {job.start} AND sample_index < {job.stop}",
                rejected=True,  # the rows as stored, whatever the model refused elsewhere
            )
            stored = stored[
                [(s, t) in wanted for s, t in zip(stored["scenario"], stored["trial"], strict=True)]
            ]
            rows += len(recomputed)
            mismatches.append(compare_outcomes(stored, recomputed))
    finally:
        model.close()
    return VerifyResult(
        run_id=run_id,
        units=chosen_units,
        trials=[(t.scenario.key, t.index) for t in chosen_trials],
        rows=rows,
        mismatches=pd.concat(mismatches, ignore_index=True),
        environment_changes=changes,
    )


def _decoded(table: pa.Table) -> pa.Table:
    """The table with its scenario column as plain strings (its dictionary repeats keys)."""
    index = table.schema.get_field_index("scenario")
    return table.set_column(index, "scenario", table.column("scenario").cast(pa.string()))


def _keyed(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.assign(scenario=frame["scenario"].astype(str)).drop(columns="position")
    return frame.set_index(KEYS).sort_index()


def compare_outcomes(stored: pd.DataFrame, recomputed: pd.DataFrame) -> pd.DataFrame:
    """Values that differ between stored and recomputed outcomes of the same rows.

    Rows are matched on (scenario, trial, sample_index); each column both frames hold is
    compared exactly (`np.array_equal`, NaN equal to NaN); a row only one frame holds is a
    mismatch of column `<row>`.

    Returns:
        One row per differing value (see `VerifyResult.mismatches`); empty when identical.
    """
    a, b = _keyed(stored), _keyed(recomputed)
    found: list[tuple[Any, ...]] = [
        (*key, "<row>", key in a.index, key in b.index)
        for key in a.index.symmetric_difference(b.index)
    ]
    common = a.index.intersection(b.index)
    a, b = a.loc[common], b.loc[common]
    for column in sorted(set(a.columns) | set(b.columns)):
        if column not in a.columns or column not in b.columns:
            found.append(("*", -1, -1, column, column in a.columns, column in b.columns))
            continue
        left, right = a[column].to_numpy(), b[column].to_numpy()
        if left.dtype != object and right.dtype != object:
            if np.array_equal(left, right, equal_nan=left.dtype.kind == "f"):
                continue
            same = left == right
            if left.dtype.kind == "f":
                same |= np.isnan(left) & np.isnan(right.astype(float))
        else:
            same = np.array([_equal(x, y) for x, y in zip(left, right, strict=True)], dtype=bool)
        found.extend((*common[i], column, left[i], right[i]) for i in np.flatnonzero(~same))
    return pd.DataFrame(found, columns=MISMATCH_COLUMNS)


def _equal(x: Any, y: Any) -> bool:
    if isinstance(x, np.ndarray | list) or isinstance(y, np.ndarray | list):
        return bool(np.array_equal(np.asarray(x), np.asarray(y), equal_nan=True))
    return bool(x == y)
