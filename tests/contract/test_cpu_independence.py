"""Outputs do not depend on the CPU's code paths (docs/reproducibility.md).

Every library perturbation runs on the golden inputs (uint8 and float32 images, text, audio,
tabular, time series) at several severities, in subprocesses whose environment switches the
run-time CPU dispatch of the numerical libraries to their plainer paths:

- OpenCV's optimisations off (`cv2.setUseOptimized(False)`);
- OpenCV's dispatched instruction sets disabled (`OPENCV_CPU_DISABLE`: AVX-512, AVX2, ...);
- NumPy's dispatched instruction sets disabled (`NPY_DISABLE_CPU_FEATURES`) and OpenBLAS
  forced to an older kernel (`OPENBLAS_CORETYPE`);
- libjpeg-turbo's SIMD off (`JSIMD_FORCENONE`).

Outputs and their recorded distances must be identical, bit for bit, to a run with every path
at its default: what a machine with another CPU would compute.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("cpu_outputs.py")

pytestmark = pytest.mark.slow  # each case runs every perturbation in a fresh process


def run_digests(extra_env: dict[str, str]) -> dict[str, str]:
    env = {**os.environ, **extra_env}
    done = subprocess.run(
        [sys.executable, str(SCRIPT)], env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    digests: dict[str, str] = json.loads(done.stdout)
    return digests


def opencv_dispatched() -> str:
    """OpenCV's run-time dispatched instruction sets on this machine ('*' in its CPU line)."""
    import cv2

    line = cv2.getCPUFeaturesLine()
    return ",".join(word[1:] for word in line.split() if word.startswith("*"))


def numpy_dispatched() -> str:
    """NumPy's dispatched instruction sets that this CPU has (what a plainer CPU lacks)."""
    from numpy._core import _multiarray_umath as umath

    found = umath.__cpu_features__
    return " ".join(f for f in umath.__cpu_dispatch__ if found.get(f))


VARIANTS = {
    "opencv-unoptimized": lambda: {"WINCE_OPENCV_OPTIMIZED": "0"},
    "opencv-baseline-isa": lambda: {"OPENCV_CPU_DISABLE": opencv_dispatched()},
    "numpy-baseline-isa": lambda: {
        "NPY_DISABLE_CPU_FEATURES": numpy_dispatched(),
        "OPENBLAS_CORETYPE": "Nehalem",
    },
    "libjpeg-no-simd": lambda: {"JSIMD_FORCENONE": "1"},
}


@pytest.fixture(scope="module")
def default_digests() -> dict[str, str]:
    return run_digests({})


def test_the_digests_cover_every_library_perturbation(default_digests: dict[str, str]) -> None:
    from test_golden import REGISTRY

    covered = {key.split("|")[0] for key in default_digests}
    assert covered == set(REGISTRY)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_outputs_and_distances_do_not_depend_on_cpu_code_paths(
    variant: str, default_digests: dict[str, str]
) -> None:
    extra = VARIANTS[variant]()
    assert all(extra.values()), f"{variant}: nothing to switch on this machine: {extra}"
    other = run_digests(extra)
    differing = sorted(key for key, value in default_digests.items() if other.get(key) != value)
    assert not differing, (
        f"{variant} ({extra}) changes {len(differing)} outputs or distances: "
        + ", ".join(differing[:40])
    )
