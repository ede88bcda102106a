"""What models answer beyond a class or a number, and how wince measures its change.

Each output kind has a plain Python form, the one metric functions and users see:

| task | one sample's output | ground truth (dataset label) |
|---|---|---|
| `text` | `str` (recognised text, transcript, generated answer) | `str` |
| `multilabel` | a row of an (n, k) bool array: which of k labels apply | same |
| `detection` | `Detections` (boxes, scores, classes) | `Detections` (scores 1) |
| `segmentation` | an (h, w) int64 array: the class of each pixel | same |
| `embedding` | a row of an (n, d) float64 array | none |

The modules beside this one hold the per-sample metric functions of each kind, vectorised over
a batch, and their error modes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True, eq=False)
class Detections:
    """The objects found in one image (or its ground truth).

    Attributes:
        boxes: (m, 4) float64 corners `x_min, y_min, x_max, y_max` in pixels of the image
            the model saw (x to the right, y down; x_max >= x_min, y_max >= y_min).
        scores: (m,) float64 confidences in [0, 1]; 1 for ground truth.
        classes: (m,) int64 class indices.
    """

    boxes: npt.NDArray[np.float64]
    scores: npt.NDArray[np.float64]
    classes: npt.NDArray[np.int64]

    def __post_init__(self) -> None:
        from wince.errors import ModelError

        boxes = np.asarray(self.boxes, dtype=np.float64).reshape(-1, 4)
        scores = np.asarray(self.scores, dtype=np.float64).reshape(-1)
        classes = np.asarray(self.classes).reshape(-1)
        if not (len(boxes) == len(scores) == len(classes)):
            raise ModelError(
                f"detections need one score and one class per box; got {len(boxes)} boxes, "
                f"{len(scores)} scores and {len(classes)} classes."
            )
        if not (np.isfinite(boxes).all() and np.isfinite(scores).all()):
            raise ModelError("detections hold a NaN or infinite box corner or score.")
        if (boxes[:, 2] < boxes[:, 0]).any() or (boxes[:, 3] < boxes[:, 1]).any():
            raise ModelError(
                "a detection box has x_max < x_min or y_max < y_min: boxes are "
                "(x_min, y_min, x_max, y_max) in pixels."
            )
        object.__setattr__(self, "boxes", boxes)
        object.__setattr__(self, "scores", scores)
        object.__setattr__(self, "classes", classes.astype(np.int64))

    def __len__(self) -> int:
        return len(self.boxes)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Detections)
            and np.array_equal(self.boxes, other.boxes)
            and np.array_equal(self.scores, other.scores)
            and np.array_equal(self.classes, other.classes)
        )

    @classmethod
    def of(cls, value: Any) -> Detections:
        """Detections from a `Detections` or a mapping of its fields.

        The mapping has `boxes`, optionally `scores` (default 1) and `classes` (or `labels`;
        default 0).

        Raises:
            ModelError: another type, or inconsistent lengths.
        """
        from wince.errors import ModelError

        if isinstance(value, Detections):
            return value
        if not isinstance(value, dict) or "boxes" not in value:
            raise ModelError(
                "a detection output is one Detections or one mapping "
                "{'boxes': (m, 4), 'scores': (m,), 'classes': (m,)} per image; got "
                f"{type(value).__name__}."
            )
        boxes = np.asarray(value["boxes"], dtype=np.float64).reshape(-1, 4)
        classes = value.get("classes", value.get("labels"))
        scores = value.get("scores")
        return cls(
            boxes,
            np.ones(len(boxes)) if scores is None else np.asarray(scores, dtype=np.float64),
            np.zeros(len(boxes), np.int64) if classes is None else np.asarray(classes),
        )
