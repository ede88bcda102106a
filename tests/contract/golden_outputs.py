"""Reference outputs for the golden contract, and the check of an output against them.

A golden hash says whether an output is exactly what it was. When it is not, the question is
why: the installed numerical libraries differ from the lock (environment drift, which a
perturbation bounds with its declared `drift`), or the code changed (bump the version).
`golden_outputs.npz` holds, for each perturbation's current version, its outputs on the golden
inputs at the golden severity: every value of outputs of up to `SAMPLE` values, `SAMPLE`
values at fixed, scattered positions of larger ones, and every string of text outputs.

Run as a script after adding golden hashes (`python tests/contract/golden_outputs.py`): it
stores the outputs of every current version whose hash matches `GOLDEN` and drops the outputs
of versions that are no longer current.
"""

from __future__ import annotations

import importlib.metadata
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from wince.perturbations import Drift

STORE = Path(__file__).with_name("golden_outputs.npz")
LOCK = Path(__file__).parents[2] / "requirements.lock"
SAMPLE = 2048
_STRIDES = (7919, 7927, 7933)  # primes: one of them is coprime with any output's size


def sample(values: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """Every value of a small output; `SAMPLE` values spread over a larger one, by fixed rule."""
    flat = np.ascontiguousarray(values).reshape(-1)
    if flat.size <= SAMPLE:
        return flat
    stride = next(p for p in _STRIDES if flat.size % p)
    return flat[(np.arange(SAMPLE) * stride) % flat.size]


def reference_arrays(key: tuple[str, int], outputs: list[Any]) -> dict[str, npt.NDArray[Any]]:
    """The arrays stored for one perturbation version: one per golden input."""
    name, version = key
    return {
        f"{name}@{version}/{k}": np.array(out, dtype=str) if isinstance(out, list) else sample(out)
        for k, out in enumerate(outputs)
    }


def load_references() -> dict[str, npt.NDArray[Any]]:
    """Every stored reference array, by `name@version/input`."""
    if not STORE.exists():
        return {}
    with np.load(STORE, allow_pickle=False) as stored:
        return {key: stored[key] for key in stored.files}


@dataclass(frozen=True)
class Comparison:
    """How an output differs from its reference: counts, and the largest change."""

    changed: int
    total: int
    max_change: float
    text_differs: bool

    def within(self, drift: Drift) -> bool:
        """Whether the difference is within a declared drift tolerance."""
        if self.text_differs:
            return False
        if self.changed == 0:
            return True
        return self.max_change <= drift.max_change and self.changed <= drift.max_share * self.total

    def describe(self) -> str:
        if self.text_differs:
            return "the text differs"
        return (
            f"{self.changed} of {self.total} compared values differ, by up to "
            f"{self.max_change:.3g} of full scale"
        )


def compare(references: list[npt.NDArray[Any]], outputs: list[Any]) -> Comparison:
    """Compare outputs with their stored reference arrays (same order, as `reference_arrays`).

    Differences are in units of full scale (`Drift`): 255 for uint8 values, otherwise
    max(1, |reference|); differences up to `Drift.ULP_FLOOR` are floating-point noise.
    """
    changed = total = 0
    largest = 0.0
    for reference, out in zip(references, outputs, strict=True):
        if isinstance(out, list):
            if reference.tolist() != out:
                return Comparison(0, 0, 0.0, text_differs=True)
            continue
        current = sample(np.asarray(out))
        if current.shape != reference.shape:
            return Comparison(0, 0, 0.0, text_differs=True)
        expected = reference.astype(np.float64)
        scale = 255.0 if reference.dtype == np.uint8 else np.maximum(1.0, np.abs(expected))
        same_missing = np.isnan(expected) & np.isnan(current.astype(np.float64))
        difference = np.where(
            same_missing, 0.0, np.abs(current.astype(np.float64) - expected) / scale
        )
        difference = np.where(np.isnan(difference), np.inf, difference)
        moved = difference > Drift.ULP_FLOOR
        changed += int(moved.sum())
        total += difference.size
        largest = max(largest, float(difference.max(initial=0.0)))
    return Comparison(changed, total, largest, text_differs=False)


def locked_versions() -> dict[str, str]:
    """The versions pinned by `requirements.lock`, by normalised distribution name."""
    if not LOCK.exists():
        return {}
    pins = re.findall(r"^([A-Za-z0-9_.\-]+)==([^\s;#]+)", LOCK.read_text(), flags=re.MULTILINE)
    return {normalise(name): version for name, version in pins}


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def installed_differences() -> list[str]:
    """Locked distributions installed at another version (or missing), as "name lock → here"."""
    pins = locked_versions()
    if not pins:
        return ["requirements.lock is missing"]
    found = []
    for name, version in sorted(pins.items()):
        try:
            here = importlib.metadata.version(name).split("+")[0]
        except importlib.metadata.PackageNotFoundError:
            here = "not installed"
        if here != version.split("+")[0]:
            found.append(f"{name} {version} → {here}")
    return found


def main() -> None:
    """Store the reference outputs of every current version whose hash matches `GOLDEN`."""
    from test_golden import GOLDEN, REGISTRY, golden_outputs, output_digest_of

    kept: dict[str, npt.NDArray[Any]] = {}
    for name, cls in REGISTRY.items():
        key = (name, cls.version)
        outputs = golden_outputs(cls)
        if GOLDEN.get(key) != output_digest_of(outputs):
            print(f"skipped {name} v{cls.version}: its output does not match its golden hash")
            continue
        kept.update(reference_arrays(key, outputs))
    np.savez_compressed(STORE, **kept)
    print(f"stored {len(kept)} reference arrays in {STORE} ({STORE.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
