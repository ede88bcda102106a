from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LinearRegression, LogisticRegression

from require import require_module
from wince.errors import ModelError, ParameterError
from wince.models import Task, as_model

ort = require_module("onnxruntime", "onnx")
skl2onnx = require_module("skl2onnx", "onnx")
onnx = require_module("onnx", "onnx")

from wince.models.onnx import OnnxAdapter  # noqa: E402

# Importing ONNX Runtime and converting with skl2onnx take seconds before the first test.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def iris():
    x, y = load_iris(return_X_y=True)
    return x, y


@pytest.fixture(scope="module")
def logistic(iris):
    """A fitted LogisticRegression and its ONNX bytes (ZipMap output)."""
    x, y = iris
    estimator = LogisticRegression(max_iter=1000).fit(x, y)
    return estimator, _onnx_bytes(estimator, x)


def _onnx_bytes(estimator, x, *, zipmap=True):
    options = None if zipmap else {id(estimator): {"zipmap": False}}
    return skl2onnx.to_onnx(
        estimator, x[:1].astype(np.float32), options=options
    ).SerializeToString()


def _session(model_bytes):
    return ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("zipmap", [True, False], ids=["zipmap", "tensor"])
def test_converted_logistic_regression_matches_scikit_learn(iris, zipmap):
    x, y = iris
    estimator = LogisticRegression(max_iter=1000).fit(x, y)
    model = OnnxAdapter(_session(_onnx_bytes(estimator, x, zipmap=zipmap)), task="classification")
    predictions = model.predict(x)
    assert model.output_name == ("output_probability" if zipmap else "probabilities")
    np.testing.assert_allclose(predictions.scores, estimator.predict_proba(x), atol=1e-5)
    np.testing.assert_array_equal(predictions.labels, estimator.predict(x))


def test_from_path_loads_the_file_and_fingerprints_the_same_bytes(iris, logistic, tmp_path):
    x, _ = iris
    estimator, model_bytes = logistic
    path = tmp_path / "iris.onnx"
    path.write_bytes(model_bytes)
    model = OnnxAdapter.from_path(
        path, task=Task.CLASSIFICATION, classes=("a", "b", "c"), max_batch=16
    )
    np.testing.assert_allclose(model.predict(x).scores, estimator.predict_proba(x), atol=1e-5)
    assert model.classes == ("a", "b", "c")
    assert (
        model.fingerprint()
        == OnnxAdapter(_session(model_bytes), task="classification").fingerprint()
    )
    assert model.fingerprint() == model.fingerprint()


def test_fingerprint_changes_with_the_model(iris, logistic):
    x, y = iris
    other = LogisticRegression(max_iter=1000, C=0.01).fit(x, y)
    first = OnnxAdapter(_session(logistic[1]), task="classification")
    second = OnnxAdapter(_session(_onnx_bytes(other, x)), task="classification")
    assert first.fingerprint() != second.fingerprint()


def test_regression_reads_the_first_output(iris):
    x, _ = iris
    estimator = LinearRegression().fit(x[:, 1:], x[:, 0])
    model = OnnxAdapter(_session(_onnx_bytes(estimator, x[:, 1:])), task="regression")
    predictions = model.predict(x[:, 1:])
    np.testing.assert_allclose(predictions.values, estimator.predict(x[:, 1:]), rtol=1e-5)


@pytest.mark.parametrize("dtype", [np.float64, np.int64, np.uint8])
def test_inputs_are_cast_to_the_type_the_session_expects(iris, logistic, dtype):
    x, _ = iris
    estimator, model_bytes = logistic
    model = OnnxAdapter(_session(model_bytes), task="classification")
    rounded = np.round(x).astype(dtype)
    np.testing.assert_allclose(
        model.predict(rounded).scores,
        estimator.predict_proba(rounded.astype(np.float64)),
        atol=1e-5,
    )


def test_onnx_runtime_errors_become_model_errors(logistic):
    model = OnnxAdapter(_session(logistic[1]), task="classification", max_batch=50)
    with pytest.raises(
        ModelError, match=r"ONNX model .* failed on samples 0-49 .*InvalidArgument"
    ) as info:
        model.predict(np.zeros((60, 3)))
    assert type(info.value.__cause__).__module__.startswith("onnxruntime")


def test_text_for_a_numeric_input_raises_model_error(logistic):
    model = OnnxAdapter(_session(logistic[1]), task="classification")
    with pytest.raises(ModelError, match="takes numbers"):
        model.predict(["a", "b"])


def test_missing_and_invalid_files_raise_model_error(tmp_path):
    with pytest.raises(ModelError, match="no file at"):
        OnnxAdapter.from_path(tmp_path / "absent.onnx", task="classification")
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"not a protobuf")
    with pytest.raises(ModelError, match=r"cannot load .*InvalidProtobuf") as info:
        OnnxAdapter.from_path(garbage, task="classification")
    assert type(info.value.__cause__).__name__ == "InvalidProtobuf"


def _two_input_session():
    from onnx import TensorProto, helper

    inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [None, 2]) for n in "ab"]
    output = helper.make_tensor_value_info("sum", TensorProto.FLOAT, [None, 2])
    graph = helper.make_graph(
        [helper.make_node("Add", ["a", "b"], ["sum"])], "add", inputs, [output]
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return _session(model.SerializeToString())


def test_several_inputs_need_an_existing_input_name():
    session = _two_input_session()
    with pytest.raises(ModelError, match=r"has 2 inputs \['a', 'b'\]; pass input_name="):
        OnnxAdapter(session, task="classification")
    with pytest.raises(ModelError, match="has no input 'c'"):
        OnnxAdapter(session, task="classification", input_name="c")
    with pytest.raises(ModelError, match="has no output 'label'"):
        OnnxAdapter(session, task="classification", input_name="a", output_name="label")
    with pytest.raises(ModelError, match=r"ONNX model add failed .*Required inputs \(\['b'\]\)"):
        OnnxAdapter(session, task="classification", input_name="a").predict(np.zeros((2, 2)))


def test_non_sessions_and_bad_max_batch_are_refused(logistic):
    with pytest.raises(ModelError, match=r"needs an onnxruntime\.InferenceSession; got a str"):
        OnnxAdapter("model.onnx", task="classification")
    session = _session(logistic[1])
    with pytest.raises(ParameterError, match="max_batch"):
        OnnxAdapter(session, task="classification", max_batch=0)


def test_as_model_wraps_sessions(logistic):
    assert isinstance(as_model(_session(logistic[1])), OnnxAdapter)


def test_a_converted_binary_margin_classifier_agrees_with_scikit_learn():
    from sklearn.datasets import make_classification
    from sklearn.svm import LinearSVC

    x, y = make_classification(n_samples=60, n_features=4, random_state=0)
    estimator = LinearSVC().fit(x, y)
    model = OnnxAdapter(_session(_onnx_bytes(estimator, x)), task="classification")
    np.testing.assert_array_equal(model.predict(x).labels, estimator.predict(x))


def test_execution_providers_come_from_the_plan(iris, logistic, tmp_path):
    from wince.errors import PlanError
    from wince.models.loading import load_model
    from wince.plan import as_plan

    x, _ = iris
    estimator, model_bytes = logistic
    path = tmp_path / "iris.onnx"
    path.write_bytes(model_bytes)
    base = {"name": "onnx", "perturbations": [{"name": "tabular.gaussian_noise"}]}
    listed = {"onnx": str(path), "providers": ["CPUExecutionProvider"]}
    model = load_model(as_plan({**base, "model": listed}).model)
    assert model.session.get_providers() == ["CPUExecutionProvider"]
    np.testing.assert_allclose(model.predict(x).scores, estimator.predict_proba(x), atol=1e-5)
    absent = {"onnx": str(path), "providers": ["NoSuchExecutionProvider"]}
    with pytest.raises(ModelError, match=r"\['NoSuchExecutionProvider'\] are not available"):
        load_model(as_plan({**base, "model": absent}).model)
    misplaced = {"url": "http://127.0.0.1:9/p", "providers": ["CPUExecutionProvider"]}
    with pytest.raises(PlanError, match=r"model\.providers applies to model\.onnx"):
        load_model(as_plan({**base, "model": misplaced}).model)
