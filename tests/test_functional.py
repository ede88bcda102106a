"""The functional layer: `wince.perturb` keywords and `(x, value, rng) -> x'` functions.

A keyword call is the perturbation class applied with the run's streams, bit for bit; the
functions are pure (restarted streams, inputs never changed); every perturbation has a keyword
of its own, and the built-in keywords do not move when a user registers a perturbation.
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar

import numpy as np
import pytest

import wince
from wince.datasets.base import ArrayDataset
from wince.errors import DataError, ParameterError
from wince.perturbations import (
    DataContext,
    Magnitude,
    Modality,
    Perturbation,
    Rngs,
    base,
    functional,
    get,
    registry,
)

RNG = np.random.default_rng(11)
IMAGES = RNG.integers(0, 256, size=(3, 12, 12, 3), dtype=np.uint8)
TEXTS = ["The quick brown fox jumps over the lazy dog.", "Perturbation analysis, in short."]
CLIPS = (0.5 * np.sin(np.linspace(0, 300, 3200))).reshape(2, 1600).astype(np.float32)
AUDIO = DataContext(Modality.AUDIO, sample_rate_hz=16000)
TABLE = RNG.normal(size=(6, 4))
SERIES = RNG.normal(size=(3, 20, 2))

# (keyword, registry name, value, batch, context given to perturb) — one per modality
CASES = [
    ("exposure_ev", "image.exposure", -1.0, IMAGES, None),
    ("typos_rate", "text.typos", 0.05, TEXTS, None),
    ("additive_noise_db", "audio.additive_noise", 20.0, CLIPS, AUDIO),
    ("gaussian_noise_sd", "tabular.gaussian_noise", 0.3, TABLE, None),
    ("jitter_sd", "timeseries.jitter", 0.2, SERIES, None),
]


def class_applied(name: str, x: Any, value: float, seed: int, context: DataContext) -> Any:
    """The registered class applied as a run of `seed` applies it to samples "0", "1", ..."""
    rngs = Rngs.for_samples([str(i) for i in range(len(x))], seed=seed, step=f"{name}#0")
    return get(name)().perturb(x, value, rngs, context)


def same(a: Any, b: Any) -> bool:
    return a == b if isinstance(a, list) else bool(np.array_equal(a, b))


@pytest.mark.parametrize(("keyword", "name", "value", "x", "context"), CASES)
def test_keyword_call_is_the_class_applied_bit_for_bit(
    keyword: str, name: str, value: float, x: Any, context: DataContext | None
) -> None:
    modality = get(name).modality
    measured = context or ArrayDataset(x, modality=modality).context()
    expected = class_applied(name, x, value, 5, measured)
    got = wince.perturb(x, seed=5, context=context, **{keyword: value})
    assert same(got, expected)
    assert not same(got, x)  # it did perturb
    assert same(functional.apply(name, x, value, 5, context=context), expected)


def test_the_seed_chooses_the_draws() -> None:
    assert not same(
        wince.perturb(TEXTS, typos_rate=0.05, seed=1), wince.perturb(TEXTS, typos_rate=0.05, seed=2)
    )
    assert same(
        wince.perturb(TEXTS, typos_rate=0.05, seed=1), wince.perturb(TEXTS, typos_rate=0.05, seed=1)
    )


def test_several_keywords_compose_in_order_on_their_own_streams() -> None:
    context = DataContext(Modality.IMAGE)
    darker = class_applied("image.exposure", IMAGES, -1.0, 0, context)
    expected = class_applied("image.jpeg", darker, 40.0, 0, context)
    assert same(wince.perturb(IMAGES, exposure_ev=-1, jpeg_quality=40), expected)
    reversed_order = wince.perturb(IMAGES, jpeg_quality=40, exposure_ev=-1)
    assert not same(reversed_order, expected)


def test_functions_are_pure_and_never_change_their_input() -> None:
    for _, name, value, x, context in CASES:
        before = copy.deepcopy(x)
        measured = context or ArrayDataset(x, modality=get(name).modality).context()
        first = functional.apply(name, x, value, 3, context=measured)
        assert same(functional.apply(name, x, value, 3, context=measured), first)
        assert same(x, before), name
    rngs = Rngs.for_samples(["a", "b", "c"], seed=4, step="image.gaussian_noise#0")
    once = functional.image_gaussian_noise(IMAGES, 5.0, rngs)
    assert same(functional.image_gaussian_noise(IMAGES, 5.0, rngs), once)  # streams restart


def test_attribute_functions_follow_the_registry_names() -> None:
    assert functional.image_exposure.__name__ == "image_exposure"
    assert "`perturb` keyword `exposure_ev`" in (functional.image_exposure.__doc__ or "")
    assert same(
        functional.text_typos(TEXTS, 0.05, 9), functional.apply("text.typos", TEXTS, 0.05, 9)
    )
    assert "timeseries_jitter" in dir(functional)
    with pytest.raises(AttributeError, match="did you mean image_exposure"):
        functional.image_exposur  # noqa: B018


def test_an_unknown_keyword_names_the_close_ones() -> None:
    with pytest.raises(
        ParameterError, match=r"unknown keyword 'exposre_ev'.*exposure_ev \(image\.exposure\)"
    ):
        wince.perturb(IMAGES, exposre_ev=-1)


def test_a_shared_parameter_name_asks_which_perturbation() -> None:
    with pytest.raises(
        ParameterError,
        match=r"typo_rate is the parameter of several.*"
        r"category_typos_rate \(tabular\.category_typos\) or typos_rate \(text\.typos\)",
    ):
        wince.perturb(TEXTS, typo_rate=0.02)


def test_refusals() -> None:
    with pytest.raises(ParameterError, match="name a perturbation and its value"):
        wince.perturb(IMAGES)
    with pytest.raises(
        ParameterError, match=r"different modalities \(exposure_ev \(image\), typos_rate \(text\)\)"
    ):
        wince.perturb(IMAGES, exposure_ev=-1, typos_rate=0.02)
    with pytest.raises(ParameterError, match="seed must be a non-negative whole number"):
        wince.perturb(IMAGES, seed=-1, exposure_ev=-1)
    with pytest.raises(ParameterError, match="exposure_ev must be a number of EV"):
        wince.perturb(IMAGES, exposure_ev="dark")
    with pytest.raises(DataError, match=r"perturb: the batch: images are \(n, height, width\)"):
        wince.perturb(TABLE, exposure_ev=-1)


def test_every_registered_perturbation_has_a_keyword_of_its_own() -> None:
    table = functional.keywords()
    assert sorted(table.values()) == sorted(registry())  # one each, none shared
    assert all(k.isidentifier() and k not in ("seed", "context") for k in table)
    parameters = {cls.magnitude.name for cls in registry().values()}
    assert sum(k in parameters for k in table) >= 60  # most are simply the parameter's name
    assert functional.keyword_of("image.low_light") == "low_light_ev"
    assert functional.keyword_of("audio.dropouts") == "audio_dropouts_rate"
    assert functional.keyword_of("image.jpeg") == "jpeg_quality"


class JpegLike(Perturbation):
    """A user perturbation whose parameter shares a built-in's name."""

    name: ClassVar[str] = "image.user_quality"
    modality: ClassVar[Modality] = Modality.IMAGE
    version: ClassVar[int] = 1
    stochastic: ClassVar[bool] = False
    magnitude: ClassVar[Magnitude] = Magnitude("jpeg_quality", "quality", 100, 90, 50, (1, 100))

    def apply(self, x: Any, value: float, rngs: Rngs, context: DataContext) -> Any:
        return x.copy()


class TypoLike(JpegLike):
    """A user perturbation whose parameter several built-ins share."""

    name: ClassVar[str] = "image.user_typos"
    magnitude: ClassVar[Magnitude] = Magnitude("typo_rate", "fraction", 0, 0.01, 0.1, (0, 1))


def test_a_user_perturbation_leaves_the_builtin_keywords_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = functional.keywords()
    monkeypatch.setattr(base, "_REGISTRY", dict(base._REGISTRY))  # keep the real one clean
    base.register(JpegLike)
    base.register(TypoLike)
    after = functional.keywords()
    assert after.pop("user_quality") == "image.user_quality"
    assert after.pop("user_typos_rate") == "image.user_typos"  # typo_rate stays ambiguous
    assert after == before
    with pytest.raises(ParameterError, match=r"typo_rate is the parameter of several.*user_typos"):
        wince.perturb(TEXTS, typo_rate=0.02)
