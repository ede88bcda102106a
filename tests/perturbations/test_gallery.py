"""The gallery: one PNG grid per image perturbation, photos in rows, severities in columns."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from wince.cli import app
from wince.errors import ParameterError
from wince.perturbations import LEVELS, Rngs, get
from wince.perturbations.gallery import (
    GAP_PX,
    HEADER_PX,
    TITLE_PX,
    image_perturbations,
    render_gallery,
    sample_photos,
)

HEIGHT = 60


def cell(grid: np.ndarray, row: int, column: int, shape: tuple[int, ...]) -> np.ndarray:
    h, w = shape[:2]
    top = TITLE_PX + HEADER_PX + row * (h + GAP_PX)
    left = GAP_PX + column * (w + GAP_PX)
    return grid[top : top + h, left : left + w]


def test_grid_holds_each_photo_as_shipped_then_at_each_level(tmp_path) -> None:
    (path,) = render_gallery(tmp_path, ["image.exposure"], height_px=HEIGHT)
    assert path.name == "image.exposure.png"
    grid = np.asarray(Image.open(path).convert("RGB"))
    photos = sample_photos(HEIGHT)
    exposure = get("image.exposure")()
    for row, photo in enumerate(photos):
        np.testing.assert_array_equal(cell(grid, row, 0, photo.shape), photo)
        for column, severity in enumerate(LEVELS.values(), start=1):
            value = exposure.at_severity(severity)
            expected = exposure.perturb(photo[None], value, Rngs.for_samples(["x"]))[0]
            np.testing.assert_array_equal(cell(grid, row, column, photo.shape), expected)


def test_random_perturbations_are_drawn_per_photo_from_seed_zero(tmp_path) -> None:
    (path,) = render_gallery(tmp_path, ["image.gaussian_noise"], height_px=HEIGHT)
    grid = np.asarray(Image.open(path).convert("RGB"))
    photos = sample_photos(HEIGHT)
    noise = get("image.gaussian_noise")()
    rngs = Rngs.for_samples(["gallery-0", "gallery-1"], seed=0, step="image.gaussian_noise#0")
    expected = noise.perturb(photos, noise.at_severity(1.0), rngs)
    for row in range(2):
        np.testing.assert_array_equal(cell(grid, row, 5, photos.shape[1:]), expected[row])


def test_unknown_or_non_image_names_are_refused_with_the_listing_command() -> None:
    with pytest.raises(ParameterError, match="wince perturbations --modality image"):
        image_perturbations(["text.typos"])


def test_cli_writes_one_grid_per_image_perturbation(tmp_path) -> None:
    result = CliRunner().invoke(app, ["perturbations", "--gallery", str(tmp_path)])
    assert result.exit_code == 0, result.output
    names = {p.name for p in image_perturbations()}
    assert {p.stem for p in tmp_path.glob("*.png")} == names
    assert len(names) >= 3
