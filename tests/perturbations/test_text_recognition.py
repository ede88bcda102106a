"""OCR and speech-to-text errors: measured error rates, what may change, what must stay."""

from __future__ import annotations

import re

import numpy as np
import pytest
from rapidfuzz.distance import OSA, Levenshtein

from wince.errors import ParameterError
from wince.perturbations import Rngs
from wince.perturbations.text.recognition import OcrErrors, SpeechErrors

ignore_realism = pytest.mark.filterwarnings("ignore::wince.errors.RealismWarning")


def rngs_for(n: int, seed: int) -> Rngs:
    return Rngs.for_samples([f"text-{i}" for i in range(n)], seed=seed, step="test")


def binomial_tolerance(n: int, p: float) -> float:
    """4 standard deviations of a Binomial(n, p) count, plus one for rounding."""
    return 4 * float(np.sqrt(n * p * (1 - p))) + 1


# ---------------------------------------------------------------------------------------------
# OCR

# The confusions the task asks for: printed glyphs -> what OCR may read instead.
CONFUSIONS = {
    "rn": {"m"},
    "m": {"rn"},
    "cl": {"d"},
    "d": {"cl"},
    "vv": {"w"},
    "w": {"vv"},
    "ri": {"n"},
    "n": {"ri"},
    "l": {"1", "I"},
    "1": {"l", "I"},
    "I": {"l", "1"},
    "O": {"0"},
    "0": {"O"},
    "S": {"5"},
    "5": {"S"},
    "B": {"8"},
    "8": {"B"},
    "Z": {"2"},
    "2": {"Z"},
    "e": {"c"},
    "c": {"e"},
    "h": {"b"},
    "b": {"h"},
    "u": {"v"},
    "v": {"u"},
}
# "k" is never confused, so it keeps the sites apart and marks where each one ends.
OCR_TOKENS = [str(t) for t in np.random.default_rng(5).choice(sorted(CONFUSIONS), size=4000)]
OCR_TEXT = "k".join(OCR_TOKENS)

PROSE = (
    "It was a bright cold day in April, and the clocks were striking thirteen. The committee "
    "met on Tuesday to review the budget for the new library, which had been delayed twice "
    "because the contractor could not deliver the steel frames on time. Members asked whether "
    "the council would cover the extra cost, and the chair promised a written answer within "
    "two weeks. Meanwhile, residents of the northern district have started a petition calling "
    "for longer opening hours and more computers for children who have no internet at home. "
)


def misread_tokens(out: str) -> list[tuple[str, str]]:
    """(printed, read) for every token OCR changed; the token structure must be intact."""
    read = out.split("k")
    assert len(read) == len(OCR_TOKENS)
    return [(a, b) for a, b in zip(OCR_TOKENS, read, strict=True) if a != b]


@pytest.mark.parametrize("rate", [0.01, 0.05, 0.15, 0.5])
@pytest.mark.filterwarnings("ignore::wince.errors.RealismWarning")
def test_measured_share_of_misread_sites_matches_the_ocr_rate(rate: float, seed: int) -> None:
    out = OcrErrors().perturb([OCR_TEXT], rate, rngs_for(1, seed))[0]
    misread = misread_tokens(out)
    n = len(OCR_TOKENS)
    assert abs(len(misread) - rate * n) <= binomial_tolerance(n, rate)
    assert all(read in CONFUSIONS[printed] for printed, read in misread)


def test_zero_ocr_rate_leaves_text_unchanged(seed: int) -> None:
    rng = rngs_for(1, seed)[0]
    assert OcrErrors().perturb_text(OCR_TEXT + PROSE, 0.0, rng) == OCR_TEXT + PROSE
    assert OcrErrors().perturb([PROSE, ""], 0.0, rngs_for(2, seed)) == [PROSE, ""]


@ignore_realism
def test_ocr_reads_the_longest_confusable_sequence_first(seed: int) -> None:
    out = OcrErrors().perturb(["rn cl vv ri Bk"], 1.0, rngs_for(1, seed))[0]
    assert out == "m d w n 8k"


def test_higher_ocr_rate_keeps_every_misreading_of_a_lower_one(seed: int) -> None:
    low = dict(enumerate(OcrErrors().perturb([OCR_TEXT], 0.05, rngs_for(1, seed))[0].split("k")))
    high = OcrErrors().perturb([OCR_TEXT], 0.15, rngs_for(1, seed))[0].split("k")
    changed_low = {i: t for i, t in low.items() if t != OCR_TOKENS[i]}
    assert changed_low
    assert all(high[i] == t for i, t in changed_low.items())


@pytest.mark.parametrize(("rate", "low", "high"), [(0.01, 0.003, 0.01), (0.15, 0.05, 0.11)])
def test_ocr_realistic_range_gives_the_character_error_rates_of_real_ocr(
    rate: float, low: float, high: float, seed: int
) -> None:
    """Clean print ~0.5% CER (mild end), poor scans 5-10% (severe end), on English prose."""
    text = PROSE * 40
    out = OcrErrors().perturb([text], rate, rngs_for(1, seed))[0]
    assert low <= OSA.distance(text, out) / len(text) <= high


# ---------------------------------------------------------------------------------------------
# Speech

HOMOPHONE_SETS = [
    ("their", "there", "they're"),
    ("to", "too", "two"),
    ("your", "you're"),
    ("know", "no"),
    ("right", "write", "rite"),
    ("hear", "here"),
    ("its", "it's"),
    ("buy", "by", "bye"),
    ("for", "four"),
    ("one", "won"),
    ("see", "sea"),
    ("week", "weak"),
]
SOUND = {word: group[0] for group in HOMOPHONE_SETS for word in group}
PLAIN = (
    "table garden purple window carefully bicycle yesterday mountain coffee library umbrella "
    "student the of and a an"
)
PLAIN_WORDS = PLAIN.split()
VOCABULARY = sorted(SOUND) + PLAIN_WORDS
SPEECH_WORDS = [str(w) for w in np.random.default_rng(11).choice(VOCABULARY, size=6000)]
SPEECH_TEXT = " ".join(SPEECH_WORDS)


def sounds(words: list[str]) -> list[str]:
    """Each word as the first word of its homophone set (itself when it has none)."""
    return [SOUND.get(w.lower(), w.lower()) for w in words]


def is_subsequence(short: list[str], long: list[str]) -> bool:
    remaining = iter(long)
    return all(any(w == v for v in remaining) for w in short)


@pytest.mark.parametrize("rate", [0.02, 0.1, 0.3])
def test_measured_word_error_rate_matches_the_rate(rate: float, seed: int) -> None:
    """Each chosen word is one substitution or deletion, so word edits / words = rate.

    Alignment may merge a substitution with the deletion of a neighbouring word of the same
    sound, so the measured edits can fall short by about rate² per word; the tolerance allows it.
    """
    out = SpeechErrors(asr_style=False).perturb([SPEECH_TEXT], rate, rngs_for(1, seed))[0]
    n = len(SPEECH_WORDS)
    edits = Levenshtein.distance(SPEECH_WORDS, out.split())
    assert abs(edits - rate * n) <= binomial_tolerance(n, rate) + rate**2 * n


def test_speech_errors_keep_every_word_not_hit(seed: int) -> None:
    """Output words are the original words in order, minus dropped ones, up to homophones."""
    out = SpeechErrors(asr_style=False).perturb([SPEECH_TEXT], 0.2, rngs_for(1, seed))[0]
    words = out.split()
    assert len(words) < len(SPEECH_WORDS)
    assert is_subsequence(sounds(words), sounds(SPEECH_WORDS))
    assert "  " not in out
    assert out == out.strip()


@ignore_realism
def test_chosen_words_with_homophones_become_one_in_the_same_casing(seed: int) -> None:
    out = SpeechErrors(asr_style=False).perturb(["Their right, THEIR"], 1.0, rngs_for(1, seed))
    first, second, third = re.findall(r"[\w']+", out[0])
    assert first in {"There", "They're"}
    assert second in {"write", "rite"}
    assert third in {"THERE", "THEY'RE"}


@ignore_realism
def test_chosen_words_without_homophones_are_dropped_with_one_space(seed: int) -> None:
    p = SpeechErrors(asr_style=False)
    assert p.perturb(["the purple table"], 1.0, rngs_for(1, seed)) == [""]
    assert p.perturb(["see the garden."], 1.0, rngs_for(1, seed)) == ["sea."]
    assert p.perturb(["a (the fox) is"], 1.0, rngs_for(1, seed)) == ["()"]


@pytest.mark.parametrize("rate", [0.05, 0.3])
@pytest.mark.filterwarnings("ignore::wince.errors.RealismWarning")
def test_asr_style_loses_punctuation_and_capitals_at_the_rate(rate: float, seed: int) -> None:
    """Each mark is lost with probability rate; a capital survives if its word is kept and its
    capital is not lost: probability (1 - rate)², the two draws being independent."""
    rng = np.random.default_rng(3)
    words = [w.capitalize() if rng.random() < 0.5 else w for w in rng.choice(PLAIN_WORDS, 5000)]
    seps = rng.choice([" ", ", ", ". ", "; "], size=len(words))
    text = "".join(f"{w}{s}" for w, s in zip(words, seps, strict=True)).strip()
    capitals = sum(c.isupper() for c in text)
    marks = sum(c in ",.;" for c in text)

    out = SpeechErrors().perturb([text], rate, rngs_for(1, seed))[0]
    kept_capitals = sum(c.isupper() for c in out)
    kept_marks = sum(c in ",.;" for c in out)
    survive = (1 - rate) ** 2
    assert abs(kept_capitals - survive * capitals) <= binomial_tolerance(capitals, survive)
    assert abs(kept_marks - (1 - rate) * marks) <= binomial_tolerance(marks, 1 - rate)


@ignore_realism
def test_asr_style_keeps_marks_inside_words_and_numbers(seed: int) -> None:
    p = SpeechErrors(asr_style=True)
    # Rate 1 drops every word, so only marks inside numbers and the gaps remain.
    out = p.perturb(["pay 3.5 or 1,000 now."], 1.0, rngs_for(1, seed))[0]
    assert "3.5" in out
    assert "1,000" in out
    assert "." not in out.replace("3.5", "")


@ignore_realism
def test_protecting_negations_keeps_no_and_not(seed: int) -> None:
    text = "No, I do not like it and I have no time."
    for s in range(seed, seed + 5):
        out = SpeechErrors(protect=["negations"]).perturb([text], 1.0, rngs_for(1, s))[0]
        assert re.findall(r"\b(?:No|not|no)\b", out) == ["No", "not", "no"]
        assert "  " not in out
        assert out.startswith("No ")


def test_zero_word_error_rate_leaves_text_unchanged(seed: int) -> None:
    rng = rngs_for(1, seed)[0]
    assert SpeechErrors().perturb_text(SPEECH_TEXT + PROSE, 0.0, rng) == SPEECH_TEXT + PROSE


@pytest.mark.parametrize("asr_style", ["yes", 1, None])
def test_asr_style_must_be_a_bool(asr_style: object) -> None:
    with pytest.raises(ParameterError, match=r"text\.speech_errors: asr_style must be true or"):
        SpeechErrors(asr_style=asr_style)  # type: ignore[arg-type]
