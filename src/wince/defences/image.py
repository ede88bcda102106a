"""Image defences: contrast normalisation, white balance, denoising and JPEG deblocking.

Image batches are (n, height, width, channels), uint8 [0, 255] or float32 [0, 1] (see
`wince.perturbations.image.base`); a `RaggedBatch` of images of several sizes is processed
one size at a time. Every defence returns the input's dtype and shape, leaves the alpha
channel of RGBA images as it is, and draws no random numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from wince.defences.base import InputDefence, register
from wince.errors import DataError
from wince.perturbations.base import Batch, Modality, RaggedBatch, check_number
from wince.perturbations.image.base import (
    check_images,
    colour_channels,
    each_image,
    from_float,
    to_float,
)

Images = npt.NDArray[Any]


def each_size(x: Batch, transform: Callable[[Images], Images]) -> Batch:
    """`transform` applied to an image batch, or to each size's images of a `RaggedBatch`."""
    if not isinstance(x, RaggedBatch):
        return transform(np.asarray(x))
    groups = [(index, transform(group)) for index, group in x.groups()]
    return RaggedBatch.from_groups(len(x), groups)


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
        return each_size(x, self._stretch)

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


@register
class WhiteBalance(InputDefence):
    """Gray-world white balance: each colour channel scaled so its mean is the mean of all three.

    The gray-world assumption (Buchsbaum 1980, J. Franklin Inst.): a scene's average colour is
    grey, so a channel whose mean stands above or below the others' is a colour cast of the
    light or the camera. Per image, channel k is multiplied by (mean of the channel means) /
    (mean of channel k), on the stored (sRGB-encoded) values, and clipped to the full range;
    the gains are limited to [1 / `max_gain`, `max_gain`], so an image of one colour (a red
    flower filling the frame, where the assumption fails) is not pushed all the way to grey.
    Greyscale images, channels with a zero mean and the alpha channel are left as they are.
    It undoes most of the casts of the `image.white_balance` perturbation and of tinted
    light; it cannot tell a cast from a scene that really is mostly one colour.

    Args:
        max_gain: the largest factor a channel is scaled up (or 1 / it, down) by, in [1, 10].
        seed: unused (the defence draws no random numbers).
    """

    name = "image.white_balance"
    version = 1
    modalities = frozenset({Modality.IMAGE})

    def __init__(self, *, max_gain: float = 3.0, seed: int = 0) -> None:
        super().__init__(seed=seed)
        self.max_gain = check_number(
            self.name, "max_gain", max_gain, unit="gain factor", low=1.0, high=10.0
        )

    def transform(self, x: Batch) -> Batch:
        """Each colour image's channels balanced (see the class)."""
        return each_size(x, self._balance)

    def _balance(self, images: Images) -> Images:
        check_images(images, self.name)
        if colour_channels(images) == 1:
            return images.copy()
        full = 255.0 if images.dtype == np.uint8 else 1.0
        c = colour_channels(images)
        colour = images[..., :c].astype(np.float64)
        means = colour.mean(axis=(1, 2))  # (n, c)
        target = means.mean(axis=1, keepdims=True)
        gains = np.clip(
            target / np.where(means > 0, means, 1.0), 1.0 / self.max_gain, self.max_gain
        )
        gains[means <= 0] = 1.0
        balanced = np.clip(colour * gains[:, None, None, :], 0.0, full)
        out = images.copy()
        if images.dtype == np.uint8:
            out[..., :c] = np.rint(balanced).astype(np.uint8)
        else:
            out[..., :c] = balanced.astype(images.dtype)
        return out


@register
class Denoise(InputDefence):
    """Non-local means denoising (OpenCV's fastNlMeansDenoising), tuned to a noise level.

    Each pixel becomes a weighted average of the pixels in a 21 x 21 window around it whose
    7 x 7 neighbourhoods look like its own (Buades, Coll and Morel 2005, CVPR); the weights
    fall off with the neighbourhoods' difference on the scale of `noise_sd`, so noise of that
    size is averaged away while edges and texture larger than it are kept. The filter runs on
    the stored R, G, B values together (a neighbourhood's difference is averaged over the
    channels) with strength h = `noise_sd` in levels, the best h for Gaussian noise of that
    size (measured on synthetic smooth and striped scenes with noise of 5 to 20 levels: of h
    = 1/2, 3/4, 1 and 5/4 times the sd, 1 and 5/4 left the least error to the clean image,
    and 5/4 nearly doubled it on the striped scene at 20 levels). OpenCV's CIELAB variant is
    not used: its 8-bit colour conversion alone moves colours by a level, even on a flat
    image.
    It undoes much of `image.gaussian_noise`, `image.shot_noise` and sensor noise; fine
    texture near the noise level is smoothed too, and a flat image is left as it is.
    OpenCV's filter works on 8-bit levels: float images are denoised through their nearest
    levels and the change is added back to the float values, so what the filter leaves
    alone keeps its precision.

    Args:
        noise_sd: the standard deviation of the noise to remove, a fraction of full scale,
            in [0.005, 0.25] (0.04 is about 10 of 255 levels).
        seed: unused (the defence draws no random numbers).
    """

    name = "image.denoise"
    version = 1
    modalities = frozenset({Modality.IMAGE})

    TEMPLATE_PX = 7
    SEARCH_PX = 21

    def __init__(self, *, noise_sd: float = 0.04, seed: int = 0) -> None:
        super().__init__(seed=seed)
        self.noise_sd = check_number(
            self.name, "noise_sd", noise_sd, unit="fraction of full scale", low=0.005, high=0.25
        )

    def transform(self, x: Batch) -> Batch:
        """Each image denoised (see the class)."""
        return each_size(x, self._denoise)

    def _denoise(self, images: Images) -> Images:
        check_images(images, self.name)
        if images.dtype == np.uint8:
            return each_image(images, lambda _, colour: self._denoise_levels(colour))
        levels = from_float(images, np.dtype(np.uint8))
        denoised_levels = each_image(levels, lambda _, colour: self._denoise_levels(colour))
        change = to_float(denoised_levels) - to_float(levels)
        denoised: Images = np.clip(images + change, 0.0, 1.0).astype(np.float32)
        return denoised

    def _denoise_levels(self, colour: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
        strength = self.noise_sd * 255.0
        denoised = cv2.fastNlMeansDenoising(
            colour, None, strength, self.TEMPLATE_PX, self.SEARCH_PX
        )
        return np.asarray(denoised)


@register
class Deblock(InputDefence):
    """JPEG deblocking: small steps across the 8 x 8 block grid smoothed, real edges kept.

    JPEG codes each 8 x 8 block of pixels (16 x 16 for subsampled colour) on its own, so at
    low quality neighbouring blocks meet with a visible step. This defence applies the
    strong (intra-edge) deblocking filter of H.264 (ITU-T H.264 section 8.7, "bS = 4") on
    every vertical, then every horizontal, boundary of the 8-pixel grid anchored at the
    top-left corner, as JPEG's is: where the step across the boundary is below
    `edge_threshold` and each side is smoother than half of it, the three pixels on each side
    are replaced by short weighted averages across it (5, 4 and 5 taps from the boundary
    outwards), spreading the step over six pixels. Larger steps are taken as real edges
    and left alone, as is everything away from the grid. It does not restore the detail JPEG
    quantised away and does not know whether the image was a JPEG: it reduces the blocking
    of `image.jpeg` (at quality 10 on a synthetic scene, the mean step across the grid fell
    from 4.0 to 2.1 times the step inside blocks, and the PSNR to the original rose by 0.7
    dB); on an image that was never compressed it smooths small steps on the grid lines.

    Args:
        edge_threshold: the largest step across a block boundary smoothed away, a fraction
            of full scale, in [0.01, 0.5] (0.1 is about 25 of 255 levels).
        seed: unused (the defence draws no random numbers).
    """

    name = "image.deblock"
    version = 1
    modalities = frozenset({Modality.IMAGE})

    BLOCK_PX = 8

    def __init__(self, *, edge_threshold: float = 0.1, seed: int = 0) -> None:
        super().__init__(seed=seed)
        self.edge_threshold = check_number(
            self.name,
            "edge_threshold",
            edge_threshold,
            unit="fraction of full scale",
            low=0.01,
            high=0.5,
        )

    def transform(self, x: Batch) -> Batch:
        """Each image deblocked (see the class)."""
        return each_size(x, self._deblock)

    def _deblock(self, images: Images) -> Images:
        check_images(images, self.name)
        c = colour_channels(images)
        values = to_float(images[..., :c]).astype(np.float64)
        values = self._filter_boundaries(values, axis=2)  # vertical boundaries, across columns
        values = self._filter_boundaries(values, axis=1)  # horizontal ones, across rows
        out = images.copy()
        out[..., :c] = from_float(values.astype(np.float32), images.dtype)
        return out

    def _filter_boundaries(
        self, values: npt.NDArray[np.float64], axis: int
    ) -> npt.NDArray[np.float64]:
        """The strong H.264 filter across every grid boundary of `axis` with 4 pixels a side."""
        size = values.shape[axis]
        boundaries = np.arange(self.BLOCK_PX, size - 3, self.BLOCK_PX)
        if not len(boundaries):
            return values
        moved = np.moveaxis(values, axis, 0)  # boundaries index the first axis
        p3, p2, p1, p0 = (moved[boundaries - k] for k in (4, 3, 2, 1))
        q0, q1, q2, q3 = (moved[boundaries + k] for k in (0, 1, 2, 3))
        artefact = (
            (np.abs(q0 - p0) < self.edge_threshold)
            & (np.abs(p1 - p0) < self.edge_threshold / 2)
            & (np.abs(q1 - q0) < self.edge_threshold / 2)
        )
        filtered = moved.copy()
        replacements = {
            -3: (2 * p3 + 3 * p2 + p1 + p0 + q0) / 8,
            -2: (p2 + p1 + p0 + q0) / 4,
            -1: (p2 + 2 * p1 + 2 * p0 + 2 * q0 + q1) / 8,
            0: (p1 + 2 * p0 + 2 * q0 + 2 * q1 + q2) / 8,
            1: (p0 + q0 + q1 + q2) / 4,
            2: (p0 + q0 + q1 + 3 * q2 + 2 * q3) / 8,
        }
        for offset, replacement in replacements.items():
            filtered[boundaries + offset] = np.where(
                artefact, replacement, moved[boundaries + offset]
            )
        return np.moveaxis(filtered, 0, axis)
