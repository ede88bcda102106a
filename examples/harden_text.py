"""Harden the demo's sentiment model against invisible and look-alike characters, offline.

The demo's sentiment model (VADER, a lexicon and rules) reads words up in its lexicon, so a
zero-width space inside "great", a Cyrillic "а" in "bad" or full-width letters hide the word
and the sentence reads neutral. This example analyses it on the bundled review sentences
under zero-width characters, homoglyphs and Unicode variants, with typos as a control no
normalisation can undo, then runs `wince harden` with every defence that applies to a text
classifier: `text.normalize` (NFKC, zero-width and bidi controls removed, homoglyphs folded),
`text.spelling` (dictionary spelling correction, which undoes most typos), `model.temperature`
and `model.tta`. It prints each defence's measured gains (exposure reduction per finding,
paired with the run) and costs (clean-accuracy change with its non-inferiority test,
latency).

    python examples/harden_text.py            # all 370 sentences, five levels, two seeds
    python examples/harden_text.py --quick    # reduced size, as CI runs it

It exits 0 when a defence qualifies (a significant reduction at non-inferior clean accuracy).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from _hardening import analyze_and_harden, command_line, sweep_plan

from wince.datasets import ArrayDataset
from wince.defences.harden import Hardening
from wince.demo.models import sentiment_classifier, sentiment_data

UNICODE_ATTACKS = ("text.zero_width", "text.homoglyphs", "text.unicode_variants")
CONTROL = "text.typos"  # misspellings: what normalisation cannot undo, spelling correction can
QUICK_SAMPLES = 150


def make_plan(quick: bool) -> dict[str, Any]:
    """The three Unicode perturbations and the typos control, one sweep each."""
    return sweep_plan(
        "harden-text",
        "VADER sentiment under invisible and look-alike characters.",
        (*UNICODE_ATTACKS, CONTROL),
        quick,
    )


def main(quick: bool = False, store: str | Path | None = None) -> Hardening:
    """Analyse the sentiment model, harden the run and print each defence's gains and costs.

    Args:
        quick: 150 sentences, three levels, one seed (for tests and CI).
        store: folder (or store URL) for the runs; default a temporary folder.
    """
    data = sentiment_data()
    if quick:
        data = ArrayDataset(
            data.batch(0, QUICK_SAMPLES),
            data.labels[:QUICK_SAMPLES],
            modality="text",
            name=f"{data.name} (first {QUICK_SAMPLES})",
        )
    return analyze_and_harden(sentiment_classifier(), data, make_plan(quick), store=store)


if __name__ == "__main__":
    sys.exit(command_line(__doc__.split("\n\n")[0], main))
