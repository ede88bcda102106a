"""Lossy codecs: MP3 at a constant bitrate (LAME via `lameenc`, decoded by `miniaudio`)."""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.signal

from wince.errors import DataError, ParameterError
from wince.perturbations.audio.base import AudioPerturbation, finish
from wince.perturbations.base import Batch, DataContext, Drift, Magnitude, Phrase, Rngs, register

MP3_HINT = "MP3 needs lameenc and miniaudio: pip install lameenc miniaudio"
CALIBRATION_SEED = 1_234


def _codecs(owner: str) -> tuple[Any, Any]:
    try:
        import lameenc
        import miniaudio
    except ImportError as error:  # pragma: no cover - both are declared dependencies
        raise DataError(f"{owner}: {MP3_HINT} ({error}).") from error
    return lameenc, miniaudio


def mp3_roundtrip(
    clip: npt.NDArray[np.floating], rate: int, kbps: int, quality: int
) -> npt.NDArray[np.float32]:
    """Encode one clip as mono constant-bitrate MP3 and decode it (not time-aligned).

    LAME picks the nearest bitrate the MPEG version allows and may encode at a lower sample
    rate for low bitrates; the decoded audio is resampled back to `rate` (polyphase).
    """
    lameenc, miniaudio = _codecs("audio.mp3")
    encoder = lameenc.Encoder()
    encoder.set_bit_rate(int(kbps))
    encoder.set_in_sample_rate(int(rate))
    encoder.set_channels(1)
    encoder.set_quality(int(quality))
    encoder.silence()
    pcm = np.rint(np.clip(clip, -1.0, 1.0) * 32767.0).astype("<i2")
    data = bytes(encoder.encode(pcm.tobytes()) + encoder.flush())
    decoded = miniaudio.mp3_read_f32(data)
    out = np.frombuffer(decoded.samples, dtype=np.float32)
    if decoded.nchannels > 1:
        out = out.reshape(-1, decoded.nchannels).mean(axis=1)
    if decoded.sample_rate != rate:
        g = math.gcd(int(rate), int(decoded.sample_rate))
        out = scipy.signal.resample_poly(out, rate // g, decoded.sample_rate // g).astype(
            np.float32
        )
    return out


@functools.lru_cache(maxsize=64)
def codec_delay(rate: int, kbps: int, quality: int) -> int:
    """Samples by which encoding and decoding delay the audio, measured once per setting.

    LAME adds an encoder delay (576 samples plus its filter delay) and the decoder 529 more;
    with resampling inside the codec the figure changes. It is measured, not assumed: one
    second of fixed broadband noise goes through the round trip and the delay is the lag of
    the cross-correlation peak.
    """
    probe = 0.25 * np.random.default_rng(CALIBRATION_SEED).standard_normal(rate)
    probe = np.clip(probe, -1, 1)
    decoded = mp3_roundtrip(probe, rate, kbps, quality).astype(np.float64)
    size = len(decoded) + len(probe)
    correlation = np.fft.irfft(np.fft.rfft(decoded, size) * np.conj(np.fft.rfft(probe, size)), size)
    search = min(len(decoded), rate // 2)
    return int(np.argmax(correlation[:search]))


@register
class Mp3(AudioPerturbation):
    """Lossy MP3 compression, as in voice messages, streams and recordings shared online.

    The bitrate in kbps is how MP3 quality is chosen: 128 kbps and above is near-transparent
    (mild), 64 kbps audibly dull, 32 kbps strongly band-limited with artefacts (severe); lower
    bitrates also make LAME encode at a lower sample rate. The scale is logarithmic. 320 kbps is
    the documented "no re-encode" value (the clip is returned unchanged), like JPEG quality 100.

    Encoding is mono constant-bitrate LAME (`lameenc`, algorithm quality `encoder_quality`);
    decoding is `miniaudio` (dr_mp3). The round trip delays the audio by the encoder and
    decoder delay (about 1100 samples at 16 kHz); the delay is measured once per sample rate and
    bitrate by correlating a noise probe (see `codec_delay`) and removed, so the output is
    time-aligned with the input and has its length (padding cut, a short end zero-filled).
    Runs one clip at a time.

    Why this range: MPEG-1 Layer III (ISO/IEC 11172-3) defines the bitrates 32, 40, 48, 56, 64,
    80, 96, 112, 128, 160, 192, 224, 256 and 320 kbit/s, so by construction the range from 128
    kbit/s (mild) down to 32 kbit/s, the lowest bitrate the standard allows (severe), spans the
    lower half of what MPEG-1 encoders write.

    Args:
        encoder_quality: LAME's algorithm quality, 0 (best, slowest) to 9 (fastest); it trades
            speed for accuracy of the psychoacoustic search, not the bitrate.
    """

    name = "audio.mp3"
    phrase = Phrase(lambda v: f"MP3 compression at {v:g} kbps")
    version = 1
    # LAME (lameenc) and the decoder (miniaudio) of another release may differ by one 16-bit
    # step on a few samples.
    drift = Drift(max_change=2**-15, max_share=0.005)
    stochastic = False
    magnitude = Magnitude(
        "bitrate_kbps", unit="kbps", off=320.0, mild=128.0, severe=32.0, limits=(8.0, 320.0),
        scale="log", integer=True,
    )  # fmt: skip

    def __init__(self, *, encoder_quality: int = 5) -> None:
        q = encoder_quality
        if isinstance(q, bool) or not isinstance(q, int) or not 0 <= q <= 9:
            raise ParameterError(
                f"{self.name}: encoder_quality must be a whole number in [0, 9]; got {q!r}. Try 5."
            )
        self.encoder_quality = q

    def apply(self, x: Batch, value: float, rngs: Rngs, context: DataContext) -> Batch:
        """Encode and decode every clip, then remove the codec delay."""
        rate = self.rate(context)
        length = x.shape[1]
        if len(x) == 0 or length == 0:
            return x.copy()
        kbps = int(value)
        delay = codec_delay(rate, kbps, self.encoder_quality)
        out = np.zeros(x.shape, dtype=np.float32)
        for i, clip in enumerate(x):
            decoded = mp3_roundtrip(clip, rate, kbps, self.encoder_quality)[delay : delay + length]
            out[i, : len(decoded)] = decoded
        return finish(out, x.dtype)
