"""The contract every perturbation keeps, as checks a user can run on their own.

Each check is a function `(perturbation, examples, seed)` raising `AssertionError` saying what
differed; `CHECKS` names them. They never branch on a perturbation's name: a known exception
is declared by whoever runs the checks (`skip=` or `known_failures=`).
"""

from __future__ import annotations

import functools
import itertools
import math
import re
import warnings
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage

from wince import errors
from wince.errors import ParameterError, RealismWarning
from wince.perturbations import DataContext, Modality, Perturbation, RaggedBatch, Rngs, registry
from wince.testing.examples import Example, checked_examples, examples_for

SEVERITIES_ON = (0.6, 1.0)
"""Severities at which a perturbation clearly acts (determinism and invariance checks)."""

SWEEP = (0.0, 0.25, 0.5, 0.75, 1.0)
"""Severities of the monotone-effect check."""


def _expect(condition: bool, message: str) -> None:
    """Raise `AssertionError(message)` unless `condition` (kept under `python -O`)."""
    if not condition:
        raise AssertionError(message)


# ---------------------------------------------------------------------------------------------
# Helpers that treat arrays and lists of str alike.


def make_rngs(cls: type[Perturbation], n: int, seed: int) -> Rngs:
    """Fresh generators (an `Rngs` is consumed by use) for samples 0..n-1, as the runner makes."""
    return Rngs.for_samples([f"sample-{i}" for i in range(n)], seed=seed, step=f"{cls.name}#0")


def _take(x: Any, indices: Any) -> Any:
    if isinstance(x, list):
        return [x[int(i)] for i in indices]
    return x[np.asarray(indices, dtype=np.intp)]


def _concat(parts: list[Any]) -> Any:
    if isinstance(parts[0], list):
        return [s for part in parts for s in part]
    return np.concatenate(parts)


def _copy_of(x: Any) -> Any:
    return list(x) if isinstance(x, list) else x.copy()


def same(a: Any, b: Any) -> bool:
    """Equal bit for bit: same container, dtype, shape and bytes (NaN equals NaN)."""
    if isinstance(a, list) or isinstance(b, list):
        return isinstance(a, list) and isinstance(b, list) and a == b
    return (
        isinstance(a, np.ndarray)
        and isinstance(b, np.ndarray)
        and a.dtype == b.dtype
        and a.shape == b.shape
        and np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes()
    )


def _check_range(cls: type[Perturbation], x: Any, out: Any, where: str) -> None:
    """Values stay in the modality's range; NaN appears only where the class declares it may."""
    modality = cls.modality
    if modality == Modality.IMAGE and out.dtype == np.float32:
        _expect(bool(np.isfinite(out).all()), f"{where}: a float image has NaN or infinity")
        _expect(out.min() >= 0.0, f"{where}: a float image goes below 0 ({out.min()})")
        _expect(out.max() <= 1.0, f"{where}: a float image goes above 1 ({out.max()})")
    elif modality in (Modality.TABULAR, Modality.TIMESERIES):
        _expect(not np.isinf(out[~np.isinf(x)]).any(), f"{where}: no infinities may appear")
        if not cls.creates_missing:
            _expect(
                np.array_equal(np.isnan(out), np.isnan(x)),
                f"{where}: finite cells must stay finite (or declare creates_missing)",
            )
    elif modality == Modality.TEXT:
        _expect(all(isinstance(s, str) for s in out), f"{where}: every output must be a str")
    elif modality == Modality.AUDIO:
        _expect(bool(np.isfinite(out).all()), f"{where}: audio has NaN or infinity")
        peak = np.abs(out).max(initial=0.0)
        _expect(peak <= 1.0, f"{where}: audio stays in [-1, 1], as an ADC clips; got {peak}")


# ---------------------------------------------------------------------------------------------
# 0. Metadata: the class constants are consistent with each other.


def check_metadata(p: Perturbation, examples: list[Example], seed: int) -> None:
    """The class constants (name, version, magnitude, docstring) agree with each other."""
    cls, m = type(p), type(p).magnitude
    _expect(
        re.fullmatch(r"[a-z]+\.[a-z][a-z0-9_]*", cls.name) is not None,
        f"name {cls.name!r} must be <modality>.<snake_case>",
    )
    _expect(
        cls.name.split(".")[0] == str(cls.modality),
        f"name {cls.name!r} must start with its modality {cls.modality!s}",
    )
    _expect(isinstance(cls.version, int), f"version must be an int; got {cls.version!r}")
    _expect(cls.version >= 1, f"version must be at least 1; got {cls.version}")
    _expect(isinstance(cls.stochastic, bool), f"stochastic must be a bool; got {cls.stochastic!r}")
    _expect(
        bool((cls.__doc__ or "").strip()), "the docstring's first line says the real-world effect"
    )
    low, high = m.limits
    _expect(low <= high, f"limits {m.limits} must be (low, high)")
    _expect(
        all(low <= v <= high for v in (m.off, m.mild, m.severe)),
        f"off {m.off}, mild {m.mild} and severe {m.severe} must lie within limits {m.limits}",
    )
    realistic_low, realistic_high = m.realistic
    _expect(
        not realistic_low < m.off < realistic_high,
        f"off {m.off} must lie outside the realistic range {m.realistic}",
    )
    _expect(m.off != m.severe, f"off and severe must differ; both are {m.off}")
    _expect(p.at_severity(0.0) == m.off, f"severity 0 gives {p.at_severity(0.0)}, not off")
    _expect(p.at_severity(1.0) == m.severe, f"severity 1 gives {p.at_severity(1.0)}, not severe")
    first = cls.describe()["params"][0]["name"]
    _expect(first == m.name, f"describe()'s first parameter is {first!r}, not {m.name!r}")


# ---------------------------------------------------------------------------------------------
# 1. Determinism.


def check_determinism(p: Perturbation, examples: list[Example], seed: int) -> None:
    """The same seed gives the same output, bit for bit."""
    cls = type(p)
    for ex in examples:
        for severity in SEVERITIES_ON:
            value = p.at_severity(severity)
            first = p.perturb(ex.x, value, make_rngs(cls, len(ex.x), seed), ex.context)
            again = p.perturb(ex.x, value, make_rngs(cls, len(ex.x), seed), ex.context)
            _expect(
                same(first, again),
                f"{ex.label}, severity {severity}: two runs with the same seed differ "
                "(draw only from the given rngs, never from global random state)",
            )


def check_seed_effect(p: Perturbation, examples: list[Example], seed: int) -> None:
    """Other seeds change the output exactly when the class declares itself stochastic."""
    cls = type(p)
    value = p.at_severity(1.0)
    for ex in examples:
        base = p.perturb(ex.x, value, make_rngs(cls, len(ex.x), seed), ex.context)
        for other in (seed + 1, seed + 2, seed + 1000):
            out = p.perturb(ex.x, value, make_rngs(cls, len(ex.x), other), ex.context)
            if cls.stochastic:
                _expect(not same(out, base), f"{ex.label}: seed {other} repeats seed {seed}")
            else:
                _expect(same(out, base), f"{ex.label}: declared not stochastic, seed matters")


# ---------------------------------------------------------------------------------------------
# 2. Batch invariance.


def check_batch_invariance(p: Perturbation, examples: list[Example], seed: int) -> None:
    """The two halves of a batch, perturbed apart, give the output of the whole batch."""
    cls = type(p)
    for ex in examples:
        n = len(ex.x)
        for severity in SEVERITIES_ON:
            value = p.at_severity(severity)
            whole = p.perturb(ex.x, value, make_rngs(cls, n, seed), ex.context)
            for k in (1, n // 2):
                rngs = make_rngs(cls, n, seed)
                head = p.perturb(ex.x[:k], value, rngs[:k], ex.context)
                tail = p.perturb(ex.x[k:], value, rngs[k:], ex.context)
                _expect(same(_concat([head, tail]), whole), f"{ex.label}, split at {k}")


def check_order_invariance(p: Perturbation, examples: list[Example], seed: int) -> None:
    """Permuting the samples (with their rngs) permutes the outputs."""
    cls = type(p)
    for ex in examples:
        n = len(ex.x)
        order = np.random.default_rng(seed).permutation(n)
        if np.array_equal(order, np.arange(n)):
            order = order[::-1].copy()
        for severity in SEVERITIES_ON:
            value = p.at_severity(severity)
            whole = p.perturb(ex.x, value, make_rngs(cls, n, seed), ex.context)
            rngs = make_rngs(cls, n, seed).take(order)
            permuted = p.perturb(_take(ex.x, order), value, rngs, ex.context)
            _expect(same(permuted, _take(whole, order)), f"{ex.label}, order {order.tolist()}")


# ---------------------------------------------------------------------------------------------
# 3. Shape, dtype, range; input untouched.


def check_shape_dtype_range(p: Perturbation, examples: list[Example], seed: int) -> None:
    """The output keeps the input's type, length, dtype, shape and range; the input is untouched."""
    cls = type(p)
    for ex in examples:
        for severity in (0.0, 0.25, *SEVERITIES_ON):
            before = _copy_of(ex.x)
            out = p.perturb(
                ex.x, p.at_severity(severity), make_rngs(cls, len(ex.x), seed), ex.context
            )
            where = f"{ex.label}, severity {severity}"
            _expect(same(ex.x, before), f"{where}: input mutated")
            _expect(out is not ex.x, f"{where}: returned the input object")
            _expect(
                type(out) is type(ex.x),
                f"{where}: returned a {type(out).__name__} for a {type(ex.x).__name__}",
            )
            _expect(len(out) == len(ex.x), f"{where}: {len(out)} outputs for {len(ex.x)} inputs")
            if isinstance(out, np.ndarray):
                _expect(not np.shares_memory(out, ex.x), f"{where}: output is a view of the input")
                _expect(out.dtype == ex.x.dtype, f"{where}: dtype {out.dtype}, not {ex.x.dtype}")
                if cls.preserves_shape:
                    _expect(
                        out.shape == ex.x.shape,
                        f"{where}: shape {out.shape}, not {ex.x.shape} (preserves_shape)",
                    )
            _check_range(cls, ex.x, out, where)


# ---------------------------------------------------------------------------------------------
# 4. Identity at severity 0.


def check_identity(p: Perturbation, examples: list[Example], seed: int) -> None:
    """Severity 0 returns a copy of the input, equal bit for bit, at distance 0."""
    cls = type(p)
    for ex in examples:
        out = p.perturb(ex.x, p.at_severity(0), make_rngs(cls, len(ex.x), seed), ex.context)
        _expect(same(out, ex.x), f"{ex.label}: the output at severity 0 differs from the input")
        _expect(out is not ex.x, f"{ex.label}: returned the input object, not a copy")
        distance = p.distance(ex.x, out, ex.context)
        _expect(bool(np.all(distance == 0)), f"{ex.label}: distances {distance} at severity 0")


# ---------------------------------------------------------------------------------------------
# 5. Monotone effect; distances.


def check_monotone(p: Perturbation, examples: list[Example], seed: int) -> None:
    """The mean distance (over three seeds) never falls as severity grows, and grows overall."""
    cls = type(p)
    for ex in examples:
        means = []
        for severity in SWEEP:
            per_seed = []
            for s in (seed, seed + 1, seed + 2):
                out = p.perturb(
                    ex.x, p.at_severity(severity), make_rngs(cls, len(ex.x), s), ex.context
                )
                d = np.asarray(p.distance(ex.x, out, ex.context), dtype=np.float64)
                where = f"{ex.label}, severity {severity}, seed {s}"
                _expect(d.shape == (len(ex.x),), f"{where}: distance shape {d.shape}")
                _expect(bool(np.all(np.isfinite(d))), f"{where}: a distance is not finite")
                _expect(bool(np.all(d >= 0)), f"{where}: a distance is negative: {d}")
                per_seed.append(d.mean())
            means.append(float(np.mean(per_seed)))
        curve = dict(zip(SWEEP, means, strict=True))
        _expect(
            all(b >= a - 1e-9 for a, b in itertools.pairwise(means)),
            f"{ex.label}: mean distance by severity falls: {curve}",
        )
        _expect(means[-1] > means[0], f"{ex.label}: no effect at severity 1: {curve}")


def check_distances(p: Perturbation, examples: list[Example], seed: int) -> None:
    """Distances to a shared clean measure equal the pairwise distances.

    The engine measures a batch's trials against one `measure_clean(original)`, made by the
    first perturbation of the run with the same `measure_clean` (perturbations share it):
    here the first built-in one (or the class itself).
    """
    cls = type(p)
    measurer = next(
        (
            c
            for c in registry().values()
            if c.__module__.startswith("wince.") and c.measure_clean is cls.measure_clean
        ),
        cls,
    )
    for ex in examples:
        clean = measurer().measure_clean(ex.x, ex.context)
        for severity in (0.4, 1.0, 0.4):
            out = p.perturb(
                ex.x, p.at_severity(severity), make_rngs(cls, len(ex.x), seed), ex.context
            )
            expected = p.distances(ex.x, out, ex.context)
            got = p.distances_to(clean, out, ex.context)
            _expect(
                got.keys() == expected.keys(),
                f"{ex.label}: distances_to gives {sorted(got)}, distances {sorted(expected)}",
            )
            np.testing.assert_array_equal(
                got["distance"], p.distance(ex.x, out, ex.context), err_msg=ex.label
            )
            for name, values in expected.items():
                np.testing.assert_array_equal(got[name], values, err_msg=f"{ex.label}: {name}")


# ---------------------------------------------------------------------------------------------
# 6. Validation and realism.


def invalid_values(cls: type[Perturbation]) -> list[object]:
    """Values that must raise: generated from the declared limits, plus wrong types."""
    m = cls.magnitude
    low, high = m.limits
    values: list[object] = [math.nan, "loud", None, True, [m.mild]]
    if math.isfinite(low):
        values += [low - max(1.0, abs(low)), -math.inf]
    if math.isfinite(high):
        values += [high + max(1.0, abs(high)), math.inf]
    if m.integer:
        values.append(70.5 if low < 70.5 < high else math.floor((low + high) / 2) + 0.5)
    return values


def check_validation(p: Perturbation, examples: list[Example], seed: int) -> None:
    """Invalid values and severities raise a `ParameterError` naming parameter and unit."""
    cls, m, ex = type(p), type(p).magnitude, examples[0]
    for value in invalid_values(cls):
        try:
            p.perturb(ex.x, value, make_rngs(cls, len(ex.x), 0), ex.context)  # type: ignore[arg-type]
        except ParameterError as error:
            message = str(error)
        else:
            raise AssertionError(f"the value {value!r} was accepted; expected a ParameterError")
        for part in (cls.name, m.name, m.unit, repr(value)):
            _expect(part in message, f"{value!r}: {part!r} missing from {message!r}")
    past_the_limit = m.max_severity * 1.01 + 0.01 if math.isfinite(m.max_severity) else math.inf
    for severity in (-0.1, past_the_limit, math.nan, "high", None):
        try:
            p.at_severity(severity)  # type: ignore[arg-type]
        except ParameterError as error:
            _expect(
                re.search("severity", str(error)) is not None,
                f"severity {severity!r}: 'severity' missing from {str(error)!r}",
            )
        else:
            raise AssertionError(f"severity {severity!r} was accepted; expected a ParameterError")


def check_severity_beyond_one(p: Perturbation, examples: list[Example], seed: int) -> None:
    """Severities beyond 1 continue the mapping of [0, 1] up to the hard limit."""
    m = type(p).magnitude
    top = min(m.max_severity, 4.0)
    _expect(top >= 1.0, f"severe {m.severe} must lie within the hard limits {m.limits}")
    severities = np.linspace(1.0, top, 9)
    values = [m.value_at(float(s)) for s in severities]
    low, high = m.limits
    _expect(all(low <= v <= high for v in values), f"values {values} leave the limits {m.limits}")
    # the same mapping as inside [0, 1]: severity_of inverts it (up to whole-number rounding)
    slack = 0.5 if m.integer else 1e-9 * max(1.0, abs(m.severe))
    for s, v in zip(severities, values, strict=True):
        if m.scale == "linear":
            exact = m.off + (m.severe - m.off) * s
        else:
            exact = m.off * (m.severe / m.off) ** s
        expected = min(max(exact, low), high)
        _expect(abs(v - expected) <= slack, f"severity {s}: value {v}, expected {expected}")
    if math.isfinite(m.max_severity):  # the end of the extension is the hard limit itself
        limit = high if m.severe > m.off else low
        end = m.value_at(m.max_severity)
        _expect(
            end == limit or abs(end - limit) <= slack,
            f"the highest severity {m.max_severity} gives {end}, not the limit {limit}",
        )


def check_numpy_scalars(p: Perturbation, examples: list[Example], seed: int) -> None:
    """NumPy scalars inside the limits are accepted as plain numbers."""
    m = type(p).magnitude
    severe = p.validate(np.float64(m.severe))
    _expect(severe == m.severe, f"np.float64(severe) validates to {severe!r}, not {m.severe!r}")
    off = p.validate(np.float32(m.off))
    _expect(off == m.off, f"np.float32(off) validates to {off!r}, not {m.off!r}")


def unrealistic_values(cls: type[Perturbation]) -> list[float]:
    """Unusual values inside the limits, beyond the realistic range and not milder than it.

    Values between `off` and `severe` are plausible and do not warn. Unusual so that no other
    check warns for them first: RealismWarning fires once per message.
    """
    m = cls.magnitude
    low, high = m.limits
    realistic_low, realistic_high = m.realistic
    found = []
    for edge, bound in ((realistic_low, low), (realistic_high, high)):
        gap = bound - edge
        value = edge + 0.3719 * gap if math.isfinite(gap) else edge + math.copysign(1.2345, gap)
        if m.integer:
            value = float(round(value))
        milder = min(m.off, m.severe) <= value <= max(m.off, m.severe)
        if gap != 0 and not milder and not realistic_low <= value <= realistic_high:
            found.append(value)
    return found


def check_realism(p: Perturbation, examples: list[Example], seed: int) -> None:
    """A value beyond the realistic range warns once per message, naming parameter and unit."""
    cls, m, ex = type(p), type(p).magnitude, examples[0]
    errors._already_warned.clear()  # another check may have used the same value first
    for value in unrealistic_values(cls):
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            p.perturb(ex.x, value, make_rngs(cls, len(ex.x), 0), ex.context)
        _expect(
            len(record) == 1 and issubclass(record[0].category, RealismWarning),
            f"{value!r}: expected one RealismWarning; got {[str(w.message) for w in record]}",
        )
        message = str(record[0].message)
        for part in (cls.name, m.name, m.unit, "realistic range"):
            _expect(part in message, f"{part!r} missing from {message!r}")
        with warnings.catch_warnings(record=True) as again:
            warnings.simplefilter("always")
            p.perturb(ex.x, value, make_rngs(cls, len(ex.x), 0), ex.context)
        repeated = [str(w.message) for w in again if issubclass(w.category, RealismWarning)]
        _expect(not repeated, f"{value!r}: the RealismWarning came again: {repeated}")


def check_realistic_silent(p: Perturbation, examples: list[Example], seed: int) -> None:
    """Off, the realistic range and values between them validate without a warning."""
    m = type(p).magnitude
    milder = (m.off + m.mild) / 2  # between off and the realistic range: plausible
    for value in (m.off, m.mild, m.severe, milder):
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            p.validate(value)
        _expect(not record, f"{value!r} warns: {[str(w.message) for w in record]}")


# ---------------------------------------------------------------------------------------------
# Empty batches (a filtered dataset can produce one).


def check_empty_batch(p: Perturbation, examples: list[Example], seed: int) -> None:
    """An empty batch gives an empty batch of the same type, dtype and shape."""
    cls = type(p)
    for ex in examples:
        empty = ex.x[:0]
        out = p.perturb(empty, p.at_severity(1.0), make_rngs(cls, 0, 0), ex.context)
        _expect(type(out) is type(empty), f"{ex.label}: returned a {type(out).__name__}")
        _expect(len(out) == 0, f"{ex.label}: {len(out)} outputs for an empty batch")
        if isinstance(out, np.ndarray):
            _expect(out.dtype == empty.dtype, f"{ex.label}: dtype {out.dtype}, not {empty.dtype}")
            _expect(out.shape == empty.shape, f"{ex.label}: shape {out.shape}, not {empty.shape}")


# ---------------------------------------------------------------------------------------------
# Variable sizes: images of several sizes and clips of several lengths (a RaggedBatch) give,
# sample by sample, the output each sample has alone.


def ragged(x: np.ndarray) -> RaggedBatch:
    """The example's samples cut to three sizes: full, and smaller by 1/8 or 1/4 per axis."""
    samples = []
    for i, sample in enumerate(x):
        cut = i % 3
        slices = tuple(
            slice(0, size - cut * (size // 8))
            if axis < sample.ndim - (x.ndim == 4)
            else slice(None)
            for axis, size in enumerate(sample.shape)
        )
        samples.append(np.ascontiguousarray(sample[slices]))
    return RaggedBatch(samples)


def check_variable_size(p: Perturbation, examples: list[Example], seed: int) -> None:
    """A batch of several sizes gives each sample the output it has alone."""
    cls = type(p)
    for ex in examples:
        x = ragged(ex.x)
        _expect(len(set(x.shapes)) == 3, f"{ex.label}: the ragged batch needs three sizes")
        value = p.at_severity(1.0)
        rngs = make_rngs(cls, len(x), seed)
        together = p.perturb(x, value, rngs, ex.context)
        _expect(
            isinstance(together, RaggedBatch),
            f"{ex.label}: returned a {type(together).__name__} for a RaggedBatch",
        )
        for i, sample in enumerate(x):
            alone = p.perturb(sample[None], value, rngs.take([i]), ex.context)[0]
            where = f"{ex.label}, sample {i} of shape {sample.shape}"
            _expect(same(together[i], alone), f"{where}: differs from its output alone")
            if cls.preserves_shape:
                _expect(
                    together[i].shape == sample.shape,
                    f"{where}: shape {together[i].shape} (preserves_shape)",
                )


# ---------------------------------------------------------------------------------------------
# Moving pixels: declared exactly when a bright square moves.

# A small bright square off the centre of a dark 128-px image (within ImageNet-C's sizes). A
# bright pixel far away, in both images, keeps the image maximum (and what depends on it, such
# as fog's contrast) the same with and without the square.
SQUARE_SIDE_PX = 128
SQUARE = (slice(20, 23), slice(24, 27))
SQUARE_SEVERITIES = (1.0, 0.4)  # ImageNet-C's elastic transform warps globally at level 2


def square_shift_px(p: Perturbation, severity: float, seed: int) -> float:
    """How far the square's centre of mass moves, in pixels.

    The square is located in the difference between the perturbed image with and without it
    (the same draws): its brightest 3x3 spot, then the centre of mass of what stands out
    within 6 px of it (above a quarter of the local peak over the local median), so noise,
    haze and codec ringing elsewhere do not weigh.
    """
    background = np.full((1, SQUARE_SIDE_PX, SQUARE_SIDE_PX, 3), 40, np.uint8)
    background[0, 100, 100] = 230
    with_square = background.copy()
    with_square[(0, *SQUARE)] = 230
    value = p.at_severity(severity)
    outputs = [
        p.perturb(x, value, make_rngs(type(p), 1, seed), DataContext(Modality.IMAGE))
        for x in (with_square, background)
    ]
    before = _centre_of_mass(with_square.astype(np.int64) - background)
    after = _centre_of_mass(outputs[0].astype(np.int64) - outputs[1])
    return float(np.hypot(*(after - before)))


def _centre_of_mass(difference: np.ndarray) -> np.ndarray:
    """(x, y) of the spot that stands out most in one difference image (see `square_shift_px`)."""
    weight = np.abs(difference[0].astype(np.float64)).mean(axis=-1)
    smoothed = ndimage.uniform_filter(weight, 3)
    row, col = np.unravel_index(np.argmax(smoothed), weight.shape)
    top, left = max(int(row) - 6, 0), max(int(col) - 6, 0)
    window = weight[top : row + 7, left : col + 7]
    window = window - np.median(window)
    window = np.where(window > 0.25 * window.max(), window, 0.0)
    rows, cols = np.mgrid[0 : window.shape[0], 0 : window.shape[1]]
    total = window.sum()
    return np.array([(window * cols).sum() / total + left, (window * rows).sum() / total + top])


def check_moves_pixels(p: Perturbation, examples: list[Example], seed: int) -> None:
    """`moves_pixels` is declared exactly when a bright square moves more than 1 px."""
    cls = type(p)
    if cls.modality is not Modality.IMAGE:
        _expect(not cls.moves_pixels, "only images have pixels to move")
        return
    shifts = [square_shift_px(p, severity, s) for severity in SQUARE_SEVERITIES for s in range(3)]
    if cls.moves_pixels:
        _expect(max(shifts) > 1.0, f"declares moves_pixels; the square moved {shifts}")
    else:
        _expect(max(shifts) <= 1.0, f"the square moved {max(shifts):.2f} px; declare moves_pixels")


# ---------------------------------------------------------------------------------------------
# The checks, and running them.

CheckFunction = Callable[[Perturbation, list[Example], int], None]


@dataclass(frozen=True)
class Check:
    """One contract check.

    Attributes:
        function: the check `(perturbation, examples, seed)`; raises `AssertionError`.
        seeded: whether its outcome depends on the seed (then it runs once per seed).
        modalities: the modalities it applies to; None: all.
    """

    function: CheckFunction
    seeded: bool
    modalities: frozenset[Modality] | None = None

    @property
    def promise(self) -> str:
        """What the check verifies, in one line (its function's docstring)."""
        return (self.function.__doc__ or "").strip().splitlines()[0]


CHECKS: dict[str, Check] = {
    "metadata": Check(check_metadata, seeded=False),
    "determinism": Check(check_determinism, seeded=True),
    "seed_effect": Check(check_seed_effect, seeded=True),
    "batch_invariance": Check(check_batch_invariance, seeded=True),
    "order_invariance": Check(check_order_invariance, seeded=True),
    "shape_dtype_range": Check(check_shape_dtype_range, seeded=True),
    "identity": Check(check_identity, seeded=True),
    "monotone": Check(check_monotone, seeded=True),
    "distances": Check(check_distances, seeded=True),
    "validation": Check(check_validation, seeded=False),
    "severity_beyond_one": Check(check_severity_beyond_one, seeded=False),
    "numpy_scalars": Check(check_numpy_scalars, seeded=False),
    "realism": Check(check_realism, seeded=False),
    "realistic_silent": Check(check_realistic_silent, seeded=False),
    "empty_batch": Check(check_empty_batch, seeded=False),
    "variable_size": Check(
        check_variable_size, seeded=True, modalities=frozenset({Modality.IMAGE, Modality.AUDIO})
    ),
    "moves_pixels": Check(check_moves_pixels, seeded=False),
}
"""Every contract check by name, in the order they run."""

CHECK_NAMES = tuple(CHECKS)
"""The names of the contract checks, in the order they run (for `skip=` and known failures)."""


def _class_of(perturbation: type[Perturbation] | Perturbation) -> type[Perturbation]:
    """The perturbation class of a class or an instance.

    Raises:
        ParameterError: neither a `Perturbation` subclass nor an instance of one.
    """
    if isinstance(perturbation, Perturbation):
        return type(perturbation)
    if isinstance(perturbation, type) and issubclass(perturbation, Perturbation):
        return perturbation
    raise ParameterError(
        f"wince.testing checks perturbations: expected a Perturbation subclass or instance; got "
        f"{perturbation!r}. Wrap another library's transform first, e.g. with "
        "wince.perturbations.interop.from_albumentations."
    )


def _run_check(
    perturbation: type[Perturbation] | Perturbation,
    name: str,
    examples: Sequence[Example] | None,
    seed: int = 0,
) -> None:
    """Run the check `name` on `perturbation` (a fresh instance of a class), naming both."""
    cls = _class_of(perturbation)
    check = CHECKS[name]
    subject = perturbation if isinstance(perturbation, Perturbation) else perturbation()
    batches = examples_for(cls) if examples is None else checked_examples(cls, list(examples))
    try:
        check.function(subject, batches, seed)
    except AssertionError as error:
        raise AssertionError(
            f"{cls.name} fails the contract check {name!r} ({check.promise}) with seed "
            f"{seed}: {error}"
        ) from error


def perturbation_checks(
    perturbation: type[Perturbation] | Perturbation,
    *,
    examples: Sequence[Example] | None = None,
) -> Iterator[tuple[str, Callable[..., None]]]:
    """The contract checks that apply to a perturbation, as (check name, check) pairs.

    Each check is called with a seed (an int, default 0) and raises `AssertionError` naming
    the perturbation, the check and what differed. A class is instantiated anew (without
    arguments) for each call; an instance is used as is.

    Args:
        perturbation: a `Perturbation` subclass or a configured instance of one.
        examples: the batches to check it on; default: the class's `example_batch()` or its
            modality's shared examples (`wince.testing.examples.EXAMPLES`). Each needs >= 4 samples.

    Raises:
        ParameterError: not a perturbation.
    """
    modality = _class_of(perturbation).modality
    for name, check in CHECKS.items():
        if check.modalities is None or modality in check.modalities:
            yield name, functools.partial(_run_check, perturbation, name, examples)


def check_perturbation(
    perturbation: type[Perturbation] | Perturbation,
    *,
    examples: Sequence[Example] | None = None,
    seeds: Sequence[int] = (0, 1, 2),
    skip: Collection[str] = (),
) -> None:
    """Run every contract check on a perturbation: the first failure raises.

    The checks (`CHECKS`) cover metadata, determinism, batch and order invariance, shape,
    dtype and range, identity at severity 0, a monotone effect, shared distances, validation,
    realism warnings, empty batches, variable sizes and declared pixel moves. Checks whose
    outcome depends on the seed run once per seed in `seeds`, the others once.

    Args:
        perturbation: a `Perturbation` subclass (registered or not) or an instance of one.
        examples: the batches to check it on (see `perturbation_checks`).
        seeds: base seeds of the perturbation's random streams (at least one).
        skip: names of checks not to run (keys of `CHECKS`), for a known exception.

    Raises:
        AssertionError: a check failed; the message names the perturbation, the check and
            what differed.
        ParameterError: not a perturbation, no seed, or an unknown check name in `skip`.
        DataError: an example batch with fewer than 4 samples.
    """
    unknown = sorted(set(skip) - set(CHECKS))
    if unknown:
        raise ParameterError(
            f"check_perturbation: skip names unknown checks {unknown}; the checks are "
            f"{', '.join(CHECKS)}."
        )
    if not seeds:
        raise ParameterError("check_perturbation: seeds is empty; give at least one, e.g. (0,).")
    for name, check in perturbation_checks(perturbation, examples=examples):
        if name in skip:
            continue
        for seed in seeds if CHECKS[name].seeded else seeds[:1]:
            check(seed)


def parametrize_with_checks(
    perturbations: Iterable[type[Perturbation] | Perturbation],
    known_failures: Mapping[tuple[str, str], str] | None = None,
    marks: Mapping[str, Sequence[Any]] | None = None,
) -> Any:
    """A `pytest.mark.parametrize` over every (perturbation, check) pair.

    The decorated test takes the arguments `perturbation` and `check`, and calls
    `check(seed)` (or `check()`, seed 0). Test ids are `<perturbation name>-<check name>`.

    Args:
        perturbations: `Perturbation` subclasses or instances.
        known_failures: (perturbation name, check name) -> why it fails: those cases are
            expected to fail (`xfail(strict=True)`, so a fixed one is reported).
        marks: perturbation name -> pytest marks for all its cases (e.g.
            `{"image.my_warp": [pytest.mark.slow]}`, with the marker declared in your
            pytest configuration).

    Raises:
        ParameterError: `known_failures` or `marks` names a perturbation or a check not
            checked here.

    Examples:
        >>> from wince.testing import parametrize_with_checks
        >>> @parametrize_with_checks([MyNoise])  # doctest: +SKIP
        ... def test_my_noise(perturbation, check):
        ...     check()
    """
    import pytest

    known = dict(known_failures or {})
    extra = dict(marks or {})
    params = []
    for perturbation in perturbations:
        cls = _class_of(perturbation)
        own = list(extra.pop(cls.name, ()))
        for name, check in perturbation_checks(perturbation):
            reason = known.pop((cls.name, name), None)
            xfail = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            params.append(
                pytest.param(perturbation, check, id=f"{cls.name}-{name}", marks=own + xfail)
            )
    if known:
        raise ParameterError(
            f"parametrize_with_checks: known_failures names {sorted(known)}, which are not "
            f"(perturbation, check) pairs checked here; the checks are {', '.join(CHECKS)}."
        )
    if extra:
        raise ParameterError(
            f"parametrize_with_checks: marks names {sorted(extra)}, which are not among the "
            "perturbations checked here."
        )
    return pytest.mark.parametrize(("perturbation", "check"), params)
