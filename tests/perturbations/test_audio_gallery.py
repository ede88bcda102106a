"""The audio gallery: WAV clips at three severities, their spectrograms, and a page playing them."""

from __future__ import annotations

import re
import wave
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from wince.errors import ParameterError
from wince.perturbations.audio_gallery import (
    SPEECH_RATE_HZ,
    render_audio_gallery,
    spectrogram_db,
    speech_like,
)

NAMES = ["audio.gain", "audio.tempo"]
SPEECH_S = 0.5


def read_wav(path: Path) -> tuple[int, np.ndarray]:
    with wave.open(str(path), "rb") as file:
        assert (file.getnchannels(), file.getsampwidth()) == (1, 2)
        pcm = np.frombuffer(file.readframes(file.getnframes()), dtype="<i2")
        return file.getframerate(), pcm / 32767


@pytest.fixture(scope="module")
def gallery(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("audio")
    render_audio_gallery(directory, NAMES, speech_s=SPEECH_S)
    return directory


def test_clips_are_valid_wav_files_at_their_rates_and_lengths(gallery) -> None:
    clips = gallery / "audio"
    for stem in ["original", "audio.gain-mild", "audio.tempo-severe"]:
        rate, speech = read_wav(clips / f"{stem}-speech.wav")
        assert (rate, len(speech)) == (16000, 8000)
        rate, key_press = read_wav(clips / f"{stem}-dtmf.wav")
        assert (rate, len(key_press)) == (8000, 2400)


def test_the_severe_gain_clip_is_30_db_quieter(gallery) -> None:
    _, original = read_wav(gallery / "audio" / "original-speech.wav")
    _, quieter = read_wav(gallery / "audio" / "audio.gain-severe-speech.wav")
    ratio_db = 20 * np.log10(np.sqrt(np.mean(quieter**2) / np.mean(original**2)))
    assert ratio_db == pytest.approx(-30.0, abs=0.05)


def test_spectrograms_have_a_pixel_per_frame_and_frequency_bin(gallery) -> None:
    # 0.5 s at 16 kHz: 8000 samples, 512-sample window every 128: 59 frames, 257 bins
    with Image.open(gallery / "audio" / "audio.gain-moderate-speech.png") as image:
        assert (image.size, image.mode) == ((59, 257), "RGB")
    # the key press, 2400 samples at 8 kHz: 256-sample window every 64: 34 frames, 129 bins
    with Image.open(gallery / "audio" / "original-dtmf.png") as image:
        assert image.size == (34, 129)


def test_the_page_plays_every_clip_next_to_its_spectrogram(gallery) -> None:
    page = (gallery / "audio.html").read_text(encoding="utf-8")
    sources = re.findall(r'<audio controls preload="none" src="([^"]+)"></audio>', page)
    images = re.findall(r'<img src="([^"]+)"', page)
    # per perturbation: two clips, each as made and at three severities
    assert len(sources) == len(images) == len(NAMES) * 2 * 4
    assert [s.removesuffix(".wav") for s in sources] == [i.removesuffix(".png") for i in images]
    assert "audio/audio.tempo-moderate-dtmf.wav" in sources
    for source in sources + images:
        assert (gallery / source).is_file()
    for name in NAMES:
        assert f'<section id="{name}">' in page
    assert "<b>severe</b>: gain_db = -30 (dB)" in page


def test_a_full_scale_sine_reads_0_db_at_its_frequency() -> None:
    t = np.arange(SPEECH_RATE_HZ) / SPEECH_RATE_HZ
    sine = np.sin(2 * np.pi * 1000.0 * t).astype(np.float32)
    level = spectrogram_db(sine, SPEECH_RATE_HZ)
    # 31.25 Hz bins, 1000 Hz is bin 32; rows run from the highest frequency down to 0 Hz
    assert level.shape[0] == 257
    loudest = np.argmax(level, axis=0)
    assert set(loudest.tolist()) == {256 - 32}
    assert level[256 - 32].mean() == pytest.approx(0.0, abs=0.01)
    assert level[256 - 100].max() < -60.0


def test_the_speech_like_clip_is_voiced_at_a_speaking_pitch() -> None:
    clip = speech_like(1.0)
    assert clip.shape == (16000,)
    assert clip.dtype == np.float32
    assert float(np.max(np.abs(clip))) == pytest.approx(0.5, rel=1e-6)
    spectrum = np.abs(np.fft.rfft(clip))
    low = spectrum[50:400]  # 50-400 Hz in 1 Hz bins: the voice's fundamental lies here
    assert 90 <= 50 + int(np.argmax(low[:100])) <= 150
    np.testing.assert_array_equal(clip, speech_like(1.0))
    with pytest.raises(ParameterError, match=r"at least 0\.2 s"):
        speech_like(0.0)


def test_two_renders_write_identical_files(tmp_path) -> None:
    first = render_audio_gallery(tmp_path / "a", ["audio.reverb"], speech_s=SPEECH_S)
    second = render_audio_gallery(tmp_path / "b", ["audio.reverb"], speech_s=SPEECH_S)
    assert [p.relative_to(tmp_path / "a") for p in first] == [
        p.relative_to(tmp_path / "b") for p in second
    ]
    for a, b in zip(first, second, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name
