"""Audio perturbations: each test measures the physical quantity the parameter names."""

from __future__ import annotations

import math
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.signal

from wince.errors import DataError, ParameterError, RealismWarning
from wince.perturbations import DataContext, Modality, Rngs, get
from wince.perturbations.audio import log_spectral_distance, relative_rms_error, snr_db
from wince.perturbations.audio.base import active_level
from wince.perturbations.audio.channel import (
    BandPass,
    HighPass,
    LowPass,
    Reverb,
    SampleRateReduction,
)
from wince.perturbations.audio.codec import Mp3
from wince.perturbations.audio.level import BitDepth, Clipping, Gain
from wince.perturbations.audio.noise import AdditiveNoise, BackgroundMix
from wince.perturbations.audio.timing import Dropouts, PitchShift, Tempo, TimeShift

RATE = 16_000
CONTEXT = DataContext(Modality.AUDIO, sample_rate_hz=RATE)
unrealistic = pytest.mark.filterwarnings("ignore::wince.errors.RealismWarning")


def rngs_for(n: int, seed: int) -> Rngs:
    return Rngs.for_samples([f"clip-{i}" for i in range(n)], seed=seed, step="test")


def times(seconds: float, rate: int = RATE) -> np.ndarray:
    t: np.ndarray = np.arange(round(seconds * rate)) / rate
    return t


def tones(frequencies: list[float], seconds: float = 1.0, amplitude: float = 0.1) -> np.ndarray:
    t = times(seconds)
    clips: np.ndarray = amplitude * np.sin(2 * np.pi * np.asarray(frequencies)[:, None] * t)
    return clips.astype(np.float32)


def speech_like(n: int, seconds: float = 1.0) -> np.ndarray:
    """Quiet syllable-rate modulated harmonic tones (no clipping at any SNR tested)."""
    t = times(seconds)
    clips = []
    for i in range(n):
        f0 = 110 + 35 * i
        envelope = 0.5 * (1 + np.sin(2 * np.pi * (3 + i) * t))
        clips.append(0.05 * envelope * sum(np.sin(2 * np.pi * k * f0 * t) / k for k in (1, 2, 3)))
    return np.stack(clips).astype(np.float32)


def measured_snr_db(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    noise = y.astype(np.float64) - x
    result: np.ndarray = 10 * np.log10(np.sum(x.astype(np.float64) ** 2, 1) / np.sum(noise**2, 1))
    return result


def peak_frequency(clip: np.ndarray, rate: int = RATE) -> float:
    """FFT peak with parabolic interpolation, in Hz."""
    spectrum = np.abs(np.fft.rfft(clip * np.hanning(len(clip))))
    k = int(np.argmax(spectrum[1:-1])) + 1
    a, b, c = np.log(spectrum[k - 1 : k + 2])
    return float((k + 0.5 * (a - c) / (a - 2 * b + c)) * rate / len(clip))


# ---------------------------------------------------------------------------------------------
# Noise and background at an SNR


@pytest.mark.parametrize("colour", ["white", "pink", "brown"])
@pytest.mark.parametrize("snr", [0.0, 10.0, 30.0])
def test_noise_hits_the_requested_snr_for_every_colour(colour: str, snr: float, seed: int) -> None:
    x = speech_like(4)
    out = AdditiveNoise(colour=colour).perturb(x, snr, rngs_for(4, seed), CONTEXT)
    np.testing.assert_allclose(measured_snr_db(x, out), snr, atol=0.2)


@unrealistic
@pytest.mark.parametrize(("colour", "slope"), [("white", 0.0), ("pink", -1.0), ("brown", -2.0)])
def test_noise_colour_has_its_spectral_slope(colour: str, slope: float, seed: int) -> None:
    x = np.zeros((1, 4 * RATE), np.float32)
    x[0, :] = 1e-3 * np.sin(2 * np.pi * 5 * times(4.0))  # a quiet carrier sets the noise level
    out = AdditiveNoise(colour=colour).perturb(x, -20.0, rngs_for(1, seed), CONTEXT)
    freqs, power = scipy.signal.welch(out[0] - x[0], fs=RATE, nperseg=4096)
    band = (freqs >= 100) & (freqs <= 4000)
    fitted = np.polyfit(np.log10(freqs[band]), np.log10(power[band]), 1)[0]
    assert fitted == pytest.approx(slope, abs=0.15)


def test_background_hits_the_requested_snr_with_builtin_and_given_clips(seed: int) -> None:
    x = speech_like(6)
    builtin = BackgroundMix()
    out = builtin.perturb(x, 5.0, rngs_for(6, seed), CONTEXT)
    np.testing.assert_allclose(measured_snr_db(x, out), 5.0, atol=0.2)
    hum = 0.3 * np.sin(2 * np.pi * 60 * times(0.37))[None].astype(np.float32)
    given = BackgroundMix(clips=hum)
    out = given.perturb(x, 12.0, rngs_for(6, seed), CONTEXT)
    np.testing.assert_allclose(measured_snr_db(x, out), 12.0, atol=0.2)
    # the added sound is the 60 Hz hum, looped over the whole clip
    assert peak_frequency(out[0] - x[0]) == pytest.approx(60.0, abs=1.0)


def write_wav(path: Path, signal: np.ndarray, rate: int) -> None:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(np.rint(signal * 32767).astype("<i2").tobytes())


def test_background_reads_a_folder_of_wavs_and_checks_its_rate(tmp_path: Path, seed: int) -> None:
    write_wav(tmp_path / "fan.wav", 0.2 * np.sin(2 * np.pi * 250 * times(0.5)), RATE)
    x = speech_like(3)
    out = BackgroundMix(clips=str(tmp_path)).perturb(x, 8.0, rngs_for(3, seed), CONTEXT)
    np.testing.assert_allclose(measured_snr_db(x, out), 8.0, atol=0.2)
    assert peak_frequency(out[1] - x[1]) == pytest.approx(250.0, abs=1.0)
    other = DataContext(Modality.AUDIO, sample_rate_hz=8000)
    with pytest.raises(DataError, match="resample the backgrounds to 8000 Hz"):
        BackgroundMix(clips=str(tmp_path)).perturb(x, 8.0, rngs_for(3, seed), other)
    with pytest.raises(ParameterError, match="clips"):
        BackgroundMix(clips=str(tmp_path / "missing"))


def test_a_silent_clip_stays_silent_under_noise(seed: int) -> None:
    x = np.zeros((2, 800), np.float32)
    out = AdditiveNoise().perturb(x, 0.0, rngs_for(2, seed), CONTEXT)
    assert np.array_equal(out, x)


# ---------------------------------------------------------------------------------------------
# Level and resolution


def test_gain_scales_the_rms_and_clips_like_an_adc() -> None:
    x = tones([440.0, 1000.0], amplitude=0.5)
    quieter = Gain().perturb(x, -12.0, rngs_for(2, 0), CONTEXT)
    ratio_db = 20 * np.log10(np.std(quieter, axis=1) / np.std(x, axis=1))
    np.testing.assert_allclose(ratio_db, -12.0, atol=1e-3)
    with pytest.warns(RealismWarning):
        louder = Gain().perturb(x, 12.0, rngs_for(2, 0), CONTEXT)
    assert np.abs(louder).max() == 1.0
    assert np.mean(np.abs(louder) == 1.0) > 0.5  # a sine 4x over full scale is mostly clipped


@pytest.mark.parametrize("level", [90.0, 50.0, 20.0])
def test_clipping_caps_each_peak_at_the_requested_share(level: float) -> None:
    x = tones([300.0, 700.0, 1500.0]) * np.array([[1.0], [5.0], [9.0]], np.float32)
    out = Clipping().perturb(x, level, rngs_for(3, 0), CONTEXT)
    np.testing.assert_allclose(
        np.abs(out).max(axis=1), level / 100 * np.abs(x).max(axis=1), rtol=1e-6
    )
    below = np.abs(x) < level / 100 * np.abs(x).max(axis=1, keepdims=True)
    assert np.array_equal(out[below], x[below]), "samples under the level are untouched"


@pytest.mark.parametrize("bits", [4, 8, 12])
def test_bit_depth_leaves_at_most_two_to_the_bits_levels(bits: int) -> None:
    x = (0.9 * np.sin(2 * np.pi * 3 * times(1.0)))[None].astype(np.float32)
    out = BitDepth().perturb(x, bits, rngs_for(1, 0), CONTEXT)
    assert len(np.unique(out)) <= 2**bits
    step = 2.0 / 2**bits
    error = out.astype(np.float64) - x
    assert np.abs(error).max() <= step / 2 + 1e-7
    # uniform rounding error has an RMS of step / sqrt(12)
    assert np.sqrt(np.mean(error**2)) == pytest.approx(step / math.sqrt(12), rel=0.1)


# ---------------------------------------------------------------------------------------------
# Filters: attenuation of tones against the Butterworth response, applied forward and backward


def butterworth_db(f: np.ndarray, cutoff: float, high_pass: bool = False) -> np.ndarray:
    """Independent formula: order-4 bilinear Butterworth, |H|^2 per pass, two passes."""
    ratio = np.tan(np.pi * f / RATE) / np.tan(np.pi * cutoff / RATE)
    ratio = 1 / ratio if high_pass else ratio
    result: np.ndarray = -20 * np.log10(1 + ratio**8)
    return result


def attenuation_db(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    middle = slice(x.shape[1] // 4, 3 * x.shape[1] // 4)  # away from the edges
    result: np.ndarray = 20 * np.log10(np.std(y[:, middle], 1) / np.std(x[:, middle], 1))
    return result


FREQS = np.array([250.0, 500.0, 1000.0, 2000.0, 3000.0])


def test_low_pass_attenuates_tones_as_the_butterworth_response() -> None:
    x = tones(list(FREQS))
    out = LowPass().perturb(x, 1000.0, rngs_for(5, 0), CONTEXT)
    expected = butterworth_db(FREQS, 1000.0)
    np.testing.assert_allclose(attenuation_db(x, out), expected, atol=0.1)
    assert attenuation_db(x, out)[2] == pytest.approx(-6.02, abs=0.05)  # -6 dB at the cutoff
    assert attenuation_db(x, out)[3] < -45  # one octave above: ~48 dB down


def test_high_pass_attenuates_tones_as_the_butterworth_response() -> None:
    x = tones(list(FREQS))
    out = HighPass().perturb(x, 1000.0, rngs_for(5, 0), CONTEXT)
    expected = butterworth_db(FREQS, 1000.0, high_pass=True)
    np.testing.assert_allclose(attenuation_db(x, out), expected, atol=0.1)


def test_band_pass_keeps_the_band_and_is_6_db_down_at_its_edges() -> None:
    # 2 octaves around 1 kHz: 500-2000 Hz
    x = tones([125.0, 500.0, 1000.0, 2000.0, 6000.0])
    out = BandPass().perturb(x, 2.0, rngs_for(5, 0), CONTEXT)
    measured = attenuation_db(x, out)
    assert measured[2] == pytest.approx(0.0, abs=0.1)
    np.testing.assert_allclose(measured[[1, 3]], -6.02, atol=0.1)
    assert measured[0] < -60
    assert measured[4] < -60


@unrealistic
def test_filters_at_or_above_nyquist_leave_or_remove_everything() -> None:
    x = tones([440.0])
    context = DataContext(Modality.AUDIO, sample_rate_hz=8000)
    assert np.array_equal(LowPass().perturb(x, 5000.0, rngs_for(1, 0), context), x)
    removed = HighPass().perturb(x, 4000.0, rngs_for(1, 0), context)
    assert not removed.any()


def test_sample_rate_reduction_removes_or_folds_what_the_lower_rate_cannot_hold() -> None:
    x = tones([500.0, 3000.0])
    clean = SampleRateReduction().perturb(x, 4000.0, rngs_for(2, 0), CONTEXT)
    assert attenuation_db(x[:1], clean[:1])[0] == pytest.approx(0.0, abs=0.01)
    assert attenuation_db(x[1:], clean[1:])[0] < -60  # 3 kHz is above the new 2 kHz Nyquist
    aliased = SampleRateReduction(anti_alias=False).perturb(x, 4000.0, rngs_for(2, 0), CONTEXT)
    assert peak_frequency(aliased[1]) == pytest.approx(1000.0, abs=2.0)  # 3 kHz folds to 1 kHz


# ---------------------------------------------------------------------------------------------
# Reverb: measured RT60 by Schroeder backward integration of the response to a click


@pytest.mark.parametrize("rt60", [0.3, 0.6, 1.2])
def test_reverb_decay_of_a_click_matches_the_requested_rt60(rt60: float, seed: int) -> None:
    click = np.zeros((3, 2 * RATE), np.float32)
    click[:, 0] = 0.5
    response = Reverb().perturb(click, rt60, rngs_for(3, seed), CONTEXT)
    t = times(2.0)
    for h in response.astype(np.float64):
        decay = np.cumsum(h[::-1] ** 2)[::-1]
        level = 10 * np.log10(decay / decay[0])
        fit = (level <= -5) & (level >= -25)  # T20, extrapolated to 60 dB
        slope = np.polyfit(t[fit], level[fit], 1)[0]
        assert -60 / slope == pytest.approx(rt60, rel=0.15)


def test_reverb_keeps_the_level_of_broadband_sound_on_average(seed: int) -> None:
    # Tones meet the room's random response at one frequency (room modes); noise averages it.
    x = (0.1 * np.random.default_rng(5).standard_normal((8, 2 * RATE))).astype(np.float32)
    out = Reverb().perturb(x, 0.5, rngs_for(8, seed), CONTEXT)
    ratio_db = 20 * np.log10(np.std(out[:, RATE // 2 :]) / np.std(x[:, RATE // 2 :]))
    assert abs(ratio_db) < 0.5


# ---------------------------------------------------------------------------------------------
# MP3


def bandwidth_99(x: np.ndarray, rate: int) -> float:
    """Frequency below which 99% of the spectral energy lies."""
    freqs, power = scipy.signal.welch(x, fs=rate, nperseg=1024)
    cumulative = np.cumsum(power.mean(axis=0))
    return float(freqs[np.searchsorted(cumulative, 0.99 * cumulative[-1])])


def test_mp3_at_32_kbps_has_a_lower_bandwidth_than_at_192() -> None:
    rate = 44_100
    context = DataContext(Modality.AUDIO, sample_rate_hz=rate)
    noise = np.clip(0.2 * np.random.default_rng(3).standard_normal((1, rate // 2)), -1, 1)
    noise = noise.astype(np.float32)
    mp3 = Mp3()
    low = bandwidth_99(mp3.perturb(noise, 32, rngs_for(1, 0), context), rate)
    high = bandwidth_99(mp3.perturb(noise, 192, rngs_for(1, 0), context), rate)
    assert high > 15_000
    assert low < 0.6 * high


def test_mp3_output_is_time_aligned_with_the_input() -> None:
    x = speech_like(2)
    out = Mp3().perturb(x, 128, rngs_for(2, 0), CONTEXT)
    for a, b in zip(x, out, strict=True):
        lags = scipy.signal.correlation_lags(len(b), len(a))
        assert lags[np.argmax(scipy.signal.correlate(b, a))] == 0
    assert np.all(measured_snr_db(x, out) > 15)


# ---------------------------------------------------------------------------------------------
# Tempo, pitch, time shift


def burst_train(seconds: float, centres: np.ndarray, width_s: float = 0.08) -> np.ndarray:
    """Tone bursts of syllable length (the vocoder's 64 ms frames smear shorter events)."""
    t = times(seconds)
    envelope = np.sum([np.exp(-0.5 * ((t - c) / width_s) ** 2) for c in centres], axis=0)
    clip: np.ndarray = 0.3 * envelope * np.sin(2 * np.pi * 700 * t)
    return clip[None].astype(np.float32)


def burst_positions(y: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """Energy centroid of each burst in seconds, searched around its expected position."""
    t = np.arange(len(y)) / RATE
    energy = y.astype(np.float64) ** 2
    found = []
    for e in expected:
        near = np.abs(t - e) < 0.15
        found.append(np.sum(t[near] * energy[near]) / np.sum(energy[near]))
    return np.array(found)


@unrealistic
@pytest.mark.parametrize("pct", [10.0, 25.0, -20.0])
def test_tempo_change_scales_duration_by_the_requested_rate(pct: float) -> None:
    centres = np.arange(0.3, 3.4, 0.5)
    x = burst_train(3.6, centres)
    factor = 1 / (1 + pct / 100)  # +25% tempo: 80% of the duration
    stretched = Tempo(keep_length=False).perturb(x, pct, rngs_for(1, 0), CONTEXT)
    assert stretched.shape[1] == round(x.shape[1] * factor)
    positions = burst_positions(stretched[0], centres * factor)
    measured = np.polyfit(centres, positions, 1)[0]
    assert measured == pytest.approx(factor, rel=0.01)
    kept = Tempo().perturb(x, pct, rngs_for(1, 0), CONTEXT)
    assert kept.shape == x.shape
    assert np.array_equal(kept[0, : min(len(kept[0]), stretched.shape[1])],
                          stretched[0, : x.shape[1]])  # fmt: skip


@unrealistic
def test_pitch_shift_of_an_octave_doubles_the_frequency_and_keeps_the_timing() -> None:
    t = times(2.0)
    envelope = np.exp(-0.5 * ((t - 1.0) / 0.15) ** 2)
    x = (0.3 * envelope * np.sin(2 * np.pi * 440 * t))[None].astype(np.float32)
    out = PitchShift().perturb(x, 12.0, rngs_for(1, 0), CONTEXT)
    assert out.shape == x.shape
    assert peak_frequency(out[0]) == pytest.approx(880.0, rel=0.005)
    assert burst_positions(out[0], np.array([1.0]))[0] == pytest.approx(1.0, abs=0.01)


@pytest.mark.parametrize("semitones", [1.0, 3.0])
def test_pitch_shift_moves_a_tone_by_the_requested_semitones(semitones: float) -> None:
    x = tones([330.0], seconds=1.0)
    out = PitchShift().perturb(x, semitones, rngs_for(1, 0), CONTEXT)
    measured = 12 * math.log2(peak_frequency(out[0]) / peak_frequency(x[0]))
    assert measured == pytest.approx(semitones, abs=0.05)


def test_time_shift_moves_a_click_by_the_requested_ms_and_zero_fills() -> None:
    x = np.zeros((2, RATE), np.float32)
    x[:, 8000] = 0.5
    x[:, 100] = 0.25
    later = TimeShift().perturb(x, 50.0, rngs_for(2, 0), CONTEXT)
    assert np.flatnonzero(later[0]).tolist() == [900, 8800]
    earlier = TimeShift(direction="earlier", circular=True)
    out = earlier.perturb(x, 50.0, rngs_for(2, 0), CONTEXT)
    assert np.flatnonzero(out[0]).tolist() == [7200, RATE - 700]  # the early click wraps


def test_time_shift_draws_the_direction_per_clip(seed: int) -> None:
    x = np.zeros((40, 1000), np.float32)
    x[:, 500] = 1.0
    out = TimeShift(direction="random").perturb(x, 10.0, rngs_for(40, seed), CONTEXT)
    positions = {int(np.flatnonzero(clip)[0]) for clip in out}
    assert positions == {340, 660}


# ---------------------------------------------------------------------------------------------
# Dropouts


@unrealistic
@pytest.mark.parametrize("rate", [0.02, 0.1, 0.3])
def test_dropouts_zero_the_requested_share_of_time(rate: float, seed: int) -> None:
    n, seconds = 20, 2.0
    x = (0.5 + 0.1 * np.sin(2 * np.pi * 5 * times(seconds))).astype(np.float32)
    x = np.tile(x, (n, 1))  # never zero, so every zero is a dropout
    out = Dropouts(burst_ms=20.0).perturb(x, rate, rngs_for(n, seed), CONTEXT)
    lost = out == 0
    slots = n * seconds / 0.020
    assert lost.mean() == pytest.approx(rate, abs=4 * math.sqrt(rate * (1 - rate) / slots))
    assert np.array_equal(out[~lost], x[~lost])
    # losses come in whole 20 ms packets (320 samples), except where cut by the clip's ends
    runs = np.diff(np.flatnonzero(np.diff(np.concatenate([[0], lost[0], [0]]))))[::2]
    assert np.all(runs % 320 == 0) or np.all(runs[1:-1] % 320 == 0)


def test_a_larger_dropout_rate_loses_a_superset(seed: int) -> None:
    x = np.full((4, RATE), 0.5, np.float32)
    few = Dropouts().perturb(x, 0.05, rngs_for(4, seed), CONTEXT) == 0
    many = Dropouts().perturb(x, 0.2, rngs_for(4, seed), CONTEXT) == 0
    assert np.all(many[few])


# ---------------------------------------------------------------------------------------------
# Distances, errors


def test_distances_record_snr_and_spectral_distance_for_every_audio_perturbation(
    seed: int,
) -> None:
    x = speech_like(3)
    noise = AdditiveNoise()
    out = noise.perturb(x, 20.0, rngs_for(3, seed), CONTEXT)
    columns = noise.distances(x, out, CONTEXT)
    assert set(columns) == {"distance", "snr_db", "log_spectral_distance_db"}
    np.testing.assert_allclose(columns["snr_db"], 20.0, atol=0.2)
    np.testing.assert_allclose(columns["distance"], 0.1, rtol=0.03)  # 20 dB = 10% of RMS
    unchanged = Tempo().distances(x, x.copy(), CONTEXT)
    assert np.all(unchanged["snr_db"] == np.inf)
    assert np.all(unchanged["distance"] == 0)
    assert np.all(unchanged["log_spectral_distance_db"] == 0)


def test_measures_agree_with_their_definitions() -> None:
    x = (0.3 * np.random.default_rng(0).standard_normal((2, RATE))).astype(np.float32)
    y = x * np.float32(0.5)
    np.testing.assert_allclose(relative_rms_error(x, y), 0.5, rtol=1e-5)
    np.testing.assert_allclose(snr_db(x, y), 20 * np.log10(2), rtol=1e-5)
    np.testing.assert_allclose(log_spectral_distance(x, y, RATE), 20 * np.log10(2), rtol=1e-3)


def test_missing_sample_rate_raises_a_data_error_with_the_fix() -> None:
    with pytest.raises(DataError, match="sample_rate_hz"):
        LowPass().perturb(tones([440.0]), 1000.0, rngs_for(1, 0))


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros(100, np.float32),
        np.zeros((2, 100), np.int16),
        np.full((2, 100), 1.5, np.float32),
        np.full((2, 100), np.nan, np.float32),
    ],
)
def test_bad_batches_raise_data_errors(bad: np.ndarray) -> None:
    with pytest.raises(DataError):
        AdditiveNoise().perturb(bad, 10.0, rngs_for(len(bad), 0), CONTEXT)


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("audio.additive_noise", {"colour": "purple"}),
        ("audio.additive_noise", {"level": "peak"}),
        ("audio.background", {"level": "speech"}),
        ("audio.tempo", {"keep_length": "yes"}),
        ("audio.time_shift", {"direction": "sideways"}),
        ("audio.time_shift", {"circular": "no"}),
        ("audio.dropouts", {"burst_ms": 0}),
        ("audio.band_pass", {"centre_hz": 5}),
        ("audio.reverb", {"direct_to_reverberant_db": "dry"}),
        ("audio.mp3", {"encoder_quality": 12}),
        ("audio.background", {"clips": np.zeros((2, 10))}),
        ("audio.sample_rate_reduction", {"anti_alias": 1}),
    ],
)
def test_bad_options_raise_parameter_errors_naming_the_option(
    name: str, options: dict[str, Any]
) -> None:
    with pytest.raises(ParameterError, match=f"{name}: {next(iter(options))}"):
        get(name)(**options)


# ---------------------------------------------------------------------------------------------
# SNR over each clip's own samples, and over the active speech (ITU-T P.56)


def p56_reference_db(clip: np.ndarray, rate: int) -> float:
    """Active speech level in dB, sample by sample as ITU-T P.56 method B describes it."""
    g = math.exp(-1 / (0.03 * rate))
    hangover = math.ceil(0.2 * rate)
    thresholds = [2.0**k for k in range(-15, 0)]
    active = [0] * len(thresholds)
    since = [hangover] * len(thresholds)
    p = q = 0.0
    for value in clip.astype(np.float64).tolist():
        p = g * p + (1 - g) * abs(value)
        q = g * q + (1 - g) * p
        for j, c in enumerate(thresholds):
            if q >= c:
                active[j] += 1
                since[j] = 0
            elif since[j] < hangover:
                active[j] += 1
                since[j] += 1
    energy = float(np.sum(clip.astype(np.float64) ** 2))
    levels = [10 * math.log10(energy / a) if a else math.inf for a in active]
    margins = [a - 20 * math.log10(c) for a, c in zip(levels, thresholds, strict=True)]
    j = next(k for k, m in enumerate(margins) if m <= 15.9)
    share = (margins[j - 1] - 15.9) / (margins[j - 1] - margins[j])
    return levels[j - 1] + share * (levels[j] - levels[j - 1])


def talk_and_pauses(bursts: list[tuple[float, float]], seconds: float, rate: int = RATE):
    """Speech-like bursts at (start s, amplitude) of 2 s each, silence elsewhere; and the mask."""
    t = times(seconds, rate)
    clip = np.zeros(len(t))
    speech = np.zeros(len(t), dtype=bool)
    for start, amplitude in bursts:
        inside = (t >= start) & (t < start + 2.0)
        voiced = sum(np.sin(2 * np.pi * k * 140 * t) / k for k in (1, 2, 3))
        syllables = 0.6 + 0.4 * np.sin(2 * np.pi * 4 * t)
        clip[inside] = amplitude * (syllables * voiced)[inside]
        speech |= inside
    return clip.astype(np.float32), speech


def test_active_level_matches_a_sample_by_sample_p56_reference() -> None:
    rate = 8000
    clips = [
        talk_and_pauses([(0.5, 0.05), (3.5, 0.2)], 6.0, rate)[0],
        talk_and_pauses([(0.0, 0.3)], 2.5, rate)[0],
        speech_like(1, 1.5)[0, :12000],
    ]
    for clip in clips:
        got = 20 * math.log10(active_level(clip[None], rate)[0, 0])
        assert got == pytest.approx(p56_reference_db(clip, rate), abs=0.01)


def test_active_level_of_silence_is_zero_and_of_a_steady_tone_its_rms() -> None:
    assert active_level(np.zeros((1, 800), np.float32), RATE)[0, 0] == 0.0
    tone = tones([300.0], seconds=2.0, amplitude=0.2)
    level = active_level(tone, RATE)[0, 0]
    assert 20 * math.log10(level / (0.2 / math.sqrt(2))) == pytest.approx(0.0, abs=0.1)


@pytest.mark.parametrize("snr", [0.0, 10.0, 25.0])
def test_active_level_noise_hits_the_snr_over_the_speech_despite_long_pauses(
    snr: float, seed: int
) -> None:
    # 4 s of speech in a 10 s clip: its RMS is 4 dB below the speech's
    clip, speech = talk_and_pauses([(1.0, 0.1), (6.0, 0.1)], 10.0)
    x = clip[None]
    rngs = rngs_for(1, seed)
    active = AdditiveNoise(level="active").perturb(x, snr, rngs, CONTEXT)
    whole = AdditiveNoise().perturb(x, snr, rngs, CONTEXT)

    def over_speech(noisy: np.ndarray) -> float:
        signal = np.mean(x[0, speech].astype(np.float64) ** 2)
        noise = np.mean((noisy[0].astype(np.float64) - x[0]) ** 2)
        return float(10 * np.log10(signal / noise))

    # within P.56's own allowance: the hangover counts 0.2 s of pause after each burst
    assert over_speech(active) == pytest.approx(snr, abs=0.75)
    assert over_speech(whole) - snr > 3.5  # the RMS counts the pauses: noise far too weak
    np.testing.assert_allclose(measured_snr_db(x, whole), snr, atol=0.05)


def test_background_can_set_its_snr_against_the_active_speech_level(seed: int) -> None:
    clip, speech = talk_and_pauses([(1.0, 0.1)], 6.0)
    x = clip[None]
    out = BackgroundMix(level="active").perturb(x, 5.0, rngs_for(1, seed), CONTEXT)
    signal = np.mean(x[0, speech].astype(np.float64) ** 2)
    noise = np.mean((out[0].astype(np.float64) - x[0]) ** 2)
    assert 10 * np.log10(signal / noise) == pytest.approx(5.0, abs=0.75)


def test_noise_snr_holds_on_each_clip_of_a_folder_of_several_lengths(
    tmp_path: Path, seed: int
) -> None:
    from wince.datasets import read_wav
    from wince.engine.probe import Probe
    from wince.models import CallableAdapter
    from wince.perturbations.base import RaggedBatch, Step

    # the case: a 1.1 s clip among longer ones used to be padded to 3.5 s
    for name, seconds in (("short.wav", 1.1), ("mid.wav", 2.3), ("long.wav", 3.5)):
        write_wav(tmp_path / name, speech_like(1, seconds)[0] * 4, RATE)
    data = read_wav(tmp_path)
    clean = data.batch(0, 3)
    assert isinstance(clean, RaggedBatch)
    probe = Probe(CallableAdapter(lambda b: np.zeros(len(b))), data, seed=seed)
    noisy = probe.perturbed([0, 1, 2], [Step("audio.additive_noise", 10.0)])
    for before, after in zip(clean, noisy, strict=True):
        assert after.shape == before.shape
        assert measured_snr_db(before[None], after[None])[0] == pytest.approx(10.0, abs=0.1)


@pytest.mark.parametrize("perturbation", [LowPass(), HighPass()])
def test_a_cutoff_given_at_or_above_nyquist_is_refused_once_the_rate_is_known(
    perturbation: Any,
) -> None:
    eight_khz = DataContext(Modality.AUDIO, sample_rate_hz=8000)  # Nyquist: 4000 Hz
    perturbation.check_value_for(3999.0, eight_khz)  # below: acts
    for cutoff in (4000.0, 6000.0):
        with pytest.raises(ParameterError) as refused:
            perturbation.check_value_for(cutoff, eight_khz)
        message = str(refused.value)
        assert perturbation.name in message
        assert f"{cutoff:g} Hz" in message
        assert "Nyquist frequency (4000 Hz)" in message
    perturbation.check_value_for(6000.0, DataContext(Modality.AUDIO, sample_rate_hz=16000))
