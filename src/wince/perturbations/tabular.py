"""Tabular perturbations: batches are float arrays of shape (n, features) plus a column schema.

Sizes are given in units of each column's standard deviation over the whole dataset
(`DataContext.column_sd`), never of the batch, so a result does not depend on batching.
Perturbations tied to where a value lies in its column (saturation, values missing not at
random) read the dataset's percentiles (`DataContext.column_quantiles`).

Column schema. `DataContext.column_kinds` names each column "float", "integer" (whole
numbers: counts, ages) or "categorical" (category codes); the dataset layer sets it
(`ArrayDataset(column_kinds=...)`) and None means every column is float. Every tabular
perturbation follows three rules:

- integer columns keep whole numbers: perturbed values are rounded;
- categorical columns never get numeric changes (noise, drift, gain, rounding, saturation,
  unit confusion); only `tabular.category_typos`, `tabular.missing_values` and
  `tabular.sentinel_values` change them;
- the `columns` option picks the columns a perturbation touches: a list of names, a regular
  expression matched against whole names, or one of "all", "numeric" (float and integer),
  "float", "integer", "categorical". Columns are named by `DataContext.feature_names`, else
  "x0", "x1", ... A numeric perturbation skips categorical columns a keyword or regular
  expression selects, and refuses one named in a list.

Distances. `distance` is the standardised L2 norm of the change: each numeric cell's change in
its column's dataset sd, a changed categorical cell counting 1 and a cell that became (or
stopped being) missing counting 1 (about how far a typical value lies from the column mean,
which mean imputation would put there). `changed_cell_rate` is the share of cells changed.

Categorical text. The engine's datasets are numeric, so categorical columns hold codes there;
a typo or case variant then turns a code into the code of an unknown category. Only
`tabular.category_typos` also takes object arrays holding str cells, and edits the text.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from wince.errors import DataError, ParameterError
from wince.perturbations.base import (
    Batch,
    DataContext,
    Magnitude,
    Modality,
    Perturbation,
    Phrase,
    Rngs,
    check_choice,
    check_number,
    register,
)
from wince.perturbations.text.keyboard import LAYOUTS, TYPO_KINDS, inject_typos
from wince.perturbations.words import count, share

KINDS = ("float", "integer", "categorical")
KEYWORDS = ("all", "numeric", "float", "integer", "categorical")
PERCENTILES = 101  # rows of DataContext.column_quantiles: the 0th..100th percentiles

Selector = str | tuple[str, ...] | None


# ---------------------------------------------------------------------------------------------
# Dataset statistics and schema


def dataset_sd(
    context: DataContext, width: int, owner: str, *, noun: str, fix: str
) -> npt.NDArray[np.float64]:
    """The dataset's standard deviations of `width` columns (or channels), checked.

    Raises:
        DataError: `column_sd` is missing, does not hold one value per column, or holds a
            negative or infinite value.
    """
    if context.column_sd is None:
        raise DataError(
            f"{owner}: needs the standard deviation of each of the {width} {noun}s and "
            f"the data context has none; {fix}"
        )
    sd = np.asarray(context.column_sd, dtype=np.float64)
    if sd.shape != (width,):
        raise DataError(
            f"{owner}: needs the standard deviation of each of the {width} {noun}s; "
            f"got column_sd of shape {sd.shape}; {fix}"
        )
    if np.any((sd < 0) | np.isinf(sd)):
        raise DataError(
            f"{owner}: {noun} standard deviations must be finite and >= 0; got {sd.tolist()}. "
            f"Constant {noun}s have sd 0 and are left unchanged."
        )
    return sd


def column_sd(context: DataContext, n_features: int, owner: str) -> npt.NDArray[np.float64]:
    """The dataset's column standard deviations, checked against the batch width.

    NaN marks an unknown sd (an all-missing column); perturbations that scale by it must reject
    it where the batch holds values.

    Raises:
        DataError: `column_sd` is missing, does not hold one value per column, or holds a
            negative or infinite value.
    """
    fix = (
        "run it through a tabular dataset (wince.datasets) or pass "
        "DataContext(Modality.TABULAR, column_sd=x.std(axis=0)) computed over the whole dataset."
    )
    return dataset_sd(context, n_features, owner, noun="column", fix=fix)


def column_names(context: DataContext, width: int, owner: str) -> tuple[str, ...]:
    """Column (or channel) names: `feature_names`, else "x0", "x1", ...

    Raises:
        DataError: `feature_names` does not hold one name per column.
    """
    if context.feature_names is None:
        return tuple(f"x{j}" for j in range(width))
    names = tuple(str(n) for n in context.feature_names)
    if len(names) != width:
        raise DataError(
            f"{owner}: the batch has {width} columns but the data context names "
            f"{len(names)} ({', '.join(names[:5])}{', ...' if len(names) > 5 else ''}); give "
            "one feature name per column."
        )
    return names


def column_kinds(context: DataContext, width: int, owner: str) -> npt.NDArray[np.str_]:
    """The kind of each column ("float", "integer", "categorical"); all float if undeclared.

    Raises:
        DataError: `column_kinds` has the wrong length or an unknown kind.
    """
    if context.column_kinds is None:
        return np.full(width, "float")
    kinds = tuple(context.column_kinds)
    unknown = sorted({k for k in kinds if k not in KINDS})
    if len(kinds) != width or unknown:
        problem = f"unknown kinds {unknown}" if unknown else f"{len(kinds)} kinds"
        raise DataError(
            f"{owner}: column_kinds must give one of {list(KINDS)} for each of the {width} "
            f"columns; got {problem}. Declare them with ArrayDataset(column_kinds=...)."
        )
    return np.asarray(kinds)


def column_quantiles(context: DataContext, width: int, owner: str) -> npt.NDArray[np.float64]:
    """The dataset's 0th..100th percentiles of each column, shape (101, width), checked.

    Raises:
        DataError: missing, of the wrong shape, or decreasing along the percentiles.
    """
    fix = (
        "run it through a tabular dataset (wince.datasets) or pass DataContext(..., "
        "column_quantiles=np.nanpercentile(x, np.arange(101), axis=0)) computed over the "
        "whole dataset."
    )
    if context.column_quantiles is None:
        raise DataError(
            f"{owner}: needs the dataset percentiles of each of the {width} columns and the "
            f"data context has none; {fix}"
        )
    quantiles = np.asarray(context.column_quantiles, dtype=np.float64)
    if quantiles.shape != (PERCENTILES, width):
        raise DataError(
            f"{owner}: column_quantiles must have shape ({PERCENTILES}, {width}) (the 0th..100th "
            f"percentiles of each column); got {quantiles.shape}; {fix}"
        )
    if np.any(np.diff(quantiles, axis=0) < 0):
        raise DataError(f"{owner}: column_quantiles must not decrease down each column; {fix}")
    return quantiles


def quantile_at(quantiles: npt.NDArray[np.float64], level: float) -> npt.NDArray[np.float64]:
    """Each column's value at a quantile `level` in [0, 1], interpolated between percentiles."""
    position = min(max(level, 0.0), 1.0) * (PERCENTILES - 1)
    low = min(math.floor(position), PERCENTILES - 2)
    frac = position - low
    at: npt.NDArray[np.float64] = quantiles[low] * (1 - frac) + quantiles[low + 1] * frac
    return at


def quantile_rank(
    x: npt.NDArray[np.float64], quantiles: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Where each cell lies in its column's dataset distribution, in [0, 1] (NaN stays NaN).

    Linear between percentiles; a value equal to several percentiles (a discrete column) gets
    the middle of their ranks, so the ranks of a column's values stay close to uniform.
    """
    steps = PERCENTILES - 1
    rank = np.full(x.shape, np.nan)
    for j in range(x.shape[1]):
        q = quantiles[:, j]
        v = x[:, j]
        if np.isnan(q).any():
            continue
        left = np.searchsorted(q, v, side="left")
        right = np.searchsorted(q, v, side="right")
        tied = (right > left) & ~np.isnan(v)
        below = np.clip(left - 1, 0, steps - 1)
        width = q[below + 1] - q[below]
        inside = below + np.divide(v - q[below], width, out=np.zeros_like(v), where=width > 0)
        rank[:, j] = np.where(tied, (left + right - 1) / 2, np.clip(inside, 0, steps)) / steps
        rank[np.isnan(v), j] = np.nan
    return rank


# ---------------------------------------------------------------------------------------------
# Column selection


def check_selector(owner: str, columns: object, option: str = "columns") -> Selector:
    """Validate a column selector: None, a keyword, a regular expression or a list of names.

    Raises:
        ParameterError: not one of those, an empty list or an invalid regular expression.
    """
    if columns is None:
        return None
    if isinstance(columns, str):
        if columns not in KEYWORDS:
            try:
                re.compile(columns)
            except re.error as error:
                raise ParameterError(
                    f"{owner}: {option}={columns!r} is neither one of {list(KEYWORDS)} nor a "
                    f"valid regular expression ({error}). Escape special characters with \\."
                ) from None
        return columns
    if isinstance(columns, Sequence) and columns and all(isinstance(c, str) for c in columns):
        return tuple(columns)
    raise ParameterError(
        f"{owner}: {option} must be a list of column names, a regular expression matching "
        f"whole names, or one of {list(KEYWORDS)}; got {columns!r}. Try {option}: [name, ...]."
    )


def select_columns(
    owner: str,
    selector: Selector,
    names: tuple[str, ...],
    kinds: npt.NDArray[np.str_],
    *,
    default: str,
    numeric_only: bool,
    option: str = "columns",
) -> npt.NDArray[np.bool_]:
    """The columns a perturbation touches, as a mask over the batch's columns.

    Raises:
        ParameterError: a listed name is unknown, or a categorical column is named for a
            numeric perturbation, or the selection holds no column.
    """
    spec = default if selector is None else selector
    categorical = kinds == "categorical"
    if isinstance(spec, tuple):
        unknown = [c for c in spec if c not in names]
        if unknown:
            close = difflib.get_close_matches(unknown[0], names, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ParameterError(
                f"{owner}: {option} names {unknown[0]!r}, which is not a column; columns are "
                f"{', '.join(repr(n) for n in names[:20])}{', ...' if len(names) > 20 else ''}."
                f"{hint}"
            )
        mask = np.isin(np.asarray(names), spec)
        if numeric_only and (mask & categorical).any():
            named = names[int(np.flatnonzero(mask & categorical)[0])]
            raise ParameterError(
                f"{owner}: column {named!r} is categorical (category codes) and {owner} changes "
                f"numbers; remove it from {option}, or declare its kind in column_kinds."
            )
    elif spec == "all":
        mask = np.ones(len(names), dtype=bool)
    elif spec == "numeric":
        mask = ~categorical
    elif spec in KINDS:
        mask = kinds == spec
    else:
        pattern = re.compile(spec)
        mask = np.array([pattern.fullmatch(n) is not None for n in names], dtype=bool)
    if numeric_only:
        mask = mask & ~categorical
    if len(names) and not mask.any():
        which = "by default" if selector is None else f"with {option}={selector!r}"
        found = dict(zip(*np.unique(kinds, return_counts=True), strict=True))
        raise ParameterError(
            f"{owner}: selects no column {which}; this table has "
            f"{', '.join(f'{int(c)} {k}' for k, c in found.items())} columns named "
            f"{', '.join(repr(n) for n in names[:10])}{', ...' if len(names) > 10 else ''}."
        )
    return mask


# ---------------------------------------------------------------------------------------------
# Distances


def numeric_view(x: npt.NDArray[Any]) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """A float64 copy of a table and a mask of its str cells (object arrays; NaN there)."""
    if x.dtype != object:
        return np.asarray(x, dtype=np.float64), np.zeros(x.shape, dtype=bool)
    text = np.frompyfunc(lambda v: isinstance(v, str), 1, 1)(x).astype(bool)
    as_float = np.frompyfunc(lambda v: math.nan if isinstance(v, str) or v is None else v, 1, 1)
    return as_float(x).astype(np.float64), text


def cell_changes(
    original: npt.NDArray[Any],
    perturbed: npt.NDArray[Any],
    sd: npt.NDArray[np.float64],
    categorical: npt.NDArray[np.bool_],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """Each cell's change in sd units (see the module docstring) and whether it changed.

    `sd` and `categorical` broadcast against the last axis (columns or channels).
    """
    o, o_text = numeric_view(original)
    p, p_text = numeric_view(perturbed)
    o_nan = np.isnan(o) & ~o_text
    p_nan = np.isnan(p) & ~p_text
    text = o_text | p_text
    same = (o == p) | (o_nan & p_nan)
    if text.any():
        same = np.where(text, original == perturbed, same)
    changed = ~same
    safe = np.where(sd > 0, sd, 1.0)
    with np.errstate(invalid="ignore"):
        size = np.abs(p - o) / safe
    unit_change = categorical | text | (o_nan != p_nan)
    size = np.where(changed, np.where(unit_change, 1.0, size), 0.0)
    return size, changed


# ---------------------------------------------------------------------------------------------
# Base classes


@dataclass(frozen=True)
class Columns:
    """The columns of one batch: names, kinds and the mask a perturbation touches."""

    names: tuple[str, ...]
    kinds: npt.NDArray[np.str_]
    selected: npt.NDArray[np.bool_]

    @property
    def numeric(self) -> npt.NDArray[np.bool_]:
        """Selected columns that hold numbers."""
        mask: npt.NDArray[np.bool_] = self.selected & (self.kinds != "categorical")
        return mask

    def finish(self, x: npt.NDArray[Any], changed: npt.NDArray[np.float64]) -> Batch:
        """Keep unselected columns, round integer columns, restore the input dtype."""
        out = np.where(self.selected, changed, x)
        integer = self.selected & (self.kinds == "integer")
        if integer.any():
            out[:, integer] = np.round(out[:, integer])
        return out.astype(x.dtype, copy=False)


class TabularPerturbation(Perturbation):
    """Shared batch checks, column selection and distances for tabular perturbations.

    Args:
        columns: the columns to change: a list of names, a regular expression matched against
            whole names, or "all", "numeric", "float", "integer", "categorical"; default the
            perturbation's `default_columns`. See the module docstring.
    """

    modality = Modality.TABULAR
    distance_unit: ClassVar[str] = "standardised L2 (column sd units)"
    default_columns: ClassVar[str] = "numeric"
    numeric_only: ClassVar[bool] = True  # never changes categorical columns

    def __init__(self, *, columns: str | Sequence[str] | None = None) -> None:
        self.columns = check_selector(self.name, columns)

    def check_batch(self, x: Batch) -> None:
        """Raise `DataError` unless `x` is a 2-D float array."""
        if not isinstance(x, np.ndarray) or x.ndim != 2 or x.dtype.kind != "f":
            shape = getattr(x, "shape", type(x).__name__)
            raise DataError(
                f"{self.name}: tabular batches are float arrays of shape (n, features); "
                f"got {shape} {getattr(x, 'dtype', '')}. Use x.astype(float)."
            )

    def table(self, x: npt.NDArray[Any], context: DataContext) -> Columns:
        """Names, kinds and selected columns of the batch."""
        width = x.shape[1]
        names = column_names(context, width, self.name)
        kinds = column_kinds(context, width, self.name)
        selected = select_columns(
            self.name,
            self.columns,
            names,
            kinds,
            default=self.default_columns,
            numeric_only=self.numeric_only,
        )
        return Columns(names, kinds, selected)

    def distance(
        self, original: Batch, perturbed: Batch, context: DataContext
    ) -> npt.NDArray[np.float64]:
        """Euclidean norm of the per-cell changes in column sd units (module docstring)."""
        return self.distances(original, perturbed, context)["distance"]

    def distances(
        self, original: Batch, perturbed: Batch, context: DataContext
    ) -> dict[str, npt.NDArray[np.float64]]:
        """Standardised L2 (`distance`) and the share of changed cells (`changed_cell_rate`)."""
        n, width = original.shape
        sd = column_sd(context, width, self.name)
        categorical = column_kinds(context, width, self.name) == "categorical"
        size, changed = cell_changes(original, perturbed, sd, categorical)
        rate = changed.mean(axis=1) if width else np.zeros(n)
        return {
            "distance": np.sqrt(np.sum(size * size, axis=1)),
            "changed_cell_rate": rate.astype(np.float64),
        }


class SdSizedPerturbation(TabularPerturbation):
    """A tabular perturbation sized in column standard deviations.

    Args:
        columns: see `TabularPerturbation`.
        sd_override: column name -> the size, in the column's own units, of one unit of the
            magnitude, replacing the dataset sd for those columns; {"temp_c": 1.0} makes the
            magnitude read in °C for that column. Distances still use the dataset sd.
    """

    def __init__(
        self,
        *,
        columns: str | Sequence[str] | None = None,
        sd_override: Mapping[str, float] | None = None,
    ) -> None:
        super().__init__(columns=columns)
        if sd_override is not None and not isinstance(sd_override, Mapping):
            raise ParameterError(
                f"{self.name}: sd_override must map column names to sizes in the column's "
                f"units, e.g. {{'temp_c': 0.5}}; got {sd_override!r}."
            )
        self.sd_override = dict(sd_override) if sd_override is not None else None
        for column, size in (self.sd_override or {}).items():
            check_number(
                self.name,
                f"sd_override[{column!r}]",
                size,
                unit="the column's units",
                low=0.0,
                high=math.inf,
            )

    def sizing_sd(
        self, x: npt.NDArray[Any], context: DataContext, columns: Columns
    ) -> npt.NDArray[np.float64]:
        """The per-column size of one magnitude unit: dataset sd, or `sd_override`.

        Raises:
            DataError: a selected column's sd is unknown (NaN) but the batch holds values.
            ParameterError: `sd_override` names a column the batch does not have.
        """
        sd = column_sd(context, x.shape[1], self.name).copy()
        for column, size in (self.sd_override or {}).items():
            if column not in columns.names:
                raise ParameterError(
                    f"{self.name}: sd_override names {column!r}, which is not a column; "
                    f"columns are {', '.join(repr(n) for n in columns.names[:20])}."
                )
            sd[columns.names.index(column)] = float(size)
        unknown = np.isnan(sd) & ~np.all(np.isnan(x), axis=0) & columns.numeric
        if unknown.any():
            raise DataError(
                f"{self.name}: the dataset sd of columns {np.flatnonzero(unknown).tolist()} is "
                "NaN but the batch holds values there; compute column_sd with np.nanstd."
            )
        return sd


def signed_validate(p: Perturbation, value: object) -> float:
    """Validate a magnitude that is as realistic below `off` as above it (mirrored range)."""
    m = p.magnitude
    ok = isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)
    if ok and float(value) < m.off:  # type: ignore[arg-type]
        mirrored = dataclasses.replace(m, mild=2 * m.off - m.mild, severe=2 * m.off - m.severe)
        return mirrored.validate(value, p.name)
    return m.validate(value, p.name)


def statistics_example() -> tuple[npt.NDArray[np.float64], DataContext]:
    """32 rows on four scales, with the sds and percentiles of the table itself.

    Enough rows that a perturbation hitting a fifth of them changes some for every seed.
    Integer arithmetic only (for platform-independent golden hashes): each column holds 32
    distinct whole numbers in 0..36, scaled and shifted.
    """
    i, j = np.meshgrid(np.arange(32), np.arange(4), indexing="ij")
    steps = ((i * (2 * j + 3) + j) % 37).astype(np.float64)
    x = (steps - 18.0) * np.array([1.0, 2.5, 100.0, 0.125]) + np.array([3.0, -5.0, 1000.0, 0.5])
    context = DataContext(
        Modality.TABULAR,
        column_sd=x.std(axis=0),
        feature_names=("a", "b", "c", "d"),
        column_quantiles=np.percentile(x, np.arange(PERCENTILES), axis=0),
    )
    return x, context


# ---------------------------------------------------------------------------------------------
# Perturbations


@register
class GaussianNoise(SdSizedPerturbation):
    """Measurement noise on every numeric column, sized in each column's standard deviations.

    Noise is given in sd units so that one number means the same for a column in millimetres
    and one in kilograms: 0.1 sd is a careful instrument, 0.5 sd a noisy one. `sd_override`
    sizes it in a column's own units instead.

    Why this range: no published source found measures measurement noise in column standard
    deviations, so this is a stress test (`stress`): usable in a plan that names it, never in a
    preset.
    """

    name = "tabular.gaussian_noise"
    family = "tabular.noise"
    phrase = Phrase(
        lambda v: f"measurement noise of {count(v, 'standard deviation')}",
        lambda v: "as from imprecise instruments" if v <= 0.5 else "",
    )
    monitor_estimate = "tabular_noise_sd"
    calibration = "tables.noise"
    stress = True
    version = 1
    stochastic = True
    magnitude = Magnitude(
        "noise_sd",
        unit="column standard deviations",
        off=0.0,
        mild=0.02,
        severe=0.5,
        limits=(0.0, 10.0),
    )

    def apply(self, x: Batch, value: float, rngs: Rngs, context: DataContext) -> Batch:
        """Add N(0, (value * column sd)^2) to every selected cell."""
        columns = self.table(x, context)
        sd = self.sizing_sd(x, context, columns)
        if len(x) == 0:
            return x.copy()
        # Every column draws, selected or not, so a column's noise does not depend on the
        # selection (common random numbers across column choices).
        noise = rngs.standard_normal((x.shape[1],))
        return columns.finish(x, x + noise * (value * sd))


@register
class SensorDrift(SdSizedPerturbation):
    """A sensor's calibration offset: every reading of a column shifted by the same amount.

    Drift is in the column's dataset sd so that one number is comparable across columns; 0.1 sd
    is a sensor slightly out of calibration, 1 sd one that is badly off (a thermometer off by
    2 °C on a column with sd 2 °C). Negative values read low; the declared range applies to
    the size either way. The same for every row, so it is not random: drift moves the column
    mean by exactly drift_sd * sd.

    Why this range: no published source found measures calibration offsets in column standard
    deviations, so this is a stress test (`stress`): usable in a plan that names it, never in a
    preset.
    """

    name = "tabular.sensor_drift"
    family = "tabular.noise"
    phrase = Phrase(lambda v: f"a calibration offset of {count(v, 'standard deviation')}")
    calibration = "tables.drift"
    stress = True
    version = 1
    stochastic = False
    magnitude = Magnitude(
        "drift_sd",
        unit="column standard deviations",
        off=0.0,
        mild=0.1,
        severe=1.0,
        limits=(-10.0, 10.0),
    )

    def validate(self, value: object) -> float:
        """Validate the offset; negative drift is as realistic as positive drift."""
        return signed_validate(self, value)

    def apply(self, x: Batch, value: float, rngs: Rngs, context: DataContext) -> Batch:
        """Add value * column sd to every selected cell."""
        columns = self.table(x, context)
        sd = self.sizing_sd(x, context, columns)
        return columns.finish(x, x + value * np.where(columns.numeric, sd, 0.0))


@register
class SensorGain(TabularPerturbation):
    """A sensor's gain error: every reading of a column scaled by the same factor.

    Gain is a percentage because sensor data sheets state it so: 1% is an ordinary tolerance,
    10% a badly calibrated or ageing sensor. Negative values read low. The reading is scaled
    about zero (x * (1 + gain_pct / 100)), as an amplifier or load cell errs, so the column
    mean scales by the same factor.

    Why this range: sensor data sheets print gain errors of this size. The Allegro MicroSystems
    ACS712 data sheet (a Hall-effect current sensor, 5 A version) gives a total output error of
    +-1.5% of the current at 25 C, around the mild end (1%), and warns that at -40 C the
    sensitivity (the gain) may shift as much as 9% beyond its limits of 178-193 mV/A, around
    the severe end (10%).
    """

    name = "tabular.sensor_gain"
    family = "tabular.noise"
    phrase = Phrase(lambda v: f"readings off by a gain error of {v:g}%")
    version = 1
    stochastic = False
    magnitude = Magnitude(
        "gain_pct",
        unit="% of the reading",
        off=0.0,
        mild=1.0,
        severe=10.0,
        limits=(-100.0, 100.0),
    )

    def validate(self, value: object) -> float:
        """Validate the gain; reading low is as realistic as reading high."""
        return signed_validate(self, value)

    def apply(self, x: Batch, value: float, rngs: Rngs, context: DataContext) -> Batch:
        """Multiply every selected cell by 1 + value / 100."""
        columns = self.table(x, context)
        return columns.finish(x, np.asarray(x, np.float64) * (1.0 + value / 100.0))


@register
class Quantisation(SdSizedPerturbation):
    """Readings rounded to an instrument's resolution (coarse ADC, rounded data entry).

    The resolution is in the column's dataset sd, so 0.05 sd is a fine instrument and 1 sd a
    value recorded in coarse bins (age in decades for a column with sd 12 years is 0.8 sd);
    `sd_override` gives it in the column's own units ({"temp_c": 1.0}: resolution_sd=0.5 rounds
    to 0.5 °C). Values are rounded to the nearest multiple of the resolution, so the error is
    at most half a step.

    Why this range: no published source found measures recording resolutions in column standard
    deviations, so this is a stress test (`stress`): usable in a plan that names it, never in a
    preset.
    """

    name = "tabular.quantisation"
    phrase = Phrase(lambda v: f"readings rounded to steps of {count(v, 'standard deviation')}")
    stress = True
    version = 1
    stochastic = False
    magnitude = Magnitude(
        "resolution_sd",
        unit="column standard deviations",
        off=0.0,
        mild=0.05,
        severe=1.0,
        limits=(0.0, 10.0),
    )

    def apply(self, x: Batch, value: float, rngs: Rngs, context: DataContext) -> Batch:
        """Round every selected cell to the nearest multiple of value * column sd."""
        columns = self.table(x, context)
        step = value * self.sizing_sd(x, context, columns)
        safe = np.where(step > 0, step, 1.0)
        rounded = np.where(step > 0, np.round(x / safe) * safe, x)
        return columns.finish(x, rounded)


MECHANISMS = ("mcar", "mnar_high", "mnar_low")


@register
class MissingValues(TabularPerturbation):
    """Cells lost in collection (skipped fields, failed reads), set to NaN.

    The rate is the share of the selected cells that go missing; surveys and EHR extracts lose
    1-30% of a field. `mechanism` says which cells: "mcar" (missing completely at random) or
    values missing not at random, tied to the value: "mnar_high" loses large values more often
    (a sensor failing beyond its range, high incomes left blank), "mnar_low" small ones. MNAR
    keeps the same overall rate: a cell at rank u in its column's dataset distribution goes
    missing with probability u^k (or (1 - u)^k), k = (1 - rate) / rate, whose mean over
    uniform ranks is the rate. A higher rate keeps every cell a lower one removed (same seed).

    Why this range: the Pima Indians diabetes data (Smith et al. 1988, "Using the ADAP learning
    algorithm to forecast the onset of diabetes mellitus", Symposium on Computer Applications in
    Medical Care; 768 patients, in the UCI repository) records unmeasured values as impossible
    zeros in 0.65% (glucose), 1.4% (BMI), 4.6% (blood pressure), 29.6% (skin-fold thickness)
    and 48.7% (insulin) of the rows: one real table whose fields span the range, from about 1%
    (mild end 0.01) to about 30% (severe end 0.3).

    Args:
        columns: see `TabularPerturbation`; default every column, categorical ones included.
        mechanism: "mcar", "mnar_high" or "mnar_low" (these need `column_quantiles`).
    """

    name = "tabular.missing_values"
    family = "tabular.missing"
    phrase = Phrase(lambda v: f"{share(v)} of values missing")
    calibration = "tables.missing"
    version = 1
    stochastic = True
    creates_missing = True
    default_columns: ClassVar[str] = "all"
    numeric_only: ClassVar[bool] = False
    magnitude = Magnitude(
        "missing_rate",
        unit="fraction of cells",
        off=0.0,
        mild=0.01,
        severe=0.3,
        limits=(0.0, 1.0),
    )

    def __init__(
        self, *, columns: str | Sequence[str] | None = None, mechanism: str = "mcar"
    ) -> None:
        super().__init__(columns=columns)
        self.mechanism = check_choice(self.name, "mechanism", mechanism, MECHANISMS)

    def apply(self, x: Batch, value: float, rngs: Rngs, context: DataContext) -> Batch:
        """Set each selected cell to NaN with the mechanism's probability."""
        columns = self.table(x, context)
        chance = np.full(x.shape, value)
        if self.mechanism != "mcar":
            rank = quantile_rank(
                np.asarray(x, np.float64), column_quantiles(context, x.shape[1], self.name)
            )
            if self.mechanism == "mnar_low":
                rank = 1.0 - rank
            with np.errstate(invalid="ignore"):
                chance = rank ** ((1.0 - value) / value)
        lost = rngs.random((x.shape[1],)) < chance
        return columns.finish(x, np.where(lost, np.nan, x))


@register
class SentinelValues(TabularPerturbation):
    """Placeholder codes written where a value was unknown (0, -1, 9999, -999).

    Legacy systems and loggers fill a missing reading with a sentinel instead of leaving it
    blank; a model then reads the code as a value. The rate is the share of selected cells
    replaced; 1-20% is common in extracts with poorly documented codes.

    Why this range: the Pima Indians diabetes data (Smith et al. 1988, "Using the ADAP learning
    algorithm to forecast the onset of diabetes mellitus", Symposium on Computer Applications in
    Medical Care; 768 patients, in the UCI repository) writes 0 for unmeasured glucose, blood
    pressure, skin-fold thickness, BMI and insulin: a placeholder standing in for 0.65%, 4.6%,
    29.6%, 1.4% and 48.7% of those fields, so the range from 1% (mild) to 20% (severe) lies
    among the rates of one real, widely used table.

    Args:
        columns: see `TabularPerturbation`; default the numeric columns. Category-code
            columns may be named (a sentinel such as -1 is a common "unknown" code).
        sentinel: the placeholder, in the column's units; default 9999.
    """

    name = "tabular.sentinel_values"
    phrase = Phrase(lambda v: f"placeholder codes such as -1 or 9999 in {share(v)} of cells")
    version = 1
    stochastic = True
    numeric_only: ClassVar[bool] = False
    magnitude = Magnitude(
        "sentinel_rate",
        unit="fraction of cells",
        off=0.0,
        mild=0.01,
        severe=0.2,
        limits=(0.0, 1.0),
    )

    def __init__(
        self, *, columns: str | Sequence[str] | None = None, sentinel: float = 9999.0
    ) -> None:
        super().__init__(columns=columns)
        self.sentinel = check_number(
            self.name, "sentinel", sentinel, unit="the column's units", low=-math.inf, high=math.inf
        )

    def apply(self, x: Batch, value: float, rngs: Rngs, context: DataContext) -> Batch:
        """Replace each selected cell by the sentinel with probability `value`."""
        columns = self.table(x, context)
        hit = rngs.random((x.shape[1],)) < value
        return columns.finish(x, np.where(hit, self.sentinel, np.asarray(x, np.float64)))


SATURATION_SIDES = ("high", "low", "both")


@register
class Saturation(TabularPerturbation):
    """A sensor whose range ends inside the data: readings beyond it stick at the limit.

    The magnitude is the share of the column's dataset values beyond the sensor's range, so
    the sensor saturates at the column's (1 - rate) quantile ("high"), its rate quantile
    ("low"), or half the rate at each end ("both"). 1% clips rare extremes; 20% is a sensor
    chosen for the wrong range. Not random: the same readings saturate every time. Needs the
    dataset percentiles (`DataContext.column_quantiles`).

    Why this range: no published source found measures how much of a column lies beyond its
    sensor's range in real data, so this is a stress test (`stress`): usable in a plan that
    names it, never in a preset.

    Args:
        columns: see `TabularPerturbation`; default the numeric columns.
        side: "high", "low" or "both".
    """

    name = "tabular.saturation"
    phrase = Phrase(lambda v: f"a sensor whose range cuts off {share(v)} of the values")
    stress = True
    version = 1
    stochastic = False
    magnitude = Magnitude(
        "saturated_rate",
        unit="fraction of the column's values",
        off=0.0,
        mild=0.01,
        severe=0.2,
        limits=(0.0, 1.0),
    )

    def __init__(self, *, columns: str | Sequence[str] | None = None, side: str = "high") -> None:
        super().__init__(columns=columns)
        self.side = check_choice(self.name, "side", side, SATURATION_SIDES)

    @classmethod
    def example_batch(cls) -> tuple[Batch, DataContext]:
        """A table with the dataset percentiles saturation needs."""
        return statistics_example()

    def apply(self, x: Batch, value: float, rngs: Rngs, context: DataContext) -> Batch:
        """Clip every selected column at the quantiles where the sensor saturates."""
        columns = self.table(x, context)
        quantiles = column_quantiles(context, x.shape[1], self.name)
        tail = value / 2 if self.side == "both" else value
        out = np.asarray(x, np.float64)
        if self.side in ("high", "both"):
            out = np.fmin(out, quantile_at(quantiles, 1.0 - tail))
        if self.side in ("low", "both"):
            out = np.fmax(out, quantile_at(quantiles, tail))
        out = np.where(np.isnan(x), x, out)  # fmin/fmax would fill a missing cell
        return columns.finish(x, out)


CONVERSIONS: dict[str, tuple[float, float]] = {
    # name: (factor, offset); the recorded number is factor * true number + offset.
    "c_to_f": (9 / 5, 32.0),
    "f_to_c": (5 / 9, -160 / 9),
    "c_to_k": (1.0, 273.15),
    "k_to_c": (1.0, -273.15),
    "mm_to_cm": (0.1, 0.0),
    "cm_to_mm": (10.0, 0.0),
    "cm_to_m": (0.01, 0.0),
    "m_to_cm": (100.0, 0.0),
    "cm_to_in": (1 / 2.54, 0.0),
    "in_to_cm": (2.54, 0.0),
    "m_to_ft": (1 / 0.3048, 0.0),
    "ft_to_m": (0.3048, 0.0),
    "kg_to_lb": (1 / 0.45359237, 0.0),
    "lb_to_kg": (0.45359237, 0.0),
    "g_to_kg": (0.001, 0.0),
    "kg_to_g": (1000.0, 0.0),
    "mmol_l_to_mg_dl": (18.0, 0.0),  # glucose
    "mg_dl_to_mmol_l": (1 / 18.0, 0.0),
}


@register
class UnitConfusion(TabularPerturbation):
    """Some records written in the wrong unit (°F for °C, cm for mm): realistic, not small.

    The magnitude is the share of rows whose selected values are in the wrong unit, as when
    one site or device of several records in other units; 1-20% is realistic. Each affected
    value is off by the whole conversion (x10 for mm -> cm), far outside the noise the other
    perturbations model, so read its curve as "how many such records can the model absorb".
    The conversion is named (`conversion`, default "cm_to_mm": the number becomes ten times
    larger) or given as `factor` and `offset` (recorded = factor * value + offset).

    Why this range: by construction each site or device records in one unit, so the confused
    share is the share of rows coming from a source with the other unit, and a pooled data set
    can hold any share: 1% (mild) to 20% (severe) is a minority source.

    Args:
        columns: see `TabularPerturbation`; default the numeric columns, but name the
            column(s) that carry the unit.
        conversion: one of `CONVERSIONS` ("c_to_f": 20 becomes 68); default "cm_to_mm".
        factor: recorded number per true number, for a conversion not in the list.
        offset: added after the factor (°C -> °F: factor 1.8, offset 32).
    """

    name = "tabular.unit_confusion"
    phrase = Phrase(lambda v: f"{share(v)} of records written in the wrong unit")
    version = 1
    stochastic = True
    magnitude = Magnitude(
        "confused_rate",
        unit="fraction of rows",
        off=0.0,
        mild=0.01,
        severe=0.2,
        limits=(0.0, 1.0),
    )

    @classmethod
    def example_batch(cls) -> tuple[Batch, DataContext]:
        """A table with enough rows that a fifth of them always holds a confused one."""
        return statistics_example()

    def __init__(
        self,
        *,
        columns: str | Sequence[str] | None = None,
        conversion: str | None = None,
        factor: float | None = None,
        offset: float = 0.0,
    ) -> None:
        super().__init__(columns=columns)
        custom = factor is not None or offset != 0.0
        if conversion is not None and custom:
            raise ParameterError(
                f"{self.name}: give either conversion ({conversion!r}) or factor/offset, not both."
            )
        if custom:
            self.factor = check_number(
                self.name,
                "factor",
                1.0 if factor is None else factor,
                unit="recorded per true unit",
                low=-math.inf,
                high=math.inf,
            )
            self.offset = check_number(
                self.name, "offset", offset, unit="the column's units", low=-math.inf, high=math.inf
            )
            if self.factor == 1.0 and self.offset == 0.0:
                raise ParameterError(f"{self.name}: factor 1 and offset 0 change nothing.")
        else:
            named = check_choice(
                self.name, "conversion", conversion or "cm_to_mm", sorted(CONVERSIONS)
            )
            self.factor, self.offset = CONVERSIONS[named]
        self.conversion = conversion

    def apply(self, x: Batch, value: float, rngs: Rngs, context: DataContext) -> Batch:
        """Convert the selected cells of each affected row."""
        columns = self.table(x, context)
        affected = rngs.random((1,)) < value
        x64 = np.asarray(x, np.float64)
        return columns.finish(x, np.where(affected, x64 * self.factor + self.offset, x64))


TEXT_VARIANTS = ("typo", "case", "whitespace")


def case_variant(text: str, pick: float) -> str:
    """Another capitalisation of `text` (upper, lower, capitalised), chosen by `pick` in [0, 1)."""
    options = [
        v for v in dict.fromkeys((text.upper(), text.lower(), text.capitalize())) if v != text
    ]
    return options[int(pick * len(options))] if options else text


def whitespace_variant(text: str, pick: float) -> str:
    """`text` with a stray leading or trailing space or a doubled inner space."""
    if pick < 1 / 3:
        return " " + text
    if pick < 2 / 3 or " " not in text:
        return text + " "
    return text.replace(" ", "  ", 1)


@register
class CategoryTypos(TabularPerturbation):
    """Category labels typed inconsistently: typos, case variants ("Male", "male", "MALE").

    The rate is the share of categorical cells entered differently from the vocabulary; free
    text entry has 1-5%, merged sources with different conventions 20% or more. On object
    arrays, str cells get one keyboard typo (one edit, as `text.typos`), another
    capitalisation or a stray space, chosen uniformly from `variants`. On numeric tables the
    columns hold category codes, and an encoder fitted on the clean vocabulary maps any such
    variant to its unknown category: the code becomes `unknown_code` (default -1, the
    `unknown_value` of scikit-learn's OrdinalEncoder), whatever `variants` says. A table
    read from a DataFrame, CSV or Parquet file holds its text columns as codes too: the
    model then gets the code as text ("-1"), a value outside the vocabulary, not the typed
    variant (see `wince.datasets.TableSchema`).

    Why this range: no published source found measures how often categorical entries deviate
    from their vocabulary, so this is a stress test (`stress`): usable in a plan that names it,
    never in a preset.

    Args:
        columns: see `TabularPerturbation`; default the categorical columns (and the str
            cells of object arrays).
        variants: any of "typo" (one keyboard typo), "case" (upper, lower or capitalised),
            "whitespace" (a stray space); chosen uniformly per changed cell.
        unknown_code: the code of an unknown category on numeric tables; nan reads unknown
            categories as missing.
        layout: keyboard layout for typos, "qwerty", "azerty" or "phone"; neighbouring keys
            by key geometry (see `text.typos`).
    """

    name = "tabular.category_typos"
    phrase = Phrase(
        lambda v: f"category labels typed inconsistently in {share(v)} of categorical cells"
    )
    stress = True
    version = 2
    stochastic = True
    creates_missing = True  # with unknown_code=nan
    default_columns: ClassVar[str] = "all"
    numeric_only: ClassVar[bool] = False
    magnitude = Magnitude(
        "typo_rate",
        unit="fraction of categorical cells",
        off=0.0,
        mild=0.01,
        severe=0.2,
        limits=(0.0, 1.0),
    )

    def __init__(
        self,
        *,
        columns: str | Sequence[str] | None = None,
        variants: Sequence[str] = ("typo", "case"),
        unknown_code: float = -1.0,
        layout: str = "qwerty",
    ) -> None:
        super().__init__(columns=columns)
        if (
            isinstance(variants, str)
            or not variants
            or any(v not in TEXT_VARIANTS for v in variants)
        ):
            raise ParameterError(
                f"{self.name}: variants must be a non-empty list drawn from "
                f"{list(TEXT_VARIANTS)}; got {variants!r}."
            )
        self.variants = tuple(dict.fromkeys(variants))
        nan = isinstance(unknown_code, float) and math.isnan(unknown_code)
        self.unknown_code = (
            math.nan
            if nan
            else check_number(
                self.name, "unknown_code", unknown_code, unit="code", low=-math.inf, high=math.inf
            )
        )
        self.layout = check_choice(self.name, "layout", layout, sorted(LAYOUTS))

    @classmethod
    def example_batch(cls) -> tuple[Batch, DataContext]:
        """32 rows with two category-code columns declared in the schema."""
        x, context = statistics_example()
        codes = np.arange(len(x), dtype=np.float64)
        x = np.column_stack([x[:, :2], codes % 3, (codes * 5) % 4])
        kinds = ("float", "integer", "categorical", "categorical")
        return x, dataclasses.replace(
            context, column_sd=x.std(axis=0), column_kinds=kinds, column_quantiles=None
        )

    def check_batch(self, x: Batch) -> None:
        """Raise `DataError` unless `x` is a 2-D float array or an object array."""
        if isinstance(x, np.ndarray) and x.ndim == 2 and x.dtype == object:
            return
        super().check_batch(x)

    def table(self, x: npt.NDArray[Any], context: DataContext) -> Columns:
        """The selected columns; on float tables only categorical columns may be selected."""
        columns = super().table(x, context)
        if x.dtype == object:
            return columns
        picked = columns.selected & (columns.kinds == "categorical")
        if self.columns is not None and (columns.selected & ~picked).any():
            named = columns.names[int(np.flatnonzero(columns.selected & ~picked)[0])]
            raise ParameterError(
                f"{self.name}: column {named!r} holds numbers, not category codes; declare "
                "categorical columns in column_kinds (ArrayDataset(column_kinds=...))."
            )
        if len(columns.names) and not picked.any():
            raise DataError(
                f"{self.name}: the table has no categorical column; declare the columns that "
                "hold category codes with ArrayDataset(column_kinds=...) or "
                "DataContext(column_kinds=...)."
            )
        return dataclasses.replace(columns, selected=picked)

    def apply(self, x: Batch, value: float, rngs: Rngs, context: DataContext) -> Batch:
        """Give each selected categorical cell a variant with probability `value`."""
        columns = self.table(x, context)
        n, width = x.shape
        if n == 0:
            return x.copy()
        # Per cell: hit, variant, typo kind, typo position, neighbour key / variant pick.
        draws = rngs.random((5, width))
        hit = (draws[:, 0] < value) & columns.selected
        if x.dtype != object:
            return np.where(hit, self.unknown_code, x).astype(x.dtype, copy=False)
        out = x.copy()
        for i, j in zip(*np.nonzero(hit), strict=True):
            cell = x[i, j]
            if not isinstance(cell, str):
                continue
            variant = self.variants[int(draws[i, 1, j] * len(self.variants))]
            pick = draws[i, 4, j]
            if variant == "case":
                out[i, j] = case_variant(cell, pick)
            elif variant == "whitespace":
                out[i, j] = whitespace_variant(cell, pick)
            else:
                out[i, j] = self.typo(cell, draws[i, 2, j], draws[i, 3, j], pick)
        return out

    def typo(self, text: str, kind_pick: float, position: float, key_pick: float) -> str:
        """One keyboard typo at a letter or digit of `text` (unchanged if it has none)."""
        letters = [k for k, c in enumerate(text) if c.isalnum()]
        if not letters:
            return text
        at = letters[int(position * len(letters))]
        kind = int(kind_pick * len(TYPO_KINDS))
        return inject_typos(text, [at], [kind], [key_pick], LAYOUTS[self.layout])
