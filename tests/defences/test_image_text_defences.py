"""Spelling correction, white balance, denoising and JPEG deblocking: what each one fixes."""

from __future__ import annotations

import subprocess
import sys

import cv2
import numpy as np
import pytest

from wince.defences import applicable, create, registry
from wince.defences.text import typo_likelihood
from wince.errors import DataError, ParameterError
from wince.perturbations import RaggedBatch
from wince.perturbations.text.keyboard import LAYOUTS

IMAGE_DEFENCES = ("image.white_balance", "image.denoise", "image.deblock")


def test_registry_offers_spelling_for_text_and_the_image_defences_for_images():
    for name in ("text.spelling", *IMAGE_DEFENCES):
        assert name in registry()
    text = applicable("classification", "text")
    image = applicable("regression", "image")
    assert "text.spelling" in text
    assert "text.spelling" not in image
    assert all(name in image and name not in text for name in IMAGE_DEFENCES)
    assert not any(name in applicable("classification", "tabular") for name in IMAGE_DEFENCES)


# --- text.spelling ---------------------------------------------------------------------


def test_spelling_corrects_swapped_letters_and_keeps_known_words():
    spelling = create("text.spelling")
    texts = ["teh quick borwn fox", "Hello, WORLD!"]
    assert spelling.transform(texts) == ["the quick brown fox", "Hello, WORLD!"]
    assert texts == ["teh quick borwn fox", "Hello, WORLD!"]  # the input is not changed


def test_spelling_keeps_each_words_case_pattern_and_all_punctuation_and_spacing():
    spelling = create("text.spelling")
    assert spelling.transform(["Teh  film,\twas GRAET!!  (realy)"]) == [
        "The  film,\twas GREAT!!  (really)"
    ]


def test_spelling_leaves_numbers_words_with_digits_contractions_and_mixed_case_alone():
    spelling = create("text.spelling")
    text = "In 2024 I bought 3 mp3 players for 19.99, don't ask; my iPhoone broke"
    assert spelling.transform([text]) == [text]


def test_spelling_caches_each_words_correction_and_is_deterministic():
    spelling = create("text.spelling")
    first = spelling.transform(["teh cat saw teh mvoie"])
    assert first == ["the cat saw the movie"]
    assert spelling.correct_word("teh") == "the"
    assert spelling.correct_word("cat") is None  # known words have no correction
    assert create("text.spelling").transform(["teh cat saw teh mvoie"]) == first


def test_spelling_at_distance_two_reaches_words_one_edit_cannot():
    assert create("text.spelling").transform(["so beutifull"]) == ["so beutifull"]
    assert create("text.spelling", {"distance": 2}).transform(["so beutifull"]) == ["so beautiful"]


def test_spelling_ranks_candidates_by_frequency_times_the_likelihood_of_the_typo():
    spelling = create("text.spelling")
    # "born" is more frequent, but "w" is no neighbour of "r"; "brown" needs only a swap
    assert spelling.correct_word("borwn") == "brown"
    # "relay" is a swap away too, but "really" (a dropped key) is far more frequent
    assert spelling.correct_word("realy") == "really"
    phone = LAYOUTS["phone"]
    assert typo_likelihood("borwn", "brown", phone) == 0.1  # swap
    assert typo_likelihood("realy", "really", phone) == 0.2  # omission
    assert typo_likelihood("goood", "good", phone) == 0.05  # duplication
    assert typo_likelihood("gokod", "good", phone) == pytest.approx(0.15 / len(phone["o"]))
    assert typo_likelihood("giod", "good", phone) == pytest.approx(0.5 / len(phone["o"]))
    assert typo_likelihood("gzod", "good", phone) == 0.01  # z is far from o


def test_spelling_options_are_checked_and_recorded():
    with pytest.raises(ParameterError, match="distance must be 1 or 2"):
        create("text.spelling", {"distance": 3})
    with pytest.raises(ParameterError, match="language must be one of"):
        create("text.spelling", {"language": "klingon"})
    with pytest.raises(ParameterError, match="layout must be one of"):
        create("text.spelling", {"layout": "dvorak"})
    assert create("text.spelling", {"language": "fr"}).describe()["options"] == {
        "distance": 1,
        "language": "fr",
        "layout": "phone",
        "seed": 0,
    }


def test_a_new_pyspellchecker_release_makes_another_defended_model(monkeypatch):
    from importlib.metadata import version

    from wince.defences import text as text_defences
    from wince.models import CallableAdapter

    model = CallableAdapter(lambda texts: [len(t) % 2 for t in texts], classes=[0, 1])
    installed = create("text.spelling").wrap(model).fingerprint()
    assert create("text.spelling").describe()["fitted"] == {
        "pyspellchecker": version("pyspellchecker")
    }
    monkeypatch.setattr(text_defences, "dictionary_release", lambda: "99.0")
    assert create("text.spelling").wrap(model).fingerprint() != installed


def test_importing_wince_and_listing_defences_does_not_load_the_dictionary():
    code = (
        "import sys, wince; from wince.defences import create, registry; registry(); "
        "create('text.spelling'); print('spellchecker' in sys.modules)"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert loaded.strip() == "False"


# --- images ----------------------------------------------------------------------------


def _scene(height: int = 96, width: int = 128) -> np.ndarray:
    """A smooth colour scene with a sharp-edged disc, uint8 (h, w, 3)."""
    y, x = np.mgrid[0:height, 0:width] / np.array([height, width])[:, None, None]
    image = np.stack(
        [
            0.5 + 0.3 * np.sin(3 * x + 1) * np.cos(2 * y),
            0.4 + 0.3 * y,
            0.3 + 0.2 * np.cos(4 * x * y),
        ],
        axis=-1,
    )
    image[(x - 0.6) ** 2 + (y - 0.5) ** 2 < 0.06] = [0.9, 0.8, 0.2]
    return np.rint(image * 255).astype(np.uint8)


def _mse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))


def _psnr_db(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(255.0**2 / _mse(a, b)))


def _blockiness(image: np.ndarray) -> float:
    """Mean step across the 8-pixel grid's boundaries over the mean step inside blocks."""
    values = image.astype(np.float64)
    across_columns = np.abs(np.diff(values, axis=1)).mean(axis=(0, 2))
    across_rows = np.abs(np.diff(values, axis=0)).mean(axis=(1, 2))
    steps = np.concatenate([across_columns, across_rows])
    on_grid = np.concatenate(
        [np.arange(len(across_columns)) % 8 == 7, np.arange(len(across_rows)) % 8 == 7]
    )
    return float(steps[on_grid].mean() / steps[~on_grid].mean())


def _jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    ok, code = cv2.imencode(".jpg", image[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return cv2.imdecode(code, cv2.IMREAD_COLOR)[:, :, ::-1]


def test_white_balance_makes_the_channel_means_equal_on_a_colour_cast_image():
    cast = np.rint(_scene() * np.array([1.0, 0.8, 0.6])).astype(np.uint8)
    means = cast.reshape(-1, 3).mean(axis=0)
    assert means.max() - means.min() > 30  # a strong cast
    balanced = create("image.white_balance").transform(cast[None])
    assert balanced.dtype == np.uint8
    assert balanced.shape == (1, 96, 128, 3)
    balanced_means = balanced.reshape(-1, 3).mean(axis=0)
    assert balanced_means.max() - balanced_means.min() < 1.0
    assert balanced_means.mean() == pytest.approx(means.mean(), abs=1.0)


def test_white_balance_leaves_grey_images_and_alpha_unchanged_and_keeps_floats_float():
    grey_rgb = np.repeat(_scene()[..., :1], 3, axis=-1)[None]
    assert np.array_equal(create("image.white_balance").transform(grey_rgb), grey_rgb)
    one_channel = _scene()[None, ..., :1]
    assert np.array_equal(create("image.white_balance").transform(one_channel), one_channel)
    rgba = np.concatenate([_scene(), np.full((96, 128, 1), 7, np.uint8)], axis=-1)[None]
    assert np.all(create("image.white_balance").transform(rgba)[..., 3] == 7)
    floats = (_scene() / 255).astype(np.float32)[None]
    out = create("image.white_balance").transform(floats)
    assert out.dtype == np.float32
    channel_means = out.reshape(-1, 3).mean(axis=0)
    assert channel_means.max() - channel_means.min() < 1 / 255


def test_white_balance_limits_the_gain_of_a_one_colour_image():
    red = np.zeros((1, 8, 8, 3), np.uint8)
    red[..., 0], red[..., 1], red[..., 2] = 200, 20, 20
    balanced = create("image.white_balance", {"max_gain": 2.0}).transform(red)
    assert balanced[0, 0, 0].tolist() == [100, 40, 40]  # red halved, the others doubled


def test_denoise_lowers_the_error_to_the_clean_image(seed):
    clean = _scene()
    rng = np.random.default_rng(seed)
    noisy = np.clip(clean + rng.normal(0.0, 10.0, clean.shape), 0, 255).round().astype(np.uint8)
    denoised = create("image.denoise", {"noise_sd": 0.04}).transform(noisy[None])[0]
    assert _mse(noisy, clean) > 90
    assert _mse(denoised, clean) < 0.2 * _mse(noisy, clean)
    assert np.array_equal(create("image.denoise").transform(noisy[None])[0], denoised)


def test_denoise_lowers_the_error_of_greyscale_and_float_images_too(seed):
    clean = _scene()[..., 1:2]
    rng = np.random.default_rng(seed)
    noisy = np.clip(clean / 255 + rng.normal(0.0, 0.04, clean.shape), 0, 1).astype(np.float32)
    denoised = create("image.denoise").transform(noisy[None])[0]
    assert denoised.dtype == np.float32
    assert _mse(denoised * 255, clean) < 0.2 * _mse(noisy * 255, clean)


def test_denoise_leaves_a_flat_image_unchanged_to_the_last_float_bit():
    flat_levels = np.full((2, 32, 32, 3), 77, np.uint8)
    assert np.array_equal(create("image.denoise").transform(flat_levels), flat_levels)
    flat_floats = np.full((1, 32, 32, 3), 0.3141, np.float32)
    assert np.array_equal(create("image.denoise").transform(flat_floats), flat_floats)


def test_deblock_reduces_jpeg_blocking_without_losing_fidelity():
    clean = _scene()
    compressed = _jpeg(clean, quality=10)
    deblocked = create("image.deblock").transform(compressed[None])[0]
    assert _blockiness(compressed) > 3.0
    assert _blockiness(deblocked) < 0.6 * _blockiness(compressed)
    assert _psnr_db(deblocked, clean) >= _psnr_db(compressed, clean)
    assert np.array_equal(create("image.deblock").transform(compressed[None])[0], deblocked)


def test_deblock_keeps_real_edges_on_the_grid():
    edge = np.zeros((1, 16, 16, 1), np.uint8)
    edge[:, :, 8:] = 200  # a step of 200 levels exactly on a block boundary
    assert np.array_equal(create("image.deblock").transform(edge), edge)
    small_step = np.zeros((1, 16, 16, 1), np.uint8)
    small_step[:, :, 8:] = 16
    # the 16-level step is spread over six pixels: 0 0 2 4 6 | 10 12 14 16
    assert create("image.deblock").transform(small_step)[0, 0, 4:, 0].tolist() == [
        0,
        2,
        4,
        6,
        10,
        12,
        14,
        16,
        16,
        16,
        16,
        16,
    ]


@pytest.mark.parametrize("name", IMAGE_DEFENCES)
def test_image_defences_keep_dtype_and_shape_and_do_not_change_the_input(name):
    rng = np.random.default_rng(0)
    levels = rng.integers(0, 256, (2, 24, 40, 3), dtype=np.uint8)
    floats = (levels / 255).astype(np.float32)
    for x in (levels, floats):
        before = x.copy()
        out = create(name).transform(x)
        assert out.dtype == x.dtype
        assert out.shape == x.shape
        assert np.array_equal(x, before)


@pytest.mark.parametrize("name", IMAGE_DEFENCES)
def test_image_defences_process_images_of_several_sizes_one_by_one(name):
    rng = np.random.default_rng(1)
    small = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    large = rng.integers(0, 256, (24, 40, 3), dtype=np.uint8)
    out = create(name).transform(RaggedBatch([small, large, small]))
    assert isinstance(out, RaggedBatch)
    assert out.shapes == [(16, 16, 3), (24, 40, 3), (16, 16, 3)]
    assert np.array_equal(out[1], create(name).transform(large[None])[0])
    assert np.array_equal(out[0], out[2])


@pytest.mark.parametrize("name", IMAGE_DEFENCES)
def test_image_defences_refuse_batches_that_are_not_images(name):
    with pytest.raises(DataError, match="image batches have shape"):
        create(name).transform(np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(DataError, match="must be uint8"):
        create(name).transform(np.zeros((1, 4, 4, 3), np.int32))
