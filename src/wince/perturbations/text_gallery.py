"""The text gallery: one self-contained HTML page of every text perturbation on real sentences.

The sentences are the wince demo's customer reviews and messages (`wince/demo/sentences.tsv`,
written for wince), `EXAMPLES` of them spread evenly through the file. Each perturbation gets a
table: the sentence as written, then perturbed at the mild, moderate and severe points of its
realistic range (`realistic_points`), with every change marked against the original: inserted
text in `<ins>`, deleted text in `<del>` (struck out), substituted text in `<mark>` (the text it
replaced in its tooltip). Texts are compared word by word; a word changed into a similar one
(a typo) or into one of the same length (look-alike letters, other capitals) is compared
character by character, so only the changed characters are marked. Characters a reader
cannot see (zero-width characters, direction marks, no-break and other special spaces, tabs,
line breaks) show as chips such as ⟨ZWSP⟩. The page has no scripts and loads nothing; random
perturbations use seed 0, so it is the same on every machine.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Sequence
from difflib import SequenceMatcher
from pathlib import Path

import numpy as np

from wince.errors import ParameterError
from wince.perturbations.base import DataContext, Modality, Perturbation
from wince.perturbations.gallery import (
    GALLERY_SEED,
    Advance,
    gallery_rngs,
    no_progress,
    page_section,
    perturbations_of,
    realistic_points,
)
from wince.perturbations.text.base import character_error_rate
from wince.terminal import ProgressReporter

EXAMPLES = 30  # sentences per perturbation
PAGE_NAME = "text.html"

# Words (runs of letters and digits), single whitespace characters and single other characters:
# a space turned into a no-break space, or a zero-width character slipped into a word, is then
# one token of its own.
TOKEN = re.compile(r"\w+|\s|[^\w\s]")
# A replaced run of words at least this similar (difflib's ratio, 0-1), or of the same length,
# is compared by character.
CHARACTER_DIFF_RATIO = 0.5
# Short names of the invisible characters text perturbations insert; others show as U+XXXX.
CHIP_NAMES = {
    "\t": "TAB",
    "\n": "LF",
    "\r": "CR",
    "\u00a0": "NBSP",
    "\u00ad": "SHY",
    "\u061c": "ALM",
    "\u2002": "ENSP",
    "\u2003": "EMSP",
    "\u2009": "THSP",
    "\u200a": "HSP",
    "\u200b": "ZWSP",
    "\u200c": "ZWNJ",
    "\u200d": "ZWJ",
    "\u200e": "LRM",
    "\u200f": "RLM",
    "\u202a": "LRE",
    "\u202b": "RLE",
    "\u202c": "PDF",
    "\u202d": "LRO",
    "\u202e": "RLO",
    "\u202f": "NNBSP",
    "\u2060": "WJ",
    "\u2066": "LRI",
    "\u2067": "RLI",
    "\u2068": "FSI",
    "\u2069": "PDI",
    "\ufeff": "ZWNBSP",
}
# Unicode categories a reader cannot see: controls, format characters, line and paragraph
# separators; spaces other than the plain space are shown too (category Zs).
INVISIBLE_CATEGORIES = {"Cc", "Cf", "Zl", "Zp", "Zs"}

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #141414; }
table { border-collapse: collapse; width: 100%; margin-bottom: 2em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.5em; vertical-align: top; text-align: left;
  width: 25%; white-space: pre-wrap; }
th { background: #f2f2f2; white-space: normal; font-weight: normal; }
ins { background: #c8f0c8; text-decoration: none; }
del { background: #f6c8c8; color: #8a1c1c; }
mark { background: #ffe680; }
.chip { font-size: 0.75em; border: 1px solid #888; border-radius: 3px; padding: 0 2px;
  background: #eee; color: #333; }
.legend span { margin-right: 1em; }
"""


def gallery_sentences(count: int = EXAMPLES) -> list[str]:
    """`count` of the demo's sentences, spread evenly from the first to the last.

    Raises:
        ParameterError: `count` is not between 1 and the number of sentences.
    """
    from wince.demo.models import sentiment_data

    texts = list(sentiment_data().x)
    if not 1 <= count <= len(texts):
        raise ParameterError(
            f"gallery: the text gallery shows 1 to {len(texts)} sentences per perturbation; "
            f"got {count}. Choose an example count in that range."
        )
    return [texts[i] for i in np.linspace(0, len(texts) - 1, count).round().astype(int)]


def visible(text: str) -> str:
    """`text` escaped for HTML, each invisible character as a chip such as ⟨ZWSP⟩."""
    return "".join(_chip(c) if _invisible(c) else html.escape(c) for c in text)


def _invisible(character: str) -> bool:
    return character != " " and unicodedata.category(character) in INVISIBLE_CATEGORIES


def _chip_name(character: str) -> str:
    return CHIP_NAMES.get(character, f"U+{ord(character):04X}")


def _chip(character: str) -> str:
    description = unicodedata.name(character, "control character")
    title = f"U+{ord(character):04X} {description}"
    return f'<span class="chip" title="{title}">⟨{_chip_name(character)}⟩</span>'


def _plain(text: str) -> str:
    """`text` with its invisible characters named (⟨ZWSP⟩), for a tooltip."""
    return "".join(f"⟨{_chip_name(c)}⟩" if _invisible(c) else c for c in text)


def marked_diff(original: str, perturbed: str) -> str:
    r"""`perturbed` as HTML, its differences from `original` marked.

    Inserted text is in `<ins>`, deleted text (from the original) in `<del>`, substituted text
    in `<mark>` whose title gives what it replaced and names non-ASCII characters by code
    point. Invisible characters are chips (`visible`).

    Examples:
        >>> marked_diff("a kettle", "a kettke")
        'a kett<mark title="was: l">k</mark>e'
        >>> marked_diff("a cup", "a\u200b cup")
        'a<ins><span class="chip" title="U+200B ZERO WIDTH SPACE">⟨ZWSP⟩</span></ins> cup'
    """
    return _marked(TOKEN.findall(original), TOKEN.findall(perturbed), by_word=True)


def _marked(old_parts: Sequence[str], new_parts: Sequence[str], *, by_word: bool) -> str:
    matcher = SequenceMatcher(None, old_parts, new_parts, autojunk=False)
    html_parts = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        old, new = "".join(old_parts[i1:i2]), "".join(new_parts[j1:j2])
        if tag == "replace" and by_word and _similar(old, new):
            html_parts.append(_marked(old, new, by_word=False))
        elif tag == "equal":
            html_parts.append(visible(new))
        elif tag == "insert":
            html_parts.append(f"<ins>{visible(new)}</ins>")
        elif tag == "delete":
            html_parts.append(f"<del>{visible(old)}</del>")
        else:
            html_parts.append(f'<mark title="{_was(old, new)}">{visible(new)}</mark>')
    return "".join(html_parts)


def _similar(old: str, new: str) -> bool:
    if len(old) == len(new):
        return True
    return SequenceMatcher(None, old, new, autojunk=False).ratio() >= CHARACTER_DIFF_RATIO


def _was(old: str, new: str) -> str:
    """A substitution's tooltip: the replaced text, and the code points of non-ASCII new text."""
    title = f"was: {_plain(old)}"
    foreign = [c for c in dict.fromkeys(new) if not c.isascii()]
    if foreign:
        named = ", ".join(f"U+{ord(c):04X} {unicodedata.name(c, '?')}" for c in foreign)
        title += f"; now {named}"
    return html.escape(title)


def perturbation_section(
    cls: type[Perturbation], sentences: Sequence[str], advance: Advance = no_progress
) -> str:
    """One perturbation's HTML section: its sentences as written and at three severities."""
    perturbation = cls()
    magnitude = cls.magnitude
    context = DataContext(Modality.TEXT)
    headers = ["as written"]
    columns = []
    for label, value in realistic_points(magnitude):
        rngs = gallery_rngs(cls, range(len(sentences)))
        perturbed = perturbation.perturb(list(sentences), value, rngs, context)
        changed = sum(p != s for p, s in zip(perturbed, sentences, strict=True))
        error_pct = 100 * float(np.mean(character_error_rate(sentences, perturbed)))
        headers.append(
            f"<b>{label}</b>: {magnitude.name} = {value:g} ({html.escape(magnitude.unit)})<br>"
            f"{changed} of {len(sentences)} changed; character error rate {error_pct:.1f}%"
        )
        columns.append([marked_diff(s, p) for s, p in zip(sentences, perturbed, strict=True)])
        advance(len(sentences))
    rows = [
        "<tr>" + "".join(f"<td>{cell}</td>" for cell in (visible(s), *cells)) + "</tr>"
        for s, *cells in zip(sentences, *columns, strict=True)
    ]
    return page_section(cls, headers, rows)


def render_text_gallery(
    directory: str | Path,
    names: Sequence[str] | None = None,
    *,
    examples: int = EXAMPLES,
    progress: bool = False,
) -> Path:
    """Write the text gallery page, `text.html`, into `directory`.

    Args:
        directory: where the page goes (created if missing).
        names: the text perturbations to show; default every registered one.
        examples: sentences per perturbation, 1 to the number of demo sentences (370).
        progress: show a progress bar counting perturbed sentences, with ETA.

    Returns:
        The page's path.
    """
    chosen = perturbations_of(Modality.TEXT, names)
    sentences = gallery_sentences(examples)
    total = len(chosen) * len(realistic_points(chosen[0].magnitude)) * len(sentences)
    with ProgressReporter(
        total, enabled=progress, title="Text gallery", unit="sentences"
    ) as reporter:
        sections = [perturbation_section(cls, sentences, reporter.advance) for cls in chosen]
    contents = "".join(f'<li><a href="#{cls.name}">{cls.name}</a></li>' for cls in chosen)
    page = "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            '<head><meta charset="utf-8"><title>wince text perturbation gallery</title>',
            f"<style>{STYLE}</style></head>",
            "<body>",
            "<h1>Text perturbations</h1>",
            f"<p>{len(sentences)} of the wince demo's sentences, as written and at the mild, "
            "moderate and severe points of each perturbation's realistic range (random "
            f"draws from seed {GALLERY_SEED}).</p>",
            '<p class="legend"><span><ins>inserted</ins></span><span><del>deleted</del></span>'
            '<span><mark title="was: the original text">substituted</mark> (hover: was)</span>'
            f"<span>{_chip(chr(0x200B))} an invisible character</span></p>",
            f"<ul>{contents}</ul>",
            *sections,
            "</body>",
            "</html>",
            "",
        ]
    )
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    path = out / PAGE_NAME
    path.write_text(page, encoding="utf-8")
    return path
