"""Training-time augmentation with the same perturbations wince measures robustness with.

`augment(...)` turns a plan (or a list of perturbations) into an `Augmenter`: a seeded
transform that perturbs each sample with one perturbation, at a magnitude drawn inside the
perturbation's realistic range (or up to a cap such as a measured breaking point). It works on

- numpy batches: `augmenter(x, epoch=e)` (batch in, batch out; text batches are lists of str);
- torch: `augmenter.torch_transform()` (one sample and its index) or
  `AugmentedDataset(dataset, augmenter)` around any indexable dataset, with `set_epoch(e)`;
- scikit-learn: `augmenter.sklearn()`, a transformer that augments in `fit_transform` only.

Determinism. Every random choice for a sample — whether it is perturbed, by which perturbation,
at which magnitude, and the perturbation's own noise — comes from generators derived with
`numpy.random.SeedSequence` from (seed, epoch, sample id), as the engine derives a run's
streams. So a sample's augmentation is the same whatever the batch size, the order of the
samples, the worker and the form (numpy, torch or scikit-learn); a new epoch gives new draws.
Sample ids default to the sample's position in the dataset as a string ("0", "1", ...), the
default ids of `wince.datasets.ArrayDataset`; pass `ids=` (or `start=` for a batch that begins
later in the dataset) so that a sample keeps its augmentation stream wherever it appears.

Magnitudes are drawn uniformly in severity between 0 (`off`) and the upper end: 1 (the severe
end of the realistic range) by default, or the severity of a physical cap given in `up_to`.
Severity moves on the scale the perturbation declares, so a log-scale magnitude (JPEG quality
is linear, ISO is log) is drawn log-uniformly in physical units.
"""

from __future__ import annotations

import math
import operator
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import numpy.typing as npt

from wince.deprecation import deprecated
from wince.errors import DataError, ParameterError, RealismWarning, StoreError
from wince.perturbations.base import (
    Batch,
    DataContext,
    Magnitude,
    Modality,
    Perturbation,
    Rngs,
    get,
    registry,
    sample_keys,
)

if TYPE_CHECKING:
    from wince.datasets.base import Dataset
    from wince.plan import Plan
    from wince.realism.sklearn import AugmentTransformer
    from wince.store.store import Store

Ids = Sequence[Any] | npt.NDArray[Any]  # sample ids: any values, compared as strings
DRAW_STREAM = "augment"  # stream of the per-sample choices (apply?, which, severity)


@dataclass(frozen=True)
class Draw:
    """The augmentation one sample gets in one epoch.

    Attributes:
        perturbation: registry name of the perturbation drawn.
        value: its magnitude in physical units (the unit of the perturbation's `magnitude`).
        severity: the same on the severity scale: 0 is `off`, 1 the severe end of the
            realistic range (above 1 only when `up_to` caps beyond it).
    """

    perturbation: str
    value: float
    severity: float


@dataclass(frozen=True)
class _Entry:
    """One perturbation the augmenter may draw, with its stream name and severity cap."""

    name: str
    stream: str
    perturbation: Perturbation
    max_severity: float
    cap: float


def augment(
    source: Plan | Mapping[str, Any] | str | Path | Sequence[str | Mapping[str, Any]],
    *,
    seed: int = 0,
    probability: float = 1.0,
    up_to: Mapping[str, float] | None = None,
    context: DataContext | Dataset | None = None,
) -> Augmenter:
    """A seeded training transform that perturbs samples at realistic magnitudes.

    Each sample is perturbed with probability `probability` by one perturbation of `source`
    chosen uniformly, at a severity drawn uniformly between 0 (`off`) and 1 (the severe end of
    the realistic range), or between 0 and the severity of `up_to[name]`.

    Args:
        source: the perturbations: a `Plan`, a plan file path or mapping (its perturbations'
            names and `params` are used, not their sweeps); a registry name; or a list of
            names and `{"name": ..., "params": {...}}` mappings. All of one modality.
        seed: base seed (non-negative integer); with the epoch and sample id it fixes every
            draw.
        probability: share of samples perturbed, in [0, 1]; the others pass unchanged.
        up_to: physical upper end of the magnitude per perturbation name, replacing the
            severe end of its realistic range, e.g. a breaking point measured by a run
            (`augmentation_caps(store, run_id)`). Must lie within the magnitude's hard limits
            and on the perturbing side of `off`; beyond the realistic range it warns once.
        context: dataset-level facts some perturbations need (tabular column sds, audio
            sample rate): a `DataContext`, or a wince `Dataset` to take it from. Default: the
            modality only.

    Returns:
        An `Augmenter`: call it on a batch, or take its torch or scikit-learn form.

    Raises:
        ParameterError: unknown perturbation or option, mixed modalities, a perturbation
            that changes the shape, `up_to` for a perturbation not in `source` or outside the
            magnitude's limits, `probability` outside [0, 1], a negative seed.
        PlanError: an invalid plan file or mapping.

    Examples:
        >>> import numpy as np
        >>> augmenter = augment(["image.gaussian_noise"], seed=1)
        >>> x = np.full((4, 8, 8, 1), 0.5, dtype=np.float32)
        >>> out = augmenter(x, epoch=0)
        >>> reversed_batch = augmenter(x[::-1], ids=[3, 2, 1, 0])  # same ids, other order
        >>> out.shape, out.dtype, bool(np.array_equal(out, reversed_batch[::-1]))
        ((4, 8, 8, 1), dtype('float32'), True)
        >>> [round(d.value, 2) for d in augmenter.draws(range(4))]  # noise_sd_pct in [0, 8]
        [4.86, 3.97, 4.31, 7.14]
    """
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ParameterError(f"augment: seed must be a non-negative integer; got {seed!r}. Try 0.")
    specs = _specs(source)
    entries = _entries(specs, up_to or {})
    modalities = sorted({str(e.perturbation.modality) for e in entries})
    if len(modalities) > 1:
        raise ParameterError(
            f"augment: the perturbations must share one modality; got {', '.join(modalities)}. "
            "Make one augmenter per input."
        )
    modality = entries[0].perturbation.modality
    if context is None:
        data_context = DataContext(modality)
    elif isinstance(context, DataContext):
        data_context = context
    else:
        data_context = context.context()
    if data_context.modality != modality:
        raise ParameterError(
            f"augment: context is for {data_context.modality} data but the perturbations are "
            f"{modality}; pass the dataset the augmented samples come from."
        )
    return Augmenter(
        tuple(entries),
        seed=int(seed),
        probability=_check_probability(probability),
        context=data_context,
    )


class Augmenter:
    """A seeded transform that perturbs each sample at a drawn realistic magnitude.

    Build it with `augment(...)`. Calling it never mutates the input.

    Attributes:
        seed: base seed of every draw.
        probability: share of samples perturbed, in [0, 1].
        context: dataset-level facts passed to the perturbations.
    """

    def __init__(
        self,
        entries: tuple[_Entry, ...],
        *,
        seed: int,
        probability: float,
        context: DataContext,
    ) -> None:
        self._entries = entries
        self.seed = seed
        self.probability = probability
        self.context = context

    def __repr__(self) -> str:
        names = ", ".join(e.name for e in self._entries)
        return f"Augmenter([{names}], seed={self.seed}, probability={self.probability:g})"

    @property
    def modality(self) -> Modality:
        """The modality of the samples this augmenter takes."""
        return self._entries[0].perturbation.modality

    @property
    def ranges(self) -> dict[str, tuple[float, float]]:
        """Per perturbation name: (off, far end) of the drawn magnitudes, in physical units.

        The far end is the severe end of the realistic range, or the `up_to` cap; it may be
        below `off` (exposure darkens towards -3 EV).
        """
        return {e.name: (e.perturbation.magnitude.off, e.cap) for e in self._entries}

    def draws(self, ids: Ids, *, epoch: int = 0) -> list[Draw | None]:
        """The augmentation of each sample in an epoch: a `Draw`, or None when left unchanged.

        These are the draws `__call__` applies; they depend only on (seed, epoch, sample id).

        Args:
            ids: sample ids (any values; compared as strings, so 3 and "3" are the same).
            epoch: training epoch, a non-negative integer.
        """
        keys = sample_keys([str(i) for i in ids])
        return [
            None if d is None else Draw(self._entries[d[0]].name, d[1], d[2])
            for d in self._draw(keys, _check_epoch(epoch))
        ]

    def __call__(
        self,
        x: Batch,
        *,
        ids: Ids | None = None,
        start: int = 0,
        epoch: int = 0,
    ) -> Batch:
        """Augment a batch: each sample perturbed (or not) by its own draw.

        Args:
            x: a batch of the augmenter's modality (numpy array, batch first; text: list of
                str). Shape and dtype are kept.
            ids: one stable id per sample; default the positions `start`, `start + 1`, ....
            start: position in the dataset of the batch's first sample (when `ids` is None).
            epoch: training epoch, a non-negative integer; each epoch draws anew.

        Returns:
            A new batch (a copy even where nothing was perturbed).

        Raises:
            DataError: `x` is not a batch of the modality, or `ids` does not match it.
        """
        epoch = _check_epoch(epoch)
        text = isinstance(x, list)
        if not text:
            x = np.asarray(x)
        self._entries[0].perturbation.check_batch(x)
        n = len(x)
        if ids is None:
            ids = [str(start + i) for i in range(n)]
        elif len(ids) != n:
            raise DataError(f"augment: {len(ids)} ids for {n} samples; give one id per sample.")
        keys = sample_keys([str(i) for i in ids])
        out: Any = list(x) if text else x.copy()
        groups: dict[tuple[int, float], list[int]] = {}
        for i, d in enumerate(self._draw(keys, epoch)):
            if d is not None:
                groups.setdefault((d[0], d[1]), []).append(i)
        # Each group shares a perturbation and value; the perturbation's stream for a sample
        # depends only on its key (batch invariance), so grouping does not change the result.
        for (k, value), members in groups.items():
            entry = self._entries[k]
            index = np.asarray(members, dtype=np.intp)
            rngs = Rngs(self.seed, entry.stream, epoch, keys[index])
            part = [x[i] for i in members] if text else x[index]
            with warnings.catch_warnings():  # `up_to` already warned once if unrealistic
                warnings.simplefilter("ignore", RealismWarning)
                result = entry.perturbation.perturb(part, value, rngs, self.context)
            if text:
                for i, sample in zip(members, result, strict=True):
                    out[i] = sample
            else:
                out[index] = result
        return out

    def augment_sample(self, sample: Any, index: int | str, *, epoch: int = 0) -> Any:
        """Augment one sample (no batch axis) as the sample with id `index` in a batch."""
        if self.modality == Modality.TEXT:
            return self([sample], ids=[index], epoch=epoch)[0]
        return self(np.asarray(sample)[None], ids=[index], epoch=epoch)[0]

    def torch_transform(self, *, epoch: int = 0, channels_first: bool = False) -> SampleTransform:
        """A per-sample transform `t(x, index)` for torch datasets (see `SampleTransform`)."""
        return SampleTransform(self, epoch=epoch, channels_first=channels_first)

    def sklearn(self, *, epoch: int = 0) -> AugmentTransformer:
        """A scikit-learn transformer that augments during `fit` only (see `AugmentTransformer`)."""
        from wince.realism.sklearn import AugmentTransformer

        return AugmentTransformer(self, epoch=epoch)

    def _draw(
        self, keys: npt.NDArray[np.uint64], epoch: int
    ) -> list[tuple[int, float, float] | None]:
        """(entry index, value, severity) per sample, or None; from the samples' own streams."""
        rngs = Rngs(self.seed, DRAW_STREAM, epoch, keys)
        count = len(self._entries)
        out: list[tuple[int, float, float] | None] = []
        for g in rngs:
            # Always three draws, so the choice of perturbation and severity does not depend
            # on `probability` (a higher probability perturbs a superset of the samples).
            apply, which, where = g.random(3)
            if not apply < self.probability:
                out.append(None)
                continue
            k = min(int(which * count), count - 1)
            entry = self._entries[k]
            severity = float(where) * entry.max_severity
            value = _value_at(entry.perturbation.magnitude, severity, entry.cap)
            out.append((k, value, severity))
        return out


class SampleTransform:
    """Augments one sample given its index: `transform(x, index)` for torch pipelines.

    The sample keeps its type: a torch tensor comes back as a tensor of the same dtype and
    device, a numpy array as an array, a str as a str. Samples are in the wince layout
    (images height × width × channels, uint8 or float32 in [0, 1]); set `channels_first` for
    channels × height × width image tensors (e.g. after `ToTensor`), which are moved to the
    wince layout and back. torch is imported only when a tensor comes in.

    Args:
        augmenter: the augmenter.
        epoch: training epoch; change it with `set_epoch` at the start of each epoch.
        channels_first: images are (channels, height, width).
    """

    def __init__(
        self, augmenter: Augmenter, *, epoch: int = 0, channels_first: bool = False
    ) -> None:
        if channels_first and augmenter.modality != Modality.IMAGE:
            raise ParameterError(
                f"augment: channels_first applies to images; these are {augmenter.modality} "
                "samples. Leave channels_first=False."
            )
        self.augmenter = augmenter
        self.epoch = _check_epoch(epoch)
        self.channels_first = channels_first

    def set_epoch(self, epoch: int) -> None:
        """Draw the augmentations of `epoch` (a non-negative integer) from now on."""
        self.epoch = _check_epoch(epoch)

    def __call__(self, x: Any, index: int | str) -> Any:
        """Augment the sample `x` whose id is `index` (its position in the dataset by default)."""
        if isinstance(x, str):
            return self.augmenter.augment_sample(x, index, epoch=self.epoch)
        array, restore = _as_numpy(x)
        if self.channels_first:
            if array.ndim != 3:
                raise DataError(
                    f"augment: a channels-first image has shape (channels, height, width); "
                    f"got {array.shape}."
                )
            array = np.moveaxis(array, 0, -1)
        out = self.augmenter.augment_sample(array, index, epoch=self.epoch)
        if self.channels_first:
            out = np.moveaxis(out, -1, 0)
        return restore(np.ascontiguousarray(out))


class AugmentedDataset:
    """A map-style dataset whose samples are augmented on access (for `torch.utils.data`).

    Wraps any indexable dataset with a length whose items are a sample or a tuple
    `(sample, *rest)` (e.g. `(x, y)`); only the sample is augmented. Sample `i` uses the id
    `ids[i]` (default its position `i`), so iterating the wrapper gives the same samples as
    `augmenter(x, epoch=e)` on the whole array. Call `set_epoch(e)` before each epoch; with
    `DataLoader(num_workers > 0)` do so before the loader's iterator is created (workers copy
    the dataset then), and do not use `persistent_workers`.

    Args:
        dataset: the dataset to wrap (torch `Dataset`, numpy array, list ...).
        augmenter: the augmenter.
        ids: one stable id per sample; default the positions.
        epoch: the first epoch.
        channels_first: image samples are (channels, height, width) tensors or arrays.
    """

    def __init__(
        self,
        dataset: Any,
        augmenter: Augmenter,
        *,
        ids: Ids | None = None,
        epoch: int = 0,
        channels_first: bool = False,
    ) -> None:
        if ids is not None and len(ids) != len(dataset):
            raise DataError(
                f"augment: {len(ids)} ids for a dataset of {len(dataset)} samples; give one id "
                "per sample."
            )
        self.dataset = dataset
        self.ids = None if ids is None else list(ids)
        self.transform = SampleTransform(augmenter, epoch=epoch, channels_first=channels_first)

    @property
    def epoch(self) -> int:
        """The epoch whose augmentations are drawn."""
        return self.transform.epoch

    def set_epoch(self, epoch: int) -> None:
        """Draw the augmentations of `epoch` (a non-negative integer) from now on."""
        self.transform.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> Any:
        i = operator.index(index)
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} samples")
        item = self.dataset[i]
        sample_id = self.ids[i] if self.ids is not None else i
        if isinstance(item, tuple):
            return (self.transform(item[0], sample_id), *item[1:])
        return self.transform(item, sample_id)


def augmentation_caps(store: Store, run: str, *, quantile: float = 0.5) -> dict[str, float]:
    """Physical magnitudes at which a run's predictions start to break, for `augment(up_to=)`.

    Reads the breaking points stored by `wince analyze --breaking-points` (or
    `analyze_run(..., breaking_points=True)`) and returns, per perturbation, the `quantile`
    of the samples' breaking severities in physical units. Perturbations whose quantile is
    censored (more samples than `1 - quantile` never break within the search's range: severity
    1, or further when the run swept further) are left out, so `augment` uses their whole
    realistic range.

    Args:
        store: the store holding the run.
        run: run id, unique id prefix or "latest".
        quantile: in (0, 1]: 0.5 is the median sample's breaking point, 0.1 the point where
            a tenth of the samples have broken.

    Raises:
        StoreError: no such run, or it has no stored breaking points.
        ParameterError: `quantile` outside (0, 1].
    """
    from wince.analysis.breaking import BreakingPoints

    if isinstance(quantile, bool) or not isinstance(quantile, int | float) or not 0 < quantile <= 1:
        raise ParameterError(
            f"augmentation_caps: quantile must be a number in (0, 1]; got {quantile!r}. Try 0.5."
        )
    run_id = store.resolve(run)
    payload = store.load_analysis(run_id, "breaking_points")
    if payload is None:
        raise StoreError(
            f"run {run_id} has no breaking points. Compute them with "
            f"`wince analyze {run_id} --breaking-points`."
        )
    out: dict[str, float] = {}
    for name, item in payload.items():
        result = BreakingPoints.from_payload(item)
        severities = result.table["breaking_severity"].to_numpy(dtype=np.float64)
        if not len(severities):
            continue
        severity = float(np.quantile(severities, quantile, method="inverted_cdf"))
        magnitude = get(result.perturbation).magnitude
        if math.isfinite(severity) and severity > 0:
            out[name] = magnitude.value_at(severity)
    return out


def _specs(source: Any) -> list[tuple[str, dict[str, Any], str]]:
    """(name, params, where) of each perturbation of the source."""
    from wince.plan import Plan, as_plan

    if isinstance(source, str) and (
        source in registry()
        or not (Path(source).suffix in (".yaml", ".yml") or Path(source).is_file())
    ):
        return [(source, {}, "source")]  # a name; an unknown one fails with a hint below
    if isinstance(source, Mapping) and "perturbations" not in source:
        source = [source]
    if isinstance(source, Plan | Mapping | str | Path):
        plan = as_plan(dict(source) if isinstance(source, Mapping) else source)
        return [
            (spec.name, dict(spec.params), f"plan perturbations[{i}]")
            for i, spec in enumerate(plan.perturbations)
        ]
    if not isinstance(source, Sequence) or not source:
        raise ParameterError(
            f"augment: source must be a plan, a plan file, a perturbation name or a non-empty "
            f"list of names; got {source!r}. Try ['image.gaussian_noise']."
        )
    specs: list[tuple[str, dict[str, Any], str]] = []
    for i, item in enumerate(source):
        where = f"source[{i}]"
        if isinstance(item, str):
            specs.append((item, {}, where))
            continue
        if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
            raise ParameterError(
                f"augment: {where} must be a perturbation name or a mapping with 'name' and "
                f"optional 'params'; got {item!r}."
            )
        extra = sorted(set(item) - {"name", "params"})
        if extra:
            raise ParameterError(
                f"augment: {where} has {extra}; augmentation draws magnitudes itself, so an "
                "entry takes only 'name' and 'params'. Use up_to to cap the magnitude."
            )
        params = item.get("params") or {}
        if not isinstance(params, Mapping):
            raise ParameterError(f"augment: {where}.params must be a mapping; got {params!r}.")
        specs.append((item["name"], dict(params), where))
    return specs


def _entries(
    specs: list[tuple[str, dict[str, Any], str]], up_to: Mapping[str, float]
) -> list[_Entry]:
    names = [name for name, _, _ in specs]
    if not isinstance(up_to, Mapping):
        raise ParameterError(
            f"augment: up_to maps perturbation names to physical values; got {up_to!r}. "
            f"Try up_to={{{names[0]!r}: ...}}."
        )
    for name in up_to:
        if name not in names:
            raise ParameterError(
                f"augment: up_to[{name!r}]: not one of the augmenter's perturbations {names}."
            )
    entries: list[_Entry] = []
    seen: dict[str, int] = {}
    for name, params, where in specs:
        try:
            cls = get(name)
        except ParameterError as error:
            raise ParameterError(f"augment: {where}: {error}") from None
        try:
            perturbation = cls(**params)
        except TypeError:
            raise ParameterError(
                f"augment: {where}: {name} takes the options {cls.options()}; got {params}."
            ) from None
        if not cls.preserves_shape:
            raise ParameterError(
                f"augment: {where}: {name} changes the shape of a sample, so it cannot be "
                "applied to part of a batch. Leave it out of the augmentation."
            )
        magnitude = cls.magnitude
        cap, max_severity = magnitude.severe, 1.0
        if name in up_to:
            cap = _check_cap(magnitude, up_to[name], f"augment: up_to[{name!r}]")
            max_severity = magnitude.severity_of(cap)
        occurrence = seen.get(name, 0)
        seen[name] = occurrence + 1
        stream = f"{DRAW_STREAM}/{name}#{occurrence}"
        entries.append(_Entry(name, stream, perturbation, max_severity, cap))
    return entries


def _check_cap(magnitude: Magnitude, value: object, owner: str) -> float:
    """A validated cap: inside the limits and on the perturbing side of `off`.

    Raises:
        ParameterError: not a number, outside the limits, or at or behind `off`.
    """
    low, high = magnitude.limits
    numeric = isinstance(value, int | float | np.integer | np.floating) and not isinstance(
        value, bool
    )
    # the side is checked before `validate`, which would warn that the value is unrealistic
    number = float(cast(float, value)) if numeric else math.nan
    if low <= number <= high and not magnitude.severity_of(number) > 0:
        raise ParameterError(
            f"{owner}: {magnitude.name}={value:g} {magnitude.unit} does not perturb: a cap must "
            f"lie beyond off ({magnitude.off:g}) towards severe ({magnitude.severe:g}). "
            f"Try {magnitude.severe:g}."
        )
    return magnitude.validate(value, owner)


def _value_at(magnitude: Magnitude, severity: float, cap: float) -> float:
    """Physical value at a severity in [0, max]; beyond 1 the scale is extended past severe."""
    value = magnitude.value_at(min(severity, magnitude.max_severity))
    low, high = sorted((magnitude.off, cap))
    return float(min(max(value, low), high))  # float rounding must not step past the cap


def _check_probability(probability: object) -> float:
    ok = isinstance(probability, int | float | np.floating) and not isinstance(probability, bool)
    number = float(cast(float, probability)) if ok else math.nan
    if not 0.0 <= number <= 1.0:  # also rejects NaN
        raise ParameterError(
            "augment: probability must be a number in [0, 1] (the share of samples perturbed); "
            f"got {probability!r}. Try 0.5."
        )
    return number


def _check_epoch(epoch: object) -> int:
    if isinstance(epoch, bool) or not isinstance(epoch, int | np.integer) or epoch < 0:
        raise ParameterError(
            f"augment: epoch must be a non-negative integer; got {epoch!r}. Count epochs from 0."
        )
    return int(epoch)


def _as_numpy(x: Any) -> tuple[npt.NDArray[Any], Callable[[npt.NDArray[Any]], Any]]:
    """The sample as a numpy array, and a function that gives a result back x's type."""
    if type(x).__module__.split(".")[0] == "torch" and hasattr(x, "detach"):
        import torch

        tensor: torch.Tensor = x

        def to_tensor(out: npt.NDArray[Any]) -> Any:
            return torch.from_numpy(out).to(device=tensor.device, dtype=tensor.dtype)

        return tensor.detach().cpu().numpy(), to_tensor
    return np.asarray(x), lambda out: out


def breaking_points(store: Store, run: str, *, quantile: float = 0.5) -> dict[str, float]:
    """Deprecated name of `augmentation_caps` (`wince.analysis.breaking_points` is the search)."""
    deprecated("wince.realism.breaking_points", "wince.realism.augmentation_caps")
    return augmentation_caps(store, run, quantile=quantile)
