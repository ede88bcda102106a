"""Text as a speech recogniser writes it: spoken words, numbers and links said aloud, sound keys.

`spoken_words` turns written text into the words a speaker would say and a recogniser would
write: lower-case words without punctuation, numbers verbalised ("-.69" → "minus point six
nine") or kept as digits, and links said aloud ("www.example.org/a" → "example dot org") or
left out. `phonetic_key` is a simplified Metaphone (Philips, Computer Language 7(12), 1990):
two words with close keys sound alike, which is how `near_phones` finds what a recogniser may
write for a word it mishears.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from wince.perturbations.text.base import PROTECTED_SPANS, read_lexicon
from wince.perturbations.text.paraphrase import number_words, synonyms

NUMBER_STYLES = ("words", "digits")
LINK_STYLES = ("spoken", "dropped")

_URL_START = r"(?:https?://|www\.(?=\w))"
_NO_URL = rf"(?!{_URL_START})"  # a URL glued to a word, address or tag is not part of it
_LETTER = rf"(?:{_NO_URL}[^\W\d_])"
_LETTERS = rf"{_LETTER}+(?:['’]{_LETTER}+)*"
_CURRENCIES = {"$": "dollars", "£": "pounds", "€": "euros", "¥": "yen"}
_TOKENS = re.compile(
    rf"(?P<url>{_URL_START}(?:{_NO_URL}[^\s<>\"])+)"
    rf"|(?P<email>\b(?:{_NO_URL}[\w.+-]){{1,64}}@(?:{_NO_URL}[\w-])+(?:\.(?:{_NO_URL}[\w-])+)+)"
    rf"|(?P<tag>(?<!\w)[@#](?:{_NO_URL}\w)+)"
    r"|(?P<ordinal>\d+(?:st|nd|rd|th)\b)"
    r"|(?:(?<![\w.,])(?P<sign>[-+−])(?=\.?\d))?(?P<currency>[$£€¥])?"
    r"(?P<number>\d+(?:,\d{3})*(?:\.\d+)?|(?<!\d)\.\d+)(?P<percent>%)?"
    rf"|(?P<word>{_LETTERS})"
    r"|(?P<ampersand>&)"
)
_SCALES = ((10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (10**3, "thousand"))
_ORDINAL_ENDINGS = {
    "one": "first",
    "two": "second",
    "three": "third",
    "five": "fifth",
    "eight": "eighth",
    "nine": "ninth",
    "twelve": "twelfth",
}
_NOT_WORD = re.compile(r"[^\w']")


@dataclass(frozen=True)
class Spoken:
    """One spoken word: the word (lower case), the written word it came from, the mark after it.

    `written` is "" for words a number or a link became; `mark` is the sentence mark (. ? !)
    or comma that followed the written token, "" if none.
    """

    word: str
    written: str = ""
    mark: str = ""


def cardinal(number: int) -> list[str]:
    """`number` (0 to 999 trillion) in words: 69 → ["sixty", "nine"], 1250 → one thousand ..."""
    small = number_words()[0]
    if number in small:
        return [small[number]]
    if number < 100:
        return [small[number - number % 10], small[number % 10]]
    if number < 1000:
        rest = cardinal(number % 100) if number % 100 else []
        return [small[number // 100], "hundred", *rest]
    for scale, name in _SCALES:
        if number >= scale:
            rest = cardinal(number % scale) if number % scale else []
            return [*cardinal(number // scale), name, *rest]
    raise AssertionError(number)  # unreachable: every number >= 1000 has a scale


def digit_words(digits: str) -> list[str]:
    """Each digit in words: "05" → ["zero", "five"]."""
    small = number_words()[0]
    return [small[int(d)] for d in digits]


def integer_words(digits: str) -> list[str]:
    """An integer as said: a cardinal, or digit by digit with a leading zero or over 15 digits."""
    if (digits.startswith("0") and len(digits) > 1) or len(digits) > 15:
        return digit_words(digits)
    return cardinal(int(digits))


def ordinal(digits: str) -> list[str]:
    """An ordinal as said: "21" → ["twenty", "first"], "12" → ["twelfth"]."""
    words = integer_words(digits)
    last = words[-1]
    if last in _ORDINAL_ENDINGS:
        words[-1] = _ORDINAL_ENDINGS[last]
    elif last.endswith("y"):
        words[-1] = last[:-1] + "ieth"
    else:
        words[-1] = last + "th"
    return words


def number_said(match: re.Match[str], numbers: str) -> list[str]:
    """A matched number, its sign, currency and percent sign as words (or digits and words)."""
    sign = {"-": ["minus"], "−": ["minus"], "+": ["plus"]}.get(match["sign"] or "", [])
    written = match["number"]
    if numbers == "digits":
        said = [("0" + written) if written.startswith(".") else written]
    else:
        whole, _, fraction = written.replace(",", "").partition(".")
        said = integer_words(whole) if whole else []
        if fraction:
            said += ["point", *digit_words(fraction)]
    unit = [_CURRENCIES[match["currency"]]] if match["currency"] else []
    percent = ["percent"] if match["percent"] else []
    return [*sign, *said, *unit, *percent]


def letter_words(text: str, numbers: str) -> list[str]:
    """The words of a link's or tag's parts ("keep_me2" → keep me two), without links."""
    return [s.word for s in spoken_words(text.replace("_", " "), numbers=numbers, links="dropped")]


def dotted(host: str, numbers: str) -> list[str]:
    """A host name as said: "mail.example.com" → mail dot example dot com."""
    said: list[str] = []
    for part in host.split("."):
        words = letter_words(part, numbers)
        if words:
            said += ["dot", *words] if said else words
    return said


def link_said(match: re.Match[str], numbers: str, links: str) -> list[str]:
    """A URL, e-mail address or @handle/#hashtag as said aloud, or nothing if dropped."""
    if links == "dropped":
        return []
    if match["url"]:
        host = re.sub(r"^(?:https?://)?(?:www\.)?", "", match["url"])
        host = re.split(r"[^\w.-]", host)[0]
        return dotted(host, numbers)
    if match["email"]:
        local, _, domain = match["email"].partition("@")
        return [
            *letter_words(re.sub(r"[.+-]", " ", local), numbers),
            "at",
            *dotted(domain, numbers),
        ]
    tag = match["tag"]
    return ["at" if tag[0] == "@" else "hashtag", *letter_words(tag[1:], numbers)]


def mark_after(text: str) -> str:
    """The mark a recogniser that restores punctuation writes for the gap `text`: . ? ! or ,."""
    for char in text:
        if char in ".?!":
            return char
    return "," if any(char in ",;:" for char in text) else ""


def spoken_words(text: str, *, numbers: str = "words", links: str = "spoken") -> list[Spoken]:
    """The words a recogniser writes for `text` read aloud, in order.

    Words are lower-cased runs of letters with inner apostrophes (’ becomes '); hyphenated
    words are two words; "&" is "and". `numbers`: "words" says each number ("69" → sixty nine,
    "-.69" → minus point six nine, "3rd" → third, "$5" → five dollars, "50%" → fifty
    percent); "digits" keeps it as written with the sign, currency and percent said in words.
    `links`: "spoken" says URLs (host only: example dot org), e-mail addresses and
    @handles/#hashtags ("at"/"hashtag" and their words); "dropped" leaves them out. Any other
    character (punctuation, symbols, emoji) is silent.
    """
    matches = list(_TOKENS.finditer(text))
    out: list[Spoken] = []
    for k, match in enumerate(matches):
        gap_end = matches[k + 1].start() if k + 1 < len(matches) else len(text)
        mark = mark_after(text[match.end() : gap_end])
        if match["word"]:
            written = match["word"]
            said = [Spoken(_NOT_WORD.sub("", written.lower().replace("’", "'")), written)]
        else:
            if match["ampersand"]:
                words = ["and"]
            elif match["ordinal"]:
                digits = match["ordinal"][:-2]
                words = ordinal(digits) if numbers == "words" else [match["ordinal"]]
            elif match["number"]:
                words = number_said(match, numbers)
            else:
                words = link_said(match, numbers, links)
            said = [Spoken(word) for word in words]
        said = [s for s in said if s.word]
        if said:
            said[-1] = Spoken(said[-1].word, said[-1].written, mark)
        out += said
    return out


# ---------------------------------------------------------------------------------------------
# How words sound.

_KEY_RULES = [
    (re.compile(pattern), replacement)
    for pattern, replacement in (
        (r"^(?:kn|gn|pn|wr)", lambda m: m.group()[1]),
        (r"^x", "s"),
        (r"^wh", "w"),
        (r"([^c])\1", r"\1"),
        (r"mb$", "m"),
        (r"ph", "f"),
        (r"sch", "sk"),
        (r"[tc]i(?=[ao])|sh|ch", "x"),
        (r"th", "0"),
        (r"dg(?=[eiy])", "j"),
        (r"c(?=[eiy])", "s"),
        (r"ck|c|q", "k"),
        (r"gh(?![aeiou])", ""),
        (r"g(?=[eiy])", "j"),
        (r"x", "ks"),
        (r"z", "s"),
        (r"d", "t"),
        (r"v", "f"),
        (r"h(?![aeiou])", ""),
        (r"[wy](?![aeiou])", ""),
    )
]


def phonetic_key(word: str) -> str:
    """A key of how `word` sounds (simplified Metaphone): words that sound alike share it.

    Silent letters go (knight, lamb), letter groups become their sound (ph → f, ch/sh → x,
    th → 0), voiced and voiceless pairs merge (d/t, v/f) and vowels other than a first one are
    dropped, a first vowel becoming "a". Only the letters a-z count.

    Examples:
        >>> phonetic_key("night"), phonetic_key("knight"), phonetic_key("kettle")
        ('nt', 'nt', 'ktl')
    """
    key = "".join(c for c in word.lower() if "a" <= c <= "z")
    for pattern, replacement in _KEY_RULES:
        key = pattern.sub(replacement, key)
    if not key:
        return ""
    first = "a" if key[0] in "aeiou" else key[0]
    return first + re.sub(r"[aeiou]", "", key[1:])


@functools.cache
def lexicon_words(name: str) -> tuple[str, ...]:
    """The whitespace-separated words of a shipped word list."""
    return tuple(word for (line,) in read_lexicon(name) for word in line.split())


@functools.cache
def homophones() -> dict[str, tuple[str, ...]]:
    """Each word of the homophone list and the other words that sound the same."""
    sound_alikes: dict[str, tuple[str, ...]] = {}
    for (line,) in read_lexicon("homophones.txt"):
        words = line.split()
        for word in words:
            sound_alikes[word] = tuple(w for w in words if w != word)
    return sound_alikes


@functools.cache
def vocabulary() -> dict[str, tuple[str, ...]]:
    """The words a recogniser may write for a misheard one, by phonetic key.

    The shipped common, function, homophone and synonym words, without negations: a near-phone
    never turns a word into "not" or "no" (a homophone may: know → no).
    """
    negation = re.compile(PROTECTED_SPANS["negations"])
    words = {
        *lexicon_words("common_words.txt"),
        *lexicon_words("function_words.txt"),
        *homophones(),
        *(w for word, options in synonyms().items() for w in (word, *options) if " " not in w),
    }
    by_key: dict[str, list[str]] = {}
    for word in sorted(words):
        if not negation.fullmatch(word):
            by_key.setdefault(phonetic_key(word), []).append(word)
    return {key: tuple(group) for key, group in by_key.items()}


NEAR_PHONE_CHOICES = 3
"""A misheard word without a homophone becomes one of this many nearest-sounding words."""


@functools.lru_cache(maxsize=65_536)
def near_phones(word: str) -> tuple[str, ...]:
    """What a recogniser may write for `word`: its homophones, else its nearest-sounding words.

    Nearest: the listed words (`vocabulary`) other than `word` whose phonetic key is the
    fewest edits from the word's, closer spelling first; `NEAR_PHONE_CHOICES` of them. Empty
    for a word without a letter a-z (no key to compare).
    """
    if word in homophones():
        return homophones()[word]
    key = phonetic_key(word)
    if not key:
        return ()
    by_key = vocabulary()
    nearest = process.extract(key, list(by_key), scorer=Levenshtein.distance, limit=12)
    candidates = [(distance, w) for k, distance, _ in nearest for w in by_key[k] if w != word]
    candidates.sort(key=lambda c: (c[0], Levenshtein.distance(word, c[1]), c[1]))
    return tuple(w for _, w in candidates[:NEAR_PHONE_CHOICES])
