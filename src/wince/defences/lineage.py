"""A defended run's model, rebuilt from its lineage, and the defence versions a model pins.

`wince harden` records in each defended run's lineage the defence it ran behind (`defence`:
name, version, options, fitted state) and the run it hardens (`hardens`). Whatever needs the
run's model again (`wince verify`, `wince monitor`) rebuilds it here: the plan's model behind
the same defence with the same options, fitted again on the run's data. A defence whose
installed version differs from the recorded one is a drift, as a perturbation's is: its
output for the same inputs may differ, so the run is not expected to reproduce.
"""

from __future__ import annotations

from typing import Any

from wince.datasets.base import Dataset
from wince.defences.base import DefendedModel, FragilePerturbation, clean_data, create, get
from wince.errors import ParameterError, StoreError
from wince.models.base import ModelAdapter

# What a defence's recorded options hold in place of an object given in memory (a model, a
# training set): the run cannot be rebuilt from its lineage.
IN_MEMORY = "in memory"


def defence_versions(model: Any) -> dict[str, int]:
    """Defence name -> version of every defence a model runs behind (outermost first).

    Empty for an undefended model; a defended model wrapped again by another defence
    names both.
    """
    versions: dict[str, int] = {}
    while isinstance(model, DefendedModel):
        versions[model.defence.name] = int(model.defence.version)
        model = model.model
    return versions


def defence_settings(model: Any) -> dict[str, dict[str, Any]]:
    """Defence name -> its options and fitted state, for every defence a model runs behind.

    Outermost first, as `defence_versions`; each value is {"options": ..., "fitted": ...}
    from `Defence.describe()` (JSON-able). Empty for an undefended model.
    """
    settings: dict[str, dict[str, Any]] = {}
    while isinstance(model, DefendedModel):
        described = model.defence.describe()
        settings[model.defence.name] = {
            "options": described["options"],
            "fitted": described["fitted"],
        }
        model = model.model
    return settings


def recorded_defence(record: dict[str, Any]) -> dict[str, Any] | None:
    """The defence a stored run ran behind (`Defence.describe()`), None for an undefended run."""
    described: dict[str, Any] | None = record["lineage"].get("defence")
    return described


def defence_drift(record: dict[str, Any]) -> list[str]:
    """The run's defence, if its installed version differs: ["text.normalize (run: v1, ...)"].

    A defence no longer registered counts as a drift too.
    """
    described = recorded_defence(record)
    if described is None:
        return []
    name, version = described["name"], int(described["version"])
    try:
        installed = int(get(name).version)
    except ParameterError:  # no longer registered
        return [f"defence {name} (run: v{version}, installed: none)"]
    if installed == version:
        return []
    return [f"defence {name} (run: v{version}, installed: v{installed})"]


def run_model(record: dict[str, Any], model: ModelAdapter, dataset: Dataset) -> ModelAdapter:
    """The model a stored run evaluated: `model` itself, or behind the run's defence.

    For a defended run the defence is created with its recorded options, aimed at the
    recorded findings (a training defence's "aimed"), fitted on
    `dataset` (the run's data, as `wince harden` fitted it) and wraps `model`; the caller
    checks the result's fingerprint against the run's. A `model` already behind a defence
    (the defended model itself, given by the caller) is returned as it is.

    Raises:
        StoreError: the run's defence is installed at another version (or not at all), or
            its recorded options hold an object given in memory (`IN_MEMORY`).
    """
    described = recorded_defence(record)
    if described is None or isinstance(model, DefendedModel):
        return model
    drift = defence_drift(record)
    if drift:
        raise StoreError(
            f"run {record['run_id']} ran behind {drift[0]}; the installed defence may answer "
            "differently, so the run cannot be rebuilt. Harden the original run "
            f"{record['lineage'].get('hardens', '')} again to measure the installed version."
        )
    in_memory = [
        option
        for option, value in described["options"].items()
        if value == IN_MEMORY or (isinstance(value, list) and IN_MEMORY in value)
    ]
    if in_memory:
        raise StoreError(
            f"run {record['run_id']} ran behind {described['name']}, which used in-memory "
            f"{' and '.join(in_memory)} (models or training data given as Python objects), so "
            "this defended run cannot be re-executed from its lineage; harden run "
            f"{record['lineage'].get('hardens', '')} again from Python, or give them as files "
            "or 'module:function' names to make the defended run verifiable."
        )
    defence = create(described["name"], described["options"])
    defence.aim(
        [
            FragilePerturbation(a["name"], a["params"], float(a["value"]))
            for a in described.get("aimed", [])
        ]
    )
    defence.fit(model, clean_data(model, dataset))
    return defence.wrap(model)
