"""Text defences: Unicode normalisation and spelling correction of the input path."""

from __future__ import annotations

import functools
import re
import unicodedata
from typing import TYPE_CHECKING

from wince.defences.base import InputDefence, register
from wince.errors import ParameterError
from wince.perturbations.base import Batch, Modality, check_choice
from wince.perturbations.text.formatting import homoglyph_table
from wince.perturbations.text.keyboard import (
    DUPLICATION,
    INSERTION,
    LAYOUTS,
    OMISSION,
    SUBSTITUTION,
    TRANSPOSITION,
    TYPO_MIX,
)

_SPACE_RUNS = re.compile(r"\s+")
_WORDS = re.compile(r"\w+")
_LATIN = re.compile(r"[A-Za-z]")
# a word with its inner apostrophes ("don't"), as the spelling dictionary lists contractions
_WORDS_WITH_APOSTROPHES = re.compile(r"\w+(?:'\w+)*")

if TYPE_CHECKING:
    from spellchecker import SpellChecker


@functools.cache
def latin_of_lookalikes() -> dict[str, str]:
    """Cyrillic or Greek look-alike -> the Latin letter it imitates (`text.homoglyphs`' table)."""
    _, table = homoglyph_table()
    return {lookalike: latin for latin, options in table.items() for lookalike in options}


def fold_homoglyphs(text: str) -> str:
    """Look-alike letters replaced by the Latin letter they imitate, in mixed-script words.

    Only words that also hold an ASCII Latin letter are folded: such a mix is what spoofed
    or pasted text looks like, while a word wholly in Cyrillic or Greek is left as written.
    """
    table = latin_of_lookalikes()

    def fold(match: re.Match[str]) -> str:
        word = match.group()
        if not _LATIN.search(word):
            return word
        return "".join(table.get(c, c) for c in word)

    return _WORDS.sub(fold, text)


def normalize_text(text: str) -> str:
    r"""NFKC, without invisible format characters, homoglyphs folded, whitespace collapsed.

    1. Unicode NFKC: full-width letters and digits, ligatures and no-break spaces become their
       plain forms; decomposed accents are composed again.
    2. Format characters (Unicode category Cf) are removed: zero-width space, joiners, word
       joiner, byte-order mark, soft hyphen and the bidirectional controls.
    3. Cyrillic and Greek look-alikes of Latin letters are folded in mixed-script words
       (`fold_homoglyphs`).
    4. Runs of whitespace (tabs, newlines, repeated spaces) become one space; the ends are
       stripped.

    Examples:
        >>> normalize_text("ｇｏｏｄ\u200b  \ufb01lm\u00a0!")
        'good film !'
    """
    text = unicodedata.normalize("NFKC", text)
    text = "".join(c for c in text if unicodedata.category(c) != "Cf")
    return _SPACE_RUNS.sub(" ", fold_homoglyphs(text)).strip()


@register
class NormalizeText(InputDefence):
    """Unicode NFKC, zero-width and bidi controls removed, homoglyphs folded, spaces collapsed.

    Each text is rewritten by `normalize_text` before the model reads it. It undoes what
    `text.unicode_variants`, `text.zero_width`, `text.homoglyphs` and most of
    `text.whitespace` do; it cannot undo typos, casing or rewording. Nothing is fitted.
    """

    name = "text.normalize"
    version = 1
    modalities = frozenset({Modality.TEXT})

    def transform(self, x: Batch) -> Batch:
        """Each text normalised (`normalize_text`)."""
        return [normalize_text(text) for text in x]


# The likelihood of a typo the keyboard model does not explain (a far key, or two edits): a
# hundredth, below every kind it explains (the rarest, one given neighbouring key inserted,
# is 0.15 / 5 = 0.03 on a phone).
UNEXPLAINED_TYPO = 0.01


def typo_likelihood(typed: str, intended: str, neighbours: dict[str, str]) -> float:
    """How likely typing `intended` gives `typed`, by the typo kinds of `text.typos`.

    One edit of a kind in `TYPO_MIX` (the kinds' shares among typos: a neighbouring key
    instead 0.5, a dropped key 0.2, an extra neighbouring key 0.15, two keys swapped 0.1, a
    doubled key 0.05) has its kind's share, divided among the keys it could have hit for a
    substitution or insertion (`neighbours`: key -> the keys touching it); any other
    difference has `UNEXPLAINED_TYPO`.

    Examples:
        >>> phone = LAYOUTS["phone"]
        >>> typo_likelihood("borwn", "brown", phone), typo_likelihood("borwn", "born", phone)
        (0.1, 0.01)
    """
    if len(typed) == len(intended) - 1:
        dropped = any(typed == intended[:i] + intended[i + 1 :] for i in range(len(intended)))
        return TYPO_MIX[OMISSION] if dropped else UNEXPLAINED_TYPO
    if len(typed) == len(intended) + 1:
        for i in range(1, len(typed)):
            if typed[:i] + typed[i + 1 :] != intended:
                continue
            extra, before = typed[i], typed[i - 1]
            if extra == before:
                return TYPO_MIX[DUPLICATION]
            near = neighbours.get(before, "")
            if extra in near:
                return TYPO_MIX[INSERTION] / len(near)
        return UNEXPLAINED_TYPO
    if len(typed) != len(intended):
        return UNEXPLAINED_TYPO
    differ = [i for i, (a, b) in enumerate(zip(typed, intended, strict=True)) if a != b]
    if len(differ) == 1:
        near = neighbours.get(intended[differ[0]], "")
        return TYPO_MIX[SUBSTITUTION] / len(near) if typed[differ[0]] in near else UNEXPLAINED_TYPO
    if len(differ) == 2 and differ[1] == differ[0] + 1:
        i = differ[0]
        if typed[i] == intended[i + 1] and typed[i + 1] == intended[i]:
            return TYPO_MIX[TRANSPOSITION]
    return UNEXPLAINED_TYPO


def with_case_of(original: str, word: str) -> str:
    """`word` (lower case) in the case pattern of `original`: UPPER, Title or lower.

    Examples:
        >>> with_case_of("TEH", "the"), with_case_of("Teh", "the"), with_case_of("teh", "the")
        ('THE', 'The', 'the')
    """
    if len(original) > 1 and original.isupper():
        return word.upper()
    if original[:1].isupper():
        return word[:1].upper() + word[1:]
    return word


def dictionary_release() -> str:
    """The installed pyspellchecker version (read from its metadata, without loading it)."""
    from importlib.metadata import version

    return version("pyspellchecker")


@register
class SpellingCorrection(InputDefence):
    """Misspelt words replaced by the most likely dictionary word within one or two edits.

    Uses the `pyspellchecker` library (Peter Norvig's edit-distance corrector) with the
    word-frequency dictionary its wheel ships: for English, 160,572 words with their counts
    in OpenSubtitles 2018 (pyspellchecker 0.9.1); `LANGUAGES` lists the others it ships.
    Only words made wholly of letters (inner apostrophes allowed: "don't") that the dictionary
    does not hold are changed; words with digits, numbers, punctuation and whitespace are kept
    exactly. A word's candidates are the dictionary words `distance` edits away or fewer
    (insertion, deletion, substitution, swap of neighbours; the nearest distance with any
    candidate wins). They are ranked as a noisy channel (Kernighan, Church and Gale 1990,
    COLING): the word's frequency times the likelihood of the typo that would turn it into
    what was typed (`typo_likelihood`: the kinds and keyboard neighbours of `text.typos`), so
    "borwn" becomes "brown" (a swap) rather than the more frequent "born" ("w" is far from
    "r"), and "realy" "really" (a dropped key). The correction keeps the word's case pattern
    (UPPER, Title, lower); a word in another pattern ("iPhone") is kept. Nothing is fitted;
    corrections are cached per word.

    It undoes much of `text.typos` and `text.word_typos` (on the demo sentiment model, the
    share of decisions flipped by typos at a rate of 0.1 per character fell from 27% to 10%,
    `examples/harden_text.py`), and some look-alike letters, which make a word unknown too;
    a typo that makes another real word ("form" for "from") is not seen.

    Limitation: a word missing from the dictionary is "corrected" to a near dictionary word:
    rare proper nouns and brand names, acronyms ("NASA"), jargon, and British spellings (the
    English list is American: "colour" becomes "color"). Use it where inputs are everyday
    prose.

    Args:
        distance: the most edits a correction may be from the word, 1 or 2. At 1 an unknown
            word costs about a millisecond; at 2 one with no candidate one edit away costs
            about a second (pyspellchecker tries every string two edits away), so 2 suits
            small data only, and it changes more rare words.
        language: the dictionary's language code (pyspellchecker's: en, es, fr, pt, de, it,
            ru, ar, eu, lv, nl, fa).
        layout: the keyboard whose neighbouring keys explain substitutions and extra keys:
            "phone", "qwerty" or "azerty" (as `text.typos`).
        seed: unused (the defence draws no random numbers).
    """

    name = "text.spelling"
    version = 1
    modalities = frozenset({Modality.TEXT})

    LANGUAGES = ("en", "es", "fr", "pt", "de", "it", "ru", "ar", "eu", "lv", "nl", "fa")
    CACHED_WORDS = 65_536  # words whose correction is remembered, the most recent kept

    def __init__(
        self, *, distance: int = 1, language: str = "en", layout: str = "phone", seed: int = 0
    ) -> None:
        super().__init__(seed=seed)
        if isinstance(distance, bool) or distance not in (1, 2):
            raise ParameterError(
                f"{self.name}: distance must be 1 or 2 (edits); got {distance!r}. Use 1 for "
                "speed or 2 to catch two typos in one word."
            )
        self.distance = distance
        self.language = check_choice(self.name, "language", language, self.LANGUAGES)
        self.layout = check_choice(self.name, "layout", layout, list(LAYOUTS))
        self._checker: SpellChecker | None = None
        self._cached_correction = functools.lru_cache(maxsize=self.CACHED_WORDS)(
            self._best_candidate
        )

    def fitted_state(self) -> dict[str, str]:
        """The pyspellchecker release, whose dictionary decides every correction.

        Part of the defended model's identity: a new release (another dictionary or word
        frequencies) makes another model, never one served from an earlier run or cache.
        """
        return {"pyspellchecker": dictionary_release()}

    def transform(self, x: Batch) -> Batch:
        """Each text with its misspelt words corrected (see the class)."""
        return [_WORDS_WITH_APOSTROPHES.sub(self._correct_match, text) for text in x]

    def correct_word(self, word: str) -> str | None:
        """The correction of a lower-case word, None when it is known or nothing is near.

        Cached for the `CACHED_WORDS` most recent words: texts repeat their words, and each
        unknown word costs a search of its edits (see `distance`).
        """
        return self._cached_correction(word)

    def _correct_match(self, match: re.Match[str]) -> str:
        original = match.group()
        lower = original.lower()
        cased = with_case_of(original, lower)
        if not original.replace("'", "").isalpha() or cased != original:
            return original  # digits or underscores inside, or a mixed case pattern
        corrected = self.correct_word(lower)
        return original if corrected is None else with_case_of(original, corrected)

    def _best_candidate(self, word: str) -> str | None:
        checker = self._spell_checker()
        dictionary = checker.word_frequency.dictionary
        if word in dictionary:
            return None
        # pyspellchecker's own `candidates` checks each edit through a slower path; the set
        # of dictionary words one edit away is the same
        candidates = {edit for edit in checker.edit_distance_1(word) if edit in dictionary}
        if not candidates and self.distance == 2:
            candidates = checker.candidates(word) or set()
        if not candidates or word in candidates:  # nothing near, or a word it does not check
            return None
        neighbours = LAYOUTS[self.layout]
        return max(
            sorted(candidates),  # a fixed order, so ties break the same way every time
            key=lambda c: typo_likelihood(word, c, neighbours) * checker.word_usage_frequency(c),
        )

    def _spell_checker(self) -> SpellChecker:
        if self._checker is None:
            from spellchecker import SpellChecker  # loaded on first use: its dictionary is large

            self._checker = SpellChecker(language=self.language, distance=self.distance)
        return self._checker
