"""The audio defences, each measured against an independent computation (numpy FFT, RMS)."""

from __future__ import annotations

import numpy as np
import pytest

from wince.defences import CleanData, applicable, create
from wince.errors import DataError, ParameterError
from wince.perturbations import DataContext, Modality, RaggedBatch

RATE = 8000
SECONDS = 1.0


def tone(hz: float, amplitude: float = 0.3, seconds: float = SECONDS) -> np.ndarray:
    """A sine of `hz` Hz at RATE: a whole number of cycles, so it falls on one FFT bin."""
    t = np.arange(round(seconds * RATE)) / RATE
    return amplitude * np.sin(2 * np.pi * hz * t + 0.4)


def fitted(name: str, params: dict | None = None, rate: int = RATE):
    defence = create(name, params)
    context = DataContext(Modality.AUDIO, sample_rate_hz=rate)
    defence.fit(None, CleanData(np.zeros((1, RATE), np.float32), None, context))
    return defence


def rms_dbfs(clip: np.ndarray) -> float:
    return float(20 * np.log10(np.sqrt(np.mean(np.asarray(clip, dtype=np.float64) ** 2))))


def bin_of(clip: np.ndarray, hz: float) -> complex:
    """The FFT coefficient of a 1 s clip at `hz` (1 Hz bins)."""
    return complex(np.fft.rfft(np.asarray(clip, dtype=np.float64))[round(hz * SECONDS)])


def gain_db(before: np.ndarray, after: np.ndarray, hz: float) -> float:
    return float(20 * np.log10(abs(bin_of(after, hz)) / abs(bin_of(before, hz))))


def snr_db(reference: np.ndarray, clip: np.ndarray) -> float:
    error = np.asarray(clip, dtype=np.float64) - reference
    return float(10 * np.log10(np.sum(reference**2) / np.sum(error**2)))


def test_the_registry_offers_the_audio_defences_for_audio_only():
    audio = {"audio.loudness", "audio.bandlimit", "audio.denoise"}
    for task in ("classification", "regression"):
        assert audio <= set(applicable(task, "audio"))
    for modality in ("image", "tabular", "text", "timeseries"):
        assert not audio & set(applicable("classification", modality))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_loudness_brings_each_clip_to_the_target_rms(dtype):
    rng = np.random.default_rng(3)
    clips = np.stack([tone(440, 0.01), tone(1000, 0.9), 0.05 * rng.standard_normal(RATE)])
    x = np.clip(clips, -1, 1).astype(dtype)
    original = x.copy()
    for target in (-20.0, -32.5):
        y = create("audio.loudness", {"target_dbfs": target}).transform(x)
        assert y.dtype == dtype
        assert y.shape == x.shape
        for clip in y:
            assert rms_dbfs(clip) == pytest.approx(target, abs=0.1)
        # a gain per clip, nothing else
        gains = [10 ** ((target - rms_dbfs(clip)) / 20) for clip in x]
        np.testing.assert_allclose(y, x * np.array(gains)[:, None], rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(x, original)  # the input is not changed


def test_loudness_limits_the_peak_instead_of_clipping():
    spiky = np.zeros(RATE)
    spiky[::800] = 0.5  # ten clicks: RMS -35 dBFS, peak -6 dBFS
    y = create("audio.loudness", {"target_dbfs": -10.0}).transform(spiky[None])[0]
    assert np.abs(y).max() == pytest.approx(1.0, abs=1e-12)
    assert np.abs(y).max() <= 1.0
    np.testing.assert_allclose(y, 2 * spiky)  # scaled to full scale, shape kept
    assert rms_dbfs(y) < -10.0  # the target yields to the peak


def test_loudness_leaves_silence_alone():
    silent = np.zeros((2, RATE), np.float32)
    silent[1, 10] = 1e-7  # far below -100 dBFS RMS
    np.testing.assert_array_equal(create("audio.loudness").transform(silent), silent)


def test_loudness_works_on_clips_of_several_lengths():
    x = RaggedBatch([tone(500, 0.02, 0.5), tone(700, 0.4, 1.0), tone(900, 0.1, 0.5)])
    y = create("audio.loudness", {"target_dbfs": -18.0}).transform(x)
    assert isinstance(y, RaggedBatch)
    assert y.shapes == x.shapes
    for clip in y:
        assert rms_dbfs(clip) == pytest.approx(-18.0, abs=0.1)


def test_bandlimit_passes_the_band_and_removes_what_lies_outside():
    band = fitted("audio.bandlimit")  # the telephone band, 300-3400 Hz
    x = np.stack([tone(hz) for hz in (60, 150, 1000, 2500, 3800)]).astype(np.float32)
    y = band.transform(x)
    assert y.dtype == np.float32
    gains = {hz: gain_db(x[i], y[i], hz) for i, hz in enumerate((60, 150, 1000, 2500, 3800))}
    assert gains[60] < -20
    assert gains[150] < -20
    assert gains[3800] < -20
    assert abs(gains[1000]) < 1
    assert abs(gains[2500]) < 1
    # zero phase: the in-band tone is not delayed
    phase = np.angle(bin_of(y[2], 1000) / bin_of(x[2], 1000))
    assert abs(phase) < 0.01


def test_bandlimit_without_a_lower_edge_is_a_low_pass():
    low_pass = fitted("audio.bandlimit", {"low_hz": 0, "high_hz": 1000})
    x = np.stack([tone(60), tone(2000)])
    y = low_pass.transform(x)
    assert abs(gain_db(x[0], y[0], 60)) < 1
    assert gain_db(x[1], y[1], 2000) < -20


def test_bandlimit_refuses_a_band_beyond_nyquist_and_needs_the_sample_rate():
    with pytest.raises(ParameterError, match=r"Nyquist frequency of the data, 4000 Hz"):
        fitted("audio.bandlimit", {"high_hz": 4000})
    fitted("audio.bandlimit", {"high_hz": 4000}, rate=16000)  # fine at 16 kHz
    with pytest.raises(ParameterError, match=r"high_hz .* must lie above low_hz"):
        create("audio.bandlimit", {"low_hz": 3400, "high_hz": 300})
    with pytest.raises(ParameterError, match="order must be a whole number"):
        create("audio.bandlimit", {"order": 0})
    with pytest.raises(ParameterError, match="low_hz must be a finite number of Hz"):
        create("audio.bandlimit", {"low_hz": -5})
    with pytest.raises(DataError, match="not fitted"):
        create("audio.bandlimit").transform(tone(1000)[None])
    with pytest.raises(DataError, match="needs the data's sample rate"):
        create("audio.bandlimit").fit(
            None, CleanData(np.zeros((1, 10)), None, DataContext(Modality.AUDIO))
        )


def test_denoise_raises_the_snr_of_a_tone_in_white_noise():
    clean = tone(1000, 0.3)
    rng = np.random.default_rng(7)
    noise = rng.standard_normal(len(clean))
    noise *= np.sqrt(np.mean(clean**2) / np.mean(noise**2)) * 10 ** (-5 / 20)  # 5 dB SNR
    noisy = (clean + noise).astype(np.float32)
    assert snr_db(clean, noisy) == pytest.approx(5.0, abs=0.01)
    denoise = fitted("audio.denoise")
    out = denoise.transform(noisy[None])[0]
    assert out.dtype == np.float32
    assert snr_db(clean, out) > 5.0 + 3.0
    # the tone itself survives: within 1 dB at its bin
    assert abs(gain_db(clean, out, 1000)) < 1


def test_denoise_leaves_a_clean_tone_nearly_unchanged():
    clean = np.stack([tone(1000, 0.3), tone(697, 0.2) + tone(1209, 0.2)])
    out = fitted("audio.denoise").transform(clean)
    assert out.dtype == np.float64
    # what changes is the tones' own spectral leakage far from them: 30 dB and more below
    for before, after in zip(clean, out, strict=True):
        assert snr_db(before, after) > 30
    for hz in (697, 1209):
        assert abs(gain_db(clean[1], out[1], hz)) < 0.1


def test_denoise_is_deterministic_and_keeps_its_input():
    rng = np.random.default_rng(1)
    x = (0.1 * rng.standard_normal((3, RATE)) + tone(852)).astype(np.float32)
    original = x.copy()
    first = fitted("audio.denoise").transform(x)
    second = fitted("audio.denoise", {"seed": 9}).transform(x)
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(x, original)
    assert np.abs(first).max() <= 1.0


def test_denoise_options_are_in_db_and_checked():
    stronger = fitted("audio.denoise", {"reduction_db": 40})
    weaker = fitted("audio.denoise", {"reduction_db": 6})
    rng = np.random.default_rng(2)
    noise = 0.05 * rng.standard_normal((1, RATE))
    # noise alone: no bin loses more than reduction_db, and a larger reduction removes more
    level, weak, strong = (
        rms_dbfs(c) for c in (noise, weaker.transform(noise), stronger.transform(noise))
    )
    assert level - 6.1 < weak < level - 3
    assert strong < weak - 3
    for option, value in [("reduction_db", 0), ("reduction_db", 70), ("threshold_db", -1)]:
        with pytest.raises(ParameterError, match=option):
            create("audio.denoise", {option: value})
    with pytest.raises(ParameterError, match="did you mean 'reduction_db'"):
        create("audio.denoise", {"reduction": 10})


def test_audio_defences_refuse_what_is_not_an_audio_batch():
    with pytest.raises(DataError, match=r"audio batches have shape \(n, samples\)"):
        create("audio.loudness").transform(tone(440))
    with pytest.raises(DataError, match="must be float32"):
        create("audio.loudness").transform(np.zeros((1, 100), np.int16))
    with pytest.raises(ParameterError, match="target_dbfs must be a finite number of dBFS"):
        create("audio.loudness", {"target_dbfs": 3})


def test_fitted_state_records_the_sample_rate():
    description = fitted("audio.denoise", rate=16000).describe()
    assert description["fitted"] == {"sample_rate_hz": 16000}
    assert description["options"] == {"reduction_db": 20.0, "threshold_db": 6.0, "seed": 0}
