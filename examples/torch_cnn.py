"""Your own PyTorch model: a small CNN (an nn.Module subclass) on grayscale digits, with gradients.

Offline: scikit-learn's bundled 8x8 digits, enlarged to 16x16 grayscale images in [0, 1]
(float64, shape (n, h, w): declared `modality="image"`), and a two-layer CNN written as
users write them, trained here for a few epochs on CPU. wince predicts with it as it is
(no wrapper), sweeps blur, rotation, low light and sensor noise, then computes input
gradients: which samples sit on a knife edge, and whether the first-order (gradient)
prediction of each perturbation's effect matches what happened.

    python examples/torch_cnn.py            # full size (about a minute of CPU)
    python examples/torch_cnn.py --quick    # reduced size, as CI runs it
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from _findings import print_findings
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import wince
from wince.datasets import ArrayDataset

OUT_DIR = Path("wince-examples/torch-cnn")


class DigitNet(torch.nn.Module):
    """Two convolutions and a linear layer; takes (n, 16, 16) or (n, 16, 16, 1) images."""

    def __init__(self) -> None:
        super().__init__()
        self.features = torch.nn.Sequential(
            torch.nn.Conv2d(1, 8, 3, padding=1),
            torch.nn.ReLU(),
            torch.nn.MaxPool2d(2),
            torch.nn.Conv2d(8, 16, 3, padding=1),
            torch.nn.ReLU(),
            torch.nn.MaxPool2d(2),
        )
        self.classify = torch.nn.Linear(16 * 4 * 4, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim == 4:  # wince hands images channel-last: (n, h, w, 1)
            x = x[..., 0]
        return self.classify(self.features(x[:, None].float()).flatten(1))


def digit_images() -> tuple[np.ndarray, np.ndarray]:
    """Digits as 16x16 grayscale images, float64 in [0, 1] (ink is bright)."""
    digits = load_digits()
    ink = digits.images / 16.0
    large = np.stack([cv2.resize(d, (16, 16), interpolation=cv2.INTER_LINEAR) for d in ink])
    return np.clip(large, 0.0, 1.0), digits.target


def train(x: np.ndarray, y: np.ndarray, epochs: int) -> DigitNet:
    """A few epochs of Adam on CPU, deterministic under the fixed seed."""
    torch.manual_seed(0)
    model = DigitNet()
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    inputs = torch.tensor(x, dtype=torch.float32)
    targets = torch.tensor(y)
    order = np.random.default_rng(0)
    for _ in range(epochs):
        for batch in np.array_split(order.permutation(len(x)), max(1, len(x) // 64)):
            optimiser.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(inputs[batch]), targets[batch])
            loss.backward()
            optimiser.step()
    return model.eval()


def plan(quick: bool) -> dict[str, Any]:
    levels = [1, 3, 5] if quick else [1, 2, 3, 4, 5]
    return {
        "name": "example-torch-cnn",
        "description": "A user's own CNN (nn.Module subclass) on 16x16 grayscale digits.",
        "perturbations": [
            {"name": "image.gaussian_blur", "levels": levels},
            {"name": "image.rotation", "levels": levels},
            {"name": "image.low_light", "levels": levels},
            {"name": "image.gaussian_noise", "levels": levels},
        ],
        "combinations": "none",
        "repeats": 2 if quick else 3,
        "seed": 0,
        "analysis": {"bootstrap": 200 if quick else 1000},
    }


def main(quick: bool = False, out_dir: str | Path = OUT_DIR) -> dict[str, Any]:
    """Train, analyse with gradients, print the findings and write the report."""
    out = Path(out_dir)
    images, labels = digit_images()
    x_train, x_test, y_train, y_test = train_test_split(
        images, labels, test_size=0.5, random_state=0, stratify=labels
    )
    if quick:
        x_test, y_test = x_test[:120], y_test[:120]
    model = train(x_train, y_train, epochs=4 if quick else 10)
    data = ArrayDataset(x_test, y_test, modality="image", name="16x16 digits (test half)")
    run = wince.run(model, data, plan(quick), store=out / ".wince")
    profile = run.analyze(model=model, data=data, gradients=True)
    print_findings(run, profile, quality="accuracy", harms=("flip_rate",))
    gradients = profile.extras["gradients"]
    steep = gradients.samples.sort_values("gradient_norm", ascending=False).iloc[0]
    print(
        f"  steepest sample: {steep['sample_id']} (gradient norm {steep['gradient_norm']:.3g} "
        "per unit of pixel intensity)"
    )
    directional = gradients.directional
    for name, rows in directional.groupby("perturbation"):
        gap = float(np.median(np.abs(rows["directional"] - rows["actual"])))
        print(f"  {name}: median |first-order - actual| change {gap:.3g}")
    report = run.report(out=out / f"report-{run.id}.html")
    print(f"  report: {report}")
    return {
        "run_id": run.id,
        "report": report,
        "verdicts": profile.verdicts.scenarios,
        "gradients": gradients,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="reduced size (as in CI)")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="output folder")
    args = parser.parse_args()
    main(quick=args.quick, out_dir=args.out)
