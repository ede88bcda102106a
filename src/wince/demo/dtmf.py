"""The audio demo: telephone keypad tones (DTMF) and a Goertzel decoder, all synthesised here.

A DTMF key sends two tones at once: one from the low group (697, 770, 852, 941 Hz: the keypad
row) and one from the high group (1209, 1336, 1477, 1633 Hz: the column). `synthesise` makes
clips of key presses as a telephone line carries them; `DtmfDecoder` is a real decoder in the
style of ITU-T Q.24 receivers, wrapped as a scikit-learn classifier so the demo plans load it
like the other demo models. Everything is deterministic and offline.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.base import BaseEstimator, ClassifierMixin

from wince.datasets.base import ArrayDataset

KEYS = "123A456B789C*0#D"  # row by row: key index = 4 * row + column
NO_KEY = "none"
LOW_HZ = (697.0, 770.0, 852.0, 941.0)
HIGH_HZ = (1209.0, 1336.0, 1477.0, 1633.0)
RATE_HZ = 8000  # the telephone network's sample rate
CLIP_S = 0.3
DATA_SEED = 2_024
PRESSES_PER_KEY = 20

# Decoder settings, in the spirit of ITU-T Q.24 (the thresholds a receiver chooses itself).
FRAME = 205  # the classic 205-point DFT at 8 kHz: every DTMF tone lies near a bin centre
HOP = 102  # half-overlapping frames (12.75 ms): a 40 ms tone fills at least two
MIN_LEVEL_DBFS = -30.0  # each tone at least this loud (peak amplitude re full scale)
NORMAL_TWIST_DB = 8.0  # high group may be up to 8 dB weaker than the low group
REVERSE_TWIST_DB = 4.0  # ... or up to 4 dB stronger
PEAK_RATIO_DB = 8.0  # in each group, the other tones at least 8 dB below the strongest
TONE_SHARE_DB = -3.0  # the two tones carry at least half of the frame's energy
MIN_FRAMES = 2  # the same key in at least two consecutive frames (about 25 ms)


def synthesise(
    presses_per_key: int = PRESSES_PER_KEY, seed: int = DATA_SEED
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.str_]]:
    """Clips of single key presses on a telephone line, `presses_per_key` for each of 16 keys.

    Each 0.3 s clip at 8 kHz holds one press: the key's two tones for 40-100 ms (Q.24 accepts
    40 ms and more) at a random onset, the low tone at -18 to -6 dBFS, the high tone 2 dB
    weaker to 3 dB stronger (the "twist" a line and a phone introduce), random phases, 5 ms
    raised-cosine ramps, plus a little line noise (white, 30-45 dB below the tones) and 50 Hz
    hum. Drawn from a fixed generator: the same clips at every call.

    Returns:
        Clips (n, 2400) float32 in [-1, 1] and their keys ("1" ... "D"), key by key.
    """
    rng = np.random.default_rng(seed)
    length = round(CLIP_S * RATE_HZ)
    t = np.arange(length) / RATE_HZ
    clips, labels = [], []
    for key in range(16):
        low, high = LOW_HZ[key // 4], HIGH_HZ[key % 4]
        for _ in range(presses_per_key):
            duration = rng.uniform(0.040, 0.100)
            onset = rng.uniform(0.01, CLIP_S - duration - 0.01)
            level = 10 ** (rng.uniform(-18, -6) / 20)
            twist = 10 ** (rng.uniform(-2, 3) / 20)
            ramp = 0.005
            inside = np.clip(np.minimum(t - onset, onset + duration - t) / ramp, 0, 1)
            envelope = 0.5 - 0.5 * np.cos(np.pi * inside)
            tones = level * (
                np.sin(2 * np.pi * low * t + rng.uniform(0, 2 * np.pi))
                + twist * np.sin(2 * np.pi * high * t + rng.uniform(0, 2 * np.pi))
            )
            noise = level * 10 ** (-rng.uniform(30, 45) / 20) * rng.standard_normal(length)
            hum = level * 0.01 * np.sin(2 * np.pi * 50 * t + rng.uniform(0, 2 * np.pi))
            clips.append(envelope * tones + noise + hum)
            labels.append(KEYS[key])
    x = np.clip(np.stack(clips), -1, 1).astype(np.float32)
    return x, np.array(labels)


@functools.lru_cache(maxsize=1)
def _bins() -> npt.NDArray[np.complex128]:
    """DFT vectors (FRAME, 8) at the eight DTMF frequencies: Goertzel's single bins."""
    freqs = np.array(LOW_HZ + HIGH_HZ)
    n = np.arange(FRAME)
    out: npt.NDArray[np.complex128] = np.exp(-2j * np.pi * np.outer(n, freqs) / RATE_HZ)
    return out


def tone_amplitudes(x: npt.NDArray[np.floating]) -> tuple[Any, Any]:
    """Per clip and frame: the amplitude of each of the 8 DTMF tones, and the frame's power.

    The Goertzel algorithm computes one DFT bin per tone; here all frames of all clips at once
    as one matrix product. A pure tone of amplitude A at a DTMF frequency gives A.
    """
    frames = np.lib.stride_tricks.sliding_window_view(x.astype(np.float64), FRAME, axis=1)
    frames = frames[:, ::HOP]
    amplitudes = 2.0 * np.abs(frames @ _bins()) / FRAME  # (n, frames, 8)
    power = np.mean(frames**2, axis=2)  # (n, frames)
    return amplitudes, power


def _db(ratio: Any) -> Any:
    return 10.0 * np.log10(np.maximum(ratio, 1e-30))


class DtmfDecoder(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """A DTMF receiver: Goertzel tone energies per 25.6 ms frame, Q.24-style checks, a verdict.

    Per frame (205 samples, hop 102) it measures the eight tone amplitudes and takes the
    strongest tone of each group. The frame holds a valid key when every check passes:

    - level: both tones at least -30 dBFS;
    - twist: the high tone between 8 dB weaker and 4 dB stronger than the low tone;
    - relative peak ratio: in each group, the other three tones at least 8 dB weaker;
    - tone share: the two tones carry at least half of the frame's energy (rejects noise,
      speech and partly filled frames).

    The clip's key is the one valid in the longest run of consecutive frames, if that run is at
    least two frames long; otherwise the decoder reports no key (class "none").

    Scores (`predict_proba`): with the powers of each tone averaged over the winning run (or
    the loudest frame when nothing is valid), key (r, c) scores the product of row r's share of
    the low-group power and column c's share of the high-group power; "none" scores the winning
    key's score times 10^(-margin/10), where the margin (dB) is how far the weakest check passed
    (negative when it failed; at most -1 dB when the run is too short). Scores are normalised
    to sum to 1, so the top score is always the decoder's verdict.
    """

    def fit(self, x: Any = None, y: Any = None) -> DtmfDecoder:
        """Nothing to learn: a DTMF receiver is specified, not trained."""
        self.classes_ = np.array([*KEYS, NO_KEY])
        return self

    def predict_proba(self, x: Any) -> npt.NDArray[np.float64]:
        """Scores (n, 17) of the 16 keys and "none"."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] < FRAME:
            raise ValueError(f"DTMF clips are (n, samples >= {FRAME}) at 8 kHz; got {x.shape}.")
        amplitudes, power = tone_amplitudes(x)
        low, high = amplitudes[..., :4], amplitudes[..., 4:]
        row, column = low.argmax(axis=2), high.argmax(axis=2)
        a_low, a_high = low.max(axis=2), high.max(axis=2)
        second_low = np.sort(low, axis=2)[..., -2]
        second_high = np.sort(high, axis=2)[..., -2]
        twist = _db(a_high**2 / np.maximum(a_low**2, 1e-30))
        margins = np.stack(
            [
                _db(a_low**2) - MIN_LEVEL_DBFS,
                _db(a_high**2) - MIN_LEVEL_DBFS,
                twist + NORMAL_TWIST_DB,
                REVERSE_TWIST_DB - twist,
                _db(a_low**2 / np.maximum(second_low**2, 1e-30)) - PEAK_RATIO_DB,
                _db(a_high**2 / np.maximum(second_high**2, 1e-30)) - PEAK_RATIO_DB,
                _db((a_low**2 + a_high**2) / 2 / np.maximum(power, 1e-30)) - TONE_SHARE_DB,
            ]
        ).min(axis=0)  # (n, frames): the weakest check's margin in dB
        key = 4 * row + column
        valid = margins > 0
        scores = np.empty((len(x), 17))
        for i in range(len(x)):
            start, stop = _longest_run(valid[i], key[i])
            if stop - start >= MIN_FRAMES:
                frames = slice(start, stop)
                margin = float(np.median(margins[i, frames]))
            else:
                loudest = int(np.argmax(a_low[i] ** 2 + a_high[i] ** 2))
                frames = slice(loudest, loudest + 1)
                margin = min(float(margins[i, loudest]), -1.0)
            low_power = np.mean(low[i, frames] ** 2, axis=0)
            high_power = np.mean(high[i, frames] ** 2, axis=0)
            if low_power.sum() > 0 and high_power.sum() > 0:
                shares = np.outer(low_power / low_power.sum(), high_power / high_power.sum())
                pair = shares.reshape(16)
            else:  # silence: no evidence for any key
                pair = np.full(16, 1 / 16)
            none = pair.max() * 10 ** (-margin / 10)
            row_scores = np.append(pair, none)
            scores[i] = row_scores / row_scores.sum()
        return scores

    def predict(self, x: Any) -> npt.NDArray[np.str_]:
        """The decoded key of every clip, or "none"."""
        labels: npt.NDArray[np.str_] = self.classes_[np.argmax(self.predict_proba(x), axis=1)]
        return labels


def _longest_run(valid: npt.NDArray[np.bool_], key: npt.NDArray[np.intp]) -> tuple[int, int]:
    """Start and stop of the longest run of consecutive valid frames with the same key."""
    best, j, count = (0, 0), 0, len(valid)
    while j < count:
        if not valid[j]:
            j += 1
            continue
        k = j
        while k < count and valid[k] and key[k] == key[j]:
            k += 1
        if k - j > best[1] - best[0]:
            best = (j, k)
        j = k
    return best


def dtmf_classifier() -> DtmfDecoder:
    """The Goertzel DTMF decoder as a (trivially fitted) scikit-learn classifier.

    Examples:
        >>> x, keys = synthesise(presses_per_key=1)
        >>> decoder = dtmf_classifier()
        >>> "".join(decoder.predict(x)) == KEYS
        True
    """
    return DtmfDecoder().fit()


def dtmf_data() -> ArrayDataset:
    """320 synthetic key presses (20 per key) at 8 kHz, labelled with their keys."""
    x, labels = synthesise()
    ids = [f"{'star' if k == '*' else 'hash' if k == '#' else k}-{i % PRESSES_PER_KEY:02d}"
           for i, k in enumerate(labels)]  # fmt: skip
    return ArrayDataset(
        x,
        labels,
        ids=ids,
        modality="audio",
        sample_rate_hz=RATE_HZ,
        name="synthetic DTMF key presses (8 kHz)",
    )
