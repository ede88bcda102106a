"""Shared machinery of text perturbations: batches, protected spans, sites, distances.

A text perturbation rewrites each text of a batch (a list of str) with its own generator.
Protected spans (numbers, negations, entities, URLs, e-mail addresses, or any regular
expression) are cut out first and passed through untouched, so a perturbation never changes
what decides the label; only the free text between them is rewritten, piece by piece, in order.
A span also keeps its boundaries: a rewritten piece that would glue a span to a neighbouring
word ("I am not" → "I amnot") or part it from a word it touched is left as it was.

Rates follow one rule that keeps sweeps nested: every candidate site (a character, a word, a
gap) draws a uniform number whatever the rate, and is hit when that number is below the rate;
secondary choices (which neighbour key, which homophone) are drawn for every site too. So, for
one seed, a higher rate keeps every change of a lower rate and adds more (common random numbers).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from importlib import resources
from typing import ClassVar

import numpy as np
import numpy.typing as npt
from rapidfuzz.distance import OSA, Levenshtein

from wince.errors import DataError, ParameterError
from wince.perturbations.base import (
    Batch,
    DataContext,
    Magnitude,
    Modality,
    Perturbation,
    Rngs,
)

_UPPER = "A-ZÀ-ÖØ-ÞĀ-Ž"  # Latin capitals, with the accented ones of Latin-1 and Latin Extended-A

PROTECTED_SPANS: dict[str, str] = {
    "numbers": r"[-+]?\d+(?:[.,:/]\d+)*%?",
    "negations": (
        r"(?i:\b(?:not|no|never|nor|none|nobody|nothing|neither|nowhere|cannot|without"
        r"|\w+n['’]t"  # contractions: don't, isn’t
        # ...and as typed without the apostrophe, common in chat and tweets
        r"|dont|cant|wont|isnt|didnt|doesnt|arent|wasnt|werent|couldnt|shouldnt|wouldnt"
        r"|havent|hasnt|hadnt|aint)\b)"
    ),
    "urls": r"\b(?:https?://|www\.)[^\s<>\"]+",
    "emails": r"\b[\w.+-]{1,64}@[\w-]+(?:\.[\w-]+)+\b",
    # Capitalised words that do not start a sentence, and acronyms anywhere. A name that opens
    # a sentence is not recognised: give it as a regular expression if it matters.
    "entities": (rf"(?<=[^\s.!?] )[{_UPPER}][\w'’-]*(?: [{_UPPER}][\w'’-]*)*|\b[{_UPPER}]{{2,}}\b"),
}


LEXICON = resources.files("wince.perturbations.text") / "lexicon"


def read_lexicon(name: str) -> list[list[str]]:
    """The tab-separated rows of a shipped word list, without comments and blank lines."""
    text = (LEXICON / name).read_text(encoding="utf-8")
    return [
        line.split("\t") for line in text.splitlines() if line.strip() and not line.startswith("#")
    ]


def rate_magnitude(name: str, unit: str, mild: float, severe: float) -> Magnitude:
    """A rate in [0, 1] that is off at 0."""
    return Magnitude(name, unit=unit, off=0.0, mild=mild, severe=severe, limits=(0.0, 1.0))


def compile_protection(owner: str, protect: Sequence[str]) -> re.Pattern[str] | None:
    """One pattern matching every protected span: named spans and regular expressions.

    Raises:
        ParameterError: `protect` is not a list of str, or an entry is neither a named span
            nor a valid regular expression.
    """
    if isinstance(protect, str) or not all(isinstance(p, str) for p in protect):
        raise ParameterError(
            f"{owner}: protect must be a list of span names ({', '.join(PROTECTED_SPANS)}) or "
            f"regular expressions; got {protect!r}. Try protect: [numbers, negations]."
        )
    patterns = []
    for i, entry in enumerate(protect):
        pattern = PROTECTED_SPANS.get(entry, entry)
        try:
            re.compile(pattern)
        except re.error as error:
            raise ParameterError(
                f"{owner}: protect[{i}]={entry!r} is neither a named span "
                f"({', '.join(PROTECTED_SPANS)}) nor a valid regular expression ({error})."
            ) from error
        if re.fullmatch(pattern, ""):
            raise ParameterError(
                f"{owner}: protect[{i}]={entry!r} matches the empty string, so it would protect "
                "nothing; make it match at least one character."
            )
        patterns.append(f"(?:{pattern})")
    return re.compile("|".join(patterns)) if patterns else None


_WORD_CHARACTER = re.compile(r"\w")


def is_word_character(character: str) -> bool:
    """Whether `character` is a letter, digit or underscore; "" (an edge of the text) is not."""
    return bool(_WORD_CHARACTER.fullmatch(character))


def boundaries_kept(piece: str, rewritten: str, lead: str, tail: str) -> bool:
    """Whether the spans around a free piece keep their kind of neighbour once it is rewritten.

    `lead` and `tail` are the characters of the spans just before and after the piece ("" at
    the text's edges, where nothing needs keeping). The character right after `lead` and the
    one right before `tail` must stay a word character exactly when they were one; a
    piece rewritten to nothing hands that role to the span or edge beyond it.
    """
    if lead and is_word_character((piece + tail)[:1]) != is_word_character((rewritten + tail)[:1]):
        return False
    return not tail or is_word_character((lead + piece)[-1:]) == is_word_character(
        (lead + rewritten)[-1:]
    )


def split_protected(text: str, protection: re.Pattern[str] | None) -> list[tuple[str, bool]]:
    """The text as consecutive (piece, is_protected) pairs; free pieces may be empty."""
    if protection is None:
        return [(text, False)]
    pieces: list[tuple[str, bool]] = []
    start = 0
    for match in protection.finditer(text):
        if match.end() == match.start():
            continue
        pieces.append((text[start : match.start()], False))
        pieces.append((match.group(), True))
        start = match.end()
    pieces.append((text[start:], False))
    return pieces


BLOCK_CHARACTERS = 2_000
"""Texts longer than this are compared block by block (see `CleanTexts`)."""
_ANCHOR_SIDE = 8  # characters on each side of a cut that must reappear around the matching cut
_CUT_STEP = 4  # candidate cuts of the original are this many characters apart...
_CUT_CANDIDATES = 128  # ...and this many are tried before cutting at the proportional place
_ANCHOR_REACH = 64  # how far from its proportional place an anchor is looked for


def character_error_rate(
    original: Sequence[str], perturbed: Sequence[str]
) -> npt.NDArray[np.float64]:
    """Edits (insertions, deletions, substitutions, adjacent swaps) per original character.

    An empty original counts as one character, so inserting into it still measures. Texts
    longer than `BLOCK_CHARACTERS` are compared block by block (see `CleanTexts`).
    """
    return CleanTexts(original).distances(perturbed)["distance"]


def word_error_rate(original: Sequence[str], perturbed: Sequence[str]) -> npt.NDArray[np.float64]:
    """Word edits (insertions, deletions, substitutions) per original word, as ASR reports it.

    Words are the whitespace-separated tokens; an empty original counts as one word. Texts
    longer than `BLOCK_CHARACTERS` are compared block by block (see `CleanTexts`).
    """
    return CleanTexts(original).distances(perturbed)["word_error_rate"]


def matching_cut(
    original: str, start: int, perturbed: str, matched: int, scale: float
) -> tuple[int, int]:
    """The next cut of both texts: about `BLOCK_CHARACTERS` past `start` in the original.

    A candidate cut of the original matches where its `_ANCHOR_SIDE` characters on each side
    occur together in the perturbed text, nearest to the proportional place (`scale` perturbed
    characters per original one since the previous cuts, `start` and `matched`). Candidates
    are tried every `_CUT_STEP` characters; if none matches, both texts are cut at their
    proportional places.
    """
    nominal = start + BLOCK_CHARACTERS
    for cut in range(nominal, nominal + _CUT_STEP * _CUT_CANDIDATES, _CUT_STEP):
        anchor = original[cut - _ANCHOR_SIDE : cut + _ANCHOR_SIDE]
        guess = max(matched, matched + round((cut - start) * scale) - _ANCHOR_SIDE)
        before = perturbed.rfind(anchor, max(matched, guess - _ANCHOR_REACH), guess + len(anchor))
        after = perturbed.find(anchor, guess, guess + _ANCHOR_REACH + len(anchor))
        found = [at for at in (before, after) if at >= 0]
        if found:
            return cut, min(found, key=lambda at: abs(at - guess)) + _ANCHOR_SIDE
    guess = matched + round(BLOCK_CHARACTERS * scale)
    return nominal, min(guess, len(perturbed))


def block_pairs(original: str, perturbed: str) -> list[tuple[str, str]]:
    """The two texts as pairs of matching blocks (see `CleanTexts`); one pair if short."""
    scale = len(perturbed) / max(len(original), 1)
    pairs = []
    start = matched = 0
    while len(original) - start > BLOCK_CHARACTERS + _CUT_STEP * _CUT_CANDIDATES:
        cut, matching = matching_cut(original, start, perturbed, matched, scale)
        pairs.append((original[start:cut], perturbed[matched:matching]))
        start, matched = cut, matching
    pairs.append((original[start:], perturbed[matched:]))
    return pairs


class CleanTexts:
    """A batch of original texts, with their word counts, to compare many perturbed versions.

    A text of at most `BLOCK_CHARACTERS` characters is compared whole: the distances are
    exact. An exact edit distance costs time quadratic in the length, so a longer text is cut
    into blocks of about `BLOCK_CHARACTERS` characters, the perturbed text at the matching
    places (where the characters around each cut reappear, near the proportional place), and
    the edits of the block pairs are summed. The sum is an alignment of the whole
    texts, so it is never below the exact distance, and it equals it when each cut falls
    between edits, as it does for the local edits of text perturbations; an edit across a cut
    (a swap of its two characters, a dropped word at it) may count twice. The rates are still
    per character and per word of the whole original.

    Texts a perturbation left unchanged (most, at low rates) cost one string comparison.
    """

    def __init__(self, original: Sequence[str]) -> None:
        self.original = original
        self.word_counts = [len(text.split()) for text in original]

    def distances(self, perturbed: Sequence[str]) -> dict[str, npt.NDArray[np.float64]]:
        """Character error rate (`distance`) and word error rate (`word_error_rate`) per text."""
        characters = np.zeros(len(self.original))
        words = np.zeros(len(self.original))
        for i, (a, b) in enumerate(zip(self.original, perturbed, strict=True)):
            if a != b:
                pairs = block_pairs(a, b)
                edits = sum(OSA.distance(x, y) for x, y in pairs)
                word_edits = sum(Levenshtein.distance(x.split(), y.split()) for x, y in pairs)
                characters[i] = edits / max(len(a), 1)
                words[i] = word_edits / max(self.word_counts[i], 1)
        return {"distance": characters, "word_error_rate": words}


def match_case(word: str, template: str) -> str:
    """`word` in the casing of `template`: UPPER, Capitalised or as given."""
    if len(template) > 1 and template.isupper():
        return word.upper()
    if template[:1].isupper():
        return word[:1].upper() + word[1:]
    return word


class TextPerturbation(Perturbation):
    """A text perturbation: rewrites the free text between protected spans, text by text.

    Subclasses implement `perturb_text`; this class checks batches, cuts out protected spans
    and measures distances.

    Args:
        protect: spans never changed: named ones (`numbers`, `negations`, `urls`, `emails`,
            `entities`) or regular expressions. Characters next to a span may change, but a
            span is never glued to a neighbouring word or parted from one: a piece whose
            rewrite would do that is left as it was (see `boundaries_kept`).
    """

    modality = Modality.TEXT
    distance_unit: ClassVar[str] = "character error rate (OSA edits per original character)"

    def __init__(self, *, protect: Sequence[str] = ()) -> None:
        self.protect = tuple(protect) if not isinstance(protect, str) else protect
        self.protection = compile_protection(self.name, protect)

    def perturb_text(self, text: str, value: float, rng: np.random.Generator) -> str:
        """Rewrite one piece of free text at `value`, drawing only from `rng`."""
        raise NotImplementedError

    def perturb_piece(
        self, piece: str, value: float, rng: np.random.Generator, lead: str, tail: str
    ) -> str:
        """Rewrite one free piece that sits between the characters `lead` and `tail`.

        `lead` is the last character of the span before the piece and `tail` the first of the
        span after it ("" at the text's edges). Perturbations whose edits depend on what
        surrounds them override this; the others rewrite the piece alone (`perturb_text`).
        """
        return self.perturb_text(piece, value, rng)

    def apply(self, x: Batch, value: float, rngs: Rngs, context: DataContext) -> Batch:
        """Rewrite every text's free pieces in order with the text's own generator."""
        return [
            self.perturb_around_spans(text, value, rng) for text, rng in zip(x, rngs, strict=True)
        ]

    def perturb_around_spans(self, text: str, value: float, rng: np.random.Generator) -> str:
        """`text` with its free pieces rewritten and its protected spans and their boundaries kept.

        A rewritten piece that fails `boundaries_kept` is replaced by the original piece.
        """
        pieces = split_protected(text, self.protection)
        out = []
        for index, (piece, protected) in enumerate(pieces):
            if protected:
                out.append(piece)
                continue
            lead = pieces[index - 1][0][-1:] if index else ""
            tail = pieces[index + 1][0][:1] if index + 1 < len(pieces) else ""
            rewritten = self.perturb_piece(piece, value, rng, lead, tail)
            out.append(rewritten if boundaries_kept(piece, rewritten, lead, tail) else piece)
        return "".join(out)

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
        """Character error rate: edits per original character."""
        return character_error_rate(original, perturbed)

    def distances(
        self, original: Batch, perturbed: Batch, context: DataContext
    ) -> dict[str, npt.NDArray[np.float64]]:
        """Character error rate (`distance`) and word error rate (`word_error_rate`)."""
        return self.distances_to(self.measure_clean(original, context), perturbed, context)

    def measure_clean(self, original: Batch, context: DataContext) -> CleanTexts:
        """The original texts and their word counts."""
        return CleanTexts(original)

    def distances_to(
        self, clean: CleanTexts, perturbed: Batch, context: DataContext
    ) -> dict[str, npt.NDArray[np.float64]]:
        """Character error rate (`distance`) and word error rate (`word_error_rate`)."""
        return clean.distances(perturbed)
