"""Images per second of wince's image perturbations, against albumentations and imagecorruptions.

64 images of 224×224×3 uint8: crops of scikit-learn's two sample photos at several positions
and scales, resized to 224 px. Every perturbation runs at severity 0.6 (level 3); for
ImageNet-C corruptions that is the published severity 3. For every case each repeat times, in
alternating order:

- wince: `perturb(x, value, Rngs.for_samples(ids, seed=0, step=...))` on the whole batch,
  including the creation of the 64 per-image generators (every image gets its own draw);
- albumentations: the equivalent transform called per image with `p=1` and its parameter range
  pinned to one value of similar strength (it draws one parameter per call, as wince draws per
  image; its batch path would draw once for the whole stack). Outputs are kept in a list until
  the repeat ends, as a pipeline feeding a model keeps them;
- imagecorruptions (the ImageNet-C reference code as a package): `corrupt(image,
  corruption_name=..., severity=3)` per image. It is slow (glass blur takes seconds per
  image), so it is timed on the first 8 images; a per-image rate does not depend on the count.

Figures are medians over the repeats; a ratio is the median of the per-repeat ratios (wince
images/s over theirs, measured in the same repeat).

Without albumentations or imagecorruptions the script times wince alone. To compare:
    .venv/bin/pip install albumentations imagecorruptions

Run: PYTHONPATH=benchmarks .venv/bin/python benchmarks/image_perturbations.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import functools
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
from sklearn.datasets import load_sample_images

from wince.perturbations import Rngs, get, registry

IMAGES = 64
SIDE = 224
SEVERITY = 0.6
IMAGECORRUPTIONS_IMAGES = 8


def photos() -> np.ndarray:
    """64 crops of the sample photos (positions and scales vary), resized to 224×224."""
    out = []
    for i in range(IMAGES):
        photo = load_sample_images().images[i % 2]
        h, w = photo.shape[:2]
        side = int(h * (0.55 + 0.45 * ((i // 2) % 8) / 7))
        top = (i * 37) % (h - side + 1)
        left = (i * 91) % (w - side + 1)
        crop = photo[top : top + side, left : left + side]
        out.append(cv2.resize(crop, (SIDE, SIDE), interpolation=cv2.INTER_AREA))
    return np.stack(out)


Builder = Callable[[float], Any]


@dataclass
class Case:
    name: str
    options: dict[str, Any] = field(default_factory=dict)
    albumentations: Builder | None = None  # our value -> an albumentations transform
    imagecorruptions: str | None = None  # the corruption name in imagecorruptions


def a(transform: str, **kwargs: Any) -> Builder:
    """An albumentations transform whose keyword values may depend on our value."""

    def build(value: float) -> Any:
        import albumentations

        resolved = {k: v(value) if callable(v) else v for k, v in kwargs.items()}
        return getattr(albumentations, transform)(p=1.0, **resolved)

    return build


def pin(f: Callable[[float], float]) -> Callable[[float], tuple[float, float]]:
    """A range pinned to one value computed from ours."""
    return lambda v: (f(v), f(v))


IMAGENET_C = (
    "gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur",
    "motion_blur", "zoom_blur", "snow", "frost", "fog", "brightness", "contrast",
    "elastic_transform", "pixelate", "jpeg_compression",
)  # fmt: skip


def cases() -> list[Case]:
    library = [
        Case("image.exposure", albumentations=a(
            "RandomBrightnessContrast", brightness_limit=pin(lambda ev: 2**ev - 1),
            contrast_limit=(0, 0))),
        Case("image.contrast", albumentations=a(
            "RandomBrightnessContrast", brightness_limit=(0, 0),
            contrast_limit=pin(lambda pct: pct / 100))),
        Case("image.gamma", albumentations=a("RandomGamma", gamma_limit=pin(lambda g: 100 * g))),
        Case("image.white_balance", albumentations=a(
            "PlanckianJitter", mode="blackbody", sampling_method="uniform",
            temperature_limit=lambda k: (min(int(k), 6000), max(int(k), 6000)))),
        Case("image.saturation", albumentations=a(
            "ColorJitter", brightness=(1, 1), contrast=(1, 1), hue=(0, 0),
            saturation=pin(lambda pct: 1 + pct / 100))),
        Case("image.hue_rotation", albumentations=a(
            "HueSaturationValue", hue_shift_limit=pin(lambda deg: deg / 2),
            sat_shift_limit=(0, 0), val_shift_limit=(0, 0))),
        Case("image.vignetting"),
        Case("image.low_light"),
        Case("image.gaussian_noise", albumentations=a(
            "GaussNoise", std_range=pin(lambda pct: pct / 100), mean_range=(0, 0))),
        Case("image.shot_noise", albumentations=a("ShotNoise", scale_range=pin(lambda n: 1 / n))),
        Case("image.iso_noise", albumentations=a(
            "ISONoise", color_shift=(0.03, 0.03), intensity=(0.5, 0.5))),
        Case("image.dead_pixels", albumentations=a(
            "SaltAndPepper", amount=pin(lambda ppm: ppm / 1e6), salt_vs_pepper=(0.5, 0.5))),
        Case("image.defocus_blur", albumentations=a(
            "Defocus", radius=pin(lambda pct: max(1, round(pct / 100 * SIDE))),
            alias_blur=(0.1, 0.1))),
        Case("image.gaussian_blur", albumentations=a(
            "GaussianBlur", sigma_limit=pin(lambda pct: pct / 100 * SIDE), blur_limit=0)),
        Case("image.motion_blur", albumentations=a(
            "MotionBlur", blur_limit=pin(lambda pct: 2 * round(pct / 100 * SIDE / 2) + 1))),
        Case("image.lens_distortion", albumentations=a(
            "OpticalDistortion", distort_limit=pin(lambda k1: k1))),
        Case("image.chromatic_aberration", albumentations=a(
            "ChromaticAberration", primary_distortion_limit=(0.05, 0.05),
            secondary_distortion_limit=(0, 0))),
        Case("image.rotation", albumentations=a("Rotate", limit=pin(lambda deg: deg))),
        Case("image.translation", albumentations=a(
            "Affine", translate_percent=pin(lambda pct: pct / 100))),
        Case("image.zoom", albumentations=a("Affine", scale=pin(lambda pct: 100 / (100 - pct)))),
        Case("image.perspective", albumentations=a("Perspective", scale=(0.05, 0.05))),
        Case("image.jpeg", albumentations=a(
            "ImageCompression", quality_range=pin(lambda q: int(q)), compression_type="jpeg")),
        Case("image.webp", albumentations=a(
            "ImageCompression", quality_range=pin(lambda q: int(q)), compression_type="webp")),
        Case("image.downscale", albumentations=a(
            "Downscale", scale_range=pin(lambda pct: pct / 100),
            interpolation_pair={"downscale": cv2.INTER_AREA, "upscale": cv2.INTER_LINEAR})),
        Case("image.pixelation", albumentations=a(
            "Downscale", scale_range=pin(lambda pct: 1 / max(1.0, pct / 100 * SIDE)),
            interpolation_pair={"downscale": cv2.INTER_AREA, "upscale": cv2.INTER_NEAREST})),
        Case("image.bit_depth", albumentations=a("Posterize", num_bits=pin(lambda b: int(b)))),
        Case("image.gamma_mismatch"),
        Case("image.haze", albumentations=a("RandomFog", fog_coef_range=(0.5, 0.5))),
        Case("image.occlusion", {"kind": "rectangle"}, albumentations=a(
            "CoarseDropout", num_holes_range=(1, 1),
            hole_height_range=pin(lambda pct: (pct / 100) ** 0.5),
            hole_width_range=pin(lambda pct: (pct / 100) ** 0.5))),
    ]  # fmt: skip
    preset = [Case(f"image.imagenet_c_{c}", imagecorruptions=c) for c in IMAGENET_C]
    return [c for c in library + preset if c.name in registry()]


def time_wince(case: Case, x: np.ndarray) -> float:
    perturbation = get(case.name)(**case.options)
    value = perturbation.at_severity(SEVERITY)
    ids = [f"image-{i}" for i in range(len(x))]
    started = time.perf_counter()
    rngs = Rngs.for_samples(ids, seed=0, step=f"{case.name}#0")
    perturbation.perturb(x, value, rngs)
    return time.perf_counter() - started


def time_albumentations(transform: Any, x: np.ndarray) -> float:
    transform.set_random_seed(0)
    started = time.perf_counter()
    outputs = [transform(image=image)["image"] for image in x]
    seconds = time.perf_counter() - started
    del outputs
    return seconds


def imagecorruptions_corrupt() -> Callable[..., np.ndarray]:
    """`imagecorruptions.corrupt`, patched to run with numpy 2 and scikit-image >= 0.19.

    imagecorruptions 1.1.2 (the latest) calls `np.float_` (fog), which numpy 2 removed, and
    `skimage.filters.gaussian(..., multichannel=True)` (glass blur), which scikit-image
    replaced with `channel_axis`. Neither patch changes what is computed.
    """
    if not hasattr(np, "float_"):
        setattr(np, "float_", np.float64)  # noqa: B010  (the name numpy 2 removed)
    import imagecorruptions.corruptions as corruptions
    from imagecorruptions import corrupt

    original = corruptions.gaussian
    if getattr(original, "__name__", "") != "channel_axis_gaussian":

        def channel_axis_gaussian(
            image: Any, sigma: float = 1, multichannel: Any = None, **kw: Any
        ) -> Any:
            if multichannel:
                kw["channel_axis"] = -1
            return original(image, sigma=sigma, **kw)

        corruptions.gaussian = channel_axis_gaussian
    return corrupt  # type: ignore[no-any-return]


def time_imagecorruptions(corruption: str, x: np.ndarray) -> float:
    corrupt = imagecorruptions_corrupt()

    random.seed(0)
    np.random.seed(0)  # noqa: NPY002  (imagecorruptions draws from the global generators)
    started = time.perf_counter()
    outputs = [corrupt(image, corruption_name=corruption, severity=3) for image in x]
    seconds = time.perf_counter() - started
    del outputs
    return seconds


def installed(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--only", help="run the cases whose name contains this text")
    args = parser.parse_args()
    with_albumentations = installed("albumentations")
    with_imagecorruptions = installed("imagecorruptions")
    if not (with_albumentations and with_imagecorruptions):
        print("To compare, run: .venv/bin/pip install albumentations imagecorruptions")
    selected = [c for c in cases() if not args.only or args.only in c.name]
    x = photos()
    print(
        f"{IMAGES} images {SIDE}x{SIDE}x3 uint8 at severity {SEVERITY} (images/s, median of "
        f"{args.repeats}; ratio = median of per-repeat ratios, wince over theirs)"
    )
    print(f"{'perturbation':<34} {'wince':>9} {'theirs':>9} {'ratio':>7}  against")
    ratios: dict[str, list[float]] = {"albumentations": [], "imagecorruptions": []}
    for case in selected:
        theirs: Callable[[], float] | None = None
        against, count = "", IMAGES
        if case.albumentations is not None and with_albumentations:
            transform = case.albumentations(get(case.name)().at_severity(SEVERITY))
            against = f"albumentations.{type(transform).__name__}"
            theirs = functools.partial(time_albumentations, transform, x)
        elif case.imagecorruptions is not None and with_imagecorruptions:
            against, count = "imagecorruptions", IMAGECORRUPTIONS_IMAGES
            theirs = functools.partial(
                time_imagecorruptions, case.imagecorruptions, x[:IMAGECORRUPTIONS_IMAGES]
            )
        time_wince(case, x[:2])  # warm-up: imports, caches, kernels
        ours, their_times, repeat_ratios = [], [], []
        for i in range(args.repeats):
            if i % 2 == 0:
                ours.append(time_wince(case, x))
            if theirs is not None:
                their_times.append(theirs())
            if i % 2 == 1:
                ours.append(time_wince(case, x))
            if theirs is not None:
                repeat_ratios.append((IMAGES / ours[-1]) / (count / their_times[-1]))
        line = f"{case.name:<34} {IMAGES / statistics.median(ours):>9.0f}"
        if theirs is not None:
            ratio = statistics.median(repeat_ratios)
            ratios["imagecorruptions" if case.imagecorruptions else "albumentations"].append(ratio)
            line += f" {count / statistics.median(their_times):>9.0f} {ratio:>6.2f}x  {against}"
        print(line, flush=True)
    for library, found in ratios.items():
        if found:
            print(
                f"against {library}: median ratio {statistics.median(found):.2f}x, slowest "
                f"{min(found):.2f}x over {len(found)} matched perturbations"
            )
    print("targets: >= 1x albumentations on the median; >= 10x imagecorruptions on each")


if __name__ == "__main__":
    main()
