"""A user's own torch module from a plan: a factory, `device`, and the API's adapters."""

from __future__ import annotations

import numpy as np
import pytest

import wince
from require import require_module
from wince.errors import ModelError, PlanError
from wince.models import TorchAdapter, as_model
from wince.models.loading import load_model
from wince.plan import as_plan

torch = require_module("torch", "torch")

pytestmark = pytest.mark.torch

FACTORY = '''
import torch


class SignNet(torch.nn.Module):
    """Class 1 when the first feature is positive: a model as users write them."""

    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor(4.0))

    def forward(self, x):
        logit = self.scale * x[:, 0]
        return torch.stack([-logit, logit], dim=1)


def model():
    return SignNet()
'''

PLAN = {
    "name": "own-module",
    "perturbations": [{"name": "tabular.gaussian_noise", "severities": [0.5]}],
    "repeats": 2,
}


@pytest.fixture
def factory(tmp_path, monkeypatch):
    (tmp_path / "usernet.py").write_text(FACTORY)
    monkeypatch.syspath_prepend(str(tmp_path))
    return "usernet:model"


def test_a_plan_factory_returning_a_users_module_runs_on_the_declared_device(tmp_path, factory):
    x = np.random.default_rng(0).normal(size=(80, 3))
    y = (x[:, 0] > 0).astype(int)
    plan = {**PLAN, "model": {"factory": factory, "device": "cpu", "output": "logits"}}
    adapter = load_model(as_plan(plan).model)
    assert isinstance(adapter, TorchAdapter)
    assert str(adapter.device) == "cpu"
    run = wince.run(data=(x, y), plan=plan, store=str(tmp_path / "s"))
    accuracy = run.summary().query("scenario == 'baseline' and metric == 'accuracy'")["value"]
    assert float(accuracy.iloc[0]) == pytest.approx(1.0)


def sign_net_gradient_norm(x: np.ndarray) -> np.ndarray:
    """|d p(predicted class) / d x| for SignNet: p1 = softmax([-4 x0, 4 x0])_1 = sigmoid(8 x0)."""
    p1 = 1.0 / (1.0 + np.exp(-8.0 * x[:, 0]))
    return 8.0 * p1 * (1.0 - p1)


def test_a_users_module_from_a_plan_factory_and_from_python_has_gradients(tmp_path, factory):
    import importlib

    x = np.random.default_rng(1).normal(size=(40, 3))
    y = (x[:, 0] > 0).astype(int)
    plan = {**PLAN, "model": {"factory": factory, "output": "logits"}}
    from_plan = wince.run(data=(x, y), plan=plan, store=str(tmp_path / "plan"))
    profile = from_plan.analyze(data=(x, y), gradients=True)
    norms = profile.extras["gradients"].samples.sort_values("sample_index")["gradient_norm"]
    assert norms.to_numpy() == pytest.approx(sign_net_gradient_norm(x), rel=1e-4, abs=1e-6)

    module = importlib.import_module(factory.split(":")[0]).model()
    direct = wince.run(module, (x, y), PLAN, store=str(tmp_path / "python"))
    profile = direct.analyze(model=module, data=(x, y), gradients=True)
    norms = profile.extras["gradients"].samples.sort_values("sample_index")["gradient_norm"]
    assert norms.to_numpy() == pytest.approx(sign_net_gradient_norm(x), rel=1e-4, abs=1e-6)


def test_a_device_the_machine_lacks_is_a_clear_error(factory):
    spec = as_plan({**PLAN, "model": {"factory": factory, "device": "cuda:99"}}).model
    with pytest.raises(ModelError, match=r"device 'cuda:99'.*use device='cpu'"):
        load_model(spec)


def test_a_device_for_a_model_that_is_not_torch_is_refused(tmp_path):
    spec = as_plan({**PLAN, "model": {"url": "http://127.0.0.1:9/p", "device": "cuda:0"}}).model
    with pytest.raises(PlanError, match=r"model\.device applies to torch models"):
        load_model(spec)
    with pytest.raises(ModelError, match="device 'cuda:0' applies to torch modules"):
        as_model(lambda b: b[:, 0] > 0, device="cuda:0")
