"""Time-domain perturbations: tempo, pitch, time shift and packet-loss dropouts."""

from __future__ import annotations

import functools
import math

import numpy as np
import numpy.typing as npt
import scipy.fft

from wince.errors import ParameterError
from wince.perturbations import arithmetic
from wince.perturbations.audio.base import (
    LOG_SPECTRAL,
    Audio,
    AudioPerturbation,
    check_flag,
    finish,
    frame_length,
    hann,
    in_chunks,
    stft,
)
from wince.perturbations.base import (
    Batch,
    DataContext,
    Magnitude,
    Phrase,
    Rngs,
    check_choice,
    register,
)
from wince.perturbations.words import count, share

TWO_PI = np.float32(2 * np.pi)


def overlap_add(segments: npt.NDArray[np.float32], hop: int) -> npt.NDArray[np.float32]:
    """Sum frames (n, count, size) placed `hop` apart; size must be a multiple of hop."""
    n, count, size = segments.shape
    overlap = size // hop
    out = np.zeros((n, count + overlap - 1, hop), dtype=np.float32)
    for k in range(overlap):
        out[:, k : k + count] += segments[:, :, k * hop : (k + 1) * hop]
    return out.reshape(n, -1)


# A tiny constant that keeps phase steps defined in silent bins (z / |z| with z = 0 gives 1).
TINY = np.float32(1e-30)


def time_stretch(
    x: npt.NDArray[np.floating], speed: float, rate: int, target: int | None = None
) -> npt.NDArray[np.float32]:
    """Play `speed` times faster with the pitch kept: a phase vocoder, vectorised over clips.

    64 ms Hann frames with a hop of a quarter frame. Output frame j takes the magnitudes
    interpolated at input frame j * speed and advances each bin's phase by the phase step
    between the two neighbouring input frames (the classic phase vocoder, as in librosa's
    `time_stretch`). Phases are carried as unit complex numbers (a running product of
    normalised cross-spectra), which is the same arithmetic modulo 2 pi without trigonometry.

    Args:
        x: clips (n, samples).
        speed: playback speed factor (> 0); 1.25 makes the clip 20% shorter.
        rate: sample rate in Hz (sets the frame length).
        target: output length in samples; default round(samples / speed).

    Returns:
        float32 clips (n, target).
    """
    size = frame_length(rate, 0.064)
    hop = size // 4
    target = max(1, round(x.shape[1] / speed)) if target is None else target
    window = hann(size)

    def stretch(chunk: npt.NDArray[np.floating]) -> Audio:
        spectrum = stft(chunk, size, hop)
        n, count, bins = spectrum.shape
        spectrum = np.concatenate([spectrum, np.zeros((n, 1, bins), spectrum.dtype)], axis=1)
        magnitude = arithmetic.complex_abs(spectrum)
        steps = np.arange(0, count, speed)
        left = np.floor(steps).astype(np.intp)
        weight = (steps - left).astype(np.float32)[None, :, None]
        before, after = magnitude[:, left], magnitude[:, left + 1]
        interpolated = before + weight * (after - before)
        # Phasor of output frame j: that of frame j - 1 times the unit phase step measured
        # between the input frames around output frame j - 1.
        # Complex products one real operation at a time (`arithmetic.complex_multiply`).
        phasor = np.empty(interpolated.shape, dtype=np.complex64)
        previous = left[:-1]
        phasor[:, 1:] = arithmetic.complex_multiply(
            spectrum[:, previous + 1], np.conj(spectrum[:, previous])
        )
        phasor[:, 1:] += TINY
        norm = before[:, :-1] * after[:, :-1]
        norm += TINY
        phasor.real[:, 1:] /= norm
        phasor.imag[:, 1:] /= norm
        first = spectrum[:, 0] + TINY
        phasor.real[:, 0] = first.real / (magnitude[:, 0] + TINY)
        phasor.imag[:, 0] = first.imag / (magnitude[:, 0] + TINY)
        for j in range(1, phasor.shape[1]):  # running product over frames
            phasor[:, j] = arithmetic.complex_multiply(phasor[:, j], phasor[:, j - 1])
        phasor.real[...] *= interpolated
        phasor.imag[...] *= interpolated
        segments = scipy.fft.irfft(phasor, n=size, axis=-1).astype(np.float32, copy=False)
        segments *= window
        summed = overlap_add(segments, hop)
        envelope = overlap_add(np.broadcast_to(window**2, (1, len(steps), size)), hop)
        summed /= np.maximum(envelope, 1e-3)
        half = size // 2
        result: Audio = summed[:, half : half + target]
        if result.shape[1] < target:
            result = np.pad(result, ((0, 0), (0, target - result.shape[1])))
        return result

    if len(x) == 0:
        return np.zeros((0, target), dtype=np.float32)
    parts = in_chunks(x, stretch, min_rows=1)  # one long clip at a time is fastest
    return np.concatenate(parts).astype(np.float32, copy=False)


def is_fast_length(n: int) -> bool:
    """True when n has no prime factor above 11 (pocketfft's fast sizes)."""
    for prime in (2, 3, 5, 7, 11):
        while n % prime == 0:
            n //= prime
    return n == 1


@functools.lru_cache(maxsize=256)
def resampling_sizes(length: int, ratio: float) -> tuple[int, int]:
    """FFT sizes (a, b) with a >= length, b = round(a / ratio), both fast.

    Resampling a signal zero-padded to `a` samples onto `b` samples scales every frequency by
    a / b, within 1 / (2b) of `ratio`. Falls back to the next fast `a` when no pair is found
    within 12% above `length`.
    """
    for a in range(length, int(length * 1.12) + 2):
        b = round(a / ratio)
        if b >= 1 and is_fast_length(a) and is_fast_length(b):
            return a, b
    a = scipy.fft.next_fast_len(length, real=True)
    return a, max(1, round(a / ratio))


def fft_rescale(y: npt.NDArray[np.float32], ratio: float, length: int) -> npt.NDArray[np.float32]:
    """Band-limited resampling that scales frequencies by `ratio`, cut or padded to `length`."""
    a, b = resampling_sizes(y.shape[1], ratio)
    spectrum = scipy.fft.rfft(y, n=a, axis=1)
    bins = b // 2 + 1
    if spectrum.shape[1] > bins:
        spectrum = spectrum[:, :bins]
    out = scipy.fft.irfft(spectrum, n=b, axis=1).astype(np.float32, copy=False)
    out *= np.float32(b / a)
    return fit_length(out, length)


def fit_length(y: npt.NDArray[np.floating], length: int) -> npt.NDArray[np.floating]:
    """Clips trimmed at the end, or zero-padded at the end, to `length` samples."""
    if y.shape[1] >= length:
        return y[:, :length]
    return np.pad(y, ((0, 0), (0, length - y.shape[1])))


@register
class Tempo(AudioPerturbation):
    """A faster (or slower) talker: the clip plays faster with its pitch unchanged.

    The change is in percent of speaking rate because that is how speech rate varies between
    and within talkers: +10% is a brisk talker, +25% a hurried one; a rate of +x% shortens the
    content to 1 / (1 + x/100) of its duration (+25%: 80%). Negative values slow it down (flagged
    as outside the declared range, which runs towards faster speech).

    Method: a phase vocoder (64 ms Hann frames, hop 16 ms), vectorised over the batch.
    Batches stay rectangular: with `keep_length` (the default) every clip keeps its number of
    samples: faster content is zero-padded at the end and slower content is cut at the end, so
    the model sees clips of the length it expects. With `keep_length=False` every clip of the
    batch gets the new length round(samples / (1 + x/100)).

    Distance: the log-spectral distance (sample alignment is meaningless after a tempo change).

    Why this range: speaking rate varies between and within talkers with age, sex, turn length
    and topic (Yuan, Liberman and Cieri 2006, Towards an integrated understanding of speaking
    rate in conversation, Interspeech). Liberman (2023, "Inter-syllable intervals", Language
    Log) timed one-minute samples of the slowest and the fastest talker of a TED-talk speaking
    rate ranking: 191 and 238 words per minute, the fast one 25% faster (the severe end); the
    mild end (3%) is an eighth of that spread between talkers.

    Args:
        keep_length: keep each clip's number of samples (pad or trim at the end).
    """

    name = "audio.tempo"
    phrase = Phrase(lambda v: f"speech sped up or slowed down by {v:g}%")
    version = 2
    stochastic = False
    preserves_shape = False  # with keep_length=False the clips change length
    distance_unit = LOG_SPECTRAL
    magnitude = Magnitude(
        "tempo_change_pct", unit="% of speaking rate", off=0.0, mild=3.0, severe=25.0,
        limits=(-50.0, 100.0),
    )  # fmt: skip

    def __init__(self, *, keep_length: bool = True) -> None:
        self.keep_length = check_flag(
            self.name, "keep_length", keep_length, "Try keep_length: true to pad or trim."
        )

    def apply(self, x: Batch, value: float, rngs: Rngs, context: DataContext) -> Batch:
        """Time-stretch every clip by the speed factor 1 + value/100."""
        rate = self.rate(context)
        y = time_stretch(x, 1.0 + value / 100.0, rate)
        if self.keep_length:
            y = fit_length(y, x.shape[1])
        return finish(y, x.dtype)


@register
class PitchShift(AudioPerturbation):
    """A higher (or lower) voice: every frequency scales by 2^(semitones/12), duration kept.

    Semitones because pitch perception is logarithmic and voices differ by a few of them:
    between talkers of one sex the median pitch varies by about ±4 semitones, between a man's
    and a woman's voice by about 12 (an octave). Positive values shift up; negative values shift
    down (flagged as outside the declared realistic range, which runs upwards).

    Method: time-stretch by the pitch ratio with the phase vocoder of `audio.tempo`, then
    resample back to the original number of samples with FFT resampling (band-limited, so
    shifting up drops what would pass the Nyquist frequency; the FFT sizes are chosen so that
    the frequency ratio is within a few parts per million of the request). Formants move with
    the pitch.

    Distance: the log-spectral distance.

    Why this range: the modal speaking pitch of adult men spans about 85-155 Hz and of women
    about 165-255 Hz (Fitch and Holbrook 1970, Modal Fundamental Frequency of Young Adults,
    Archives of Otolaryngology 92; as tabulated in Baken 2000, Clinical Measurement of Speech
    and Voice): spans of about 10 and 7.5 semitones. A shift of up to 4 semitones (severe) moves
    a voice about as far as from the middle of its sex's span to the edge; half a semitone
    (mild) is a small difference between two talkers.
    """

    name = "audio.pitch_shift"
    phrase = Phrase(lambda v: f"pitch shifted by {count(v, 'semitone')}")
    version = 2
    stochastic = False
    distance_unit = LOG_SPECTRAL
    magnitude = Magnitude(
        "shift_semitones", unit="semitones", off=0.0, mild=0.5, severe=4.0, limits=(-24.0, 24.0)
    )

    def apply(self, x: Batch, value: float, rngs: Rngs, context: DataContext) -> Batch:
        """Stretch by 2^(value/12), then resample to the original length."""
        rate = self.rate(context)
        length = x.shape[1]
        if length == 0 or len(x) == 0:
            return x.copy()
        ratio = 2.0 ** (value / 12.0)
        stretched = time_stretch(x, 1.0 / ratio, rate)
        y = in_chunks(stretched, lambda c: fft_rescale(c, ratio, length))
        return finish(np.concatenate(y), x.dtype)


@register
class TimeShift(AudioPerturbation):
    """A misaligned recording window: the clip's content starts earlier or later.

    In milliseconds because segmenters and voice-activity detectors misplace a window by tens to
    hundreds of milliseconds; 10 ms is within one speech frame, 200 ms cuts a syllable. By
    default the content starts later (a window opened early: leading silence, the end cut);
    `direction="earlier"` cuts the start instead, and `direction="random"` draws the direction
    per clip from its generator (the class is declared deterministic, so the engine draws it
    once per sample, not per repeat: one random bit per clip makes a poor repeat). With
    `circular=False` (the default) the gap is filled with silence and content moved past the
    edge is lost; with `circular=True` it wraps around to the other end.

    Distance: the log-spectral distance (the sample-wise error of a shifted tone is periodic in
    the shift, so it would not grow with severity).

    Why this range: no published source found measures how far segmenters or voice-activity
    detectors misplace a window, so this is a stress test (`stress`): usable in a plan that
    names it, never in a preset.

    Args:
        direction: "later" (content delayed), "earlier" (content advanced) or "random".
        circular: wrap content around instead of zero-filling.
    """

    name = "audio.time_shift"
    phrase = Phrase(lambda v: f"the recording window shifted by {v:g} ms")
    stress = True
    version = 1
    stochastic = False
    distance_unit = LOG_SPECTRAL
    magnitude = Magnitude(
        "shift_ms", unit="ms", off=0.0, mild=10.0, severe=200.0, limits=(0.0, 60_000.0)
    )
    DIRECTIONS = ("later", "earlier", "random")

    def __init__(self, *, direction: str = "later", circular: bool = False) -> None:
        self.direction = check_choice(self.name, "direction", direction, self.DIRECTIONS)
        self.circular = check_flag(
            self.name, "circular", circular, "Try circular: false to fill with silence."
        )

    value_check = "none"  # a copy per sample: a range check would double it

    def apply(self, x: Batch, value: float, rngs: Rngs, context: DataContext) -> Batch:
        """Move each clip by round(value ms * rate) samples in its drawn direction."""
        rate = self.rate(context)
        length = x.shape[1]
        shift = min(round(value * rate / 1000.0), length)
        if self.direction == "random":
            later = [bool(g.random() < 0.5) for g in rngs]
        else:
            later = [self.direction == "later"] * len(x)
        keep = length - shift

        def move(block: Audio, out: Audio, rows: slice) -> None:
            for j, delayed in enumerate(later[rows]):
                source, target = block[j], out[j]
                if delayed:
                    target[shift:] = source[:keep]
                    target[:shift] = source[keep:] if self.circular else 0.0
                else:
                    target[:keep] = source[shift:]
                    target[keep:] = source[:shift] if self.circular else 0.0

        return self.blockwise(x, move)


@register
class Dropouts(AudioPerturbation):
    """Packet loss on a voice-over-IP or Bluetooth link: short stretches of audio go silent.

    The rate is the share of time lost, because that is how packet loss is quoted: 1% is a good
    network, 5% is noticeable, 20% is a failing link. Time is cut into slots of `burst_ms`
    (20 ms, a typical VoIP packet), the grid starting at a random phase per clip; each slot is
    lost independently with probability `dropout_rate` and zero-filled (no concealment, so
    losses click). The same draws serve every rate, so a larger rate loses a superset.

    Why this range: voice carried over packet networks tolerates packet loss of a few percent
    (Stein and Druker 2002, The Effect of Packet Loss on Voice Quality for TDM over Pseudowires,
    IETF draft), but no source found gives the share of time lost on real links up to the 20%
    severe end, so this is a stress test (`stress`): usable in a plan that names it, never in a
    preset.

    Args:
        burst_ms: length of one lost stretch in ms (a packet, or a burst of packets).
    """

    name = "audio.dropouts"
    phrase = Phrase(lambda v: f"{share(v)} of the audio lost to dropouts")
    stress = True
    version = 1
    stochastic = True
    magnitude = Magnitude(
        "dropout_rate", unit="fraction of time", off=0.0, mild=0.01, severe=0.2, limits=(0.0, 1.0)
    )

    def __init__(self, *, burst_ms: float = 20.0) -> None:
        ok = isinstance(burst_ms, int | float) and not isinstance(burst_ms, bool)
        if not ok or not 0.1 <= burst_ms <= 10_000 or math.isnan(burst_ms):
            raise ParameterError(
                f"{self.name}: burst_ms must be a number of ms in [0.1, 10000]; got "
                f"{burst_ms!r}. Try 20 (one VoIP packet)."
            )
        self.burst_ms = float(burst_ms)

    value_check = "blocks"

    def apply(self, x: Batch, value: float, rngs: Rngs, context: DataContext) -> Batch:
        """Zero every slot whose uniform draw falls below the rate."""
        rate = self.rate(context)
        length = x.shape[1]
        slot = max(1, round(self.burst_ms * rate / 1000.0))
        count = length // slot + 2
        draws = [(int(g.integers(slot)), g.random(count)) for g in rngs]

        def drop(block: Audio, out: Audio, rows: slice) -> None:
            out[:] = block
            for j, (phase, uniforms) in enumerate(draws[rows]):
                lost = np.repeat(uniforms < value, slot)[phase : phase + length]
                out[j, lost] = 0.0

        return self.blockwise(x, drop)
