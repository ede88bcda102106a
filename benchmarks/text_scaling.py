"""Text perturbations on huge texts: seconds per perturbation against the text's length (#20).

Every registered `text.*` perturbation perturbs one text of 10 KB, 100 KB, 200 KB, 1 MB and
2 MB at its severe value, then the engine's distances (character and word error rate against
the clean text, `measure_clean` and `distances_to`) are measured; the time printed is both
together, the best of three repeats. The text is English-like prose, as one line and as lines
of about 80 characters.
The ratio time(2 MB) / time(200 KB) is 10 for linear work and 100 for quadratic work.
Target: <= 15 for every perturbation and layout.

Run: PYTHONPATH=src .venv/bin/python benchmarks/text_scaling.py [--sizes 10000,...] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time
import warnings

from wince.errors import RealismWarning
from wince.perturbations import base
from wince.perturbations.base import DataContext, Modality, Rngs

PROSE = (
    "I do not think the colour grey is enormous, said Mr. Smith on 2024-01-05; we can't go. "
    "Could you send 12,000 photos of the centre? They're late! Well, it is 5% cheaper at "
    "www.example.com or from sales@example.com, and the CAT scan showed nothing. "
)
SIZES = (10_000, 100_000, 200_000, 1_000_000, 2_000_000)
TARGET_RATIO = 15.0


def huge_text(n_chars: int, *, multiline: bool) -> str:
    """`n_chars` characters of prose: one line, or lines of about 80 characters."""
    text = (PROSE * (n_chars // len(PROSE) + 1))[:n_chars]
    if not multiline:
        return text
    return "\n".join(text[i : i + 80] for i in range(0, len(text), 81))[:n_chars]


def seconds(name: str, text: str, repeats: int) -> float:
    """Best seconds of `repeats` to perturb `text` at the severe value and measure distances."""
    perturbation = base.create(name, {})
    context = DataContext(Modality.TEXT)
    rngs = Rngs.for_samples(["huge"], seed=0, step=name)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        perturbed = perturbation.perturb([text], perturbation.magnitude.severe, rngs, context)
        perturbation.distances_to(perturbation.measure_clean([text], context), perturbed, context)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="text lengths")
    parser.add_argument("--repeats", type=int, default=3, help="the best of this many is kept")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    warnings.simplefilter("ignore", RealismWarning)
    names = sorted(n for n in base.registry() if n.startswith("text."))
    worst = 0.0
    for multiline in (False, True):
        print(f"\n{'lines of 80 characters' if multiline else 'one line'}: seconds per text")
        print(f"{'perturbation':26}" + "".join(f"{s:>11,}" for s in sizes) + "   2MB/200KB")
        texts = {size: huge_text(size, multiline=multiline) for size in sizes}
        for name in names:
            times = {size: seconds(name, texts[size], args.repeats) for size in sizes}
            row = f"{name:26}" + "".join(f"{times[s]:11.3f}" for s in sizes)
            if 200_000 in times and 2_000_000 in times:
                ratio = times[2_000_000] / times[200_000]
                worst = max(worst, ratio)
                row += f"{ratio:12.1f}"
            print(row, flush=True)
    if worst:
        verdict = "met" if worst <= TARGET_RATIO else "MISSED"
        print(f"\nworst time(2 MB)/time(200 KB): {worst:.1f} (<= {TARGET_RATIO:g}: {verdict})")


if __name__ == "__main__":
    main()
