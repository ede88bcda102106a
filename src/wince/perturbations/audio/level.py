"""Level and resolution: gain, clipping and bit-depth reduction."""

from __future__ import annotations

import numpy as np

from wince.perturbations.audio.base import Audio, AudioPerturbation, check_values
from wince.perturbations.base import Batch, DataContext, Magnitude, Phrase, Rngs, register
from wince.perturbations.words import count, signed


@register
class Gain(AudioPerturbation):
    """A quieter recording: a talker far from the microphone or a low input setting.

    In dB because level perception is logarithmic: -6 dB is a talker twice as far away (free
    field), -30 dB a very quiet or distant source. Positive values amplify and clip at ±1 as an
    ADC would (a hot preamp); they lie outside the declared realistic range, which runs towards
    quieter (for saturation on purpose use `audio.clipping`).

    Why this range: by construction of free-field propagation (the inverse-square law), the
    level falls by 6 dB per doubling of distance, so -30 dB is a talker 32 times farther from
    the microphone than in the reference recording (a 3 cm headset microphone against a device 1
    m away), and -1 dB (mild) a talker 12% farther.
    """

    name = "audio.gain"
    family = "audio.level"
    phrase = Phrase(lambda v: f"recordings {abs(v):g} dB {signed(v, 'quieter', 'louder')}")
    monitor_estimate = "loudness_change_db"
    calibration = "audio.loudness"
    version = 1
    stochastic = False
    magnitude = Magnitude(
        "gain_db", unit="dB", off=0.0, mild=-1.0, severe=-30.0, limits=(-120.0, 40.0)
    )

    value_check = "none"  # one multiplication per sample: a range check would double it

    def apply(self, x: Batch, value: float, rngs: Rngs, context: DataContext) -> Batch:
        """Multiply by 10^(value/20), then clip to [-1, 1]."""
        self.rate(context)
        out: Audio = x * x.dtype.type(10.0 ** (value / 20.0))
        if value > 0:
            np.clip(out, -1.0, 1.0, out=out)
        return out


@register
class Clipping(AudioPerturbation):
    """Hard clipping of the loudest parts, as from an overdriven preamp or a saturated ADC.

    The clip level is a percentage of each clip's own peak, so it reads the same for loud and
    quiet recordings: 100% leaves the clip unchanged, 80% flattens the loudest peaks (mild,
    often unnoticed), 20% (14 dB below the peak, about the RMS of speech) is heavy distortion.
    The scale is logarithmic, as for any level in dB.

    Why this range: no published source found gives how far below the peak real recordings clip,
    so this is a stress test (`stress`): usable in a plan that names it, never in a preset.
    """

    name = "audio.clipping"
    family = "audio.level"
    phrase = Phrase(lambda v: f"the loudest parts clipped at {v:g}% of the clip's peak")
    stress = True
    version = 1
    stochastic = False
    magnitude = Magnitude(
        "clip_level_pct", unit="% of the clip's peak", off=100.0, mild=80.0, severe=20.0,
        limits=(1.0, 100.0), scale="log",
    )  # fmt: skip

    value_check = "none"  # checked for free: the peaks it measures anyway

    def apply(self, x: Batch, value: float, rngs: Rngs, context: DataContext) -> Batch:
        """Clip every clip symmetrically at value% of its peak magnitude."""
        self.rate(context)
        if x.shape[1] == 0:
            return x.copy()
        share = value / 100.0

        def clip(block: Audio, out: Audio, rows: slice) -> None:
            low, high = block.min(axis=1), block.max(axis=1)
            check_values(np.concatenate([low, high])[None], self.name)
            peak = np.maximum(high, -low)
            level = (peak * share).astype(block.dtype)[:, None]
            np.maximum(block, -level, out=out)
            np.minimum(out, level, out=out)

        return self.blockwise(x, clip)


@register
class BitDepth(AudioPerturbation):
    """Coarse quantisation, as from a cheap ADC, a low-resolution codec or an old sampler.

    In bits because that is how converters are specified; each bit is about 6 dB of dynamic
    range: 16 bits is CD quality, 8 bits audible hiss on quiet passages, 4 bits harsh. The
    quantiser is mid-tread (zero is a level) with 2^bits levels from -1 to 1 - 2^(1-bits), no
    dither, as converting to signed integers does. 24 bits is the documented "no
    re-quantisation" value (float32 carries 24 bits of mantissa).

    Why this range: 16 bits is the CD format, but no standard speech or music channel quantises
    uniformly below that: telephone PCM's 8 bits are companded (A-law or mu-law, ITU-T G.711)
    and ADPCM's 2-5 bits adaptive (ITU-T G.726), both far finer at low levels than a uniform
    quantiser with as many bits. No source supports uniform 4-8 bit audio as real data, so this
    is a stress test (`stress`): usable in a plan that names it, never in a preset.
    """

    name = "audio.bit_depth"
    phrase = Phrase(lambda v: f"audio reduced to {count(v, 'bit')}")
    stress = True
    version = 1
    stochastic = False
    magnitude = Magnitude(
        "bits", unit="bits", off=24.0, mild=16.0, severe=4.0, limits=(1.0, 24.0), integer=True
    )

    value_check = "none"  # a few operations per sample: a range check would double them

    def apply(self, x: Batch, value: float, rngs: Rngs, context: DataContext) -> Batch:
        """Round to the nearest of 2^bits signed levels."""
        self.rate(context)
        half = float(2 ** (int(value) - 1))
        up, down = x.dtype.type(half), x.dtype.type(1.0 / half)

        def quantise(block: Audio, out: Audio, rows: slice) -> None:
            np.multiply(block, up, out=out)
            np.rint(out, out=out)
            np.clip(out, -half, half - 1, out=out)  # 1.0 would round to a missing top level
            out *= down

        return self.blockwise(x, quantise)
