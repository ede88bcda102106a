"""The DTMF demo: synthesised key presses, a Goertzel decoder, and a small run end to end."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import wince
from wince.demo.dtmf import (
    HIGH_HZ,
    KEYS,
    LOW_HZ,
    RATE_HZ,
    dtmf_classifier,
    dtmf_data,
    synthesise,
)
from wince.perturbations import Rngs
from wince.perturbations.audio.level import Gain
from wince.perturbations.audio.noise import AdditiveNoise


def test_synthesised_presses_carry_the_two_tones_of_their_key() -> None:
    x, labels = synthesise(presses_per_key=2)
    assert x.shape == (32, round(0.3 * RATE_HZ))
    assert x.dtype == np.float32
    assert np.abs(x).max() <= 1.0
    for clip, key in zip(x, labels, strict=True):
        spectrum = np.abs(np.fft.rfft(clip, n=8 * RATE_HZ))
        freqs = np.fft.rfftfreq(8 * RATE_HZ, 1 / RATE_HZ)
        index = KEYS.index(key)
        expected = {LOW_HZ[index // 4], HIGH_HZ[index % 4]}
        top = [freqs[np.argmax(np.where(np.abs(freqs - f) < 40, spectrum, 0))] for f in expected]
        assert np.allclose(sorted(top), sorted(expected), atol=3.0)  # 1.5% is 10 Hz
        others = [f for f in LOW_HZ + HIGH_HZ if f not in expected]
        strongest_other = max(spectrum[np.argmin(np.abs(freqs - f))] for f in others)
        assert strongest_other < 0.15 * spectrum.max()  # a 40 ms burst leaks a little


def test_decoder_recognises_clean_presses_of_every_key() -> None:
    data = dtmf_data()
    predicted = dtmf_classifier().predict(data.x)
    assert np.mean(predicted == data.labels) >= 0.98
    assert data.labels is not None
    assert set(data.labels.tolist()) == set(KEYS)
    for key in KEYS:  # every key, not only on average
        assert np.mean(predicted[data.labels == key] == key) >= 0.9


def test_decoder_scores_put_the_verdict_on_top_and_sum_to_one() -> None:
    data = dtmf_data()
    decoder = dtmf_classifier()
    scores = decoder.predict_proba(data.x[::7])
    np.testing.assert_allclose(scores.sum(axis=1), 1.0)
    assert np.array_equal(decoder.classes_[scores.argmax(axis=1)], decoder.predict(data.x[::7]))


def test_decoder_rejects_silence_single_tones_and_noise() -> None:
    t = np.arange(2400) / RATE_HZ
    silence = np.zeros(2400)
    one_tone = 0.3 * np.sin(2 * np.pi * 770 * t)
    noise = 0.3 * np.random.default_rng(0).standard_normal(2400)
    x = np.stack([silence, one_tone, np.clip(noise, -1, 1)]).astype(np.float32)
    assert dtmf_classifier().predict(x).tolist() == ["none"] * 3


def test_decoder_degrades_under_heavy_noise_and_low_level() -> None:
    data = dtmf_data()
    decoder = dtmf_classifier()
    rngs = Rngs.for_samples(data.ids, seed=0, step="noise")
    noisy = AdditiveNoise().perturb(data.x, 0.0, rngs, data.context())
    assert np.mean(decoder.predict(noisy) == data.labels) >= 0.9  # DTMF is built for noisy lines
    with pytest.warns(wince.errors.RealismWarning):
        drowned = AdditiveNoise().perturb(
            data.x, -15.0, Rngs.for_samples(data.ids, seed=0, step="noise"), data.context()
        )
    assert np.mean(decoder.predict(drowned) == data.labels) < 0.2
    quiet = Gain().perturb(data.x, -30.0, rngs, data.context())
    assert np.all(decoder.predict(quiet) == "none")  # below the -30 dBFS level check


def test_a_small_dtmf_plan_runs_end_to_end_and_records_snr(tmp_path: Path) -> None:
    plan = {
        "name": "dtmf-small",
        "model": {"factory": "wince.demo.dtmf:dtmf_classifier"},
        "data": {"factory": "wince.demo.dtmf:dtmf_data"},
        "perturbations": [
            {"name": "audio.additive_noise", "levels": [5]},
            {"name": "audio.low_pass", "levels": [5]},
        ],
        "repeats": 2,
        "seed": 0,
    }
    run = wince.run(plan=plan, store=str(tmp_path / "store"))
    outcomes = run.outcomes()
    assert {"snr_db", "log_spectral_distance_db", "distance"} <= set(outcomes.columns)
    noisy = outcomes[outcomes["scenario"] == "audio.additive_noise(snr_db=0)"]
    np.testing.assert_allclose(noisy["snr_db"], 0.0, atol=0.2)
    summary = run.summary()
    accuracy = summary[summary["metric"] == "accuracy"].set_index("scenario")["value"]
    assert accuracy["baseline"] >= 0.98
    assert accuracy["audio.low_pass(cutoff_hz=1000)"] < 0.1  # the high group is filtered away
