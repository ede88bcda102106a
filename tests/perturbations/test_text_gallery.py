"""The text gallery: one HTML page, demo sentences at three severities with changes marked."""

from __future__ import annotations

import html
import re

import pytest

from wince.errors import ParameterError
from wince.perturbations import Modality, get
from wince.perturbations.gallery import gallery_rngs, perturbations_of, realistic_points
from wince.perturbations.text_gallery import (
    gallery_sentences,
    marked_diff,
    perturbation_section,
    render_text_gallery,
    visible,
)

EXAMPLES = 3


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> str:
    path = render_text_gallery(tmp_path_factory.mktemp("text"), examples=EXAMPLES)
    assert path.name == "text.html"
    return path.read_text(encoding="utf-8")


def section(page: str, name: str) -> str:
    match = re.search(rf'<section id="{re.escape(name)}">.*?</section>', page, flags=re.DOTALL)
    assert match, f"no section for {name}"
    return match.group(0)


def test_the_page_has_a_section_for_every_text_perturbation(page) -> None:
    names = [cls.name for cls in perturbations_of(Modality.TEXT)]
    assert len(names) >= 10
    for name in names:
        assert f"<h2>{name} v{get(name).version}</h2>" in section(page, name)
    assert "<script" not in page  # self-contained: runs nothing, loads nothing
    assert "http" not in page


def test_each_section_shows_the_sentences_as_written_and_at_mild_moderate_severe(page) -> None:
    sentences = gallery_sentences(EXAMPLES)
    typos = section(page, "text.typos")
    assert typos.count("<tr>") == 1 + EXAMPLES
    for sentence in sentences:
        assert f"<td>{visible(sentence)}</td>" in typos
    assert "<b>mild</b>: typo_rate = 0.005" in typos
    assert "<b>moderate</b>: typo_rate = 0.0525" in typos
    assert "<b>severe</b>: typo_rate = 0.1" in typos


def test_a_typo_is_marked_in_the_severe_column(page) -> None:
    sentences = gallery_sentences(EXAMPLES)
    typos = get("text.typos")()
    severe = typos.perturb(sentences, 0.1, gallery_rngs(get("text.typos"), range(EXAMPLES)))
    changed = [(s, p) for s, p in zip(sentences, severe, strict=True) if s != p]
    assert changed, "severe typos changed none of the sentences"
    original, perturbed = changed[0]
    cell = marked_diff(original, perturbed)
    assert re.search(r"<(mark|ins|del)\b", cell)
    assert f"<td>{cell}</td>" in section(page, "text.typos")


def test_zero_width_characters_show_as_chips_and_never_raw(page) -> None:
    zero_width = section(page, "text.zero_width")
    assert re.search(r"⟨(ZWSP|ZWNJ|ZWJ|WJ|ZWNBSP)⟩", zero_width)
    for invisible in ("\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00a0"):
        assert invisible not in page


def test_a_changed_character_is_marked_alone_with_what_it_replaced() -> None:
    assert marked_diff("I love this kettle", "I love this kettke") == (
        'I love this kett<mark title="was: l">k</mark>e'
    )


def test_a_replaced_word_unlike_the_original_is_marked_whole() -> None:
    marked = 'I <mark title="was: love">adore</mark> this'
    assert marked_diff("I love this", "I adore this") == marked


def test_insertions_and_deletions_are_marked() -> None:
    assert marked_diff("I do not like it.", "I do not like it") == "I do not like it<del>.</del>"
    assert marked_diff("so good", "so very good") == "so <ins>very </ins>good"


def test_invisible_characters_are_chips_naming_the_character() -> None:
    chip = '<span class="chip" title="U+200B ZERO WIDTH SPACE">⟨ZWSP⟩</span>'
    assert marked_diff("a cup", "a\u200b cup") == f"a<ins>{chip}</ins> cup"
    nbsp = '<span class="chip" title="U+00A0 NO-BREAK SPACE">⟨NBSP⟩</span>'
    title = "was:  ; now U+00A0 NO-BREAK SPACE"
    assert marked_diff("a b", "a\u00a0b") == f'a<mark title="{title}">{nbsp}</mark>b'
    assert visible("a\u200fb\tc") == (
        'a<span class="chip" title="U+200F RIGHT-TO-LEFT MARK">⟨RLM⟩</span>b'
        '<span class="chip" title="U+0009 control character">⟨TAB⟩</span>c'
    )


def test_a_look_alike_letter_is_named_by_code_point_in_the_tooltip() -> None:
    cell = marked_diff("cat", "c\u0430t")
    title = html.escape("was: a; now U+0430 CYRILLIC SMALL LETTER A")
    assert cell == f'c<mark title="{title}">\u0430</mark>t'
    # look-alikes for most letters of a word: still marked letter by letter
    cell = marked_diff("rated", "r\u0430t\u0435\u0501")
    assert cell.startswith('r<mark title="was: a; now U+0430 CYRILLIC SMALL LETTER A">')
    assert cell.count("<mark") == 2


def test_text_is_escaped_for_html() -> None:
    assert marked_diff("a<b & c", "a<b & c") == "a&lt;b &amp; c"


def test_progress_counts_every_perturbed_sentence() -> None:
    counted: list[int] = []
    sentences = gallery_sentences(EXAMPLES)
    perturbation_section(get("text.casing"), sentences, counted.append)
    points = realistic_points(get("text.casing").magnitude)
    assert counted == [EXAMPLES] * len(points)


def test_sentences_are_spread_through_the_demo_file() -> None:
    first, middle, last = gallery_sentences(3)
    assert first == "I love this kettle, it boils in under 2 minutes!"
    assert len({first, middle, last}) == 3
    with pytest.raises(ParameterError, match="1 to 370 sentences"):
        gallery_sentences(0)


def test_two_renders_are_identical(tmp_path) -> None:
    names = ["text.typos", "text.zero_width", "text.synonyms"]
    first = render_text_gallery(tmp_path / "a", names, examples=EXAMPLES).read_bytes()
    second = render_text_gallery(tmp_path / "b", names, examples=EXAMPLES).read_bytes()
    assert first == second
