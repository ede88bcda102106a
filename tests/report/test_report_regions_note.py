"""The report's fragile-region section says whether the analysis ran or found nothing."""

from __future__ import annotations

import numpy as np
from sklearn.dummy import DummyClassifier

import wince
from wince.report.build import build_report

PLAN = {
    "name": "no-regions",
    "perturbations": [{"name": "tabular.gaussian_noise", "values": [0.5, 1.0]}],
    "repeats": 2,
    "analysis": {"bootstrap": 200},
}


def test_regions_analysed_without_a_rule_are_reported_as_none_found(tmp_path) -> None:
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(120, 3)), rng.integers(0, 2, 120)
    model = DummyClassifier(strategy="most_frequent").fit(x, y)  # never changes its answer
    run = wince.run(model, (x, y), PLAN, store=tmp_path / "store")
    never_analysed = build_report(run.store, run.id, data=(x, y)).html()
    assert "No fragile-region analysis is stored" in never_analysed

    run.analyze(regions=True, data=(x, y))
    analysed = build_report(run.store, run.id, data=(x, y)).html()
    assert "No fragile-region analysis is stored" not in analysed
    assert "No region of the inputs is more fragile than the rest" in analysed
