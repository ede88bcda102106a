"""Example batches per modality: the fair, fixed inputs the contract checks perturb.

They are fixed data (each made with its own generator), not trials: the checks' seeds drive
only the perturbations' random streams. Each batch has at least 4 samples.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from wince.errors import DataError, ParameterError
from wince.perturbations import DataContext, Modality, Perturbation

MIN_SAMPLES = 4
"""Fewest samples an example batch may have (the checks split and permute batches)."""


@dataclass(frozen=True)
class Example:
    """One example batch and what a perturbation knows about its data.

    Attributes:
        label: a few words naming the batch in failure messages ("uint8 rgb").
        x: the batch: an array (n, ...) or a list of str, with n >= 4.
        context: the data's `DataContext` (modality, column sds, sample rate, ...).
    """

    label: str
    x: Any
    context: DataContext


def image_examples() -> list[Example]:
    """Smooth gradients in several directions, a texture, crushed shadows and blown highlights.

    Six 24 x 32 images as uint8 and float32 (0-1) RGB, grey (one channel) and uint8 RGBA.
    """
    n, h, w = 6, 24, 32
    rng = np.random.default_rng(2024)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    yy, xx = yy / (h - 1), xx / (w - 1)
    images = []
    for i in range(n):
        angle = np.pi * i / n
        ramp = np.cos(angle) * xx + np.sin(angle) * yy
        ramp = (ramp - ramp.min()) / (ramp.max() - ramp.min())
        texture = 0.08 * np.sin(2 * np.pi * (3 + i) * xx) * np.cos(2 * np.pi * 2 * yy)
        channels = [
            -0.1 + 1.2 * ramp + texture + 0.15 * (c - 1) + 0.03 * rng.standard_normal((h, w))
            for c in range(3)
        ]
        images.append(np.stack(channels, axis=-1))
    rgb = np.rint(np.clip(np.stack(images), 0.0, 1.0) * 255).astype(np.uint8)
    grey = np.rint(rgb @ np.array([0.299, 0.587, 0.114]))[..., None].astype(np.uint8)
    alpha = np.broadcast_to(np.linspace(0, 255, w).astype(np.uint8), (n, h, w))[..., None]
    context = DataContext(Modality.IMAGE)
    return [
        Example("uint8 rgb", rgb, context),
        Example("float32 rgb", rgb.astype(np.float32) / np.float32(255), context),
        Example("uint8 grey", grey, context),
        Example("float32 grey", grey.astype(np.float32) / np.float32(255), context),
        Example("uint8 rgba", np.concatenate([rgb, alpha], axis=-1), context),
    ]


TEXTS = (
    "The quick brown fox jumps over the lazy dog.",
    "",
    "Naïve café owners in Zürich served crème brûlée — déjà vu! Ελληνικά, 日本語のテキスト.",
    "OK",
    "In 2023, 17 of the 42 sensors failed; see https://example.org/report?id=7 (page 3).",
    "Please remember to bring your passport, two printed copies of the booking confirmation "
    "and enough cash for the taxi from the airport to the hotel, because the card machines "
    "there are often out of order.",
)
"""Texts of every kind a perturbation meets: plain, empty, accented and non-Latin, short,
numbers and a URL, long."""


def text_examples() -> list[Example]:
    """The six `TEXTS` as one batch (a list of str).

    Plain, empty, accented and non-Latin, short, with numbers and a URL, and long.
    """
    return [Example("sentences", list(TEXTS), DataContext(Modality.TEXT))]


def tabular_examples() -> list[Example]:
    """Six rows of five columns on very different scales, as float64 and float32.

    Sizes come from the dataset sds (`DataContext.column_sd`), never from the batch.
    """
    sd = np.array([1.0, 10.0, 0.1, 1000.0, 0.5])
    mean = np.array([0.0, 50.0, -3.0, 1e4, 1.0])
    x = mean + np.random.default_rng(7).standard_normal((6, 5)) * sd
    context = DataContext(Modality.TABULAR, column_sd=sd, feature_names=("a", "b", "c", "d", "e"))
    return [
        Example("float64", x, context),
        Example("float32", x.astype(np.float32), context),
    ]


def audio_examples() -> list[Example]:
    """Half-second clips at 16 kHz: tones, a chirp, a noise burst, speech-like AM, near silence.

    Six float32 clips in [-1, 1].
    """
    rate = 16_000
    t = np.arange(rate // 2) / rate
    rng = np.random.default_rng(11)
    envelope = 0.5 * (1 + np.sin(2 * np.pi * 4 * t))  # syllable-rate amplitude modulation
    clips = [
        0.5 * np.sin(2 * np.pi * 440 * t),
        0.3 * np.sin(2 * np.pi * 697 * t) + 0.3 * np.sin(2 * np.pi * 1209 * t),  # DTMF "1"
        0.4 * np.sin(2 * np.pi * (200 + 3000 * t) * t),
        np.where((t > 0.1) & (t < 0.3), 0.3 * rng.standard_normal(t.size), 0.0),
        envelope * 0.4 * np.sin(2 * np.pi * 180 * t) * (1 + 0.5 * np.sin(2 * np.pi * 900 * t)),
        0.001 * rng.standard_normal(t.size),
    ]
    x = np.clip(np.stack(clips), -1, 1).astype(np.float32)
    return [Example("float32 16 kHz", x, DataContext(Modality.AUDIO, sample_rate_hz=rate))]


def timeseries_examples() -> list[Example]:
    """(n, t, channels) = (6, 96, 3) sensor traces: phases, trends and noise, float64 and float32.

    Sizes come from the channel sds (`DataContext.column_sd`).
    """
    n, t, channels = 6, 96, 3
    rng = np.random.default_rng(5)
    time = np.arange(t)[None, :, None]
    phase = np.arange(n)[:, None, None] * 0.7
    scale = np.array([1.0, 20.0, 0.05])[None, None, :]
    x = scale * (np.sin(2 * np.pi * time / 24 + phase) + 0.01 * time)
    x = x + 0.05 * scale * rng.standard_normal((n, t, channels))
    sd = x.reshape(-1, channels).std(axis=0)
    context = DataContext(Modality.TIMESERIES, column_sd=sd, feature_names=("a", "b", "c"))
    return [
        Example("float64", x, context),
        Example("float32", x.astype(np.float32), context),
    ]


EXAMPLES: dict[Modality, Callable[[], list[Example]]] = {
    Modality.IMAGE: image_examples,
    Modality.TEXT: text_examples,
    Modality.TABULAR: tabular_examples,
    Modality.AUDIO: audio_examples,
    Modality.TIMESERIES: timeseries_examples,
}
"""The shared example batches of each modality."""


def examples_for(cls: type[Perturbation]) -> list[Example]:
    """The example batches a perturbation class is checked on.

    A class for which its modality's shared examples are not fair defines a classmethod
    `example_batch()` returning a batch or a `(batch, DataContext)` pair; otherwise the
    modality's shared examples (`EXAMPLES`).

    Raises:
        ParameterError: the modality has no shared examples and the class no `example_batch`.
        DataError: a batch has fewer than 4 samples.
    """
    override = getattr(cls, "example_batch", None)
    if override is not None:
        made = override()
        x, context = made if isinstance(made, tuple) else (made, DataContext(cls.modality))
        return checked_examples(cls, [Example("example_batch()", x, context)])
    if cls.modality not in EXAMPLES:
        raise ParameterError(
            f"{cls.name}: there are no shared example batches for modality {cls.modality!s}; "
            "pass examples=[wince.testing.Example(...)] or define a classmethod "
            "example_batch() on the class."
        )
    return checked_examples(cls, EXAMPLES[cls.modality]())


def checked_examples(cls: type[Perturbation], examples: list[Example]) -> list[Example]:
    """`examples`, refused when there are none or one has fewer than 4 samples.

    Raises:
        DataError: no example, or a batch with fewer than 4 samples, naming it.
    """
    if not examples:
        raise DataError(f"{cls.name}: no example batch to check it on; pass at least one.")
    for example in examples:
        if len(example.x) < MIN_SAMPLES:
            raise DataError(
                f"{cls.name}: the example batch {example.label!r} has {len(example.x)} "
                f"samples; the checks split and permute batches, so give at least "
                f"{MIN_SAMPLES}."
            )
    return examples
