from __future__ import annotations

import json

import pytest

import wince
from require import require_module
from wince.governance.tracking import log_run, metric_key

mlflow = require_module("mlflow", "mlflow")

pytestmark = pytest.mark.slow  # mlflow's first import and a run each: seconds


def test_a_run_is_logged_with_metrics_verdicts_and_report(tmp_path):
    from wince.demo.models import breast_cancer_classifier, breast_cancer_data

    plan = {
        "name": "mlflow-test",
        "perturbations": [{"name": "tabular.gaussian_noise", "severities": [0.5, 1.0]}],
        "repeats": 2,
    }
    run = wince.run(
        breast_cancer_classifier(), breast_cancer_data(), plan, store=str(tmp_path / "s")
    )
    profile = run.analyze(regions=False)
    mlflow_id = log_run(run.store, run.id, str(tmp_path / "mlruns"))
    client = mlflow.tracking.MlflowClient(tracking_uri=(tmp_path / "mlruns").as_uri())
    logged = client.get_run(mlflow_id)
    assert logged.data.params["wince_run_id"] == run.id
    assert logged.data.params["model_fingerprint"] == run.record["model_fingerprint"]
    summary = run.summary().set_index(["scenario", "metric"])
    scenario = "tabular.gaussian_noise(noise_sd=0.5)"
    flips = summary.loc[(scenario, "flip_rate")]
    key = metric_key("flip_rate", scenario)
    assert logged.data.metrics[key] == pytest.approx(flips["value"])
    high = metric_key("flip_rate_high", scenario)
    assert logged.data.metrics[high] == pytest.approx(flips["high"])
    fragile = int((profile.verdicts.scenarios["verdict"] == "fragile").sum())
    assert logged.data.metrics["verdicts/fragile"] == fragile
    artifacts = {a.path for a in client.list_artifacts(mlflow_id)}
    assert {"verdicts.json", "lineage.json", f"report-{run.id}.html"} <= artifacts
    folder = client.download_artifacts(mlflow_id, "verdicts.json", str(tmp_path / "dl"))
    with open(folder) as handle:
        assert (
            json.load(handle)["scenarios"]["verdict"]
            == profile.verdicts.scenarios["verdict"].tolist()
        )


def test_analyze_logs_to_mlflow_from_the_cli(tmp_path):
    import subprocess
    import sys
    import textwrap

    plan = tmp_path / "plan.yaml"
    plan.write_text(
        textwrap.dedent(
            """\
            name: mlflow-cli
            model: {factory: "wince.demo.models:breast_cancer_logistic"}
            data: {factory: "wince.demo.models:breast_cancer_data"}
            perturbations: [{name: tabular.gaussian_noise, levels: [1, 5]}]
            repeats: 1
            """
        )
    )

    def wince_cli(*args):
        return subprocess.run(
            [sys.executable, "-m", "wince.cli", *map(str, args), "--store", tmp_path / "s"],
            capture_output=True,
            text=True,
            timeout=120,
        )

    run_id = json.loads(wince_cli("run", plan, "--json").stdout)["run_id"]
    analysed = wince_cli("analyze", run_id, "--no-regions", "--mlflow", tmp_path / "ml")
    assert analysed.returncode == 0, analysed.stderr
    client = mlflow.tracking.MlflowClient(tracking_uri=(tmp_path / "ml").as_uri())
    (experiment,) = [e for e in client.search_experiments() if e.name == "mlflow-cli"]
    (logged,) = client.search_runs([experiment.experiment_id])
    assert logged.data.params["wince_run_id"] == run_id
