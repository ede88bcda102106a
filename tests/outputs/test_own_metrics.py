"""A metric of one's own, declared in a plan, gets what a built-in one gets.

The plan names its model through a factory and declares `confidence_drop` (the fall of the
probability of the clean predicted class); the metric then flows into the summary, the
verdicts against its tolerance, the breaking points (where each sample crosses the
tolerance) and the gate, each checked against a computation made here from the model and the
perturbation directly.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import wince
from wince import perturbations
from wince.datasets import ArrayDataset
from wince.errors import PlanError
from wince.governance.gate import evaluate_gate
from wince.perturbations import Step, compose, sample_keys

MODULE = '''
import numpy as np
from wince.models import CallableAdapter


def brightness(batch):
    """Class 1 ("bright") with the probability sigmoid(12 (mean - 0.5))."""
    p = 1 / (1 + np.exp(-12 * (batch.mean(axis=(1, 2, 3)) - 0.5)))
    return np.stack([1 - p, p], axis=1)


def make():
    return CallableAdapter(brightness, fingerprint="brightness-v1")


def confidence_drop(clean, perturbed, labels, context):
    rows = np.arange(len(clean.labels))
    return clean.scores[rows, clean.labels] - perturbed.scores[rows, clean.labels]
'''
TOLERANCE = 0.05


@pytest.fixture
def run(tmp_path, monkeypatch):
    (tmp_path / "own_metrics.py").write_text(textwrap.dedent(MODULE))
    # not syspath_prepend, which imports pkg_resources (another test may leave it broken)
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path])
    levels = np.linspace(0.35, 0.9, 24, dtype=np.float32)
    images = levels[:, None, None, None] * np.ones((24, 8, 8, 3), np.float32)
    plan = {
        "name": "own-metric",
        "model": {"factory": "own_metrics:make"},
        "perturbations": [{"name": "image.exposure", "severities": [0.25, 0.5, 1.0]}],
        "store_scores": True,
        "metrics": [
            "accuracy",
            {
                "name": "confidence_drop",
                "function": "own_metrics:confidence_drop",
                "better": "lower",
                "tolerance": TOLERANCE,
                "unit": "probability",
            },
        ],
    }
    data = ArrayDataset(images, labels=(levels > 0.5).astype(int), modality="image")
    return wince.run(data=data, plan=plan, store=tmp_path / "store"), data


def brightness(batch: np.ndarray) -> np.ndarray:
    p = 1 / (1 + np.exp(-12 * (batch.mean(axis=(1, 2, 3)) - 0.5)))
    return np.stack([1 - p, p], axis=1)


def drop_at(data: ArrayDataset, rows: np.ndarray, severity: float) -> np.ndarray:
    """confidence_drop computed here: the perturbation applied directly, the model by hand."""
    exposure = perturbations.get("image.exposure")
    x = data.x[rows]
    perturbed = compose(
        x,
        [Step("image.exposure", exposure.magnitude.value_at(severity))],
        seed=0,
        trial=0,
        keys=sample_keys([data.ids[i] for i in rows]),
        context=data.context(),
    )
    clean, after = brightness(x), brightness(perturbed)
    label = clean.argmax(axis=1)
    index = np.arange(len(rows))
    return clean[index, label] - after[index, label]


@pytest.mark.slow
def test_the_stored_metric_is_the_function_of_the_stored_scores(run):
    outcomes = run[0].outcomes()
    scores = np.stack(outcomes["scores"].to_numpy())
    baseline = outcomes[outcomes["scenario"] == "baseline"].set_index("sample_index")
    clean = np.stack(baseline.loc[outcomes["sample_index"], "scores"].to_numpy())
    label = clean.argmax(axis=1)
    rows = np.arange(len(outcomes))
    expected = clean[rows, label] - scores[rows, label]
    np.testing.assert_allclose(outcomes["metric_confidence_drop"], expected, atol=1e-6)
    summary = run[0].summary()
    assert "confidence_drop" in set(summary["metric"])


@pytest.mark.slow
def test_verdicts_test_the_metric_against_its_declared_tolerance(run):
    profile = run[0].analyze(regions=False)
    tests = profile.verdicts.tests
    own = tests[tests["metric"] == "confidence_drop"].set_index("scenario")
    assert set(own["tolerance"]) == {TOLERANCE}
    assert set(own["tolerance_source"]) == {"its declaration"}
    outcomes = run[0].outcomes()
    for scenario, row in own.iterrows():
        effect = outcomes.loc[outcomes["scenario"] == scenario, "metric_confidence_drop"].mean()
        assert row["effect"] == pytest.approx(effect, abs=1e-6)
        if effect > 3 * TOLERANCE:
            assert row["verdict"] == "fragile"


@pytest.mark.slow
def test_breaking_points_are_where_each_sample_crosses_the_tolerance(run):
    stored, data = run
    profile = stored.analyze(
        data=data, regions=False, breaking_points=True, breaking_metric="confidence_drop"
    )
    result = profile.extras["breaking_points"].items["image.exposure"]
    assert result.metric == "confidence_drop"
    assert result.value_tolerance == TOLERANCE
    table = result.table
    broken = table[np.isfinite(table["breaking_severity"])]
    assert 0 < len(broken) < len(table) or len(broken) == len(table)
    for row in table.itertuples():
        rows = np.array([row.sample_index])
        if np.isfinite(row.breaking_severity):
            assert drop_at(data, rows, row.breaking_severity)[0] > TOLERANCE
        assert drop_at(data, rows, row.unchanged_severity)[0] <= TOLERANCE


@pytest.mark.slow
def test_a_gate_reads_the_metric(run):
    stored = run[0]
    stored.analyze(regions=False)
    outcomes = stored.outcomes()
    worst = outcomes.groupby("scenario")["metric_confidence_drop"].mean().max()
    lenient = {"rules": [{"check": "max_change", "metric": "confidence_drop", "max": 1.0}]}
    strict = {"rules": [{"check": "max_change", "metric": "confidence_drop", "max": worst / 2}]}
    fragile = {"rules": [{"check": "max_fragile", "metric": "confidence_drop", "max": 0}]}
    assert evaluate_gate(stored.store, stored.id, lenient).passed
    result = evaluate_gate(stored.store, stored.id, strict)
    assert not result.passed
    assert "change of confidence_drop" in " ".join(result.checks["message"])
    assert not evaluate_gate(stored.store, stored.id, fragile).passed


def test_a_metric_function_that_cannot_be_imported_is_a_plan_error(tmp_path):
    plan = {
        "name": "bad-metric",
        "perturbations": [{"name": "tabular.gaussian_noise", "severities": [0.5]}],
        "metrics": [{"name": "mine", "function": "no_such_module:fn", "better": "lower"}],
    }
    data = (np.zeros((4, 2)), np.array([0, 1, 0, 1]))
    with pytest.raises(PlanError, match=r"metrics\.mine\.function: cannot import module"):
        wince.run(lambda x: (x[:, 0] > 0).astype(int), data, plan, store=tmp_path / "s")


@pytest.mark.slow
def test_a_metric_registered_in_python_is_named_by_plans(tmp_path, monkeypatch):
    (tmp_path / "registered_metrics.py").write_text(
        "import numpy as np\n"
        "def doubled_flip(clean, perturbed, labels, context):\n"
        "    return 2.0 * (clean.labels != perturbed.labels)\n"
    )
    # not syspath_prepend, which imports pkg_resources (another test may leave it broken)
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path])
    from registered_metrics import doubled_flip  # type: ignore[import-not-found]

    from wince.metrics import _REGISTERED

    monkeypatch.setattr("wince.metrics._REGISTERED", dict(_REGISTERED))
    wince.register_metric(wince.declare_metric("doubled_flip", doubled_flip, better="lower"))
    plan = {
        "name": "registered",
        "perturbations": [{"name": "tabular.gaussian_noise", "severities": [1.0]}],
        "metrics": ["flip_rate", "doubled_flip"],
    }
    rng = np.random.default_rng(0)
    data = (rng.normal(size=(40, 2)), (rng.normal(size=40) > 0).astype(int))
    run = wince.run(lambda x: (x[:, 0] > 0).astype(int), data, plan, store=tmp_path / "s")
    outcomes = run.outcomes()
    np.testing.assert_array_equal(
        outcomes["metric_doubled_flip"], 2.0 * outcomes["flipped"].astype(float)
    )
    # a process where it is not registered (the CLI, a teammate) reads it from the run
    monkeypatch.setattr("wince.metrics._REGISTERED", {})
    gate = {"rules": [{"check": "max_change", "metric": "doubled_flip", "max": 2.0}]}
    assert evaluate_gate(run.store, run.id, gate).passed


@pytest.mark.slow
def test_a_changed_metric_function_makes_a_new_run(tmp_path, monkeypatch):
    module = tmp_path / "changing_metric.py"
    # not syspath_prepend, which imports pkg_resources (another test may leave it broken)
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path])
    plan = {
        "name": "changing",
        "perturbations": [{"name": "tabular.gaussian_noise", "severities": [1.0]}],
        "metrics": [{"name": "mine", "function": "changing_metric:mine", "better": "lower"}],
    }
    rng = np.random.default_rng(0)
    data = (rng.normal(size=(20, 2)), (rng.normal(size=20) > 0).astype(int))

    def run_with(body: str) -> wince.Run:
        import importlib.util
        import sys

        module.write_text(f"def mine(clean, perturbed, labels, context):\n    return {body}\n")
        # a source of the same size written within the same second would load the stale
        # bytecode Python cached for the previous one (its check is mtime and size)
        Path(importlib.util.cache_from_source(str(module))).unlink(missing_ok=True)
        sys.modules.pop("changing_metric", None)
        importlib.invalidate_caches()
        return wince.run(lambda x: (x[:, 0] > 0).astype(int), data, plan, store=tmp_path / "s")

    first = run_with("0.0 * (clean.labels != perturbed.labels)")
    again = run_with("0.0 * (clean.labels != perturbed.labels)")
    changed = run_with("1.0 * (clean.labels != perturbed.labels)")
    assert again.id == first.id
    assert changed.id != first.id
    assert changed.outcomes()["metric_mine"].sum() > 0 == first.outcomes()["metric_mine"].sum()


@pytest.mark.slow
def test_the_report_reads_breaking_points_on_a_metric_as_crossing_its_tolerance(run, tmp_path):
    stored, data = run
    stored.analyze(
        data=data, regions=False, breaking_points=True, breaking_metric="confidence_drop"
    )
    html = stored.report(out=tmp_path / "report.html").read_text(encoding="utf-8")
    assert "whose confidence_drop is still within its tolerance" in html
    assert "predictions still unchanged" not in html
