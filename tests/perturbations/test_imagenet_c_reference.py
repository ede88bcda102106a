"""ImageNet-C's reference mode against imagecorruptions itself, and the image-size guard.

The truth is the imagecorruptions package (1.1.2, the maintained copy of the published code),
run unchanged on today's libraries: `make test` installs it beside the environment
(requirements-references.lock says why), and `imagecorruptions()` below supplies the two names
that today's setuptools and SciPy removed or deprecated, without touching what it computes.
"""

from __future__ import annotations

import importlib.resources
import sys
import types
import warnings

import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_digits, load_sample_images

import wince.errors
from require import require_reference
from wince.errors import DataError, ParameterError, ResolutionWarning
from wince.perturbations import Rngs, get

# Zoom blur takes seconds at every level (slow); the others a fraction of one.
PUBLISHED = [
    "contrast",
    "brightness",
    "defocus_blur",
    pytest.param("zoom_blur", marks=pytest.mark.slow),
    "pixelate",
    "jpeg_compression",
]
LEVELS = [1, 2, 3, 4, 5]


def imagecorruptions() -> types.ModuleType:
    """The package, importable on setuptools >= 81 (no `pkg_resources`) and SciPy 1.17.

    It imports `pkg_resources.resource_filename` only to find its frost photos, and
    `map_coordinates` from the deprecated `scipy.ndimage.interpolation`.
    """
    if "pkg_resources" not in sys.modules:
        try:
            import pkg_resources  # noqa: F401
        except ImportError:
            stub = types.ModuleType("pkg_resources")
            stub.resource_filename = lambda package, name: str(  # type: ignore[attr-defined]
                importlib.resources.files(package).joinpath(name)
            )
            sys.modules["pkg_resources"] = stub
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return require_reference("imagecorruptions")


def photos(side: int = 224) -> list[np.ndarray]:
    """Crops of scikit-learn's two sample photos, and one photo shrunk whole (smoother)."""
    china, flower = load_sample_images().images  # 427 x 640 RGB uint8
    shrunk = np.asarray(Image.fromarray(flower).resize((side, side), Image.Resampling.LANCZOS))
    return [china[100 : 100 + side, 200 : 200 + side], flower[150 : 150 + side, :side], shrunk]


def wince_reference(name: str, image: np.ndarray, level: int) -> np.ndarray:
    perturbation = get(f"image.imagenet_c_{name}")(reference=True)
    rngs = Rngs.for_samples(["s0"], step=name)
    out: np.ndarray = perturbation.perturb(image[None], level, rngs)[0]
    return out


@pytest.mark.parametrize("name", PUBLISHED)
def test_reference_mode_equals_imagecorruptions_at_every_published_level(name: str) -> None:
    corrupt = imagecorruptions().corrupt
    for image in photos():
        for level in LEVELS:
            expected = corrupt(image, severity=level, corruption_name=name)
            out = wince_reference(name, image, level)
            assert np.array_equal(out, expected), (name, level, np.abs(out - expected.astype(int)))


@pytest.mark.filterwarnings("ignore::wince.errors.ResolutionWarning")
@pytest.mark.parametrize("name", PUBLISHED)
def test_reference_mode_equals_imagecorruptions_on_other_sizes_and_grey(name: str) -> None:
    corrupt = imagecorruptions().corrupt
    china = load_sample_images().images[0]
    wide = china[:96, :160]  # pixel sizes are not scaled, as published
    grey = china[:224, :224, 1:2]  # imagecorruptions corrupts it as three equal channels
    for level in (1, 5):
        assert np.array_equal(
            wince_reference(name, wide, level), corrupt(wide, severity=level, corruption_name=name)
        )
        expected = corrupt(grey, severity=level, corruption_name=name)[:, :, :1]
        assert np.array_equal(wince_reference(name, grey, level), expected)


@pytest.mark.filterwarnings("ignore::wince.errors.ResolutionWarning")  # the 31-px image
def test_reference_mode_keeps_alpha_and_refuses_what_the_published_code_cannot_do() -> None:
    rgba = np.concatenate([photos()[0], np.full((224, 224, 1), 77, np.uint8)], axis=2)
    out = wince_reference("contrast", rgba, 2)
    assert np.array_equal(out[:, :, 3], rgba[:, :, 3])
    assert np.array_equal(out[:, :, :3], wince_reference("contrast", rgba[:, :, :3], 2))
    with pytest.raises(ParameterError, match=r"whole number 0-5; got 2\.5"):
        wince_reference("contrast", photos()[0], 2.5)  # type: ignore[arg-type]
    with pytest.raises(DataError, match="must be uint8"):
        wince_reference("contrast", photos()[0].astype(np.float32) / 255, 2)
    with pytest.raises(DataError, match="at least 32 px"):
        wince_reference("contrast", photos()[0][:31], 2)
    with pytest.raises(ParameterError, match="reference must be true or false"):
        get("image.imagenet_c_contrast")(reference="yes")


def test_default_mode_is_unchanged_by_the_option() -> None:
    image = photos()[1][None]
    rngs = Rngs.for_samples(["s0"], step="defocus")
    default = get("image.imagenet_c_defocus_blur")().perturb(image, 3, rngs)
    explicit = get("image.imagenet_c_defocus_blur")(reference=False).perturb(image, 3, rngs)
    assert np.array_equal(default, explicit)
    assert get("image.imagenet_c_defocus_blur").options() == {"reference": False}


# ---------------------------------------------------------------------------------------------
# Images far from 224 px.


def digits_28() -> np.ndarray:
    """scikit-learn's 8 x 8 digits enlarged to 28 x 28 grey uint8 (MNIST's size)."""
    digits = load_digits().images[:4] / 16.0  # values 0-16
    return np.stack(
        [
            np.asarray(
                Image.fromarray(np.uint8(d * 255)).resize((28, 28), Image.Resampling.BILINEAR)
            )[:, :, None]
            for d in digits
        ]
    )


def corrupt_once(name: str, x: np.ndarray, level: float) -> np.ndarray:
    rngs = Rngs.for_samples([f"s{i}" for i in range(len(x))], step=name)
    out: np.ndarray = get(f"image.imagenet_c_{name}")().perturb(x, level, rngs)
    return out


def test_images_far_from_224_px_warn_once_that_levels_may_change_nothing(monkeypatch) -> None:
    monkeypatch.setattr(wince.errors, "_already_warned", set())
    x = digits_28()
    with pytest.warns(ResolutionWarning, match=r"28 px .*224-px images.*change nothing"):
        defocused = corrupt_once("defocus_blur", x, 1)
    assert np.array_equal(defocused, x)  # a disk of radius 3 * 28 / 224 px blurs nothing
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResolutionWarning)
        corrupt_once("contrast", x, 1)  # once for the size, whatever the corruption


@pytest.mark.parametrize("side", [111, 449])
def test_sizes_beyond_a_factor_of_2_from_224_px_warn(side: int, monkeypatch) -> None:
    monkeypatch.setattr(wince.errors, "_already_warned", set())
    with pytest.warns(ResolutionWarning, match=f"{side} px"):
        corrupt_once("contrast", np.zeros((1, side, side + 50, 3), np.uint8), 1)


@pytest.mark.parametrize("side", [112, 224, 448])
def test_sizes_within_a_factor_of_2_from_224_px_do_not_warn(side: int, monkeypatch) -> None:
    monkeypatch.setattr(wince.errors, "_already_warned", set())
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResolutionWarning)
        corrupt_once("contrast", np.zeros((1, side + 10, side, 3), np.uint8), 1)
