"""A defended run is a run like any other for compare, gate, verify, lock and monitor.

The run is the demo sentiment model (VADER) on 120 demo sentences under zero-width
characters (which break its lexicon look-ups) and typos; `text.normalize` removes the
zero-width characters, so its defended run is better under them and the same under typos.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

import wince
from wince.defences.text import NormalizeText
from wince.demo.models import sentiment_classifier, sentiment_data
from wince.errors import StoreError
from wince.governance.compare import compare_runs
from wince.governance.gate import evaluate_gate
from wince.governance.lock import check_lock, make_lock
from wince.governance.verify import verify_run
from wince.monitor.monitor import monitor_run
from wince.perturbations import get
from wince.perturbations.base import DataContext, Modality, Rngs
from wince.plan import Plan

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
