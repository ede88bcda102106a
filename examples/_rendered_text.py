"""Shared by the OCR and text-detection examples: printed text rendered at run time.

Not an example itself (the leading underscore keeps it out of tests/examples' list). The
text is wince's bundled review sentences; the font is the scalable one shipped with Pillow
(`ImageFont.load_default(size=...)`, Pillow >= 10.1), so nothing depends on system fonts.
"""

from __future__ import annotations

from importlib import resources

import numpy as np
from PIL import Image, ImageDraw, ImageFont

INK = (20, 20, 20)
PAPER = (245, 245, 240)


def font(size_px: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's bundled scalable font at `size_px` pixels (em height)."""
    return ImageFont.load_default(size=size_px)


def printable_sentences(max_width_px: int, size_px: int) -> list[str]:
    """The bundled review sentences in plain ASCII that fit in `max_width_px` at `size_px`."""
    lines = (resources.files("wince.demo") / "sentences.tsv").read_text(encoding="utf-8")
    texts = [line.split("\t")[1] for line in lines.splitlines() if line and line[0] != "#"]
    face = font(size_px)
    return [
        text
        for text in texts
        if text.isascii() and text.isprintable() and face.getbbox(text)[2] <= max_width_px
    ]


def text_line(text: str, *, width_px: int, height_px: int, size_px: int) -> np.ndarray:
    """One line of dark text on a light page, left-aligned and centred vertically.

    Returns an (height_px, width_px, 3) uint8 RGB image.
    """
    face = font(size_px)
    image = Image.new("RGB", (width_px, height_px), PAPER)
    _, top, _, bottom = face.getbbox(text)
    ImageDraw.Draw(image).text(
        (size_px // 3, (height_px - top - bottom) // 2), text, fill=INK, font=face
    )
    return np.asarray(image)


def text_page(
    texts: list[str], *, width_px: int, height_px: int, size_px: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Lines of text one under another, each at a random indent, on one light page.

    Returns the (height_px, width_px, 3) uint8 RGB image and the (m, 4) float64 boxes
    `x_min, y_min, x_max, y_max` (pixels) of the ink of each line, from Pillow's `textbbox`.

    Raises:
        ValueError: the lines do not fit on the page.
    """
    face = font(size_px)
    image = Image.new("RGB", (width_px, height_px), PAPER)
    draw = ImageDraw.Draw(image)
    line_px = height_px // len(texts)
    if line_px < 2 * size_px:
        raise ValueError(f"{len(texts)} lines of {size_px} px do not fit in {height_px} px")
    boxes = []
    for i, text in enumerate(texts):
        room_px = width_px - face.getbbox(text)[2]
        if room_px < 2 * size_px:
            raise ValueError(f"{text!r} does not fit in {width_px} px at {size_px} px")
        origin = (int(rng.integers(size_px, room_px - size_px + 1)), i * line_px + size_px // 2)
        boxes.append(draw.textbbox(origin, text, font=face))
        draw.text(origin, text, fill=INK, font=face)
    return np.asarray(image), np.asarray(boxes, dtype=np.float64)
