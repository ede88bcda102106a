"""Variable-size images: digit crops of several sizes, analysed at their own sizes.

OCR and detection pipelines hand a recogniser crops of whatever size the text or object had
on the page. Padding them to one size changes the inputs (and the baseline) before any
perturbation is applied, so wince takes them as they are: a list of arrays of different
shapes becomes a dataset whose batches the engine cuts into same-size groups, each perturbed
and predicted as an ordinary batch. Every crop draws from its own random stream, so its
outcome is the one it would have in a run of its size alone.

Offline: scikit-learn's bundled 8x8 digits, enlarged to crops of four sizes (12x12, 16x12,
24x24 and 20x32 px, dark ink on a light page), and a recogniser that accepts any size: it
resizes every crop to 16x16 internally, then applies PCA and a logistic regression. The
script prints the findings, then the baseline accuracy and the flip rate of the most
harmful scenario per crop size, and writes an HTML report whose worst cases show each crop
at its own size.

    python examples/variable_size_images.py            # full size (about a minute of CPU)
    python examples/variable_size_images.py --quick    # reduced size, as CI runs it
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd
from _findings import print_findings
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

import wince
from wince.datasets.base import ArrayDataset

OUT_DIR = Path("wince-examples/variable-size")
# (height, width) of the crops: small and large, square and wide
CROP_SIZES = ((12, 12), (16, 12), (24, 24), (20, 32))
MODEL_SIZE = 16  # the recogniser's own input size (px per side)


def digit_crops() -> tuple[list[np.ndarray], np.ndarray]:
    """Digits as grayscale uint8 crops (h, w, 1) of four sizes, in turn: dark ink, light page."""
    digits = load_digits()
    page = np.rint(255 * (0.9 - 0.8 * digits.images / 16.0)).astype(np.uint8)
    crops = []
    for i, image in enumerate(page):
        height, width = CROP_SIZES[i % len(CROP_SIZES)]
        crop = cv2.resize(image, (width, height), interpolation=cv2.INTER_CUBIC)
        crops.append(crop[..., None])
    return crops, digits.target


def resized(x: Any) -> np.ndarray:
    """Crops -> (n, 16*16) floats in [0, 1]: the recogniser's own preprocessing.

    The engine hands the model one size at a time (an ordinary (n, h, w, 1) batch); training
    passes a list of crops of mixed sizes.
    """
    rows = [
        cv2.resize(np.asarray(crop)[..., 0], (MODEL_SIZE, MODEL_SIZE), interpolation=cv2.INTER_AREA)
        for crop in x
    ]
    return np.asarray(rows, dtype=np.float64).reshape(len(rows), -1) / 255.0


def plan(quick: bool) -> dict[str, Any]:
    levels = [1, 3, 5] if quick else [1, 2, 3, 4, 5]
    return {
        "name": "example-variable-size",
        "description": "A size-agnostic digit recogniser on crops of four sizes.",
        "perturbations": [
            {"name": "image.gaussian_blur", "levels": levels},
            {"name": "image.low_light", "levels": levels},
            {"name": "image.jpeg", "levels": levels},
        ],
        "combinations": "none",
        "repeats": 2,
        "seed": 0,
        "analysis": {"bootstrap": 200 if quick else 1000},
    }


def by_size(run: wince.Run, sizes: dict[str, str]) -> tuple[str, pd.DataFrame]:
    """The scenario that flips most predictions; baseline accuracy and its flip rate per size."""
    outcomes = run.outcomes()
    outcomes["scenario"] = outcomes["scenario"].astype(str)
    outcomes["size"] = outcomes["sample_id"].map(sizes)
    baseline = outcomes[outcomes["scenario"] == "baseline"]
    perturbed = outcomes[outcomes["scenario"] != "baseline"]
    worst = str(perturbed.groupby("scenario")["flipped"].mean().idxmax())
    hit = perturbed[perturbed["scenario"] == worst]
    table = pd.DataFrame(
        {
            "baseline accuracy": baseline.groupby("size")["correct"].mean(),
            "flip rate": hit.groupby("size")["flipped"].mean(),
        }
    )
    return worst, table


def main(quick: bool = False, out_dir: str | Path = OUT_DIR) -> dict[str, Any]:
    """Train, analyse, print the findings per size and write the report."""
    out = Path(out_dir)
    crops, labels = digit_crops()
    ids = [f"crop-{i}" for i in range(len(crops))]
    train, test = train_test_split(
        np.arange(len(crops)), test_size=0.5, random_state=0, stratify=labels
    )
    if quick:
        test = test[:160]
    model = make_pipeline(
        FunctionTransformer(resized),
        PCA(n_components=30, random_state=0),
        LogisticRegression(max_iter=2000),
    ).fit([crops[i] for i in train], labels[train])
    data = ArrayDataset(
        [crops[i] for i in test],
        labels[test],
        ids=[ids[i] for i in test],
        name="digit crops of four sizes (test half)",
    )
    run = wince.run(model, data, plan(quick), store=str(out / ".wince"))
    profile = run.analyze(data=data)
    print_findings(run, profile, quality="accuracy", harms=("flip_rate",))
    sizes = {ids[i]: "x".join(map(str, crops[i].shape[:2])) for i in test}
    worst, table = by_size(run, sizes)
    print(f"  per crop size (h x w px), flip rate under {worst}:")
    for size, row in table.iterrows():
        print(
            f"    {size:>6}: baseline accuracy {row['baseline accuracy']:.1%}, "
            f"flip rate {row['flip rate']:.1%}"
        )
    report = run.report(out=out / f"report-{run.id}.html", data=data)
    print(f"  report: {report}")
    return {
        "run_id": run.id,
        "report": report,
        "verdicts": profile.verdicts.scenarios,
        "by_size": table,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="reduced size (as in CI)")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="output folder")
    args = parser.parse_args()
    main(quick=args.quick, out_dir=args.out)
