"""Magnitude estimators against known perturbations: tabular drift and noise, typos, JPEG."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from wince.datasets.base import ArrayDataset
from wince.demo.models import breast_cancer_data, digits_data
from wince.monitor.estimate import (
    jpeg_quality,
    libjpeg_table,
    quality_from_table,
    tabular_drift_sd,
    tabular_noise_sd,
    typo_rate,
)
from wince.monitor.monitor import (
    estimate_magnitudes,
    interpolate_curve,
    js_divergence,
    psi,
    read_live,
)
from wince.perturbations import get
from wince.perturbations.base import DataContext, Modality, Rngs


def rngs(n):
    return Rngs.for_samples([str(i) for i in range(n)])


def test_tabular_shift_of_half_an_sd_on_one_column():
    data = breast_cancer_data()
    x = data.x
    live = x.copy()
    live[:, 3] += 0.5 * x[:, 3].std(ddof=1)
    drift = tabular_drift_sd(x, live, feature_names=data.feature_names)
    name = data.feature_names[3]
    assert drift[name].value == pytest.approx(0.5, rel=0.2)
    assert drift[name].low <= 0.5 <= drift[name].high
    others = [e.value for k, e in drift.items() if k != name]
    assert max(abs(v) for v in others) < 1e-9


def test_tabular_noise_is_estimated_in_column_sds():
    data = breast_cancer_data()
    context = data.context()
    noisy = get("tabular.gaussian_noise")().apply(data.x, 0.5, rngs(len(data.x)), context)
    estimate = tabular_noise_sd(data.x, noisy)
    assert estimate.value == pytest.approx(0.5, rel=0.2)
    assert tabular_noise_sd(data.x, data.x).value == 0.0


def corpus(n, seed):
    vocab_rng = np.random.default_rng(0)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    vocab = ["".join(vocab_rng.choice(letters, size=vocab_rng.integers(2, 10))) for _ in range(400)]
    p = 1 / np.arange(1, 401)
    p /= p.sum()
    g = np.random.default_rng(seed)
    return [" ".join(g.choice(vocab, size=g.integers(8, 20), p=p)) + "." for _ in range(n)]


def test_typo_rate_of_three_percent():
    reference, fresh = corpus(300, 1), corpus(300, 2)
    typos = get("text.typos")().apply(fresh, 0.03, rngs(300), DataContext(Modality.TEXT))
    estimate = typo_rate(reference, typos)
    assert estimate.value == pytest.approx(0.03, rel=0.2)
    assert estimate.details["nonword_rate"] > 0.1
    assert typo_rate(reference, fresh).value < 0.005


@pytest.mark.parametrize("quality", [20, 50, 75, 95])
def test_jpeg_quality_from_quantisation_tables(quality, tmp_path):
    assert quality_from_table(libjpeg_table(quality)) == quality
    images = digits_data().x[:5, :, :, 0]
    folder = tmp_path / "live"
    folder.mkdir()
    for i, image in enumerate(images):
        Image.fromarray(np.kron(image, np.ones((4, 4), np.uint8))).save(
            folder / f"{i}.jpg", quality=quality
        )
    estimate = jpeg_quality(sorted(folder.iterdir()))
    assert estimate.value == quality
    live = read_live(folder, None)
    reference = ArrayDataset(live.batch(0, len(live)), modality="image")
    found, _ = estimate_magnitudes(reference, live)
    jpeg = next(e for e in found if e.perturbation == "image.jpeg")
    assert jpeg.estimable
    assert jpeg.value == quality


def test_jpeg_quality_of_png_files_is_not_estimable(tmp_path):
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "a.png")
    assert not jpeg_quality([tmp_path / "a.png"]).estimable


def test_distances_and_interpolation():
    assert psi([10, 10], [10, 10]) == 0.0
    assert js_divergence([1, 0], [0, 1]) == pytest.approx(1.0)
    assert psi([50, 50], [90, 10]) == pytest.approx(
        0.4 * np.log(0.9 / 0.5) - 0.4 * np.log(0.1 / 0.5)
    )
    curve = pd.DataFrame(
        {
            "value": [0.0, -1.0, -2.0],
            "estimate": [0.0, 0.1, 0.3],
            "low": [0.0, 0.05, 0.2],
            "high": [0.0, 0.15, 0.4],
        }
    )
    at = interpolate_curve(curve, -1.5)
    assert at["estimate"] == pytest.approx(0.2)
    assert not at["clamped"]
    assert interpolate_curve(curve, -3.0)["clamped"]
