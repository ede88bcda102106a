from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression

import wince
from wince.analysis.local import column_sensitivity
from wince.datasets import ArrayDataset
from wince.engine.probe import Probe, probe_for_run
from wince.errors import ModelError
from wince.models import SklearnAdapter


def regression_data():
    rng = np.random.default_rng(4)
    scales = np.array([1.0, 10.0, 0.1, 3.0])
    x = rng.normal(size=(300, 4)) * scales
    y = x @ np.array([2.0, -0.5, 30.0, 0.0]) + rng.normal(scale=0.1, size=300)
    return x, y


def test_linear_model_sensitivities_equal_coefficients_times_column_sds():
    x, y = regression_data()
    model = LinearRegression().fit(x, y)
    data = ArrayDataset(x, y, feature_names=["a", "b", "c", "d"])
    result = column_sensitivity(Probe(SklearnAdapter(model), data, seed=0))
    table = result.table.set_index("column")
    expected = model.coef_ * x.std(axis=0)
    for name, value in zip("abcd", expected, strict=True):
        assert table.loc[name, "mean"] == pytest.approx(value, rel=1e-6, abs=1e-9)
        assert (
            table.loc[name, "low"] - 1e-9
            <= table.loc[name, "mean"]
            <= table.loc[name, "high"] + 1e-9
        )
    ranked = sorted(zip(np.abs(expected), "abcd", strict=True), reverse=True)
    assert table.sort_values("rank").index.tolist() == [n for _, n in ranked]
    assert result.output == "value"


@pytest.mark.slow
def test_classifier_sensitivity_uses_the_predicted_class_probability():
    x, y = regression_data()
    labels = (y > 0).astype(int)
    model = LogisticRegression().fit(x, labels)
    data = ArrayDataset(x, labels)
    table = column_sensitivity(Probe(SklearnAdapter(model), data, seed=0)).table.set_index("column")
    p = model.predict_proba(x)
    cls = p.argmax(axis=1)
    # d p_c / d x_j = p_c * (d logit_c/dx_j - sum_k p_k d logit_k/dx_j); binary: +-p(1-p) w_j
    sign = np.where(cls == 1, 1.0, -1.0)
    analytic = (sign * p[:, 1] * p[:, 0])[:, None] * model.coef_[0] * x.std(axis=0)
    for j, name in enumerate(["x0", "x1", "x2", "x3"]):
        assert table.loc[name, "mean"] == pytest.approx(analytic[:, j].mean(), rel=1e-3, abs=1e-6)


@pytest.mark.slow
def test_probe_refuses_a_model_other_than_the_runs(tmp_path):
    x, y = regression_data()
    model = LinearRegression().fit(x, y)
    plan = {"name": "lin", "perturbations": [{"name": "tabular.gaussian_noise"}]}
    run = wince.run(model, (x, y), plan, store=str(tmp_path / "s"))
    other = LinearRegression().fit(x, y + 1)
    with pytest.raises(ModelError, match="fingerprint"):
        probe_for_run(run.store, run.id, model=other, data=(x, y))
    assert probe_for_run(run.store, run.id, model=model, data=(x, y)).evaluations == 0
