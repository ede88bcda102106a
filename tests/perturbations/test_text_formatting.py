"""Unicode and formatting perturbations: measured rates, equivalences, options."""

from __future__ import annotations

import re
import unicodedata

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wince.errors import ParameterError
from wince.perturbations import Rngs
from wince.perturbations.text.formatting import (
    CLAUSE_WORDS,
    Casing,
    Homoglyphs,
    Punctuation,
    SmartPunctuation,
    UnicodeVariants,
    Whitespace,
    ZeroWidth,
)

ignore_realism = pytest.mark.filterwarnings("ignore::wince.errors.RealismWarning")
RATES = [0.01, 0.1, 0.4]


def rngs_for(n: int, seed: int) -> Rngs:
    return Rngs.for_samples([f"text-{i}" for i in range(n)], seed=seed, step="test")


def perturb(p: object, text: str, rate: float, seed: int) -> str:
    out: list[str] = p.perturb([text], rate, rngs_for(1, seed))  # type: ignore[attr-defined]
    return out[0]


def assert_binomial(count: int, n: int, p: float) -> None:
    """`count` is within 4 standard deviations (plus one) of Binomial(n, p)'s mean."""
    assert abs(count - n * p) <= 4 * np.sqrt(n * p * (1 - p)) + 1, (count, n, p)


VOCABULARY = (
    "the of and to in is that for it with as was on be at by this had not are but from or have "
    "an they which one you were all we when there can more if out so said what up its about "
    "office fish flat field fly typical explain review quickly Zürich café naïve señor résumé "
    "Paris OK NASA Monday"
)
WORDS = VOCABULARY.split()


def make_text(n_words: int = 4000, *, seps: tuple[str, ...] = (" ",), seed: int = 77) -> str:
    """Prose-like text from WORDS with the given separators (fixed data, its own generator)."""
    rng = np.random.default_rng(seed)
    words = rng.choice(WORDS, size=n_words)
    chosen = rng.choice(list(seps), size=n_words - 1)
    return "".join(f"{w}{s}" for w, s in zip(words, chosen, strict=False)) + str(words[-1])


LONG_TEXT = make_text(seps=(" ", " ", " ", ", ", ". ", "; ", "! "))

# ---------------------------------------------------------------------------------------------
# Homoglyphs

# Look-alike -> the Latin letter it imitates; the test's own table.
LOOK_ALIKES = {
    "а": "a", "с": "c", "ϲ": "c", "ԁ": "d", "е": "e", "һ": "h", "і": "i", "ј": "j",
    "о": "o", "ο": "o", "р": "p", "ԛ": "q", "ѕ": "s", "ԝ": "w", "х": "x", "у": "y",
    "А": "A", "Α": "A", "В": "B", "Β": "B", "С": "C", "Ϲ": "C", "Е": "E", "Ε": "E",
    "Н": "H", "Η": "H", "І": "I", "Ι": "I", "Ј": "J", "К": "K", "Κ": "K", "М": "M",
    "Μ": "M", "Ν": "N", "О": "O", "Ο": "O", "Р": "P", "Ρ": "P", "Ѕ": "S", "Т": "T",
    "Τ": "T", "Х": "X", "Χ": "X", "Ү": "Y", "Υ": "Y", "Ζ": "Z",
}  # fmt: skip
WITH_LOOK_ALIKE = set(LOOK_ALIKES.values())


@pytest.mark.parametrize("rate", RATES)
@ignore_realism
def test_homoglyphs_replace_the_requested_share_of_letters_by_look_alikes(
    rate: float, seed: int
) -> None:
    out = perturb(Homoglyphs(), LONG_TEXT, rate, seed)
    assert len(out) == len(LONG_TEXT)
    changed = [(a, b) for a, b in zip(LONG_TEXT, out, strict=True) if a != b]
    assert all(LOOK_ALIKES.get(b) == a for a, b in changed)
    assert_binomial(len(changed), sum(c in WITH_LOOK_ALIKE for c in LONG_TEXT), rate)
    assert "".join(LOOK_ALIKES.get(c, c) for c in out) == LONG_TEXT
    assert all(unicodedata.name(b).split()[0] in {"CYRILLIC", "GREEK"} for _, b in changed)


def test_higher_homoglyph_rate_keeps_every_replacement_of_a_lower_one(seed: int) -> None:
    low = perturb(Homoglyphs(), LONG_TEXT, 0.05, seed)
    high = perturb(Homoglyphs(), LONG_TEXT, 0.2, seed)
    kept = [h == lo for lo, h, o in zip(low, high, LONG_TEXT, strict=True) if lo != o]
    assert kept
    assert all(kept)


# ---------------------------------------------------------------------------------------------
# Zero-width characters

ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff"


@pytest.mark.parametrize("rate", RATES)
@ignore_realism
def test_zero_width_insertions_per_character_match_the_rate(rate: float, seed: int) -> None:
    out = perturb(ZeroWidth(), LONG_TEXT, rate, seed)
    inserted = sum(c in ZERO_WIDTH for c in out)
    assert_binomial(inserted, len(LONG_TEXT), rate)
    assert out.translate({ord(c): None for c in ZERO_WIDTH}) == LONG_TEXT
    assert out[0] not in ZERO_WIDTH  # inserted after characters, never before the first
    assert {c for c in out if c in ZERO_WIDTH} == set(ZERO_WIDTH)


# ---------------------------------------------------------------------------------------------
# Unicode variants


def variant_sites(text: str) -> int:
    """Eligible sites, scanning left to right: "fi"/"fl" pairs, then single characters."""
    count, i = 0, 0
    while i < len(text):
        if text[i : i + 2] in ("fi", "fl"):
            count, i = count + 1, i + 2
            continue
        c = text[i]
        ascii_alnum = c.isascii() and c.isalnum()
        precomposed = c.isalpha() and len(unicodedata.normalize("NFD", c)) > 1
        count += ascii_alnum or precomposed or c == " "
        i += 1
    return count


def variants_in(text: str) -> int:
    """Characters in a variant form; each decomposed letter has one combining mark here."""
    return sum(
        c in "\ufb01\ufb02\u00a0" or "\uff10" <= c <= "\uff5a" or unicodedata.category(c) == "Mn"
        for c in text
    )


@pytest.mark.parametrize("rate", RATES)
@ignore_realism
def test_unicode_variants_rewrite_the_requested_share_of_eligible_characters(
    rate: float, seed: int
) -> None:
    out = perturb(UnicodeVariants(), LONG_TEXT, rate, seed)
    assert variants_in(LONG_TEXT) == 0
    assert_binomial(variants_in(out), variant_sites(LONG_TEXT), rate)
    assert unicodedata.normalize("NFKC", out) == unicodedata.normalize("NFKC", LONG_TEXT)


@ignore_realism
@settings(max_examples=80, deadline=None)
@given(text=st.text(max_size=40), seed=st.integers(0, 2**32 - 1), rate=st.sampled_from([0.3, 1]))
def test_unicode_variants_are_equal_to_the_original_under_nfkc(
    text: str, seed: int, rate: float
) -> None:
    out = perturb(UnicodeVariants(), text, rate, seed)
    assert unicodedata.normalize("NFKC", out) == unicodedata.normalize("NFKC", text)


@ignore_realism
def test_decomposed_form_alone_is_canonically_equivalent(seed: int) -> None:
    text = "Crème brûlée in Zürich, señor: the café is naïve."
    out = perturb(UnicodeVariants(forms=["decomposed"]), text, 1.0, seed)
    assert out == unicodedata.normalize("NFD", text)
    assert unicodedata.normalize("NFC", out) == text
    assert (
        perturb(UnicodeVariants(forms=["ligature"]), "fine flow", 1.0, seed) == "\ufb01ne \ufb02ow"
    )
    assert perturb(UnicodeVariants(forms=["fullwidth", "nbsp"]), "A1 b", 1.0, seed) == (
        "\uff21\uff11\u00a0\uff42"
    )


@pytest.mark.parametrize("forms", [[], "nbsp", ["nfkc"], None])
def test_unicode_variant_forms_are_validated(forms: object) -> None:
    with pytest.raises(ParameterError, match=r"text\.unicode_variants: forms must be a non-empty"):
        UnicodeVariants(forms=forms)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# Smart punctuation

TYPOGRAPHIC = "“”‘’–—…"
STRAIGHT_TEXT = make_text(
    3000, seps=(' "', '" ', " '", "' ", "'s ", " - ", "--", "... ", " ", " "), seed=5
)
SMART_TEXT = make_text(3000, seps=(" “", "” ", " ‘", "’ ", "’s ", " – ", "—", "… ", " "), seed=6)


def straight_sites(text: str) -> int:
    return len(re.findall(r"\.\.\.|--| - |[\"']", text))


@pytest.mark.parametrize("rate", RATES)
@ignore_realism
def test_straight_marks_become_typographic_at_the_rate(rate: float, seed: int) -> None:
    out = perturb(SmartPunctuation(), STRAIGHT_TEXT, rate, seed)
    assert not any(c in TYPOGRAPHIC for c in STRAIGHT_TEXT)
    assert_binomial(sum(c in TYPOGRAPHIC for c in out), straight_sites(STRAIGHT_TEXT), rate)


@pytest.mark.parametrize("rate", RATES)
@ignore_realism
def test_typographic_marks_become_straight_at_the_rate(rate: float, seed: int) -> None:
    out = perturb(SmartPunctuation(), SMART_TEXT, rate, seed)
    sites = sum(c in TYPOGRAPHIC for c in SMART_TEXT)
    assert_binomial(sites - sum(c in TYPOGRAPHIC for c in out), sites, rate)


@ignore_realism
def test_quotes_open_and_close_from_context(seed: int) -> None:
    p = SmartPunctuation()
    assert perturb(p, "\"Hi,\" she said, 'don't' -- ok...", 1.0, seed) == (
        "“Hi,” she said, ‘don’t’ — ok…"
    )
    assert perturb(p, "“Hi,” she said — ‘don’t’ – ok…", 1.0, seed) == (
        "\"Hi,\" she said -- 'don't' - ok..."
    )


# ---------------------------------------------------------------------------------------------
# Whitespace

SPACED_TEXT = make_text(seps=(" ",))
GAPS = SPACED_TEXT.count(" ")


@pytest.mark.parametrize("rate", RATES)
@ignore_realism
def test_missing_whitespace_merges_the_requested_share_of_gaps(rate: float, seed: int) -> None:
    out = perturb(Whitespace(kinds=["missing"]), SPACED_TEXT, rate, seed)
    assert out.replace(" ", "") == SPACED_TEXT.replace(" ", "")
    assert_binomial(GAPS - out.count(" "), GAPS, rate)


@pytest.mark.parametrize("rate", RATES)
@ignore_realism
def test_extra_whitespace_doubles_the_requested_share_of_gaps_and_ends(
    rate: float, seed: int
) -> None:
    out = perturb(Whitespace(kinds=["extra"]), SPACED_TEXT, rate, seed)
    assert out.split() == SPACED_TEXT.split()
    added = out.count(" ") - GAPS
    assert_binomial(added, GAPS + 2, rate)  # the bare start and end are sites too


@pytest.mark.parametrize("rate", RATES)
@ignore_realism
def test_other_whitespace_replaces_the_requested_share_of_gaps(rate: float, seed: int) -> None:
    out = perturb(Whitespace(kinds=["other"]), SPACED_TEXT, rate, seed)
    odd = sum(c in "\t\n\u00a0" for c in out)
    assert_binomial(odd, GAPS + 2, rate)
    assert out.split() == SPACED_TEXT.split()


@ignore_realism
def test_every_whitespace_kind_at_full_rate(seed: int) -> None:
    assert perturb(Whitespace(kinds=["missing"]), " a b\tc ", 1.0, seed) == "abc"
    assert perturb(Whitespace(kinds=["extra"]), "a b", 1.0, seed) == " a  b "
    out = perturb(Whitespace(kinds=["other"]), "a b  c", 1.0, seed)
    assert re.fullmatch(r"[\t\n\u00a0]a[\t\n\u00a0]b[\t\n\u00a0]c[\t\n\u00a0]", out)


@pytest.mark.parametrize("kinds", [[], "extra", ["tabs"], ["missing", 3]])
def test_whitespace_kinds_are_validated(kinds: object) -> None:
    with pytest.raises(ParameterError, match=r"text\.whitespace: kinds must be a non-empty list"):
        Whitespace(kinds=kinds)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# Punctuation

MARKS = ",.;!?"


@pytest.mark.parametrize("rate", RATES)
@ignore_realism
def test_punctuation_removal_takes_the_requested_share_of_marks(rate: float, seed: int) -> None:
    out = perturb(Punctuation(mode="remove"), LONG_TEXT, rate, seed)
    marks = sum(c in MARKS for c in LONG_TEXT)
    assert_binomial(marks - sum(c in MARKS for c in out), marks, rate)
    assert re.sub(f"[{MARKS}]", "", out) == re.sub(f"[{MARKS}]", "", LONG_TEXT)


CLAUSE_TEXT = make_text(seps=(" ", " ", ". ", "! ", "? ", ", "))


def clause_boundaries(text: str) -> int:
    words = "|".join(CLAUSE_WORDS.split())
    return len(re.findall(rf"(?<=[^\W_]) (?=(?i:{words})\b)", text))


@pytest.mark.parametrize("rate", RATES)
@ignore_realism
def test_punctuation_addition_hits_the_requested_share_of_clause_boundaries_and_sentence_ends(
    rate: float, seed: int
) -> None:
    out = perturb(Punctuation(mode="add"), CLAUSE_TEXT, rate, seed)
    before, after = CLAUSE_TEXT.split(" "), out.split(" ")
    assert len(before) == len(after)  # no space added or removed
    commas = [b for a, b in zip(before, after, strict=True) if b == a + ","]
    ends = [(a, b) for a, b in zip(before, after, strict=True) if a[-1:] in ".!?" and a != b]
    assert_binomial(len(commas), clause_boundaries(CLAUSE_TEXT), rate)
    assert_binomial(len(ends), len(re.findall(r"\w[.!?] ", CLAUSE_TEXT)), rate)
    doubled = [b for a, b in ends if b == a + a[-1]]
    changed = [b for a, b in ends if b[:-1] == a[:-1] and b[-1] in ".!?" and b[-1] != a[-1]]
    assert len(doubled) + len(changed) == len(ends)
    assert_binomial(len(doubled), len(ends), 0.5)


@ignore_realism
def test_added_punctuation_is_a_comma_before_a_clause_or_a_doubled_or_changed_final_mark(
    seed: int,
) -> None:
    texts = ["I went home and slept.", "It's 3.5 km, see www.example.org/a.b?c=1 now"] * 200
    outs = Punctuation(mode="add").perturb(texts, 1.0, rngs_for(len(texts), seed))
    assert set(outs[0::2]) == {f"I went home, and slept{end}" for end in ("..", "!", "?")}
    assert set(outs[1::2]) == {texts[1]}  # no sentence end, no clause word: no site


PUNCTUATION_TOKENS = st.one_of(
    st.sampled_from(
        [
            "don't",
            "it’s",
            "3.5",
            "1,250.50",
            "12:30",
            "https://example.org/a?b=1&c=2.",
            "www.x.com",
            "e.g.",
            "and",
            "But",
            "because",
            "which",
            "done.",
            "why?",
            "wow!",
            "...",
            "—",
            "well-known",
            "so",
        ]
    ),
    st.text(max_size=6),
)
PUNCTUATION_TEXTS = st.lists(PUNCTUATION_TOKENS, max_size=14).map(" ".join)
_TRAILING_MARKS = re.compile(r"[.,!?]+\Z")


@pytest.mark.slow
@ignore_realism  # hypothesis draws rates across the whole [0, 1] limits
@settings(max_examples=200, deadline=None)
@given(text=PUNCTUATION_TEXTS, rate=st.floats(0.0, 1.0), seed=st.integers(0, 2**32 - 1))
def test_added_punctuation_never_lands_inside_a_word_number_or_url(
    text: str, rate: float, seed: int
) -> None:
    """Whitespace stays as it was, and each token changes only in its trailing marks."""
    out = perturb(Punctuation(mode="add"), text, rate, seed)
    assert re.findall(r"\s+", out) == re.findall(r"\s+", text)
    for before, after in zip(re.split(r"\s+", text), re.split(r"\s+", out), strict=True):
        assert _TRAILING_MARKS.sub("", before) == _TRAILING_MARKS.sub("", after), (text, out)


@ignore_realism
def test_both_punctuation_modes_remove_marks_and_add_slips(seed: int) -> None:
    """Marks that stand alone (; and -) can only be removed; commas only added."""
    rate = 0.3
    text = make_text(seps=(" ", " ; ", " - "))
    out = perturb(Punctuation(), text, rate, seed)
    marks = sum(c in ";-" for c in text)
    assert_binomial(out.count(","), clause_boundaries(text), rate)
    assert_binomial(marks - sum(c in ";-" for c in out), marks, rate)


@ignore_realism
def test_removed_mark_between_spaces_takes_one_space(seed: int) -> None:
    assert perturb(Punctuation(mode="remove"), "fox - dog, (cat).", 1.0, seed) == "fox dog cat"


@pytest.mark.parametrize("mode", ["delete", "", None, ["add"]])
def test_punctuation_mode_is_validated(mode: object) -> None:
    with pytest.raises(ParameterError, match=r"text\.punctuation: mode must be one of"):
        Punctuation(mode=mode)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# Casing

LOWER_TEXT = make_text(seps=(" ", ", ")).lower()


def word_list(text: str) -> list[str]:
    return re.findall(r"[^\W\d_]+(?:'[^\W\d_]+)*", text)


@pytest.mark.parametrize(("style", "rate"), [("upper", 0.05), ("title", 0.2), ("upper", 0.4)])
@ignore_realism
def test_recased_share_of_words_matches_the_rate(style: str, rate: float, seed: int) -> None:
    """On lower-case text every chosen word of two letters or more changes in these styles."""
    out = perturb(Casing(style=style), LOWER_TEXT, rate, seed)
    before, after = word_list(LOWER_TEXT), word_list(out)
    eligible = [(a, b) for a, b in zip(before, after, strict=True) if len(a) > 1]
    changed = [(a, b) for a, b in eligible if a != b]
    assert_binomial(len(changed), len(eligible), rate)
    expected = str.upper if style == "upper" else str.capitalize
    assert all(b == expected(a) for a, b in changed)


@pytest.mark.parametrize("rate", [0.1, 0.5])
@ignore_realism
def test_random_casing_flips_half_the_letters_of_chosen_words(rate: float, seed: int) -> None:
    out = perturb(Casing(style="random"), LOWER_TEXT, rate, seed)
    assert out.lower() == LOWER_TEXT
    letters = sum(c.isalpha() for c in LOWER_TEXT)
    assert_binomial(sum(c.isupper() for c in out), letters, rate / 2)


@ignore_realism
def test_lower_casing_changes_only_words_with_capitals(seed: int) -> None:
    text = "The NASA probe left Kourou on Monday"
    assert perturb(Casing(), text, 1.0, seed) == text.lower()
    assert perturb(Casing(style="upper"), text.upper(), 1.0, seed) == text.upper()


@pytest.mark.parametrize("style", ["camel", "", None])
def test_casing_style_is_validated(style: object) -> None:
    with pytest.raises(ParameterError, match=r"text\.casing: style must be one of"):
        Casing(style=style)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# All


@pytest.mark.parametrize(
    "p",
    [
        Homoglyphs(),
        ZeroWidth(),
        UnicodeVariants(),
        SmartPunctuation(),
        Whitespace(),
        Punctuation(),
        Casing(style="random"),
    ],
    ids=lambda p: p.name,
)
def test_zero_rate_leaves_text_unchanged(p: object, seed: int) -> None:
    text = LONG_TEXT + STRAIGHT_TEXT + SMART_TEXT
    assert p.perturb_text(text, 0.0, rngs_for(1, seed)[0]) == text  # type: ignore[attr-defined]
