"""Typing mistakes: keyboard-neighbour hits, dropped, doubled, swapped and extra keys."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from wince.perturbations.base import Magnitude, Phrase, check_choice, check_subset, register
from wince.perturbations.text.base import TextPerturbation
from wince.perturbations.words import share


@dataclass(frozen=True)
class Keyboard:
    """Key rows and the horizontal centre of each row's first key, in key widths.

    Every key is one key width wide, so key `c` of row `r` is centred at `first_centres[r] + c`.
    """

    rows: tuple[str, ...]
    first_centres: tuple[float, ...]


# A phone's letter keyboard (iOS and Gboard portrait): no digits on it; the middle row is
# shifted half a key, the bottom row a key and a half (shift key on its left), so z sits under s.
PHONE = Keyboard(("qwertyuiop", "asdfghjkl", "zxcvbnm"), (0.5, 1.0, 2.0))
# Desktop keyboards measured from the left edge: the "1" key follows "`"; Tab is 1.5 keys
# wide, Caps Lock 1.75, the left Shift 2.25 (ANSI), or 1.25 plus the "<" key (ISO, AZERTY).
QWERTY = Keyboard(("1234567890", "qwertyuiop", "asdfghjkl", "zxcvbnm"), (1.5, 2.0, 2.25, 2.75))
AZERTY = Keyboard(("1234567890", "azertyuiop", "qsdfghjklm", "wxcvbn"), (1.5, 2.0, 2.25, 2.75))


def keyboard_neighbours(keyboard: Keyboard) -> dict[str, str]:
    """Keys a finger may hit instead of each key: the keys touching it.

    Neighbours are the keys beside it in its row and the keys of the rows above and below whose
    centres are at most one key width away horizontally (so they overlap or touch it at a
    corner). Capital letters map to their neighbours in capitals (shift held), so a lookup needs
    no case conversion.
    """
    centres = {
        key: (r, keyboard.first_centres[r] + c)
        for r, row in enumerate(keyboard.rows)
        for c, key in enumerate(row)
    }
    neighbours: dict[str, str] = {}
    for key, (r, x) in centres.items():
        near = [
            other
            for other, (r2, x2) in centres.items()
            if other != key and abs(r2 - r) <= 1 and abs(x2 - x) <= 1
        ]
        neighbours[key] = "".join(sorted(near))
    for key in [k for k in neighbours if k.upper() != k]:
        neighbours[key.upper()] = neighbours[key].upper()
    return neighbours


LAYOUTS = {
    "phone": keyboard_neighbours(PHONE),
    "qwerty": keyboard_neighbours(QWERTY),
    "azerty": keyboard_neighbours(AZERTY),
}


TYPO_KINDS = ("substitution", "omission", "duplication", "transposition", "insertion")
SUBSTITUTION, OMISSION, DUPLICATION, TRANSPOSITION, INSERTION = range(len(TYPO_KINDS))
# The share of each kind among typos (in the order of TYPO_KINDS), a judgement from the studies
# cited on `Typos`: a neighbouring key hit instead is the most common error on modern keyboards
# (Dhakal et al. 2018) and the touch-screen fat-finger error (Azenkot and Zhai 2012); dropped
# and extra keys follow; swapped and doubled keys are the rarest.
TYPO_MIX = (0.5, 0.2, 0.05, 0.1, 0.15)
_WORD = re.compile(r"[^\W_]+")


def check_typing(
    owner: str, layout: str, kinds: Sequence[str]
) -> tuple[dict[str, str], list[int], list[float]]:
    """The layout's neighbour map, the codes of the chosen typo kinds and their shares.

    The shares are `TYPO_MIX` restricted to the chosen kinds, renormalised to sum to 1.

    Raises:
        ParameterError: unknown layout, unknown or no kinds.
    """
    check_choice(owner, "layout", layout, list(LAYOUTS))
    codes = [TYPO_KINDS.index(k) for k in check_subset(owner, "kinds", kinds, TYPO_KINDS)]
    total = sum(TYPO_MIX[code] for code in codes)
    return LAYOUTS[layout], codes, [TYPO_MIX[code] / total for code in codes]


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
        layout: the keyboard whose neighbouring keys are hit: "phone" (a phone's letter
            keyboard, which has no digits), "qwerty" or "azerty" (desktop keyboards with their
            number row).
        kinds: which mistakes to make: any of "substitution" (a neighbouring key instead),
            "omission", "duplication", "transposition" (with the next character), "insertion"
            (a neighbouring key typed as well). Each typo's kind is drawn in the shares of
            `TYPO_MIX` (substitution 50%, omission 20%, insertion 15%, transposition 10%,
            duplication 5%), restricted to `kinds`.
        protect: spans never changed (see `TextPerturbation`).
    """

    def __init__(
        self,
        *,
        layout: str = "phone",
        kinds: Sequence[str] = TYPO_KINDS,
        protect: Sequence[str] = (),
    ) -> None:
        super().__init__(protect=protect)
        self.layout = layout
        self.neighbours, codes, shares = check_typing(self.name, layout, kinds)
        self.kind_codes = np.array(codes, dtype=np.intp)
        self.kind_bounds = np.cumsum(shares)[:-1]

    def kinds_of(self, draws: npt.NDArray[np.float64]) -> npt.NDArray[np.intp]:
        """The typo kind codes for uniform `draws` in [0, 1), in the shares of the mix."""
        return self.kind_codes[np.searchsorted(self.kind_bounds, draws, side="right")]


@register
class Typos(TypingPerturbation):
    """Typing mistakes at a rate per character: neighbouring keys, dropped, doubled, swapped, extra.

    The rate is the expected share of letters and digits that carry a typo, the quantity typing
    studies report as the uncorrected error rate. By default the typist is on a phone
    (`layout="phone"`): a substituted or extra key is one touching the intended key on the
    letter keyboard, which has no digits, so typos never put digits into words; desktop
    keyboards (`layout="qwerty"` or `"azerty"`) include the number row. Other characters are
    never changed, though a swap may move one. Each typo is one edit.

    Why this range: Palin et al. (2019, "How do People Type on Mobile Devices?", MobileHCI,
    37,370 volunteers) measured 2.3% uncorrected errors on phones on average, and desktop
    typists leave fewer (Dhakal et al. 2018, "Observations on Typing from 136 Million
    Keystrokes", CHI, 168,000 volunteers). The mild end (0.005) is a careful typist; the
    severe end (0.1), four times the phone average, is hurried one-thumb typing with
    auto-correct off, beyond what these studies report as typical. The kinds follow `TYPO_MIX`:
    substitutions of a neighbouring key are the most common error on modern keyboards (Dhakal
    et al. 2018) and the fat-finger error of touch screens, where touches scatter around the
    key's centre (Azenkot and Zhai 2012, "Touch behavior with different postures on soft
    smartphone keyboards", MobileHCI); over 80% of misspellings are one such single edit
    (Damerau 1964, CACM).

    Positions are drawn independently of the rate, so a higher rate keeps the typos of a
    lower one (same seed), except where a new swap takes over the next character; for the same
    reason the share of letters and digits with a typo is rate * (1 - O(rate)), about 2% short
    of the rate at the severe end (0.1).
    """

    name = "text.typos"
    family = "text.typos"
    phrase = Phrase(
        lambda v: f"typos in {share(v)} of characters",
        lambda v: (
            "as a careful typist makes"
            if v <= 0.01
            else "as when typing on a phone"
            if v <= 0.05
            else ""
        ),
    )
    monitor_estimate = "typo_rate"
    calibration = "text.typos"
    version = 4
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
        kinds = self.kinds_of(kind[at])
        return inject_typos(text, at.tolist(), kinds.tolist(), pick[at].tolist(), self.neighbours)


@register
class WordTypos(TypingPerturbation):
    """Typing mistakes at a rate per word: each chosen word gets exactly one typo.

    The rate is the share of words (runs of letters and digits) with a typo, the unit in which
    spell-checker studies report errors. Why this range: edited prose has about 1% (mild end
    0.01); 10-15% of web search queries are misspelt (Cucerzan and Brill 2004, "Spelling
    correction as an iterative process that exploits the collective knowledge of web users",
    EMNLP), and the 2.3% of characters phone typists leave uncorrected (Palin et al. 2019,
    MobileHCI) is one word in ten; the severe end (0.2) is twice that. The
    typo's position in the word is uniform; its kind and keys follow `Typos` (phone layout by
    default, the kinds in the shares of `TYPO_MIX`).
    """

    name = "text.word_typos"
    family = "text.typos"
    phrase = Phrase(
        lambda v: f"a typo in {share(v)} of words",
        lambda v: (
            "as in edited prose"
            if v <= 0.01
            else "as in chat messages and search queries"
            if v <= 0.15
            else ""
        ),
    )
    version = 3
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
        kinds = self.kinds_of(kind[chosen])
        return inject_typos(
            text, at.tolist(), kinds.tolist(), pick[chosen].tolist(), self.neighbours
        )
