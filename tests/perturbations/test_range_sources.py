"""Every realistic range says where it comes from: a source, a mechanism, or a stress flag.

A perturbation's class docstring carries a "Why this range" (or "Why this unit and range")
paragraph. That paragraph either cites a source (authors and a year, a year in parentheses, a
standard such as "ITU-T G.711" or "ISO 12232", or a maker's data sheet naming the part, such as
"Allegro MicroSystems ACS712 data sheet"), or states the mechanism that fixes the range,
marked by the phrase "by construction"; otherwise the class is a stress test (`stress = True`).
ImageNet-C reproductions take the published benchmark's levels, cited in their module docstring.
"""

from __future__ import annotations

import inspect
import re

import pytest

from wince.perturbations import Perturbation, registry

LIBRARY = {n: c for n, c in registry().items() if c.__module__.startswith("wince.")}
IMAGENET_C_UNIT = "ImageNet-C severity level"
WHY = re.compile(r"Why this (?:unit and )?range")
MECHANISM = "by construction"
CITATION = re.compile(
    r"[A-Z][a-z]+ (?:et al\.|and [A-Z][a-z]+)[^.]{0,120}?\b(?:19|20)\d\d\b"  # Palin et al. (2019
    r"|\([^()]{0,80}?\b(?:19|20)\d\d\b"  # (2019, "Title", venue)
    r"|\b(?:ITU-T [A-Z]\.\d+|ISO(?:/IEC)? \d{4,5}|EMVA 1288|ANSI S\d+\.\d+)"  # standards
    r"|\b[A-Z][A-Za-z]+ [A-Z]{2,}\d+[A-Z0-9-]* data sheet\b"  # MicroSystems ACS712 data sheet
)
UNSOURCED = "a judgement; no published rates exist"


def why_paragraph(cls: type[Perturbation]) -> str:
    """The docstring's "Why this range" paragraph on one line (empty if it has none)."""
    doc = inspect.cleandoc(cls.__doc__ or "")
    found = WHY.search(doc)
    return " ".join(doc[found.start() :].split("\n\n", 1)[0].split()) if found else ""


def is_defended(paragraph: str) -> bool:
    return bool(CITATION.search(paragraph)) or MECHANISM in paragraph.lower()


REALISTIC = sorted(
    n for n, c in LIBRARY.items() if not c.stress and c.magnitude.unit != IMAGENET_C_UNIT
)


@pytest.mark.parametrize("name", REALISTIC)
def test_realistic_range_cites_a_source_or_states_its_mechanism(name: str) -> None:
    paragraph = why_paragraph(LIBRARY[name])
    assert paragraph, f"{name} has no 'Why this range' paragraph"
    assert is_defended(paragraph), paragraph


@pytest.mark.parametrize("name", sorted(n for n, c in LIBRARY.items() if c.stress))
def test_stress_test_says_why_it_is_one(name: str) -> None:
    assert "stress" in why_paragraph(LIBRARY[name])


@pytest.mark.parametrize("name", sorted(LIBRARY))
def test_no_realistic_range_is_an_admitted_judgement(name: str) -> None:
    cls = LIBRARY[name]
    assert cls.stress or UNSOURCED not in (cls.__doc__ or "")


def test_imagenet_c_levels_cite_the_published_benchmark() -> None:
    reproductions = [c for c in LIBRARY.values() if c.magnitude.unit == IMAGENET_C_UNIT]
    assert len(reproductions) == 15
    for cls in reproductions:
        module_doc = inspect.getmodule(cls).__doc__ or ""
        assert "Hendrycks & Dietterich (2019)" in module_doc


def test_paragraph_checks_tell_sources_from_judgements() -> None:
    assert is_defended('Why this range: Palin et al. (2019, "How do People Type", MobileHCI)')
    assert is_defended("Why this range: the telephone band (ITU-T G.711) samples at 8 kHz")
    assert is_defended("Why this range: by construction each source uses one convention")
    assert is_defended("Why this range: the Allegro MicroSystems ACS712 data sheet gives 1.5%")
    assert not is_defended("Why this range: data sheets state tolerances of new parts only")
    assert not is_defended("Why this range: edited text has about 1 slip in 50 (mild end 0.02)")
    assert not is_defended("Why this range: a few in 100 (mild) to 1 in 5 (severe)")
