"""Text perturbation throughput: wince against nlpaug's character augmenters (issue #4).

Sentences per second on 1,000 sentences of about 20 words, for matched pairs at matched work:

- nlpaug `KeyboardAug` against `text.typos` (neighbour-key substitutions only) and against
  `text.word_typos` (one neighbour-key substitution per chosen word);
- nlpaug `RandomCharAug` with action substitute / insert / swap / delete against `text.typos`
  with kinds substitution / insertion / transposition / omission;
- nlpaug `OcrAug` against `text.ocr_errors`.

nlpaug keeps its defaults (30% of the words of 4+ characters, up to 30% of their characters).
wince's rate is then set so that both change the same share of characters: the mean
character error rate (OSA edits per original character) of nlpaug's output is measured first
and wince's rate found by bisection to within 1% of it. Both rates are printed with the speeds.
The sentences are built from the demo's review sentences (letters, spaces, commas and full
stops only, so nlpaug's tokenise/join round trip leaves them unchanged).

The wince timing is the engine's path: sample keys and one seeded generator per sentence
(`Rngs.for_samples(ids, seed=0, step=..., trial=...)`, a new trial for every call so the seed
sequences are derived afresh each time) and `perturb`. nlpaug is seeded through Python's and
numpy's global generators, which it uses. Constructing the augmenter or perturbation is not
timed (nlpaug loads its keyboard and OCR tables then). Each repetition times both, alternating
which goes first; the figures are medians of the repetitions and the median of the per-repetition
speed ratios (nlpaug time / wince time). Target: >= 5x on every pair.

nlpaug is not a wince dependency; install it for this benchmark only:

    .venv/bin/pip install nlpaug

Without it the script measures wince alone (and reports no ratios).

Run: PYTHONPATH=benchmarks .venv/bin/python benchmarks/text_perturbations.py
         [--repeats 7] [--sentences 1000] [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from wince.demo.models import sentiment_data
from wince.errors import RealismWarning
from wince.perturbations import base as library
from wince.perturbations.base import Perturbation, Rngs
from wince.perturbations.text import character_error_rate, word_error_rate

try:
    import nlpaug.augmenter.char as nac
except ImportError:  # measured alone; see the module docstring
    nac = None

_PLAIN = re.compile(r"[A-Za-z]+(?:,? [A-Za-z]+)*\.")


def build_sentences(n: int, *, words: int = 20, seed: int = 0) -> list[str]:
    """`n` texts of about `words` words: demo sentences joined in a seeded random order."""
    pool = [s for s in sentiment_data().x if _PLAIN.fullmatch(s) and len(s.split()) >= 3]
    rng = np.random.default_rng(seed)
    texts = []
    for _ in range(n):
        parts: list[str] = []
        while sum(len(p.split()) for p in parts) < words - 2:
            parts.append(pool[int(rng.integers(len(pool)))])
        texts.append(" ".join(parts))
    return texts


@dataclass
class Pair:
    """An nlpaug augmenter and the wince perturbation doing the same kind of edits."""

    label: str
    nlpaug: Callable[[], Any] | None
    wince: str
    params: dict[str, Any]
    value: float | None = None  # found by calibration (or the default below without nlpaug)


def pairs() -> list[Pair]:
    keyboard = (lambda: nac.KeyboardAug()) if nac else None

    def random_char(action: str) -> Callable[[], Any] | None:
        return (lambda: nac.RandomCharAug(action=action)) if nac else None

    found = [
        Pair("KeyboardAug / text.typos", keyboard, "text.typos", {"kinds": ["substitution"]}),
        Pair(
            "KeyboardAug / text.word_typos",
            keyboard,
            "text.word_typos",
            {"kinds": ["substitution"]},
        ),
        Pair(
            "RandomCharAug substitute / text.typos",
            random_char("substitute"),
            "text.typos",
            {"kinds": ["substitution"]},
        ),
        Pair(
            "RandomCharAug insert / text.typos",
            random_char("insert"),
            "text.typos",
            {"kinds": ["insertion"]},
        ),
        Pair(
            "RandomCharAug swap / text.typos",
            random_char("swap"),
            "text.typos",
            {"kinds": ["transposition"]},
        ),
        Pair(
            "RandomCharAug delete / text.typos",
            random_char("delete"),
            "text.typos",
            {"kinds": ["omission"]},
        ),
    ]
    if "text.ocr_errors" in library.registry():
        ocr = (lambda: nac.OcrAug()) if nac else None
        found.append(Pair("OcrAug / text.ocr_errors", ocr, "text.ocr_errors", {}))
    else:
        print("text.ocr_errors is not registered in this checkout: OcrAug pair skipped")
    return found


class Clock:
    """Hands out a new trial index per call so wince derives fresh seed sequences each time."""

    def __init__(self) -> None:
        self.trial = 0

    def wince(
        self, perturbation: Perturbation, texts: list[str], ids: list[str], value: float
    ) -> tuple[float, list[str]]:
        self.trial += 1
        started = time.perf_counter()
        rngs = Rngs.for_samples(ids, seed=0, step=f"{perturbation.name}#0", trial=self.trial)
        out = perturbation.perturb(texts, value, rngs)
        return time.perf_counter() - started, out


def nlpaug_run(augmenter: Any, texts: list[str], seed: int) -> tuple[float, list[str]]:
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 - nlpaug draws from the global generators
    started = time.perf_counter()
    out = augmenter.augment(texts)
    return time.perf_counter() - started, out


def mean_cer(original: list[str], perturbed: list[str]) -> float:
    return float(np.mean(character_error_rate(original, perturbed)))


def calibrate(perturbation: Perturbation, texts: list[str], ids: list[str], target: float) -> float:
    """The rate at which wince's mean character error rate matches `target` (bisection)."""
    low, high = 0.0, 1.0
    for _ in range(30):
        middle = (low + high) / 2
        rngs = Rngs.for_samples(ids, seed=0, step=f"{perturbation.name}#0", trial=0)
        cer = mean_cer(texts, perturbation.perturb(texts, middle, rngs))
        if abs(cer - target) <= 0.01 * target:
            return middle
        low, high = (middle, high) if cer < target else (low, middle)
    return (low + high) / 2


def generator_cost(ids: list[str], repeats: int) -> float:
    """Seconds to derive keys, seed sequences and generators for `ids` (fresh each time)."""
    times = []
    for trial in range(repeats):
        started = time.perf_counter()
        for _ in Rngs.for_samples(ids, seed=0, step="generator-cost#0", trial=10_000 + trial):
            pass
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--sentences", type=int, default=1000)
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args()
    warnings.simplefilter("ignore", RealismWarning)  # matched rates may pass the severe end

    texts = build_sentences(args.sentences)
    ids = [f"s{i}" for i in range(len(texts))]
    n_words = np.mean([len(t.split()) for t in texts])
    n_chars = np.mean([len(t) for t in texts])
    print(f"{len(texts)} sentences of {n_words:.1f} words and {n_chars:.0f} characters on average")
    if nac is None:
        print("nlpaug is not installed (pip install nlpaug): measuring wince alone")
    else:
        from nlpaug.util.text.tokenizer import Tokenizer

        changed = sum(Tokenizer.reverse_tokenizer(Tokenizer.tokenizer(t)) != t for t in texts)
        assert changed == 0, f"nlpaug's tokenise/join round trip changes {changed} sentences"

    clock = Clock()
    rows = []
    for pair in pairs():
        perturbation = library.get(pair.wince)(**pair.params)
        augmenter = pair.nlpaug() if pair.nlpaug else None
        nlpaug_cer = nlpaug_wer = None
        if augmenter is not None:
            _, reference = nlpaug_run(augmenter, texts, seed=0)
            nlpaug_cer = mean_cer(texts, reference)
            nlpaug_wer = float(np.mean(word_error_rate(texts, reference)))
            value = calibrate(perturbation, texts, ids, nlpaug_cer)
        else:
            value = perturbation.magnitude.severe
        clock.wince(perturbation, texts, ids, value)  # warm-up: lazy tables, caches
        ours, theirs, ratios = [], [], []
        for i in range(args.repeats):
            if augmenter is not None and i % 2 == 1:
                theirs.append(nlpaug_run(augmenter, texts, seed=i)[0])
            seconds, out = clock.wince(perturbation, texts, ids, value)
            ours.append(seconds)
            if augmenter is not None and i % 2 == 0:
                theirs.append(nlpaug_run(augmenter, texts, seed=i)[0])
            if augmenter is not None:
                ratios.append(theirs[-1] / ours[-1])
        row = {
            "pair": pair.label,
            "wince": pair.wince,
            "params": pair.params,
            "wince_rate": round(value, 4),
            "wince_cer": round(mean_cer(texts, out), 4),
            "wince_wer": round(float(np.mean(word_error_rate(texts, out))), 4),
            "wince_median_s": statistics.median(ours),
            "wince_sentences_per_s": round(len(texts) / statistics.median(ours)),
        }
        if augmenter is not None:
            row.update(
                nlpaug_cer=round(nlpaug_cer, 4),
                nlpaug_wer=round(nlpaug_wer, 4),
                nlpaug_median_s=statistics.median(theirs),
                nlpaug_sentences_per_s=round(len(texts) / statistics.median(theirs)),
                ratios=[round(r, 2) for r in ratios],
                median_ratio=round(statistics.median(ratios), 2),
            )
        rows.append(row)
        print(f"{pair.label}: {json.dumps({k: v for k, v in row.items() if k != 'pair'})}")

    generators = generator_cost(ids, args.repeats)
    print(
        f"\nper-sentence generator creation (keys, seed sequences, generators): "
        f"{generators / len(texts) * 1e6:.1f} us, included in every wince time above\n"
    )
    print("| pair | nlpaug sent/s | wince sent/s | ratio (median) | CER nlpaug / wince | rate |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        theirs_per_s = row.get("nlpaug_sentences_per_s")
        print(
            f"| {row['pair']} | {f'{theirs_per_s:,}' if theirs_per_s else '-'} | "
            f"{row['wince_sentences_per_s']:,} | {row.get('median_ratio', '-')}"
            f"{'x' if 'median_ratio' in row else ''} | "
            f"{row.get('nlpaug_cer', '-')} / {row['wince_cer']} | {row['wince_rate']} |"
        )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(
                {
                    "sentences": len(texts),
                    "mean_words": float(n_words),
                    "repeats": args.repeats,
                    "generator_us_per_sentence": generators / len(texts) * 1e6,
                    "pairs": rows,
                },
                f,
                indent=2,
            )
    below = [row["pair"] for row in rows if row.get("median_ratio", 5) < 5]
    if below:
        print(f"\nbelow the 5x target: {', '.join(below)}")


if __name__ == "__main__":
    main()
