"""Start-up of the `wince` command and package: `wince --help`, `--version`, `import wince`.

Each command runs 10 times in a fresh interpreter (wall time from start to exit, output
discarded); the figure is the median. The floor is `python -c "import typer"` on the same
interpreter: what any typer command costs before it does anything. Targets: both wince
commands <= 0.3 s (issue #21) and `python -c "import wince"` <= 0.3 s (issue #24).

The command is the `wince` console script next to the interpreter (the project's venv); with
`PYTHONPATH=src` it runs the source tree's `wince.cli:main`.

Run: python benchmarks/startup.py [--repeats 10]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

TARGET_SECONDS = 0.3

WINCE = str(Path(sys.executable).with_name("wince"))
COMMANDS = {
    "wince --help": [WINCE, "--help"],
    "wince --version": [WINCE, "--version"],
    'python -c "import wince"': [sys.executable, "-c", "import wince"],
    'python -c "import typer"': [sys.executable, "-c", "import typer"],
}
TARGETS = ("wince --help", "wince --version", 'python -c "import wince"')


def wall_seconds(command: list[str]) -> float:
    """Seconds from starting `command` to its exit; raises if it fails."""
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    """Print the median wall time of each command and whether wince meets the target."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=10, help="runs of each command")
    args = parser.parse_args()
    for command in COMMANDS.values():  # warm the file cache; not timed
        wall_seconds(command)
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(args.repeats):  # alternate so that load changes hit every command alike
        for name, command in COMMANDS.items():
            times[name].append(wall_seconds(command))
    for name, seconds in times.items():
        print(
            f"{name:28s} median {statistics.median(seconds):.3f} s "
            f"(min {min(seconds):.3f}, max {max(seconds):.3f}, {args.repeats} runs)"
        )
    for name in TARGETS:
        median = statistics.median(times[name])
        verdict = "met" if median <= TARGET_SECONDS else "MISSED"
        print(f"{name}: {median:.3f} s, target <= {TARGET_SECONDS} s: {verdict}")


if __name__ == "__main__":
    main()
