"""Text perturbations: measured typo rates and the characters typos may touch."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rapidfuzz.distance import OSA

from wince.errors import ParameterError
from wince.perturbations import Rngs
from wince.perturbations.text import Typos, WordTypos
from wince.perturbations.text.keyboard import TYPO_KINDS, TYPO_MIX

ignore_realism = pytest.mark.filterwarnings("ignore::wince.errors.RealismWarning")

VOCABULARY = (
    "the of and to in is that for it with as was on be at by this had not are but from or have "
    "an they which one you were all we when there can more if out so said what up its about "
    "into than them only other new some could time these two may first then do any like my now "
    "over such our man me even most made after also did many before must through back years "
    "where much your way well down should because each just those people Mr how too little "
    "state good very make world still own see men work long get here between both life being "
    "under never day same another know while last might us great old year off come since against "
    "go came right used take three café naïve Zürich déjà señor façade"
)
WORDS = VOCABULARY.split()


def make_long_text(n_chars: int = 20_000) -> str:
    """English-like prose: words, capitals, digits, punctuation, some non-ASCII letters."""
    rng = np.random.default_rng(31337)  # fixed data; the `seed` fixture drives the typos
    parts: list[str] = []
    length = 0
    while length < n_chars:
        word = str(rng.choice(WORDS))
        if rng.random() < 0.08:
            word = word.capitalize()
        if rng.random() < 0.03:
            word = str(rng.integers(0, 2100))
        sep = str(rng.choice([" "] * 12 + [", ", ". ", "; ", " - ", "! ", "? ", "\n"]))
        parts.append(word + sep)
        length += len(word) + len(sep)
    return "".join(parts)[:n_chars]


LONG_TEXT = make_long_text()


def rngs_for(n: int, seed: int) -> Rngs:
    return Rngs.for_samples([f"text-{i}" for i in range(n)], seed=seed, step="test")


def non_alnum(text: str) -> list[str]:
    return [c for c in text if not c.isalnum()]


@pytest.mark.parametrize("rate", [0.005, 0.02, 0.05, 0.1])
def test_measured_edit_rate_matches_the_typo_rate(rate: float, seed: int) -> None:
    """OSA edits per character match rate x (share of letters and digits).

    Expected value: each letter or digit carries a typo with probability `rate`, independently,
    so the number of typos H is Binomial(A, rate), A = number of alphanumeric characters. An
    isolated typo is exactly one OSA edit (a substitution by a *different* key, an omission, a
    duplication, or a swap with a different next character; the fallbacks are duplications).
    Only adjacent typos interact: a swap consumes the next character (and its typo), and OSA may
    express two neighbouring typos in one edit. Each adjacent pair of typos (expected at most
    rate² A of them) loses at most one edit, so

        rate·A − rate²·A  <=  E[edits]  <=  rate·A,

    i.e. an edit rate per character of rate·A/N to first order, N = len(text). Around that we
    allow 4 binomial standard deviations, sqrt(A·rate·(1 − rate)).
    """
    n = len(LONG_TEXT)
    alnum = sum(c.isalnum() for c in LONG_TEXT)
    out = Typos().perturb([LONG_TEXT], rate, rngs_for(1, seed))[0]
    edit_rate = OSA.distance(LONG_TEXT, out) / n

    tolerance = 4 * np.sqrt(alnum * rate * (1 - rate)) / n
    first_order = rate * alnum / n
    assert first_order - rate * first_order - tolerance <= edit_rate <= first_order + tolerance


def test_phone_qwerty_and_azerty_layouts_give_different_typos(seed: int) -> None:
    outputs = [
        Typos(layout=layout).perturb([LONG_TEXT], 0.05, rngs_for(1, seed))[0]
        for layout in ("phone", "qwerty", "azerty")
    ]
    assert len(set(outputs)) == 3


@pytest.mark.parametrize(
    ("layout", "key", "neighbours"),
    [
        # Documented geometry: the keys beside it, and those of the rows above and below whose
        # centres are at most one key width away (desktop rows staggered by 1/2, 1/4, 1/2 key;
        # phone rows by 1/2 and 1: z under s).
        ("qwerty", "q", "12aw"),
        ("azerty", "q", "aswz"),
        ("qwerty", "Q", "12AW"),
        ("qwerty", "5", "46rt"),
        ("phone", "q", "aw"),
        ("phone", "z", "adsx"),
        ("phone", "g", "bcfhtvy"),
        ("phone", "M", "JKLN"),
    ],
)
def test_substitutions_come_from_neighbouring_keys_of_the_layout(
    layout: str, key: str, neighbours: str
) -> None:
    outputs = Typos(layout=layout).perturb([key] * 2000, 0.1, rngs_for(2000, 0))
    typos = {o for o in outputs if o != key}
    substitutes = {o for o in typos if len(o) == 1 and o}
    insertions = {o for o in typos if len(o) == 2 and o != key + key}
    assert typos <= {"", key + key} | set(neighbours) | {key + n for n in neighbours}
    assert substitutes == set(neighbours)
    assert insertions == {key + n for n in neighbours}


def test_bad_layout_raises_parameter_error() -> None:
    with pytest.raises(ParameterError, match="'phone', 'qwerty', 'azerty'"):
        Typos(layout="dvorak")


@ignore_realism
def test_a_digit_on_the_phone_layout_is_only_ever_doubled_or_dropped() -> None:
    outputs = Typos().perturb(["5"] * 2000, 0.5, rngs_for(2000, 0))
    assert set(outputs) == {"5", "55", ""}


@pytest.mark.slow
@ignore_realism  # hypothesis draws rates across the whole [0, 1] limits
@settings(max_examples=200, deadline=None)
@given(
    texts=st.lists(st.text(max_size=60), min_size=1, max_size=5),
    rate=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**32 - 1),
    per_word=st.booleans(),
)
def test_phone_layout_typos_never_bring_a_digit_the_text_lacked(
    texts: list[str], rate: float, seed: int, per_word: bool
) -> None:
    perturbation = WordTypos() if per_word else Typos()
    out = perturbation.perturb(texts, rate, rngs_for(len(texts), seed))
    for original, typed in zip(texts, out, strict=True):
        assert {c for c in typed if c.isdigit()} <= {c for c in original if c.isdigit()}


@pytest.mark.slow
@ignore_realism
def test_substitutions_are_the_most_common_typo_in_the_shares_of_the_mix() -> None:
    """Single-letter texts at rate 1: the outcome tells the kind (a neighbour alone is a
    substitution, "" an omission, "ss" a duplication, "s" + neighbour an insertion; a lone
    letter has nothing to swap with, so transpositions become duplications)."""
    n = 20_000
    outputs = Typos(layout="phone").perturb(["s"] * n, 1.0, rngs_for(n, 0))
    share = {
        "substitution": sum(len(o) == 1 for o in outputs) / n,
        "omission": outputs.count("") / n,
        "duplication": outputs.count("ss") / n,
        "insertion": sum(len(o) == 2 and o != "ss" for o in outputs) / n,
    }
    expected = dict(zip(TYPO_KINDS, TYPO_MIX, strict=True))
    expected["duplication"] += expected.pop("transposition")
    tolerance = 4 * np.sqrt(0.25 / n)
    for kind, value in expected.items():
        assert share[kind] == pytest.approx(value, abs=tolerance), kind


@pytest.mark.slow
@ignore_realism
def test_restricting_kinds_renormalises_their_shares() -> None:
    n = 20_000
    outputs = Typos(kinds=["omission", "insertion"]).perturb(["s"] * n, 1.0, rngs_for(n, 1))
    assert set(map(len, outputs)) == {0, 2}
    assert outputs.count("") / n == pytest.approx(0.2 / 0.35, abs=4 * np.sqrt(0.25 / n))


@ignore_realism  # rate 1 is inside the limits, beyond the realistic range
@pytest.mark.parametrize("rate", [0.1, 1.0])
def test_non_alphanumeric_characters_are_never_substituted_dropped_or_doubled(
    rate: float, seed: int
) -> None:
    out = Typos().perturb([LONG_TEXT], rate, rngs_for(1, seed))[0]
    assert out != LONG_TEXT
    assert non_alnum(out) == non_alnum(LONG_TEXT)  # a swap may move one, never change it


@ignore_realism
@pytest.mark.parametrize("rate", [0.05, 1.0])
def test_empty_string_stays_empty(rate: float, seed: int) -> None:
    out = Typos().perturb(["", "word", ""], rate, rngs_for(3, seed))
    assert out[0] == ""
    assert out[2] == ""


@ignore_realism
def test_text_without_letters_or_digits_is_unchanged(seed: int) -> None:
    texts = ["  ...!? -- «»", "\n\t", "🙂🙃"]
    assert Typos().perturb(texts, 1.0, rngs_for(3, seed)) == texts


@pytest.mark.slow
@ignore_realism  # hypothesis draws rates across the whole [0, 1] limits
@settings(max_examples=200, deadline=None)
@given(
    texts=st.lists(st.text(max_size=60), max_size=5),
    rate=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**32 - 1),
    layout=st.sampled_from(["phone", "qwerty", "azerty"]),
)
def test_typos_return_strings_and_never_mutate_the_input(
    texts: list[str], rate: float, seed: int, layout: str
) -> None:
    before = list(texts)
    out = Typos(layout=layout).perturb(texts, rate, rngs_for(len(texts), seed))
    assert texts == before
    assert out is not texts
    assert isinstance(out, list)
    assert len(out) == len(texts)
    for original, typed in zip(texts, out, strict=True):
        assert isinstance(typed, str)
        assert non_alnum(typed) == non_alnum(original)
        alnum = sum(c.isalnum() for c in original)
        assert len(original) - alnum <= len(typed) <= len(original) + alnum
    assert Typos(layout=layout).perturb(texts, rate, rngs_for(len(texts), seed)) == out
