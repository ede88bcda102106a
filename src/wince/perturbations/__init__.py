"""The perturbation library: registry, base classes and the built-in perturbations."""

from wince.perturbations.base import (
    EXACT,
    LEVELS,
    DataContext,
    Drift,
    Magnitude,
    Modality,
    Perturbation,
    RaggedBatch,
    Rngs,
    Step,
    compose,
    create,
    get,
    register,
    registry,
    sample_keys,
)
from wince.perturbations.targets import compose_with_targets

__all__ = [
    "EXACT",
    "LEVELS",
    "DataContext",
    "Drift",
    "Magnitude",
    "Modality",
    "Perturbation",
    "RaggedBatch",
    "Rngs",
    "Step",
    "compose",
    "compose_with_targets",
    "create",
    "get",
    "register",
    "registry",
    "sample_keys",
]
