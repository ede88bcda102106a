"""Tabular calibration: per-column drift, measurement noise and missing cells."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from wince import perturbations
from wince.errors import DataError
from wince.monitor.estimate import Estimate, not_estimable, tabular_drift_sd, tabular_noise_sd
from wince.realism.calibration.base import (
    TINY,
    CalibrationData,
    FloatArray,
    Measurement,
    Sets,
    counts,
    measure,
    needs_production,
    spread_estimate,
)
from wince.realism.calibration.quantities import Quantity


@dataclass(frozen=True)
class TableSets(Sets):
    """Tables (n, features) as float64 (NaN: missing), with column names and row ids.

    Attributes:
        names: the column names.
        groups: one id per row of the production table (the reference without production)
            whose repeated rows measure the same thing; or None.
    """

    names: list[str] = field(default_factory=list)
    groups: Sequence[Any] | None = None


def calibrate_table(
    reference: Any,
    production: Any | None = None,
    *,
    feature_names: Sequence[str] | None = None,
    groups: Sequence[Any] | None = None,
    n_boot: int = 200,
    seed: int = 0,
) -> list[Quantity]:
    """Per-column drift, measurement noise and missing cells of tabular data.

    Args:
        reference: reference table (n, features).
        production: production table with the same columns, or None.
        feature_names: column names (default positions).
        groups: one id per row of the production table (the reference without production)
            whose repeated rows measure the same thing, for measurement noise; or None.
        n_boot: bootstrap replicates.
        seed: bootstrap seed.
    """
    ref = np.asarray(reference, dtype=np.float64)
    prod = None if production is None else np.asarray(production, dtype=np.float64)
    names = (
        [str(c) for c in feature_names]
        if feature_names is not None
        else [str(j) for j in range(ref.shape[1])]
    )
    n = counts(ref, prod, "rows") + f", {len(names)} columns"
    sets = TableSets(ref, prod, n, n_boot, seed, names=names, groups=groups)
    return measure(sets, MEASUREMENTS)


def calibrate_table_data(data: CalibrationData, *, n_boot: int, seed: int) -> list[Quantity]:
    """`calibrate_table` of the read datasets, checked to share columns and to have one id a row.

    Raises:
        DataError: the production table's columns differ from the reference's, or the
            number of ids differs from the number of rows.
    """
    names = _feature_names(data.reference)
    if data.production is not None:
        prod_names = _feature_names(data.production)
        ref_width = np.asarray(data.reference_x).shape[1]
        prod_width = np.asarray(data.production_x).shape[1]
        if names != prod_names or prod_width != ref_width:
            ref_cols = names or [str(j) for j in range(ref_width)]
            prod_cols = prod_names or [str(j) for j in range(prod_width)]
            absent = [c for c in ref_cols if c not in prod_cols]
            extra = [c for c in prod_cols if c not in ref_cols]
            raise DataError(
                f"calibrate: the production table's columns differ from the reference's "
                f"(missing {absent or 'none'}, extra {extra or 'none'}"
                + (", same columns in another order" if not absent and not extra else "")
                + "). Give both tables the same feature columns in the same order."
            )
    rows = len(data.production if data.production is not None else data.reference)
    if data.groups is not None and len(data.groups) != rows:
        raise DataError(
            f"calibrate: {len(data.groups)} ids for {rows} rows of the "
            f"{'production' if data.production is not None else 'reference'} table; give one "
            "id per row."
        )
    return calibrate_table(
        data.reference_x,
        data.production_x,
        feature_names=names,
        groups=data.groups,
        n_boot=n_boot,
        seed=seed,
    )


def _feature_names(dataset: Any) -> list[str] | None:
    return list(getattr(dataset, "feature_names", None) or []) or None


def drift(sets: TableSets) -> Measurement:
    """Drift in column sd, per column whose mean shift is clear of 0 and at least half mild."""
    if sets.production is None:
        return needs_production(
            "drift",
            "tabular.sensor_drift",
            "sd",
            "needs --production: drift is a shift between reference and production",
        )
    per_column = tabular_drift_sd(sets.reference, sets.production, feature_names=sets.names)
    mild = perturbations.get("tabular.sensor_drift").magnitude.mild
    moving = [
        (name, e)
        for name, e in per_column.items()
        if e.estimable and abs(e.value) >= mild / 2 and (e.low > 0 or e.high < 0)
    ]
    values = np.array([e.value for _, e in moving])
    signs = set(np.sign(values).tolist())
    sign = float(values[np.argmax(np.abs(values))] > 0) * 2 - 1 if len(values) else 1.0
    samples = sign * np.abs(values)
    notes = (
        "; the columns drift both ways, the plan drifts them all the way of the largest"
        if len(signs) > 1
        else ""
    )
    estimate = (
        Estimate(
            "tabular.sensor_drift",
            float(np.median(samples)),
            float(min(min(e.low, e.high) for _, e in moving)),
            float(max(max(e.low, e.high) for _, e in moving)),
            "column standard deviations",
            note="median over drifting columns",
        )
        if moving
        else not_estimable("tabular.sensor_drift", "sd", "")
    )
    return Measurement(
        "drift",
        "tabular.sensor_drift",
        estimate,
        samples,
        spread="per drifting column",
        method="mean shift in reference sd per column (wince.monitor), columns whose "
        f"95% interval excludes 0 and |drift| >= {mild / 2:g} sd{notes}",
        params={"columns": [str(name) for name, _ in moving]} if moving else {},
        details={
            name: {"value": e.value, "low": e.low, "high": e.high}
            for name, e in per_column.items()
            if e.estimable
        },
        why_not=""
        if moving
        else "no column drifts: every |drift| is below "
        f"{mild / 2:g} sd or its 95% interval holds 0 ("
        + _columns_note(sets.names, [e.value for e in per_column.values()], "sd")
        + ")",
    )


def _columns_note(names: Sequence[str], values: Sequence[float], unit: str) -> str:
    return ", ".join(f"{n} {v:+.3g}" for n, v in zip(names, values, strict=True)) + f" {unit}"


def noise(sets: TableSets) -> Measurement:
    """Measurement noise in column sd: from repeated ids, else production's excess variance."""
    if sets.groups is not None:
        per_column = within_group_noise_sd(sets.target, sets.groups)
        finite = per_column[np.isfinite(per_column)]
        estimate = (
            spread_estimate("tabular.gaussian_noise", "column standard deviations", per_column, "")
            if len(finite)
            else not_estimable("tabular.gaussian_noise", "sd", "")
        )
        return Measurement(
            "noise",
            "tabular.gaussian_noise",
            estimate,
            per_column,
            spread="per column",
            method=f"within-id sd of repeated {sets.which} measurements over the column sd",
            n=sets.n + f", {len(set(map(str, sets.groups)))} ids",
            details={k: float(v) for k, v in zip(sets.names, per_column, strict=True)},
            why_not="" if len(finite) else "no id has repeated measurements",
        )
    if sets.production is None:
        return needs_production(
            "noise",
            "tabular.gaussian_noise",
            "sd",
            "needs an id column with repeated measurements (--id-column) or --production",
        )
    estimate = tabular_noise_sd(sets.reference, sets.production, n_boot=sets.n_boot, seed=sets.seed)
    return Measurement(
        "noise",
        "tabular.gaussian_noise",
        estimate,
        [estimate.value],
        spread="one value (pooled over columns)",
        method="excess variance of production over the reference, averaged over "
        "columns (wince.monitor); give an id column to measure it from repeats",
    )


def within_group_noise_sd(table: Any, groups: Sequence[Any]) -> FloatArray:
    """Per column: within-group (repeated-measurement) sd over the column's sd, shape (k,).

    Rows sharing a group id measure the same thing, so their spread is measurement noise:
    sqrt(sum of squared deviations from the group means / (rows - groups)), divided by the
    column's overall sd (`tabular.gaussian_noise`'s unit). NaN cells are ignored; a column
    without repeats or with sd 0 gives NaN.
    """
    x = np.asarray(table, dtype=np.float64)
    labels = np.unique(np.asarray([str(g) for g in groups]), return_inverse=True)[1]
    out = np.full(x.shape[1], np.nan)
    for j in range(x.shape[1]):
        column = x[:, j]
        ok = np.isfinite(column)
        if ok.sum() < 2:
            continue
        g = labels[ok]
        values = column[ok]
        sums = np.bincount(g, weights=values)
        sizes = np.bincount(g)
        means = sums[g] / sizes[g]
        dof = ok.sum() - np.count_nonzero(sizes)
        sd = values.std(ddof=1)
        if dof > 0 and sd > 0:
            out[j] = math.sqrt(float(np.sum((values - means) ** 2)) / dof) / sd
    return out


def missing(sets: TableSets) -> Measurement:
    """Missing cells per column: the share of empty cells (production beyond the reference's)."""
    ref_missing = np.mean(~np.isfinite(sets.reference), axis=0)
    if sets.production is not None:
        prod_missing = np.mean(~np.isfinite(sets.production), axis=0)
        per_column = np.maximum(prod_missing - ref_missing, 0.0) / np.maximum(
            1.0 - ref_missing, TINY
        )
        method = "share of empty cells per column, production beyond the reference's"
    else:
        per_column = ref_missing
        method = "share of empty cells per column"
    pooled = float(per_column.mean())
    return Measurement(
        "missing",
        "tabular.missing_values",
        Estimate("tabular.missing_values", pooled, math.nan, math.nan, "fraction of cells"),
        per_column,
        spread="per column",
        method=method,
        details={k: float(v) for k, v in zip(sets.names, per_column, strict=True)},
    )


# the measurements `calibrate_table` takes, in this order; a perturbation's `calibration` names one
# ("tables.<function>")
MEASUREMENTS: tuple[Callable[[TableSets], Measurement], ...] = (drift, noise, missing)
