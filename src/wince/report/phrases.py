"""Each perturbation at a value in plain English, and where such a value happens in real life.

`EFFECTS` words what a perturbation does at a physical value ("rotating images by 30
degrees"); `CONTEXTS` compares a value with real life ("as when typing on a phone") only within
the range that comparison holds (phone typing makes 2-5% typos, so a 10% rate gets none). Both
are read off the library's perturbation classes (`Perturbation.phrase`), where each is
declared. Perturbations without a phrase (the ImageNet-C presets, plug-ins) fall back on their
catalogue summary (`wince.report.narrative.library_phrase`).
"""

from __future__ import annotations

from collections.abc import Callable

from wince.perturbations import registry

_PHRASES = {
    name: cls.phrase
    for name, cls in registry().items()
    if cls.__module__.startswith("wince.") and cls.phrase is not None
}
# perturbation -> its effect at a physical value, as a lower-case phrase
EFFECTS: dict[str, Callable[[float], str]] = {
    name: phrase.effect for name, phrase in _PHRASES.items()
}
# perturbation -> where a value happens in real life ("" where no comparison holds)
CONTEXTS: dict[str, Callable[[float], str]] = {
    name: phrase.context for name, phrase in _PHRASES.items() if phrase.context is not None
}


# "option=value" -> the option in words, where its value is a code name
OPTION_WORDS: dict[str, str] = {
    "mechanism=mcar": "at random",
    "mechanism=mnar_high": "large values most often",
    "mechanism=mnar_low": "small values most often",
    "style=upper": "in capitals",
    "style=lower": "in lower case",
}
