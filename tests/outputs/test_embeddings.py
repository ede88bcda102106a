"""Embedding metrics against scipy and scikit-learn distances and hand-built geometry."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.spatial.distance import cosine, euclidean
from sklearn.metrics.pairwise import cosine_distances

import wince.outputs.embeddings as embeddings
from wince.errors import DataError, ModelError
from wince.outputs.embeddings import cosine_change, neighbour_rank, relative_l2_change


@st.composite
def clean_and_perturbed(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    """Random Gaussian vectors (no ties) and a perturbation of random size."""
    n, d = draw(st.integers(1, 25)), draw(st.integers(1, 6))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    clean = rng.normal(size=(n, d))
    return clean, clean + draw(st.floats(0.0, 3.0)) * rng.normal(size=(n, d))


def expected_ranks(perturbed: np.ndarray, clean: np.ndarray) -> list[int]:
    distance = cosine_distances(perturbed, clean)
    own = np.diag(distance)
    return [
        sum(distance[i, j] < own[i] for j in range(len(clean)) if j != i) for i in range(len(clean))
    ]


# -- row by row ------------------------------------------------------------------------------
@pytest.mark.slow
@settings(max_examples=200, deadline=None)
@given(clean_and_perturbed())
def test_changes_equal_scipy_row_by_row(pair):
    clean, perturbed = pair
    np.testing.assert_allclose(
        cosine_change(clean, perturbed),
        [cosine(c, p) for c, p in zip(clean, perturbed, strict=True)],
        atol=1e-12,
    )
    np.testing.assert_allclose(
        relative_l2_change(clean, perturbed),
        [
            euclidean(c, p) / euclidean(c, np.zeros_like(c))
            for c, p in zip(clean, perturbed, strict=True)
        ],
    )


def test_changes_by_hand():
    clean = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 1.0], [3.0, 4.0]])
    perturbed = np.array([[5.0, 0.0], [0.0, 2.0], [-1.0, -1.0], [0.0, 0.0]])
    np.testing.assert_allclose(cosine_change(clean, perturbed), [0.0, 1.0, 2.0, 1.0], atol=1e-15)
    np.testing.assert_allclose(relative_l2_change(clean, perturbed), [4.0, np.sqrt(5.0), 2.0, 1.0])


def test_zero_vectors_follow_the_stated_convention():
    clean = np.array([[0.0, 0.0], [0.0, 0.0], [2.0, 0.0]])
    perturbed = np.array([[0.0, 0.0], [3.0, 4.0], [0.0, 0.0]])
    np.testing.assert_array_equal(cosine_change(clean, perturbed), [0.0, 1.0, 1.0])
    # a zero clean vector: the norm of the change itself
    np.testing.assert_array_equal(relative_l2_change(clean, perturbed), [0.0, 5.0, 1.0])


@pytest.mark.slow
@settings(max_examples=100, deadline=None)
@given(
    arrays(
        np.float64, st.tuples(st.integers(0, 6), st.integers(0, 4)), elements=st.floats(-1e3, 1e3)
    )
)
@example(np.array([[2.98073652e-159]]))  # its square underflowed: cosine change 2.4e-7 to itself
def test_values_are_finite_and_in_range_for_any_vectors(vectors):
    reversed_rows = vectors[::-1]
    change = cosine_change(vectors, reversed_rows)
    assert np.isfinite(change).all()
    assert ((change >= 0) & (change <= 2)).all()
    assert np.isfinite(relative_l2_change(vectors, reversed_rows)).all()
    assert (cosine_change(vectors, vectors) <= 1e-12).all()
    np.testing.assert_array_equal(relative_l2_change(vectors, vectors), 0.0)
    # a sample's value does not depend on the others
    if len(vectors):
        np.testing.assert_array_equal(cosine_change(vectors[:1], reversed_rows[:1]), change[:1])


# -- neighbour rank --------------------------------------------------------------------------
def test_neighbour_rank_by_hand():
    clean = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])
    perturbed = np.array(
        [
            [1.0, 0.1],  # still nearest to its own
            [1.0, 0.0],  # landed on sample 0: only sample 0 is closer
            [1.0, 0.0],  # opposite its own: samples 0, 1 and 3 are closer
            [0.0, -1.0],  # unchanged
        ]
    )
    assert neighbour_rank(perturbed, clean).tolist() == [0, 1, 3, 0]
    assert neighbour_rank(perturbed, clean).tolist() == expected_ranks(perturbed, clean)


def test_ties_and_duplicates_are_not_closer():
    clean = np.array([[1.0, 0.0], [1.0, 0.0], [2.0, 0.0], [0.0, 1.0]])
    # samples 0-2 share one direction (distance 0 to each other); sample 3's perturbed vector
    # is halfway between its own clean vector and theirs (distance 1 - 1/sqrt(2) to all four)
    perturbed = np.array([[1.0, 0.0], [3.0, 0.0], [1.0, 0.0], [1.0, 1.0]])
    assert neighbour_rank(perturbed, clean).tolist() == [0, 0, 0, 0]
    # tipped towards them, it has all three closer
    assert neighbour_rank(np.vstack([perturbed[:3], [1.0, 0.9]]), clean).tolist() == [0, 0, 0, 3]
    assert neighbour_rank(clean, clean).tolist() == [0, 0, 0, 0]


def test_zero_vectors_in_neighbour_rank():
    clean = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    # a zero clean vector is at distance 1 from anything nonzero and 0 from a zero vector
    perturbed = np.array([[0.0, 0.0], [0.0, 0.0], [0.0, 1.0]])
    assert neighbour_rank(perturbed, clean).tolist() == [0, 1, 0]


@pytest.mark.slow
@settings(max_examples=200, deadline=None)
@given(clean_and_perturbed())
def test_neighbour_rank_equals_sklearn_distances_and_is_zero_without_change(pair):
    clean, perturbed = pair
    ranks = neighbour_rank(perturbed, clean)
    assert ranks.tolist() == expected_ranks(perturbed, clean)
    assert ((ranks >= 0) & (ranks <= len(clean) - 1)).all()
    assert (neighbour_rank(clean, clean) == 0).all()


@settings(max_examples=50, deadline=None)
@given(clean_and_perturbed(), st.integers(1, 30))
def test_neighbour_rank_does_not_depend_on_the_block_size(pair, block_elements):
    clean, perturbed = pair
    whole = neighbour_rank(perturbed, clean)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(embeddings, "_BLOCK_ELEMENTS", block_elements)
        np.testing.assert_array_equal(neighbour_rank(perturbed, clean), whole)


def test_empty_batch_gives_empty_arrays():
    empty = np.zeros((0, 3))
    assert cosine_change(empty, empty).shape == (0,)
    assert relative_l2_change(empty, empty).shape == (0,)
    assert neighbour_rank(empty, empty).shape == (0,)


# -- errors ----------------------------------------------------------------------------------
def test_bad_inputs_raise_naming_the_argument():
    with pytest.raises(DataError, match=r"perturbed has shape \(3,\)"):
        cosine_change(np.zeros((3, 2)), np.zeros(3))
    with pytest.raises(DataError, match=r"shapes \(3, 2\) and \(3, 4\)"):
        relative_l2_change(np.zeros((3, 2)), np.zeros((3, 4)))
    with pytest.raises(ModelError, match="clean embeddings hold NaN"):
        neighbour_rank(np.zeros((1, 2)), np.array([[np.nan, 0.0]]))
