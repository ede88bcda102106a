"""Text calibration: typo rate, casing and punctuation habits (all need production texts)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence

import numpy as np

from wince.monitor.estimate import Estimate, tokens, typo_rate_replicates
from wince.realism.calibration.base import (
    TINY,
    CalibrationData,
    FloatArray,
    Measurement,
    Sets,
    bootstrap,
    counts,
    interval_of,
    measure,
    needs_production,
)
from wince.realism.calibration.quantities import Quantity

_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)*")


def calibrate_text(
    reference: Sequence[str],
    production: Sequence[str] | None = None,
    *,
    n_boot: int = 200,
    seed: int = 0,
) -> list[Quantity]:
    """Typo rate, casing and punctuation habits of text data.

    All three need production texts. Per-text rates are too noisy to take quantiles of (a
    sentence holds a few typos at most), so the plan values are the p50, p90 and p99 of
    bootstrap replicates of the pooled rate: the plausible range of the rate, not a spread over
    texts; a rate whose p50 is indistinguishable from off is left out.

    Args:
        reference: reference texts.
        production: production texts, or None.
        n_boot: bootstrap replicates.
        seed: bootstrap seed.
    """
    ref = list(reference)
    prod = None if production is None else list(production)
    sets = Sets(ref, prod, counts(ref, prod, "texts"), n_boot, seed)
    return measure(sets, MEASUREMENTS)


def calibrate_text_data(data: CalibrationData, *, n_boot: int, seed: int) -> list[Quantity]:
    """`calibrate_text` of the read datasets."""
    return calibrate_text(data.reference_x, data.production_x, n_boot=n_boot, seed=seed)


def _replicates_spread(sets: Sets) -> str:
    return f"{sets.n_boot} bootstrap replicates of the pooled rate (texts resampled)"


def typos(sets: Sets) -> Measurement:
    """Typo rate per character: production tokens missing from the reference's vocabulary."""
    if sets.production is None:
        return needs_production(
            "typos",
            "text.typos",
            "",
            "needs --production: no English word list is shipped, and within one set "
            "rare words cannot be told from misspellings",
        )
    value, nonword, base, reps = typo_rate_replicates(
        sets.reference, sets.production, n_boot=sets.n_boot, seed=sets.seed
    )
    low, high = interval_of(reps)
    return Measurement(
        "typos",
        "text.typos",
        Estimate("text.typos", value, low, high, "fraction of characters"),
        reps,
        spread=_replicates_spread(sets),
        replicates=True,
        method="share of production tokens missing from the reference vocabulary, above "
        "the reference's own, turned into a per-character rate via word lengths "
        "(wince.monitor)",
        details={"nonword_rate": nonword, "reference_nonword_rate": base},
    )


def _words(text: str) -> list[str]:
    return _WORD.findall(text)


def _case_shares(texts: Sequence[str]) -> FloatArray:
    """Per text: counts of words, lower-case, UPPER-case (2+ letters) and Title-case words."""
    out = np.zeros((len(texts), 4))
    for i, text in enumerate(texts):
        words = _words(text)
        out[i] = (
            len(words),
            sum(w.islower() for w in words),
            sum(len(w) > 1 and w.isupper() for w in words),
            sum(len(w) > 1 and w[0].isupper() and w[1:].islower() for w in words),
        )
    return out


def _punctuation_counts(texts: Sequence[str]) -> FloatArray:
    """Per text: punctuation marks (Unicode category P), letters and digits, and words."""
    return np.array(
        [
            (
                sum(unicodedata.category(ch).startswith("P") for ch in t),
                sum(ch.isalnum() for ch in t),
                len(tokens(t)),
            )
            for t in texts
        ],
        dtype=np.float64,
    ).reshape(len(texts), 3)


def _case_rate(reference: FloatArray, production: FloatArray, column: int) -> float:
    """Growth of the share of words in the case style of `column`, per word not yet in it."""
    share_r = reference[:, column].sum() / max(reference[:, 0].sum(), 1.0)
    share_p = production[:, column].sum() / max(production[:, 0].sum(), 1.0)
    return float((share_p - share_r) / max(1.0 - share_r, TINY))


def casing(sets: Sets) -> Measurement:
    """Re-cased words: the style whose share of words grew most, per word not yet in it."""
    if sets.production is None:
        return needs_production(
            "casing",
            "text.casing",
            "",
            "needs --production: casing habits are a difference between sets",
        )
    ref_case, prod_case = _case_shares(sets.reference), _case_shares(sets.production)
    styles = {1: "lower", 2: "upper", 3: "title"}
    rates = {c: _case_rate(ref_case, prod_case, c) for c in styles}
    column = max(rates, key=lambda c: rates[c])
    reps = bootstrap(
        lambda idx: _case_rate(ref_case, prod_case[idx], column),
        len(sets.production),
        n_boot=sets.n_boot,
        seed=sets.seed,
    )
    low, high = interval_of(reps)
    return Measurement(
        "casing",
        "text.casing",
        Estimate("text.casing", rates[column], low, high, "fraction of words"),
        reps,
        spread=_replicates_spread(sets),
        replicates=True,
        method=f"growth of the share of {styles[column]}-case words over the reference's, "
        "per word not already in that case (lower/upper/title tried; largest kept)",
        params={"style": styles[column]},
        details={f"{styles[c]}_rate": rates[c] for c in styles},
    )


def punctuation(sets: Sets) -> Measurement:
    """Punctuation errors: marks per letter, fewer read as removed, more as added after words.

    Marks are counted per letter because removal and addition leave letters alone, not words
    ("don't" loses a token when its apostrophe goes).
    """
    if sets.production is None:
        return needs_production(
            "punctuation",
            "text.punctuation",
            "",
            "needs --production: punctuation habits are a difference between sets",
        )
    ref_p, prod_p = _punctuation_counts(sets.reference), _punctuation_counts(sets.production)
    per_letter_ref = ref_p[:, 0].sum() / max(ref_p[:, 1].sum(), 1.0)

    def punct_rate(p: FloatArray) -> float:
        expected = per_letter_ref * p[:, 1].sum()  # marks the production would hold unchanged
        marks = p[:, 0].sum()
        if marks < expected:
            return float(1.0 - marks / max(expected, TINY))
        return float((marks - expected) / max(p[:, 2].sum(), 1.0))

    value = punct_rate(prod_p)
    per_letter_prod = prod_p[:, 0].sum() / max(prod_p[:, 1].sum(), 1.0)
    mode = "remove" if per_letter_prod < per_letter_ref else "add"
    reps = bootstrap(
        lambda idx: punct_rate(prod_p[idx]),
        len(sets.production),
        n_boot=sets.n_boot,
        seed=sets.seed,
    )
    low, high = interval_of(reps)
    return Measurement(
        "punctuation",
        "text.punctuation",
        Estimate("text.punctuation", value, low, high, "fraction of marks and word ends"),
        reps,
        spread=_replicates_spread(sets),
        replicates=True,
        method=f"punctuation marks per letter: {per_letter_prod:.3g} in production, "
        f"{per_letter_ref:.3g} in the reference; fewer read as removed marks (share of the "
        "marks expected), more as marks added after words (per word)",
        params={"mode": mode},
    )


# the measurements `calibrate_text` takes, in this order; a perturbation's `calibration` names one
# ("text.<function>")
MEASUREMENTS: tuple[Callable[[Sets], Measurement], ...] = (typos, casing, punctuation)
