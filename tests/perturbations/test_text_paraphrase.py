"""Light paraphrase: contractions, number formats, fillers, spelling, synonyms, paraphraser hook.

Expected outputs are written out by hand, counts are taken with the test's own patterns, and
numbers and dates are read back with an independent parser (datetime.strptime and a word table).
"""

from __future__ import annotations

import datetime
import math
import re
from importlib import resources

import numpy as np
import pytest

from wince.errors import ParameterError
from wince.perturbations import Rngs, registry
from wince.perturbations.text.paraphrase import (
    Contractions,
    Fillers,
    NumberFormats,
    Paraphrase,
    SpellingVariants,
    Synonyms,
)

ignore_realism = pytest.mark.filterwarnings("ignore::wince.errors.RealismWarning")
LEXICON = resources.files("wince.perturbations.text") / "lexicon"


def rngs_for(n: int, seed: int) -> Rngs:
    return Rngs.for_samples([f"text-{i}" for i in range(n)], seed=seed, step="test")


def at_rate(perturbation: object, texts: list[str], rate: float, seed: int = 0) -> list[str]:
    """Perturb at a rate, ignoring the realism warning of rates beyond the severe end."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return perturbation.perturb(texts, rate, rngs_for(len(texts), seed))  # type: ignore[attr-defined,no-any-return]


def assert_binomial(changed: int, sites: int, rate: float) -> None:
    """`changed` within 4 binomial standard deviations of `sites * rate`."""
    sd = math.sqrt(sites * rate * (1 - rate))
    assert abs(changed - sites * rate) <= 4 * sd + 1, (changed, sites, rate)


def sentences(text: str) -> list[str]:
    return re.split(r"(?<=[.?!]) ", text)


def long_text(pool: list[str], n: int = 400) -> str:
    """`n` sentences drawn from `pool` (fixed data: its own generator)."""
    picks = np.random.default_rng(4242).integers(0, len(pool), size=n)
    return " ".join(pool[i] for i in picks)


def changed_sentences(text: str, out: str) -> list[int]:
    before, after = sentences(text), sentences(out)
    assert len(before) == len(after)
    return [i for i, (a, b) in enumerate(zip(before, after, strict=True)) if a != b]


# ---------------------------------------------------------------------------------------------
# Contractions.

# (full form, contraction): each sentence has exactly one eligible phrase.
CONTRACTION_PAIRS = [
    ("We do not know.", "We don't know."),
    ("She does not care.", "She doesn't care."),
    ("It was not me.", "It wasn't me."),
    ("They will not stay.", "They won't stay."),
    ("I cannot swim.", "I can't swim."),
    ("I am happy.", "I'm happy."),
    ("You are right.", "You're right."),
    ("He is tall.", "He's tall."),
    ("It has been a week.", "It's been a week."),
    ("I would like tea.", "I'd like tea."),
    ("We had gone home.", "We'd gone home."),
    ("They have finished.", "They've finished."),
    ("She will come.", "She'll come."),
    ("That is fine.", "That's fine."),
    ("There is time.", "There's time."),
    ("What is the plan?", "What's the plan?"),
    ("You could have asked.", "You could've asked."),
]


@ignore_realism
@pytest.mark.parametrize(("full", "short"), CONTRACTION_PAIRS)
def test_contracting_and_expanding_round_trip(full: str, short: str) -> None:
    contracted = at_rate(Contractions(direction="contract"), [full], 1.0)[0]
    assert contracted == short
    assert at_rate(Contractions(direction="expand"), [contracted], 1.0)[0] == full
    assert at_rate(Contractions(), [full, short], 1.0) == [short, full]


@ignore_realism
def test_rate_one_toggles_every_phrase_and_rate_zero_none(seed: int) -> None:
    text = (
        " ".join(f for f, _ in CONTRACTION_PAIRS) + " " + " ".join(s for _, s in CONTRACTION_PAIRS)
    )
    expected = (
        " ".join(s for _, s in CONTRACTION_PAIRS) + " " + " ".join(f for f, _ in CONTRACTION_PAIRS)
    )
    p = Contractions()
    assert at_rate(p, [text], 1.0, seed)[0] == expected
    assert p.perturb_text(text, 0.0, np.random.default_rng(seed)) == text


@pytest.mark.parametrize("rate", [0.1, 0.3, 0.5])
def test_measured_share_of_rewritten_phrases_matches_the_rate(rate: float, seed: int) -> None:
    pool = [f for f, _ in CONTRACTION_PAIRS] + [s for _, s in CONTRACTION_PAIRS]
    text = long_text(pool)
    changed = changed_sentences(text, at_rate(Contractions(), [text], rate, seed)[0])
    assert_binomial(len(changed), len(sentences(text)), rate)


def test_higher_rate_keeps_every_change_of_a_lower_rate(seed: int) -> None:
    text = long_text([f for f, _ in CONTRACTION_PAIRS], 200)
    low = set(changed_sentences(text, at_rate(Contractions(), [text], 0.2, seed)[0]))
    high = set(changed_sentences(text, at_rate(Contractions(), [text], 0.5, seed)[0]))
    assert low <= high
    assert len(high) > len(low)


@ignore_realism
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Do not go", "Don't go"),
        ("DO NOT GO", "DON'T GO"),
        ("I AM HERE", "I'M HERE"),
        ("Can't stop", "Cannot stop"),
        ("It’s late and we do not care", "It is late and we don’t care"),
        ("we do not care", "we don't care"),
        ("I’m sure you’re right", "I am sure you are right"),
    ],
)
def test_casing_and_apostrophe_style_are_kept(text: str, expected: str) -> None:
    assert at_rate(Contractions(), [text], 1.0)[0] == expected


@ignore_realism
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I'd like tea", "I would like tea"),  # 'd before a base form: would
        ("I'd gone home", "I had gone home"),  # 'd before a past participle: had
        ("it's been long", "it has been long"),  # 's before been: has
        ("it's late", "it is late"),
        ("Let's go", "Let us go"),
        ("I'd not say", "I'd not say"),  # either reading: left alone
        ("I know what it is.", "I know what it is."),  # no contraction at a clause's end
        ("I have a car.", "I have a car."),  # "have" as a main verb is not contracted
        ("Who is he?", "Who is he?"),
        ("let us go", "let us go"),  # may mean "allow us to go"
        ("I will not go", "I won't go"),  # not "I'll not go"
    ],
)
def test_ambiguous_phrases_follow_the_documented_choice(text: str, expected: str) -> None:
    assert at_rate(Contractions(), [text], 1.0)[0] == expected


def test_unknown_direction_raises_parameter_error() -> None:
    with pytest.raises(ParameterError, match=r"direction must be one of 'both', 'contract'"):
        Contractions(direction="shorten")


# ---------------------------------------------------------------------------------------------
# Number formats.

UNITS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty"
)
TENS = "thirty forty fifty sixty seventy eighty ninety"
WORD_VALUES = {w: i for i, w in enumerate(UNITS.split())} | {
    w: 10 * i for i, w in enumerate(TENS.split(), 3)
}
QUANTITY = re.compile(
    r"(?P<iso>\d{4}-\d\d-\d\d)"
    r"|(?P<written>[A-Z][a-z]+\.? \d{1,2}, \d{4})"
    r"|(?P<percent>\d+(?:\.\d+)?)(?:%| percent)"
    r"|(?P<number>\d{1,3}(?:,\d{3})+|\d+)"
    rf"|\b(?P<word>(?i:{'|'.join(WORD_VALUES)}))\b"
)


def quantities(text: str) -> list[tuple[object, str]]:
    """Every number and date in `text` as (value, surface form), read independently."""
    found: list[tuple[object, str]] = []
    for m in QUANTITY.finditer(text):
        if m.group("iso"):
            value: object = datetime.date.fromisoformat(m.group("iso"))
        elif m.group("written"):
            written = m.group("written").replace(".", "")
            month = written.split()[0]
            value = datetime.datetime.strptime(
                written, "%B %d, %Y" if len(month) > 3 else "%b %d, %Y"
            ).date()
        elif m.group("percent"):
            value = ("percent", float(m.group("percent")))
        elif m.group("number"):
            value = int(m.group("number").replace(",", ""))
        else:
            value = WORD_VALUES[m.group("word").lower()]
        found.append((value, m.group()))
    return found


NUMBER_TEXT = (
    "On 2024-01-05, 3 of the 12000 fans paid 5% more; seventeen left on March 9, 2023 and "
    "1,500 stayed, twenty of them for 40 days and 2.5 percent for 123,456 hours until Jan 2, 2020."
)


@ignore_realism
def test_rate_one_rewrites_every_number_and_keeps_every_value(seed: int) -> None:
    out = at_rate(NumberFormats(), [NUMBER_TEXT], 1.0, seed)[0]
    before, after = quantities(NUMBER_TEXT), quantities(out)
    assert [v for v, _ in after] == [v for v, _ in before]
    assert all(a != b for (_, a), (_, b) in zip(before, after, strict=True)), out
    assert NumberFormats().perturb_text(NUMBER_TEXT, 0.0, np.random.default_rng(seed)) == (
        NUMBER_TEXT
    )


@ignore_realism
def test_rewriting_twice_keeps_every_value(seed: int) -> None:
    once = at_rate(NumberFormats(), [NUMBER_TEXT], 1.0, seed)[0]
    twice = at_rate(NumberFormats(), [once], 1.0, seed + 1)[0]
    assert [v for v, _ in quantities(twice)] == [v for v, _ in quantities(NUMBER_TEXT)]
    assert at_rate(NumberFormats(kinds=["words", "percent"]), [once], 1.0)[0] != once


@ignore_realism
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I saw 3 birds", {"I saw three birds"}),
        ("I saw three birds", {"I saw 3 birds"}),
        ("3 birds sang.", {"Three birds sang."}),  # a sentence opens with a capital
        ("It cost 12000 coins", {"It cost 12,000 coins"}),
        ("It cost 12,000 coins", {"It cost 12000 coins"}),
        ("It cost 1,500 coins", {"It cost 1500 coins"}),
        ("In 1999 we met", {"In 1999 we met"}),  # four digits: often a year, no separator
        ("Up 5%", {"Up 5 percent"}),
        ("Up 7 per cent", {"Up 7%"}),
        ("On 2024-01-05", {"On Jan 5, 2024", "On January 5, 2024"}),
        ("On May 5, 2024", {"On 2024-05-05"}),
        ("On Sept. 9, 2021", {"On 2021-09-09", "On Sep 9, 2021", "On September 9, 2021"}),
    ],
)
def test_numbers_and_dates_take_an_equivalent_format(text: str, expected: set[str]) -> None:
    outs = {at_rate(NumberFormats(), [text], 1.0, s)[0] for s in range(40)}
    assert outs == expected


@ignore_realism
@pytest.mark.parametrize(
    "text",
    [
        "see https://example.org/report?id=7 now",
        "pi is 3.14, the low was -7, it cost $5, 5kg, the 3rd, v2, the 1990s, pages 1-2",
        "on 2024-02-30 and Feb 30, 2024",  # not calendar dates
        "no one came, and one day the one I want",  # "one" is often a pronoun
        "twenty five, two hundred, a hundred and six",  # parts of longer numbers in words
    ],
)
def test_numbers_that_cannot_be_rewritten_safely_are_left_alone(text: str) -> None:
    assert at_rate(NumberFormats(), [text], 1.0)[0] == text


@ignore_realism
def test_kinds_select_which_numbers_change() -> None:
    out = at_rate(NumberFormats(kinds=["dates"]), [NUMBER_TEXT], 1.0)[0]
    changed = {
        a for (_, a), (_, b) in zip(quantities(NUMBER_TEXT), quantities(out), strict=True) if a != b
    }
    assert changed == {"2024-01-05", "March 9, 2023", "Jan 2, 2020"}


@pytest.mark.parametrize("rate", [0.1, 0.4])
def test_measured_share_of_rewritten_numbers_matches_the_rate(rate: float, seed: int) -> None:
    pool = [
        "I saw 3 birds.",
        "It cost 12000 coins.",
        "We met on 2024-01-05.",
        "Up 5%.",
        "Eight left.",
    ]
    text = long_text(pool)
    changed = changed_sentences(text, at_rate(NumberFormats(), [text], rate, seed)[0])
    assert_binomial(len(changed), len(sentences(text)), rate)


@pytest.mark.parametrize("kinds", [[], ["roman"], "dates"])
def test_bad_kinds_raise_parameter_error(kinds: object) -> None:
    with pytest.raises(ParameterError, match="kinds must be a non-empty list drawn from"):
        NumberFormats(kinds=kinds)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# Fillers.

FILLER = re.compile(
    r"(?:Well|So|Actually|Basically|Honestly), |(?:really|just|actually|basically|kind of|please"
    r"|Please) "
)
# Sentences with their eligible gaps counted by hand: sentence opening, after a subject
# pronoun (not before an auxiliary), after an auxiliary, after "could you".
FILLER_SENTENCES = [
    ("The cat is happy.", 2),  # opening, "is _ happy"
    ("We think it is fine.", 3),  # opening, "We _ think", "is _ fine"
    ("They will come.", 2),  # opening, "will _ come"
    ("Could you send it?", 2),  # opening, "you _ send"
    ("Paris was lovely.", 1),  # opening; no hedge before an -ly word
    ("Send me the report.", 1),  # opening of an imperative
]


def without_fillers(text: str) -> str:
    return FILLER.sub("", text)


@ignore_realism
def test_rate_one_fills_every_eligible_gap_and_rate_zero_none(seed: int) -> None:
    for text, gaps in FILLER_SENTENCES:
        out = at_rate(Fillers(), [text], 1.0, seed)[0]
        assert len(FILLER.findall(out)) == gaps, out
        assert without_fillers(out).lower() == text.lower()
        assert Fillers().perturb_text(text, 0.0, np.random.default_rng(seed)) == text


@ignore_realism
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Send me the report.", "Please send me the report."),
        ("Could you send it?", "could you please send it?"),
        ("Paris was lovely.", "Paris was lovely."),  # a name keeps its capital
    ],
)
def test_politeness_and_capitals_after_an_opening_filler(text: str, expected: str) -> None:
    out = at_rate(Fillers(), [text], 1.0)[0]
    assert out.endswith(expected)


@ignore_realism
def test_questions_are_not_made_imperatives(seed: int) -> None:
    out = at_rate(Fillers(places=["start"]), ["Send it?"], 1.0, seed)[0]
    assert re.fullmatch(r"(?:Well|So|Actually|Basically|Honestly), Send it\?", out), out


@pytest.mark.parametrize("rate", [0.05, 0.3])
def test_measured_fillers_per_eligible_gap_match_the_rate(rate: float, seed: int) -> None:
    pool = [s for s, _ in FILLER_SENTENCES]
    gaps = dict(FILLER_SENTENCES)
    text = long_text(pool)
    out = at_rate(Fillers(), [text], rate, seed)[0]
    assert without_fillers(out).lower() == text.lower()
    eligible = sum(gaps[s] for s in sentences(text))
    assert_binomial(len(FILLER.findall(out)), eligible, rate)


@ignore_realism
def test_places_start_keeps_to_sentence_openings(seed: int) -> None:
    text = " ".join(s for s, _ in FILLER_SENTENCES)
    out = at_rate(Fillers(places=["start"]), [text], 1.0, seed)[0]
    assert len(FILLER.findall(out)) == len(FILLER_SENTENCES)


@pytest.mark.parametrize("places", [[], ["middle"], "start"])
def test_bad_places_raise_parameter_error(places: object) -> None:
    with pytest.raises(ParameterError, match="places must be a non-empty list drawn from"):
        Fillers(places=places)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# Spelling variants.


def spelling_pairs() -> list[tuple[str, str, bool]]:
    """(British, American, two-way) read from the shipped table."""
    rows = [
        line.split("\t")
        for line in (LEXICON / "british_american.tsv").read_text("utf-8").splitlines()
        if line and not line.startswith("#")
    ]
    return [(r[0], r[1], len(r) == 2) for r in rows]


@ignore_realism
@pytest.mark.parametrize(
    ("text", "to", "expected"),
    [
        (
            "The colour of the centre was organised by my neighbours.",
            "american",
            "The color of the center was organized by my neighbors.",
        ),
        ("Colour COLOUR colour-blind", "american", "Color COLOR color-blind"),
        ("We traveled to the theater", "british", "We travelled to the theatre"),
        ("Write a check for the program.", "british", "Write a check for the program."),
        ("A cheque for the programme.", "american", "A check for the program."),
        ("grey and gray", "both", "gray and grey"),
    ],
)
def test_spellings_change_to_the_chosen_variety(text: str, to: str, expected: str) -> None:
    assert at_rate(SpellingVariants(to=to), [text], 1.0)[0] == expected


@ignore_realism
def test_every_two_way_spelling_round_trips() -> None:
    pairs = [(b, a) for b, a, two_way in spelling_pairs() if two_way]
    british = " ".join(b for b, _ in pairs)
    american = at_rate(SpellingVariants(to="american"), [british], 1.0)[0]
    assert american == " ".join(a for _, a in pairs)
    assert at_rate(SpellingVariants(to="british"), [american], 1.0)[0] == british


def test_spelling_table_is_consistent() -> None:
    pairs = spelling_pairs()
    assert len({b for b, _, _ in pairs}) >= 150
    british = [b for b, _, _ in pairs]
    american = [a for _, a, two_way in pairs if two_way]
    assert len(set(british)) == len(british)
    assert len(set(american)) == len(american)
    assert not set(british) & {a for _, a, _ in pairs}
    assert all(b != a and b.islower() and a.islower() for b, a, _ in pairs)


@pytest.mark.parametrize("rate", [0.1, 0.5])
def test_measured_share_of_respelled_words_matches_the_rate(rate: float, seed: int) -> None:
    words = [b for b, _, _ in spelling_pairs()]
    text = " ".join(words[i] for i in np.random.default_rng(9).integers(0, len(words), 600))
    out = at_rate(SpellingVariants(), [text], rate, seed)[0]
    changed = sum(a != b for a, b in zip(text.split(), out.split(), strict=True))
    assert_binomial(changed, 600, rate)


def test_unknown_spelling_target_raises_parameter_error() -> None:
    with pytest.raises(ParameterError, match="to must be one of 'both', 'american', 'british'"):
        SpellingVariants(to="canadian")


# ---------------------------------------------------------------------------------------------
# Synonyms.


def synonym_table() -> dict[str, list[str]]:
    rows = [
        line.split("\t")
        for line in (LEXICON / "synonyms.tsv").read_text("utf-8").splitlines()
        if line and not line.startswith("#")
    ]
    return {word: alternatives.split("|") for word, alternatives in rows}


ANTONYMS = [
    ("good", "bad"),
    ("big", "small"),
    ("large", "small"),
    ("happy", "sad"),
    ("love", "hate"),
    ("always", "never"),
    ("rich", "poor"),
    ("wealthy", "poor"),
    ("easy", "difficult"),
    ("often", "rarely"),
    ("begin", "end"),
    ("buy", "sell"),
    ("win", "lose"),
    ("polite", "rude"),
    ("brave", "cowardly"),
]


def test_synonym_table_has_no_identity_or_antonym() -> None:
    table = synonym_table()
    assert 200 <= len(table) <= 450
    for word, alternatives in table.items():
        assert word not in alternatives
        assert len(set(alternatives)) == len(alternatives)
        for a, b in ANTONYMS:
            assert not ({word, *alternatives} >= {a, b}), (word, alternatives)


@ignore_realism
def test_rate_one_replaces_every_listed_word_by_a_listed_synonym(seed: int) -> None:
    table = synonym_table()
    single = [w for w, alts in table.items() if all(" " not in a for a in alts)]
    text = " ".join(single)
    out = at_rate(Synonyms(), [text], 1.0, seed)[0].split()
    assert len(out) == len(single)
    assert all(new in table[old] for old, new in zip(single, out, strict=True))


@ignore_realism
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("A huge car", {"An enormous automobile", "An immense automobile"}),
        ("HUGE", {"ENORMOUS", "IMMENSE"}),
        ("an honest man", {"a truthful man", "a sincere man"}),
        ("a large-scale plan", {"a large-scale plan"}),  # compounds are left alone
        ("the car's door", {"the car's door"}),
    ],
)
def test_synonyms_keep_casing_and_fix_articles(text: str, expected: set[str]) -> None:
    assert {at_rate(Synonyms(), [text], 1.0, s)[0] for s in range(8)} == expected


@pytest.mark.parametrize("rate", [0.1, 0.5])
def test_measured_share_of_replaced_words_matches_the_rate(rate: float, seed: int) -> None:
    single = [w for w, alts in synonym_table().items() if all(" " not in a for a in alts)]
    text = " ".join(single[i] for i in np.random.default_rng(5).integers(0, len(single), 600))
    out = at_rate(Synonyms(), [text], rate, seed)[0]
    changed = sum(a != b for a, b in zip(text.split(), out.split(), strict=True))
    assert_binomial(changed, 600, rate)


# ---------------------------------------------------------------------------------------------
# Paraphraser hook.

CALLS: list[tuple[str, np.random.Generator]] = []


def shout(text: str, rng: np.random.Generator) -> str:
    """A paraphraser for tests: records its call, upper-cases and tags a random number."""
    CALLS.append((text, rng))
    return f"{text.upper()}<{int(rng.integers(1000))}>"


@ignore_realism
@pytest.mark.parametrize("paraphraser", [shout, f"{__name__}:shout"])
def test_paraphraser_gets_only_free_pieces_and_a_generator(paraphraser: object) -> None:
    CALLS.clear()
    p = Paraphrase(paraphraser=paraphraser, protect=["numbers"])  # type: ignore[arg-type]
    out = at_rate(p, ["abc 12 def 34"], 1.0)[0]
    assert [text for text, _ in CALLS] == ["abc ", " def "]  # the empty tail is not handed over
    assert all(isinstance(rng, np.random.Generator) for _, rng in CALLS)
    assert re.fullmatch(r"ABC <\d+>12 DEF <\d+>34", out)


@pytest.mark.parametrize("rate", [0.2, 0.6])
def test_measured_share_of_paraphrased_texts_matches_the_rate(rate: float, seed: int) -> None:
    texts = [f"text number {i}" for i in range(500)]
    out = at_rate(Paraphrase(paraphraser=shout), texts, rate, seed)
    assert_binomial(sum(a != b for a, b in zip(texts, out, strict=True)), 500, rate)


def test_a_paraphrase_does_not_depend_on_the_rate(seed: int) -> None:
    texts = [f"text number {i}" for i in range(200)]
    low = at_rate(Paraphrase(paraphraser=shout), texts, 0.3, seed)
    high = at_rate(Paraphrase(paraphraser=shout), texts, 0.8, seed)
    kept = [i for i, (a, b) in enumerate(zip(texts, low, strict=True)) if a != b]
    assert kept
    assert all(high[i] == low[i] for i in kept)
    other = at_rate(Paraphrase(paraphraser=shout), texts, 0.8, seed + 1)
    assert other != high


@ignore_realism
def test_default_paraphraser_applies_the_light_rules() -> None:
    out = at_rate(Paraphrase(), ["I do not like the colour grey."], 1.0)[0]
    assert out == "I don't like the color gray."


@pytest.mark.parametrize(
    ("paraphraser", "message"),
    [
        (3, "must be a callable"),
        ("no_colon_here", "Separate the module from the function with ':'"),
        ("no_such_module_xyz:reword", "cannot import module 'no_such_module_xyz'"),
        ("os:no_such_function", "has no attribute 'no_such_function'"),
        ("os:sep", "not a callable"),
    ],
)
def test_bad_paraphraser_raises_parameter_error(paraphraser: object, message: str) -> None:
    with pytest.raises(ParameterError, match=message) as info:
        Paraphrase(paraphraser=paraphraser)  # type: ignore[arg-type]
    assert "text.paraphrase" in str(info.value)


@ignore_realism
def test_paraphraser_returning_no_str_raises_parameter_error() -> None:
    p = Paraphrase(paraphraser=lambda text, rng: None)  # type: ignore[arg-type,return-value]
    with pytest.raises(ParameterError, match="must return a str; got NoneType"):
        at_rate(p, ["some words"], 1.0)


DEMO_SENTENCES = [
    line.split("\t")[1]
    for line in (resources.files("wince.demo") / "sentences.tsv")
    .read_text(encoding="utf-8")
    .splitlines()
    if line and not line.startswith("#")
]


@pytest.mark.filterwarnings("ignore::wince.errors.RealismWarning")  # rate 1 is beyond severe
@pytest.mark.parametrize(
    ("name", "least_texts_with_a_candidate"),
    [("text.synonyms", 140), ("text.contractions", 60), ("text.spelling_variants", 25)],
)
def test_at_severity_one_most_demo_sentences_with_a_candidate_change(
    name: str, least_texts_with_a_candidate: int
) -> None:
    """A text has a candidate when rate 1 changes it; severity 1 changes at least half of those.

    Coverage on the 370 demo sentences: synonyms 143 with a candidate (85 before issue 22's
    additions), contractions 68, spelling variants 27 (only texts with a variant word).
    """
    p = registry()[name]()
    keys = [str(i) for i in range(len(DEMO_SENTENCES))]
    every = p.perturb(DEMO_SENTENCES, 1.0, Rngs.for_samples(keys, seed=0))
    with_candidate = [
        i for i, (a, b) in enumerate(zip(DEMO_SENTENCES, every, strict=True)) if a != b
    ]
    assert len(with_candidate) >= least_texts_with_a_candidate
    severe = p.perturb(DEMO_SENTENCES, p.at_severity(1.0), Rngs.for_samples(keys, seed=0))
    changed = sum(severe[i] != DEMO_SENTENCES[i] for i in with_candidate)
    assert changed >= 0.5 * len(with_candidate)
