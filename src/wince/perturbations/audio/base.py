"""Shared machinery of audio perturbations: batch checks, sample rate, distances, STFT.

Audio batches are waveforms of shape (n, samples), float32 (or float64) in [-1, 1], all at the
dataset's sample rate (`DataContext.sample_rate_hz`). Every perturbation keeps the dtype and
ends by clipping to [-1, 1], as an analogue-to-digital converter would.

Every audio perturbation records the same three per-sample measures with each outcome, so a
run that mixes audio perturbations has one set of columns:

- `distance`: the perturbation's primary measure (see its `distance_unit`): either the
  relative RMS error, RMS(perturbed - original) / RMS(original), for effects that keep the
  samples aligned in time, or the log-spectral distance in dB for effects where sample
  alignment is meaningless (tempo, pitch, time shift);
- `snr_db`: 10 log10(sum original^2 / sum (perturbed - original)^2), infinite when unchanged;
- `log_spectral_distance_db`: the frame-wise log-spectral distance (below).

Every audio perturbation checks the batch's shape and dtype and raises a `DataError` without a
sample rate. Most also check that the samples are finite and in [-1, 1]; gain, bit depth and
time shift do not, because they are exact sample-wise maps that cost one pass over memory and a
check would double it (the engine checks every batch for NaN and infinity once per unit).

Examples:
    >>> import numpy as np
    >>> from wince.perturbations import DataContext, Modality, Rngs, get
    >>> x = (0.1 * np.sin(np.arange(1600) / 3.0))[None].astype(np.float32)
    >>> noise = get("audio.additive_noise")()
    >>> context = DataContext(Modality.AUDIO, sample_rate_hz=16000)
    >>> noisy = noise.perturb(x, 20.0, Rngs.for_samples(["a"]), context)
    >>> round(float(snr_db(x, noisy)[0]), 2)
    20.0
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import ClassVar

import numpy as np
import numpy.typing as npt
import scipy.fft
import scipy.signal

from wince.errors import DataError, ParameterError
from wince.perturbations import arithmetic
from wince.perturbations.base import Batch, DataContext, Modality, Perturbation

Audio = npt.NDArray[np.floating]
FloatArray = npt.NDArray[np.float64]

RELATIVE_RMS = "relative RMS error (RMS of perturbed - original, over RMS of original)"
LOG_SPECTRAL = "log-spectral distance (dB, 32 ms frames)"

# An original quieter than this (-100 dBFS RMS) counts as silence for relative measures.
SILENCE_RMS = 1e-5
# Spectral floor of the log-spectral distance, relative to the original's loudest bin.
SPECTRAL_FLOOR_DB = -80.0
# Transforms work on groups of clips of about CHUNK_SAMPLES samples but at least CHUNK_ROWS
# clips: memory stays bounded, intermediate arrays stay in the CPU cache, and FFTs still run
# over several rows at once (pocketfft vectorises across rows). Measured here: up to 3x faster
# than one pass over a large batch, and 2x faster than clip by clip for 10 s clips.
CHUNK_SAMPLES = 1 << 18
CHUNK_ROWS = 8


def chunk_rows(length: int, min_rows: int = CHUNK_ROWS) -> int:
    """How many clips of `length` samples to process at once (at least `min_rows`)."""
    return max(min_rows, CHUNK_SAMPLES // max(length, 1))


def check_audio(x: object, owner: str, *, check_range: bool = True) -> None:
    """Raise `DataError` unless `x` is an audio batch (n, samples) of finite floats in [-1, 1].

    With `check_range=False` only the shape and dtype are checked (for perturbations that check
    the values block by block while they work, see `AudioPerturbation.blockwise`).
    """
    if not isinstance(x, np.ndarray) or x.ndim != 2:
        shape = getattr(x, "shape", type(x).__name__)
        hint = " Add a batch axis: x[None]." if getattr(x, "ndim", 0) == 1 else ""
        raise DataError(f"{owner}: audio batches have shape (n, samples); got {shape}.{hint}")
    if x.dtype not in (np.float32, np.float64):
        raise DataError(
            f"{owner}: audio samples must be float32 (or float64) in [-1, 1]; got {x.dtype}. "
            "Convert 16-bit PCM with x.astype(np.float32) / 32768."
        )
    if check_range:
        check_values(x, owner)


def check_values(x: npt.NDArray[np.floating], owner: str) -> None:
    """Raise `DataError` unless every sample of `x` is finite and in [-1, 1]."""
    if x.size == 0:
        return
    low, high = float(x.min()), float(x.max())
    if not (low >= -1.0 and high <= 1.0):  # also rejects NaN
        raise DataError(
            f"{owner}: audio samples must be finite and lie in [-1, 1]; got values in "
            f"[{low:g}, {high:g}]. Normalise by the peak (x / np.abs(x).max()) or clip to [-1, 1]."
        )


def sample_rate(context: DataContext, owner: str) -> int:
    """The batch's sample rate in Hz from the data context.

    Raises:
        DataError: the context has no sample rate, or it is not a positive whole number.
    """
    rate = context.sample_rate_hz
    if rate is None:
        raise DataError(
            f"{owner}: audio perturbations need the sample rate and the data context has none; "
            "build the dataset with sample_rate_hz (ArrayDataset(x, modality='audio', "
            "sample_rate_hz=16000)) or pass DataContext(Modality.AUDIO, sample_rate_hz=16000)."
        )
    if isinstance(rate, bool) or not isinstance(rate, int | np.integer) or rate <= 0:
        raise DataError(
            f"{owner}: sample_rate_hz must be a positive whole number of Hz; got {rate!r}."
        )
    return int(rate)


def finish(y: npt.NDArray[np.floating], dtype: np.dtype[np.floating]) -> Audio:
    """Clip to [-1, 1] as an ADC would, in `dtype`; `y` must be a new array (clipped in place)."""
    out: Audio = y.astype(dtype, copy=False)
    np.clip(out, -1.0, 1.0, out=out)
    return out


def rms(x: npt.NDArray[np.floating]) -> FloatArray:
    """Root mean square of each clip (float64, shape (n, 1))."""
    if x.shape[1] == 0:
        return np.zeros((len(x), 1))
    squares = np.einsum("ij,ij->i", x, x, dtype=np.float64)
    out: FloatArray = np.sqrt(squares / x.shape[1])[:, None]
    return out


# ITU-T P.56 (12/2011) method B: envelope time constant, hangover, margin and thresholds.
P56_TIME_CONSTANT_S = 0.03
P56_HANGOVER_S = 0.2
P56_MARGIN_DB = 15.9
# 15 thresholds from 2^-15 (-90.3 dBFS, the lowest level of 16-bit audio) to 2^-1, 6 dB apart
P56_THRESHOLDS = 2.0 ** np.arange(-15, 0)


def active_level(x: npt.NDArray[np.floating], rate: int) -> FloatArray:
    """Active speech level of each clip as an RMS amplitude (float64, shape (n, 1)).

    ITU-T P.56 method B, without its optional pre-filter: the envelope is |x| smoothed twice
    by a one-pole filter with a 0.03 s time constant; at threshold c a sample is active when
    the envelope reaches c, or did within the last 0.2 s (hangover). With a(c) active samples
    the active level at c is A(c) = 10 log10(sum x^2 / a(c)); the result is A where A(c) - 20
    log10 c falls to the 15.9 dB margin, interpolated in dB between the 15 thresholds 2^-15 ..
    2^-1 (6 dB apart). Pauses longer than the hangover so do not lower the level, as they
    lower a clip's RMS. A silent clip has level 0; a clip whose envelope never reaches
    2^-15 (below -90 dBFS) has its RMS.

    Args:
        x: clips (n, samples) in [-1, 1].
        rate: sample rate in Hz.

    Examples:
        >>> import numpy as np
        >>> tone = 0.1 * np.sin(2 * np.pi * 200 * np.arange(16000) / 16000)
        >>> clip = np.concatenate([tone, np.zeros(48000)])[None]  # 1 s of tone, 3 s of silence
        >>> round(float(20 * np.log10(active_level(clip, 16000)[0, 0] / 0.1 * np.sqrt(2))), 1)
        -1.1
        >>> round(float(20 * np.log10(rms(clip)[0, 0] / 0.1 * np.sqrt(2))), 1)
        -6.0
    """
    n, length = x.shape
    out = rms(x)
    if length == 0:
        return out
    samples = np.asarray(x, dtype=np.float64)
    g = math.exp(-1.0 / (P56_TIME_CONSTANT_S * rate))
    envelope = scipy.signal.lfilter([1.0 - g], [1.0, -g], np.abs(samples), axis=1)
    envelope = scipy.signal.lfilter([1.0 - g], [1.0, -g], envelope, axis=1)
    hangover = math.ceil(P56_HANGOVER_S * rate)
    positions = np.arange(length)
    counts = np.empty((n, len(P56_THRESHOLDS)))
    for j, threshold in enumerate(P56_THRESHOLDS):
        # position of the last sample at or above the threshold, so far
        last = np.maximum.accumulate(
            np.where(envelope >= threshold, positions, -hangover - 1), axis=1
        )
        counts[:, j] = np.count_nonzero(positions - last <= hangover, axis=1)
    energy = np.einsum("ij,ij->i", samples, samples)
    with np.errstate(divide="ignore", invalid="ignore"):  # silence, or nothing active
        level_db = 10.0 * np.log10(energy[:, None] / counts)
    margin = level_db - 20.0 * np.log10(P56_THRESHOLDS)
    for i in range(n):
        active = np.flatnonzero(counts[i] > 0)
        if energy[i] == 0 or len(active) == 0:
            continue  # silence, or below every threshold: the RMS
        crossed = np.flatnonzero(margin[i, active] <= P56_MARGIN_DB)
        if len(crossed) == 0:  # above the margin even at the highest active threshold
            db = level_db[i, active[-1]]
        elif crossed[0] == 0:
            db = level_db[i, active[0]]
        else:
            j = active[crossed[0]]
            share = (margin[i, j - 1] - P56_MARGIN_DB) / (margin[i, j - 1] - margin[i, j])
            db = level_db[i, j - 1] + share * (level_db[i, j] - level_db[i, j - 1])
        out[i, 0] = 10.0 ** (db / 20.0)
    return out


def relative_rms_error(
    original: npt.NDArray[np.floating], perturbed: npt.NDArray[np.floating]
) -> FloatArray:
    """RMS(perturbed - original) / RMS(original) per clip; silence counts as -100 dBFS RMS."""
    return CleanClips(original).relative_rms_error(perturbed)


def snr_db(original: npt.NDArray[np.floating], perturbed: npt.NDArray[np.floating]) -> FloatArray:
    """Signal-to-noise ratio of the perturbed clip against the original, in dB.

    The noise is everything the perturbation changed (perturbed - original); an unchanged clip
    has an infinite SNR, and a silent original changed anywhere has -inf.
    """
    return CleanClips(original).snr_db(perturbed)


def frame_length(rate: int, seconds: float) -> int:
    """The power of two nearest to `seconds` of samples (at least 16)."""
    return int(2 ** max(4, round(math.log2(max(seconds * rate, 1.0)))))


@functools.lru_cache(maxsize=32)
def hann(n: int) -> npt.NDArray[np.float32]:
    """Periodic Hann window of length n (float32), the STFT's analysis window."""
    cosine = arithmetic.cos(2 * np.pi * np.arange(n) / n)
    window: npt.NDArray[np.float32] = (0.5 - 0.5 * cosine).astype(np.float32)
    return window


def frames(x: npt.NDArray[np.floating], size: int, hop: int) -> npt.NDArray[np.floating]:
    """Overlapping frames (n, count, size) of each clip, zero-padded by size/2 at both ends."""
    half = size // 2
    padded = np.pad(x, ((0, 0), (half, half + size)))
    count = 1 + x.shape[1] // hop
    view = np.lib.stride_tricks.sliding_window_view(padded, size, axis=1)[:, ::hop]
    out: npt.NDArray[np.floating] = view[:, :count]
    return out


def stft(x: npt.NDArray[np.floating], size: int, hop: int) -> npt.NDArray[np.complexfloating]:
    """Short-time Fourier transform (n, frames, size // 2 + 1) with a Hann window."""
    windowed = frames(x.astype(np.float32, copy=False), size, hop) * hann(size)
    spectrum: npt.NDArray[np.complexfloating] = scipy.fft.rfft(windowed, axis=-1)
    return spectrum


def log_spectral_distance(
    original: npt.NDArray[np.floating], perturbed: npt.NDArray[np.floating], rate: int
) -> FloatArray:
    """Frame-wise log-spectral distance in dB, averaged over frames.

    Power spectra of 32 ms Hann frames (hop 16 ms) over the longer of the two clips (the
    shorter zero-padded); each frame's distance is the RMS over frequency of the dB difference,
    with both spectra floored 80 dB below the original's loudest bin so that silence and
    rounding noise do not dominate. 0 for identical clips.
    """
    return CleanClips(original, rate).log_spectral_distance(perturbed)


def _power(x: npt.NDArray[np.floating], size: int) -> npt.NDArray[np.float32]:
    """Power spectra (n, frames, size // 2 + 1) of 50%-overlapping Hann frames, float32."""
    spectrum = stft(x, size, size // 2)
    power: npt.NDArray[np.float32] = spectrum.real**2 + spectrum.imag**2
    return power


def _padded(x: npt.NDArray[np.floating], length: int) -> npt.NDArray[np.floating]:
    """`x` zero-padded at the end to `length` samples."""
    return x if x.shape[1] == length else np.pad(x, ((0, 0), (0, length - x.shape[1])))


class CleanClips:
    """A batch of original clips, measured once, to compare many perturbed versions against.

    The engine measures every trial of a batch against the same originals: their float64
    values, energy and log power spectra are computed once here instead of once per trial
    (the arithmetic of each measure is unchanged, so stored runs verify bit for bit). A
    perturbed batch of another length is compared over the longer length, the shorter
    zero-padded at the end.

    Args:
        original: clips (n, samples), float32 or float64.
        rate: sample rate in Hz; needed only for the log-spectral distance.
    """

    def __init__(self, original: npt.NDArray[np.floating], rate: int | None = None) -> None:
        self.original = original
        self.rate = rate
        self.values: FloatArray = np.asarray(original, dtype=np.float64)
        self.energy = np.einsum("ij,ij->i", self.values, self.values)
        self._log_power: list[tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]] = []

    def error_energy(
        self, perturbed: npt.NDArray[np.floating]
    ) -> tuple[FloatArray, FloatArray, int]:
        """Per clip, sum (perturbed - original)^2 and sum original^2, and the common length.

        The common length is the longer of the two; the shorter is zero-padded.
        """
        length = max(self.values.shape[1], perturbed.shape[1])
        a: FloatArray = self.values
        energy = self.energy
        if not length == a.shape[1] == perturbed.shape[1]:
            a = np.pad(a, ((0, 0), (0, length - a.shape[1])))
            energy = np.einsum("ij,ij->i", a, a)
        change = np.subtract(_padded(perturbed, length), a, dtype=np.float64)
        return np.einsum("ij,ij->i", change, change), energy, length

    def relative_rms_error(self, perturbed: npt.NDArray[np.floating]) -> FloatArray:
        """RMS(perturbed - original) / RMS(original) per clip (see `relative_rms_error`)."""
        return self._relative_rms(*self.error_energy(perturbed))

    def snr_db(self, perturbed: npt.NDArray[np.floating]) -> FloatArray:
        """The perturbed clips' SNR against the originals in dB (see `snr_db`)."""
        noise, energy, _ = self.error_energy(perturbed)
        return self._snr(noise, energy)

    @staticmethod
    def _relative_rms(noise: FloatArray, energy: FloatArray, length: int) -> FloatArray:
        if length == 0:
            return np.zeros(len(noise))
        signal_rms = np.maximum(np.sqrt(energy / length), SILENCE_RMS)
        out: FloatArray = np.sqrt(noise / length) / signal_rms
        return out

    @staticmethod
    def _snr(noise: FloatArray, energy: FloatArray) -> FloatArray:
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = 10.0 * arithmetic.log10(energy / noise)
        out: FloatArray = np.where(noise == 0, math.inf, ratio)
        return out

    def log_spectral_distance(self, perturbed: npt.NDArray[np.floating]) -> FloatArray:
        """Frame-wise log-spectral distance in dB per clip (see `log_spectral_distance`)."""
        a = self.values
        if self.rate is None:
            raise ValueError("CleanClips needs the sample rate for the log-spectral distance")
        length = max(a.shape[1], perturbed.shape[1])
        if length == 0 or len(a) == 0:
            return np.zeros(len(a))
        size = frame_length(self.rate, 0.032)
        blocks = row_blocks(len(a), length, CHUNK_ROWS)
        if length == a.shape[1]:
            if not self._log_power:
                self._log_power = [_log_power(a[rows], size) for rows in blocks]
            clean_blocks = self._log_power
        else:  # a longer perturbed batch: the originals padded to it, for this comparison only
            clean_blocks = [_log_power(_padded(a[rows], length), size) for rows in blocks]
        out = np.empty(len(a))
        for rows, (clean, floor) in zip(blocks, clean_blocks, strict=True):
            power = np.maximum(_power(_padded(perturbed[rows], length), size), floor)
            diff = arithmetic.log10(power).astype(np.float32)
            diff -= clean
            diff *= np.float32(10.0)
            out[rows] = np.sqrt(np.mean(diff * diff, axis=2)).mean(axis=1)
        return out

    def distances(self, perturbed: npt.NDArray[np.floating], primary: str) -> dict[str, FloatArray]:
        """`distance` (in unit `primary`), `snr_db` and `log_spectral_distance_db` per clip."""
        noise, energy, length = self.error_energy(perturbed)
        spectral = self.log_spectral_distance(perturbed)
        return {
            "distance": (
                spectral if primary == LOG_SPECTRAL else self._relative_rms(noise, energy, length)
            ),
            "snr_db": self._snr(noise, energy),
            "log_spectral_distance_db": spectral,
        }


def _log_power(
    x: npt.NDArray[np.floating], size: int
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """log10 of clean clips' power spectra, floored; and the floors (n, 1, 1).

    Each clip's floor lies `SPECTRAL_FLOOR_DB` below its loudest bin.
    """
    power = _power(x, size)
    loudest = power.reshape(len(power), -1).max(axis=1)
    floor = np.maximum(loudest * 10 ** (SPECTRAL_FLOOR_DB / 10), 1e-20)[:, None, None]
    return arithmetic.log10(np.maximum(power, floor)).astype(np.float32), floor


def in_chunks(
    x: npt.NDArray[np.floating],
    fn: Callable[[npt.NDArray[np.floating]], Audio],
    min_rows: int = CHUNK_ROWS,
) -> list[Audio]:
    """`fn` applied to consecutive groups of clips (see `chunk_rows`)."""
    step = chunk_rows(x.shape[1], min_rows)
    return [fn(x[start : start + step]) for start in range(0, len(x), step)]


def row_blocks(n: int, length: int, min_rows: int = 1) -> list[slice]:
    """Consecutive groups of clips (see `chunk_rows`) as slices."""
    step = chunk_rows(length, min_rows)
    return [slice(start, min(n, start + step)) for start in range(0, n, step)]


def check_flag(owner: str, option: str, value: object, why: str) -> bool:
    """`value` if it is a bool; else a `ParameterError`."""
    if not isinstance(value, bool):
        raise ParameterError(f"{owner}: {option} must be true or false; got {value!r}. {why}")
    return value


class AudioPerturbation(Perturbation):
    """Shared batch checks and distances of audio perturbations.

    The primary `distance` is the relative RMS error unless a subclass sets `distance_unit`
    to `LOG_SPECTRAL`; `distances` adds `snr_db` and `log_spectral_distance_db` for every
    audio perturbation.
    """

    modality = Modality.AUDIO
    distance_unit: ClassVar[str] = RELATIVE_RMS
    # How the sample values are checked (finite, in [-1, 1]): "batch" in `check_batch`,
    # "blocks" block by block inside `apply` (`blockwise`: one trip through memory instead of
    # two), or "none" for exact sample-wise maps that cost one pass over memory, where a check
    # would double the cost (the engine checks every batch for NaN and infinity once).
    value_check: ClassVar[str] = "batch"

    def check_batch(self, x: Batch) -> None:
        """Raise `DataError` unless `x` is an audio batch."""
        check_audio(x, self.name, check_range=self.value_check == "batch")

    def blockwise(
        self,
        x: npt.NDArray[np.floating],
        fn: Callable[[npt.NDArray[np.floating], npt.NDArray[np.floating], slice], None],
        min_rows: int = 1,
    ) -> Audio:
        """A new batch filled block of clips by block by `fn(x_block, out_block, rows)`.

        Blocks hold about `CHUNK_SAMPLES` samples and at least `min_rows` clips (FFTs run
        faster over several rows). With `value_check = "blocks"` each block's values are
        checked (finite, in [-1, 1]) just before `fn` reads them, so the checks and the
        arithmetic share one trip through memory.
        """
        out = np.empty_like(x)
        for rows in row_blocks(len(x), x.shape[1], min_rows):
            block = x[rows]
            if self.value_check == "blocks":
                check_values(block, self.name)
            fn(block, out[rows], rows)
        return out

    def rate(self, context: DataContext) -> int:
        """The sample rate in Hz (raises `DataError` when the context has none)."""
        return sample_rate(context, self.name)

    def distance(
        self, original: Batch, perturbed: Batch, context: DataContext
    ) -> npt.NDArray[np.float64]:
        """The primary distance per clip, in `distance_unit`."""
        if self.distance_unit == LOG_SPECTRAL:
            return log_spectral_distance(original, perturbed, self.rate(context))
        return relative_rms_error(original, perturbed)

    def distances(
        self, original: Batch, perturbed: Batch, context: DataContext
    ) -> dict[str, npt.NDArray[np.float64]]:
        """`distance`, `snr_db` and `log_spectral_distance_db` per clip."""
        return self.distances_to(self.measure_clean(original, context), perturbed, context)

    def measure_clean(self, original: Batch, context: DataContext) -> CleanClips:
        """The original clips, whose energy and spectra are then measured once."""
        return CleanClips(original, self.rate(context))

    def distances_to(
        self, clean: CleanClips, perturbed: Batch, context: DataContext
    ) -> dict[str, npt.NDArray[np.float64]]:
        """`distance`, `snr_db` and `log_spectral_distance_db` per clip against `clean`."""
        return clean.distances(perturbed, primary=self.distance_unit)
