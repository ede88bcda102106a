"""A callable's identity covers its code and the state it closes over or is bound to."""

from __future__ import annotations

import functools
import os
import subprocess
import sys

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from wince.models.identity import callable_identity

WEIGHTS = np.array([1.0, 2.0])


def digest(fn: object) -> str:
    identity = callable_identity(fn)
    assert identity.stable, identity.problems
    return identity.digest


def test_closure_cells_defaults_and_globals_are_part_of_the_identity() -> None:
    def make(scale: float):
        return lambda x: x * scale

    assert digest(make(1.0)) == digest(make(1.0))
    assert digest(make(1.0)) != digest(make(2.0))

    def with_default(x, k=(1, 2)):
        return x * np.array(k)

    def other_default(x, k=(1, 3)):
        return x * np.array(k)

    assert digest(with_default) != digest(other_default)

    def uses_global(x):
        return x @ WEIGHTS

    before = digest(uses_global)
    WEIGHTS[0] = 5.0
    try:
        assert digest(uses_global) != before
    finally:
        WEIGHTS[0] = 1.0
    assert digest(uses_global) == before


def test_arrays_hash_by_dtype_and_shape_as_well_as_bytes() -> None:
    zeros = np.zeros(4, dtype=np.float32)
    assert digest(lambda: zeros) != digest(lambda: zeros.view(np.int32))
    assert digest(lambda: zeros) != digest(lambda: zeros.reshape(2, 2))


def test_bound_objects_partials_and_fitted_estimators_are_hashed_by_state() -> None:
    class Model:
        def __init__(self, threshold: float) -> None:
            self.threshold = threshold

        def __call__(self, x):
            return x > self.threshold

    assert digest(Model(0.5)) == digest(Model(0.5))
    assert digest(Model(0.5)) != digest(Model(0.6))
    assert digest(Model(0.5).__call__) != digest(Model(0.6).__call__)
    assert digest(functools.partial(np.add, 1)) != digest(functools.partial(np.add, 2))
    x = np.random.default_rng(0).normal(size=(40, 2))
    a = LogisticRegression().fit(x, x[:, 0] > 0)
    b = LogisticRegression().fit(x, x[:, 1] > 0)
    assert digest(a.predict) != digest(b.predict)
    assert "sklearn" in callable_identity(a.predict).modules


def test_dicts_and_sets_hash_the_same_whatever_their_order() -> None:
    def const(value):
        return lambda: value

    assert digest(const({"b": 1, "a": 2})) == digest(const({"a": 2, "b": 1}))
    assert digest(const({"b": 1, "a": 2})) != digest(const({"b": 2, "a": 1}))
    assert digest(const({"x", "y", "z"})) == digest(const({"z", "y", "x"}))


def test_cycles_end() -> None:
    class Node:
        pass

    node = Node()
    node.self = node  # type: ignore[attr-defined]
    assert digest(lambda: node) == digest(lambda: node)

    def recursive(n):
        return 1 if n == 0 else recursive(n - 1)

    assert digest(recursive)


def test_state_without_a_deterministic_hash_is_reported_unstable() -> None:
    stream = (i for i in range(3))
    identity = callable_identity(lambda: next(stream))
    assert not identity.stable
    assert any("generator" in p for p in identity.problems)


@pytest.mark.parametrize("threshold", [0.0, 0.5])
def test_the_callable_adapter_fingerprint_follows_changed_state(threshold: float) -> None:
    from wince.models import CallableAdapter

    class Model:
        threshold = 0.0

        def predict(self, x):
            return (x[:, 0] > self.threshold).astype(int)

    model = Model()
    adapter = CallableAdapter(model.predict)
    before = adapter.fingerprint()
    model.threshold = threshold + 1.0
    assert adapter.fingerprint() != before


def test_library_functions_are_named_not_walked() -> None:
    from scipy.special import softmax

    identity = callable_identity(lambda x: softmax(x, axis=1))
    assert identity.stable
    assert "scipy" in identity.modules


def test_a_tree_model_loaded_twice_has_one_fingerprint(tmp_path) -> None:
    # Tree nodes are a structured array with padding bytes that hold whatever memory held:
    # a plain pickle of the same forest loaded twice differed (trial: runs never reused).
    import joblib
    from sklearn.datasets import load_wine
    from sklearn.ensemble import RandomForestClassifier

    from wince.models import SklearnAdapter

    x, y = load_wine(return_X_y=True)
    joblib.dump(RandomForestClassifier(5, random_state=0).fit(x, y), tmp_path / "forest.joblib")
    first, second = (joblib.load(tmp_path / "forest.joblib") for _ in range(2))
    assert SklearnAdapter(first).fingerprint() == SklearnAdapter(second).fingerprint()
    assert callable_identity(first.predict).digest == callable_identity(second.predict).digest
    other = RandomForestClassifier(5, random_state=1).fit(x, y)
    assert SklearnAdapter(other).fingerprint() != SklearnAdapter(first).fingerprint()


def test_a_model_in_memory_and_loaded_from_its_file_has_one_fingerprint(tmp_path) -> None:
    # Which equal strings and dtypes are one object differs once a model is loaded: a plain
    # pickle follows that sharing, so a fitted pipeline and the same pipeline saved and
    # loaded with joblib (or pickle) had two fingerprints (trial: runs never reused).
    import pickle

    import joblib
    from sklearn.compose import make_column_transformer
    from sklearn.datasets import load_wine
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from wince.models import SklearnAdapter

    frame, y = load_wine(return_X_y=True, as_frame=True)
    columns = make_column_transformer((StandardScaler(), list(frame.columns[:6])))
    for model in (
        make_pipeline(columns, LogisticRegression(max_iter=2000)).fit(frame, y),
        RandomForestClassifier(5, random_state=0).fit(frame.to_numpy(), y),
    ):
        joblib.dump(model, tmp_path / "model.joblib")
        fingerprint = SklearnAdapter(model).fingerprint()
        assert SklearnAdapter(joblib.load(tmp_path / "model.joblib")).fingerprint() == fingerprint
        assert SklearnAdapter(pickle.loads(pickle.dumps(model))).fingerprint() == fingerprint


def test_a_model_that_contains_itself_still_has_a_fingerprint() -> None:
    from wince.models.identity import value_pickle

    looped: list[object] = [1.0]
    looped.append(looped)
    assert value_pickle(looped) == value_pickle(pickle_round_trip(looped))


def pickle_round_trip(obj: object) -> object:
    import pickle

    return pickle.loads(pickle.dumps(obj))


@pytest.mark.slow
def test_a_versioned_callable_has_one_fingerprint_in_every_process(tmp_path):
    # A function holding a lambda and a comprehension: their code objects' repr carries a
    # memory address, which once made the versioned fingerprint differ in every process.
    (tmp_path / "versioned_model.py").write_text(
        "def recognise(batch):\n"
        "    keep = lambda t: bool(t)\n"
        "    return [t.upper() for t in batch if keep(t)]\n"
    )
    script = (
        "from wince.models import CallableAdapter\n"
        "import versioned_model\n"
        "print(CallableAdapter(versioned_model.recognise, task='text', version='1').fingerprint())"
    )
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    prints = {
        subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
        ).stdout
        for _ in range(2)
    }
    assert len(prints) == 1
