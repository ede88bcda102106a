"""Image pipeline: JPEG and WebP re-encoding, rescaling, pixelation, bit depth, gamma mismatch."""

from __future__ import annotations

import cv2
import numpy as np

from wince.errors import DataError
from wince.perturbations.base import Batch, DataContext, Magnitude, Rngs, register
from wince.perturbations.image.base import ImagePerturbation, from_float, to_float


@register
class Jpeg(ImagePerturbation):
    """Re-saving as JPEG at a quality setting, as messaging apps and web uploads do.

    The quality is libjpeg's 1-100 scale (OpenCV's encoder, 4:2:0 chroma subsampling for
    colour). 100 is the documented "no re-encode" value and returns the input unchanged;
    messaging apps re-encode around 70-85, aggressive web compression goes to 20.
    """

    name = "image.jpeg"
    version = 1
    stochastic = False
    magnitude = Magnitude(
        "jpeg_quality",
        unit="libjpeg quality",
        off=100.0,
        mild=90.0,
        severe=20.0,
        limits=(1.0, 100.0),
        integer=True,
    )

    def apply(self, x: Batch, value: float, rngs: Rngs, context: DataContext) -> Batch:
        """Encode and decode every image at the given quality."""
        images = x if x.dtype == np.uint8 else from_float(x, np.dtype(np.uint8))
        out = np.empty_like(images)
        params = [cv2.IMWRITE_JPEG_QUALITY, int(value)]
        channels = images.shape[3]
        for i, image in enumerate(images):
            pixels = (
                image[:, :, 0]
                if channels == 1
                else cv2.cvtColor(np.ascontiguousarray(image[:, :, :3]), cv2.COLOR_RGB2BGR)
            )
            ok, code = cv2.imencode(".jpg", pixels, params)
            if not ok:
                raise DataError(f"{self.name}: the JPEG encoder failed on sample {i}.")
            decoded = cv2.imdecode(
                code, cv2.IMREAD_GRAYSCALE if channels == 1 else cv2.IMREAD_COLOR
            )
            if decoded is None:
                raise DataError(f"{self.name}: the JPEG decoder failed on sample {i}.")
            if channels == 1:
                out[i, :, :, 0] = decoded
            else:
                out[i, :, :, :3] = cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB)
                if channels == 4:
                    out[i, :, :, 3] = image[:, :, 3]
        if x.dtype == np.uint8:
            return out
        return to_float(out)
