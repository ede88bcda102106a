"""Presets: published sets of perturbations and levels, named in a plan (`preset: imagenet-c`).

A preset expands to plan perturbation entries, e.g. ImageNet-C's 15 corruptions at levels
1-5 in the published order. ImageNet-C's scores are here too: the corruption error (CE) of a
corruption is the model's error summed over the 5 levels divided by AlexNet's, and the mean
corruption error (mCE) is the mean CE over the 15 corruptions (Hendrycks & Dietterich 2019).

Examples:
    >>> preset("imagenet-c")[0]
    {'name': 'image.imagenet_c_gaussian_noise', 'levels': [1, 2, 3, 4, 5]}
    >>> round(corruption_error([0.5, 0.6, 0.7, 0.8, 0.9], baseline_error=0.8), 2)
    87.5
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from wince.errors import ParameterError
from wince.perturbations.presets import imagenet_c  # noqa: F401  (registers the corruptions)

__all__ = [
    "ALEXNET_ERRORS",
    "IMAGENET_C_CORRUPTIONS",
    "PRESETS",
    "corruption_error",
    "mean_corruption_error",
    "preset",
    "relative_mean_corruption_error",
]

IMAGENET_C_CORRUPTIONS = (
    "gaussian_noise",
    "shot_noise",
    "impulse_noise",
    "defocus_blur",
    "glass_blur",
    "motion_blur",
    "zoom_blur",
    "snow",
    "frost",
    "fog",
    "brightness",
    "contrast",
    "elastic_transform",
    "pixelate",
    "jpeg_compression",
)
_IMAGENET_C_PREFIX = "image.imagenet_c_"
IMAGENET_C_LEVELS = (1, 2, 3, 4, 5)

PRESETS: dict[str, tuple[str, ...]] = {
    "imagenet-c": tuple(_IMAGENET_C_PREFIX + c for c in IMAGENET_C_CORRUPTIONS),
}

# AlexNet's top-1 error on ImageNet-C per corruption, averaged over the 5 levels (fractions), as
# published with the robustness code (github.com/hendrycks/robustness) and used as the mCE
# baseline by AugMix (github.com/google-research/augmix, imagenet.py, ALEXNET_ERR). CE needs
# only these averages: the sum over levels is 5 times the mean.
ALEXNET_ERRORS: dict[str, float] = dict(
    zip(
        IMAGENET_C_CORRUPTIONS,
        (
            0.886428,
            0.894468,
            0.922640,
            0.819880,
            0.826268,
            0.785948,
            0.798360,
            0.866816,
            0.826572,
            0.819324,
            0.564592,
            0.853204,
            0.646056,
            0.717840,
            0.606500,
        ),
        strict=True,
    )
)


def preset(name: str) -> list[dict[str, Any]]:
    """The plan perturbation entries of a preset, in the published order.

    Args:
        name: the preset's name; "imagenet-c" gives its 15 corruptions at levels 1-5.

    Raises:
        ParameterError: unknown preset, naming the known ones.
    """
    if name not in PRESETS:
        known = ", ".join(repr(k) for k in PRESETS)
        raise ParameterError(f"unknown preset {name!r}; known presets: {known}.")
    return [{"name": entry, "levels": list(IMAGENET_C_LEVELS)} for entry in PRESETS[name]]


def _corruption(name: str) -> str:
    """A corruption's ImageNet-C name from itself or its registry name."""
    short = name.removeprefix(_IMAGENET_C_PREFIX)
    if short not in IMAGENET_C_CORRUPTIONS:
        raise ParameterError(
            f"{name!r} is not an ImageNet-C corruption; expected one of "
            f"{', '.join(IMAGENET_C_CORRUPTIONS)} (or their registry names, "
            f"e.g. {_IMAGENET_C_PREFIX + IMAGENET_C_CORRUPTIONS[0]!r})."
        )
    return short


def _error_rate(value: object, where: str) -> float:
    """An error rate: a number in [0, 1]."""
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok or not 0.0 <= float(value) <= 1.0:  # type: ignore[arg-type]
        raise ParameterError(
            f"{where}: error rates are fractions in [0, 1]; got {value!r}. Try 0.25 for 25 %."
        )
    return float(value)  # type: ignore[arg-type]


def _rates(errors: object, where: str) -> list[float]:
    """One error rate per level 1-5."""
    if not isinstance(errors, Sequence) or isinstance(errors, str) or len(errors) != 5:
        raise ParameterError(f"{where}: need one error rate per level 1-5; got {errors!r}.")
    return [_error_rate(e, f"{where}[{i}]") for i, e in enumerate(errors)]


def corruption_error(errors: Sequence[float], *, baseline_error: float) -> float:
    """The corruption error (CE) in percent of the baseline: 100 * sum_s E_s / sum_s B_s.

    Args:
        errors: the model's top-1 error rate (fraction in [0, 1]) at each of the 5 levels.
        baseline_error: the baseline's error averaged over the 5 levels (fraction in (0, 1]).

    Raises:
        ParameterError: not 5 error rates in [0, 1], or a baseline error outside (0, 1].
    """
    rates = _rates(errors, "corruption_error: errors")
    baseline = _error_rate(baseline_error, "corruption_error: baseline_error")
    if baseline == 0:
        raise ParameterError("corruption_error: baseline_error must be above 0; got 0.")
    return 100.0 * math.fsum(rates) / (len(rates) * baseline)


def _complete(errors: Mapping[str, Any], what: str) -> dict[str, Any]:
    """`errors` keyed by ImageNet-C name, checked to cover the 15 corruptions exactly once."""
    keyed = {_corruption(k): v for k, v in errors.items()}
    missing = [c for c in IMAGENET_C_CORRUPTIONS if c not in keyed]
    if missing or len(keyed) != len(errors):
        raise ParameterError(
            f"{what}: need exactly one entry for each of the 15 ImageNet-C corruptions; "
            f"missing {missing or 'none'} (duplicates: {len(errors) - len(keyed)})."
        )
    return keyed


def mean_corruption_error(
    errors: Mapping[str, Sequence[float]], baseline: Mapping[str, float] = ALEXNET_ERRORS
) -> float:
    """The mean corruption error (mCE) in percent: the mean CE over the 15 corruptions.

    Args:
        errors: per corruption (ImageNet-C or registry name), the model's top-1 error rate at
            levels 1-5 (fractions in [0, 1]).
        baseline: per corruption, the baseline's error averaged over the 5 levels; AlexNet's by
            default, which makes AlexNet's mCE 100.

    Raises:
        ParameterError: a corruption missing, unknown or given twice, or a bad error rate.
    """
    model = _complete(errors, "mean_corruption_error")
    reference = _complete(baseline, "mean_corruption_error baseline")
    return math.fsum(
        corruption_error(model[c], baseline_error=reference[c]) for c in IMAGENET_C_CORRUPTIONS
    ) / len(IMAGENET_C_CORRUPTIONS)


def relative_mean_corruption_error(
    errors: Mapping[str, Sequence[float]],
    *,
    clean_error: float,
    baseline: Mapping[str, float],
    baseline_clean_error: float,
) -> float:
    """The relative mCE in percent: the mean over corruptions of the error added by corruption.

    Relative CE_c = 100 * sum_s (E_s,c - E_clean) / sum_s (B_s,c - B_clean), the degradation
    relative to the baseline's. There is no default baseline: AlexNet's clean error is not
    recorded alongside the corruption errors used here.

    Args:
        errors: per corruption, the model's top-1 error rate at levels 1-5 (fractions).
        clean_error: the model's error on the clean images (fraction).
        baseline: per corruption, the baseline's error averaged over the 5 levels.
        baseline_clean_error: the baseline's clean error (fraction), below every baseline error.

    Raises:
        ParameterError: a corruption missing or unknown, a bad error rate, or a baseline
            corruption error not above the baseline's clean error.
    """
    model = _complete(errors, "relative_mean_corruption_error")
    reference = _complete(baseline, "relative_mean_corruption_error baseline")
    clean = _error_rate(clean_error, "relative_mean_corruption_error: clean_error")
    base_clean = _error_rate(
        baseline_clean_error, "relative_mean_corruption_error: baseline_clean_error"
    )
    total = 0.0
    for c in IMAGENET_C_CORRUPTIONS:
        rates = _rates(model[c], f"relative_mean_corruption_error: {c}")
        degradation = _error_rate(reference[c], f"baseline {c}") - base_clean
        if degradation <= 0:
            raise ParameterError(
                f"relative_mean_corruption_error: the baseline's {c} error must exceed its "
                f"clean error {base_clean:g}; got {reference[c]!r}."
            )
        total += 100.0 * (math.fsum(rates) / len(rates) - clean) / degradation
    return total / len(IMAGENET_C_CORRUPTIONS)
