"""The image gallery (one PNG grid per perturbation, photos in rows, severities in columns)
and the command that renders the galleries of every modality."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from wince.cli import app
from wince.errors import ParameterError
from wince.perturbations import LEVELS, Modality, Rngs, get
from wince.perturbations.gallery import (
    GAP_PX,
    HEADER_PX,
    TITLE_PX,
    perturbations_of,
    realistic_points,
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


def test_names_of_another_modality_are_refused_with_the_listing_command() -> None:
    with pytest.raises(ParameterError, match="wince perturbations --modality image"):
        perturbations_of(Modality.IMAGE, ["text.typos"])
    with pytest.raises(ParameterError, match="wince perturbations --modality audio"):
        perturbations_of(Modality.AUDIO, ["image.exposure"])


def test_realistic_points_are_the_range_ends_and_the_severity_between() -> None:
    typos = get("text.typos").magnitude  # linear: 0.005 to 0.1
    assert realistic_points(typos) == [
        ("mild", 0.005),
        ("moderate", pytest.approx(0.0525)),
        ("severe", 0.1),
    ]
    low_pass = get("audio.low_pass").magnitude  # log: 8000 Hz to 1000 Hz
    assert realistic_points(low_pass) == [
        ("mild", 8000.0),
        ("moderate", pytest.approx(np.sqrt(8000.0 * 1000.0))),
        ("severe", 1000.0),
    ]


@pytest.mark.slow
def test_cli_writes_one_grid_per_image_perturbation(tmp_path) -> None:
    arguments = ["perturbations", "--gallery", str(tmp_path), "--modality", "image"]
    result = CliRunner().invoke(app, arguments)
    assert result.exit_code == 0, result.output
    names = {p.name for p in perturbations_of(Modality.IMAGE)}
    assert {p.stem for p in tmp_path.glob("*.png")} == names
    assert len(names) >= 3
    assert not (tmp_path / "text.html").exists()


def test_cli_modality_chooses_the_text_gallery_and_its_size(tmp_path) -> None:
    arguments = ["perturbations", "--gallery", str(tmp_path), "--modality", "text"]
    result = CliRunner().invoke(app, [*arguments, "--gallery-examples", "2"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["text.html"]
    page = (tmp_path / "text.html").read_text(encoding="utf-8")
    for cls in perturbations_of(Modality.TEXT):
        assert f'<section id="{cls.name}">' in page
    assert page.count("<tr>") == 3 * len(perturbations_of(Modality.TEXT))  # header + 2 rows
    assert "1 gallery file written to" in result.output
    assert str(tmp_path / "text.html") in result.output


@pytest.mark.slow
def test_cli_writes_the_audio_gallery(tmp_path) -> None:
    arguments = ["perturbations", "--gallery", str(tmp_path), "--modality", "audio"]
    result = CliRunner().invoke(app, arguments)
    assert result.exit_code == 0, result.output
    clips = len(perturbations_of(Modality.AUDIO)) * 3 * 2 + 2  # 3 severities, 2 clips, originals
    assert len(list((tmp_path / "audio").glob("*.wav"))) == clips
    assert len(list((tmp_path / "audio").glob("*.png"))) == clips
    assert (tmp_path / "audio.html").is_file()


def test_cli_refuses_a_modality_without_a_gallery(tmp_path) -> None:
    arguments = ["perturbations", "--gallery", str(tmp_path), "--modality", "tabular"]
    result = CliRunner().invoke(app, arguments)
    assert result.exit_code != 0
    assert "tabular perturbations have no gallery" in result.output


def test_cli_refuses_a_gallery_size_without_a_gallery() -> None:
    result = CliRunner().invoke(app, ["perturbations", "--gallery-examples", "3"])
    assert result.exit_code == 2
    assert "--gallery-examples sizes a gallery: give --gallery DIR too." in result.output
