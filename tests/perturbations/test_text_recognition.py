"""OCR and speech-to-text errors: measured error rates, what may change, what must stay."""

from __future__ import annotations

import re
from importlib import resources

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rapidfuzz.distance import OSA, Levenshtein

from wince.errors import ParameterError
from wince.perturbations import Rngs
from wince.perturbations.text.recognition import ERROR_MIX, OcrErrors, SpeechErrors
from wince.perturbations.text.spoken import (
    lexicon_words,
    near_phones,
    phonetic_key,
    spoken_words,
)

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

FUNCTION_WORDS = set(lexicon_words("function_words.txt"))
DEMO_TEXTS = [
    line.split("\t")[1]
    for line in (resources.files("wince.demo") / "sentences.tsv")
    .read_text(encoding="utf-8")
    .splitlines()
    if line and not line.startswith("#")
]
RAW_TEXT = re.compile(r"(?:[^\W\d_]+(?:'[^\W\d_]+)*(?: (?=\S)|$))*")


def word_edits(reference: list[str], hypothesis: list[str]) -> dict[str, int]:
    """Substitutions, deletions and insertions of a minimal word alignment (textbook DP)."""
    rows, cols = len(reference) + 1, len(hypothesis) + 1
    cost = [[0] * cols for _ in range(rows)]
    for i in range(rows):
        cost[i][0] = i
    for j in range(cols):
        cost[0][j] = j
    for i in range(1, rows):
        for j in range(1, cols):
            same = reference[i - 1] == hypothesis[j - 1]
            cost[i][j] = min(
                cost[i - 1][j - 1] + (0 if same else 1), cost[i - 1][j] + 1, cost[i][j - 1] + 1
            )
    counts = {"substitution": 0, "deletion": 0, "insertion": 0}
    i, j = rows - 1, cols - 1
    while i or j:
        same = i and j and reference[i - 1] == hypothesis[j - 1]
        if i and j and cost[i][j] == cost[i - 1][j - 1] + (0 if same else 1):
            counts["substitution"] += 0 if same else 1
            i, j = i - 1, j - 1
        elif i and cost[i][j] == cost[i - 1][j] + 1:
            counts["deletion"] += 1
            i -= 1
        else:
            counts["insertion"] += 1
            j -= 1
    return counts


def said(text: str, **options: str) -> str:
    """The text read aloud, without errors (the reference a WER is measured against)."""
    return " ".join(w.word for w in spoken_words(text, **options))


def demo_edits(rate: float, seed: int) -> tuple[dict[str, int], int]:
    """Word edits of speech errors at `rate` over the demo sentences, and their spoken words."""
    out = SpeechErrors().perturb(DEMO_TEXTS, rate, rngs_for(len(DEMO_TEXTS), seed))
    totals = {"substitution": 0, "deletion": 0, "insertion": 0}
    words = 0
    for text, heard in zip(DEMO_TEXTS, out, strict=True):
        reference = said(text).split()
        words += len(reference)
        for kind, count in word_edits(reference, heard.split()).items():
            totals[kind] += count
    return totals, words


def test_reference_word_alignment_counts_each_kind() -> None:
    assert word_edits(["a", "b", "c", "d"], ["a", "x", "c", "d", "e"]) == {
        "substitution": 1,
        "deletion": 0,
        "insertion": 1,
    }
    assert word_edits(["a", "b", "c"], ["c"])["deletion"] == 2


@pytest.mark.parametrize("rate", [0.05, 0.1, 0.3])
def test_measured_wer_on_the_demo_sentences_is_the_rate(rate: float, seed: int) -> None:
    edits, words = demo_edits(rate, seed)
    assert words > 2500
    assert abs(sum(edits.values()) / words - rate) <= 0.2 * rate, edits


def test_errors_mix_substitutions_deletions_and_insertions_as_recognisers_do(seed: int) -> None:
    edits, _ = demo_edits(0.3, seed)
    total = sum(edits.values())
    for kind, share in ERROR_MIX.items():
        assert abs(edits[kind] / total - share) <= 0.07, edits


def test_errors_of_a_lower_rate_are_kept_at_a_higher_one(seed: int) -> None:
    """Every word of the spoken text still right at the higher rate was right at the lower."""
    texts = DEMO_TEXTS[:60]
    low, high = (SpeechErrors().perturb(texts, r, rngs_for(len(texts), seed)) for r in (0.1, 0.3))
    for text, a, b in zip(texts, low, high, strict=True):
        reference = said(text).split()
        assert Levenshtein.distance(reference, a.split()) <= Levenshtein.distance(
            reference, b.split()
        ) or word_edits(reference, a.split()) == word_edits(reference, b.split())


TWEET_PIECES = st.sampled_from(
    [
        "Hello,",
        "WORLD!!!",
        "not,receive",
        "thyme four sum -.69",
        "http://t.co/x_y?z=1",
        "https://www.example.org/a/b.",
        "www.wince.dev",
        "ana.b+x@mail.example.com",
        "@user_name",
        "#BlackFriday",
        "(see",
        "this)",
        "it's",
        "don’t",
        "well-known",
        "3.5%",
        "$5",
        "1,250.50",
        "21st",
        "2024-01-05",
        "10:30",
        "😀",
        "...",
        "—",
        ",",
        "&",
        "Zürich",
        "naïve",
        "I",
        "the",
        "there",
        "kettle",
    ]
)
TWEETS = st.lists(TWEET_PIECES, max_size=14).map(" ".join) | st.lists(TWEET_PIECES, max_size=8).map(
    "".join
)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::wince.errors.RealismWarning")
@settings(max_examples=200, deadline=None)
@given(texts=st.lists(TWEETS, min_size=1, max_size=4), seed=st.integers(0, 2**32 - 1))
def test_output_is_lower_case_words_without_punctuation_or_links(
    texts: list[str], seed: int
) -> None:
    p = SpeechErrors(hesitations=True)
    for rate in (0.05, 0.3, 1.0):
        rngs = Rngs.for_samples([str(i) for i in range(len(texts))], seed=seed, step="asr")
        for out in p.perturb(texts, rate, rngs):
            assert RAW_TEXT.fullmatch(out), out
            assert out == out.lower()
            assert not re.search(r"http|www|_", out), out


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (", hello", "hello"),
        ("thyme four sum -.69", "thyme four sum minus point six nine"),
        ("I did not,receive it", "i did not receive it"),
        ("see http://t.co/x_y?z=1 now", "see t dot co now"),
        ("mail ana.b@mail.example.com", "mail ana b at mail dot example dot com"),
        ("@wince_dev #BlackFriday", "at wince dev hashtag blackfriday"),
        (
            "It's 69 and 1,250.50",
            "it's sixty nine and one thousand two hundred fifty point five zero",
        ),
        ("the 3rd, 21st and 12th", "the third twenty first and twelfth"),
        ("$5 or 50% or 007", "five dollars or fifty percent or zero zero seven"),
        ("2024-01-05 at 10:30", "two thousand twenty four zero one zero five at ten thirty"),
        ("Rock & roll, well-known", "rock and roll well known"),
        ("-7 and +3 but x-5", "minus seven and plus three but x five"),
    ],
)
def test_text_is_said_as_a_recogniser_writes_it(text: str, expected: str) -> None:
    assert SpeechErrors().perturb_text(text, 0.0, np.random.default_rng(0)) == expected


@pytest.mark.parametrize(
    ("options", "text", "expected"),
    [
        (
            {"numbers": "digits"},
            "pay -.69, 1,250 or 3rd 50%",
            "pay minus 0.69 1,250 or 3rd 50 percent",
        ),
        ({"links": "dropped"}, "see www.example.org or @bob now", "see or now"),
        ({"style": "restored"}, "hello, World. it is 5!", "Hello, World. It is five!"),
        ({"style": "restored", "numbers": "digits"}, "(I paid $5)... ok?", "I paid 5 dollars. Ok?"),
    ],
)
def test_options_keep_digits_drop_links_or_restore_casing_and_marks(
    options: dict[str, str], text: str, expected: str
) -> None:
    p = SpeechErrors(**options)  # type: ignore[arg-type]
    assert p.perturb_text(text, 0.0, np.random.default_rng(0)) == expected


@ignore_realism
def test_substitutes_sound_like_the_word(seed: int) -> None:
    out = SpeechErrors().perturb(["their kettle"] * 50, 1.0, rngs_for(50, seed))
    firsts = {o.split()[0] for o in out if len(o.split()) >= 2}
    assert firsts <= {"there", "they're", "their"} | FUNCTION_WORDS
    assert {"there", "they're"} & firsts
    assert near_phones("kettle")[0] == "cattle"
    assert set(near_phones("right")) == {"write", "rite"}


def test_the_phonetic_key_hears_silent_letters_and_letter_groups() -> None:
    assert phonetic_key("knight") == phonetic_key("night")
    assert phonetic_key("phone") == phonetic_key("fone")
    assert phonetic_key("write") == phonetic_key("right")
    assert phonetic_key("cell") == phonetic_key("sell")
    assert phonetic_key("kettle") != phonetic_key("table")


@ignore_realism
def test_deletions_take_only_function_words_and_insertions_add_them(seed: int) -> None:
    """With only function words to delete, a text keeps every content word or a sound-alike."""
    text = "purple garden umbrella the of a mountain coffee"
    outs = SpeechErrors().perturb([text] * 200, 1.0, rngs_for(200, seed))
    for out in outs:
        content = [w for w in out.split() if w not in FUNCTION_WORDS]
        assert len(content) >= 5, out
    assert not any("uh" in o.split() or "um" in o.split() for o in outs)
    hesitant = SpeechErrors(hesitations=True).perturb([text] * 200, 1.0, rngs_for(200, seed))
    assert any("uh" in o.split() or "um" in o.split() for o in hesitant)


@ignore_realism
def test_protecting_negations_keeps_no_and_not(seed: int) -> None:
    text = "No, I do not like it and I have no time."
    for s in range(seed, seed + 5):
        out = SpeechErrors(protect=["negations"]).perturb([text], 1.0, rngs_for(1, s))[0]
        assert re.findall(r"\b(?:No|not|no)\b", out) == ["No", "not", "no"]
        assert "  " not in out
        assert out.startswith("No ")


@ignore_realism
def test_a_word_glued_to_a_protected_span_stays_glued(seed: int) -> None:
    outs = SpeechErrors(protect=["numbers"]).perturb(
        ["it was 5kg, 3.5%"] * 20, 1.0, rngs_for(20, seed)
    )
    for out in outs:
        assert re.fullmatch(r"(?:[a-z']+ )*5[a-z]+(?: [a-z']+)* 3\.5%", out), out


def test_zero_word_error_rate_leaves_text_unchanged(seed: int) -> None:
    assert SpeechErrors().perturb([PROSE], 0.0, rngs_for(1, seed)) == [PROSE]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"style": "fancy"}, r"style"),
        ({"numbers": "roman"}, r"numbers"),
        ({"links": "kept"}, r"links"),
        ({"hesitations": "yes"}, r"hesitations must be true or false"),
    ],
)
def test_bad_speech_options_raise_parameter_error(options: dict[str, object], message: str) -> None:
    with pytest.raises(ParameterError, match=rf"text\.speech_errors: .*{message}"):
        SpeechErrors(**options)  # type: ignore[arg-type]
