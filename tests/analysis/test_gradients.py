from __future__ import annotations

import numpy as np
import pytest

from require import require_module
from wince.analysis.gradients import input_gradients
from wince.datasets import ArrayDataset
from wince.engine.probe import Probe

torch = require_module("torch", "torch")

pytestmark = pytest.mark.torch

from wince.models.torch import TorchAdapter  # noqa: E402


def linear_regressor(weights):
    module = torch.nn.Linear(len(weights), 1, bias=True)
    with torch.no_grad():
        module.weight.copy_(torch.tensor([weights], dtype=torch.float32))
        module.bias.fill_(0.5)
    return TorchAdapter(module, task="regression")


def tabular_data(n=40, d=3):
    x = np.random.default_rng(2).normal(size=(n, d))
    return ArrayDataset(x, np.zeros(n))


def test_gradient_of_a_linear_model_is_its_weights_and_directional_derivative_is_exact():
    weights = [2.0, -1.0, 0.5]
    probe = Probe(linear_regressor(weights), tabular_data(), seed=0)
    result = input_gradients(probe, perturbations=["tabular.gaussian_noise"], severity=0.6, worst=3)
    norm = np.linalg.norm(weights)
    assert result.samples["gradient_norm"].to_numpy() == pytest.approx(np.full(40, norm), rel=1e-6)
    moves = result.directional
    # linear model: the first-order prediction is the actual change
    assert moves["directional"].to_numpy() == pytest.approx(moves["actual"].to_numpy(), abs=1e-5)
    assert (moves["displacement_norm"] > 0).all()
    assert len(result.maps) == 3
    for gradient_map in result.maps.values():
        assert gradient_map == pytest.approx(np.abs(weights), rel=1e-6)


def test_classifier_gradient_matches_the_softmax_derivative():
    module = torch.nn.Linear(2, 2, bias=False)
    w = np.array([[1.0, -2.0], [-1.0, 0.5]])
    with torch.no_grad():
        module.weight.copy_(torch.tensor(w, dtype=torch.float32))
    x = np.array([[0.3, -0.2], [-1.0, 0.4]])
    probe = Probe(TorchAdapter(module), ArrayDataset(x, [0, 1]), seed=0)
    result = input_gradients(probe)
    logits = x @ w.T
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    c = p.argmax(axis=1)
    # d p_c / d x = p_c * (w_c - sum_k p_k w_k)
    analytic = np.stack([p[i, c[i]] * (w[c[i]] - p[i] @ w) for i in range(2)])
    assert result.samples["gradient_norm"].to_numpy() == pytest.approx(
        np.linalg.norm(analytic, axis=1), rel=1e-5
    )


def users_regressor(weights):
    """A model as users write them: an instance of an nn.Module subclass defined outside torch.

    The class is defined here, not at module level, so that collecting this module does not
    import torch.
    """

    class UsersRegressor(torch.nn.Module):
        def __init__(self, weights):
            super().__init__()
            self.linear = torch.nn.Linear(len(weights), 1)
            with torch.no_grad():
                self.linear.weight.copy_(torch.tensor([weights], dtype=torch.float32))
                self.linear.bias.zero_()

        def forward(self, x):
            return self.linear(x)

    return UsersRegressor(weights)


def test_a_users_own_module_subclass_is_a_torch_model_with_gradients():
    from wince.models import as_model

    adapter = as_model(users_regressor([2.0, -1.0, 0.5]), task="regression")
    assert isinstance(adapter, TorchAdapter)  # not the callable adapter, which crashed
    x = tabular_data().x
    assert adapter.predict(x).values == pytest.approx(x @ [2.0, -1.0, 0.5], abs=1e-5)
    result = input_gradients(Probe(adapter, tabular_data(), seed=0))
    assert result.samples["gradient_norm"].to_numpy() == pytest.approx(
        np.full(40, np.linalg.norm([2.0, -1.0, 0.5])), rel=1e-6
    )


def test_directional_derivatives_follow_each_plan_entrys_own_parameters(tmp_path):
    # a drift of x0 alone, as the plan entry says: the exact change is w0 * shift of x0
    # (reported before as the drift of every column)
    import wince

    weights = [2.0, -1.0, 0.5]
    data = tabular_data()
    plan = {
        "name": "drift-x0",
        "perturbations": [
            {"name": "tabular.sensor_drift", "params": {"columns": ["x0"]}, "levels": [1]}
        ],
        "analysis": {"tolerance": {"mean_abs_change": 0.1}},
    }
    model = linear_regressor(weights)
    run = wince.run(model, data, plan, store=str(tmp_path / "store"))
    moves = run.analyze(model=model, data=data, gradients=True).extras["gradients"].directional
    drift = wince.perturbations.get("tabular.sensor_drift").magnitude.value_at(0.2)
    shift = drift * data.x[:, 0].std()  # in column standard deviations of the dataset
    assert moves["perturbation"].unique().tolist() == ["tabular.sensor_drift"]
    assert moves["directional"].to_numpy() == pytest.approx(np.full(40, 2.0 * shift), rel=1e-4)
    assert moves["actual"].to_numpy() == pytest.approx(np.full(40, 2.0 * shift), rel=1e-4)
