"""Text robustness: a sentiment classifier under typos, OCR, speech-to-text and casing.

Offline: the 370 review sentences bundled with wince (positive, negative, neutral, labelled
by their writers) and a TF-IDF logistic regression on character n-grams trained on half of
them (a small model on 185 sentences: about 60% accurate, which is not the point). The
other half is analysed under five realistic text perturbations, with numbers and negations
protected ("not" never becomes "nit"); the script prints where the model turns fragile and
writes an HTML report. The vectoriser lowercases, so re-casing should not matter.

    python examples/text_robustness.py            # full size
    python examples/text_robustness.py --quick    # reduced size, as CI runs it
"""

from __future__ import annotations

import argparse
from importlib import resources
from pathlib import Path
from typing import Any

from _findings import print_findings
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline

import wince
from wince.datasets.base import ArrayDataset

OUT_DIR = Path("wince-examples/text")


def review_sentences() -> tuple[list[str], list[str]]:
    """The bundled sentences (wince/demo/sentences.tsv): texts and their labels."""
    lines = (resources.files("wince.demo") / "sentences.tsv").read_text(encoding="utf-8")
    rows = [line.split("\t") for line in lines.splitlines() if line and not line.startswith("#")]
    return [text for _, text in rows], [label for label, _ in rows]


def plan(quick: bool) -> dict[str, Any]:
    levels = [1, 3, 5] if quick else [1, 2, 3, 4, 5]
    protect = {"protect": ["numbers", "negations"]}
    return {
        "name": "example-text",
        "description": "Character n-gram TF-IDF + logistic regression on review sentiment.",
        "perturbations": [
            {"name": "text.typos", "levels": levels, "params": protect},
            {"name": "text.ocr_errors", "levels": levels, "params": protect},
            {"name": "text.speech_errors", "levels": levels, "params": protect},
            {"name": "text.casing", "levels": levels, "params": {"style": "lower"}},
            {"name": "text.contractions", "levels": levels, "params": protect},
        ],
        "combinations": "none" if quick else "pairwise",
        "repeats": 2 if quick else 5,
        "seed": 0,
        "analysis": {"bootstrap": 200 if quick else 1000},
    }


def main(quick: bool = False, out_dir: str | Path = OUT_DIR) -> dict[str, Any]:
    """Train, analyse, print the findings and write the report; returns what was produced."""
    out = Path(out_dir)
    texts, labels = review_sentences()
    x_train, x_test, y_train, y_test = train_test_split(
        texts, labels, test_size=0.5, random_state=0, stratify=labels
    )
    if quick:
        x_test, y_test = x_test[:100], y_test[:100]
    model = make_pipeline(
        TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True),
        LogisticRegression(max_iter=2000, C=10.0),
    ).fit(x_train, y_train)
    data = ArrayDataset(x_test, y_test, modality="text", name="review sentences (test half)")
    run = wince.run(model, data, plan(quick), store=str(out / ".wince"))
    profile = run.analyze()
    print_findings(run, profile, quality="accuracy", harms=("flip_rate",))
    report = run.report(out=out / f"report-{run.id}.html")
    print(f"  report: {report}")
    return {"run_id": run.id, "report": report, "verdicts": profile.verdicts.scenarios}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="reduced size (as in CI)")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="output folder")
    args = parser.parse_args()
    main(quick=args.quick, out_dir=args.out)
