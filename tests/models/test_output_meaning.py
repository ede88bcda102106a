"""One meaning per model output: declared, or detected on the first batch and then kept."""

from __future__ import annotations

import numpy as np
import pytest

from wince.errors import ModelError, OutputWarning, ParameterError, PlanError
from wince.models import CallableAdapter


def logit(x: np.ndarray) -> np.ndarray:
    return x[:, :1]  # one column: the logit of class 1


def test_a_score_column_gives_the_same_labels_in_any_batch_composition() -> None:
    x = np.array([[-2.0], [3.0], [0.3], [0.7], [0.2], [-0.4]])
    truth = (x[:, 0] > 0).astype(int)  # as logits: class 1 from 0 on
    whole = CallableAdapter(logit).predict(x)
    np.testing.assert_array_equal(whole.labels, truth)
    # the same model, fed batches of which some hold only values in [0, 1]
    model = CallableAdapter(logit)
    parts = [model.predict(x[i : i + 2]).labels for i in range(0, len(x), 2)]
    np.testing.assert_array_equal(np.concatenate(parts), truth)


def test_a_first_batch_in_the_unit_interval_is_a_guess_that_warns_and_is_kept() -> None:
    model = CallableAdapter(logit)
    with pytest.warns(OutputWarning, match="declare output="):
        first = model.predict(np.array([[0.3], [0.7]]))
    assert first.labels.tolist() == [0, 1]  # read as probabilities of class 1
    with pytest.raises(ModelError, match=r"outside \[0, 1\].*output='logits'"):
        model.predict(np.array([[-2.0], [3.0]]))  # never silently re-read as logits


@pytest.mark.parametrize(
    ("output", "threshold", "expected"),
    [("logits", None, [1, 1, 0]), ("probabilities", None, [0, 1, 0]), ("score", 0.25, [1, 1, 0])],
)
def test_a_declared_output_is_read_the_same_in_every_batch(output, threshold, expected) -> None:
    model = CallableAdapter(logit, output=output, threshold=threshold)
    x = np.array([[0.3], [0.7], [0.0 if output != "logits" else -0.1]])
    labels = [int(model.predict(x[i : i + 1]).labels[0]) for i in range(3)]
    assert labels == expected
    assert model.predict(x).labels.tolist() == expected


def test_declared_outputs_are_part_of_the_fingerprint() -> None:
    a = CallableAdapter(logit, output="logits")
    b = CallableAdapter(logit, output="score", threshold=0.5)
    assert a.fingerprint() != b.fingerprint()


def test_a_score_needs_a_threshold_and_only_a_score_takes_one() -> None:
    with pytest.raises(ParameterError, match=r"threshold=0\.5"):
        CallableAdapter(logit, output="score")
    with pytest.raises(ParameterError, match="output 'score' only"):
        CallableAdapter(logit, output="logits", threshold=0.5)
    from wince.plan import as_plan

    base = {"name": "p", "perturbations": [{"name": "tabular.gaussian_noise"}]}
    with pytest.raises(PlanError, match="threshold"):
        as_plan({**base, "model": {"factory": "m:f", "output": "score"}})
    plan = as_plan({**base, "model": {"factory": "m:f", "output": "score", "threshold": 0.2}})
    assert plan.model is not None
    assert plan.model.threshold == 0.2


def one_logit(x: np.ndarray) -> np.ndarray:
    return x[:, :1].copy()


@pytest.mark.parametrize("executor", ["local", pytest.param("process", marks=pytest.mark.slow)])
def test_every_worker_reads_the_output_as_the_first_batch_decided(tmp_path, executor) -> None:
    import wince

    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 2))
    # from sample 50 on, every batch of 50 holds logits in [0.05, 0.95] only: read alone,
    # such a batch looks like probabilities, and 0.3 would become class 0
    x[50:, 0] = rng.uniform(0.05, 0.95, size=150)
    truth = (x[:, 0] > 0).astype(np.int64)
    plan = {
        "name": "meaning",
        "perturbations": [{"name": "tabular.gaussian_noise", "severities": [0.2]}],
        "repeats": 1,
        "batch_size": 50,
    }
    run = wince.run(one_logit, (x, truth), plan, store=str(tmp_path), executor=executor, workers=2)
    outcomes = run.outcomes()
    baseline = outcomes[outcomes["scenario"] == "baseline"].sort_values("sample_index")
    np.testing.assert_array_equal(baseline["pred"].to_numpy(), truth)
