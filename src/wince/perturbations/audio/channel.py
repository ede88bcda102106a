"""The recording and transmission channel: filters, sample-rate reduction and room reverb."""

from __future__ import annotations

import functools
import math

import numpy as np
import numpy.typing as npt
import scipy.fft
import scipy.signal

from wince.errors import ParameterError
from wince.perturbations import arithmetic
from wince.perturbations.audio.base import (
    Audio,
    AudioPerturbation,
    check_flag,
    chunk_rows,
    finish,
    in_chunks,
)
from wince.perturbations.base import Batch, DataContext, Magnitude, Phrase, Rngs, register
from wince.perturbations.words import count

FILTER_ORDER = 4  # Butterworth order of each pass; run forward and backward (zero phase)


@functools.lru_cache(maxsize=128)
def butterworth(kind: str, edges: tuple[float, ...], rate: int) -> npt.NDArray[np.float64]:
    """Second-order sections of an order-4 Butterworth filter (cached per design)."""
    sos: npt.NDArray[np.float64] = scipy.signal.butter(
        FILTER_ORDER, edges if len(edges) > 1 else edges[0], btype=kind, fs=rate, output="sos"
    )
    return sos


@functools.lru_cache(maxsize=128)
def power_response(
    kind: str, edges: tuple[float, ...], rate: int, size: int
) -> npt.NDArray[np.float32]:
    """|H(f)|^2 of the Butterworth design at the rFFT bins of `size` samples."""
    omega = 2 * np.pi * np.fft.rfftfreq(size, d=1.0 / rate) / rate
    # z^-1 and z^-2 on the unit circle, as real and imaginary parts (no complex loops).
    c1, s1 = arithmetic.cos(omega), -arithmetic.sin(omega)
    c2, s2 = arithmetic.cos(2 * omega), -arithmetic.sin(2 * omega)
    power = np.ones_like(omega)
    for b0, b1, b2, a0, a1, a2 in butterworth(kind, edges, rate):
        numerator = (b0 + b1 * c1 + b2 * c2) ** 2 + (b1 * s1 + b2 * s2) ** 2
        denominator = (a0 + a1 * c1 + a2 * c2) ** 2 + (a1 * s1 + a2 * s2) ** 2
        power *= numerator / denominator
    out: npt.NDArray[np.float32] = power.astype(np.float32)
    return out


def odd_extension(x: npt.NDArray[np.floating], pad: int) -> npt.NDArray[np.floating]:
    """Each clip extended by `pad` samples at both ends by point reflection.

    This is how `sosfiltfilt` pads: filtering then starts and ends without a step.
    """
    left = 2 * x[:, :1] - x[:, pad:0:-1]
    right = 2 * x[:, -1:] - x[:, -2 : -pad - 2 : -1]
    return np.concatenate([left, x, right], axis=1)


def zero_phase(
    x: npt.NDArray[np.floating], kind: str, edges: tuple[float, ...], rate: int
) -> Audio:
    """Filter with the squared magnitude response of an order-4 Butterworth, zero phase.

    This is what running the filter forward and backward (`sosfiltfilt`) does, computed in the
    frequency domain: each clip is extended by point reflection at both ends (long enough for
    the filter's response to die out: 8 periods of the lowest edge frequency, at most the clip
    length), transformed, multiplied by |H(f)|^2 and transformed back. -6 dB at each edge
    frequency, 48 dB per octave beyond it.
    """
    length = x.shape[1]
    if length < 2 or len(x) == 0:
        return x.copy()
    pad = min(length - 1, math.ceil(8 * rate / min(edges)))
    size = scipy.fft.next_fast_len(length + 2 * pad, real=True)
    gain = power_response(kind, edges, rate, size)

    def apply(chunk: npt.NDArray[np.floating]) -> Audio:
        extended = odd_extension(chunk.astype(np.float32, copy=False), pad)
        spectrum = scipy.fft.rfft(extended, size, axis=1)
        spectrum *= gain
        filtered: Audio = scipy.fft.irfft(spectrum, size, axis=1)[:, pad : pad + length]
        return filtered

    return finish(np.concatenate(in_chunks(x, apply)), x.dtype)


def check_below_nyquist(
    owner: str, cutoff_hz: float, rate: int, *, given_as: str | None = None
) -> None:
    """Refuse a filter cutoff at or above the Nyquist frequency (half the sample rate, in Hz).

    Args:
        owner: the perturbation's name.
        cutoff_hz: the cutoff in Hz.
        rate: the data's sample rate in Hz.
        given_as: how the plan named the cutoff ("level 1", "severity 0.2"); None for a value.

    Raises:
        ParameterError: naming the perturbation, the cutoff (and the level or severity that
            maps to it), the Nyquist frequency and what to give instead.
    """
    nyquist = rate / 2
    if cutoff_hz < nyquist:
        return
    beyond = (
        f"at or above the Nyquist frequency ({nyquist:g} Hz) of the data's {rate} Hz audio, "
        "which holds no frequency there to filter"
    )
    if given_as is None:
        raise ParameterError(
            f"{owner}: a cutoff of {cutoff_hz:g} Hz is {beyond}; give cutoffs below {nyquist:g} Hz."
        )
    raise ParameterError(
        f"{owner}: {given_as} maps to a cutoff of {cutoff_hz:.0f} Hz, {beyond}, so its scenario "
        f"would not measure the filter. Give levels (or severities) whose cutoff is below "
        f"{nyquist:g} Hz, or values: in Hz below {nyquist:g}."
    )


@register
class LowPass(AudioPerturbation):
    """A muffled channel that loses the highs: a telephone line, a cheap mic, a wall in between.

    The cutoff is in Hz on a logarithmic scale (pitch and bandwidth are perceived in octaves):
    8 kHz is wideband speech (mild), 3.4 kHz the narrowband telephone, 1 kHz speech through a
    wall. 20 kHz (the upper limit of hearing) is the documented "no filter" value, and any
    cutoff at or above the clip's Nyquist frequency would leave it unchanged: a plan's value,
    level or severity there (the default sweep's too) is refused, naming the levels that act.
    Order-4 Butterworth, run forward and backward: zero phase, -6 dB at the cutoff, 48 dB per
    octave beyond it.

    Why this range: the telephone band is 300-3400 Hz (ITU-T P.310, 1996, for telephone-band
    digital telephones; ITU-T G.712 for PCM channels), sampled at 8000 samples per second (ITU-T
    G.711), the narrowest standard speech channel; wideband speech sampled at 16 kHz keeps
    everything below 8 kHz by construction (its Nyquist frequency). Those fix the mild end (8
    kHz) and the middle of the range (3.4 kHz), but the severe end (1 kHz) lies beyond the
    telephone band. No source found sizes channels narrower than that, so this is a stress test
    (`stress`): usable in a plan that names it, never in a preset.
    """

    name = "audio.low_pass"
    phrase = Phrase(lambda v: f"a muffled channel that cuts the highs above {v:g} Hz")
    calibration = "audio.bandwidth"
    stress = True
    version = 1
    stochastic = False
    magnitude = Magnitude(
        "cutoff_hz", unit="Hz", off=20_000.0, mild=8_000.0, severe=1_000.0,
        limits=(20.0, 20_000.0), scale="log",
    )  # fmt: skip

    def check_value_for(
        self, value: float, context: DataContext, *, given_as: str | None = None
    ) -> None:
        """Refuse a cutoff at or above the Nyquist frequency of the data."""
        check_below_nyquist(self.name, value, self.rate(context), given_as=given_as)

    def apply(self, x: Batch, value: float, rngs: Rngs, context: DataContext) -> Batch:
        """Low-pass filter every clip at the cutoff (unchanged at or above Nyquist)."""
        rate = self.rate(context)
        if value >= rate / 2:
            return x.copy()
        return zero_phase(x, "lowpass", (value,), rate)


@register
class HighPass(AudioPerturbation):
    """A thin channel that loses the lows: a small phone or laptop microphone, a tiny speaker.

    The cutoff is in Hz on a logarithmic scale: 100 Hz is a typical speech microphone's
    rumble filter (mild), 300 Hz the narrowband telephone, 1 kHz a tiny transducer. 20 Hz (the
    lower limit of hearing) is the documented "no filter" value; a cutoff at or above the
    clip's Nyquist frequency removes everything (a value, level or severity a plan gives
    there is refused). Order-4 Butterworth, run forward and backward:
    zero phase, -6 dB at the cutoff, 48 dB per octave below it.

    Why this range: the telephone band is 300-3400 Hz (ITU-T P.310, 1996, for telephone-band
    digital telephones; ITU-T G.712 for PCM channels), sampled at 8000 samples per second (ITU-T
    G.711), the narrowest standard speech channel, so 300 Hz, the middle of the range, is a
    standard channel's lower edge, but the severe end (1 kHz) lies beyond it. No source found
    sizes channels narrower than that, so this is a stress test (`stress`): usable in a plan
    that names it, never in a preset.
    """

    name = "audio.high_pass"
    phrase = Phrase(lambda v: f"a thin channel that cuts the lows below {v:g} Hz")
    stress = True
    version = 1
    stochastic = False
    magnitude = Magnitude(
        "cutoff_hz", unit="Hz", off=20.0, mild=100.0, severe=1_000.0, limits=(1.0, 20_000.0),
        scale="log",
    )  # fmt: skip

    def check_value_for(
        self, value: float, context: DataContext, *, given_as: str | None = None
    ) -> None:
        """Refuse a cutoff at or above the Nyquist frequency of the data."""
        check_below_nyquist(self.name, value, self.rate(context), given_as=given_as)

    def apply(self, x: Batch, value: float, rngs: Rngs, context: DataContext) -> Batch:
        """High-pass filter every clip at the cutoff (silence at or above Nyquist)."""
        rate = self.rate(context)
        if value >= rate / 2:
            return np.zeros_like(x)
        return zero_phase(x, "highpass", (value,), rate)


@register
class BandPass(AudioPerturbation):
    """A narrow channel that keeps only a band of frequencies, like a telephone line.

    The width is in octaves around `centre_hz` (geometric centre), because bandwidth is
    perceived in octaves: the narrowband telephone (300-3400 Hz) is 3.5 octaves around about
    1 kHz, wideband speech (100-8000 Hz) about 6 (mild), and 1 octave (707-1414 Hz) is severe.
    10 octaves (31 Hz to 32 kHz around 1 kHz) is the documented "no filter" value. An upper
    edge at or above the Nyquist frequency leaves only the high-pass half. Order-4 Butterworth
    band-pass, run forward and backward: zero phase, -6 dB at both edges.

    Why this range: the telephone band is 300-3400 Hz (ITU-T P.310, 1996, for telephone-band
    digital telephones; ITU-T G.712 for PCM channels), sampled at 8000 samples per second (ITU-T
    G.711), the narrowest standard speech channel: 3.5 octaves around 1 kHz, the middle of the
    range; wideband speech keeps about 6 octaves (mild). The severe end (1 octave) is narrower
    than the telephone band. No source found sizes channels narrower than that, so this is a
    stress test (`stress`): usable in a plan that names it, never in a preset.

    Args:
        centre_hz: geometric centre of the band in Hz (default 1000, about the telephone band's).
    """

    name = "audio.band_pass"
    phrase = Phrase(
        lambda v: f"a narrow channel that passes only {count(v, 'octave')} of frequencies"
    )
    stress = True
    version = 1
    stochastic = False
    magnitude = Magnitude(
        "bandwidth_octaves", unit="octaves", off=10.0, mild=6.0, severe=1.0, limits=(0.1, 10.0)
    )

    def __init__(self, *, centre_hz: float = 1000.0) -> None:
        ok = isinstance(centre_hz, int | float) and not isinstance(centre_hz, bool)
        if not ok or not 20.0 <= centre_hz <= 20_000.0:
            raise ParameterError(
                f"{self.name}: centre_hz must be a number of Hz in [20, 20000]; got "
                f"{centre_hz!r}. Try 1000 (the telephone band's centre)."
            )
        self.centre_hz = float(centre_hz)

    def band(self, value: float) -> tuple[float, float]:
        """The lower and upper edges in Hz of a band `value` octaves wide."""
        return self.centre_hz * 2.0 ** (-value / 2), self.centre_hz * 2.0 ** (value / 2)

    def apply(self, x: Batch, value: float, rngs: Rngs, context: DataContext) -> Batch:
        """Band-pass filter every clip between the band edges."""
        rate = self.rate(context)
        low, high = self.band(value)
        nyquist = rate / 2
        if low >= nyquist:
            return np.zeros_like(x)
        if high >= nyquist:
            return zero_phase(x, "highpass", (low,), rate)
        return zero_phase(x, "bandpass", (low, high), rate)


def band_limit(x: npt.NDArray[np.floating], reduced: int) -> npt.NDArray[np.float32]:
    """Ideal resampling of each clip down to `reduced` samples and back up (by FFT).

    Equivalent to scipy's FFT `resample` down and up: every frequency bin at or above half the
    reduced rate is removed; the rest is untouched.
    """
    length = x.shape[1]
    spectrum = scipy.fft.rfft(x.astype(np.float32, copy=False), axis=1)
    spectrum[:, (reduced + 1) // 2 :] = 0
    out: npt.NDArray[np.float32] = scipy.fft.irfft(spectrum, n=length, axis=1)
    return out


@functools.lru_cache(maxsize=64)
def hold_indices(length: int, reduced: int) -> npt.NDArray[np.intp]:
    """For every output sample, the input sample a sample-and-hold at `reduced` points keeps."""
    held = np.arange(length) * reduced // length  # which low-rate sample is being held
    indices: npt.NDArray[np.intp] = held * length // reduced  # when that sample was taken
    return indices


def sample_and_hold(x: npt.NDArray[np.floating], reduced: int) -> Audio:
    """Each clip sampled at `reduced` equally spaced instants, each value held until the next."""
    held: Audio = np.take(x, hold_indices(x.shape[1], reduced), axis=1)
    return held


@register
class SampleRateReduction(AudioPerturbation):
    """A low-rate recording chain: audio captured at a lower sample rate and played back up.

    The reduced rate is in Hz on a logarithmic scale: 16 kHz (wideband speech) is mild, 8 kHz
    the telephone, 4 kHz severe. 48 kHz is the documented "no reduction" value; a rate at or
    above the clip's own would leave it unchanged, and a plan's value or level there is
    refused. With `anti_alias` (the default) the path is
    ideal band-limited (FFT) resampling down to round(samples * reduced / rate) samples and back
    up: everything at or above half the reduced rate is lost (computed exactly in the frequency
    domain, one FFT each way). With `anti_alias=False` the chain has no filters at all, like a
    cheap converter or a "sample-rate reducer" effect: the clip is sampled at the reduced rate
    (the sample at or before each instant) and each value is held until the next (zero-order
    hold), so a frequency f above half the reduced rate folds back to |f - k * reduced| and the
    staircase adds images of everything above it.

    Why this range: telephone speech is sampled at 8000 samples per second (ITU-T G.711), the
    lowest rate of a standard speech channel, and wideband speech at 16 kHz (mild), but the
    severe end (4 kHz) lies below any standard channel. No source found supports it, so this is
    a stress test (`stress`): usable in a plan that names it, never in a preset.

    Args:
        anti_alias: filter before sampling down (no aliases).
    """

    name = "audio.sample_rate_reduction"
    phrase = Phrase(lambda v: f"audio recorded at only {v:g} Hz")
    stress = True
    version = 1
    stochastic = False
    magnitude = Magnitude(
        "reduced_rate_hz", unit="Hz", off=48_000.0, mild=16_000.0, severe=4_000.0,
        limits=(100.0, 48_000.0), scale="log",
    )  # fmt: skip

    def __init__(self, *, anti_alias: bool = True) -> None:
        self.anti_alias = check_flag(
            self.name, "anti_alias", anti_alias, "Try anti_alias: true for a clean resampler."
        )

    def check_value_for(
        self, value: float, context: DataContext, *, given_as: str | None = None
    ) -> None:
        """Refuse a reduced rate at or above the data's own, which would change nothing."""
        rate = self.rate(context)
        if value < rate:
            return
        named = (
            f"{given_as} maps to a reduced rate of {value:.0f} Hz"
            if given_as
            else (f"a reduced rate of {value:g} Hz is")
        )
        raise ParameterError(
            f"{self.name}: {named}, at or above the data's own rate ({rate} Hz), so its "
            f"scenario would not change the audio. Give rates below {rate} Hz (values: in Hz, "
            "or levels whose rate is below it)."
        )

    def apply(self, x: Batch, value: float, rngs: Rngs, context: DataContext) -> Batch:
        """Resample down to the reduced rate and back up to the clip's rate."""
        rate = self.rate(context)
        length = x.shape[1]
        if value >= rate or length == 0 or len(x) == 0:
            return x.copy()
        reduced = max(1, round(length * value / rate))
        if not self.anti_alias:
            return sample_and_hold(x, reduced)
        return finish(np.concatenate(in_chunks(x, lambda c: band_limit(c, reduced))), x.dtype)


# Amplitude decays by 60 dB (a factor 1000) over RT60: exp(-DECAY * t / RT60).
DECAY = 3.0 * math.log(10.0)
REFERENCE_RT60_S = 0.5


@functools.lru_cache(maxsize=64)
def tail_envelope(rt60_s: float, rate: int, taps: int, drr_db: float) -> npt.NDArray[np.float32]:
    """Amplitude of the diffuse tail at taps 1.. (see `room_impulse_responses`)."""
    t = np.arange(1, taps) / rate
    envelope = arithmetic.exp(-DECAY * t / rt60_s)
    tail_energy = 10 ** (-drr_db / 10) * rt60_s / REFERENCE_RT60_S
    # Scaled to the expected tail energy (sum of envelope^2), not the realised one: the same
    # draws then give a tail that grows smoothly with RT60.
    out: npt.NDArray[np.float32] = (envelope * math.sqrt(tail_energy / np.sum(envelope**2))).astype(
        np.float32
    )
    return out


def room_impulse_responses(
    rngs: Rngs, rt60_s: float, rate: int, length: int, drr_db: float
) -> npt.NDArray[np.float32]:
    """One synthetic room impulse response (n, taps) per clip, each of unit energy.

    A direct-path impulse at t = 0 followed by a diffuse tail of white noise (uniform, unit
    variance, drawn from the clip's generator) whose amplitude decays by 60 dB over `rt60_s`;
    taps = RT60 in samples, at most `length`. The tail's energy relative to the direct sound
    is 10^(-drr/10) at an RT60 of 0.5 s and grows in proportion to RT60 (Sabine: at a fixed
    source distance and room volume the reverberant energy grows with the reverberation time),
    i.e. the direct-to-reverberant ratio falls by 3 dB per doubling of RT60.
    """
    taps = max(2, min(length, math.ceil(rt60_s * rate)))
    responses = np.empty((len(rngs), taps), dtype=np.float32)
    for i, g in enumerate(rngs):
        g.random(dtype=np.float32, out=responses[i, 1:])
    # Uniform noise in [-sqrt(3), sqrt(3)): zero mean, unit variance (cheaper than Gaussian;
    # a diffuse tail only needs white noise of the right energy).
    responses[:, 1:] -= np.float32(0.5)
    responses[:, 1:] *= tail_envelope(rt60_s, rate, taps, drr_db) * np.float32(2 * math.sqrt(3))
    responses[:, 0] = 1.0
    energy = np.einsum("ij,ij->i", responses, responses)
    responses /= np.sqrt(energy)[:, None]
    return responses


@register
class Reverb(AudioPerturbation):
    """Room reverberation: the clip as heard in a reverberant room rather than close-miked.

    RT60 (seconds for the sound to decay by 60 dB) is the standard measure of a room: 0.2 s is a
    treated studio or a car (mild), 0.5 s a living room or office, 1.2 s a classroom, hall or
    stairwell (severe). Each clip is convolved with its own synthetic impulse response (see
    `room_impulse_responses`): the direct sound plus an exponentially decaying white-noise tail,
    seeded per clip. Wet/dry: the output is the fully "wet" convolution, whose direct path is
    the dry signal; the direct-to-reverberant ratio is `direct_to_reverberant_db` at an RT60 of
    0.5 s and falls by 3 dB per doubling of RT60. The response has unit energy, so the level is
    kept on average; the tail running past the clip's end is cut (the recording stops).

    Why this range: measured rooms where people talk span it. Furnished British living rooms
    average 0.35-0.45 s (16 rooms measured by BBC engineers) and 0.4-0.69 s from 8 kHz down to
    125 Hz (50 rooms, Jackson and Leventhall), as tabulated in Everest and Pohlmann's Master
    Handbook of Acoustics (ch. 11); ANSI S12.60-2002 (Acoustical Performance Criteria, Design
    Requirements, and Guidelines for Schools) caps an unoccupied, furnished classroom at 0.6 s
    (under 10,000 cubic feet) and 0.7 s (larger); good concert halls run 1.8-2.2 s at mid
    frequencies, Boston Symphony Hall 1.9 s occupied (Beranek 2004, Concert Halls and Opera
    Houses). The mild end (0.2 s) is a room drier than a furnished living room, the severe end
    (1.2 s) a hall between a classroom and a concert hall.

    Args:
        direct_to_reverberant_db: direct-to-reverberant energy ratio in dB at RT60 = 0.5 s
            (0 dB: about 1-2 m from a talker in an office).
    """

    name = "audio.reverb"
    phrase = Phrase(lambda v: f"room echo that lasts {v:g} s")
    version = 2
    stochastic = True
    magnitude = Magnitude("rt60_s", unit="s", off=0.0, mild=0.2, severe=1.2, limits=(0.0, 10.0))

    def __init__(self, *, direct_to_reverberant_db: float = 0.0) -> None:
        value = direct_to_reverberant_db
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if not ok or not -40.0 <= value <= 40.0:
            raise ParameterError(
                f"{self.name}: direct_to_reverberant_db must be a number of dB in [-40, 40]; "
                f"got {value!r}. Try 0."
            )
        self.direct_to_reverberant_db = float(value)

    def apply(self, x: Batch, value: float, rngs: Rngs, context: DataContext) -> Batch:
        """Convolve every clip with its room impulse response, cut to the clip's length."""
        rate = self.rate(context)
        length = x.shape[1]
        responses = room_impulse_responses(
            rngs, value, rate, max(length, 2), self.direct_to_reverberant_db
        )
        if len(x) == 0 or length == 0:
            return x.copy()
        size = scipy.fft.next_fast_len(length + responses.shape[1] - 1, real=True)
        step = chunk_rows(size)
        out = np.empty(x.shape, dtype=np.float32)
        for start in range(0, len(x), step):
            rows = slice(start, start + step)
            spectrum = arithmetic.complex_multiply(
                scipy.fft.rfft(x[rows].astype(np.float32, copy=False), size, axis=1),
                scipy.fft.rfft(responses[rows], size, axis=1),
            )
            out[rows] = scipy.fft.irfft(spectrum, size, axis=1)[:, :length]
        return finish(out, x.dtype)
