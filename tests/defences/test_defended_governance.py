"""A defended run is a run like any other for compare, gate, verify, lock, monitor and probes.

The run is the demo sentiment model (VADER) on 120 demo sentences under zero-width
characters (which break its lexicon look-ups) and typos; `text.normalize` removes the
zero-width characters, so its defended run is better under them and the same under typos.
Also: `wince runs` marks defended runs, `latest` stays on the hardened run, and `wince
harden` measures each defence's extra peak memory per sample.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import yaml
from rich.console import Console
from typer.testing import CliRunner

import wince
from wince.cli import app
from wince.defences.base import Defence, DefendedModel
from wince.defences.harden import harden_run, peak_bytes_per_sample, print_hardening
from wince.defences.text import NormalizeText
from wince.demo.models import breast_cancer_data, sentiment_classifier, sentiment_data
from wince.engine.probe import probe_for_run
from wince.errors import PlanError, StoreError
from wince.governance.compare import compare_runs
from wince.governance.gate import evaluate_gate
from wince.governance.lock import check_lock, load_lock, make_lock, run_locked
from wince.governance.verify import verify_run
from wince.models import CallableAdapter
from wince.models.base import ModelAdapter, Predictions
from wince.monitor.monitor import monitor_run
from wince.perturbations import get
from wince.perturbations.base import Batch, DataContext, Modality, Rngs
from wince.plan import Plan
from wince.report.measured import byte_size
from wince.store.store import Store

N_SAMPLES = 120
PLAN = {
    "name": "defended-governance",
    "model": {"factory": "wince.demo.models:sentiment_classifier"},
    "data": {"factory": "wince.demo.models:sentiment_data", "limit": N_SAMPLES},
    "perturbations": [
        {"name": "text.zero_width", "levels": [4]},
        {"name": "text.typos", "levels": [2]},
    ],
    "repeats": 1,
    "analysis": {"bootstrap": 300},
}
ZERO_WIDTH = "text.zero_width(zero_width_rate=0.08)"
TYPOS = "text.typos(typo_rate=0.04)"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The original run and its run behind text.normalize, in one store."""
    original = wince.run(plan=PLAN, store=tmp_path_factory.mktemp("store"))
    hardening = original.harden(["text.normalize"])
    defended = wince.open(original.store, hardening.defences["run_id"].iloc[0])
    return original, defended


def test_compare_pairs_the_defended_run_with_the_original_and_calls_it_better(runs):
    original, defended = runs
    comparison = compare_runs(original.store, original.id, defended.id)
    verdicts = comparison.scenarios.set_index("scenario")["verdict"]
    assert verdicts[ZERO_WIDTH] == "better"
    assert verdicts[TYPOS] == "no difference"
    assert verdicts["baseline"] == "no difference"
    assert comparison.non_inferior


def test_wince_compare_of_the_original_and_the_defended_run_says_which_is_better(runs):
    original, defended = runs
    store = str(original.store.root)
    shown = subprocess.run(
        [sys.executable, "-m", "wince.cli", "compare", original.id, defended.id, "--store", store],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shown.returncode == 0, shown.stderr
    assert "scenarios: 1 better, 2 no difference" in shown.stdout


def test_gate_checks_a_defended_run_against_a_policy(runs):
    original, defended = runs
    policy = {
        "rules": [
            {"check": "max_flip_rate", "max": 0.05, "where": {"scenario": "text.zero_width*"}},
            {"check": "no_regression", "baseline": original.id},
        ]
    }
    fragile = {"rules": policy["rules"][:1]}
    assert not evaluate_gate(original.store, original.id, fragile).passed
    passed = evaluate_gate(defended.store, defended.id, policy)
    assert passed.passed
    assert len(passed.checks) >= 2


def test_verify_rebuilds_the_defended_model_and_fails_on_a_changed_defence_version(
    runs, monkeypatch
):
    _, defended = runs
    result = verify_run(defended.store, defended.id, fraction=1.0)
    assert result.passed
    assert result.rows == 4 * N_SAMPLES  # baseline, noise floor, zero width, typos
    monkeypatch.setattr(NormalizeText, "version", 2)
    with pytest.raises(StoreError, match=r"text\.normalize \(run: v1, installed: v2\)"):
        verify_run(defended.store, defended.id)


def test_a_lock_of_a_defended_model_pins_the_defence_version(runs, monkeypatch):
    _, defended = runs
    plan, data = Plan.model_validate(PLAN), sentiment_data()
    defended_model = NormalizeText().wrap(sentiment_classifier())
    assert defended_model.fingerprint() == defended.record["model_fingerprint"]
    lock = make_lock(plan, data, defended_model)
    assert lock.defences == {"text.normalize": 1}
    assert make_lock(plan, data, sentiment_classifier()).defences == {}
    assert check_lock(plan, lock, data) == []
    monkeypatch.setattr(NormalizeText, "version", 2)
    assert check_lock(plan, lock, data) == [
        "defence text.normalize: locked version 1, installed version 2 (its output for the "
        "same inputs may differ)."
    ]


def _zero_width_live_texts() -> list[str]:
    texts = sentiment_data().batch(0, N_SAMPLES)
    rngs = Rngs.for_samples([f"live-{i}" for i in range(len(texts))])
    return list(get("text.zero_width")().apply(texts, 0.3, rngs, DataContext(Modality.TEXT)))


def test_monitor_predicts_live_outputs_with_the_defended_model(runs):
    original, defended = runs
    live = _zero_width_live_texts()
    undefended = monitor_run(original.store, original.id, live, save=False)
    hardened = monitor_run(defended.store, defended.id, live, save=False)
    assert undefended.outputs is not None
    assert hardened.outputs is not None
    # zero-width characters shift the plain model's answers; normalised, the answers are
    # those of the clean sentences, the reference's own
    assert hardened.outputs["psi"] < 0.01
    assert undefended.outputs["psi"] > 0.1


def test_latest_stays_on_the_hardened_run_after_harden(runs):
    original, defended = runs
    assert defended.lineage["hardens"] == original.id
    assert original.store.resolve("latest") == original.id
    assert wince.open(original.store).id == original.id
    assert original.store.resolve(defended.id[:8]) == defended.id  # named, it resolves


def test_a_probe_of_a_defended_run_predicts_with_the_defended_model(runs):
    original, defended = runs
    probe = probe_for_run(defended.store, defended.id, cache=False)
    assert isinstance(probe.adapter, DefendedModel)
    assert probe.adapter.defence.name == "text.normalize"
    live = _zero_width_live_texts()
    clean = sentiment_data().batch(0, N_SAMPLES)
    # normalised, zero-width texts score as the clean ones; the undefended probe differs
    defended_labels = probe.predict_inputs(live).labels
    np.testing.assert_array_equal(defended_labels, probe.predict_inputs(clean).labels)
    # given the defended model itself, the probe does not wrap it again
    given = NormalizeText().wrap(sentiment_classifier())
    assert probe_for_run(defended.store, defended.id, model=given, cache=False).adapter is given
    plain = probe_for_run(original.store, original.id, cache=False)
    assert not isinstance(plain.adapter, DefendedModel)
    assert (plain.predict_inputs(live).labels != defended_labels).sum() > 0


def _cli(*args: str):
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def test_wince_lock_of_a_defended_run_pins_the_defence_and_verify_and_gate_check_it(runs, tmp_path):
    original, defended = runs
    store = str(defended.store.root)
    lock_file = tmp_path / "defended.lock"
    locked = _cli("lock", "--run", defended.id, "--store", store, "--out", str(lock_file))
    assert locked.exit_code == 0, locked.output
    assert "defence text.normalize v1" in locked.output
    lock = load_lock(lock_file)
    assert lock.run == defended.id
    assert lock.defences == {"text.normalize": 1}
    described = defended.lineage["defence"]
    assert lock.defence_settings == {
        "text.normalize": {"options": described["options"], "fitted": described["fitted"]}
    }
    assert set(lock.perturbations) == {"text.zero_width", "text.typos"}
    assert lock.data_fingerprint == defended.record["data_fingerprint"]
    verified = _cli("verify", defended.id, "--lock", str(lock_file), "--store", store)
    assert verified.exit_code == 0, verified.output
    assert f"verified: run {defended.id}" in verified.output
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        yaml.safe_dump(
            {
                "rules": [
                    {
                        "check": "max_flip_rate",
                        "max": 0.05,
                        "where": {"scenario": "text.zero_width*"},
                    }
                ]
            }
        )
    )
    gated = _cli("gate", defended.id, "--policy", str(policy), "--store", store)
    assert gated.exit_code == 0, gated.output
    # the plain run's lock pins no defence: the defended run drifted from it
    plain_lock = tmp_path / "plain.lock"
    assert (
        _cli("lock", "--run", original.id, "--store", store, "--out", str(plain_lock)).exit_code
        == 0
    )
    assert load_lock(plain_lock).defences == {}
    drifted = _cli("verify", defended.id, "--lock", str(plain_lock), "--store", store)
    assert drifted.exit_code == 2
    assert "defence text.normalize: the model runs behind it, the lock pins no such defence." in (
        drifted.output
    )
    # a lock whose defence options differ (another seed) is a drift naming the options
    tampered = yaml.safe_load(lock_file.read_text())
    tampered["defence_settings"]["text.normalize"]["options"]["seed"] += 1
    other = tmp_path / "other.lock"
    other.write_text(yaml.safe_dump(tampered))
    changed = _cli("verify", defended.id, "--lock", str(other), "--store", store)
    assert changed.exit_code == 2
    assert "defence text.normalize: options changed (locked" in changed.output


def test_wince_lock_takes_a_plan_or_a_run_and_a_run_lock_of_a_defended_model_is_not_run_plain(
    runs, tmp_path
):
    _, defended = runs
    store = str(defended.store.root)
    neither = _cli("lock", "--store", store)
    assert neither.exit_code == 2
    assert "give a plan file (wince lock PLAN) or a stored run" in neither.output
    plan_file = tmp_path / "plan.yaml"
    plan_file.write_text(yaml.safe_dump(PLAN))
    lock_file = tmp_path / "plan.yaml.lock"
    assert (
        _cli("lock", "--run", defended.id, "--store", store, "--out", str(lock_file)).exit_code == 0
    )
    with pytest.raises(PlanError, match=r"pins a model behind text\.normalize"):
        run_locked(plan_file, store=Store(root=tmp_path / "store"))
    defended_model = NormalizeText(seed=defended.lineage["defence"]["options"]["seed"]).wrap(
        sentiment_classifier()
    )
    run = run_locked(plan_file, model=defended_model, store=defended.store)
    assert run.id == defended.id  # the same defended model: the stored run is reused


def test_wince_runs_marks_defended_runs_whole_at_80_columns(runs):
    original, defended = runs
    env = {**os.environ, "COLUMNS": "80"}
    listed = subprocess.run(
        [sys.executable, "-m", "wince", "runs", "--store", str(original.store.root)],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines), listed.stdout
    # a table still (status and sample count give way), the mark whole on its run's row
    (defended_row,) = [line for line in lines if line.startswith(f"│ {defended.id} ")]
    assert f"│ {original.id} with text.normalize │" in defended_row
    (original_row,) = [line for line in lines if line.startswith(f"│ {original.id} ")]
    assert "with" not in original_row
    records = json.loads(_cli("runs", "--store", str(original.store.root), "--json").output)
    by_id = {r["run_id"]: r for r in records}
    assert (by_id[defended.id]["hardens"], by_id[defended.id]["defence"]) == (
        original.id,
        "text.normalize",
    )
    assert (by_id[original.id]["hardens"], by_id[original.id]["defence"]) == (None, None)


ALLOCATED_FLOATS = 20_000  # per sample: 160 kB of float64


class AllocatingDefence(Defence):
    """Predicts as the model does after allocating `ALLOCATED_FLOATS` float64 per sample."""

    name = "test.allocating"
    version = 1

    def predict(self, model: ModelAdapter, x: Batch) -> Predictions:
        scratch = np.ones((len(x), ALLOCATED_FLOATS))
        assert scratch.sum() == len(x) * ALLOCATED_FLOATS
        return model.predict(x)


def _threshold_model() -> CallableAdapter:
    return CallableAdapter(
        lambda x: (x[:, 0] > 14).astype(int),
        fingerprint="threshold",
        classes=("benign", "malignant"),
    )


def test_harden_measures_each_defences_extra_peak_memory_per_sample(tmp_path):
    plan = {
        "name": "memory-cost",
        "perturbations": [{"name": "tabular.gaussian_noise", "severities": [0.5]}],
        "repeats": 1,
        "noise_floor": False,
    }
    data = breast_cancer_data()
    model = _threshold_model()
    run = wince.run(model, data, plan, store=Store(root=tmp_path / "store"))
    hardening = harden_run(
        run.store, run.id, [AllocatingDefence(), "tabular.clip"], model=model, data=data
    )
    table = hardening.defences.set_index("defence")
    allocated = 8 * ALLOCATED_FLOATS
    assert table.loc["test.allocating", "extra_bytes_per_sample"] >= allocated
    assert table.loc["test.allocating", "bytes_per_sample"] >= allocated
    # clipping copies one row of 30 floats per sample: far below the scratch array
    assert table.loc["tabular.clip", "extra_bytes_per_sample"] < allocated / 10
    payload = hardening.to_payload()["defences"]
    assert {row["defence"]: row["extra_bytes_per_sample"] for row in payload} == dict(
        table["extra_bytes_per_sample"]
    )
    console = Console(width=240, record=True)
    print_hardening(hardening, console)
    shown = console.export_text()
    assert "memory +" in shown
    assert byte_size(table.loc["test.allocating", "extra_bytes_per_sample"], signed=True) in shown


def test_peak_bytes_per_sample_counts_what_a_prediction_allocates():
    x = breast_cancer_data().batch(0, 50)
    defended = AllocatingDefence().wrap(_threshold_model())
    assert peak_bytes_per_sample(defended, x) >= 8 * ALLOCATED_FLOATS
    assert peak_bytes_per_sample(_threshold_model(), x) < 8 * ALLOCATED_FLOATS / 10
