"""Small runs of structured outputs, shared by the tests of outputs, executors and monitoring.

A text 'recogniser' that confuses u with v, a detector of bright rectangles and a segmenter of
bright pixels, with the data and plans they run on. Everything here is deterministic and
needs no download, so each test checks its results against computations of its own.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import pandas as pd

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
TEXT_PLAN = {
    "name": "ocr-like",
    "perturbations": [{"name": "text.typos", "severities": [0.5, 1.0]}],
    "repeats": 2,
}


def squash_vowels(texts: list[str]) -> list[str]:
    """A 'recogniser' that reads every letter but confuses u with v (a real OCR error)."""
    return [t.replace("u", "v") for t in texts]


def text_run(store: object, plan: dict[str, Any] = TEXT_PLAN, **options: Any) -> wince.Run:
    """`squash_vowels` on the sentences three times over, labelled with themselves."""
    data = ArrayDataset(SENTENCES * 3, labels=SENTENCES * 3)
    model = CallableAdapter(squash_vowels, task="text", fingerprint="squash-vowels")
    return wince.run(model, data, plan, store=store, **options)  # type: ignore[arg-type]


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


def image_run(task: str, store: object, **options: Any) -> wince.Run:
    """`find_objects` ("detection") or `segment` ("segmentation") on the scenes."""
    images = np.stack([s[0] for s in SCENES])
    labels = [s[1] for s in SCENES] if task == "detection" else [s[2] for s in SCENES]
    model = CallableAdapter(
        find_objects if task == "detection" else segment, task=task, fingerprint=task
    )
    data = ArrayDataset(images, labels=labels, modality="image")
    return wince.run(model, data, GEOMETRY_PLAN, store=store, **options)  # type: ignore[arg-type]


def outcome_frame(run: wince.Run) -> pd.DataFrame:
    """A run's outcomes in a fixed order, without the storage position, to compare runs."""
    outcomes = run.outcomes().sort_values(["scenario", "trial", "sample_index"])
    return outcomes.drop(columns=["position"]).reset_index(drop=True).astype({"scenario": str})
