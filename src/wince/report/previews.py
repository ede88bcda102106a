"""A sample's clean input as a report shows it beside its id, so a reader can check the sample.

An image as a thumbnail, a text as itself, an audio clip as its waveform with a player, a table
row as its first few columns. Tables of sample ids (possible label errors) use these; the
worst cases show inputs before and after their perturbation (`wince.report.gallery`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from wince.report.gallery import AUDIO_SECONDS, _png_uri, thumbnail, wav_uri

PREVIEW_PX = 56  # longest side of an image preview
WAVEFORM_PX = (160, 40)  # width, height of a waveform preview
PREVIEW_COLUMNS = 4  # table columns shown for a tabular row


@dataclass(frozen=True)
class Preview:
    """One sample's input, ready for the page.

    Attributes:
        image: a PNG data URI (image thumbnail or waveform), or "" for none.
        text: the input text (texts), or "column = value" pairs (table rows), or "".
        audio: a WAV data URI of the clip (audio), or "".
    """

    image: str = ""
    text: str = ""
    audio: str = ""


def waveform(
    signal: npt.NDArray[Any], *, size: tuple[int, int] = WAVEFORM_PX
) -> npt.NDArray[np.uint8]:
    """A clip's amplitude envelope as a grey image (dark = signal), full scale top to bottom.

    Args:
        signal: mono samples in [-1, 1].
        size: (width, height) in pixels.
    """
    width, height = size
    clip = np.clip(np.asarray(signal, dtype=np.float64).reshape(-1), -1.0, 1.0)
    pixels = np.full((height, width), 255, dtype=np.uint8)
    if clip.size == 0:
        return pixels
    columns = np.array_split(clip, width)
    middle = (height - 1) / 2
    for x, part in enumerate(columns):
        if part.size == 0:
            continue
        top = round(middle - part.max() * middle)
        bottom = round(middle - part.min() * middle)
        pixels[top : bottom + 1, x] = 40
    return pixels


def preview(modality: str, value: Any, dataset: Any) -> Preview:
    """One clean input as a `Preview` (an empty one for a modality without a preview)."""
    if modality == "image":
        return Preview(image=_png_uri(thumbnail(value, size=PREVIEW_PX)))
    if modality == "text":
        return Preview(text=str(value))
    if modality == "audio":
        rate = int(dataset.context().sample_rate_hz or 16000)
        clip = np.asarray(value, dtype=np.float64).reshape(-1)[: int(AUDIO_SECONDS * rate)]
        return Preview(image=_png_uri(waveform(clip)), audio=wav_uri(clip, rate))
    if modality == "tabular":
        names = list(dataset.context().feature_names or [])
        row = np.asarray(value).reshape(-1)[:PREVIEW_COLUMNS]
        pairs = [
            f"{names[i] if i < len(names) else f'column {i}'} = {v:.4g}" for i, v in enumerate(row)
        ]
        return Preview(text=", ".join(pairs) + ", …")
    return Preview()


def previews(modality: str, dataset: Any, indices: Sequence[int]) -> list[Preview]:
    """The clean inputs at dataset positions `indices`, in order (none without the data)."""
    if dataset is None or not indices:
        return [Preview() for _ in indices]
    inputs = dataset.take(list(indices))
    return [preview(modality, inputs[k], dataset) for k in range(len(indices))]
