"""Audio defences: loudness normalisation, band-limiting and noise reduction.

Audio batches are waveforms (n, samples), float32 or float64 in [-1, 1], or a `RaggedBatch`
of (samples,) clips of several lengths; every defence works on each length's clips together
and returns the batch in the input's layout and dtype, clipped to [-1, 1] as a converter
would. Band-limiting and noise reduction work in Hz, so they are fitted first: `fit` reads
the dataset's sample rate (`DataContext.sample_rate_hz`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.ndimage
import scipy.signal

from wince.defences.base import CleanData, InputDefence, register
from wince.errors import DataError, ParameterError
from wince.models.base import ModelAdapter
from wince.perturbations.audio.base import SILENCE_RMS, check_audio, finish, frame_length, rms
from wince.perturbations.base import Batch, Modality, RaggedBatch, check_number

Clips = npt.NDArray[np.floating]


class _AudioDefence(InputDefence):
    """An input defence applied to each length's clips of an audio batch at once."""

    modalities = frozenset({Modality.AUDIO})

    def transform(self, x: Batch) -> Batch:
        """The clips as `process` returns them, in the batch's layout and dtype."""
        if not isinstance(x, RaggedBatch):
            return self._checked(x)
        groups = [(index, self._checked(group)) for index, group in x.groups()]
        return RaggedBatch.from_groups(len(x), groups)

    def _checked(self, clips: Any) -> Clips:
        check_audio(clips, self.name, check_range=False)
        if clips.shape[1] == 0:
            return np.array(clips, copy=True)
        return finish(self.process(clips), clips.dtype)

    def process(self, clips: Clips) -> Clips:
        """The defended clips (n, samples): a new array, any float dtype, not yet clipped."""
        raise NotImplementedError


class _RateDefence(_AudioDefence):
    """An audio defence working in Hz: `fit` learns the dataset's sample rate."""

    def __init__(self, *, seed: int = 0) -> None:
        super().__init__(seed=seed)
        self.sample_rate_hz: int | None = None

    def fit(self, model: ModelAdapter, clean: CleanData) -> None:
        """Learn the sample rate from the clean data's context.

        Raises:
            DataError: the context has no sample rate, or it is not a positive whole number.
        """
        rate = clean.context.sample_rate_hz
        if isinstance(rate, bool) or not isinstance(rate, int | np.integer) or rate <= 0:
            raise DataError(
                f"{self.name} works in Hz and needs the data's sample rate; the data context "
                f"has {rate!r}. Build the dataset with sample_rate_hz (ArrayDataset(x, "
                "modality='audio', sample_rate_hz=16000))."
            )
        self.check_rate(int(rate))
        self.sample_rate_hz = int(rate)

    def check_rate(self, rate: int) -> None:
        """Raise `ParameterError` when the options cannot work at `rate` Hz; by default none."""
        return None

    def fitted_state(self) -> dict[str, Any]:
        """The sample rate in Hz."""
        return {"sample_rate_hz": self.sample_rate_hz}

    def rate(self) -> int:
        """The fitted sample rate in Hz (`DataError` when not fitted)."""
        if self.sample_rate_hz is None:
            raise DataError(f"{self.name} is not fitted: call fit(model, clean) first.")
        return self.sample_rate_hz


@register
class LoudnessNormalization(_AudioDefence):
    """Each clip scaled to a target RMS level, its peak limited to full scale.

    Per clip, the gain brings its RMS over all samples to `target_dbfs` (dB relative to full
    scale: a full-scale square wave is 0 dBFS, a full-scale sine -3 dBFS); when that gain
    would lift the peak above 1, the clip is scaled so its peak is exactly 1 instead (its RMS
    then stays below the target), so nothing clips. A clip quieter than -100 dBFS RMS
    (silence) is left as it is. Undoes a quiet or distant source, an input set too low or too
    high, automatic gain control: any change of level that keeps the waveform's shape.

    Args:
        target_dbfs: the RMS level each clip is brought to, in dBFS, in [-60, 0].
        seed: unused (the defence draws no random numbers).
    """

    name = "audio.loudness"
    version = 1

    def __init__(self, *, target_dbfs: float = -20.0, seed: int = 0) -> None:
        super().__init__(seed=seed)
        self.target_dbfs = check_number(
            self.name, "target_dbfs", target_dbfs, unit="dBFS", low=-60.0, high=0.0
        )

    def process(self, clips: Clips) -> Clips:
        """Each clip times min(target / RMS, 1 / peak); silent clips times 1."""
        level = rms(clips)
        peak = np.max(np.abs(clips), axis=1, keepdims=True).astype(np.float64)
        silent = level < SILENCE_RMS
        target = 10.0 ** (self.target_dbfs / 20.0)
        gain = np.minimum(target / np.where(silent, 1.0, level), 1.0 / np.where(silent, 1.0, peak))
        out: Clips = clips * np.where(silent, 1.0, gain)
        return out


@register
class BandLimit(_RateDefence):
    """Each clip band-pass filtered to `low_hz`-`high_hz`, with zero phase (fitted: sample rate).

    A Butterworth band-pass of order `order` run forwards and backwards (scipy's `sosfiltfilt`),
    so nothing is delayed and the attenuation in dB is twice the filter's: at a frequency an
    octave outside the band an order-4 pass removes about 48 dB. Hum, rumble and hiss outside
    the band the model needs are removed; what lies inside is kept. `low_hz` = 0 makes it a
    low-pass. The default is the telephone band, 300-3400 Hz (ITU-T G.712).

    Args:
        low_hz: lower band edge (-3 dB of one pass) in Hz, 0 (no lower edge) or more.
        high_hz: upper band edge in Hz, above `low_hz` and below the Nyquist frequency (half
            the sample rate), which `fit` checks.
        order: the Butterworth order of each edge, 1-8.
        seed: unused (the defence draws no random numbers).
    """

    name = "audio.bandlimit"
    version = 1

    def __init__(
        self, *, low_hz: float = 300.0, high_hz: float = 3400.0, order: int = 4, seed: int = 0
    ) -> None:
        super().__init__(seed=seed)
        self.low_hz = check_number(self.name, "low_hz", low_hz, unit="Hz", low=0.0, high=math.inf)
        self.high_hz = check_number(
            self.name, "high_hz", high_hz, unit="Hz", low=0.0, high=math.inf
        )
        if self.high_hz <= self.low_hz:
            raise ParameterError(
                f"{self.name}: high_hz ({self.high_hz:g}) must lie above low_hz "
                f"({self.low_hz:g}); give the passband's lower edge first, e.g. low_hz=300, "
                "high_hz=3400."
            )
        if isinstance(order, bool) or not isinstance(order, int) or not 1 <= order <= 8:
            raise ParameterError(
                f"{self.name}: order must be a whole number in [1, 8]; got {order!r}."
            )
        self.order = order

    def check_rate(self, rate: int) -> None:
        """Raise `ParameterError` unless `high_hz` lies below the Nyquist frequency."""
        if self.high_hz >= rate / 2:
            raise ParameterError(
                f"{self.name}: high_hz ({self.high_hz:g} Hz) must lie below the Nyquist "
                f"frequency of the data, {rate / 2:g} Hz (half its sample rate of {rate} Hz); "
                f"choose a high_hz below {rate / 2:g} Hz."
            )

    def process(self, clips: Clips) -> Clips:
        """The clips filtered forwards and backwards (see the class)."""
        rate = self.rate()
        if self.low_hz > 0:
            sos = scipy.signal.butter(
                self.order, [self.low_hz, self.high_hz], "bandpass", fs=rate, output="sos"
            )
        else:
            sos = scipy.signal.butter(self.order, self.high_hz, "lowpass", fs=rate, output="sos")
        # scipy's default padding (3 * (2 * sections + 1) samples), shortened for short clips
        padlen = min(3 * (2 * len(sos) + 1), clips.shape[1] - 1)
        out: Clips = scipy.signal.sosfiltfilt(sos, clips, axis=1, padlen=padlen)
        return out


# Noise reduction: the share of a clip's frames (the quietest) its noise floor is measured on,
# and the width of the running median that smooths the floor over frequency, so that a steady
# tone (a few bins wide) never counts as noise.
QUIET_SHARE = 0.2
FLOOR_SMOOTHING_HZ = 500.0
SHORTEST_FRAME = 16  # samples; shorter clips pass unchanged


@register
class Denoise(_RateDefence):
    """Spectral gating: time-frequency bins near the clip's noise floor attenuated (fitted: rate).

    Per clip, the short-time spectrum (32 ms Hann frames, half overlapping) gives each
    frame's power per frequency. The noise floor per frequency is the mean power over the
    quietest fifth of the frames (by energy; the padded first and last frames left out),
    smoothed by a running median over 500 Hz so that steady tones are not taken for noise.
    A bin at least `threshold_db` above the floor passes unchanged; any other is attenuated
    by `reduction_db`; the clip is then resynthesised (overlap-add). Stationary hiss, hum
    and fan noise between and under the signal's components fall by up to `reduction_db`;
    a clip with no noise floor (clean or digitally silent pauses) passes nearly unchanged
    (only its own spectral leakage far from its components, 30 dB and more below it, is
    attenuated). Clips shorter than 16 samples pass unchanged. Deterministic: no random
    numbers.

    Args:
        reduction_db: attenuation of the bins judged noise, in dB, in (0, 60].
        threshold_db: how far above the noise floor a bin must lie to pass, in dB, in [0, 20].
        seed: unused (the defence draws no random numbers).
    """

    name = "audio.denoise"
    version = 1

    def __init__(
        self, *, reduction_db: float = 20.0, threshold_db: float = 6.0, seed: int = 0
    ) -> None:
        super().__init__(seed=seed)
        self.reduction_db = check_number(
            self.name, "reduction_db", reduction_db, unit="dB", low=0.0, high=60.0
        )
        if self.reduction_db == 0:
            raise ParameterError(
                f"{self.name}: reduction_db must be above 0 dB (0 would change nothing); try 20."
            )
        self.threshold_db = check_number(
            self.name, "threshold_db", threshold_db, unit="dB", low=0.0, high=20.0
        )

    def process(self, clips: Clips) -> Clips:
        """The clips with the bins near their noise floor attenuated (see the class)."""
        rate = self.rate()
        if clips.shape[1] < SHORTEST_FRAME:
            return np.array(clips, copy=True)  # too short to hold a spectrum
        size = _frame_size(rate, clips.shape[1])
        _, _, spectrum = scipy.signal.stft(
            clips, fs=rate, window="hann", nperseg=size, noverlap=size // 2, axis=1
        )  # (n, bins, frames)
        power = spectrum.real**2 + spectrum.imag**2
        floor = self._noise_floor(power, bin_hz=rate / size)
        passes = power >= floor * 10.0 ** (self.threshold_db / 10.0)
        gain = np.where(passes, 1.0, 10.0 ** (-self.reduction_db / 20.0)).astype(power.dtype)
        _, out = scipy.signal.istft(
            spectrum * gain, fs=rate, window="hann", nperseg=size, noverlap=size // 2,
            time_axis=2, freq_axis=1,
        )  # fmt: skip
        result: Clips = out[:, : clips.shape[1]]
        return result

    @staticmethod
    def _noise_floor(power: npt.NDArray[np.floating], bin_hz: float) -> npt.NDArray[np.floating]:
        """The noise power per clip and frequency (n, bins, 1): see the class."""
        inner = power[:, :, 1:-1] if power.shape[2] > 2 else power
        energy = inner.sum(axis=1)  # (n, frames)
        quiet = max(1, round(QUIET_SHARE * energy.shape[1]))
        quietest = np.argsort(energy, axis=1, kind="stable")[:, :quiet]
        floor = np.take_along_axis(inner, quietest[:, None, :], axis=2).mean(axis=2)
        width = 2 * round(FLOOR_SMOOTHING_HZ / bin_hz / 2) + 1
        smoothed = scipy.ndimage.median_filter(floor, size=(1, width), mode="nearest")
        out: npt.NDArray[np.floating] = smoothed[:, :, None]
        return out


def _frame_size(rate: int, length: int) -> int:
    """32 ms of samples as a power of two, or the largest power of two a short clip holds."""
    return min(frame_length(rate, 0.032), 1 << (length.bit_length() - 1))
