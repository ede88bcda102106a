"""Audio calibration: SNR, loudness and bandwidth of clips."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from wince.monitor.estimate import (
    Estimate,
    clip_level_dbfs,
    clip_snr_db,
    loudness_change_db,
    not_estimable,
    snr_db,
)
from wince.realism.calibration.base import (
    TINY,
    CalibrationData,
    FloatArray,
    Measurement,
    Sets,
    counts,
    measure,
    needs_production,
    self_spread,
    shift_function,
    spread_estimate,
)
from wince.realism.calibration.quantities import Quantity

DEFAULT_SAMPLE_RATE_HZ = 16_000


@dataclass(frozen=True)
class AudioSets(Sets):
    """Clips (n, samples) as float64, with their sample rate.

    Attributes:
        sample_rate_hz: samples per second, or None when unknown (16 kHz assumed, noted).
    """

    sample_rate_hz: int | None = None


def calibrate_audio(
    reference: Any,
    production: Any | None = None,
    *,
    sample_rate_hz: int | None = None,
    n_boot: int = 200,
    seed: int = 0,
) -> list[Quantity]:
    """SNR, loudness and bandwidth of audio clips.

    Args:
        reference: reference clips (n, samples), float in [-1, 1].
        production: production clips, or None.
        sample_rate_hz: samples per second (default 16 kHz, noted).
        n_boot: bootstrap replicates.
        seed: bootstrap seed.
    """
    ref = np.asarray(reference, dtype=np.float64)
    prod = None if production is None else np.asarray(production, dtype=np.float64)
    sets = AudioSets(ref, prod, counts(ref, prod, "clips"), n_boot, seed, sample_rate_hz)
    return measure(sets, MEASUREMENTS)


def calibrate_audio_data(data: CalibrationData, *, n_boot: int, seed: int) -> list[Quantity]:
    """`calibrate_audio` of the read datasets, at the reference's sample rate."""
    return calibrate_audio(
        data.reference_x,
        data.production_x,
        sample_rate_hz=data.reference.context().sample_rate_hz,
        n_boot=n_boot,
        seed=seed,
    )


def snr(sets: AudioSets) -> Measurement:
    """SNR in dB of the production clips (self: the reference's), per clip."""
    ref_clips = clip_snr_db(sets.reference)
    ref_clips = ref_clips[np.isfinite(ref_clips)]
    paired = sets.production is not None
    ref_snr = float(np.median(ref_clips)) if paired and len(ref_clips) else math.nan
    return Measurement(
        "snr",
        "audio.additive_noise",
        snr_db(sets.target, n_boot=sets.n_boot, seed=sets.seed),
        clip_snr_db(sets.target),
        spread=f"per {sets.which} clip",
        method="signal over the noise floor of each clip's quietest 10% of frames "
        "(wince.monitor); exact for steady noise when clips have pauses"
        + (
            f"; the reference's own median SNR is {ref_snr:.3g} dB"
            if math.isfinite(ref_snr)
            else ""
        ),
    )


def loudness(sets: AudioSets) -> Measurement:
    """Loudness change in dB: the shift of per-clip RMS level (self: its spread)."""
    ref_level = clip_level_dbfs(sets.reference)
    if sets.production is not None:
        samples = shift_function(ref_level, clip_level_dbfs(sets.production))
        estimate = loudness_change_db(
            sets.reference, sets.production, n_boot=sets.n_boot, seed=sets.seed
        )
        spread = "shift function of per-clip RMS level (dBFS)"
        method = "RMS level change, production minus reference (wince.monitor)"
    else:
        samples = self_spread(ref_level, -1.0)
        estimate = spread_estimate("audio.gain", "dB", samples, "level spread")
        spread = "per clip: |RMS level - reference median| in dB, as quieter"
        method = (
            f"spread of the clips' RMS level around the median, "
            f"{float(np.median(ref_level[np.isfinite(ref_level)])):.3g} dBFS"
        )
    return Measurement("loudness", "audio.gain", estimate, samples, spread=spread, method=method)


def bandwidth(sets: AudioSets) -> Measurement:
    """Bandwidth in Hz: the cutoff of a low-pass filter between reference and production."""
    if sets.production is None:
        return needs_production(
            "bandwidth",
            "audio.low_pass",
            "Hz",
            "needs --production: a clip's own spectrum cannot tell a filter from quiet highs",
        )
    rate = sets.sample_rate_hz or DEFAULT_SAMPLE_RATE_HZ
    rate_note = "" if sets.sample_rate_hz else f"; sample rate unknown, {rate} Hz assumed"
    cutoff, _, _ = low_pass_cutoff_hz(sets.reference, sets.production, sample_rate_hz=rate)
    found = math.isfinite(cutoff)
    return Measurement(
        "bandwidth",
        "audio.low_pass",
        Estimate("audio.low_pass", cutoff, math.nan, math.nan, "Hz", note="pooled spectra")
        if found
        else not_estimable("audio.low_pass", "Hz", ""),
        [cutoff] if found else [],
        spread="one value (average spectra)",
        method="first frequency where the production/reference power spectrum ratio falls "
        "6 dB below its low-band level (the cutoff of audio.low_pass)" + rate_note,
        why_not=""
        if found
        else f"no evidence of band limiting: the production spectrum keeps the "
        f"reference's up to Nyquist ({rate / 2:g} Hz)",
    )


def low_pass_cutoff_hz(
    reference: Any, production: Any, *, sample_rate_hz: int, drop_db: float = 6.0
) -> tuple[float, FloatArray, FloatArray]:
    """Cutoff of a low-pass filter between the reference and production clips, in Hz.

    The average power spectra (Welch, 1024-sample segments) are summed in sixth-octave bands
    from 50 Hz to Nyquist and divided, production over reference, then levelled by the median
    ratio of the bands below 1/8 of Nyquist (a gain change is not a filter). Bands where the
    reference holds less than 1e-5 of its strongest band's power are skipped. The cutoff is
    where the ratio falls `drop_db` below that level and stays below up to Nyquist (6 dB is
    where `audio.low_pass`, an order-4 Butterworth run forward and back, puts its cutoff),
    interpolated between band centres on a log-frequency axis.

    Returns:
        (cutoff in Hz, or inf when the top bands keep their level; band centres in Hz;
        levelled ratio per band in dB, NaN where skipped).
    """
    from scipy.signal import welch

    ref = np.asarray(reference, dtype=np.float64)
    prod = np.asarray(production, dtype=np.float64)
    segment = min(1024, ref.shape[1], prod.shape[1])
    freqs, p_ref = welch(ref, fs=sample_rate_hz, nperseg=segment, axis=1)
    _, p_prod = welch(prod, fs=sample_rate_hz, nperseg=segment, axis=1)
    p_ref, p_prod = p_ref.mean(axis=0), p_prod.mean(axis=0)
    nyquist = sample_rate_hz / 2
    edges = 50.0 * 2.0 ** (np.arange(0, 120) / 6.0)
    edges = np.append(edges[edges < nyquist * 0.95], nyquist)
    centres = np.sqrt(edges[:-1] * edges[1:])
    band_of = np.digitize(freqs, edges) - 1
    keep = (band_of >= 0) & (band_of < len(centres))
    ref_bands = np.bincount(band_of[keep], weights=p_ref[keep], minlength=len(centres))
    prod_bands = np.bincount(band_of[keep], weights=p_prod[keep], minlength=len(centres))
    usable = ref_bands > ref_bands.max(initial=0.0) * 1e-5
    ratio_db = np.full(len(centres), np.nan)
    ratio_db[usable] = 10.0 * np.log10(np.maximum(prod_bands[usable], TINY) / ref_bands[usable])
    low_band = usable & (centres <= nyquist / 8)
    if not low_band.any():
        return math.inf, centres, ratio_db
    ratio_db -= float(np.median(ratio_db[low_band]))
    checked = np.flatnonzero(usable)
    below = ratio_db[checked] < -drop_db
    if not below[-1]:
        return math.inf, centres, ratio_db
    # the last run of bands below the threshold, up to the top usable band
    start = len(below) - int(np.argmin(below[::-1])) if not below.all() else 0
    i = int(checked[start])
    if start == 0:
        return float(centres[i]), centres, ratio_db
    j = int(checked[start - 1])
    a, b = ratio_db[j] + drop_db, ratio_db[i] + drop_db  # a >= 0 > b
    t = a / (a - b) if a != b else 0.0
    cutoff = math.exp(math.log(centres[j]) + t * (math.log(centres[i]) - math.log(centres[j])))
    return cutoff, centres, ratio_db


# the measurements `calibrate_audio` takes, in this order; a perturbation's `calibration` names one
# ("audio.<function>")
MEASUREMENTS: tuple[Callable[[AudioSets], Measurement], ...] = (snr, loudness, bandwidth)
