"""Sample descriptors: simple, readable properties of each input, by modality.

Fragile-region rules are written in these terms ("fragile when brightness < 0.3"), so each
descriptor is something a person can check on a sample and has a human name and unit:

- **tabular**: the columns themselves (`feature_names`, else `x0`, `x1`, ...).
- **image** (luma Y' = 0.299 R' + 0.587 G' + 0.114 B' of the sRGB-encoded pixels, in [0, 1];
  an alpha channel is ignored): `brightness` (mean luma), `contrast` (RMS contrast: the
  standard deviation of luma), `sharpness` (variance of the 3x3 Laplacian of luma,
  `cv2.Laplacian`, reflected borders), `colourfulness` (Hasler and Süsstrunk 2003, on the
  0-255 scale: about 15 is slightly, 33 moderately, 59 quite, 109 extremely colourful; colour
  images only) and `pixels` (height x width).
- **text**: `length` (characters), `words` (whitespace-separated tokens), `non_ascii`
  (share of characters outside ASCII), `uppercase` (share of letters that are upper case; 0
  without letters), `type_token_ratio` (distinct lower-cased words / words; 0 without words).
- **audio** (n, samples) in [-1, 1]: `loudness` (RMS level in dBFS, a full-scale square wave
  being 0 dBFS and a full-scale sine -3 dBFS), `peak` (peak level in dBFS), both floored at
  -120 dBFS for silence, and `zero_crossing_rate` (share of adjacent sample pairs that change
  sign).
- **time series** (n, t, channels): `mean`, `sd` and `range` (max - min) of each channel
  (suffixed `[c]` with the channel index when there are several).

Inputs are read in batches of `batch_size` samples through `Dataset.take`, so memory stays
bounded by the batch, not the dataset. Images of several sizes and clips of several lengths
are described one size at a time, each over its own pixels or samples.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import pandas as pd

from wince.datasets.base import Dataset
from wince.errors import DataError
from wince.perturbations.base import Modality, RaggedBatch

FloatArray = npt.NDArray[np.float64]
SILENCE_DBFS = -120.0
LUMA = np.array([0.299, 0.587, 0.114])


@dataclass(frozen=True)
class Descriptor:
    """What a descriptor column measures, for tables and rule text.

    Attributes:
        name: the column name.
        label: human name used in rules ("baseline confidence").
        unit: short unit appended to values in rules ("dBFS", "px"); "" when unitless.
        description: one sentence on how it is computed.
        category: for a 0/1 indicator column, the category it indicates ("baseline class is
            3"); None for a numeric descriptor.
    """

    name: str
    label: str
    unit: str = ""
    description: str = ""
    category: str | None = None

    def to_payload(self) -> dict[str, str | None]:
        """JSON-able form."""
        return asdict(self)


IMAGE_DESCRIPTORS = (
    Descriptor("brightness", "brightness", "", "mean luma, 0 (black) to 1 (white)"),
    Descriptor("contrast", "contrast", "", "RMS contrast: standard deviation of luma in [0, 1]"),
    Descriptor("sharpness", "sharpness", "", "variance of the 3x3 Laplacian of luma in [0, 1]"),
    Descriptor("colourfulness", "colourfulness", "", "Hasler-Süsstrunk colourfulness, 0-255 scale"),
    Descriptor("pixels", "image size", "px", "height x width in pixels"),
)
TEXT_DESCRIPTORS = (
    Descriptor("length", "text length", "chars", "number of characters"),
    Descriptor("words", "word count", "words", "number of whitespace-separated tokens"),
    Descriptor("non_ascii", "share of non-ASCII characters", "", "fraction of characters"),
    Descriptor("uppercase", "share of uppercase letters", "", "fraction of letters"),
    Descriptor("type_token_ratio", "vocabulary richness", "", "distinct lower-cased words / words"),
)
AUDIO_DESCRIPTORS = (
    Descriptor("loudness", "loudness", "dBFS", "RMS level; a full-scale square wave is 0 dBFS"),
    Descriptor("peak", "peak level", "dBFS", "largest absolute sample value in dBFS"),
    Descriptor(
        "zero_crossing_rate", "zero-crossing rate", "", "share of adjacent samples changing sign"
    ),
)


def descriptors_of(frame: pd.DataFrame) -> dict[str, Descriptor]:
    """The `Descriptor` of every column of a `describe_samples` frame (plain ones if unknown)."""
    known: dict[str, dict[str, Any]] = frame.attrs.get("descriptors", {})
    return {
        str(c): Descriptor(**known[str(c)]) if str(c) in known else Descriptor(str(c), str(c))
        for c in frame.columns
    }


def luma(x: npt.NDArray[Any]) -> FloatArray:
    """(n, h, w) luma in [0, 1] of an image batch (n, h, w, c), uint8 or float in [0, 1]."""
    scale = 255.0 if x.dtype == np.uint8 else 1.0
    pixels = np.asarray(x, dtype=np.float64) / scale
    if pixels.shape[3] == 1:
        return pixels[..., 0]
    return np.asarray(pixels[..., :3] @ LUMA, dtype=np.float64)


def image_descriptors(x: npt.NDArray[Any]) -> dict[str, FloatArray]:
    """Brightness, contrast, sharpness, colourfulness (colour only) and size of each image.

    Raises:
        DataError: `x` is not an image batch (n, h, w, c).
    """
    if not isinstance(x, np.ndarray) or x.ndim != 4:
        raise DataError(
            "image descriptors need a batch of shape (n, height, width, channels); got "
            f"{getattr(x, 'shape', type(x).__name__)}."
        )
    y = luma(x)
    flat = y.reshape(len(y), -1)
    sharpness = np.array([float(cv2.Laplacian(image, cv2.CV_64F, ksize=1).var()) for image in y])
    out = {
        "brightness": flat.mean(axis=1),
        "contrast": flat.std(axis=1),
        "sharpness": sharpness,
    }
    if x.shape[3] >= 3:
        rgb = np.asarray(x[..., :3], dtype=np.float64) * (1.0 if x.dtype == np.uint8 else 255.0)
        rg = (rgb[..., 0] - rgb[..., 1]).reshape(len(x), -1)
        yb = (0.5 * (rgb[..., 0] + rgb[..., 1]) - rgb[..., 2]).reshape(len(x), -1)
        spread = np.sqrt(rg.var(axis=1) + yb.var(axis=1))
        centre = np.sqrt(rg.mean(axis=1) ** 2 + yb.mean(axis=1) ** 2)
        out["colourfulness"] = spread + 0.3 * centre
    out["pixels"] = np.full(len(x), float(x.shape[1] * x.shape[2]))
    return out


def text_descriptors(texts: Sequence[str]) -> dict[str, FloatArray]:
    """Length, word count, non-ASCII and uppercase shares and type/token ratio of each text."""
    rows = []
    for text in texts:
        words = text.split()
        letters = [c for c in text if c.isalpha()]
        rows.append(
            (
                len(text),
                len(words),
                sum(not c.isascii() for c in text) / len(text) if text else 0.0,
                sum(c.isupper() for c in letters) / len(letters) if letters else 0.0,
                len({w.lower() for w in words}) / len(words) if words else 0.0,
            )
        )
    table = np.array(rows, dtype=np.float64).reshape(len(rows), 5)
    names = [d.name for d in TEXT_DESCRIPTORS]
    return {name: table[:, j] for j, name in enumerate(names)}


def _dbfs(level: FloatArray) -> FloatArray:
    with np.errstate(divide="ignore"):
        return np.maximum(20.0 * np.log10(level), SILENCE_DBFS)


def audio_descriptors(x: npt.NDArray[Any]) -> dict[str, FloatArray]:
    """RMS loudness and peak level (dBFS) and zero-crossing rate of each clip (n, samples).

    Raises:
        DataError: `x` is not a 2-D batch.
    """
    if not isinstance(x, np.ndarray) or x.ndim != 2:
        raise DataError(
            "audio descriptors need a batch of shape (n, samples); got "
            f"{getattr(x, 'shape', type(x).__name__)}."
        )
    clips = np.asarray(x, dtype=np.float64)
    rms = np.sqrt(np.mean(clips**2, axis=1))
    peak = np.max(np.abs(clips), axis=1) if clips.shape[1] else np.zeros(len(clips))
    signs = np.signbit(clips)
    pairs = max(clips.shape[1] - 1, 1)
    crossings = np.count_nonzero(signs[:, 1:] != signs[:, :-1], axis=1) / pairs
    return {"loudness": _dbfs(rms), "peak": _dbfs(peak), "zero_crossing_rate": crossings}


def timeseries_descriptors(x: npt.NDArray[Any]) -> dict[str, FloatArray]:
    """Mean, standard deviation and range of each channel of each series (n, t, channels).

    Raises:
        DataError: `x` is not a 3-D batch.
    """
    if not isinstance(x, np.ndarray) or x.ndim != 3:
        raise DataError(
            "time-series descriptors need a batch of shape (n, t, channels); got "
            f"{getattr(x, 'shape', type(x).__name__)}."
        )
    series = np.asarray(x, dtype=np.float64)
    out: dict[str, FloatArray] = {}
    for c in range(series.shape[2]):
        suffix = f"[{c}]" if series.shape[2] > 1 else ""
        channel = series[:, :, c]
        out[f"mean{suffix}"] = channel.mean(axis=1)
        out[f"sd{suffix}"] = channel.std(axis=1)
        out[f"range{suffix}"] = channel.max(axis=1) - channel.min(axis=1)
    return out


def _timeseries_info(names: Sequence[str]) -> list[Descriptor]:
    words = {"mean": "mean", "sd": "standard deviation", "range": "range (max - min)"}
    out = []
    for name in names:
        stat, _, rest = name.partition("[")
        channel = f" of channel {rest.rstrip(']')}" if rest else ""
        out.append(Descriptor(name, f"{words[stat]}{channel}", "", f"{words[stat]} over time"))
    return out


def _tabular(
    dataset: Dataset, width: int
) -> tuple[Callable[[Any], dict[str, FloatArray]], list[Descriptor]]:
    names = getattr(dataset, "feature_names", None) or dataset.context().feature_names
    columns = [str(n) for n in names] if names is not None else [f"x{j}" for j in range(width)]
    if len(columns) != width:
        raise DataError(
            f"{len(columns)} feature names for {width} columns; give one name per column."
        )

    def describe(x: Any) -> dict[str, FloatArray]:
        values = np.asarray(x, dtype=np.float64)
        return {name: values[:, j] for j, name in enumerate(columns)}

    return describe, [Descriptor(name, name, "", "input column") for name in columns]


def _by_shape(describe: Callable[[Any], dict[str, FloatArray]], x: Any) -> dict[str, FloatArray]:
    """`describe(x)`, for a `RaggedBatch` one same-shape group at a time, in sample order."""
    if not isinstance(x, RaggedBatch):
        return describe(x)
    out: dict[str, FloatArray] = {}
    for index, group in x.groups():
        for name, values in describe(group).items():
            # a descriptor some groups lack (colourfulness of grey images) is missing there
            out.setdefault(name, np.full(len(x), np.nan))[index] = values
    return out


def describe_samples(
    dataset: Dataset, indices: npt.ArrayLike | None = None, *, batch_size: int = 256
) -> pd.DataFrame:
    """Readable descriptors of samples (brightness, text length, loudness, columns ...).

    Args:
        dataset: the run's dataset.
        indices: sample positions to describe (default all), in the order of the rows.
        batch_size: samples read at once.

    Returns:
        One row per index (the frame's index), one column per descriptor; the `Descriptor`
        of each column is in `frame.attrs["descriptors"]` (read it with `descriptors_of`).

    Raises:
        DataError: the batches do not have the modality's shape.

    Examples:
        >>> import numpy as np
        >>> from wince.datasets import ArrayDataset
        >>> data = ArrayDataset(["Hello world", "ok"])
        >>> describe_samples(data)[["length", "words"]].to_numpy().tolist()
        [[11.0, 2.0], [2.0, 1.0]]
    """
    positions = np.arange(len(dataset)) if indices is None else np.asarray(indices, dtype=np.int64)
    modality = dataset.modality
    info: list[Descriptor]
    describe: Callable[[Any], dict[str, FloatArray]]
    if modality == Modality.IMAGE:
        describe, info = image_descriptors, list(IMAGE_DESCRIPTORS)
    elif modality == Modality.TEXT:
        describe, info = text_descriptors, list(TEXT_DESCRIPTORS)
    elif modality == Modality.AUDIO:
        describe, info = audio_descriptors, list(AUDIO_DESCRIPTORS)
    elif modality == Modality.TIMESERIES:
        describe, info = timeseries_descriptors, []
    else:
        width = int(np.shape(dataset.batch(0, min(1, len(dataset))))[1])
        describe, info = _tabular(dataset, width)
    parts: list[dict[str, FloatArray]] = []
    for start in range(0, len(positions), batch_size):
        chunk = positions[start : start + batch_size].tolist()
        parts.append(_by_shape(describe, dataset.take(chunk)))
    if parts:
        columns = {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}
    else:
        columns = {d.name: np.zeros(0) for d in info}
    if modality == Modality.TIMESERIES:
        info = _timeseries_info(list(columns))
    known = {d.name: d for d in info}
    frame = pd.DataFrame(columns, index=pd.Index(positions, name="sample_index"))
    frame.attrs["descriptors"] = {
        name: (known[name] if name in known else Descriptor(name, name)).to_payload()
        for name in frame.columns
    }
    return frame
