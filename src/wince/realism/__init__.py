"""Realism: perturbation magnitudes that match real data, and training-time augmentation.

`calibrate` estimates, from real inputs, the magnitudes of the library's perturbations the
data shows (`wince calibrate` writes them as a plan, at the observed p50, p90 and p99).
`augment` builds a seeded transform usable in training (numpy, torch and scikit-learn forms)
that draws magnitudes inside the realistic ranges, or up to measured breaking points.
`foreground_weights` tells a subject from a plain background (darker or lighter), to align
it before a model as the report's alignment defence does. `AugmentTransformer` (the
scikit-learn form) is imported on first use, so importing wince does not import scikit-learn.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from wince.realism.align import foreground_weights
from wince.realism.augment import (
    AugmentedDataset,
    Augmenter,
    Draw,
    SampleTransform,
    augment,
    augmentation_caps,
    breaking_points,
)
from wince.realism.calibrate import Calibration, Quantity, calibrate

if TYPE_CHECKING:
    from wince.realism.sklearn import AugmentTransformer

__all__ = [
    "AugmentTransformer",
    "AugmentedDataset",
    "Augmenter",
    "Calibration",
    "Draw",
    "Quantity",
    "SampleTransform",
    "augment",
    "augmentation_caps",
    "breaking_points",
    "calibrate",
    "foreground_weights",
]


def __getattr__(name: str) -> Any:
    if name == "AugmentTransformer":
        from wince.realism.sklearn import AugmentTransformer

        return AugmentTransformer
    raise AttributeError(f"module 'wince.realism' has no attribute {name!r}")
