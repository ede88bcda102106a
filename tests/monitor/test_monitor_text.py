"""Monitor on a text run: typos estimated from live texts, their harm read off every metric.

The run is the u/v-confusing recogniser of `structured_runs` under typos, with a metric of
the plan's own (`length_change`). Live texts carry more typos than the run's mildest level;
the monitor's predicted change of the character error rate is checked against the run's
curve interpolated here by hand, and `max_predicted_change` fires on it.
"""

from __future__ import annotations

import jiwer
import numpy as np
import pytest

from structured_runs import SENTENCES, text_run
from wince.errors import DataError, PolicyError
from wince.monitor.monitor import monitor_run, run_curves
from wince.monitor.policy import parse_monitor_policy
from wince.perturbations import get
from wince.perturbations.base import DataContext, Modality, Rngs

TYPO_RATES = [0.02, 0.06, 0.12]  # fraction of characters
LIVE_RATE = 0.04
PLAN = {
    "name": "monitor-ocr",
    "perturbations": [{"name": "text.typos", "values": TYPO_RATES}],
    "repeats": 2,
    "noise_floor": False,
    "analysis": {"bootstrap": 200},
    "metrics": [
        {
            "name": "length_change",
            "function": f"{__name__}:length_change",
            "better": "lower",
            "unit": "characters",
            "description": "change of the output's length",
        }
    ],
}


def length_change(clean, perturbed, labels, context):
    """Characters the output gained or lost against the clean output."""
    return [abs(len(a) - len(b)) for a, b in zip(clean.outputs, perturbed.outputs, strict=True)]


@pytest.fixture(scope="module")
def ocr_run(tmp_path_factory):
    return text_run(tmp_path_factory.mktemp("monitor-text"), PLAN, cache=False)


def live_texts(rate: float) -> list[str]:
    texts = SENTENCES * 20
    rngs = Rngs.for_samples([f"live-{i}" for i in range(len(texts))])
    return list(get("text.typos")().apply(texts, rate, rngs, DataContext(Modality.TEXT)))


def check(run, policy=None):
    return monitor_run(
        run.store,
        run.id,
        live_texts(LIVE_RATE),
        reference=SENTENCES * 3,
        policy=parse_monitor_policy(policy),
        save=False,
    )


def by_hand(xs: list[float], ys: list[float], x: float) -> float:
    """The straight line between the two sweep points around x."""
    right = next(i for i, v in enumerate(xs) if v >= x)
    x0, x1, y0, y1 = xs[right - 1], xs[right], ys[right - 1], ys[right]
    return y0 + (y1 - y0) * (x - x0) / (x1 - x0)


def test_predicted_cer_change_is_the_curve_at_the_estimated_typo_rate(ocr_run):
    result = check(ocr_run)

    (typos,) = result.estimates
    assert TYPO_RATES[0] < typos.value < TYPO_RATES[-1]
    assert typos.low <= LIVE_RATE <= typos.high
    rows = {r["metric"]: r for r in result.predictions}
    assert {"cer", "wer", "exact_match", "cer_vs_clean", "output_changed"} <= set(rows)
    assert "length_change" in rows  # the plan's own metric is predicted too
    assert "accuracy_drop" not in rows  # a text run has no class accuracy

    curves = run_curves(ocr_run.store, ocr_run.id)
    cer = curves[curves["metric"] == "cer"].sort_values("value")
    # independent: the clean CER is the recogniser's u -> v confusions over all characters
    clean_cer = float(np.mean([jiwer.cer(s, s.replace("u", "v")) for s in SENTENCES]))
    assert cer["value"].tolist() == [0.0, *TYPO_RATES]
    assert float(cer["estimate"].iloc[0]) == pytest.approx(clean_cer)
    expected = by_hand(cer["value"].tolist(), cer["estimate"].tolist(), typos.value)
    row = rows["cer"]
    assert row["predicted_value"] == pytest.approx(expected)
    assert row["estimate"] == pytest.approx(expected - clean_cer)  # lower is better: the rise
    assert row["low"] <= row["estimate"] <= row["high"]
    assert not row["clamped"]
    # exact match is better higher: its harmful change is its fall from the baseline
    exact = rows["exact_match"]
    assert exact["estimate"] == pytest.approx(exact["baseline_value"] - exact["predicted_value"])
    assert exact["estimate"] > 0

    (line,) = result.summary
    assert f"about {100 * typos.value:.1f}% typos per character" in line
    assert (
        f"the character error rate against the reference text rises from {clean_cer:.3g} to "
        f"{expected:.3g} edits per character"
    ) in line
    assert "the share of samples whose output text changed rises from 0.0 to" in line
    assert not result.alerts  # the default policy limits flip rate and accuracy only


def test_max_predicted_change_fires_on_a_built_in_and_on_the_plans_own_metric(ocr_run):
    quiet = check(ocr_run)
    rows = {r["metric"]: r for r in quiet.predictions}
    cer, length = rows["cer"]["estimate"], rows["length_change"]["estimate"]
    assert length > 0  # typos drop and add characters
    limits = {"cer": cer / 2, "length_change": length / 2, "wer": 1.0}
    result = check(ocr_run, {"max_predicted_change": limits})
    fired = {a["check"]: a for a in result.alerts}
    assert set(fired) == {"max_predicted_change cer", "max_predicted_change length_change"}
    assert fired["max_predicted_change cer"]["value"] == pytest.approx(cer)
    assert fired["max_predicted_change cer"]["limit"] == cer / 2
    assert "edits per character" in fired["max_predicted_change cer"]["message"]
    assert "characters" in fired["max_predicted_change length_change"]["message"]
    upper = check(ocr_run, {"max_predicted_change": {"cer": cer}, "bound": "upper"})
    assert [a["value"] for a in upper.alerts] == [pytest.approx(rows["cer"]["high"])]


def test_max_predicted_change_names_are_checked_against_the_run(ocr_run):
    with pytest.raises(PolicyError, match=r"max_predicted_change\.cre: .*did you mean 'cer'"):
        check(ocr_run, {"max_predicted_change": {"cre": 0.01}})
    with pytest.raises(PolicyError, match=r"no curve of 'recall'"):  # a detection metric
        check(ocr_run, {"max_predicted_change": {"recall": 0.01}})
    with pytest.raises(PolicyError, match="set max_predicted_accuracy_drop instead"):
        parse_monitor_policy({"max_predicted_change": {"accuracy": 0.01}})
    with pytest.raises(PolicyError, match=r"max_predicted_change\.cer"):
        parse_monitor_policy({"monitor": {"max_predicted_change": {"cer": -0.1}}})


def test_live_text_outputs_are_refused_with_the_reason(ocr_run):
    live = live_texts(LIVE_RATE)
    with pytest.raises(DataError, match=r"text run.*leave out the outputs"):
        monitor_run(
            ocr_run.store, ocr_run.id, live, reference=SENTENCES * 3, outputs=live, save=False
        )
