"""Light paraphrase that keeps meaning: the same text as another writer might have worded it.

Five rule-based rewrites, each at a rate per eligible site: contractions, number and date
formats, filler and politeness words, British and American spelling, synonyms from a curated
list. A sixth hands whole pieces of text to a paraphraser: by default wince's own rule-based
light paraphrase (the first four rules but fillers, at full rate), or any callable, such as a
language model the user wraps.

Every word list is ours, curated by hand and shipped in `lexicon/` (contractions.tsv,
number_words.tsv, fillers.tsv, imperative_verbs.txt, british_american.tsv, synonyms.tsv); they
are read on first use. Sites are found with precompiled regular expressions; a site that a rule
cannot rewrite without changing the meaning (an ambiguous contraction, a number glued to a
word, a word with another sense) is simply not a site.
"""

from __future__ import annotations

import bisect
import datetime
import functools
import importlib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from wince.errors import ParameterError
from wince.perturbations.base import Phrase, check_choice, check_subset, register
from wince.perturbations.text.base import TextPerturbation, match_case, rate_magnitude, read_lexicon
from wince.perturbations.words import share

Paraphraser = Callable[[str, np.random.Generator], str]

EXAMPLE_TEXTS = [
    "I am sure it is the colour we chose, but I do not think they will like it.",
    "",
    "The meeting on 2024-01-05 drew 12000 visitors, 3 times more than in 2023; fees rose 5%.",
    "OK",
    "Please remember the quick, huge car. We can't go to the theatre: it's been cancelled, "
    "and they're late!",
    "Naïve café owners in Zürich served crème brûlée — déjà vu! Could you send two photos of "
    "the centre?",
    "Perhaps the difficult programme was completely unnecessary: approximately 20 neighbours "
    "remembered its flavour on 2023-11-30, and they frequently criticised it; we will not "
    "organise it again.",
    "We are sure that it is 9 and not 10; she is late, you are early, and I would say there is "
    "time for 2 more.",
]


def word_set(words: str) -> frozenset[str]:
    """The whitespace-separated words of `words`."""
    return frozenset(words.split())


def alternation(words: Iterable[str], escape: Callable[[str], str] = re.escape) -> str:
    """A regular expression matching any of `words`, longest first, factored by prefix.

    Python's `re` tries the branches of a flat alternation one by one at every position; the
    factored form (a trie) rejects a position on its first character, about 6x faster.
    `escape` turns each character into its pattern.
    """
    trie: dict[str, Any] = {}
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}

    def build(node: dict[str, Any]) -> str:
        branches = [escape(char) + build(child) for char, child in sorted(node.items()) if char]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else f"(?:{'|'.join(branches)})"
        return f"(?:{body})?" if "" in node else body

    return build(trie)


# ---------------------------------------------------------------------------------------------
# Shared pieces: apostrophes, sentence starts, articles, word-table substitution.

_APOSTROPHES = str.maketrans({"’": "'"})
# A sentence opens here: the piece's start, or after . ! ? (and closing quotes or brackets) and
# a space, or on a new line; opening quotes or brackets may come first.
_SENTENCE_OPENING = re.compile(r"(?:\A\s*|[.!?…][\"'’”)\]]*\s+|\n\s*)[\"'“‘(\[]*\Z")
_ARTICLE_BEFORE = re.compile(r"(?<![\w'’-])(an?)\s+\Z", re.IGNORECASE)
_ABBREVIATION_END = re.compile(r"(?<!\w)([^\W\d_]+)\.\Z")
_ABBREVIATIONS = word_set("mr mrs ms dr prof st sr jr vs e g i no fig approx dept inc ltd co")


def apostrophe_of(text: str) -> str:
    """The apostrophe `text` mostly uses: ’ if it has more of those than of ', else '."""
    return "’" if text.count("’") > text.count("'") else "'"


def opens_sentence(text: str, start: int) -> bool:
    """Whether a word at `start` opens a sentence (an abbreviation's full stop does not).

    A word at the start of `text` counts: the piece is the whole text or follows a protected
    span, which callers make sure of by asking only about capitalised words and digits.
    """
    window = 0 if start <= 16 else start - 16
    if not _SENTENCE_OPENING.search(text, window, start):
        return False
    before = text[window:start].rstrip().rstrip("\"'“‘([").rstrip().rstrip("\"'’”)]")
    previous = _ABBREVIATION_END.search(before)
    return previous is None or previous.group(1).lower() not in _ABBREVIATIONS


def takes_an(word: str) -> bool:
    """Whether `word` takes "an" rather than "a", by its first sound as spelt."""
    w = word.lower()
    if w.startswith(("hon", "hour", "heir")):
        return True
    if w.startswith(("uni", "use", "usu", "uti", "eu", "one", "once")):
        return False
    return w[:1] in ("a", "e", "i", "o", "u")


def substitute_words(
    text: str,
    words: re.Pattern[str],
    table: Mapping[str, tuple[str, ...]],
    value: float,
    rng: np.random.Generator,
) -> str:
    """Replace each word found in `table` (lower case) with probability `value`.

    Every listed word draws its uniform and its choice among the replacements whatever the
    rate (nesting rule). A replacement takes the casing of the word it replaces, and an
    article right before it becomes "a" or "an" as the new word needs.
    """
    sites = [m for m in words.finditer(text) if m.group().lower() in table]
    hit = rng.random(len(sites)) < value
    picks = rng.random(len(sites))
    out: list[str] = []
    done = 0
    for k in np.flatnonzero(hit).tolist():
        match = sites[k]
        word = match.group()
        choices = table[word.lower()]
        new = match_case(choices[int(picks[k] * len(choices))], word)
        article = _ARTICLE_BEFORE.search(text, max(done, match.start() - 12), match.start())
        if article is not None and (article.group(1).lower() == "an") != takes_an(new):
            needed = "an" if takes_an(new) else "a"
            out.append(text[done : article.start(1)])
            out.append(match_case(needed, article.group(1)))
            done = article.end(1)
        out.append(text[done : match.start()])
        out.append(new)
        done = match.end()
    out.append(text[done:])
    return "".join(out)


# ---------------------------------------------------------------------------------------------
# Contractions.

CONTRACTION_DIRECTIONS = ("both", "contract", "expand")
CONTRACTION_CONTEXTS = ("neg", "am", "aux", "is", "wh_is", "has", "would", "had", "have", "expand")

# Forms that follow "has" but never "is", so "he's been" is "he has been".
_HAS_NEXT = frozenset({"been", "got", "gotten", "had"})
# Past participles unlike their base form: after 'd they mean "had" ("I'd gone").
_PARTICIPLES = word_set(
    "been better got gotten had gone seen done known taken given eaten written spoken broken "
    "chosen driven forgotten made found heard left lost met said told thought bought brought "
    "felt kept sent spent paid won begun sung swum drunk flown grown thrown worn torn shown "
    "fallen risen stolen woken understood taught caught fought sought meant slept stood held "
    "built"
)
_PRONOUNS = frozenset({"i", "you", "he", "she", "it", "we", "they"})
_NEXT_WORD = re.compile(r"\s+([^\W_][\w'’]*)")


def is_participle(word: str) -> bool:
    """A past participle distinct from the base form: listed, or a regular -ed form."""
    return word in _PARTICIPLES or (
        len(word) > 3 and word.endswith("ed") and not word.endswith("eed")
    )


@dataclass(frozen=True)
class Contraction:
    """One pair of `lexicon/contractions.tsv`: full form, contraction and context."""

    full: str
    short: str
    context: str

    def applies(self, short: bool, following: str | None) -> bool:
        """Whether the pair rewrites here, from the next word (lower case; None if none).

        `short` says which form was found: the contraction (to expand) or the full form.
        """
        word = following is not None
        context = self.context
        if context == "neg":
            return True
        if context == "expand":
            return short
        if context == "am":
            return short or word
        if context == "aux":
            return short or (word and following != "not")
        if context in ("is", "wh_is"):
            if following in _HAS_NEXT:
                return False
            if short:
                return True
            return word and following != "not" and (context == "is" or following not in _PRONOUNS)
        if context == "has":
            return following in _HAS_NEXT
        if context == "would":
            return word and following != "not" and not is_participle(following or "")
        if context == "had":
            return word and is_participle(following or "")
        return short or (word and is_participle(following or ""))  # have


@functools.cache
def contractions() -> tuple[re.Pattern[str], dict[str, list[tuple[Contraction, bool]]]]:
    """The pattern of every form and, per form (lower case, '), its pairs and whether short."""
    forms: dict[str, list[tuple[Contraction, bool]]] = {}
    for full, short, context in read_lexicon("contractions.tsv"):
        assert context in CONTRACTION_CONTEXTS, context
        pair = Contraction(full, short, context)
        forms.setdefault(full.lower(), []).append((pair, False))
        forms.setdefault(short.lower(), []).append((pair, True))
    pattern = alternation(forms, _escape_phrase)
    return re.compile(rf"(?<![\w'’])(?:{pattern})(?![\w'’])", re.IGNORECASE), forms


def _escape_phrase(char: str) -> str:
    """Pattern of one character of a phrase: any apostrophe, any run of white space."""
    return {"'": "['’]", " ": r"\s+"}.get(char) or re.escape(char)


def find_contractions(text: str, direction: str) -> list[tuple[re.Match[str], Contraction, bool]]:
    """Every rewritable phrase of `text` in order: (match, pair, found the short form)."""
    pattern, forms = contractions()
    sites = []
    position = 0
    while (match := pattern.search(text, position)) is not None:
        key = re.sub(r"\s+", " ", match.group().lower().translate(_APOSTROPHES))
        after = _NEXT_WORD.match(text, match.end())
        following = after.group(1).lower().translate(_APOSTROPHES) if after else None
        for pair, short in forms[key]:
            wanted = direction == "both" or (direction == "expand") == short
            if wanted and pair.applies(short, following):
                sites.append((match, pair, short))
                position = match.end()
                break
        else:  # not rewritable here; a shorter phrase may start inside it ("I will not")
            position = match.start() + 1
    return sites


@register
class Contractions(TextPerturbation):
    """Contractions made or undone, as writers of different formality word the same sentence.

    "do not" becomes "don't", "I am" becomes "I'm", "will not" becomes "won't", and back. The
    rate is the share of eligible phrases rewritten: full forms that can be contracted and
    contractions that can be expanded (`direction` selects which; "both" toggles each). The
    phrases are the 69 pairs of `lexicon/contractions.tsv`. Casing is kept ("Do not" ->
    "Don't", "DO NOT" -> "DON'T"); both ' and ’ are read, and a piece of text written with ’
    gets ’ (else ').

    Only rewrites that keep the meaning are eligible:
    - An auxiliary is not contracted at the end of a clause ("I know what it is." stays) nor
      before "not" ("I will not" becomes "I won't", not "I'll not").
    - 's is "has" before been/got/gotten/had ("it's been" -> "it has been") and "is" otherwise;
      "he has" is contracted only there, so round trips hold.
    - 'd is "had" before a past participle that differs from the base form ("I'd gone",
      "I'd finished") and "would" before any other word ("I'd like"); "I'd not", "I'd put"
      (either reading) and a final "I'd" are left alone.
    - 've is contracted only before a past participle ("I have been" -> "I've been", but
      "I have a car" stays): American English does not contract "have" as a main verb.
    - "let's" and "shan't" are only expanded: "let us go" may mean "allow us to go".
    - "ain't" and possessive 's are never touched.

    Why this unit and range: contractions are a matter of register (common in conversation
    and informal writing, rare in academic prose; Biber et al., Longman Grammar of Spoken and
    Written English, 1999), and real text mixes both. From a tenth of the phrases (mild end
    0.1) to half of them (severe end 0.5) the text is the same writer's with a shifted
    register; rewriting all (rate 1, a systematic change of register) is allowed, warns as
    outside that range and no longer depends on the seed.

    Args:
        direction: "both" (toggle each eligible phrase), "contract" (full forms only) or
            "expand" (contractions only).
        protect: spans never changed (see `TextPerturbation`). Protecting "negations" keeps
            "not" and every n't form as they are.

    Raises:
        ParameterError: unknown direction.
    """

    name = "text.contractions"
    phrase = Phrase(
        lambda v: f"contractions made or undone in {share(v)} of the places they can be"
    )
    version = 2
    stochastic = True
    magnitude = rate_magnitude(
        "contraction_rate", "fraction of contractible phrases and contractions", 0.1, 0.5
    )

    def __init__(self, *, direction: str = "both", protect: Sequence[str] = ()) -> None:
        super().__init__(protect=protect)
        self.direction = check_choice(self.name, "direction", direction, CONTRACTION_DIRECTIONS)

    @classmethod
    def example_batch(cls) -> list[str]:
        """Texts with contractible phrases and contractions (the shared examples have few)."""
        return list(EXAMPLE_TEXTS)

    def perturb_text(self, text: str, value: float, rng: np.random.Generator) -> str:
        """Rewrite each eligible phrase with probability `value`."""
        sites = find_contractions(text, self.direction)
        hit = rng.random(len(sites)) < value
        apostrophe = apostrophe_of(text)
        out: list[str] = []
        done = 0
        for k in np.flatnonzero(hit).tolist():
            match, pair, short = sites[k]
            new = match_case(pair.full if short else pair.short, match.group())
            out.extend((text[done : match.start()], new.replace("'", apostrophe)))
            done = match.end()
        out.append(text[done:])
        return "".join(out)


# ---------------------------------------------------------------------------------------------
# Number and date formats.

NUMBER_KINDS = ("words", "separators", "dates", "percent")
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_MONTH_NUMBERS = {
    **{m: i for i, m in enumerate(_MONTHS, 1)},
    **{m[:3]: i for i, m in enumerate(_MONTHS, 1)},
    "Sept": 9,
}
_SCALES = frozenset({"hundred", "thousand", "million", "billion", "trillion"})
# Not glued to a word, a number, a URL or a sign: "id=7", "3.5", "-7", "$5", "v2" stay.
_NUM_START = r"(?<![\w.,/:=?&#%$£€¥+\-@'’])"
_NUM_END = r"(?![\w/:=@%$£€¥'’]|[.,]\d|-\w)"
_MONTH_ALTERNATION = alternation(_MONTH_NUMBERS)


@functools.cache
def number_words() -> tuple[dict[int, str], dict[str, int]]:
    """Numbers to words (0-20 and round tens) and the words read back as digits."""
    to_word: dict[int, str] = {}
    to_number: dict[str, int] = {}
    for number, word, direction in read_lexicon("number_words.tsv"):
        to_word[int(number)] = word
        if direction == "both":
            to_number[word] = int(number)
    return to_word, to_number


@functools.cache
def number_pattern() -> re.Pattern[str]:
    """Dates, percentages, numbers with or without separators, small numbers, number words."""
    words = alternation(number_words()[1])
    return re.compile(
        rf"{_NUM_START}(?P<iso>(?P<y>\d{{4}})-(?P<m>\d\d)-(?P<d>\d\d)){_NUM_END}"
        rf"|(?<![\w'’-])(?P<written>(?P<month>{_MONTH_ALTERNATION})\.?\s(?P<wd>\d{{1,2}})"
        rf"(?:st|nd|rd|th)?,\s(?P<wy>\d{{4}})){_NUM_END}"
        rf"|{_NUM_START}(?P<percent>(?P<amount>\d+(?:\.\d+)?)"
        rf"(?:%|\s(?:percent|per\scent)(?![\w'’-])))(?![\w'’]|[.,]\d)"
        rf"|{_NUM_START}(?P<grouped>[1-9]\d{{0,2}}(?:,\d{{3}})+){_NUM_END}"
        rf"|{_NUM_START}(?P<plain>[1-9]\d{{4,14}}){_NUM_END}"
        rf"|{_NUM_START}(?P<digits>\d{{1,2}}){_NUM_END}"
        rf"|(?<![\w'’-])(?P<word>(?i:{words}))(?![\w'’-])"
    )


def date_renderings(date: datetime.date) -> list[str]:
    """The date as ISO 8601, with the month abbreviated and with the month in full."""
    month = _MONTHS[date.month - 1]
    return [
        date.isoformat(),
        f"{month[:3]} {date.day}, {date.year}",
        f"{month} {date.day}, {date.year}",
    ]


def _valid_date(year: str, month: int, day: str) -> datetime.date | None:
    try:
        return datetime.date(int(year), month, int(day))
    except ValueError:
        return None


_PREVIOUS_WORD = re.compile(r"([^\W\d_]+)\s+(and\s+)?\Z", re.IGNORECASE)
_NEXT_PLAIN_WORD = re.compile(r"\s+([^\W\d_]+)")


def number_alternatives(text: str, match: re.Match[str], kinds: Sequence[str]) -> list[str]:
    """The equivalent forms of a number or date found in `text`; empty if not rewritable."""
    to_word, to_number = number_words()
    found = match.group()
    if match.group("iso") or match.group("written"):
        if "dates" not in kinds:
            return []
        if match.group("iso"):
            date = _valid_date(match.group("y"), int(match.group("m")), match.group("d"))
        else:
            month = _MONTH_NUMBERS[match.group("month")]
            date = _valid_date(match.group("wy"), month, match.group("wd"))
        if date is None or date.year < 1000:
            return []
        return [r for r in date_renderings(date) if r != found]
    if match.group("percent"):
        if "percent" not in kinds:
            return []
        amount = match.group("amount")
        return [f"{amount} percent" if found.endswith("%") else f"{amount}%"]
    if match.group("grouped") or match.group("plain"):
        if "separators" not in kinds:
            return []
        number = int(found.replace(",", ""))
        return [str(number) if "," in found else f"{number:,}"]
    if "words" not in kinds:
        return []
    if match.group("digits"):
        number = int(found)
        if number not in to_word or str(number) != found:
            return []
        word = to_word[number]
        return [word.capitalize() if opens_sentence(text, match.start()) else word]
    word = found.lower()
    # Part of a longer number in words ("twenty five", "two hundred", "hundred and six")
    values = {w: n for n, w in to_word.items()}
    after = _NEXT_PLAIN_WORD.match(text, match.end())
    following = after.group(1).lower() if after else ""
    before = _PREVIOUS_WORD.search(text, max(0, match.start() - 24), match.start())
    previous = before.group(1).lower() if before else ""
    joined = before is not None and before.group(2) is None
    tens = to_number[word] >= 20
    if (
        following in _SCALES
        or previous in _SCALES
        or (tens and values.get(following, 99) < 10)
        or (not tens and joined and values.get(previous, 0) >= 20)
    ):
        return []
    return [str(to_number[word])]


@register
class NumberFormats(TextPerturbation):
    """Numbers and dates written in another equivalent format, as style guides differ.

    Each eligible number or date is rewritten to an equivalent form with the same value:
    - "words": 0-20 and the round tens 30-90 as digits or words ("3" <-> "three"); the word
      "one" is not turned into "1" (it is often a pronoun: "no one", "the one I want").
      Numbers inside longer numbers in words ("twenty five", "two hundred") are left alone.
    - "separators": thousands separators ("12000" <-> "12,000"); four-digit numbers only lose
      them ("1,500" -> "1500"), as they are so often years.
    - "dates": valid calendar dates between ISO 8601, abbreviated and full month names
      ("2024-01-05" <-> "Jan 5, 2024" <-> "January 5, 2024"); the new form is drawn among the
      other two.
    - "percent": "5%" <-> "5 percent" ("per cent" is read too).
    Numbers glued to other characters (URLs, "id=7", "3.5", "-7", "$5", "5kg", "3rd") are not
    eligible; numbers are read with "," as the thousands separator and "." as the decimal
    point. Digits that open a sentence become a capitalised word. Codes that look like
    quantities (a five-digit postal code) would get separators: protect them with a regular
    expression.

    Why this unit and range: the rate is the share of eligible numbers and dates rewritten,
    since only those can change. Style guides disagree (AP spells out one to nine, Chicago zero
    to one hundred; US and ISO date orders), and by construction each source writes in one house
    style, so text gathered from several sources holds the other forms in the share that came
    from the other sources, and any share occurs. A tenth of the numbers (mild end 0.1) to half
    of them (severe end 0.5) is such a mix; rewriting all (rate 1, a systematic change of house
    style) is allowed and warns.

    Args:
        kinds: which rewrites are eligible: any of "words", "separators", "dates", "percent".
        protect: spans never changed (see `TextPerturbation`). Protecting "numbers" keeps
            every digit as it is; number words may still become digits.

    Raises:
        ParameterError: unknown or no kinds.
    """

    name = "text.number_formats"
    phrase = Phrase(lambda v: f"{share(v)} of numbers and dates written another way")
    version = 2
    stochastic = True
    magnitude = rate_magnitude(
        "number_format_rate", "fraction of rewritable numbers and dates", 0.1, 0.5
    )

    def __init__(self, *, kinds: Sequence[str] = NUMBER_KINDS, protect: Sequence[str] = ()) -> None:
        super().__init__(protect=protect)
        self.kinds = check_subset(self.name, "kinds", kinds, NUMBER_KINDS)

    @classmethod
    def example_batch(cls) -> list[str]:
        """Texts with numbers, number words, dates and percentages."""
        return list(EXAMPLE_TEXTS)

    def perturb_text(self, text: str, value: float, rng: np.random.Generator) -> str:
        """Rewrite each eligible number or date with probability `value`."""
        sites = []
        for match in number_pattern().finditer(text):
            alternatives = number_alternatives(text, match, self.kinds)
            if alternatives:
                sites.append((match, alternatives))
        hit = rng.random(len(sites)) < value
        picks = rng.random(len(sites))
        out: list[str] = []
        done = 0
        for k in np.flatnonzero(hit).tolist():
            match, alternatives = sites[k]
            new = alternatives[int(picks[k] * len(alternatives))]
            out.extend((text[done : match.start()], new))
            done = match.end()
        out.append(text[done:])
        return "".join(out)


# ---------------------------------------------------------------------------------------------
# Fillers and politeness.

FILLER_PLACES = ("start", "inside")
_TOKENS = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")
_SENTENCE_END = re.compile(r"[.!?]")
_SUBJECTS = frozenset({"i", "we", "they", "he", "she"})
_AUXILIARIES = word_set(
    "am is are was were be been will would can could should shall may might must"
)
_NOUN_MODALS = frozenset({"can", "will", "may", "must"})  # also nouns: "a can", "his will"
_CONTRACTED_AUXILIARIES = frozenset(
    f"{pronoun}'{ending}"
    for pronoun, endings in {
        "i": "m ve ll d",
        "you": "re ve ll d",
        "we": "re ve ll d",
        "they": "re ve ll d",
        "he": "s ll d",
        "she": "s ll d",
        "it": "s ll",
        "that": "s",
        "there": "s",
    }.items()
    for ending in endings.split()
)
_DETERMINERS = word_set("a an the this that his her my your our their its")
_WH_WORDS = word_set("what where when why how who which")
# Words a filler must not precede: function words, pronouns, verbs that an inserted adverb
# would separate from their subject or auxiliary, and fillers already there.
_NO_FILLER_BEFORE = word_set(
    "not and or but nor so as than to of in on at by for with from about into if because when "
    "while that which who whom whose what where why how all both each either neither i you he "
    "she it we they me him her us them there this these those is are was were am really just "
    "actually basically kind sort very too also please"
)
# Common words that may lose their capital when a filler opens the sentence before them.
_COMMON_OPENERS = word_set(
    "the a an this that these those it its we they he she you there here my our your his her "
    "their what when where why how who which if in on at for to with after before as because "
    "but and or so some many most all no every each one please yes now then today still maybe "
    "perhaps is are was were am do does did have has had can could will would should shall may "
    "might must"
)


@functools.cache
def fillers() -> dict[str, tuple[str, ...]]:
    """The fillers of each place: "start", "inside", "polite"."""
    places: dict[str, list[str]] = {}
    for place, words in read_lexicon("fillers.tsv"):
        places.setdefault(place, []).append(words)
    return {place: tuple(words) for place, words in places.items()}


@functools.cache
def imperative_verbs() -> frozenset[str]:
    """Verbs that, opening a sentence that is not a question, make it an imperative."""
    return frozenset(row[0] for row in read_lexicon("imperative_verbs.txt"))


def filler_sites(text: str, places: Sequence[str]) -> list[tuple[int, str, bool]]:
    """Every gap that can take a filler: (position, place, lowercase the next word).

    Places: "start" (a sentence opening), "imperative" (a sentence opening that gives an
    order), "inside" (after a subject pronoun or an auxiliary), "polite" (after "could you").
    """
    tokens = list(_TOKENS.finditer(text))
    lowered = [t.group().lower().translate(_APOSTROPHES) for t in tokens]
    sentence_ends = [(m.start(), m.group()) for m in _SENTENCE_END.finditer(text)]
    sites: list[tuple[int, str, bool]] = []
    for j, token in enumerate(tokens):
        word = token.group()
        if word[0].isupper() and opens_sentence(text, token.start()):
            if "start" not in places:
                continue
            end = bisect.bisect_left(sentence_ends, (token.end(), ""))
            question = end < len(sentence_ends) and sentence_ends[end][1] == "?"
            imperative = lowered[j] in imperative_verbs() and not question
            common = lowered[j] in _COMMON_OPENERS or imperative
            recase = common and lowered[j] != "i" and (len(word) == 1 or word[1:].islower())
            sites.append((token.start(), "imperative" if imperative else "start", recase))
            continue
        if "inside" not in places or j == 0 or not word[0].islower():
            continue
        gap = text[tokens[j - 1].end() : token.start()]
        if lowered[j] in _NO_FILLER_BEFORE or lowered[j].endswith("ly") or not gap.isspace():
            continue  # "ly": no hedge before an adverb ("is kind of completely")
        previous = lowered[j - 1]
        before = lowered[j - 2] if j > 1 else ""
        joined = j > 1 and text[tokens[j - 2].end() : tokens[j - 1].start()].isspace()
        if previous == "you" and joined and before in ("can", "could", "would", "will"):
            sites.append((token.start(), "polite", False))
        elif previous in _CONTRACTED_AUXILIARIES or (
            previous in _SUBJECTS and lowered[j] not in _AUXILIARIES
        ):  # "I really think", "it's really good", "they will really", not "they really will"
            sites.append((token.start(), "inside", False))
        elif previous in _AUXILIARIES and tokens[j - 1].group().islower():
            # "where is the ..." is a question; "a can", "his will" are nouns
            noun = previous in _NOUN_MODALS and before in _DETERMINERS
            if joined and (before in _WH_WORDS or noun):
                continue
            sites.append((token.start(), "inside", False))
    return sites


@register
class Fillers(TextPerturbation):
    """Filler and politeness words added, as in chatty writing and transcribed speech.

    Discourse markers open sentences ("Well, ", "So, ", "Actually, ", "Basically, ",
    "Honestly, "), hedges follow a subject pronoun or an auxiliary ("I really think", "it is
    kind of cold": "really", "just", "actually", "basically", "kind of"), and "please" opens
    an imperative ("Please send it.") or follows "could you"/"can you"/"would you"/"will you".
    An imperative is a sentence, not a question, opened by one of the verbs of
    `lexicon/imperative_verbs.txt`; other sentences get a discourse marker. A common word
    after an opening filler loses its capital ("Well, the ..."); a name keeps it. Nothing is
    ever removed, so the original words survive in order.

    Caveat: the fillers keep a sentence's polarity, not always its strength. "really"
    intensifies and "kind of" softens, and a sentiment model may score them (VADER, for one,
    boosts "really good" and damps "kind of good"). Measuring that sensitivity is the point;
    use `places=["start"]` to keep to discourse markers.

    Why this unit and range: the rate is the share of eligible gaps (sentence openings, gaps
    after a subject pronoun, an auxiliary or "could you") that get a filler, since only those
    can take one without breaking the grammar; in review-like prose they are a fifth to a
    quarter of the gaps between words. Conversational speech carries about six disfluencies
    per 100 words (Bortfeld et al., Language and Speech, 2001). The mild end (0.05) adds about
    one filler per 100 words, as in relaxed writing; the severe end (0.5) about twelve, as in
    chatty transcribed speech.

    Args:
        places: where fillers go: "start" (sentence openings, including "Please" before an
            imperative) and "inside" (hedges, and "please" after "could you").
        protect: spans never changed (see `TextPerturbation`).

    Raises:
        ParameterError: unknown or no places.
    """

    name = "text.fillers"
    phrase = Phrase(lambda v: f"filler words added ({v:g} per gap between words)")
    version = 2
    stochastic = True
    magnitude = rate_magnitude("filler_rate", "fillers per eligible word gap", 0.05, 0.5)

    def __init__(
        self, *, places: Sequence[str] = FILLER_PLACES, protect: Sequence[str] = ()
    ) -> None:
        super().__init__(protect=protect)
        self.places = check_subset(self.name, "places", places, FILLER_PLACES)

    @classmethod
    def example_batch(cls) -> list[str]:
        """Texts with sentence openings, pronouns, auxiliaries and an imperative."""
        return list(EXAMPLE_TEXTS)

    def perturb_text(self, text: str, value: float, rng: np.random.Generator) -> str:
        """Insert a filler in each eligible gap with probability `value`."""
        sites = filler_sites(text, self.places)
        hit = rng.random(len(sites)) < value
        picks = rng.random(len(sites))
        table = fillers()
        out: list[str] = []
        done = 0
        for k in np.flatnonzero(hit).tolist():
            position, place, recase = sites[k]
            if place == "imperative":
                filler = table["polite"][0].capitalize()
            else:
                choices = table["polite" if place == "polite" else place]
                filler = choices[int(picks[k] * len(choices))]
            out.extend((text[done:position], filler, " "))
            done = position
            if recase:
                out.append(text[position].lower())
                done = position + 1
        out.append(text[done:])
        return "".join(out)


# ---------------------------------------------------------------------------------------------
# British and American spelling.

SPELLING_TARGETS = ("both", "american", "british")
_LETTER_RUNS = re.compile(r"(?<!\w)[^\W\d_]+(?!\w)")


@functools.cache
def spelling_tables() -> dict[str, dict[str, tuple[str, ...]]]:
    """For each target ("american", "british", "both"): word -> its other spelling."""
    to_american: dict[str, tuple[str, ...]] = {}
    to_british: dict[str, tuple[str, ...]] = {}
    for row in read_lexicon("british_american.tsv"):
        british, american = row[0], row[1]
        to_american[british] = (american,)
        if len(row) < 3 or row[2] != "one-way":
            to_british[american] = (british,)
    return {
        "american": to_american,
        "british": to_british,
        "both": {**to_american, **to_british},
    }


@register
class SpellingVariants(TextPerturbation):
    """British and American spellings swapped, as in text from writers on both sides.

    colour/color, organise/organize, centre/center, travelled/traveled, grey/gray, defence/
    defense, catalogue/catalog, paediatric/pediatric ...: over 200 curated word families in
    `lexicon/british_american.tsv`, 641 forms with their inflections listed one by one. Casing
    is kept ("Colour" -> "Color", "COLOUR" -> "COLOR"). Some pairs go from British to American
    only, because the American spelling has another meaning in British English (cheque ->
    check, tyre -> tire, programme -> program, practise -> practice). Parts of hyphenated
    words change too ("colour-blind" -> "color-blind").

    Why this unit and range: the rate is the share of words that have a variant spelling (as
    `to` selects), since only those can change. By construction a writer or a spell-checker uses
    one variety for a whole text, so text pooled from British and American sources, or edited
    by both, holds the other spelling in the share that came from the other source, and any
    share occurs; a tenth of the variant words (mild end 0.1) to half
    of them (severe end 0.5) is such a mix. Converting all (rate 1, what a spell-checker set to
    one variety does) is allowed, warns as outside that range and no longer depends on the seed.

    Args:
        to: "american" (British spellings change), "british" (American ones change) or "both"
            (each variant word takes the other spelling).
        protect: spans never changed (see `TextPerturbation`).

    Raises:
        ParameterError: unknown target.
    """

    name = "text.spelling_variants"
    phrase = Phrase(
        lambda v: (
            f"British and American spellings swapped in {share(v)} of the words that have both"
        )
    )
    version = 2
    stochastic = True
    magnitude = rate_magnitude(
        "spelling_variant_rate", "fraction of words with a British/American variant", 0.1, 0.5
    )

    def __init__(self, *, to: str = "both", protect: Sequence[str] = ()) -> None:
        super().__init__(protect=protect)
        self.to = check_choice(self.name, "to", to, SPELLING_TARGETS)

    @classmethod
    def example_batch(cls) -> list[str]:
        """Texts with British spellings (the shared examples have none)."""
        return list(EXAMPLE_TEXTS)

    def perturb_text(self, text: str, value: float, rng: np.random.Generator) -> str:
        """Respell each variant word with probability `value`."""
        return substitute_words(text, _LETTER_RUNS, spelling_tables()[self.to], value, rng)


# ---------------------------------------------------------------------------------------------
# Synonyms.

# Whole words only: not part of a hyphenated compound ("large-scale") or with an apostrophe.
_FREE_WORDS = re.compile(r"(?<![\w'’-])[^\W\d_]+(?![\w'’-])")


@functools.cache
def synonyms() -> dict[str, tuple[str, ...]]:
    """Each listed word and its near-exact synonyms."""
    return {
        word: tuple(alternatives.split("|")) for word, alternatives in read_lexicon("synonyms.tsv")
    }


@register
class Synonyms(TextPerturbation):
    """Words replaced by a near-exact synonym, as another writer would have chosen them.

    The synonyms come from `lexicon/synonyms.tsv`: 429 entries, about 250 common headwords
    (adjectives, adverbs, nouns and verbs) and their inflected forms, each with replacements
    that keep its meaning, its strength and its polarity in every common use ("enormous" <->
    "huge", "purchased" -> "bought", "frequently" -> "often"). Words with a second sense are
    left out ("start" is also a noun; "noisy data"), inflected forms are listed, never
    inferred, and a past form gets a form that is right as past tense and participle. A
    replacement takes the word's casing and the article before it is fixed ("a huge" ->
    "an enormous"). When a word has several synonyms, one is drawn uniformly.

    Why this unit and range: the rate is the share of listed words replaced, since only those
    can change. Synonym-replacement augmentation (EDA; Wei and Zou, EMNLP 2019) changes 5-20%
    of a sentence's words; as only some words are listed, a tenth (mild end 0.1) to a half
    (severe end 0.5) of the listed ones is the comparable range. Replacing every listed word
    (rate 1) is allowed and warns.

    Args:
        protect: spans never changed (see `TextPerturbation`).
    """

    name = "text.synonyms"
    phrase = Phrase(lambda v: f"{share(v)} of words replaced by a synonym")
    version = 3
    stochastic = True
    magnitude = rate_magnitude("synonym_rate", "fraction of words with a listed synonym", 0.1, 0.5)

    @classmethod
    def example_batch(cls) -> list[str]:
        """Texts with several listed words, some with more than one synonym."""
        return list(EXAMPLE_TEXTS)

    def perturb_text(self, text: str, value: float, rng: np.random.Generator) -> str:
        """Replace each listed word with probability `value`."""
        return substitute_words(text, _FREE_WORDS, synonyms(), value, rng)


# ---------------------------------------------------------------------------------------------
# Paraphrase hook.

_HAS_WORD = re.compile(r"[^\W_]")


@functools.cache
def _light_steps() -> tuple[TextPerturbation, ...]:
    return (Contractions(), NumberFormats(), Synonyms(), SpellingVariants())


def light_paraphrase(text: str, rng: np.random.Generator) -> str:
    """The rule-based light paraphrase of wince: every rule of this module but fillers, at rate 1.

    Contractions toggled, numbers and dates in another format, listed words replaced by a
    synonym, British and American spellings swapped, in that order.

    Examples:
        >>> import numpy as np
        >>> light_paraphrase("I do not like the colour grey.", np.random.default_rng(0))
        "I don't like the color gray."
    """
    for step in _light_steps():
        text = step.perturb_text(text, 1.0, rng)
    return text


def resolve_paraphraser(owner: str, paraphraser: Paraphraser | str | None) -> Paraphraser:
    """The callable a `paraphraser` option names: itself, an imported function, or the default.

    Raises:
        ParameterError: not a callable, a "module:function" string that does not import, or a
            name that is missing or not callable.
    """
    if paraphraser is None:
        return light_paraphrase
    if not isinstance(paraphraser, str):
        if callable(paraphraser):
            return paraphraser
        raise ParameterError(
            f"{owner}: paraphraser must be a callable (text, rng) -> str or a string "
            f"'package.module:function'; got {paraphraser!r}. Try 'mypackage.rewording:reword'."
        )
    module_name, colon, attribute = paraphraser.partition(":")
    if not colon or not module_name or not attribute:
        raise ParameterError(
            f"{owner}: paraphraser must be a callable or a string 'package.module:function'; "
            f"got {paraphraser!r}. Separate the module from the function with ':', e.g. "
            "'mypackage.rewording:reword'."
        )
    try:
        target: object = importlib.import_module(module_name)
    except ImportError as error:
        raise ParameterError(
            f"{owner}: paraphraser {paraphraser!r}: cannot import module {module_name!r} "
            f"({error}). Check the name, that the package is installed and on sys.path."
        ) from error
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise ParameterError(
                f"{owner}: paraphraser {paraphraser!r}: module {module_name!r} has no "
                f"attribute {attribute!r}. Check the function name after ':'."
            )
        target = getattr(target, part)
    if not callable(target):
        raise ParameterError(
            f"{owner}: paraphraser {paraphraser!r} names a {type(target).__name__}, not a "
            "callable (text, rng) -> str."
        )
    return target


@register
class Paraphrase(TextPerturbation):
    """Texts reworded by a paraphraser: wince's light rules, or the user's own model.

    Each free piece of text (the text between protected spans, or the whole text) draws a
    uniform number and a generator of its own; when the number is below the rate and the
    piece has a letter or digit, the piece is replaced by `paraphraser(piece, generator)`.
    The generator is seeded from the text's own stream for every piece whatever the rate, so
    a piece's paraphrase is the same at every rate that selects it and a higher rate keeps
    the paraphrases of a lower one.

    The default paraphraser, `light_paraphrase`, applies `text.contractions`,
    `text.number_formats`, `text.synonyms` and `text.spelling_variants` at full rate. A user
    paraphraser (for example a wrapped language model) must be deterministic given the
    generator it receives, e.g. seed the model's sampling from `rng.integers(2**32)`;
    otherwise runs do not reproduce and golden outputs cannot be kept. It should return the
    piece's meaning in other words: wince cannot check that, so review a sample.

    Why this unit and range: a paraphraser rewrites whole texts, so the rate is the share of
    texts (free pieces) it rewrites. By construction that share is the share of inputs that
    passed through a rewriting step (a paraphrasing tool, a human rewording), which a pipeline
    sets, so every share occurs, from a tenth of the inputs (mild end 0.1) to all of them
    (severe end 1, a test set reworded as a whole).

    Args:
        paraphraser: a callable `(text: str, rng: numpy.random.Generator) -> str`, a string
            "package.module:function" naming one (imported at construction), or None for
            `light_paraphrase`.
        protect: spans never changed (see `TextPerturbation`); the paraphraser never sees them.

    Raises:
        ParameterError: a paraphraser that is not callable or cannot be imported; at
            perturbation time, a paraphraser that returns something other than a str.
    """

    name = "text.paraphrase"
    phrase = Phrase(lambda v: f"{share(v)} of texts reworded")
    version = 3
    stochastic = True
    magnitude = rate_magnitude("paraphrase_rate", "fraction of free text pieces", 0.1, 1.0)

    def __init__(
        self,
        *,
        paraphraser: Paraphraser | str | None = None,
        protect: Sequence[str] = (),
    ) -> None:
        super().__init__(protect=protect)
        self.paraphraser = resolve_paraphraser(self.name, paraphraser)

    @classmethod
    def example_batch(cls) -> list[str]:
        """Texts that the default paraphraser rewrites in several ways."""
        return list(EXAMPLE_TEXTS)

    def perturb_text(self, text: str, value: float, rng: np.random.Generator) -> str:
        """Hand the piece to the paraphraser with probability `value`."""
        chosen = rng.random() < value
        seed = rng.integers(0, np.iinfo(np.int64).max, size=2)
        if not chosen or not _HAS_WORD.search(text):
            return text
        out = self.paraphraser(text, np.random.Generator(np.random.PCG64(seed)))
        if not isinstance(out, str):
            raise ParameterError(
                f"{self.name}: the paraphraser must return a str; got {type(out).__name__} "
                f"for {text[:40]!r}. Return the reworded text."
            )
        return out
