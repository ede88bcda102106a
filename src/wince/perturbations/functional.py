"""The functional layer: each perturbation as a pure function, and keyword calls in physical units.

Under every registered perturbation class lies a function `(x, value, rng) -> x'`:
`apply("image.exposure", x, -1.0, rng)`, or as an attribute named after the registry name with
its dot made an underscore, `image_exposure(x, -1.0, rng)`. `rng` is a seed (a non-negative
int) or an `Rngs`; the same arguments always give the same output, and `x` is never changed.

`perturb(x, exposure_ev=-1)` names a perturbation by a keyword that says its parameter and
unit. A perturbation's keyword (`keywords()`, also in the perturbation catalogue) is:

1. its parameter name (`jpeg_quality`, `angle_deg`, `word_typo_rate`), when no other
   perturbation's parameter has that name;
2. otherwise its short name (the registry name after the modality) with the parameter's unit
   suffix (its last `_` part): `image.exposure` and `image.low_light` share `exposure_ev`, so
   they are `exposure_ev` and `low_light_ev`; `text.typos` is `typos_rate`;
3. otherwise that, after its modality: `audio_dropouts_rate`, `timeseries_dropouts_rate`.

Several keywords are a composition, applied in the order given, each with its own random
streams as a plan's combination scenario draws them. With the default sample ids (positions
"0", "1", ...) and trial 0, a call reproduces what a run of the same seed feeds the model.

Examples:
    >>> import numpy as np
    >>> from wince.perturbations import functional
    >>> images = np.full((2, 8, 8, 3), 128, dtype=np.uint8)
    >>> darker = functional.perturb(images, exposure_ev=-1)
    >>> int(darker.max()) < 128, int(images.max())
    (True, 128)
    >>> bool((functional.image_exposure(images, -1.0, 0) == darker).all())
    True
    >>> functional.keyword_of("text.typos")
    'typos_rate'
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from typing import Any

from wince.errors import ParameterError
from wince.perturbations.base import (
    Batch,
    DataContext,
    Modality,
    Perturbation,
    Rngs,
    Step,
    compose,
    create,
    get,
    registry,
    sample_keys,
)

Function = Callable[..., Batch]
"""A perturbation as a function: `(x, value, rng, *, context=None, **options) -> x'`."""

_LEVELS = 3  # the parameter name; short name and unit suffix; modality, short name and suffix


def _candidates(cls: type[Perturbation]) -> tuple[str, str, str]:
    """The keywords a perturbation may take, most preferred first (see the module docstring)."""
    parameter = cls.magnitude.name
    suffix = parameter.rsplit("_", 1)[-1]
    short = re.sub(r"\W", "_", cls.name.split(".", 1)[-1])
    qualified = short if short == suffix or short.endswith(f"_{suffix}") else f"{short}_{suffix}"
    return parameter, qualified, f"{cls.modality.value}_{qualified}"


def keywords() -> dict[str, str]:
    """Every registered perturbation's `perturb` keyword: keyword -> registry name, sorted.

    Each keyword is unique; the rule that derives them is in the module docstring. The
    built-in perturbations' keywords are derived among themselves first, so registering a
    perturbation of your own never changes them; yours take what remains.

    Raises:
        ParameterError: user-registered perturbations left two with one keyword at every
            level (rename one's parameter or registry name).
    """
    classes = registry()
    builtins = {name for name, cls in classes.items() if cls.__module__.startswith("wince.")}
    chosen: dict[str, str] = {}
    for group in (builtins, set(classes) - builtins):
        # a parameter name is a keyword only if no perturbation considered so far shares it
        parameters = Counter(classes[name].magnitude.name for name in builtins | group)
        pending = {name: _candidates(classes[name]) for name in sorted(group)}
        for level in range(_LEVELS):
            proposals: dict[str, list[str]] = {}
            for name, candidates in pending.items():
                proposals.setdefault(candidates[level], []).append(name)
            for keyword, names in proposals.items():
                shared = level == 0 and parameters[keyword] > 1
                if len(names) == 1 and not shared and keyword not in chosen:
                    chosen[keyword] = names[0]
                    del pending[names[0]]
        if pending:
            raise ParameterError(
                f"perturbations {', '.join(sorted(pending))} have no keyword of their own: "
                "their parameter names, short names and modalities coincide with other "
                "perturbations'. Register them under distinct names or parameter names."
            )
    return dict(sorted(chosen.items()))


def keyword_of(name: str) -> str:
    """The `perturb` keyword of the perturbation registered under `name`.

    Raises:
        ParameterError: unknown perturbation name (with the closest as a hint).
    """
    get(name)  # the unknown-name error
    return next(keyword for keyword, owner in keywords().items() if owner == name)


def _perturbation_of(keyword: str, table: dict[str, str]) -> str:
    """The registry name a `perturb` keyword stands for, or a did-you-mean error."""
    if keyword in table:
        return table[keyword]
    sharing = [k for k, name in table.items() if get(name).magnitude.name == keyword]
    if sharing:
        choices = " or ".join(f"{k} ({table[k]})" for k in sharing)
        raise ParameterError(
            f"perturb: {keyword} is the parameter of several perturbations; name one by its "
            f"keyword: {choices}."
        )
    import difflib

    close = difflib.get_close_matches(keyword, table, n=5, cutoff=0.6)
    hint = f" Close ones: {', '.join(f'{k} ({table[k]})' for k in close)}." if close else ""
    raise ParameterError(
        f"perturb: unknown keyword {keyword!r}.{hint} Every perturbation's keyword is listed by "
        "wince.perturbations.functional.keywords() and in the perturbation catalogue."
    )


def _fresh_rngs(name: str, x: Batch, rng: int | Rngs) -> Rngs:
    """`rng` restarted (an `Rngs` is used up by use), or a seed's streams for positions."""
    if isinstance(rng, Rngs):
        return rng.take(range(len(rng)))
    return Rngs.for_samples([str(i) for i in range(len(x))], seed=_seed(rng), step=f"{name}#0")


def _seed(seed: object) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ParameterError(f"seed must be a non-negative whole number; got {seed!r}. Try 0.")
    return seed


def apply(
    name: str,
    x: Batch,
    value: float,
    rng: int | Rngs,
    *,
    context: DataContext | None = None,
    **options: Any,
) -> Batch:
    """The perturbation registered under `name` applied at `value`: a new batch, `x` unchanged.

    Args:
        name: the registry name, e.g. "image.exposure".
        x: a batch of the perturbation's modality (a list of str for text).
        value: the physical value, in the unit of the perturbation's parameter.
        rng: a seed (non-negative int: sample i draws from the stream of sample id "i", as in
            a run of that seed) or an `Rngs`, restarted on every call (so the call is pure).
        context: dataset-level facts; default those of `x` itself, as a run on `x` as its
            data would measure them (column sds for tabular data); audio needs
            `DataContext(Modality.AUDIO, sample_rate_hz=...)`.
        **options: the perturbation's options (a plan entry's `params`).

    Raises:
        ParameterError: unknown name or option, a bad seed, or a value outside the limits.
        DataError: `x` is not a batch of the perturbation's modality.
    """
    perturbation = create(name, options)
    context = context or _context_of(x, perturbation.modality)
    return perturbation.perturb(x, value, _fresh_rngs(name, x, rng), context)


def function(name: str) -> Function:
    """The perturbation registered under `name` as a function `(x, value, rng) -> x'`."""
    cls = get(name)

    def perturbation_function(
        x: Batch,
        value: float,
        rng: int | Rngs,
        *,
        context: DataContext | None = None,
        **options: Any,
    ) -> Batch:
        return apply(name, x, value, rng, context=context, **options)

    m = cls.magnitude
    perturbation_function.__name__ = perturbation_function.__qualname__ = _attribute(name)
    perturbation_function.__doc__ = (
        f"{(cls.__doc__ or name).strip().splitlines()[0]}\n\n`apply({name!r}, x, value, rng)`: "
        f"value is {m.name} in {m.unit} (off {m.off:g}, realistic {m.realistic[0]:g} to "
        f"{m.realistic[1]:g}); `perturb` keyword `{keyword_of(name)}`."
    )
    return perturbation_function


def _attribute(name: str) -> str:
    return re.sub(r"\W", "_", name)


def perturb(
    x: Batch, *, seed: int = 0, context: DataContext | None = None, **physical: float
) -> Batch:
    """`x` perturbed by the perturbations the keywords name, at their physical values, in order.

    `perturb(images, exposure_ev=-1)` darkens by one stop; `perturb(texts, typos_rate=0.02)`
    mistypes 2% of the characters; `perturb(images, exposure_ev=-1, jpeg_quality=40)` darkens,
    then re-saves as JPEG (a composition, in keyword order, each perturbation on its own random
    streams, as a plan's combination scenario). `keywords()` lists every keyword.

    Args:
        x: a batch of the perturbations' modality (a list of str for text).
        seed: the run seed (non-negative int); sample i draws as sample id "i" does in a run.
        context: dataset-level facts; default those of `x` itself, as a run on `x` as its data
            would measure them (column sds for tabular data); audio needs
            `DataContext(Modality.AUDIO, sample_rate_hz=...)`.
        **physical: keyword = value in the unit the keyword's parameter states.

    Raises:
        ParameterError: no keyword, an unknown one (with close ones as a hint), perturbations
            of different modalities, a bad seed, or a value outside a parameter's limits.
        DataError: `x` is not a batch of the perturbations' modality.
    """
    if not physical:
        raise ParameterError(
            "perturb: name a perturbation and its value as a keyword, e.g. "
            "perturb(images, exposure_ev=-1); wince.perturbations.functional.keywords() lists "
            "them."
        )
    table = keywords()
    steps = [Step(_perturbation_of(k, table), value) for k, value in physical.items()]
    modalities = {get(step.name).modality for step in steps}
    if len(modalities) > 1:
        named = ", ".join(f"{k} ({get(table[k]).modality.value})" for k in physical)
        raise ParameterError(
            f"perturb: the keywords act on different modalities ({named}); one call perturbs "
            "one batch of one modality."
        )
    if context is None:
        context = _context_of(x, modalities.pop())
    keys = sample_keys([str(i) for i in range(len(x))])
    return compose(x, steps, seed=_seed(seed), trial=0, keys=keys, context=context)


def _context_of(x: Batch, modality: Modality) -> DataContext:
    """The dataset-level facts of `x` as a dataset of `modality` (as a run on `x` measures)."""
    from wince.datasets.base import ArrayDataset

    return ArrayDataset(x, modality=modality, name="perturb: the batch").context()


def __getattr__(attribute: str) -> Function:
    """`image_exposure` and the like: `function` of the registry name with that attribute."""
    names = {_attribute(name): name for name in registry()}
    if attribute in names:
        return function(names[attribute])
    import difflib

    close = difflib.get_close_matches(attribute, names, n=3) if attribute[:1] != "_" else []
    hint = f"; did you mean {' or '.join(close)}?" if close else ""
    raise AttributeError(f"module {__name__!r} has no attribute {attribute!r}{hint}")


def __dir__() -> list[str]:
    """The module's names and one function per registered perturbation."""
    return sorted(set(globals()) | {_attribute(name) for name in registry()})
