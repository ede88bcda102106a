"""Text metrics against jiwer (computed pair by pair) and against hand-counted edits.

jiwer's character measures strip the texts by default; wince compares texts as given, so the
character references here use jiwer with only its character split. Its word measures keep
their default (collapse spaces, strip, split at spaces), which equals `str.split()` on the
space-separated texts used here. jiwer also scores an empty reference as wince does (the
hypothesis's length over 1), so those cases are checked against it too.
"""

from __future__ import annotations

import jiwer
import jiwer.transforms as tr
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wince.errors import DataError
from wince.outputs.text import (
    CONFUSION_COLUMNS,
    character_error_rate,
    confusions,
    diff_segments,
    edit_counts,
    exact_match,
    word_error_rate,
)

CHARACTERS = tr.ReduceToListOfListOfChars()
PAIRS = [  # (hypothesis, reference)
    ("sitting", "kitten"),
    ("the cat sat on mat", "the cat sat on the mat"),
    ("a quick brown fox", "the quick brown fox"),
    ("hello world", "hello world"),
    ("", "abc"),
    ("abc", ""),
    ("", ""),
    ("  spaced  out ", "spaced out"),
    ("café", "cafe"),
    ("e\u0301", "é"),  # decomposed vs precomposed: two code points vs one, not normalised
]
HYPOTHESES = [h for h, _ in PAIRS]
REFERENCES = [r for _, r in PAIRS]

# texts of spaces and a few letters, including non-ASCII ones, so words and edits recur
texts = st.text(alphabet="ab cé\u0301", max_size=12)
batches = st.lists(st.tuples(texts, texts), max_size=6)


def jiwer_character_counts(hypothesis: str, reference: str) -> tuple[int, int, int]:
    out = jiwer.process_characters(
        reference, hypothesis, reference_transform=CHARACTERS, hypothesis_transform=CHARACTERS
    )
    return out.substitutions, out.deletions, out.insertions


def jiwer_word_counts(hypothesis: str, reference: str) -> tuple[int, int, int]:
    out = jiwer.process_words(reference, hypothesis)
    return out.substitutions, out.deletions, out.insertions


def jiwer_cer(hypothesis: str, reference: str) -> float:
    return float(
        jiwer.cer(
            reference, hypothesis, reference_transform=CHARACTERS, hypothesis_transform=CHARACTERS
        )
    )


def jiwer_wer(hypothesis: str, reference: str) -> float:
    return float(jiwer.wer(reference, hypothesis))


def counts_per_sample(counts: dict[str, np.ndarray]) -> list[tuple[int, int, int]]:
    return list(
        zip(
            counts["substitutions"].tolist(),
            counts["deletions"].tolist(),
            counts["insertions"].tolist(),
            strict=True,
        )
    )


# -- hand-written pairs ---------------------------------------------------------------------
def test_error_rates_of_hand_written_pairs_by_hand():
    cer = character_error_rate(HYPOTHESES, REFERENCES)
    wer = word_error_rate(HYPOTHESES, REFERENCES)
    # kitten -> sitting: k/s, e/i, +g over 6 characters
    assert cer[0] == pytest.approx(3 / 6)
    assert wer[1] == pytest.approx(1 / 6)  # "the" deleted from 6 words
    assert wer[2] == pytest.approx(1 / 4)  # the/a
    assert cer[3] == wer[3] == 0.0
    assert cer[4] == 1.0
    assert wer[4] == 1.0
    assert cer[5] == 3.0
    assert wer[5] == 1.0
    assert cer[6] == wer[6] == 0.0  # both empty
    assert cer[7] == pytest.approx(4 / 10)
    assert wer[7] == 0.0
    assert cer[8] == pytest.approx(1 / 4)
    assert cer[9] == 2.0  # "é" -> "e" + combining accent: one substitution, one insertion
    assert exact_match(HYPOTHESES, REFERENCES).tolist() == [0, 0, 0, 1, 0, 0, 1, 0, 0, 0]


def test_hand_written_pairs_match_jiwer():
    np.testing.assert_allclose(
        character_error_rate(HYPOTHESES, REFERENCES),
        [jiwer_cer(h, r) for h, r in PAIRS],
    )
    np.testing.assert_allclose(
        word_error_rate(HYPOTHESES, REFERENCES), [jiwer_wer(h, r) for h, r in PAIRS]
    )
    assert counts_per_sample(edit_counts(HYPOTHESES, REFERENCES)) == [
        jiwer_character_counts(h, r) for h, r in PAIRS
    ]
    assert counts_per_sample(edit_counts(HYPOTHESES, REFERENCES, level="word")) == [
        jiwer_word_counts(h, r) for h, r in PAIRS
    ]


def test_empty_batch_gives_empty_arrays():
    assert character_error_rate([], []).shape == (0,)
    assert word_error_rate([], []).shape == (0,)
    assert exact_match([], []).shape == (0,)
    assert all(v.shape == (0,) for v in edit_counts([], []).values())
    assert list(confusions([], []).columns) == list(CONFUSION_COLUMNS)


# -- properties on random texts -------------------------------------------------------------
@pytest.mark.slow
@settings(max_examples=200, deadline=None)
@given(batches)
def test_per_sample_values_equal_jiwer_per_pair(pairs):
    hypotheses, references = [h for h, _ in pairs], [r for _, r in pairs]
    np.testing.assert_allclose(
        character_error_rate(hypotheses, references), [jiwer_cer(h, r) for h, r in pairs]
    )
    np.testing.assert_allclose(
        word_error_rate(hypotheses, references), [jiwer_wer(h, r) for h, r in pairs]
    )
    assert counts_per_sample(edit_counts(hypotheses, references)) == [
        jiwer_character_counts(h, r) for h, r in pairs
    ]
    assert counts_per_sample(edit_counts(hypotheses, references, level="word")) == [
        jiwer_word_counts(h, r) for h, r in pairs
    ]


@pytest.mark.slow
@settings(max_examples=200, deadline=None)
@given(batches, texts, texts)
def test_values_do_not_depend_on_the_other_samples(pairs, hypothesis, reference):
    alone = character_error_rate([hypothesis], [reference])[0]
    batch = character_error_rate(
        [h for h, _ in pairs] + [hypothesis], [r for _, r in pairs] + [reference]
    )
    assert batch[-1] == alone


@pytest.mark.slow
@settings(max_examples=200, deadline=None)
@given(batches)
def test_edit_counts_add_up_to_the_distance_and_the_lengths(pairs):
    hypotheses, references = [h for h, _ in pairs], [r for _, r in pairs]
    cer = character_error_rate(hypotheses, references)
    counts = edit_counts(hypotheses, references)
    edits = counts["substitutions"] + counts["deletions"] + counts["insertions"]
    for i, (hypothesis, reference) in enumerate(pairs):
        assert edits[i] == round(cer[i] * max(len(reference), 1))
        assert (
            (cer[i] == 0)
            == (hypothesis == reference)
            == bool(exact_match(hypotheses, references)[i])
        )
        # matches are what the reference keeps: the same number from both lengths
        matches = len(reference) - counts["substitutions"][i] - counts["deletions"][i]
        assert matches == len(hypothesis) - counts["substitutions"][i] - counts["insertions"][i]
        assert 0 <= matches <= min(len(reference), len(hypothesis))
    words = edit_counts(hypotheses, references, level="word")
    for i, (hypothesis, reference) in enumerate(pairs):
        keeps = len(reference.split()) - words["substitutions"][i] - words["deletions"][i]
        assert keeps == len(hypothesis.split()) - words["substitutions"][i] - words["insertions"][i]


@settings(max_examples=200, deadline=None)
@given(texts, texts)
def test_diff_segments_rebuild_both_texts_and_count_the_edits(reference, hypothesis):
    segments = diff_segments(reference, hypothesis)
    assert "".join(r for _, r, _ in segments) == reference
    assert "".join(h for _, _, h in segments) == hypothesis
    for tag, r, h in segments:
        assert tag in {"equal", "replace", "delete", "insert"}
        assert (tag == "equal") == (r == h)
        assert (tag == "delete") == (h == "" and r != "")
        assert (tag == "insert") == (r == "" and h != "")
    # a replaced segment is one substitution per character pair, the rest deletions/insertions
    edits = sum(max(len(r), len(h)) for tag, r, h in segments if tag != "equal")
    assert edits == round(
        character_error_rate([hypothesis], [reference])[0] * max(len(reference), 1)
    )


@pytest.mark.slow
@settings(max_examples=100, deadline=None)
@given(batches)
def test_confusions_count_every_edit(pairs):
    hypotheses, references = [h for h, _ in pairs], [r for _, r in pairs]
    table = confusions(hypotheses, references, top=10_000)
    counts = edit_counts(hypotheses, references)
    for operation in ("substitution", "deletion", "insertion"):
        assert (
            table.loc[table.operation == operation, "count"].sum() == counts[f"{operation}s"].sum()
        )
    assert (table.loc[table.operation == "insertion", "reference"] == "").all()
    assert (table.loc[table.operation == "deletion", "hypothesis"] == "").all()
    assert table["reference"].str.len().le(1).all()
    assert table["hypothesis"].str.len().le(1).all()


# -- confusions by hand ---------------------------------------------------------------------
def test_confusions_of_a_small_case_by_hand():
    # "cat" -> "cot" twice: a/o; "cart" -> "cat": r deleted; "at" -> "bat": b inserted;
    # "dog" -> "dig": o/i (each alignment is the only minimal one)
    hypotheses, references = (
        ["cot", "cot", "cat", "bat", "dig"],
        ["cat", "cat", "cart", "at", "dog"],
    )
    table = confusions(hypotheses, references)
    expected = pd.DataFrame(
        [
            ("substitution", "a", "o", 2),
            ("substitution", "o", "i", 1),  # ties: substitutions first, then by reference
            ("deletion", "r", "", 1),
            ("insertion", "", "b", 1),
        ],
        columns=list(CONFUSION_COLUMNS),
    )
    pd.testing.assert_frame_equal(table, expected)
    top_two = confusions(hypotheses, references, top=2)
    pd.testing.assert_frame_equal(top_two, expected.iloc[:2])


def test_word_confusions_by_hand():
    table = confusions(
        ["the dog sat", "a dog sat down"], ["the cat sat", "the cat sat"], level="word"
    )
    expected = pd.DataFrame(
        [
            ("substitution", "cat", "dog", 2),
            ("substitution", "the", "a", 1),
            ("insertion", "", "down", 1),
        ],
        columns=list(CONFUSION_COLUMNS),
    )
    pd.testing.assert_frame_equal(table, expected)


def test_diff_segments_by_hand():
    assert diff_segments("the cat", "the bat!") == [
        ("equal", "the ", "the "),
        ("replace", "c", "b"),
        ("equal", "at", "at"),
        ("insert", "", "!"),
    ]
    assert diff_segments("abc", "") == [("delete", "abc", "")]
    assert diff_segments("", "") == []


# -- errors ---------------------------------------------------------------------------------
def test_mismatched_batches_and_non_text_raise_naming_the_argument():
    with pytest.raises(DataError, match="2 hypotheses and 1 references"):
        character_error_rate(["a", "b"], ["a"])
    with pytest.raises(DataError, match=r"references\[1\] is int"):
        word_error_rate(["a", "b"], ["a", 3])  # type: ignore[list-item]
    with pytest.raises(DataError, match="level must be 'character' or 'word'"):
        edit_counts(["a"], ["b"], level="sentence")  # type: ignore[arg-type]
    with pytest.raises(DataError, match="top must be >= 0"):
        confusions(["a"], ["b"], top=-1)
