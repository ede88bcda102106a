"""Speech robustness: a real speech recogniser (CMU Sphinx) under noise, echo, muffling, tempo.

Offline: PocketSphinx's US English acoustic model, which ships inside the `pocketsphinx`
wheel (wince's `examples` extra), listens with a grammar of home-automation commands to
sixteen spoken commands stored in `examples/data/speech` (synthesised once with eSpeak NG;
see its README); the labels are the spoken strings. The clips are analysed under five
realistic audio perturbations; the script prints the word error rate clean and under the
scenario that raises it most (95% intervals over clips) and writes an HTML report.

    python examples/speech_robustness.py            # full size (a few minutes of CPU)
    python examples/speech_robustness.py --quick    # under a minute, as CI runs it
"""

from __future__ import annotations

import argparse
import hashlib
import wave
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
from _findings import print_headline
from pocketsphinx import Decoder

import wince
from wince.datasets.base import ArrayDataset
from wince.models.base import CallableAdapter

OUT_DIR = Path("wince-examples/speech")
SPEECH = Path(__file__).resolve().parent / "data" / "speech"
RATE_HZ = 16_000
LEAD_S = 0.5  # silence before each command: the recogniser needs some to settle
CLIP_S = 3.0  # every clip padded with silence to this length
NOISE_FLOOR_DBFS = -60.0
GRAMMAR = SPEECH / "commands.gram"
# what wince's model identity hashes instead of the decoder (whose state it cannot hash)
MODEL_VERSION = (
    f"pocketsphinx {metadata.version('pocketsphinx')} en-us, grammar "
    f"{hashlib.sha256(GRAMMAR.read_bytes()).hexdigest()[:16]}"
)


def dataset() -> ArrayDataset:
    """The stored commands: float32 (16, 48000) clips in [-1, 1] at 16 kHz, labelled by text.

    Each command starts after 0.5 s of silence and is padded to 3 s; a quiet noise floor
    (-60 dBFS, as any microphone has) stands in for digital silence.
    """
    rows = [
        line.split("\t")
        for line in (SPEECH / "utterances.tsv").read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    ]
    rng = np.random.default_rng(0)
    clips = np.zeros((len(rows), round(CLIP_S * RATE_HZ)), dtype=np.float64)
    for clip, (file, *_) in zip(clips, rows, strict=True):
        with wave.open(str(SPEECH / file)) as recording:
            pcm = np.frombuffer(recording.readframes(recording.getnframes()), dtype=np.int16)
        start = round(LEAD_S * RATE_HZ)
        clip[start : start + len(pcm)] = pcm / 32768.0
    clips += rng.standard_normal(clips.shape) * 10 ** (NOISE_FLOOR_DBFS / 20)
    return ArrayDataset(
        np.clip(clips, -1, 1).astype(np.float32),
        labels=[text for _, text, *_ in rows],
        modality="audio",
        sample_rate_hz=RATE_HZ,
        name="spoken commands",
    )


def command_recogniser() -> Callable[[Sequence[np.ndarray]], list[str]]:
    """PocketSphinx with the commands' grammar: one transcript per 16 kHz clip ("" if none)."""
    decoder = Decoder(jsgf=str(GRAMMAR), lm=None, samprate=RATE_HZ, loglevel="FATAL")

    def transcribe(clips: Sequence[np.ndarray]) -> list[str]:
        transcripts = []
        for clip in clips:
            pcm = np.clip(np.rint(np.asarray(clip) * 32767), -32768, 32767).astype(np.int16)
            decoder.start_utt()
            decoder.process_raw(pcm.tobytes(), full_utt=True)
            decoder.end_utt()
            hypothesis = decoder.hyp()
            transcripts.append(hypothesis.hypstr if hypothesis is not None else "")
        return transcripts

    return transcribe


def plan(quick: bool) -> dict[str, Any]:
    levels = [1, 3, 5] if quick else [1, 2, 3, 4, 5]
    return {
        "name": "example-speech",
        "description": "PocketSphinx (US English, command grammar) on spoken commands.",
        "perturbations": [
            {"name": "audio.additive_noise", "levels": levels, "params": {"colour": "pink"}},
            {"name": "audio.reverb", "levels": levels},
            # level 1 (an 11 kHz cutoff) lies above the Nyquist frequency of 16 kHz audio
            {"name": "audio.low_pass", "levels": [level for level in levels if level > 1]},
            {"name": "audio.tempo", "levels": levels},
            {"name": "audio.mp3", "levels": levels},
        ],
        "combinations": "none",
        "repeats": 2 if quick else 10,
        "seed": 0,
        "analysis": {"bootstrap": 200 if quick else 1000},
    }


def main(quick: bool = False, out_dir: str | Path = OUT_DIR) -> dict[str, Any]:
    """Load, analyse, print the headline and write the report; returns what was produced."""
    out = Path(out_dir)
    data = dataset()
    model = CallableAdapter(command_recogniser(), task="text", version=MODEL_VERSION)
    run = wince.run(model, data, plan(quick), store=str(out / ".wince"))
    headline = print_headline(run, "wer", "word error rate")
    report = run.report(out=out / f"report-{run.id}.html", data=data)
    print(f"  report: {report}")
    return {"run_id": run.id, "report": report, "headline": headline}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="reduced size (as in CI)")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="output folder")
    args = parser.parse_args()
    main(quick=args.quick, out_dir=args.out)
