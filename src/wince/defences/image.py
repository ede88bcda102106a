"""Image defences: automatic contrast (exposure) normalisation."""

from __future__ import annotations

import numpy as np

from wince.defences.base import InputDefence, register
from wince.errors import DataError
from wince.perturbations.base import Batch, Modality, RaggedBatch, check_number


@register
class AutoContrast(InputDefence):
    """Each image's levels stretched so its darkest and brightest pixels span the full range.

    Per image (all channels together, so colours keep their balance), the `cutoff_pct`
    percentile of its pixel values maps to black and the (100 - `cutoff_pct`) percentile to
    white (255 for uint8, 1.0 for float images); values beyond are clipped. Under- and
    over-exposure, low contrast and haze are undone to the extent they keep the order of
    levels. An image whose two percentiles are equal (a flat image) is left as it is.

    Args:
        cutoff_pct: percent of pixel values at each end ignored when finding the levels, in
            [0, 25].
        seed: unused (the defence draws no random numbers).
    """

    name = "image.autocontrast"
    version = 1
    modalities = frozenset({Modality.IMAGE})

    def __init__(self, *, cutoff_pct: float = 1.0, seed: int = 0) -> None:
        super().__init__(seed=seed)
        self.cutoff_pct = check_number(
            self.name, "cutoff_pct", cutoff_pct, unit="percent", low=0.0, high=25.0
        )

    def transform(self, x: Batch) -> Batch:
        """Each image's levels stretched (see the class)."""
        if not isinstance(x, RaggedBatch):
            return self._stretch(np.asarray(x))
        groups = [(index, self._stretch(group)) for index, group in x.groups()]
        return RaggedBatch.from_groups(len(x), groups)

    def _stretch(self, images: np.ndarray) -> np.ndarray:
        if images.dtype.kind not in "uf":
            raise DataError(
                f"{self.name} takes uint8 or float images; got dtype {images.dtype}. Convert "
                "the images to uint8 (0-255) or float (0-1)."
            )
        full = 255.0 if images.dtype == np.uint8 else 1.0
        flat = images.reshape(len(images), -1).astype(np.float64)
        low, high = np.percentile(flat, [self.cutoff_pct, 100 - self.cutoff_pct], axis=1)
        span = high - low
        flat_images = span <= 0
        scale = np.where(flat_images, 1.0, full / np.where(flat_images, 1.0, span))
        offset = np.where(flat_images, 0.0, low)
        stretched = np.clip((flat - offset[:, None]) * scale[:, None], 0.0, full)
        stretched[flat_images] = flat[flat_images]
        if images.dtype == np.uint8:
            return np.rint(stretched).astype(np.uint8).reshape(images.shape)
        return stretched.astype(images.dtype).reshape(images.shape)
