"""Calibration's public names: the magnitudes of the library's perturbations that data shows.

`calibrate(reference, production)` measures them and `Calibration.to_yaml()` writes them as a
plan. The implementation, one module per modality around one shared pipeline, is the package
`wince.realism.calibration`, whose docstring says what is measured and how; the names are
re-exported here, where they have always been imported from.
"""

from __future__ import annotations

from wince.realism.calibration.audio import (
    DEFAULT_SAMPLE_RATE_HZ,
    calibrate_audio,
    low_pass_cutoff_hz,
)
from wince.realism.calibration.base import SHIFT_GRID, SPREAD_INTERVAL, FloatArray, shift_function
from wince.realism.calibration.images import (
    BLUR_CURVE_IMAGES,
    BLUR_GRID_PCT,
    blur_sigma_for_ratio,
    calibrate_images,
    relative_sharpness,
)
from wince.realism.calibration.pipeline import calibrate
from wince.realism.calibration.quantities import (
    QUANTILES,
    Calibration,
    Quantity,
    estimable_quantity,
    make_quantity,
    plan_values,
    round_value,
    severe_quantiles,
)
from wince.realism.calibration.render import render_plan
from wince.realism.calibration.tables import calibrate_table, within_group_noise_sd
from wince.realism.calibration.text import calibrate_text

__all__ = [
    "BLUR_CURVE_IMAGES",
    "BLUR_GRID_PCT",
    "DEFAULT_SAMPLE_RATE_HZ",
    "QUANTILES",
    "SHIFT_GRID",
    "SPREAD_INTERVAL",
    "Calibration",
    "FloatArray",
    "Quantity",
    "blur_sigma_for_ratio",
    "calibrate",
    "calibrate_audio",
    "calibrate_images",
    "calibrate_table",
    "calibrate_text",
    "estimable_quantity",
    "low_pass_cutoff_hz",
    "make_quantity",
    "plan_values",
    "relative_sharpness",
    "render_plan",
    "round_value",
    "severe_quantiles",
    "shift_function",
    "within_group_noise_sd",
]
