"""Optics: defocus and Gaussian blur, motion blur, lens distortion, chromatic aberration."""
