"""Log a run to MLflow: parameters, metrics with intervals, verdicts and the HTML report.

Optional extra: `pip install 'wince[mlflow]'` (mlflow-skinny). A local folder (or `file:`
URI) uses MLflow's file store, which MLflow 3 keeps in maintenance mode behind
`MLFLOW_ALLOW_FILE_STORE`; wince sets that variable for such locations only.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Any

from wince.errors import StoreError
from wince.metrics import summarize_run
from wince.plan import Plan
from wince.store.by_scenario import ScenarioOutcomes
from wince.store.store import Store

_UNSAFE = re.compile(r"[^0-9A-Za-z_\-. /]")


def metric_key(*parts: str) -> str:
    """An MLflow metric name from parts, with characters MLflow refuses replaced by `_`.

    Examples:
        >>> metric_key("flip_rate", "image.jpeg(jpeg_quality=70)")
        'flip_rate/image.jpeg_jpeg_quality_70_'
    """
    return "/".join(_UNSAFE.sub("_", part) for part in parts)


def tracking_uri(location: str) -> str:
    """A tracking URI from a URI or a local folder (made absolute, as `file:`)."""
    if "://" in location or location.startswith("file:"):
        return location
    return Path(location).resolve().as_uri()


def log_run(
    store: Store,
    run_id: str,
    location: str,
    *,
    experiment: str | None = None,
    report: bool = True,
) -> str:
    """Log a stored run to MLflow and return the MLflow run id.

    Logged: parameters (plan name, seed, repeats, fingerprints, versions), every summary
    metric per scenario with its 95% interval (`<metric>/<scenario>`, `<metric>_low/...`,
    `<metric>_high/...`), verdict counts and the stored verdicts, and the HTML report as an
    artifact.

    Args:
        store: the store holding the run.
        run_id: the run.
        location: an MLflow tracking URI, or a local folder.
        experiment: MLflow experiment name; default the plan's name.
        report: also log the self-contained HTML report.

    Raises:
        StoreError: MLflow is not installed.
    """
    try:
        import mlflow
    except ImportError:
        raise StoreError("MLflow logging needs: pip install 'wince[mlflow]'") from None
    uri = tracking_uri(location)
    if uri.startswith("file:"):
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    record = store.run(run_id)
    lineage = record["lineage"]
    plan = Plan.model_validate(lineage["plan"])
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment(experiment or plan.name)
    summary = summarize_run(
        ScenarioOutcomes.from_store(store, run_id, keep=0), plan, record["task"]
    )
    with mlflow.start_run(run_name=f"wince-{run_id}") as active:
        mlflow.log_params(_params(run_id, record, plan))
        metrics: dict[str, float] = {}
        for row in summary.itertuples():
            for suffix, value in (("", row.value), ("_low", row.low), ("_high", row.high)):
                if value == value:  # NaN-free: MLflow refuses NaN
                    metrics[metric_key(f"{row.metric}{suffix}", str(row.scenario))] = value
        verdicts = store.load_analysis(run_id, "verdicts")
        if verdicts is not None:
            for verdict in ("fragile", "robust", "inconclusive"):
                count = sum(v == verdict for v in verdicts["scenarios"]["verdict"])
                metrics[f"verdicts/{verdict}"] = float(count)
            mlflow.log_dict(verdicts, "verdicts.json")
        mlflow.log_metrics(metrics)
        mlflow.log_dict(lineage, "lineage.json")
        if report:
            from wince.report import write_report

            with tempfile.TemporaryDirectory() as folder:
                path = write_report(store, run_id, out=Path(folder) / f"report-{run_id}.html")
                mlflow.log_artifact(str(path))
        return str(active.info.run_id)


def _params(run_id: str, record: dict[str, Any], plan: Plan) -> dict[str, Any]:
    lineage = record["lineage"]
    params: dict[str, Any] = {
        "wince_run_id": run_id,
        "plan": plan.name,
        "seed": plan.seed,
        "repeats": plan.repeats,
        "model_fingerprint": record["model_fingerprint"],
        "data_fingerprint": record["data_fingerprint"],
        "wince_version": lineage.get("wince_version"),
        "n_samples": record["n_samples"],
    }
    for name, version in lineage.get("perturbation_versions", {}).items():
        params[metric_key("version", name)] = version
    return params
