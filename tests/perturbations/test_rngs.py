"""Per-sample random streams: the documented derivation, bit for bit."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from wince.perturbations import Rngs


def documented_generator(seed: int, step: str, trial: int, sample_id: str) -> np.random.Generator:
    """`Generator(PCG64(SeedSequence(seed, spawn_key=(step, trial, sample))))`, spelled out.

    Step and sample id are hashed with BLAKE2b to 64 bits and split into two 32-bit words each
    (low word first), as the `Rngs` docstring describes.
    """

    def words(text: str) -> tuple[int, int]:
        digest = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")
        return digest & 0xFFFFFFFF, digest >> 32

    spawn_key = (*words(step), trial, *words(sample_id))
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=spawn_key)))


@pytest.mark.slow
@given(
    seed=st.one_of(st.integers(0, 2**32), st.integers(0, 2**130)),
    step=st.text(max_size=20),
    trial=st.one_of(st.integers(0, 1000), st.integers(0, 2**70)),
    sample_id=st.text(max_size=20),
)
def test_each_generator_is_the_documented_seed_sequence_stream(
    seed: int, step: str, trial: int, sample_id: str
) -> None:
    for _ in range(2):  # a fresh Rngs gives the same stream again
        rngs = Rngs.for_samples([sample_id], seed=seed, step=step, trial=trial)
        expected = documented_generator(seed, step, trial, sample_id)
        assert np.array_equal(rngs[0].random(8), expected.random(8))
        assert np.array_equal(rngs[0].integers(0, 2**40, size=4), expected.integers(0, 2**40, 4))


def test_generators_of_one_batch_are_fresh_per_rngs_and_kept_within_one() -> None:
    ids = ["a", "b", "c"]
    first = Rngs.for_samples(ids, seed=3, step="x")
    again = Rngs.for_samples(ids, seed=3, step="x")
    draws = [g.random() for g in first]
    assert draws == [g.random() for g in again]  # a new Rngs starts each stream afresh
    assert [g.random() for g in first] != draws  # the same Rngs continues its streams
