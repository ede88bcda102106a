"""Helpers that word a magnitude for people, for the perturbations' `Phrase`s."""

from __future__ import annotations


def count(value: float, singular: str, plural: str | None = None) -> str:
    """A number and its noun, singular only for exactly one.

    Examples:
        >>> count(1, "stop"), count(0.5, "standard deviation"), count(2, "bit")
        ('1 stop', '0.5 standard deviations', '2 bits')
    """
    noun = singular if abs(value) == 1 else (plural or singular + "s")
    return f"{value:g} {noun}"


def share(fraction: float) -> str:
    """A fraction as a percentage: 0.3 -> '30%', 0.005 -> '0.5%'."""
    return f"{fraction * 100:.3g}%"


def signed(value: float, negative: str, positive: str) -> str:
    """`negative` for a value below 0, else `positive` ("under" or "over")."""
    return negative if value < 0 else positive
