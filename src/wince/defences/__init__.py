"""The defence library: registered, versioned defences of a model's input path or output.

`wince harden` (`wince.defences.harden`) tries them on a stored run: each defended model
reruns the run's scenarios with the same seeds, so its exposure is compared sample by sample.
"""

from wince.defences.base import (
    CleanData,
    Defence,
    DefendedModel,
    FragilePerturbation,
    InputDefence,
    applicable,
    clean_data,
    create,
    get,
    register,
    registry,
)

__all__ = [
    "CleanData",
    "Defence",
    "DefendedModel",
    "FragilePerturbation",
    "InputDefence",
    "applicable",
    "clean_data",
    "create",
    "get",
    "register",
    "registry",
]
