"""`wince.testing`: the contract suite run on a user's own perturbations and model adapters."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from wince.errors import DataError, ParameterError
from wince.models import CallableAdapter, Predictions, Task, as_model
from wince.perturbations import DataContext, Magnitude, Modality, Rngs, register, registry
from wince.perturbations.tabular import TabularPerturbation
from wince.testing import (
    CHECK_NAMES,
    Example,
    check_adapter,
    check_perturbation,
    parametrize_with_checks,
    perturbation_checks,
    tabular_examples,
)

# ---------------------------------------------------------------------------------------------
# A user's perturbation, registered as a user would, and two broken variants of it.


@register
class ReadingJitter(TabularPerturbation):
    """Jitter in a sensor's readings: each row shifts by its own noise, in column sds."""

    name = "tabular.user_reading_jitter"
    version = 1
    stochastic = True
    magnitude = Magnitude(
        "jitter_sd",
        unit="column standard deviations",
        off=0.0,
        mild=0.05,
        severe=0.5,
        limits=(0.0, 5.0),
    )

    def apply(self, x: Any, value: float, rngs: Rngs, context: DataContext) -> Any:
        """Add N(0, (value * column sd)^2) to every cell, from each sample's own generator."""
        assert context.column_sd is not None
        noise = rngs.standard_normal((x.shape[1],))
        return (x + noise * (value * context.column_sd)).astype(x.dtype)


class GlobalRandomJitter(ReadingJitter):
    """Jitter drawn from NumPy's global generator: not reproducible from the run's seed."""

    name = "tabular.user_global_random_jitter"

    def apply(self, x: Any, value: float, rngs: Rngs, context: DataContext) -> Any:
        """Add noise from `np.random` (the bug: the sample generators are ignored)."""
        assert context.column_sd is not None
        noise = np.random.standard_normal(x.shape)  # noqa: NPY002 (the bug under test)
        return (x + noise * (value * context.column_sd)).astype(x.dtype)


class StandardisingJitter(ReadingJitter):
    """Jitter applied to columns in sd units, then scaled back: a float round trip."""

    name = "tabular.user_standardising_jitter"

    def perturb(self, x: Any, value: float, rngs: Rngs, context: DataContext | None = None) -> Any:
        """Divide by the column sds, perturb, multiply back (the bug: inexact at severity 0)."""
        assert context is not None
        assert context.column_sd is not None
        unit = DataContext(Modality.TABULAR, column_sd=np.ones(x.shape[1]))
        out = super().perturb((x / context.column_sd).astype(x.dtype), value, rngs, unit)
        return (out * context.column_sd).astype(x.dtype)


def test_a_correct_user_perturbation_passes_every_check() -> None:
    assert registry()["tabular.user_reading_jitter"] is ReadingJitter
    check_perturbation(ReadingJitter)
    check_perturbation(ReadingJitter(), seeds=(5,))  # a configured instance is used as is


def test_drawing_from_the_global_generator_fails_determinism_naming_it() -> None:
    with pytest.raises(AssertionError) as failure:
        check_perturbation(GlobalRandomJitter)
    message = str(failure.value)
    assert message.startswith("tabular.user_global_random_jitter fails the contract check")
    assert "'determinism'" in message
    assert "float64, severity 0.6: two runs with the same seed differ" in message


def test_an_inexact_round_trip_fails_identity_at_severity_zero() -> None:
    with pytest.raises(AssertionError) as failure:
        check_perturbation(StandardisingJitter)
    message = str(failure.value)
    assert message.startswith("tabular.user_standardising_jitter fails the contract check")
    assert "'identity'" in message
    assert "with seed 0: float32: the output at severity 0 differs from the input" in message


def test_skip_passes_over_a_known_failure_and_rejects_unknown_names() -> None:
    check_perturbation(StandardisingJitter, skip={"identity"}, seeds=(0,))
    with pytest.raises(ParameterError, match=r"skip names unknown checks \['identiti'\]"):
        check_perturbation(StandardisingJitter, skip={"identiti"})


def test_examples_replace_the_shared_ones_and_need_four_samples() -> None:
    sd = np.array([2.0, 0.01])
    context = DataContext(Modality.TABULAR, column_sd=sd, feature_names=("load", "ratio"))
    x = np.array([[10.0, 0.5], [12.0, 0.51], [9.0, 0.49], [11.0, 0.52], [10.5, 0.5]])
    check_perturbation(ReadingJitter, examples=[Example("plant sensors", x, context)], seeds=(0,))
    with pytest.raises(
        AssertionError, match=r"plant sensors, severity 0\.6: two runs with the same seed differ"
    ):
        check_perturbation(GlobalRandomJitter, examples=[Example("plant sensors", x, context)])
    with pytest.raises(DataError, match="'three rows' has 3 samples"):
        check_perturbation(ReadingJitter, examples=[Example("three rows", x[:3], context)])


def test_checks_are_named_and_apply_by_modality() -> None:
    names = [name for name, _ in perturbation_checks(ReadingJitter)]
    assert names == [name for name in CHECK_NAMES if name != "variable_size"]
    assert len(tabular_examples()) == 2
    with pytest.raises(ParameterError, match="expected a Perturbation subclass or instance"):
        check_perturbation(np.flip)  # type: ignore[arg-type]


@parametrize_with_checks([ReadingJitter])
def test_parametrize_with_checks_gives_one_case_per_check(
    perturbation: type[ReadingJitter], check: Callable[[int], None], seed: int
) -> None:
    assert perturbation is ReadingJitter
    check(seed)


def test_parametrize_with_checks_marks_known_failures_and_rejects_stale_ones() -> None:
    known = {("tabular.user_standardising_jitter", "identity"): "a float round trip"}
    mark = parametrize_with_checks([StandardisingJitter], known_failures=known)
    params = mark.args[1]
    ids = [param.id for param in params]
    assert ids == [
        f"tabular.user_standardising_jitter-{name}"
        for name, _ in perturbation_checks(StandardisingJitter)
    ]
    marked = {param.id: [m.kwargs for m in param.marks] for param in params if param.marks}
    assert marked == {
        "tabular.user_standardising_jitter-identity": [
            {"strict": True, "reason": "a float round trip"}
        ]
    }
    with pytest.raises(ParameterError, match="variable_size"):
        parametrize_with_checks(
            [StandardisingJitter],
            known_failures={("tabular.user_standardising_jitter", "variable_size"): "n/a"},
        )


def test_parametrize_with_checks_adds_marks_to_every_case_of_a_perturbation() -> None:
    mark = parametrize_with_checks(
        [ReadingJitter, StandardisingJitter],
        marks={"tabular.user_standardising_jitter": [pytest.mark.slow]},
    )
    marked = {param.id.split("-")[0] for param in mark.args[1] if param.marks}
    assert marked == {"tabular.user_standardising_jitter"}
    assert all(
        [m.name for m in param.marks] == ["slow"]
        for param in mark.args[1]
        if param.id.startswith("tabular.user_standardising_jitter")
    )
    with pytest.raises(ParameterError, match="marks names"):
        parametrize_with_checks([ReadingJitter], marks={"image.nothing": [pytest.mark.slow]})


@pytest.mark.slow
def test_importing_wince_testing_does_not_import_pytest_nor_wince_import_it() -> None:
    code = (
        "import sys, wince; wince.registry; before = 'wince.testing' in sys.modules; "
        "import wince.testing; print(before, 'pytest' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert result.stdout.split() == ["False", "False"]


# ---------------------------------------------------------------------------------------------
# An albumentations transform wrapped as a perturbation.


@pytest.mark.slow  # importing albumentations takes seconds
def test_an_albumentations_wrapper_passes_every_check() -> None:
    from require import require_module
    from wince.perturbations.interop import from_albumentations

    albumentations = require_module("albumentations", "dev")
    noise = Magnitude(
        "noise_sd", unit="% of full scale", off=0.0, mild=1.0, severe=10.0, limits=(0.0, 50.0)
    )
    wrapped = from_albumentations(
        build=lambda sd: albumentations.GaussNoise(std_range=(sd / 100, sd / 100), p=1.0),
        magnitude=noise,
        name="image.user_sensor_noise",
    )
    check_perturbation(wrapped, seeds=(0,))


# ---------------------------------------------------------------------------------------------
# Model adapters.


def test_a_callable_adapter_passes_and_is_told_apart_from_another_model() -> None:
    x = np.linspace(-1, 1, 12).reshape(6, 2)
    model = CallableAdapter(lambda batch: (batch[:, 0] > 0).astype(int), classes=("no", "yes"))
    other = CallableAdapter(lambda batch: (batch[:, 1] > 0.5).astype(int), classes=("no", "yes"))
    check_adapter(model, x, other=other)


def test_a_sklearn_model_passes_and_refitting_changes_its_fingerprint() -> None:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(3)
    x = rng.standard_normal((40, 3))
    y = (x[:, 0] + 0.3 * x[:, 1] > 0).astype(int)
    fitted = LogisticRegression().fit(x, y)
    refitted = LogisticRegression(C=0.01).fit(x, y)
    check_adapter(as_model(fitted), x[:7], other=as_model(refitted))


class ForgetfulAdapter:
    """An adapter whose fingerprint is new on every call and which drops the last sample."""

    task = Task.CLASSIFICATION
    classes = None

    def __init__(self) -> None:
        self.calls = 0

    def predict(self, x: Any) -> Predictions:
        return Predictions.from_labels(np.zeros(len(x) - 1, dtype=int))

    def fingerprint(self) -> str:
        self.calls += 1
        return f"model-{self.calls}"

    def close(self) -> None:
        pass


def test_check_adapter_names_what_differs() -> None:
    x = np.zeros((4, 2))
    with pytest.raises(AssertionError, match="fingerprint\\(\\) changed between calls: 'model-2'"):
        check_adapter(ForgetfulAdapter(), x)
    same = CallableAdapter(lambda batch: batch[:, 0] > 0, fingerprint="fixed")
    with pytest.raises(AssertionError, match="another model has the same fingerprint 'fixed'"):
        check_adapter(
            same, x, other=CallableAdapter(lambda batch: batch[:, 1] > 0, fingerprint="fixed")
        )
    stable = ForgetfulAdapter()
    stable.fingerprint = lambda: "stable"  # type: ignore[method-assign]
    with pytest.raises(AssertionError, match="ForgetfulAdapter: 3 predictions for a batch of 4"):
        check_adapter(stable, x)
