"""The OCR, speech and detection examples run offline with `--quick`, and their headlines hold.

Each example runs as a user runs it (`python examples/X.py --quick`) in a subprocess whose
sockets refuse to connect, so a model that downloads anything fails the test. Its printed
headline is parsed: the clean value must match the same model's outputs scored here by an
independent reference (jiwer for the error rates, IoU by hand for the recall), the clean
model must do its job, and the worst perturbation must move the metric beyond both
intervals.
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from test_examples import EXAMPLES, load

from require import require_module

jiwer = require_module("jiwer", "dev")
require_module("rapidocr", "examples")
require_module("pocketsphinx", "examples")

pytestmark = pytest.mark.slow  # each runs an example end to end: a minute or more

# Runs an example script with its arguments, every socket refusing to connect.
OFFLINE = """
import runpy, socket, sys
from pathlib import Path

def refuse(*args, **kwargs):
    raise OSError("examples must run offline; this one tried to open a connection")

socket.socket.connect = refuse
socket.create_connection = refuse
sys.argv = sys.argv[1:]
sys.path.insert(0, str(Path(sys.argv[0]).parent))
runpy.run_path(sys.argv[0], run_name="__main__")
"""
PERCENT = r"([\d.]+)%"
HEADLINE = re.compile(
    rf": (?P<meaning>.+) (?:rises|falls|stays) from {PERCENT} \[{PERCENT}, {PERCENT}\] clean "
    rf"to {PERCENT} \[{PERCENT}, {PERCENT}\] under (?P<scenario>.+) at severity ([\d.]+)"
)
PRINTED = 0.0005  # half the last printed digit of a percentage with one decimal


@dataclass(frozen=True)
class Interval:
    """An estimate and its 95% interval, as fractions."""

    value: float
    low: float
    high: float


@dataclass(frozen=True)
class Headline:
    meaning: str
    clean: Interval
    worst: Interval
    scenario: str
    severity: float


def run_quick(script: str, tmp_path: Path) -> tuple[Headline, str]:
    """Run `examples/<script> --quick` offline; its parsed headline and everything it printed."""
    result = subprocess.run(
        [sys.executable, "-c", OFFLINE, str(EXAMPLES / script), "--quick", "--out", "out"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    match = HEADLINE.search(result.stdout)
    assert match, f"no headline with intervals in:\n{result.stdout}"
    numbers = [float(match.group(i)) / 100 for i in range(2, 8)]
    return (
        Headline(
            meaning=match["meaning"],
            clean=Interval(*numbers[:3]),
            worst=Interval(*numbers[3:]),
            scenario=match["scenario"],
            severity=float(match.group(9)),
        ),
        result.stdout,
    )


def assert_consistent(headline: Headline, tmp_path: Path, printed: str) -> None:
    """Each interval holds its estimate, and the report the example names exists."""
    for interval in (headline.clean, headline.worst):
        assert interval.low - PRINTED <= interval.value <= interval.high + PRINTED
    report = re.search(r"report: (\S+)", printed)
    assert report, printed
    assert (tmp_path / report.group(1)).stat().st_size > 10_000


def best_iou(truth: np.ndarray, found: np.ndarray) -> np.ndarray:
    """For each true box (x_min, y_min, x_max, y_max), its highest IoU with a found box."""
    if len(found) == 0:
        return np.zeros(len(truth))
    low = np.maximum(truth[:, None, :2], found[None, :, :2])
    high = np.minimum(truth[:, None, 2:], found[None, :, 2:])
    overlap = np.clip(high - low, 0, None).prod(axis=2)
    area_truth = (truth[:, 2:] - truth[:, :2]).prod(axis=1)
    area_found = (found[:, 2:] - found[:, :2]).prod(axis=1)
    return (overlap / (area_truth[:, None] + area_found[None, :] - overlap)).max(axis=1)


def test_ocr_error_rate_is_low_clean_and_rises_under_a_severe_perturbation(tmp_path):
    headline, printed = run_quick("ocr_robustness.py", tmp_path)

    example = load(EXAMPLES / "ocr_robustness.py")
    data = example.dataset(quick=True)
    read = example.line_recogniser()(data.x)
    clean_cer = np.mean([jiwer.cer(str(t), r) for t, r in zip(data.labels, read, strict=True)])
    assert headline.meaning == "character error rate"
    assert headline.clean.value == pytest.approx(clean_cer, abs=PRINTED)
    assert headline.clean.value < 0.10
    assert headline.worst.low > headline.clean.high
    assert_consistent(headline, tmp_path, printed)


def test_speech_error_rate_is_low_clean_and_rises_under_a_severe_perturbation(tmp_path):
    headline, printed = run_quick("speech_robustness.py", tmp_path)

    example = load(EXAMPLES / "speech_robustness.py")
    data = example.dataset()
    heard = example.command_recogniser()(data.x)
    clean_wer = np.mean([jiwer.wer(str(t), h) for t, h in zip(data.labels, heard, strict=True)])
    assert headline.meaning == "word error rate"
    assert headline.clean.value == pytest.approx(clean_wer, abs=PRINTED)
    assert headline.clean.value < 0.10
    assert headline.worst.low > headline.clean.high
    assert_consistent(headline, tmp_path, printed)


def test_detection_recall_is_high_clean_and_falls_under_a_severe_perturbation(tmp_path):
    headline, printed = run_quick("detection_robustness.py", tmp_path)

    example = load(EXAMPLES / "detection_robustness.py")
    data = example.dataset(quick=True)
    found = example.line_detector()(data.x)
    clean_recall = np.mean(
        [
            (best_iou(truth.boxes, boxes.boxes) >= 0.5).mean()
            for truth, boxes in zip(data.labels, found, strict=True)
        ]
    )
    assert headline.meaning == "recall of the text lines"
    assert headline.clean.value == pytest.approx(clean_recall, abs=PRINTED)
    assert headline.clean.value > 0.90
    assert headline.worst.high < headline.clean.low
    assert_consistent(headline, tmp_path, printed)
