"""Lock files: round trip, drift of perturbation versions and data, allowed drift in lineage.

Also checks that the CI recipe's policy (examples/ci/policy.yaml) is a valid gate policy.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from rich.console import Console

from wince import perturbations
from wince.errors import LockDriftError, PlanError
from wince.governance import load_policy
from wince.governance.lock import (
    check_lock,
    load_lock,
    lock_path_for,
    make_lock,
    run_locked,
    write_lock,
)
from wince.governance.reproduce_commands import lock_command
from wince.models import CallableAdapter
from wince.plan import load_plan
from wince.store.store import Store

NOISE = "tabular.gaussian_noise"
ROOT = Path(__file__).resolve().parents[2]


def write_plan(folder: Path, limit: int = 40, data: bool = True) -> Path:
    plan = {
        "name": "locked",
        "perturbations": [{"name": NOISE, "severities": [0.5]}],
        "repeats": 1,
        "noise_floor": False,
    }
    if data:
        plan["data"] = {"factory": "wince.demo.models:breast_cancer_data", "limit": limit}
    path = folder / "plan.yaml"
    path.write_text(yaml.safe_dump(plan))
    return path


def model():
    # the demo data labels its classes by name; index 1 (malignant) for a large mean radius
    return CallableAdapter(
        lambda x: (x[:, 0] > 14).astype(int),
        fingerprint="threshold",
        classes=("benign", "malignant"),
    )


def test_lock_round_trip(tmp_path):
    plan_path = write_plan(tmp_path)
    target, lock = write_lock(plan_path)
    assert target == tmp_path / "plan.yaml.lock" == lock_path_for(plan_path)
    loaded = load_lock(target)
    assert loaded == lock
    assert loaded.perturbations == {NOISE: perturbations.get(NOISE).version}
    assert loaded.plan == "locked"
    assert loaded.wince_version
    plan = load_plan(plan_path)
    from wince.datasets.loading import load_dataset

    dataset = load_dataset(plan.data)
    assert loaded.data_fingerprint == dataset.fingerprint()
    assert check_lock(plan, loaded, dataset) == []
    assert make_lock(plan, dataset).perturbations == loaded.perturbations


def test_lock_command_writes_to_out_and_needs_data(tmp_path):
    console = Console(record=True, width=200)
    out = tmp_path / "pinned.lock"
    assert lock_command(write_plan(tmp_path), out=out, json_output=False, console=console) == 0
    assert out.is_file()
    assert str(out) in console.export_text()
    with pytest.raises(PlanError, match="no data section"):
        write_lock(write_plan(tmp_path, data=False))


def test_invalid_or_missing_lock_file_is_a_plan_error(tmp_path):
    bad = tmp_path / "bad.lock"
    bad.write_text("plan: x\nperturbations: {a: one}\n")
    with pytest.raises(PlanError) as raised:
        load_lock(bad)
    assert any("perturbations" in p for p in raised.value.problems)
    with pytest.raises(PlanError, match="no lock file"):
        run_locked(write_plan(tmp_path), lock=tmp_path / "missing.lock", store=str(tmp_path))


def test_version_change_is_a_drift_naming_the_perturbation(tmp_path, monkeypatch):
    plan_path = write_plan(tmp_path)
    write_lock(plan_path)
    monkeypatch.setattr(perturbations.get(NOISE), "version", 99)
    with pytest.raises(LockDriftError) as raised:
        run_locked(plan_path, model=model(), store=str(tmp_path / "store"))
    (drift,) = raised.value.drifts
    assert NOISE in drift
    assert "installed version 99" in drift
    assert "--allow-version-drift" in str(raised.value)
    assert Store(root=tmp_path / "store").list_runs().empty  # stopped before running


def test_data_change_is_a_drift(tmp_path):
    plan_path = write_plan(tmp_path, limit=40)
    write_lock(plan_path)
    write_plan(tmp_path, limit=41)  # same plan file, other data
    with pytest.raises(LockDriftError) as raised:
        run_locked(plan_path, model=model(), store=str(tmp_path / "store"))
    (drift,) = raised.value.drifts
    assert drift.startswith("data: locked fingerprint")


def test_allowed_drift_proceeds_and_is_recorded_in_lineage(tmp_path, monkeypatch):
    plan_path = write_plan(tmp_path)
    write_lock(plan_path)
    store = Store(root=tmp_path / "store")
    clean = run_locked(plan_path, model=model(), store=store)
    assert clean.lineage["version_drift"] == []
    assert clean.lineage["lock"] == str(lock_path_for(plan_path))
    monkeypatch.setattr(perturbations.get(NOISE), "version", 99)
    drifted = run_locked(plan_path, model=model(), store=store, allow_version_drift=True)
    assert drifted.record["status"] == "complete"
    assert drifted.id != clean.id  # perturbation versions are part of the run id
    (drift,) = drifted.lineage["version_drift"]
    assert NOISE in drift
    assert drifted.lineage["perturbation_versions"] == {NOISE: 99}


def test_unlocked_plan_runs_without_lock_lineage(tmp_path):
    result = run_locked(write_plan(tmp_path), model=model(), store=str(tmp_path / "store"))
    assert "version_drift" not in result.lineage


def test_ci_recipe_policy_is_a_valid_gate_policy():
    policy = load_policy(ROOT / "examples" / "ci" / "policy.yaml")
    assert policy.rules


def test_the_lock_records_the_environment_and_a_changed_package_is_a_drift(tmp_path, monkeypatch):
    from wince.engine import environment

    plan_path = write_plan(tmp_path)
    _, lock = write_lock(plan_path)
    assert lock.lock_version == 2
    numpy = environment.installed_version("numpy")
    assert lock.environment["numpy"] == numpy
    assert load_lock(tmp_path / "plan.yaml.lock").environment == lock.environment
    installed = environment.installed_version
    monkeypatch.setattr(
        environment,
        "installed_version",
        lambda name: "99.0.0" if name == "numpy" else installed(name),
    )
    with pytest.raises(LockDriftError) as raised:
        run_locked(plan_path, model=model(), store=str(tmp_path / "store"))
    assert raised.value.drifts == [f"environment: numpy {numpy} → 99.0.0 (outputs may differ)."]


def test_a_format_1_lock_is_read_and_checks_no_environment(tmp_path):
    plan_path = write_plan(tmp_path)
    target, lock = write_lock(plan_path)
    old = lock.model_dump(mode="json")
    old["lock_version"] = 1
    del old["environment"]
    target.write_text(yaml.safe_dump(old))
    loaded = load_lock(target)
    assert loaded.environment == {}
    run = run_locked(plan_path, model=model(), store=str(tmp_path / "store"))
    assert run.lineage["version_drift"] == []
