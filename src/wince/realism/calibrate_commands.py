"""The behaviour of `wince calibrate`, kept out of cli.py (a thin shell).

`calibrate_command` reads the reference (and production) data the way `wince monitor` reads
live data, calibrates the perturbation magnitudes they show, prints the evidence, writes the
plan and returns the exit code: 0 written, 1 nothing to write (no perturbation shows in the
data). Bad input raises a `WinceError`, which the CLI turns into exit code 2.
"""

from __future__ import annotations

import difflib
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from wince.datasets.base import ArrayDataset, Dataset
from wince.errors import DataError
from wince.files import write_file
from wince.perturbations.base import Modality
from wince.plan import DataSpec, Plan, load_plan
from wince.realism.calibrate import Calibration, Quantity, calibrate
from wince.store.store import strict_json
from wince.terminal import ProgressReporter

EXIT_OK, EXIT_NOTHING = 0, 1
TABLE_KINDS = ("csv", "parquet")


def _kind(path: Path, option: str) -> str:
    """The reader kind of a data path (as `wince.monitor.monitor.read_live` decides it)."""
    from wince.monitor.monitor import SUFFIX_KIND

    if path.is_dir():
        return "wav" if any(path.rglob("*.wav")) else "images"
    kind = SUFFIX_KIND.get(path.suffix.lower(), "")
    if not kind:
        raise DataError(
            f"calibrate {option} {path}: cannot tell how to read it; give a folder of images or "
            f"WAV files, or a {', '.join(SUFFIX_KIND)} file."
        )
    return kind


def _group_ids(path: Path, kind: str, id_column: str, option: str) -> list[str]:
    """The values of `id_column` of a CSV or Parquet table, as text."""
    import pandas as pd

    try:
        if kind == "csv":
            columns = list(pd.read_csv(path, nrows=0).columns)
        else:
            import pyarrow.parquet as pq

            columns = list(pq.read_schema(path).names)
    except (OSError, ValueError, pd.errors.ParserError) as error:
        raise DataError(f"calibrate {option} {path}: cannot read the table ({error}).") from None
    if id_column not in columns:
        close = difflib.get_close_matches(id_column, columns, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise DataError(
            f"calibrate {option} {path}: no id column {id_column!r} (--id-column); columns are "
            f"{', '.join(repr(c) for c in columns)}.{hint}"
        )
    if kind == "csv":
        values = pd.read_csv(path, usecols=[id_column], dtype={id_column: str})[id_column]
    else:
        values = pd.read_parquet(path, columns=[id_column])[id_column]
    if values.isna().any():
        row = int(np.flatnonzero(values.isna().to_numpy())[0])
        raise DataError(
            f"calibrate {option} {path}: id column {id_column!r} is empty in row {row}; every "
            "row needs an id."
        )
    return [str(v) for v in values]


def read_calibration_data(
    path: Path,
    *,
    option: str,
    spec: DataSpec | None = None,
    id_column: str | None = None,
    ids_required: bool = True,
) -> tuple[Dataset, list[str] | None]:
    """Read reference or production data with the reader `wince monitor` uses for live data.

    Args:
        path: a folder of images or WAV files, or a .npz, .csv, .parquet, .jsonl or .txt file.
        option: the command-line option that named it ("--reference"), for messages.
        spec: a plan's data section, whose options (label, features, inputs) apply when the
            path is of the same kind.
        id_column: tabular: the column marking repeated measurements of one thing; it is
            returned as group ids and left out of the features.
        ids_required: whether a table without `id_column` is an error (the set whose repeats
            are measured); otherwise such a table is read as it is and None returned.

    Returns:
        The dataset and the group ids (None without `id_column`).

    Raises:
        DataError: missing or unreadable data, an unknown file type, or a missing id column.
    """
    from wince.monitor.monitor import read_live

    path = Path(path)
    if not path.exists():
        raise DataError(f"calibrate {option}: no such file or folder {path}; check the path.")
    kind = _kind(path, option)
    if id_column is not None and kind not in TABLE_KINDS:
        raise DataError(
            f"calibrate {option} {path}: --id-column applies to CSV or Parquet tables; this is "
            f"{kind} data. Leave --id-column out."
        )
    try:
        dataset = read_live(path, spec)
    except DataError as error:
        raise DataError(f"calibrate {option}: {error}") from None
    if id_column is None:
        return dataset, None
    try:
        groups: list[str] | None = _group_ids(path, kind, id_column, option)
    except DataError:
        if ids_required:
            raise
        groups = None
    names = list(getattr(dataset, "feature_names", None) or [])
    if id_column in names:
        keep = [j for j, n in enumerate(names) if n != id_column]
        x = np.asarray(dataset.batch(0, len(dataset)))[:, keep]
        kinds = getattr(dataset, "column_kinds", None)
        dataset = ArrayDataset(
            x,
            dataset.labels,
            modality=Modality.TABULAR,
            feature_names=[names[j] for j in keep],
            column_kinds=[kinds[j] for j in keep] if kinds else None,
            name=str(path),
        )
    return dataset, groups


def _fmt(value: float) -> str:
    return "-" if not math.isfinite(value) else f"{value:.3g}"


def calibration_table(calibration: Calibration) -> Table:
    """The calibrated quantities as a rich table."""
    production = (
        f" vs {calibration.production} ({calibration.n_production})"
        if calibration.production
        else " (self-calibrated)"
    )
    table = Table(
        title=f"wince calibrate — {calibration.reference} ({calibration.n_reference}){production}"
    )
    for column in (
        "quantity",
        "perturbation",
        "estimate (interval)",
        "p50 / p90 / p99",
        "plan",
    ):
        table.add_column(column)
    for q in calibration.quantities:
        table.add_row(*_row(q))
    return table


def _row(q: Quantity) -> list[str]:
    e = q.estimate
    estimate = (
        f"{_fmt(e.value)} ({_fmt(e.low)} .. {_fmt(e.high)}) {q.magnitude.unit}"
        if e.estimable and math.isfinite(e.value)
        else "-"
    )
    quantiles = " / ".join(_fmt(v) for v in q.quantiles) or "-"
    plan = (
        f"{q.magnitude.name}: {', '.join(f'{v:g}' for v in q.values)}"
        if q.included
        else f"left out: {q.notes[-1] if q.notes else 'off'}"
    )
    return [q.key, q.perturbation, estimate, quantiles, plan]


def _expected_modality(modality: str | None) -> Modality | None:
    """The --modality option as a `Modality` (None: as read).

    Raises:
        DataError: not a modality, with the choices.
    """
    if modality is None:
        return None
    try:
        return Modality(modality)
    except ValueError:
        choices = ", ".join(m.value for m in Modality)
        raise DataError(
            f"calibrate --modality: {modality!r} is not a modality; use one of {choices}."
        ) from None


def _write_plan(calibration: Calibration, out: Path, name: str, template: Plan | None) -> None:
    """Write the calibrated plan to `out`, with the template's model and data sections.

    Raises:
        DataError: `out` is a folder.
        WinceError: `out` cannot be written.
    """
    model: dict[str, Any] | None = None
    data: dict[str, Any] | None = None
    if template is not None:
        if template.model is not None:
            model = template.model.model_dump(mode="json", exclude_defaults=True)
        if template.data is not None:
            data = template.data.model_dump(mode="json", exclude_defaults=True)
    text = calibration.to_yaml(name=name, model=model, data=data)
    if out.is_dir():
        raise DataError(f"calibrate --out {out} is a folder; give a file name such as plan.yaml.")
    write_file(out, text, what="calibrate --out")
    load_plan(out)  # the plan written must load; a failure here is a bug in calibrate


def calibrate_command(
    reference: Path,
    production: Path | None,
    out: Path,
    *,
    plan: Path | None = None,
    id_column: str | None = None,
    modality: str | None = None,
    name: str | None = None,
    seed: int = 0,
    json_output: bool = False,
    console: Console,
    progress: bool = False,
) -> int:
    """Calibrate perturbation magnitudes from real data and write them as a plan.

    Args:
        reference: the reference data (what the model was built and tested on).
        production: production data to compare with the reference, or None to calibrate the
            reference against its own variation.
        out: the plan file to write (YAML, evidence in comments).
        plan: a template plan whose model and data sections (and reader options, e.g. a
            label column) the calibrated plan keeps; without it they are commented out.
        id_column: tabular: column whose repeated values mark repeated measurements of one
            thing (measurement noise).
        modality: the expected modality ("image", "text", "audio", "tabular"); default as read.
        name: the plan's name (default "calibrated-<reference name>").
        seed: bootstrap seed.
        json_output: print the calibration as JSON instead of a table.
        console: where output goes.
        progress: a progress bar on standard error counting the steps (reading each data
            set, measuring them), each named as it runs.

    Returns:
        0 when the plan was written, 1 when no perturbation shows in the data (nothing written).

    Raises:
        DataError: missing or unreadable data, a modality other than expected, production
            columns that differ from the reference's, or an unknown id column.
        PlanError: the template plan is invalid.
    """
    expected = _expected_modality(modality)
    template = load_plan(plan) if plan is not None else None
    spec = template.data if template is not None else None
    steps = 3 if production is not None else 2
    with ProgressReporter(steps, enabled=progress, title="calibrate", unit="steps") as bar:
        bar.describe(f"calibrate: reading {reference}")
        ref_data, ref_groups = read_calibration_data(
            reference,
            option="--reference",
            spec=spec,
            id_column=id_column,
            ids_required=production is None,
        )
        bar.advance()
        prod_data, prod_groups = (None, None)
        if production is not None:
            bar.describe(f"calibrate: reading {production}")
            prod_data, prod_groups = read_calibration_data(
                production, option="--production", spec=spec, id_column=id_column
            )
            bar.advance()
        samples = len(ref_data) + (len(prod_data) if prod_data is not None else 0)
        bar.describe(f"calibrate: measuring {samples} samples")
        calibration = calibrate(
            ref_data,
            prod_data,
            modality=expected,
            groups=prod_groups if production is not None else ref_groups,
            seed=seed,
        )
        bar.advance()
    if json_output:
        console.print_json(json.dumps(strict_json(calibration.to_payload()), default=str))
    else:
        console.print(calibration_table(calibration))
    if not calibration.included:
        console.print(
            "[yellow]nothing to write:[/] no perturbation magnitude shows in these data; "
            f"{out} was not written. Give --production data that differ from the reference."
        )
        return EXIT_NOTHING
    out = Path(out)
    _write_plan(calibration, out, name or f"calibrated-{Path(reference).stem or 'data'}", template)
    if not json_output:
        listed = ", ".join(q.perturbation for q in calibration.included)
        console.print(f"[green]wrote[/] {out}: {listed}.")
    return EXIT_OK
