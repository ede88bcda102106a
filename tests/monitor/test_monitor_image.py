"""Monitor on the demo digits run: exposure estimated from live images and read off the curves."""

from __future__ import annotations

import io
import json
import shlex
import sys

import numpy as np
import pytest
from rich.console import Console

import wince
from wince.analysis.profile import analyze_run
from wince.demo.models import digits_classifier, digits_data
from wince.monitor.commands import monitor_command
from wince.monitor.monitor import monitor_history, monitor_run
from wince.perturbations import get
from wince.perturbations.base import DataContext, Modality, Rngs

N = 300
PLAN = {
    "name": "monitor-digits",
    "model": {"factory": "wince.demo.models:digits_classifier"},
    "data": {"factory": "wince.demo.models:digits_data", "limit": N},
    "perturbations": [{"name": "image.exposure", "levels": [1, 2, 3, 4, 5]}],
    "repeats": 1,
    "noise_floor": False,
    "analysis": {"bootstrap": 200},
}


def exposed(images, ev):
    rngs = Rngs.for_samples([str(i) for i in range(len(images))])
    return get("image.exposure")().apply(images, ev, rngs, DataContext(Modality.IMAGE))


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    run = wince.run(plan=PLAN, store=str(tmp_path_factory.mktemp("monitor-store")))
    analyze_run(run.store, run.id, regions=False)
    return run


@pytest.fixture(scope="module")
def reference():
    data = digits_data()
    return data.x[:N], data.labels[:N]


def console():
    return Console(file=io.StringIO(), width=200)


def test_one_ev_darker_is_estimated_and_its_harm_predicted(digits_run, reference, tmp_path):
    images, labels = reference
    live = exposed(images, -1.0)
    path = tmp_path / "live.npz"
    np.savez(path, x=live)

    result = monitor_run(digits_run.store, digits_run.id, path)

    ev = next(e for e in result.estimates if e.perturbation == "image.exposure")
    assert ev.value == pytest.approx(-1.0, rel=0.2)
    assert ev.low <= -1.0 <= ev.high
    model = digits_classifier()
    before, after = model.predict(images), model.predict(live)
    confidence_before = model.predict_proba(images).max(axis=1)
    confidence_after = model.predict_proba(live).max(axis=1)
    measured = {
        "flip_rate": float(np.mean(before != after)),
        "accuracy_drop": float(np.mean(before == labels) - np.mean(after == labels)),
        # higher is better: its harmful change is the fall of the top-class probability
        "confidence_change": float(np.mean(confidence_before - confidence_after)),
    }
    rows = {r["metric"]: r for r in result.predictions if r["perturbation"] == "image.exposure"}
    assert set(rows) == {*measured, "true_class_prob_change"}
    for metric, value in measured.items():
        assert rows[metric]["low"] <= value <= rows[metric]["high"], (metric, value, rows[metric])
        assert not rows[metric]["clamped"]
    assert any("about 1.00 EV darker than the reference" in line for line in result.summary)
    jpeg = next(e for e in result.estimates if e.perturbation == "image.jpeg")
    assert not jpeg.estimable
    assert result.name is not None
    assert digits_run.store.load_analysis(digits_run.id, result.name)["alert"] is result.fired


def test_unperturbed_live_data_fire_no_alert(digits_run, reference, tmp_path):
    images, _ = reference
    path = tmp_path / "same.npz"
    np.savez(path, x=images)
    code = monitor_command(
        digits_run.id,
        live=path,
        outputs=None,
        policy=None,
        store=str(digits_run.store.root),
        on_alert=None,
        predict=True,
        json_output=False,
        console=console(),
    )
    assert code == 0
    other = digits_data().x[N : 2 * N]  # a fresh sample from the same source
    result = monitor_run(digits_run.store, digits_run.id, other, save=False)
    assert not result.alerts, result.alerts
    ev = next(e for e in result.estimates if e.perturbation == "image.exposure")
    assert abs(ev.value) < 0.1
    assert result.outputs is not None
    assert result.outputs["psi"] < 0.2


def test_alert_runs_the_on_alert_command_with_the_alert_json(digits_run, reference, tmp_path):
    images, _ = reference
    path = tmp_path / "dark.npz"
    np.savez(path, x=exposed(images, -2.0))
    policy = tmp_path / "policy.yaml"
    policy.write_text("monitor:\n  name: strict\n  magnitudes:\n    image.exposure: {min: -0.5}\n")
    received = tmp_path / "alert.json"
    script = f"import sys; open({str(received)!r}, 'w').write(sys.stdin.read())"
    code = monitor_command(
        digits_run.id,
        live=path,
        outputs=None,
        policy=policy,
        store=str(digits_run.store.root),
        on_alert=shlex.join([sys.executable, "-c", script]),
        predict=False,
        json_output=True,
        console=console(),
    )
    assert code == 1
    payload = json.loads(received.read_text())
    assert payload["alert"] is True
    assert payload["policy"] == "strict"
    jpeg = next(e for e in payload["estimates"] if e["perturbation"] == "image.jpeg")
    assert jpeg["value"] is None  # strict JSON: NaN becomes null
    assert any(a["check"] == "magnitude image.exposure" for a in payload["alerts"])
    history = monitor_history(digits_run.store, digits_run.id)
    assert history["alert"].any()
    assert (history["perturbation"] == "image.exposure").any()


def test_given_outputs_are_compared_with_the_baseline(digits_run, reference):
    images, _ = reference
    probabilities = digits_classifier().predict_proba(images)
    shifted = np.zeros_like(probabilities)
    shifted[:, 0] = 1.0  # a model that now says "0" for everything
    same = monitor_run(digits_run.store, digits_run.id, images, outputs=probabilities, save=False)
    broken = monitor_run(digits_run.store, digits_run.id, images, outputs=shifted, save=False)
    assert same.outputs["psi"] == pytest.approx(0.0, abs=1e-9)
    assert same.outputs["js"] == pytest.approx(0.0, abs=1e-9)
    assert {a["check"] for a in broken.alerts} >= {"max_psi", "max_js"}
