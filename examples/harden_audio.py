"""Harden the demo's DTMF decoder against a quiet line and line noise, offline.

The audio demo's model is a telephone keypad (DTMF) receiver: Goertzel tone amplitudes per
frame and ITU-T Q.24-style checks, one of which is an absolute level (each tone at least
-30 dBFS), another that the two tones carry half of each frame's energy. A quiet line (a
far-away handset, a low input setting) fails the first; noise as loud as the tones fails
the second. This example analyses the decoder on the demo's synthetic key presses under
`audio.gain` and under white and pink `audio.additive_noise` set against the tones' active
level (ITU-T P.56, so 0 dB is noise as loud as the key press, not as the mostly silent
clip), then runs `wince harden` with the three audio defences:

- `audio.loudness`: each clip brought to -20 dBFS RMS (its peak limited to full scale);
- `audio.bandlimit`: the telephone band, 300-3400 Hz, zero-phase;
- `audio.denoise`: spectral gating against each clip's own noise floor.

It prints each defence's measured gains (exposure reduction per finding, paired with the
run) and costs (clean-accuracy change with its non-inferiority test, latency).

    python examples/harden_audio.py            # all 320 key presses, five levels, two seeds
    python examples/harden_audio.py --quick    # reduced size, as CI runs it

It exits 0 when a defence qualifies (a significant reduction at non-inferior clean accuracy).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from _hardening import analyze_and_harden, command_line, sweep_plan

from wince.datasets import ArrayDataset
from wince.defences.harden import Hardening
from wince.demo.dtmf import RATE_HZ, dtmf_classifier, dtmf_data

DEFENCES = ("audio.loudness", "audio.bandlimit", "audio.denoise")
# noise against the key press's active level (ITU-T P.56), white (hiss) and pink (hum, fans)
NOISE = (
    {"name": "audio.additive_noise", "params": {"level": "active"}},
    {"name": "audio.additive_noise", "params": {"level": "active", "colour": "pink"}},
)
QUICK_STEP = 2  # every other key press when quick: 160 of the 320, every key alike


def make_plan(quick: bool) -> dict[str, Any]:
    """A gain sweep and two noise sweeps (white and pink), no combinations."""
    plan = sweep_plan(
        "harden-audio",
        "DTMF decoder on a quiet and a noisy telephone line.",
        ("audio.gain",),
        quick,
    )
    levels = plan["perturbations"][0]["levels"]
    plan["perturbations"] += [{**noise, "levels": levels} for noise in NOISE]
    return plan


def main(quick: bool = False, store: str | Path | None = None) -> Hardening:
    """Analyse the DTMF decoder, harden the run and print each defence's gains and costs.

    Args:
        quick: 160 key presses, three levels, one seed (for tests and CI).
        store: folder (or store URL) for the runs; default a temporary folder.
    """
    data = dtmf_data()
    if quick:
        data = ArrayDataset(
            data.batch(0, len(data))[::QUICK_STEP],
            data.labels[::QUICK_STEP],
            modality="audio",
            sample_rate_hz=RATE_HZ,
            name=f"{data.name} (every other key press)",
        )
    return analyze_and_harden(
        dtmf_classifier(), data, make_plan(quick), defences=list(DEFENCES), store=store
    )


if __name__ == "__main__":
    sys.exit(command_line(__doc__.split("\n\n")[0], main))
