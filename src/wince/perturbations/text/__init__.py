"""Text perturbations: batches are lists of str.

Modules: `base` (protected spans, distances), `keyboard` (typing mistakes), `recognition`
(OCR and speech-to-text errors), `formatting` (Unicode, whitespace, punctuation, casing) and
`paraphrase` (meaning-preserving rewording). Importing the package registers them all.
"""

from wince.perturbations.text import formatting, keyboard, paraphrase, recognition
from wince.perturbations.text.base import (
    PROTECTED_SPANS,
    TextPerturbation,
    character_error_rate,
    word_error_rate,
)
from wince.perturbations.text.keyboard import Typos, WordTypos

__all__ = [
    "PROTECTED_SPANS",
    "TextPerturbation",
    "Typos",
    "WordTypos",
    "character_error_rate",
    "formatting",
    "keyboard",
    "paraphrase",
    "recognition",
    "word_error_rate",
]
