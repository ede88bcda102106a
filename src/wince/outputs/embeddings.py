"""Per-sample change of embedding and vector outputs: cosine and L2 change, neighbour rank.

A batch of outputs is an (n, d) float array, one vector per sample; `clean` holds the baseline
outputs and `perturbed` the outputs of the same samples under a perturbation. `cosine_change`
and `relative_l2_change` compare them row by row (a sample's value never depends on the other
rows); `neighbour_rank` asks whether a perturbed vector is still nearest to its own clean one
among all clean vectors, so it depends on the whole set by design.

Cosine similarity is undefined for a zero vector; here a zero vector has similarity 0 with any
nonzero vector (no shared direction) and 1 with another zero vector (no change).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from wince.errors import DataError, ModelError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

# cosine distances (in [0, 2]) closer than this are ties: rounding of the same geometry
TIE_TOLERANCE = 1e-12
# neighbour_rank holds at most this many distances at once (8 bytes each)
_BLOCK_ELEMENTS = 2**22


def cosine_change(clean: Any, perturbed: Any) -> FloatArray:
    """1 - cosine similarity of each sample's clean and perturbed vectors: (n,) in [0, 2].

    0 means the same direction, 1 orthogonal (or exactly one of the two a zero vector), 2
    opposite; two zero vectors give 0. The length of the vectors does not matter.

    >>> cosine_change([[1.0, 0.0], [1.0, 0.0], [0.0, 0.0]], [[2.0, 0.0], [0.0, 3.0], [0.0, 0.0]])
    array([0., 1., 0.])
    """
    clean_rows, perturbed_rows = _pair(clean, perturbed)
    clean_unit, clean_zero = _unit_rows(clean_rows)
    perturbed_unit, perturbed_zero = _unit_rows(perturbed_rows)
    similarity = np.einsum("ij,ij->i", clean_unit, perturbed_unit)
    similarity[clean_zero & perturbed_zero] = 1.0
    return _distance(similarity)


def relative_l2_change(clean: Any, perturbed: Any) -> FloatArray:
    """||perturbed - clean|| / ||clean|| per sample (Euclidean norms): (n,) in [0, inf).

    0 means unchanged, 1 a change as long as the clean vector itself. A zero clean vector has
    no scale: its value is the norm of the change itself (the denominator taken as 1, as the
    error rates of text do for an empty reference), so 0 if the perturbed vector is zero too.

    >>> relative_l2_change([[3.0, 4.0], [0.0, 0.0]], [[3.0, 4.5], [0.0, 2.0]]).tolist()
    [0.1, 2.0]
    """
    clean_rows, perturbed_rows = _pair(clean, perturbed)
    change = np.linalg.norm(perturbed_rows - clean_rows, axis=1)
    scale = np.linalg.norm(clean_rows, axis=1)
    relative: FloatArray = change / np.where(scale > 0.0, scale, 1.0)
    return relative


def neighbour_rank(perturbed: Any, clean: Any) -> IntArray:
    """How many other samples' clean vectors are closer to a perturbed vector than its own.

    For each sample i, the number of samples j != i whose clean vector is nearer (in cosine
    distance, 1 - cosine similarity) to `perturbed[i]` than `clean[i]` is. 0 means the sample
    is still its own nearest neighbour; n - 1 means every other sample is nearer. A distance
    equal to the sample's own (within `TIE_TOLERANCE`) counts as not closer, so duplicate
    clean vectors never rank each other down.

    Unlike the other functions here, a sample's rank depends on the whole set: compute it over
    all samples of a run (at analysis time), not per batch. Time O(n^2 d); memory is bounded by
    working through the rows in blocks.

    Returns:
        (n,) int64 ranks in [0, n - 1].

    >>> clean = [[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]]
    >>> neighbour_rank([[1.0, 0.1], [1.0, 0.2], [0.0, -1.0]], clean).tolist()
    [0, 1, 0]
    """
    clean_rows, perturbed_rows = _pair(clean, perturbed)
    clean_unit, clean_zero = _unit_rows(clean_rows)
    perturbed_unit, perturbed_zero = _unit_rows(perturbed_rows)
    n = len(clean_rows)
    ranks = np.zeros(n, np.int64)
    block = max(1, _BLOCK_ELEMENTS // max(n, 1))
    for start in range(0, n, block):
        rows = np.arange(start, min(start + block, n))
        similarity = perturbed_unit[rows] @ clean_unit.T
        similarity[np.outer(perturbed_zero[rows], clean_zero)] = 1.0
        distance = _distance(similarity)
        own = distance[np.arange(len(rows)), rows]
        ranks[rows] = (distance < own[:, None] - TIE_TOLERANCE).sum(axis=1)
    return ranks


def _pair(clean: Any, perturbed: Any) -> tuple[FloatArray, FloatArray]:
    """Both batches as (n, d) float64 arrays of one shape with finite values."""
    arrays = []
    for name, values in (("clean", clean), ("perturbed", perturbed)):
        array = np.asarray(values, dtype=np.float64)
        if array.ndim != 2:
            raise DataError(
                f"embedding metrics compare (n, d) arrays, one vector per sample; {name} has "
                f"shape {array.shape}."
            )
        if not np.isfinite(array).all():
            raise ModelError(f"the {name} embeddings hold NaN or infinite values.")
        arrays.append(array)
    if arrays[0].shape != arrays[1].shape:
        raise DataError(
            "embedding metrics compare the clean and perturbed vectors of the same samples; "
            f"got shapes {arrays[0].shape} and {arrays[1].shape}."
        )
    return arrays[0], arrays[1]


def _unit_rows(rows: FloatArray) -> tuple[FloatArray, BoolArray]:
    """Each row scaled to length 1 (zero rows stay zero), and which rows are zero.

    Rows are first divided by their largest absolute value: the squares of tiny (or huge)
    components would underflow (or overflow) and spoil the norm.
    """
    peaks = np.abs(rows).max(axis=1, initial=0.0)
    zero: BoolArray = peaks == 0.0
    scaled = rows / np.where(zero, 1.0, peaks)[:, None]
    unit: FloatArray = scaled / np.where(zero, 1.0, np.linalg.norm(scaled, axis=1))[:, None]
    return unit, zero


def _distance(similarity: FloatArray) -> FloatArray:
    """Cosine distance 1 - similarity, clipped to [0, 2] against rounding."""
    distance: FloatArray = np.clip(1.0 - similarity, 0.0, 2.0)
    return distance
