"""ImageNet-C's deterministic corruptions against imagecorruptions 1.1.2, level by level.

For each level 1-5: how many of the 6 deterministic corruptions (contrast, brightness, defocus
blur, zoom blur, pixelate, JPEG) give exactly imagecorruptions' output on all three 224-px
photos of the reference test, with `reference: true` (target 6 of 6) and in the default mode
(for information: it rounds where the published code truncates). Needs imagecorruptions where
`make test` installs it (requirements-references.lock). About 30 s; exit status 1 when the
reference mode misses its target (`--quick` is accepted and changes nothing).

    PYTHONPATH=src python benchmarks/validity_imagenet_c.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

TESTS = Path(__file__).parents[1] / "tests"
sys.path[:0] = [str(TESTS), str(TESTS / "perturbations")]

from test_imagenet_c_reference import LEVELS, PUBLISHED, imagecorruptions, photos  # noqa: E402

from wince.perturbations import Rngs, get  # noqa: E402


def equal_counts(reference: bool) -> dict[int, int]:
    """Per level, the corruptions whose output equals imagecorruptions' on every photo."""
    corrupt = imagecorruptions().corrupt
    images = photos()
    counts = dict.fromkeys(LEVELS, 0)
    for name in PUBLISHED:
        perturbation = get(f"image.imagenet_c_{name}")(reference=reference)
        for level in LEVELS:
            counts[level] += all(
                np.array_equal(
                    perturbation.perturb(image[None], level, Rngs.for_samples(["s"]))[0],
                    corrupt(image, severity=level, corruption_name=name),
                )
                for image in images
            )
    return counts


def main() -> None:
    total = len(PUBLISHED)
    met = True
    for reference, target in ((True, f"target {total}/{total}"), (False, "information")):
        counts = equal_counts(reference)
        figures = ", ".join(f"level {level}: {n}/{total}" for level, n in counts.items())
        mode = f"reference={reference!s:5}"
        print(f"ImageNet-C {mode} equals imagecorruptions at {figures} ({target})")
        if reference:
            met = all(n == total for n in counts.values())
    sys.exit(0 if met else 1)


if __name__ == "__main__":
    main()
