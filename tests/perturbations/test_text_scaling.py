"""Text perturbations and their distances on huge texts: linear work, the same answers."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from rapidfuzz.distance import OSA, Levenshtein

from wince.perturbations import Rngs, base
from wince.perturbations.text import Typos, character_error_rate, word_error_rate
from wince.perturbations.text.base import BLOCK_CHARACTERS, block_pairs

ignore_realism = pytest.mark.filterwarnings("ignore::wince.errors.RealismWarning")

PROSE = (
    "I do not think the colour grey is enormous, said Mr. Smith on 2024-01-05; we can't go. "
    "Could you send 12,000 photos of the centre? They're late! "
)


def prose(n_chars: int) -> str:
    return (PROSE * (n_chars // len(PROSE) + 1))[:n_chars]


def shuffled_prose(n_chars: int) -> str:
    """The words of `PROSE` in a random order: long text without a period to misalign."""
    words = np.random.default_rng(2026).choice(PROSE.split(), size=n_chars // 4)
    return " ".join(words)[:n_chars]


def text_perturbations() -> list[str]:
    return sorted(name for name in base.registry() if name.startswith("text."))


@ignore_realism
@pytest.mark.parametrize("name", text_perturbations())
def test_distances_of_texts_up_to_one_block_are_exact(name: str, seed: int) -> None:
    """Up to `BLOCK_CHARACTERS`, the rates are rapidfuzz's exact edit distances."""
    perturbation = base.create(name, {})
    texts = [prose(BLOCK_CHARACTERS), prose(300), ""]
    rngs = Rngs.for_samples(["a", "b", "c"], seed=seed, step="scaling")
    perturbed = perturbation.perturb(texts, perturbation.magnitude.severe, rngs)
    cer = character_error_rate(texts, perturbed)
    wer = word_error_rate(texts, perturbed)
    for i, (a, b) in enumerate(zip(texts, perturbed, strict=True)):
        assert cer[i] == OSA.distance(a, b) / max(len(a), 1)
        assert wer[i] == Levenshtein.distance(a.split(), b.split()) / max(len(a.split()), 1)


@pytest.mark.slow
@pytest.mark.parametrize("rate", [0.005, 0.05])
def test_block_distances_of_long_texts_match_the_exact_ones(rate: float, seed: int) -> None:
    """On 50 blocks of typos the blocks cut between edits: the sums are the exact distances."""
    text = shuffled_prose(50 * BLOCK_CHARACTERS)
    (perturbed,) = Typos().perturb([text], rate, Rngs.for_samples(["a"], seed=seed))
    exact_characters = OSA.distance(text, perturbed)
    assert character_error_rate([text], [perturbed])[0] == exact_characters / len(text)
    exact_words = Levenshtein.distance(text.split(), perturbed.split())
    assert word_error_rate([text], [perturbed])[0] == exact_words / len(text.split())


def test_block_distance_is_never_below_the_exact_one(seed: int) -> None:
    """Even where no cut can be anchored (every character edited), the sum bounds from above."""
    rng = np.random.default_rng(seed)
    text = "".join(rng.choice(list("ab"), size=5 * BLOCK_CHARACTERS))
    perturbed = "".join(rng.choice(list("abc"), size=4 * BLOCK_CHARACTERS))
    blocks = sum(OSA.distance(a, b) for a, b in block_pairs(text, perturbed))
    assert blocks >= OSA.distance(text, perturbed)
    assert "".join(a for a, _ in block_pairs(text, perturbed)) == text
    assert "".join(b for _, b in block_pairs(text, perturbed)) == perturbed


@pytest.mark.slow
def test_sparse_substitutions_in_a_long_line_count_once_each(seed: int) -> None:
    """Substitutions 1,000 characters apart in a 1 MB line: one edit each, known beforehand."""
    text = "a" * 1_000_000
    positions = np.arange(500, len(text), 1_000)
    chars = np.array(list(text))
    chars[positions] = "b"
    cer = character_error_rate([text], ["".join(chars)])[0]
    assert cer == len(positions) / len(text)


def comparison_work(text: str, perturbed: str) -> int:
    """Character pairs the exact distances of the block pairs weigh: the quadratic part."""
    return sum(len(a) * len(b) for a, b in block_pairs(text, perturbed))


@pytest.mark.slow
def test_comparison_work_doubles_when_the_text_doubles(seed: int) -> None:
    """The work of the block distances grows like the length, not its square."""
    work = []
    for size in (500_000, 1_000_000):
        text = prose(size)
        (perturbed,) = Typos().perturb([text], 0.1, Rngs.for_samples(["a"], seed=seed))
        work.append(comparison_work(text, perturbed))
    assert 1.8 < work[1] / work[0] < 2.2


HUGE_LINE_SCRIPT = textwrap.dedent(
    """
    import warnings
    from wince.perturbations import base
    from wince.perturbations.base import DataContext, Modality, Step, compose, sample_keys

    warnings.simplefilter("ignore")
    line = ({prose!r} * {repeats})[: 2_000_000]
    names = {names!r}
    steps = [Step(name, base.get(name).magnitude.mild) for name in names]
    context = DataContext(Modality.TEXT)
    (out,) = compose([line], steps, seed=0, trial=0, keys=sample_keys(["huge"]), context=context)
    last = base.create(names[-1], {{}})
    rates = last.distances_to(last.measure_clean([line], context), [out], context)
    print(len(out), rates["distance"][0], rates["word_error_rate"][0])
    """
)


@pytest.mark.slow
def test_a_two_megabyte_line_goes_through_every_text_perturbation_and_its_distance() -> None:
    """The hang of issue #20: a 2 MB line finishes all steps (about 30 s; quadratic: hours)."""
    script = HUGE_LINE_SCRIPT.format(
        prose=PROSE, repeats=2_000_000 // len(PROSE) + 1, names=text_perturbations()
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stderr
    length, characters, words = (float(v) for v in done.stdout.split())
    assert 1.9e6 < length < 2.8e6  # speech errors say numbers and links in words
    assert 0.0 < characters < 1.0
    assert 0.0 < words < 1.0
