"""Stress tests stay out of the realistic set: flagged, listed, never in a preset."""

from __future__ import annotations

import re

import pytest

from wince.perturbations import Modality, Perturbation, registry
from wince.perturbations.presets import PRESETS, preset

LIBRARY = {n: c for n, c in registry().items() if c.__module__.startswith("wince.")}
TEXT = {n: c for n, c in LIBRARY.items() if c.modality == Modality.TEXT}
# authors, then a venue or title and the year: "Palin et al. (2019", "Wei and Zou, EMNLP 2019"
CITATION = re.compile(r"[A-Z][a-z]+ (?:et al\.|and [A-Z][a-z]+)[^.]{0,80}?\b(?:19|20)\d\d\b")


def test_perturbations_are_realistic_unless_marked() -> None:
    assert Perturbation.stress is False
    stress = {n for n, c in LIBRARY.items() if c.stress}
    assert {"text.unicode_variants", "text.homoglyphs", "text.zero_width"} <= stress
    assert "text.typos" not in stress
    assert LIBRARY["text.unicode_variants"].describe()["stress"] is True
    assert LIBRARY["text.typos"].describe()["stress"] is False


@pytest.mark.parametrize("name", list(PRESETS))
def test_presets_hold_no_stress_test(name: str) -> None:
    entries = [entry["name"] for entry in preset(name)]
    assert entries
    assert not [entry for entry in entries if LIBRARY[entry].stress]


@pytest.mark.parametrize(
    "name",
    [
        "text.typos",
        "text.word_typos",
        "text.ocr_errors",
        "text.speech_errors",
        "text.contractions",
        "text.fillers",
        "text.synonyms",
        "text.homoglyphs",
    ],
)
def test_range_of_a_realistic_text_perturbation_cites_its_source(name: str) -> None:
    why = (TEXT[name].__doc__ or "").split("Why this", 1)[1]
    assert CITATION.search(why), why[:300]
