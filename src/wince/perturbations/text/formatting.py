"""Unicode and formatting perturbations: look-alikes, invisible characters, spacing, casing.

Also equivalent Unicode forms, typographic punctuation and punctuation slips.

Each finds its candidate sites with one precompiled regular expression (or, for zero-width
characters, every position) and changes the hit sites only.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable, Sequence

import numpy as np

from wince.perturbations.base import Phrase, check_choice, check_subset, register
from wince.perturbations.text.base import TextPerturbation, rate_magnitude, read_lexicon
from wince.perturbations.words import share


def char_class(predicate: Callable[[str], bool], *, last: int = 0xFFFF) -> str:
    """The body of a regex character class (no brackets) of the code points up to `last`."""
    ranges: list[tuple[int, int]] = []
    for i in range(last + 1):
        if predicate(chr(i)):
            if ranges and ranges[-1][1] == i - 1:
                ranges[-1] = (ranges[-1][0], i)
            else:
                ranges.append((i, i))
    return "".join(
        re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}"
        for a, b in ranges
    )


@functools.cache
def punctuation() -> str:
    """Character class body of Unicode punctuation (category P*) in the Basic Multilingual Plane.

    Built on first use: scanning the plane takes about 20 ms.
    """
    return char_class(lambda c: unicodedata.category(c).startswith("P"))


@functools.cache
def punctuation_marks() -> re.Pattern[str]:
    """Any one punctuation mark."""
    return re.compile(f"[{punctuation()}]")


WORD = r"[^\W\d_]+(?:['’][^\W\d_]+)*"  # letters, with inner apostrophes: they're, it’s
_WORDS = re.compile(f"({WORD})")
_SPACE_RUNS = re.compile(r"(\s+)")


# ---------------------------------------------------------------------------------------------
# Characters that look or normalise the same.


@functools.cache
def homoglyph_table() -> tuple[re.Pattern[str], dict[str, tuple[str, ...]]]:
    """The pattern of Latin letters with look-alikes and their Cyrillic or Greek look-alikes."""
    table = {
        latin: tuple(chr(int(code, 16)) for code in codes.split())
        for latin, codes, _names in read_lexicon("homoglyphs.tsv")
    }
    return re.compile(f"([{re.escape(''.join(table))}])"), table


@register
class Homoglyphs(TextPerturbation):
    """Latin letters swapped for Cyrillic or Greek look-alikes (a→а, e→е, o→о, p→р, A→А, B→В).

    The text reads the same but its code points differ, as in spam and phishing that dodges
    keyword filters, or text mixing scripts after copy and paste. The rate is the probability
    that each Latin letter with a look-alike in `lexicon/homoglyphs.tsv` (32 letters, about
    60% of the letters of English prose) is replaced; where a letter has two look-alikes
    (o → Cyrillic о or Greek ο) one is chosen per site, whatever the rate. Each replacement is
    one character edit.

    Why this range (a judgement; no published rates exist): a stray look-alike from mixed-script
    copy and paste is rare (mild end 0.01); filter-evading text replaces a letter in every word
    or two (severe end 0.2). Visual attacks on NLP models swap characters for look-alikes at
    such rates and higher (Eger et al. 2019, "Text Processing Like Humans Do: Visually
    Attacking and Shielding NLP Systems", NAACL), but no source gives the rate in ordinary
    text, so this is a stress test (`stress`): usable in a plan that names it, never in a
    preset.
    """

    name = "text.homoglyphs"
    family = "text.unicode"
    phrase = Phrase(
        lambda v: f"{share(v)} of letters swapped for look-alike Cyrillic or Greek letters"
    )
    version = 2
    stress = True
    stochastic = True
    magnitude = rate_magnitude("homoglyph_rate", "fraction of letters with a look-alike", 0.01, 0.2)

    def perturb_text(self, text: str, value: float, rng: np.random.Generator) -> str:
        """Replace each letter that has a look-alike with probability `value`."""
        pattern, table = homoglyph_table()
        parts = pattern.split(text)
        n = len(parts) // 2
        u, pick = rng.random((2, n))
        for k in np.flatnonzero(u < value).tolist():
            options = table[parts[2 * k + 1]]
            parts[2 * k + 1] = options[int(pick[k] * len(options))]
        return "".join(parts)


ZERO_WIDTH = ("\u200b", "\u200c", "\u200d", "\u2060", "\ufeff")


@register
class ZeroWidth(TextPerturbation):
    """Invisible zero-width characters inserted into the text, as left by web pages and editors.

    Inserted are zero-width space (U+200B), non-joiner (U+200C), joiner (U+200D), word joiner
    (U+2060) and zero-width no-break space / byte-order mark (U+FEFF), one chosen per site. The
    rate is insertions per character: each character position (after each character) receives
    one with that probability, so the character error rate equals the rate.

    Why this range (a judgement; no published rates exist): text copied from web pages, chat apps
    and word processors carries stray invisible characters, a few per thousand characters (mild end
    0.005); text made to evade filters or fingerprint copies has one every ten characters (severe
    end 0.1). No source measures these rates in ordinary text, so this is a stress test
    (`stress`): usable in a plan that names it, never in a preset.
    """

    name = "text.zero_width"
    family = "text.unicode"
    phrase = Phrase(lambda v: f"invisible characters inserted ({v:g} per character)")
    version = 2
    stress = True
    stochastic = True
    magnitude = rate_magnitude("zero_width_rate", "insertions per character", 0.005, 0.1)

    def perturb_text(self, text: str, value: float, rng: np.random.Generator) -> str:
        """Insert a zero-width character after each character with probability `value`."""
        u, pick = rng.random((2, len(text)))
        hits = np.flatnonzero(u < value).tolist()
        if not hits:
            return text
        kinds = (pick[hits] * len(ZERO_WIDTH)).astype(np.intp).tolist()
        pieces: list[str] = []
        done = 0
        for i, kind in zip(hits, kinds, strict=True):
            pieces += (text[done : i + 1], ZERO_WIDTH[kind])
            done = i + 1
        pieces.append(text[done:])
        return "".join(pieces)


def _decomposable(c: str) -> bool:
    return c.isalpha() and len(unicodedata.normalize("NFD", c)) > 1


# Precomposed Latin, Greek and Cyrillic letters (Latin-1 to Cyrillic, Latin Extended Additional,
# Greek Extended): é, ñ, ü, ά, й.
_PRECOMPOSED = "".join(
    c
    for lo, hi in ((0xC0, 0x4FF), (0x1E00, 0x1FFF))
    for i in range(lo, hi + 1)
    if _decomposable(c := chr(i))
)
_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
VARIANT_FORMS = ("decomposed", "fullwidth", "ligature", "nbsp")
_VARIANTS: dict[str, dict[str, str]] = {
    "decomposed": {c: unicodedata.normalize("NFD", c) for c in _PRECOMPOSED},
    "fullwidth": {c: chr(ord(c) + 0xFEE0) for c in _ALNUM},
    "ligature": {"fi": "\ufb01", "fl": "\ufb02"},
    "nbsp": {" ": "\u00a0"},
}


@register
class UnicodeVariants(TextPerturbation):
    """Characters written in an equivalent Unicode form: decomposed accents, full-width, ligatures.

    The text looks the same (or nearly) and is equal after NFKC normalisation, but its code
    points differ, as text from different systems does: precomposed accented letters decomposed
    (NFD, as macOS file names and some keyboards produce: "é" → "e" + U+0301), ASCII letters and
    digits in their full-width forms (East Asian input methods: "A" → "Ａ"), "fi" and "fl" as
    ligatures (PDF extraction: "fi" → "ﬁ") and spaces as no-break spaces (word processors and
    web pages). `forms` chooses which.

    The rate is the probability that each eligible site (a character, or a "fi"/"fl" pair) takes
    its variant form; with every form on, nearly every character of English prose is eligible.
    A decomposition counts as one character edit (plus one for the added mark) in the
    character error rate, though NFC or NFKC undoes it.

    Why this range (a judgement; no published rates exist): a few variant characters in a text
    merged from several sources are common (mild end 0.01); heavily mixed text has a third of its
    characters in another form (severe end 0.3). Converting everything (rate 1, e.g. a whole NFD
    text) is allowed and warns as outside that mixed range: it no longer depends on the seed.
    Real text copied from PDFs and phones carries such characters at low per-character rates,
    but no source measures them, so this is a stress test (`stress`): usable in a plan that
    names it, never in a preset.

    Args:
        forms: which variants to produce: any of "decomposed", "fullwidth", "ligature", "nbsp".
        protect: spans never changed (see `TextPerturbation`).

    Raises:
        ParameterError: `forms` is not a non-empty list of the names above.
    """

    name = "text.unicode_variants"
    family = "text.unicode"
    phrase = Phrase(lambda v: f"{share(v)} of characters written in an equivalent Unicode form")
    version = 2
    stress = True
    stochastic = True
    magnitude = rate_magnitude("variant_rate", "fraction of eligible characters", 0.01, 0.3)

    def __init__(
        self, *, forms: Sequence[str] = VARIANT_FORMS, protect: Sequence[str] = ()
    ) -> None:
        super().__init__(protect=protect)
        self.forms = check_subset(self.name, "forms", forms, VARIANT_FORMS)
        self.variants = {k: v for form in self.forms for k, v in _VARIANTS[form].items()}
        pairs = [re.escape(k) for k in self.variants if len(k) > 1]
        singles = "".join(k for k in self.variants if len(k) == 1)
        if singles:
            pairs.append(f"[{re.escape(singles)}]")
        self.sites = re.compile(f"({'|'.join(pairs)})")

    def perturb_text(self, text: str, value: float, rng: np.random.Generator) -> str:
        """Rewrite each eligible site in its variant form with probability `value`."""
        parts = self.sites.split(text)
        n = len(parts) // 2
        u = rng.random(n)
        for k in np.flatnonzero(u < value).tolist():
            parts[2 * k + 1] = self.variants[parts[2 * k + 1]]
        return "".join(parts)


# ---------------------------------------------------------------------------------------------
# Punctuation and spacing.

_SMART = re.compile(r"\.\.\.|--| - |[\"'“”‘’–—…]")
_OPENERS = frozenset(" \t\n\r\u00a0([{<“‘«—–-/")
_FIXED = {"--": "—", " - ": " – ", "...": "…", "“": '"', "”": '"', "‘": "'", "’": "'"}
_FIXED |= {"–": "-", "—": "--", "…": "..."}
OPENING = {'"': "“", "'": "‘"}
CLOSING = {'"': "”", "'": "’"}


@register
class SmartPunctuation(TextPerturbation):
    """Quotes, apostrophes, dashes and ellipses switched between straight and typographic forms.

    Word processors and phone keyboards "smarten" what was typed ('"' → “ or ”, "'" → ’ or ‘,
    " - " → " – ", "--" → "—", "..." → "…"); plain-text tools and some keyboards do the reverse
    (“ ” → '"', ‘ ’ → "'", – → -, — → --, … → ...). Text pasted together from both mixes them.
    Each eligible mark switches form with probability equal to the rate; opening or closing
    quotes are chosen from the character before (start, space or bracket: opening). A straight
    apostrophe becomes ’ inside and after words, as typographers write it.

    Why this range: the rate is per eligible mark because only those can change. By
    construction a device or editor converts every mark of a text or none (smart punctuation is
    a setting), so a text merged from sources with and without it holds the other form in the
    share of the text that came from the other source, and any share occurs: a few marks (mild
    end 0.05) up to half of them (severe end 0.5).
    Converting every mark (rate 1, what autocorrect does to a whole document) is allowed and
    warns as outside that mixed range: it no longer depends on the seed. Ellipses and doubled
    dashes change length, so their switch is 2 character edits; others are 1.
    """

    name = "text.smart_punctuation"
    family = "text.unicode"
    phrase = Phrase(
        lambda v: (
            f"{share(v)} of quotes, dashes and ellipses switched between straight and curly forms"
        )
    )
    version = 2
    stochastic = True
    magnitude = rate_magnitude("switch_rate", "fraction of quotes, dashes and ellipses", 0.05, 0.5)

    @classmethod
    def example_batch(cls) -> list[str]:
        """Texts with straight and typographic marks (the shared examples have almost none)."""
        return SMART_EXAMPLES

    def perturb_text(self, text: str, value: float, rng: np.random.Generator) -> str:
        """Switch each eligible mark's form with probability `value`."""
        sites = list(_SMART.finditer(text))
        hits = np.flatnonzero(rng.random(len(sites)) < value).tolist()
        pieces: list[str] = []
        done = 0
        for k in hits:
            match = sites[k]
            mark = match.group()
            if mark in _FIXED:
                switched = _FIXED[mark]
            else:
                start = match.start()
                opening = start == 0 or text[start - 1] in _OPENERS
                switched = OPENING[mark] if opening else CLOSING[mark]
            pieces += (text[done : match.start()], switched)
            done = match.end()
        pieces.append(text[done:])
        return "".join(pieces)


SMART_EXAMPLES = [
    '"Don\'t panic," she said -- and then... nothing.',
    "It’s “fine” — really… The ‘old’ sign said 9–5.",
    "",
    "He wrote 'soon' - twice - and signed \"J.\"",
    "No marks here at all",
    "Mixed: \"one\", “two”, 'three' and ‘four’ -- done...",
]

WHITESPACE_KINDS = ("missing", "extra", "other")
_OTHER_SPACES = ("\t", "\n", "\u00a0")


@register
class Whitespace(TextPerturbation):
    """Missing, doubled or odd whitespace between words, and stray spaces at the ends.

    Each gap between words (a run of whitespace) is a site, and so are the start and end of a
    text that has no whitespace there. A hit gap, with its kind drawn per site from `kinds`
    (whatever the rate): "missing" drops the gap so the words merge, "extra" doubles it (one
    more of its last character), "other" replaces it by a tab, a newline or a no-break space
    (one that differs from the gap, chosen per site). At a start or end without whitespace,
    "missing" has nothing to drop, so the kind is drawn from the other allowed kinds: a space
    or other whitespace is added; with `kinds=["missing"]` the ends are not sites.

    The rate is the probability of a change per gap, the unit in which PDF extraction and OCR
    whitespace errors are counted. Why this range: stray double spaces and lost spaces affect
    edited or extracted text (1 gap in 100, mild end 0.01) up to multi-column PDFs or poor OCR (1
    gap in 5, severe end 0.2), but no published source found gives these rates per gap, so this
    is a stress test (`stress`): usable in a plan that names it, never in a preset.

    Args:
        kinds: which changes to make, any of "missing", "extra", "other".
        protect: spans never changed (see `TextPerturbation`).

    Raises:
        ParameterError: `kinds` is not a non-empty list of the names above.
    """

    name = "text.whitespace"
    family = "text.unicode"
    phrase = Phrase(
        lambda v: f"missing, doubled or odd spaces at {share(v)} of the gaps between words"
    )
    stress = True
    version = 2
    stochastic = True
    magnitude = rate_magnitude("whitespace_error_rate", "fraction of gaps between words", 0.01, 0.2)

    def __init__(
        self, *, kinds: Sequence[str] = WHITESPACE_KINDS, protect: Sequence[str] = ()
    ) -> None:
        super().__init__(protect=protect)
        self.kinds = check_subset(self.name, "kinds", kinds, WHITESPACE_KINDS)
        self.edge_kinds = tuple(k for k in self.kinds if k != "missing")

    def perturb_text(self, text: str, value: float, rng: np.random.Generator) -> str:
        """Change each gap (and a bare start or end) with probability `value`."""
        parts = _SPACE_RUNS.split(text)  # words, gap, words, gap, ..., words
        if self.edge_kinds and text:
            if parts[0]:
                parts[:0] = ["", ""]  # an empty gap at the start
            if parts[-1]:
                parts += ["", ""]
        n = len(parts) // 2
        u, kind_u, pick = rng.random((3, n))
        for k in np.flatnonzero(u < value).tolist():
            gap = parts[2 * k + 1]
            kinds = self.kinds if gap else self.edge_kinds
            kind = kinds[int(kind_u[k] * len(kinds))]
            if kind == "missing":
                parts[2 * k + 1] = ""
            elif kind == "extra":
                parts[2 * k + 1] = gap + (gap[-1:] or " ")
            else:
                options = [s for s in _OTHER_SPACES if s != gap]
                parts[2 * k + 1] = options[int(pick[k] * len(options))]
        return "".join(parts)


PUNCTUATION_MODES = ("both", "remove", "add")
SENTENCE_MARKS = ".!?"
CLAUSE_WORDS = (
    "and but or so yet because which who when while whereas although though since if then"
)
# A gap before a word that opens a clause, right after a letter or digit: where writers add a
# comma that does not belong ("went home, and slept") or leave out one that does.
_CLAUSE_BOUNDARY = re.compile(rf"(?<=[^\W_])(?=[ \t]+(?i:{'|'.join(CLAUSE_WORDS.split())})\b)")
# A sentence-final mark after a letter or digit, at the end of the token: "done." "why?" (not
# the dots inside 3.5, e.g. or a URL, which a letter or digit follows).
_SENTENCE_END = re.compile(rf"(?<=[^\W_])[{SENTENCE_MARKS}](?=\s|\Z)")


@register
class Punctuation(TextPerturbation):
    """Punctuation slips people make: marks left out, commas added, final marks doubled or changed.

    `mode` chooses "remove", "add" or "both". Removal sites are the punctuation marks (Unicode
    category P: . , ; : ! ? ' " ( ) - and others such as % # / @), each removed with probability
    equal to the rate: a missing comma, a lost full stop, an apostrophe dropped in chat. A
    removed mark that stood between spaces takes one space with it. Removal also hits marks
    inside words and numbers (don't → dont, 3.5 → 35): protect numbers if they matter.

    Addition only touches places where people add or misplace punctuation, never the inside of
    a word, number, contraction or URL, and never the whitespace:

    - a clause boundary (a letter or digit, a space, then a word opening a clause: and, but,
      because, which, when, ...) gets an extra comma: "home and slept" → "home, and slept";
    - a sentence-final mark (. ! ? after a letter or digit, ending the token) is doubled
      ("really!!", "why??", "ok..") or changed into another ("done." → "done!"), each with
      probability 1/2 per site, the new mark chosen uniformly.

    Each site is hit with probability equal to the rate; what happens there is drawn per site
    whatever the rate.

    Why this range: the rate is per site because punctuation errors are counted per
    opportunity. Comma slips are among the commonest formal errors of student writing (Connors
    and Lunsford 1988, "Frequency of Formal Errors in Current College Writing", College
    Composition and Communication 39; Lunsford and Lunsford 2008, "Mistakes Are a Fact of Life",
    College Composition and Communication 59), but neither gives a rate per opportunity that
    fixes 1 slip in 50 sites (mild end 0.02) to 1 in 5 (severe end 0.2), so this is a stress
    test (`stress`): usable in a plan that names it, never in a preset.

    Args:
        mode: "remove" marks, "add" the slips above, or "both".
        protect: spans never changed (see `TextPerturbation`).

    Raises:
        ParameterError: `mode` is not one of the names above.
    """

    name = "text.punctuation"
    phrase = Phrase(
        lambda v: f"punctuation dropped or misplaced at {share(v)} of the places it can be"
    )
    calibration = "text.punctuation"
    stress = True
    version = 2
    stochastic = True
    magnitude = rate_magnitude(
        "punctuation_error_rate",
        "fraction of marks, clause boundaries and sentence ends",
        0.02,
        0.2,
    )

    def __init__(self, *, mode: str = "both", protect: Sequence[str] = ()) -> None:
        super().__init__(protect=protect)
        check_choice(self.name, "mode", mode, PUNCTUATION_MODES)
        self.mode = mode

    def perturb_text(self, text: str, value: float, rng: np.random.Generator) -> str:
        """Add slips at clause boundaries and sentence ends, and remove marks, at `value`."""
        return self.perturb_piece(text, value, rng, "", "")

    def perturb_piece(
        self, piece: str, value: float, rng: np.random.Generator, lead: str, tail: str
    ) -> str:
        """`perturb_text` for a piece after the character `lead` ("" at the text's start).

        A mark at the piece's start stands between spaces only if `lead` is a space too, so a
        protected span before it spaces the text as it would unprotected.
        """
        text = piece
        edits: list[tuple[int, int, str]] = []  # replace text[start:end] by the str
        if self.mode != "remove":
            edits += self._additions(text, value, rng)
        if self.mode != "add":
            marks = [m.start() for m in punctuation_marks().finditer(text)]
            u = rng.random(len(marks))
            for k in np.flatnonzero(u < value).tolist():
                at = marks[k]
                # A mark between spaces ("fox - dog") takes one of them along.
                before = text[at - 1] if at else lead
                spaced = (not before or before.isspace()) and text[at + 1 : at + 2] == " "
                edits.append((at, at + 2 if spaced else at + 1, ""))
        if not edits:
            return text
        edits.sort()  # by place; an insertion comes before a change at the same place
        pieces: list[str] = []
        done = 0
        for start, end, replacement in edits:
            if start < done:
                continue  # the mark is already removed or changed
            pieces += (text[done:start], replacement)
            done = end
        pieces.append(text[done:])
        return "".join(pieces)

    @staticmethod
    def _additions(text: str, value: float, rng: np.random.Generator) -> list[tuple[int, int, str]]:
        """Extra commas at clause boundaries; doubled or changed sentence-final marks."""
        sites = sorted(
            [(m.start(), "") for m in _CLAUSE_BOUNDARY.finditer(text)]
            + [(m.start(), m.group()) for m in _SENTENCE_END.finditer(text)]
        )
        u, pick = rng.random((2, len(sites)))
        edits = []
        for k in np.flatnonzero(u < value).tolist():
            at, mark = sites[k]
            if not mark:
                edits.append((at, at, ","))
            elif pick[k] < 0.5:
                edits.append((at, at + 1, mark + mark))
            else:
                others = SENTENCE_MARKS.replace(mark, "")
                edits.append((at, at + 1, others[int((pick[k] - 0.5) * 2 * len(others))]))
        return edits


CASING_STYLES = ("lower", "upper", "title", "random")
_RANDOM_BITS = 62


def recase(word: str, style: str, mask: int) -> str:
    """`word` in `style`; "random" swaps the case of letter j where bit j % 62 of `mask` is set."""
    if style == "lower":
        return word.lower()
    if style == "upper":
        return word.upper()
    if style == "title":
        return word[:1].upper() + word[1:].lower()
    return "".join(
        c.swapcase() if mask >> (j % _RANDOM_BITS) & 1 else c for j, c in enumerate(word)
    )


@register
class Casing(TextPerturbation):
    """Words written in the wrong case: lower-cased names, SHOUTED words, Title Case, rAnDoM.

    The rate is the fraction of words (letters, with inner apostrophes) re-cased in `style`:
    "lower" (chat and search queries drop capitals), "upper" (shouting, headlines, old
    terminals), "title" (first letter capital, the rest lower) or "random" (each letter of a
    chosen word swaps case with probability 1/2, from bits drawn per word whatever the rate).
    A word already in the target case does not change, so the realised share of changed words
    depends on the text: in English prose about one word in eight has a capital, so "lower"
    changes about rate/8 of the words while "upper" changes nearly rate of them.

    Why this range: unnecessary or missing capitals are among the twenty commonest formal errors
    of student writing (Lunsford and Lunsford 2008, "Mistakes Are a Fact of Life", College
    Composition and Communication 59), but no source found gives the share of words recased that
    fixes a few words (mild end 0.05) to half of them (severe end 0.5), so this is a stress test
    (`stress`): usable in a plan that names it, never in a preset. A whole text in one case
    (rate 1, like str.lower()) is allowed and warns as outside that mixed range: it no longer
    depends on the seed.

    Args:
        style: "lower", "upper", "title" or "random".
        protect: spans never changed (see `TextPerturbation`).

    Raises:
        ParameterError: `style` is not one of the names above.
    """

    name = "text.casing"
    phrase = Phrase(lambda v: f"{share(v)} of words written in the wrong case")
    calibration = "text.casing"
    stress = True
    version = 2
    stochastic = True
    magnitude = rate_magnitude("recase_rate", "fraction of words", 0.05, 0.5)

    def __init__(self, *, style: str = "lower", protect: Sequence[str] = ()) -> None:
        super().__init__(protect=protect)
        check_choice(self.name, "style", style, CASING_STYLES)
        self.style = style

    @classmethod
    def example_batch(cls) -> list[str]:
        """Texts with capitals in many words (the shared examples have a few)."""
        return CASING_EXAMPLES

    def perturb_text(self, text: str, value: float, rng: np.random.Generator) -> str:
        """Re-case each word with probability `value`."""
        parts = _WORDS.split(text)
        n = len(parts) // 2
        u = rng.random(n)
        masks = rng.integers(0, 1 << _RANDOM_BITS, size=n) if self.style == "random" else None
        for k in np.flatnonzero(u < value).tolist():
            mask = int(masks[k]) if masks is not None else 0
            parts[2 * k + 1] = recase(parts[2 * k + 1], self.style, mask)
        return "".join(parts)


CASING_EXAMPLES = [
    "The Quick Brown Fox Jumps Over The Lazy Dog.",
    "",
    "Naïve Café Owners In Zürich Served Crème Brûlée. Ελληνικά Κείμενα!",
    "OK",
    "NASA and the ESA Launched It's New Probe From Kourou In French Guiana.",
    "please remember To Bring Your Passport And Two Printed Copies Of The Booking.",
]


_VOWELS = frozenset("aeiouAEIOU")


def lengthen(word: str, extra: int) -> str:
    """`word` drawn out: its last vowel (else its last letter) written `extra` more times.

    Examples:
        >>> lengthen("good", 2), lengthen("so", 3), lengthen("hmm", 2)
        ('gooood', 'soooo', 'hmmmm')
    """
    vowels = [i for i, c in enumerate(word) if c in _VOWELS]
    i = vowels[-1] if vowels else len(word) - 1
    return word[: i + 1] + word[i] * extra + word[i + 1 :]


@register
class Elongation(TextPerturbation):
    """Words drawn out for emphasis, as in informal writing: "sooo good", "yesss", "nooo".

    The rate is the fraction of words (letters, with inner apostrophes) lengthened: the word's
    last vowel (else its last letter) is written two to four more times, the number drawn per
    word whatever the rate. One-letter words ("I", "a") stay as they are. Spell checkers and
    vocabularies built on edited text know none of the lengthened forms.

    Why this range: about one tweet in six holds a lengthened word (Brody and Diakopoulos
    2011, "Cooooooooooooooollllllllllllll!!!!!!!!!!!!!! Using Word Lengthening to Detect
    Sentiment in Microblogs", EMNLP), about 1% of their words at some 15 words a tweet (mild
    end 0.01); the severe end, 0.05, is five times that, for the most emphatic informal text
    (reviews and chat about what the writer feels strongly about, where the paper finds
    lengthening concentrates).

    Args:
        protect: spans never changed (see `TextPerturbation`).
    """

    name = "text.elongation"
    phrase = Phrase(lambda v: f'{share(v)} of words drawn out for emphasis ("sooo good")')
    version = 1
    stochastic = True
    magnitude = rate_magnitude("elongation_rate", "fraction of words", 0.01, 0.05)

    def perturb_text(self, text: str, value: float, rng: np.random.Generator) -> str:
        """Lengthen each word with probability `value`."""
        parts = _WORDS.split(text)
        n = len(parts) // 2
        u = rng.random(n)
        extra = rng.integers(2, 5, size=n)
        for k in np.flatnonzero(u < value).tolist():
            if len(parts[2 * k + 1]) > 1:
                parts[2 * k + 1] = lengthen(parts[2 * k + 1], int(extra[k]))
        return "".join(parts)
