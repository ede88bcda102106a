"""Text defences: Unicode normalisation of the input path."""

from __future__ import annotations

import functools
import re
import unicodedata

from wince.defences.base import InputDefence, register
from wince.perturbations.base import Batch, Modality
from wince.perturbations.text.formatting import homoglyph_table

_SPACE_RUNS = re.compile(r"\s+")
_WORDS = re.compile(r"\w+")
_LATIN = re.compile(r"[A-Za-z]")


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
