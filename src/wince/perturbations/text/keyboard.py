"""Typing mistakes: keyboard-neighbour hits, dropped, doubled, swapped and extra keys."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from wince.perturbations.base import Magnitude, check_choice, check_subset, register
from wince.perturbations.text.base import TextPerturbation

QWERTY_ROWS = ("1234567890", "qwertyuiop", "asdfghjkl", "zxcvbnm")
AZERTY_ROWS = ("1234567890", "azertyuiop", "qsdfghjklm", "wxcvbn")


def keyboard_neighbours(rows: tuple[str, ...]) -> dict[str, str]:
    """Keys adjacent to each key (same row ±1, rows above and below at offsets 0 and ±1).

    Capital letters map to their neighbours in capitals (shift held), so a lookup needs no
    case conversion.
    """
    position = {key: (r, c) for r, row in enumerate(rows) for c, key in enumerate(row)}
    neighbours: dict[str, str] = {}
    for key, (r, c) in position.items():
        near = [
            other
            for other, (r2, c2) in position.items()
            if other != key and abs(r2 - r) <= 1 and abs(c2 - c) <= 1
        ]
        neighbours[key] = "".join(sorted(near))
    for key in [k for k in neighbours if k.upper() != k]:
        neighbours[key.upper()] = neighbours[key].upper()
    return neighbours


LAYOUTS = {"qwerty": keyboard_neighbours(QWERTY_ROWS), "azerty": keyboard_neighbours(AZERTY_ROWS)}


TYPO_KINDS = ("substitution", "omission", "duplication", "transposition", "insertion")
SUBSTITUTION, OMISSION, DUPLICATION, TRANSPOSITION, INSERTION = range(len(TYPO_KINDS))
_WORD = re.compile(r"[^\W_]+")


def check_typing(owner: str, layout: str, kinds: Sequence[str]) -> tuple[dict[str, str], list[int]]:
    """The layout's neighbour map and the codes of the chosen typo kinds.

    Raises:
        ParameterError: unknown layout, unknown or no kinds.
    """
    check_choice(owner, "layout", layout, sorted(LAYOUTS))
    return LAYOUTS[layout], [
        TYPO_KINDS.index(k) for k in check_subset(owner, "kinds", kinds, TYPO_KINDS)
    ]


def inject_typos(
    text: str,
    positions: Sequence[int],
    kinds: Sequence[int],
    picks: Sequence[float],
    neighbours: dict[str, str],
) -> str:
    """Apply one typo at each of the ascending `positions` that holds a letter or digit.

    Other characters are never changed. `kinds[j]` indexes `TYPO_KINDS`; `picks[j]` in [0, 1)
    chooses the neighbour key. A substitution or insertion without a neighbour key, or a swap
    with nothing different to swap with, becomes a duplication, so every typo is one edit.
    """
    out: list[str] = []
    n = len(text)
    done = 0  # text[:done] is copied or consumed
    for i, code, pick in zip(positions, kinds, picks, strict=True):
        c = text[i]
        if i < done or not c.isalnum():
            continue  # taken by the swap before it, or not a letter or digit
        out.append(text[done:i])
        done = i + 1
        if code == OMISSION:
            continue
        if code == TRANSPOSITION and i + 1 < n and text[i + 1] != c:
            out.append(text[i + 1] + c)
            done = i + 2
            continue
        near = neighbours.get(c, "") if code in (SUBSTITUTION, INSERTION) else ""
        if not near:  # a duplication, or a fallback to one
            out.append(c + c)
            continue
        key = near[int(pick * len(near))]
        out.append(key if code == SUBSTITUTION else c + key)
    out.append(text[done:])
    return "".join(out)


class TypingPerturbation(TextPerturbation):
    """Shared options of typing mistakes.

    Args:
        layout: keyboard layout for neighbour keys, "qwerty" or "azerty".
        kinds: which mistakes to make, chosen uniformly per typo: any of "substitution"
            (a neighbour key), "omission", "duplication", "transposition" (with the next
            character), "insertion" (a neighbour key typed as well).
        protect: spans never changed (see `TextPerturbation`).
    """

    def __init__(
        self,
        *,
        layout: str = "qwerty",
        kinds: Sequence[str] = TYPO_KINDS,
        protect: Sequence[str] = (),
    ) -> None:
        super().__init__(protect=protect)
        self.layout = layout
        self.neighbours, codes = check_typing(self.name, layout, kinds)
        self.kind_codes = np.array(codes, dtype=np.intp)


@register
class Typos(TypingPerturbation):
    """Typing mistakes at a rate per character: neighbour keys, dropped, doubled, swapped, extra.

    The rate is the expected share of letters and digits that carry a typo, the quantity typo
    studies report (careful typists ~0.5%, phone typing 2-5%). Each typo is one edit, its kind
    chosen uniformly from `kinds`. Other characters are never changed, though a swap may move
    one. Positions are drawn independently of the rate, so a higher rate keeps the typos of a
    lower one (same seed), except where a new swap takes over the next character; for the same
    reason the share of letters and digits with a typo is rate * (1 - O(rate)), about 2% short
    of the rate at the severe end (0.1).
    """

    name = "text.typos"
    version = 3
    stochastic = True
    magnitude = Magnitude(
        "typo_rate",
        unit="fraction of characters",
        off=0.0,
        mild=0.005,
        severe=0.1,
        limits=(0.0, 1.0),
    )

    def perturb_text(self, text: str, value: float, rng: np.random.Generator) -> str:
        """Insert typos at the given rate per letter or digit."""
        hit, kind, pick = rng.random((3, len(text)))
        at = np.flatnonzero(hit < value)
        kinds = self.kind_codes[(kind[at] * len(self.kind_codes)).astype(np.intp)]
        return inject_typos(text, at.tolist(), kinds.tolist(), pick[at].tolist(), self.neighbours)


@register
class WordTypos(TypingPerturbation):
    """Typing mistakes at a rate per word: each chosen word gets exactly one typo.

    The rate is the share of words (runs of letters and digits) with a typo, the unit in which
    spell-checker studies report errors (edited prose ~1%, chat and search queries 5-15%). The
    typo's position in the word is uniform and its kind chosen uniformly from `kinds`.
    """

    name = "text.word_typos"
    version = 2
    stochastic = True
    magnitude = Magnitude(
        "word_typo_rate",
        unit="fraction of words",
        off=0.0,
        mild=0.01,
        severe=0.2,
        limits=(0.0, 1.0),
    )

    def perturb_text(self, text: str, value: float, rng: np.random.Generator) -> str:
        """Give each word a typo with probability `value`."""
        spans = np.array([m.span() for m in _WORD.finditer(text)], dtype=np.intp).reshape(-1, 2)
        hit, where, kind, pick = rng.random((4, len(spans)))
        chosen = np.flatnonzero(hit < value)
        starts, ends = spans[chosen, 0], spans[chosen, 1]
        at = starts + (where[chosen] * (ends - starts)).astype(np.intp)
        kinds = self.kind_codes[(kind[chosen] * len(self.kind_codes)).astype(np.intp)]
        return inject_typos(
            text, at.tolist(), kinds.tolist(), pick[chosen].tolist(), self.neighbours
        )
