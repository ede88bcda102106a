"""The audio gallery: every audio perturbation at three severities, as WAV clips and spectrograms.

Two clips, both synthesised here (no recording ships with wince): a speech-like phrase at
16 kHz (`speech_like`: a voice of glottal pulses at a falling pitch through vowel formants,
with hissed and burst consonants between the syllables) and a key press from the audio demo
at 8 kHz (`wince.demo.dtmf.synthesise`, key 1). Each perturbation is applied to each clip at
the mild, moderate and severe points of its realistic range (`realistic_points`; random ones
draw from seed 0, so the gallery is the same on every machine). The folder `audio/` gets a
16-bit PCM WAV file of every clip (`<perturbation>-<point>-<clip>.wav`, the clips as made
`original-<clip>.wav`) and its spectrogram (`.png`, see `spectrogram_image`); `audio.html`
plays the WAVs in `<audio>` elements next to their spectrograms.
"""

from __future__ import annotations

import html
import wave
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import scipy.signal
from PIL import Image

from wince.errors import ParameterError
from wince.perturbations.base import DataContext, Modality, Perturbation
from wince.perturbations.gallery import (
    GALLERY_SEED,
    Advance,
    gallery_rngs,
    no_progress,
    page_section,
    perturbations_of,
    realistic_points,
)
from wince.terminal import ProgressReporter

PAGE_NAME = "audio.html"
CLIP_FOLDER = "audio"
SPEECH_RATE_HZ = 16_000
SPEECH_S = 2.0  # length of the speech-like clip
MIN_SPEECH_S = 0.2
SPEECH_PEAK = 0.5  # its peak amplitude (-6 dBFS)
SPEECH_SEED = 7

# Vowel formants (F1, F2, F3 in Hz) of an adult male voice, after Peterson & Barney (1952).
VOWEL_FORMANTS_HZ = {
    "a": (730.0, 1090.0, 2440.0),
    "e": (530.0, 1840.0, 2480.0),
    "i": (270.0, 2290.0, 3010.0),
    "o": (570.0, 840.0, 2410.0),
    "u": (300.0, 870.0, 2240.0),
}
FORMANT_BANDWIDTHS_HZ = (80.0, 100.0, 120.0)
SYLLABLE_S = (0.12, 0.22)  # vowel durations are drawn from this range
CONSONANT_S = (0.03, 0.09)  # as are the consonants' (a hiss or a silence ended by a burst)

# Spectrograms: a 32 ms Hann window every 8 ms, levels from FLOOR_DB to 0 dB re full scale.
WINDOW_S = 0.032
HOP_S = 0.008
FLOOR_DB = -100.0
# Colour scale from dark (FLOOR_DB) to bright (0 dB): anchors of matplotlib's "magma", in RGB.
COLOUR_ANCHORS = np.array(
    [
        (0, 0, 4),
        (28, 16, 68),
        (79, 18, 123),
        (129, 37, 129),
        (181, 54, 122),
        (229, 80, 100),
        (251, 135, 97),
        (254, 194, 135),
        (252, 253, 191),
    ],
    dtype=np.float64,
)

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #141414; }
table { border-collapse: collapse; margin-bottom: 2em; }
th, td { border: 1px solid #ccc; padding: 0.4em; vertical-align: top; text-align: left; }
th { background: #f2f2f2; font-weight: normal; }
img { display: block; height: 160px; image-rendering: pixelated; }
audio { width: 240px; }
"""

Clip = npt.NDArray[np.float32]


@dataclass(frozen=True)
class GalleryClip:
    """A clip the audio gallery perturbs: a short name for file names, a caption, the samples."""

    name: str
    caption: str
    samples: Clip
    rate_hz: int


def speech_like(duration_s: float = SPEECH_S, seed: int = SPEECH_SEED) -> Clip:
    """A speech-like phrase at 16 kHz, `duration_s` long, peaking at -6 dBFS.

    Vowels of 120-220 ms (glottal pulses through three formant resonators) alternate with
    consonants of 30-90 ms: a hiss (noise above 3.5 kHz, like "s") or a silence ended by a
    burst (like "t"). The pitch falls from 140 to 95 Hz over the phrase, with a small rise in
    each syllable. Drawn from a fixed generator: the same clip at every call.

    Returns:
        Samples (n,) float32 in [-1, 1], n = round(duration_s * 16000).

    Raises:
        ParameterError: `duration_s` shorter than `MIN_SPEECH_S`.
    """
    if not duration_s >= MIN_SPEECH_S:
        raise ParameterError(
            f"gallery: the speech-like clip must last at least {MIN_SPEECH_S:g} s (a syllable); "
            f"got {duration_s!r} s."
        )
    rng = np.random.default_rng(seed)
    rate = SPEECH_RATE_HZ
    length = round(duration_s * rate)
    pitch_hz = np.linspace(140.0, 95.0, length)
    clip = np.zeros(length)
    start = round(rng.uniform(*CONSONANT_S) * rate)
    while start < length:
        vowel = rng.choice(sorted(VOWEL_FORMANTS_HZ))
        end = min(length, start + round(rng.uniform(*SYLLABLE_S) * rate))
        clip[start:end] = _vowel(VOWEL_FORMANTS_HZ[vowel], pitch_hz[start:end], rate)
        if end == length:
            break
        consonant = round(rng.uniform(*CONSONANT_S) * rate)
        stop = min(length, end + consonant)
        if rng.uniform() < 0.5:
            clip[end:stop] = _hiss(stop - end, rate, rng)
        else:
            burst = min(stop - end, round(0.01 * rate))
            clip[stop - burst : stop] = _hiss(burst, rate, rng) * 2.0
        start = stop
    peak = float(np.max(np.abs(clip)))
    return np.asarray(SPEECH_PEAK * clip / peak, dtype=np.float32)


def _vowel(
    formants_hz: Sequence[float], pitch_hz: npt.NDArray[np.float64], rate: int
) -> npt.NDArray[np.float64]:
    """A vowel: glottal pulses at `pitch_hz` (rising 10% over the vowel) through resonators."""
    rise = np.linspace(1.0, 1.1, len(pitch_hz))
    phase = np.cumsum(pitch_hz * rise / rate)
    pulses = np.diff(np.floor(phase), prepend=0.0)  # 1 at the start of each glottal period
    source = scipy.signal.lfilter([1.0], [1.0, -0.95], pulses)  # the glottis's spectral tilt
    for formant, bandwidth in zip(formants_hz, FORMANT_BANDWIDTHS_HZ, strict=True):
        radius = np.exp(-np.pi * bandwidth / rate)
        angle = 2 * np.pi * formant / rate
        denominator = [1.0, -2 * radius * np.cos(angle), radius**2]
        source = scipy.signal.lfilter([sum(denominator)], denominator, source)
    ramp = np.sin(np.linspace(0.0, np.pi, len(source)))  # a syllable's swell and fade
    return np.asarray(source * ramp, dtype=np.float64)


def _hiss(length: int, rate: int, rng: np.random.Generator) -> npt.NDArray[np.float64]:
    """Noise above 3.5 kHz, `length` samples, at about a tenth of a vowel's level."""
    high_pass = scipy.signal.butter(4, 3500.0, "highpass", fs=rate, output="sos")
    noise = scipy.signal.sosfilt(high_pass, rng.standard_normal(length))
    return np.asarray(0.3 * noise * np.hanning(length), dtype=np.float64)


def gallery_clips(speech_s: float = SPEECH_S) -> list[GalleryClip]:
    """The clips the audio gallery perturbs: the speech-like phrase and a DTMF key press."""
    from wince.demo.dtmf import RATE_HZ, synthesise

    key_presses, keys = synthesise(presses_per_key=1)
    return [
        GalleryClip(
            "speech",
            f"speech-like phrase ({SPEECH_RATE_HZ / 1000:g} kHz, synthesised)",
            speech_like(speech_s),
            SPEECH_RATE_HZ,
        ),
        GalleryClip(
            "dtmf",
            f"key {keys[0]} pressed on a telephone line ({RATE_HZ / 1000:g} kHz, the audio demo)",
            key_presses[0],
            RATE_HZ,
        ),
    ]


def write_wav(path: Path, samples: Clip, rate_hz: int) -> None:
    """`samples` (floats in [-1, 1], clipped) as a mono 16-bit PCM WAV file at `rate_hz`."""
    pcm = np.round(np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as file:
        file.setnchannels(1)
        file.setsampwidth(2)
        file.setframerate(rate_hz)
        file.writeframes(pcm.tobytes())


def spectrogram_db(samples: Clip, rate_hz: int) -> npt.NDArray[np.float64]:
    """Level in dB re full scale (a full-scale sine reads 0 dB), floored at `FLOOR_DB`.

    Returns:
        Shape (bins, frames): row 0 is the highest frequency (half the sample rate), the last
        row 0 Hz; one column per 8 ms hop of a 32 ms Hann window (a clip shorter than the
        window is padded with silence to one frame).
    """
    window_length = round(WINDOW_S * rate_hz)
    hop = round(HOP_S * rate_hz)
    padded = np.pad(samples.astype(np.float64), (0, max(0, window_length - len(samples))))
    frames = np.lib.stride_tricks.sliding_window_view(padded, window_length)[::hop]
    window = np.hanning(window_length)
    amplitude = np.abs(np.fft.rfft(frames * window, axis=1)) / (window.sum() / 2)
    level = 20 * np.log10(np.maximum(amplitude, 10 ** (FLOOR_DB / 20)))
    return np.asarray(level.T[::-1], dtype=np.float64)


def spectrogram_image(samples: Clip, rate_hz: int) -> Image.Image:
    """The spectrogram as an RGB image: one pixel per bin and frame (`spectrogram_db`).

    Levels from `FLOOR_DB` (dark) to 0 dB (bright) follow the same colour scale in every
    image, so images of one clip compare. Size: (frames, bins) = (1 + (n - w) // h, w // 2 + 1)
    for n samples, window w and hop h in samples (n at least w).
    """
    level = spectrogram_db(samples, rate_hz)
    position = np.linspace(0.0, 1.0, len(COLOUR_ANCHORS))
    scale = np.stack(
        [np.interp(np.linspace(0.0, 1.0, 256), position, c) for c in COLOUR_ANCHORS.T], axis=1
    )
    index = np.round((level - FLOOR_DB) / -FLOOR_DB * 255).astype(np.intp)
    return Image.fromarray(np.round(scale[index]).astype(np.uint8), mode="RGB")


def _write_clip(folder: Path, stem: str, samples: Clip, rate_hz: int) -> list[Path]:
    """`<stem>.wav` and its spectrogram `<stem>.png` in `folder`."""
    wav, png = folder / f"{stem}.wav", folder / f"{stem}.png"
    write_wav(wav, samples, rate_hz)
    spectrogram_image(samples, rate_hz).save(png, optimize=True)
    return [wav, png]


def _cell(stem: str, label: str) -> str:
    """A table cell playing `audio/<stem>.wav` above its spectrogram."""
    source = f"{CLIP_FOLDER}/{stem}"
    return (
        f"<td>{label}<br>"
        f'<audio controls preload="none" src="{source}.wav"></audio>'
        f'<img src="{source}.png" alt="spectrogram of {html.escape(stem)}"></td>'
    )


def perturbation_section(
    cls: type[Perturbation],
    clips: Sequence[GalleryClip],
    folder: Path,
    advance: Advance = no_progress,
) -> tuple[str, list[Path]]:
    """One perturbation's files (each clip at three severities) and its HTML section."""
    perturbation = cls()
    magnitude = cls.magnitude
    points = realistic_points(magnitude)
    written: list[Path] = []
    rows = []
    for index, clip in enumerate(clips):
        context = DataContext(Modality.AUDIO, sample_rate_hz=clip.rate_hz)
        cells = [_cell(f"original-{clip.name}", html.escape(clip.caption))]
        for label, value in points:
            rngs = gallery_rngs(cls, [index])
            perturbed = perturbation.perturb(clip.samples[None], value, rngs, context)[0]
            stem = f"{cls.name}-{label}-{clip.name}"
            written += _write_clip(folder, stem, perturbed, clip.rate_hz)
            cells.append(_cell(stem, f"<b>{label}</b>"))
            advance(1)
        rows.append("<tr>" + "".join(cells) + "</tr>")
    headers = ["as made"] + [
        f"<b>{label}</b>: {magnitude.name} = {value:g} ({html.escape(magnitude.unit)})"
        for label, value in points
    ]
    return page_section(cls, headers, rows), written


def render_audio_gallery(
    directory: str | Path,
    names: Sequence[str] | None = None,
    *,
    speech_s: float = SPEECH_S,
    progress: bool = False,
) -> list[Path]:
    """Write the audio gallery into `directory`: clips under `audio/`, the page `audio.html`.

    Args:
        directory: where the page and the `audio/` folder go (created if missing).
        names: the audio perturbations to render; default every registered one.
        speech_s: length of the speech-like clip in seconds (the key press is 0.3 s).
        progress: show a progress bar counting perturbed clips, with ETA.

    Returns:
        The WAV and PNG files written (the clips as made first), then the page.
    """
    chosen = perturbations_of(Modality.AUDIO, names)
    clips = gallery_clips(speech_s)
    out = Path(directory)
    folder = out / CLIP_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for clip in clips:
        written += _write_clip(folder, f"original-{clip.name}", clip.samples, clip.rate_hz)
    sections = []
    total = len(chosen) * len(realistic_points(chosen[0].magnitude)) * len(clips)
    with ProgressReporter(total, enabled=progress, title="Audio gallery", unit="clips") as bar:
        for cls in chosen:
            section, files = perturbation_section(cls, clips, folder, bar.advance)
            sections.append(section)
            written += files
    contents = "".join(f'<li><a href="#{cls.name}">{cls.name}</a></li>' for cls in chosen)
    page = "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            '<head><meta charset="utf-8"><title>wince audio perturbation gallery</title>',
            f"<style>{STYLE}</style></head>",
            "<body>",
            "<h1>Audio perturbations</h1>",
            "<p>Two synthesised clips, as made and at the mild, moderate and severe points of "
            "each perturbation's realistic range (random draws from seed "
            f"{GALLERY_SEED}). Spectrograms: time to the right ({HOP_S * 1000:g} ms a pixel), "
            "frequency upwards from 0 Hz to half the sample rate, level from "
            f"{FLOOR_DB:g} dB (dark) to 0 dB re full scale (bright).</p>",
            f"<ul>{contents}</ul>",
            *sections,
            "</body>",
            "</html>",
            "",
        ]
    )
    path = out / PAGE_NAME
    path.write_text(page, encoding="utf-8")
    return [*written, path]
