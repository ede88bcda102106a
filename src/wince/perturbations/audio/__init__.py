"""Audio perturbations: batches are waveforms (n, samples), float32 in [-1, 1].

The sample rate comes with the data (`DataContext.sample_rate_hz`); every perturbation raises
a `DataError` without it. Modules: `base` (batch checks, distances, STFT), `noise` (noise and
background at an SNR), `level` (gain, clipping, bit depth), `channel` (filters, sample-rate
reduction, reverb), `codec` (MP3) and `timing` (tempo, pitch, time shift, dropouts).
Importing the package registers them all.
"""

from wince.perturbations.audio import channel, codec, level, noise, timing
from wince.perturbations.audio.base import (
    AudioPerturbation,
    log_spectral_distance,
    relative_rms_error,
    snr_db,
)

__all__ = [
    "AudioPerturbation",
    "channel",
    "codec",
    "level",
    "log_spectral_distance",
    "noise",
    "relative_rms_error",
    "snr_db",
    "timing",
]
