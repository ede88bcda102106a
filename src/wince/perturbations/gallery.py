"""A gallery of the image perturbations: one PNG grid per perturbation, to judge realism by eye.

Each grid shows scikit-learn's bundled sample photos (a temple in China and a flower, 427×640)
in rows; the first column is the photo as shipped, the next ones the perturbation at
severities 0.2, 0.4, 0.6, 0.8 and 1.0 (levels 1-5), each labelled with its physical value.
Random perturbations use seed 0, so a gallery is the same on every machine.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFont

from wince.errors import ParameterError
from wince.perturbations.base import LEVELS, DataContext, Modality, Perturbation, Rngs, registry

PHOTO_HEIGHT_PX = 240  # photos are shown at this height (the width follows the aspect ratio)
GAP_PX = 6
HEADER_PX = 44
TITLE_PX = 30
BACKGROUND = (255, 255, 255)
INK = (20, 20, 20)


def sample_photos(height_px: int = PHOTO_HEIGHT_PX) -> npt.NDArray[np.uint8]:
    """scikit-learn's sample photos, resized to `height_px` high: uint8 (2, h, w, 3) RGB."""
    from sklearn.datasets import load_sample_images

    photos = load_sample_images().images
    h, w = photos[0].shape[:2]
    size = (round(w * height_px / h), height_px)
    return np.stack([cv2.resize(p, size, interpolation=cv2.INTER_AREA) for p in photos])


def image_perturbations(names: Sequence[str] | None = None) -> list[type[Perturbation]]:
    """The registered image perturbations, or those named (in that order).

    Raises:
        ParameterError: a name that is not a registered image perturbation.
    """
    known = {n: c for n, c in registry().items() if c.modality == Modality.IMAGE}
    if names is None:
        return list(known.values())
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ParameterError(
            f"gallery: {', '.join(map(repr, unknown))} is not an image perturbation; "
            "`wince perturbations --modality image` lists them."
        )
    return [known[n] for n in names]


def render_grid(
    cls: type[Perturbation],
    photos: npt.NDArray[np.uint8],
    severities: Sequence[float] = tuple(LEVELS.values()),
) -> Image.Image:
    """One perturbation at each severity on every photo, as a labelled grid image."""
    perturbation = cls()
    ids = [f"gallery-{i}" for i in range(len(photos))]
    context = DataContext(Modality.IMAGE)
    magnitude = cls.magnitude
    columns = [("as shipped", photos)]
    for severity in severities:
        value = perturbation.at_severity(severity)
        rngs = Rngs.for_samples(ids, seed=0, step=f"{cls.name}#0")
        label = f"severity {severity:g}: {value:g} {magnitude.unit}"
        columns.append((label, perturbation.perturb(photos, value, rngs, context)))
    h, w = photos.shape[1:3]
    width = len(columns) * (w + GAP_PX) + GAP_PX
    height = TITLE_PX + HEADER_PX + len(photos) * (h + GAP_PX) + GAP_PX
    grid = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(grid)
    title_font = ImageFont.load_default(size=18)
    label_font = ImageFont.load_default(size=13)
    summary = (cls.__doc__ or "").strip().splitlines()[0]
    draw.text((GAP_PX, 6), f"{cls.name} v{cls.version}: {summary}", fill=INK, font=title_font)
    for j, (label, images) in enumerate(columns):
        left = GAP_PX + j * (w + GAP_PX)
        draw.multiline_text(
            (left, TITLE_PX + 4), _wrap(label, w, label_font), fill=INK, font=label_font
        )
        for i, image in enumerate(images):
            top = TITLE_PX + HEADER_PX + i * (h + GAP_PX)
            grid.paste(Image.fromarray(np.ascontiguousarray(image)), (left, top))
    return grid


def _wrap(text: str, width_px: int, font: ImageFont.FreeTypeFont | ImageFont.ImageFont) -> str:
    """`text` broken into lines no wider than `width_px` (at word boundaries)."""
    lines: list[str] = []
    for word in text.split(" "):
        candidate = f"{lines[-1]} {word}" if lines else word
        if lines and font.getlength(candidate) <= width_px:
            lines[-1] = candidate
        else:
            lines.append(word)
    return "\n".join(lines)


def render_gallery(
    directory: str | Path,
    names: Sequence[str] | None = None,
    *,
    height_px: int = PHOTO_HEIGHT_PX,
) -> list[Path]:
    """Write one PNG grid per image perturbation (`<name>.png`) into `directory`.

    Args:
        directory: where the PNGs go (created if missing).
        names: the perturbations to render; default every registered image perturbation.
        height_px: height of each photo in the grid.

    Returns:
        The paths written, in registry order.
    """
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    photos = sample_photos(height_px)
    written = []
    for cls in image_perturbations(names):
        path = out / f"{cls.name}.png"
        render_grid(cls, photos).save(path, optimize=True)
        written.append(path)
    return written
