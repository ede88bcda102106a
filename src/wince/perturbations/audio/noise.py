"""Additive disturbances at a signal-to-noise ratio: coloured noise and background sounds.

Both scale what they add per clip so that the clip's own level over the added sound's RMS is
exactly the requested SNR (before the final clipping to [-1, 1]); a silent clip stays silent.
The level is the clip's RMS over its own samples by default, or with `level="active"` its
active speech level (ITU-T P.56 method B), which pauses do not lower.
SNR is in dB because loudness perception is logarithmic: 40 dB is a quiet room, 20 dB a busy
office, 0 dB noise as loud as the speech.

`snr_db` has no infinite value (severity moves linearly between `off` and `severe`), so `off`
is 100 dB, documented as "no noise": below the quantisation noise of 16-bit audio (98 dB).
"""

from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.fft
import scipy.signal

from wince.errors import DataError, ParameterError
from wince.perturbations import arithmetic
from wince.perturbations.audio.base import (
    CHUNK_ROWS,
    Audio,
    AudioPerturbation,
    FloatArray,
    active_level,
    rms,
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

NO_NOISE_DB = 100.0
COLOURS = ("white", "pink", "brown")
# Power spectral density slope of each colour: PSD ~ 1 / f^exponent.
COLOUR_EXPONENT = {"white": 0.0, "pink": 1.0, "brown": 2.0}
# Pink and brown noise are shaped from 20 Hz up (the lowest audible frequency) and flat below.
SHAPING_FLOOR_HZ = 20.0


def snr_magnitude(mild: float) -> Magnitude:
    """The SNR magnitude shared by noise and background mixing."""
    return Magnitude(
        "snr_db", unit="dB", off=NO_NOISE_DB, mild=mild, severe=0.0, limits=(-20.0, NO_NOISE_DB)
    )


SIGNAL_LEVELS = ("rms", "active")


def signal_level(x: npt.NDArray[np.floating], level: str, rate: int) -> FloatArray:
    """The level an SNR is set against, per clip (shape (n, 1)): see `SIGNAL_LEVELS`.

    "rms" is the clip's RMS over all its own samples; "active" its active speech level
    (`active_level`, ITU-T P.56 method B), which pauses do not lower.
    """
    return active_level(x, rate) if level == "active" else rms(x)


def mix_at_snr(
    x: npt.NDArray[np.floating],
    added: npt.NDArray[np.floating],
    snr_db: float,
    out: Audio,
    *,
    signal: FloatArray | None = None,
) -> None:
    """Out = x + added scaled per clip to signal / 10^(snr/20), clipped to [-1, 1].

    `signal` is the clip's level (n, 1), by default its RMS. `added` is scaled in place so
    that its RMS over the clip is that fraction of the level. A clip whose `added` part is
    silent is left unchanged.
    """
    signal = rms(x) if signal is None else signal
    level = rms(added)
    scale = np.divide(signal, level, out=np.zeros_like(signal), where=level > 0)
    scale *= 10.0 ** (-snr_db / 20.0)
    added *= scale.astype(added.dtype)
    np.add(x, added, out=out)
    np.clip(out, -1.0, 1.0, out=out)


@functools.lru_cache(maxsize=64)
def colour_filter(colour: str, length: int, rate: int) -> npt.NDArray[np.float32]:
    """Amplitude gain per rFFT bin giving PSD ~ 1/f^exponent above 20 Hz, no DC."""
    freqs = np.fft.rfftfreq(length, d=1.0 / rate)
    exponent = COLOUR_EXPONENT[colour]
    gain = (np.maximum(freqs, SHAPING_FLOOR_HZ) / SHAPING_FLOOR_HZ) ** (-exponent / 2)
    gain[0] = 0.0
    out: npt.NDArray[np.float32] = gain.astype(np.float32)
    return out


@register
class AdditiveNoise(AudioPerturbation):
    """Noise at a target signal-to-noise ratio, as from a hissy microphone, fan or cheap ADC.

    The noise is Gaussian and, per `colour`, white (flat spectrum: electronic hiss), pink
    (-3 dB per octave: rain, ventilation) or brown (-6 dB per octave: rumble, wind, traffic).
    Pink and brown are shaped in the frequency domain from 20 Hz up, flat below, without DC.
    The noise of each clip is scaled to hit the requested SNR exactly against that clip's own
    level (over its own samples: clips of several lengths are never padded, see
    `wince.perturbations.base.RaggedBatch`). By default (`level="rms"`) the level is the
    clip's RMS over all its samples, so pauses lower it: on a clip that is one third speech
    the noise is 4.8 dB weaker than requested against the speech. With `level="active"` it
    is the active speech level of ITU-T P.56 method B (`active_level`: energy over the
    samples where the speech envelope is within 15.9 dB of the level, with a 0.2 s
    hangover), so the SNR holds over the speech whatever the pauses. The recorded `snr_db`
    distance is always measured over the whole clip.

    Why this range: Pearsons, Bennett and Fidell (1977, "Speech Levels in Various Noise
    Environments", US EPA report EPA-600/1-77-025) measured everyday conversations in homes,
    classrooms, hospitals and department stores at signal-to-noise ratios of about 5-15 dB, and
    on trains and aircraft at about -1 to -2 dB. The range runs from a quiet recording (40 dB,
    mild) to noise as loud as the speech (0 dB, severe), which covers those measurements.

    Args:
        colour: "white", "pink" or "brown".
        level: the signal level the SNR is set against: "rms" (the clip's RMS) or "active"
            (its active speech level, ITU-T P.56).
    """

    name = "audio.additive_noise"
    family = "audio.noise"
    phrase = Phrase(lambda v: f"background noise at a signal-to-noise ratio of {v:g} dB")
    monitor_estimate = "snr_db"
    calibration = "audio.snr"
    version = 1
    stochastic = True
    magnitude = snr_magnitude(mild=40.0)

    def __init__(self, *, colour: str = "white", level: str = "rms") -> None:
        self.colour = check_choice(self.name, "colour", colour, COLOURS)
        self.level = check_choice(self.name, "level", level, SIGNAL_LEVELS)

    value_check = "blocks"

    def apply(self, x: Batch, value: float, rngs: Rngs, context: DataContext) -> Batch:
        """Add noise of the chosen colour scaled per clip to the requested SNR."""
        rate = self.rate(context)
        length = x.shape[1]
        shaping = colour_filter(self.colour, length, rate) if self.colour != "white" else None

        def add(block: Audio, out: Audio, rows: slice) -> None:
            noise = np.empty((len(block), length), dtype=np.float32)
            for j, i in enumerate(range(rows.start, rows.stop)):
                rngs[i].standard_normal(dtype=np.float32, out=noise[j])
            if shaping is not None:
                spectrum = scipy.fft.rfft(noise, axis=1)
                spectrum *= shaping
                noise = scipy.fft.irfft(spectrum, n=length, axis=1).astype(np.float32, copy=False)
            mix_at_snr(block, noise, value, out, signal=signal_level(block, self.level, rate))

        return self.blockwise(x, add, min_rows=1 if shaping is None else CHUNK_ROWS)


# ---------------------------------------------------------------------------------------------
# Built-in background: synthetic babble over mains hum.

BACKGROUND_SEED = 20_240_517
BACKGROUND_CLIPS = 4
BACKGROUND_SECONDS = 3.0
TALKERS = 6
# (F1, F2, F3) in Hz of a few vowels (Peterson & Barney averages for adult voices).
VOWELS = (
    (730, 1090, 2440),
    (270, 2290, 3010),
    (530, 1840, 2480),
    (300, 870, 2240),
    (570, 840, 2410),
    (660, 1720, 2410),
    (490, 1350, 1690),
)


def _syllable(rng: np.random.Generator, rate: int) -> npt.NDArray[np.float64]:
    """One voiced syllable: a glottal pulse train through three formant resonators, windowed."""
    duration = rng.uniform(0.08, 0.25)
    n = max(8, int(duration * rate))
    f0 = rng.uniform(90.0, 250.0) * (
        1 + 0.05 * arithmetic.sin(2 * np.pi * rng.uniform(3, 6) * np.arange(n) / rate)
    )
    phase = np.cumsum(f0 / rate)
    pulses = np.diff(np.floor(phase), prepend=0.0)  # one impulse per glottal period
    sound = pulses
    nyquist = rate / 2
    for formant, bandwidth in zip(VOWELS[rng.integers(len(VOWELS))], (80, 100, 120), strict=True):
        if formant >= 0.9 * nyquist:
            continue
        radius = math.exp(-math.pi * bandwidth / rate)
        theta = 2 * np.pi * formant / rate
        sound = scipy.signal.lfilter(
            [1 - radius], [1, -2 * radius * math.cos(theta), radius**2], sound
        )
    out: npt.NDArray[np.float64] = sound * np.hanning(n)
    return out


@functools.lru_cache(maxsize=8)
def builtin_background(rate: int) -> npt.NDArray[np.float32]:
    """Four 3 s clips of synthetic babble over mains hum at `rate`, each at RMS 0.1.

    Babble: six talkers, each a stream of voiced syllables (glottal pulses at 90-250 Hz through
    vowel formants, 80-250 ms long, with pauses). Hum: 50 Hz mains with its odd harmonics up
    to 450 Hz, 15 dB below the babble. Made from a fixed generator: the same at every call.
    """
    rng = np.random.default_rng(BACKGROUND_SEED)
    length = int(BACKGROUND_SECONDS * rate)
    t = np.arange(length) / rate
    clips = []
    for _ in range(BACKGROUND_CLIPS):
        babble = np.zeros(length)
        for _ in range(TALKERS):
            position = int(rng.uniform(0, 0.3) * rate)
            while position < length:
                syllable = _syllable(rng, rate)
                end = min(length, position + len(syllable))
                babble[position:end] += syllable[: end - position] * rng.uniform(0.5, 1.0)
                position = end + int(rng.uniform(0.02, 0.3) * rate)
        babble /= np.sqrt(np.mean(babble**2))
        hum = np.zeros(length)
        for k in range(1, 10, 2):
            if k * 50.0 < rate / 2:
                hum += arithmetic.sin(2 * np.pi * k * 50.0 * t + rng.uniform(0, 2 * np.pi)) / k
        hum /= np.sqrt(np.mean(hum**2))
        clip = babble + hum * 10 ** (-15 / 20)
        clips.append(0.1 * clip / np.sqrt(np.mean(clip**2)))
    return np.stack(clips).astype(np.float32)


LOOPED_LENGTHS = 8  # clip lengths whose looped backgrounds a bank keeps


class BackgroundBank:
    """Background clips at one sample rate, with looped copies and energies per clip length.

    A stretch of `length` samples from offset o of clip c is a slice of the clip repeated to
    cover o + length; its energy is a difference of the running sum of squares.
    """

    def __init__(self, clips: list[npt.NDArray[np.float32]], rate: int | None) -> None:
        self.clips = clips
        self.rate = rate
        self._looped: dict[int, list[tuple[npt.NDArray[np.float32], FloatArray]]] = {}

    def looped(self, length: int) -> list[tuple[npt.NDArray[np.float32], FloatArray]]:
        """Per clip: the clip repeated to cover any offset plus `length`, and its energy.

        The energy is the running sum of squares (float64, with a leading 0).
        """
        if length not in self._looped:
            made = []
            for clip in self.clips:
                repeated = np.tile(clip, -(-(len(clip) + length) // len(clip)))
                energy = np.concatenate([[0.0], np.cumsum(np.square(repeated, dtype=np.float64))])
                made.append((repeated, energy))
            # keep a few lengths: a run's batches share one, or a few (clips of several lengths)
            if len(self._looped) >= LOOPED_LENGTHS:
                self._looped.pop(next(iter(self._looped)))
            self._looped[length] = made
        return self._looped[length]


@functools.lru_cache(maxsize=8)
def builtin_bank(rate: int) -> BackgroundBank:
    """The built-in babble and hum at `rate` as a bank."""
    return BackgroundBank(list(builtin_background(rate)), rate)


def _folder_signature(folder: Path) -> tuple[tuple[str, int, int], ...]:
    return tuple(
        (str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(folder.rglob("*"))
    )


@functools.lru_cache(maxsize=8)
def _folder_bank(folder: Path, signature: tuple[tuple[str, int, int], ...]) -> BackgroundBank:
    from wince.datasets.readers import WavFolderDataset

    data = WavFolderDataset(folder)
    clips = []
    for clip in data.batch(0, len(data)):
        nonzero = np.flatnonzero(clip)
        if len(nonzero):
            clips.append(np.ascontiguousarray(clip[: nonzero[-1] + 1]))
    if not clips:
        raise DataError(f"every WAV file in {folder} is silent.")
    return BackgroundBank(clips, int(data.sample_rate_hz))


def read_clip_folder(folder: Path, owner: str) -> BackgroundBank:
    """Every WAV file under `folder` as mono float32 (trailing zeros trimmed), with its rate.

    Cached per folder and file sizes and times, so a run that rebuilds the perturbation for
    every batch reads the folder once.

    Raises:
        ParameterError: missing folder, no WAV files, unreadable or silent files, or files at
            different sample rates.
    """
    try:
        return _folder_bank(folder.resolve(), _folder_signature(folder.resolve()))
    except (DataError, OSError) as error:
        raise ParameterError(f"{owner}: clips: {error}") from error


@register
class BackgroundMix(AudioPerturbation):
    """Background sound mixed in at a target SNR: other talkers, a café, a street, a hum.

    `clips` are the backgrounds: an array (k, samples) or a folder of WAV files (mono or
    averaged to mono; they must have the data's sample rate; silent files are skipped). Each
    clip of the batch picks one background and a start offset from its own generator; the
    background loops if it is shorter than the clip. Without `clips`, a built-in synthetic
    background is used: babble of six talkers over 50 Hz mains hum (see `builtin_background`),
    made on the fly at the data's sample rate. The stretch of background is scaled per clip to
    the requested SNR against the clip's level (a silent stretch adds nothing): its RMS, or
    with `level="active"` its active speech level (ITU-T P.56, see `AdditiveNoise`).

    Why this range: Pearsons, Bennett and Fidell (1977, "Speech Levels in Various Noise
    Environments", US EPA report EPA-600/1-77-025) measured everyday conversations in homes,
    classrooms, hospitals and department stores at signal-to-noise ratios of about 5-15 dB, and
    on trains and aircraft at about -1 to -2 dB. The range runs from a faint background (30 dB,
    mild) to one as loud as the speech (0 dB, severe), which covers those measurements.

    Args:
        clips: background clips: an array (k, samples) at the data's sample rate, a path to a
            folder of WAV files, or None for the built-in babble and hum.
        level: the signal level the SNR is set against: "rms" or "active".
    """

    name = "audio.background"
    family = "audio.noise"
    phrase = Phrase(lambda v: f"background sounds mixed in at a signal-to-noise ratio of {v:g} dB")
    version = 1
    stochastic = True
    magnitude = snr_magnitude(mild=30.0)
    value_check = "blocks"

    def __init__(self, *, clips: Any = None, level: str = "rms") -> None:
        self.clips = clips
        self.level = check_choice(self.name, "level", level, SIGNAL_LEVELS)
        self._bank: BackgroundBank | None = None
        if clips is None:
            return
        if isinstance(clips, str | Path):
            self._bank = read_clip_folder(Path(clips), self.name)
            return
        array = np.asarray(clips)
        if array.ndim == 1:
            array = array[None]
        if array.ndim != 2 or array.dtype.kind not in "fiu" or array.size == 0:
            raise ParameterError(
                f"{self.name}: clips must be an array (k, samples) of audio, a folder of WAV "
                f"files or None; got {getattr(clips, 'shape', type(clips).__name__)}."
            )
        array = array.astype(np.float32)
        if not np.all(np.isfinite(array)):
            raise ParameterError(f"{self.name}: clips must be finite; found NaN or inf.")
        audible = [clip for clip in array if np.any(clip)]
        if not audible:
            raise ParameterError(f"{self.name}: clips are all silent; give audible backgrounds.")
        self._bank = BackgroundBank(audible, None)

    def bank(self, rate: int) -> BackgroundBank:
        """The background clips at `rate` (the built-in ones are made for it).

        Raises:
            DataError: the WAV folder's sample rate differs from the data's.
        """
        if self._bank is None:
            return builtin_bank(rate)
        if self._bank.rate is not None and self._bank.rate != rate:
            raise DataError(
                f"{self.name}: the background WAV files are at {self._bank.rate} Hz but the "
                f"data is at {rate} Hz; resample the backgrounds to {rate} Hz."
            )
        return self._bank

    def apply(self, x: Batch, value: float, rngs: Rngs, context: DataContext) -> Batch:
        """Mix a looped stretch of a background into every clip at the requested SNR."""
        rate = self.rate(context)
        bank = self.bank(rate)
        length = x.shape[1]
        choices = []
        for g in rngs:
            clip = int(g.integers(len(bank.clips)))
            choices.append((clip, int(g.integers(len(bank.clips[clip])))))
        looped = bank.looped(length)
        attenuation = 10.0 ** (-value / 20.0)

        def add(block: Audio, out: Audio, rows: slice) -> None:
            signal = signal_level(block, self.level, rate)[:, 0]
            for j, (clip, offset) in enumerate(choices[rows]):
                repeated, energy = looped[clip]
                stretch = energy[offset + length] - energy[offset]
                if stretch <= 0 or length == 0:
                    out[j] = block[j]
                    continue
                gain = signal[j] / math.sqrt(stretch / length) * attenuation
                np.multiply(repeated[offset : offset + length], out.dtype.type(gain), out=out[j])
                out[j] += block[j]
            np.clip(out, -1.0, 1.0, out=out)

        return self.blockwise(x, add)
