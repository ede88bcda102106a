"""Digests of every library perturbation's outputs and distances, for `test_cpu_independence`.

Run as a script (`python tests/contract/cpu_outputs.py`) it prints one JSON object: for each
perturbation, golden input (test_golden's, plus float32 copies of the uint8 images) and
severity, the sha256 of the perturbed batch and of its distances to the input. The test runs
it in subprocesses whose environment switches the CPU code paths of NumPy, OpenBLAS, OpenCV
and libjpeg-turbo, and compares the digests.

`WINCE_OPENCV_OPTIMIZED=0` in the environment turns OpenCV's optimised paths off
(`cv2.setUseOptimized(False)`) before anything runs.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

import numpy as np
from test_golden import REGISTRY, SEED, inputs_for

from wince.perturbations import DataContext, Modality, Perturbation, Rngs

SEVERITIES = (0.25, 0.6, 1.0)


def digest(value: Any) -> str:
    """sha256 of a batch (array or list of str) or of a dict of distance arrays."""
    h = hashlib.sha256()
    if isinstance(value, dict):
        for key in sorted(value):
            h.update(key.encode())
            h.update(np.ascontiguousarray(value[key]).tobytes())
    elif isinstance(value, list):
        h.update("\x00".join(value).encode("utf-8"))
    else:
        h.update(np.ascontiguousarray(value).tobytes())
    return h.hexdigest()


def inputs(cls: type[Perturbation]) -> list[tuple[Any, DataContext]]:
    """The golden inputs, and float32 [0, 1] copies of uint8 image inputs."""
    found = inputs_for(cls)
    if cls.modality != Modality.IMAGE:
        return found
    floats = [
        (x.astype(np.float32) / np.float32(255.0), context)
        for x, context in found
        if isinstance(x, np.ndarray) and x.dtype == np.uint8
    ]
    return found + floats


def digests() -> dict[str, str]:
    """Output and distance digests of every library perturbation, keyed name|input|severity."""
    out: dict[str, str] = {}
    for name, cls in REGISTRY.items():
        p = cls()
        for k, (x, context) in enumerate(inputs(cls)):
            for severity in SEVERITIES:
                rngs = Rngs.for_samples([f"golden-{i}" for i in range(len(x))], seed=SEED)
                y = p.perturb(x, p.at_severity(severity), rngs, context)
                out[f"{name}|{k}|{severity}|output"] = digest(y)
                out[f"{name}|{k}|{severity}|distances"] = digest(p.distances(x, y, context))
    return out


if __name__ == "__main__":
    if os.environ.get("WINCE_OPENCV_OPTIMIZED") == "0":
        import cv2

        cv2.setUseOptimized(False)
    print(json.dumps(digests()))
