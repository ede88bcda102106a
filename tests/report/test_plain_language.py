"""The summary speaks plain English; statistics live in the technical section."""

from __future__ import annotations

import html
import re

import pytest

from wince.perturbations import registry
from wince.report.narrative import describe_step, plain_conditions
from wince.report.phrases import CONTEXTS, EFFECTS

JARGON = ("Sobol", "Holm", "holm", "α", "< baseline confidence", "severity", "n_base")


def _phrase(name: str, value: float, **options: object) -> str:
    return describe_step(name, value, registry()[name].magnitude.unit, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("tabular.missing_values", 0.3, "30% of values missing on every column"),
        (
            "tabular.quantisation",
            1.0,
            "readings rounded to steps of 1 standard deviation on every column",
        ),
        (
            "tabular.gaussian_noise",
            0.5,
            "measurement noise of 0.5 standard deviations on every column, as from imprecise "
            "instruments",
        ),
        (
            "image.exposure",
            -1.0,
            "under-exposing images by 1 stop, as in a dim room or with a wrong light meter",
        ),
        ("image.exposure", 2.5, "over-exposing images by 2.5 stops"),
        ("text.typos", 0.03, "typos in 3% of characters, as when typing on a phone"),
        ("text.typos", 0.1, "typos in 10% of characters"),
        ("image.rotation", 5.0, "rotating images by 5 degrees, as from a carelessly held camera"),
        ("image.rotation", 30.0, "rotating images by 30 degrees"),
        (
            "image.jpeg",
            20.0,
            "re-saving images as JPEG at quality 20 of 100, as heavily compressed web images are",
        ),
    ],
)
def test_headline_phrases_are_natural_english_and_compare_only_within_their_range(
    name, value, expected
):
    assert _phrase(name, value) == expected


def test_options_with_code_names_read_as_words():
    upper = _phrase("text.casing", 0.5, params={"style": "upper"})
    assert upper == "50% of words written in the wrong case (in capitals)"
    lost = _phrase("tabular.missing_values", 0.1, params={"mechanism": "mnar_high"})
    assert lost == "10% of values missing on every column (large values most often)"


def test_phrases_never_assemble_catalogue_text_or_misplace_plurals():
    for name in EFFECTS:
        magnitude = registry()[name].magnitude
        for value in (magnitude.mild, magnitude.severe):
            phrase = _phrase(name, value, context=False)
            assert "NaN" not in phrase
            assert "photos" not in phrase
            assert "askew" not in phrase
            assert not re.search(
                r"(?<![\d.])1 \w+ (standard deviations|degrees|stops|bits)", phrase
            )
            assert phrase == phrase.strip()
            assert "  " not in phrase


def test_every_library_perturbation_but_the_imagenet_c_presets_has_its_own_phrase():
    shipped = {n for n, c in registry().items() if c.__module__.startswith("wince.")}
    written = {n for n in shipped if not n.startswith("image.imagenet_c_")}
    assert set(EFFECTS) == written
    assert set(CONTEXTS) <= set(EFFECTS)


def test_a_fragile_region_reads_as_who_it_is_not_as_a_formula():
    high = [("baseline_confidence", ">", 0.614), ("baseline_confidence", "<=", 1.0)]
    assert plain_conditions(high, {}) == (
        "the model's confidence on the unchanged input is above 61%"
    )
    certain = [("baseline_confidence", ">", 0.99951), ("baseline_confidence", "<=", 0.99999)]
    assert plain_conditions(certain, {}) == (
        "the model's confidence on the unchanged input is above 99.95%"
    )
    described = {"baseline_class=3": {"label": "baseline class", "category": "3"}}
    assert plain_conditions([("baseline_class=3", ">", 0.5)], described) == (
        "the baseline class is 3"
    )


def _section(page: str, start: str, end: str) -> str:
    return page[page.index(f'<section id="{start}">') : page.index(f'<section id="{end}">')]


def test_summary_holds_no_statistical_jargon_and_the_technical_section_explains_it(digits_html):
    page = html.unescape(digits_html.read_text(encoding="utf-8"))
    summary = _section(page, "summary", "defences")
    found = [word for word in JARGON if word in summary]
    assert found == []
    technical = _section(page, "technical", "verdicts")
    assert "total Sobol index" not in summary
    assert "Sobol" in technical  # the digits demo stores a global sensitivity analysis
    for term in ("flip rate", "95% interval", "Holm correction, α", "Sobol index", "severity"):
        assert f"<dt>{term}</dt>" in technical


def test_headlines_state_the_effect_then_what_it_does_to_predictions(digits_report):
    for finding in digits_report.narrative.risks:
        effect, change = finding.sentence.split(": ", 1)
        assert not effect.lower().startswith("image.")
        assert " of predictions change" in change
        assert "photos" not in finding.sentence
