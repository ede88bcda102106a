"""Structured outputs through the engine: stored outputs, metrics, executors, cache, geometry.

The per-sample metrics of a run are checked against independent computations on what the
store holds (jiwer for the error rates, by hand for IoU and recall), and the same plan gives
identical outcomes locally, in worker processes and through the prediction cache.
"""

from __future__ import annotations

import sys

import jiwer
import numpy as np
import pandas as pd
import pytest

import wince
from structured_runs import SENTENCES, image_run, outcome_frame, squash_vowels, text_run
from wince.models import CallableAdapter


def test_text_metrics_equal_jiwer_on_every_stored_outcome(tmp_path):
    outcomes = text_run(tmp_path / "store", cache=False).outcomes()
    baseline = outcomes[outcomes["scenario"] == "baseline"].set_index("sample_index")["output"]
    assert set(outcomes["scenario"]) > {"baseline", "identity"}
    for row in outcomes.itertuples():
        clean = baseline[row.sample_index]
        assert row.output == squash_vowels([row.truth])[0] or row.scenario != "baseline"
        assert row.cer == pytest.approx(jiwer.cer(row.truth, row.output) if row.truth else 0)
        assert row.wer == pytest.approx(jiwer.wer(row.truth, row.output))
        assert row.cer_vs_clean == pytest.approx(jiwer.cer(clean, row.output))
        assert row.exact_match == float(row.output == row.truth)
        assert row.output_changed == float(row.output != clean)
    typos = outcomes[outcomes["scenario"].str.startswith("text.typos")]
    assert typos["output_changed"].mean() > 0.2  # the typos reach the output


@pytest.mark.slow
def test_text_summary_gives_error_rates_with_intervals(tmp_path):
    run = text_run(tmp_path / "store", cache=False)
    summary = run.summary()
    cer = summary[summary["metric"] == "cer"].set_index("scenario")
    clean_cer = float(cer.loc["baseline", "value"])
    # independent: the clean CER is the u -> v confusions over all characters
    expected = np.mean([jiwer.cer(s, s.replace("u", "v")) for s in SENTENCES])
    assert clean_cer == pytest.approx(expected)
    worst = cer.drop(index=["baseline", "identity"])["value"].max()
    assert worst > clean_cer
    assert (cer["low"] <= cer["value"]).all()
    assert (cer["value"] <= cer["high"]).all()


@pytest.mark.slow
def test_boxes_move_with_the_pixels_so_recall_stays_meaningful(tmp_path):
    outcomes = image_run("detection", tmp_path / "store", cache=False).outcomes()
    moved = outcomes["scenario"].str.startswith(("image.rotation", "image.translation"))
    # the detector finds every object wherever it moved: recall against the moved truth is 1
    assert outcomes.loc[moved, "recall"].mean() > 0.95
    truths = outcomes.drop_duplicates(["scenario", "trial", "sample_index"])
    clean = truths[truths["scenario"] == "baseline"].set_index("sample_index")["truth"]
    for row in truths[moved].itertuples():
        # by hand: each stored true box still holds the drawn object's pixels' bounding box
        boxes = np.reshape(row.truth["boxes"], (-1, 4))
        found = np.reshape(row.output["boxes"], (-1, 4))
        for box in boxes:
            best = max(
                (_iou(box, f) for f in found),
                default=0.0,
            )
            assert best > 0.5
    noise = truths[truths["scenario"].str.startswith("image.gaussian_noise")]
    for row in noise.itertuples():  # photometric: the truth is the clean one, untouched
        assert np.array_equal(row.truth["boxes"], clean[row.sample_index]["boxes"])


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


@pytest.mark.slow
def test_masks_move_with_the_pixels_and_iou_is_computed_against_them(tmp_path):
    run = image_run("segmentation", tmp_path / "store", cache=False)
    outcomes = run.outcomes()
    rotated = outcomes[outcomes["scenario"].str.startswith("image.rotation")]
    assert rotated["mean_iou"].mean() > 0.9
    for row in rotated.head(4).itertuples():
        truth = np.frombuffer(row.truth["classes"], "<i8").reshape(64, 64)
        predicted = np.frombuffer(row.output["classes"], "<i8").reshape(64, 64)
        counted = truth != 255
        ious = []
        for k in np.union1d(truth[counted], predicted[counted]):
            inter = np.sum((truth == k) & (predicted == k) & counted)
            union = np.sum(((truth == k) | (predicted == k)) & counted)
            ious.append(inter / union)
        assert row.mean_iou == pytest.approx(np.mean(ious))


@pytest.mark.slow
def test_detection_summary_has_map_per_scenario(tmp_path):
    summary = image_run("detection", tmp_path / "store", cache=False).summary()
    maps = summary[summary["metric"] == "map_50"].set_index("scenario")["value"]
    assert maps["baseline"] == pytest.approx(1.0)
    assert maps.notna().all()


@pytest.mark.slow
@pytest.mark.parametrize("task", ["text", "detection", "segmentation"])
def test_outcomes_are_identical_locally_in_processes_and_through_the_cache(tmp_path, task):
    def run(store: str, **options: object) -> wince.Run:
        if task == "text":
            return text_run(tmp_path / store, **options)
        return image_run(task, tmp_path / store, **options)

    local = outcome_frame(run("local", cache=False))
    processes = outcome_frame(run("processes", cache=False, executor="process", workers=2))
    pd.testing.assert_frame_equal(local, processes)
    cache = tmp_path / "cache"
    run("first", cache=cache)
    cached = outcome_frame(
        run("second", cache=cache)
    )  # every prediction from the cache's disk tier
    pd.testing.assert_frame_equal(local, cached)


def test_a_plan_names_a_text_model_through_its_factory(tmp_path, monkeypatch):
    (tmp_path / "text_models.py").write_text(
        "def make():\n    return lambda texts: [t.replace('u', 'v') for t in texts]\n"
    )
    # not syspath_prepend, which imports pkg_resources (another test may leave it broken)
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path])
    plan = {
        "name": "factory-text",
        "model": {"factory": "text_models:make", "task": "text"},
        "perturbations": [{"name": "text.typos", "severities": [1.0]}],
    }
    run = wince.run(data=(SENTENCES, SENTENCES), plan=plan, store=tmp_path / "s")
    outcomes = run.outcomes()
    assert outcomes.loc[outcomes["scenario"] == "baseline", "output"].tolist() == squash_vowels(
        SENTENCES
    )


def test_a_segmentation_network_may_answer_with_class_scores():
    scores = np.zeros((2, 3, 4, 5), np.float32)
    scores[0, 2] = 1.0
    scores[1, 1, :2] = 1.0
    predictions = CallableAdapter(lambda x: scores, task="segmentation").predict(np.zeros((2, 1)))
    assert (predictions.outputs[0] == 2).all()
    assert (predictions.outputs[1][:2] == 1).all()
    assert (predictions.outputs[1][2:] == 0).all()


def test_an_adapter_of_another_task_than_the_plan_declares_is_refused():
    from wince.errors import ModelError
    from wince.models import as_model

    with pytest.raises(ModelError, match="declared a text model"):
        as_model(CallableAdapter(squash_vowels, task="detection"), task="text")


@pytest.mark.slow
def test_multilabel_metrics_equal_sklearn_on_every_stored_outcome(tmp_path):
    from sklearn.metrics import accuracy_score, hamming_loss

    rng = np.random.default_rng(3)
    x = rng.normal(size=(30, 4))
    truth = x[:, :3] > 0

    def tags(batch: np.ndarray) -> np.ndarray:  # probabilities of three tags
        return 1 / (1 + np.exp(-4 * batch[:, :3]))

    model = CallableAdapter(tags, task="multilabel", fingerprint="tags")
    plan = {
        "name": "tags",
        "perturbations": [{"name": "tabular.gaussian_noise", "severities": [0.5, 1.0]}],
    }
    outcomes = wince.run(model, (x, truth), plan, store=tmp_path / "s").outcomes()
    clean = outcomes[outcomes["scenario"] == "baseline"].set_index("sample_index")["output"]
    for row in outcomes.itertuples():
        predicted = np.asarray(row.output, bool)[None]
        expected = np.asarray(row.truth, bool)[None]
        assert row.hamming_loss == pytest.approx(hamming_loss(expected, predicted))
        assert row.subset_accuracy == accuracy_score(expected, predicted)
        before = np.asarray(clean[row.sample_index], bool)[None]
        assert row.label_flip_rate == pytest.approx(hamming_loss(before, predicted))
    assert outcomes["label_flip_rate"].max() > 0


@pytest.mark.slow
def test_embedding_metrics_equal_scipy_on_every_stored_outcome(tmp_path):
    from scipy.spatial.distance import cosine, euclidean

    rng = np.random.default_rng(4)
    x = rng.normal(size=(25, 6))
    weights = rng.normal(size=(6, 3))
    model = CallableAdapter(lambda batch: np.tanh(batch @ weights), task="embedding")
    plan = {
        "name": "embed",
        "perturbations": [{"name": "tabular.gaussian_noise", "severities": [1.0]}],
    }
    outcomes = wince.run(model, x, plan, store=tmp_path / "s").outcomes()
    assert "truth" not in outcomes.columns  # an embedding has no ground truth
    clean = outcomes[outcomes["scenario"] == "baseline"].set_index("sample_index")["output"]
    for row in outcomes.itertuples():
        before, after = np.asarray(clean[row.sample_index]), np.asarray(row.output)
        assert row.cosine_change == pytest.approx(cosine(before, after), abs=1e-12)
        assert row.l2_change == pytest.approx(euclidean(before, after) / np.linalg.norm(before))


def test_a_plan_may_name_the_metrics_of_structured_outputs():
    from wince.errors import PlanError
    from wince.plan import parse_plan

    plan = {"name": "p", "perturbations": [{"name": "text.typos"}], "metrics": ["cer", "wer"]}
    assert parse_plan(plan).metrics == ["cer", "wer"]
    with pytest.raises(PlanError, match="did you mean 'cer'"):
        parse_plan({**plan, "metrics": ["cerr"]})
