"""Recognition errors: what OCR and speech-to-text make of clean text.

Both perturbations read a curated table shipped in `lexicon/` (glyph confusions, homophones),
find every candidate site with one precompiled regular expression and change the hit sites only.
"""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Sequence

import numpy as np

from wince.errors import ParameterError
from wince.perturbations.base import Magnitude, register
from wince.perturbations.text.base import TextPerturbation, match_case, read_lexicon
from wince.perturbations.text.formatting import WORD, punctuation


@functools.cache
def ocr_confusions() -> tuple[re.Pattern[str], dict[str, tuple[str, ...]]]:
    """The pattern of every confusable glyph sequence (longest first) and what each becomes."""
    table = {
        source: tuple(targets.split()) for source, targets in read_lexicon("ocr_confusions.tsv")
    }
    alternation = "|".join(re.escape(s) for s in sorted(table, key=len, reverse=True))
    return re.compile(f"({alternation})"), table


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
def speech_tokens(asr_style: bool) -> re.Pattern[str]:
    """Words, and in ASR style also the marks a recogniser leaves out, as one capture group.

    A mark inside a word or number (it's, well-known, 3.5) is not one of those marks.
    """
    if not asr_style:
        return re.compile(f"({WORD})")
    marks = punctuation()
    return re.compile(f"({WORD}|(?<!\\w)[{marks}]|[{marks}](?!\\w))")


@functools.cache
def capitals() -> re.Pattern[str]:
    """Any upper-case letter (Basic Multilingual Plane) whose lower case is one character."""
    chars = [
        chr(i)
        for i in range(min(sys.maxunicode, 0xFFFF) + 1)
        if chr(i).isupper() and len(chr(i).lower()) == 1
    ]
    return re.compile(f"[{re.escape(''.join(chars))}]")


@register
class OcrErrors(TextPerturbation):
    """Optical character recognition errors: rn→m, l→1, O→0, cl→d, e→c and similar misreadings.

    The rate is the probability that each confusable site is misread. Sites are the non-overlapping
    occurrences, scanning left to right with the longest pattern first, of the glyph sequences in
    `lexicon/ocr_confusions.tsv`: touching or broken glyphs (rn↔m, cl↔d, vv↔w, ri↔n, li→h),
    lost or added strokes (l↔1↔I, O↔0, S↔5, B↔8, Z↔2, e↔c, h↔b, u↔v, g↔q) and specks (.↔,).
    A misread site becomes one of its confusions, chosen uniformly per site whatever the rate.

    Why this unit and range: OCR quality is reported as a character error rate (CER), around
    0.5% for clean laser print and 5-10% for poor scans, faxes and old newspapers. About 45% of
    the characters of English prose are confusable sites and a misreading is one or two character
    edits (rn→m is two), so the CER of English prose is about 0.6 x the rate: the mild end (0.01)
    gives a CER near 0.6%, the severe end (0.15) near 9%. Text with many digits has more sites.

    Sites and choices are drawn whatever the rate, so for one seed a higher rate keeps every
    misreading of a lower one.
    """

    name = "text.ocr_errors"
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


_OPENING = frozenset("([{“‘«¿¡")
_CLOSING = frozenset(".,;:!?)]}”’»…")


def drop_token(kept: list[str], parts: list[str], index: int, lead: str, tail: str) -> None:
    """Drop the token `parts[index]` of a split list (text, token, text, ...) and a space.

    The text stays spaced as before: "the fox" loses "the ", "see it." loses " it", "(the fox"
    loses "the ", and "Hello, world" loses only the comma. `kept` holds the non-empty parts
    kept before `index`, in order (its last one may lose a space); `parts[index + 1]` may lose
    its first. `lead` and `tail` are the characters just before and after the list ("" at the
    edges of the text).
    """
    before = kept[-1][-1] if kept else lead
    after = parts[index + 1]
    following = after[:1] or (parts[index + 2][:1] if index + 2 < len(parts) else tail)
    if following.isspace():
        if not before or before.isspace() or before in _OPENING:
            parts[index + 1] = after[1:]
    elif kept and before.isspace() and (not following or following in _CLOSING):
        kept[-1] = kept[-1][:-1]
        if not kept[-1]:
            kept.pop()


@register
class SpeechErrors(TextPerturbation):
    """Speech-to-text errors: words heard as homophones (there/their, know/no) or lost.

    The rate is the word error rate (WER), the measure ASR is judged by: each word (letters, with
    inner apostrophes) is an error site with that probability. A chosen word that has homophones
    in `lexicon/homophones.txt` (178 curated sets) becomes one of them, in its casing; any other
    chosen word is dropped with a space next to it. Short function words (a, the, of, and) are
    the words recognisers drop most; other words are dropped too, because a sound-alike
    substitute needs a pronouncing lexicon: so every chosen word is exactly one word error and
    the measured WER equals the rate, though deletions are over-represented compared with real
    ASR, where substitutions dominate. Digits are not words here and stay.

    With `asr_style` the text also looks like raw recogniser output: each punctuation mark (except
    marks inside a word or number: it's, well-known, 3.5) is lost, and each capital letter
    lower-cased, with probability equal to the rate. The whitespace-token `word_error_rate`
    then also counts words that lost an attached mark or a capital, as an unnormalised WER does.

    Why this range: WER is about 2-5% for read speech with modern recognisers (mild end 0.02)
    and 20-40% for noisy, far-field or accented conversational speech (severe end 0.3).

    Homophones cross negations: "no" may become "know" and "not" "knot", which flips the
    meaning a label depends on; `protect=["negations"]` keeps the text's negations intact (it
    cannot stop "know" from becoming "no").

    Sites and choices are drawn whatever the rate, so for one seed a higher rate keeps every
    error of a lower one.

    Args:
        asr_style: also lose punctuation marks and capitals at the same rate.
        protect: spans never changed (see `TextPerturbation`).

    Raises:
        ParameterError: `asr_style` is not a bool.
    """

    name = "text.speech_errors"
    version = 2
    stochastic = True
    magnitude = Magnitude(
        "word_error_rate",
        unit="fraction of words",
        off=0.0,
        mild=0.02,
        severe=0.3,
        limits=(0.0, 1.0),
    )

    def __init__(self, *, asr_style: bool = True, protect: Sequence[str] = ()) -> None:
        super().__init__(protect=protect)
        if not isinstance(asr_style, bool):
            raise ParameterError(
                f"{self.name}: asr_style must be true or false; got {asr_style!r}. "
                "Try asr_style: false to keep punctuation and capitals."
            )
        self.asr_style = asr_style

    def perturb_text(self, text: str, value: float, rng: np.random.Generator) -> str:
        """Mishear, drop and (in ASR style) flatten the text at word error rate `value`."""
        return self.perturb_piece(text, value, rng, "", "")

    def perturb_piece(
        self, piece: str, value: float, rng: np.random.Generator, lead: str, tail: str
    ) -> str:
        """`perturb_text` for a piece between the characters `lead` and `tail` ("" at edges).

        A dropped word takes a space along depending on its neighbours, which may lie in the
        protected spans on either side of the piece.
        """
        text = piece
        if self.asr_style:
            text = self._lose_capitals(text, value, rng)
        parts = speech_tokens(self.asr_style).split(text)  # text, token, text, token, ..., text
        n = len(parts) // 2
        u, pick = rng.random((2, n))
        sound_alikes = homophones()
        hit = (u < value).tolist()
        kept: list[str] = []  # the non-empty parts so far, as heard
        for index, part in enumerate(parts):
            k = index // 2
            if index % 2 and hit[k]:
                options = sound_alikes.get(part.lower().replace("’", "'"), ())
                if not options:
                    drop_token(kept, parts, index, lead, tail)
                    continue
                heard = options[int(pick[k] * len(options))]
                heard = heard.replace("'", "’") if "’" in part else heard
                part = match_case(heard, part)
            if part:
                kept.append(part)
        return "".join(kept)

    @staticmethod
    def _lose_capitals(text: str, value: float, rng: np.random.Generator) -> str:
        """Lower-case each capital letter with probability `value`."""
        starts = [m.start() for m in capitals().finditer(text)]
        hit = rng.random(len(starts)) < value
        if not hit.any():
            return text
        chars = list(text)
        for i in np.asarray(starts)[hit].tolist():
            chars[i] = chars[i].lower()
        return "".join(chars)
