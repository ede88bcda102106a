from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest


def wince(*args, cwd=None):
    result = subprocess.run(
        [sys.executable, "-m", "wince.cli", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )
    return result


def plan_file(tmp_path, body):
    path = tmp_path / "plan.yaml"
    path.write_text(textwrap.dedent(body))
    return path


DIGITS = """\
name: cli-test
model: {factory: "wince.demo.models:digits_classifier"}
data: {factory: "wince.demo.models:digits_data", limit: 60}
perturbations:
  - {name: image.jpeg, levels: [1, 5]}
repeats: 1
"""


def assert_user_error(result, *fragments):
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in result.stderr


def test_perturbations_json_lists_params_with_units_and_ranges():
    result = wince("perturbations", "--json")
    assert result.returncode == 0
    listed = {p["name"]: p for p in json.loads(result.stdout)}
    jpeg = listed["image.jpeg"]
    assert jpeg["modality"] == "image"
    assert jpeg["version"] >= 1
    (param,) = jpeg["params"]
    assert param["name"] == "jpeg_quality"
    assert param["limits"] == [1.0, 100.0]
    assert param["off"] == 100.0
    assert param["realistic"] == [20.0, 90.0]
    assert {"name", "unit", "limits", "realistic", "off"} <= set(param)


def test_perturbations_filter_by_modality_and_list_options_with_defaults():
    result = wince("perturbations", "--modality", "text", "--json")
    assert result.returncode == 0
    listed = {p["name"]: p for p in json.loads(result.stdout)}
    assert listed
    assert {p["modality"] for p in listed.values()} == {"text"}
    typos = listed["text.typos"]["options"]
    assert typos["layout"] == "phone"
    assert typos["protect"] == []
    assert "insertion" in typos["kinds"]


def test_run_show_runs_and_export_round_trip(tmp_path):
    store = tmp_path / "store"
    plan = plan_file(tmp_path, DIGITS)
    ran = wince("run", plan, "--store", store, "--json")
    assert ran.returncode == 0, ran.stderr
    run_id = json.loads(ran.stdout)["run_id"]
    listed = json.loads(wince("runs", "--store", store, "--json").stdout)
    assert [r["run_id"] for r in listed] == [run_id]
    assert listed[0]["status"] == "complete"
    assert listed[0]["n_samples"] == 60
    shown = json.loads(wince("show", run_id[:6], "--store", store, "--json").stdout)
    rows = {(r["scenario"], r["metric"]): r for r in shown["rows"]}
    baseline_flips = rows[("baseline", "flip_rate")]
    assert baseline_flips["value"] == 0.0
    accuracy = rows[("image.jpeg(jpeg_quality=20)", "accuracy")]
    assert accuracy["low"] <= accuracy["value"] <= accuracy["high"]
    exported = wince("export", "latest", "--store", store, "--parquet", tmp_path / "out")
    assert exported.returncode == 0, exported.stderr
    import pandas as pd

    frame = pd.read_parquet(tmp_path / "out" / "outcomes.parquet")
    assert len(frame) == 60 * 4
    assert set(frame["kind"]) == {"baseline", "identity", "isolation"}
    assert (frame["run_id"] == run_id).all()
    jpeg = frame[frame["kind"] == "isolation"]
    assert set(jpeg["perturbation"]) == {"image.jpeg"}
    assert sorted(set(jpeg["value"].round())) == [20, 84]  # quality at levels 5 and 1
    assert frame.loc[frame["kind"] == "baseline", "value"].isna().all()


def test_segments_on_a_shared_location_are_found_through_the_catalog(tmp_path):
    catalog = f"sqlite:///{tmp_path / 'team.db'}"
    shared = tmp_path / "shared"
    plan = plan_file(tmp_path, DIGITS)
    ran = wince("run", plan, "--store", catalog, "--segments", shared.as_uri(), "--json")
    assert ran.returncode == 0, ran.stderr
    run_id = json.loads(ran.stdout)["run_id"]
    assert list(shared.rglob("*.parquet")), "the outcome segments went to the shared location"
    shown = wince("show", run_id, "--store", catalog, "--json")  # no --segments: the catalog knows
    assert shown.returncode == 0, shown.stderr
    rows = {(r["scenario"], r["metric"]) for r in json.loads(shown.stdout)["rows"]}
    assert ("image.jpeg(jpeg_quality=20)", "accuracy") in rows


def test_cache_dir_collects_predictions_and_no_cache_makes_none(tmp_path):
    plan = plan_file(tmp_path, DIGITS)
    cached, uncached = tmp_path / "cache", tmp_path / "unused"
    ran = wince("run", plan, "--store", tmp_path / "a", "--cache-dir", cached, "--json")
    assert ran.returncode == 0, ran.stderr
    assert any(p.is_file() for p in cached.rglob("*"))
    args = ("--store", tmp_path / "b", "--no-cache", "--cache-dir", uncached, "--json")
    ran = wince("run", plan, *args)
    assert ran.returncode == 0, ran.stderr
    assert not uncached.exists()
    assert not (tmp_path / "b" / "cache").exists()


def test_unknown_perturbation_is_a_one_paragraph_usage_error(tmp_path):
    plan = plan_file(tmp_path, DIGITS.replace("image.jpeg", "jpg"))
    assert_user_error(wince("plan", "validate", plan), "perturbations[0]", "image.jpeg")
    assert_user_error(wince("run", plan, "--store", tmp_path / "s"), "unknown perturbation")


def test_magnitude_outside_hard_limits_is_a_usage_error(tmp_path):
    plan = plan_file(tmp_path, DIGITS.replace("levels: [1, 5]", "values: [0]"))
    assert_user_error(wince("plan", "validate", plan), "jpeg_quality", "[1, 100]", "got 0")


def test_yaml_syntax_error_names_the_line(tmp_path):
    plan = plan_file(tmp_path, "name: x\nperturbations: [\n  {name: a\n")
    assert_user_error(wince("plan", "validate", plan), "YAML syntax error", "line")


def test_data_that_does_not_fit_the_model_is_a_usage_error(tmp_path):
    body = DIGITS.replace(
        'data: {factory: "wince.demo.models:digits_data", limit: 60}',
        'data: {factory: "wince.demo.models:breast_cancer_data"}',
    ).replace("image.jpeg, levels: [1, 5]", "tabular.gaussian_noise, levels: [1]")
    result = wince("run", plan_file(tmp_path, body), "--store", tmp_path / "s")
    # its labels (benign, malignant) are none of the digit classes: refused before predicting
    assert_user_error(result, "DataError", "label 'benign' is not one of the model's classes")


def test_missing_run_is_a_usage_error(tmp_path):
    wince("run", plan_file(tmp_path, DIGITS), "--store", tmp_path / "s", "--json")
    shown = wince("show", "nope", "--store", tmp_path / "s")
    # every user error names its kind, as data, model and plan errors do
    assert shown.stderr.startswith("error: StoreError: no run 'nope'")
    assert_user_error(shown, "no run 'nope'")


@pytest.mark.parametrize("args", [("run",), ("show",), ("frobnicate",)])
def test_usage_mistakes_exit_with_2(args):
    assert wince(*args).returncode == 2


def test_analyze_stores_the_profile_and_reuses_no_model_unless_asked(tmp_path):
    store = tmp_path / "store"
    plan = plan_file(tmp_path, DIGITS.replace("levels: [1, 5]", "levels: [1, 3, 5]"))
    run_id = json.loads(wince("run", plan, "--store", store, "--json").stdout)["run_id"]
    analysed = wince("analyze", run_id, "--store", store, "--no-regions", "--json")
    assert analysed.returncode == 0, analysed.stderr
    result = json.loads(analysed.stdout)
    assert {"curves", "verdicts", "interactions", "cliffs", "local_sensitivity"} <= set(
        result["stored"]
    )
    assert "breaking_points" not in result["stored"]
    assert sum(result["verdicts"].values()) == 3  # three jpeg scenarios
    from wince.store import open_store

    opened = open_store(str(store))
    verdicts = opened.load_analysis(run_id, "verdicts")
    assert set(verdicts["scenarios"]["verdict"]) <= {"fragile", "robust", "inconclusive"}
    with_breaks = wince("analyze", run_id, "--store", store, "--breaking-points", "--json")
    assert with_breaks.returncode == 0, with_breaks.stderr
    stored = opened.load_analysis(run_id, "breaking_points")
    assert "image.jpeg" in stored


def test_analyze_global_prints_the_design_its_precision_and_how_it_perturbs(tmp_path):
    store = tmp_path / "store"
    body = DIGITS.replace(
        "  - {name: image.jpeg, levels: [1, 5]}\n",
        "  - {name: image.jpeg, levels: [1, 5]}\n  - {name: image.exposure, levels: [1, 5]}\n",
    )
    body += "analysis: {global_sensitivity: {n_base: 8, samples: 20}}\n"
    plan = plan_file(tmp_path, body)
    run_id = json.loads(wince("run", plan, "--store", store, "--json").stdout)["run_id"]
    shown = wince("analyze", run_id, "--store", store, "--no-regions", "--global")
    assert shown.returncode == 0, shown.stderr
    assert "Sobol' n_base 8, 48 design points" in shown.stdout  # 8 x (2 x 2 + 2)
    assert "applies every perturbation at once" in " ".join(shown.stdout.split())
    warning = " ".join(shown.stderr.split())
    assert "warning: Sobol' indices less precise than asked" in warning
    assert "PrecisionWarning" not in warning  # said once, by the command
    as_json = wince("analyze", run_id, "--store", store, "--no-regions", "--global", "--json")
    found = json.loads(as_json.stdout)["global_sensitivity"]
    assert found["design"]["n_base"] == 8
    assert {index["factor"] for index in found["indices"]} == {"image.jpeg", "image.exposure"}
    assert all(0 <= index["rank"] <= 2 for index in found["indices"])
    assert "total [95%]" in shown.stdout
    assert found["warning"].startswith("Sobol' indices less precise than asked")
    assert "at once" in found["note"]


def test_an_http_endpoint_that_is_down_is_a_usage_error(tmp_path):
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    body = DIGITS.replace(
        'model: {factory: "wince.demo.models:digits_classifier"}',
        f'model: {{url: "http://127.0.0.1:{port}/predict", retries: 1, timeout_s: 2}}',
    )
    result = wince("run", plan_file(tmp_path, body), "--store", tmp_path / "s")
    assert_user_error(result, "ModelError", f"127.0.0.1:{port}")


def test_monitor_is_wired_with_its_exit_codes(tmp_path):
    import numpy as np

    from wince.demo.models import digits_data

    store = tmp_path / "store"
    plan = plan_file(tmp_path, DIGITS.replace("image.jpeg, levels: [1, 5]", "image.exposure"))
    run_id = json.loads(wince("run", plan, "--store", store, "--json").stdout)["run_id"]
    assert wince("analyze", run_id, "--store", store, "--no-regions").returncode == 0
    clean = tmp_path / "live.npz"
    images = digits_data().x[:60]
    np.savez(clean, x=images)
    calm = wince("monitor", "--reference", run_id, "--live", clean, "--store", store)
    assert calm.returncode == 0, calm.stderr
    missing = wince(
        "monitor", "--reference", run_id, "--live", tmp_path / "nope.npz", "--store", store
    )
    assert_user_error(missing, "nope.npz")


def test_lock_run_verify_and_history_are_wired(tmp_path):
    store = tmp_path / "store"
    plan = plan_file(tmp_path, DIGITS)
    locked = wince("lock", plan)
    assert locked.returncode == 0, locked.stderr
    assert (tmp_path / "plan.yaml.lock").exists()
    ran = json.loads(wince("run", plan, "--store", store, "--json").stdout)
    assert ran["version_drift"] == []
    verified = wince("verify", ran["run_id"], "--fraction", "1", "--store", store)
    assert verified.returncode == 0, verified.stderr
    listed = json.loads(wince("history", "cli-test", "--store", store, "--json").stdout)
    assert [r["run_id"] for r in listed["runs"]] == [ran["run_id"]]
    assert listed["runs"][0]["n_scenarios"] == 2


def test_plan_validate_names_a_misspelt_or_negative_tolerance(tmp_path):
    plan = plan_file(tmp_path, DIGITS + "analysis: {tolerance: {flip_rat: 0.02, accuracy: -1}}\n")
    result = wince("plan", "validate", plan)
    assert_user_error(
        result,
        "analysis.tolerance.flip_rat: unknown verdict metric 'flip_rat' — did you mean "
        "'flip_rate'?",
        "analysis.tolerance.accuracy: a tolerance is a non-negative number",
    )


def test_analysis_settings_follow_the_plan_and_the_command_line(tmp_path):
    """An edited tolerance reuses the run; --plan and --tolerance override for one analysis."""
    store = tmp_path / "store"
    lenient = DIGITS + "analysis: {tolerance: {flip_rate: 0.9}}\n"
    plan = plan_file(tmp_path, lenient)
    first = json.loads(wince("run", plan, "--store", store, "--json").stdout)["run_id"]

    def settings(*extra):
        analysed = wince("analyze", first, "--store", store, "--no-regions", "--json", *extra)
        assert analysed.returncode == 0, analysed.stderr
        return json.loads(analysed.stdout)["settings"]

    assert settings()["tolerance"] == {"flip_rate": 0.9, "accuracy": 0.01}
    plan.write_text(lenient.replace("0.9", "0.05"))
    again = json.loads(wince("run", plan, "--store", store, "--json").stdout)["run_id"]
    assert again == first
    assert settings()["tolerance"] == {"flip_rate": 0.05, "accuracy": 0.01}

    overridden = settings("--tolerance", "flip_rate=0.3", "--tolerance", "accuracy=0.2")
    assert overridden["tolerance"] == {"flip_rate": 0.3, "accuracy": 0.2}
    assert overridden["tolerance_source"] == {"flip_rate": "override", "accuracy": "override"}
    (tmp_path / "other").mkdir()
    other = plan_file(tmp_path / "other", lenient.replace("0.9", "0.7"))
    from_plan = settings("--plan", other, "--alpha", "0.01", "--correction", "bh")
    assert from_plan["tolerance"] == {"flip_rate": 0.7, "accuracy": 0.01}
    assert (from_plan["alpha"], from_plan["correction"]) == (0.01, "bh")

    bad = wince("analyze", first, "--store", store, "--tolerance", "flip_rat=0.1")
    assert_user_error(bad, "did you mean 'flip_rate'?")
    worse = wince("analyze", first, "--store", store, "--tolerance", "flip_rate")
    assert_user_error(worse, "expected metric=value")


def test_run_says_when_it_reuses_a_stored_run_and_fresh_runs_again(tmp_path):
    store = tmp_path / "store"
    plan = plan_file(tmp_path, DIGITS)
    first = wince("run", plan, "--store", store, "--json")
    assert first.returncode == 0, first.stderr
    ran = json.loads(first.stdout)
    assert ran["reused"] is False
    again = wince("run", plan, "--store", store)
    assert again.returncode == 0, again.stderr
    assert f"reused stored run {ran['run_id']}" in again.stdout
    assert "(same plan, data, model and environment); --fresh runs again" in again.stdout
    fresh = json.loads(wince("run", plan, "--store", store, "--fresh", "--json").stdout)
    assert fresh["reused"] is False
    assert fresh["run_id"] != ran["run_id"]


GRADIENT_BOOSTING = """\
import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import GradientBoostingClassifier


def data():
    x, y = load_breast_cancer(return_X_y=True)
    return x[1::2][:100], y[1::2][:100]


def model():
    x, y = load_breast_cancer(return_X_y=True)
    return GradientBoostingClassifier(n_estimators=10, max_depth=2, random_state=0).fit(
        x[::2], y[::2]
    )
"""

REFUSED = """\
name: refused
model: {factory: "gbmodel:model"}
data: {factory: "gbmodel:data"}
perturbations:
  - {name: tabular.gaussian_noise, levels: [2]}
  - {name: tabular.missing_values, levels: [2]}
repeats: 1
"""


def test_a_run_whose_model_rejects_some_inputs_completes_with_exit_code_3(tmp_path):
    (tmp_path / "gbmodel.py").write_text(GRADIENT_BOOSTING)
    plan = plan_file(tmp_path, REFUSED)
    store = tmp_path / "store"
    ran = wince("run", plan, "--store", store, "--json", cwd=tmp_path)
    assert ran.returncode == 3, ran.stderr
    result = json.loads(ran.stdout)
    assert result["status"] == "complete"
    assert result["rejected"] == {
        "tabular.missing_values(missing_rate=0.12)": "ValueError: Input X contains NaN."
    }
    again = wince(
        "run", plan, "--store", store, cwd=tmp_path
    )  # the stored run, with the same finding
    assert again.returncode == 3, again.stderr
    assert "the model rejected the inputs of 1 scenario(s)" in again.stderr
    assert "tabular.missing_values(missing_rate=0.12): ValueError: Input X contains NaN." in (
        again.stderr
    )
    shown = wince("show", "latest", "--store", store, "--json")
    assert shown.returncode == 0, shown.stderr
    rows = json.loads(shown.stdout)
    assert {r["scenario"] for r in rows["rows"]} == {
        "baseline",
        "identity",
        "tabular.gaussian_noise(noise_sd=0.2)",
    }
    assert list(rows["rejected"]) == ["tabular.missing_values(missing_rate=0.12)"]
    table = wince("show", "latest", "--store", store)
    assert table.returncode == 0, table.stderr
    # with the table, on stdout: a reader of the table learns what it leaves out
    assert "the model rejected the inputs of 1 scenario(s)" in table.stdout
    assert "Input X contains NaN" in table.stdout


def test_analyze_prints_breaking_points_on_a_text_models_metric(tmp_path):
    (tmp_path / "reader.py").write_text(
        "def make():\n    return lambda texts: [t.replace('u', 'v') for t in texts]\n"
    )
    lines = [{"text": t, "label": t} for t in ("run to the hut", "hello world", "unusual units")]
    (tmp_path / "lines.jsonl").write_text("\n".join(json.dumps(line) for line in lines))
    plan = plan_file(
        tmp_path,
        """
        name: reader
        model: {factory: "reader:make", task: text}
        data: {jsonl: lines.jsonl, label: label}
        perturbations:
          - {name: text.typos, severities: [0.5, 1.0]}
        """,
    )
    assert wince("run", plan, "--store", "s", cwd=tmp_path).returncode == 0
    analyzed = wince(
        "analyze", "latest", "--store", "s", "--breaking-points", "--breaking-metric",
        "cer_vs_clean", cwd=tmp_path,
    )  # fmt: skip
    assert analyzed.returncode == 0, analyzed.stderr
    assert "breaking points (median over samples, 95% interval)" in analyzed.stdout
    assert any("text.typos" in line and " of 3 " in line for line in analyzed.stdout.splitlines())
    as_json = wince(
        "analyze", "latest", "--store", "s", "--breaking-points", "--breaking-metric",
        "cer_vs_clean", "--json", cwd=tmp_path,
    )  # fmt: skip
    (found,) = json.loads(as_json.stdout)["breaking_points"]
    assert found["entry"] == "text.typos"
    assert found["broken_when"] == "cer_vs_clean beyond 0.01"
    assert found["samples"] == 3
    unknown = wince("analyze", "latest", "--store", "s", "--breaking-points",
                    "--breaking-metric", "nope", cwd=tmp_path)  # fmt: skip
    assert unknown.returncode == 2
    assert "has no metric 'nope'; its metrics: cer, wer" in unknown.stderr


def test_verify_fails_on_a_run_json_that_does_not_read(tmp_path):
    store = tmp_path / "store"
    run_id = json.loads(
        wince("run", plan_file(tmp_path, DIGITS), "--store", store, "--json").stdout
    )["run_id"]
    assert wince("verify", run_id, "--store", store).returncode == 0
    (store / "segments" / run_id / "run.json").write_text("{not json")
    verified = wince("verify", run_id, "--store", store)
    assert verified.returncode == 1
    assert f"run {run_id}: its run.json does not read" in verified.stderr
    assert f"wince repair {run_id}" in verified.stderr
