"""Text perturbations: batches are lists of str.

Modules: `base` (protected spans, distances), `keyboard` (typing mistakes).
"""

from wince.perturbations.text import keyboard
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
    "keyboard",
    "word_error_rate",
]
