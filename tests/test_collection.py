"""Collecting the tests imports none of the heavy extras: each test that needs one imports it.

`require_module` only checks that an extra is installed and imports it when a test first reads
one of its attributes, so `pytest --collect-only` (and every run of a few tests) stays fast.
A module-level `torch.nn.Module` subclass, tensor or parametrisation built from the library
would import it again while collecting; this test names the module that does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
HEAVY = (
    "torch",
    "transformers",
    "sentence_transformers",
    "onnxruntime",
    "skl2onnx",
    "mlflow",
    "ray",
    "albumentations",
    "playwright",
    "pycocotools",
    "rapidocr",
    "pocketsphinx",
)

# Collects in this subprocess, then prints which of HEAVY were imported (as JSON).
COLLECT = """
import json, sys
import pytest
code = pytest.main(["--collect-only", "-q", "-p", "no:cacheprovider", sys.argv[1]])
heavy = json.loads(sys.argv[2])
print(json.dumps({"exit": int(code), "imported": [n for n in heavy if n in sys.modules]}))
"""


@pytest.mark.slow
def test_collecting_the_tests_imports_no_heavy_extra():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS), env.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, "-c", COLLECT, str(TESTS), json.dumps(HEAVY)],
        cwd=TESTS.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["exit"] == 0, done.stdout[-3000:]
    assert result["imported"] == [], (
        f"collecting the tests imported {result['imported']}: a test module uses it at import "
        "time; move that use into a fixture or a function (see tests/require.py)"
    )
