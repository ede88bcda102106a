"""Image robustness: a digit classifier under blur, rotation, occlusion, dim light and JPEG.

Offline: scikit-learn's bundled 8x8 digits, enlarged to 32x32 RGB photos of a page (as a
scanner or phone camera gives them), and a logistic regression on 40 principal components
trained on half of them. The other half is analysed under five realistic image
perturbations, alone and in pairs; the script prints where the model turns fragile and
writes an HTML report.

    python examples/image_robustness.py            # full size (about a minute of CPU)
    python examples/image_robustness.py --quick    # reduced size, as CI runs it
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from _findings import print_findings
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

import wince
from wince.datasets.base import ArrayDataset

OUT_DIR = Path("wince-examples/image")


def photos_of_digits() -> tuple[np.ndarray, np.ndarray]:
    """Digits as 32x32 RGB uint8 images: dark ink on a light page."""
    digits = load_digits()
    ink = digits.images / 16.0
    page = np.rint(255 * (0.9 - 0.8 * ink)).astype(np.uint8)
    large = np.stack([cv2.resize(p, (32, 32), interpolation=cv2.INTER_CUBIC) for p in page])
    return np.repeat(large[..., None], 3, axis=-1), digits.target


def pixels(x: np.ndarray) -> np.ndarray:
    """(n, h, w, c) uint8 -> (n, h*w*c) floats in [0, 1]: the model's own preprocessing."""
    return np.asarray(x, dtype=np.float64).reshape(len(x), -1) / 255.0


def plan(quick: bool) -> dict[str, Any]:
    levels = [1, 3, 5] if quick else [1, 2, 3, 4, 5]
    return {
        "name": "example-image",
        "description": "PCA + logistic regression on 32x32 photos of scikit-learn's digits.",
        "perturbations": [
            {"name": "image.gaussian_blur", "levels": levels},
            {"name": "image.rotation", "levels": levels},
            {"name": "image.occlusion", "levels": levels},
            {"name": "image.low_light", "levels": levels},
            {"name": "image.jpeg", "levels": levels},
        ],
        "combinations": "none" if quick else "pairwise",
        "repeats": 2 if quick else 3,
        "seed": 0,
        "analysis": {"bootstrap": 200 if quick else 1000},
    }


def main(quick: bool = False, out_dir: str | Path = OUT_DIR) -> dict[str, Any]:
    """Train, analyse, print the findings and write the report; returns what was produced."""
    out = Path(out_dir)
    images, labels = photos_of_digits()
    x_train, x_test, y_train, y_test = train_test_split(
        images, labels, test_size=0.5, random_state=0, stratify=labels
    )
    if quick:
        x_test, y_test = x_test[:150], y_test[:150]
    model = make_pipeline(
        FunctionTransformer(pixels),
        PCA(n_components=40, random_state=0),
        LogisticRegression(max_iter=2000),
    ).fit(x_train, y_train)
    data = ArrayDataset(x_test, y_test, modality="image", name="digit photos (test half)")
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
