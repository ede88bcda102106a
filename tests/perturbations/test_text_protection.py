"""Protected spans survive every text perturbation; distances of text outcomes."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wince.errors import ParameterError
from wince.perturbations import Modality, Rngs, registry
from wince.perturbations.text import PROTECTED_SPANS, TextPerturbation, word_error_rate
from wince.perturbations.text.base import split_protected

TEXT_PERTURBATIONS = {
    name: cls
    for name, cls in registry().items()
    if cls.modality == Modality.TEXT and cls.__module__.startswith("wince.")
}
PROTECT = ["numbers", "negations", "urls", r"#\w+"]

TOKENS = st.one_of(
    st.sampled_from(
        [
            "not",
            "Not",
            "never",
            "don't",
            "won’t",
            "cannot",
            "no",
            "42",
            "3.14",
            "-7",
            "2024-01-05",
            "50%",
            "#keep_me",
            "https://example.org/a?b=1",
            "the",
            "colour",
            "I am",
            "do not",
            "there",
            "rn",
            "café",
            "Zürich",
            "—",
            '"quoted"',
            "'s",
            "...",
        ]
    ),
    st.text(max_size=8),
)
TEXTS = st.lists(TOKENS, max_size=12).map(" ".join)


def protected_pieces(text: str, protect: list[str]) -> list[str]:
    """The spans `protect` names in `text`, found by the test's own pattern union."""
    union = re.compile("|".join(f"(?:{PROTECTED_SPANS.get(p, p)})" for p in protect))
    return [m.group() for m in union.finditer(text) if m.group()]


def occur_in_order(pieces: list[str], text: str) -> bool:
    position = 0
    for piece in pieces:
        found = text.find(piece, position)
        if found < 0:
            return False
        position = found + len(piece)
    return True


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::wince.errors.RealismWarning")  # rate 1 is beyond severe
@pytest.mark.parametrize("cls", list(TEXT_PERTURBATIONS.values()), ids=list(TEXT_PERTURBATIONS))
@settings(max_examples=60, deadline=None)
@given(texts=st.lists(TEXTS, min_size=1, max_size=4), seed=st.integers(0, 2**32 - 1))
def test_protected_spans_survive_at_every_rate(
    cls: type[TextPerturbation], texts: list[str], seed: int
) -> None:
    p = cls(protect=PROTECT)
    high = p.magnitude.limits[1] if np.isfinite(p.magnitude.limits[1]) else p.magnitude.severe
    for value in (p.at_severity(0.6), high):
        rngs = Rngs.for_samples([str(i) for i in range(len(texts))], seed=seed, step=cls.name)
        out = p.perturb(texts, value, rngs)
        for original, perturbed in zip(texts, out, strict=True):
            pieces = protected_pieces(original, PROTECT)
            assert occur_in_order(pieces, perturbed), (original, perturbed, pieces)


@pytest.mark.parametrize(
    ("protect", "text", "expected"),
    [
        (["numbers"], "Pay 1,250.50 by 12/31 or 15%", ["1,250.50", "12/31", "15%"]),
        (["negations"], "I do NOT like it, it isn't nice; never.", ["NOT", "isn't", "never"]),
        (["negations"], "Nothing works and nobody cares", ["Nothing", "nobody"]),
        (["urls"], "see https://example.org/x?id=7 now", ["https://example.org/x?id=7"]),
        (["emails"], "mail ana.b+x@mail.example.com today", ["ana.b+x@mail.example.com"]),
        (["entities"], "Yesterday we met Anna Karenina in Zürich and NASA.", None),
    ],
)
def test_named_spans_find_what_they_promise(
    protect: list[str], text: str, expected: list[str] | None
) -> None:
    found = [
        piece for piece, is_protected in split_protected(text, _compiled(protect)) if is_protected
    ]
    if expected is None:  # entities: names mid-sentence and acronyms, not the sentence opener
        assert found == ["Anna Karenina", "Zürich", "NASA"]
    else:
        assert found == expected


def _compiled(protect: list[str]) -> re.Pattern[str] | None:
    from wince.perturbations.text.base import compile_protection

    return compile_protection("test", protect)


def test_free_and_protected_pieces_rebuild_the_text() -> None:
    text = "not 42 but 43, never 44"
    pieces = split_protected(text, _compiled(["numbers", "negations"]))
    assert "".join(piece for piece, _ in pieces) == text
    assert [piece for piece, protected in pieces if protected] == ["not", "42", "43", "never", "44"]


@pytest.mark.parametrize(
    ("protect", "message"),
    [
        (["numbers", "(unclosed"], r"protect\[1\]='\(unclosed' is neither a named span"),
        (["x*"], "matches the empty string"),
        ("numbers", "must be a list"),
        ([3], "must be a list"),
    ],
)
def test_bad_protect_options_raise_parameter_error(protect: object, message: str) -> None:
    cls = TEXT_PERTURBATIONS["text.typos"]
    with pytest.raises(ParameterError, match=message) as info:
        cls(protect=protect)  # type: ignore[arg-type]
    assert "text.typos" in str(info.value)


@pytest.mark.parametrize(
    ("original", "perturbed", "expected"),
    [
        ("the cat sat", "the cat sat", 0.0),
        ("the cat sat", "the bat sat", 1 / 3),  # one substitution
        ("the cat sat", "the sat", 1 / 3),  # one deletion
        ("the cat sat", "the big cat sat down", 2 / 3),  # two insertions
        ("", "word", 1.0),  # an empty original counts as one word
        ("a b c d", "d c b a", 1.0),  # reversed: no alignment beats 4 substitutions
    ],
)
def test_word_error_rate_counts_word_edits_per_original_word(
    original: str, perturbed: str, expected: float
) -> None:
    assert word_error_rate([original], [perturbed])[0] == pytest.approx(expected)


def is_word(character: str) -> bool:
    return bool(re.fullmatch(r"\w", character))


def spans_hold(original: str, perturbed: str, protect: list[str]) -> bool:
    """Every protected span of `original` occurs in `perturbed`, in order, unchanged, with a word
    character on each side exactly where it had one (the text's edges count as non-word).

    Each span is looked for at its earliest such place after the previous one: if any placement
    exists, this finds one.
    """
    union = re.compile("|".join(f"(?:{PROTECTED_SPANS.get(p, p)})" for p in protect))
    position = 0
    for match in union.finditer(original):
        span = match.group()
        if not span:
            continue
        before = is_word(original[match.start() - 1 : match.start()])
        after = is_word(original[match.end() : match.end() + 1])
        at = perturbed.find(span, position)
        while at >= 0 and (
            is_word(perturbed[at - 1 : at]) != before
            or is_word(perturbed[at + len(span) : at + len(span) + 1]) != after
        ):
            at = perturbed.find(span, at + 1)
        if at < 0:
            return False
        position = at + len(span)
    return True


BOUNDARY_TOKENS = st.one_of(
    st.sampled_from(
        [
            "I am",
            "not",
            "not,",
            "(not)",
            "dont",
            "cant",
            "isnt",
            "no",
            "without",
            "48-48,",
            "60",
            "3.5",
            "https://example.org/a?b=1",
            "#keep",
            "If",
            "is",
            "she",
            ",",
            "-",
            "and",
            "—",
            "it's",
        ]
    ),
    st.text(max_size=6),
)
BOUNDARY_TEXTS = st.lists(BOUNDARY_TOKENS, max_size=12).map(" ".join) | st.lists(
    BOUNDARY_TOKENS, max_size=12
).map("".join)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::wince.errors.RealismWarning")  # rate 1 is beyond severe
@pytest.mark.parametrize("cls", list(TEXT_PERTURBATIONS.values()), ids=list(TEXT_PERTURBATIONS))
@settings(max_examples=80, deadline=None)
@given(texts=st.lists(BOUNDARY_TEXTS, min_size=1, max_size=4), seed=st.integers(0, 2**32 - 1))
def test_protected_spans_are_never_merged_with_or_parted_from_a_neighbour(
    cls: type[TextPerturbation], texts: list[str], seed: int
) -> None:
    p = cls(protect=PROTECT)
    for value in (p.at_severity(0.6), p.magnitude.severe, 1.0):
        rngs = Rngs.for_samples([str(i) for i in range(len(texts))], seed=seed, step=cls.name)
        for original, perturbed in zip(texts, p.perturb(texts, value, rngs), strict=True):
            assert spans_hold(original, perturbed, PROTECT), (original, perturbed)


@pytest.mark.filterwarnings("ignore::wince.errors.RealismWarning")
@pytest.mark.parametrize(
    ("cls", "text"),
    [
        ("text.whitespace", "I am not sure"),
        ("text.word_typos", "My ears can't hear"),
        ("text.typos", "I don't know"),
        ("text.punctuation", "If not, is she"),
        ("text.punctuation", "Voted 48-48, 60 to 40"),
    ],
)
def test_the_merges_seen_on_tweets_no_longer_happen(cls: str, text: str) -> None:
    p = TEXT_PERTURBATIONS[cls](protect=["negations", "numbers"])
    texts = [text] * 300
    rngs = Rngs.for_samples([str(i) for i in range(len(texts))], seed=5, step=cls)
    outputs = p.perturb(texts, 1.0, rngs)
    assert any(out != text for out in outputs)
    assert all(spans_hold(text, out, ["negations", "numbers"]) for out in outputs)


SPACING_TOKENS = st.sampled_from(
    [
        "If",
        "not",
        "not,",
        "(not)",
        "dont.",
        "48-48,",
        "60",
        "-",
        "—",
        ",",
        "is",
        "she.",
        "it's",
        "...",
        "(see",
        "this)",
        "no!",
        "https://example.org/a?b=1",
        "#keep,",
    ]
)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::wince.errors.RealismWarning")
@settings(max_examples=200, deadline=None)
@given(
    words=st.lists(SPACING_TOKENS, max_size=14),
    gaps=st.lists(st.sampled_from([" ", "  ", "\n"]), min_size=14, max_size=14),
)
def test_removing_punctuation_spaces_the_text_alike_with_and_without_protection(
    words: list[str], gaps: list[str]
) -> None:
    """At rate 1 every unprotected mark goes; the whitespace left is the same either way."""
    text = "".join(word + gap for word, gap in zip(words, gaps, strict=False)).rstrip()
    outputs = [
        registry()["text.punctuation"](mode="remove", protect=protect).perturb(
            [text], 1.0, Rngs.for_samples(["a"], seed=0)
        )[0]
        for protect in ([], PROTECT)
    ]
    unprotected, protected = outputs
    assert re.findall(r"\s+", protected) == re.findall(r"\s+", unprotected), (text, outputs)


@pytest.mark.parametrize(
    "negation",
    [
        "dont",
        "cant",
        "wont",
        "isnt",
        "didnt",
        "doesnt",
        "arent",
        "wasnt",
        "werent",
        "couldnt",
        "shouldnt",
        "wouldnt",
        "havent",
        "hasnt",
        "hadnt",
        "never",
        "no",
        "nor",
        "without",
    ],
)
def test_negations_cover_the_forms_typed_without_an_apostrophe(negation: str) -> None:
    text = f"I {negation} think so; {negation.upper()}!"
    found = [p for p, protected in split_protected(text, _compiled(["negations"])) if protected]
    assert found == [negation, negation.upper()]


def test_negations_do_not_match_inside_longer_words() -> None:
    text = "Cantor knows a notable nobleman; dontrun"
    assert [p for p, prot in split_protected(text, _compiled(["negations"])) if prot] == []
