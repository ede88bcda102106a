"""Text perturbations: batches are lists of str."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import numpy.typing as npt
from rapidfuzz.distance import OSA

from wince.errors import DataError, ParameterError
from wince.perturbations.base import (
    Batch,
    DataContext,
    Magnitude,
    Modality,
    Perturbation,
    Rngs,
    register,
)

QWERTY_ROWS = ("1234567890", "qwertyuiop", "asdfghjkl", "zxcvbnm")
AZERTY_ROWS = ("1234567890", "azertyuiop", "qsdfghjklm", "wxcvbn")


def keyboard_neighbours(rows: tuple[str, ...]) -> dict[str, str]:
    """Keys adjacent to each key (same row ±1, rows above and below at offsets 0 and ±1)."""
    position = {key: (r, c) for r, row in enumerate(rows) for c, key in enumerate(row)}
    neighbours: dict[str, str] = {}
    for key, (r, c) in position.items():
        near = [
            other
            for other, (r2, c2) in position.items()
            if other != key and abs(r2 - r) <= 1 and abs(c2 - c) <= 1
        ]
        neighbours[key] = "".join(sorted(near))
    return neighbours


LAYOUTS = {"qwerty": keyboard_neighbours(QWERTY_ROWS), "azerty": keyboard_neighbours(AZERTY_ROWS)}


class TextPerturbation(Perturbation):
    """Shared batch checks and distance for text perturbations."""

    modality = Modality.TEXT
    distance_unit: ClassVar[str] = "character edit rate (OSA edits per original character)"

    def check_batch(self, x: Batch) -> None:
        """Raise `DataError` unless `x` is a list of str."""
        if not isinstance(x, list) or not all(isinstance(s, str) for s in x):
            raise DataError(
                f"{self.name}: text batches are lists of str; got {type(x).__name__}. "
                "Pass list(texts)."
            )

    def distance(
        self, original: Batch, perturbed: Batch, context: DataContext
    ) -> npt.NDArray[np.float64]:
        """Edits (insertions, deletions, substitutions, adjacent transpositions) per character."""
        return np.array(
            [OSA.distance(a, b) / max(len(a), 1) for a, b in zip(original, perturbed, strict=True)],
            dtype=np.float64,
        )


@register
class Typos(TextPerturbation):
    """Typing mistakes at a rate per character: neighbour-key hits, dropped, doubled, swapped keys.

    The rate is the expected share of letters and digits that carry a typo, the quantity typo
    studies report (careful typists ~0.5%, phone typing 2-5%). Each typo is one edit: a
    keyboard-neighbour substitution, an omission, a duplication or a transposition with the
    next character, chosen uniformly (a substitution without a neighbour key, or a swap with
    nothing different to swap with, becomes a duplication). Other characters are never changed,
    though a swap may move one. Positions are drawn independently of the rate, so a higher
    rate keeps the typos of a lower one (same seed), except where a new swap takes over the
    next character; for the same reason the share of letters and digits with a typo is
    rate * (1 - O(rate)), about 2% short of the rate at the severe end (0.1).

    Args:
        layout: keyboard layout for neighbour keys, "qwerty" or "azerty".
    """

    name = "text.typos"
    version = 1
    stochastic = True
    magnitude = Magnitude(
        "typo_rate",
        unit="fraction of characters",
        off=0.0,
        mild=0.005,
        severe=0.1,
        limits=(0.0, 1.0),
    )

    def __init__(self, layout: str = "qwerty") -> None:
        if layout not in LAYOUTS:
            raise ParameterError(
                f"{self.name}: layout must be one of {sorted(LAYOUTS)}; got {layout!r}."
            )
        self.neighbours = LAYOUTS[layout]

    def apply(self, x: Batch, value: float, rngs: Rngs, context: DataContext) -> Batch:
        """Insert typos at the given rate per alphanumeric character."""
        return [self._typo(text, value, rng) for text, rng in zip(x, rngs, strict=True)]

    def _typo(self, text: str, rate: float, rng: np.random.Generator) -> str:
        n = len(text)
        hit = rng.random(n) < rate
        kinds = rng.integers(0, 4, size=n)
        picks = rng.random(n)
        chars = list(text)
        out: list[str] = []
        i = 0
        while i < n:
            c = chars[i]
            if not (hit[i] and c.isalnum()):
                out.append(c)
                i += 1
                continue
            kind = kinds[i]
            near = self.neighbours.get(c.lower(), "")
            if kind == 0 and near:
                swap = near[int(picks[i] * len(near))]
                out.append(swap.upper() if c.isupper() else swap)
            elif kind == 1:
                pass  # omission
            elif kind == 2:
                out.extend((c, c))
            elif kind == 3 and i + 1 < n and chars[i + 1] != c:
                out.extend((chars[i + 1], c))
                i += 1
            else:
                out.extend((c, c))  # no neighbour key or nothing to swap with: duplicate
            i += 1
        return "".join(out)
