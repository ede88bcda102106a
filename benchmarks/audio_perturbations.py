"""Clips per second of wince's audio perturbations, against audiomentations (issue #5).

32 clips of 1 s and of 10 s at 16 kHz (a chirp and syllable-rate modulated tones plus a little
noise, float32 at about -20 dBFS RMS). For every matched transform each repeat times, in
alternating order:

- wince: `perturb(x, value, Rngs.for_samples(ids, seed=0, step=...), context)` on the whole
  batch, including the creation of the per-sample generators;
- audiomentations: the transform called per clip (it is per-clip by design) with `p=1` and the
  parameter range pinned to the same value, seeded once with `random.seed` / `np.random.seed`.
  Its outputs are kept in a list until the repeat ends, as a pipeline that feeds a model keeps
  them (both sides then allocate the same output memory; discarding each output at once would
  let the allocator hand the same hot buffer back for every clip).

Figures are medians over the repeats; the ratio is the median of the per-repeat ratios
(wince clips/s over audiomentations clips/s, measured in the same repeat).

Without audiomentations the script times wince alone. To compare:
    .venv/bin/pip install audiomentations fast-mp3-augment

Run: PYTHONPATH=benchmarks .venv/bin/python benchmarks/audio_perturbations.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
import wave
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from wince.perturbations import DataContext, Modality, Rngs, get
from wince.perturbations.audio.channel import room_impulse_responses
from wince.perturbations.audio.noise import builtin_background

RATE = 16_000
CLIPS = 32
SECONDS = (1, 10)


def clips(seconds: int) -> np.ndarray:
    """A fixed batch: chirps and amplitude-modulated tones with a little noise."""
    rng = np.random.default_rng(0)
    t = np.arange(seconds * RATE) / RATE
    out = []
    for i in range(CLIPS):
        f0 = 120 + 20 * i
        modulation = 0.5 * (1 + np.sin(2 * np.pi * (3 + i % 4) * t))
        tone = modulation * np.sin(2 * np.pi * f0 * t) * (1 + 0.3 * np.sin(2 * np.pi * 7 * f0 * t))
        chirp = 0.3 * np.sin(2 * np.pi * (200 + 400 * t / seconds) * t)
        out.append(0.1 * (tone + chirp) + 0.003 * rng.standard_normal(t.size))
    return np.clip(np.stack(out), -1, 1).astype(np.float32)


def write_wavs(folder: Path, signals: np.ndarray) -> Path:
    """Signals as 16-bit mono WAV files in `folder` (for the file-based transforms)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, signal in enumerate(signals):
        pcm = np.rint(np.clip(signal / np.abs(signal).max(), -1, 1) * 32767).astype("<i2")
        with wave.open(str(folder / f"{i}.wav"), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(RATE)
            out.writeframes(pcm.tobytes())
    return folder


@dataclass
class Case:
    label: str
    name: str
    value: float
    options: dict[str, Any] = field(default_factory=dict)
    theirs: Callable[[Path], Any] | None = None  # builds the audiomentations transform


def cases() -> list[Case]:
    import audiomentations as am  # noqa: F401  (only to fail early when missing)

    def a(name: str, **kwargs: Any) -> Callable[[Path], Any]:
        def build(root: Path) -> Any:
            import audiomentations

            for key, value in kwargs.items():
                if value == "<backgrounds>":
                    kwargs[key] = str(root / "backgrounds")
                if value == "<irs>":
                    kwargs[key] = str(root / "irs")
            return getattr(audiomentations, name)(p=1.0, **kwargs)

        return build

    mp3_backend = "lameenc"
    try:
        import fast_mp3_augment  # noqa: F401

        mp3_backend = "fast-mp3-augment"
    except ImportError:
        pass
    return [
        Case("white noise 20 dB", "audio.additive_noise", 20, {},
             a("AddGaussianSNR", min_snr_db=20, max_snr_db=20)),
        Case("pink noise 20 dB", "audio.additive_noise", 20, {"colour": "pink"},
             a("AddColorNoise", min_snr_db=20, max_snr_db=20, min_f_decay=-3, max_f_decay=-3)),
        Case("background 10 dB", "audio.background", 10, {"clips": "<backgrounds>"},
             a("AddBackgroundNoise", sounds_path="<backgrounds>", min_snr_db=10, max_snr_db=10)),
        Case("gain -6 dB", "audio.gain", -6, {}, a("Gain", min_gain_db=-6, max_gain_db=-6)),
        Case("low-pass 3400 Hz", "audio.low_pass", 3400, {},
             a("LowPassFilter", min_cutoff_freq=3400, max_cutoff_freq=3400, min_rolloff=48,
               max_rolloff=48, zero_phase=True)),
        Case("high-pass 300 Hz", "audio.high_pass", 300, {},
             a("HighPassFilter", min_cutoff_freq=300, max_cutoff_freq=300, min_rolloff=48,
               max_rolloff=48, zero_phase=True)),
        # 1 octave around 1 kHz: 707-1414 Hz; audiomentations: centre 1061 Hz, width 707 Hz
        Case("band-pass 1 octave", "audio.band_pass", 1, {},
             a("BandPassFilter", min_center_freq=1060.7, max_center_freq=1060.7,
               min_bandwidth_fraction=0.6667, max_bandwidth_fraction=0.6667, min_rolloff=48,
               max_rolloff=48, zero_phase=True)),
        # wince clips at 50% of the peak; audiomentations at a percentile (10% of samples)
        Case("clipping", "audio.clipping", 50, {},
             a("ClippingDistortion", min_percentile_threshold=10, max_percentile_threshold=10)),
        Case("bit depth 8", "audio.bit_depth", 8, {}, a("BitCrush", min_bit_depth=8,
                                                          max_bit_depth=8)),
        Case("aliasing 8 kHz", "audio.sample_rate_reduction", 8000, {"anti_alias": False},
             a("Aliasing", min_sample_rate=8000, max_sample_rate=8000)),
        Case("mp3 64 kbps", "audio.mp3", 64, {"encoder_quality": 5},
             a("Mp3Compression", min_bitrate=64, max_bitrate=64, backend=mp3_backend,
               quality=5)),
        Case("tempo +10%", "audio.tempo", 10, {},
             a("TimeStretch", min_rate=1.1, max_rate=1.1, leave_length_unchanged=True)),
        Case("pitch +2 semitones", "audio.pitch_shift", 2, {},
             a("PitchShift", min_semitones=2, max_semitones=2)),
        Case("time shift 100 ms", "audio.time_shift", 100, {},
             a("Shift", min_shift=-0.1, max_shift=0.1, shift_unit="seconds", rollover=False,
               fade_duration=0.0)),
        Case("reverb RT60 0.5 s", "audio.reverb", 0.5, {},
             a("ApplyImpulseResponse", ir_path="<irs>")),
    ]  # fmt: skip


def wince_only_cases() -> list[Case]:
    return [
        Case("white noise 20 dB", "audio.additive_noise", 20),
        Case("background 10 dB", "audio.background", 10),
        Case("gain -6 dB", "audio.gain", -6),
        Case("low-pass 3400 Hz", "audio.low_pass", 3400),
        Case("clipping", "audio.clipping", 50),
        Case("bit depth 8", "audio.bit_depth", 8),
        Case("mp3 64 kbps", "audio.mp3", 64),
        Case("tempo +10%", "audio.tempo", 10),
        Case("pitch +2 semitones", "audio.pitch_shift", 2),
        Case("reverb RT60 0.5 s", "audio.reverb", 0.5),
        Case("dropouts 5%", "audio.dropouts", 0.05),
    ]


def time_wince(case: Case, x: np.ndarray, root: Path) -> float:
    options = {
        k: str(root / "backgrounds") if v == "<backgrounds>" else v for k, v in case.options.items()
    }
    perturbation = get(case.name)(**options)
    context = DataContext(Modality.AUDIO, sample_rate_hz=RATE)
    ids = [f"clip-{i}" for i in range(len(x))]
    started = time.perf_counter()
    rngs = Rngs.for_samples(ids, seed=0, step=f"{case.name}#0")
    perturbation.perturb(x, case.value, rngs, context)
    return time.perf_counter() - started


def time_theirs(transform: Any, x: np.ndarray) -> float:
    random.seed(0)
    np.random.seed(0)  # noqa: NPY002  (audiomentations draws from the global generators)
    started = time.perf_counter()
    outputs = [transform(samples=clip, sample_rate=RATE) for clip in x]
    seconds = time.perf_counter() - started
    del outputs
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--only", help="run the cases whose label contains this text")
    args = parser.parse_args()
    try:
        selected = cases()
        compare = True
    except ImportError:
        print(
            "audiomentations is not installed: timing wince alone. To compare, run\n"
            "    .venv/bin/pip install audiomentations fast-mp3-augment"
        )
        selected = wince_only_cases()
        compare = False
    if args.only:
        selected = [c for c in selected if args.only in c.label]
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        write_wavs(root / "backgrounds", builtin_background(RATE))
        impulse_rngs = Rngs.for_samples([f"ir-{i}" for i in range(8)], seed=0, step="irs")
        write_wavs(root / "irs", room_impulse_responses(impulse_rngs, 0.5, RATE, RATE, 0.0))
        ratios_by_length: dict[int, list[float]] = {}
        for seconds in SECONDS:
            x = clips(seconds)
            print(f"\n{CLIPS} clips of {seconds} s at {RATE} Hz (clips/s, median of "
                  f"{args.repeats}; ratio = median of per-repeat ratios)")  # fmt: skip
            header = f"{'transform':<22} {'wince':>9}"
            print(header + (f" {'audiomentations':>16} {'ratio':>7}" if compare else ""))
            for case in selected:
                transform = case.theirs(root) if compare and case.theirs else None
                time_wince(case, x[:2], root)  # warm-up: caches, imports, codec calibration
                if transform is not None:
                    time_theirs(transform, x[:2])
                ours, theirs, ratios = [], [], []
                for i in range(args.repeats):
                    first_ours = i % 2 == 0
                    if first_ours:
                        ours.append(time_wince(case, x, root))
                    if transform is not None:
                        theirs.append(time_theirs(transform, x))
                    if not first_ours:
                        ours.append(time_wince(case, x, root))
                    if transform is not None:
                        ratios.append(theirs[-1] / ours[-1])
                line = f"{case.label:<22} {CLIPS / statistics.median(ours):>9.1f}"
                if transform is not None:
                    ratio = statistics.median(ratios)
                    ratios_by_length.setdefault(seconds, []).append(ratio)
                    line += f" {CLIPS / statistics.median(theirs):>16.1f} {ratio:>6.2f}x"
                print(line)
        for seconds, ratios in ratios_by_length.items():
            print(
                f"{seconds} s clips: median ratio {statistics.median(ratios):.2f}x, slowest "
                f"{min(ratios):.2f}x over {len(ratios)} matched transforms "
                "(target: >= 1.5x median, >= 1x each)"
            )


if __name__ == "__main__":
    main()
