"""Per-sample metrics and error modes of text outputs (OCR, transcripts, generated answers).

Each function compares a batch of n hypotheses (the perturbed outputs) with n references (the
clean outputs of the same samples, or their ground-truth texts) pair by pair: a sample's value
never depends on the batch's other samples. Edit distances are Levenshtein distances computed
by rapidfuzz (unit costs for substitution, deletion and insertion).

Texts are compared as given: characters are Unicode code points and nothing is normalised (no
case folding, Unicode normalisation, punctuation removal or stripping); normalise both sides
first if that matters. Words are the runs of non-whitespace characters (`str.split()`), which
for space-separated texts is jiwer's default word convention.

Edit operations are read from the reference to the hypothesis: a *deletion* is a reference
fragment missing from the hypothesis, an *insertion* a hypothesis fragment absent from the
reference.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from rapidfuzz.distance import Levenshtein
from rapidfuzz.process import cpdist

from wince.errors import DataError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Level = Literal["character", "word"]
Tokens = str | list[str]

# rapidfuzz's edit tags and the names the functions below report them under
_OPERATIONS = {"replace": "substitution", "delete": "deletion", "insert": "insertion"}
CONFUSION_COLUMNS = ("operation", "reference", "hypothesis", "count")


def character_error_rate(hypotheses: Sequence[str], references: Sequence[str]) -> FloatArray:
    """Character error rate of each hypothesis against its reference.

    The Levenshtein distance in characters (substitutions + deletions + insertions) over the
    number of reference characters; in [0, inf) (above 1 when the hypothesis is longer than
    its reference). A reference of 0 characters counts as 1: its rate is 0.0 if the
    hypothesis is empty too, else the hypothesis length (all its characters are insertions).

    Returns:
        (n,) float64 rates, 0 where the texts are equal.

    >>> character_error_rate(["kitten", "", "abc"], ["sitting", "", ""]).tolist()
    [0.42857142857142855, 0.0, 3.0]
    """
    return _error_rate(hypotheses, references, "character")


def word_error_rate(hypotheses: Sequence[str], references: Sequence[str]) -> FloatArray:
    """Word error rate of each hypothesis against its reference.

    The Levenshtein distance in words over the number of reference words; in [0, inf). A
    reference without words counts as 1 word: its rate is 0.0 if the hypothesis has no words
    either, else the hypothesis's word count. Words are split at whitespace (see the module).

    Returns:
        (n,) float64 rates, 0 where the word sequences are equal.

    >>> word_error_rate(["the cat sat", "a b"], ["the cat sat down", "a  b "]).tolist()
    [0.25, 0.0]
    """
    return _error_rate(hypotheses, references, "word")


def exact_match(hypotheses: Sequence[str], references: Sequence[str]) -> FloatArray:
    """1.0 where a hypothesis equals its reference character for character, else 0.0.

    >>> exact_match(["abc", "abc "], ["abc", "abc"]).tolist()
    [1.0, 0.0]
    """
    _check_pairs(hypotheses, references)
    return np.array([h == r for h, r in zip(hypotheses, references, strict=True)], np.float64)


def edit_counts(
    hypotheses: Sequence[str], references: Sequence[str], *, level: Level = "character"
) -> dict[str, IntArray]:
    """The edit operations of one minimal alignment of each hypothesis with its reference.

    Per sample, `substitutions + deletions + insertions` is the Levenshtein distance,
    `substitutions + deletions + matches` the reference length and `substitutions + insertions
    + matches` the hypothesis length (in characters or words).

    Returns:
        `{"substitutions", "deletions", "insertions"}`, each (n,) int64 counts >= 0.

    >>> {k: v.tolist() for k, v in edit_counts(["sitting"], ["kitten"]).items()}
    {'substitutions': [2], 'deletions': [0], 'insertions': [1]}
    """
    _check_pairs(hypotheses, references)
    counts = {f"{name}s": np.zeros(len(references), np.int64) for name in _OPERATIONS.values()}
    for i, (hypothesis, reference) in enumerate(zip(hypotheses, references, strict=True)):
        for edit in Levenshtein.editops(_tokens(reference, level), _tokens(hypothesis, level)):
            counts[f"{_OPERATIONS[edit.tag]}s"][i] += 1
    return counts


def confusions(
    hypotheses: Sequence[str],
    references: Sequence[str],
    *,
    level: Level = "character",
    top: int = 10,
) -> pd.DataFrame:
    """The most frequent edit operations over a batch: which characters (or words) go wrong.

    Each edit of each sample's minimal alignment counts once: a substitution as its (reference,
    hypothesis) pair of single characters (or words), a deletion as its reference fragment, an
    insertion as its hypothesis fragment.

    Args:
        hypotheses: the n compared texts.
        references: the n texts they are compared with.
        level: "character" or "word".
        top: the number of rows kept (>= 0).

    Returns:
        Columns `operation` ("substitution", "deletion" or "insertion"), `reference` ("" for
        an insertion), `hypothesis` ("" for a deletion) and `count` (int64 >= 1), at most
        `top` rows; most frequent first, ties ordered substitution, deletion, insertion, then
        by reference and hypothesis text (code point order). Empty when no sample has an edit.

    >>> confusions(["sitting", "sit"], ["kitten", "kit"], top=3)
          operation reference hypothesis  count
    0  substitution         k          s      2
    1  substitution         e          i      1
    2     insertion                    g      1
    """
    _check_pairs(hypotheses, references)
    if top < 0:
        raise DataError(f"confusions: top must be >= 0; got {top}.")
    counter: Counter[tuple[str, str, str]] = Counter()
    for hypothesis, reference in zip(hypotheses, references, strict=True):
        source, target = _tokens(reference, level), _tokens(hypothesis, level)
        for edit in Levenshtein.editops(source, target):
            counter[
                (
                    _OPERATIONS[edit.tag],
                    source[edit.src_pos] if edit.tag != "insert" else "",
                    target[edit.dest_pos] if edit.tag != "delete" else "",
                )
            ] += 1
    order = list(_OPERATIONS.values())
    ranked = sorted(
        counter.items(),
        key=lambda item: (-item[1], order.index(item[0][0]), item[0][1], item[0][2]),
    )[:top]
    frame = pd.DataFrame(
        [(*edit, count) for edit, count in ranked], columns=list(CONFUSION_COLUMNS)
    )
    return frame.astype({"operation": str, "reference": str, "hypothesis": str, "count": "int64"})


def diff_segments(reference: str, hypothesis: str) -> list[tuple[str, str, str]]:
    """A character alignment of a hypothesis with its reference, as segments to draw a diff.

    Returns:
        `(tag, reference_text, hypothesis_text)` in reading order; tag is "equal", "replace",
        "delete" (hypothesis text "") or "insert" (reference text ""). The reference texts
        concatenate to the reference, the hypothesis texts to the hypothesis. Two empty texts
        give no segments.

    >>> diff_segments("kitten", "sitting")  # doctest: +NORMALIZE_WHITESPACE
    [('replace', 'k', 's'), ('equal', 'itt', 'itt'), ('replace', 'e', 'i'),
     ('equal', 'n', 'n'), ('insert', '', 'g')]
    """
    _check_pairs([hypothesis], [reference])
    return [
        (op.tag, reference[op.src_start : op.src_end], hypothesis[op.dest_start : op.dest_end])
        for op in Levenshtein.opcodes(reference, hypothesis)
    ]


def _error_rate(hypotheses: Sequence[str], references: Sequence[str], level: Level) -> FloatArray:
    """Levenshtein distance over the reference length (at least 1), per pair."""
    _check_pairs(hypotheses, references)
    if not references:
        return np.zeros(0, np.float64)
    sources = [_tokens(reference, level) for reference in references]
    targets = [_tokens(hypothesis, level) for hypothesis in hypotheses]
    distances = cpdist(sources, targets, scorer=Levenshtein.distance)
    lengths = np.array([max(len(source), 1) for source in sources], np.float64)
    rates: FloatArray = distances / lengths
    return rates


def _tokens(text: str, level: Level) -> Tokens:
    """The units edits count: the text itself (its characters) or its words."""
    if level == "character":
        return text
    if level == "word":
        return text.split()
    raise DataError(f"level must be 'character' or 'word'; got {level!r}.")


def _check_pairs(hypotheses: Sequence[str], references: Sequence[str]) -> None:
    """Raise DataError unless both are equally long sequences of str."""
    if len(hypotheses) != len(references):
        raise DataError(
            f"text metrics compare one hypothesis per reference; got {len(hypotheses)} "
            f"hypotheses and {len(references)} references."
        )
    for name, texts in (("hypotheses", hypotheses), ("references", references)):
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise DataError(
                    f"text metrics compare str outputs; {name}[{i}] is "
                    f"{type(text).__name__}. Convert model outputs and labels to str first."
                )
