"""Recognition errors: what OCR and speech-to-text make of clean text.

OCR misreads glyphs from a curated table shipped in `lexicon/`, finding every confusable site
with one precompiled regular expression. Speech-to-text writes the text as a recogniser would
(`spoken`) and makes a recogniser's word errors: substitutions by sound, deletions and
insertions of function words.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

import numpy as np

from wince.errors import ParameterError
from wince.perturbations.base import Magnitude, Phrase, check_choice, register
from wince.perturbations.text.base import (
    TextPerturbation,
    is_word_character,
    match_case,
    read_lexicon,
)
from wince.perturbations.text.spoken import (
    LINK_STYLES,
    NUMBER_STYLES,
    Spoken,
    lexicon_words,
    near_phones,
    spoken_words,
)
from wince.perturbations.words import share


@functools.cache
def ocr_confusions() -> tuple[re.Pattern[str], dict[str, tuple[str, ...]]]:
    """The pattern of every confusable glyph sequence (longest first) and what each becomes."""
    table = {
        source: tuple(targets.split()) for source, targets in read_lexicon("ocr_confusions.tsv")
    }
    alternation = "|".join(re.escape(s) for s in sorted(table, key=len, reverse=True))
    return re.compile(f"({alternation})"), table


@register
class OcrErrors(TextPerturbation):
    """Optical character recognition errors: rn→m, l→1, O→0, cl→d, e→c and similar misreadings.

    The rate is the probability that each confusable site is misread. Sites are the non-overlapping
    occurrences, scanning left to right with the longest pattern first, of the glyph sequences in
    `lexicon/ocr_confusions.tsv`: touching or broken glyphs (rn↔m, cl↔d, vv↔w, ri↔n, li→h),
    lost or added strokes (l↔1↔I, O↔0, S↔5, B↔8, Z↔2, e↔c, h↔b, u↔v, g↔q) and specks (.↔,).
    A misread site becomes one of its confusions, chosen uniformly per site whatever the rate.

    Why this unit and range: OCR quality is reported as a character error rate (CER), under 1%
    for clean laser print in the UNLV accuracy tests (Rice, Jenkins and Nartker 1996, "The
    Fifth Annual Test of OCR Accuracy", ISRI technical report) and 2-29% for digitised
    historic newspapers (Holley 2009, "How Good Can It Get?", D-Lib Magazine 15(3/4):
    character accuracy 71-98%). About 45% of
    the characters of English prose are confusable sites and a misreading is one or two character
    edits (rn→m is two), so the CER of English prose is about 0.6 x the rate: the mild end (0.01)
    gives a CER near 0.6%, the severe end (0.15) near 9%. Text with many digits has more sites.

    Sites and choices are drawn whatever the rate, so for one seed a higher rate keeps every
    misreading of a lower one.
    """

    name = "text.ocr_errors"
    family = "text.typos"
    phrase = Phrase(
        lambda v: f"text-recognition (OCR) errors at {share(v)} of the characters it confuses"
    )
    version = 2
    stochastic = True
    magnitude = Magnitude(
        "ocr_error_rate",
        unit="fraction of confusable character sites",
        off=0.0,
        mild=0.01,
        severe=0.15,
        limits=(0.0, 1.0),
    )

    def perturb_text(self, text: str, value: float, rng: np.random.Generator) -> str:
        """Misread each confusable site with probability `value`."""
        pattern, table = ocr_confusions()
        parts = pattern.split(text)  # text, site, text, site, ..., text
        n = len(parts) // 2
        u, pick = rng.random((2, n))
        for k in np.flatnonzero(u < value).tolist():
            options = table[parts[2 * k + 1]]
            parts[2 * k + 1] = options[int(pick[k] * len(options))]
        return "".join(parts)


ERROR_MIX = {"substitution": 0.6, "deletion": 0.25, "insertion": 0.15}
"""Shares of a recogniser's word errors by kind (see `SpeechErrors`)."""
SPEECH_STYLES = ("raw", "restored")
HESITATIONS = ("uh", "um")


@register
class SpeechErrors(TextPerturbation):
    """Speech-to-text errors: the text as a recogniser writes it, with its word errors.

    The text is first read aloud (`spoken.spoken_words`): lower-case words without punctuation,
    numbers said in words ("-.69" → "minus point six nine", or digits with `numbers: digits`),
    URLs, e-mail addresses and @handles said ("example dot org", `links: dropped` leaves them
    out). With `style: restored` the words keep their written casing and the sentence marks
    and commas after them, as recognisers that restore punctuation write. Then the recogniser's
    errors, at a word error rate (WER, errors per spoken word) equal to the rate:

    - substitutions: a word becomes a homophone (`lexicon/homophones.txt`: there/their,
      know/no) or, without one, one of the nearest-sounding listed words (`spoken.near_phones`,
      by simplified Metaphone key: kettle → cattle);
    - deletions: a short function word (`lexicon/function_words.txt`: a, the, of, it) is lost;
    - insertions: a short function word (or, with `hesitations`, "uh"/"um") appears after a
      word.

    The mix is `ERROR_MIX`, 60% substitutions, 25% deletions and 15% insertions: recognisers'
    errors are mostly substitutions, then deletions, with insertions fewest, in the error
    analyses of Switchboard recognisers (Goldwater, Jurafsky and Manning 2010, "Which words are
    hard to recognize?", Speech Communication 52(3)); deletions and insertions fall mostly on
    short function words there. Each word is a substitution site at `0.6 x rate`; deletions
    are spread over the function words (`0.25 x rate x words / function words` each; all
    words when a piece has none); each gap after a word takes an insertion at `0.15 x rate`.
    So the expected word edits against the spoken text are the rate times its words (a few
    fewer when a site's probability would pass 1, or a deletion next to an insertion counts as
    one substitution).

    Why this range: WER is 2-5% for modern recognisers on conversational telephone speech
    scored carefully (Faria et al. 2022, "Toward Zero Oracle Word Error Rate on the
    Switchboard Benchmark", Interspeech; mild end 0.02), and commercial recognisers averaged
    19% for white and 35% for Black American speakers in conversational interviews (Koenecke
    et al. 2020, "Racial disparities in automated speech recognition", PNAS 117(14); severe
    end 0.3).

    Homophones cross negations: "know" may become "no" and "knot" "not", which flips the
    meaning a label depends on; `protect=["negations"]` keeps the text's negations as written
    (it cannot stop "know" from becoming "no"). Near-phones never produce a negation. A
    protected span stays as written (a protected number keeps its digits), with a space
    between it and the words around it where punctuation stood.

    Sites and choices are drawn whatever the rate, so for one seed a higher rate keeps every
    error of a lower one.

    Args:
        style: "raw" (lower case, no punctuation) or "restored" (written casing and marks).
        numbers: "words" (numbers said) or "digits" (kept as digits).
        links: "spoken" (URLs, addresses and handles said) or "dropped".
        hesitations: insertions may also be "uh" and "um".
        protect: spans never changed (see `TextPerturbation`).

    Raises:
        ParameterError: an unknown style, numbers or links choice; `hesitations` not a bool.
    """

    name = "text.speech_errors"
    phrase = Phrase(lambda v: f"speech-to-text mistakes in {share(v)} of words")
    version = 3
    stochastic = True
    magnitude = Magnitude(
        "word_error_rate",
        unit="fraction of spoken words",
        off=0.0,
        mild=0.02,
        severe=0.3,
        limits=(0.0, 1.0),
    )

    def __init__(
        self,
        *,
        style: str = "raw",
        numbers: str = "words",
        links: str = "spoken",
        hesitations: bool = False,
        protect: Sequence[str] = (),
    ) -> None:
        super().__init__(protect=protect)
        self.style = check_choice(self.name, "style", style, SPEECH_STYLES)
        self.numbers = check_choice(self.name, "numbers", numbers, NUMBER_STYLES)
        self.links = check_choice(self.name, "links", links, LINK_STYLES)
        if not isinstance(hesitations, bool):
            raise ParameterError(
                f"{self.name}: hesitations must be true or false; got {hesitations!r}. "
                "Try hesitations: true to let the recogniser insert uh and um."
            )
        self.hesitations = hesitations
        self.insertions = lexicon_words("function_words.txt") + (HESITATIONS if hesitations else ())

    def perturb_text(self, text: str, value: float, rng: np.random.Generator) -> str:
        """The text as a recogniser writes it at word error rate `value`."""
        return self.perturb_piece(text, value, rng, "", "")

    def perturb_piece(
        self, piece: str, value: float, rng: np.random.Generator, lead: str, tail: str
    ) -> str:
        """`perturb_text` for a piece between the characters `lead` and `tail` ("" at edges).

        A piece glued to a protected span (no space or mark between) keeps a word there: its
        edge word may be substituted but not deleted, and takes no insertion after it. Where
        a mark or space stood next to a span, one space stands.
        """
        if not piece:
            return ""
        words = spoken_words(piece, numbers=self.numbers, links=self.links)
        glued_start = bool(lead) and is_word_character(piece[0])
        glued_end = bool(tail) and is_word_character(piece[-1])
        heard = self.mishear(words, value, rng, glued_start, glued_end)
        body = self.render(heard, at_text_start=not lead)
        left = " " if lead and not glued_start else ""
        right = " " if tail and not glued_end else ""
        if not body:
            return " " if left and right else ""
        return left + body + right

    def mishear(
        self,
        words: list[Spoken],
        value: float,
        rng: np.random.Generator,
        glued_start: bool,
        glued_end: bool,
    ) -> list[Spoken]:
        """The spoken words with substitutions, deletions and insertions at rate `value`."""
        n = len(words)
        error_u, kind_u, pick, insert_u, insert_pick = rng.random((5, n))
        if n == 0:
            return []
        function_words = frozenset(lexicon_words("function_words.txt"))
        fixed = {0} if glued_start else set()
        fixed |= {n - 1} if glued_end else set()
        deletable = [i not in fixed and w.word in function_words for i, w in enumerate(words)]
        if not any(deletable):
            deletable = [i not in fixed for i in range(n)]
        share = ERROR_MIX["deletion"] * n / max(sum(deletable), 1)
        heard: list[Spoken] = []
        for i, spoken in enumerate(words):
            deletion = share if deletable[i] else 0.0
            weight = ERROR_MIX["substitution"] + deletion
            options = near_phones(spoken.word)
            if error_u[i] >= value * weight:
                heard.append(spoken)
            elif kind_u[i] * weight >= deletion and options:
                heard.append(
                    Spoken(options[int(pick[i] * len(options))], spoken.written, spoken.mark)
                )
            elif i not in fixed:  # deleted: a mark after it stays with the word before
                if heard and not heard[-1].mark:
                    heard[-1] = Spoken(heard[-1].word, heard[-1].written, spoken.mark)
            else:
                heard.append(spoken)
            if (glued_end and i == n - 1) or insert_u[i] >= value * ERROR_MIX["insertion"]:
                continue
            inserted = self.insertions[int(insert_pick[i] * len(self.insertions))]
            mark = heard[-1].mark if heard else ""
            if heard:
                heard[-1] = Spoken(heard[-1].word, heard[-1].written)
            heard.append(Spoken(inserted, "", mark))
        return heard

    def render(self, words: list[Spoken], *, at_text_start: bool) -> str:
        """The words as the recogniser writes them: raw, or with casing and marks restored."""
        if self.style == "raw":
            return " ".join(w.word for w in words)
        out = []
        sentence_start = at_text_start
        for w in words:
            word = match_case(w.word, w.written) if w.written else w.word
            if sentence_start or word == "i":
                word = word[:1].upper() + word[1:]
            out.append(word + w.mark)
            sentence_start = w.mark in (".", "?", "!")
        return " ".join(out)
