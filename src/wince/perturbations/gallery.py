"""Galleries of perturbations, to judge realism by eye: images, texts and audio clips.

`render_galleries` writes the gallery of each modality asked for into one folder: the image
grids (`render_gallery`, here), the text page (`text_gallery`) and the audio clips with their
spectrograms and page (`audio_gallery`). Text and audio show each perturbation at three points
of its realistic range (`realistic_points`: mild, moderate, severe).

Image gallery: one PNG grid per image perturbation. Each grid shows scikit-learn's bundled
sample photos (a temple in China and a flower, 427×640) in rows; the first column is the photo
as shipped, the next ones the perturbation at severities 0.2, 0.4, 0.6, 0.8 and 1.0 (levels
1-5), each labelled with its physical value. Random perturbations use seed 0, so a gallery is
the same on every machine.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFont

from wince.errors import ParameterError
from wince.perturbations.base import (
    LEVELS,
    DataContext,
    Magnitude,
    Modality,
    Perturbation,
    Rngs,
    registry,
)
from wince.terminal import ProgressReporter

GALLERY_MODALITIES = (Modality.IMAGE, Modality.TEXT, Modality.AUDIO)
GALLERY_SEED = 0  # random perturbations draw from this seed: a gallery is the same everywhere

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


def perturbations_of(
    modality: Modality, names: Sequence[str] | None = None
) -> list[type[Perturbation]]:
    """The registered perturbations of `modality`, or those named (in that order).

    Raises:
        ParameterError: a name that is not a registered perturbation of `modality`.
    """
    known = {n: c for n, c in registry().items() if c.modality == modality}
    if names is None:
        return list(known.values())
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ParameterError(
            f"gallery: {', '.join(map(repr, unknown))} is not a {modality} perturbation; "
            f"`wince perturbations --modality {modality}` lists them."
        )
    return [known[n] for n in names]


def realistic_points(magnitude: Magnitude) -> list[tuple[str, float]]:
    """Mild, moderate and severe: the ends of the realistic range and the point between them.

    Moderate lies halfway between mild and severe in severity (so on a log scale it is their
    geometric mean). Values are in the magnitude's unit.
    """
    mild_severity = magnitude.severity_of(magnitude.mild)
    moderate = magnitude.value_at((mild_severity + 1.0) / 2.0)
    return [("mild", magnitude.mild), ("moderate", moderate), ("severe", magnitude.severe)]


def page_section(cls: type[Perturbation], headers: Sequence[str], rows: Sequence[str]) -> str:
    """A gallery page's section of one perturbation: its name, summary and table.

    `headers` are the table's column titles (HTML), `rows` its `<tr>` elements.
    """
    summary = html.escape((cls.__doc__ or "").strip().splitlines()[0])
    return "\n".join(
        [
            f'<section id="{cls.name}">',
            f"<h2>{cls.name} v{cls.version}</h2>",
            f"<p>{summary}</p>",
            "<table>",
            "<tr>" + "".join(f"<th>{h}</th>" for h in headers) + "</tr>",
            *rows,
            "</table>",
            "</section>",
        ]
    )


def gallery_rngs(cls: type[Perturbation], examples: Sequence[int]) -> Rngs:
    """The generators of a gallery's examples of `cls`, by index (seed `GALLERY_SEED`).

    Example i has sample id `gallery-<i>`, so its draws are the same at every severity.
    """
    ids = [f"gallery-{i}" for i in examples]
    return Rngs.for_samples(ids, seed=GALLERY_SEED, step=f"{cls.name}#0")


Advance = Callable[[int], None]  # told how many more examples are rendered


def no_progress(examples: int) -> None:
    """An `Advance` that shows nothing."""


def render_grid(
    cls: type[Perturbation],
    photos: npt.NDArray[np.uint8],
    severities: Sequence[float] = tuple(LEVELS.values()),
    advance: Advance = no_progress,
) -> Image.Image:
    """One perturbation at each severity on every photo, as a labelled grid image."""
    perturbation = cls()
    context = DataContext(Modality.IMAGE)
    magnitude = cls.magnitude
    columns = [("as shipped", photos)]
    for severity in severities:
        value = perturbation.at_severity(severity)
        rngs = gallery_rngs(cls, range(len(photos)))
        label = f"severity {severity:g}: {value:g} {magnitude.unit}"
        columns.append((label, perturbation.perturb(photos, value, rngs, context)))
        advance(len(photos))
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
    progress: bool = False,
) -> list[Path]:
    """Write one PNG grid per image perturbation (`<name>.png`) into `directory`.

    Args:
        directory: where the PNGs go (created if missing).
        names: the perturbations to render; default every registered image perturbation.
        height_px: height of each photo in the grid.
        progress: show a progress bar counting perturbed photos, with ETA.

    Returns:
        The paths written, in registry order.
    """
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    photos = sample_photos(height_px)
    chosen = perturbations_of(Modality.IMAGE, names)
    written = []
    total = len(chosen) * len(LEVELS) * len(photos)
    with ProgressReporter(
        total, enabled=progress, title="Image gallery", unit="photos"
    ) as reporter:
        for cls in chosen:
            path = out / f"{cls.name}.png"
            render_grid(cls, photos, advance=reporter.advance).save(path, optimize=True)
            written.append(path)
    return written


def render_galleries(
    directory: str | Path,
    modality: Modality | None = None,
    *,
    text_examples: int | None = None,
    progress: bool = False,
) -> list[Path]:
    """Write the gallery of every modality that has one (or of `modality`) into `directory`.

    Images: one PNG grid per perturbation (`render_gallery`). Text: `text.html`, with
    `text_examples` sentences per perturbation (default `text_gallery.EXAMPLES`). Audio:
    `audio.html` and its WAV clips and spectrograms under `audio/`.

    Raises:
        ParameterError: `modality` has no gallery.

    Returns:
        The paths written: image grids, then the text page, then the audio files and page.
    """
    from wince.perturbations import audio_gallery, text_gallery

    if modality is not None and modality not in GALLERY_MODALITIES:
        raise ParameterError(
            f"gallery: {modality} perturbations have no gallery; the galleries are "
            f"{', '.join(map(str, GALLERY_MODALITIES))} (--modality chooses one)."
        )
    chosen = GALLERY_MODALITIES if modality is None else (modality,)
    written: list[Path] = []
    if Modality.IMAGE in chosen:
        written += render_gallery(directory, progress=progress)
    if Modality.TEXT in chosen:
        examples = text_gallery.EXAMPLES if text_examples is None else text_examples
        written.append(
            text_gallery.render_text_gallery(directory, examples=examples, progress=progress)
        )
    if Modality.AUDIO in chosen:
        written += audio_gallery.render_audio_gallery(directory, progress=progress)
    return written
