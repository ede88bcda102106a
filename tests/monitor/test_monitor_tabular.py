"""Monitor on the demo breast-cancer run: per-column drift end to end, read from a CSV."""

from __future__ import annotations

import pandas as pd
import pytest

import wince
from wince.demo.models import breast_cancer_data
from wince.errors import PolicyError
from wince.monitor.monitor import monitor_run
from wince.monitor.policy import MonitorPolicy, parse_monitor_policy

PLAN = {
    "name": "monitor-cancer",
    "model": {"factory": "wince.demo.models:breast_cancer_logistic"},
    "data": {"factory": "wince.demo.models:breast_cancer_data"},
    "perturbations": [{"name": "tabular.gaussian_noise", "values": [0.1, 0.3, 0.6]}],
    "repeats": 2,
    "noise_floor": False,
    "analysis": {"bootstrap": 200},
}


@pytest.fixture(scope="module")
def cancer_run(tmp_path_factory):
    return wince.run(plan=PLAN, store=str(tmp_path_factory.mktemp("monitor-tabular")))


def test_column_drift_of_half_an_sd_is_estimated_and_alerts(cancer_run, tmp_path):
    data = breast_cancer_data()
    live = pd.DataFrame(data.x, columns=data.feature_names)
    column = data.feature_names[0]
    live[column] += 0.5 * data.x[:, 0].std(ddof=1)
    path = tmp_path / "live.csv"
    live.to_csv(path, index=False)

    policy = parse_monitor_policy({"monitor": {"max_drift_sd": 0.3}})
    result = monitor_run(cancer_run.store, cancer_run.id, path, policy=policy)

    assert result.drift[column].value == pytest.approx(0.5, rel=0.2)
    assert [a["check"] for a in result.alerts] == ["max_drift_sd"]
    noise = next(e for e in result.estimates if e.perturbation == "tabular.gaussian_noise")
    assert noise.value == pytest.approx(0.0, abs=1e-3)  # CSV round-off only
    rows = [r for r in result.predictions if r["perturbation"] == "tabular.gaussian_noise"]
    # every per-sample metric of a classifier with labels
    per_sample = {"flip_rate", "accuracy_drop", "confidence_change", "true_class_prob_change"}
    assert {r["metric"] for r in rows} == per_sample


def test_unperturbed_table_fires_no_alert(cancer_run):
    data = breast_cancer_data()
    policy = MonitorPolicy(max_drift_sd=0.3)
    result = monitor_run(cancer_run.store, cancer_run.id, data.x, policy=policy, save=False)
    assert not result.alerts
    assert max(abs(e.value) for e in result.drift.values()) < 1e-9


def test_policy_errors_name_the_field():
    with pytest.raises(PolicyError, match="max_psi"):
        parse_monitor_policy({"monitor": {"max_psi": -1}})
    with pytest.raises(PolicyError, match="max_pis"):
        parse_monitor_policy({"max_pis": 0.1})
