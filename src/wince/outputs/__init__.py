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
import pyarrow as pa

__all__ = ["MASK_FILL", "Detections"]

# The class of mask pixels that carry no ground truth (the Pascal VOC convention): segmentation
# metrics ignore them, and a perturbation that moves pixels gives it to those it brings in from
# outside the image.
MASK_FILL = 255


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


def read_outputs(raw: Any, task: str) -> npt.NDArray[Any]:
    """A batch of raw outputs of a structured task in its plain form (see the table above).

    Args:
        raw: the model's answer for n samples.
        task: "text", "multilabel", "detection", "segmentation" or "embedding".

    Returns:
        An object array (n,) of str, `Detections` or (h, w) int64 class maps; an (n, k)
        bool array (multi-label) or an (n, d) float64 array (embedding).

    Raises:
        ModelError: the answer does not have the task's form, or holds NaN or infinity.
    """
    from wince.errors import ModelError

    if task == "multilabel":
        from wince.outputs.multilabel import to_multilabel

        return np.asarray(to_multilabel(raw), dtype=bool)
    if task == "embedding":
        array = np.asarray(raw)
        if array.ndim != 2 or array.dtype.kind not in "fiu":
            raise ModelError(
                f"an embedding model must return an (n, d) array of numbers; got shape "
                f"{array.shape} of {array.dtype}."
            )
        embeddings = array.astype(np.float64)
        if not np.isfinite(embeddings).all():
            raise ModelError("the model returned an embedding holding NaN or infinity.")
        return embeddings
    items = list(raw) if not isinstance(raw, str | bytes) else [raw]
    out = np.empty(len(items), dtype=object)
    for i, item in enumerate(items):
        out[i] = _read_one(item, task, i)
    return out


def _read_one(item: Any, task: str, position: int) -> Any:
    from wince.errors import ModelError

    if task == "text":
        if not isinstance(item, str):
            raise ModelError(
                f"a text model must return one str per sample; sample {position} of the batch "
                f"got {type(item).__name__}."
            )
        return item
    if task == "detection":
        return Detections.of(item)
    if task == "segmentation":
        mask = np.asarray(item)
        integral = mask.dtype.kind in "iub" or (
            mask.dtype.kind == "f" and np.isfinite(mask).all() and (mask == np.round(mask)).all()
        )
        if mask.ndim != 2 or not integral or (mask.size and mask.min() < 0):
            raise ModelError(
                "a segmentation model must return one (h, w) map of non-negative class indices "
                f"per image; sample {position} of the batch got shape {mask.shape} of "
                f"{mask.dtype}."
            )
        return mask.astype(np.int64)
    raise ModelError(f"no structured output of task {task!r}.")


DETECTIONS_TYPE = pa.struct(
    [
        ("boxes", pa.list_(pa.float64())),
        ("scores", pa.list_(pa.float64())),
        ("classes", pa.list_(pa.int64())),
    ]
)
_MASK = pa.struct([("height", pa.int32()), ("width", pa.int32()), ("classes", pa.binary())])


def to_arrow(outputs: npt.NDArray[Any]) -> pa.Array:
    """A batch of plain outputs as one Arrow column, for the results store and the cache.

    Text is a string column; detections a struct of lists (boxes flattened row by row);
    masks a struct of height, width and the int64 classes' bytes (little-endian); (n, k) and
    (n, d) arrays fixed-size lists. `from_arrow` reads every one back bit for bit.
    """
    if outputs.dtype != object:
        width = outputs.shape[1]
        return pa.FixedSizeListArray.from_arrays(pa.array(outputs.reshape(-1)), width)
    first = next(iter(outputs), "")
    if isinstance(first, str):
        return pa.array(list(outputs), pa.string())
    if isinstance(first, Detections):
        return pa.array(
            [
                {
                    "boxes": d.boxes.reshape(-1).tolist(),
                    "scores": d.scores.tolist(),
                    "classes": d.classes.tolist(),
                }
                for d in outputs
            ],
            DETECTIONS_TYPE,
        )
    return pa.array(
        [
            {
                "height": m.shape[0],
                "width": m.shape[1],
                "classes": m.astype("<i8").tobytes(),
            }
            for m in outputs
        ],
        _MASK,
    )


def from_arrow(column: pa.Array | pa.ChunkedArray) -> npt.NDArray[Any]:
    """The plain outputs of an Arrow column written by `to_arrow`."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if pa.types.is_fixed_size_list(column.type):
        width = column.type.list_size
        flat: npt.NDArray[Any] = column.flatten().to_numpy(zero_copy_only=False)
        return flat.reshape(-1, width)
    out = np.empty(len(column), dtype=object)
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        out[:] = column.to_pylist()
    elif column.type == DETECTIONS_TYPE:
        for i, d in enumerate(column.to_pylist()):
            out[i] = Detections(np.array(d["boxes"]), np.array(d["scores"]), np.array(d["classes"]))
    else:
        for i, m in enumerate(column.to_pylist()):
            classes = np.frombuffer(m["classes"], dtype="<i8").astype(np.int64)
            out[i] = classes.reshape(m["height"], m["width"])
    return out


def output_bytes(outputs: npt.NDArray[Any]) -> int:
    """Approximate memory a batch of plain outputs holds, in bytes (for the cache's bound)."""
    if outputs.dtype != object:
        return int(outputs.nbytes)
    total = 0
    for item in outputs:
        if isinstance(item, str):
            total += 50 + len(item)
        elif isinstance(item, Detections):
            total += 200 + item.boxes.nbytes + item.scores.nbytes + item.classes.nbytes
        else:
            total += 100 + int(np.asarray(item).nbytes)
    return total
