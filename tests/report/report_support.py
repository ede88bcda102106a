"""Constants and helpers shared by the report tests (fixtures live in conftest.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
XSS = "<script>alert(1)</script>"
ARTIFACTS = Path(__file__).resolve().parents[2] / "build" / "test-artifacts" / "report"
TEXTS = [f"{XSS} order number {i} arrives on monday, thanks" for i in range(24)]


# the bundled demo plans by the short names of their screenshots
DEMO_SHORT_NAMES = {
    "digits.yaml": "digits",
    "breast_cancer.yaml": "tabular",
    "sentiment.yaml": "text",
    "dtmf.yaml": "audio",
}

PARITY_CLASSES = ("even", "odd")  # the class names of the parity model, index order


# demos hardened before their report is written (short name: the defences tried), so the
# layout tests see the measured-defences section
HARDENED_DEMOS = {"text": ["text.normalize", "model.temperature"], "tabular": ["tabular.clip"]}


def text_data() -> tuple[list[str], np.ndarray]:
    """The text run's inputs and labels (class names, as the parity model names them)."""
    return TEXTS, np.array(PARITY_CLASSES)[parity(TEXTS)]


def parity(texts: list[str]) -> np.ndarray:
    """A text 'model': the parity of the sum of character codes (a typo flips it half the time)."""
    return np.array([sum(map(ord, t)) % 2 for t in texts])


# every section of the HTML report, by element id, in order
SECTIONS = (
    "summary",
    "defences",
    "fig-heatmap",
    "fig-curves",
    "fig-survival",
    "fig-interactions",
    "fig-interaction_plots",
    "fig-global_sensitivity",
    "fig-per_class",
    "regions",
    "gallery",
    "technical",
    "verdicts",
    "lineage",
)
