from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest

from require import require_module
from wince.errors import ModelError, ParameterError
from wince.models import Task, as_model

torch = require_module("torch", "torch")

pytestmark = pytest.mark.torch

from wince.models.torch import TorchAdapter  # noqa: E402


def _save_torchscript(module, path):
    # TorchScript is deprecated in torch 2.13; users still have such files.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(torch.jit.script(module), str(path))


def _classifier(seed):
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Dropout(0.5), torch.nn.Linear(8, 3)
    )


def _inputs(seed, n=11):
    return np.random.default_rng(seed).normal(size=(n, 4)).astype(np.float32)


def _reference_probabilities(module, x):
    module.eval()
    with torch.no_grad():
        logits = module(torch.tensor(x, dtype=torch.float32)).double()
    return torch.softmax(logits, dim=1).numpy()


def test_classifier_logits_are_softmaxed_like_a_direct_forward_pass(seed):
    module, x = _classifier(seed), _inputs(seed)
    predictions = TorchAdapter(module, classes=("a", "b", "c")).predict(x)
    expected = _reference_probabilities(copy.deepcopy(module), x)
    np.testing.assert_allclose(predictions.scores, expected, rtol=1e-6, atol=1e-9)
    np.testing.assert_array_equal(predictions.labels, expected.argmax(axis=1))


def test_the_module_runs_in_eval_mode_so_dropout_is_off(seed):
    module = _classifier(seed).train()
    model = TorchAdapter(module)
    x = _inputs(seed)
    assert not module.training
    np.testing.assert_array_equal(model.predict(x).scores, model.predict(x).scores)


def test_probability_outputs_are_not_softmaxed_again(seed):
    module = torch.nn.Sequential(_classifier(seed), torch.nn.Softmax(dim=1))
    x = _inputs(seed)
    predictions = TorchAdapter(module).predict(x)
    with torch.no_grad():
        expected = module.eval()(torch.from_numpy(x)).double().numpy()
    np.testing.assert_allclose(predictions.scores, expected, rtol=1e-6)


def test_regressor_values_match_a_direct_forward_pass(seed):
    torch.manual_seed(seed)
    module = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.Tanh(), torch.nn.Linear(5, 1))
    x = _inputs(seed)
    predictions = TorchAdapter(module, task="regression", max_batch=4).predict(x)
    with torch.no_grad():
        expected = module(torch.from_numpy(x))[:, 0].double().numpy()
    # float32 matrix products over batches of 4 and of all rows sum in different orders: a few
    # float32 ulps (1.2e-7 each) apart, more in relative terms for values near zero.
    np.testing.assert_allclose(predictions.values, expected, rtol=1e-6, atol=1e-7)
    assert predictions.labels is None


def test_uint8_images_reach_the_module_as_unscaled_float32(seed):
    images = np.random.default_rng(seed).integers(0, 256, size=(3, 5, 5, 3), dtype=np.uint8)
    seen = []

    class Probe(torch.nn.Module):
        def forward(self, x):
            seen.append(x.clone())
            return x.reshape(len(x), -1)[:, :2]

    TorchAdapter(Probe()).predict(images)
    assert seen[0].dtype == torch.float32
    assert tuple(seen[0].shape) == (3, 5, 5, 3)
    np.testing.assert_array_equal(seen[0].numpy(), images.astype(np.float32))


def test_chunks_of_max_batch_give_the_same_predictions(seed):
    module, x = _classifier(seed), _inputs(seed, n=10)
    whole = TorchAdapter(module).predict(x)
    chunked = TorchAdapter(module, max_batch=3).predict(x)
    np.testing.assert_allclose(whole.scores, chunked.scores, rtol=1e-6)


def test_integer_outputs_are_class_indices():
    class ArgMax(torch.nn.Module):
        def forward(self, x):
            return x.argmax(dim=1)

    predictions = TorchAdapter(ArgMax()).predict(np.eye(3, dtype=np.float32)[[2, 0, 1]])
    assert predictions.labels.tolist() == [2, 0, 1]
    assert predictions.scores is None


def test_torch_errors_become_model_errors_naming_the_module_and_samples():
    model = TorchAdapter(_classifier(0), max_batch=4)
    with pytest.raises(
        ModelError, match=r"PyTorch Sequential failed on samples 0-3 .*RuntimeError"
    ):
        model.predict(np.zeros((6, 7), dtype=np.float32))


def test_a_module_returning_a_tuple_raises_model_error():
    class Pair(torch.nn.Module):
        def forward(self, x):
            return x, x

    with pytest.raises(ModelError, match="must return one tensor; got a tuple"):
        TorchAdapter(Pair()).predict(np.zeros((2, 2), dtype=np.float32))


def test_text_input_raises_model_error():
    with pytest.raises(ModelError, match="take numeric arrays"):
        TorchAdapter(_classifier(0)).predict(["a", "b"])


def test_non_modules_and_bad_max_batch_are_refused():
    with pytest.raises(ModelError, match=r"needs a torch.nn.Module; got a function"):
        TorchAdapter(lambda x: x)
    with pytest.raises(ParameterError, match="max_batch must be a positive number"):
        TorchAdapter(_classifier(0), max_batch=0)


def test_torchscript_round_trip_predicts_and_fingerprints_like_the_eager_module(tmp_path, seed):
    module, x = _classifier(seed).eval(), _inputs(seed)
    path = tmp_path / "model.pt"
    _save_torchscript(module, path)
    loaded = TorchAdapter.from_torchscript(path, task=Task.CLASSIFICATION, classes=("a", "b", "c"))
    eager = TorchAdapter(module)
    np.testing.assert_allclose(loaded.predict(x).scores, eager.predict(x).scores, rtol=1e-6)
    assert loaded.classes == ("a", "b", "c")
    assert loaded.label == "PyTorch Sequential"
    assert loaded.fingerprint() == eager.fingerprint()


def test_missing_or_invalid_torchscript_files_raise_model_error(tmp_path):
    with pytest.raises(ModelError, match="no file at"):
        TorchAdapter.from_torchscript(tmp_path / "absent.pt", task="classification")
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a torchscript archive")
    with pytest.raises(ModelError, match=r"cannot load .*garbage\.pt .*torch\.jit\.save") as info:
        TorchAdapter.from_torchscript(garbage, task="classification")
    assert info.value.__cause__ is not None


def test_fingerprint_is_stable_and_changes_when_a_weight_or_layer_changes():
    module = _classifier(0)
    fingerprint = TorchAdapter(module).fingerprint()
    assert TorchAdapter(module).fingerprint() == fingerprint
    assert TorchAdapter(copy.deepcopy(module)).fingerprint() == fingerprint
    changed = copy.deepcopy(module)
    with torch.no_grad():
        changed[0].weight[0, 0] += 1e-3
    assert TorchAdapter(changed).fingerprint() != fingerprint
    other_activation = copy.deepcopy(module)
    other_activation[1] = torch.nn.Tanh()
    assert TorchAdapter(other_activation).fingerprint() != fingerprint


def test_as_model_wraps_torch_modules():
    model = as_model(_classifier(0), task="classification")
    assert isinstance(model, TorchAdapter)


def test_the_callers_batch_is_not_written_by_in_place_layers():
    x = np.array([[-1.0, 2.0]], dtype=np.float32)
    TorchAdapter(torch.nn.Sequential(torch.nn.ReLU(inplace=True))).predict(x)
    assert x.tolist() == [[-1.0, 2.0]]


def test_a_device_the_machine_lacks_raises_model_error():
    with pytest.raises(ModelError, match=r"cannot run the module on device 'nonsense'"):
        TorchAdapter(_classifier(0), device="nonsense")


def test_a_single_logit_binary_classifier_gives_two_class_probabilities(seed):
    torch.manual_seed(seed)
    module, x = torch.nn.Linear(4, 1), _inputs(seed)
    predictions = TorchAdapter(module).predict(x)
    with torch.no_grad():
        p = torch.sigmoid(module(torch.from_numpy(x)))[:, 0].double().numpy()
    np.testing.assert_allclose(predictions.scores, np.stack([1 - p, p], axis=1), rtol=1e-6)
