"""Each perturbation at a value in plain English, and where such a value happens in real life.

`EFFECTS` words what a perturbation does at a physical value ("rotating images by 30
degrees"); `CONTEXTS` compares a value with real life ("as when typing on a phone") only within
the range that comparison holds (phone typing makes 2-5% typos, so a 10% rate gets none).
Perturbations missing here (the ImageNet-C presets, plug-ins) fall back on their catalogue
summary (`wince.report.narrative.library_phrase`).
"""

from __future__ import annotations

from collections.abc import Callable


def count(value: float, singular: str, plural: str | None = None) -> str:
    """A number and its noun, singular only for exactly one.

    Examples:
        >>> count(1, "stop"), count(0.5, "standard deviation"), count(2, "bit")
        ('1 stop', '0.5 standard deviations', '2 bits')
    """
    noun = singular if abs(value) == 1 else (plural or singular + "s")
    return f"{value:g} {noun}"


def share(fraction: float) -> str:
    """A fraction as a percentage: 0.3 -> '30%', 0.005 -> '0.5%'."""
    return f"{fraction * 100:.3g}%"


def _signed(value: float, negative: str, positive: str) -> str:
    return negative if value < 0 else positive


# perturbation -> its effect at a physical value, as a lower-case phrase
EFFECTS: dict[str, Callable[[float], str]] = {
    "audio.additive_noise": lambda v: f"background noise at a signal-to-noise ratio of {v:g} dB",
    "audio.background": lambda v: (
        f"background sounds mixed in at a signal-to-noise ratio of {v:g} dB"
    ),
    "audio.band_pass": lambda v: (
        f"a narrow channel that passes only {count(v, 'octave')} of frequencies"
    ),
    "audio.bit_depth": lambda v: f"audio reduced to {count(v, 'bit')}",
    "audio.clipping": lambda v: f"the loudest parts clipped at {v:g}% of the clip's peak",
    "audio.dropouts": lambda v: f"{share(v)} of the audio lost to dropouts",
    "audio.gain": lambda v: f"recordings {abs(v):g} dB {_signed(v, 'quieter', 'louder')}",
    "audio.high_pass": lambda v: f"a thin channel that cuts the lows below {v:g} Hz",
    "audio.low_pass": lambda v: f"a muffled channel that cuts the highs above {v:g} Hz",
    "audio.mp3": lambda v: f"MP3 compression at {v:g} kbps",
    "audio.pitch_shift": lambda v: f"pitch shifted by {count(v, 'semitone')}",
    "audio.reverb": lambda v: f"room echo that lasts {v:g} s",
    "audio.sample_rate_reduction": lambda v: f"audio recorded at only {v:g} Hz",
    "audio.tempo": lambda v: f"speech sped up or slowed down by {v:g}%",
    "audio.time_shift": lambda v: f"the recording window shifted by {v:g} ms",
    "image.bit_depth": lambda v: f"images stored with only {count(v, 'bit')} per colour channel",
    "image.chromatic_aberration": lambda v: (
        f"colour fringes from the lens ({v:g}% of the centre-to-corner distance)"
    ),
    "image.contrast": lambda v: f"contrast {_signed(v, 'lowered', 'raised')} by {abs(v):g}%",
    "image.dead_pixels": lambda v: f"{v:g} dead or stuck pixels per million",
    "image.defocus_blur": lambda v: f"out-of-focus blur of {v:g}% of the image's shorter side",
    "image.downscale": lambda v: f"images stored at {v:g}% of their size and enlarged again",
    "image.exposure": lambda v: (
        f"{_signed(v, 'under', 'over')}-exposing images by {count(abs(v), 'stop')}"
    ),
    "image.gamma": lambda v: f"a wrong tone curve (gamma {v:g})",
    "image.gamma_mismatch": lambda v: (
        f"a wrong colour transfer curve ({share(v)} of a full sRGB/linear mix-up)"
    ),
    "image.gaussian_blur": lambda v: f"blur of {v:g}% of the image's shorter side",
    "image.gaussian_noise": lambda v: f"sensor noise of {v:g}% of full scale",
    "image.haze": lambda v: f"haze or fog that lets only {v:g}% of the scene's light through",
    "image.hue_rotation": lambda v: f"colours shifted in hue by {count(v, 'degree')}",
    "image.iso_noise": lambda v: f"the noise of a camera set to ISO {v:g}",
    "image.jpeg": lambda v: f"re-saving images as JPEG at quality {v:g} of 100",
    "image.lens_distortion": lambda v: (
        f"{_signed(v, 'barrel', 'pincushion')} distortion from the lens (k1 = {v:g})"
    ),
    "image.low_light": lambda v: f"shots in dim light, {count(abs(v), 'stop')} too dark",
    "image.motion_blur": lambda v: f"motion blur over {v:g}% of the image's shorter side",
    "image.occlusion": lambda v: f"{v:g}% of the image hidden behind an obstruction",
    "image.perspective": lambda v: f"flat subjects photographed {count(v, 'degree')} off square",
    "image.pixelation": lambda v: f"pixelation into blocks of {v:g}% of the image's shorter side",
    "image.rotation": lambda v: f"rotating images by {count(v, 'degree')}",
    "image.saturation": lambda v: (
        f"colour saturation {_signed(v, 'reduced', 'increased')} by {abs(v):g}%"
    ),
    "image.shot_noise": lambda v: f"the grain of a dim exposure ({v:g} photons per pixel)",
    "image.translation": lambda v: (
        f"the subject shifted off-centre by {v:g}% of the image's shorter side"
    ),
    "image.vignetting": lambda v: f"corners darkened by {count(v, 'stop')}",
    "image.webp": lambda v: f"re-saving images as WebP at quality {v:g}",
    "image.white_balance": lambda v: f"a colour cast from a white balance {v:g} K off",
    "image.zoom": lambda v: f"framing zoomed in by {v:g}% of the field of view",
    "tabular.category_typos": lambda v: (
        f"category labels typed inconsistently in {share(v)} of categorical cells"
    ),
    "tabular.gaussian_noise": lambda v: f"measurement noise of {count(v, 'standard deviation')}",
    "tabular.missing_values": lambda v: f"{share(v)} of values missing",
    "tabular.quantisation": lambda v: (
        f"readings rounded to steps of {count(v, 'standard deviation')}"
    ),
    "tabular.saturation": lambda v: f"a sensor whose range cuts off {share(v)} of the values",
    "tabular.sensor_drift": lambda v: f"a calibration offset of {count(v, 'standard deviation')}",
    "tabular.sensor_gain": lambda v: f"readings off by a gain error of {v:g}%",
    "tabular.sentinel_values": lambda v: (
        f"placeholder codes such as -1 or 9999 in {share(v)} of cells"
    ),
    "tabular.unit_confusion": lambda v: f"{share(v)} of records written in the wrong unit",
    "text.casing": lambda v: f"{share(v)} of words written in the wrong case",
    "text.contractions": lambda v: (
        f"contractions made or undone in {share(v)} of the places they can be"
    ),
    "text.fillers": lambda v: f"filler words added ({v:g} per gap between words)",
    "text.homoglyphs": lambda v: (
        f"{share(v)} of letters swapped for look-alike Cyrillic or Greek letters"
    ),
    "text.number_formats": lambda v: f"{share(v)} of numbers and dates written another way",
    "text.ocr_errors": lambda v: (
        f"text-recognition (OCR) errors at {share(v)} of the characters it confuses"
    ),
    "text.paraphrase": lambda v: f"{share(v)} of texts reworded",
    "text.punctuation": lambda v: (
        f"punctuation dropped or misplaced at {share(v)} of the places it can be"
    ),
    "text.smart_punctuation": lambda v: (
        f"{share(v)} of quotes, dashes and ellipses switched between straight and curly forms"
    ),
    "text.speech_errors": lambda v: f"speech-to-text mistakes in {share(v)} of words",
    "text.spelling_variants": lambda v: (
        f"British and American spellings swapped in {share(v)} of the words that have both"
    ),
    "text.synonyms": lambda v: f"{share(v)} of words replaced by a synonym",
    "text.typos": lambda v: f"typos in {share(v)} of characters",
    "text.unicode_variants": lambda v: (
        f"{share(v)} of characters written in an equivalent Unicode form"
    ),
    "text.whitespace": lambda v: (
        f"missing, doubled or odd spaces at {share(v)} of the gaps between words"
    ),
    "text.word_typos": lambda v: f"a typo in {share(v)} of words",
    "text.zero_width": lambda v: f"invisible characters inserted ({v:g} per character)",
    "timeseries.channel_lag": lambda v: f"channels out of step by {count(v, 'time step')}",
    "timeseries.drift": lambda v: (
        f"a sensor drifting by {count(v, 'standard deviation')} over a recording"
    ),
    "timeseries.dropouts": lambda v: f"{share(v)} of readings lost",
    "timeseries.jitter": lambda v: (
        f"sensor noise of {count(v, 'standard deviation')} on every reading"
    ),
    "timeseries.sampling_jitter": lambda v: (
        f"irregular sampling, off by up to {v:g}% of the sampling period"
    ),
    "timeseries.spikes": lambda v: f"glitches in {share(v)} of readings",
    "timeseries.time_warp": lambda v: f"uneven speed within a recording ({v:g}% of its length)",
}


def _typing(v: float) -> str:
    if v <= 0.01:
        return "as a careful typist makes"
    return "as when typing on a phone" if v <= 0.05 else ""


def _word_typing(v: float) -> str:
    if v <= 0.01:
        return "as in edited prose"
    return "as in chat messages and search queries" if v <= 0.15 else ""


def _rotation(v: float) -> str:
    if v <= 3:
        return "as in a handheld snapshot"
    return "as from a carelessly held camera" if v <= 15 else ""


def _exposure(v: float) -> str:
    if -3 <= v < 0:
        return "as in a dim room or with a wrong light meter"
    return ""


def _jpeg(v: float) -> str:
    if v >= 60:
        return "as messaging apps do"
    return "as heavily compressed web images are" if v >= 20 else ""


# perturbation -> where a value happens in real life ("" where no comparison holds)
CONTEXTS: dict[str, Callable[[float], str]] = {
    "image.exposure": _exposure,
    "image.gaussian_noise": lambda v: "as from a small camera at high gain" if v <= 8 else "",
    "image.jpeg": _jpeg,
    "image.rotation": _rotation,
    "tabular.gaussian_noise": lambda v: "as from imprecise instruments" if v <= 0.5 else "",
    "text.typos": _typing,
    "text.word_typos": _word_typing,
}


# "option=value" -> the option in words, where its value is a code name
OPTION_WORDS: dict[str, str] = {
    "mechanism=mcar": "at random",
    "mechanism=mnar_high": "large values most often",
    "mechanism=mnar_low": "small values most often",
    "style=upper": "in capitals",
    "style=lower": "in lower case",
}
