"""Lock files: pin a plan's perturbation versions, its environment and its data fingerprint.

`wince lock PLAN` writes `PLAN.lock` (YAML) next to the plan::

    lock_version: 2
    plan: demo-digits
    plan_digest: 3f2a9c0d11e4b7a2
    wince_version: 0.4.0
    data_fingerprint: 9b1e...
    perturbations: {image.exposure: 1, image.jpeg: 2}
    defences: {}
    defence_settings: {}
    run: ''
    environment: {numpy: 2.3.5, opencv-python-headless: 4.14.0.94, scikit-learn: 1.8.0, ...}
    created_at: '2026-01-01T00:00:00.000+00:00'

`environment` holds the versions of the packages that shape the plan's outputs: those its
perturbations compute with and its model's runtime (`wince.engine.environment`). `defences`
holds the versions of the defences the plan's model runs behind (a model defended with
`wince.defences`, as `wince harden` tries them), empty for an undefended model, and
`defence_settings` the options and fitted state of each.

`wince lock --run RUN` locks a stored run instead of a plan file: its plan (from the run's
lineage), its data and its model, rebuilt as `wince verify` rebuilds them, so the lock of a
defended run of `wince harden` pins the defence's name, version, options and fitted state;
`run` names the run. `wince verify RUN --lock FILE` checks the rebuilt run against such a
lock before re-executing it.

Running a locked plan first compares the lock with what is installed now (`check_lock`): a
perturbation or defence whose version changed (its output for the same inputs may differ),
a perturbation added to or removed from the plan, data whose fingerprint changed, or a
package of the environment at another version is a *drift*. Drift stops the run
(`LockDriftError`, exit code 2) unless it is allowed, and an allowed drift is recorded in the
run's lineage under `version_drift`.

A perturbation's version says whether *its code* changed its outputs; it cannot say whether a
numerical library did (an OpenCV or SciPy release may move outputs within the tolerance
each perturbation declares, see docs/reproducibility.md). That is why the environment is
pinned too. A different wince version alone is not a drift (what wince changes in outputs
shows in the perturbation versions); it is recorded in the lineage as `locked_wince_version`.

Locks of format 1 (written before environments were recorded) are read as they are, and
check no environment; `wince lock` rewrites them in format 2.
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from wince import defences, perturbations
from wince.datasets.base import Dataset
from wince.defences.lineage import defence_settings, defence_versions
from wince.errors import LockDriftError, PlanError
from wince.files import write_file
from wince.plan import Plan, load_plan, read_yaml
from wince.store.store import Store, now

LOCK_VERSION = 2
LOCK_SUFFIX = ".lock"


class Lock(BaseModel):
    """The content of a lock file.

    Attributes:
        lock_version: format version of the lock file.
        plan: the plan's name.
        plan_digest: the plan's content hash when it was locked (informational).
        wince_version: the wince version that wrote the lock.
        data_fingerprint: fingerprint of the plan's data when it was locked.
        perturbations: registry name -> version of every perturbation of the plan.
        defences: registry name -> version of every defence the plan's model runs behind
            (`wince.defences.lineage.defence_versions`); empty for an undefended model.
        defence_settings: registry name -> {"options": ..., "fitted": ...} of each of those
            defences (`wince.defences.lineage.defence_settings`).
        run: the stored run the lock was made from (`wince lock --run`); empty for a plan's.
        environment: package -> version (None: not installed) of the packages that shape the
            plan's outputs; empty in a format-1 lock.
        created_at: when the lock was written (UTC, ISO 8601).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    lock_version: int = Field(LOCK_VERSION, ge=1, le=LOCK_VERSION)
    plan: str
    plan_digest: str = ""
    wince_version: str
    data_fingerprint: str
    perturbations: dict[str, int]
    defences: dict[str, int] = Field(default_factory=dict)
    defence_settings: dict[str, dict[str, Any]] = Field(default_factory=dict)
    run: str = ""
    environment: dict[str, str | None] = Field(default_factory=dict)
    created_at: str = ""


def lock_path_for(plan_path: str | Path) -> Path:
    """The default lock file of a plan file: the plan's path with `.lock` appended."""
    path = Path(plan_path)
    return path.with_name(path.name + LOCK_SUFFIX)


def installed_versions(plan: Plan) -> dict[str, int]:
    """Registry name -> installed version of every perturbation of the plan."""
    return {spec.name: int(perturbations.get(spec.name).version) for spec in plan.perturbations}


def make_lock(plan: Plan, dataset: Dataset, model: Any = None, *, run: str = "") -> Lock:
    """The lock of a plan on its data, from the installed perturbations, packages and wince.

    Args:
        plan: the plan.
        dataset: its data.
        model: its model adapter, whose runtime packages join the environment and whose
            defences are pinned (None: the perturbations' packages only, no defence).
        run: the stored run the plan, data and model are those of ("": none).
    """
    from wince.engine.environment import environment
    from wince.version import wince_version

    return Lock(
        plan=plan.name,
        plan_digest=plan.digest(),
        wince_version=wince_version(),
        data_fingerprint=dataset.fingerprint(),
        perturbations=installed_versions(plan),
        defences=defence_versions(model),
        defence_settings=defence_settings(model),
        run=run,
        environment=environment(str(dataset.modality), model),
        created_at=now(),
    )


def plan_dataset(plan: Plan, source: str) -> Dataset:
    """Load the data a plan names.

    Raises:
        PlanError: the plan has no data section (a lock pins the data's fingerprint).
    """
    from wince.datasets.loading import load_dataset

    if plan.data is None:
        raise PlanError(
            f"{source} data: the plan has no data section; a lock pins the data's "
            "fingerprint, so add one (e.g. data: {npz: test.npz}) before locking or "
            "running it locked."
        )
    return load_dataset(plan.data)


def write_lock(plan_path: str | Path, out: str | Path | None = None) -> tuple[Path, Lock]:
    """Load a plan and its data and write the plan's lock file.

    Args:
        plan_path: the plan file (YAML).
        out: where to write the lock; default `<plan file>.lock`.

    Returns:
        The lock file's path and its content.

    Raises:
        PlanError: invalid plan, or a plan without a data section.
    """
    from wince.models.loading import load_model

    plan = load_plan(plan_path)
    dataset = plan_dataset(plan, str(plan_path))
    model = load_model(plan.model) if plan.model is not None else None
    try:
        lock = make_lock(plan, dataset, model)
    finally:
        if model is not None:
            model.close()
    target = Path(out) if out is not None else lock_path_for(plan_path)
    _save_lock(target, lock, f"# wince lock of {Path(plan_path).name}: check in next to the plan.")
    return target, lock


def write_run_lock(store: Store, run_ref: str, out: str | Path | None = None) -> tuple[Path, Lock]:
    """Write the lock of a stored run: its plan, data and model, a defended one's defence.

    The plan is the run's (its lineage), the data and the model its plan's sections,
    checked against the run's fingerprints; a defended run's model is rebuilt behind its
    defence, fitted again on the data (`wince.engine.probe.probe_for_run`), so the lock pins
    the defence's version, options and fitted state.

    Args:
        store: the store holding the run.
        run_ref: a run id, a unique prefix of one, or `latest`.
        out: where to write the lock; default `<run id>.lock` in the working directory.

    Returns:
        The lock file's path and its content.

    Raises:
        ModelError, DataError: the run's plan has no model or data section, or they are no
            longer the run's.
        StoreError: no such run, or its defence is installed at another version.
    """
    from wince.engine.probe import probe_for_run

    run_id = store.resolve(run_ref)
    plan = Plan.model_validate(store.run(run_id)["lineage"]["plan"])
    probe = probe_for_run(store, run_id, cache=False)
    try:
        lock = make_lock(plan, probe.dataset, probe.adapter, run=run_id)
    finally:
        probe.adapter.close()
    target = Path(out) if out is not None else Path(f"{run_id}{LOCK_SUFFIX}")
    _save_lock(
        target, lock, f"# wince lock of run {run_id}: `wince verify {run_id} --lock {target}`."
    )
    return target, lock


def _save_lock(target: Path, lock: Lock, comment: str) -> None:
    """Write a lock as YAML under a one-line comment."""
    write_file(
        target,
        f"{comment}\n" + yaml.safe_dump(lock.model_dump(mode="json"), sort_keys=False),
        what="the lock file",
    )


def load_lock(path: str | Path) -> Lock:
    """Read and validate a lock file.

    Raises:
        PlanError: missing file, YAML syntax error or invalid content, naming each field.
    """
    path = Path(path)
    raw = read_yaml(path, what="lock")
    if not isinstance(raw, dict):
        raise PlanError(f"{path}: a lock file is a mapping; write it with `wince lock PLAN`.")
    try:
        return Lock.model_validate(raw)
    except ValidationError as error:
        problems = [
            f"{path} {'.'.join(map(str, item['loc'])) or 'lock'}: {item['msg']}"
            for item in error.errors()
        ]
        raise PlanError("\n".join(problems), problems=problems) from None


def check_lock(plan: Plan, lock: Lock, dataset: Dataset, model: Any = None) -> list[str]:
    """Drifts between a lock and the installed perturbations and the data: empty if none.

    Args:
        plan: the plan being run.
        lock: its lock.
        dataset: the data the run would use.
        model: the model the run would use (None: its defences are not compared).

    Returns:
        One line per drift: a perturbation or defence whose installed version differs from
        the locked one (a locked defence no longer registered included), a perturbation of
        the plan the lock does not pin, one the lock pins that the plan no longer holds, a
        changed data fingerprint, and a package of the locked environment installed at
        another version. With `model`: a defence it runs behind that the lock does not pin
        or the other way round, and one whose options or fitted state differ from the
        locked ones.
    """
    from wince.engine import environment

    drifts = []
    installed = installed_versions(plan)
    for name, version in installed.items():
        if name not in lock.perturbations:
            close = difflib.get_close_matches(name, list(lock.perturbations), n=1)
            hint = f" (did the plan rename {close[0]!r}?)" if close else ""
            drifts.append(f"perturbation {name}: not in the lock{hint}; re-run `wince lock`.")
        elif lock.perturbations[name] != version:
            drifts.append(
                f"perturbation {name}: locked version {lock.perturbations[name]}, installed "
                f"version {version} (its output for the same inputs may differ)."
            )
    drifts.extend(
        f"perturbation {name}: locked but no longer in the plan."
        for name in lock.perturbations
        if name not in installed
    )
    drifts.extend(_defence_drifts(lock))
    if model is not None:
        drifts.extend(_model_defence_drifts(lock, model))
    fingerprint = dataset.fingerprint()
    if fingerprint != lock.data_fingerprint:
        drifts.append(
            f"data: locked fingerprint {lock.data_fingerprint}, current fingerprint "
            f"{fingerprint} (the data changed)."
        )
    installed_now = {name: environment.installed_version(name) for name in lock.environment}
    drifts.extend(
        f"environment: {change} (outputs may differ)."
        for change in environment.changes(lock.environment, installed_now)
    )
    return drifts


def _defence_drifts(lock: Lock) -> list[str]:
    """A line per locked defence installed at another version, or no longer registered."""
    known = defences.registry()
    drifts = []
    for name, version in lock.defences.items():
        if name not in known:
            drifts.append(f"defence {name}: locked version {version}, no longer installed.")
        elif known[name].version != version:
            drifts.append(
                f"defence {name}: locked version {version}, installed version "
                f"{known[name].version} (its output for the same inputs may differ)."
            )
    return drifts


def _model_defence_drifts(lock: Lock, model: Any) -> list[str]:
    """A line per defence the model and the lock disagree on: present, options, fitted state."""
    settings = defence_settings(model)
    drifts = [
        f"defence {name}: the model runs behind it, the lock pins no such defence."
        for name in settings
        if name not in lock.defences
    ]
    drifts.extend(
        f"defence {name}: locked, but the model does not run behind it."
        for name in lock.defences
        if name not in settings
    )
    for name, locked in lock.defence_settings.items():
        if name not in settings:
            continue
        drifts.extend(
            f"defence {name}: {what} changed (locked {_shown(locked[key])}, now "
            f"{_shown(settings[name][key])})."
            for key, what in (("options", "options"), ("fitted", "fitted state"))
            if _canonical(locked[key]) != _canonical(settings[name][key])
        )
    return drifts


def _canonical(value: Any) -> str:
    """A JSON-able value as sorted JSON: tuples and lists (a YAML round trip) read alike."""
    return json.dumps(value, sort_keys=True)


SHOWN_SETTING = 120  # characters of a changed defence setting shown in a drift line


def _shown(value: Any) -> str:
    """A defence setting for a drift line, cut to `SHOWN_SETTING` characters."""
    text = _canonical(value)
    return text if len(text) <= SHOWN_SETTING else text[: SHOWN_SETTING - 1] + "…"


def drift_message(
    plan_name: str,
    lock_file: str | Path,
    drifts: list[str],
    fix: str = "Re-lock with `wince lock` if the change is intended, or run with "
    "--allow-version-drift to proceed and record the drift in the run's lineage.",
) -> str:
    """The message of a stopped locked run or verify: each drift on its own line, the fix."""
    lines = "\n".join(f"  - {d}" for d in drifts)
    return (
        f"plan {plan_name!r} drifted from its lock {lock_file} ({len(drifts)} drift(s)):\n"
        f"{lines}\n{fix}"
    )


def run_locked(
    plan_path: str | Path,
    *,
    lock: str | Path | None = None,
    allow_version_drift: bool = False,
    model: Any = None,
    data: Any = None,
    store: Store | str | None = None,
    executor: str = "local",
    workers: int | None = None,
    ray_address: str | None = None,
    num_gpus: float | None = None,
    progress: bool = False,
    cache: Any = True,
    fresh: bool = False,
) -> Any:
    """Run a plan file like `wince.run`, checking its lock first when it has one.

    The lock is `lock` if given, else `<plan file>.lock` if that file exists; without either
    the plan runs unlocked. A locked run records in its lineage `lock` (the file),
    `locked_wince_version` and `version_drift` (the drifts allowed, empty when none).

    Args:
        plan_path: the plan file (YAML).
        lock: the lock file; default `<plan file>.lock` when it exists.
        allow_version_drift: proceed despite drift, recording it in the lineage.
        model: as for `wince.run`; default the plan's model section.
        data: as for `wince.run`; default the plan's data section.
        store: a `Store` or a store URL/folder.
        executor: "local", "process" or "ray".
        workers: worker processes (process) or model actors (ray); default the CPU count.
        ray_address: the Ray cluster for the ray executor; default a local Ray.
        num_gpus: GPUs per Ray actor.
        progress: show a progress bar.
        cache: the prediction cache, as for `wince.run`.
        fresh: run again even when a stored run of the same identity exists.

    Returns:
        The stored `wince.api.Run`.

    Raises:
        LockDriftError: drift, and `allow_version_drift` is False (each drift named).
        PlanError: invalid plan or lock, a lock file that does not exist, or a locked plan
            without data.
    """
    from wince import api
    from wince.api import Run
    from wince.datasets.loading import as_dataset
    from wince.store.store import open_store

    plan = load_plan(plan_path)
    lock_file: Path | None
    if lock is not None:
        lock_file = Path(lock)
        if not lock_file.is_file():
            raise PlanError(f"{lock_file}: no lock file there; write one with `wince lock`.")
    else:
        default = lock_path_for(plan_path)
        lock_file = default if default.is_file() else None
    target = store if isinstance(store, Store) else open_store(store)
    how = {
        "executor": executor,
        "workers": workers,
        "ray_address": ray_address,
        "num_gpus": num_gpus,
        "progress": progress,
        "cache": cache,
        "fresh": fresh,
    }
    if lock_file is None:
        return api.run(model, data, plan, store=target, **how)
    locked = load_lock(lock_file)
    if locked.defences and model is None:
        raise PlanError(
            f"{lock_file} pins a model behind {', '.join(locked.defences)}, and the plan's "
            "model section names the model alone; verify the defended run with `wince verify "
            f"{locked.run or 'RUN'} --lock {lock_file}`, or pass the defended model (Python: "
            "run_locked(..., model=defence.wrap(model)))."
        )
    dataset = as_dataset(data) if data is not None else plan_dataset(plan, str(plan_path))
    drifts = check_lock(plan, locked, dataset, model)
    if drifts and not allow_version_drift:
        raise LockDriftError(drift_message(plan.name, lock_file, drifts), drifts=drifts)
    result: Run = api.run(model, dataset, plan, store=target, **how)
    target.update_lineage(
        result.id,
        {
            "lock": str(lock_file),
            "locked_wince_version": locked.wince_version,
            "version_drift": drifts,
        },
    )
    return result
