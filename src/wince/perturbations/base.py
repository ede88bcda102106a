"""Perturbation base: magnitudes in physical units, severity, per-sample randomness, registry.

A perturbation is a registered class with a `Magnitude` (its main parameter, in physical
units, with an off value, a realistic range and hard limits) and an `apply` method that
transforms a batch. Randomness comes only from `Rngs`: one generator per sample, derived with
`numpy.random.SeedSequence` from (run seed, perturbation step, trial, sample id). The stream
does not depend on the magnitude, so a sweep over magnitudes reuses the same random draws
(common random numbers): curves are smooth, effects are monotone and breaking-point searches
see one fixed realisation per sample.
"""

from __future__ import annotations

import hashlib
import inspect
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar, Literal, overload

import numpy as np
import numpy.typing as npt

from wince.errors import DataError, ParameterError, RealismWarning, did_you_mean, warn_once
from wince.perturbations.seeding import SeedWords, pcg64_seed_words

Batch = Any  # numpy array (n, ...) for image, audio, tabular, time series; list[str] for text

LEVELS: dict[int, float] = {1: 0.2, 2: 0.4, 3: 0.6, 4: 0.8, 5: 1.0}


class RaggedBatch(Sequence[npt.NDArray[Any]]):
    """A batch of samples of different shapes: images of several sizes, clips of several lengths.

    It holds one array per sample (without the batch axis), all of one dtype; `x[i]` is sample
    i and a slice is again a batch (`stack_samples`). Perturbations and models never see one:
    `groups` cuts it into ordinary numpy batches of one shape each (in order of first
    appearance, samples in position order), and `from_groups` puts results back in sample
    order. As every sample draws from its own random stream, a sample's outcome is the one it
    has in a batch of its own size alone.

    Args:
        samples: one array per sample, all of one dtype and number of dimensions.

    Raises:
        DataError: the samples differ in dtype or number of dimensions.

    Examples:
        >>> import numpy as np
        >>> x = RaggedBatch([np.zeros((2, 3)), np.ones((4, 1)), np.zeros((2, 3))])
        >>> len(x), x.shapes
        (3, [(2, 3), (4, 1), (2, 3)])
        >>> [(index.tolist(), group.shape) for index, group in x.groups()]
        [([0, 2], (2, 2, 3)), ([1], (1, 4, 1))]
        >>> x[0:3:2].shape
        (2, 2, 3)
    """

    __slots__ = ("samples",)

    def __init__(self, samples: Sequence[npt.NDArray[Any]]) -> None:
        arrays = tuple(np.asarray(sample) for sample in samples)
        kinds = {(a.dtype.str, a.ndim) for a in arrays}
        if len(kinds) > 1:
            found = ", ".join(sorted(f"{np.dtype(d).name} {n}-D" for d, n in kinds))
            raise DataError(
                f"the samples of a batch must share one dtype and number of axes; got {found}. "
                "Convert them alike first (e.g. every image to uint8 (h, w, c))."
            )
        self.samples = arrays

    def __len__(self) -> int:
        return len(self.samples)

    @overload
    def __getitem__(self, index: int) -> npt.NDArray[Any]: ...

    @overload
    def __getitem__(self, index: slice) -> Any: ...

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return stack_samples(self.samples[index])
        return self.samples[index]

    def __repr__(self) -> str:
        return f"RaggedBatch({len(self)} samples of {len(set(self.shapes))} shapes)"

    @property
    def dtype(self) -> np.dtype[Any]:
        """The samples' dtype (float32 for an empty batch)."""
        return self.samples[0].dtype if self.samples else np.dtype(np.float32)

    @property
    def shapes(self) -> list[tuple[int, ...]]:
        """Each sample's shape, in sample order."""
        return [sample.shape for sample in self.samples]

    def take(self, indices: Sequence[int] | npt.NDArray[np.intp]) -> Any:
        """The samples at `indices` as a batch (`stack_samples`)."""
        return stack_samples([self.samples[i] for i in np.asarray(indices, dtype=np.intp)])

    def copy(self) -> RaggedBatch:
        """A copy holding copies of the samples."""
        return RaggedBatch([sample.copy() for sample in self.samples])

    def groups(self) -> list[tuple[npt.NDArray[np.intp], npt.NDArray[Any]]]:
        """(positions, batch) per shape, in order of first appearance; positions ascend."""
        by_shape: dict[tuple[int, ...], list[int]] = {}
        for i, sample in enumerate(self.samples):
            by_shape.setdefault(sample.shape, []).append(i)
        return [
            (np.array(index, dtype=np.intp), np.stack([self.samples[i] for i in index]))
            for index in by_shape.values()
        ]

    @staticmethod
    def from_groups(n: int, groups: Sequence[tuple[npt.NDArray[np.intp], Any]]) -> Any:
        """The batch of `n` samples whose positions and values `groups` give, in sample order."""
        samples: list[npt.NDArray[Any] | None] = [None] * n
        for index, x in groups:
            for j, i in enumerate(index):
                samples[int(i)] = x[j]
        if any(sample is None for sample in samples):
            raise AssertionError("groups must cover every sample once")
        return stack_samples(samples)  # type: ignore[arg-type]


def stack_samples(samples: Sequence[npt.NDArray[Any]]) -> Any:
    """Samples as one numpy batch when they share a shape, else as a `RaggedBatch`.

    An empty sequence gives an empty `RaggedBatch`.
    """
    if samples and len({sample.shape for sample in samples}) == 1:
        return np.stack(samples)
    return RaggedBatch(samples)


def shape_groups(x: Any) -> list[tuple[npt.NDArray[np.intp], Any]]:
    """`x.groups()` for a `RaggedBatch`; any other batch is one group of every sample."""
    if isinstance(x, RaggedBatch):
        return x.groups()
    return [(np.arange(len(x), dtype=np.intp), x)]


class Modality(StrEnum):
    """The kind of input a perturbation or dataset handles."""

    IMAGE = "image"
    TEXT = "text"
    AUDIO = "audio"
    TABULAR = "tabular"
    TIMESERIES = "timeseries"


@dataclass(frozen=True)
class Magnitude:
    """The main parameter of a perturbation, declared in physical units.

    Attributes:
        name: parameter name, ending in its unit (`exposure_ev`, `typo_rate`, `noise_sd`).
        unit: the unit as a person reads it ("EV", "fraction of characters").
        off: the value at which the perturbation is the identity.
        mild: where the realistic range begins (severity moves from `off` through `mild`).
        severe: the severe end of the realistic range; severity 1.
        limits: hard bounds; values outside raise `ParameterError`.
        scale: how severity moves between `off` and `severe`: "linear" or "log".
        integer: the parameter takes whole numbers only (e.g. JPEG quality).
    """

    name: str
    unit: str
    off: float
    mild: float
    severe: float
    limits: tuple[float, float]
    scale: Literal["linear", "log"] = "linear"
    integer: bool = False

    @property
    def realistic(self) -> tuple[float, float]:
        """The realistic range as (low, high), whatever the direction of severity."""
        return (min(self.mild, self.severe), max(self.mild, self.severe))

    @property
    def max_severity(self) -> float:
        """The largest severity whose value lies within `limits` (inf when they do not bound it).

        Severities beyond 1 extend the mapping past `severe` (see `value_at`) up to the hard
        limit on that side; a log scale never reaches a limit of 0 or of the other sign.
        """
        bound = self.limits[1] if self.severe > self.off else self.limits[0]
        if math.isinf(bound) or (self.scale == "log" and bound / self.off <= 0):
            return math.inf
        return self.severity_of(bound)

    def value_at(self, severity: float) -> float:
        """Physical value at a severity: 0 is `off`, 1 is `severe`.

        Severities in [0, 1] span the plausible range; beyond 1 the same mapping (linear or
        log) continues past `severe`, up to `max_severity` where it meets the hard limit (the
        value is kept inside the limits against float rounding there).

        Raises:
            ParameterError: a severity that is not a number in [0, max_severity].
        """
        top = self.max_severity
        number = isinstance(severity, int | float) and math.isfinite(severity)
        if not (number and 0.0 <= severity <= top):
            reach = (
                f"[0, {top:.6g}] (severity {top:.6g} is the hard limit of {self.name}, "
                f"{self.describe_constraint()})"
            )
            if math.isinf(top):
                reach = "[0, inf)"
            raise ParameterError(
                f"{self.name}: severity must be a number in {reach}; got {severity!r}. "
                "Levels 1-5 are severities 0.2, 0.4, 0.6, 0.8, 1.0."
            )
        if severity == 0:
            return self.off
        if self.scale == "log":
            value = self.off * (self.severe / self.off) ** severity
        else:
            value = self.off + (self.severe - self.off) * severity
        if severity > 1:  # float rounding must not step past the hard limit
            value = min(max(value, self.limits[0]), self.limits[1])
        return float(round(value)) if self.integer else float(value)

    def severity_of(self, value: float) -> float:
        """Severity that corresponds to a physical value (may fall outside [0, 1])."""
        if value == self.off:
            return 0.0
        if self.scale == "log":
            return math.log(value / self.off) / math.log(self.severe / self.off)
        return (value - self.off) / (self.severe - self.off)

    def beyond_realistic(self, value: float) -> bool:
        """Whether a value lies beyond the realistic range: past `severe`, or across `off`.

        Anything between `off` and `severe` is plausible (milder values happen in real data).

        Examples:
            >>> rotation = Magnitude("angle_deg", "degrees", 0.0, 0.5, 15.0, (0.0, 180.0))
            >>> rotation.beyond_realistic(30.0), rotation.beyond_realistic(0.2)
            (True, False)
        """
        milder = min(self.off, self.severe) <= value <= max(self.off, self.severe)
        low, high = self.realistic
        return not (milder or low <= value <= high)

    def describe_constraint(self) -> str:
        """The constraint in words, generated from the declaration."""
        kind = "a whole number" if self.integer else "a number"
        low, high = self.limits
        return f"{self.name} must be {kind} of {self.unit} in [{low:g}, {high:g}]"

    def validate(self, value: object, owner: str) -> float:
        """Check a physical value against the declaration.

        Values between `off` and `severe` are plausible (anything milder than the realistic
        range's severe end happens in real data); values beyond `severe`, or on the other side
        of `off`, warn once with a `RealismWarning` (`warn_unrealistic`).

        Raises:
            ParameterError: not a number, NaN, not whole when `integer`, or outside `limits`.
        """
        ok = isinstance(value, int | float | np.integer | np.floating) and not isinstance(
            value, bool
        )
        number = float(value) if ok else math.nan  # type: ignore[arg-type]
        low, high = self.limits
        if not ok or math.isnan(number) or not low <= number <= high:
            raise ParameterError(
                f"{owner}: {self.describe_constraint()}; got {value!r}. Try {self.mild:g}."
            )
        if self.integer and number != round(number):
            raise ParameterError(
                f"{owner}: {self.describe_constraint()}; got {value!r}. Try {round(number)}."
            )
        self.warn_unrealistic(number, owner)
        return number

    def warn_unrealistic(
        self, value: float, perturbation: str, *, where: str | None = None, stacklevel: int = 2
    ) -> None:
        """Warn (`RealismWarning`) when `value` lies beyond the realistic range, once per process.

        The one wording of this warning, for plans, runs, reports and direct calls alike,
        given once per message (`warn_once`). Loading a plan checks each value twice: first
        silently, as the plan is parsed, which uses up the message naming the perturbation,
        then naming the plan file and entry; so a loaded plan's value warns once, with its
        file, and the run and report that apply it warn no more.

        Args:
            value: a physical value of this magnitude, in its unit.
            perturbation: the perturbation's name.
            where: what the message starts with (default `perturbation`), e.g. the plan file
                and entry.
            stacklevel: as for `warnings.warn` from the caller of this method (2, its caller).
        """
        if not self.beyond_realistic(value):
            return
        low, high = self.realistic
        warn_once(
            f"{where or perturbation}: {value:g} {self.unit} lies beyond the realistic range "
            f"of {low:g} to {high:g} {self.unit} ({self.name}); reports flag every finding at "
            "this value. Keep the value to test an extreme on purpose, or choose one inside the "
            "range.",
            RealismWarning,
            stacklevel=stacklevel + 2,  # past warn_once and this method
        )


@dataclass(frozen=True)
class Phrase:
    """How reports word a perturbation at a value of its magnitude (in its physical unit).

    Attributes:
        effect: the effect at a value, as a lower-case phrase a non-specialist reads
            ("rotating images by 30 degrees"); `wince.perturbations.words` has the helpers.
        context: where such a value happens in real life ("as in a handheld snapshot"), ""
            beyond the range where that comparison holds; None when no comparison is known.
    """

    effect: Callable[[float], str]
    context: Callable[[float], str] | None = None


@dataclass(frozen=True)
class Drift:
    """How far a perturbation's outputs may move when only the installed libraries differ.

    Under the locked dependency set (`requirements.lock`) every output is exact, on any CPU.
    Under other releases of the numerical libraries (NumPy, SciPy, OpenCV's bundled codecs,
    Pillow, ...) an output value may differ from its reference by at most `max_change`, and at
    most `max_share` of the values may differ at all. Differences are in units of the output's
    full scale: 255 for uint8 values (1/255 is one 8-bit level), otherwise max(1, |reference|).
    Floating-point noise, at most `ULP_FLOOR` of full scale, never counts as a difference.
    """

    max_change: float = 0.0
    max_share: float = 0.0

    ULP_FLOOR: ClassVar[float] = 1e-6

    def describe(self) -> str:
        """The tolerance in words, e.g. "exact" or "±1/255 of full scale on <= 0.5% of values"."""
        if self.max_change == 0.0:
            return "exact (up to floating-point noise)"
        return f"±{self.max_change:.3g} of full scale on <= {self.max_share:.1%} of values"


EXACT = Drift()


def _key_words(text: str) -> tuple[int, int]:
    """Two 32-bit words of a stable hash of `text` (for SeedSequence spawn keys)."""
    digest = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")
    return digest & 0xFFFFFFFF, digest >> 32


def sample_keys(sample_ids: Sequence[str]) -> npt.NDArray[np.uint64]:
    """Stable 64-bit keys of sample ids, from which per-sample random streams derive."""
    return np.array(
        [
            int.from_bytes(hashlib.blake2b(str(i).encode(), digest_size=8).digest(), "little")
            for i in sample_ids
        ],
        dtype=np.uint64,
    )


@dataclass(frozen=True)
class Rngs(Sequence[np.random.Generator]):
    """One random generator per sample, created lazily.

    A generator is created on first access and then kept, so an `Rngs` is used up by use:
    perturbing twice with the same instance continues the streams. Slicing, `take` and a new
    `Rngs` give fresh generators; the engine builds a fresh `Rngs` for every step.

    Generator i is `Generator(PCG64(SeedSequence(seed, spawn_key=(step, trial, sample i))))`,
    so sample i draws the same numbers whatever batch it is in, in any order, on any worker.

    Args:
        seed: the run seed (non-negative integer).
        step: the perturbation step the stream belongs to (its registry name and position).
        trial: the trial (repeat) index, 0-based.
        keys: 64-bit sample keys from `sample_keys`.
    """

    seed: int
    step: str
    trial: int
    keys: npt.NDArray[np.uint64]
    _cache: dict[int, np.random.Generator] = field(default_factory=dict, compare=False)
    _seed_words: list[npt.NDArray[np.uint64]] = field(default_factory=list, compare=False)

    def __len__(self) -> int:
        return len(self.keys)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return Rngs(self.seed, self.step, self.trial, self.keys[index])
        i = int(index)
        if i not in self._cache:
            if not self._seed_words:  # the whole batch at once: see `wince.perturbations.seeding`
                prefix = (*_key_words(self.step), self.trial)
                self._seed_words.append(pcg64_seed_words(self.seed, prefix, self.keys))
            words = SeedWords(self._seed_words[0][i])
            self._cache[i] = np.random.Generator(np.random.PCG64(words))  # type: ignore[arg-type]
        return self._cache[i]

    def __iter__(self) -> Iterator[np.random.Generator]:
        return (self[i] for i in range(len(self)))

    def random(self, shape: tuple[int, ...]) -> npt.NDArray[np.float64]:
        """Uniform draws in [0, 1) of `shape` per sample, stacked: shape (n, *shape)."""
        if len(self) == 0:
            return np.empty((0, *shape))
        return np.stack([g.random(shape) for g in self])

    def standard_normal(
        self, shape: tuple[int, ...], dtype: type[np.float32] | type[np.float64] = np.float64
    ) -> npt.NDArray[Any]:
        """Standard normal draws of `shape` per sample, stacked: shape (n, *shape)."""
        if len(self) == 0:
            return np.empty((0, *shape), dtype=dtype)
        return np.stack([g.standard_normal(shape, dtype=dtype) for g in self])

    def take(self, indices: Sequence[int] | npt.NDArray[np.intp]) -> Rngs:
        """The generators of the samples at `indices`, in that order (fresh, not yet drawn)."""
        return Rngs(self.seed, self.step, self.trial, self.keys[np.asarray(indices)])

    @classmethod
    def for_samples(
        cls, sample_ids: Sequence[str], *, seed: int = 0, step: str = "", trial: int = 0
    ) -> Rngs:
        """Generators for the given sample ids (the runner's derivation; handy in tests)."""
        return cls(seed, step, trial, sample_keys(sample_ids))


@dataclass(frozen=True)
class DataContext:
    """Dataset-level facts a perturbation may need; never derived from the batch itself.

    Attributes:
        modality: the dataset's modality.
        column_sd: tabular: standard deviation of each column over the dataset (sd units);
            time series: of each channel over all samples and time steps.
        feature_names: tabular: column names; time series: channel names.
        sample_rate_hz: audio: samples per second.
        column_kinds: tabular: the column schema, one of "float", "integer" (whole numbers:
            perturbed values are rounded) or "categorical" (category codes: never given
            numeric noise) per column; None means every column is "float".
        column_quantiles: tabular: the 0th, 1st, ..., 100th percentiles of each column over
            the dataset, shape (101, features); needed by perturbations tied to where a value
            lies in its column (saturation, values missing not at random).
    """

    modality: Modality
    column_sd: npt.NDArray[np.float64] | None = None
    feature_names: tuple[str, ...] | None = None
    sample_rate_hz: int | None = None
    column_kinds: tuple[str, ...] | None = None
    column_quantiles: npt.NDArray[np.float64] | None = None


class Perturbation:
    """A named, versioned, deterministic transform of a batch of one modality.

    Subclasses declare the class constants and implement `apply`. Call an instance through
    `perturb` (validates the value and batch, returns the input unchanged at `off`).
    """

    name: ClassVar[str]
    modality: ClassVar[Modality]
    version: ClassVar[int]
    stochastic: ClassVar[bool]
    magnitude: ClassVar[Magnitude]
    preserves_shape: ClassVar[bool] = True
    creates_missing: ClassVar[bool] = False  # may turn values into NaN (missing on purpose)
    distance_unit: ClassVar[str] = ""
    drift: ClassVar[Drift] = EXACT  # how far outputs may move under other library releases
    # Output pixels come from other positions (rotation, zoom, warps): labels in pixel
    # coordinates (boxes, masks, keypoints) must move with them (`compose_with_targets`).
    moves_pixels: ClassVar[bool] = False
    # A stress test, not a realistic corruption: no published source supports its range as
    # what real data shows. Usable in a plan that names it; never in a preset.
    stress: ClassVar[bool] = False
    # What the library knows about the perturbation beyond its transform, declared here once
    # and read by the report, the monitor, calibration and the docs (the contract suite checks
    # every name below exists):
    # - family: the perturbation family whose defence the report recommends against it (a key
    #   of `wince.report.narrative.DEFENCES`, e.g. "image.blur"); "" for none (the report
    #   falls back on its modality's defence).
    # - phrase: how reports word it at a value; None falls back on its catalogue summary.
    # - monitor_estimate: the function of `wince.monitor.estimate` that estimates its
    #   magnitude from live inputs (a key of `estimate.LIVE_INPUTS`); None when none does.
    # - calibration: the measurement `wince calibrate` takes of it, as "<module>.<function>"
    #   of `wince.realism.calibration` (listed in that module's `MEASUREMENTS`); None: not
    #   calibrated.
    family: ClassVar[str] = ""
    phrase: ClassVar[Phrase | None] = None
    monitor_estimate: ClassVar[str | None] = None
    calibration: ClassVar[str | None] = None

    def apply(self, x: Batch, value: float, rngs: Rngs, context: DataContext) -> Batch:
        """Transform the batch; `value` is already validated and differs from `off`.

        A perturbation that `moves_pixels` implements `apply_moving` instead; this returns its
        batch.
        """
        if self.moves_pixels:
            return self.apply_moving(x, value, rngs, context)[0]
        raise NotImplementedError

    def apply_moving(
        self, x: Batch, value: float, rngs: Rngs, context: DataContext
    ) -> tuple[Batch, list[Any]]:
        """`apply`'s batch and, per sample, where each of its output pixels comes from.

        Implemented by the perturbations that declare `moves_pixels`, with one draw for both:
        sample i's map is a `geometry.SourceMap`, the source (x, y) in pixels of every output
        pixel, so labels in pixel coordinates move exactly as the pixels (`targets`).
        """
        raise NotImplementedError(f"{self.name} does not move pixels")

    def distance(
        self, original: Batch, perturbed: Batch, context: DataContext
    ) -> npt.NDArray[np.float64]:
        """Per-sample distance between original and perturbed, in `distance_unit`."""
        raise NotImplementedError

    def distances(
        self, original: Batch, perturbed: Batch, context: DataContext
    ) -> dict[str, npt.NDArray[np.float64]]:
        """Every per-sample distance recorded with an outcome, by column name.

        `distance` (in `distance_unit`) is the one the analysis uses; a modality adds the other
        measures its users read, named with their unit (e.g. `word_error_rate`).
        """
        return {"distance": self.distance(original, perturbed, context)}

    def measure_clean(self, original: Batch, context: DataContext) -> Any:
        """What `distances_to` needs of an original batch, computed once for many comparisons.

        The engine measures every trial of a batch against the same originals; a modality
        whose measures analyse the original (spectra, local image statistics, words) overrides
        this and `distances_to` to do that once. Perturbations whose `measure_clean` is the same
        function share its result, so it must not depend on the perturbation's own settings.
        """
        return original

    def distances_to(
        self, clean: Any, perturbed: Batch, context: DataContext
    ) -> dict[str, npt.NDArray[np.float64]]:
        """`distances(original, perturbed)` given `clean = measure_clean(original, context)`.

        The engine records what this returns. The image, audio and text modalities compute
        `distances` through it, so a subclass there changes what it records by overriding
        `distances_to` (and `distance` to match: the contract suite checks they agree).
        """
        return self.distances(clean, perturbed, context)

    def check_batch(self, x: Batch) -> None:
        """Raise `DataError` if `x` is not a batch of this modality."""
        raise NotImplementedError

    def check_value_for(
        self, value: float, context: DataContext, *, given_as: str | None = None
    ) -> None:
        """Raise `ParameterError` if a physical value a plan gives cannot act on this data.

        The engine calls it, once the data's context (its sample rate, ...) is known, for a
        plan entry's `values` and for the values its explicit `levels` or `severities` map to
        (a 10 kHz low-pass on 8 kHz audio would leave it unchanged); the off value and the
        default sweep are not checked. By default every valid value can act.

        Args:
            value: the physical value, in the magnitude's unit.
            context: the data's context.
            given_as: how the plan named a mapped value ("level 1", "severity 0.2"), for the
                message; None for a value given as such.
        """

    def validate(self, value: object) -> float:
        """Validate a physical value against the declared magnitude."""
        return self.magnitude.validate(value, self.name)

    def at_severity(self, severity: float) -> float:
        """Physical value at a severity (see `Magnitude.value_at`)."""
        return self.magnitude.value_at(severity)

    def perturb(
        self, x: Batch, value: float, rngs: Rngs, context: DataContext | None = None
    ) -> Batch:
        """Apply the perturbation at a physical value to a batch, never mutating `x`.

        A `RaggedBatch` is perturbed one same-shape group at a time.

        Raises:
            ParameterError: `value` violates the declared magnitude.
            DataError: `x` is not a batch of this modality, or `rngs` does not match it.
        """
        return self._perturb(x, value, rngs, context, moving=False)[0]

    def perturb_moving(
        self, x: Batch, value: float, rngs: Rngs, context: DataContext | None = None
    ) -> tuple[Batch, list[Any]]:
        """`perturb`'s batch and, per sample, where its output pixels come from (`apply_moving`).

        A sample's map is None when its pixels stay where they are: the perturbation does not
        `moves_pixels`, or the value is `off`. The batch is `perturb`'s, bit for bit.

        Raises:
            ParameterError: `value` violates the declared magnitude.
            DataError: `x` is not a batch of this modality, or `rngs` does not match it.
        """
        return self._perturb(x, value, rngs, context, moving=self.moves_pixels)

    def _perturb(
        self, x: Batch, value: float, rngs: Rngs, context: DataContext | None, *, moving: bool
    ) -> tuple[Batch, list[Any]]:
        """`perturb`, with the source maps of `apply_moving` when `moving` (else None each)."""
        number = self.validate(value)
        if not isinstance(x, RaggedBatch):
            self.check_batch(x)
        if len(rngs) != len(x):
            raise DataError(f"{self.name}: got {len(rngs)} generators for {len(x)} samples.")
        if isinstance(x, RaggedBatch):  # each shape as a batch of its own (see RaggedBatch)
            groups = [
                (index, self._perturb(group, number, _take(rngs, index), context, moving=moving))
                for index, group in x.groups()
            ]
            maps: list[Any] = [None] * len(x)
            for index, (_, group_maps) in groups:
                for j, i in enumerate(index):
                    maps[int(i)] = group_maps[j]
            return RaggedBatch.from_groups(len(x), [(i, out) for i, (out, _) in groups]), maps
        if number == self.magnitude.off:
            return (list(x) if isinstance(x, list) else x.copy()), [None] * len(x)
        context = context or DataContext(self.modality)
        if moving:
            return self.apply_moving(x, number, rngs, context)
        return self.apply(x, number, rngs, context), [None] * len(x)

    @classmethod
    def options(cls) -> dict[str, Any]:
        """The keyword options of the constructor (plan `params`) with their defaults."""
        signature = inspect.signature(cls.__init__)
        return {
            name: list(p.default) if isinstance(p.default, tuple) else p.default
            for name, p in signature.parameters.items()
            if p.kind is inspect.Parameter.KEYWORD_ONLY or (name != "self" and p.default != p.empty)
        }

    @classmethod
    def describe(cls) -> dict[str, Any]:
        """Machine-readable description: name, version, modality, parameters with units, options."""
        m = cls.magnitude
        return {
            "name": cls.name,
            "version": cls.version,
            "modality": str(cls.modality),
            "stochastic": cls.stochastic,
            "stress": cls.stress,
            "summary": (cls.__doc__ or "").strip().splitlines()[0],
            "options": cls.options(),
            "params": [
                {
                    "name": m.name,
                    "unit": m.unit,
                    "limits": list(m.limits),
                    "realistic": list(m.realistic),
                    "off": m.off,
                    "mild": m.mild,
                    "severe": m.severe,
                }
            ],
        }


def _take(rngs: Sequence[np.random.Generator], index: npt.NDArray[np.intp]) -> Rngs:
    """The generators of the samples at `index`."""
    if isinstance(rngs, Rngs):
        return rngs.take(index)
    return [rngs[i] for i in index]  # type: ignore[return-value]


def check_choice(owner: str, option: str, value: object, allowed: Sequence[str]) -> str:
    """`value` if it is one of `allowed`.

    Raises:
        ParameterError: anything else, naming the allowed values.
    """
    if not isinstance(value, str) or value not in allowed:
        raise ParameterError(
            f"{owner}: {option} must be one of {', '.join(repr(a) for a in allowed)}; "
            f"got {value!r}. Try {option}={allowed[0]!r}."
        )
    return value


def check_number(
    owner: str, option: str, value: object, *, unit: str, low: float, high: float
) -> float:
    """Raise `ParameterError` unless `value` is a number in [low, high]."""
    ok = isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)
    number = float(value) if ok else math.nan  # type: ignore[arg-type]
    if not (math.isfinite(number) and low <= number <= high):
        bounds = "" if math.isinf(low) and math.isinf(high) else f" in [{low:g}, {high:g}]"
        raise ParameterError(
            f"{owner}: {option} must be a finite number of {unit}{bounds}; got {value!r}."
        )
    return number


def check_subset(
    owner: str, option: str, values: object, allowed: Sequence[str]
) -> tuple[str, ...]:
    """`values` without repeats if it is a non-empty list drawn from `allowed`.

    Raises:
        ParameterError: a str, an empty list or an unknown entry.
    """
    if (
        isinstance(values, str)
        or not isinstance(values, Sequence)
        or not values
        or any(v not in allowed for v in values)
    ):
        raise ParameterError(
            f"{owner}: {option} must be a non-empty list drawn from {list(allowed)}; "
            f"got {values!r}. Try {option}={list(allowed)}."
        )
    return tuple(dict.fromkeys(values))


_REGISTRY: dict[str, type[Perturbation]] = {}


def register(cls: type[Perturbation]) -> type[Perturbation]:
    """Class decorator adding a perturbation to the registry under its `name`."""
    if cls.name in _REGISTRY:
        raise ValueError(f"perturbation {cls.name!r} is registered twice")
    _REGISTRY[cls.name] = cls
    return cls


def registry() -> dict[str, type[Perturbation]]:
    """All registered perturbations by name (a copy)."""
    _load_builtin_modules()
    return dict(sorted(_REGISTRY.items()))


def get(name: str) -> type[Perturbation]:
    """The perturbation class registered under `name`.

    Raises:
        ParameterError: unknown name, with the closest registered names as a hint.
    """
    known = registry()
    if name in known:
        return known[name]
    import difflib

    close = difflib.get_close_matches(name, known, n=3, cutoff=0.4)
    close += [k for k in known if k.split(".", 1)[-1] == name and k not in close]
    hint = f" — did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    raise ParameterError(
        f"unknown perturbation {name!r}{hint} Run `wince perturbations` for the list."
    )


def _load_builtin_modules() -> None:
    from wince.perturbations import (  # noqa: F401  (registers classes)
        audio,
        image,
        presets,
        tabular,
        text,
        timeseries,
    )


@dataclass(frozen=True)
class Step:
    """One perturbation at one physical value inside a scenario."""

    name: str
    value: float
    params: tuple[tuple[str, Any], ...] = ()

    def key(self) -> str:
        """Readable, stable identifier, e.g. `image.jpeg(jpeg_quality=70)`."""
        extra = "".join(f",{k}={v}" for k, v in self.params)
        return f"{self.name}({get(self.name).magnitude.name}={self.value:g}{extra})"


def create(name: str, params: Mapping[str, Any]) -> Perturbation:
    """The perturbation registered under `name`, built with the plan's `params` options.

    Raises:
        ParameterError: unknown name, or an option the perturbation does not take (with the
            valid options and the closest one as a hint), or an invalid option value.
    """
    cls = get(name)
    valid = cls.options()
    unknown = [option for option in params if option not in valid]
    if unknown and not valid:
        raise ParameterError(f"{name}: takes no options; remove {unknown[0]!r} from params.")
    if unknown:
        raise ParameterError(
            f"{name}: unknown option {unknown[0]!r}{did_you_mean(unknown[0], valid)}"
        )
    return cls(**params)


def build(step: Step) -> Perturbation:
    """Instantiate the perturbation of a step with its extra parameters."""
    return create(step.name, dict(step.params))


def step_streams(
    steps: Sequence[Step], *, seed: int, trial: int, keys: npt.NDArray[np.uint64]
) -> Iterator[tuple[Step, Rngs]]:
    """Each step with its random streams, as `compose` applies them.

    Each step draws from a stream named after its perturbation (and its occurrence, should a
    scenario repeat it), not the value nor the position, so a perturbation sees the same draws
    for a given sample and trial in a sweep, alone or in a combination (common random numbers).
    """
    seen: dict[str, int] = {}
    for step in steps:
        occurrence = seen.get(step.name, 0)
        seen[step.name] = occurrence + 1
        yield step, Rngs(seed, f"{step.name}#{occurrence}", trial, keys)


def compose(
    x: Batch,
    steps: Sequence[Step],
    *,
    seed: int,
    trial: int,
    keys: npt.NDArray[np.uint64],
    context: DataContext,
) -> Batch:
    """Apply steps in order, each with its own random streams (`step_streams`).

    A `RaggedBatch` is perturbed one same-shape group at a time (`Perturbation.perturb`), in
    sample order. `targets.compose_with_targets` also moves labels in pixel coordinates.
    """
    for step, rngs in step_streams(steps, seed=seed, trial=trial, keys=keys):
        x = build(step).perturb(x, step.value, rngs, context)
    return x
