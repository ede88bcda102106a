"""NumPy's `SeedSequence`, vectorised over the samples of a batch.

Every sample's random stream is `PCG64(SeedSequence(seed, spawn_key=(step, trial, sample)))`.
Building one SeedSequence and asking it for PCG64's seed words costs about 12 us per sample, more
than most perturbations spend on the sample itself. The samples of a batch differ only in the
last two spawn-key words, so the same arithmetic runs here once per batch on uint32 arrays. The
words are bit for bit those of `numpy.random.SeedSequence` (its documented algorithm, a port of
Melissa O'Neill's seed_seq_fe; a property test checks it against NumPy), so streams, golden
hashes and stored runs are unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

U32 = np.uint32
POOL_SIZE = 4
INIT_A, MULT_A = U32(0x43B0D7E5), U32(0x931E8875)
INIT_B, MULT_B = U32(0x8B51F9DD), U32(0x58F38DED)
MIX_MULT_L, MIX_MULT_R = U32(0xCA01F9DD), U32(0x4973F715)
XSHIFT = U32(16)


def int_words(value: int) -> list[int]:
    """A non-negative int as little-endian 32-bit words, as SeedSequence reads it (0 is [0])."""
    words = [value & 0xFFFFFFFF]
    value >>= 32
    while value:
        words.append(value & 0xFFFFFFFF)
        value >>= 32
    return words


class _HashMix:
    """SeedSequence's `hashmix`, with its running multiplier."""

    def __init__(self) -> None:
        self.constant = INIT_A

    def __call__(self, value: npt.NDArray[np.uint32]) -> npt.NDArray[np.uint32]:
        value = value ^ self.constant
        self.constant = self.constant * MULT_A
        value = value * self.constant
        return value ^ (value >> XSHIFT)


def _mix(x: npt.NDArray[np.uint32], y: npt.NDArray[np.uint32]) -> npt.NDArray[np.uint32]:
    result: npt.NDArray[np.uint32] = MIX_MULT_L * x - MIX_MULT_R * y
    mixed: npt.NDArray[np.uint32] = result ^ (result >> XSHIFT)
    return mixed


def pcg64_seed_words(
    seed: int, spawn_prefix: Sequence[int], keys: npt.NDArray[np.uint64]
) -> npt.NDArray[np.uint64]:
    """PCG64 seed words, one row per key, of `SeedSequence(seed, spawn_key=(*prefix, lo, hi))`.

    `lo` and `hi` are the low and high 32-bit words of each 64-bit key. Row i equals
    `SeedSequence(...).generate_state(4, np.uint64)` for key i.

    Args:
        seed: the entropy, a non-negative int of any size.
        spawn_prefix: the spawn-key words shared by the batch (non-negative ints).
        keys: one 64-bit key per sample.
    """
    n = len(keys)
    run = int_words(seed)
    run += [0] * (POOL_SIZE - len(run))  # SeedSequence pads the entropy when spawned
    shared = run + [w for v in spawn_prefix for w in int_words(int(v))]
    keys = np.asarray(keys, dtype=np.uint64)
    columns: list[Any] = [U32(w) for w in shared]
    columns += [(keys & np.uint64(0xFFFFFFFF)).astype(U32), (keys >> np.uint64(32)).astype(U32)]
    entropy = [np.broadcast_to(c, (n,)) for c in columns]
    with np.errstate(over="ignore"):
        hashmix = _HashMix()
        pool = [hashmix(entropy[i]) for i in range(POOL_SIZE)]
        for source in range(POOL_SIZE):
            for target in range(POOL_SIZE):
                if source != target:
                    pool[target] = _mix(pool[target], hashmix(pool[source]))
        for source in range(POOL_SIZE, len(entropy)):
            for target in range(POOL_SIZE):
                pool[target] = _mix(pool[target], hashmix(entropy[source]))
        state = np.empty((n, 8), dtype=U32)
        constant = INIT_B
        for i in range(8):
            value = pool[i % POOL_SIZE] ^ constant
            constant = constant * MULT_B
            value = value * constant
            state[:, i] = value ^ (value >> XSHIFT)
    return state.view("<u8").reshape(n, 4).astype(np.uint64)


class SeedWords(np.random.bit_generator.ISeedSequence):
    """Precomputed seed words standing in for a SeedSequence when a PCG64 is made."""

    def __init__(self, words: npt.NDArray[np.uint64]) -> None:
        self.words = words

    def generate_state(self, n_words: int, dtype: Any = np.uint32) -> Any:
        """The four 64-bit words PCG64 asks for (the only request it makes)."""
        if n_words != 4 or np.dtype(dtype) != np.uint64:
            raise NotImplementedError("precomputed seed words serve PCG64 only")
        return self.words.copy()
