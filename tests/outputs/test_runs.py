"""Structured outputs through the engine: stored outputs, metrics, executors, cache, geometry.

The per-sample metrics of a run are checked against independent computations on what the
store holds (jiwer for the error rates, by hand for IoU and recall), and the same plan gives
identical outcomes locally, in worker processes and through the prediction cache.
"""

from __future__ import annotations

import cv2
import jiwer
import numpy as np
import pandas as pd
import pytest

import wince
from wince.datasets import ArrayDataset
from wince.models import CallableAdapter
from wince.outputs import Detections

SENTENCES = [
    "the quick brown fox jumps over the lazy dog",
    "perturbation analysis finds fragile models",
    "hello world",
    "a small step for a model",
    "noisy channels drop letters",
    "read the label twice",
]


def squash_vowels(texts: list[str]) -> list[str]:
    """A 'recogniser' that reads every letter but confuses u with v (a real OCR error)."""
    return [t.replace("u", "v") for t in texts]


def text_run(store: object, **options: object) -> wince.Run:
    data = ArrayDataset(SENTENCES * 3, labels=SENTENCES * 3)
    model = CallableAdapter(squash_vowels, task="text", fingerprint="squash-vowels")
    plan = {
        "name": "ocr-like",
        "perturbations": [{"name": "text.typos", "severities": [0.5, 1.0]}],
        "repeats": 2,
    }
    return wince.analyze(model, data, plan, store=store, **options)  # type: ignore[arg-type]


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
    assert (cer["low"] <= cer["value"]).all() and (cer["value"] <= cer["high"]).all()


def scene(seed: int) -> tuple[np.ndarray, Detections, np.ndarray]:
    """A 64 x 64 image with two filled rectangles (class = colour channel), its boxes and mask.

    One rectangle in each half, so they never overlap.
    """
    rng = np.random.default_rng(seed)
    image = np.zeros((64, 64, 3), np.float32)
    mask = np.zeros((64, 64), np.int64)
    boxes, classes = [], []
    for k in range(2):
        w, h = rng.integers(8, 16, 2)
        x, y = 32 * k + rng.integers(4, 10), rng.integers(4, 64 - 20)
        image[y : y + h, x : x + w, k] = 1.0
        mask[y : y + h, x : x + w] = k + 1
        boxes.append([x, y, x + w, y + h])
        classes.append(k)
    return image, Detections(np.array(boxes, float), np.ones(2), np.array(classes)), mask


def find_objects(batch: np.ndarray) -> list[dict[str, object]]:
    """A detector that finds bright regions per colour channel (connected components)."""
    found = []
    for image in batch:
        boxes, scores, classes = [], [], []
        for channel in range(2):
            binary = (image[..., channel] > 0.5).astype(np.uint8)
            n, _, stats, _ = cv2.connectedComponentsWithStats(binary)
            for i in range(1, n):
                x, y, w, h, area = stats[i]
                if area >= 4:
                    boxes.append([x, y, x + w, y + h])
                    scores.append(min(1.0, area / 100))
                    classes.append(channel)
        found.append({"boxes": np.reshape(boxes, (-1, 4)), "scores": scores, "classes": classes})
    return found


def segment(batch: np.ndarray) -> np.ndarray:
    """A segmenter: class k + 1 where channel k is bright, else 0."""
    bright = batch[..., :2] > 0.5
    return np.where(bright[..., 0], 1, np.where(bright[..., 1], 2, 0)).astype(np.int64)


SCENES = [scene(i) for i in range(10)]
GEOMETRY_PLAN = {
    "name": "geometry",
    "perturbations": [
        {"name": "image.rotation", "severities": [1.0]},
        {"name": "image.translation", "severities": [1.0]},
        {"name": "image.gaussian_noise", "severities": [0.6]},
    ],
    "repeats": 2,
}


def image_run(task: str, store: object, **options: object) -> wince.Run:
    images = np.stack([s[0] for s in SCENES])
    labels = [s[1] for s in SCENES] if task == "detection" else [s[2] for s in SCENES]
    model = CallableAdapter(
        find_objects if task == "detection" else segment, task=task, fingerprint=task
    )
    data = ArrayDataset(images, labels=labels, modality="image")
    return wince.analyze(model, data, GEOMETRY_PLAN, store=store, **options)  # type: ignore[arg-type]


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


def test_detection_summary_has_map_per_scenario(tmp_path):
    summary = image_run("detection", tmp_path / "store", cache=False).summary()
    maps = summary[summary["metric"] == "map_50"].set_index("scenario")["value"]
    assert maps["baseline"] == pytest.approx(1.0)
    assert maps.notna().all()


def frame(run: wince.Run) -> pd.DataFrame:
    outcomes = run.outcomes().sort_values(["scenario", "trial", "sample_index"])
    return outcomes.drop(columns=["position"]).reset_index(drop=True).astype({"scenario": str})


@pytest.mark.parametrize("task", ["text", "detection", "segmentation"])
def test_outcomes_are_identical_locally_in_processes_and_through_the_cache(tmp_path, task):
    def run(store: str, **options: object) -> wince.Run:
        if task == "text":
            return text_run(tmp_path / store, **options)
        return image_run(task, tmp_path / store, **options)

    local = frame(run("local", cache=False))
    processes = frame(run("processes", cache=False, executor="process", workers=2))
    pd.testing.assert_frame_equal(local, processes)
    cache = tmp_path / "cache"
    run("first", cache=cache)
    cached = frame(run("second", cache=cache))  # every prediction from the cache's disk tier
    pd.testing.assert_frame_equal(local, cached)
