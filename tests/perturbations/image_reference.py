"""sRGB transfer functions written independently of wince (IEC 61966-2-1), for image tests."""

from __future__ import annotations

import numpy as np


def srgb_decode(v: np.ndarray) -> np.ndarray:
    """IEC 61966-2-1 sRGB to linear light."""
    v = np.asarray(v, dtype=np.float64)
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def srgb_encode(v: np.ndarray) -> np.ndarray:
    """IEC 61966-2-1 linear light to sRGB."""
    v = np.clip(np.asarray(v, dtype=np.float64), 0.0, 1.0)
    return np.where(v <= 0.0031308, 12.92 * v, 1.055 * v ** (1 / 2.4) - 0.055)
